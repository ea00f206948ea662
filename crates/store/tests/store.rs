//! The store's behaviour, the same on PostgreSQL and SQLite.

use addons_domain::kind::{AddOnKind, IntegrationPoint};
use addons_domain::manifest::Secret;
use addons_domain::sid::{AccountSid, AddOnSid, InstalledAddOnSid, RequestSid};
use addons_store::crypto::{KEY_LEN, token_hash};
use addons_store::{
    AccountRole, AddOnRecord, AddOnRequestRecord, Attempt, InstallUpdate, NewAccount, NewInstall, NewVersion,
    PageRequest, RecordSource, Store, StoreError, Vault,
};
use addons_testkit::TestDatabase;
use serde_json::json;

async fn open(database: &TestDatabase) -> Store {
    let store = Store::connect(&database.url, Vault::new(&[3u8; KEY_LEN]))
        .await
        .expect("connects");
    store.migrate().await.expect("migrates");
    assert_eq!(store.backend_name(), database.backend);
    store
}

async fn account(store: &Store, role: AccountRole) -> AccountSid {
    store
        .create_account(NewAccount {
            friendly_name: format!("{} account", role.as_str()),
            role,
            sid: None,
            auth_token: None,
        })
        .await
        .expect("creates an account")
        .sid
}

fn version(points: &[IntegrationPoint], marker: &str) -> NewVersion {
    NewVersion {
        manifest: json!({"friendly_name": marker, "auth": {"scheme": "bearer", "secret": "********"}}),
        auth_secret: Some(Secret::new(format!("secret-{marker}"))),
        integration_points: points.to_vec(),
    }
}

/// A phone-number Add-on for Lookup, at its first version.
async fn lookup_add_on(store: &Store, publisher: &AccountSid, unique_name: &str) -> AddOnRecord {
    store
        .create_add_on(
            publisher,
            unique_name,
            AddOnKind::PhoneNumber,
            version(&[IntegrationPoint::Lookups], "v1"),
        )
        .await
        .expect("creates")
}

const FIRST: PageRequest = PageRequest {
    page: 0,
    page_size: 50,
};

