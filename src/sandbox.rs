//! The sandbox: what `cargo run` sets up so that a newcomer can try the gateway at once.
//!
//! On an empty database it creates a publisher and a developer account. On every start it runs
//! the demo publishers on local ports (their ports change, so their manifests are registered
//! again: an unchanged manifest is a no-op, a changed one a new version), registers the
//! manifests found in the manifests directory for the sandbox publisher, and installs every
//! one of them for the sandbox developer with all of its extensions enabled, moving existing
//! installs to the latest version.

use std::net::SocketAddr;
use std::path::Path;

use addons_domain::manifest::Secret;
use addons_domain::sid::AccountSid;
use addons_server::Application;
use addons_server::service::{InstallRequest, UpdateRequest, VersionChoice};
use addons_store::{
    AccountRecord, AccountRole, AddOnRecord, NewAccount, PageRequest, PhoneNumberRecord, PhoneNumberSettings,
};
use anyhow::Context;
use demo_publishers::{Credentials, DemoApp, PublisherConfig, RunningPublisher};
use serde_json::{Map, Value, json};

use crate::demo_webhook::DemoWebhook;

/// The sandbox publisher's display name (how it is found again on later starts).
pub const PUBLISHER_NAME: &str = "Sandbox Publisher";
/// The sandbox developer's display name.
pub const DEVELOPER_NAME: &str = "Sandbox Developer";
/// The sandbox developer's phone number, wired to the demo webhook.
pub const DEMO_NUMBER: &str = "+15017122661";

/// A running sandbox.
#[derive(Debug)]
pub struct Sandbox {
    /// The gateway's base URL.
    pub base_url: String,
    /// The operator's admin password.
    pub operator_token: Secret,
    /// The sandbox publisher.
    pub publisher: AccountRecord,
    /// The sandbox developer.
    pub developer: AccountRecord,
    /// The unique names of the Add-ons installed for the developer.
    pub installed: Vec<String>,
    /// The demo publishers.
    pub publishers: Vec<RunningPublisher>,
    /// The developer's number, its SMS and voice webhooks on [`Sandbox::webhook`].
    pub number: PhoneNumberRecord,
    /// The developer's application, receiving the number's traffic.
    pub webhook: DemoWebhook,
}

impl Sandbox {
    /// A command that works against the sandbox: a Lookup with the seed's Anagram Add-on.
    pub fn try_curl(&self) -> String {
        format!(
            "curl -s -u {}:{} '{}/v1/PhoneNumbers/+18778894546?AddOns=publisher_anagrams'",
            self.developer.sid,
            self.developer.auth_token.expose(),
            self.base_url
        )
    }

    /// A command that simulates an SMS to the developer's number: the answer shows the
    /// `AddOns` the webhook was sent and the TwiML it answered.
    pub fn try_sms(&self) -> String {
        format!(
            "curl -s -u {}:{} {}/sandbox/v1/Messages -d From=+14155550100 -d To={} --data-urlencode 'Body=I love this, thank you!'",
            self.developer.sid,
            self.developer.auth_token.expose(),
            self.base_url,
            self.number.phone_number,
        )
    }

    /// What is printed at start.
    pub fn banner(&self) -> String {
        let publishers: Vec<String> = self
            .publishers
            .iter()
            .map(|p| format!("    {:<20} {}", p.app().unique_name(), p.endpoint_url()))
            .collect();
        format!(
            "\nSandbox ready at {base}\n\
             \n  Developer account  {dev_sid}  auth token {dev_token}\
             \n  Publisher account  {pub_sid}  auth token {pub_token}\
             \n  Operator (admin)   operator  password {operator}\
             \n  Installed Add-ons  {installed}\
             \n  Demo publishers\n{publishers}\
             \n  Phone number       {number} (SMS and voice webhooks: {webhook})\n\
             \nTry a Lookup with the Anagram Add-on:\n{curl}\n\
             \nOr an incoming SMS (the answer shows the AddOns the webhook received, and its TwiML):\n{sms}\n",
            base = self.base_url,
            dev_sid = self.developer.sid,
            dev_token = self.developer.auth_token.expose(),
            pub_sid = self.publisher.sid,
            pub_token = self.publisher.auth_token.expose(),
            operator = self.operator_token.expose(),
            installed = self.installed.join(", "),
            publishers = publishers.join("\n"),
            curl = self.try_curl(),
            number = self.number.phone_number,
            webhook = self.webhook.received_url().replace("/received", ""),
            sms = self.try_sms(),
        )
    }

    /// Stops the demo publishers and the demo webhook.
    pub async fn stop(self) {
        for publisher in self.publishers {
            publisher.shutdown().await;
        }
        self.webhook.stop();
    }
}

