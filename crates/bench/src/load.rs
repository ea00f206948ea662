//! In-process load generators over keep-alive connections:
//!
//! - [`fixed_rate`], open loop: requests are sent on a fixed schedule whether or not earlier
//!   ones have been answered, and each latency runs from the time the request was *scheduled*,
//!   so a stall shows up in the percentiles instead of silently slowing the load down (the
//!   "coordinated omission" a closed loop such as wrk suffers from);
//! - [`closed_loop`]: a fixed number of workers, each sending its next request when the
//!   previous one is answered (for the fan-out comparison and the database batch).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::header::{AUTHORIZATION, HeaderValue};
use hyper::{Request, Uri};
use serde::Serialize;

use crate::http::{self, HttpClient};

/// A request counts as failed when it is not answered within this time.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Checks an answer's body (a 2xx status is always required).
pub type Checker = Arc<dyn Fn(&[u8]) -> Result<(), String> + Send + Sync>;

/// What to request: `GET uri`, with an `Authorization` header when given.
#[derive(Clone)]
pub struct Target {
    /// The URL.
    pub uri: Uri,
    /// The `Authorization` header.
    pub authorization: Option<HeaderValue>,
    /// Applied to every answer.
    pub check: Option<Checker>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("uri", &self.uri)
            .field("checked", &self.check.is_some())
            .finish_non_exhaustive()
    }
}

impl Target {
    /// `GET url` with an optional `Authorization` header and answer check.
    pub fn new(url: &str, authorization: Option<&str>, check: Option<Checker>) -> anyhow::Result<Target> {
        Ok(Target {
            uri: url.parse().with_context(|| format!("{url} is not a URL"))?,
            authorization: authorization
                .map(HeaderValue::from_str)
                .transpose()
                .context("the Authorization header is not a valid header value")?,
            check,
        })
    }
}

/// Latency percentiles of the measured requests (failed ones are counted, not timed).
#[derive(Debug, Clone, Serialize)]
pub struct Latencies {
    /// Requests measured.
    pub requests: u64,
    /// Requests that failed (no answer, not 2xx, or the check failed).
    pub errors: u64,
    /// The first failure, for the report.
    pub first_error: Option<String>,
    /// Median (ms).
    pub p50_ms: f64,
    /// 90th percentile (ms).
    pub p90_ms: f64,
    /// 99th percentile (ms).
    pub p99_ms: f64,
    /// Largest (ms).
    pub max_ms: f64,
    /// Mean (ms).
    pub mean_ms: f64,
}

/// What a fixed-rate run measured.
#[derive(Debug, Clone, Serialize)]
pub struct RateResult {
    /// The rate asked for (requests/s).
    pub target_rate: f64,
    /// The rate at which the measured requests were actually sent (requests/s).
    pub sent_rate: f64,
    /// The largest delay between a measured request's scheduled time and its dispatch (ms):
    /// large values mean the generator itself could not keep the schedule.
    pub max_dispatch_lag_ms: f64,
    /// Latencies from the scheduled time.
    #[serde(flatten)]
    pub latencies: Latencies,
}

/// Collects latencies (µs) and failures from many tasks.
pub(crate) struct Record {
    histogram: Mutex<Histogram<u64>>,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Record {
    pub(crate) fn new() -> anyhow::Result<Record> {
        Ok(Record {
            // 1 µs to 60 s, three significant digits.
            histogram: Mutex::new(
                Histogram::new_with_bounds(1, 60_000_000, 3)
                    .map_err(|error| anyhow!("creating a histogram: {error:?}"))?,
            ),
            errors: AtomicU64::new(0),
            first_error: Mutex::new(None),
        })
    }

    pub(crate) fn add(&self, latency: Duration, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => {
                let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).max(1);
                self.histogram
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .saturating_record(micros);
            }
            Err(error) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                self.first_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get_or_insert(error);
            }
        }
    }

    pub(crate) fn latencies(&self) -> Latencies {
        let histogram = self.histogram.lock().unwrap_or_else(PoisonError::into_inner);
        let errors = self.errors.load(Ordering::Relaxed);
        let ms = |micros: u64| micros as f64 / 1000.0;
        Latencies {
            requests: histogram.len() + errors,
            errors,
            first_error: self
                .first_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            p50_ms: ms(histogram.value_at_quantile(0.5)),
            p90_ms: ms(histogram.value_at_quantile(0.9)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            max_ms: ms(histogram.max()),
            mean_ms: histogram.mean() / 1000.0,
        }
    }
}

/// Sends one request and reads the whole answer: its status and body.
async fn one_request(client: &HttpClient, target: &Target) -> Result<(u16, Bytes), String> {
    let mut request = Request::get(target.uri.clone())
        .body(Full::new(Bytes::new()))
        .map_err(|error| format!("building the request: {error}"))?;
    if let Some(authorization) = &target.authorization {
        request.headers_mut().insert(AUTHORIZATION, authorization.clone());
    }
    let response = tokio::time::timeout(REQUEST_TIMEOUT, client.request(request))
        .await
        .map_err(|_| format!("no answer within {REQUEST_TIMEOUT:?}"))?
        .map_err(|error| format!("request failed: {error}"))?;
    let status = response.status().as_u16();
    let body = tokio::time::timeout(REQUEST_TIMEOUT, response.into_body().collect())
        .await
        .map_err(|_| format!("body not read within {REQUEST_TIMEOUT:?}"))?
        .map_err(|error| format!("reading the answer: {error}"))?
        .to_bytes();
    Ok((status, body))
}

