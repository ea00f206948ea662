//! CPU time per request during a wrk run, read from /proc before and after it: the machine's
//! busy time (`/proc/stat`), the server measured with its child processes (nginx's workers),
//! the publisher, and PostgreSQL's processes.
//!
//! On a machine whose cores are shared by the load generator, the publisher and the server,
//! requests/s moves with everything else that runs; the CPU time each process spends per
//! request moves much less, and says where the machine's time went. Without
//! `CONFIG_IRQ_TIME_ACCOUNTING` (the kernels seen here), the soft interrupts that do most of
//! the loopback TCP work count as the system time of the process they interrupted, usually the
//! one that sent; with it, they count as no process's and fall into `other`. Time the
//! hypervisor gave to other machines (steal) is not busy time, and is shown apart.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Serialize;

/// The processes watched during a run.
#[derive(Debug, Clone, Copy)]
pub struct Watched {
    /// The server measured (nginx, the hyper proxy or the gateway), with its children; none
    /// when the publisher is called directly.
    pub server: Option<u32>,
    /// The publisher.
    pub publisher: u32,
    /// Whether PostgreSQL's processes (every process named `postgres`) are counted.
    pub postgres: bool,
}

/// CPU microseconds per request, by where they were spent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CpuPerRequest {
    /// All cores' busy time (user, system, interrupts and soft interrupts; not steal).
    pub machine_us: f64,
    /// The server measured, with its children.
    pub server_us: Option<f64>,
    /// The publisher.
    pub publisher_us: f64,
    /// PostgreSQL's processes.
    pub postgres_us: Option<f64>,
    /// The rest of the machine's busy time: the load generator, and anything else running.
    pub other_us: f64,
    /// Time the hypervisor ran something else while this machine's cores wanted to run.
    pub stolen_us: f64,
}

/// What the counters held at one moment (in clock ticks).
#[derive(Debug, Clone)]
pub struct Snapshot {
    busy: u64,
    steal: u64,
    server: Option<u64>,
    publisher: u64,
    postgres: Option<u64>,
}

/// One process's line of `/proc/<pid>/stat`.
#[derive(Debug, Clone, PartialEq)]
struct Process {
    parent: u32,
    name: String,
    /// `utime + stime`, clock ticks (its threads included, living or not).
    ticks: u64,
}

impl Watched {
    /// Reads the counters now; `None` where /proc cannot be read.
    pub fn snapshot(&self) -> Option<Snapshot> {
        let (busy, steal) = machine_ticks(&std::fs::read_to_string("/proc/stat").ok()?)?;
        let processes = processes();
        Some(Snapshot {
            busy,
            steal,
            server: self.server.map(|pid| tree_ticks(&processes, pid)),
            publisher: tree_ticks(&processes, self.publisher),
            postgres: self.postgres.then(|| {
                processes
                    .values()
                    .filter(|process| process.name == "postgres")
                    .map(|process| process.ticks)
                    .sum()
            }),
        })
    }
}

impl Snapshot {
    /// The CPU time per request between `self` and the later snapshot `after`, for `requests`
    /// requests.
    pub fn per_request(&self, after: &Snapshot, requests: u64) -> CpuPerRequest {
        let us_per_tick = 1e6 / clock_ticks_per_second();
        let per_request = |ticks: u64| ticks as f64 * us_per_tick / requests.max(1) as f64;
        let delta = |before: Option<u64>, after: Option<u64>| match (before, after) {
            (Some(before), Some(after)) => Some(after.saturating_sub(before)),
            _ => None,
        };
        let busy = after.busy.saturating_sub(self.busy);
        let steal = after.steal.saturating_sub(self.steal);
        let server = delta(self.server, after.server);
        let publisher = after.publisher.saturating_sub(self.publisher);
        let postgres = delta(self.postgres, after.postgres);
        let accounted = server.unwrap_or(0) + publisher + postgres.unwrap_or(0);
        CpuPerRequest {
            machine_us: per_request(busy),
            server_us: server.map(per_request),
            publisher_us: per_request(publisher),
            postgres_us: postgres.map(per_request),
            other_us: per_request(busy.saturating_sub(accounted)),
            stolen_us: per_request(steal),
        }
    }
}

/// `getconf CLK_TCK`, the unit of /proc's CPU times (100 where it cannot be run).
fn clock_ticks_per_second() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|output| String::from_utf8(output.stdout).ok())
            .and_then(|text| text.trim().parse::<f64>().ok())
            .filter(|ticks| *ticks > 0.0)
            .unwrap_or(100.0)
    })
}

