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

addons_testkit::on_both_backends!(marketplace_with_twilio_python);
