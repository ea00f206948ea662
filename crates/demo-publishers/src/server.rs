//! The publisher's HTTP server: verifies, answers with the app, remembers answers for replays,
//! records what arrived, and misbehaves on request.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use addons_domain::signature::Signer;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::apps::DemoApp;
use crate::config::PublisherConfig;
use crate::manifest::manifest_with_credentials;
use crate::verify::{
    Incoming, Verification, VerifiedRequest, Verifier, check_credentials, find_header, origin_of, parameters,
};

/// How long [`RunningPublisher::shutdown`] waits for open connections before cutting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The size of each chunk of an oversized answer.
const OVERSIZE_CHUNK: usize = 64 * 1024;

/// Padding for oversized answers: one static buffer, so that a 50 MB answer costs no memory.
static PADDING: [u8; OVERSIZE_CHUNK] = [b'x'; OVERSIZE_CHUNK];

const OVERSIZE_PREFIX: &[u8] = br#"{"padding":""#;
const OVERSIZE_SUFFIX: &[u8] = br#""}"#;

/// How the server misbehaves. The default behaves.
///
/// Verification still runs and is recorded first; a request it rejects is answered 403/401 and
/// does not misbehave, except for `delay` (which every request waits) and `redirect_loop`
/// (which redirects every request: a client following a 302 may turn a POST into a GET and
/// drop its body, and the loop must go on regardless). When several are set, the first of
/// `fail_first`, `status`, `oversize_bytes`, `invalid_json`, `error_object` applies. None of
/// these answers is remembered for replays.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Behavior {
    /// Sleep this long before answering anything.
    pub delay: Duration,
    /// Answer this status with a small JSON error body instead of running the app.
    pub status: Option<u16>,
    /// Answer 503 to this many verified requests, then behave; counts down.
    pub fail_first: u32,
    /// Answer 200 `application/json` with a body of exactly this many bytes
    /// (`{"padding":"xxx…"}`, valid JSON from 14 bytes on), streamed in 64 KiB chunks without a
    /// `Content-Length`, so that the client must count.
    pub oversize_bytes: Option<u64>,
    /// Answer 200 `application/json` with a body that is not JSON.
    pub invalid_json: bool,
    /// Answer 200 with `{"status": "failed", "code": c, "message": m}`.
    pub error_object: Option<(u32, String)>,
    /// Answer 302 to the same URL, forever.
    pub redirect_loop: bool,
}

/// One request that arrived, verified or not.
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    /// The HTTP method.
    pub method: Method,
    /// The path, as received.
    pub path: String,
    /// The raw query string, as received.
    pub query: Option<String>,
    /// The headers, names lower-case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Bytes,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
    /// Whether `X-Twilio-Signature` (and `bodySHA256`) held.
    pub signature_valid: bool,
    /// Whether it repeated an earlier `X-Twilio-RequestSid` and got the remembered answer.
    pub replay: bool,
    /// Why it was refused ([`crate::Rejection::reason`]), if it was.
    pub rejection: Option<String>,
    /// The status answered; `None` while the answer is still being prepared (during a delay).
    pub status: Option<u16>,
}

impl ReceivedRequest {
    /// The first value of a header (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// `X-Twilio-RequestSid`, if sent.
    pub fn request_sid(&self) -> Option<&str> {
        self.header("x-twilio-requestsid")
    }
}

/// An answer remembered for replays.
#[derive(Debug, Clone)]
struct Remembered {
    status: StatusCode,
    body: Bytes,
}

/// Answers by request SID, forgetting the oldest beyond the capacity.
#[derive(Debug, Default)]
struct ReplayCache {
    answers: HashMap<String, Remembered>,
    order: VecDeque<String>,
}

impl ReplayCache {
    fn get(&self, sid: &str) -> Option<Remembered> {
        self.answers.get(sid).cloned()
    }

    fn insert(&mut self, sid: String, answer: Remembered, capacity: usize) {
        if capacity == 0 {
            return;
        }
        if self.answers.insert(sid.clone(), answer).is_none() {
            self.order.push_back(sid);
        }
        while self.order.len() > capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.answers.remove(&oldest);
            }
        }
    }
}

#[derive(Debug, Default)]
struct Received {
    next_id: u64,
    requests: VecDeque<(u64, ReceivedRequest)>,
}

#[derive(Debug)]
struct Shared {
    app: DemoApp,
    config: PublisherConfig,
    verifier: Verifier,
    base_url: String,
    behavior: Mutex<Behavior>,
    received: Mutex<Received>,
    replays: Mutex<ReplayCache>,
    runs_today: Mutex<(NaiveDate, u64)>,
}