async fn accounts_keep_their_tokens_sealed(database: TestDatabase) {
    let store = open(&database).await;
    let created = store
        .create_account(NewAccount {
            friendly_name: "Acme".into(),
            role: AccountRole::Developer,
            sid: None,
            auth_token: None,
        })
        .await
        .expect("creates");
    assert_eq!(created.auth_token.expose().len(), 32);
    let fetched = store.account(&created.sid).await.expect("reads").expect("exists");
    assert_eq!(fetched.auth_token, created.auth_token);
    assert_eq!(fetched.auth_token_hash, token_hash(created.auth_token.expose()));
    assert_eq!(fetched.date_created, created.date_created);
    assert_eq!(fetched.role, AccountRole::Developer);

    // The same rows opened with another key refuse to reveal the token.
    let other = Store::connect(&database.url, Vault::new(&[4u8; KEY_LEN]))
        .await
        .expect("connects");
    assert!(matches!(
        other.account(&created.sid).await,
        Err(StoreError::Sealed(_))
    ));

    let fixed_sid = AccountSid::generate();
    let fixed = store
        .create_account(NewAccount {
            friendly_name: "Sandbox".into(),
            role: AccountRole::Publisher,
            sid: Some(fixed_sid.clone()),
            auth_token: Some(Secret::new("0123456789abcdef0123456789abcdef")),
        })
        .await
        .expect("creates");
    assert_eq!(fixed.sid, fixed_sid);
    assert!(matches!(
        store
            .create_account(NewAccount {
                friendly_name: "Again".into(),
                role: AccountRole::Publisher,
                sid: Some(fixed_sid),
                auth_token: None,
            })
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.all_accounts().await.expect("lists").len(), 2);
}

async fn add_ons_and_versions(database: TestDatabase) {
    let store = open(&database).await;
    let publisher = account(&store, AccountRole::Publisher).await;
    let other_publisher = account(&store, AccountRole::Publisher).await;

    let add_on = lookup_add_on(&store, &publisher, "acme_lookup").await;
    assert_eq!(add_on.latest.number, 1);

    let clash = store
        .create_add_on(
            &other_publisher,
            "acme_lookup",
            AddOnKind::PhoneNumber,
            version(&[IntegrationPoint::Lookups], "x"),
        )
        .await;
    assert!(matches!(clash, Err(StoreError::Conflict(_))), "{clash:?}");

    let v2 = store
        .publish_version(
            &publisher,
            &add_on.sid,
            version(&[IntegrationPoint::Lookups, IntegrationPoint::IncomingSms], "v2"),
        )
        .await
        .expect("publishes")
        .expect("owned");
    assert_eq!(v2.number, 2);

    // Another publisher can neither publish to nor see it.
    assert!(
        store
            .publish_version(&other_publisher, &add_on.sid, version(&[], "evil"))
            .await
            .expect("runs")
            .is_none()
    );
    assert!(
        store
            .publisher_add_on(&other_publisher, &add_on.sid)
            .await
            .expect("reads")
            .is_none()
    );
    assert_eq!(
        store
            .publisher_add_ons(&other_publisher, FIRST)
            .await
            .expect("lists")
            .items
            .len(),
        0
    );

    let fetched = store
        .publisher_add_on(&publisher, &add_on.sid)
        .await
        .expect("reads")
        .expect("owned");
    assert_eq!(fetched.latest.sid, v2.sid);
    assert_eq!(
        fetched.latest.auth_secret.as_ref().map(Secret::expose),
        Some("secret-v2")
    );
    assert_eq!(
        fetched.latest.full_manifest()["auth"]["secret"],
        json!("secret-v2")
    );

    let first = store
        .version(&add_on.sid, &add_on.latest.sid)
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(
        first.manifest["friendly_name"],
        json!("v1"),
        "versions are immutable"
    );
    let versions = store.versions(&add_on.sid, FIRST).await.expect("lists");
    assert_eq!(
        versions.items.iter().map(|v| v.number).collect::<Vec<_>>(),
        vec![1, 2]
    );

    let extensions = store.extensions(&add_on.sid).await.expect("lists");
    assert_eq!(
        extensions.iter().map(|e| e.point).collect::<Vec<_>>(),
        vec![IntegrationPoint::Lookups, IntegrationPoint::IncomingSms]
    );
    let by_name = store
        .publisher_add_on_by_name(&publisher, "acme_lookup")
        .await
        .expect("reads");
    assert_eq!(by_name.map(|a| a.sid), Some(add_on.sid.clone()));
    assert!(
        store
            .available_add_on(&AddOnSid::generate())
            .await
            .expect("reads")
            .is_none()
    );
}

async fn concurrent_publications_get_distinct_numbers(database: TestDatabase) {
    let store = open(&database).await;
    let publisher = account(&store, AccountRole::Publisher).await;
    let add_on = lookup_add_on(&store, &publisher, "busy").await;
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let store = store.clone();
            let publisher = publisher.clone();
            let sid = add_on.sid.clone();
            tokio::spawn(async move {
                store
                    .publish_version(
                        &publisher,
                        &sid,
                        version(&[IntegrationPoint::Lookups], &format!("p{i}")),
                    )
                    .await
            })
        })
        .collect();
    let mut numbers = Vec::new();
    for task in tasks {
        numbers.push(
            task.await
                .expect("joins")
                .expect("publishes")
                .expect("owned")
                .number,
        );
    }
    numbers.sort_unstable();
    assert_eq!(numbers, vec![2, 3, 4, 5, 6, 7]);
}

