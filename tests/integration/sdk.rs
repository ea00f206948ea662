//! The official Twilio Python package against the gateway, with only its base URLs changed.

use addons_testkit::TestDatabase;

use crate::support::{TestApp, phone_manifest, python};

async fn marketplace_with_twilio_python(database: TestDatabase) {
    let app = TestApp::spawn(database).await;
    let publisher = app.account("publisher").await;
    let developer = app.account("developer").await;
    let add_on = app
        .register(
            &publisher,
            &phone_manifest("sdk_addon", "https://sdk.example.com/x"),
        )
        .await;
    let output = python::run_script(
        "test_marketplace.py",
        vec![
            ("GATEWAY_URL", app.address.clone()),
            ("DEVELOPER_SID", developer.sid.clone()),
            ("DEVELOPER_TOKEN", developer.token.clone()),
            ("ADD_ON_SID", add_on["sid"].as_str().expect("sid").to_owned()),
        ],
    )
    .await;
    assert!(output.contains("marketplace: ok"), "{output}");
    app.stop().await;
}

async fn publisher_requests_validate_with_twilio_python(database: TestDatabase) {
    use serde_json::{Value, json};

    let app = TestApp::spawn(database).await;
    let publisher = app.account("publisher").await;
    let developer = app.account("developer").await;
    let echo = crate::support::publisher::echo(&publisher).await;
    for (name, method, carrier) in [
        ("sdk_json", "POST", "json"),
        ("sdk_form", "POST", "form"),
        ("sdk_query", "GET", "query"),
    ] {
        let mut manifest = json!({
            "unique_name": name,
            "friendly_name": name,
            "type": "phone-number",
            "integration_points": ["lookups"],
            "endpoint": {"url": echo.endpoint_url(), "method": method, "carrier": carrier},
            "parameters": {"number": "{{primary_address}}", "note": "a constant with spaces & symbols +/="},
            "pricing": {"model": "pay-per-use", "price": "0.0001"}
        });
        if name == "sdk_json" {
            manifest["runtime_fields"] = json!({"dob": {"required": false}});
            manifest["parameters"]["dob"] = json!({"value": "{{dob}}", "optional": true});
        }
        app.register_and_install(&publisher, &developer, &manifest, None)
            .await;
    }
    for name in ["sdk_json", "sdk_form", "sdk_query"] {
        let path = format!("/v1/PhoneNumbers/+18778894546?AddOns={name}");
        let body =
            crate::support::expect_status(app.get(&developer, &path).send().await.expect("sent"), 200).await;
        assert_eq!(
            body["add_ons"]["results"][name]["status"],
            json!("successful"),
            "{body}"
        );
    }
    let captured: Vec<Value> = echo
        .received()
        .iter()
        .map(|request| {
            let url = match &request.query {
                Some(query) => format!("{}{}?{query}", echo.base_url(), request.path),
                None => format!("{}{}", echo.base_url(), request.path),
            };
            let form =
                (request.header("content-type") == Some("application/x-www-form-urlencoded")).then(|| {
                    let pairs: serde_json::Map<String, Value> = form_urlencoded::parse(&request.body)
                        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                        .collect();
                    Value::Object(pairs)
                });
            let carrier = match (request.method.as_str(), &form) {
                ("GET", _) => "query",
                (_, Some(_)) => "form",
                _ => "json",
            };
            json!({
                "carrier": carrier,
                "url": url,
                "form": form,
                "body": String::from_utf8_lossy(&request.body),
                "signature": request.header("x-twilio-signature"),
            })
        })
        .collect();
    assert_eq!(captured.len(), 3);
    let file = tempfile::NamedTempFile::new().expect("a file");
    std::fs::write(file.path(), serde_json::to_vec(&captured).expect("JSON")).expect("written");

    let output = python::run_script(
        "test_signatures_and_lookup.py",
        vec![
            ("GATEWAY_URL", app.address.clone()),
            ("DEVELOPER_SID", developer.sid.clone()),
            ("DEVELOPER_TOKEN", developer.token.clone()),
            ("PUBLISHER_TOKEN", publisher.token.clone()),
            ("CAPTURED", file.path().display().to_string()),
        ],
    )
    .await;
    assert!(output.contains("signatures and lookup: ok"), "{output}");
    app.stop().await;
}

async fn webhook_requests_validate_with_twilio_python(database: TestDatabase) {
    use serde_json::{Value, json};

    let app = TestApp::spawn(database).await;
    let publisher = app.account("publisher").await;
    let developer = app.account("developer").await;
    let webhook = crate::support::webhook::Webhook::start(&developer.token).await;
    let echo = crate::support::publisher::echo(&publisher).await;
    let manifest = json!({
        "unique_name": "sms_echo",
        "friendly_name": "SMS echo",
        "type": "message-analysis",
        "integration_points": ["incoming-sms"],
        "endpoint": {"url": echo.endpoint_url(), "carrier": "json"},
        "parameters": {"text": "{{body}}"},
        "pricing": {"model": "pay-per-use", "price": "0.001"}
    });
    app.register_and_install(&publisher, &developer, &manifest, None)
        .await;
    let numbers = format!("/2010-04-01/Accounts/{}/IncomingPhoneNumbers.json", developer.sid);
    for (number, method) in [("+15017122661", "POST"), ("+15017122662", "GET")] {
        let url = webhook.url("/sms?tenant=a%20b");
        let form = [
            ("PhoneNumber", number),
            ("SmsUrl", url.as_str()),
            ("SmsMethod", method),
        ];
        crate::support::expect_status(
            app.post_form(&developer, &numbers, &form)
                .send()
                .await
                .expect("sent"),
            201,
        )
        .await;
        let sms = [
            ("From", "+14155550100"),
            ("To", number),
            ("Body", "Héllo & welcome, 100% sure?"),
        ];
        crate::support::expect_status(
            app.post_form(&developer, "/sandbox/v1/Messages", &sms)
                .send()
                .await
                .expect("sent"),
            201,
        )
        .await;
    }
    let captured: Vec<Value> = webhook
        .hits()
        .iter()
        .map(|hit| {
            let params: serde_json::Map<String, Value> =
                hit.params.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
            json!({"method": hit.method.as_str(), "url": hit.url, "params": params, "signature": hit.signature})
        })
        .collect();
    assert_eq!(captured.len(), 2);
    let file = tempfile::NamedTempFile::new().expect("a file");
    std::fs::write(file.path(), serde_json::to_vec(&captured).expect("JSON")).expect("written");
    let output = python::run_script(
        "test_webhooks.py",
        vec![
            ("DEVELOPER_TOKEN", developer.token.clone()),
            ("CAPTURED", file.path().display().to_string()),
        ],
    )
    .await;
    assert!(output.contains("webhooks: ok"), "{output}");
    app.stop().await;
}

addons_testkit::on_both_backends!(
    marketplace_with_twilio_python,
    publisher_requests_validate_with_twilio_python,
    webhook_requests_validate_with_twilio_python,
);
