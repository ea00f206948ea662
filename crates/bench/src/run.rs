//! The benchmark run: start the publisher and nginx once, then for each storage variant start
//! a gateway, measure, and stop it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

use crate::cpu::Watched;
use crate::gateway::{self, Gateway};
use crate::load::{self, Checker, RateResult, Target};
use crate::nginx;
use crate::pg;
use crate::procs::{self, Service};
use crate::publisher;
use crate::report::{
    Fanout, FixedRate, GatewayWrk, Machine, Report, Settings, StackFloor, TargetCheck, Tools, VariantReport,
};
use crate::wrk::{Wrk, WrkResult};

/// Where the gateway keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Variant {
    /// The embedded SQLite database.
    Sqlite,
    /// PostgreSQL (a new database per run, dropped at the end).
    Postgres,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Sqlite => "sqlite",
            Variant::Postgres => "postgres",
        }
    }
}

/// Options of `bench run`.
#[derive(Debug, Clone, Args)]
pub struct RunOptions {
    /// Seconds of each measurement (wrk runs and fixed-rate runs).
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Seconds of warm-up before each measurement.
    #[arg(long, default_value_t = 2)]
    pub warmup: u64,
    /// Storage variants to run, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "sqlite,postgres")]
    pub variants: Vec<Variant>,
    /// wrk's threads (-t).
    #[arg(long, default_value_t = 2)]
    pub threads: u32,
    /// wrk's connections (-c).
    #[arg(long, default_value_t = 64)]
    pub connections: u32,
    /// The fixed rate of the latency comparison, as a fraction of the gateway's maximum
    /// Lookup+1 rate.
    #[arg(long, default_value_t = 0.5)]
    pub load_fraction: f64,
    /// Pairs of fixed-rate runs (the publisher called directly, then what is measured) per
    /// added-p99 figure; the figure is the pair whose added p99 is the median.
    #[arg(long, default_value_t = 3)]
    pub rate_runs: u32,
    /// Concurrent requests in the fan-out comparison.
    #[arg(long, default_value_t = 4)]
    pub fanout_concurrency: usize,
    /// Requests measured per fan-out case.
    #[arg(long, default_value_t = 200)]
    pub fanout_requests: u64,
    /// Lookups in the PostgreSQL statistics batch.
    #[arg(long, default_value_t = 2000)]
    pub db_lookups: u64,
    /// Seconds to let PostgreSQL's statistics settle before each reading (backends report
    /// held-back statistics after 10 idle seconds).
    #[arg(long, default_value_t = 11)]
    pub db_settle: u64,
    /// The PostgreSQL server, without a database name.
    #[arg(
        long,
        env = "BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432"
    )]
    pub postgres_url: String,
    /// The gateway binary.
    #[arg(long, default_value = "target/release/addons-gateway")]
    pub gateway_bin: PathBuf,
    /// Where the results go.
    #[arg(long, default_value = "bench/results")]
    pub results_dir: PathBuf,
}

/// How long the gateway may take to store the request records of a load run.
pub(crate) const RECORDS_TIMEOUT: Duration = Duration::from_secs(300);

/// The databases a run created and has not dropped yet, for cleaning up after an interrupt.
pub type Databases = Arc<Mutex<Vec<String>>>;

/// What every variant shares.
struct Shared<'a> {
    options: &'a RunOptions,
    dir: &'a Path,
    wrk: Wrk,
    publisher_port: u16,
    nginx_port: u16,
    stack_proxy_port: u16,
    /// The process ids of the publisher, nginx and the hyper proxy.
    publisher_pid: u32,
    nginx_pid: u32,
    stack_proxy_pid: u32,
    postgres: Option<pg::Server>,
    databases: Databases,
}

impl Shared<'_> {
    /// The processes whose CPU time a wrk run against `server` (none: the publisher itself)
    /// reports.
    fn watching(&self, server: Option<u32>, postgres: bool) -> Watched {
        Watched {
            server,
            publisher: self.publisher_pid,
            postgres,
        }
    }
}

fn progress(variant: &str, message: &str) {
    eprintln!("[{variant}] {message}");
}

