//! The test harness: the gateway started in-process on port 0 against a fresh database, with
//! helpers that speak its APIs over real HTTP.

#![allow(dead_code)]

pub mod publisher;
pub mod python;
pub mod webhook;

use addons_server::{Application, Config};
use addons_testkit::TestDatabase;
use serde_json::{Value, json};

/// The operator's password in tests.
pub const OPERATOR_TOKEN: &str = "operator-test-token";

/// An account's credentials.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// Account SID.
    pub sid: String,
    /// Auth token.
    pub token: String,
}

/// A running gateway.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// Which backend.
    pub backend: &'static str,
    /// A plain HTTP client.
    pub http: reqwest::Client,
    /// The operator's credentials.
    pub operator: Credentials,
    /// The application's shared state (store, catalog, engine).
    pub state: addons_server::state::AppState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _database: TestDatabase,
    _data_dir: tempfile::TempDir,
}

/// The configuration tests start from: port 0, the test database, fixed keys, no sandbox,
/// retry delays in milliseconds.
pub fn test_config(database: &TestDatabase, data_dir: &std::path::Path) -> Config {
    let mut config = Config::defaults();
    config.server.listen = "127.0.0.1:0".parse().expect("an address");
    config.database.url = database.url.clone();
    config.database.data_dir = data_dir.to_path_buf();
    config.security.encryption_key = Some(addons_domain::manifest::Secret::new(
        "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    ));
    config.security.operator_token = Some(addons_domain::manifest::Secret::new(OPERATOR_TOKEN));
    config.sandbox.enabled = false;
    config.outbound.retry_backoff_ms = vec![5, 10, 20];
    config.outbound.retry_jitter = 0.0;
    config.recorder.flush_interval_ms = 20;
    config
}

/// Installs the TLS crypto provider once (reqwest is built without a default one).
pub fn crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl TestApp {
    /// Starts a gateway on a fresh database.
    pub async fn spawn(database: TestDatabase) -> TestApp {
        Self::spawn_with(database, |_| {}).await
    }

    /// Starts a gateway after adjusting the test configuration.
    pub async fn spawn_with(database: TestDatabase, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let data_dir = tempfile::tempdir().expect("a data directory");
        Self::spawn_in(database, data_dir, adjust).await.0
    }

    /// Starts a gateway with a given data directory, answering the built application's
    /// handle for set-up that needs it before serving (the sandbox).
    pub async fn spawn_in(
        database: TestDatabase,
        data_dir: tempfile::TempDir,
        adjust: impl FnOnce(&mut Config),
    ) -> (TestApp, Option<addons_gateway::sandbox::Sandbox>) {
        crypto();
        let mut config = test_config(&database, data_dir.path());
        adjust(&mut config);
        let sandbox_enabled = config.sandbox.enabled;
        let manifests = config.sandbox.manifests_dir.clone();
        let application = Application::build(config).await.expect("the gateway builds");
        let sandbox = if sandbox_enabled {
            addons_gateway::sandbox::start(&application, manifests.as_deref())
                .await
                .expect("the sandbox starts")
        } else {
            None
        };
        let address = format!("http://127.0.0.1:{}", application.port());
        let state = application.state().clone();
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(application.run_until_stopped(async {
            let _ = stopped.await;
        }));
        let app = TestApp {
            address,
            backend: database.backend,
            http: reqwest::Client::new(),
            operator: Credentials {
                sid: "operator".into(),
                token: OPERATOR_TOKEN.into(),
            },
            state,
            shutdown: Some(shutdown),
            server: Some(server),
            _database: database,
            _data_dir: data_dir,
        };
        (app, sandbox)
    }

    /// Stops the gateway gracefully.
    pub async fn stop(self) {
        self.stop_keeping_data().await;
    }

    /// Stops the gateway gracefully and hands back its database and data directory, so that
    /// a test can start it again on the same data.
    pub async fn stop_keeping_data(mut self) -> (TestDatabase, tempfile::TempDir) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("the server task")
                .expect("the server stops cleanly");
        }
        (self._database, self._data_dir)
    }

    /// `address + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A GET with Basic credentials.
    pub fn get(&self, who: &Credentials, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(self.url(path))
            .basic_auth(&who.sid, Some(&who.token))
    }

    /// A DELETE with Basic credentials.
    pub fn delete(&self, who: &Credentials, path: &str) -> reqwest::RequestBuilder {
        self.http
            .delete(self.url(path))
            .basic_auth(&who.sid, Some(&who.token))
    }

    /// A form POST with Basic credentials.
    pub fn post_form(&self, who: &Credentials, path: &str, form: &[(&str, &str)]) -> reqwest::RequestBuilder {
        self.http
            .post(self.url(path))
            .basic_auth(&who.sid, Some(&who.token))
            .form(form)
    }

    /// A JSON POST with Basic credentials.
    pub fn post_json(&self, who: &Credentials, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.http
            .post(self.url(path))
            .basic_auth(&who.sid, Some(&who.token))
            .json(body)
    }

    /// Creates an account through the admin API.
    pub async fn account(&self, role: &str) -> Credentials {
        let response = self
            .post_json(
                &self.operator,
                "/admin/v1/Accounts",
                &json!({"friendly_name": format!("{role} account"), "role": role}),
            )
            .send()
            .await
            .expect("the request is sent");
        let body = expect_status(response, 201).await;
        Credentials {
            sid: body["sid"].as_str().expect("a sid").to_owned(),
            token: body["auth_token"].as_str().expect("a token").to_owned(),
        }
    }

    /// Registers a manifest; answers the Add-on.
    pub async fn register(&self, publisher: &Credentials, manifest: &Value) -> Value {
        let response = self
            .post_json(publisher, "/admin/v1/AddOns", manifest)
            .send()
            .await
            .expect("the request is sent");
        expect_status(response, 201).await
    }

    /// Sends an install request through the Marketplace API.
    pub async fn try_install(
        &self,
        developer: &Credentials,
        add_on_sid: &str,
        configuration: Option<&Value>,
        unique_name: Option<&str>,
    ) -> reqwest::Response {
        let configuration = configuration.map(Value::to_string);
        let mut form = vec![
            ("AvailableAddOnSid", add_on_sid),
            ("AcceptTermsOfService", "true"),
        ];
        if let Some(configuration) = configuration.as_deref() {
            form.push(("Configuration", configuration));
        }
        if let Some(unique_name) = unique_name {
            form.push(("UniqueName", unique_name));
        }
        self.post_form(developer, "/v1/InstalledAddOns", &form)
            .send()
            .await
            .expect("the request is sent")
    }

    /// Installs an Add-on through the Marketplace API; answers the installed Add-on.
    pub async fn install(
        &self,
        developer: &Credentials,
        add_on_sid: &str,
        configuration: Option<&Value>,
    ) -> Value {
        expect_status(
            self.try_install(developer, add_on_sid, configuration, None).await,
            201,
        )
        .await
    }

    /// Enables the extensions of an install for the given integration points.
    pub async fn enable(&self, developer: &Credentials, installed: &Value, points: &[&str]) {
        let sid = installed["sid"].as_str().expect("a sid");
        let path = format!("/v1/InstalledAddOns/{sid}/Extensions");
        let response = self.get(developer, &path).send().await.expect("sent");
        let extensions = expect_status(response, 200).await;
        for extension in extensions["extensions"].as_array().expect("a list") {
            if points.contains(&extension["unique_name"].as_str().unwrap_or_default()) {
                let path = format!("{path}/{}", extension["sid"].as_str().expect("a sid"));
                let response = self
                    .post_form(developer, &path, &[("Enabled", "true")])
                    .send()
                    .await
                    .expect("sent");
                expect_status(response, 200).await;
            }
        }
    }

    /// Registers, installs and enables in one go; answers (Add-on, installed Add-on).
    pub async fn register_and_install(
        &self,
        publisher: &Credentials,
        developer: &Credentials,
        manifest: &Value,
        configuration: Option<&Value>,
    ) -> (Value, Value) {
        let add_on = self.register(publisher, manifest).await;
        let installed = self
            .install(developer, add_on["sid"].as_str().expect("a sid"), configuration)
            .await;
        let points: Vec<&str> = manifest["integration_points"]
            .as_array()
            .map(|points| points.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        self.enable(developer, &installed, &points).await;
        (add_on, installed)
    }
}

/// Asserts a status and answers the JSON body.
pub async fn expect_status(response: reqwest::Response, status: u16) -> Value {
    let actual = response.status().as_u16();
    let text = response.text().await.expect("a body");
    assert_eq!(actual, status, "unexpected status; body: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("a JSON body, got: {text}"))
    }
}

/// Asserts a Twilio error body.
pub async fn expect_error(response: reqwest::Response, status: u16, code: u32) -> Value {
    let body = expect_status(response, status).await;
    assert_eq!(body["code"], json!(code), "{body}");
    assert_eq!(body["status"], json!(status), "{body}");
    assert_eq!(
        body["more_info"],
        json!(format!("https://www.twilio.com/docs/errors/{code}")),
        "{body}"
    );
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    body
}

/// A small phone-number manifest for `url`, with a configuration schema.
pub fn phone_manifest(unique_name: &str, url: &str) -> Value {
    json!({
        "unique_name": unique_name,
        "friendly_name": format!("{unique_name} Add-on"),
        "description": "A test Add-on",
        "type": "phone-number",
        "integration_points": ["lookups", "incoming-sms", "voice-incoming"],
        "endpoint": {"url": url, "method": "POST", "carrier": "json"},
        "parameters": {"number": "{{primary_address}}", "language": {"value": "{{language}}", "optional": true}},
        "configuration_schema": {
            "type": "object",
            "properties": {
                "language": {"type": "string", "name": "Language", "_help": "Result language", "enum": ["en", "es"]},
                "max_results": {"type": "integer", "name": "Max results", "minimum": 1, "maximum": 10}
            },
            "required": ["language"]
        },
        "pricing": {"model": "pay-per-use", "price": "0.0001"}
    })
}

/// An address where connections are refused: a socket bound to a port but not listening. The
/// port stays taken while the socket lives, so no other test's server can appear there.
pub fn refusing_address() -> (tokio::net::TcpSocket, std::net::SocketAddr) {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("a port");
    let address = socket.local_addr().expect("an address");
    (socket, address)
}
