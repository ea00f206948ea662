//! Publisher servers told to misbehave: slow, failing, broken, huge and looping answers.

mod common;

use std::time::{Duration, Instant};

use common::{Invocation, client, publisher, send_json};
use demo_publishers::{Behavior, DemoApp};
use serde_json::{Value, json};

fn echo() -> DemoApp {
    DemoApp::custom(|request| json!({"ok": true, "sid": request.request_sid}))
}

fn request() -> Invocation {
    Invocation::json("/v1/custom", json!({"phone_number": "+18778894546"}))
}

#[tokio::test]
async fn delay_holds_the_answer_back() {
    let publisher = publisher(echo()).await;
    publisher.set_behavior(Behavior {
        delay: Duration::from_millis(400),
        ..Behavior::default()
    });
    let client = client();
    let started = Instant::now();
    let invocation = request();
    let pending = invocation.send(&client, &publisher);
    let peek = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        publisher.received()
    };
    let (response, during) = tokio::join!(pending, peek);
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(400));
    // Recorded and verified on arrival; answered after the delay.
    assert_eq!(during.len(), 1);
    assert!(during[0].signature_valid);
    assert_eq!(during[0].status, None);
    assert_eq!(publisher.received()[0].status, Some(200));
}

#[tokio::test]
async fn delay_applies_to_refused_requests_too() {
    let publisher = publisher(echo()).await;
    publisher.set_behavior(Behavior {
        delay: Duration::from_millis(300),
        ..Behavior::default()
    });
    let mut forged = request();
    forged.signature = Some(Some("Zm9yZ2Vk".to_owned()));
    let started = Instant::now();
    let (status, _) = send_json(&forged, &client(), &publisher).await;
    assert_eq!(status, 403);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn status_answers_that_status_after_verification() {
    let publisher = publisher(echo()).await;
    publisher.set_behavior(Behavior {
        status: Some(500),
        ..Behavior::default()
    });
    let (status, body) = send_json(&request(), &client(), &publisher).await;
    assert_eq!(status, 500);
    assert_eq!(body["status"], json!("failed"));
    assert_eq!(body["code"], json!(500));

    let mut forged = request();
    forged.signature = Some(Some("Zm9yZ2Vk".to_owned()));
    let (status, _) = send_json(&forged, &client(), &publisher).await;
    assert_eq!(status, 403, "verification comes first");

    publisher.set_behavior(Behavior {
        status: Some(404),
        ..Behavior::default()
    });
    let (status, _) = send_json(&request(), &client(), &publisher).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn fail_first_fails_then_behaves_and_is_not_remembered() {
    let publisher = publisher(echo()).await;
    publisher.set_behavior(Behavior {
        fail_first: 2,
        ..Behavior::default()
    });
    let client = client();
    // Retries of one request carry the same request SID.
    let invocation = request();
    let (first, _) = send_json(&invocation, &client, &publisher).await;
    let (second, _) = send_json(&invocation, &client, &publisher).await;
    let (third, body) = send_json(&invocation, &client, &publisher).await;
    assert_eq!((first, second, third), (503, 503, 200));
    assert_eq!(body["ok"], json!(true));
    assert_eq!(publisher.behavior().fail_first, 0);
    let received = publisher.received();
    assert!(received.iter().all(|r| !r.replay));
    let (fourth, again) = send_json(&invocation, &client, &publisher).await;
    assert_eq!((fourth, again), (200, body));
    assert!(publisher.received()[3].replay);
}

#[tokio::test]
async fn invalid_json_is_not_json() {
    let publisher = publisher(echo()).await;
    publisher.set_behavior(Behavior {
        invalid_json: true,
        ..Behavior::default()
    });
    let response = request().send(&client(), &publisher).await;
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.expect("a body");
    assert!(serde_json::from_slice::<Value>(&body).is_err());
}

#[tokio::test]
async fn error_object_answers_200_with_a_failure() {
    let publisher = publisher(echo()).await;
    publisher.set_behavior(Behavior {
        error_object: Some((42, "no data for this number".to_owned())),
        ..Behavior::default()
    });
    let (status, body) = send_json(&request(), &client(), &publisher).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"status": "failed", "code": 42, "message": "no data for this number"})
    );
}

#[tokio::test]
async fn redirect_loop_redirects_to_itself_forever() {
    let publisher = publisher(echo()).await;
    publisher.set_behavior(Behavior {
        redirect_loop: true,
        ..Behavior::default()
    });
    let invocation = request();
    let response = invocation.send(&client(), &publisher).await;
    assert_eq!(response.status(), 302);
    let location = response
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .expect("a Location")
        .to_owned();
    let (signed_url, ..) = invocation.signed(publisher.base_url());
    assert_eq!(location, signed_url);
    assert!(publisher.received()[0].signature_valid);

    // A client that follows redirects gives up.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let following = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()
        .expect("a client");
    let error = following
        .get(&location)
        .send()
        .await
        .expect_err("too many redirects");
    assert!(error.is_redirect(), "{error}");
    assert!(publisher.received().len() >= 6);
}

#[tokio::test]
async fn an_oversized_answer_streams() {
    const SIZE: u64 = 50 * 1024 * 1024;
    let publisher = publisher(echo()).await;
    publisher.set_behavior(Behavior {
        oversize_bytes: Some(SIZE),
        ..Behavior::default()
    });
    let client = client();

    // The first chunk arrives without the rest being made.
    let mut response = request().send(&client, &publisher).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    assert!(response.content_length().is_none(), "streamed, not announced");
    let first = response.chunk().await.expect("reads").expect("a first chunk");
    assert!(first.len() as u64 <= 64 * 1024 + 16);
    assert!(first.starts_with(b"{\"padding\":\""));
    drop(response);

    // Read to the end, one chunk at a time: exactly SIZE bytes of valid JSON framing.
    let mut response = request().send(&client, &publisher).await;
    let mut total = 0u64;
    let mut tail = Vec::new();
    while let Some(chunk) = response.chunk().await.expect("reads") {
        total += chunk.len() as u64;
        tail.extend_from_slice(&chunk);
        tail.drain(..tail.len().saturating_sub(3));
    }
    assert_eq!(total, SIZE);
    assert_eq!(tail, b"x\"}");
}