/// Starts this binary with `arguments` (plus `--watch-stdin`, so that the child goes away with
/// the bench) and waits until it listens on `port`.
pub(crate) async fn spawn_bench_child(
    launcher: &[String],
    name: &str,
    arguments: &[&str],
    port: u16,
    dir: &Path,
) -> anyhow::Result<Service> {
    let bench = std::env::current_exe().context("locating the bench binary")?;
    let mut command = procs::command_under(launcher, bench.as_os_str());
    command.args(arguments).arg("--watch-stdin");
    let mut child = Service::spawn(name, command, dir, true)?;
    // Under valgrind, starting takes a few seconds.
    child
        .wait_for_port(SocketAddr::from(([127, 0, 0, 1], port)), Duration::from_secs(60))
        .await
        .with_context(|| format!("starting the {name}"))?;
    Ok(child)
}

/// A new temporary directory for the bench's processes (their logs and databases), removed
/// when dropped.
pub(crate) fn work_dir(prefix: &str) -> anyhow::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .context("creating a temporary directory")
}

/// Starts the fast publisher on a free port; returns it and the port.
pub(crate) async fn start_publisher(dir: &Path) -> anyhow::Result<(Service, u16)> {
    let port = procs::free_port()?;
    let publisher = spawn_bench_child(
        &[],
        "publisher",
        &["publisher", "--port", &port.to_string()],
        port,
        dir,
    )
    .await?;
    Ok((publisher, port))
}

/// Starts the bare hyper proxy to the publisher on `publisher_port`, run by `launcher` (none
/// runs it directly), on a free port; returns it and the port.
pub(crate) async fn start_proxy(
    launcher: &[String],
    publisher_port: u16,
    dir: &Path,
) -> anyhow::Result<(Service, u16)> {
    let port = procs::free_port()?;
    let proxy = spawn_bench_child(
        launcher,
        "proxy",
        &[
            "proxy",
            "--port",
            &port.to_string(),
            "--upstream-port",
            &publisher_port.to_string(),
        ],
        port,
        dir,
    )
    .await?;
    Ok((proxy, port))
}

/// Runs the benchmark, prints the table and writes the results.
pub async fn run(options: &RunOptions, databases: Databases) -> anyhow::Result<()> {
    if options.variants.is_empty() {
        bail!("--variants names no variant");
    }
    if options.duration == 0 {
        bail!("--duration must be at least 1 second");
    }
    if !(options.load_fraction > 0.0 && options.load_fraction <= 1.0) {
        bail!("--load-fraction must be in (0, 1]");
    }
    if options.rate_runs == 0 {
        bail!("--rate-runs must be at least 1");
    }
    let started = chrono::Utc::now();
    let work = work_dir("addons-bench-")?;
    let dir = work.path();

    let (mut publisher, publisher_port) = start_publisher(dir).await?;

    let nginx_port = procs::free_port()?;
    let mut nginx = nginx::start(dir, nginx_port, publisher_port)
        .await
        .context("starting nginx (is it installed? scripts/bench.sh installs it)")?;

    let (mut stack_proxy, stack_proxy_port) = start_proxy(&[], publisher_port, dir).await?;

    let postgres = if options.variants.contains(&Variant::Postgres) {
        Some(pg::Server::connect(&options.postgres_url).await?)
    } else {
        None
    };
    let postgres_version = match &postgres {
        Some(server) => Some(server.version().await?),
        None => None,
    };

    let context = Shared {
        options,
        dir,
        wrk: Wrk::new(
            dir,
            options.threads,
            options.connections,
            options.warmup,
            options.duration,
        )?,
        publisher_port,
        nginx_port,
        stack_proxy_port,
        publisher_pid: publisher.pid(),
        nginx_pid: nginx.pid(),
        stack_proxy_pid: stack_proxy.pid(),
        postgres,
        databases,
    };
    let mut variants = Vec::new();
    for &variant in &options.variants {
        let result = run_variant(&context, variant)
            .await
            .with_context(|| format!("the {} variant", variant.name()))?;
        publisher.ensure_running()?;
        nginx.ensure_running()?;
        stack_proxy.ensure_running()?;
        variants.push(result);
    }
    stack_proxy.stop();
    nginx.stop();
    publisher.stop();

    let report = Report {
        date: started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        git_commit: git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".to_owned()),
        git_dirty: git_dirty(),
        machine: machine(),
        tools: Tools {
            wrk: crate::wrk::version(),
            nginx: nginx::version(),
            postgres: postgres_version,
        },
        settings: Settings {
            duration_secs: options.duration,
            warmup_secs: options.warmup,
            wrk_threads: options.threads,
            wrk_connections: options.connections,
            load_fraction: options.load_fraction,
            rate_runs: options.rate_runs,
            fanout_concurrency: options.fanout_concurrency,
            fanout_requests: options.fanout_requests,
            database_lookups: options.db_lookups,
            database_settle_secs: options.db_settle,
            slow_delay_ms: u64::try_from(publisher::SLOW_DELAY.as_millis()).unwrap_or(u64::MAX),
        },
        variants,
    };
    print!("\n{}", report.text());
    let stamp = started.format("%Y%m%dT%H%M%SZ").to_string();
    let written = report.write(&options.results_dir, &stamp)?;
    println!();
    for path in written {
        println!("wrote {}", path.display());
    }
    Ok(())
}

