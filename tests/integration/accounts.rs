//! Accounts and authentication.

use addons_testkit::TestDatabase;
use serde_json::json;

use crate::support::{Credentials, TestApp, expect_error, expect_status};

async fn operator_creates_accounts_and_tokens_authenticate(database: TestDatabase) {
    let app = TestApp::spawn(database).await;
    let developer = app.account("developer").await;
    assert!(developer.sid.starts_with("AC") && developer.sid.len() == 34);
    assert_eq!(developer.token.len(), 32);

    // The token authenticates Twilio-style Basic auth.
    let response = app
        .get(&developer, "/v1/InstalledAddOns")
        .send()
        .await
        .expect("sent");
    let list = expect_status(response, 200).await;
    assert_eq!(list["installed_add_ons"], json!([]));

    // The operator can read the account back, never the token again.
    let response = app
        .get(&app.operator, &format!("/admin/v1/Accounts/{}", developer.sid))
        .send()
        .await
        .expect("sent");
    let account = expect_status(response, 200).await;
    assert_eq!(account["role"], json!("developer"));
    assert!(account.get("auth_token").is_none(), "{account}");
    let response = app
        .get(&app.operator, "/admin/v1/Accounts")
        .send()
        .await
        .expect("sent");
    let accounts = expect_status(response, 200).await;
    assert_eq!(accounts["accounts"].as_array().map(Vec::len), Some(1));
    assert!(accounts["accounts"][0].get("auth_token").is_none());
    app.stop().await;
}

async fn bad_or_missing_credentials_are_401(database: TestDatabase) {
    let app = TestApp::spawn(database).await;
    let developer = app.account("developer").await;

    let missing = app
        .http
        .get(app.url("/v1/InstalledAddOns"))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        missing
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Basic realm=\"Twilio API\"")
    );
    expect_error(missing, 401, 20003).await;

    let wrong_token = Credentials {
        sid: developer.sid.clone(),
        token: "0".repeat(32),
    };
    expect_error(
        app.get(&wrong_token, "/v1/InstalledAddOns")
            .send()
            .await
            .expect("sent"),
        401,
        20003,
    )
    .await;
    let unknown = Credentials {
        sid: format!("AC{}", "1".repeat(32)),
        token: developer.token.clone(),
    };
    expect_error(
        app.get(&unknown, "/v1/InstalledAddOns")
            .send()
            .await
            .expect("sent"),
        401,
        20003,
    )
    .await;
    let garbage = app
        .http
        .get(app.url("/v1/InstalledAddOns"))
        .header("authorization", "Basic !!!not-base64")
        .send()
        .await
        .expect("sent");
    expect_error(garbage, 401, 20003).await;

    // Account tokens do not open the operator's API, nor the operator's the developers'.
    let response = app
        .post_json(
            &developer,
            "/admin/v1/Accounts",
            &json!({"friendly_name": "x", "role": "developer"}),
        )
        .send()
        .await
        .expect("sent");
    expect_error(response, 401, 20003).await;
    expect_error(
        app.get(&app.operator, "/v1/InstalledAddOns")
            .send()
            .await
            .expect("sent"),
        401,
        20003,
    )
    .await;
    app.stop().await;
}

async fn developers_cannot_publish(database: TestDatabase) {
    let app = TestApp::spawn(database).await;
    let developer = app.account("developer").await;
    let response = app
        .post_json(
            &developer,
            "/admin/v1/AddOns",
            &crate::support::phone_manifest("x_addon", "https://example.com/x"),
        )
        .send()
        .await
        .expect("sent");
    expect_error(response, 403, 20403).await;
    app.stop().await;
}

async fn account_creation_rejects_bad_input(database: TestDatabase) {
    let app = TestApp::spawn(database).await;
    let cases = [
        (json!({"role": "developer"}), "friendly_name"),
        (json!({"friendly_name": "x", "role": "admin"}), "role"),
        (
            json!({"friendly_name": "x", "role": "developer", "sid": "AC123"}),
            "sid",
        ),
        (
            json!({"friendly_name": "x", "role": "developer", "auth_token": "short"}),
            "auth_token",
        ),
        (
            json!({"friendly_name": "x", "role": "developer", "colour": "blue"}),
            "colour",
        ),
        (json!(["not", "an", "object"]), "body"),
    ];
    for (body, field) in cases {
        let response = app
            .post_json(&app.operator, "/admin/v1/Accounts", &body)
            .send()
            .await
            .expect("sent");
        let error = expect_error(response, 400, 20001).await;
        assert!(
            error["message"].as_str().unwrap_or_default().contains(field),
            "{field}: {error}"
        );
    }
    let response = app
        .http
        .post(app.url("/admin/v1/Accounts"))
        .basic_auth("operator", Some(crate::support::OPERATOR_TOKEN))
        .header("content-type", "application/json")
        .body("{\"friendly_name\": ")
        .send()
        .await
        .expect("sent");
    expect_error(response, 400, 20001).await;

    // A fixed SID and token (for CI set-ups) are honoured, and a clash is a conflict.
    let sid = format!("AC{}", "ab".repeat(16));
    let token = "ci-token-0123456789abcdef0123456789";
    let body = json!({"friendly_name": "CI", "role": "developer", "sid": sid, "auth_token": token});
    let response = app
        .post_json(&app.operator, "/admin/v1/Accounts", &body)
        .send()
        .await
        .expect("sent");
    expect_status(response, 201).await;
    let fixed = Credentials {
        sid: sid.clone(),
        token: token.into(),
    };
    expect_status(
        app.get(&fixed, "/v1/InstalledAddOns").send().await.expect("sent"),
        200,
    )
    .await;
    let response = app
        .post_json(&app.operator, "/admin/v1/Accounts", &body)
        .send()
        .await
        .expect("sent");
    expect_error(response, 409, 20409).await;
    app.stop().await;
}

addons_testkit::on_both_backends!(
    operator_creates_accounts_and_tokens_authenticate,
    bad_or_missing_credentials_are_401,
    developers_cannot_publish,
    account_creation_rejects_bad_input,
);
