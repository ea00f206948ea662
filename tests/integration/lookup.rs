//! Lookup with `AddOns`: every rule of the seed's "Add-On API requirements", shown against real
//! publisher servers.

use std::time::{Duration, Instant};

use addons_testkit::TestDatabase;
use demo_publishers::Behavior;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::{Credentials, TestApp, expect_error, expect_status, publisher};

const NUMBER: &str = "+18778894546";

struct World {
    app: TestApp,
    publisher: Credentials,
    developer: Credentials,
}

async fn world(database: TestDatabase) -> World {
    world_with(database, |_| {}).await
}

async fn world_with(database: TestDatabase, adjust: impl FnOnce(&mut addons_server::Config)) -> World {
    let app = TestApp::spawn_with(database, adjust).await;
    let publisher = app.account("publisher").await;
    let developer = app.account("developer").await;
    World {
        app,
        publisher,
        developer,
    }
}

/// A Lookup-only phone-number manifest for `url`, with `overrides` replacing top-level fields.
fn manifest(name: &str, url: &str, overrides: Value) -> Value {
    let mut manifest = json!({
        "unique_name": name,
        "friendly_name": name,
        "type": "phone-number",
        "integration_points": ["lookups"],
        "endpoint": {"url": url, "method": "POST", "carrier": "json"},
        "parameters": {"number": "{{primary_address}}"},
        "pricing": {"model": "pay-per-use", "price": "0.0001"},
        "retries": {"count": 2}
    });
    for (key, value) in overrides.as_object().into_iter().flatten() {
        manifest[key] = value.clone();
    }
    manifest
}

impl World {
    async fn add(&self, manifest: &Value, configuration: Option<&Value>) {
        self.app
            .register_and_install(&self.publisher, &self.developer, manifest, configuration)
            .await;
    }

    async fn lookup(&self, query: &str) -> Value {
        let path = format!("/v1/PhoneNumbers/{NUMBER}?{query}");
        let response = self.app.get(&self.developer, &path).send().await.expect("sent");
        expect_status(response, 200).await
    }

    async fn records(&self) -> Vec<addons_store::AddOnRequestRecord> {
        self.app.state.engine.flush_records().await;
        let account = addons_domain::sid::AccountSid::parse(&self.developer.sid).expect("a sid");
        self.app
            .state
            .store
            .account_add_on_requests(
                &account,
                addons_store::PageRequest {
                    page: 0,
                    page_size: 100,
                },
            )
            .await
            .expect("records")
            .items
    }
}

fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

async fn lookup_without_add_ons(database: TestDatabase) {
    let world = world(database).await;
    let app = &world.app;
    let body = world.lookup("").await;
    assert_eq!(body["phone_number"], json!(NUMBER));
    assert_eq!(body["national_format"], json!("(877) 889-4546"));
    assert_eq!(body["country_code"], json!("US"));
    assert_eq!(body["add_ons"], Value::Null);
    assert_eq!(body["carrier"], Value::Null);
    assert_eq!(body["url"], json!(app.url(&format!("/v1/PhoneNumbers/{NUMBER}"))));

    let typed = world.lookup("Type=carrier&Type=caller-name").await;
    assert_eq!(typed["carrier"]["type"], json!("landline"));
    assert_eq!(typed["caller_name"]["caller_type"], json!("BUSINESS"));

    // National numbers with a country code; US by default.
    let response = app
        .get(&world.developer, "/v1/PhoneNumbers/5108675310")
        .send()
        .await
        .expect("sent");
    assert_eq!(
        expect_status(response, 200).await["phone_number"],
        json!("+15108675310")
    );
    let response = app
        .get(&world.developer, "/v1/PhoneNumbers/02077651182?CountryCode=GB")
        .send()
        .await
        .expect("sent");
    let uk = expect_status(response, 200).await;
    assert_eq!(
        (uk["phone_number"].clone(), uk["country_code"].clone()),
        (json!("+442077651182"), json!("GB"))
    );

    // Invalid numbers are 404, in Twilio's words.
    let response = app
        .get(&world.developer, "/v1/PhoneNumbers/+1877")
        .send()
        .await
        .expect("sent");
    let error = expect_error(response, 404, 20404).await;
    assert_eq!(
        error["message"],
        json!("The requested resource /PhoneNumbers/+1877 was not found")
    );
    let response = app
        .get(&world.developer, "/v1/PhoneNumbers/hello")
        .send()
        .await
        .expect("sent");
    expect_error(response, 404, 20404).await;

    for (query, field) in [
        ("Type=fax", "Type"),
        ("AddOns=x&AddOns.y.f=1", "AddOns.y.f"),
        ("AddOns=x&AddOns.x=1", "AddOns.x"),
    ] {
        let response = app
            .get(&world.developer, &format!("/v1/PhoneNumbers/{NUMBER}?{query}"))
            .send()
            .await
            .expect("sent");
        let error = expect_error(response, 400, 20001).await;
        assert!(
            error["message"].as_str().unwrap_or_default().contains(field),
            "{error}"
        );
    }
    let response = app
        .http
        .get(app.url(&format!("/v1/PhoneNumbers/{NUMBER}")))
        .send()
        .await
        .expect("sent");
    expect_error(response, 401, 20003).await;
    world.app.stop().await;
}

