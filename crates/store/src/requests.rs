//! Add-on request records, written in batches by the engine's recorder.

use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};

use addons_domain::sid::{AccountSid, RequestSid};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize, Serializer};

use crate::{Columns, Page, PageRequest, Store, StoreResult, on_backend};

/// What every request record of one installed Add-on shares: made once per installed Add-on
/// and shared by its records, so that queuing a record copies none of it. Each string is an
/// `Arc<str>`, which SQLite binds by reference (a `&str` it copies into a new allocation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSource {
    /// The developer account.
    pub account_sid: Arc<str>,
    /// `XE…`.
    pub installed_add_on_sid: Arc<str>,
    /// `XD…`.
    pub install_sid: Arc<str>,
    /// `XB…`.
    pub add_on_sid: Arc<str>,
    /// `XC…`.
    pub version_sid: Arc<str>,
    /// The publisher account.
    pub publisher_sid: Arc<str>,
    /// The name it is invoked by.
    pub unique_name: Arc<str>,
    /// The version's billing model.
    pub pricing_model: Arc<str>,
}

/// One Add-on request, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct AddOnRequestRecord {
    /// `XR…`.
    pub request_sid: String,
    /// The installed Add-on it was made for.
    pub source: Arc<RecordSource>,
    /// `lookups`, `incoming-sms`, …
    pub integration_point: String,
    /// What it was for (a message, call or recording SID), if anything.
    pub reference_sid: Option<String>,
    /// `successful` or `failed`.
    pub status: String,
    /// The error code of a failure.
    pub error_code: Option<i32>,
    /// The failure's message.
    pub message: Option<String>,
    /// The publisher's last HTTP status, if it answered.
    pub http_status: Option<i32>,
    /// Whether it counts against the publisher's SLA.
    pub sla_counted: bool,
    /// Whether the developer is charged.
    pub billable: bool,
    /// Why not, when not.
    pub non_billable_reason: Option<String>,
    /// Price per unit, in nano-dollars.
    pub unit_price_nanos: i64,
    /// Units (1 per result; minutes for pay-per-minute).
    pub units: i64,
    /// Each HTTP attempt, in order (stored as a JSON array).
    pub attempts: Vec<Attempt>,
    /// From the start of the request to its outcome.
    pub latency_ms: i64,
    /// When the request started.
    pub date_created: DateTime<Utc>,
}

/// One HTTP attempt of an Add-on request, stored as
/// `{"started_at", "latency_ms", "status", "error"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// When it started, to the millisecond (RFC 3339).
    #[serde(serialize_with = "rfc3339_millis")]
    pub started_at: DateTime<Utc>,
    /// How long it took.
    pub latency_ms: u64,
    /// The publisher's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Why there was no answer, when there was none.
    pub error: Option<String>,
}

fn rfc3339_millis<S: Serializer>(time: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&time.to_rfc3339_opts(SecondsFormat::Millis, true))
}

macro_rules! request_columns {
    () => {
        "request_sid, account_sid, installed_add_on_sid, install_sid, add_on_sid, version_sid, publisher_sid, \
         unique_name, integration_point, reference_sid, status, error_code, message, http_status, sla_counted, \
         billable, non_billable_reason, pricing_model, unit_price_nanos, units, attempts, latency_ms, date_created"
    };
}

/// Rows per `INSERT` statement. Multi-row statements cut the round trips and per-statement
/// work of a batch, but on PostgreSQL a larger statement's message waits for the server's
/// delayed ACK: sqlx 0.9.0 leaves Nagle's algorithm on (it does not set `TCP_NODELAY`), so
/// the tail of a message that spans TCP segments is held for about 40 ms. Measured on this
/// workload: 25 rows per statement store ~40–55k rows/s on both backends; 40 or more rows
/// per statement collapse PostgreSQL to about 1k rows/s, and one `UNNEST` statement of 100
/// rows (one array per column) spent 3 ms executing and 40 ms waiting for its message.
const ROWS_PER_STATEMENT: usize = 25;

/// The row counts of the statements a batch is written with: full chunks, then what is left
/// in powers of two. A backend prepares each statement once per connection; with a statement
/// for every remainder, up to 24 more would each be compiled once per connection, and
/// compiling one costs SQLite as much as storing about 17 rows.
const STATEMENT_ROWS: [usize; 6] = [ROWS_PER_STATEMENT, 16, 8, 4, 2, 1];

