//! The results: one table (plain text on stdout, markdown in `latest.md`) and the same data as
//! JSON.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use crate::cpu::CpuPerRequest;
use crate::load::{Latencies, RateResult};
use crate::pg::DatabaseWork;
use crate::wrk::WrkResult;

/// Everything one run measured, and how.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// When the run started (UTC, RFC 3339).
    pub date: String,
    /// `git rev-parse HEAD`.
    pub git_commit: String,
    /// Whether tracked files other than the results differed from that commit.
    pub git_dirty: bool,
    /// The machine.
    pub machine: Machine,
    /// The tools' versions.
    pub tools: Tools,
    /// The run's settings.
    pub settings: Settings,
    /// One entry per storage variant.
    pub variants: Vec<VariantReport>,
}

/// The machine the run was on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Logical CPUs (`nproc`).
    pub nproc: usize,
    /// `model name` from /proc/cpuinfo.
    pub cpu_model: String,
    /// `MemTotal` from /proc/meminfo (KiB).
    pub memory_kib: u64,
    /// The kernel release.
    pub kernel: String,
}

/// Versions of the programs measured or measuring.
#[derive(Debug, Clone, Serialize)]
pub struct Tools {
    /// `wrk -v`.
    pub wrk: String,
    /// `nginx -v`.
    pub nginx: String,
    /// `SELECT version()`, when PostgreSQL was used.
    pub postgres: Option<String>,
}

/// The settings a run used.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Seconds of each measurement (wrk and fixed rate).
    pub duration_secs: u64,
    /// Seconds of warm-up before each.
    pub warmup_secs: u64,
    /// wrk's threads.
    pub wrk_threads: u32,
    /// wrk's connections.
    pub wrk_connections: u32,
    /// The fixed rate as a fraction of the gateway's maximum Lookup+1 rate.
    pub load_fraction: f64,
    /// Pairs of fixed-rate runs per added-p99 figure (the median pair is reported).
    pub rate_runs: u32,
    /// Concurrent requests in the fan-out comparison.
    pub fanout_concurrency: usize,
    /// Requests measured per fan-out case.
    pub fanout_requests: u64,
    /// Lookups in the database batch.
    pub database_lookups: u64,
    /// Seconds waited for PostgreSQL's statistics to settle.
    pub database_settle_secs: u64,
    /// The publisher's delay on its slow path (ms).
    pub slow_delay_ms: u64,
}

/// A wrk run against the gateway, with what the gateway counted meanwhile.
#[derive(Debug, Clone, Serialize)]
pub struct GatewayWrk {
    /// wrk's figures.
    #[serde(flatten)]
    pub wrk: WrkResult,
    /// Add-ons per Lookup.
    pub add_ons: usize,
    /// Add-on results that were not successful during the warm-up and the measurement, by
    /// error code (the gateway's `addon_requests_total`): a Lookup answers 200 even when its
    /// Add-ons fail, which wrk cannot see.
    pub add_on_failures: BTreeMap<String, u64>,
    /// Seconds the gateway took, after the run, to store the request records still queued
    /// (the next measurement starts after that).
    pub records_drain_secs: f64,
    /// Records the gateway's queue gauge counted but never stored (requests cancelled while
    /// waiting for room in the recorder's queue, when the load ended).
    pub records_unaccounted: f64,
}

/// The fixed-rate comparison.
#[derive(Debug, Clone, Serialize)]
pub struct FixedRate {
    /// The rate (requests/s).
    pub rate: f64,
    /// The publisher called directly at that rate.
    pub publisher: RateResult,
    /// Lookup with one Add-on at that rate.
    pub lookup_1: RateResult,
    /// `lookup_1.p99 - publisher.p99` (ms), of the pair with the median added p99.
    pub added_p99_ms: f64,
    /// Every pair's added p99, in the order measured (ms).
    pub added_p99_runs_ms: Vec<f64>,
}

/// The same fixed-rate comparison for the bare hyper proxy, at the same fraction of its own
/// maximum: the added p99 of the stack itself, doing nothing but pass requests on.
#[derive(Debug, Clone, Serialize)]
pub struct StackFloor {
    /// The rate (requests/s).
    pub rate: f64,
    /// The publisher called directly at that rate.
    pub publisher: RateResult,
    /// The hyper proxy at that rate.
    pub proxy: RateResult,
    /// `proxy.p99 - publisher.p99` (ms), of the pair with the median added p99.
    pub added_p99_ms: f64,
    /// Every pair's added p99, in the order measured (ms).
    pub added_p99_runs_ms: Vec<f64>,
}

