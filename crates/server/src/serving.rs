//! Serving threads of its own, when `server.threads` asks for them (by default the gateway
//! serves on the main runtime's worker threads): that many threads, each running a
//! single-threaded tokio runtime with a listening socket of its own on the shared port
//! (`SO_REUSEPORT`: the kernel spreads new connections across the sockets) and publisher
//! connections of its own. A request then runs start to finish on one thread:
//! its handler, its fan-out and its publisher connection never wake each other across threads,
//! and what it allocates is freed where it was allocated. Background work (the recorder's
//! writer, catalog reloads, database connections' housekeeping) stays on the main runtime.
//!
//! Stopping is in steps: every thread stops accepting and lets its open requests finish, then
//! waits for the fan-outs still running anywhere (a developer who hung up mid-Lookup leaves
//! one behind, and its record must still be queued), then waits for the other threads, so
//! that no runtime goes away while another thread may still use a database connection
//! opened on it. Past the grace period, the threads drop what is left.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::serve::ListenerExt;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{Barrier, oneshot, watch};

use crate::state::AppState;

/// Pending connections each socket holds (as `TcpListener::bind`).
const BACKLOG: u32 = 1024;

/// Binds a listening socket; with `share_port`, one that the other serving threads' sockets
/// may share its port with (and so may another process of the same user started with
/// `server.threads` on the same port: the port is not reported as taken then).
pub fn bind(addr: SocketAddr, share_port: bool) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    if share_port {
        socket.set_reuseport(true)?;
    }
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Serves the gateway's router on `listener` (`TCP_NODELAY` on every connection) until
/// `drain` completes and the connections open then are done.
pub async fn serve_until(
    listener: TcpListener,
    state: AppState,
    drain: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // No Nagle delay: an answer goes out as soon as it is written.
    let listener = listener.tap_io(|stream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY on a connection");
        }
    });
    axum::serve(listener, crate::app::router(state))
        .with_graceful_shutdown(drain)
        .await
}

/// The running threads.
#[derive(Debug)]
pub struct Serving {
    stop: watch::Sender<Stop>,
    finished: Vec<oneshot::Receiver<()>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stop {
    Running,
    /// Stop accepting; finish what is open.
    Drain,
    /// The grace period is over: drop what is left.
    Abandon,
}

impl Serving {
    /// Starts `count` threads serving the gateway's router: the first on `listener`, the
    /// others on sockets of their own bound to its address.
    pub fn start(listener: TcpListener, count: usize, state: &AppState) -> std::io::Result<Serving> {
        let addr = listener.local_addr()?;
        let mut listeners = vec![listener.into_std()?];
        for _ in 1..count {
            listeners.push(bind(addr, true)?.into_std()?);
        }
        let (stop, stopping) = watch::channel(Stop::Running);
        let everyone = Arc::new(Barrier::new(count));
        let mut finished = Vec::with_capacity(count);
        for (index, listener) in listeners.into_iter().enumerate() {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (done, finished_here) = oneshot::channel();
            finished.push(finished_here);
            let state = state.clone();
            let stopping = stopping.clone();
            let everyone = Arc::clone(&everyone);
            std::thread::Builder::new()
                .name(format!("serve-{}-{index}", addr.port()))
                .spawn(move || {
                    state.engine.own_connections_on_this_thread();
                    runtime.block_on(serve(listener, state, stopping, everyone));
                    let _ = done.send(());
                })?;
        }
        Ok(Serving { stop, finished })
    }

    /// Stops accepting and waits for every thread to finish, for at most `grace`.
    pub async fn stop(self, grace: std::time::Duration) {
        let _ = self.stop.send(Stop::Drain);
        let all = futures::future::join_all(self.finished);
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!(
                ?grace,
                "in-flight requests did not finish within the grace period"
            );
            let _ = self.stop.send(Stop::Abandon);
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    state: AppState,
    mut stopping: watch::Receiver<Stop>,
    everyone: Arc<Barrier>,
) {
    let mut abandon = stopping.clone();
    let engine = Arc::clone(&state.engine);
    let work = async move {
        let drain = async move {
            let _ = stopping.wait_for(|stop| *stop >= Stop::Drain).await;
        };
        let served = match TcpListener::from_std(listener) {
            Ok(listener) => serve_until(listener, state, drain).await,
            Err(error) => Err(error),
        };
        if let Err(error) = served {
            tracing::error!(%error, "a serving thread stopped serving");
        }
        engine.fan_outs_finished().await;
        everyone.wait().await;
    };
    tokio::select! {
        () = work => {}
        _ = abandon.wait_for(|stop| *stop == Stop::Abandon) => {}
    }
}
