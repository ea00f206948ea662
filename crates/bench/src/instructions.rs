//! `bench instructions`: the CPU instructions the gateway executes per Lookup, counted by
//! valgrind's callgrind, against the bare hyper proxy on the same stack counted the same way
//! in the same run.
//!
//! Requests per second move with whatever else the machine is doing; an instruction count
//! does not (the same binary, inputs and settings give the same count to within a fraction of
//! a percent), so this is the figure to compare between two versions of the gateway. It
//! counts user-space work only: the kernel's share (sockets, wake-ups) is not in it.
//!
//! Each measured process runs under `valgrind --tool=callgrind`. After `--warmup` requests,
//! its counters are zeroed (`callgrind_control -z`); `--requests` requests are sent one at a
//! time; the gateway is given time to store their records (which are part of a Lookup's
//! cost); then the counters are dumped (`callgrind_control -d`) and the total divided by the
//! number of requests. The gateway runs on its embedded SQLite database.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use hyper::Method;
use serde::Serialize;

use crate::gateway::{self, Gateway};
use crate::http::{self, Body};
use crate::procs::Service;
use crate::report::Machine;
use crate::run::{git, git_dirty, machine, start_proxy, start_publisher, work_dir};

/// Options of `bench instructions`.
#[derive(Debug, Clone, Args)]
pub struct InstructionsOptions {
    /// Requests counted per case.
    #[arg(long, default_value_t = 1000)]
    pub requests: u64,
    /// Requests sent before counting starts (connections opened, caches filled).
    #[arg(long, default_value_t = 200)]
    pub warmup: u64,
    /// Seconds the gateway is given to store the counted Lookups' records before the count
    /// is read (the bench fails if any are still queued then).
    #[arg(long, default_value_t = 5)]
    pub settle: u64,
    /// The gateway binary.
    #[arg(long, default_value = "target/release/addons-gateway")]
    pub gateway_bin: PathBuf,
    /// Where the results go (`instructions.json` and `instructions.md`).
    #[arg(long, default_value = "bench/results")]
    pub results_dir: PathBuf,
    /// Also keep each case's callgrind profile in this directory (`proxy.callgrind`,
    /// `lookup-1.callgrind`, `lookup-5.callgrind`), for `callgrind_annotate`.
    #[arg(long)]
    pub profiles: Option<PathBuf>,
}

/// One counted case.
#[derive(Debug, Clone, Serialize)]
pub struct Case {
    /// What was requested.
    pub name: String,
    /// Instructions counted over the measured requests, in every thread of the process.
    pub instructions: u64,
    /// Instructions per request.
    pub per_request: f64,
}

/// The results of `bench instructions`.
#[derive(Debug, Clone, Serialize)]
pub struct InstructionsReport {
    /// When the run started (UTC, RFC 3339).
    pub date: String,
    /// `git rev-parse HEAD`.
    pub git_commit: String,
    /// Whether tracked files other than the results differed from that commit.
    pub git_dirty: bool,
    /// The machine.
    pub machine: Machine,
    /// `valgrind --version`.
    pub valgrind: String,
    /// Requests counted per case.
    pub requests: u64,
    /// Requests sent before counting.
    pub warmup: u64,
    /// The cases, baseline first.
    pub cases: Vec<Case>,
    /// Gateway Lookup+1 ÷ hyper proxy, instructions per request.
    pub lookup1_over_proxy: f64,
    /// Gateway Lookup+5 ÷ Lookup+1, instructions per request.
    pub lookup5_over_lookup1: f64,
}

/// A process running under callgrind.
struct Counted {
    pid: u32,
    out_file: PathBuf,
    dumps: u32,
}

impl Counted {
    fn launcher(out_file: &Path) -> Vec<String> {
        vec![
            "valgrind".to_owned(),
            "--tool=callgrind".to_owned(),
            "--quiet".to_owned(),
            format!("--callgrind-out-file={}", out_file.display()),
        ]
    }