async fn every_template_field_and_its_hash(database: TestDatabase) {
    let world = world(database).await;
    let echo = publisher::echo(&world.publisher).await;
    let fields = [
        "primary_address",
        "request_sid",
        "unix_timestamp",
        "language",
        "verbose",
        "dob",
    ];
    let mut parameters = serde_json::Map::new();
    for field in fields {
        parameters.insert(field.to_owned(), json!(format!("{{{{{field}}}}}")));
        parameters.insert(
            format!("{field}_sha256"),
            json!(format!("{{{{SHA256:{field}}}}}")),
        );
    }
    parameters.insert("constant".into(), json!("twilio"));
    parameters.insert("number".into(), json!(7));
    parameters.insert("mixed".into(), json!("n={{primary_address}}&l={{language}}"));
    let manifest = manifest(
        "fields_addon",
        &echo.endpoint_url(),
        json!({
            "parameters": parameters,
            "runtime_fields": {"dob": {"required": true}},
            "configuration_schema": {
                "type": "object",
                "properties": {"language": {"type": "string"}, "verbose": {"type": "boolean"}}
            }
        }),
    );
    world
        .add(&manifest, Some(&json!({"language": "en", "verbose": true})))
        .await;

    let before = chrono::Utc::now().timestamp();
    let body = world
        .lookup("AddOns=fields_addon&AddOns.fields_addon.dob=1970-01-01")
        .await;
    let after = chrono::Utc::now().timestamp();
    let result = &body["add_ons"]["results"]["fields_addon"];
    assert_eq!(result["status"], json!("successful"), "{body}");
    let request_sid = result["request_sid"].as_str().expect("a request sid");
    assert!(request_sid.starts_with("XR") && request_sid.len() == 34);
    let got = &result["result"]["params"];

    assert_eq!(got["primary_address"], json!(NUMBER));
    assert_eq!(got["primary_address_sha256"], json!(sha256(NUMBER)));
    assert_eq!(got["request_sid"], json!(request_sid));
    assert_eq!(got["request_sid_sha256"], json!(sha256(request_sid)));
    let timestamp = got["unix_timestamp"].as_i64().expect("a typed number in JSON");
    assert!((before..=after).contains(&timestamp), "{timestamp}");
    assert_eq!(
        got["unix_timestamp_sha256"],
        json!(sha256(&timestamp.to_string()))
    );
    assert_eq!(got["language"], json!("en"));
    assert_eq!(got["language_sha256"], json!(sha256("en")));
    assert_eq!(
        got["verbose"],
        json!(true),
        "a boolean configuration field stays a boolean"
    );
    assert_eq!(got["verbose_sha256"], json!(sha256("true")));
    assert_eq!(got["dob"], json!("1970-01-01"));
    assert_eq!(got["dob_sha256"], json!(sha256("1970-01-01")));
    assert_eq!(got["constant"], json!("twilio"));
    assert_eq!(got["number"], json!(7));
    assert_eq!(got["mixed"], json!(format!("n={NUMBER}&l=en")));
    assert!(echo.received().iter().all(|r| r.signature_valid));

    // A missing runtime field fails before any call (61003); so does an unknown one.
    echo.clear_received();
    let body = world.lookup("AddOns=fields_addon").await;
    let result = &body["add_ons"]["results"]["fields_addon"];
    assert_eq!(result["code"], json!(61003), "{body}");
    assert!(result["message"].as_str().unwrap_or_default().contains("dob"));
    let body = world
        .lookup("AddOns=fields_addon&AddOns.fields_addon.dob=x&AddOns.fields_addon.nope=1")
        .await;
    assert_eq!(body["add_ons"]["results"]["fields_addon"]["code"], json!(61003));
    assert!(echo.received().is_empty());
    world.app.stop().await;
}

async fn unfillable_fields_and_optional_parameters(database: TestDatabase) {
    let world = world(database).await;
    let echo = publisher::echo(&world.publisher).await;
    let manifest = manifest(
        "optional_addon",
        &echo.endpoint_url(),
        json!({
            "parameters": {
                "number": "{{primary_address}}",
                "maybe": {"value": "{{region}}", "optional": true},
                "must": "{{tier}}"
            },
            "configuration_schema": {"type": "object", "properties": {"region": {"type": "string"}, "tier": {"type": "string"}}}
        }),
    );
    world.add(&manifest, Some(&json!({"tier": "gold"}))).await;
    let body = world.lookup("AddOns=optional_addon").await;
    let params = &body["add_ons"]["results"]["optional_addon"]["result"]["params"];
    assert_eq!(params["must"], json!("gold"));
    assert!(
        params.get("maybe").is_none(),
        "an optional parameter with an unset field is left out"
    );

    // Without the non-optional field the request cannot be made: 61009, publisher not called.
    let other = manifest_named(&manifest, "optional_addon_2");
    world.add(&other, Some(&json!({}))).await;
    echo.clear_received();
    let body = world.lookup("AddOns=optional_addon_2").await;
    let result = &body["add_ons"]["results"]["optional_addon_2"];
    assert_eq!(result["code"], json!(61009), "{body}");
    assert!(result["message"].as_str().unwrap_or_default().contains("tier"));
    assert!(echo.received().is_empty());
    world.app.stop().await;
}