/// The fan-out comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Fanout {
    /// Concurrent requests.
    pub concurrency: usize,
    /// Lookup with one slow Add-on.
    pub one_slow: Latencies,
    /// Lookup with ten slow Add-ons.
    pub ten_slow: Latencies,
    /// `ten_slow.p50 / one_slow.p50`.
    pub median_ratio: f64,
    /// `ten_slow.p99 / one_slow.p99`.
    pub p99_ratio: f64,
}

/// One target, met or not.
#[derive(Debug, Clone, Serialize)]
pub struct TargetCheck {
    /// What is compared.
    pub name: String,
    /// The bound, as text (`>= 1.00`).
    pub target: String,
    /// The measured value.
    pub value: f64,
    /// Whether the value is within the bound.
    pub met: bool,
}

impl TargetCheck {
    /// `value >= bound`.
    pub fn at_least(name: &str, value: f64, bound: f64) -> TargetCheck {
        TargetCheck {
            name: name.to_owned(),
            target: format!(">= {bound:.2}"),
            value,
            met: value >= bound,
        }
    }

    /// `value <= bound`.
    pub fn at_most(name: &str, value: f64, bound: f64) -> TargetCheck {
        TargetCheck {
            name: name.to_owned(),
            target: format!("<= {bound:.2}"),
            value,
            met: value <= bound,
        }
    }

    fn verdict(&self) -> &'static str {
        if self.met { "met" } else { "NOT met" }
    }
}

/// One storage variant's results.
#[derive(Debug, Clone, Serialize)]
pub struct VariantReport {
    /// `sqlite` or `postgres`.
    pub variant: String,
    /// The publisher called directly, with wrk.
    pub publisher: WrkResult,
    /// nginx in front of the publisher, with wrk.
    pub nginx: WrkResult,
    /// The bare hyper proxy (`bench proxy`) in front of the publisher, with wrk.
    pub stack_proxy: WrkResult,
    /// Lookup with one fast Add-on, with wrk.
    pub lookup_1: GatewayWrk,
    /// Lookup with five fast Add-ons, with wrk.
    pub lookup_5: GatewayWrk,
    /// `lookup_1.requests_per_sec / nginx.requests_per_sec`.
    pub lookup_1_over_nginx: f64,
    /// `lookup_1.requests_per_sec / stack_proxy.requests_per_sec`.
    pub lookup_1_over_stack_proxy: f64,
    /// The fixed-rate comparison.
    pub fixed_rate: FixedRate,
    /// The fixed-rate comparison for the hyper proxy.
    pub stack_floor: StackFloor,
    /// The fan-out comparison.
    pub fanout: Fanout,
    /// The gateway's `VmHWM` at the end of the variant (KiB).
    pub gateway_peak_rss_kib: u64,
    /// Database work per Lookup (PostgreSQL only).
    pub database: Option<DatabaseWork>,
    /// The targets.
    pub targets: Vec<TargetCheck>,
}

/// Rows of text cells under a header.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn plain(&self) -> String {
        let columns = self.header.len();
        let mut widths = vec![0; columns];
        for row in std::iter::once(&self.header).chain(&self.rows) {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |row: &Vec<String>| {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (cell, width))| {
                    // The first column is a label: left-aligned; the figures right-aligned.
                    if i == 0 {
                        format!("{cell:<width$}")
                    } else {
                        format!("{cell:>width$}")
                    }
                })
                .collect();
            cells.join("   ").trim_end().to_owned()
        };
        let mut out = line(&self.header);
        out.push('\n');
        out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 3 * (columns - 1)));
        out.push('\n');
        for row in &self.rows {
            out.push_str(&line(row));
            out.push('\n');
        }
        out
    }

    fn markdown(&self) -> String {
        let line = |row: &Vec<String>| format!("| {} |\n", row.join(" | "));
        let mut out = line(&self.header);
        let rule: Vec<String> = (0..self.header.len())
            .map(|i| {
                if i == 0 {
                    "---".to_owned()
                } else {
                    "---:".to_owned()
                }
            })
            .collect();
        out.push_str(&line(&rule));
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }
}

