//! The open-loop generator behind [`crate::load::fixed_rate`], kept cheap so that measuring a
//! fixed rate leaves the machine's cores to the processes measured.
//!
//! Three threads and no async runtime: a *sender* sleeps until each request's scheduled time
//! and writes the request on an idle keep-alive connection; when none is idle, the request
//! waits (the wait counts in its latency) for the next connection to come free or for a new
//! one, which a *connector* opens, up to [`MAX_CONNECTIONS`] (so that a slow connect, such as
//! a dropped SYN that the kernel retries a second later, delays the requests waiting for a
//! connection and not the whole schedule); a *reader* waits on every connection at once (epoll
//! through mio), reads each answer as it completes, times it from the request's scheduled
//! time, and hands the connection to a waiting request or back to the idle list. Per request
//! that is one timed sleep, one `write`, and one wake-up and `read`: a few microseconds of CPU,
//! against tens for a task per request on a general-purpose HTTP client.
//!
//! Answers must carry a `Content-Length` (the publisher, nginx and the gateway all send one);
//! a chunked answer counts as a failed request.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Registry, Token};

use crate::load::{Latencies, REQUEST_TIMEOUT, RateResult, Record, Target, judge};

/// At most this many connections are opened.
pub const MAX_CONNECTIONS: usize = 256;
/// How often the reader looks for requests past their timeout.
const SWEEP_INTERVAL: Duration = Duration::from_millis(50);

/// One scheduled request.
#[derive(Debug, Clone, Copy)]
struct Scheduled {
    at: Instant,
    measured: bool,
}

/// A connection, shared by the sender (writes) and the reader (reads).
struct Connection {
    stream: Arc<TcpStream>,
    /// The request on it, if one is outstanding.
    outstanding: Option<Scheduled>,
    /// When that request was written (for the timeout).
    written: Instant,
    open: bool,
}

#[derive(Default)]
struct State {
    connections: Vec<Connection>,
    /// How many of them are open (closed ones keep their slot, and do not count).
    open: usize,
    /// Connections asked of the connector and not opened yet.
    connecting: usize,
    idle: Vec<usize>,
    waiting: VecDeque<Scheduled>,
}

impl State {
    fn close(&mut self, id: usize) {
        if std::mem::replace(&mut self.connections[id].open, false) {
            self.open -= 1;
        }
    }
}

struct Shared {
    state: Mutex<State>,
    request: Vec<u8>,
    /// Requests answered or failed.
    done: AtomicU64,
    total: u64,
    sender_finished: AtomicBool,
    record: Record,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fail(&self, scheduled: Scheduled, error: String) {
        if scheduled.measured {
            self.record.add(Duration::ZERO, Err(error));
        }
        self.done.fetch_add(1, Ordering::Release);
    }
}