fn manifest_named(manifest: &Value, name: &str) -> Value {
    let mut copy = manifest.clone();
    copy["unique_name"] = json!(name);
    copy
}

async fn each_carrier_and_auth_scheme(database: TestDatabase) {
    let world = world(database).await;
    let echo = publisher::echo(&world.publisher).await;
    let url = echo.endpoint_url();
    let cases = [
        (
            "query_get",
            json!({"url": url, "method": "GET", "carrier": "query"}),
            json!({"scheme": "query", "parameter": "api_key", "secret": "k-1"}),
        ),
        (
            "query_post",
            json!({"url": url, "method": "POST", "carrier": "query"}),
            json!({"scheme": "basic", "username": "twilio", "secret": "pw-2"}),
        ),
        (
            "json_post",
            json!({"url": url, "method": "POST", "carrier": "json"}),
            json!({"scheme": "body", "parameter": "token", "secret": "t-3"}),
        ),
        (
            "form_post",
            json!({"url": url, "method": "POST", "carrier": "form"}),
            json!({"scheme": "body", "parameter": "token", "secret": "t-4"}),
        ),
        (
            "bearer_json",
            json!({"url": url, "method": "POST", "carrier": "json"}),
            json!({"scheme": "bearer", "secret": "b-5"}),
        ),
    ];
    for (name, endpoint, auth) in &cases {
        let manifest = manifest(
            name,
            &url,
            json!({
                "endpoint": endpoint,
                "auth": auth,
                "parameters": {"number": "{{primary_address}}", "trace": {"value": "{{request_sid}}", "in": "header"}}
            }),
        );
        world.add(&manifest, None).await;
    }
    for (name, endpoint, auth) in &cases {
        echo.clear_received();
        let body = world.lookup(&format!("AddOns={name}")).await;
        let result = &body["add_ons"]["results"][*name];
        assert_eq!(result["status"], json!("successful"), "{name}: {body}");
        let received = echo.received();
        assert_eq!(received.len(), 1, "{name}");
        let request = &received[0];
        assert!(request.signature_valid, "{name}: signature");
        assert_eq!(
            request.method.as_str(),
            endpoint["method"].as_str().expect("a method"),
            "{name}"
        );
        let query = request.query.clone().unwrap_or_default();
        let body_text = String::from_utf8_lossy(&request.body).into_owned();
        let encoded_number = "number=%2B18778894546";
        match endpoint["carrier"].as_str() {
            Some("query") => {
                assert!(query.contains(encoded_number), "{name}: {query}");
                assert!(request.body.is_empty(), "{name}");
            }
            Some("json") => {
                let sent: Value = serde_json::from_slice(&request.body).expect("a JSON body");
                assert_eq!(sent["number"], json!(NUMBER), "{name}");
                assert_eq!(request.header("content-type"), Some("application/json"));
                assert!(query.contains("bodySHA256="), "{name}: {query}");
            }
            Some("form") => {
                assert!(body_text.contains(encoded_number), "{name}: {body_text}");
                assert_eq!(
                    request.header("content-type"),
                    Some("application/x-www-form-urlencoded")
                );
                assert!(!query.contains("bodySHA256"), "{name}");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            query.contains("InvocationDate=") && query.contains("InvocationTtlMs="),
            "{name}: {query}"
        );
        assert_eq!(
            request.header("trace"),
            result["request_sid"].as_str(),
            "{name}: header parameter"
        );
        match auth["scheme"].as_str() {
            Some("query") => assert!(query.contains("api_key=k-1"), "{name}: {query}"),
            Some("basic") => {
                use base64::Engine as _;
                let expected = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode("twilio:pw-2")
                );
                assert_eq!(request.header("authorization"), Some(expected.as_str()));
            }
            Some("bearer") => assert_eq!(request.header("authorization"), Some("Bearer b-5")),
            Some("body") if endpoint["carrier"] == "json" => {
                let sent: Value = serde_json::from_slice(&request.body).expect("a JSON body");
                assert_eq!(sent["token"], json!("t-3"));
            }
            Some("body") => assert!(body_text.contains("token=t-4"), "{body_text}"),
            other => panic!("{other:?}"),
        }
    }
    world.app.stop().await;
}