async fn installs_are_per_account(database: TestDatabase) {
    let store = open(&database).await;
    let publisher = account(&store, AccountRole::Publisher).await;
    let alice = account(&store, AccountRole::Developer).await;
    let bob = account(&store, AccountRole::Developer).await;
    let add_on = store
        .create_add_on(
            &publisher,
            "acme_lookup",
            AddOnKind::PhoneNumber,
            version(&[IntegrationPoint::Lookups, IntegrationPoint::IncomingSms], "v1"),
        )
        .await
        .expect("creates");
    let extensions = store.extensions(&add_on.sid).await.expect("lists");
    let new_install = |name: &str| NewInstall {
        add_on_sid: add_on.sid.clone(),
        version_sid: add_on.latest.sid.clone(),
        unique_name: name.to_owned(),
        configuration: json!({"language": "en_US", "b": 1, "a": 2}),
        extensions: extensions.iter().map(|e| e.sid.clone()).collect(),
    };

    let first = store
        .create_install(&alice, new_install("acme"))
        .await
        .expect("installs");
    assert_eq!(first.configuration, json!({"language": "en_US", "b": 1, "a": 2}));
    let clash = store.create_install(&alice, new_install("acme")).await;
    assert!(matches!(clash, Err(StoreError::Conflict(_))), "{clash:?}");
    let second = store
        .create_install(&alice, new_install("acme_2"))
        .await
        .expect("installs");
    assert_eq!(
        second.install_sid, first.install_sid,
        "one XD per account and Add-on"
    );
    let bobs = store
        .create_install(&bob, new_install("acme"))
        .await
        .expect("other accounts may reuse the name");
    assert_ne!(bobs.install_sid, first.install_sid);

    // Tenancy: Bob sees only his own.
    assert!(store.install(&bob, &first.sid).await.expect("reads").is_none());
    assert_eq!(store.installs(&bob, FIRST).await.expect("lists").items.len(), 1);
    assert!(
        store
            .install_extensions(&bob, &first.sid)
            .await
            .expect("reads")
            .is_empty()
    );
    assert!(
        store
            .set_install_extension(&bob, &first.sid, &extensions[0].sid, true)
            .await
            .expect("runs")
            .is_none()
    );
    assert!(
        store
            .update_install(&bob, &first.sid, InstallUpdate::default())
            .await
            .expect("runs")
            .is_none()
    );
    assert!(!store.delete_install(&bob, &first.sid).await.expect("runs"));

    // Extensions start disabled and can be enabled.
    let listed = store.install_extensions(&alice, &first.sid).await.expect("reads");
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|e| !e.enabled));
    let enabled = store
        .set_install_extension(&alice, &first.sid, &extensions[0].sid, true)
        .await
        .expect("runs")
        .expect("exists");
    assert!(enabled.enabled);
    assert_eq!(enabled.point, IntegrationPoint::Lookups);

    // Updates.
    let updated = store
        .update_install(
            &alice,
            &first.sid,
            InstallUpdate {
                unique_name: Some("acme_renamed".into()),
                configuration: Some(json!({"language": "es"})),
                version: None,
            },
        )
        .await
        .expect("updates")
        .expect("exists");
    assert_eq!(updated.unique_name, "acme_renamed");
    assert_eq!(updated.configuration, json!({"language": "es"}));
    let rename_clash = store
        .update_install(
            &alice,
            &second.sid,
            InstallUpdate {
                unique_name: Some("acme_renamed".into()),
                ..InstallUpdate::default()
            },
        )
        .await;
    assert!(
        matches!(rename_clash, Err(StoreError::Conflict(_))),
        "{rename_clash:?}"
    );

    // Moving to a version keeps the state of shared extensions and drops the others.
    let v2 = store
        .publish_version(
            &publisher,
            &add_on.sid,
            version(
                &[IntegrationPoint::Lookups, IntegrationPoint::VoiceIncoming],
                "v2",
            ),
        )
        .await
        .expect("publishes")
        .expect("owned");
    let v2_extensions: Vec<_> = store
        .extensions(&add_on.sid)
        .await
        .expect("lists")
        .into_iter()
        .filter(|e| e.point != IntegrationPoint::IncomingSms)
        .map(|e| e.sid)
        .collect();
    let moved = store
        .update_install(
            &alice,
            &first.sid,
            InstallUpdate {
                version: Some((v2.sid.clone(), v2_extensions)),
                ..InstallUpdate::default()
            },
        )
        .await
        .expect("updates")
        .expect("exists");
    assert_eq!(moved.version_sid, v2.sid);
    let after = store.install_extensions(&alice, &first.sid).await.expect("reads");
    let states: Vec<(IntegrationPoint, bool)> = after.iter().map(|e| (e.point, e.enabled)).collect();
    assert_eq!(
        states,
        vec![
            (IntegrationPoint::Lookups, true),
            (IntegrationPoint::VoiceIncoming, false)
        ]
    );

    // Deletion removes the install and its extensions.
    assert!(store.delete_install(&alice, &first.sid).await.expect("deletes"));
    assert!(store.install(&alice, &first.sid).await.expect("reads").is_none());
    assert!(
        store
            .install_extensions(&alice, &first.sid)
            .await
            .expect("reads")
            .is_empty()
    );
    assert!(
        !store
            .delete_install(&alice, &InstalledAddOnSid::generate())
            .await
            .expect("runs")
    );
    assert_eq!(store.all_installs().await.expect("lists").len(), 2);
    assert_eq!(store.all_install_extensions().await.expect("lists").len(), 4);
}

