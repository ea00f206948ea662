//! PostgreSQL: the bench's databases, and the work the gateway asks of its database per
//! Lookup, read from the cumulative statistics.
//!
//! The counters are read through the `pg_stat_get_*` functions with object ids looked up once,
//! so that reading them reads no table and adds no rows or scans of its own; the database-wide
//! ones from another database, so that polling them adds nothing. What the readings do add
//! (one transaction each) is measured over an idle interval and subtracted.

use std::collections::BTreeMap;
use std::ops::Sub;
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

/// Connects with one connection.
async fn connect(url: &str) -> anyhow::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await
        .with_context(|| format!("connecting to {}", redact(url)))
}

/// `url` without a password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// The server on `server_url` (no database in the URL), for creating and dropping the
/// gateway's databases.
#[derive(Debug)]
pub struct Server {
    server_url: String,
    admin: PgPool,
}

impl Server {
    /// Connects to the `postgres` database of the server.
    pub async fn connect(server_url: &str) -> anyhow::Result<Server> {
        let server_url = server_url.trim_end_matches('/').to_owned();
        let admin = connect(&format!("{server_url}/postgres")).await.context(
            "PostgreSQL is not reachable (start it, e.g. `pg_ctlcluster --skip-systemctl-redirect \
             <version> main start`, or leave postgres out of --variants)",
        )?;
        Ok(Server { server_url, admin })
    }

    /// The URL of database `name` on this server.
    pub fn database_url(&self, name: &str) -> String {
        format!("{}/{name}", self.server_url)
    }

    /// The server's version string.
    pub async fn version(&self) -> anyhow::Result<String> {
        Ok(sqlx::query_scalar::<_, String>("SELECT version()")
            .fetch_one(&self.admin)
            .await?)
    }

    /// Drops database `name` (closing its connections) if it exists.
    pub async fn drop_database(&self, name: &str) -> anyhow::Result<()> {
        // `name` is the bench's own (letters, digits and underscores), so quoting suffices.
        let statement = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&self.admin)
            .await
            .with_context(|| format!("dropping database {name}"))?;
        Ok(())
    }
}

/// Cumulative counters of one database.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Counters {
    /// Committed transactions (`pg_stat_database.xact_commit`).
    pub xact_commit: i64,
    /// Rows returned by sequential scans and index entries returned by index scans
    /// (`tup_returned`).
    pub tup_returned: i64,
    /// Rows fetched by index scans (`tup_fetched`).
    pub tup_fetched: i64,
    /// Rows inserted (`tup_inserted`).
    pub tup_inserted: i64,
    /// Sequential scans of the user tables (sum of `pg_stat_user_tables.seq_scan`).
    pub seq_scan: i64,
    /// Index scans of the user tables (sum of `pg_stat_user_tables.idx_scan`).
    pub idx_scan: i64,
}

impl Sub for Counters {
    type Output = Counters;

    fn sub(self, earlier: Counters) -> Counters {
        Counters {
            xact_commit: self.xact_commit - earlier.xact_commit,
            tup_returned: self.tup_returned - earlier.tup_returned,
            tup_fetched: self.tup_fetched - earlier.tup_fetched,
            tup_inserted: self.tup_inserted - earlier.tup_inserted,
            seq_scan: self.seq_scan - earlier.seq_scan,
            idx_scan: self.idx_scan - earlier.idx_scan,
        }
    }
}

/// Reads the counters of one database.
#[derive(Debug)]
pub struct Probe {
    /// A connection to the server's `postgres` database: the database-wide counters of the
    /// gateway's database are read from there, so that polling them does not add to them.
    server: PgPool,
    /// A connection to the gateway's database, for its tables' scan counters (which can only
    /// be read from inside it); used once per reading.
    database: PgPool,
    oid: i64,
    /// The user tables' oids and names.
    tables: Vec<(i64, String)>,
    /// The user indexes' oids and their tables' names.
    indexes: Vec<(i64, String)>,
}

/// Scans of one table.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct TableScans {
    /// `seq_scan`.
    pub seq_scan: i64,
    /// `idx_scan` (over all of the table's indexes).
    pub idx_scan: i64,
}

/// One settled reading.
#[derive(Debug, Clone, Default)]
pub struct Reading {
    /// The totals.
    pub counters: Counters,
    /// Scans by table.
    pub tables: BTreeMap<String, TableScans>,
}

impl Reading {
    /// Per-table scans since `earlier`, leaving out tables that were not scanned.
    pub fn scans_since(&self, earlier: &Reading) -> BTreeMap<String, TableScans> {
        self.tables
            .iter()
            .filter_map(|(table, now)| {
                let before = earlier.tables.get(table).copied().unwrap_or_default();
                let delta = TableScans {
                    seq_scan: now.seq_scan - before.seq_scan,
                    idx_scan: now.idx_scan - before.idx_scan,
                };
                (delta != TableScans::default()).then(|| (table.clone(), delta))
            })
            .collect()
    }
}