/// The request's bytes: `GET` with `Host`, the optional `Authorization`, keep-alive.
fn request_bytes(target: &Target) -> anyhow::Result<Vec<u8>> {
    let authority = target
        .uri
        .authority()
        .with_context(|| format!("{} has no host", target.uri))?;
    let path = target.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\n").into_bytes();
    if let Some(authorization) = &target.authorization {
        request.extend_from_slice(b"Authorization: ");
        request.extend_from_slice(authorization.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    Ok(request)
}

fn address(target: &Target) -> anyhow::Result<SocketAddr> {
    if target.uri.scheme_str() != Some("http") {
        bail!(
            "the fixed-rate generator speaks plain HTTP only, not {}",
            target.uri
        );
    }
    let host = target.uri.host().context("no host")?;
    let port = target.uri.port_u16().unwrap_or(80);
    (host, port)
        .to_socket_addrs()
        .with_context(|| format!("resolving {host}"))?
        .next()
        .with_context(|| format!("{host} has no address"))
}

/// Sends `GET target` at `rate` requests per second (`warm` unmeasured, then `measured`),
/// waits for every answer or its timeout, and returns what was measured.
pub fn run(target: &Target, rate: f64, warm: u64, measured: u64) -> anyhow::Result<RateResult> {
    let address = address(target)?;
    let poll = Poll::new().context("creating the poller")?;
    let registry = poll.registry().try_clone().context("sharing the poller")?;
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        request: request_bytes(target)?,
        done: AtomicU64::new(0),
        total: warm + measured,
        sender_finished: AtomicBool::new(false),
        record: Record::new()?,
    });
    let reader = {
        let (shared, target) = (Arc::clone(&shared), target.clone());
        std::thread::Builder::new()
            .name("bench-reader".to_owned())
            .spawn(move || read_loop(poll, &shared, &target))
            .context("starting the reader thread")?
    };
    let (open_one, opening) = std::sync::mpsc::channel();
    let connector = {
        let shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("bench-connector".to_owned())
            .spawn(move || connect_loop(&shared, &registry, address, &opening))
            .context("starting the connector thread")?
    };
    let sending = send_loop(&shared, &open_one, rate, warm);
    shared.sender_finished.store(true, Ordering::Release);
    drop(open_one);
    let read = reader.join().map_err(|_| anyhow!("the reader thread panicked"))?;
    connector
        .join()
        .map_err(|_| anyhow!("the connector thread panicked"))?;
    let (max_lag, span) = sending?;
    read?;
    let sent_rate = if span.is_zero() {
        0.0
    } else {
        (measured.saturating_sub(1)) as f64 / span.as_secs_f64()
    };
    let latencies: Latencies = shared.record.latencies();
    Ok(RateResult {
        target_rate: rate,
        sent_rate,
        max_dispatch_lag_ms: max_lag.as_secs_f64() * 1000.0,
        latencies,
    })
}

/// Sends every request at its time; returns the largest dispatch lag of the measured requests
/// and the span between the first and last of them.
fn send_loop(
    shared: &Shared,
    open_one: &std::sync::mpsc::Sender<()>,
    rate: f64,
    warm: u64,
) -> anyhow::Result<(Duration, Duration)> {
    let start = Instant::now() + Duration::from_millis(20);
    let mut max_lag = Duration::ZERO;
    let mut first_sent = None;
    let mut last_sent = start;
    for i in 0..shared.total {
        let at = start + Duration::from_secs_f64(i as f64 / rate);
        let now = Instant::now();
        if at > now {
            std::thread::sleep(at - now);
        }
        let sent = Instant::now();
        let scheduled = Scheduled {
            at,
            measured: i >= warm,
        };
        if scheduled.measured {
            max_lag = max_lag.max(sent.saturating_duration_since(at));
            first_sent.get_or_insert(sent);
            last_sent = sent;
        }
        let mut state = shared.lock();
        let Some(connection) = state.idle.pop() else {
            state.waiting.push_back(scheduled);
            if state.open + state.connecting < MAX_CONNECTIONS {
                state.connecting += 1;
                drop(state);
                open_one
                    .send(())
                    .map_err(|_| anyhow!("the connector thread stopped"))?;
            }
            continue;
        };
        if let Err(error) = write_request(shared, &mut state, connection, scheduled) {
            drop(state);
            shared.fail(scheduled, error);
        }
    }
    let span = last_sent.saturating_duration_since(first_sent.unwrap_or(last_sent));
    Ok((max_lag, span))
}

/// Opens a connection for each one asked for, and gives it to the oldest waiting request (or
/// to the idle list); when opening fails, the oldest waiting request fails.
fn connect_loop(
    shared: &Shared,
    registry: &Registry,
    address: SocketAddr,
    asked: &std::sync::mpsc::Receiver<()>,
) {
    while asked.recv().is_ok() {
        let opened = open(address);
        let mut state = shared.lock();
        state.connecting -= 1;
        let id = state.connections.len();
        let registered = opened.and_then(|mut stream| {
            registry.register(&mut stream, Token(id), Interest::READABLE)?;
            Ok(stream)
        });
        match registered {
            Ok(stream) => {
                state.connections.push(Connection {
                    stream: Arc::new(stream),
                    outstanding: None,
                    written: Instant::now(),
                    open: true,
                });
                state.open += 1;
                give(shared, state, id);
            }
            Err(error) => {
                if let Some(waiting) = state.waiting.pop_front() {
                    drop(state);
                    shared.fail(waiting, format!("connecting to {address}: {error}"));
                }
            }
        }
    }
}