/// Locks a mutex whose data stays consistent even if a holder panicked (every critical section
/// is a single update).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn record(&self, request: ReceivedRequest) -> u64 {
        let mut received = lock(&self.received);
        let id = received.next_id;
        received.next_id += 1;
        received.requests.push_back((id, request));
        while received.requests.len() > self.config.received_capacity {
            received.requests.pop_front();
        }
        id
    }

    fn update(&self, id: u64, change: impl FnOnce(&mut ReceivedRequest)) {
        let mut received = lock(&self.received);
        if let Some((_, request)) = received.requests.iter_mut().rev().find(|(other, _)| *other == id) {
            change(request);
        }
    }

    fn next_run_today(&self, now: DateTime<Utc>) -> u64 {
        let mut runs = lock(&self.runs_today);
        let today = now.date_naive();
        if runs.0 != today {
            *runs = (today, 0);
        }
        runs.1 += 1;
        runs.1
    }

    fn self_url(&self, path: &str, query: Option<&str>) -> String {
        self.verifier.signed_url(path, query)
    }
}

/// How one request was answered.
struct Outcome {
    response: Response,
    status: u16,
    replay: bool,
    rejection: Option<&'static str>,
}

impl Outcome {
    fn json(status: StatusCode, body: &Value) -> Outcome {
        Outcome::bytes(status, Bytes::from(body.to_string()))
    }

    fn bytes(status: StatusCode, body: Bytes) -> Outcome {
        let response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        Outcome {
            response,
            status: status.as_u16(),
            replay: false,
            rejection: None,
        }
    }

    fn error(status: StatusCode, code: u32, message: &str) -> Outcome {
        Outcome::json(
            status,
            &json!({"status": "failed", "message": message, "code": code}),
        )
    }
}

/// A publisher server that is running.
#[derive(Debug)]
pub struct RunningPublisher {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// Starts a publisher server for `app` on `bind` (port 0 picks a free port).
pub async fn start(
    bind: SocketAddr,
    config: PublisherConfig,
    app: DemoApp,
) -> std::io::Result<RunningPublisher> {
    let listener = tokio::net::TcpListener::bind(bind).await?;
    let local_addr = listener.local_addr()?;
    let base_url = config.public_base_url.as_deref().map_or_else(
        || format!("http://{local_addr}"),
        |url| url.trim_end_matches('/').to_owned(),
    );
    let verifier = Verifier {
        signer: Signer::new(&config.auth_token),
        origin: origin_of(&base_url),
        vendor_account_sid: config.vendor_account_sid.clone(),
        clock_skew: config.clock_skew,
    };
    let shared = Arc::new(Shared {
        app,
        config,
        verifier,
        base_url,
        behavior: Mutex::new(Behavior::default()),
        received: Mutex::new(Received::default()),
        replays: Mutex::new(ReplayCache::default()),
        runs_today: Mutex::new((NaiveDate::MIN, 0)),
    });
    let router = Router::new().fallback(handle).with_state(Arc::clone(&shared));
    let (shutdown, stop) = oneshot::channel::<()>();
    let app_name = shared.app.unique_name();
    let task = tokio::spawn(async move {
        let server = axum::serve(listener, router).with_graceful_shutdown(async move {
            // A dropped sender stops the server as well.
            let _ = stop.await;
        });
        if let Err(error) = server.await {
            tracing::warn!(%error, app = app_name, "demo publisher stopped with an error");
        }
    });
    tracing::info!(app = app_name, %local_addr, base_url = %shared.base_url, "demo publisher listening");
    Ok(RunningPublisher {
        shared,
        local_addr,
        shutdown: Some(shutdown),
        task: Some(task),
    })
}

impl RunningPublisher {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The base URL the gateway calls (without a trailing `/`).
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    /// The app's endpoint URL: the base URL and the app's path.
    pub fn endpoint_url(&self) -> String {
        format!("{}{}", self.shared.base_url, self.shared.app.path())
    }

    /// The app the server runs.
    pub fn app(&self) -> &DemoApp {
        &self.shared.app
    }

    /// The server's settings.
    pub fn config(&self) -> &PublisherConfig {
        &self.shared.config
    }

    /// The app's manifest, pointing at this server and declaring the credentials it checks.
    pub fn manifest(&self) -> Value {
        manifest_with_credentials(
            &self.shared.app,
            &self.shared.base_url,
            &self.shared.config.credentials,
        )
    }