async fn pages_follow_creation_order(database: TestDatabase) {
    let store = open(&database).await;
    let mut created = Vec::new();
    for _ in 0..5 {
        created.push(account(&store, AccountRole::Developer).await);
    }
    let page_of = |page| PageRequest { page, page_size: 2 };
    let first = store.accounts(page_of(0)).await.expect("lists");
    let second = store.accounts(page_of(1)).await.expect("lists");
    let third = store.accounts(page_of(2)).await.expect("lists");
    assert!(first.has_more && second.has_more && !third.has_more);
    let seen: Vec<AccountSid> = [first, second, third]
        .into_iter()
        .flat_map(|page| page.items.into_iter().map(|a| a.sid))
        .collect();
    assert_eq!(seen, created);
}

async fn changes_are_announced_on_postgres(database: TestDatabase) {
    let store = open(&database).await;
    let listener = store.listen_for_changes().await.expect("listens");
    let Some(mut changes) = listener else {
        assert_eq!(database.backend, "sqlite");
        return;
    };
    let other_instance = Store::connect(&database.url, Vault::new(&[3u8; KEY_LEN]))
        .await
        .expect("connects");
    account(&other_instance, AccountRole::Developer).await;
    tokio::time::timeout(std::time::Duration::from_secs(5), changes.recv())
        .await
        .expect("a change is announced")
        .expect("the channel is open");
}

fn sample_record(account: &AccountSid, n: usize) -> AddOnRequestRecord {
    let failed = n.is_multiple_of(4);
    AddOnRequestRecord {
        request_sid: RequestSid::generate().to_string(),
        source: std::sync::Arc::new(RecordSource {
            account_sid: account.as_str().into(),
            installed_add_on_sid: "XE00000000000000000000000000000001".into(),
            install_sid: "XD00000000000000000000000000000001".into(),
            add_on_sid: "XB00000000000000000000000000000001".into(),
            version_sid: "XC00000000000000000000000000000001".into(),
            publisher_sid: "AC00000000000000000000000000000001".into(),
            unique_name: format!("add_on_{}", n % 3).into(),
            pricing_model: "pay-per-use".into(),
        }),
        integration_point: "lookups".into(),
        reference_sid: n.is_multiple_of(2).then(|| format!("SM{n:032}")),
        status: if failed { "failed" } else { "successful" }.into(),
        error_code: failed.then_some(61002),
        message: failed.then(|| format!("failure number {n}, with a 'quote'")),
        http_status: (!n.is_multiple_of(5)).then_some(200),
        sla_counted: failed,
        billable: !failed,
        non_billable_reason: failed.then(|| "failed".into()),
        unit_price_nanos: 5_000_000,
        units: 1,
        attempts: vec![Attempt {
            started_at: chrono::DateTime::from_timestamp_millis(1_700_000_000_123 + n as i64)
                .expect("a time"),
            latency_ms: n as u64,
            status: (!failed).then_some(200),
            error: failed.then(|| format!("failure number {n}")),
        }],
        latency_ms: n as i64,
        date_created: chrono::DateTime::from_timestamp(1_700_000_000 + n as i64, 0).expect("a time"),
    }
}

