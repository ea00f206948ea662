//! Storage for the gateway: accounts, Add-ons and versions, installs, and what the request path
//! records. One [`Store`] interface over two backends, PostgreSQL and an embedded SQLite file.
//!
//! Each statement is written once, with `$n` placeholders that both backends accept, and runs
//! on whichever pool the store was opened with ([`on_backend!`] expands it for each). Where the
//! two SQL dialects differ, the difference is spelled out at that place (the multi-row insert
//! of request records numbers its parameters per backend). Every function that
//! reads an account's data takes that account's SID.
#![forbid(unsafe_code)]

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub mod accounts;
pub mod add_ons;
pub mod crypto;
pub mod inbound;
pub mod installs;
pub mod requests;

pub use accounts::{AccountRecord, AccountRole, NewAccount};
pub use add_ons::{AddOnRecord, ExtensionRecord, NewVersion, VersionRecord};
pub use crypto::Vault;
pub use inbound::{AlertRecord, EventKind, InboundEventRecord, PhoneNumberRecord, PhoneNumberSettings};
pub use installs::{InstallRecord, InstallUpdate, InstalledExtensionRecord, NewInstall};
pub use requests::{AddOnRequestRecord, Attempt, RecordSource};

/// The PostgreSQL channel on which catalog changes are announced to every gateway instance.
pub const CHANGES_CHANNEL: &str = "addons_catalog_changed";

static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

/// What went wrong in storage.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write (a unique name already taken).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database URL is not one the store can open.
    #[error("unsupported database URL '{0}': use postgres://… or sqlite://…")]
    UnsupportedUrl(String),
    /// A stored secret does not open with the configured key.
    #[error(transparent)]
    Sealed(#[from] crypto::OpenError),
    /// A stored document does not parse (written by an incompatible version).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &error
            && db.is_unique_violation()
        {
            return StoreError::Conflict(db.message().to_owned());
        }
        StoreError::Database(error)
    }
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone)]
enum Backend {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// Runs `$body` with `$pool` bound to the store's pool (or, as `on_backend!(pool <backend>,
/// …)`, to that one), whichever backend it is. The body is compiled once per backend, so it
/// may only use what both offer.
macro_rules! on_backend {
    (pool $backend:expr, $pool:ident => $body:expr) => {
        match &$backend {
            $crate::Backend::Postgres($pool) => $body,
            $crate::Backend::Sqlite($pool) => $body,
        }
    };
    ($store:expr, $pool:ident => $body:expr) => {
        $crate::on_backend!(pool $store.backend, $pool => $body)
    };
}
pub(crate) use on_backend;

/// The gateway's storage.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    /// One connection of its own for the request recorder's batches: its statements stay
    /// prepared, and on SQLite its page cache stays valid between batches (a connection
    /// drops its cache when it finds that another one wrote since its last transaction).
    records: Backend,
    vault: Vault,
    /// Set when the store closes, so that background listeners let go of their connections.
    closing: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
}

/// A page of a list, Twilio style: `Page` (0-based) and `PageSize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// The page index.
    pub page: u32,
    /// Items per page (1 to 1000).
    pub page_size: u32,
}

impl PageRequest {
    fn limit(self) -> i64 {
        i64::from(self.page_size) + 1
    }

    fn offset(self) -> i64 {
        i64::from(self.page) * i64::from(self.page_size)
    }
}

/// One page of items, and whether more follow.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Whether there is a next page.
    pub has_more: bool,
}

impl<T> Page<T> {
    fn from_overfetch(mut items: Vec<T>, request: PageRequest) -> Page<T> {
        let has_more = items.len() > request.page_size as usize;
        items.truncate(request.page_size as usize);
        Page { items, has_more }
    }
}