async fn every_default_header(database: TestDatabase) {
    let world = world(database).await;
    let echo = publisher::echo(&world.publisher).await;
    let manifest = manifest("headers_addon", &echo.endpoint_url(), json!({}));
    let (add_on, installed) = world
        .app
        .register_and_install(&world.publisher, &world.developer, &manifest, None)
        .await;
    let body = world.lookup("AddOns=headers_addon").await;
    let result = &body["add_ons"]["results"]["headers_addon"];
    let received = echo.received();
    let request = &received[0];
    assert_eq!(
        request.header("x-twilio-vendoraccountsid"),
        Some(world.publisher.sid.as_str())
    );
    assert_eq!(
        request.header("x-twilio-requestsid"),
        result["request_sid"].as_str()
    );
    assert_eq!(request.header("x-twilio-addonsid"), add_on["sid"].as_str());
    assert_eq!(
        request.header("x-twilio-addonversionsid"),
        add_on["latest_version_sid"].as_str()
    );
    assert_eq!(
        request.header("x-twilio-addoninstallsid"),
        installed["add_on_install_sid"].as_str()
    );
    assert!(
        request
            .header("x-twilio-addoninstallsid")
            .is_some_and(|s| s.starts_with("XD"))
    );
    assert_eq!(
        request.header("x-twilio-addonconfigurationsid"),
        installed["sid"].as_str()
    );
    assert!(
        request
            .header("x-twilio-signature")
            .is_some_and(|s| !s.is_empty())
    );
    assert!(request.signature_valid);
    world.app.stop().await;
}

async fn request_validation_fails_without_calling_the_publisher(database: TestDatabase) {
    let world = world(database).await;
    let echo = publisher::echo(&world.publisher).await;
    let manifest = manifest(
        "uk_only",
        &echo.endpoint_url(),
        json!({"request_validation_schema": {
            "type": "object",
            "properties": {"primary_address": {"type": "string", "pattern": "^\\+44[0-9]+$"}},
            "required": ["primary_address"]
        }}),
    );
    world.add(&manifest, None).await;
    let body = world.lookup("AddOns=uk_only").await;
    let result = &body["add_ons"]["results"]["uk_only"];
    assert_eq!(result["status"], json!("failed"));
    assert_eq!(result["code"], json!(61003));
    assert!(echo.received().is_empty(), "the publisher must not be called");
    let records = world.records().await;
    assert_eq!(records.len(), 1);
    assert!(!records[0].sla_counted && !records[0].billable);
    assert_eq!(records[0].error_code, Some(61003));
    assert!(records[0].attempts.is_empty());
    world.app.stop().await;
}

async fn slow_publishers_time_out(database: TestDatabase) {
    let world = world(database).await;
    let slow = publisher::delayed(&world.publisher, Duration::from_millis(1500)).await;
    let manifest = manifest(
        "slow_addon",
        &slow.endpoint_url(),
        json!({"limits": {"timeout_ms": 200}, "retries": {"count": 0}}),
    );
    world.add(&manifest, None).await;
    let body = world.lookup("AddOns=slow_addon").await;
    let result = &body["add_ons"]["results"]["slow_addon"];
    assert_eq!(result["code"], json!(61001), "{body}");
    assert!(result["message"].as_str().unwrap_or_default().contains("200 ms"));
    let records = world.records().await;
    assert!(records[0].sla_counted && !records[0].billable);
    world.app.stop().await;
}

async fn requests_over_the_in_flight_limit_get_20429(database: TestDatabase) {
    let world = world_with(database, |config| config.server.max_in_flight = 1).await;
    let slow = publisher::delayed(&world.publisher, Duration::from_millis(800)).await;
    world
        .add(&manifest("slow_addon", &slow.endpoint_url(), json!({})), None)
        .await;
    let path = format!("/v1/PhoneNumbers/{NUMBER}?AddOns=slow_addon");
    let first = tokio::spawn(world.app.get(&world.developer, &path).send());
    let deadline = Instant::now() + Duration::from_secs(5);
    while slow.received().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the first Lookup never reached the publisher"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // The one place is taken: any other API request is refused at once, health checks are not.
    let refused = world
        .app
        .get(&world.developer, "/v1/AvailableAddOns")
        .send()
        .await
        .expect("sent");
    let body = expect_error(refused, 429, 20429).await;
    assert!(
        body["message"].as_str().is_some_and(|m| m.contains("limit of 1")),
        "{body}"
    );
    let health = reqwest::get(world.app.url("/healthz")).await.expect("sent");
    assert_eq!(health.status().as_u16(), 200);

    let first = first.await.expect("joined").expect("sent");
    let body = expect_status(first, 200).await;
    assert_eq!(
        body["add_ons"]["results"]["slow_addon"]["status"],
        json!("successful"),
        "{body}"
    );
    // The place was given back.
    let body = world.lookup("AddOns=slow_addon").await;
    assert_eq!(body["add_ons"]["status"], json!("successful"), "{body}");
    let metrics = world.app.state.metrics.render();
    assert!(metrics.contains("http_requests_refused_total 1"), "{metrics}");
    world.app.stop().await;
}

fn resident_memory_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        })
        .unwrap_or(0)
}

async fn oversize_answers_are_cut_while_streaming(database: TestDatabase) {
    let world = world(database).await;
    let big = publisher::misbehaving(
        &world.publisher,
        Behavior {
            oversize_bytes: Some(50 * 1024 * 1024),
            ..Behavior::default()
        },
    )
    .await;
    let manifest = manifest("big_addon", &big.endpoint_url(), json!({"retries": {"count": 0}}));
    world.add(&manifest, None).await;
    let before = resident_memory_kib();
    for _ in 0..3 {
        let body = world.lookup("AddOns=big_addon").await;
        let result = &body["add_ons"]["results"]["big_addon"];
        assert_eq!(result["code"], json!(61007), "{body}");
    }
    let grown = resident_memory_kib().saturating_sub(before);
    // Three 50 MB answers: reading any of them whole would grow the process by 50 MB or more.
    assert!(grown < 20 * 1024, "resident memory grew by {grown} KiB");
    let records = world.records().await;
    assert!(records.iter().all(|r| r.sla_counted && !r.billable));
    world.app.stop().await;
}

