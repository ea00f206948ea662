//! Marketplace v1: available Add-ons, installs, configuration, extensions, paging, tenancy.

use addons_testkit::TestDatabase;
use serde_json::{Value, json};

use crate::support::{Credentials, TestApp, expect_error, expect_status, phone_manifest};

async fn setup(app: &TestApp) -> (Credentials, Credentials, String) {
    let publisher = app.account("publisher").await;
    let developer = app.account("developer").await;
    let add_on = app
        .register(
            &publisher,
            &phone_manifest("acme_lookup", "https://acme.example.com/x"),
        )
        .await;
    (
        publisher,
        developer,
        add_on["sid"].as_str().expect("sid").to_owned(),
    )
}

async fn available_add_ons_and_extensions(database: TestDatabase) {
    let app = TestApp::spawn(database).await;
    let (_, developer, add_on) = setup(&app).await;
    let list = expect_status(
        app.get(&developer, "/v1/AvailableAddOns")
            .send()
            .await
            .expect("sent"),
        200,
    )
    .await;
    let first = &list["available_add_ons"][0];
    assert_eq!(first["sid"], json!(add_on));
    assert_eq!(first["friendly_name"], json!("acme_lookup Add-on"));
    assert_eq!(first["pricing_type"], json!("per use"));
    assert_eq!(
        first["configuration_schema"]["properties"]["language"]["enum"],
        json!(["en", "es"])
    );
    assert_eq!(
        first["url"],
        json!(app.url(&format!("/v1/AvailableAddOns/{add_on}")))
    );
    assert_eq!(list["meta"]["key"], json!("available_add_ons"));

    let fetched = expect_status(
        app.get(&developer, &format!("/v1/AvailableAddOns/{add_on}"))
            .send()
            .await
            .expect("sent"),
        200,
    )
    .await;
    assert_eq!(&fetched, first);

    let path = format!("/v1/AvailableAddOns/{add_on}/Extensions");
    let extensions = expect_status(app.get(&developer, &path).send().await.expect("sent"), 200).await;
    let names: Vec<&str> = extensions["extensions"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|e| e["unique_name"].as_str())
        .collect();
    assert_eq!(names, vec!["lookups", "incoming-sms", "voice-incoming"]);
    let one = &extensions["extensions"][0];
    assert_eq!(one["available_add_on_sid"], json!(add_on));
    assert_eq!(one["product_name"], json!("Lookups"));
    let sid = one["sid"].as_str().expect("sid");
    let fetched = expect_status(
        app.get(&developer, &format!("{path}/{sid}"))
            .send()
            .await
            .expect("sent"),
        200,
    )
    .await;
    assert_eq!(&fetched, one);
    expect_error(
        app.get(&developer, &format!("{path}/XF{}", "0".repeat(32)))
            .send()
            .await
            .expect("sent"),
        404,
        20404,
    )
    .await;
    expect_error(
        app.get(&developer, &format!("/v1/AvailableAddOns/XB{}", "0".repeat(32)))
            .send()
            .await
            .expect("sent"),
        404,
        20404,
    )
    .await;
    app.stop().await;
}

