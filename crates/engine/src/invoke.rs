//! The request path, in the seed's words: resolve the installed Add-on; fill the **template
//! fields**; apply the **request validation schema**; build and sign the publisher request;
//! send it, retrying 5xx answers and failed connections within the TTL; check the answer
//! (status, size, JSON, a reported error); apply the **response validation schema**; decide
//! billing; apply **response cleaning**; and record everything, off the response path.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use addons_domain::error_code::AddOnErrorCode;
use addons_domain::fields::{AudioFields, BuiltinField, FieldValues};
use addons_domain::kind::IntegrationPoint;
use addons_domain::phone::{PhoneBook, PhoneError, PhoneNumber};
use addons_domain::pricing::{NonBillableReason, Pricing};
use addons_domain::sid::{AccountSid, RequestSid};
use addons_store::{AddOnRequestRecord, Attempt, Store};
use chrono::{DateTime, SubsecRound, Utc};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use serde_json::{Map, Value};
use tokio::sync::Notify;

use crate::catalog::{Catalog, Installed};
use crate::client::{ClientOptions, PublisherClient, SendError};
use crate::envelope::{AddOnResult, Outcome};
use crate::recorder::Recorder;
use crate::request::{self, RequestContext};
use crate::retry::RetrySchedule;

/// What the integration point supplies to the Add-ons it invokes. Owned, because the
/// invocations run on a task of their own (see [`Engine::invoke_named`]).
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// `primary_address`.
    pub primary_address: Option<String>,
    /// `secondary_address`.
    pub secondary_address: Option<String>,
    /// `body`.
    pub body: Option<String>,
    /// The recording fields.
    pub audio: Option<Audio>,
    /// What the invocation is for (a message, call or recording SID), for records.
    pub reference_sid: Option<String>,
}

/// A recording, as a Recording Analysis Add-on is given it.
#[derive(Debug, Clone, Default)]
pub struct Audio {
    /// The audio bytes.
    pub data: Arc<[u8]>,
    /// Where the publisher posts its result.
    pub callback_url: String,
    /// Number of channels.
    pub channels: u32,
    /// Duration in milliseconds.
    pub duration_ms: u64,
    /// MIME type.
    pub format: String,
    /// The recording SID.
    pub media_sid: String,
}

impl Audio {
    /// The recording's template fields.
    pub fn fields(&self) -> AudioFields<'_> {
        AudioFields {
            data: &self.data,
            callback_url: &self.callback_url,
            channels: self.channels,
            duration_ms: self.duration_ms,
            format: &self.format,
            media_sid: &self.media_sid,
        }
    }
}

/// One Add-on of a fan-out: invoked, or answered at once with a failure.
enum Call {
    Invoke(Arc<Installed>),
    Unavailable { name: String, message: String },
}

/// Runtime fields by Add-on unique name (Lookup's `AddOns.<name>.<field>=value`).
pub type RuntimeFields = HashMap<String, HashMap<String, String>>;

/// How the engine is built.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// The outbound client.
    pub client: ClientOptions,
    /// Delays between attempts.
    pub retry: RetrySchedule,
    /// Records per batch.
    pub record_batch_size: usize,
    /// Longest a record waits before its batch is written.
    pub record_flush_interval: Duration,
    /// Calls to developers' webhooks.
    pub webhook: crate::inbound::WebhookOptions,
}

/// The engine.
#[derive(Debug)]
pub struct Engine {
    catalog: Arc<Catalog>,
    /// Where inbound messages, calls and alerts are stored.
    pub(crate) store: Store,
    /// Calls to developers' webhooks.
    pub(crate) webhook: crate::inbound::WebhookOptions,
    /// The outbound client (publishers and webhooks alike).
    pub(crate) client: PublisherClient,
    retry: RetrySchedule,
    recorder: Recorder,
    metrics: EngineMetrics,
    phone_book: PhoneBook,
    fan_outs: Arc<FanOuts>,
}

/// The fan-outs running on their own tasks, so that shutting down can wait for them: each
/// ends with its records queued, even when its caller has gone away.
#[derive(Debug, Default)]
struct FanOuts {
    running: AtomicUsize,
    finished: Notify,
}

