//! nginx as a reverse proxy to the publisher: the baseline a gateway hop is compared with.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Context;

use crate::procs::Service;

/// The nginx binary: on the PATH, or where Debian puts it (`/usr/sbin` is not on every user's
/// PATH).
pub fn binary() -> PathBuf {
    find_on_path("nginx").unwrap_or_else(|| PathBuf::from("/usr/sbin/nginx"))
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// The configuration: two workers, `proxy_pass` to an upstream with a pool of 64 keep-alive
/// connections, no access log, every path under `prefix`. `user` is set when the bench runs as
/// root, so that the workers run as the same user instead of nginx's default `nobody`.
pub fn config(prefix: &Path, listen_port: u16, upstream_port: u16, as_root: bool) -> String {
    let prefix = prefix.display();
    let user = if as_root { "user root;\n" } else { "" };
    format!(
        r#"# Written by the bench; removed with its temporary directory.
{user}worker_processes 2;
daemon off;
master_process on;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;

events {{
    worker_connections 4096;
}}

http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    # nginx closes a keep-alive connection after 1000 requests by default; the gateway never
    # does, so the proxy is not made to reconnect either.
    keepalive_requests 1000000;

    upstream publisher {{
        server 127.0.0.1:{upstream_port};
        keepalive 64;
        keepalive_requests 1000000;
    }}

    server {{
        listen 127.0.0.1:{listen_port};
        location / {{
            proxy_pass http://publisher;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"#
    )
}

/// Starts nginx on `listen_port`, proxying to the publisher on `upstream_port`, with its
/// configuration, pid file and logs in `dir`.
pub async fn start(dir: &Path, listen_port: u16, upstream_port: u16) -> anyhow::Result<Service> {
    let prefix = dir.join("nginx");
    std::fs::create_dir_all(&prefix).with_context(|| format!("creating {}", prefix.display()))?;
    let conf = prefix.join("nginx.conf");
    std::fs::write(
        &conf,
        config(
            &prefix,
            listen_port,
            upstream_port,
            crate::procs::running_as_root(),
        ),
    )
    .with_context(|| format!("writing {}", conf.display()))?;
    let mut command = Command::new(binary());
    command
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(&conf)
        // The error log before the configuration is read (else /var/log/nginx/error.log).
        .arg("-e")
        .arg(prefix.join("error.log"));
    let mut nginx = Service::spawn("nginx", command, dir, false)?;
    let addr = SocketAddr::from(([127, 0, 0, 1], listen_port));
    nginx
        .wait_for_port(addr, Duration::from_secs(10))
        .await
        .with_context(|| {
            let errors = std::fs::read_to_string(prefix.join("error.log")).unwrap_or_default();
            format!("starting nginx; its error log:\n{errors}")
        })?;
    Ok(nginx)
}

/// nginx's version line.
pub fn version() -> String {
    Command::new(binary())
        .arg("-v")
        .output()
        .map(|output| {
            // nginx prints its version on stderr.
            String::from_utf8_lossy(&output.stderr).trim().to_owned()
        })
        .unwrap_or_else(|error| format!("unknown ({error})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_is_a_keep_alive_proxy_with_its_own_paths() {
        let text = config(Path::new("/tmp/x"), 8081, 9000, true);
        for expected in [
            "user root;",
            "worker_processes 2;",
            "pid /tmp/x/nginx.pid;",
            "access_log off;",
            "server 127.0.0.1:9000;",
            "keepalive 64;",
            "listen 127.0.0.1:8081;",
            "proxy_pass http://publisher;",
            "proxy_http_version 1.1;",
            "proxy_set_header Connection \"\";",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        assert!(!config(Path::new("/tmp/x"), 1, 2, false).contains("user "));
    }
}
