//! Writing Add-on request records off the response path: records are queued, and a writer
//! task stores them in batches (when a batch fills, or when the oldest record in it has waited
//! the flush interval). A failed write is retried until it succeeds; on shutdown the queue is
//! drained and flushed before the writer stops.
//!
//! The queue is unbounded and [`Recorder::record`] does not wait: queuing a record is part of
//! finishing an invocation and must not be a point where the invocation can stop half-way
//! (a record is never lost to a cancelled future) or stall behind the database. How far the
//! writer is behind is exported as the `addon_records_queued` gauge; a writer that cannot keep
//! up shows there long before memory matters (a record is a few hundred bytes).
//!
//! Queuing wakes the writer only for the first record of a batch and for the one that fills
//! it. The writer runs on the main runtime and records come from the serving threads, so a
//! wake-up per record would cost a thread switch per record.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use addons_store::{AddOnRequestRecord, Store};
use prometheus::{IntCounter, IntGauge, Registry};
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

/// The recorder.
#[derive(Debug, Clone)]
pub struct Recorder {
    queue: Arc<Queue>,
    queued: IntGauge,
}

#[derive(Debug)]
struct Queue {
    waiting: Mutex<Waiting>,
    /// Wakes the writer: a first record, a full batch, or a close request.
    wake: Notify,
    batch_size: usize,
}

#[derive(Debug, Default)]
struct Waiting {
    records: Vec<AddOnRequestRecord>,
    /// A close request, answered once everything queued before it is stored.
    closing: Option<oneshot::Sender<()>>,
    /// The writer has stopped: records arriving now cannot be stored.
    closed: bool,
}

