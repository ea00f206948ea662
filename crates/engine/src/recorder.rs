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

use std::time::Duration;

use addons_store::{AddOnRequestRecord, Store};
use prometheus::{IntCounter, IntGauge, Registry};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

enum Message {
    Record(Box<AddOnRequestRecord>),
    Close(oneshot::Sender<()>),
}

/// The recorder.
#[derive(Debug, Clone)]
pub struct Recorder {
    sender: mpsc::UnboundedSender<Message>,
    queued: IntGauge,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Message::Record(record) => write!(f, "Record({})", record.request_sid),
            Message::Close(_) => f.write_str("Close"),
        }
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
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(
            store,
            receiver,
            batch_size.max(1),
            flush_interval,
            counters,
        ));
        Recorder { sender, queued }
    }

    /// Queues a record.
    pub fn record(&self, record: AddOnRequestRecord) {
        self.queued.inc();
        if self.sender.send(Message::Record(Box::new(record))).is_err() {
            self.queued.dec();
            tracing::error!("an Add-on request record arrived after the recorder closed");
        }
    }

    /// Stores everything queued so far and stops the writer.
    pub async fn close(&self) {
        let (done, finished) = oneshot::channel();
        if self.sender.send(Message::Close(done)).is_ok() {
            let _ = finished.await;
        }
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

async fn write_loop(
    store: Store,
    mut receiver: mpsc::UnboundedReceiver<Message>,
    batch_size: usize,
    flush_interval: Duration,
    counters: Counters,
) {
    let mut batch: Vec<AddOnRequestRecord> = Vec::with_capacity(batch_size);
    let mut arrived: Vec<Message> = Vec::with_capacity(batch_size);
    let mut closing: Option<oneshot::Sender<()>> = None;
    while closing.is_none() {
        // Everything already queued is taken at once: one wake-up and one timer per batch,
        // not per record.
        if receiver.recv_many(&mut arrived, batch_size).await == 0 {
            break;
        }
        take(&mut arrived, &mut batch, &mut closing);
        let deadline = tokio::time::sleep_until(Instant::now() + flush_interval);
        tokio::pin!(deadline);
        while closing.is_none() && batch.len() < batch_size {
            tokio::select! {
                biased;
                received = receiver.recv_many(&mut arrived, batch_size - batch.len()) => {
                    if received == 0 {
                        break;
                    }
                    take(&mut arrived, &mut batch, &mut closing);
                }
                () = &mut deadline => break,
            }
        }
        write(&store, &mut batch, &counters, closing.is_some()).await;
    }
    if let Some(done) = closing {
        let _ = done.send(());
    }
}

/// Moves what arrived into the batch; a close request ends the batch once what arrived with
/// it is in.
fn take(
    arrived: &mut Vec<Message>,
    batch: &mut Vec<AddOnRequestRecord>,
    closing: &mut Option<oneshot::Sender<()>>,
) {
    for message in arrived.drain(..) {
        match message {
            Message::Record(record) => batch.push(*record),
            Message::Close(done) => *closing = Some(done),
        }
    }
}

async fn write(store: &Store, batch: &mut Vec<AddOnRequestRecord>, counters: &Counters, closing: bool) {
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
                batch.clear();
                return;
            }
            Err(error) => {
                counters.failures.inc();
                tries += 1;
                if closing && tries >= 5 {
                    tracing::error!(%error, lost = batch.len(), "could not store Add-on request records before shutting down");
                    counters.queued.sub(batch.len() as i64);
                    batch.clear();
                    return;
                }
                tracing::warn!(%error, records = batch.len(), "storing Add-on request records failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}