async fn run_variant(context: &Shared<'_>, variant: Variant) -> anyhow::Result<VariantReport> {
    let options = context.options;
    let label = variant.name();
    let database = match (variant, &context.postgres) {
        (Variant::Sqlite, _) => None,
        (Variant::Postgres, None) => bail!("PostgreSQL is not connected"),
        (Variant::Postgres, Some(server)) => {
            let name = format!(
                "addons_bench_{}_{}",
                chrono::Utc::now().format("%Y%m%d%H%M%S"),
                std::process::id()
            );
            context
                .databases
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(name.clone());
            Some((name.clone(), server.database_url(&name)))
        }
    };

    progress(label, "starting the gateway and registering 15 Add-ons");
    let mut gateway = Gateway::start(
        &options.gateway_bin,
        context.dir,
        label,
        database.as_ref().map(|(_, url)| url.as_str()),
        context.publisher_port,
    )
    .await?;
    let authorization = gateway.developer_authorization().to_owned();

    let publisher_url = fast_url(context.publisher_port);
    progress(label, "wrk: publisher called directly");
    let direct = context
        .wrk
        .measure(&publisher_url, None, &context.watching(None, false))
        .await
        .context("wrk against the publisher")?;
    progress(label, &format!("  {:.0} req/s", direct.requests_per_sec));
    progress(label, "wrk: nginx proxy_pass to the publisher");
    let proxied = context
        .wrk
        .measure(
            &fast_url(context.nginx_port),
            None,
            &context.watching(Some(context.nginx_pid), false),
        )
        .await
        .context("wrk against nginx")?;
    progress(label, &format!("  {:.0} req/s", proxied.requests_per_sec));
    progress(
        label,
        "wrk: hyper proxy (the gateway's stack, nothing else) to the publisher",
    );
    let stack_proxy = context
        .wrk
        .measure(
            &fast_url(context.stack_proxy_port),
            None,
            &context.watching(Some(context.stack_proxy_pid), false),
        )
        .await
        .context("wrk against the hyper proxy")?;
    progress(label, &format!("  {:.0} req/s", stack_proxy.requests_per_sec));
    let on_postgres = database.is_some();
    let lookup_1 = measure_lookup(context, &mut gateway, 1, label, on_postgres).await?;
    let lookup_5 = measure_lookup(context, &mut gateway, gateway::FAST_ADD_ONS, label, on_postgres).await?;

    let rate = (lookup_1.wrk.requests_per_sec * options.load_fraction).max(1.0);
    let fast_1 = gateway::fast_names(1);
    let lookup_pairs = added_p99(
        context,
        label,
        "gateway Lookup+1",
        Target::new(
            &gateway.lookup_url(&fast_1),
            Some(&authorization),
            Some(checker(fast_1.clone())),
        )?,
        rate,
    )
    .await?;
    gateway.ensure_running()?;
    let stack_floor = measure_stack_floor(context, &stack_proxy, label).await?;

    gateway.wait_for_records(RECORDS_TIMEOUT).await?;
    let fanout = measure_fanout(context, &gateway, &authorization, label).await?;
    // The database readings start from a quiet gateway.
    gateway.wait_for_records(RECORDS_TIMEOUT).await?;

    let database_work = match (&database, &context.postgres) {
        (Some((name, _)), Some(server)) => {
            Some(measure_database(context, &mut gateway, server, name, &authorization, label).await?)
        }
        _ => None,
    };

    gateway.ensure_running()?;
    let peak_rss_kib = gateway.peak_rss_kib()?;
    gateway.stop();
    if let (Some((name, _)), Some(server)) = (&database, &context.postgres) {
        server.drop_database(name).await?;
        context
            .databases
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|other| other != name);
    }

    let ratio = lookup_1.wrk.requests_per_sec / proxied.requests_per_sec.max(f64::MIN_POSITIVE);
    let of_stack = lookup_1.wrk.requests_per_sec / stack_proxy.requests_per_sec.max(f64::MIN_POSITIVE);
    let added_p99_ms = lookup_pairs.added_p99_ms;
    let percent = options.load_fraction * 100.0;
    let targets = vec![
        TargetCheck::at_least("Lookup+1 req/s / nginx req/s", ratio, 1.0),
        TargetCheck::at_most(
            &format!("added p99 at {percent:.0} % of the Lookup+1 maximum (ms)"),
            added_p99_ms,
            1.0,
        ),
        TargetCheck::at_most(
            "fan-out median, 10 slow Add-ons / 1 slow Add-on",
            fanout.median_ratio,
            1.1,
        ),
    ];
    Ok(VariantReport {
        variant: label.to_owned(),
        publisher: direct,
        nginx: proxied,
        stack_proxy,
        lookup_1_over_nginx: ratio,
        lookup_1_over_stack_proxy: of_stack,
        lookup_1,
        lookup_5,
        fixed_rate: FixedRate {
            rate,
            publisher: lookup_pairs.publisher,
            lookup_1: lookup_pairs.measured,
            added_p99_ms,
            added_p99_runs_ms: lookup_pairs.runs_ms,
        },
        stack_floor,
        fanout,
        gateway_peak_rss_kib: peak_rss_kib,
        database: database_work,
        targets,
    })
}