/// Counts one fan-out while it lives (the task ends, or is dropped with its runtime).
struct Running(Arc<FanOuts>);

impl Running {
    fn start(fan_outs: &Arc<FanOuts>) -> Running {
        fan_outs.running.fetch_add(1, Ordering::AcqRel);
        Running(Arc::clone(fan_outs))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.finished.notify_waiters();
        }
    }
}

/// Numbers remembered by the engine's [`PhoneBook`].
const PHONE_BOOK_CAPACITY: usize = 4096;

#[derive(Debug, Clone)]
struct EngineMetrics {
    requests: IntCounterVec,
    seconds: HistogramVec,
    attempts: IntCounterVec,
}

impl EngineMetrics {
    fn new(registry: &Registry) -> EngineMetrics {
        let requests = IntCounterVec::new(
            Opts::new(
                "addon_requests_total",
                "Add-on requests, by Add-on and outcome (success, or the error code)",
            ),
            &["add_on", "outcome"],
        );
        let seconds = HistogramVec::new(
            HistogramOpts::new(
                "addon_request_duration_seconds",
                "Time from invocation to outcome, by Add-on",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0,
            ]),
            &["add_on"],
        );
        let attempts = IntCounterVec::new(
            Opts::new(
                "addon_attempts_total",
                "HTTP attempts to publishers, by Add-on and result",
            ),
            &["add_on", "result"],
        );
        let metrics = match (requests, seconds, attempts) {
            (Ok(requests), Ok(seconds), Ok(attempts)) => EngineMetrics {
                requests,
                seconds,
                attempts,
            },
            _ => unreachable!("static metric definitions"),
        };
        for collector in [
            Box::new(metrics.requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(metrics.seconds.clone()),
            Box::new(metrics.attempts.clone()),
        ] {
            if let Err(error) = registry.register(collector) {
                tracing::warn!(%error, "a metric is registered twice");
            }
        }
        metrics
    }
}

/// How a request ended, with what billing and the SLA need.
struct Verdict {
    outcome: Outcome,
    sla_counted: bool,
    billing: Result<(), NonBillableReason>,
}

impl Verdict {
    fn failed(code: AddOnErrorCode, message: impl Into<String>) -> Verdict {
        Verdict {
            outcome: Outcome::Failure {
                code: Some(code.code()),
                message: message.into(),
            },
            sla_counted: code.counts_against_sla(),
            billing: Err(NonBillableReason::Failed),
        }
    }
}

/// What happened on the wire.
#[derive(Default)]
struct Trace {
    attempts: Vec<Attempt>,
    http_status: Option<u16>,
}

impl Trace {
    fn attempt(
        &mut self,
        started_at: DateTime<Utc>,
        latency: Duration,
        result: &Result<crate::client::Answer, SendError>,
    ) {
        let (status, error) = match result {
            Ok(answer) => {
                self.http_status = Some(answer.status);
                (Some(answer.status), None)
            }
            Err(error) => (None, Some(error.to_string())),
        };
        self.attempts.push(Attempt {
            started_at: started_at.trunc_subsecs(3),
            latency_ms: latency.as_millis() as u64,
            status,
            error,
        });
    }
}

impl Engine {
    /// Builds the engine: the outbound client, and the recorder writing to `store`.
    pub fn new(
        catalog: Arc<Catalog>,
        store: Store,
        options: EngineOptions,
        registry: &Registry,
    ) -> Result<Engine, String> {
        Ok(Engine {
            client: PublisherClient::new(&options.client)?,
            recorder: Recorder::start(
                store.clone(),
                options.record_batch_size,
                options.record_flush_interval,
                registry,
            ),
            store,
            webhook: options.webhook,
            metrics: EngineMetrics::new(registry),
            retry: options.retry,
            catalog,
            phone_book: PhoneBook::new(PHONE_BOOK_CAPACITY),
            fan_outs: Arc::default(),
        })
    }

    /// Waits until no fan-out is running: every Add-on request sent so far has its record
    /// queued. (The server waits for this when it stops, before the recorder is closed.)
    pub async fn fan_outs_finished(&self) {
        loop {
            let finished = self.fan_outs.finished.notified();
            tokio::pin!(finished);
            finished.as_mut().enable();
            if self.fan_outs.running.load(Ordering::Acquire) == 0 {
                return;
            }
            finished.await;
        }
    }