/// `12345.6` as `12,346`.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn pair(first: f64, second: f64) -> String {
    format!("{first:.2} / {second:.2}")
}

/// Every run's figure, in the order measured: `1.20 / 3.40 / 2.10`.
fn runs(values: &[f64]) -> String {
    values
        .iter()
        .map(|value| format!("{value:.2}"))
        .collect::<Vec<_>>()
        .join(" / ")
}

fn with_verdict(text: String, check: Option<&TargetCheck>) -> String {
    match check {
        Some(check) => format!("{text} ({})", check.verdict()),
        None => text,
    }
}

/// `machine = server + publisher + PostgreSQL + other (stolen …)`, in µs, `-` for what was not
/// watched.
fn cpu_split(cpu: Option<&CpuPerRequest>) -> String {
    let Some(cpu) = cpu else {
        return "n/a".to_owned();
    };
    let part = |us: Option<f64>| us.map_or_else(|| "-".to_owned(), |us| format!("{us:.1}"));
    format!(
        "{:.1} = {} + {:.1} + {} + {:.1} (stolen {:.1})",
        cpu.machine_us,
        part(cpu.server_us),
        cpu.publisher_us,
        part(cpu.postgres_us),
        cpu.other_us,
        cpu.stolen_us
    )
}

/// The server's own CPU time per request, its database's included.
fn server_cost(cpu: &CpuPerRequest) -> f64 {
    cpu.server_us.unwrap_or(0.0) + cpu.postgres_us.unwrap_or(0.0)
}

/// `cost(measured) / cost(baseline)`, to two places.
fn cpu_ratio(
    measured: Option<&CpuPerRequest>,
    baseline: Option<&CpuPerRequest>,
    cost: impl Fn(&CpuPerRequest) -> f64,
) -> String {
    match (measured, baseline) {
        (Some(measured), Some(baseline)) if cost(baseline) > 0.0 => {
            format!("{:.2}", cost(measured) / cost(baseline))
        }
        _ => "n/a".to_owned(),
    }
}

fn failures(wrk: &GatewayWrk) -> String {
    let total: u64 = wrk.add_on_failures.values().sum();
    total.to_string()
}