/// Sets the sandbox up. `None` when the database already holds other accounts and no sandbox
/// accounts (the sandbox never touches a database it did not create).
pub async fn start(
    application: &Application,
    manifests_dir: Option<&Path>,
) -> anyhow::Result<Option<Sandbox>> {
    let state = application.state();
    let Some((publisher, developer)) = accounts(application).await? else {
        tracing::info!("the database holds accounts that are not the sandbox's; the sandbox is not set up");
        return Ok(None);
    };

    let mut publishers = Vec::new();
    let mut add_ons = Vec::new();
    for app in demo_publishers::demo_apps() {
        let running = demo_publishers::start(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            PublisherConfig::new(publisher.auth_token.expose())
                .with_vendor_account_sid(publisher.sid.as_str())
                .with_credentials(Credentials::derived_from(publisher.auth_token.expose())),
            app,
        )
        .await
        .context("starting a demo publisher")?;
        let (add_on, _) = state
            .services
            .register_or_publish(&publisher.sid, &running.manifest())
            .await
            .map_err(|error| anyhow::anyhow!("registering a demo Add-on: {}", error.message()))?;
        add_ons.push((add_on, demo_configuration(running.app())));
        publishers.push(running);
    }

    if let Some(dir) = manifests_dir.filter(|dir| dir.is_dir()) {
        for file in crate::cli::manifest_files(&[dir.to_path_buf()])? {
            let manifest = crate::cli::read_manifest(&file)?;
            match state
                .services
                .register_or_publish(&publisher.sid, &manifest)
                .await
            {
                Ok((add_on, outcome)) => {
                    tracing::info!(file = %file.display(), ?outcome, "registered a manifest file");
                    let configuration = default_configuration(manifest.get("configuration_schema"));
                    add_ons.push((add_on, configuration));
                }
                Err(error) => anyhow::bail!("{}: {}", file.display(), error.message()),
            }
        }
    }

    let mut installed = Vec::new();
    for (add_on, configuration) in add_ons {
        match install(application, &developer.sid, &add_on, configuration).await {
            Ok(()) => installed.push(add_on.unique_name.clone()),
            Err(error) => {
                tracing::warn!(add_on = %add_on.unique_name, %error, "not installed in the sandbox")
            }
        }
    }

    let webhook = DemoWebhook::start(developer.auth_token.expose())
        .await
        .context("starting the demo webhook")?;
    let number = demo_number(application, &developer.sid, &webhook).await?;

    let address = application.local_addr();
    let host = if address.ip().is_unspecified() {
        format!("127.0.0.1:{}", address.port())
    } else {
        address.to_string()
    };
    Ok(Some(Sandbox {
        base_url: format!("http://{host}"),
        operator_token: application.operator_token().clone(),
        publisher,
        developer,
        installed,
        publishers,
        number,
        webhook,
    }))
}

/// The developer's demo number, created or pointed at the (newly started) demo webhook.
async fn demo_number(
    application: &Application,
    developer: &AccountSid,
    webhook: &DemoWebhook,
) -> anyhow::Result<PhoneNumberRecord> {
    let state = application.state();
    let settings = PhoneNumberSettings {
        friendly_name: "Sandbox number".to_owned(),
        sms_url: Some(webhook.sms_url()),
        sms_method: "POST".to_owned(),
        voice_url: Some(webhook.voice_url()),
        voice_method: "POST".to_owned(),
    };
    let existing = state
        .store
        .phone_numbers(
            developer,
            PageRequest {
                page: 0,
                page_size: 1000,
            },
        )
        .await?
        .items
        .into_iter()
        .find(|number| number.phone_number == DEMO_NUMBER);
    let result = match existing {
        Some(number) => {
            state
                .services
                .update_phone_number(developer, &number.sid, &settings)
                .await
        }
        None => {
            state
                .services
                .create_phone_number(developer, DEMO_NUMBER, &settings)
                .await
        }
    };
    result.map_err(|error| anyhow::anyhow!("setting up the sandbox number: {}", error.message()))
}

