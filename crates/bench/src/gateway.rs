//! The gateway under test: `addons-gateway serve` in its own process, configured by
//! environment, then set up over its HTTP APIs as a publisher and a developer would.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine as _;
use hyper::Method;
use serde_json::{Value, json};

use crate::http::{self, Body, HttpClient, Reply};
use crate::procs::{self, Service};

/// Add-ons answering at once.
pub const FAST_ADD_ONS: usize = 5;
/// Add-ons answering after 100 ms.
pub const SLOW_ADD_ONS: usize = 10;
/// The number every Lookup asks about (a US toll-free number, as in the README).
pub const NUMBER: &str = "+18778894546";

/// The unique names of the first `count` fast Add-ons.
pub fn fast_names(count: usize) -> Vec<String> {
    (1..=count).map(|i| format!("bench_fast_{i}")).collect()
}

/// The unique names of the first `count` slow Add-ons.
pub fn slow_names(count: usize) -> Vec<String> {
    (1..=count).map(|i| format!("bench_slow_{i}")).collect()
}

/// A manifest for an Add-on calling `url`: a phone-number Add-on for Lookup, POSTing the number
/// as JSON, paid per use.
pub fn manifest(name: &str, url: &str) -> Value {
    json!({
        "unique_name": name,
        "friendly_name": format!("Bench {name}"),
        "description": "Benchmark Add-on",
        "type": "phone-number",
        "integration_points": ["lookups"],
        "endpoint": {"url": url, "method": "POST", "carrier": "json"},
        "parameters": {"number": "{{primary_address}}"},
        "pricing": {"model": "pay-per-use", "price": "0.0001"}
    })
}

/// Whether a Lookup answer holds a successful result for each of `names`.
pub fn check_lookup(body: &[u8], names: &[String]) -> Result<(), String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|error| format!("the answer is not JSON: {error}"))?;
    let add_ons = &value["add_ons"];
    for name in names {
        let result = &add_ons["results"][name.as_str()];
        if result["status"] != "successful" {
            return Err(format!("{name} did not succeed: {result}"));
        }
    }
    if add_ons["status"] != "successful" {
        return Err(format!("the add_ons envelope did not succeed: {add_ons}"));
    }
    Ok(())
}

/// A running, set-up gateway.
#[derive(Debug)]
pub struct Gateway {
    service: Service,
    base_url: String,
    developer_authorization: String,
    client: HttpClient,
    /// What the recorder's queue gauge shows when nothing is left to store (see
    /// [`Gateway::wait_for_records`]).
    records_never_queued: f64,
}

/// How [`Gateway::wait_for_records`] went.
#[derive(Debug, Clone, Copy)]
pub struct Drain {
    /// Seconds until everything queued was stored.
    pub seconds: f64,
    /// Records the queue gauge counted that were never stored: the gauge stayed up while the
    /// recorder went on storing new records.
    pub unaccounted: f64,
}

impl Gateway {
    /// Starts the gateway (SQLite in `dir`, or PostgreSQL at `database_url`), registers and
    /// installs the bench's Add-ons against the publisher on `publisher_port`, and checks that
    /// Lookups with them succeed.
    pub async fn start(
        binary: &Path,
        dir: &Path,
        label: &str,
        database_url: Option<&str>,
        publisher_port: u16,
    ) -> anyhow::Result<Gateway> {
        Gateway::start_under(&[], binary, dir, label, database_url, publisher_port).await
    }