impl Waiting {
    /// Whether the writer has something to do: at least `records` records, or a close request.
    fn holds(&self, records: usize) -> bool {
        self.records.len() >= records || self.closing.is_some()
    }
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, Waiting> {
        // A panic while holding the lock leaves only a vector push or swap half-done, which
        // cannot happen part-way: the records are still valid.
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct Counters {
    written: IntCounter,
    failures: IntCounter,
    queued: IntGauge,
}

impl Recorder {
    /// Starts the writer task.
    pub fn start(store: Store, batch_size: usize, flush_interval: Duration, registry: &Registry) -> Recorder {
        let counters = Counters {
            written: register(
                registry,
                IntCounter::new("addon_records_written_total", "Add-on request records stored"),
            ),
            failures: register(
                registry,
                IntCounter::new(
                    "addon_record_write_failures_total",
                    "Failed attempts to store a batch of records",
                ),
            ),
            queued: register(
                registry,
                IntGauge::new(
                    "addon_records_queued",
                    "Add-on request records waiting to be stored",
                ),
            ),
        };
        let queued = counters.queued.clone();
        let queue = Arc::new(Queue {
            waiting: Mutex::new(Waiting::default()),
            wake: Notify::new(),
            batch_size: batch_size.max(1),
        });
        tokio::spawn(write_loop(store, Arc::clone(&queue), flush_interval, counters));
        Recorder { queue, queued }
    }

    /// Queues a record.
    pub fn record(&self, record: AddOnRequestRecord) {
        let mut waiting = self.queue.lock();
        if waiting.closed {
            drop(waiting);
            tracing::error!(request_sid = %record.request_sid, "an Add-on request record arrived after the recorder closed");
            return;
        }
        self.queued.inc();
        waiting.records.push(record);
        let queued = waiting.records.len();
        drop(waiting);
        if queued == 1 || queued == self.queue.batch_size {
            self.queue.wake.notify_one();
        }
    }

    /// Stores everything queued so far and stops the writer.
    pub async fn close(&self) {
        let (done, finished) = oneshot::channel();
        {
            let mut waiting = self.queue.lock();
            if waiting.closed {
                return;
            }
            waiting.closing = Some(done);
        }
        self.queue.wake.notify_one();
        let _ = finished.await;
    }

    /// Waits until everything queued so far is stored, without stopping (for tests and
    /// measurements).
    pub async fn flush(&self) {
        while self.queued.get() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

fn register<T: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: prometheus::Result<T>,
) -> T {
    let metric = metric.unwrap_or_else(|error| unreachable!("static metric definition: {error}"));
    if let Err(error) = registry.register(Box::new(metric.clone())) {
        tracing::warn!(%error, "a metric is registered twice");
    }
    metric
}

async fn write_loop(store: Store, queue: Arc<Queue>, flush_interval: Duration, counters: Counters) {
    let mut batch: Vec<AddOnRequestRecord> = Vec::new();
    loop {
        // Wait for a first record (or a close request)...
        while !queue.lock().holds(1) {
            queue.wake.notified().await;
        }
        // ...then for a full batch, the flush interval, or a close request.
        let deadline = tokio::time::sleep_until(Instant::now() + flush_interval);
        tokio::pin!(deadline);
        while !queue.lock().holds(queue.batch_size) {
            tokio::select! {
                biased;
                () = queue.wake.notified() => {}
                () = &mut deadline => break,
            }
        }
        // Everything queued is taken at once (the spare vector keeps its capacity) and
        // stored in batches. A close request is answered once what came before it is stored;
        // records arriving after it are refused.
        let closing = {
            let mut waiting = queue.lock();
            std::mem::swap(&mut waiting.records, &mut batch);
            let closing = waiting.closing.take();
            waiting.closed = closing.is_some();
            closing
        };
        for records in batch.chunks(queue.batch_size) {
            write(&store, records, &counters, closing.is_some()).await;
        }
        batch.clear();
        if let Some(done) = closing {
            let _ = done.send(());
            return;
        }
    }
}

async fn write(store: &Store, batch: &[AddOnRequestRecord], counters: &Counters, closing: bool) {
    if batch.is_empty() {
        return;
    }
    let mut delay = Duration::from_millis(50);
    let mut tries = 0;
    loop {
        match store.insert_add_on_requests(batch).await {
            Ok(()) => {
                counters.written.inc_by(batch.len() as u64);
                counters.queued.sub(batch.len() as i64);
                return;
            }
            Err(error) => {
                counters.failures.inc();
                tries += 1;
                if closing && tries >= 5 {
                    tracing::error!(%error, lost = batch.len(), "could not store Add-on request records before shutting down");
                    counters.queued.sub(batch.len() as i64);
                    return;
                }
                tracing::warn!(%error, records = batch.len(), "storing Add-on request records failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use addons_domain::sid::RequestSid;
    use addons_store::{RecordSource, Vault};

    use super::*;

    async fn store() -> (Store, addons_testkit::TestDatabase) {
        let database = addons_testkit::sqlite();
        let store = Store::connect(&database.url, Vault::new(&[7; 32]))
            .await
            .expect("the store opens");
        store.migrate().await.expect("the store migrates");
        (store, database)
    }

    fn record(source: &Arc<RecordSource>) -> AddOnRequestRecord {
        AddOnRequestRecord {
            request_sid: RequestSid::generate().to_string(),
            source: Arc::clone(source),
            integration_point: "lookups".into(),
            reference_sid: None,
            status: "successful".into(),
            error_code: None,
            message: None,
            http_status: Some(200),
            sla_counted: false,
            billable: true,
            non_billable_reason: None,
            unit_price_nanos: 1_000_000,
            units: 1,
            attempts: Vec::new(),
            latency_ms: 3,
            date_created: chrono::Utc::now(),
        }
    }

    fn source() -> Arc<RecordSource> {
        let sid = |prefix: &str| -> Arc<str> { format!("{prefix}{}", "0".repeat(32)).into() };
        Arc::new(RecordSource {
            account_sid: sid("AC"),
            installed_add_on_sid: sid("XE"),
            install_sid: sid("XD"),
            add_on_sid: sid("XB"),
            version_sid: sid("XC"),
            publisher_sid: sid("AC"),
            unique_name: "recorded".into(),
            pricing_model: "pay-per-use".into(),
        })
    }

    /// Waits up to ten seconds for `count` records to be stored.
    async fn stored(store: &Store, count: i64) -> bool {
        for _ in 0..1000 {
            if store.count_add_on_requests().await.expect("a count") == count {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    #[tokio::test]
    async fn a_full_batch_is_stored_without_waiting_for_the_flush_interval() {
        let (store, _database) = store().await;
        let recorder = Recorder::start(store.clone(), 3, Duration::from_secs(3600), &Registry::new());
        let source = source();
        for _ in 0..3 {
            recorder.record(record(&source));
        }
        assert!(stored(&store, 3).await, "the full batch was not stored");
        // A fourth record starts a batch that waits for the interval (or the close).
        recorder.record(record(&source));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(store.count_add_on_requests().await.expect("a count"), 3);
        recorder.close().await;
        assert_eq!(store.count_add_on_requests().await.expect("a count"), 4);
    }

    #[tokio::test]
    async fn a_partial_batch_is_stored_after_the_flush_interval() {
        let (store, _database) = store().await;
        let recorder = Recorder::start(store.clone(), 100, Duration::from_millis(20), &Registry::new());
        let source = source();
        recorder.record(record(&source));
        recorder.record(record(&source));
        assert!(stored(&store, 2).await, "the partial batch was not stored");
        recorder.record(record(&source));
        assert!(stored(&store, 3).await, "the next batch was not stored");
    }

    #[tokio::test]
    async fn closing_stores_everything_queued_from_other_threads_and_refuses_the_rest() {
        let (store, _database) = store().await;
        let recorder = Recorder::start(store.clone(), 7, Duration::from_secs(3600), &Registry::new());
        let source = source();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (recorder, source) = (recorder.clone(), Arc::clone(&source));
                std::thread::spawn(move || {
                    for _ in 0..250 {
                        recorder.record(record(&source));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("a recording thread");
        }
        recorder.close().await;
        assert_eq!(store.count_add_on_requests().await.expect("a count"), 1000);
        assert_eq!(recorder.queued.get(), 0);
        recorder.record(record(&source));
        recorder.close().await;
        assert_eq!(store.count_add_on_requests().await.expect("a count"), 1000);
    }
}