/// Judges an answer: a 2xx status, then the target's check. Called after the latency is
/// taken, so that checking (parsing a Lookup's JSON) is not counted against the gateway.
pub(crate) fn judge(target: &Target, status: u16, body: &[u8]) -> Result<(), String> {
    if !(200..300).contains(&status) {
        let text = String::from_utf8_lossy(body);
        return Err(format!(
            "status {status}: {}",
            text.chars().take(300).collect::<String>()
        ));
    }
    match &target.check {
        Some(check) => check(body),
        None => Ok(()),
    }
}

/// Sends `GET target` at `rate` requests per second: `warmup` unmeasured, then `duration`
/// measured, and waits for every answer ([`crate::open_loop`], on threads of its own).
pub async fn fixed_rate(
    target: &Target,
    rate: f64,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<RateResult> {
    if !rate.is_finite() || rate <= 0.0 {
        bail!("a fixed rate must be positive, not {rate}");
    }
    let warm = (rate * warmup.as_secs_f64()).round() as u64;
    let measured = ((rate * duration.as_secs_f64()).round() as u64).max(2);
    let target = target.clone();
    tokio::task::spawn_blocking(move || crate::open_loop::run(&target, rate, warm, measured))
        .await
        .context("the fixed-rate generator failed")?
}

/// Sends `warmup + requests` requests from `concurrency` workers, each waiting for its answer
/// before sending the next, and times the last `requests` (from each request's send).
pub async fn closed_loop(
    target: &Target,
    concurrency: usize,
    warmup: u64,
    requests: u64,
) -> anyhow::Result<Latencies> {
    let record = Arc::new(Record::new()?);
    let client = http::client(concurrency.max(1));
    let target = Arc::new(target.clone());
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (client, target, record, next) = (
            client.clone(),
            Arc::clone(&target),
            Arc::clone(&record),
            Arc::clone(&next),
        );
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= warmup + requests {
                    break;
                }
                let sent = Instant::now();
                let answer = one_request(&client, &target).await;
                let latency = sent.elapsed();
                if i >= warmup {
                    record.add(
                        latency,
                        answer.and_then(|(status, body)| judge(&target, status, &body)),
                    );
                }
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done.context("a load worker failed")?;
    }
    Ok(record.latencies())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn publisher() -> String {
        let port = crate::procs::free_port().expect("a free port");
        tokio::spawn(crate::publisher::serve(port, false));
        let url = format!("http://127.0.0.1:{port}/fast");
        let client = http::client(1);
        for _ in 0..100 {
            if http::send(&client, hyper::Method::GET, &url, None, http::Body::Empty)
                .await
                .is_ok()
            {
                return url;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the publisher did not start");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_fixed_rate_run_sends_at_the_rate_and_times_every_request() {
        let url = publisher().await;
        let target = Target::new(&url, None, None).expect("a target");
        let result = fixed_rate(
            &target,
            500.0,
            Duration::from_millis(100),
            Duration::from_millis(400),
        )
        .await
        .expect("the run completes");
        assert_eq!(result.latencies.requests, 200);
        assert_eq!(result.latencies.errors, 0, "{:?}", result.latencies.first_error);
        assert!(
            (result.sent_rate - 500.0).abs() < 50.0,
            "sent at {}",
            result.sent_rate
        );
        assert!(result.latencies.p50_ms > 0.0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_fixed_rate_run_counts_failed_checks_and_refused_connections() {
        let url = publisher().await;
        let check: Checker = Arc::new(|_: &[u8]| Err("rejected".to_owned()));
        let target = Target::new(&url, None, Some(check)).expect("a target");
        let result = fixed_rate(&target, 200.0, Duration::ZERO, Duration::from_millis(100))
            .await
            .expect("the run completes");
        assert_eq!((result.latencies.requests, result.latencies.errors), (20, 20));
        assert_eq!(result.latencies.first_error.as_deref(), Some("rejected"));

        let port = crate::procs::free_port().expect("a free port");
        let target = Target::new(&format!("http://127.0.0.1:{port}/"), None, None).expect("a target");
        let result = fixed_rate(&target, 200.0, Duration::ZERO, Duration::from_millis(100))
            .await
            .expect("the run completes");
        assert_eq!((result.latencies.requests, result.latencies.errors), (20, 20));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_closed_loop_counts_failed_checks() {
        let url = publisher().await;
        let check: Checker = Arc::new(|body: &[u8]| {
            if body.starts_with(b"{") {
                Err("rejected".to_owned())
            } else {
                Ok(())
            }
        });
        let target = Target::new(&url, None, Some(check)).expect("a target");
        let latencies = closed_loop(&target, 2, 2, 10).await.expect("the run completes");
        assert_eq!(latencies.requests, 10);
        assert_eq!(latencies.errors, 10);
        assert_eq!(latencies.first_error.as_deref(), Some("rejected"));
    }
}