async fn client_errors_fail_at_once(database: TestDatabase) {
    let world = world(database).await;
    let rejecting = publisher::misbehaving(
        &world.publisher,
        Behavior {
            status: Some(422),
            ..Behavior::default()
        },
    )
    .await;
    world
        .add(&manifest("rejecting", &rejecting.endpoint_url(), json!({})), None)
        .await;
    let body = world.lookup("AddOns=rejecting").await;
    let result = &body["add_ons"]["results"]["rejecting"];
    assert_eq!(result["code"], json!(61005), "{body}");
    assert!(result["message"].as_str().unwrap_or_default().contains("422"));
    assert_eq!(rejecting.received().len(), 1, "4xx is not retried");
    world.app.stop().await;
}

async fn server_errors_are_retried_with_the_same_request_sid(database: TestDatabase) {
    let world = world(database).await;
    let failing = publisher::misbehaving(
        &world.publisher,
        Behavior {
            status: Some(503),
            ..Behavior::default()
        },
    )
    .await;
    world
        .add(
            &manifest(
                "failing",
                &failing.endpoint_url(),
                json!({"retries": {"count": 2}}),
            ),
            None,
        )
        .await;
    let body = world.lookup("AddOns=failing").await;
    let result = &body["add_ons"]["results"]["failing"];
    assert_eq!(result["code"], json!(61002), "{body}");
    let received = failing.received();
    assert_eq!(received.len(), 3, "one attempt and two retries");
    for request in &received {
        assert_eq!(request.request_sid(), result["request_sid"].as_str());
        assert!(request.signature_valid);
    }

    // Recovering after two failures: a success on the third attempt, billed once.
    let flaky = publisher::misbehaving(
        &world.publisher,
        Behavior {
            fail_first: 2,
            ..Behavior::default()
        },
    )
    .await;
    world
        .add(
            &manifest("flaky", &flaky.endpoint_url(), json!({"retries": {"count": 2}})),
            None,
        )
        .await;
    let body = world.lookup("AddOns=flaky").await;
    assert_eq!(
        body["add_ons"]["results"]["flaky"]["status"],
        json!("successful"),
        "{body}"
    );
    assert_eq!(flaky.received().len(), 3);
    let records = world.records().await;
    let flaky_record = records
        .iter()
        .find(|r| &*r.source.unique_name == "flaky")
        .expect("a record");
    let statuses: Vec<Option<u16>> = flaky_record.attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(503), Some(503), Some(200)]);
    assert!(flaky_record.attempts.iter().all(|a| a.error.is_none()));
    assert!(flaky_record.billable && !flaky_record.sla_counted);
    let failing_record = records
        .iter()
        .find(|r| &*r.source.unique_name == "failing")
        .expect("a record");
    assert!(failing_record.sla_counted && !failing_record.billable);
    assert_eq!(failing_record.http_status, Some(503));

    // Nobody listening: connection failures are retried too, then 61002.
    let (_refusing, address) = crate::support::refusing_address();
    let url = format!("http://{address}/x");
    world
        .add(
            &manifest("unreachable", &url, json!({"retries": {"count": 1}})),
            None,
        )
        .await;
    let body = world.lookup("AddOns=unreachable").await;
    let result = &body["add_ons"]["results"]["unreachable"];
    assert_eq!(result["code"], json!(61002), "{body}");
    assert!(
        result["message"]
            .as_str()
            .unwrap_or_default()
            .contains("2 attempts"),
        "{body}"
    );
    world.app.stop().await;
}

async fn retries_stop_at_the_ttl(database: TestDatabase) {
    let world = world(database).await;
    let failing = publisher::misbehaving(
        &world.publisher,
        Behavior {
            status: Some(500),
            delay: Duration::from_millis(60),
            ..Behavior::default()
        },
    )
    .await;
    let manifest = manifest(
        "short_ttl",
        &failing.endpoint_url(),
        json!({"retries": {"count": 5, "ttl_ms": 150}}),
    );
    world.add(&manifest, None).await;
    let body = world.lookup("AddOns=short_ttl").await;
    let code = body["add_ons"]["results"]["short_ttl"]["code"].clone();
    assert!(code == json!(61002) || code == json!(61001), "{body}");
    let attempts = failing.received().len();
    assert!(
        (1..=3).contains(&attempts),
        "the TTL allows at most three 60 ms attempts, saw {attempts}"
    );
    world.app.stop().await;
}

