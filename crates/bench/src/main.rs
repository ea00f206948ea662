//! What the gateway costs, measured against a reverse proxy and the bare publisher in the same
//! run. From the repository root:
//!
//! ```sh
//! bash scripts/bench.sh                                  # both storage variants, 10 s runs
//! bash scripts/bench.sh --duration 5 --variants sqlite   # arguments go to `bench run`
//! ```
//!
//! The script installs `wrk` and `nginx` when missing, builds the bench and the gateway in
//! release mode, runs `bench run` with its arguments, and stops everything it started, even on
//! failure or Ctrl-C. `bench run --help` lists the options.
//!
//! One run starts a fast publisher (`bench publisher`: any request answered at once with a
//! small JSON object, `/slow` after 100 ms), nginx proxying to it, a bare hyper proxy to it
//! (`bench proxy`: the gateway's stack doing nothing but pass requests on), and for each storage variant
//! (SQLite, PostgreSQL) a gateway (`addons-gateway serve`) set up over its HTTP APIs with 5
//! Add-ons on the publisher's fast path and 10 on its slow path. It measures:
//!
//! - requests/s and p50/p99 with `wrk` for the publisher called directly, nginx and the hyper
//!   proxy in front of it, and Lookups with 1 and with 5 Add-ons;
//! - the gateway's added p99 at half its maximum Lookup+1 rate, with an open-loop fixed-rate
//!   generator (latency from each request's scheduled time), and the hyper proxy's at half of
//!   its own maximum (what the stack alone adds at that load);
//! - fan-out: Lookup with 10 slow Add-ons against Lookup with 1;
//! - the gateway's peak RSS;
//! - on PostgreSQL, transactions, rows read, table scans and rows inserted per Lookup.
//!
//! It prints one table and writes it, with the machine, the commit and the settings, to
//! `bench/results/<timestamp>.json`, `bench/results/latest.json` and `bench/results/latest.md`.
//!
//! `bench serve` starts the same processes and leaves them running, for measuring by hand.
//!
//! `bash scripts/bench.sh instructions` counts, under valgrind's callgrind, the CPU
//! instructions per request of the hyper proxy and of Lookups with 1 and 5 Add-ons: a
//! figure that, unlike requests/s, does not move with the machine's other load
//! (`bench/results/instructions.md`).
#![forbid(unsafe_code)]

mod cpu;
mod gateway;
mod http;
mod instructions;
mod load;
mod nginx;
mod open_loop;
mod pg;
mod procs;
mod proxy;
mod publisher;
mod report;
mod run;
mod serve;
mod wrk;

use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use clap::{Parser, Subcommand};

/// Benchmarks the Add-on gateway against nginx and the bare publisher.
#[derive(Debug, Parser)]
#[command(about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the benchmark and write the results.
    Run(run::RunOptions),
    /// Count the CPU instructions per request of the gateway and of the bare hyper proxy,
    /// under valgrind's callgrind, and write the results.
    Instructions(instructions::InstructionsOptions),
    /// Start the publisher, the hyper proxy and a gateway set up as `run` sets them up, print
    /// their URLs and how to load them, and keep them running until Ctrl-C.
    Serve(serve::ServeOptions),
    /// Send GET requests to one URL at a fixed rate and print the latencies as JSON (the
    /// generator `run` uses, on its own).
    Rate {
        /// The URL (on 127.0.0.1).
        url: String,
        /// Requests per second.
        #[arg(long)]
        rate: f64,
        /// Seconds measured.
        #[arg(long, default_value_t = 10)]
        duration: u64,
        /// Seconds of unmeasured warm-up first.
        #[arg(long, default_value_t = 2)]
        warmup: u64,
        /// The `Authorization` header.
        #[arg(long)]
        authorization: Option<String>,
    },
    /// Serve a bare hyper reverse proxy on 127.0.0.1 to the publisher (the stack's ceiling).
    Proxy {
        /// The port to listen on.
        #[arg(long)]
        port: u16,
        /// The publisher's port.
        #[arg(long)]
        upstream_port: u16,
        /// Exit when standard input closes (the bench holds it open).
        #[arg(long)]
        watch_stdin: bool,
    },
    /// Serve the fast publisher on 127.0.0.1 (`/slow…` answers after 100 ms).
    Publisher {
        /// The port to listen on.
        #[arg(long)]
        port: u16,
        /// Exit when standard input closes (the bench holds it open).
        #[arg(long)]
        watch_stdin: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: could not start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = match cli.command {
        Command::Publisher { port, watch_stdin } => runtime.block_on(publisher::serve(port, watch_stdin)),
        Command::Proxy {
            port,
            upstream_port,
            watch_stdin,
        } => runtime.block_on(proxy::serve(port, upstream_port, watch_stdin)),
        Command::Run(options) => runtime.block_on(run_until_interrupted(options)),
        Command::Instructions(options) => runtime.block_on(async {
            tokio::select! {
                outcome = instructions::run(&options) => outcome,
                signal = interrupted() => Err(anyhow::anyhow!("interrupted by {signal}; stopped what the bench started")),
            }
        }),
        Command::Serve(options) => runtime.block_on(serve::serve(&options, interrupted())),
        Command::Rate {
            url,
            rate,
            duration,
            warmup,
            authorization,
        } => runtime.block_on(fixed_rate(&url, rate, duration, warmup, authorization.as_deref())),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the benchmark until it ends or a SIGINT or SIGTERM arrives. Either way the processes
/// it started are stopped (their guards are dropped with the run) and the PostgreSQL databases
/// it created are dropped.
async fn run_until_interrupted(options: run::RunOptions) -> anyhow::Result<()> {
    let databases: run::Databases = Arc::new(Mutex::new(Vec::new()));
    let outcome = tokio::select! {
        outcome = run::run(&options, Arc::clone(&databases)) => outcome,
        signal = interrupted() => Err(anyhow::anyhow!("interrupted by {signal}; stopped what the bench started")),
    };
    run::drop_databases(&options, &databases).await;
    outcome
}

async fn fixed_rate(
    url: &str,
    rate: f64,
    duration: u64,
    warmup: u64,
    authorization: Option<&str>,
) -> anyhow::Result<()> {
    let target = load::Target::new(url, authorization, None)?;
    let result = load::fixed_rate(
        &target,
        rate,
        std::time::Duration::from_secs(warmup),
        std::time::Duration::from_secs(duration),
    )
    .await?;
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}

async fn interrupted() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
        (Ok(mut interrupt), Ok(mut terminate)) => tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        },
        // Without signal handlers the default action (ending the process) applies; the
        // script's cleanup then stops the children.
        _ => std::future::pending().await,
    }
}
