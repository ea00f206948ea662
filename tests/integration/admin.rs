//! The publisher admin API: manifests, versions, isolation between publishers.

use addons_testkit::TestDatabase;
use serde_json::{Value, json};

use crate::support::{TestApp, expect_error, expect_status, phone_manifest};

fn pointers(error: &Value) -> Vec<String> {
    error["details"]["problems"]
        .as_array()
        .map(|problems| {
            problems
                .iter()
                .filter_map(|p| p["pointer"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn with(mut manifest: Value, pointer: &str, value: Value) -> Value {
    match manifest.pointer_mut(pointer) {
        Some(slot) => *slot = value,
        None => {
            let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
            manifest
                .pointer_mut(parent)
                .and_then(Value::as_object_mut)
                .expect("the parent exists")
                .insert(key.to_owned(), value);
        }
    }
    manifest
}

async fn registration_and_every_rejection_class(database: TestDatabase) {
    let app = TestApp::spawn_with(database, |config| {
        config.publishers.allow_insecure_endpoints = false
    })
    .await;
    let publisher = app.account("publisher").await;
    let good = phone_manifest("acme_lookup", "https://acme.example.com/lookup");

    let add_on = app.register(&publisher, &good).await;
    assert!(add_on["sid"].as_str().is_some_and(|s| s.starts_with("XB")));
    assert_eq!(add_on["type"], json!("phone-number"));
    assert_eq!(add_on["latest_version_number"], json!(1));
    assert_eq!(add_on["pricing"]["price"], json!("0.0001"));

    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "body on a phone-number Add-on",
            with(good.clone(), "/parameters/number", json!("{{body}}")),
            "/parameters/number",
        ),
        (
            "secondary_address on a Lookup-only Add-on",
            with(
                with(good.clone(), "/integration_points", json!(["lookups"])),
                "/parameters/number",
                json!("{{secondary_address}}"),
            ),
            "/parameters/number",
        ),
        (
            "a configuration field missing from the schema",
            with(good.clone(), "/parameters/extra", json!("{{colour}}")),
            "/parameters/extra",
        ),
        (
            "a runtime field on a non-Lookup Add-on",
            with(
                with(good.clone(), "/integration_points", json!(["incoming-sms"])),
                "/runtime_fields",
                json!({"dob": {"required": true}}),
            ),
            "/runtime_fields",
        ),
        (
            "an array in the configuration schema",
            with(
                good.clone(),
                "/configuration_schema/properties/tags",
                json!({"type": "array"}),
            ),
            "/configuration_schema/properties/tags/type",
        ),
        (
            "an unknown keyword in the configuration schema",
            with(
                good.clone(),
                "/configuration_schema/properties/language/lable",
                json!("x"),
            ),
            "/configuration_schema/properties/language/lable",
        ),
        (
            "an invalid JSON Schema",
            with(good.clone(), "/request_validation_schema", json!({"type": 5})),
            "/request_validation_schema",
        ),
        (
            "an invalid regex",
            with(
                good.clone(),
                "/response_validation_schema",
                json!({"type": "string", "pattern": "(["}),
            ),
            "/response_validation_schema",
        ),
        (
            "an unparsable JSONPath",
            with(good.clone(), "/response_cleaning", json!(["$.ok", "$.["])),
            "/response_cleaning/1",
        ),
        (
            "a timeout above the type's maximum",
            with(good.clone(), "/limits", json!({"timeout_ms": 2001})),
            "/limits/timeout_ms",
        ),
        (
            "a size above the type's maximum",
            with(good.clone(), "/limits", json!({"max_response_bytes": 51201})),
            "/limits/max_response_bytes",
        ),
        (
            "an integration point the type does not allow",
            with(
                good.clone(),
                "/integration_points",
                json!(["lookups", "recordings"]),
            ),
            "/integration_points/1",
        ),
        (
            "a non-https endpoint",
            with(good.clone(), "/endpoint/url", json!("http://acme.example.com/x")),
            "/endpoint/url",
        ),
    ];
    for (what, manifest, pointer) in cases {
        let manifest = with(manifest, "/unique_name", json!("rejected_addon"));
        let response = app
            .post_json(&publisher, "/admin/v1/AddOns", &manifest)
            .send()
            .await
            .expect("sent");
        let error = expect_error(response, 400, 20001).await;
        let found = pointers(&error);
        assert!(
            found.iter().any(|p| p.starts_with(pointer)),
            "{what}: expected a problem at {pointer}, got {found:?}"
        );
    }

    // Every problem at once.
    let many = with(
        with(
            with(good.clone(), "/type", json!("fax")),
            "/pricing/price",
            json!("free"),
        ),
        "/colour",
        json!("blue"),
    );
    let response = app
        .post_json(&publisher, "/admin/v1/AddOns", &many)
        .send()
        .await
        .expect("sent");
    let found = pointers(&expect_error(response, 400, 20001).await);
    for pointer in ["/type", "/pricing/price", "/colour"] {
        assert!(
            found.iter().any(|p| p == pointer),
            "{pointer} missing from {found:?}"
        );
    }

    // The unique name is taken, by anyone.
    let response = app
        .post_json(&publisher, "/admin/v1/AddOns", &good)
        .send()
        .await
        .expect("sent");
    expect_error(response, 409, 20409).await;

    // Nothing rejected was stored.
    let response = app
        .get(&publisher, "/admin/v1/AddOns")
        .send()
        .await
        .expect("sent");
    let list = expect_status(response, 200).await;
    assert_eq!(list["add_ons"].as_array().map(Vec::len), Some(1));
    app.stop().await;
}

async fn insecure_endpoints_need_the_operators_permission(database: TestDatabase) {
    let app = TestApp::spawn_with(database, |config| {
        config.publishers.allow_insecure_endpoints = true
    })
    .await;
    let publisher = app.account("publisher").await;
    app.register(&publisher, &phone_manifest("local_addon", "http://127.0.0.1:9/x"))
        .await;
    app.stop().await;

    let strict = TestApp::spawn_with(addons_testkit::sqlite(), |config| {
        config.publishers.allow_insecure_endpoints = false
    })
    .await;
    let publisher = strict.account("publisher").await;
    let response = strict
        .post_json(
            &publisher,
            "/admin/v1/AddOns",
            &phone_manifest("local_addon", "http://127.0.0.1:9/x"),
        )
        .send()
        .await
        .expect("sent");
    let error = expect_error(response, 400, 20001).await;
    assert_eq!(pointers(&error), vec!["/endpoint/url".to_owned()]);
    strict.stop().await;
}

async fn versions_are_immutable_and_secrets_are_never_shown(database: TestDatabase) {
    let app = TestApp::spawn(database).await;
    let publisher = app.account("publisher").await;
    let developer = app.account("developer").await;
    let mut manifest = phone_manifest("acme_lookup", "https://acme.example.com/v1");
    manifest["auth"] = json!({"scheme": "bearer", "secret": "super-secret-token"});
    let add_on = app.register(&publisher, &manifest).await;
    let add_on_sid = add_on["sid"].as_str().expect("sid").to_owned();
    let v1 = add_on["latest_version_sid"].as_str().expect("sid").to_owned();

    let installed = app
        .install(&developer, &add_on_sid, Some(&json!({"language": "en"})))
        .await;
    assert_eq!(installed["add_on_version_sid"], json!(v1));

    // Version 2 changes the endpoint and the configuration schema.
    let mut v2_manifest = with(
        manifest.clone(),
        "/endpoint/url",
        json!("https://acme.example.com/v2"),
    );
    v2_manifest["configuration_schema"]["properties"]["language"]["enum"] = json!(["fr"]);
    let response = app
        .post_json(
            &publisher,
            &format!("/admin/v1/AddOns/{add_on_sid}/Versions"),
            &v2_manifest,
        )
        .send()
        .await
        .expect("sent");
    let v2 = expect_status(response, 201).await;
    assert_eq!(v2["version_number"], json!(2));
    assert_eq!(v2["manifest"]["auth"]["secret"], json!("********"));

    // Version 1 is unchanged, and the install still uses it.
    let response = app
        .get(
            &publisher,
            &format!("/admin/v1/AddOns/{add_on_sid}/Versions/{v1}"),
        )
        .send()
        .await
        .expect("sent");
    let v1_body = expect_status(response, 200).await;
    assert_eq!(
        v1_body["manifest"]["endpoint"]["url"],
        json!("https://acme.example.com/v1")
    );
    let response = app
        .get(
            &developer,
            &format!("/v1/InstalledAddOns/{}", installed["sid"].as_str().expect("sid")),
        )
        .send()
        .await
        .expect("sent");
    assert_eq!(
        expect_status(response, 200).await["add_on_version_sid"],
        json!(v1)
    );

    // The list shows both; no response ever holds the secret.
    let response = app
        .get(&publisher, &format!("/admin/v1/AddOns/{add_on_sid}/Versions"))
        .send()
        .await
        .expect("sent");
    let versions = expect_status(response, 200).await;
    assert_eq!(versions["versions"].as_array().map(Vec::len), Some(2));
    assert!(!versions.to_string().contains("super-secret-token"));

    // A version cannot rename the Add-on or change its type.
    let renamed = with(manifest.clone(), "/unique_name", json!("other"));
    let retyped = with(
        with(manifest, "/type", json!("message-analysis")),
        "/integration_points",
        json!(["incoming-sms"]),
    );
    for (changed, pointer) in [(renamed, "/unique_name"), (retyped, "/type")] {
        let response = app
            .post_json(
                &publisher,
                &format!("/admin/v1/AddOns/{add_on_sid}/Versions"),
                &changed,
            )
            .send()
            .await
            .expect("sent");
        assert_eq!(
            pointers(&expect_error(response, 400, 20001).await),
            vec![pointer.to_owned()]
        );
    }
    app.stop().await;
}

async fn manifests_register_by_name(database: TestDatabase) {
    let app = TestApp::spawn(database).await;
    let publisher = app.account("publisher").await;
    let manifest = phone_manifest("by_name", "https://acme.example.com/v1");
    let send = |manifest: Value| {
        let request = app.post_json(&publisher, "/admin/v1/Manifests", &manifest);
        async move { request.send().await.expect("sent") }
    };
    let created = expect_status(send(manifest.clone()).await, 201).await;
    assert_eq!(created["outcome"], json!("created"));
    let unchanged = expect_status(send(manifest.clone()).await, 200).await;
    assert_eq!(unchanged["outcome"], json!("unchanged"));
    assert_eq!(unchanged["latest_version_number"], json!(1));
    let changed = with(manifest, "/endpoint/url", json!("https://acme.example.com/v2"));
    let published = expect_status(send(changed).await, 201).await;
    assert_eq!(published["outcome"], json!("published"));
    assert_eq!(published["latest_version_number"], json!(2));
    app.stop().await;
}

async fn publishers_only_see_their_own(database: TestDatabase) {
    let app = TestApp::spawn(database).await;
    let alice = app.account("publisher").await;
    let bob = app.account("publisher").await;
    let add_on = app
        .register(
            &alice,
            &phone_manifest("alices_addon", "https://alice.example.com"),
        )
        .await;
    let sid = add_on["sid"].as_str().expect("sid");
    let version = add_on["latest_version_sid"].as_str().expect("sid");

    expect_error(
        app.get(&bob, &format!("/admin/v1/AddOns/{sid}"))
            .send()
            .await
            .expect("sent"),
        404,
        20404,
    )
    .await;
    expect_error(
        app.get(&bob, &format!("/admin/v1/AddOns/{sid}/Versions"))
            .send()
            .await
            .expect("sent"),
        404,
        20404,
    )
    .await;
    expect_error(
        app.get(&bob, &format!("/admin/v1/AddOns/{sid}/Versions/{version}"))
            .send()
            .await
            .expect("sent"),
        404,
        20404,
    )
    .await;
    let response = app
        .post_json(
            &bob,
            &format!("/admin/v1/AddOns/{sid}/Versions"),
            &phone_manifest("alices_addon", "https://bob.example.com"),
        )
        .send()
        .await
        .expect("sent");
    expect_error(response, 404, 20404).await;
    let list = expect_status(app.get(&bob, "/admin/v1/AddOns").send().await.expect("sent"), 200).await;
    assert_eq!(list["add_ons"], json!([]));
    let list = expect_status(
        app.get(&alice, "/admin/v1/AddOns").send().await.expect("sent"),
        200,
    )
    .await;
    assert_eq!(list["add_ons"].as_array().map(Vec::len), Some(1));
    app.stop().await;
}

async fn bad_requests_are_twilio_errors(database: TestDatabase) {
    let app = TestApp::spawn_with(database, |config| config.server.max_body_bytes = 4096).await;
    let publisher = app.account("publisher").await;

    let oversize = json!({"padding": "x".repeat(10_000)});
    let response = app
        .post_json(&publisher, "/admin/v1/AddOns", &oversize)
        .send()
        .await
        .expect("sent");
    expect_error(response, 413, 20413).await;

    let response = app
        .http
        .post(app.url("/admin/v1/AddOns"))
        .basic_auth(&publisher.sid, Some(&publisher.token))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .expect("sent");
    expect_error(response, 400, 20001).await;

    let response = app
        .post_json(&publisher, "/admin/v1/AddOns", &json!("a string"))
        .send()
        .await
        .expect("sent");
    expect_error(response, 400, 20001).await;

    expect_error(
        app.get(&publisher, "/admin/v1/AddOns/not-a-sid")
            .send()
            .await
            .expect("sent"),
        404,
        20404,
    )
    .await;
    expect_error(
        app.get(&publisher, "/admin/v1/Nothing")
            .send()
            .await
            .expect("sent"),
        404,
        20404,
    )
    .await;
    let response = app
        .delete(&publisher, "/admin/v1/AddOns")
        .send()
        .await
        .expect("sent");
    expect_error(response, 405, 20004).await;
    app.stop().await;
}

addons_testkit::on_both_backends!(
    registration_and_every_rejection_class,
    insecure_endpoints_need_the_operators_permission,
    versions_are_immutable_and_secrets_are_never_shown,
    manifests_register_by_name,
    publishers_only_see_their_own,
    bad_requests_are_twilio_errors,
);
