//! The processes the bench starts. Each lives in a [`Service`] guard that stops it when the
//! guard is dropped, so a failed step or an interrupt leaves nothing running.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How much of a process's output an error message quotes.
const OUTPUT_TAIL_BYTES: u64 = 4000;

/// A command running `program` directly, or under `launcher` (a program and its arguments,
/// such as `valgrind --tool=callgrind`) when one is given.
pub fn command_under(launcher: &[String], program: &std::ffi::OsStr) -> Command {
    match launcher.split_first() {
        None => Command::new(program),
        Some((first, rest)) => {
            let mut command = Command::new(first);
            command.args(rest).arg(program);
            command
        }
    }
}

/// A running child process, stopped (SIGTERM, then SIGKILL) when dropped.
#[derive(Debug)]
pub struct Service {
    name: String,
    child: Child,
    /// Held open so that a process watching its standard input (the publisher) sees it close
    /// when the bench goes away, however it goes away.
    stdin: Option<ChildStdin>,
    log: PathBuf,
    stopped: bool,
}

impl Service {
    /// Starts `command` with its stdout and stderr in `<log_dir>/<name>.log`. With
    /// `pipe_stdin`, its standard input is a pipe that stays open until the guard is dropped.
    pub fn spawn(
        name: &str,
        mut command: Command,
        log_dir: &Path,
        pipe_stdin: bool,
    ) -> anyhow::Result<Service> {
        let log = log_dir.join(format!("{name}.log"));
        let stdout = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let stderr = stdout
            .try_clone()
            .with_context(|| format!("opening {} twice", log.display()))?;
        command
            .stdout(stdout)
            .stderr(stderr)
            .stdin(if pipe_stdin { Stdio::piped() } else { Stdio::null() });
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {name} ({})", command.get_program().to_string_lossy()))?;
        let stdin = child.stdin.take();
        Ok(Service {
            name: name.to_owned(),
            child,
            stdin,
            log,
            stopped: false,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's name in messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The end of what the process printed, for error messages.
    pub fn output_tail(&self) -> String {
        let read = || -> std::io::Result<String> {
            let mut file = File::open(&self.log)?;
            let length = file.metadata()?.len();
            file.seek(SeekFrom::Start(length.saturating_sub(OUTPUT_TAIL_BYTES)))?;
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        };
        match read() {
            Ok(text) if text.trim().is_empty() => "(it printed nothing)".to_owned(),
            Ok(text) => text,
            Err(error) => format!("(could not read {}: {error})", self.log.display()),
        }
    }

    /// Fails, quoting the process's output, when it has exited.
    pub fn ensure_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self
            .child
            .try_wait()
            .with_context(|| format!("checking on {}", self.name))?
        {
            bail!(
                "{} exited ({status}); its output ({}):\n{}",
                self.name,
                self.log.display(),
                self.output_tail()
            );
        }
        Ok(())
    }

    /// Waits until `addr` accepts connections, failing early if the process exits.
    pub async fn wait_for_port(&mut self, addr: SocketAddr, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            self.ensure_running()?;
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not accept connections on {addr} within {timeout:?}; its output:\n{}",
                    self.name,
                    self.output_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the process: SIGTERM, then SIGKILL if it is still there after a few seconds.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        self.stdin.take();
        if let Ok(None) = self.child.try_wait() {
            // SIGTERM first: the gateway drains and flushes its records, and nginx's master
            // stops its workers, which a SIGKILL of the master would leave running. The
            // `kill` program sends it because this crate forbids the unsafe code a direct
            // system call would take.
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + Duration::from_secs(8);
            while Instant::now() < deadline {
                match self.child.try_wait() {
                    Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                    Ok(Some(_)) | Err(_) => return,
                }
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port on 127.0.0.1")?;
    Ok(listener.local_addr()?.port())
}

/// The peak resident set size (`VmHWM`, KiB) of process `pid`.
pub fn peak_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_vm_hwm(&status).with_context(|| format!("no VmHWM line in {path}"))
}

fn parse_vm_hwm(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

/// Whether this process runs as root (uid 0), read from /proc rather than a system call.
pub fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_peak_rss() {
        let status = "Name:\tx\nVmPeak:\t  1000 kB\nVmHWM:\t   2345 kB\nVmRSS:\t 2000 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(2345));
        assert_eq!(parse_vm_hwm("Name:\tx\n"), None);
    }

    #[test]
    fn reads_its_own_peak_rss() {
        let kib = peak_rss_kib(std::process::id()).expect("this process has a status file");
        assert!(kib > 0);
    }
}