    fn control(&self, flag: &str) -> anyhow::Result<()> {
        let output = Command::new("callgrind_control")
            .arg(flag)
            .arg(self.pid.to_string())
            .output()
            .context("running callgrind_control (is valgrind installed? scripts/bench.sh installs it)")?;
        if !output.status.success() {
            bail!(
                "callgrind_control {flag} {} failed: {}",
                self.pid,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }

    /// Sets the counters to zero.
    fn zero(&self) -> anyhow::Result<()> {
        self.control("-z")
    }

    /// Writes the counters out and returns the instructions counted since they were zeroed;
    /// with `keep_as`, the profile is also copied into `--profiles` under that name.
    async fn dump(&mut self, options: &InstructionsOptions, keep_as: &str) -> anyhow::Result<u64> {
        self.control("-d")?;
        self.dumps += 1;
        let file = PathBuf::from(format!("{}.{}", self.out_file.display(), self.dumps));
        let started = Instant::now();
        loop {
            if let Ok(text) = std::fs::read_to_string(&file)
                && let Some(total) = total_instructions(&text)
            {
                if let Some(profiles) = &options.profiles {
                    std::fs::create_dir_all(profiles)
                        .with_context(|| format!("creating {}", profiles.display()))?;
                    let kept = profiles.join(format!("{keep_as}.callgrind"));
                    std::fs::write(&kept, text).with_context(|| format!("writing {}", kept.display()))?;
                }
                return Ok(total);
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("callgrind wrote no totals to {} within 60 s", file.display());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The `totals:` (or, failing that, `summary:`) line of a callgrind output file.
fn total_instructions(text: &str) -> Option<u64> {
    let value = |prefix: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|count| count.parse().ok())
    };
    value("totals:").or_else(|| value("summary:"))
}

/// Runs the count, prints the table and writes the results.
pub async fn run(options: &InstructionsOptions) -> anyhow::Result<()> {
    if options.requests == 0 {
        bail!("--requests must be at least 1");
    }
    let started = chrono::Utc::now();
    let valgrind = tool_version("valgrind")
        .context("valgrind is not installed (scripts/bench.sh instructions installs it)")?;
    let work = work_dir("addons-instructions-")?;
    let dir = work.path();

    let (mut publisher, publisher_port) = start_publisher(dir).await?;

    eprintln!("[instructions] the hyper proxy under callgrind");
    let proxy_out = dir.join("proxy.callgrind");
    let (proxy, proxy_port) = start_proxy(&Counted::launcher(&proxy_out), publisher_port, dir).await?;
    let proxy_case = count_proxy(options, proxy, &proxy_out, proxy_port).await?;

    eprintln!("[instructions] the gateway under callgrind");
    let gateway_out = dir.join("gateway.callgrind");
    let mut gateway = Gateway::start_under(
        &Counted::launcher(&gateway_out),
        &options.gateway_bin,
        dir,
        "sqlite",
        None,
        publisher_port,
    )
    .await?;
    let mut counted = Counted {
        pid: gateway.pid(),
        out_file: gateway_out,
        dumps: 0,
    };
    let mut cases = vec![proxy_case];
    for count in [1, gateway::FAST_ADD_ONS] {
        let names = gateway::fast_names(count);
        let name = format!("gateway Lookup+{count}");
        eprintln!("[instructions] {name}");
        for _ in 0..options.warmup {
            gateway.check_lookup(&names).await?;
        }
        gateway.wait_for_records(crate::run::RECORDS_TIMEOUT).await?;
        counted.zero()?;
        for _ in 0..options.requests {
            gateway.check_lookup(&names).await?;
        }
        tokio::time::sleep(Duration::from_secs(options.settle)).await;
        let instructions = counted.dump(options, &format!("lookup-{count}")).await?;
        let queued = gateway.records_queued().await?;
        if queued > 0.0 {
            bail!(
                "{queued} request records were still queued {} s after the counted Lookups: \
                 raise --settle",
                options.settle
            );
        }
        gateway.ensure_running()?;
        cases.push(case(&name, instructions, options.requests));
    }
    gateway.stop();
    publisher.ensure_running()?;
    publisher.stop();

    let ratio = |a: usize, b: usize| cases[a].per_request / cases[b].per_request;
    let report = InstructionsReport {
        date: started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        git_commit: git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".to_owned()),
        git_dirty: git_dirty(),
        machine: machine(),
        valgrind,
        requests: options.requests,
        warmup: options.warmup,
        lookup1_over_proxy: ratio(1, 0),
        lookup5_over_lookup1: ratio(2, 1),
        cases,
    };
    let markdown = report.markdown();
    println!("{markdown}");
    std::fs::create_dir_all(&options.results_dir)
        .with_context(|| format!("creating {}", options.results_dir.display()))?;
    let json_path = options.results_dir.join("instructions.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("writing {}", json_path.display()))?;
    let markdown_path = options.results_dir.join("instructions.md");
    std::fs::write(&markdown_path, markdown)
        .with_context(|| format!("writing {}", markdown_path.display()))?;
    eprintln!(
        "[instructions] wrote {} and {}",
        json_path.display(),
        markdown_path.display()
    );
    Ok(())
}

async fn count_proxy(
    options: &InstructionsOptions,
    mut proxy: Service,
    out_file: &Path,
    port: u16,
) -> anyhow::Result<Case> {
    let mut counted = Counted {
        pid: proxy.pid(),
        out_file: out_file.to_owned(),
        dumps: 0,
    };
    let client = http::client(1);
    let url = format!("http://127.0.0.1:{port}/fast");
    let send = || async {
        let reply = http::send(&client, Method::GET, &url, None, Body::Empty).await?;
        if !reply.status.is_success() {
            bail!("GET {url}: {} {}", reply.status, reply.text());
        }
        anyhow::Ok(())
    };
    for _ in 0..options.warmup {
        send().await?;
    }
    counted.zero()?;
    for _ in 0..options.requests {
        send().await?;
    }
    let instructions = counted.dump(options, "proxy").await?;
    proxy.ensure_running()?;
    proxy.stop();
    Ok(case("hyper proxy (same stack)", instructions, options.requests))
}

fn case(name: &str, instructions: u64, requests: u64) -> Case {
    Case {
        name: name.to_owned(),
        instructions,
        per_request: instructions as f64 / requests as f64,
    }
}

fn tool_version(program: &str) -> Option<String> {
    let output = Command::new(program).arg("--version").output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

impl InstructionsReport {
    /// The table, as markdown.
    pub fn markdown(&self) -> String {
        let mut text = String::from("# Instructions per request\n\n");
        text.push_str(&format!(
            "- Date: {}\n- Commit: {}{}\n- Machine: {} CPUs, {}\n- Tool: {} (callgrind), {} requests \
             counted per case, one at a time, after {} not counted\n\n",
            self.date,
            self.git_commit,
            if self.git_dirty {
                " (with uncommitted changes)"
            } else {
                ""
            },
            self.machine.nproc,
            self.machine.cpu_model,
            self.valgrind,
            self.requests,
            self.warmup,
        ));
        text.push_str("| case | instructions / request |\n| --- | ---: |\n");
        for case in &self.cases {
            text.push_str(&format!("| {} | {} |\n", case.name, thousands(case.per_request)));
        }
        text.push_str(&format!(
            "| Lookup+1 / hyper proxy | {:.2} |\n| Lookup+5 / Lookup+1 | {:.2} |\n",
            self.lookup1_over_proxy, self.lookup5_over_lookup1
        ));
        text.push_str(
            "\nUser-space instructions of the whole process (every thread), divided by the \
             requests counted. A Lookup's count includes storing its request records. The \
             kernel's work (sockets, wake-ups) is not counted. Reproduce with \
             `bash scripts/bench.sh instructions`.\n",
        );
        text
    }
}

/// `1234567.8` as `1,234,568`.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut text = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            text.push(',');
        }
        text.push(digit);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_totals_line_of_a_callgrind_file() {
        let text =
            "version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nsummary: 900\n\nfn=x\n0 3\ntotals: 1234\n";
        assert_eq!(total_instructions(text), Some(1234));
        assert_eq!(total_instructions("events: Ir\nsummary: 77\n"), Some(77));
        assert_eq!(total_instructions("events: Ir\n"), None);
    }

    #[test]
    fn groups_thousands() {
        assert_eq!(thousands(1_234_567.8), "1,234,568");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(0.0), "0");
    }

    #[test]
    fn runs_a_program_under_a_launcher() {
        let launcher = Counted::launcher(Path::new("/tmp/x.callgrind"));
        let command = crate::procs::command_under(&launcher, std::ffi::OsStr::new("/bin/true"));
        assert_eq!(command.get_program(), "valgrind");
        let arguments: Vec<_> = command.get_args().collect();
        assert_eq!(arguments.last().copied(), Some(std::ffi::OsStr::new("/bin/true")));
        assert!(arguments.contains(&std::ffi::OsStr::new("--callgrind-out-file=/tmp/x.callgrind")));
    }
}