/// The fixed-rate comparison for the bare hyper proxy, at the same fraction of its own
/// maximum: what the stack alone adds to the p99 at that load on this machine.
async fn measure_stack_floor(
    context: &Shared<'_>,
    stack_proxy: &WrkResult,
    label: &str,
) -> anyhow::Result<StackFloor> {
    let rate = (stack_proxy.requests_per_sec * context.options.load_fraction).max(1.0);
    let proxy_url = fast_url(context.stack_proxy_port);
    let pairs = added_p99(
        context,
        label,
        "hyper proxy",
        Target::new(&proxy_url, None, None)?,
        rate,
    )
    .await?;
    Ok(StackFloor {
        rate,
        added_p99_ms: pairs.added_p99_ms,
        publisher: pairs.publisher,
        proxy: pairs.measured,
        added_p99_runs_ms: pairs.runs_ms,
    })
}

/// The pair of fixed-rate runs an added-p99 figure comes from, and the other pairs' figures.
struct Pairs {
    /// The publisher called directly, in the median pair.
    publisher: RateResult,
    /// What was measured, in the median pair.
    measured: RateResult,
    /// The median pair's `measured.p99 - publisher.p99` (ms).
    added_p99_ms: f64,
    /// Every pair's added p99, in the order measured (ms).
    runs_ms: Vec<f64>,
}

/// `--rate-runs` pairs of fixed-rate runs at `rate`, each the publisher called directly and
/// then `target`; returns the pair whose added p99 is the median (of an even number, the
/// higher of the middle two). One 10-second p99 on a busy 2-core machine moves by several
/// times between runs; the median of a few pairs moves less.
async fn added_p99(
    context: &Shared<'_>,
    label: &str,
    what: &str,
    target: Target,
    rate: f64,
) -> anyhow::Result<Pairs> {
    let direct = Target::new(&fast_url(context.publisher_port), None, None)?;
    let mut pairs = Vec::new();
    for _ in 0..context.options.rate_runs.max(1) {
        let publisher = at_rate(context, label, "publisher called directly", direct.clone(), rate).await?;
        let measured = at_rate(context, label, what, target.clone(), rate).await?;
        let added = measured.latencies.p99_ms - publisher.latencies.p99_ms;
        pairs.push((added, publisher, measured));
    }
    let runs_ms: Vec<f64> = pairs.iter().map(|(added, _, _)| *added).collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (added_p99_ms, publisher, measured) = pairs.swap_remove(pairs.len() / 2);
    Ok(Pairs {
        publisher,
        measured,
        added_p99_ms,
        runs_ms,
    })
}