fn open(address: SocketAddr) -> std::io::Result<TcpStream> {
    let stream = std::net::TcpStream::connect(address)?;
    stream.set_nodelay(true)?;
    stream.set_nonblocking(true)?;
    Ok(TcpStream::from_std(stream))
}

/// Writes the request on an idle connection (a request of a few hundred bytes always fits an
/// idle socket's buffer; anything else closes the connection).
fn write_request(
    shared: &Shared,
    state: &mut State,
    connection: usize,
    scheduled: Scheduled,
) -> Result<(), String> {
    let slot = &mut state.connections[connection];
    let error = match (&*slot.stream).write(&shared.request) {
        Ok(n) if n == shared.request.len() => {
            slot.outstanding = Some(scheduled);
            slot.written = Instant::now();
            return Ok(());
        }
        Ok(n) => format!("only {n} bytes of the request could be written"),
        Err(error) => format!("writing the request: {error}"),
    };
    state.close(connection);
    Err(error)
}

/// What the reader keeps of one connection: the stream, and the bytes of the answer so far.
#[derive(Default)]
struct Incoming {
    stream: Option<Arc<TcpStream>>,
    buffer: Vec<u8>,
}

/// The outcome of reading what a connection has.
enum Outcome {
    /// The answer is not complete yet.
    Partial,
    /// An answer: its status and body.
    Answer(u16, Vec<u8>),
    /// The connection failed or closed.
    Broken(String),
}

fn read_loop(mut poll: Poll, shared: &Shared, target: &Target) -> anyhow::Result<()> {
    let mut events = Events::with_capacity(1024);
    let mut incoming: Vec<Incoming> = Vec::new();
    let mut last_sweep = Instant::now();
    loop {
        if shared.sender_finished.load(Ordering::Acquire)
            && shared.done.load(Ordering::Acquire) >= shared.total
        {
            return Ok(());
        }
        match poll.poll(&mut events, Some(SWEEP_INTERVAL)) {
            Ok(()) => {}
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => return Err(error).context("waiting for answers"),
        }
        for event in events.iter() {
            let id = event.token().0;
            if incoming.len() <= id {
                incoming.resize_with(id + 1, Incoming::default);
            }
            let connection = &mut incoming[id];
            if connection.stream.is_none() {
                connection.stream = shared.lock().connections.get(id).map(|c| Arc::clone(&c.stream));
            }
            let Some(stream) = &connection.stream else {
                continue;
            };
            let outcome = read_answer(stream, &mut connection.buffer);
            let answered = Instant::now();
            match outcome {
                Outcome::Partial => {}
                Outcome::Answer(status, body) => {
                    let scheduled = next_request(shared, id, true);
                    if let Some(scheduled) = scheduled {
                        if scheduled.measured {
                            let outcome = judge(target, status, &body);
                            shared.record.add(answered.duration_since(scheduled.at), outcome);
                        }
                        shared.done.fetch_add(1, Ordering::Release);
                    }
                }
                Outcome::Broken(error) => {
                    incoming[id].buffer.clear();
                    if let Some(scheduled) = next_request(shared, id, false) {
                        shared.fail(scheduled, error);
                    }
                }
            }
        }
        if last_sweep.elapsed() >= SWEEP_INTERVAL {
            last_sweep = Instant::now();
            sweep(shared);
        }
    }
}

/// Ends the connection's outstanding request (returned), then gives the connection to the
/// oldest waiting request, or back to the idle list; a broken connection is closed, and a
/// waiting request then gets a new one when the sender next asks the connector for one (or
/// fails when it has waited for the request timeout).
fn next_request(shared: &Shared, id: usize, healthy: bool) -> Option<Scheduled> {
    let mut state = shared.lock();
    let finished = state.connections[id].outstanding.take();
    if !healthy || !state.connections[id].open {
        // Closed here, or already given up on by the sweep (whose request it has failed).
        state.close(id);
        return finished;
    }
    give(shared, state, id);
    finished
}