async fn installs_validate_configuration_per_field(database: TestDatabase) {
    let app = TestApp::spawn(database).await;
    let (_, developer, add_on) = setup(&app).await;

    let installed = app
        .install(
            &developer,
            &add_on,
            Some(&json!({"language": "es", "max_results": 3})),
        )
        .await;
    assert!(installed["sid"].as_str().is_some_and(|s| s.starts_with("XE")));
    assert_eq!(installed["account_sid"], json!(developer.sid));
    assert_eq!(installed["unique_name"], json!("acme_lookup"));
    assert_eq!(
        installed["configuration"],
        json!({"language": "es", "max_results": 3})
    );
    assert_eq!(
        installed["links"]["available_add_on"],
        json!(app.url(&format!("/v1/AvailableAddOns/{add_on}")))
    );

    let bad = json!({"language": "fr", "max_results": "many", "colour": "red"});
    let response = app
        .try_install(&developer, &add_on, Some(&bad), Some("second"))
        .await;
    let error = expect_error(response, 400, 20001).await;
    let errors = error["details"]["errors"].as_array().expect("per-field errors");
    let by_field = |field: &str| {
        errors
            .iter()
            .find(|e| e["field"] == json!(field))
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(by_field("language")["rule"], json!("enum"));
    assert!(
        by_field("language")["expected"]
            .as_str()
            .unwrap_or_default()
            .contains("es")
    );
    assert_eq!(by_field("max_results")["rule"], json!("type"));
    assert_eq!(by_field("colour")["rule"], json!("additionalProperties"));

    let response = app
        .try_install(&developer, &add_on, Some(&json!({})), Some("third"))
        .await;
    let error = expect_error(response, 400, 20001).await;
    assert_eq!(error["details"]["errors"][0]["field"], json!("language"));
    assert_eq!(error["details"]["errors"][0]["rule"], json!("required"));

    for (form, field) in [
        (
            vec![
                ("AvailableAddOnSid", add_on.as_str()),
                ("AcceptTermsOfService", "false"),
            ],
            "AcceptTermsOfService",
        ),
        (
            vec![("AvailableAddOnSid", add_on.as_str())],
            "AcceptTermsOfService",
        ),
        (vec![("AcceptTermsOfService", "true")], "AvailableAddOnSid"),
        (
            vec![("AvailableAddOnSid", "XB123"), ("AcceptTermsOfService", "true")],
            "AvailableAddOnSid",
        ),
        (
            vec![
                ("AvailableAddOnSid", add_on.as_str()),
                ("AcceptTermsOfService", "yes"),
            ],
            "AcceptTermsOfService",
        ),
        (
            vec![
                ("AvailableAddOnSid", add_on.as_str()),
                ("AcceptTermsOfService", "true"),
                ("Configuration", "{not json"),
            ],
            "Configuration",
        ),
        (
            vec![
                ("AvailableAddOnSid", add_on.as_str()),
                ("AcceptTermsOfService", "true"),
                ("UniqueName", "has.dot"),
            ],
            "UniqueName",
        ),
    ] {
        let response = app
            .post_form(&developer, "/v1/InstalledAddOns", &form)
            .send()
            .await
            .expect("sent");
        let error = expect_error(response, 400, 20001).await;
        assert!(
            error["message"].as_str().unwrap_or_default().contains(field),
            "{field}: {error}"
        );
    }
    let unknown = format!("XB{}", "0".repeat(32));
    let response = app
        .post_form(
            &developer,
            "/v1/InstalledAddOns",
            &[
                ("AvailableAddOnSid", unknown.as_str()),
                ("AcceptTermsOfService", "true"),
            ],
        )
        .send()
        .await
        .expect("sent");
    expect_error(response, 400, 20001).await;

    // Nothing failed was stored.
    let list = expect_status(
        app.get(&developer, "/v1/InstalledAddOns")
            .send()
            .await
            .expect("sent"),
        200,
    )
    .await;
    assert_eq!(list["installed_add_ons"].as_array().map(Vec::len), Some(1));
    app.stop().await;
}

async fn unique_names_are_unique_within_an_account(database: TestDatabase) {
    let app = TestApp::spawn(database).await;
    let (_, developer, add_on) = setup(&app).await;
    let other = app.account("developer").await;
    app.install(&developer, &add_on, Some(&json!({"language": "en"})))
        .await;
    let english = json!({"language": "en"});
    expect_error(
        app.try_install(&developer, &add_on, Some(&english), None).await,
        409,
        20409,
    )
    .await;
    // Another account may use the same name.
    app.install(&other, &add_on, Some(&english)).await;
    // The same Add-on under another name is fine.
    let response = app
        .try_install(&developer, &add_on, Some(&english), Some("acme_lookup_2"))
        .await;
    let second = expect_status(response, 201).await;
    assert_eq!(second["unique_name"], json!("acme_lookup_2"));
    // Renaming onto a taken name is a conflict too.
    let path = format!("/v1/InstalledAddOns/{}", second["sid"].as_str().expect("sid"));
    let response = app
        .post_form(&developer, &path, &[("UniqueName", "acme_lookup")])
        .send()
        .await
        .expect("sent");
    expect_error(response, 409, 20409).await;
    app.stop().await;
}

async fn update_fetch_and_delete(database: TestDatabase) {
    let app = TestApp::spawn(database).await;
    let (publisher, developer, add_on) = setup(&app).await;
    let installed = app
        .install(&developer, &add_on, Some(&json!({"language": "en"})))
        .await;
    let path = format!("/v1/InstalledAddOns/{}", installed["sid"].as_str().expect("sid"));
    let v1 = installed["add_on_version_sid"].clone();

    let renamed = expect_status(
        app.post_form(&developer, &path, &[("UniqueName", "renamed")])
            .send()
            .await
            .expect("sent"),
        200,
    )
    .await;
    assert_eq!(renamed["unique_name"], json!("renamed"));
    assert_eq!(renamed["add_on_version_sid"], v1, "a rename keeps the version");

    // A new version with a different schema: a new configuration moves the install to it.
    let mut v2 = phone_manifest("acme_lookup", "https://acme.example.com/v2");
    v2["configuration_schema"]["properties"]["language"]["enum"] = json!(["de"]);
    let response = app
        .post_json(&publisher, &format!("/admin/v1/AddOns/{add_on}/Versions"), &v2)
        .send()
        .await
        .expect("sent");
    let v2_sid = expect_status(response, 201).await["sid"].clone();
    let bad = json!({"language": "en"}).to_string();
    let response = app
        .post_form(&developer, &path, &[("Configuration", bad.as_str())])
        .send()
        .await
        .expect("sent");
    let error = expect_error(response, 400, 20001).await;
    assert_eq!(error["details"]["errors"][0]["field"], json!("language"));
    let unchanged = expect_status(app.get(&developer, &path).send().await.expect("sent"), 200).await;
    assert_eq!(unchanged["configuration"], json!({"language": "en"}));
    assert_eq!(unchanged["add_on_version_sid"], v1);

    let good = json!({"language": "de"}).to_string();
    let moved = expect_status(
        app.post_form(&developer, &path, &[("Configuration", good.as_str())])
            .send()
            .await
            .expect("sent"),
        200,
    )
    .await;
    assert_eq!(moved["add_on_version_sid"], v2_sid);
    assert_eq!(moved["configuration"], json!({"language": "de"}));
    let pinned_back = expect_status(
        app.post_form(
            &developer,
            &path,
            &[
                ("AddOnVersionSid", v1.as_str().expect("sid")),
                ("Configuration", bad.as_str()),
            ],
        )
        .send()
        .await
        .expect("sent"),
        200,
    )
    .await;
    assert_eq!(pinned_back["add_on_version_sid"], v1);

    let response = app.delete(&developer, &path).send().await.expect("sent");
    assert_eq!(response.status().as_u16(), 204);
    expect_error(app.get(&developer, &path).send().await.expect("sent"), 404, 20404).await;
    expect_error(
        app.delete(&developer, &path).send().await.expect("sent"),
        404,
        20404,
    )
    .await;
    app.stop().await;
}

async fn extensions_enable_and_disable(database: TestDatabase) {
    let app = TestApp::spawn(database).await;
    let (_, developer, add_on) = setup(&app).await;
    let installed = app
        .install(&developer, &add_on, Some(&json!({"language": "en"})))
        .await;
    let path = format!(
        "/v1/InstalledAddOns/{}/Extensions",
        installed["sid"].as_str().expect("sid")
    );
    let list = expect_status(app.get(&developer, &path).send().await.expect("sent"), 200).await;
    let extensions = list["extensions"].as_array().expect("a list");
    assert_eq!(extensions.len(), 3);
    assert!(extensions.iter().all(|e| e["enabled"] == json!(false)));
    let lookups = extensions
        .iter()
        .find(|e| e["unique_name"] == json!("lookups"))
        .expect("lookups");
    let one = format!("{path}/{}", lookups["sid"].as_str().expect("sid"));

    let enabled = expect_status(
        app.post_form(&developer, &one, &[("Enabled", "true")])
            .send()
            .await
            .expect("sent"),
        200,
    )
    .await;
    assert_eq!(enabled["enabled"], json!(true));
    assert_eq!(enabled["installed_add_on_sid"], installed["sid"]);
    let fetched = expect_status(app.get(&developer, &one).send().await.expect("sent"), 200).await;
    assert_eq!(fetched["enabled"], json!(true));
    let disabled = expect_status(
        app.post_form(&developer, &one, &[("Enabled", "False")])
            .send()
            .await
            .expect("sent"),
        200,
    )
    .await;
    assert_eq!(disabled["enabled"], json!(false));

    expect_error(
        app.post_form(&developer, &one, &[]).send().await.expect("sent"),
        400,
        20001,
    )
    .await;
    expect_error(
        app.post_form(&developer, &one, &[("Enabled", "maybe")])
            .send()
            .await
            .expect("sent"),
        400,
        20001,
    )
    .await;
    let unknown = format!("{path}/XF{}", "0".repeat(32));
    expect_error(
        app.post_form(&developer, &unknown, &[("Enabled", "true")])
            .send()
            .await
            .expect("sent"),
        404,
        20404,
    )
    .await;
    app.stop().await;
}

async fn lists_page_like_twilio(database: TestDatabase) {
    let app = TestApp::spawn(database).await;
    let (_, developer, add_on) = setup(&app).await;
    for index in 0..5 {
        let name = format!("install_{index}");
        let response = app
            .try_install(&developer, &add_on, Some(&json!({"language": "en"})), Some(&name))
            .await;
        expect_status(response, 201).await;
    }
    let first = expect_status(
        app.get(&developer, "/v1/InstalledAddOns?PageSize=2")
            .send()
            .await
            .expect("sent"),
        200,
    )
    .await;
    assert_eq!(first["meta"]["page"], json!(0));
    assert_eq!(first["meta"]["page_size"], json!(2));
    assert_eq!(first["meta"]["previous_page_url"], Value::Null);
    assert_eq!(
        first["meta"]["first_page_url"],
        json!(app.url("/v1/InstalledAddOns?PageSize=2&Page=0"))
    );
    let mut names = Vec::new();
    let mut page = first;
    loop {
        for item in page["installed_add_ons"].as_array().expect("a list") {
            names.push(item["unique_name"].as_str().expect("a name").to_owned());
        }
        let Some(next) = page["meta"]["next_page_url"].as_str() else {
            break;
        };
        let response = app
            .http
            .get(next)
            .basic_auth(&developer.sid, Some(&developer.token))
            .send()
            .await
            .expect("sent");
        page = expect_status(response, 200).await;
    }
    assert_eq!(names, (0..5).map(|i| format!("install_{i}")).collect::<Vec<_>>());
    for bad in ["PageSize=0", "PageSize=1001", "PageSize=x", "Page=-1"] {
        let response = app
            .get(&developer, &format!("/v1/InstalledAddOns?{bad}"))
            .send()
            .await
            .expect("sent");
        expect_error(response, 400, 20001).await;
    }
    app.stop().await;
}

async fn developers_only_see_their_own(database: TestDatabase) {
    let app = TestApp::spawn(database).await;
    let (_, alice, add_on) = setup(&app).await;
    let bob = app.account("developer").await;
    let installed = app
        .install(&alice, &add_on, Some(&json!({"language": "en"})))
        .await;
    let sid = installed["sid"].as_str().expect("sid");
    let path = format!("/v1/InstalledAddOns/{sid}");

    expect_error(app.get(&bob, &path).send().await.expect("sent"), 404, 20404).await;
    expect_error(
        app.post_form(&bob, &path, &[("UniqueName", "stolen")])
            .send()
            .await
            .expect("sent"),
        404,
        20404,
    )
    .await;
    expect_error(app.delete(&bob, &path).send().await.expect("sent"), 404, 20404).await;
    expect_error(
        app.get(&bob, &format!("{path}/Extensions"))
            .send()
            .await
            .expect("sent"),
        404,
        20404,
    )
    .await;
    let list = expect_status(
        app.get(&bob, "/v1/InstalledAddOns").send().await.expect("sent"),
        200,
    )
    .await;
    assert_eq!(list["installed_add_ons"], json!([]));
    // Alice's install is untouched.
    let mine = expect_status(app.get(&alice, &path).send().await.expect("sent"), 200).await;
    assert_eq!(mine["unique_name"], json!("acme_lookup"));
    expect_error(
        app.get(&alice, "/v1/InstalledAddOns/XE123")
            .send()
            .await
            .expect("sent"),
        404,
        20404,
    )
    .await;
    app.stop().await;
}

addons_testkit::on_both_backends!(
    available_add_ons_and_extensions,
    installs_validate_configuration_per_field,
    unique_names_are_unique_within_an_account,
    update_fetch_and_delete,
    extensions_enable_and_disable,
    lists_page_like_twilio,
    developers_only_see_their_own,
);