    /// Parses a phone number ([`addons_domain::phone::parse`]), remembering recent ones.
    pub fn parse_number(&self, text: &str, default_country: Option<&str>) -> Result<PhoneNumber, PhoneError> {
        self.phone_book.parse(text, default_country)
    }

    /// The catalog.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// Gives the calling thread publisher connections of its own
    /// ([`PublisherClient::own_pool_on_this_thread`]).
    pub fn own_connections_on_this_thread(&self) {
        self.client.own_pool_on_this_thread();
    }

    /// Stores every queued record and stops recording (graceful shutdown).
    pub async fn close(&self) {
        self.recorder.close().await;
    }

    /// Waits until every record queued so far is stored.
    pub async fn flush_records(&self) {
        self.recorder.flush().await;
    }

    /// Invokes the named Add-ons of an account at `point`, concurrently; results in the
    /// order named. A name that is not installed, or whose extension for `point` is not
    /// enabled, gives a failed result without affecting the others.
    pub async fn invoke_named(
        self: &Arc<Self>,
        account: &AccountSid,
        point: IntegrationPoint,
        names: Vec<String>,
        inputs: Inputs,
        runtime: RuntimeFields,
    ) -> Vec<AddOnResult> {
        let snapshot = self.catalog.snapshot();
        let calls = names
            .into_iter()
            .map(|name| match snapshot.installed(account, &name) {
                None => Call::Unavailable {
                    message: format!("No installed Add-on is named '{name}' in this account"),
                    name,
                },
                Some(installed) if !installed.is_enabled(point) => Call::Unavailable {
                    message: format!("The Add-on '{name}' is not enabled for {}", point.unique_name()),
                    name,
                },
                Some(installed) => Call::Invoke(Arc::clone(installed)),
            })
            .collect();
        self.run(point, calls, inputs, runtime).await
    }

    /// Invokes every Add-on of an account enabled at `point`, concurrently, in installation
    /// order.
    pub async fn invoke_enabled(
        self: &Arc<Self>,
        account: &AccountSid,
        point: IntegrationPoint,
        inputs: Inputs,
    ) -> Vec<AddOnResult> {
        let calls = self
            .catalog
            .snapshot()
            .enabled_at(account, point)
            .map(|installed| Call::Invoke(Arc::clone(installed)))
            .collect();
        self.run(point, calls, inputs, RuntimeFields::new()).await
    }

    /// Runs a fan-out on a task of its own, so that a caller who goes away (a developer who
    /// hangs up mid-Lookup drops the handler's future) cannot cut an invocation short between
    /// the publisher's answer and its record: every request that was sent is recorded.
    async fn run(
        self: &Arc<Self>,
        point: IntegrationPoint,
        calls: Vec<Call>,
        inputs: Inputs,
        runtime: RuntimeFields,
    ) -> Vec<AddOnResult> {
        let names: Vec<String> = calls
            .iter()
            .map(|call| match call {
                Call::Invoke(installed) => installed.unique_name.clone(),
                Call::Unavailable { name, .. } => name.clone(),
            })
            .collect();
        let engine = Arc::clone(self);
        let running = Running::start(&self.fan_outs);
        let fan_out = tokio::spawn(async move {
            let _running = running;
            let no_runtime = HashMap::new();
            let (inputs, runtime, no_runtime) = (&inputs, &runtime, &no_runtime);
            let engine = &engine;
            futures::future::join_all(calls.into_iter().map(|call| async move {
                match call {
                    Call::Unavailable { name, message } => {
                        not_invoked(&name, AddOnErrorCode::RequirementsNotMet, message)
                    }
                    Call::Invoke(installed) => {
                        let runtime = runtime.get(&installed.unique_name).unwrap_or(no_runtime);
                        engine.invoke(&installed, point, inputs, runtime).await
                    }
                }
            }))
            .await
        });
        match fan_out.await {
            Ok(results) => results,
            Err(error) => {
                tracing::error!(%error, "an Add-on fan-out did not complete");
                names
                    .iter()
                    .map(|name| {
                        not_invoked(
                            name,
                            AddOnErrorCode::InternalError,
                            "The Add-on could not be invoked".to_owned(),
                        )
                    })
                    .collect()
            }
        }
    }

