//! Incoming SMS and calls: Add-ons run, and the results reach the developer's webhook in the
//! `AddOns` parameter, as Twilio delivers them.

use std::time::Duration;

use addons_testkit::TestDatabase;
use demo_publishers::Behavior;
use serde_json::{Value, json};

use crate::support::webhook::{Answer, Webhook};
use crate::support::{Credentials, TestApp, expect_error, expect_status, publisher};

const NUMBER: &str = "+15017122661";
const SENDER: &str = "+14155550100";

struct World {
    app: TestApp,
    publisher: Credentials,
    developer: Credentials,
    webhook: Webhook,
}

async fn world(database: TestDatabase) -> World {
    let app = TestApp::spawn_with(database, |config| config.webhooks.timeout_ms = 400).await;
    let publisher = app.account("publisher").await;
    let developer = app.account("developer").await;
    let webhook = Webhook::start(&developer.token).await;
    World {
        app,
        publisher,
        developer,
        webhook,
    }
}

impl World {
    fn numbers_path(&self) -> String {
        format!(
            "/2010-04-01/Accounts/{}/IncomingPhoneNumbers.json",
            self.developer.sid
        )
    }

    async fn number(&self, form: &[(&str, &str)]) -> Value {
        let response = self
            .app
            .post_form(&self.developer, &self.numbers_path(), form)
            .send()
            .await
            .expect("sent");
        expect_status(response, 201).await
    }

    async fn sms(&self, body: &str) -> Value {
        let response = self
            .app
            .post_form(
                &self.developer,
                "/sandbox/v1/Messages",
                &[("From", SENDER), ("To", NUMBER), ("Body", body)],
            )
            .send()
            .await
            .expect("sent");
        expect_status(response, 201).await
    }

    async fn call(&self) -> Value {
        let response = self
            .app
            .post_form(
                &self.developer,
                "/sandbox/v1/Calls",
                &[("From", SENDER), ("To", NUMBER)],
            )
            .send()
            .await
            .expect("sent");
        expect_status(response, 201).await
    }

    /// A phone-number Add-on and a Message Analysis Add-on, both echoing what they received.
    async fn add_ons(
        &self,
        points: &[&str],
    ) -> (
        demo_publishers::RunningPublisher,
        demo_publishers::RunningPublisher,
    ) {
        let lookup = publisher::echo(&self.publisher).await;
        let analysis = publisher::echo(&self.publisher).await;
        let phone_manifest = json!({
            "unique_name": "caller_check",
            "friendly_name": "Caller check",
            "type": "phone-number",
            "integration_points": ["incoming-sms", "voice-incoming"],
            "endpoint": {"url": lookup.endpoint_url(), "carrier": "json"},
            "parameters": {"from": "{{primary_address}}", "to": "{{secondary_address}}"},
            "pricing": {"model": "pay-per-use", "price": "0.001"}
        });
        let analysis_manifest = json!({
            "unique_name": "mood",
            "friendly_name": "Mood",
            "type": "message-analysis",
            "integration_points": ["incoming-sms"],
            "endpoint": {"url": analysis.endpoint_url(), "carrier": "json"},
            "parameters": {"text": "{{body}}", "from": "{{primary_address}}", "to": "{{secondary_address}}"},
            "pricing": {"model": "pay-per-use", "price": "0.002"}
        });
        for manifest in [phone_manifest, analysis_manifest] {
            let add_on = self.app.register(&self.publisher, &manifest).await;
            let installed = self
                .app
                .install(&self.developer, add_on["sid"].as_str().expect("sid"), None)
                .await;
            self.app.enable(&self.developer, &installed, points).await;
        }
        (lookup, analysis)
    }