impl Report {
    fn table(&self) -> Table {
        let mut header = vec!["metric".to_owned()];
        header.extend(self.variants.iter().map(|v| v.variant.clone()));
        header.push("target".to_owned());
        let percent = format!("{:.0} %", self.settings.load_fraction * 100.0);
        let target = |i: usize| -> String {
            self.variants
                .first()
                .and_then(|v| v.targets.get(i))
                .map(|t| t.target.clone())
                .unwrap_or_default()
        };
        type Cell = Box<dyn Fn(&VariantReport) -> String>;
        let rows: Vec<(String, Cell, String)> = vec![
            (
                "publisher direct: req/s".into(),
                Box::new(|v: &VariantReport| thousands(v.publisher.requests_per_sec)),
                String::new(),
            ),
            (
                "publisher direct: p50 / p99 ms".into(),
                Box::new(|v: &VariantReport| pair(v.publisher.p50_ms, v.publisher.p99_ms)),
                String::new(),
            ),
            (
                "nginx proxy_pass: req/s".into(),
                Box::new(|v: &VariantReport| thousands(v.nginx.requests_per_sec)),
                String::new(),
            ),
            (
                "nginx proxy_pass: p50 / p99 ms".into(),
                Box::new(|v: &VariantReport| pair(v.nginx.p50_ms, v.nginx.p99_ms)),
                String::new(),
            ),
            (
                "hyper proxy (same stack): req/s".into(),
                Box::new(|v: &VariantReport| thousands(v.stack_proxy.requests_per_sec)),
                String::new(),
            ),
            (
                "hyper proxy (same stack): p50 / p99 ms".into(),
                Box::new(|v: &VariantReport| pair(v.stack_proxy.p50_ms, v.stack_proxy.p99_ms)),
                String::new(),
            ),
            (
                "gateway Lookup+1: req/s".into(),
                Box::new(|v: &VariantReport| thousands(v.lookup_1.wrk.requests_per_sec)),
                String::new(),
            ),
            (
                "gateway Lookup+1: p50 / p99 ms".into(),
                Box::new(|v: &VariantReport| pair(v.lookup_1.wrk.p50_ms, v.lookup_1.wrk.p99_ms)),
                String::new(),
            ),
            (
                "gateway Lookup+5: req/s".into(),
                Box::new(|v: &VariantReport| thousands(v.lookup_5.wrk.requests_per_sec)),
                String::new(),
            ),
            (
                "gateway Lookup+5: p50 / p99 ms".into(),
                Box::new(|v: &VariantReport| pair(v.lookup_5.wrk.p50_ms, v.lookup_5.wrk.p99_ms)),
                String::new(),
            ),
            (
                "failed Add-on results under wrk (+1 / +5)".into(),
                Box::new(|v: &VariantReport| {
                    format!("{} / {}", failures(&v.lookup_1), failures(&v.lookup_5))
                }),
                "0".into(),
            ),
            (
                "records still to store after wrk (+1 / +5), s".into(),
                Box::new(|v: &VariantReport| {
                    format!(
                        "{:.1} / {:.1}",
                        v.lookup_1.records_drain_secs, v.lookup_5.records_drain_secs
                    )
                }),
                String::new(),
            ),
            (
                "records counted, never stored (+1 / +5)".into(),
                Box::new(|v: &VariantReport| {
                    format!(
                        "{} / {}",
                        v.lookup_1.records_unaccounted, v.lookup_5.records_unaccounted
                    )
                }),
                "0".into(),
            ),
            (
                "Lookup+1 / nginx, req/s".into(),
                Box::new(|v: &VariantReport| {
                    with_verdict(format!("{:.2}", v.lookup_1_over_nginx), v.targets.first())
                }),
                target(0),
            ),
            (
                "Lookup+1 / hyper proxy, req/s".into(),
                Box::new(|v: &VariantReport| format!("{:.2}", v.lookup_1_over_stack_proxy)),
                String::new(),
            ),
            (
                "CPU µs/request: machine = server + publisher + pg + other".into(),
                Box::new(|_: &VariantReport| String::new()),
                String::new(),
            ),
            (
                "  publisher direct".into(),
                Box::new(|v: &VariantReport| cpu_split(v.publisher.cpu.as_ref())),
                String::new(),
            ),
            (
                "  nginx proxy_pass".into(),
                Box::new(|v: &VariantReport| cpu_split(v.nginx.cpu.as_ref())),
                String::new(),
            ),
            (
                "  hyper proxy (same stack)".into(),
                Box::new(|v: &VariantReport| cpu_split(v.stack_proxy.cpu.as_ref())),
                String::new(),
            ),
            (
                "  gateway Lookup+1".into(),
                Box::new(|v: &VariantReport| cpu_split(v.lookup_1.wrk.cpu.as_ref())),
                String::new(),
            ),
            (
                "  gateway Lookup+5".into(),
                Box::new(|v: &VariantReport| cpu_split(v.lookup_5.wrk.cpu.as_ref())),
                String::new(),
            ),
            (
                "Lookup+1 / nginx, server CPU/request".into(),
                Box::new(|v: &VariantReport| {
                    cpu_ratio(v.lookup_1.wrk.cpu.as_ref(), v.nginx.cpu.as_ref(), server_cost)
                }),
                String::new(),
            ),
            (
                "Lookup+1 / hyper proxy, server CPU/request".into(),
                Box::new(|v: &VariantReport| {
                    cpu_ratio(
                        v.lookup_1.wrk.cpu.as_ref(),
                        v.stack_proxy.cpu.as_ref(),
                        server_cost,
                    )
                }),
                String::new(),
            ),
            (
                "Lookup+1 / nginx, machine CPU/request".into(),
                Box::new(|v: &VariantReport| {
                    cpu_ratio(v.lookup_1.wrk.cpu.as_ref(), v.nginx.cpu.as_ref(), |cpu| {
                        cpu.machine_us
                    })
                }),
                String::new(),
            ),
            (
                format!("fixed rate ({percent} of Lookup+1 max): req/s"),
                Box::new(|v: &VariantReport| thousands(v.fixed_rate.rate)),
                String::new(),
            ),
            (
                "  p99 Lookup+1 / publisher direct, ms".into(),
                Box::new(|v: &VariantReport| {
                    pair(
                        v.fixed_rate.lookup_1.latencies.p99_ms,
                        v.fixed_rate.publisher.latencies.p99_ms,
                    )
                }),
                String::new(),
            ),
            (
                "  p50 Lookup+1 / publisher direct, ms".into(),
                Box::new(|v: &VariantReport| {
                    pair(
                        v.fixed_rate.lookup_1.latencies.p50_ms,
                        v.fixed_rate.publisher.latencies.p50_ms,
                    )
                }),
                String::new(),
            ),
            (
                "  gateway's added p99, ms".into(),
                Box::new(|v: &VariantReport| {
                    with_verdict(format!("{:.2}", v.fixed_rate.added_p99_ms), v.targets.get(1))
                }),
                target(1),
            ),
            (
                "  added p99 of each pair, ms".into(),
                Box::new(|v: &VariantReport| runs(&v.fixed_rate.added_p99_runs_ms)),
                String::new(),
            ),
            (
                format!("fixed rate ({percent} of hyper proxy max): req/s"),
                Box::new(|v: &VariantReport| thousands(v.stack_floor.rate)),
                String::new(),
            ),
            (
                "  p99 hyper proxy / publisher direct, ms".into(),
                Box::new(|v: &VariantReport| {
                    pair(
                        v.stack_floor.proxy.latencies.p99_ms,
                        v.stack_floor.publisher.latencies.p99_ms,
                    )
                }),
                String::new(),
            ),
            (
                "  hyper proxy's added p99, ms".into(),
                Box::new(|v: &VariantReport| format!("{:.2}", v.stack_floor.added_p99_ms)),
                String::new(),
            ),
            (
                "  added p99 of each pair, ms".into(),
                Box::new(|v: &VariantReport| runs(&v.stack_floor.added_p99_runs_ms)),
                String::new(),
            ),
            (
                "fan-out p50: 1 slow / 10 slow, ms".into(),
                Box::new(|v: &VariantReport| pair(v.fanout.one_slow.p50_ms, v.fanout.ten_slow.p50_ms)),
                String::new(),
            ),
            (
                "fan-out p99: 1 slow / 10 slow, ms".into(),
                Box::new(|v: &VariantReport| pair(v.fanout.one_slow.p99_ms, v.fanout.ten_slow.p99_ms)),
                String::new(),
            ),
            (
                "fan-out 10 / 1: p50 ratio".into(),
                Box::new(|v: &VariantReport| {
                    with_verdict(format!("{:.3}", v.fanout.median_ratio), v.targets.get(2))
                }),
                target(2),
            ),
            (
                "fan-out 10 / 1: p99 ratio".into(),
                Box::new(|v: &VariantReport| format!("{:.3}", v.fanout.p99_ratio)),
                String::new(),
            ),
            (
                "gateway peak RSS (VmHWM), MiB".into(),
                Box::new(|v: &VariantReport| format!("{:.1}", v.gateway_peak_rss_kib as f64 / 1024.0)),
                String::new(),
            ),
            (
                "db transactions / Lookup".into(),
                Box::new(|v: &VariantReport| database(v, |w| format!("{:.3}", w.per_lookup.transactions))),
                "batched".into(),
            ),
            (
                "db rows read / Lookup (returned + fetched)".into(),
                Box::new(|v: &VariantReport| database(v, |w| format!("{:.3}", w.per_lookup.rows_read))),
                "0".into(),
            ),
            (
                "db table scans / Lookup (seq + idx)".into(),
                Box::new(|v: &VariantReport| database(v, |w| format!("{:.3}", w.per_lookup.table_scans))),
                String::new(),
            ),
            (
                "  of which seq / idx".into(),
                Box::new(|v: &VariantReport| {
                    database(v, |w| pair(w.per_lookup.seq_scans, w.per_lookup.idx_scans))
                }),
                "0 seq".into(),
            ),
            (
                "db rows inserted / Lookup".into(),
                Box::new(|v: &VariantReport| database(v, |w| format!("{:.3}", w.per_lookup.rows_inserted))),
                String::new(),
            ),
        ];
        let rows = rows
            .into_iter()
            .map(|(label, cell, target)| {
                let mut row = vec![label];
                row.extend(self.variants.iter().map(&cell));
                row.push(target);
                row
            })
            .collect();
        Table { header, rows }
    }

