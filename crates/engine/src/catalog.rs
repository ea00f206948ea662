//! The in-memory catalog: accounts (for authentication and signing), installed Add-ons and the
//! compiled versions they are pinned to. The request path reads only this snapshot.
//!
//! The snapshot is rebuilt from the store after every change this instance makes (before the
//! change is acknowledged, so a developer can use what was just installed) and, on
//! PostgreSQL, whenever another instance announces a change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use addons_domain::kind::IntegrationPoint;
use addons_domain::manifest::{self, AddOnDefinition, RegistrationPolicy};
use addons_domain::sid::{AccountSid, AddOnSid, InstallSid, InstalledAddOnSid, VersionSid};
use addons_domain::signature::Signer;
use addons_store::{AccountRole, PhoneNumberRecord, RecordSource, Store, StoreResult};
use arc_swap::ArcSwap;
use serde_json::{Map, Value};

use crate::request::IdentityHeaders;

/// An account as the request path needs it.
#[derive(Debug)]
pub struct Account {
    /// The SID.
    pub sid: AccountSid,
    /// Display name.
    pub friendly_name: String,
    /// Publisher or developer.
    pub role: AccountRole,
    /// Signs what is sent on this account's behalf (publisher requests, developer webhooks).
    pub signer: Signer,
    token_hash: [u8; 32],
}

impl Account {
    /// Whether `token` is this account's auth token (constant time).
    pub fn token_matches(&self, token: &str) -> bool {
        addons_store::crypto::token_matches(&self.token_hash, token)
    }
}

/// An immutable Add-on version, compiled once.
#[derive(Debug)]
pub struct CompiledVersion {
    /// `XC…`.
    pub sid: VersionSid,
    /// `XB…`.
    pub add_on_sid: AddOnSid,
    /// Version number.
    pub number: i32,
    /// The publisher account's SID (`X-Twilio-VendorAccountSid`).
    pub publisher_sid: AccountSid,
    /// The definition.
    pub definition: AddOnDefinition,
}

/// A developer's installed Add-on, ready to invoke.
#[derive(Debug)]
pub struct Installed {
    /// `XE…`.
    pub sid: InstalledAddOnSid,
    /// `XD…`.
    pub install_sid: InstallSid,
    /// The developer account.
    pub account_sid: AccountSid,
    /// The name it is invoked by.
    pub unique_name: String,
    /// The configuration (template fields).
    pub configuration: Map<String, Value>,
    /// The version it is pinned to.
    pub version: Arc<CompiledVersion>,
    /// The publisher (for signing), if the account still exists.
    pub publisher: Option<Arc<Account>>,
    /// The SID headers of every request to the publisher.
    pub identity_headers: IdentityHeaders,
    /// What every request record of this installed Add-on shares.
    pub record_source: Arc<RecordSource>,
    enabled: Vec<IntegrationPoint>,
}

impl Installed {
    /// Whether the extension for `point` is enabled.
    pub fn is_enabled(&self, point: IntegrationPoint) -> bool {
        self.enabled.contains(&point)
    }
}

/// A developer's phone number and where its traffic is announced.
#[derive(Debug, Clone)]
pub struct NumberRoute {
    /// The number as stored.
    pub record: PhoneNumberRecord,
}

/// One consistent view of the catalog.
#[derive(Debug, Default)]
pub struct Snapshot {
    accounts: HashMap<AccountSid, Arc<Account>>,
    installs: HashMap<AccountSid, AccountInstalls>,
    numbers: HashMap<String, Arc<NumberRoute>>,
}

#[derive(Debug, Default)]
struct AccountInstalls {
    by_name: HashMap<String, Arc<Installed>>,
    /// In installation order: the order Add-ons run in on incoming messages and calls.
    ordered: Vec<Arc<Installed>>,
}

impl Snapshot {
    /// An account by SID.
    pub fn account(&self, sid: &str) -> Option<&Arc<Account>> {
        let sid = AccountSid::parse(sid).ok()?;
        self.accounts.get(&sid)
    }

    /// The account and webhooks of a phone number (E.164).
    pub fn number(&self, e164: &str) -> Option<&Arc<NumberRoute>> {
        self.numbers.get(e164)
    }

    /// An account's installed Add-on by unique name.
    pub fn installed(&self, account: &AccountSid, unique_name: &str) -> Option<&Arc<Installed>> {
        self.installs.get(account)?.by_name.get(unique_name)
    }

    /// An account's installed Add-ons whose extension for `point` is enabled, in installation
    /// order.
    pub fn enabled_at<'a>(
        &'a self,
        account: &AccountSid,
        point: IntegrationPoint,
    ) -> impl Iterator<Item = &'a Arc<Installed>> + 'a {
        self.installs
            .get(account)
            .into_iter()
            .flat_map(|installs| installs.ordered.iter())
            .filter(move |installed| installed.is_enabled(point))
    }
}

/// The catalog: the current snapshot, and how to rebuild it.
#[derive(Debug)]
pub struct Catalog {
    store: Store,
    current: ArcSwap<Snapshot>,
    compiled: Mutex<HashMap<VersionSid, Arc<CompiledVersion>>>,
    refresh: tokio::sync::Mutex<()>,
}

impl Catalog {
    /// Loads the catalog from the store.
    pub async fn load(store: Store) -> StoreResult<Arc<Catalog>> {
        let catalog = Arc::new(Catalog {
            store,
            current: ArcSwap::from_pointee(Snapshot::default()),
            compiled: Mutex::new(HashMap::new()),
            refresh: tokio::sync::Mutex::new(()),
        });
        catalog.refresh().await?;
        Ok(catalog)
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.current.load()
    }

