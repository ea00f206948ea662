//! The sandbox that `cargo run` sets up.

use addons_testkit::TestDatabase;
use serde_json::{Value, json};

use crate::support::{Credentials, TestApp, expect_status, phone_manifest};

fn names(list: &Value) -> Vec<String> {
    list["installed_add_ons"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|i| i["unique_name"].as_str().expect("a name").to_owned())
        .collect()
}

async fn sandbox_sets_up_demo_accounts_and_add_ons(database: TestDatabase) {
    let manifests = tempfile::tempdir().expect("a directory");
    std::fs::write(
        manifests.path().join("extra.json"),
        phone_manifest("file_addon", "http://127.0.0.1:9/x").to_string(),
    )
    .expect("a manifest file");
    std::fs::write(manifests.path().join("notes.txt"), "not a manifest").expect("a file");
    let dir = manifests.path().to_path_buf();
    let configure = move |config: &mut addons_server::Config| {
        config.sandbox.enabled = true;
        config.sandbox.manifests_dir = Some(dir);
    };
    let (app, sandbox) =
        TestApp::spawn_in(database, tempfile::tempdir().expect("a dir"), configure.clone()).await;
    let sandbox = sandbox.expect("the sandbox on an empty database");
    let developer = Credentials {
        sid: sandbox.developer.sid.to_string(),
        token: sandbox.developer.auth_token.expose().to_owned(),
    };
    assert!(sandbox.banner().contains(&sandbox.try_curl()));
    assert!(sandbox.try_curl().contains(&developer.token));

    // The printed command: a Lookup with the seed's Anagram Add-on.
    let path = "/v1/PhoneNumbers/+18778894546?AddOns=publisher_anagrams";
    assert!(sandbox.try_curl().contains(path));
    let lookup = expect_status(app.get(&developer, path).send().await.expect("sent"), 200).await;
    assert_eq!(lookup["country_code"], json!("US"));
    assert_eq!(lookup["phone_number"], json!("+18778894546"));
    assert_eq!(lookup["add_ons"]["status"], json!("successful"), "{lookup}");
    let anagrams = &lookup["add_ons"]["results"]["publisher_anagrams"];
    assert_eq!(anagrams["status"], json!("successful"), "{lookup}");
    assert!(
        anagrams["request_sid"]
            .as_str()
            .is_some_and(|s| s.starts_with("XR"))
    );
    let words = anagrams["result"]["anagrams"].as_array().expect("anagrams");
    assert!(words.contains(&json!("+18778TWILIO")), "{words:?}");
    assert!(
        anagrams["result"].get("usage").is_none(),
        "response cleaning removes usage"
    );
    // The printed SMS: the demo webhook receives the Add-on results and answers TwiML.
    assert!(sandbox.try_sms().contains("/sandbox/v1/Messages"));
    let form = [
        ("From", "+14155550100"),
        ("To", addons_gateway::sandbox::DEMO_NUMBER),
        ("Body", "I love this, thank you!"),
    ];
    let response = app
        .post_form(&developer, "/sandbox/v1/Messages", &form)
        .send()
        .await
        .expect("sent");
    let sms = expect_status(response, 201).await;
    let sent: Value = serde_json::from_str(
        sms["webhook_request"]["params"]["AddOns"]
            .as_str()
            .expect("AddOns"),
    )
    .expect("JSON");
    assert_eq!(
        sent["results"]["demo_sentiment"]["result"]["sentiment"],
        json!("positive"),
        "{sent}"
    );
    assert_eq!(
        sent["results"]["demo_spam_score"]["status"],
        json!("successful"),
        "{sent}"
    );
    let twiml = sms["webhook_request"]["response"].as_str().expect("TwiML");
    assert!(
        twiml.contains("<Message>") && twiml.contains("demo_sentiment: positive"),
        "{twiml}"
    );
    let call = [
        ("From", "+14155550100"),
        ("To", addons_gateway::sandbox::DEMO_NUMBER),
    ];
    let response = app
        .post_form(&developer, "/sandbox/v1/Calls", &call)
        .send()
        .await
        .expect("sent");
    let call = expect_status(response, 201).await;
    assert!(
        call["webhook_request"]["response"]
            .as_str()
            .unwrap_or_default()
            .contains("<Say>"),
        "{call}"
    );
    assert_eq!(call["call"]["status"], json!("completed"));

    // Every demo Add-on answers through the gateway.
    let path = "/v1/PhoneNumbers/+18778894546?AddOns=demo_spam_score&AddOns=demo_caller_name";
    let lookup = expect_status(app.get(&developer, path).send().await.expect("sent"), 200).await;
    for name in ["demo_spam_score", "demo_caller_name"] {
        assert_eq!(
            lookup["add_ons"]["results"][name]["status"],
            json!("successful"),
            "{lookup}"
        );
    }

    let list = expect_status(
        app.get(&developer, "/v1/InstalledAddOns")
            .send()
            .await
            .expect("sent"),
        200,
    )
    .await;
    let installed = names(&list);
    for name in [
        "publisher_anagrams",
        "demo_spam_score",
        "demo_caller_name",
        "demo_sentiment",
        "file_addon",
    ] {
        assert!(
            installed.contains(&name.to_owned()),
            "{name} missing from {installed:?}"
        );
    }
    let first_versions: Vec<Value> = list["installed_add_ons"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|i| i["add_on_version_sid"].clone())
        .collect();
    let sid = list["installed_add_ons"][0]["sid"].as_str().expect("a sid");
    let extensions = expect_status(
        app.get(&developer, &format!("/v1/InstalledAddOns/{sid}/Extensions"))
            .send()
            .await
            .expect("sent"),
        200,
    )
    .await;
    assert!(
        extensions["extensions"]
            .as_array()
            .expect("a list")
            .iter()
            .all(|e| e["enabled"] == json!(true))
    );

    // A second start on the same data finds the same accounts; the demo publishers moved, so
    // their Add-ons get new versions and the installs follow.
    sandbox.stop().await;
    let (database, data_dir) = app.stop_keeping_data().await;
    let (app, sandbox) = TestApp::spawn_in(database, data_dir, configure).await;
    let sandbox = sandbox.expect("the sandbox again");
    assert_eq!(sandbox.developer.sid.as_str(), developer.sid);
    let list = expect_status(
        app.get(&developer, "/v1/InstalledAddOns")
            .send()
            .await
            .expect("sent"),
        200,
    )
    .await;
    assert_eq!(names(&list).len(), installed.len(), "nothing installed twice");
    let versions: Vec<Value> = list["installed_add_ons"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|i| i["add_on_version_sid"].clone())
        .collect();
    assert_ne!(
        versions[0], first_versions[0],
        "the anagram install moved to the new version"
    );
    sandbox.stop().await;
    app.stop().await;
}

async fn sandbox_leaves_a_foreign_database_alone(database: TestDatabase) {
    let app = TestApp::spawn(database).await;
    app.account("developer").await;
    let (database, data_dir) = app.stop_keeping_data().await;
    let (app, sandbox) = TestApp::spawn_in(database, data_dir, |config| config.sandbox.enabled = true).await;
    assert!(sandbox.is_none());
    app.stop().await;
}

addons_testkit::on_both_backends!(
    sandbox_sets_up_demo_accounts_and_add_ons,
    sandbox_leaves_a_foreign_database_alone,
);