async fn answers_that_are_not_results(database: TestDatabase) {
    let world = world(database).await;
    let echo = publisher::echo(&world.publisher).await;
    let schema = json!({"type": "object", "required": ["score"]});
    world
        .add(
            &manifest(
                "no_results",
                &echo.endpoint_url(),
                json!({"response_validation_schema": schema}),
            ),
            None,
        )
        .await;
    let not_json = publisher::misbehaving(
        &world.publisher,
        Behavior {
            invalid_json: true,
            ..Behavior::default()
        },
    )
    .await;
    world
        .add(&manifest("not_json", &not_json.endpoint_url(), json!({})), None)
        .await;
    let reporting = publisher::misbehaving(
        &world.publisher,
        Behavior {
            error_object: Some((4404, "number not in our database".into())),
            ..Behavior::default()
        },
    )
    .await;
    world
        .add(&manifest("reporting", &reporting.endpoint_url(), json!({})), None)
        .await;
    let looping = publisher::misbehaving(
        &world.publisher,
        Behavior {
            redirect_loop: true,
            ..Behavior::default()
        },
    )
    .await;
    world
        .add(&manifest("looping", &looping.endpoint_url(), json!({})), None)
        .await;

    let body = world
        .lookup("AddOns=no_results&AddOns=not_json&AddOns=reporting&AddOns=looping")
        .await;
    let results = &body["add_ons"]["results"];
    assert_eq!(results["no_results"]["code"], json!(61004), "{body}");
    assert_eq!(results["not_json"]["status"], json!("failed"));
    assert_eq!(results["not_json"]["code"], json!(61002));
    assert_eq!(results["reporting"]["status"], json!("failed"));
    assert_eq!(results["reporting"]["code"], json!(4404));
    assert_eq!(
        results["reporting"]["message"],
        json!("number not in our database")
    );
    assert_eq!(results["looping"]["code"], json!(61008));
    assert_eq!(body["add_ons"]["status"], json!("failed"), "every Add-on failed");

    let records = world.records().await;
    let by_name = |name: &str| {
        records
            .iter()
            .find(|r| &*r.source.unique_name == name)
            .expect("a record")
            .clone()
    };
    assert!(!by_name("no_results").sla_counted && !by_name("no_results").billable);
    assert!(by_name("not_json").sla_counted);
    assert!(!by_name("reporting").sla_counted && !by_name("reporting").billable);
    assert!(by_name("looping").sla_counted);
    world.app.stop().await;
}

async fn response_cleaning_deletes_each_match_once(database: TestDatabase) {
    let world = world(database).await;
    let publisher = publisher::start(&world.publisher, |_| {
        json!({"score": 1, "api_key": "k", "items": ["a", "b", "c"], "usage": {"today": 3}, "nested": {"uri": "/x", "keep": true}})
    })
    .await;
    let manifest = manifest(
        "cleaned",
        &publisher.endpoint_url(),
        json!({"response_cleaning": ["$.api_key", "$.items[0,0]", "$.usage", "$..uri"]}),
    );
    world.add(&manifest, None).await;
    let body = world.lookup("AddOns=cleaned").await;
    assert_eq!(
        body["add_ons"]["results"]["cleaned"]["result"],
        json!({"score": 1, "items": ["b", "c"], "nested": {"keep": true}})
    );
    world.app.stop().await;
}

