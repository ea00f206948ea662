//! The command line.

use std::path::{Path, PathBuf};

use addons_server::{Application, Config};
use anyhow::Context;
use clap::{Parser, Subcommand};
use serde_json::Value;

/// A Twilio-compatible Add-on Marketplace gateway.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    /// A configuration file layered over config/default.toml (also ADDONS_CONFIG).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// What to do (serve when omitted).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (and, on an empty database with the sandbox enabled, the demo).
    Serve,
    /// Bring the database schema up to date and exit.
    Migrate,
    /// Register manifest files with a running gateway, as a publisher: each creates its
    /// Add-on, or publishes a new version when it changed.
    Register {
        /// Manifest files (JSON), or directories of them.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The gateway's base URL.
        #[arg(long, env = "ADDONS_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
        /// The publisher's Account SID.
        #[arg(long, env = "ADDONS_PUBLISHER_SID")]
        account: String,
        /// The publisher's auth token.
        #[arg(long, env = "ADDONS_PUBLISHER_TOKEN", hide_env_values = true)]
        token: String,
    },
}

/// Runs a command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let config = Config::load(cli.config.as_deref())?;
            addons_server::telemetry::init(&config.log);
            serve(config).await
        }
        Command::Migrate => {
            let config = Config::load(cli.config.as_deref())?;
            addons_server::telemetry::init(&config.log);
            let backend = addons_server::app::migrate(&config).await?;
            println!("The {backend} database is up to date.");
            Ok(())
        }
        Command::Register {
            paths,
            url,
            account,
            token,
        } => register(&paths, &url, &account, &token).await,
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let sandbox_enabled = config.sandbox.enabled;
    let manifests_dir = config.sandbox.manifests_dir.clone();
    let application = Application::build(config).await?;
    let sandbox = if sandbox_enabled {
        crate::sandbox::start(&application, manifests_dir.as_deref()).await?
    } else {
        None
    };
    if let Some(sandbox) = &sandbox {
        println!("{}", sandbox.banner());
    }
    application.run_until_stopped(shutdown_signal()).await?;
    if let Some(sandbox) = sandbox {
        sandbox.stop().await;
    }
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

/// The manifest files at `paths` (files, or the `*.json` files of directories), sorted.
pub fn manifest_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("reading {}", path.display()))?
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

/// Reads a manifest file.
pub fn read_manifest(path: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}

async fn register(paths: &[PathBuf], url: &str, account: &str, token: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let endpoint = format!("{}/admin/v1/Manifests", url.trim_end_matches('/'));
    let mut failures = 0;
    for file in manifest_files(paths)? {
        let manifest = read_manifest(&file)?;
        let response = client
            .post(&endpoint)
            .basic_auth(account, Some(token))
            .json(&manifest)
            .send()
            .await
            .with_context(|| format!("sending {} to {endpoint}", file.display()))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            println!(
                "{}: {} {} ({}, version {})",
                file.display(),
                body["outcome"].as_str().unwrap_or("registered"),
                body["unique_name"].as_str().unwrap_or_default(),
                body["sid"].as_str().unwrap_or_default(),
                body["latest_version_number"],
            );
        } else {
            failures += 1;
            eprintln!(
                "{}: {} {}",
                file.display(),
                status.as_u16(),
                body["message"].as_str().unwrap_or("(no message)")
            );
        }
    }
    if failures > 0 {
        anyhow::bail!("{failures} manifest(s) were not registered");
    }
    Ok(())
}