    /// Every request that arrived (the most recent [`PublisherConfig::received_capacity`]),
    /// oldest first.
    pub fn received(&self) -> Vec<ReceivedRequest> {
        lock(&self.shared.received)
            .requests
            .iter()
            .map(|(_, request)| request.clone())
            .collect()
    }

    /// Forgets the requests received so far.
    pub fn clear_received(&self) {
        lock(&self.shared.received).requests.clear();
    }

    /// The current behaviour (with `fail_first` as counted down so far).
    pub fn behavior(&self) -> Behavior {
        lock(&self.shared.behavior).clone()
    }

    /// Replaces the behaviour; it applies to requests answered from now on.
    pub fn set_behavior(&self, behavior: Behavior) {
        *lock(&self.shared.behavior) = behavior;
    }

    /// Stops accepting connections, lets open ones finish for a few seconds, then cuts them.
    pub async fn shutdown(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await.is_err()
        {
            task.abort();
        }
    }
}

impl Drop for RunningPublisher {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = Utc::now();
    let path = uri.path();
    let query = uri.query();
    let verification = shared.verifier.verify(
        Incoming {
            path,
            query,
            headers: &headers,
            body: &body,
        },
        arrived,
    );
    let id = shared.record(ReceivedRequest {
        method: method.clone(),
        path: path.to_owned(),
        query: query.map(str::to_owned),
        headers: header_pairs(&headers),
        body: body.clone(),
        received_at: arrived,
        signature_valid: verification.signature_valid,
        replay: false,
        rejection: verification.outcome.as_ref().err().map(|r| r.reason().to_owned()),
        status: None,
    });
    let delay = lock(&shared.behavior).delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let outcome = respond(&shared, verification, method, path, query, &headers, body);
    shared.update(id, |request| {
        request.status = Some(outcome.status);
        request.replay = outcome.replay;
        if let Some(reason) = outcome.rejection {
            request.rejection = Some(reason.to_owned());
        }
    });
    outcome.response
}

fn respond(
    shared: &Shared,
    verification: Verification,
    method: Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Bytes,
) -> Outcome {
    if lock(&shared.behavior).redirect_loop {
        let location = shared.self_url(path, query);
        let mut response = (
            StatusCode::FOUND,
            [(header::CONTENT_TYPE, "application/json")],
            "{}",
        )
            .into_response();
        if let Ok(location) = HeaderValue::from_str(&location) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        return Outcome {
            response,
            status: StatusCode::FOUND.as_u16(),
            replay: false,
            rejection: None,
        };
    }
    let checked = match verification.outcome {
        Ok(checked) => checked,
        Err(rejection) => {
            let status = StatusCode::from_u16(rejection.status()).unwrap_or(StatusCode::FORBIDDEN);
            return Outcome::json(status, &rejection.to_json());
        }
    };
    let params = match parameters(query, headers, &body) {
        Ok(params) => params,
        Err(error) => return Outcome::json(StatusCode::BAD_REQUEST, &error.to_json()),
    };
    if let Err(rejection) =
        check_credentials(&shared.app, &shared.config.credentials, headers, query, &params)
    {
        let mut outcome = Outcome::json(StatusCode::UNAUTHORIZED, &rejection.to_json());
        outcome.rejection = Some(rejection.reason());
        return outcome;
    }
    if let Some(outcome) = misbehave(shared) {
        return outcome;
    }
    if let Some(remembered) = lock(&shared.replays).get(&checked.request_sid) {
        let mut outcome = Outcome::bytes(remembered.status, remembered.body);
        outcome.replay = true;
        return outcome;
    }
    // Two simultaneous requests with the same SID may both run the app: the apps are pure, so
    // both get the same answer, and the first to finish is remembered.
    let now = Utc::now();
    let request = VerifiedRequest {
        method,
        path: path.to_owned(),
        query: query.map(str::to_owned),
        params,
        headers: header_pairs(headers),
        body,
        request_sid: checked.request_sid.clone(),
        invocation_date: checked.invocation_date,
        invocation_ttl: checked.invocation_ttl,
        app_runs_today: shared.next_run_today(now),
    };
    let (status, answer) = match shared.app.respond(&request) {
        Ok(answer) => (StatusCode::OK, answer),
        Err(error) => (StatusCode::BAD_REQUEST, error.to_json()),
    };
    let body = Bytes::from(answer.to_string());
    lock(&shared.replays).insert(
        checked.request_sid,
        Remembered {
            status,
            body: body.clone(),
        },
        shared.config.replay_capacity,
    );
    Outcome::bytes(status, body)
}

/// The misbehaviour due for a verified request, if any (counting `fail_first` down).
fn misbehave(shared: &Shared) -> Option<Outcome> {
    let behavior = {
        let mut behavior = lock(&shared.behavior);
        if behavior.fail_first > 0 {
            behavior.fail_first -= 1;
            drop(behavior);
            return Some(Outcome::error(
                StatusCode::SERVICE_UNAVAILABLE,
                50301,
                "temporarily unavailable (demo: fail_first)",
            ));
        }
        behavior.clone()
    };
    if let Some(status) = behavior.status {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return Some(Outcome::error(
            status,
            u32::from(status.as_u16()),
            &format!("demo publisher answering {status}"),
        ));
    }
    if let Some(size) = behavior.oversize_bytes {
        let body = Body::from_stream(futures::stream::iter(
            OversizeBody::new(size).map(Ok::<_, Infallible>),
        ));
        let response = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        return Some(Outcome {
            response,
            status: 200,
            replay: false,
            rejection: None,
        });
    }
    if behavior.invalid_json {
        return Some(Outcome::bytes(
            StatusCode::OK,
            Bytes::from_static(b"this is not JSON {\"anagrams\": ["),
        ));
    }
    if let Some((code, message)) = behavior.error_object {
        return Some(Outcome::json(
            StatusCode::OK,
            &json!({"status": "failed", "code": code, "message": message}),
        ));
    }
    None
}

/// The chunks of an oversized answer, made as they are sent: the prefix, static padding, the
/// suffix; exactly `size` bytes in all.
#[derive(Debug)]
struct OversizeBody {
    /// Bytes still to send.
    remaining: u64,
    /// Bytes of the prefix already sent.
    prefix_sent: usize,
}

impl OversizeBody {
    fn new(size: u64) -> OversizeBody {
        OversizeBody {
            remaining: size,
            prefix_sent: 0,
        }
    }
}

impl Iterator for OversizeBody {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        if self.remaining == 0 {
            return None;
        }
        let fits = |bytes: &'static [u8], remaining: u64| {
            let len = usize::try_from(remaining).map_or(bytes.len(), |r| r.min(bytes.len()));
            &bytes[..len]
        };
        let chunk: &'static [u8] = if self.prefix_sent < OVERSIZE_PREFIX.len() {
            let chunk = fits(&OVERSIZE_PREFIX[self.prefix_sent..], self.remaining);
            self.prefix_sent += chunk.len();
            chunk
        } else if self.remaining <= OVERSIZE_SUFFIX.len() as u64 {
            fits(
                &OVERSIZE_SUFFIX[OVERSIZE_SUFFIX.len() - self.remaining as usize..],
                self.remaining,
            )
        } else {
            fits(&PADDING, self.remaining - OVERSIZE_SUFFIX.len() as u64)
        };
        self.remaining -= chunk.len() as u64;
        Some(Bytes::from_static(chunk))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(size: u64) -> Vec<u8> {
        OversizeBody::new(size).flat_map(|chunk| chunk.to_vec()).collect()
    }

    #[test]
    fn oversized_bodies_are_exact_and_json() {
        for size in [14u64, 15, 1000, 65_536 + 14, 200_000] {
            let body = collect(size);
            assert_eq!(body.len() as u64, size);
            let parsed: Value = serde_json::from_slice(&body).expect("valid JSON");
            assert!(parsed["padding"].is_string());
        }
        assert_eq!(collect(5), br#"{"pad"#);
        assert!(collect(0).is_empty());
    }

    #[test]
    fn oversized_chunks_are_bounded() {
        assert!(OversizeBody::new(10_000_000).all(|chunk| chunk.len() <= OVERSIZE_CHUNK));
    }

    #[test]
    fn the_replay_cache_forgets_the_oldest() {
        let mut cache = ReplayCache::default();
        let answer = |n: u8| Remembered {
            status: StatusCode::OK,
            body: Bytes::from(vec![n]),
        };
        for n in 0..5u8 {
            cache.insert(format!("XR{n}"), answer(n), 3);
        }
        assert!(cache.get("XR0").is_none());
        assert!(cache.get("XR1").is_none());
        assert_eq!(cache.get("XR4").map(|a| a.body), Some(Bytes::from(vec![4])));
        assert_eq!(cache.answers.len(), 3);
        assert_eq!(cache.order.len(), 3);
    }
}