    /// The table as plain text.
    pub fn plain(&self) -> String {
        self.table().plain()
    }

    fn heading(&self) -> String {
        let s = &self.settings;
        let dirty = if self.git_dirty {
            " (with uncommitted changes)"
        } else {
            ""
        };
        format!(
            "Date: {}\nCommit: {}{dirty}\nMachine: {} CPUs, {}, {:.1} GiB, Linux {}\n\
             Tools: {}; {}{}\n\
             Durations: {} s per measurement after {} s of warm-up; wrk -t{} -c{}; fixed rate at {:.0} % \
             of the Lookup+1 maximum, median of {} pairs; fan-out {} requests per case at {} concurrent; database batch of {} Lookups, \
             statistics settled for {} s\n",
            self.date,
            self.git_commit,
            self.machine.nproc,
            self.machine.cpu_model,
            self.machine.memory_kib as f64 / 1024.0 / 1024.0,
            self.machine.kernel,
            self.tools.wrk,
            self.tools.nginx,
            self.tools
                .postgres
                .as_deref()
                .map(|v| format!("; {v}"))
                .unwrap_or_default(),
            s.duration_secs,
            s.warmup_secs,
            s.wrk_threads,
            s.wrk_connections,
            s.load_fraction * 100.0,
            s.rate_runs,
            s.fanout_requests,
            s.fanout_concurrency,
            s.database_lookups,
            s.database_settle_secs,
        )
    }