/// The publisher's fast path, on `port` (the publisher's own, nginx's or the hyper proxy's).
pub(crate) fn fast_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}/fast")
}

/// One open-loop run of `target` at `rate`, with the run's warm-up and duration.
async fn at_rate(
    context: &Shared<'_>,
    label: &str,
    what: &str,
    target: Target,
    rate: f64,
) -> anyhow::Result<RateResult> {
    progress(label, &format!("fixed rate {rate:.0} req/s: {what}"));
    let result = load::fixed_rate(
        &target,
        rate,
        Duration::from_secs(context.options.warmup),
        Duration::from_secs(context.options.duration),
    )
    .await
    .with_context(|| format!("the fixed-rate run against the {what}"))?;
    progress(label, &format!("  p99 {:.2} ms", result.latencies.p99_ms));
    Ok(result)
}

fn checker(names: Vec<String>) -> Checker {
    Arc::new(move |body: &[u8]| gateway::check_lookup(body, &names))
}

/// wrk against Lookup with `count` fast Add-ons, counting the Add-on failures the gateway saw.
async fn measure_lookup(
    context: &Shared<'_>,
    gateway: &mut Gateway,
    count: usize,
    variant: &str,
    on_postgres: bool,
) -> anyhow::Result<GatewayWrk> {
    let names = gateway::fast_names(count);
    let label = format!("Lookup+{count}");
    progress(variant, &format!("wrk: gateway {label}"));
    let before = gateway.add_on_outcomes().await?;
    let wrk = context
        .wrk
        .measure(
            &gateway.lookup_url(&names),
            Some(gateway.developer_authorization()),
            &context.watching(Some(gateway.pid()), on_postgres),
        )
        .await
        .with_context(|| format!("wrk against the gateway's {label}"))?;
    gateway.ensure_running()?;
    let after = gateway.add_on_outcomes().await?;
    let add_on_failures = gateway::failures_between(&before, &after);
    progress(variant, &format!("  {:.0} req/s", wrk.requests_per_sec));
    let drain = gateway.wait_for_records(RECORDS_TIMEOUT).await?;
    if drain.seconds > 0.5 {
        progress(
            variant,
            &format!(
                "  the gateway took {:.1} s more to store its request records",
                drain.seconds
            ),
        );
    }
    if drain.unaccounted > 0.0 {
        progress(
            variant,
            &format!(
                "  warning: the gateway's record queue gauge kept {} records that were never stored",
                drain.unaccounted
            ),
        );
    }
    if !add_on_failures.is_empty() {
        progress(
            variant,
            &format!("  warning: failed Add-on results during {label}: {add_on_failures:?}"),
        );
    }
    // Still answering correctly after the load.
    gateway.check_lookup(&names).await?;
    Ok(GatewayWrk {
        wrk,
        add_ons: count,
        add_on_failures,
        records_drain_secs: drain.seconds,
        records_unaccounted: drain.unaccounted,
    })
}

async fn measure_fanout(
    context: &Shared<'_>,
    gateway: &Gateway,
    authorization: &str,
    variant: &str,
) -> anyhow::Result<Fanout> {
    let options = context.options;
    let concurrency = options.fanout_concurrency.max(1);
    let warm = (concurrency * 2) as u64;
    let mut results = Vec::new();
    for count in [1, gateway::SLOW_ADD_ONS] {
        progress(
            variant,
            &format!("fan-out: Lookup with {count} slow Add-on(s), {concurrency} concurrent"),
        );
        let names = gateway::slow_names(count);
        let target = Target::new(
            &gateway.lookup_url(&names),
            Some(authorization),
            Some(checker(names)),
        )?;
        let latencies = load::closed_loop(&target, concurrency, warm, options.fanout_requests)
            .await
            .with_context(|| format!("the fan-out run with {count} slow Add-ons"))?;
        progress(variant, &format!("  p50 {:.2} ms", latencies.p50_ms));
        results.push(latencies);
    }
    let ten_slow = results.pop().context("no fan-out result")?;
    let one_slow = results.pop().context("no fan-out result")?;
    for (latencies, count) in [(&one_slow, 1), (&ten_slow, gateway::SLOW_ADD_ONS)] {
        if latencies.errors > 0 {
            bail!(
                "{} of the fan-out Lookups with {count} slow Add-ons failed; the first: {}",
                latencies.errors,
                latencies.first_error.as_deref().unwrap_or("?")
            );
        }
    }
    Ok(Fanout {
        concurrency,
        median_ratio: ten_slow.p50_ms / one_slow.p50_ms.max(f64::MIN_POSITIVE),
        p99_ratio: ten_slow.p99_ms / one_slow.p99_ms.max(f64::MIN_POSITIVE),
        one_slow,
        ten_slow,
    })
}