/// The records of a batch, cut into chunks of [`STATEMENT_ROWS`] rows, with the index of each
/// chunk's row count in it.
fn statement_chunks<T>(records: &[T]) -> impl Iterator<Item = (usize, &[T])> {
    let mut rest = records;
    std::iter::from_fn(move || {
        let index = STATEMENT_ROWS.iter().position(|&rows| rows <= rest.len())?;
        let (chunk, after) = rest.split_at(STATEMENT_ROWS[index]);
        rest = after;
        Some((index, chunk))
    })
}

/// Columns per row.
const COLUMNS: usize = 23;

/// How a backend numbers bind parameters. PostgreSQL wants `$n`; SQLite accepts `$n` too, but
/// looks every named parameter up by name, which costs time quadratic in their number, so
/// SQLite gets anonymous `?` parameters, bound in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placeholders {
    Numbered,
    Anonymous,
}

/// `INSERT … VALUES (…), (…), … ON CONFLICT (request_sid) DO NOTHING` for `rows` rows.
fn insert_statement(rows: usize, placeholders: Placeholders) -> String {
    let mut sql = String::with_capacity(128 + rows * COLUMNS * 5);
    sql.push_str(concat!(
        "INSERT INTO add_on_requests (",
        request_columns!(),
        ") VALUES "
    ));
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..COLUMNS {
            if column > 0 {
                sql.push_str(", ");
            }
            match placeholders {
                Placeholders::Numbered => {
                    let _ = write!(sql, "${}", row * COLUMNS + column + 1);
                }
                Placeholders::Anonymous => sql.push('?'),
            }
        }
        sql.push(')');
    }
    sql.push_str(" ON CONFLICT (request_sid) DO NOTHING");
    sql
}

/// The statement for the `index`th of [`STATEMENT_ROWS`], built once per placeholder style.
fn chunk_statement(index: usize, placeholders: Placeholders) -> Arc<str> {
    static NUMBERED: [OnceLock<Arc<str>>; STATEMENT_ROWS.len()] =
        [const { OnceLock::new() }; STATEMENT_ROWS.len()];
    static ANONYMOUS: [OnceLock<Arc<str>>; STATEMENT_ROWS.len()] =
        [const { OnceLock::new() }; STATEMENT_ROWS.len()];
    let cells = match placeholders {
        Placeholders::Numbered => &NUMBERED,
        Placeholders::Anonymous => &ANONYMOUS,
    };
    Arc::clone(cells[index].get_or_init(|| insert_statement(STATEMENT_ROWS[index], placeholders).into()))
}

/// Empty bind arguments of `pool`'s database, with room for `values` values.
fn reserved_arguments<DB: sqlx::Database>(_pool: &sqlx::Pool<DB>, values: usize) -> DB::Arguments {
    let mut arguments = DB::Arguments::default();
    sqlx::Arguments::reserve(&mut arguments, values, 0);
    arguments
}