/// Gives an open, free connection to the oldest waiting request, or to the idle list.
fn give(shared: &Shared, mut state: MutexGuard<'_, State>, id: usize) {
    match state.waiting.pop_front() {
        Some(waiting) => {
            if let Err(error) = write_request(shared, &mut state, id, waiting) {
                drop(state);
                shared.fail(waiting, error);
            }
        }
        None => state.idle.push(id),
    }
}

/// Fails requests outstanding for longer than the timeout, closing their connections, and
/// requests that waited that long for a connection (so that a run always ends, even when every
/// connection broke).
fn sweep(shared: &Shared) {
    let mut expired = Vec::new();
    {
        let mut state = shared.lock();
        for id in 0..state.connections.len() {
            let connection = &mut state.connections[id];
            if connection.open
                && connection.outstanding.is_some()
                && connection.written.elapsed() > REQUEST_TIMEOUT
            {
                expired.extend(connection.outstanding.take());
                state.close(id);
            }
        }
        while state
            .waiting
            .front()
            .is_some_and(|w| w.at.elapsed() > REQUEST_TIMEOUT)
        {
            expired.extend(state.waiting.pop_front());
        }
    }
    for scheduled in expired {
        shared.fail(scheduled, format!("no answer within {REQUEST_TIMEOUT:?}"));
    }
}

/// Reads everything the socket has (mio's readiness is edge-triggered) and parses the answer.
fn read_answer(stream: &TcpStream, buffer: &mut Vec<u8>) -> Outcome {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match (&*stream).read(&mut chunk) {
            Ok(0) => return Outcome::Broken("the server closed the connection".to_owned()),
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            Err(error) if error.kind() == ErrorKind::WouldBlock => break,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => return Outcome::Broken(format!("reading the answer: {error}")),
        }
    }
    parse(buffer)
}

/// Parses one answer from the front of `buffer`, removing it when complete.
fn parse(buffer: &mut Vec<u8>) -> Outcome {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head = match response.parse(buffer) {
        Ok(httparse::Status::Complete(head)) => head,
        Ok(httparse::Status::Partial) => return Outcome::Partial,
        Err(error) => return Outcome::Broken(format!("an answer that is not HTTP: {error}")),
    };
    let status = response.code.unwrap_or(0);
    let mut length = None;
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            length = std::str::from_utf8(header.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok());
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Outcome::Broken("a chunked answer (the generator needs a Content-Length)".to_owned());
        }
    }
    let Some(length) = length else {
        return Outcome::Broken("an answer without a Content-Length".to_owned());
    };
    if buffer.len() < head + length {
        return Outcome::Partial;
    }
    let body = buffer[head..head + length].to_vec();
    buffer.drain(..head + length);
    Outcome::Answer(status, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_answer_split_across_reads() {
        let whole = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello".to_vec();
        let mut buffer = whole[..20].to_vec();
        assert!(matches!(parse(&mut buffer), Outcome::Partial));
        buffer.extend_from_slice(&whole[20..whole.len() - 2]);
        assert!(matches!(parse(&mut buffer), Outcome::Partial));
        buffer.extend_from_slice(&whole[whole.len() - 2..]);
        match parse(&mut buffer) {
            Outcome::Answer(status, body) => assert_eq!((status, &body[..]), (200, &b"hello"[..])),
            _ => panic!("a complete answer"),
        }
        assert!(buffer.is_empty());
    }

    #[test]
    fn chunked_or_unsized_answers_are_failures() {
        for text in [
            &b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"[..],
            &b"HTTP/1.1 200 OK\r\n\r\n"[..],
        ] {
            assert!(matches!(parse(&mut text.to_vec()), Outcome::Broken(_)));
        }
    }

    #[test]
    fn the_request_carries_the_path_host_and_authorization() {
        let target = Target::new(
            "http://127.0.0.1:8080/v1/PhoneNumbers/+1?AddOns=a",
            Some("Basic eDp5"),
            None,
        )
        .expect("a target");
        assert_eq!(
            String::from_utf8(request_bytes(&target).expect("a request")).expect("text"),
            "GET /v1/PhoneNumbers/+1?AddOns=a HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAuthorization: Basic eDp5\r\n\r\n"
        );
    }
}