/// The busy and stolen ticks of all CPUs, from the `cpu` line of `/proc/stat`:
/// `user nice system idle iowait irq softirq steal …` (guest time is inside user time).
fn machine_ticks(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find_map(|line| line.strip_prefix("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .map(|field| field.parse().ok())
        .collect::<Option<_>>()?;
    let field = |i: usize| fields.get(i).copied().unwrap_or(0);
    if fields.len() < 4 {
        return None;
    }
    let busy = field(0) + field(1) + field(2) + field(5) + field(6);
    Some((busy, field(7)))
}

/// Every process's parent, name and CPU ticks; processes that go away while being read are
/// left out.
fn processes() -> HashMap<u32, Process> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return HashMap::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            Some((pid, parse_process(&stat)?))
        })
        .collect()
}

/// `pid (name) state ppid … utime stime …`: the name may hold spaces and parentheses, so the
/// fields are counted from its last `)`.
fn parse_process(stat: &str) -> Option<Process> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    // After the name: state (0), ppid (1), …, utime (11), stime (12).
    let number = |i: usize| -> Option<u64> { fields.get(i)?.parse().ok() };
    Some(Process {
        parent: u32::try_from(number(1)?).ok()?,
        name,
        ticks: number(11)? + number(12)?,
    })
}

/// The ticks of `root` and all its descendants.
fn tree_ticks(processes: &HashMap<u32, Process>, root: u32) -> u64 {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (&pid, process) in processes {
        children.entry(process.parent).or_default().push(pid);
    }
    let mut total = 0;
    let mut pending = vec![root];
    while let Some(pid) = pending.pop() {
        if let Some(process) = processes.get(&pid) {
            total += process.ticks;
        }
        if let Some(below) = children.get(&pid) {
            pending.extend(below.iter().filter(|&&child| child != pid));
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_process_line_whose_name_holds_spaces_and_parentheses() {
        let stat = "4242 (nginx: (worker) x) S 4240 4240 4240 0 -1 4194624 100 0 0 0 37 12 0 0 20 0 1 0";
        assert_eq!(
            parse_process(stat),
            Some(Process {
                parent: 4240,
                name: "nginx: (worker) x".to_owned(),
                ticks: 49,
            })
        );
        assert_eq!(parse_process("4242 (cut"), None);
    }

    #[test]
    fn counts_busy_and_stolen_ticks() {
        let stat = "cpu  100 5 50 1000 7 3 40 2 0 0\ncpu0 50 2 25 500 3 1 20 1 0 0\nintr 1\n";
        assert_eq!(machine_ticks(stat), Some((198, 2)));
        assert_eq!(machine_ticks("intr 1\n"), None);
    }

    #[test]
    fn a_tree_counts_its_descendants_and_nothing_else() {
        let process = |parent: u32, ticks: u64| Process {
            parent,
            name: "x".to_owned(),
            ticks,
        };
        let processes = HashMap::from([
            (10, process(1, 5)),
            (11, process(10, 7)),
            (12, process(11, 11)),
            (20, process(1, 1000)),
        ]);
        assert_eq!(tree_ticks(&processes, 10), 23);
        assert_eq!(tree_ticks(&processes, 11), 18);
        assert_eq!(tree_ticks(&processes, 99), 0);
    }

    #[test]
    fn splits_the_machine_time_per_request() {
        let before = Snapshot {
            busy: 1000,
            steal: 100,
            server: Some(300),
            publisher: 200,
            postgres: None,
        };
        let after = Snapshot {
            busy: 2000,
            steal: 300,
            server: Some(800),
            publisher: 400,
            postgres: None,
        };
        let cpu = before.per_request(&after, 1000);
        let us_per_tick = 1e6 / clock_ticks_per_second();
        assert_eq!(cpu.machine_us, us_per_tick);
        assert_eq!(cpu.server_us, Some(0.5 * us_per_tick));
        assert_eq!(cpu.publisher_us, 0.2 * us_per_tick);
        assert_eq!(cpu.stolen_us, 0.2 * us_per_tick);
        assert_eq!(cpu.postgres_us, None);
        assert!((cpu.other_us - 0.3 * us_per_tick).abs() < 1e-9);
    }

    #[test]
    fn this_process_is_found_and_its_cpu_time_grows() {
        let watched = Watched {
            server: Some(std::process::id()),
            publisher: std::process::id(),
            postgres: false,
        };
        let before = watched.snapshot().expect("/proc is readable");
        // Spins until a clock tick lands on this process and on the machine's busy time
        // (well under a second, unless either is not counted at all). The two are read from
        // different files and can grow a tick apart, so the loop waits for both.
        let started = std::time::Instant::now();
        let mut x = 0u64;
        let after = loop {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
            let now = watched.snapshot().expect("/proc is readable");
            let both_grew = now.server > before.server && now.busy > before.busy;
            if both_grew || started.elapsed() > std::time::Duration::from_secs(10) {
                break now;
            }
        };
        assert!(after.server > before.server, "{before:?} then {after:?}");
        assert_eq!(after.server, Some(after.publisher), "the same process, read once");
        assert!(after.busy > before.busy);
    }
}