    /// Invokes one installed Add-on.
    pub async fn invoke(
        &self,
        installed: &Installed,
        point: IntegrationPoint,
        inputs: &Inputs,
        runtime: &HashMap<String, String>,
    ) -> AddOnResult {
        let started = Instant::now();
        let date_created = Utc::now().trunc_subsecs(6);
        let request_sid = RequestSid::generate();
        let mut trace = Trace::default();
        let verdict = self
            .phases(
                installed,
                point,
                inputs,
                runtime,
                &request_sid,
                date_created,
                started,
                &mut trace,
            )
            .await;
        let latency = started.elapsed();

        let name = installed.unique_name.as_str();
        let outcome_label: Cow<'static, str> = match &verdict.outcome {
            Outcome::Success(_) => Cow::Borrowed("success"),
            Outcome::Failure { code, .. } => {
                code.map_or(Cow::Borrowed("publisher_error"), |c| Cow::Owned(c.to_string()))
            }
        };
        self.metrics
            .requests
            .with_label_values(&[name, outcome_label.as_ref()])
            .inc();
        self.metrics
            .seconds
            .with_label_values(&[name])
            .observe(latency.as_secs_f64());

        let definition = &installed.version.definition;
        let units = match (&definition.pricing, inputs.audio.as_ref()) {
            (Pricing::PayPerMinute { .. }, Some(audio)) => audio.duration_ms.div_ceil(60_000).max(1) as i64,
            _ => 1,
        };
        let (code, message) = match &verdict.outcome {
            Outcome::Success(_) => (None, None),
            Outcome::Failure { code, message } => (code.map(|c| c as i32), Some(message.clone())),
        };
        self.recorder.record(AddOnRequestRecord {
            request_sid: request_sid.as_str().to_owned(),
            source: Arc::clone(&installed.record_source),
            integration_point: point.unique_name().to_owned(),
            reference_sid: inputs.reference_sid.clone(),
            status: if matches!(verdict.outcome, Outcome::Success(_)) {
                "successful"
            } else {
                "failed"
            }
            .to_owned(),
            error_code: code,
            message,
            http_status: trace.http_status.map(i32::from),
            sla_counted: verdict.sla_counted,
            billable: verdict.billing.is_ok(),
            non_billable_reason: verdict.billing.as_ref().err().map(NonBillableReason::describe),
            unit_price_nanos: definition.pricing.price().nanos(),
            units,
            attempts: trace.attempts,
            latency_ms: latency.as_millis() as i64,
            date_created,
        });