    async fn alerts(&self) -> Vec<Value> {
        let response = self
            .app
            .get(&self.developer, "/v1/Alerts")
            .send()
            .await
            .expect("sent");
        expect_status(response, 200).await["alerts"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

async fn phone_numbers_as_twilio(database: TestDatabase) {
    let world = world(database).await;
    let app = &world.app;
    let created = world
        .number(&[
            ("PhoneNumber", "+1 (501) 712-2661"),
            ("SmsUrl", &world.webhook.url("/sms")),
            ("VoiceMethod", "get"),
        ])
        .await;
    assert!(created["sid"].as_str().is_some_and(|s| s.starts_with("PN")));
    assert_eq!(created["phone_number"], json!(NUMBER));
    assert_eq!(created["sms_method"], json!("POST"));
    assert_eq!(created["voice_method"], json!("GET"));
    assert_eq!(created["voice_url"], json!(""));
    assert!(
        created["date_created"]
            .as_str()
            .is_some_and(|d| d.ends_with("+0000")),
        "RFC 2822: {created}"
    );
    let uri = created["uri"].as_str().expect("a uri").to_owned();

    let fetched = expect_status(app.get(&world.developer, &uri).send().await.expect("sent"), 200).await;
    assert_eq!(fetched, created);
    let updated = expect_status(
        app.post_form(
            &world.developer,
            &uri,
            &[
                ("VoiceUrl", &world.webhook.url("/voice")),
                ("FriendlyName", "Support"),
            ],
        )
        .send()
        .await
        .expect("sent"),
        200,
    )
    .await;
    assert_eq!(updated["voice_url"], json!(world.webhook.url("/voice")));
    assert_eq!(
        updated["sms_url"],
        json!(world.webhook.url("/sms")),
        "unchanged fields stay"
    );
    let list = expect_status(
        app.get(&world.developer, &world.numbers_path())
            .send()
            .await
            .expect("sent"),
        200,
    )
    .await;
    assert_eq!(list["incoming_phone_numbers"].as_array().map(Vec::len), Some(1));
    assert!(
        list["first_page_uri"]
            .as_str()
            .is_some_and(|u| u.starts_with("/2010-04-01/"))
    );

    // Bad input, conflicts and tenancy.
    for (form, field) in [
        (vec![("SmsUrl", "https://x.example.com")], "PhoneNumber"),
        (vec![("PhoneNumber", "+1877")], "PhoneNumber"),
        (
            vec![("PhoneNumber", "+15005550006"), ("SmsUrl", "ftp://x")],
            "SmsUrl",
        ),
        (
            vec![("PhoneNumber", "+15005550006"), ("SmsMethod", "PUT")],
            "SmsMethod",
        ),
    ] {
        let response = app
            .post_form(&world.developer, &world.numbers_path(), &form)
            .send()
            .await
            .expect("sent");
        let error = expect_error(response, 400, 20001).await;
        assert!(
            error["message"].as_str().unwrap_or_default().contains(field),
            "{error}"
        );
    }
    let other = app.account("developer").await;
    let others_path = format!("/2010-04-01/Accounts/{}/IncomingPhoneNumbers.json", other.sid);
    let response = app
        .post_form(&other, &others_path, &[("PhoneNumber", NUMBER)])
        .send()
        .await
        .expect("sent");
    expect_error(response, 409, 20409).await;
    expect_error(app.get(&other, &uri).send().await.expect("sent"), 404, 20404).await;
    expect_error(
        app.get(&other, &world.numbers_path()).send().await.expect("sent"),
        404,
        20404,
    )
    .await;

    let response = app.delete(&world.developer, &uri).send().await.expect("sent");
    assert_eq!(response.status().as_u16(), 204);
    expect_error(
        app.get(&world.developer, &uri).send().await.expect("sent"),
        404,
        20404,
    )
    .await;
    world.app.stop().await;
}

async fn sms_results_reach_the_webhook(database: TestDatabase) {
    let world = world(database).await;
    world
        .number(&[("PhoneNumber", NUMBER), ("SmsUrl", &world.webhook.url("/sms"))])
        .await;
    let (lookup, analysis) = world.add_ons(&["incoming-sms"]).await;

    let answer = world.sms("Is this the right number? Thanks!").await;
    let message = &answer["message"];
    let sid = message["sid"].as_str().expect("a sid");
    assert!(sid.starts_with("SM"));
    assert_eq!(message["status"], json!("received"));
    assert_eq!(message["direction"], json!("inbound"));

    let hits = world.webhook.hits();
    assert_eq!(hits.len(), 1);
    let hit = &hits[0];
    assert_eq!(hit.method.as_str(), "POST");
    assert!(hit.signature_valid, "signed with the developer's auth token");
    for (name, value) in [
        ("MessageSid", sid),
        ("SmsSid", sid),
        ("AccountSid", world.developer.sid.as_str()),
        ("From", SENDER),
        ("To", NUMBER),
        ("Body", "Is this the right number? Thanks!"),
        ("NumMedia", "0"),
        ("SmsStatus", "received"),
        ("ApiVersion", "2010-04-01"),
        ("FromCountry", "US"),
    ] {
        assert_eq!(hit.param(name), Some(value), "{name}");
    }
    let add_ons: Value = serde_json::from_str(hit.param("AddOns").expect("AddOns")).expect("JSON");
    assert_eq!(add_ons["status"], json!("successful"));
    assert_eq!(add_ons["results"]["caller_check"]["status"], json!("successful"));
    assert_eq!(
        add_ons["results"]["caller_check"]["result"]["params"]["from"],
        json!(SENDER)
    );
    assert_eq!(
        add_ons["results"]["caller_check"]["result"]["params"]["to"],
        json!(NUMBER)
    );
    assert_eq!(
        add_ons["results"]["mood"]["result"]["params"]["text"],
        json!("Is this the right number? Thanks!")
    );

    // Message Analysis received the body; the phone-number Add-on did not.
    let analysis_request: Value = serde_json::from_slice(&analysis.received()[0].body).expect("JSON");
    assert_eq!(
        analysis_request["text"],
        json!("Is this the right number? Thanks!")
    );
    let lookup_request: Value = serde_json::from_slice(&lookup.received()[0].body).expect("JSON");
    assert!(lookup_request.get("text").is_none() && lookup_request.get("body").is_none());

    // The TwiML answer comes back and is stored with the message.
    assert_eq!(answer["webhook_request"]["status_code"], json!(200));
    assert!(
        answer["webhook_request"]["response"]
            .as_str()
            .unwrap_or_default()
            .contains("<Message>Got it</Message>")
    );
    let path = format!("/2010-04-01/Accounts/{}/Messages/{sid}.json", world.developer.sid);
    let stored = expect_status(
        world.app.get(&world.developer, &path).send().await.expect("sent"),
        200,
    )
    .await;
    assert_eq!(stored["body"], json!("Is this the right number? Thanks!"));
    assert_eq!(stored["from"], json!(SENDER));
    assert!(
        stored["webhook"]["response"]
            .as_str()
            .unwrap_or_default()
            .contains("Got it")
    );
    assert_eq!(
        stored["add_ons"]["results"]["mood"]["status"],
        json!("successful")
    );
    let list = format!("/2010-04-01/Accounts/{}/Messages.json", world.developer.sid);
    let listed = expect_status(
        world.app.get(&world.developer, &list).send().await.expect("sent"),
        200,
    )
    .await;
    assert_eq!(listed["messages"][0]["sid"], json!(sid));

    // The Add-on requests are recorded against the message.
    world.app.state.engine.flush_records().await;
    let account = addons_domain::sid::AccountSid::parse(&world.developer.sid).expect("sid");
    let records = world
        .app
        .state
        .store
        .account_add_on_requests(
            &account,
            addons_store::PageRequest {
                page: 0,
                page_size: 10,
            },
        )
        .await
        .expect("records")
        .items;
    assert_eq!(records.len(), 2);
    assert!(
        records
            .iter()
            .all(|r| r.reference_sid.as_deref() == Some(sid) && r.integration_point == "incoming-sms")
    );
    world.app.stop().await;
}

async fn calls_results_reach_the_webhook(database: TestDatabase) {
    let world = world(database).await;
    world
        .number(&[
            ("PhoneNumber", NUMBER),
            ("VoiceUrl", &world.webhook.url("/voice")),
        ])
        .await;
    world.add_ons(&["voice-incoming"]).await;
    world.webhook.answer_with(Answer {
        body: "<Response><Say>Hello</Say></Response>".into(),
        ..Answer::default()
    });
    let answer = world.call().await;
    let call = &answer["call"];
    let sid = call["sid"].as_str().expect("a sid");
    assert!(sid.starts_with("CA"));
    assert_eq!(call["status"], json!("completed"));
    let hit = &world.webhook.hits()[0];
    assert!(hit.signature_valid);
    for (name, value) in [
        ("CallSid", sid),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
        ("From", SENDER),
        ("To", NUMBER),
        ("Caller", SENDER),
        ("Called", NUMBER),
    ] {
        assert_eq!(hit.param(name), Some(value), "{name}");
    }
    let add_ons: Value = serde_json::from_str(hit.param("AddOns").expect("AddOns")).expect("JSON");
    let results = add_ons["results"].as_object().expect("results");
    assert_eq!(
        results.keys().collect::<Vec<_>>(),
        vec!["caller_check"],
        "Message Analysis does not run on calls"
    );
    let path = format!("/2010-04-01/Accounts/{}/Calls/{sid}.json", world.developer.sid);
    let stored = expect_status(
        world.app.get(&world.developer, &path).send().await.expect("sent"),
        200,
    )
    .await;
    assert_eq!(
        stored["webhook"]["response"],
        json!("<Response><Say>Hello</Say></Response>")
    );
    assert_eq!(stored["direction"], json!("inbound"));
    world.app.stop().await;
}

async fn get_webhooks_carry_no_add_ons(database: TestDatabase) {
    let world = world(database).await;
    world
        .number(&[
            ("PhoneNumber", NUMBER),
            ("SmsUrl", &world.webhook.url("/sms?source=test")),
            ("SmsMethod", "GET"),
        ])
        .await;
    world.add_ons(&["incoming-sms"]).await;
    let answer = world.sms("hello").await;
    let hit = &world.webhook.hits()[0];
    assert_eq!(hit.method.as_str(), "GET");
    assert!(hit.signature_valid, "GET webhooks are signed over the full URL");
    assert_eq!(hit.param("Body"), Some("hello"));
    assert_eq!(hit.param("source"), Some("test"));
    assert!(hit.param("AddOns").is_none());
    let alerts = world.alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["error_code"], json!("61006"));
    assert_eq!(alerts[0]["log_level"], json!("warning"));
    assert_eq!(alerts[0]["resource_sid"], answer["message"]["sid"]);
    world.app.stop().await;
}

async fn disabled_extensions_do_not_run(database: TestDatabase) {
    let world = world(database).await;
    world
        .number(&[("PhoneNumber", NUMBER), ("SmsUrl", &world.webhook.url("/sms"))])
        .await;
    let (lookup, analysis) = world.add_ons(&["voice-incoming"]).await;
    world.sms("hello").await;
    assert!(
        world.webhook.hits()[0].param("AddOns").is_none(),
        "no Add-on is enabled for incoming SMS"
    );
    assert!(lookup.received().is_empty() && analysis.received().is_empty());
    world.app.stop().await;
}

async fn add_on_failures_show_inside_add_ons(database: TestDatabase) {
    let world = world(database).await;
    world
        .number(&[("PhoneNumber", NUMBER), ("SmsUrl", &world.webhook.url("/sms"))])
        .await;
    let (lookup, _analysis) = world.add_ons(&["incoming-sms"]).await;
    lookup.set_behavior(Behavior {
        status: Some(503),
        ..Behavior::default()
    });
    world.sms("hello").await;
    let hit = &world.webhook.hits()[0];
    let add_ons: Value = serde_json::from_str(hit.param("AddOns").expect("AddOns")).expect("JSON");
    assert_eq!(add_ons["results"]["caller_check"]["status"], json!("failed"));
    assert_eq!(add_ons["results"]["caller_check"]["code"], json!(61002));
    assert_eq!(add_ons["results"]["mood"]["status"], json!("successful"));
    world.app.stop().await;
}

async fn webhook_failures_are_logged(database: TestDatabase) {
    let world = world(database).await;
    let (_refusing, address) = crate::support::refusing_address();
    let refused = format!("http://{address}/sms");
    let number = world
        .number(&[("PhoneNumber", NUMBER), ("SmsUrl", &refused)])
        .await;
    let uri = number["uri"].as_str().expect("a uri").to_owned();

    let refused_answer = world.sms("one").await;
    assert_eq!(refused_answer["message"]["error_code"], json!(11205));

    world
        .app
        .post_form(&world.developer, &uri, &[("SmsUrl", &world.webhook.url("/sms"))])
        .send()
        .await
        .expect("sent");
    world.webhook.answer_with(Answer {
        status: 500,
        body: "oops".into(),
        ..Answer::default()
    });
    let failed = world.sms("two").await;
    assert_eq!(failed["message"]["error_code"], json!(11200));
    assert_eq!(failed["webhook_request"]["status_code"], json!(500));

    world.webhook.answer_with(Answer {
        delay: Duration::from_millis(1500),
        ..Answer::default()
    });
    let slow = world.sms("three").await;
    assert_eq!(slow["message"]["error_code"], json!(11205));
    assert!(
        slow["message"]["error_message"]
            .as_str()
            .unwrap_or_default()
            .contains("400 ms")
    );

    let alerts = world.alerts().await;
    let codes: Vec<&str> = alerts.iter().filter_map(|a| a["error_code"].as_str()).collect();
    assert_eq!(codes, vec!["11205", "11200", "11205"], "newest first");
    assert!(alerts.iter().all(|a| a["log_level"] == json!("error")));
    let one = alerts[0]["sid"].as_str().expect("a sid");
    let fetched = expect_status(
        world
            .app
            .get(&world.developer, &format!("/v1/Alerts/{one}"))
            .send()
            .await
            .expect("sent"),
        200,
    )
    .await;
    assert_eq!(fetched["sid"], json!(one));
    assert_eq!(fetched["request_url"], json!(world.webhook.url("/sms")));

    // The gateway carries on.
    world.webhook.answer_with(Answer::default());
    let fine = world.sms("four").await;
    assert_eq!(fine["message"]["error_code"], Value::Null);
    world.app.stop().await;
}

async fn simulations_only_reach_your_own_numbers(database: TestDatabase) {
    let world = world(database).await;
    world
        .number(&[("PhoneNumber", NUMBER), ("SmsUrl", &world.webhook.url("/sms"))])
        .await;
    let other = world.app.account("developer").await;
    for (who, form, field) in [
        (
            &other,
            vec![("From", SENDER), ("To", NUMBER), ("Body", "x")],
            "To",
        ),
        (
            &world.developer,
            vec![("From", SENDER), ("To", "+15005550009"), ("Body", "x")],
            "To",
        ),
        (
            &world.developer,
            vec![("From", "nobody"), ("To", NUMBER), ("Body", "x")],
            "From",
        ),
        (&world.developer, vec![("To", NUMBER)], "From"),
    ] {
        let response = world
            .app
            .post_form(who, "/sandbox/v1/Messages", &form)
            .send()
            .await
            .expect("sent");
        let error = expect_error(response, 400, 20001).await;
        assert!(
            error["message"].as_str().unwrap_or_default().contains(field),
            "{error}"
        );
    }
    assert!(world.webhook.hits().is_empty());
    let path = format!("/2010-04-01/Accounts/{}/Messages.json", world.developer.sid);
    expect_error(
        world.app.get(&other, &path).send().await.expect("sent"),
        404,
        20404,
    )
    .await;
    world.app.stop().await;
}

addons_testkit::on_both_backends!(
    phone_numbers_as_twilio,
    sms_results_reach_the_webhook,
    calls_results_reach_the_webhook,
    get_webhooks_carry_no_add_ons,
    disabled_extensions_do_not_run,
    add_on_failures_show_inside_add_ons,
    webhook_failures_are_logged,
    simulations_only_reach_your_own_numbers,
);