impl Store {
    /// Writes records in one transaction, in statements of [`STATEMENT_ROWS`] rows. A request
    /// SID written before (a batch retried after an error that struck after its commit) is not
    /// written twice.
    pub async fn insert_add_on_requests(&self, records: &[AddOnRequestRecord]) -> StoreResult<()> {
        if records.is_empty() {
            return Ok(());
        }
        let placeholders = match &self.backend {
            crate::Backend::Postgres(_) => Placeholders::Numbered,
            crate::Backend::Sqlite(_) => Placeholders::Anonymous,
        };
        on_backend!(pool self.records, pool => {
            let mut tx = pool.begin().await?;
            for (index, chunk) in statement_chunks(records) {
                // The arguments made at their final size and filled in place (binding through
                // `Query::bind` moves the query for every value and grows its list as it goes).
                let mut arguments = reserved_arguments(pool, chunk.len() * COLUMNS);
                for record in chunk {
                    macro_rules! add {
                        ($($value:expr),* $(,)?) => {
                            $(sqlx::Arguments::add(&mut arguments, $value).map_err(sqlx::Error::Encode)?;)*
                        };
                    }
                    add!(
                        record.request_sid.as_str(),
                        Arc::clone(&record.source.account_sid),
                        Arc::clone(&record.source.installed_add_on_sid),
                        Arc::clone(&record.source.install_sid),
                        Arc::clone(&record.source.add_on_sid),
                        Arc::clone(&record.source.version_sid),
                        Arc::clone(&record.source.publisher_sid),
                        Arc::clone(&record.source.unique_name),
                        record.integration_point.as_str(),
                        record.reference_sid.as_deref(),
                        record.status.as_str(),
                        record.error_code,
                        record.message.as_deref(),
                        record.http_status,
                        record.sla_counted,
                        record.billable,
                        record.non_billable_reason.as_deref(),
                        Arc::clone(&record.source.pricing_model),
                        record.unit_price_nanos,
                        record.units,
                        serde_json::to_string(&record.attempts)
                            .unwrap_or_else(|error| unreachable!("attempts serialize: {error}")),
                        record.latency_ms,
                        record.date_created,
                    );
                }
                let query = sqlx::query_with(sqlx::AssertSqlSafe(chunk_statement(index, placeholders)), arguments);
                query.execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// An account's request records, newest first.
    pub async fn account_add_on_requests(
        &self,
        account: &AccountSid,
        page: PageRequest,
    ) -> StoreResult<Page<AddOnRequestRecord>> {
        let query = concat!(
            "SELECT ",
            request_columns!(),
            " FROM add_on_requests WHERE account_sid = $1 \
             ORDER BY date_created DESC, request_sid DESC LIMIT $2 OFFSET $3"
        );
        let items = on_backend!(self, pool => {
            let rows = sqlx::query(query).bind(account.as_str()).bind(page.limit()).bind(page.offset()).fetch_all(pool).await?;
            rows.iter().map(request_from_row).collect::<StoreResult<Vec<_>>>()?
        });
        Ok(Page::from_overfetch(items, page))
    }

    /// One request record, if it belongs to the account.
    pub async fn add_on_request(
        &self,
        account: &AccountSid,
        sid: &RequestSid,
    ) -> StoreResult<Option<AddOnRequestRecord>> {
        let query = concat!(
            "SELECT ",
            request_columns!(),
            " FROM add_on_requests WHERE request_sid = $1 AND account_sid = $2"
        );
        Ok(on_backend!(self, pool => {
            match sqlx::query(query).bind(sid.as_str()).bind(account.as_str()).fetch_optional(pool).await? {
                Some(row) => Some(request_from_row(&row)?),
                None => None,
            }
        }))
    }

    /// How many request records there are (all accounts).
    pub async fn count_add_on_requests(&self) -> StoreResult<i64> {
        Ok(on_backend!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM add_on_requests").fetch_one(pool).await?
        }))
    }
}

fn request_from_row(row: &impl Columns) -> StoreResult<AddOnRequestRecord> {
    Ok(AddOnRequestRecord {
        request_sid: row.text("request_sid")?,
        source: Arc::new(RecordSource {
            account_sid: row.text("account_sid")?.into(),
            installed_add_on_sid: row.text("installed_add_on_sid")?.into(),
            install_sid: row.text("install_sid")?.into(),
            add_on_sid: row.text("add_on_sid")?.into(),
            version_sid: row.text("version_sid")?.into(),
            publisher_sid: row.text("publisher_sid")?.into(),
            unique_name: row.text("unique_name")?.into(),
            pricing_model: row.text("pricing_model")?.into(),
        }),
        integration_point: row.text("integration_point")?,
        reference_sid: row.optional_text("reference_sid")?,
        status: row.text("status")?,
        error_code: row.optional_int32("error_code")?,
        message: row.optional_text("message")?,
        http_status: row.optional_int32("http_status")?,
        sla_counted: row.flag("sla_counted")?,
        billable: row.flag("billable")?,
        non_billable_reason: row.optional_text("non_billable_reason")?,
        unit_price_nanos: row.int64("unit_price_nanos")?,
        units: row.int64("units")?,
        attempts: crate::parse_json(&row.text("attempts")?, "add_on_requests.attempts")?,
        latency_ms: row.int64("latency_ms")?,
        date_created: row.time("date_created")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_are_written_while_every_other_connection_is_taken() {
        let (_dir, store) = crate::tests::sqlite_store().await;
        let crate::Backend::Sqlite(pool) = &store.backend else {
            panic!("an SQLite URL opens an SQLite store");
        };
        let mut taken = Vec::new();
        while let Some(connection) = pool.try_acquire() {
            taken.push(connection);
        }
        while taken.len() < pool.options().get_max_connections() as usize {
            taken.push(pool.acquire().await.expect("a connection"));
        }
        let account = AccountSid::generate();
        let source = Arc::new(RecordSource {
            account_sid: account.as_str().into(),
            installed_add_on_sid: "XE00000000000000000000000000000001".into(),
            install_sid: "XD00000000000000000000000000000001".into(),
            add_on_sid: "XB00000000000000000000000000000001".into(),
            version_sid: "XC00000000000000000000000000000001".into(),
            publisher_sid: "AC00000000000000000000000000000001".into(),
            unique_name: "an_add_on".into(),
            pricing_model: "free".into(),
        });
        let record = AddOnRequestRecord {
            request_sid: RequestSid::generate().as_str().to_owned(),
            source,
            integration_point: "lookups".to_owned(),
            reference_sid: None,
            status: "successful".to_owned(),
            error_code: None,
            message: None,
            http_status: Some(200),
            sla_counted: false,
            billable: false,
            non_billable_reason: None,
            unit_price_nanos: 0,
            units: 1,
            attempts: Vec::new(),
            latency_ms: 3,
            date_created: Utc::now(),
        };
        // On the recorder's own connection: it does not wait for the main pool's.
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            store.insert_add_on_requests(std::slice::from_ref(&record)),
        )
        .await
        .expect("the batch does not wait for the main pool")
        .expect("the batch is stored");
        drop(taken);
        let page = store
            .account_add_on_requests(
                &account,
                PageRequest {
                    page: 0,
                    page_size: 10,
                },
            )
            .await
            .expect("the records list");
        assert_eq!(page.items, vec![record]);
        store.close().await;
    }

    #[test]
    fn attempts_are_stored_as_json_objects_with_millisecond_times() {
        let started_at = DateTime::from_timestamp_millis(1_700_000_000_123).unwrap_or_default();
        let attempts = vec![
            Attempt {
                started_at,
                latency_ms: 12,
                status: Some(503),
                error: None,
            },
            Attempt {
                started_at,
                latency_ms: 1000,
                status: None,
                error: Some("timed out".to_owned()),
            },
        ];
        let text = serde_json::to_string(&attempts).unwrap_or_default();
        assert_eq!(
            text,
            r#"[{"started_at":"2023-11-14T22:13:20.123Z","latency_ms":12,"status":503,"error":null},"#
                .to_owned()
                + r#"{"started_at":"2023-11-14T22:13:20.123Z","latency_ms":1000,"status":null,"error":"timed out"}]"#
        );
        let read: Vec<Attempt> = crate::parse_json(&text, "attempts").unwrap_or_default();
        assert_eq!(read, attempts);
        // Rows written before attempts were typed: the same fields, in another order.
        let older =
            r#"[{"error":null,"latency_ms":12,"started_at":"2023-11-14T22:13:20.123Z","status":503}]"#;
        let read: Vec<Attempt> = crate::parse_json(older, "attempts").unwrap_or_default();
        assert_eq!(read, attempts[..1]);
    }

    #[test]
    fn statements_number_every_parameter_once() {
        let numbered = insert_statement(2, Placeholders::Numbered);
        assert!(numbered.contains("($1, $2,"));
        assert!(numbered.contains("$23), ($24,"));
        assert!(numbered.ends_with("$46) ON CONFLICT (request_sid) DO NOTHING"));
        let anonymous = insert_statement(3, Placeholders::Anonymous);
        assert_eq!(anonymous.matches('?').count(), 3 * COLUMNS);
        assert!(!anonymous.contains('$'));
        let columns = request_columns!().split(',').count();
        assert_eq!(columns, COLUMNS);
    }

    #[test]
    fn a_batch_is_cut_into_full_chunks_then_powers_of_two() {
        let sizes = |count: usize| -> Vec<usize> {
            let records: Vec<usize> = (0..count).collect();
            statement_chunks(&records)
                .map(|(index, chunk)| {
                    assert_eq!(chunk.len(), STATEMENT_ROWS[index]);
                    chunk.len()
                })
                .collect()
        };
        assert_eq!(sizes(0), Vec::<usize>::new());
        assert_eq!(sizes(1), vec![1]);
        assert_eq!(sizes(25), vec![25]);
        assert_eq!(sizes(24), vec![16, 8]);
        assert_eq!(sizes(78), vec![25, 25, 25, 2, 1]);
        let records: Vec<usize> = (0..500).collect();
        let rejoined: Vec<usize> = statement_chunks(&records)
            .flat_map(|(_, chunk)| chunk.iter().copied())
            .collect();
        assert_eq!(rejoined, records, "every record once, in order");
    }
}
