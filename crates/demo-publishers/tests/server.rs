//! Publisher servers over real HTTP: signed requests on every carrier, the checks that refuse
//! the rest, credentials, replays.

mod common;

use std::time::Duration;

use addons_domain::manifest::{RegistrationPolicy, compile};
use base64::Engine as _;
use chrono::Utc;
use common::{Invocation, TOKEN, VENDOR, client, invocation_date, publisher, publisher_with, send_json};
use demo_publishers::{Credentials, DemoApp, PublisherConfig};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn bearer() -> String {
    format!("Bearer {}", Credentials::default().bearer_token)
}

fn basic() -> String {
    let credentials = Credentials::default();
    let pair = format!("{}:{}", credentials.basic_username, credentials.basic_password);
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
}

fn anagrams_request() -> Invocation {
    let number = "+18778894546";
    let hash = hex::encode(Sha256::digest(number.as_bytes()));
    Invocation::json(
        "/v1/anagrams",
        json!({"phone_number": number, "phone_number_sha256": hash, "source": "twilio"}),
    )
    .authorization(bearer())
}

#[tokio::test]
async fn anagrams_answers_a_signed_json_post() {
    let publisher = publisher(DemoApp::Anagrams).await;
    let (status, answer) = send_json(&anagrams_request(), &client(), &publisher).await;
    assert_eq!(status, 200, "{answer}");
    let anagrams = answer["anagrams"].as_array().expect("anagrams");
    assert!(anagrams.contains(&json!("+18778TWILIO")), "{answer}");
    assert_eq!(answer["usage"]["lookups_today"], json!(1));

    let received = publisher.received();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert!(request.signature_valid);
    assert!(!request.replay);
    assert_eq!(request.rejection, None);
    assert_eq!(request.status, Some(200));
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path, "/v1/anagrams");
    assert!(
        request
            .query
            .as_deref()
            .is_some_and(|q| q.contains("bodySHA256="))
    );
    assert_eq!(request.header("X-Twilio-VendorAccountSid"), Some(VENDOR));
    assert!(
        request
            .headers
            .iter()
            .all(|(name, _)| name == &name.to_ascii_lowercase())
    );
    publisher.shutdown().await;
}

#[tokio::test]
async fn spam_score_answers_a_signed_get() {
    let publisher = publisher(DemoApp::SpamScore).await;
    let key = Credentials::default().api_key;
    let invocation = Invocation::query(
        Method::GET,
        "/v1/spam-score",
        &[("phone", "+19005550100"), ("api_key", &key)],
    );
    let (status, answer) = send_json(&invocation, &client(), &publisher).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], json!("success"));
    assert_eq!(answer["score"], json!(1));
    assert_eq!(answer["reasons"], json!(["premium_rate"]));
    assert_eq!(answer["message"], Value::Null);
}

#[tokio::test]
async fn caller_name_answers_a_signed_form() {
    let publisher = publisher(DemoApp::CallerName).await;
    let invocation = Invocation::form(
        "/v1/caller-name",
        &[("number", "+14155550123"), ("include_location", "true")],
    )
    .authorization(basic());
    let (status, answer) = send_json(&invocation, &client(), &publisher).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["caller_type"], json!("CONSUMER"));
    assert_eq!(answer["location"]["city"], json!("San Francisco"));
    assert!(publisher.received()[0].signature_valid);
}

#[tokio::test]
async fn sentiment_answers_with_a_body_token() {
    let publisher = publisher(DemoApp::Sentiment).await;
    let invocation = Invocation::json(
        "/v1/sentiment",
        json!({
            "text": "Hello! I love the new plan, thanks",
            "from": "+14155550123",
            "to": "+18778894546",
            "language": "en",
            "api_token": Credentials::default().body_token,
        }),
    );
    let (status, answer) = send_json(&invocation, &client(), &publisher).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["sentiment"], json!("positive"));
    assert_eq!(answer["intent"], json!("greeting"));
    assert_eq!(answer["language"], json!("en"));
    let score = answer["score"].as_f64().expect("a score");
    assert!((-1.0..=1.0).contains(&score));
}

