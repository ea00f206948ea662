//! Publisher servers for tests: the demo publisher server running a custom answer, verifying
//! what the gateway sends with the publisher's real auth token.

use std::sync::Arc;

use demo_publishers::{Behavior, DemoApp, PublisherConfig, RunningPublisher, VerifiedRequest};
use serde_json::{Value, json};

use super::Credentials;

/// A publisher answering `answer` for every verified request.
pub async fn start(
    publisher: &Credentials,
    answer: impl Fn(&VerifiedRequest) -> Value + Send + Sync + 'static,
) -> RunningPublisher {
    demo_publishers::start(
        "127.0.0.1:0".parse().expect("an address"),
        PublisherConfig::new(publisher.token.clone()).with_vendor_account_sid(publisher.sid.clone()),
        DemoApp::Custom(Arc::new(answer)),
    )
    .await
    .expect("the publisher starts")
}

/// A publisher that echoes what it received: `{"params": …, "request_sid": …}`.
pub async fn echo(publisher: &Credentials) -> RunningPublisher {
    start(
        publisher,
        |request| json!({"params": request.params, "request_sid": request.request_sid}),
    )
    .await
}

/// A publisher that misbehaves as told.
pub async fn misbehaving(publisher: &Credentials, behavior: Behavior) -> RunningPublisher {
    let running = echo(publisher).await;
    running.set_behavior(behavior);
    running
}

/// A publisher that answers after `delay`.
pub async fn delayed(publisher: &Credentials, delay: std::time::Duration) -> RunningPublisher {
    misbehaving(
        publisher,
        Behavior {
            delay,
            ..Behavior::default()
        },
    )
    .await
}