impl Store {
    /// Opens the database at `url` (`postgres://…` or `sqlite://path`), creating it if it does
    /// not exist. Secrets are sealed and opened with `vault`.
    pub async fn connect(url: &str, vault: Vault) -> StoreResult<Store> {
        let (backend, records) = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)?;
            ensure_postgres_database(&options).await?;
            let records = PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(10))
                .connect_lazy_with(options.clone());
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            (Backend::Postgres(pool), Backend::Postgres(records))
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // With WAL, NORMAL syncs at checkpoints rather than on every commit: a commit
                // survives the gateway crashing, and only the last commits before a power
                // loss or OS crash can be lost. It is what keeps an SQLite sandbox from
                // spending its time in fsync; PostgreSQL is the backend for production.
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                // A multi-row INSERT inside a transaction keeps a statement journal (the pages
                // it changes, to undo just that statement if a row fails a constraint). On
                // files, SQLite spills it to an unlinked temporary file once it passes 64 KiB
                // and then writes every journaled page there: two system calls per page, more
                // than one per stored request record. In memory it costs a copy.
                .pragma("temp_store", "memory")
                .busy_timeout(Duration::from_secs(10));
            let records = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_lazy_with(options.clone());
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(options)
                .await?;
            (Backend::Sqlite(pool), Backend::Sqlite(records))
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        Ok(Store {
            backend,
            records,
            vault,
            closing: std::sync::Arc::new(tokio::sync::watch::channel(false).0),
        })
    }

    /// The SQLite URL for a database file inside `dir`, creating the directory.
    pub fn sqlite_url_in(dir: &Path) -> std::io::Result<String> {
        std::fs::create_dir_all(dir)?;
        Ok(format!("sqlite://{}", dir.join("gateway.sqlite3").display()))
    }

    /// Brings the schema up to date.
    pub async fn migrate(&self) -> StoreResult<()> {
        match &self.backend {
            Backend::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
            Backend::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// `"postgres"` or `"sqlite"`.
    pub fn backend_name(&self) -> &'static str {
        match &self.backend {
            Backend::Postgres(_) => "postgres",
            Backend::Sqlite(_) => "sqlite",
        }
    }

    /// Stops background listeners and closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.closing.send_replace(true);
        on_backend!(pool self.records, pool => pool.close().await);
        on_backend!(self, pool => pool.close().await)
    }

    /// On PostgreSQL, a stream of catalog-change announcements from every gateway instance
    /// sharing the database (LISTEN/NOTIFY). `None` on SQLite, where one process owns the file.
    pub async fn listen_for_changes(&self) -> StoreResult<Option<tokio::sync::mpsc::Receiver<()>>> {
        let Backend::Postgres(pool) = &self.backend else {
            return Ok(None);
        };
        let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
        listener.listen(CHANGES_CHANNEL).await?;
        let (sender, receiver) = tokio::sync::mpsc::channel(16);
        let mut closing = self.closing.subscribe();
        tokio::spawn(async move {
            loop {
                let received = tokio::select! {
                    received = listener.recv() => received,
                    _ = closing.wait_for(|closed| *closed) => return,
                    () = sender.closed() => return,
                };
                match received {
                    Ok(_) => {
                        // A full channel already holds a pending reload: nothing is lost.
                        let _ = sender.try_send(());
                    }
                    Err(error) => {
                        tracing::warn!(%error, "catalog change listener failed; reconnecting");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        // After a reconnect, changes may have been missed: reload.
                        let _ = sender.try_send(());
                    }
                }
            }
        });
        Ok(Some(receiver))
    }

    pub(crate) fn vault(&self) -> &Vault {
        &self.vault
    }
}

/// Announces a catalog change to other instances, inside the writing transaction, so that the
/// announcement is delivered exactly when the change commits. Nothing to do on SQLite.
macro_rules! announce_change {
    ($tx:expr, postgres) => {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind($crate::CHANGES_CHANNEL)
            .execute(&mut *$tx)
            .await?
    };
}
pub(crate) use announce_change;

/// Begins an SQLite transaction that writes. `BEGIN IMMEDIATE` takes the write lock at once,
/// waiting for another writer (the busy timeout) if need be. A deferred `BEGIN` would take it
/// only at the first write, and a transaction that has read by then cannot wait for it: when
/// another connection has committed since its read, SQLite fails it with "database is
/// locked" at once.
pub(crate) async fn begin_sqlite_write(
    pool: &SqlitePool,
) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

/// Runs `$body` in a transaction (`$tx`) on whichever backend, announcing a catalog change on
/// PostgreSQL before committing.
macro_rules! in_catalog_transaction {
    ($store:expr, $tx:ident => $body:expr) => {
        match &$store.backend {
            $crate::Backend::Postgres(pool) => {
                let mut $tx = pool.begin().await?;
                let value = $body;
                $crate::announce_change!($tx, postgres);
                $tx.commit().await?;
                value
            }
            $crate::Backend::Sqlite(pool) => {
                let mut $tx = $crate::begin_sqlite_write(pool).await?;
                let value = $body;
                $tx.commit().await?;
                value
            }
        }
    };
}
pub(crate) use in_catalog_transaction;