/// Batches of every size around the statement width store every field of every record, once.
async fn request_records_round_trip_in_batches(database: TestDatabase) {
    let store = open(&database).await;
    let account = account(&store, AccountRole::Developer).await;
    let mut written = Vec::new();
    for size in [1, 24, 25, 26, 51, 100] {
        let batch: Vec<AddOnRequestRecord> = (0..size)
            .map(|i| sample_record(&account, written.len() + i))
            .collect();
        store
            .insert_add_on_requests(&batch)
            .await
            .expect("stores a batch");
        written.extend(batch);
    }
    // A batch retried after it was committed is not stored twice.
    store
        .insert_add_on_requests(&written[..30])
        .await
        .expect("stores a repeated batch");
    assert_eq!(
        store.count_add_on_requests().await.expect("counts"),
        written.len() as i64
    );
    for record in [&written[0], &written[37], &written[written.len() - 1]] {
        let sid = RequestSid::parse(&record.request_sid).expect("a request SID");
        let stored = store
            .add_on_request(&account, &sid)
            .await
            .expect("reads")
            .expect("was stored");
        assert_eq!(&stored, record);
    }
    let page = store
        .account_add_on_requests(&account, FIRST)
        .await
        .expect("lists");
    assert_eq!(page.items.len(), 50);
    assert_eq!(page.items[0], written[written.len() - 1]);
}

/// How fast batches of records are stored: `cargo test -p addons-store --test store --
/// --ignored --nocapture measure_record_insert_rate`. A measurement, not a test.
async fn measure_record_insert_rate(database: TestDatabase) {
    let store = open(&database).await;
    let account = account(&store, AccountRole::Developer).await;
    let (batches, batch_size) = (40, 500);
    let started = std::time::Instant::now();
    for b in 0..batches {
        let batch: Vec<AddOnRequestRecord> = (0..batch_size)
            .map(|i| sample_record(&account, b * batch_size + i))
            .collect();
        store
            .insert_add_on_requests(&batch)
            .await
            .expect("stores a batch");
    }
    let elapsed = started.elapsed();
    println!(
        "{}: {} records in batches of {batch_size}: {:.0} records/s",
        database.backend,
        batches * batch_size,
        (batches * batch_size) as f64 / elapsed.as_secs_f64()
    );
}

mod measurements {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a measurement: run it with --ignored --nocapture"]
    async fn measure_record_insert_rate_sqlite() {
        super::measure_record_insert_rate(addons_testkit::sqlite()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a measurement: run it with --ignored --nocapture"]
    async fn measure_record_insert_rate_postgres() {
        if let Some(database) = addons_testkit::postgres("measure_record_insert_rate").await {
            super::measure_record_insert_rate(database).await;
        }
    }
}

/// Catalog writes that read before they write (an install checks for the account's XD) do
/// not fail while request records are being stored from another connection.
async fn catalog_writes_wait_for_record_batches(database: TestDatabase) {
    let store = open(&database).await;
    let publisher = account(&store, AccountRole::Publisher).await;
    let developer = account(&store, AccountRole::Developer).await;
    let add_on = lookup_add_on(&store, &publisher, "busy_lookup").await;
    let writing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let recorder = {
        let (store, writing, developer) = (store.clone(), writing.clone(), developer.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while writing.load(std::sync::atomic::Ordering::Relaxed) {
                let batch: Vec<AddOnRequestRecord> =
                    (0..50).map(|i| sample_record(&developer, n + i)).collect();
                store
                    .insert_add_on_requests(&batch)
                    .await
                    .expect("stores a batch");
                n += 50;
            }
        })
    };
    for i in 0..40 {
        store
            .create_install(
                &developer,
                NewInstall {
                    add_on_sid: add_on.sid.clone(),
                    version_sid: add_on.latest.sid.clone(),
                    unique_name: format!("busy_{i}"),
                    configuration: json!({}),
                    extensions: Vec::new(),
                },
            )
            .await
            .expect("installs while records are stored");
    }
    writing.store(false, std::sync::atomic::Ordering::Relaxed);
    recorder.await.expect("the writer finishes");
}

addons_testkit::on_both_backends!(
    catalog_writes_wait_for_record_batches,
    request_records_round_trip_in_batches,
    accounts_keep_their_tokens_sealed,
    add_ons_and_versions,
    concurrent_publications_get_distinct_numbers,
    installs_are_per_account,
    pages_follow_creation_order,
    changes_are_announced_on_postgres,
);