async fn mixed_results_merge(database: TestDatabase) {
    let world = world(database).await;
    let good = publisher::start(&world.publisher, |_| json!({"status": "success", "score": 0.3})).await;
    let bad = publisher::misbehaving(
        &world.publisher,
        Behavior {
            status: Some(400),
            ..Behavior::default()
        },
    )
    .await;
    world
        .add(&manifest("good_one", &good.endpoint_url(), json!({})), None)
        .await;
    world
        .add(&manifest("bad_one", &bad.endpoint_url(), json!({})), None)
        .await;
    // Installed but its Lookups extension left disabled.
    let disabled = manifest("disabled_one", &good.endpoint_url(), json!({}));
    let add_on = world.app.register(&world.publisher, &disabled).await;
    world
        .app
        .install(&world.developer, add_on["sid"].as_str().expect("sid"), None)
        .await;

    let body = world
        .lookup("AddOns=good_one&AddOns=bad_one&AddOns=not_installed&AddOns=disabled_one&AddOns=good_one")
        .await;
    let add_ons = &body["add_ons"];
    assert_eq!(add_ons["status"], json!("successful"));
    assert_eq!(add_ons["message"], Value::Null);
    assert_eq!(add_ons["code"], Value::Null);
    let results = add_ons["results"].as_object().expect("results");
    assert_eq!(
        results.keys().collect::<Vec<_>>(),
        vec!["good_one", "bad_one", "not_installed", "disabled_one"],
        "in the order asked, each once"
    );
    assert_eq!(results["good_one"]["status"], json!("successful"));
    assert_eq!(
        results["good_one"]["result"],
        json!({"status": "success", "score": 0.3})
    );
    assert_eq!(results["good_one"]["message"], Value::Null);
    assert_eq!(results["bad_one"]["code"], json!(61005));
    assert_eq!(results["not_installed"]["code"], json!(61003));
    assert!(
        results["not_installed"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("not_installed")
    );
    assert_eq!(results["not_installed"]["request_sid"], Value::Null);
    assert_eq!(results["disabled_one"]["code"], json!(61003));
    assert!(
        results["disabled_one"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("not enabled for lookups")
    );
    assert_eq!(good.received().len(), 1);
    world.app.stop().await;
}

async fn add_ons_run_concurrently(database: TestDatabase) {
    let world = world(database).await;
    let mut publishers = Vec::new();
    for name in ["slow_a", "slow_b", "slow_c"] {
        let slow = publisher::delayed(&world.publisher, Duration::from_millis(300)).await;
        world
            .add(&manifest(name, &slow.endpoint_url(), json!({})), None)
            .await;
        publishers.push(slow);
    }
    let started = Instant::now();
    let body = world.lookup("AddOns=slow_a&AddOns=slow_b&AddOns=slow_c").await;
    let elapsed = started.elapsed();
    for name in ["slow_a", "slow_b", "slow_c"] {
        assert_eq!(
            body["add_ons"]["results"][name]["status"],
            json!("successful"),
            "{body}"
        );
    }
    // Each publisher received its request before any of them could have answered.
    let arrivals: Vec<_> = publishers.iter().map(|p| p.received()[0].received_at).collect();
    let spread = arrivals.iter().max().copied().unwrap_or_default()
        - arrivals.iter().min().copied().unwrap_or_default();
    assert!(
        spread < chrono::Duration::milliseconds(250),
        "requests were not sent together: {spread:?}"
    );
    assert!(
        elapsed < Duration::from_millis(800),
        "three 300 ms Add-ons took {elapsed:?}, not about 300 ms"
    );
    world.app.stop().await;
}

async fn billing_follows_the_pricing_model(database: TestDatabase) {
    let world = world(database).await;
    let publisher = publisher::start(&world.publisher, |request| {
        if request.params.get("number").and_then(Value::as_str) == Some(NUMBER) {
            json!({"not_found": true})
        } else {
            json!({"score": 1})
        }
    })
    .await;
    let manifest = manifest(
        "per_success",
        &publisher.endpoint_url(),
        json!({
            "pricing": {"model": "pay-per-success", "price": "0.005", "non_billable_elements": ["$.not_found"]},
            "response_cleaning": ["$.not_found"]
        }),
    );
    world.add(&manifest, None).await;
    let body = world.lookup("AddOns=per_success").await;
    assert_eq!(
        body["add_ons"]["results"]["per_success"]["result"],
        json!({}),
        "cleaned after billing was decided"
    );
    let response = world
        .app
        .get(
            &world.developer,
            "/v1/PhoneNumbers/+15108675310?AddOns=per_success",
        )
        .send()
        .await
        .expect("sent");
    expect_status(response, 200).await;
    let records = world.records().await;
    assert_eq!(records.len(), 2);
    let free = records.iter().find(|r| !r.billable).expect("a free result");
    assert_eq!(
        free.non_billable_reason.as_deref(),
        Some("element present: $.not_found")
    );
    let paid = records.iter().find(|r| r.billable).expect("a billed result");
    assert_eq!(
        (paid.unit_price_nanos, paid.units, &*paid.source.pricing_model),
        (5_000_000, 1, "pay-per-success")
    );
    assert_eq!(paid.integration_point, "lookups");
    world.app.stop().await;
}

addons_testkit::on_both_backends!(
    lookup_without_add_ons,
    every_template_field_and_its_hash,
    unfillable_fields_and_optional_parameters,
    each_carrier_and_auth_scheme,
    every_default_header,
    request_validation_fails_without_calling_the_publisher,
    slow_publishers_time_out,
    requests_over_the_in_flight_limit_get_20429,
    oversize_answers_are_cut_while_streaming,
    client_errors_fail_at_once,
    server_errors_are_retried_with_the_same_request_sid,
    retries_stop_at_the_ttl,
    answers_that_are_not_results,
    response_cleaning_deletes_each_match_once,
    mixed_results_merge,
    add_ons_run_concurrently,
    billing_follows_the_pricing_model,
);

mod lifecycle {
    use super::*;

    /// Stops the gateway and counts the request records in its database.
    async fn records_after_stopping(app: TestApp) -> i64 {
        let (database, _data) = app.stop_keeping_data().await;
        let store = addons_store::Store::connect(&database.url, addons_store::Vault::new(&[0u8; 32]))
            .await
            .expect("connects");
        let count = store.count_add_on_requests().await.expect("counts");
        store.close().await;
        count
    }

    /// Records still queued when the gateway stops are written before it exits.
    async fn records_are_flushed_on_graceful_shutdown(database: TestDatabase) {
        let app = TestApp::spawn_with(database, |config| {
            config.recorder.flush_interval_ms = 60_000;
            config.recorder.batch_size = 10_000;
        })
        .await;
        let publisher = app.account("publisher").await;
        let developer = app.account("developer").await;
        let echo = publisher::echo(&publisher).await;
        app.register_and_install(
            &publisher,
            &developer,
            &manifest("kept", &echo.endpoint_url(), json!({})),
            None,
        )
        .await;
        for _ in 0..3 {
            let path = format!("/v1/PhoneNumbers/{NUMBER}?AddOns=kept");
            expect_status(app.get(&developer, &path).send().await.expect("sent"), 200).await;
        }
        assert_eq!(records_after_stopping(app).await, 3);
    }

    /// A change made through one gateway instance reaches another instance's catalog through
    /// PostgreSQL's LISTEN/NOTIFY (on SQLite one process owns the file, so there is nothing
    /// to share).
    async fn other_instances_see_catalog_changes(database: TestDatabase) {
        if database.backend != "postgres" {
            return;
        }
        let url = database.url.clone();
        let first = TestApp::spawn(database).await;
        let second = TestApp::spawn(addons_testkit::TestDatabase::shared(&url)).await;
        let publisher = first.account("publisher").await;
        let developer = first.account("developer").await;
        let echo = publisher::echo(&publisher).await;
        first
            .register_and_install(
                &publisher,
                &developer,
                &manifest("shared", &echo.endpoint_url(), json!({})),
                None,
            )
            .await;
        let path = format!("/v1/PhoneNumbers/{NUMBER}?AddOns=shared");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let response = second.get(&developer, &path).send().await.expect("sent");
            if response.status() == 200 {
                let body = expect_status(response, 200).await;
                if body["add_ons"]["results"]["shared"]["status"] == json!("successful") {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the second instance never saw the install"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        second.stop().await;
        first.stop().await;
    }

    /// A developer who hangs up before the Add-ons answer does not stop them half-way: each
    /// request that was sent to a publisher is still recorded (and so still billed and counted).
    async fn abandoned_lookups_are_still_recorded(database: TestDatabase) {
        let world = world(database).await;
        let slow = publisher::delayed(&world.publisher, Duration::from_millis(300)).await;
        world
            .add(&manifest("patient", &slow.endpoint_url(), json!({})), None)
            .await;
        for _ in 0..3 {
            let path = format!("/v1/PhoneNumbers/{NUMBER}?AddOns=patient");
            let abandoned = world
                .app
                .get(&world.developer, &path)
                .timeout(Duration::from_millis(50))
                .send()
                .await;
            assert!(abandoned.is_err(), "the developer hung up before the answer");
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let records = loop {
            let records = world.records().await;
            if records.len() >= 3 || Instant::now() > deadline {
                break records;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(records.len(), 3, "every abandoned Lookup is recorded");
        assert!(
            records
                .iter()
                .all(|r| r.status == "successful" && r.http_status == Some(200)),
            "{records:?}"
        );
        world.app.stop().await;
    }

    /// A gateway told to stop while abandoned Lookups still wait for their publisher lets
    /// them finish (within the grace period) and stores their records before it exits.
    async fn stopping_waits_for_abandoned_lookups(database: TestDatabase) {
        let app = TestApp::spawn(database).await;
        let publisher = app.account("publisher").await;
        let developer = app.account("developer").await;
        let slow = publisher::delayed(&publisher, Duration::from_millis(300)).await;
        app.register_and_install(
            &publisher,
            &developer,
            &manifest("unhurried", &slow.endpoint_url(), json!({})),
            None,
        )
        .await;
        for _ in 0..3 {
            let path = format!("/v1/PhoneNumbers/{NUMBER}?AddOns=unhurried");
            let abandoned = app
                .get(&developer, &path)
                .timeout(Duration::from_millis(50))
                .send()
                .await;
            assert!(abandoned.is_err(), "the developer hung up before the answer");
        }
        assert_eq!(records_after_stopping(app).await, 3);
    }

    /// The gateway serves on `server.threads` threads of its own, which end when it stops.
    async fn serves_on_its_own_threads_until_stopped(database: TestDatabase) {
        let app = TestApp::spawn_with(database, |config| config.server.threads = 3).await;
        let port = app.address.rsplit(':').next().expect("a port").to_owned();
        let serving = || {
            let prefix = format!("serve-{port}-");
            std::fs::read_dir("/proc/self/task")
                .expect("the process's threads")
                .filter_map(Result::ok)
                .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
                .filter(|name| name.starts_with(&prefix))
                .count()
        };
        assert_eq!(serving(), 3);
        for _ in 0..20 {
            let response = app.http.get(format!("{}/healthz", app.address)).send().await;
            assert_eq!(response.expect("an answer").status(), 200);
        }
        app.stop().await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while serving() > 0 {
            assert!(Instant::now() < deadline, "serving threads outlived the gateway");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// A port another gateway listens on is reported as taken, unless both were told to
    /// share it with `server.threads`.
    async fn a_taken_port_is_reported(database: TestDatabase) {
        let app = TestApp::spawn(database).await;
        let taken = app
            .address
            .trim_start_matches("http://")
            .parse()
            .expect("an address");
        let second = addons_testkit::sqlite();
        let data_dir = tempfile::tempdir().expect("a data directory");
        let mut config = crate::support::test_config(&second, data_dir.path());
        config.server.listen = taken;
        let error = addons_server::Application::build(config)
            .await
            .expect_err("the port is taken");
        assert!(format!("{error:#}").contains("binding"), "{error:#}");
        app.stop().await;
    }

    addons_testkit::on_both_backends!(
        a_taken_port_is_reported,
        records_are_flushed_on_graceful_shutdown,
        other_instances_see_catalog_changes,
        abandoned_lookups_are_still_recorded,
        stopping_waits_for_abandoned_lookups,
        serves_on_its_own_threads_until_stopped,
    );
}
