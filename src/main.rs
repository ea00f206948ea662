//! `addons-gateway`: runs the gateway (`serve`, the default), migrates its database
//! (`migrate`), or registers manifest files with a running gateway (`register`).
#![forbid(unsafe_code)]

use clap::Parser;

/// mimalloc rather than the system allocator: the request path allocates many small, short-lived
/// buffers on two threads at once, which glibc's malloc serves measurably slower. Its 2.x line
/// (the `v2` feature): under a Lookup load, the 3.x line spent about 19 % of the gateway's
/// samples in the allocator, 2.x about 11 % (`perf`, same run conditions).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = addons_gateway::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: could not start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(addons_gateway::cli::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