async fn measure_database(
    context: &Shared<'_>,
    gateway: &mut Gateway,
    server: &pg::Server,
    name: &str,
    authorization: &str,
    variant: &str,
) -> anyhow::Result<pg::DatabaseWork> {
    let options = context.options;
    let settle = Duration::from_secs(options.db_settle);
    let probe = pg::Probe::connect(server, name)
        .await
        .context("reading the gateway database's statistics")?;
    progress(
        variant,
        &format!(
            "database: {} Lookups between statistics readings (about {} s of waiting for the statistics)",
            options.db_lookups,
            3 * (options.db_settle + 2) + 1
        ),
    );
    let first = probe.settled(settle).await?;
    let second = probe.settled(settle).await?;

    let names = gateway::fast_names(1);
    let target = Target::new(
        &gateway.lookup_url(&names),
        Some(authorization),
        Some(checker(names)),
    )?;
    let started = Instant::now();
    let batch = load::closed_loop(&target, 8, 0, options.db_lookups)
        .await
        .context("the database batch of Lookups")?;
    let elapsed = started.elapsed();
    // The gateway stores its records in batches, off the response path: count them too.
    gateway.wait_for_records(RECORDS_TIMEOUT).await?;
    let third = probe.settled(settle).await?;
    let work = pg::DatabaseWork::new(
        options.db_lookups,
        1,
        batch.errors,
        settle,
        second.counters - first.counters,
        third.counters - second.counters,
        third.scans_since(&second),
    );
    progress(
        variant,
        &format!(
            "  batch took {:.1} s; per Lookup: {:.3} transactions, {:.3} rows read, {:.3} scans, {:.3} rows inserted",
            elapsed.as_secs_f64(),
            work.per_lookup.transactions,
            work.per_lookup.rows_read,
            work.per_lookup.table_scans,
            work.per_lookup.rows_inserted
        ),
    );
    Ok(work)
}

/// Drops the databases a run left behind (after an error or an interrupt).
pub async fn drop_databases(options: &RunOptions, databases: &Databases) {
    let names: Vec<String> = databases
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .drain(..)
        .collect();
    if names.is_empty() {
        return;
    }
    match pg::Server::connect(&options.postgres_url).await {
        Ok(server) => {
            for name in names {
                if let Err(error) = server.drop_database(&name).await {
                    eprintln!("warning: could not drop database {name}: {error:#}");
                }
            }
        }
        Err(error) => eprintln!("warning: could not drop databases {names:?}: {error:#}"),
    }
}

/// Whether tracked files other than the results differ from the commit checked out.
pub(crate) fn git_dirty() -> bool {
    git(&[
        "status",
        "--porcelain",
        "--untracked-files=no",
        "--",
        ".",
        ":(exclude)bench/results",
    ])
    .is_some_and(|status| !status.is_empty())
}

pub(crate) fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

pub(crate) fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    Machine {
        nproc: std::thread::available_parallelism().map_or(0, usize::from),
        cpu_model: field(&cpuinfo, "model name").unwrap_or_else(|| "unknown".to_owned()),
        memory_kib: field(&meminfo, "MemTotal")
            .and_then(|value| value.split_whitespace().next().and_then(|kib| kib.parse().ok()))
            .unwrap_or(0),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|release| release.trim().to_owned())
            .unwrap_or_else(|_| "unknown".to_owned()),
    }
}

/// The value of the first `name: value` line.
fn field(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == name).then(|| value.trim().to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_fields() {
        let cpuinfo = "processor\t: 0\nmodel name\t: Some CPU @ 2.0GHz\nflags\t\t: x\n";
        assert_eq!(field(cpuinfo, "model name").as_deref(), Some("Some CPU @ 2.0GHz"));
        assert_eq!(field(cpuinfo, "cache size"), None);
    }

    #[test]
    fn the_machine_is_described() {
        let machine = machine();
        assert!(machine.nproc > 0);
        assert!(machine.memory_kib > 0);
    }
}