#[tokio::test]
async fn a_custom_app_sees_query_and_body_merged() {
    let app = DemoApp::custom(|request| {
        json!({
            "params": request.params,
            "sid": request.request_sid,
            "install": request.header("X-Twilio-AddOnInstallSid"),
            "ttl_ms": request.invocation_ttl.as_millis() as u64,
        })
    });
    let publisher = publisher(app).await;
    let mut invocation = Invocation::json("/anywhere", json!({"a": 2, "b": true}));
    invocation.query = vec![
        ("a".to_owned(), "1".to_owned()),
        ("c".to_owned(), "+1 x".to_owned()),
    ];
    let (status, answer) = send_json(&invocation, &client(), &publisher).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["params"]["a"], json!(2));
    assert_eq!(answer["params"]["b"], json!(true));
    assert_eq!(answer["params"]["c"], json!("+1 x"));
    assert_eq!(answer["params"]["InvocationTtlMs"], json!("2000"));
    assert_eq!(answer["sid"], json!(invocation.request_sid));
    assert_eq!(answer["install"], json!("XD0123456789abcdef0123456789abcdef"));
    assert_eq!(answer["ttl_ms"], json!(2000));

    // A POST with its parameters in the query string and no body.
    let invocation = Invocation::query(Method::POST, "/q", &[("phone_number", "+18778894546")]);
    let (status, answer) = send_json(&invocation, &client(), &publisher).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["params"]["phone_number"], json!("+18778894546"));
}