    /// The targets, one line each, per variant.
    fn verdicts(&self) -> Vec<String> {
        self.variants
            .iter()
            .flat_map(|v| {
                v.targets.iter().map(move |t| {
                    format!(
                        "{}: {} {} (measured {:.3}): {}",
                        v.variant,
                        t.name,
                        t.target,
                        t.value,
                        t.verdict()
                    )
                })
            })
            .collect()
    }

    /// What goes to stdout.
    pub fn text(&self) -> String {
        let mut out = self.heading();
        out.push('\n');
        out.push_str(&self.plain());
        out.push('\n');
        for line in self.verdicts() {
            out.push_str(&line);
            out.push('\n');
        }
        out
    }

    /// `latest.md`.
    pub fn markdown(&self) -> String {
        let mut out = String::from("# Gateway benchmark\n\n");
        for line in self.heading().lines() {
            out.push_str(&format!("- {line}\n"));
        }
        out.push('\n');
        out.push_str(&self.table().markdown());
        out.push_str("\n## Targets\n\n");
        for line in self.verdicts() {
            out.push_str(&format!("- {line}\n"));
        }
        out.push_str(METHOD);
        out
    }

    /// Writes `<timestamp>.json`, `latest.json` and `latest.md` into `dir`; returns their paths.
    pub fn write(&self, dir: &Path, stamp: &str) -> anyhow::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut json = serde_json::to_string_pretty(self).context("encoding the results")?;
        json.push('\n');
        let files = [
            (dir.join(format!("{stamp}.json")), json.clone()),
            (dir.join("latest.json"), json),
            (dir.join("latest.md"), self.markdown()),
        ];
        let mut written = Vec::new();
        for (path, text) in files {
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            written.push(path);
        }
        Ok(written)
    }
}

fn database(variant: &VariantReport, cell: impl Fn(&DatabaseWork) -> String) -> String {
    variant.database.as_ref().map_or_else(|| "n/a".to_owned(), cell)
}

/// How each figure is measured, for `latest.md`.
const METHOD: &str = "
## How each figure is measured

- **req/s, p50 / p99**: `wrk` (closed loop: each connection sends its next request when the
  previous one is answered), after a warm-up run; percentiles are wrk's. The publisher is called
  at `GET /fast`; nginx proxies to it (2 workers, upstream `keepalive 64`, HTTP/1.1, access log
  off); `bench proxy` is a bare reverse proxy on the gateway's own stack (tokio's multi-threaded
  runtime, hyper's HTTP/1 server with `TCP_NODELAY`, hyper's pooled client), passing each
  request through and doing nothing else: the ceiling for any service on that stack; a Lookup is `GET /v1/PhoneNumbers/+18778894546?AddOns=…` with the developer's Basic
  auth, and each of its Add-ons makes the gateway POST to the publisher.