    /// The account with these credentials, if they are right.
    pub fn authenticate(&self, sid: &str, token: &str) -> Option<Arc<Account>> {
        let snapshot = self.current.load();
        let account = snapshot.account(sid)?;
        account.token_matches(token).then(|| Arc::clone(account))
    }

    /// A compiled version by SID (compiling it if this instance has not yet).
    pub fn compiled_version(&self, sid: &VersionSid) -> Option<Arc<CompiledVersion>> {
        self.compiled.lock().ok()?.get(sid).cloned()
    }

    /// Rebuilds the snapshot from the store. Concurrent calls are serialised; versions are
    /// compiled once per instance, since they never change.
    pub async fn refresh(&self) -> StoreResult<()> {
        let _one_at_a_time = self.refresh.lock().await;
        let accounts = self.store.all_accounts().await?;
        let versions = self.store.all_versions().await?;
        let installs = self.store.all_installs().await?;
        let extensions = self.store.all_install_extensions().await?;
        let publishers = self.store.add_on_publishers().await?;
        let numbers = self.store.all_phone_numbers().await?;

        let accounts: HashMap<AccountSid, Arc<Account>> = accounts
            .into_iter()
            .map(|record| {
                let account = Account {
                    signer: Signer::new(record.auth_token.expose()),
                    token_hash: record.auth_token_hash.as_slice().try_into().unwrap_or([0u8; 32]),
                    sid: record.sid.clone(),
                    friendly_name: record.friendly_name,
                    role: record.role,
                };
                (record.sid, Arc::new(account))
            })
            .collect();

        let compiled = {
            let mut cache = self
                .compiled
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            for version in versions {
                if cache.contains_key(&version.sid) {
                    continue;
                }
                let Some(publisher_sid) = publishers.get(&version.add_on_sid).cloned() else {
                    continue;
                };
                // Stored versions were checked under the policy in force when they were
                // registered; a later, stricter policy does not retire them.
                let policy = RegistrationPolicy {
                    allow_insecure_endpoints: true,
                };
                match manifest::compile(&version.full_manifest(), policy) {
                    Ok(definition) => {
                        cache.insert(
                            version.sid.clone(),
                            Arc::new(CompiledVersion {
                                sid: version.sid,
                                add_on_sid: version.add_on_sid,
                                number: version.number,
                                publisher_sid,
                                definition,
                            }),
                        );
                    }
                    Err(problems) => {
                        tracing::error!(version = %version.sid, ?problems, "a stored Add-on version no longer compiles");
                    }
                }
            }
            cache.clone()
        };

        let mut enabled: HashMap<InstalledAddOnSid, Vec<IntegrationPoint>> = HashMap::new();
        for extension in extensions.into_iter().filter(|e| e.enabled) {
            enabled
                .entry(extension.installed_add_on_sid)
                .or_default()
                .push(extension.point);
        }

        let mut by_account: HashMap<AccountSid, AccountInstalls> = HashMap::new();
        for install in installs {
            let Some(version) = compiled.get(&install.version_sid) else {
                continue;
            };
            let installed = Arc::new(Installed {
                identity_headers: IdentityHeaders::new(
                    version.publisher_sid.as_str(),
                    version.add_on_sid.as_str(),
                    version.sid.as_str(),
                    install.install_sid.as_str(),
                    install.sid.as_str(),
                ),
                record_source: Arc::new(RecordSource {
                    account_sid: install.account_sid.as_str().into(),
                    installed_add_on_sid: install.sid.as_str().into(),
                    install_sid: install.install_sid.as_str().into(),
                    add_on_sid: version.add_on_sid.as_str().into(),
                    version_sid: version.sid.as_str().into(),
                    publisher_sid: version.publisher_sid.as_str().into(),
                    unique_name: install.unique_name.as_str().into(),
                    pricing_model: version.definition.pricing.model().into(),
                }),
                enabled: enabled.remove(&install.sid).unwrap_or_default(),
                publisher: accounts.get(&version.publisher_sid).cloned(),
                version: Arc::clone(version),
                configuration: install.configuration.as_object().cloned().unwrap_or_default(),
                sid: install.sid,
                install_sid: install.install_sid,
                account_sid: install.account_sid.clone(),
                unique_name: install.unique_name.clone(),
            });
            let entry = by_account.entry(install.account_sid).or_default();
            entry.by_name.insert(install.unique_name, Arc::clone(&installed));
            entry.ordered.push(installed);
        }

        let numbers = numbers
            .into_iter()
            .map(|record| (record.phone_number.clone(), Arc::new(NumberRoute { record })))
            .collect();
        self.current.store(Arc::new(Snapshot {
            accounts,
            installs: by_account,
            numbers,
        }));
        Ok(())
    }

    /// Keeps the catalog current with changes other instances announce (PostgreSQL only).
    pub async fn follow_other_instances(self: &Arc<Self>) -> StoreResult<()> {
        let Some(mut changes) = self.store.listen_for_changes().await? else {
            return Ok(());
        };
        let catalog = Arc::clone(self);
        tokio::spawn(async move {
            while changes.recv().await.is_some() {
                if let Err(error) = catalog.refresh().await {
                    tracing::warn!(%error, "could not refresh the catalog after a change");
                }
            }
        });
        Ok(())
    }
}