async fn refused(app: DemoApp, invocation: &Invocation, status: u16, code: u32, reason: &str) {
    let publisher = publisher(app).await;
    let (answered, body) = send_json(invocation, &client(), &publisher).await;
    assert_eq!(answered, status, "{body}");
    assert_eq!(body["status"], json!("failed"));
    assert_eq!(body["code"], json!(code), "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    let received = publisher.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].rejection.as_deref(), Some(reason));
    assert_eq!(received[0].status, Some(status));
}

#[tokio::test]
async fn a_bad_signature_is_refused() {
    let mut invocation = anagrams_request();
    invocation.signing_token = "not-the-auth-token".to_owned();
    refused(DemoApp::Anagrams, &invocation, 403, 40304, "invalid_signature").await;

    let mut forged = anagrams_request();
    forged.signature = Some(Some("c2lnbmF0dXJl".to_owned()));
    refused(DemoApp::Anagrams, &forged, 403, 40304, "invalid_signature").await;

    let publisher = publisher(DemoApp::Anagrams).await;
    let mut invocation = anagrams_request();
    invocation.signing_token = "not-the-auth-token".to_owned();
    invocation.send(&client(), &publisher).await;
    assert!(!publisher.received()[0].signature_valid);
}

#[tokio::test]
async fn a_missing_signature_is_refused() {
    let mut invocation = anagrams_request();
    invocation.signature = Some(None);
    refused(DemoApp::Anagrams, &invocation, 403, 40301, "missing_signature").await;
}

#[tokio::test]
async fn a_wrong_body_hash_is_refused() {
    let mut invocation = anagrams_request();
    invocation.sent_body = Some(br#"{"phone_number":"+14155550100"}"#.to_vec());
    refused(DemoApp::Anagrams, &invocation, 403, 40303, "body_hash_mismatch").await;
}

#[tokio::test]
async fn a_tampered_form_is_refused() {
    let mut invocation =
        Invocation::form("/v1/caller-name", &[("number", "+14155550123")]).authorization(basic());
    invocation.sent_body = Some(b"number=%2B14155550999".to_vec());
    refused(DemoApp::CallerName, &invocation, 403, 40304, "invalid_signature").await;
}

#[tokio::test]
async fn stale_future_and_missing_dates_are_refused() {
    let mut stale = anagrams_request();
    stale.date = Some(invocation_date(Utc::now() - Duration::from_secs(3600)));
    refused(DemoApp::Anagrams, &stale, 403, 40310, "stale_invocation").await;

    let mut future = anagrams_request();
    future.date = Some(invocation_date(Utc::now() + Duration::from_secs(3600)));
    refused(DemoApp::Anagrams, &future, 403, 40311, "future_invocation").await;

    let mut missing = anagrams_request();
    missing.date = None;
    refused(DemoApp::Anagrams, &missing, 403, 40306, "missing_invocation_date").await;

    let mut malformed = anagrams_request();
    malformed.date = Some("27/11/2026".to_owned());
    refused(
        DemoApp::Anagrams,
        &malformed,
        403,
        40307,
        "malformed_invocation_date",
    )
    .await;

    let mut no_ttl = anagrams_request();
    no_ttl.ttl_ms = None;
    refused(DemoApp::Anagrams, &no_ttl, 403, 40308, "missing_invocation_ttl").await;

    let mut bad_ttl = anagrams_request();
    bad_ttl.ttl_ms = Some("soon".to_owned());
    refused(
        DemoApp::Anagrams,
        &bad_ttl,
        403,
        40309,
        "malformed_invocation_ttl",
    )
    .await;
}

#[tokio::test]
async fn the_clock_skew_is_configurable() {
    let config = PublisherConfig::new(TOKEN).with_clock_skew(Duration::from_secs(600));
    let publisher = publisher_with(config, DemoApp::Anagrams).await;
    let mut late = anagrams_request();
    late.date = Some(invocation_date(Utc::now() - Duration::from_secs(300)));
    let (status, body) = send_json(&late, &client(), &publisher).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn the_wrong_vendor_account_is_refused() {
    let mut invocation = anagrams_request();
    invocation.vendor_account_sid = "AC00000000000000000000000000000000".to_owned();
    refused(DemoApp::Anagrams, &invocation, 403, 40305, "wrong_vendor_account").await;

    // Without a configured account, any is accepted.
    let publisher = publisher_with(PublisherConfig::new(TOKEN), DemoApp::Anagrams).await;
    let (status, _) = send_json(&invocation, &client(), &publisher).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_malformed_request_sid_is_refused() {
    let mut invocation = anagrams_request();
    invocation.request_sid = "XR-not-a-sid".to_owned();
    refused(DemoApp::Anagrams, &invocation, 403, 40312, "invalid_request_sid").await;
}

#[tokio::test]
async fn wrong_credentials_get_401() {
    let wrong_bearer = anagrams_request().authorization("Bearer guess");
    refused(
        DemoApp::Anagrams,
        &wrong_bearer,
        401,
        40101,
        "invalid_credentials",
    )
    .await;

    let no_key = Invocation::query(Method::GET, "/v1/spam-score", &[("phone", "+14155550100")]);
    refused(DemoApp::SpamScore, &no_key, 401, 40101, "invalid_credentials").await;

    let wrong_basic =
        Invocation::form("/v1/caller-name", &[("number", "+14155550123")]).authorization(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("twilio:guess")
        ));
    refused(
        DemoApp::CallerName,
        &wrong_basic,
        401,
        40101,
        "invalid_credentials",
    )
    .await;

    let no_token = Invocation::json("/v1/sentiment", json!({"text": "hi"}));
    refused(DemoApp::Sentiment, &no_token, 401, 40101, "invalid_credentials").await;
}

#[tokio::test]
async fn derived_credentials_are_the_ones_checked() {
    let credentials = Credentials::derived_from(TOKEN);
    let config = PublisherConfig::new(TOKEN).with_credentials(credentials.clone());
    let publisher = publisher_with(config, DemoApp::Anagrams).await;
    assert_eq!(
        publisher.manifest()["auth"]["secret"],
        json!(credentials.bearer_token)
    );
    let (status, _) = send_json(&anagrams_request(), &client(), &publisher).await;
    assert_eq!(status, 401, "the fixed demo token is not accepted");
    let invocation = anagrams_request().authorization(format!("Bearer {}", credentials.bearer_token));
    let (status, _) = send_json(&invocation, &client(), &publisher).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn missing_parameters_are_bad_requests() {
    let publisher = publisher(DemoApp::Anagrams).await;
    let invocation =
        Invocation::json("/v1/anagrams", json!({"number": "+18778894546"})).authorization(bearer());
    let (status, body) = send_json(&invocation, &client(), &publisher).await;
    assert_eq!(status, 400);
    assert_eq!(body["status"], json!("failed"));
    assert_eq!(body["code"], json!(40001));
}

#[tokio::test]
async fn a_replay_gets_the_remembered_answer() {
    let publisher = publisher(DemoApp::Anagrams).await;
    let client = client();
    let invocation = anagrams_request();
    let first = invocation.send(&client, &publisher).await;
    assert_eq!(first.status(), 200);
    let first = first.bytes().await.expect("a body");
    let again = invocation.send(&client, &publisher).await;
    assert_eq!(again.status(), 200);
    let again = again.bytes().await.expect("a body");
    assert_eq!(first, again);

    let received = publisher.received();
    assert_eq!(received.len(), 2);
    assert!(!received[0].replay);
    assert!(received[1].replay);
    assert_eq!(received[0].request_sid(), received[1].request_sid());

    // The app ran once: a new request is its second run today.
    let (_, fresh) = send_json(&anagrams_request(), &client, &publisher).await;
    assert_eq!(fresh["usage"]["lookups_today"], json!(2));

    publisher.clear_received();
    assert!(publisher.received().is_empty());
}

#[tokio::test]
async fn a_replay_with_a_bad_signature_is_still_refused() {
    let publisher = publisher(DemoApp::Anagrams).await;
    let client = client();
    let invocation = anagrams_request();
    invocation.send(&client, &publisher).await;
    let mut forged = invocation.clone();
    forged.signature = Some(Some("Zm9yZ2Vk".to_owned()));
    let (status, _) = send_json(&forged, &client, &publisher).await;
    assert_eq!(status, 403);
    assert!(!publisher.received()[1].replay);
}

#[tokio::test]
async fn the_public_base_url_is_what_is_verified() {
    let config = PublisherConfig::new(TOKEN).with_public_base_url("http://publisher.example:8080/");
    let publisher = publisher_with(config, DemoApp::Anagrams).await;
    assert_eq!(publisher.base_url(), "http://publisher.example:8080");
    assert_eq!(
        publisher.endpoint_url(),
        "http://publisher.example:8080/v1/anagrams"
    );

    let (status, body) = send_json(&anagrams_request(), &client(), &publisher).await;
    assert_eq!(status, 200, "signed for the public URL: {body}");

    let mut local = anagrams_request();
    local.signed_origin = Some(format!("http://{}", publisher.local_addr()));
    let (status, _) = send_json(&local, &client(), &publisher).await;
    assert_eq!(status, 403, "signed for the bound address");
}

#[tokio::test]
async fn the_running_manifest_compiles_and_points_here() {
    let policy = RegistrationPolicy {
        allow_insecure_endpoints: true,
    };
    for app in demo_publishers::demo_apps() {
        let publisher = publisher(app).await;
        let definition = compile(&publisher.manifest(), policy).expect("the manifest compiles");
        assert_eq!(definition.endpoint.url.as_str(), publisher.endpoint_url());
        publisher.shutdown().await;
    }
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let publisher = publisher(DemoApp::Anagrams).await;
    let address = publisher.local_addr();
    publisher.shutdown().await;
    let result = client()
        .get(format!("http://{address}/v1/anagrams"))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(result.is_err(), "still answering: {result:?}");
}