/// One connection reading the shared statistics directly, not through a per-transaction
/// snapshot (`stats_fetch_consistency = none`).
async fn connect_for_statistics(url: &str) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(url)
        .with_context(|| format!("{} is not a PostgreSQL URL", redact(url)))?
        .options([("stats_fetch_consistency", "none")]);
    PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .with_context(|| format!("connecting to {}", redact(url)))
}

impl Probe {
    /// Connects to the database `name` on `server` and looks up its object ids.
    pub async fn connect(server: &Server, name: &str) -> anyhow::Result<Probe> {
        let admin = connect_for_statistics(&server.database_url("postgres")).await?;
        let database = connect_for_statistics(&server.database_url(name)).await?;
        let oid: i64 = sqlx::query_scalar("SELECT oid::int8 FROM pg_database WHERE datname = $1")
            .bind(name)
            .fetch_one(&admin)
            .await
            .with_context(|| format!("reading the oid of database {name}"))?;
        let tables: Vec<(i64, String)> =
            sqlx::query_as("SELECT relid::int8, relname::text FROM pg_stat_user_tables")
                .fetch_all(&database)
                .await
                .context("listing the user tables")?;
        let indexes: Vec<(i64, String)> =
            sqlx::query_as("SELECT indexrelid::int8, relname::text FROM pg_stat_user_indexes")
                .fetch_all(&database)
                .await
                .context("listing the user indexes")?;
        let probe = Probe {
            server: admin,
            database,
            oid,
            tables,
            indexes,
        };
        // Once unmeasured: the first run of a statement on a connection reads the catalogs.
        probe.scans().await?;
        probe.database_counters().await?;
        Ok(probe)
    }

    /// `xact_commit`, `tup_returned`, `tup_fetched`, `tup_inserted` as reported so far.
    async fn database_counters(&self) -> anyhow::Result<[i64; 4]> {
        let row: (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT pg_stat_get_db_xact_commit($1::oid), pg_stat_get_db_tuples_returned($1::oid), \
                    pg_stat_get_db_tuples_fetched($1::oid), pg_stat_get_db_tuples_inserted($1::oid)",
        )
        .bind(self.oid)
        .fetch_one(&self.server)
        .await
        .context("reading the database's statistics")?;
        Ok([row.0, row.1, row.2, row.3])
    }

    /// Sequential and index scans of each user table as reported so far.
    async fn scans(&self) -> anyhow::Result<BTreeMap<String, TableScans>> {
        let oids: Vec<i64> = self
            .tables
            .iter()
            .chain(&self.indexes)
            .map(|(oid, _)| *oid)
            .collect();
        let counts: Vec<(i64, i64)> =
            sqlx::query_as("SELECT o, pg_stat_get_numscans(o::oid) FROM unnest($1::int8[]) AS o")
                .bind(&oids)
                .fetch_all(&self.database)
                .await
                .context("reading the tables' statistics")?;
        let counts: BTreeMap<i64, i64> = counts.into_iter().collect();
        let mut scans: BTreeMap<String, TableScans> = BTreeMap::new();
        for (oid, table) in &self.tables {
            scans.entry(table.clone()).or_default().seq_scan += counts.get(oid).copied().unwrap_or(0);
        }
        for (oid, table) in &self.indexes {
            scans.entry(table.clone()).or_default().idx_scan += counts.get(oid).copied().unwrap_or(0);
        }
        Ok(scans)
    }

    /// The counters once every backend has reported: after `wait`, and then once the
    /// database-wide counters have not moved for two seconds.
    ///
    /// A backend publishes its statistics at the end of a transaction at most once a second;
    /// what it holds back then is published after ten idle seconds (`PGSTAT_IDLE_INTERVAL`),
    /// so `wait` should be somewhat over ten seconds after the last database activity.
    pub async fn settled(&self, wait: Duration) -> anyhow::Result<Reading> {
        tokio::time::sleep(wait).await;
        let poll = Duration::from_millis(500);
        let quiet = Duration::from_secs(2);
        let give_up = Instant::now() + Duration::from_secs(60);
        let mut last = self.database_counters().await?;
        let mut unchanged_since = Instant::now();
        while unchanged_since.elapsed() < quiet && Instant::now() < give_up {
            tokio::time::sleep(poll).await;
            let now = self.database_counters().await?;
            if now != last {
                last = now;
                unchanged_since = Instant::now();
            }
        }
        let tables = self.scans().await?;
        Ok(Reading {
            counters: Counters {
                xact_commit: last[0],
                tup_returned: last[1],
                tup_fetched: last[2],
                tup_inserted: last[3],
                seq_scan: tables.values().map(|t| t.seq_scan).sum(),
                idx_scan: tables.values().map(|t| t.idx_scan).sum(),
            },
            tables,
        })
    }
}