        AddOnResult {
            unique_name: installed.unique_name.clone(),
            request_sid: Some(request_sid),
            outcome: verdict.outcome,
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn phases(
        &self,
        installed: &Installed,
        point: IntegrationPoint,
        inputs: &Inputs,
        runtime: &HashMap<String, String>,
        request_sid: &RequestSid,
        date_created: DateTime<Utc>,
        started: Instant,
        trace: &mut Trace,
    ) -> Verdict {
        let definition = &installed.version.definition;
        let name = installed.unique_name.as_str();
        let Some(publisher) = installed.publisher.as_deref() else {
            return Verdict::failed(
                AddOnErrorCode::InternalError,
                "The Add-on's publisher account no longer exists",
            );
        };

        // Template fields: runtime fields first, which only the developer can supply.
        for field in &definition.runtime_fields {
            if field.required && !runtime.contains_key(&field.name) {
                return Verdict::failed(
                    AddOnErrorCode::RequirementsNotMet,
                    format!(
                        "The runtime field '{}' is required: pass AddOns.{name}.{}=…",
                        field.name, field.name
                    ),
                );
            }
        }
        if let Some(unknown) = runtime
            .keys()
            .find(|key| !definition.runtime_fields.iter().any(|f| &f.name == *key))
        {
            let declared: Vec<&str> = definition
                .runtime_fields
                .iter()
                .map(|f| f.name.as_str())
                .collect();
            return Verdict::failed(
                AddOnErrorCode::RequirementsNotMet,
                format!(
                    "'{unknown}' is not a runtime field of the Add-on '{name}' (it takes: {})",
                    if declared.is_empty() {
                        "none".to_owned()
                    } else {
                        declared.join(", ")
                    }
                ),
            );
        }
        // Each Add-on gets only the fields its type is given at this integration point (a
        // phone-number Add-on on an incoming SMS does not see the body).
        let kind = definition.kind;
        let supplied = |field: BuiltinField| field.is_supplied(kind, point);
        let values = FieldValues {
            request_sid: request_sid.as_str(),
            unix_timestamp: date_created.timestamp(),
            primary_address: inputs
                .primary_address
                .as_deref()
                .filter(|_| supplied(BuiltinField::PrimaryAddress)),
            secondary_address: inputs
                .secondary_address
                .as_deref()
                .filter(|_| supplied(BuiltinField::SecondaryAddress)),
            body: inputs.body.as_deref().filter(|_| supplied(BuiltinField::Body)),
            audio: inputs
                .audio
                .as_ref()
                .map(Audio::fields)
                .filter(|_| supplied(BuiltinField::AudioData)),
            configuration: &installed.configuration,
            runtime,
        };

        // Request validation schema.
        if let Some(schema) = &definition.request_validation_schema {
            let dictionary = values.validation_dictionary();
            if !schema.is_valid(&dictionary) {
                let why = first_violation(schema, &dictionary);
                return Verdict::failed(
                    AddOnErrorCode::RequirementsNotMet,
                    format!("Requirements to invoke Add-ons have not been met: {}", why),
                );
            }
        }

        // The publisher request, signed.
        let ttl = definition.retry.ttl;
        let context = RequestContext {
            installed,
            publisher,
            request_sid,
            invocation_date: date_created.trunc_subsecs(0),
            ttl,
        };
        let outbound = match request::build(&context, &values) {
            Ok(outbound) => outbound,
            Err(error) => return Verdict::failed(AddOnErrorCode::UnfulfillableRequest, error.to_string()),
        };

        // Send; 5xx answers and failed connections are retried within the count and the TTL.
        let deadline = started + ttl;
        let mut retries = 0;
        let answer = loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let timeout = definition.limits.timeout.min(remaining);
            let attempt_started = Utc::now();
            let attempt_clock = Instant::now();
            let result = self
                .client
                .send(&outbound, timeout, definition.limits.max_response_bytes)
                .await
                .map_err(|error| match error {
                    SendError::Timeout(_) => SendError::Timeout(timeout),
                    other => other,
                });
            trace.attempt(attempt_started, attempt_clock.elapsed(), &result);
            let retryable = match &result {
                Ok(answer) => (500..600).contains(&answer.status),
                Err(error) => error.is_retryable(),
            };
            let label = match &result {
                Ok(answer) => answer.status.to_string(),
                Err(error) => format!("{:?}", error.code()),
            };
            self.metrics
                .attempts
                .with_label_values(&[name, label.as_str()])
                .inc();
            if !retryable {
                break result;
            }
            let delay = self.retry.delay(retries);
            if retries >= definition.retry.max_retries || Instant::now() + delay >= deadline {
                break result;
            }
            tokio::time::sleep(delay).await;
            retries += 1;
        };
        let attempts = retries + 1;
        let answer = match answer {
            Ok(answer) => answer,
            Err(SendError::Timeout(limit)) => {
                return Verdict::failed(
                    AddOnErrorCode::Timeout,
                    format!("The publisher did not answer within {} ms", limit.as_millis()),
                );
            }
            Err(error @ (SendError::Connect(_) | SendError::Transport(_))) => {
                return Verdict::failed(
                    error.code(),
                    format!("{error} (after {attempts} attempt{})", plural(attempts)),
                );
            }
            Err(error) => return Verdict::failed(error.code(), error.to_string()),
        };

        // The answer: 2xx with a JSON object, or a failure.
        let status = answer.status;
        if (400..500).contains(&status) {
            return Verdict::failed(
                AddOnErrorCode::BadRequest,
                format!("The publisher answered {status}{}", snippet(&answer.body)),
            );
        }
        if (500..600).contains(&status) {
            return Verdict::failed(
                AddOnErrorCode::ProviderUnavailable,
                format!(
                    "The publisher answered {status} on {attempts} attempt{}",
                    plural(attempts)
                ),
            );
        }
        if !(200..300).contains(&status) {
            return Verdict::failed(
                AddOnErrorCode::ProviderUnavailable,
                format!("The publisher answered {status}, which is not a result"),
            );
        }
        let mut result = match serde_json::from_slice::<Value>(&answer.body) {
            Ok(Value::Object(object)) => object,
            _ => {
                return Verdict::failed(
                    AddOnErrorCode::ProviderUnavailable,
                    format!("The publisher answered {status} with a body that is not a JSON object"),
                );
            }
        };
        if let Some(reported) = reported_error(&result) {
            return reported;
        }

        // Response validation schema.
        let document = Value::Object(std::mem::take(&mut result));
        if let Some(schema) = &definition.response_validation_schema
            && !schema.is_valid(&document)
        {
            let why = first_violation(schema, &document);
            return Verdict::failed(
                AddOnErrorCode::NoResults,
                format!(
                    "The publisher's answer lacks the results this Add-on promises: {}",
                    why
                ),
            );
        }

        // Billing is decided on the answer as received, so cleaning cannot hide what makes a
        // result free; then response cleaning.
        let billing = definition.pricing.billability(status, &document);
        let mut document = document;
        addons_domain::cleaning::clean(&mut document, &definition.response_cleaning);
        Verdict {
            outcome: Outcome::Success(document),
            sla_counted: false,
            billing,
        }
    }
}