- **CPU µs/request**: read from /proc just before and just after each measured wrk run,
  divided by the requests wrk completed: the busy time of all cores (`/proc/stat`: user,
  system, interrupts, soft interrupts; not steal, which is shown apart), and `utime + stime`
  (`/proc/<pid>/stat`) of the server measured with its children (nginx's workers), of the
  publisher, and of every `postgres` process (PostgreSQL variant, gateway runs); *other* is the
  rest of the busy time, mostly wrk. Without `CONFIG_IRQ_TIME_ACCOUNTING`, the soft interrupts
  that do the loopback TCP work count as system time of the process they interrupted, usually
  the sender. On 2 shared cores, req/s moves with everything that runs; these move much less.
  The gateway's server CPU in the ratios counts PostgreSQL's with it.
- **Failed Add-on results**: a Lookup answers 200 even when an Add-on fails, so the gateway's
  `addon_requests_total` is read before and after each wrk run; every outcome but `success` is
  counted.
- **Records still to store**: after each wrk run the bench waits until the gateway's
  `addon_records_queued` is back to zero, so that the next measurement does not pay for the
  previous one's writes; the time that took. **Records counted, never stored**: the gauge stayed
  up while the recorder went on storing new records (checked with one more Lookup), i.e. records
  counted into the queue that never reached it.
- **Added p99**: the bench's open-loop generator sends requests at a fixed rate (the given
  fraction of the Lookup+1 maximum above) on keep-alive connections, whether or not earlier
  ones have been answered, and times each from its *scheduled* send time (HdrHistogram); the
  p99 of Lookup+1 minus the p99 of the publisher called directly at the same rate. The
  publisher's p99 is the floor set by the generator and the machine. Each figure is the
  median of `--rate-runs` pairs (the publisher, then Lookup+1), all of which are listed; a
  single 10-second p99 on a busy 2-core machine moves by several times. **The hyper proxy's
  added p99**: the same, for the bare hyper proxy at the same fraction of *its own* maximum
  (the machine as busy as for the gateway's figure): what the stack alone adds at that load.
- **Fan-out**: Lookups with 1 and with 10 Add-ons whose publisher answers after 100 ms,
  a fixed number of concurrent clients each sending its next request when answered; the ratio of
  the medians (and of the p99s). Every answer is checked to hold a successful result per Add-on.
- **Peak RSS**: `VmHWM` from `/proc/<gateway pid>/status` at the end of the variant, after all
  of the above.
- **Database work** (PostgreSQL): the gateway database's `xact_commit`, `tup_returned`,
  `tup_fetched`, `tup_inserted` (`pg_stat_database`) and the sums of `seq_scan` and `idx_scan`
  over its user tables, read through the `pg_stat_get_*` functions (which read no table). Each
  reading waits for the backends to publish their statistics (a backend publishes at most once
  a second, and what it held back after 10 idle seconds), then for the counters to stay still
  for 2 s. Readings A and B around an idle interval, then a batch of Lookup+1, a wait until the
  gateway has stored its records, and reading C: `((C - B) - (B - A)) / lookups`, so that the
  readings' own transactions cancel out. An `INSERT … ON CONFLICT` counts one index scan per
  row (its uniqueness check): the JSON lists the batch's scans by table.
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_get_thousands_separators() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1234567.8), "1,234,568");
    }

    #[test]
    fn targets_are_checked_inclusively() {
        assert!(TargetCheck::at_least("x", 1.0, 1.0).met);
        assert!(!TargetCheck::at_least("x", 0.99, 1.0).met);
        assert!(TargetCheck::at_most("x", 1.1, 1.1).met);
        assert!(!TargetCheck::at_most("x", 1.2, 1.1).met);
    }

    #[test]
    fn tables_align_and_render_as_markdown() {
        let table = Table {
            header: vec!["metric".into(), "sqlite".into()],
            rows: vec![vec!["req/s".into(), "1,000".into()]],
        };
        assert_eq!(
            table.plain(),
            "metric   sqlite\n---------------\nreq/s     1,000\n"
        );
        assert_eq!(
            table.markdown(),
            "| metric | sqlite |\n| --- | ---: |\n| req/s | 1,000 |\n"
        );
    }
}