/// Database work per Lookup.
#[derive(Debug, Clone, Serialize)]
pub struct PerLookup {
    /// Committed transactions.
    pub transactions: f64,
    /// `tup_returned`.
    pub rows_returned: f64,
    /// `tup_fetched`.
    pub rows_fetched: f64,
    /// `tup_returned + tup_fetched`.
    pub rows_read: f64,
    /// Sequential and index scans of the user tables.
    pub table_scans: f64,
    /// Sequential scans alone.
    pub seq_scans: f64,
    /// Index scans alone.
    pub idx_scans: f64,
    /// `tup_inserted`.
    pub rows_inserted: f64,
}

/// The database measurement.
#[derive(Debug, Clone, Serialize)]
pub struct DatabaseWork {
    /// Lookups in the measured batch.
    pub lookups: u64,
    /// Add-ons per Lookup.
    pub add_ons_per_lookup: usize,
    /// Lookups of the batch that failed.
    pub failed_lookups: u64,
    /// Seconds waited for the statistics to settle before each reading.
    pub settle_secs: f64,
    /// The counters' change over an idle interval as long as the batch's (the reads' own
    /// transactions, and anything the gateway does when idle).
    pub idle_delta: Counters,
    /// The counters' change over the batch.
    pub batch_delta: Counters,
    /// Scans over the batch, by table (an `INSERT … ON CONFLICT` counts one index scan per
    /// row, for its uniqueness check).
    pub batch_scans_by_table: BTreeMap<String, TableScans>,
    /// `(batch_delta - idle_delta) / lookups`.
    pub per_lookup: PerLookup,
}

impl DatabaseWork {
    /// Per-Lookup figures from the two intervals.
    pub fn new(
        lookups: u64,
        add_ons_per_lookup: usize,
        failed_lookups: u64,
        settle: Duration,
        idle_delta: Counters,
        batch_delta: Counters,
        batch_scans_by_table: BTreeMap<String, TableScans>,
    ) -> DatabaseWork {
        let work = batch_delta - idle_delta;
        let per = |value: i64| value as f64 / lookups.max(1) as f64;
        DatabaseWork {
            lookups,
            add_ons_per_lookup,
            failed_lookups,
            settle_secs: settle.as_secs_f64(),
            idle_delta,
            batch_delta,
            batch_scans_by_table,
            per_lookup: PerLookup {
                transactions: per(work.xact_commit),
                rows_returned: per(work.tup_returned),
                rows_fetched: per(work.tup_fetched),
                rows_read: per(work.tup_returned + work.tup_fetched),
                table_scans: per(work.seq_scan + work.idx_scan),
                seq_scans: per(work.seq_scan),
                idx_scans: per(work.idx_scan),
                rows_inserted: per(work.tup_inserted),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idle_interval_is_subtracted() {
        let idle = Counters {
            xact_commit: 4,
            ..Counters::default()
        };
        let batch = Counters {
            xact_commit: 14,
            tup_returned: 0,
            tup_fetched: 0,
            tup_inserted: 1000,
            seq_scan: 0,
            idx_scan: 0,
        };
        let work = DatabaseWork::new(1000, 1, 0, Duration::from_secs(11), idle, batch, BTreeMap::new());
        assert!((work.per_lookup.transactions - 0.01).abs() < 1e-12);
        assert!((work.per_lookup.rows_inserted - 1.0).abs() < 1e-12);
        assert_eq!(work.per_lookup.rows_read, 0.0);
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(
            redact("postgres://postgres@127.0.0.1:5432"),
            "postgres://postgres@127.0.0.1:5432"
        );
    }
}

#[cfg(test)]
mod reading_tests {
    use super::*;

    #[test]
    fn per_table_scans_leave_out_idle_tables() {
        let scans = |seq_scan, idx_scan| TableScans { seq_scan, idx_scan };
        let before = Reading {
            counters: Counters::default(),
            tables: BTreeMap::from([("a".to_owned(), scans(1, 1)), ("b".to_owned(), scans(0, 5))]),
        };
        let after = Reading {
            counters: Counters::default(),
            tables: BTreeMap::from([("a".to_owned(), scans(1, 1)), ("b".to_owned(), scans(0, 9))]),
        };
        assert_eq!(
            after.scans_since(&before),
            BTreeMap::from([("b".to_owned(), scans(0, 4))])
        );
    }
}