/// Finds the sandbox accounts, or creates them on an empty database.
async fn accounts(application: &Application) -> anyhow::Result<Option<(AccountRecord, AccountRecord)>> {
    let state = application.state();
    let config = &state.config.sandbox;
    let existing = state.store.all_accounts().await?;
    let find = |name: &str, role: AccountRole, sid: &str| {
        existing
            .iter()
            .find(|a| {
                a.role == role && (a.sid.as_str() == sid || (sid.is_empty() && a.friendly_name == name))
            })
            .cloned()
    };
    let found = (
        find(PUBLISHER_NAME, AccountRole::Publisher, &config.publisher_sid),
        find(DEVELOPER_NAME, AccountRole::Developer, &config.developer_sid),
    );
    if let (Some(publisher), Some(developer)) = found {
        return Ok(Some((publisher, developer)));
    }
    if !existing.is_empty() {
        return Ok(None);
    }
    let create = |name: &str, role: AccountRole, sid: &str, token: &Option<Secret>| {
        let sid = (!sid.is_empty())
            .then(|| AccountSid::parse(sid))
            .transpose()
            .with_context(|| format!("sandbox {} SID", role.as_str()));
        let new = sid.map(|sid| NewAccount {
            friendly_name: name.to_owned(),
            role,
            sid,
            auth_token: token.clone(),
        });
        async move {
            let new = new?;
            state.services.create_account(new).await.map_err(|error| {
                anyhow::anyhow!("creating the sandbox {}: {}", role.as_str(), error.message())
            })
        }
    };
    let publisher = create(
        PUBLISHER_NAME,
        AccountRole::Publisher,
        &config.publisher_sid,
        &config.publisher_token,
    )
    .await?;
    let developer = create(
        DEVELOPER_NAME,
        AccountRole::Developer,
        &config.developer_sid,
        &config.developer_token,
    )
    .await?;
    Ok(Some((publisher, developer)))
}

/// Installs (or moves to the latest version) an Add-on for the developer, with every
/// extension enabled.
async fn install(
    application: &Application,
    developer: &AccountSid,
    add_on: &AddOnRecord,
    configuration: Value,
) -> anyhow::Result<()> {
    let state = application.state();
    let existing = state
        .store
        .installs(
            developer,
            PageRequest {
                page: 0,
                page_size: 1000,
            },
        )
        .await?
        .items
        .into_iter()
        .find(|install| install.add_on_sid == add_on.sid);
    let install = match existing {
        Some(install) if install.version_sid == add_on.latest.sid => install,
        Some(install) => state
            .services
            .update_install(
                developer,
                &install.sid,
                UpdateRequest {
                    version: Some(VersionChoice::Latest),
                    ..UpdateRequest::default()
                },
            )
            .await
            .map_err(|error| anyhow::anyhow!("{}", error.message()))?,
        None => state
            .services
            .install(
                developer,
                InstallRequest {
                    add_on: add_on.sid.clone(),
                    accept_terms_of_service: true,
                    configuration: Some(configuration),
                    unique_name: None,
                },
            )
            .await
            .map_err(|error| anyhow::anyhow!("{}", error.message()))?,
    };
    let points = addons_domain::kind::IntegrationPoint::ALL;
    state
        .services
        .enable_points(developer, &install.sid, &points)
        .await
        .map_err(|error| anyhow::anyhow!("{}", error.message()))
}

fn demo_configuration(app: &DemoApp) -> Value {
    match app {
        DemoApp::CallerName => json!({"include_location": true}),
        DemoApp::Sentiment => json!({"language": "en"}),
        _ => json!({}),
    }
}

/// A configuration from a schema's defaults: each field's `default`, else (when required) the
/// first `enum` value, `false`, or the `minimum`.
pub fn default_configuration(schema: Option<&Value>) -> Value {
    let mut configuration = Map::new();
    let Some(schema) = schema else {
        return Value::Object(configuration);
    };
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (name, field) in schema["properties"].as_object().into_iter().flatten() {
        let value = field.get("default").cloned().or_else(|| {
            required.contains(&name.as_str()).then(|| {
                field["enum"]
                    .get(0)
                    .cloned()
                    .or_else(|| (field["type"] == "boolean").then_some(Value::Bool(false)))
                    .or_else(|| field.get("minimum").cloned())
                    .unwrap_or(Value::Null)
            })
        });
        if let Some(value) = value.filter(|v| !v.is_null()) {
            configuration.insert(name.clone(), value);
        }
    }
    Value::Object(configuration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_defaults_come_from_the_schema() {
        let schema = json!({
            "type": "object",
            "properties": {
                "language": {"type": "string", "enum": ["en", "es"]},
                "verbose": {"type": "boolean"},
                "limit": {"type": "integer", "default": 5},
                "count": {"type": "integer", "minimum": 1},
                "note": {"type": "string"}
            },
            "required": ["language", "verbose", "count"]
        });
        assert_eq!(
            default_configuration(Some(&schema)),
            json!({"language": "en", "verbose": false, "limit": 5, "count": 1})
        );
        assert_eq!(default_configuration(None), json!({}));
    }
}