async fn ensure_postgres_database(options: &PgConnectOptions) -> StoreResult<()> {
    use sqlx::ConnectOptions;
    let Some(database) = options.get_database().map(str::to_owned) else {
        return Ok(());
    };
    let maintenance = options.clone().database("postgres");
    let mut connection = maintenance.connect().await?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&database)
        .fetch_one(&mut connection)
        .await?;
    if !exists {
        let quoted = database.replace('"', "\"\"");
        // An identifier cannot be a bind parameter; it is quoted above.
        match sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{quoted}\"")))
            .execute(&mut connection)
            .await
        {
            Ok(_) => {}
            // Another instance created it meanwhile.
            Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some("42P04") => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

/// The current time, truncated to microseconds (PostgreSQL's precision) so that a value read
/// back equals the value written, on either backend.
pub(crate) fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::{SubsecRound, Utc};
    Utc::now().trunc_subsecs(6)
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|error| StoreError::Corrupt(format!("{what}: {error}")))
}

pub(crate) fn parse_sid<T: FromStr>(text: &str, what: &str) -> StoreResult<T> {
    T::from_str(text).map_err(|_| StoreError::Corrupt(format!("{what}: '{text}' is not a SID")))
}

/// Typed column access, the same on both backends' rows.
pub(crate) trait Columns {
    fn text(&self, column: &str) -> StoreResult<String>;
    fn optional_text(&self, column: &str) -> StoreResult<Option<String>>;
    fn bytes(&self, column: &str) -> StoreResult<Vec<u8>>;
    fn optional_bytes(&self, column: &str) -> StoreResult<Option<Vec<u8>>>;
    fn time(&self, column: &str) -> StoreResult<chrono::DateTime<chrono::Utc>>;
    fn flag(&self, column: &str) -> StoreResult<bool>;
    /// An `INTEGER` column.
    fn int32(&self, column: &str) -> StoreResult<i32>;
    fn optional_int32(&self, column: &str) -> StoreResult<Option<i32>>;
    /// A `BIGINT` column.
    fn int64(&self, column: &str) -> StoreResult<i64>;
}

macro_rules! impl_columns {
    ($row:ty) => {
        impl Columns for $row {
            fn text(&self, column: &str) -> StoreResult<String> {
                Ok(sqlx::Row::try_get(self, column)?)
            }
            fn optional_text(&self, column: &str) -> StoreResult<Option<String>> {
                Ok(sqlx::Row::try_get(self, column)?)
            }
            fn bytes(&self, column: &str) -> StoreResult<Vec<u8>> {
                Ok(sqlx::Row::try_get(self, column)?)
            }
            fn optional_bytes(&self, column: &str) -> StoreResult<Option<Vec<u8>>> {
                Ok(sqlx::Row::try_get(self, column)?)
            }
            fn time(&self, column: &str) -> StoreResult<chrono::DateTime<chrono::Utc>> {
                Ok(sqlx::Row::try_get(self, column)?)
            }
            fn flag(&self, column: &str) -> StoreResult<bool> {
                Ok(sqlx::Row::try_get(self, column)?)
            }
            fn int32(&self, column: &str) -> StoreResult<i32> {
                Ok(sqlx::Row::try_get(self, column)?)
            }
            fn optional_int32(&self, column: &str) -> StoreResult<Option<i32>> {
                Ok(sqlx::Row::try_get(self, column)?)
            }
            fn int64(&self, column: &str) -> StoreResult<i64> {
                Ok(sqlx::Row::try_get(self, column)?)
            }
        }
    };
}
impl_columns!(sqlx::postgres::PgRow);
impl_columns!(sqlx::sqlite::SqliteRow);

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A migrated SQLite store in a new temporary directory (kept while the directory is).
    pub(crate) async fn sqlite_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = Store::sqlite_url_in(dir.path()).expect("a database URL");
        let store = Store::connect(&url, Vault::new(&[1u8; crypto::KEY_LEN]))
            .await
            .expect("the store opens");
        store.migrate().await.expect("the schema migrates");
        (dir, store)
    }

    #[tokio::test]
    async fn sqlite_connections_keep_temporary_files_in_memory() {
        let (_dir, store) = sqlite_store().await;
        // Both pools: the main one and the request recorder's own connection.
        for backend in [&store.backend, &store.records] {
            let Backend::Sqlite(pool) = backend else {
                panic!("an SQLite URL opens an SQLite store");
            };
            let temp_store: i64 = sqlx::query_scalar("PRAGMA temp_store")
                .fetch_one(pool)
                .await
                .expect("the pragma reads");
            assert_eq!(temp_store, 2, "temp_store = MEMORY");
        }
        store.close().await;
    }
}