/// Where and why a document first breaks a schema, for messages.
fn first_violation(schema: &addons_domain::schema::CompiledSchema, document: &Value) -> String {
    schema
        .violations(document)
        .into_iter()
        .next()
        .map(|v| format!("{} {}", v.instance_path, v.message).trim().to_owned())
        .unwrap_or_default()
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A failed result for a name that could not be invoked.
fn not_invoked(name: &str, code: AddOnErrorCode, message: String) -> AddOnResult {
    AddOnResult {
        unique_name: name.to_owned(),
        request_sid: None,
        outcome: Outcome::Failure {
            code: Some(code.code()),
            message,
        },
    }
}

/// A publisher reports an error by answering 2xx with `{"status": "failed" | "error",
/// "message": …, "code": …}`. Such a rejection is legitimate (it does not count against the
/// SLA) and is not billed; the developer sees the publisher's message and code.
fn reported_error(object: &Map<String, Value>) -> Option<Verdict> {
    let status = object.get("status")?.as_str()?;
    if !matches!(
        status.to_ascii_lowercase().as_str(),
        "failed" | "failure" | "error"
    ) {
        return None;
    }
    let message = object
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("The publisher reported an error")
        .to_owned();
    let code = object
        .get("code")
        .and_then(|c| c.as_u64().or_else(|| c.as_str().and_then(|s| s.parse().ok())))
        .and_then(|c| u32::try_from(c).ok());
    Some(Verdict {
        outcome: Outcome::Failure { code, message },
        sla_counted: false,
        billing: Err(NonBillableReason::Failed),
    })
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return String::new();
    }
    let cut: String = text.chars().take(200).collect();
    format!(": {cut}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reported_errors_carry_the_publishers_message_and_code() {
        let object = json!({"status": "failed", "message": "number not covered", "code": 4012});
        let verdict = reported_error(object.as_object().expect("an object")).expect("an error");
        assert_eq!(
            verdict.outcome,
            Outcome::Failure {
                code: Some(4012),
                message: "number not covered".into()
            }
        );
        assert!(!verdict.sla_counted);
        assert!(verdict.billing.is_err());
        let fine = json!({"status": "success", "score": 1});
        assert!(reported_error(fine.as_object().expect("an object")).is_none());
        let no_status = json!({"error": "not an error object by itself"});
        assert!(reported_error(no_status.as_object().expect("an object")).is_none());
    }

    #[test]
    fn snippets_are_short() {
        assert_eq!(snippet(b""), "");
        assert_eq!(snippet(b" bad key "), ": bad key");
        assert_eq!(snippet("x".repeat(500).as_bytes()).len(), 202);
    }
}