    /// [`Gateway::start`], with the gateway run by `launcher` (a program and its arguments,
    /// given the gateway's command line after them; none runs it directly).
    pub async fn start_under(
        launcher: &[String],
        binary: &Path,
        dir: &Path,
        label: &str,
        database_url: Option<&str>,
        publisher_port: u16,
    ) -> anyhow::Result<Gateway> {
        if !binary.is_file() {
            bail!(
                "{} is missing: build it with `cargo build --release -p addons-gateway` \
                 (scripts/bench.sh does)",
                binary.display()
            );
        }
        // Absolute: the gateway runs in its data directory.
        let binary =
            std::fs::canonicalize(binary).with_context(|| format!("resolving {}", binary.display()))?;
        let port = procs::free_port()?;
        let data_dir = dir.join(format!("gateway-{label}"));
        std::fs::create_dir_all(&data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
        let operator_token = hex(&rand::random::<[u8; 24]>());
        let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>());

        let mut command = procs::command_under(launcher, binary.as_os_str());
        command.arg("serve").current_dir(&data_dir);
        // Only the settings below: nothing from the caller's environment.
        for (name, _) in std::env::vars_os() {
            let name_text = name.to_string_lossy();
            if name_text.starts_with("ADDONS_") || name_text == "DATABASE_URL" || name_text == "RUST_LOG" {
                command.env_remove(&name);
            }
        }
        command
            .env("ADDONS_SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("ADDONS_DATABASE__DATA_DIR", &data_dir)
            .env("ADDONS_SANDBOX__ENABLED", "false")
            .env("ADDONS_SECURITY__OPERATOR_TOKEN", &operator_token)
            .env("ADDONS_SECURITY__ENCRYPTION_KEY", &key)
            .env("ADDONS_LOG__FILTER", "warn");
        if let Some(url) = database_url {
            command.env("DATABASE_URL", url);
        }
        let service = Service::spawn(&format!("gateway-{label}"), command, dir, false)?;
        let mut gateway = Gateway {
            service,
            base_url: format!("http://127.0.0.1:{port}"),
            developer_authorization: String::new(),
            client: http::client(8),
            records_never_queued: 0.0,
        };
        gateway
            .wait_until_healthy(SocketAddr::from(([127, 0, 0, 1], port)))
            .await?;
        gateway
            .set_up(&operator_token, publisher_port)
            .await
            .with_context(|| {
                format!(
                    "setting up the gateway; its output:\n{}",
                    gateway.service.output_tail()
                )
            })?;
        Ok(gateway)
    }

    async fn wait_until_healthy(&mut self, addr: SocketAddr) -> anyhow::Result<()> {
        // Migrating a new PostgreSQL database takes a few seconds.
        self.service.wait_for_port(addr, Duration::from_secs(120)).await?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = format!("{}/healthz", self.base_url);
        loop {
            self.service.ensure_running()?;
            match http::send(&self.client, Method::GET, &url, None, Body::Empty).await {
                Ok(reply) if reply.status.is_success() => return Ok(()),
                _ if Instant::now() > deadline => bail!(
                    "{} never answered {url}; its output:\n{}",
                    self.service.name(),
                    self.service.output_tail()
                ),
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    async fn set_up(&mut self, operator_token: &str, publisher_port: u16) -> anyhow::Result<()> {
        let operator = http::basic("operator", operator_token);
        let publisher = self
            .create_account(&operator, "Bench publisher", "publisher")
            .await?;
        let developer = self
            .create_account(&operator, "Bench developer", "developer")
            .await?;
        self.developer_authorization = developer.clone();

        let fast = format!("http://127.0.0.1:{publisher_port}/fast");
        let slow = format!("http://127.0.0.1:{publisher_port}/slow");
        let add_ons = fast_names(FAST_ADD_ONS)
            .into_iter()
            .map(|name| (name, fast.clone()))
            .chain(
                slow_names(SLOW_ADD_ONS)
                    .into_iter()
                    .map(|name| (name, slow.clone())),
            );
        for (name, url) in add_ons {
            self.register_and_install(&publisher, &developer, &name, &url)
                .await
                .with_context(|| format!("Add-on {name}"))?;
        }
        for names in [
            fast_names(1),
            fast_names(FAST_ADD_ONS),
            slow_names(1),
            slow_names(SLOW_ADD_ONS),
        ] {
            self.check_lookup(&names).await?;
        }
        Ok(())
    }

    async fn create_account(
        &self,
        operator: &str,
        friendly_name: &str,
        role: &str,
    ) -> anyhow::Result<String> {
        let step = format!("creating the {role} account (POST /admin/v1/Accounts)");
        let reply = http::send(
            &self.client,
            Method::POST,
            &format!("{}/admin/v1/Accounts", self.base_url),
            Some(operator),
            Body::Json(json!({"friendly_name": friendly_name, "role": role})),
        )
        .await
        .with_context(|| step.clone())?;
        let account = expect_json(&reply, &step)?;
        let sid = string(&account, "sid", &step)?;
        let token = string(&account, "auth_token", &step)?;
        Ok(http::basic(&sid, &token))
    }

    async fn register_and_install(
        &self,
        publisher: &str,
        developer: &str,
        name: &str,
        url: &str,
    ) -> anyhow::Result<()> {
        let base = &self.base_url;
        let step = "registering it (POST /admin/v1/AddOns)";
        let reply = http::send(
            &self.client,
            Method::POST,
            &format!("{base}/admin/v1/AddOns"),
            Some(publisher),
            Body::Json(manifest(name, url)),
        )
        .await
        .context(step)?;
        let add_on = string(&expect_json(&reply, step)?, "sid", step)?;

        let step = "installing it (POST /v1/InstalledAddOns)";
        let reply = http::send(
            &self.client,
            Method::POST,
            &format!("{base}/v1/InstalledAddOns"),
            Some(developer),
            Body::Form(vec![
                ("AvailableAddOnSid".to_owned(), add_on),
                ("AcceptTermsOfService".to_owned(), "true".to_owned()),
            ]),
        )
        .await
        .context(step)?;
        let installed = string(&expect_json(&reply, step)?, "sid", step)?;

        let step = "listing its extensions (GET /v1/InstalledAddOns/{XE}/Extensions)";
        let extensions_url = format!("{base}/v1/InstalledAddOns/{installed}/Extensions");
        let reply = http::send(
            &self.client,
            Method::GET,
            &extensions_url,
            Some(developer),
            Body::Empty,
        )
        .await
        .context(step)?;
        let listing = expect_json(&reply, step)?;
        let extension = listing["extensions"]
            .as_array()
            .and_then(|extensions| {
                extensions
                    .iter()
                    .find(|extension| extension["unique_name"] == "lookups")
            })
            .and_then(|extension| extension["sid"].as_str())
            .with_context(|| format!("{step}: no lookups extension in {listing}"))?
            .to_owned();

        let step = "enabling its lookups extension (POST /v1/InstalledAddOns/{XE}/Extensions/{XF})";
        let reply = http::send(
            &self.client,
            Method::POST,
            &format!("{extensions_url}/{extension}"),
            Some(developer),
            Body::Form(vec![("Enabled".to_owned(), "true".to_owned())]),
        )
        .await
        .context(step)?;
        let enabled = expect_json(&reply, step)?;
        if enabled["enabled"] != true {
            bail!("{step}: the extension is still disabled: {enabled}");
        }
        Ok(())
    }

    /// The Lookup URL with these Add-ons.
    pub fn lookup_url(&self, names: &[String]) -> String {
        let query: Vec<String> = names.iter().map(|name| format!("AddOns={name}")).collect();
        format!("{}/v1/PhoneNumbers/{NUMBER}?{}", self.base_url, query.join("&"))
    }

    /// The developer's `Authorization` header.
    pub fn developer_authorization(&self) -> &str {
        &self.developer_authorization
    }

    /// Fails unless a Lookup with `names` answers a successful result for each.
    pub async fn check_lookup(&self, names: &[String]) -> anyhow::Result<()> {
        let url = self.lookup_url(names);
        let reply = http::send(
            &self.client,
            Method::GET,
            &url,
            Some(&self.developer_authorization),
            Body::Empty,
        )
        .await
        .with_context(|| format!("Lookup {url}"))?;
        if !reply.status.is_success() {
            bail!("Lookup {url}: {} {}", reply.status, reply.text());
        }
        check_lookup(&reply.body, names).map_err(|error| anyhow::anyhow!("Lookup {url}: {error}"))
    }

    /// The gateway's count of Add-on requests by outcome (`success` or an error code), from
    /// its `addon_requests_total` metric.
    pub async fn add_on_outcomes(&self) -> anyhow::Result<BTreeMap<String, u64>> {
        let url = format!("{}/metrics", self.base_url);
        let reply = http::send(&self.client, Method::GET, &url, None, Body::Empty)
            .await
            .with_context(|| format!("GET {url}"))?;
        if !reply.status.is_success() {
            bail!("GET {url}: {} {}", reply.status, reply.text());
        }
        Ok(outcomes(&reply.text()))
    }

    /// The gateway's recorder gauges: records queued (`addon_records_queued`) and stored
    /// (`addon_records_written_total`), or `None` when the gateway does not export them.
    async fn recorder_counts(&self) -> anyhow::Result<Option<(f64, f64)>> {
        let url = format!("{}/metrics", self.base_url);
        let reply = http::send(&self.client, Method::GET, &url, None, Body::Empty)
            .await
            .with_context(|| format!("GET {url}"))?;
        if !reply.status.is_success() {
            bail!("GET {url}: {} {}", reply.status, reply.text());
        }
        let text = reply.text();
        Ok(sample(&text, "addon_records_queued").zip(sample(&text, "addon_records_written_total")))
    }

    /// The gateway's `addon_record*` metrics, for error messages.
    async fn recorder_metrics(&self) -> String {
        let url = format!("{}/metrics", self.base_url);
        match http::send(&self.client, Method::GET, &url, None, Body::Empty).await {
            Ok(reply) => reply
                .text()
                .lines()
                .filter(|line| line.starts_with("addon_record"))
                .collect::<Vec<_>>()
                .join("\n"),
            Err(error) => format!("(could not read them: {error:#})"),
        }
    }

    /// Waits until the gateway has stored every queued request record. The records of a load
    /// run can take a while to store after it ends, and the next measurement should not pay
    /// for them.
    ///
    /// When the queue gauge stays up while nothing is stored for a few seconds, one more Lookup
    /// tells a stuck writer (an error) from records the gauge counts but that never reached
    /// the queue (counted in [`Drain::unaccounted`], and expected from then on).
    pub async fn wait_for_records(&mut self, timeout: Duration) -> anyhow::Result<Drain> {
        let started = Instant::now();
        let stall = Duration::from_secs(5);
        let mut last_written = f64::NAN;
        let mut progress_at = Instant::now();
        let mut unaccounted = 0.0;
        // When the queue gauge turns out to hold records never queued, the drain ended with
        // the last record stored, not with the check.
        let mut drained_at = None;
        while let Some((queued, written)) = self.recorder_counts().await? {
            if queued <= self.records_never_queued {
                break;
            }
            self.service.ensure_running()?;
            if written != last_written {
                last_written = written;
                progress_at = Instant::now();
            } else if progress_at.elapsed() > stall {
                self.check_lookup(&fast_names(1)).await?;
                tokio::time::sleep(Duration::from_secs(1)).await;
                match self.recorder_counts().await? {
                    Some((still_queued, now_written)) if now_written > written => {
                        drained_at = Some(progress_at);
                        unaccounted += still_queued - self.records_never_queued;
                        self.records_never_queued = still_queued;
                        continue;
                    }
                    _ => bail!(
                        "the gateway's recorder stored nothing for {stall:?} with {queued} records \
                         queued, nor the record of one more Lookup; its recorder metrics:\n{}\n\
                         its output:\n{}",
                        self.recorder_metrics().await,
                        self.service.output_tail()
                    ),
                }
            }
            if started.elapsed() > timeout {
                bail!(
                    "the gateway still had {queued} request records to store after {timeout:?}; \
                     its recorder metrics:\n{}\nits output:\n{}",
                    self.recorder_metrics().await,
                    self.service.output_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Drain {
            seconds: drained_at
                .unwrap_or_else(Instant::now)
                .saturating_duration_since(started)
                .as_secs_f64(),
            unaccounted,
        })
    }

    /// Request records queued and not stored yet (none when the gateway does not export
    /// the gauge).
    pub async fn records_queued(&self) -> anyhow::Result<f64> {
        Ok(self
            .recorder_counts()
            .await?
            .map_or(0.0, |(queued, _)| queued - self.records_never_queued))
    }

    /// The gateway's process id.
    pub fn pid(&self) -> u32 {
        self.service.pid()
    }

    /// The gateway's peak resident set size (KiB).
    pub fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        procs::peak_rss_kib(self.service.pid())
    }

    /// Fails, with the gateway's output, if it has exited.
    pub fn ensure_running(&mut self) -> anyhow::Result<()> {
        self.service.ensure_running()
    }

    /// Stops the gateway.
    pub fn stop(mut self) {
        self.service.stop();
    }
}

fn expect_json(reply: &Reply, step: &str) -> anyhow::Result<Value> {
    if !reply.status.is_success() {
        bail!("{step}: {} {}", reply.status, reply.text());
    }
    serde_json::from_slice(&reply.body)
        .with_context(|| format!("{step}: the answer is not JSON: {}", reply.text()))
}

fn string(value: &Value, field: &str, step: &str) -> anyhow::Result<String> {
    value[field]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("{step}: no {field} in {value}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The value of an unlabelled metric.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let (metric, value) = line.split_once(' ')?;
        (metric == name).then(|| value.trim().parse().ok()).flatten()
    })
}

/// Sums `addon_requests_total` by its `outcome` label.
fn outcomes(metrics: &str) -> BTreeMap<String, u64> {
    let mut totals = BTreeMap::new();
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("addon_requests_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.split_once('}') else {
            continue;
        };
        let outcome = labels
            .split(',')
            .find_map(|label| label.trim().strip_prefix("outcome="))
            .map(|quoted| quoted.trim_matches('"').to_owned());
        let count = value.trim().parse::<f64>().ok();
        if let (Some(outcome), Some(count)) = (outcome, count) {
            *totals.entry(outcome).or_insert(0) += count as u64;
        }
    }
    totals
}

/// The outcomes in `after` that are not in `before`, other than `success`.
pub fn failures_between(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter(|(outcome, _)| outcome.as_str() != "success")
        .filter_map(|(outcome, count)| {
            let new = count.saturating_sub(before.get(outcome).copied().unwrap_or(0));
            (new > 0).then(|| (outcome.clone(), new))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lookup_succeeds_only_when_every_add_on_did() {
        let names = fast_names(2);
        let good = br#"{"add_ons": {"status": "successful", "results": {
            "bench_fast_1": {"status": "successful"}, "bench_fast_2": {"status": "successful"}}}}"#;
        assert_eq!(check_lookup(good, &names), Ok(()));
        let one_failed = br#"{"add_ons": {"status": "successful", "results": {
            "bench_fast_1": {"status": "successful"}, "bench_fast_2": {"status": "failed", "code": 61001}}}}"#;
        assert!(check_lookup(one_failed, &names).is_err());
        assert!(check_lookup(b"not json", &names).is_err());
    }

    #[test]
    fn the_manifest_is_a_lookup_add_on_with_a_json_post() {
        let manifest = manifest("bench_fast_1", "http://127.0.0.1:1/fast");
        assert_eq!(manifest["integration_points"], json!(["lookups"]));
        assert_eq!(manifest["endpoint"]["carrier"], "json");
        assert_eq!(manifest["parameters"]["number"], "{{primary_address}}");
        assert_eq!(manifest["pricing"]["model"], "pay-per-use");
    }

    #[test]
    fn reads_add_on_outcomes_from_the_metrics() {
        let text = "# HELP addon_requests_total x\n# TYPE addon_requests_total counter\n\
            addon_requests_total{add_on=\"a\",outcome=\"success\"} 10\n\
            addon_requests_total{add_on=\"b\",outcome=\"success\"} 5\n\
            addon_requests_total{add_on=\"b\",outcome=\"61002\"} 2\n\
            addon_attempts_total{add_on=\"b\",result=\"ok\"} 7\n";
        assert_eq!(
            sample(
                "# HELP addon_records_queued x\naddon_records_queued 12\n",
                "addon_records_queued"
            ),
            Some(12.0)
        );
        assert_eq!(sample(text, "addon_records_queued"), None);
        let totals = outcomes(text);
        assert_eq!(totals.get("success"), Some(&15));
        assert_eq!(totals.get("61002"), Some(&2));
        let before = BTreeMap::from([("success".to_owned(), 1), ("61002".to_owned(), 1)]);
        assert_eq!(
            failures_between(&before, &totals),
            BTreeMap::from([("61002".to_owned(), 1)])
        );
    }
}
