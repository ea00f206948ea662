//! Test databases: a fresh PostgreSQL database, or a fresh SQLite file, for every test.
//!
//! PostgreSQL tests need a server (`TEST_POSTGRES_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/postgres`). Where none answers they are skipped with a
//! notice on the terminal; with `REQUIRE_POSTGRES=1` (as CI sets it) they fail instead.
#![forbid(unsafe_code)]

use std::io::Write as _;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::ConnectOptions;
use sqlx::postgres::PgConnectOptions;

/// The server test databases are created on.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Whether PostgreSQL tests must run (CI) rather than be skipped.
pub fn postgres_required() -> bool {
    std::env::var("REQUIRE_POSTGRES").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// A database that exists for one test.
#[derive(Debug)]
pub struct TestDatabase {
    /// Its URL.
    pub url: String,
    /// `"postgres"` or `"sqlite"`.
    pub backend: &'static str,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// Another handle on an existing database (a second gateway instance on it).
    pub fn shared(url: &str) -> TestDatabase {
        TestDatabase {
            url: url.to_owned(),
            backend: if url.starts_with("sqlite") {
                "sqlite"
            } else {
                "postgres"
            },
            _dir: None,
        }
    }
}

/// A fresh SQLite database file in a temporary directory.
pub fn sqlite() -> TestDatabase {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}", dir.path().join("test.sqlite3").display());
    TestDatabase {
        url,
        backend: "sqlite",
        _dir: Some(dir),
    }
}

/// Writes to the terminal even while the test harness captures output.
pub fn notice(message: &str) {
    let _ = writeln!(std::io::stderr(), "{message}");
}

/// A fresh, empty PostgreSQL database, or `None` (with a loud notice) where no server answers
/// and PostgreSQL is not required.
pub async fn postgres(test_name: &str) -> Option<TestDatabase> {
    let admin_url = postgres_admin_url();
    let options: PgConnectOptions = match admin_url.parse() {
        Ok(options) => options,
        Err(error) => panic!("TEST_POSTGRES_URL '{admin_url}' is not a PostgreSQL URL: {error}"),
    };
    let connection = tokio::time::timeout(Duration::from_secs(5), options.connect()).await;
    let mut connection = match connection {
        Ok(Ok(connection)) => connection,
        Ok(Err(error)) => return unavailable(test_name, &admin_url, &error.to_string()),
        Err(_) => return unavailable(test_name, &admin_url, "timed out"),
    };
    drop_stale_databases(&mut connection).await;
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let name = format!("addons_test_{seconds}_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut connection)
        .await
        .expect("CREATE DATABASE for a test");
    let url = options.database(&name).to_url_lossy().to_string();
    Some(TestDatabase {
        url,
        backend: "postgres",
        _dir: None,
    })
}

fn unavailable(test_name: &str, url: &str, reason: &str) -> Option<TestDatabase> {
    if postgres_required() {
        panic!("REQUIRE_POSTGRES is set but PostgreSQL at {url} is unreachable: {reason}");
    }
    notice(&format!(
        "\n*** SKIPPED {test_name} on PostgreSQL: {url} is unreachable ({reason}). \
         Start PostgreSQL or set TEST_POSTGRES_URL; CI sets REQUIRE_POSTGRES=1 to make this a failure. ***\n"
    ));
    None
}

/// Test databases are named with their creation time; those over an hour old are left over
/// from earlier runs and are dropped (once per test process).
async fn drop_stale_databases(connection: &mut sqlx::PgConnection) {
    static DONE: OnceLock<()> = OnceLock::new();
    if DONE.set(()).is_err() {
        return;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'addons\\_test\\_%'")
            .fetch_all(&mut *connection)
            .await
            .unwrap_or_default();
    for name in names {
        let created = name
            .split('_')
            .nth(2)
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(now);
        if now.saturating_sub(created) > 3600 {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}")))
                .execute(&mut *connection)
                .await;
        }
    }
}

/// Defines `sqlite_<name>` and `postgres_<name>` tests that run `async fn <name>(TestDatabase)`
/// on each backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        pub mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::sqlite()).await;
                }
            )+
        }
        pub mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(database) = $crate::postgres(stringify!($name)).await {
                        super::$name(database).await;
                    }
                }
            )+
        }
    };
}
