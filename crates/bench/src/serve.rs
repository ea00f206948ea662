//! `bench serve`: the bench's processes set up as `bench run` sets them up, left running for
//! measuring and profiling by hand (wrk, `bench rate`, perf), until Ctrl-C.

use std::path::PathBuf;

use clap::Args;

use crate::gateway::{self, Gateway};
use crate::run::{fast_url, start_proxy, start_publisher, work_dir};

/// Options of `bench serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeOptions {
    /// The gateway's database: a PostgreSQL URL (the database must exist and may be empty);
    /// without it, SQLite in a temporary directory.
    #[arg(long)]
    pub database_url: Option<String>,
    /// The gateway binary.
    #[arg(long, default_value = "target/release/addons-gateway")]
    pub gateway_bin: PathBuf,
}

/// Starts the publisher, the hyper proxy and the gateway, prints how to load them, and keeps
/// them until `stop` resolves.
pub async fn serve(options: &ServeOptions, stop: impl Future<Output = &'static str>) -> anyhow::Result<()> {
    let work = work_dir("addons-serve-")?;
    let dir = work.path();
    let (mut publisher, publisher_port) = start_publisher(dir).await?;
    let (mut proxy, proxy_port) = start_proxy(&[], publisher_port, dir).await?;
    let label = if options.database_url.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    let gateway = Gateway::start(
        &options.gateway_bin,
        dir,
        label,
        options.database_url.as_deref(),
        publisher_port,
    )
    .await?;

    let authorization = gateway.developer_authorization();
    let lookup = |count| gateway.lookup_url(&gateway::fast_names(count));
    println!("publisher    {}", fast_url(publisher_port));
    println!("hyper proxy  {}", fast_url(proxy_port));
    println!(
        "gateway      pid {} ({label}), in {}",
        gateway.pid(),
        dir.display()
    );
    println!("Lookup+1     {}", lookup(1));
    println!("Lookup+5     {}", lookup(gateway::FAST_ADD_ONS));
    println!("Authorization: {authorization}");
    println!();
    println!(
        "wrk -t2 -c64 -d10s -H 'Authorization: {authorization}' '{}'",
        lookup(1)
    );
    println!(
        "target/release/bench rate --rate 4000 --authorization '{authorization}' '{}'",
        lookup(1)
    );
    println!();
    println!("Ctrl-C stops them.");

    let signal = stop.await;
    eprintln!("{signal}: stopping");
    publisher.ensure_running()?;
    proxy.ensure_running()?;
    gateway.stop();
    proxy.stop();
    publisher.stop();
    Ok(())
}
