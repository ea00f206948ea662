//! Maximum throughput with `wrk`: a closed loop of keep-alive connections, each sending its
//! next request as soon as the previous one is answered. A Lua `done` hook prints the summary
//! and wrk's own latency percentiles on one parseable line.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};
use serde::Serialize;

use crate::cpu::{CpuPerRequest, Watched};

/// The Lua script: one `BENCH_RESULT key=value …` line at the end of the run.
const DONE_SCRIPT: &str = r#"-- Written by the bench: prints wrk's results on one line it parses.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_us=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d non_2xx=%d p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f mean_us=%.1f\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"#;

/// How wrk is run.
#[derive(Debug, Clone)]
pub struct Wrk {
    /// The Lua script's path.
    script: PathBuf,
    /// `-t`.
    pub threads: u32,
    /// `-c`.
    pub connections: u32,
    /// Seconds of warm-up before each measurement (not recorded).
    pub warmup_secs: u64,
    /// Seconds of each measurement.
    pub duration_secs: u64,
}

/// What one wrk run measured.
#[derive(Debug, Clone, Serialize)]
pub struct WrkResult {
    /// Requests completed.
    pub requests: u64,
    /// Measured seconds.
    pub seconds: f64,
    /// Requests per second.
    pub requests_per_sec: f64,
    /// Connect, read and write errors and timeouts.
    pub socket_errors: u64,
    /// Answers with a status of 400 or more.
    pub non_2xx: u64,
    /// Median latency (ms).
    pub p50_ms: f64,
    /// 90th percentile (ms).
    pub p90_ms: f64,
    /// 99th percentile (ms).
    pub p99_ms: f64,
    /// Largest latency (ms).
    pub max_ms: f64,
    /// Mean latency (ms).
    pub mean_ms: f64,
    /// CPU time per request during the measurement, where /proc could be read.
    pub cpu: Option<CpuPerRequest>,
}

impl Wrk {
    /// Writes the Lua script into `dir`.
    pub fn new(
        dir: &Path,
        threads: u32,
        connections: u32,
        warmup_secs: u64,
        duration_secs: u64,
    ) -> anyhow::Result<Wrk> {
        let script = dir.join("bench-done.lua");
        std::fs::write(&script, DONE_SCRIPT).with_context(|| format!("writing {}", script.display()))?;
        Ok(Wrk {
            script,
            threads,
            connections,
            warmup_secs,
            duration_secs,
        })
    }

    /// Warms up, then measures `url` (GET, with the `Authorization` header when given), with
    /// the CPU time the `watched` processes spend meanwhile.
    pub async fn measure(
        &self,
        url: &str,
        authorization: Option<&str>,
        watched: &Watched,
    ) -> anyhow::Result<WrkResult> {
        if self.warmup_secs > 0 {
            self.run(url, authorization, self.warmup_secs)
                .await
                .context("warm-up")?;
        }
        let before = watched.snapshot();
        let mut result = self.run(url, authorization, self.duration_secs).await?;
        result.cpu = before
            .zip(watched.snapshot())
            .map(|(before, after)| before.per_request(&after, result.requests));
        Ok(result)
    }

    async fn run(&self, url: &str, authorization: Option<&str>, seconds: u64) -> anyhow::Result<WrkResult> {
        let mut command = tokio::process::Command::new("wrk");
        command
            .arg(format!("-t{}", self.threads))
            .arg(format!("-c{}", self.connections))
            .arg(format!("-d{seconds}s"))
            .arg("--timeout")
            .arg("10s")
            .arg("-s")
            .arg(&self.script);
        if let Some(authorization) = authorization {
            command.arg("-H").arg(format!("Authorization: {authorization}"));
        }
        command.arg(url).stdin(Stdio::null()).kill_on_drop(true);
        let output = command
            .output()
            .await
            .context("running wrk (is it installed? scripts/bench.sh installs it)")?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            bail!(
                "wrk {url} failed ({}):\n{stdout}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        parse(&stdout).with_context(|| format!("reading wrk's output for {url}:\n{stdout}"))
    }
}

/// Reads the `BENCH_RESULT` line.
pub fn parse(stdout: &str) -> anyhow::Result<WrkResult> {
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix("BENCH_RESULT "))
        .context("no BENCH_RESULT line")?;
    let value = |key: &str| -> anyhow::Result<f64> {
        line.split_whitespace()
            .find_map(|pair| pair.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
            .with_context(|| format!("no {key} in {line:?}"))?
            .parse::<f64>()
            .with_context(|| format!("{key} is not a number in {line:?}"))
    };
    let requests = value("requests")?;
    let seconds = value("duration_us")? / 1e6;
    if seconds <= 0.0 {
        bail!("wrk ran for no time: {line:?}");
    }
    let socket_errors =
        value("connect_errors")? + value("read_errors")? + value("write_errors")? + value("timeouts")?;
    Ok(WrkResult {
        requests: requests as u64,
        seconds,
        requests_per_sec: requests / seconds,
        socket_errors: socket_errors as u64,
        non_2xx: value("non_2xx")? as u64,
        p50_ms: value("p50_us")? / 1000.0,
        p90_ms: value("p90_us")? / 1000.0,
        p99_ms: value("p99_us")? / 1000.0,
        max_ms: value("max_us")? / 1000.0,
        mean_ms: value("mean_us")? / 1000.0,
        cpu: None,
    })
}

/// wrk's version line.
pub fn version() -> String {
    std::process::Command::new("wrk")
        .arg("-v")
        .output()
        .map(|output| {
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned()
        })
        .unwrap_or_else(|error| format!("unknown ({error})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_done_line() {
        let stdout = "Running 10s test @ http://127.0.0.1:1/\n  2 threads and 64 connections\n\
            BENCH_RESULT requests=200000 duration_us=10000000 connect_errors=0 read_errors=1 \
            write_errors=0 timeouts=2 non_2xx=3 p50_us=250.0 p90_us=800.0 p99_us=1500.5 \
            max_us=9000.0 mean_us=300.0\n";
        let result = parse(stdout).expect("parses");
        assert_eq!(result.requests, 200_000);
        assert!((result.requests_per_sec - 20_000.0).abs() < 1e-6);
        assert_eq!(result.socket_errors, 3);
        assert_eq!(result.non_2xx, 3);
        assert!((result.p50_ms - 0.25).abs() < 1e-9);
        assert!((result.p99_ms - 1.5005).abs() < 1e-9);
    }

    #[test]
    fn a_missing_line_is_an_error() {
        assert!(parse("Running 10s test\n").is_err());
        assert!(parse("BENCH_RESULT requests=1 duration_us=0").is_err());
    }
}
