//! Catalog writes: accounts, manifests, versions, installs and extensions. The HTTP handlers,
//! the start-up manifest loader and the sandbox all go through here, so the rules hold
//! whichever way a change arrives. Every write refreshes the in-memory catalog before it
//! returns, so what was just registered or installed can be used at once.

use std::sync::Arc;

use addons_domain::config_schema::FieldError;
use addons_domain::kind::IntegrationPoint;
use addons_domain::manifest::{self, AddOnDefinition, RegistrationPolicy, Secret};
use addons_domain::problem::Problem;
use addons_domain::sid::{AccountSid, AddOnSid, ExtensionSid, InstalledAddOnSid, PhoneNumberSid, VersionSid};
use addons_engine::{Catalog, CompiledVersion};
use addons_store::{
    AccountRecord, AddOnRecord, InstallRecord, InstallUpdate, InstalledExtensionRecord, NewAccount,
    NewInstall, NewVersion, PhoneNumberRecord, PhoneNumberSettings, Store, StoreError, VersionRecord,
};
use serde_json::{Value, json};

use crate::error::ApiError;

/// Catalog writes.
#[derive(Debug, Clone)]
pub struct Services {
    store: Store,
    catalog: Arc<Catalog>,
    policy: RegistrationPolicy,
}

/// A request to install an Add-on.
#[derive(Debug, Clone)]
pub struct InstallRequest {
    /// The Add-on (`AvailableAddOnSid`).
    pub add_on: AddOnSid,
    /// `AcceptTermsOfService`.
    pub accept_terms_of_service: bool,
    /// `Configuration`.
    pub configuration: Option<Value>,
    /// `UniqueName` (the Add-on's unique name when absent).
    pub unique_name: Option<String>,
}

/// Which version an update moves an install to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionChoice {
    /// The Add-on's latest version.
    Latest,
    /// A given version of the same Add-on.
    Version(VersionSid),
}

/// A request to change an install.
#[derive(Debug, Clone, Default)]
pub struct UpdateRequest {
    /// A new configuration; also moves the install to the latest version (the only one whose
    /// configuration schema the Marketplace shows), unless `version` says otherwise.
    pub configuration: Option<Value>,
    /// A new unique name.
    pub unique_name: Option<String>,
    /// An explicit version move.
    pub version: Option<VersionChoice>,
}

/// What registering a manifest by name did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationOutcome {
    /// A new Add-on was created.
    Created,
    /// A new version of an existing Add-on was published.
    Published,
    /// The latest version already is this manifest.
    Unchanged,
}

impl Services {
    /// The service layer over a store and its catalog.
    pub fn new(store: Store, catalog: Arc<Catalog>, policy: RegistrationPolicy) -> Services {
        Services {
            store,
            catalog,
            policy,
        }
    }

    /// The registration policy.
    pub fn policy(&self) -> RegistrationPolicy {
        self.policy
    }

    async fn refreshed<T>(&self, value: T) -> Result<T, ApiError> {
        self.catalog.refresh().await?;
        Ok(value)
    }

    /// Creates a publisher or developer account.
    pub async fn create_account(&self, new: NewAccount) -> Result<AccountRecord, ApiError> {
        if new.friendly_name.trim().is_empty() || new.friendly_name.len() > 255 {
            return Err(ApiError::invalid("friendly_name", "must be 1 to 255 characters"));
        }
        let account = self
            .store
            .create_account(new)
            .await
            .map_err(|error| match error {
                StoreError::Conflict(_) => ApiError::conflict("An account with this SID already exists"),
                other => other.into(),
            })?;
        self.refreshed(account).await
    }

    /// Checks and compiles a manifest; a bad one is a 400 listing every problem.
    pub fn compile(&self, manifest: &Value) -> Result<AddOnDefinition, ApiError> {
        manifest::compile(manifest, self.policy).map_err(|problems| ApiError::problems("manifest", &problems))
    }

    fn new_version(manifest: &Value, definition: &AddOnDefinition) -> NewVersion {
        let (redacted, secret) = manifest::split_secret(manifest);
        NewVersion {
            manifest: redacted,
            auth_secret: secret.map(Secret::new),
            integration_points: definition.integration_points.clone(),
        }
    }

    /// Registers a new Add-on from a manifest; its first version is published at once.
    pub async fn register_add_on(
        &self,
        publisher: &AccountSid,
        manifest: &Value,
    ) -> Result<AddOnRecord, ApiError> {
        let definition = self.compile(manifest)?;
        let add_on = self
            .store
            .create_add_on(
                publisher,
                &definition.unique_name,
                definition.kind,
                Self::new_version(manifest, &definition),
            )
            .await
            .map_err(|error| match error {
                StoreError::Conflict(_) => ApiError::conflict(format!(
                    "An Add-on named '{}' already exists; publish a new version of it instead",
                    definition.unique_name
                )),
                other => other.into(),
            })?;
        self.refreshed(add_on).await
    }

    /// Publishes a new version of a publisher's Add-on. Its unique name and type cannot change.
    pub async fn publish_version(
        &self,
        publisher: &AccountSid,
        add_on: &AddOnSid,
        manifest: &Value,
    ) -> Result<VersionRecord, ApiError> {
        let existing = self
            .store
            .publisher_add_on(publisher, add_on)
            .await?
            .ok_or_else(|| ApiError::not_found(&format!("/admin/v1/AddOns/{add_on}")))?;
        let definition = self.compile(manifest)?;
        let mut problems = Vec::new();
        if definition.unique_name != existing.unique_name {
            problems.push(Problem {
                pointer: "/unique_name".into(),
                message: format!(
                    "a version cannot rename the Add-on: it is '{}'",
                    existing.unique_name
                ),
            });
        }
        if definition.kind != existing.kind {
            problems.push(Problem {
                pointer: "/type".into(),
                message: format!(
                    "a version cannot change the Add-on's type: it is '{}'",
                    existing.kind.as_str()
                ),
            });
        }
        if !problems.is_empty() {
            return Err(ApiError::problems("manifest", &problems));
        }
        let version = self
            .store
            .publish_version(publisher, add_on, Self::new_version(manifest, &definition))
            .await?
            .ok_or_else(|| ApiError::not_found(&format!("/admin/v1/AddOns/{add_on}")))?;
        self.refreshed(version).await
    }

    /// Registers a manifest by its unique name: creates the Add-on, publishes a new version of
    /// the publisher's existing one, or does nothing when the latest version is identical.
    pub async fn register_or_publish(
        &self,
        publisher: &AccountSid,
        manifest: &Value,
    ) -> Result<(AddOnRecord, RegistrationOutcome), ApiError> {
        let definition = self.compile(manifest)?;
        match self
            .store
            .publisher_add_on_by_name(publisher, &definition.unique_name)
            .await?
        {
            None => {
                let add_on = self.register_add_on(publisher, manifest).await?;
                Ok((add_on, RegistrationOutcome::Created))
            }
            Some(existing) if &existing.latest.full_manifest() == manifest => {
                Ok((existing, RegistrationOutcome::Unchanged))
            }
            Some(existing) => {
                self.publish_version(publisher, &existing.sid, manifest).await?;
                let add_on = self
                    .store
                    .publisher_add_on(publisher, &existing.sid)
                    .await?
                    .ok_or_else(|| ApiError::internal(&"an Add-on vanished while publishing"))?;
                Ok((add_on, RegistrationOutcome::Published))
            }
        }
    }

    fn compiled(&self, version: &VersionSid) -> Result<Arc<CompiledVersion>, ApiError> {
        self.catalog
            .compiled_version(version)
            .ok_or_else(|| ApiError::internal(&format!("version {version} is not in the catalog")))
    }

    async fn extensions_for(&self, version: &CompiledVersion) -> Result<Vec<ExtensionSid>, ApiError> {
        let points = &version.definition.integration_points;
        Ok(self
            .store
            .extensions(&version.add_on_sid)
            .await?
            .into_iter()
            .filter(|extension| points.contains(&extension.point))
            .map(|extension| extension.sid)
            .collect())
    }

    /// Installs an Add-on for an account, pinned to its latest version, every extension
    /// disabled until the developer enables it.
    pub async fn install(
        &self,
        account: &AccountSid,
        request: InstallRequest,
    ) -> Result<InstallRecord, ApiError> {
        if !request.accept_terms_of_service {
            return Err(ApiError::invalid(
                "AcceptTermsOfService",
                "must be true: the Add-on's terms of service have to be accepted to install it",
            ));
        }
        let add_on = self
            .store
            .available_add_on(&request.add_on)
            .await?
            .ok_or_else(|| {
                ApiError::invalid(
                    "AvailableAddOnSid",
                    format!("no Add-on {} exists", request.add_on),
                )
            })?;
        let version = self.compiled(&add_on.latest.sid)?;
        let unique_name = match request.unique_name {
            Some(name) => check_install_name(&name)?,
            None => add_on.unique_name.clone(),
        };
        let configuration = validate_configuration(&version, request.configuration)?;
        let extensions = self.extensions_for(&version).await?;
        let install = self
            .store
            .create_install(
                account,
                NewInstall {
                    add_on_sid: add_on.sid,
                    version_sid: version.sid.clone(),
                    unique_name: unique_name.clone(),
                    configuration,
                    extensions,
                },
            )
            .await
            .map_err(|error| unique_name_conflict(error, &unique_name))?;
        self.refreshed(install).await
    }

    /// Updates an install's configuration, unique name or version.
    pub async fn update_install(
        &self,
        account: &AccountSid,
        sid: &InstalledAddOnSid,
        request: UpdateRequest,
    ) -> Result<InstallRecord, ApiError> {
        let path = format!("/v1/InstalledAddOns/{sid}");
        let current = self
            .store
            .install(account, sid)
            .await?
            .ok_or_else(|| ApiError::not_found(&path))?;
        let choice = request
            .version
            .clone()
            .or_else(|| request.configuration.as_ref().map(|_| VersionChoice::Latest));
        let target = match choice {
            None => current.version_sid.clone(),
            Some(VersionChoice::Latest) => {
                self.store
                    .available_add_on(&current.add_on_sid)
                    .await?
                    .ok_or_else(|| ApiError::internal(&"an installed Add-on has no record"))?
                    .latest
                    .sid
            }
            Some(VersionChoice::Version(version)) => {
                self.store
                    .version(&current.add_on_sid, &version)
                    .await?
                    .ok_or_else(|| {
                        ApiError::invalid(
                            "AddOnVersionSid",
                            format!("{version} is not a version of this Add-on"),
                        )
                    })?
                    .sid
            }
        };
        let version = self.compiled(&target)?;
        let configuration = match request.configuration {
            Some(configuration) => Some(validate_configuration(&version, Some(configuration))?),
            None if target != current.version_sid => Some(validate_configuration(
                &version,
                Some(current.configuration.clone()),
            )?),
            None => None,
        };
        let unique_name = request
            .unique_name
            .map(|name| check_install_name(&name))
            .transpose()?;
        let version_change = if target == current.version_sid {
            None
        } else {
            Some((target, self.extensions_for(&version).await?))
        };
        let name_for_error = unique_name.clone().unwrap_or_default();
        let updated = self
            .store
            .update_install(
                account,
                sid,
                InstallUpdate {
                    unique_name,
                    configuration,
                    version: version_change,
                },
            )
            .await
            .map_err(|error| unique_name_conflict(error, &name_for_error))?
            .ok_or_else(|| ApiError::not_found(&path))?;
        self.refreshed(updated).await
    }

    /// Uninstalls.
    pub async fn delete_install(
        &self,
        account: &AccountSid,
        sid: &InstalledAddOnSid,
    ) -> Result<(), ApiError> {
        if !self.store.delete_install(account, sid).await? {
            return Err(ApiError::not_found(&format!("/v1/InstalledAddOns/{sid}")));
        }
        self.refreshed(()).await
    }

    /// Enables or disables one extension of an install.
    pub async fn set_extension(
        &self,
        account: &AccountSid,
        install: &InstalledAddOnSid,
        extension: &ExtensionSid,
        enabled: bool,
    ) -> Result<InstalledExtensionRecord, ApiError> {
        let record = self
            .store
            .set_install_extension(account, install, extension, enabled)
            .await?
            .ok_or_else(|| {
                ApiError::not_found(&format!("/v1/InstalledAddOns/{install}/Extensions/{extension}"))
            })?;
        self.refreshed(record).await
    }

    /// Enables the extensions of an install for the given integration points (the sandbox
    /// uses this; developers use the Marketplace API one extension at a time).
    pub async fn enable_points(
        &self,
        account: &AccountSid,
        install: &InstalledAddOnSid,
        points: &[IntegrationPoint],
    ) -> Result<(), ApiError> {
        for extension in self.store.install_extensions(account, install).await? {
            if points.contains(&extension.point) {
                self.store
                    .set_install_extension(account, install, &extension.extension_sid, true)
                    .await?;
            }
        }
        self.refreshed(()).await
    }
}

impl Services {
    /// Gives a phone number to an account (any valid number no account has yet).
    pub async fn create_phone_number(
        &self,
        account: &AccountSid,
        phone_number: &str,
        settings: &PhoneNumberSettings,
    ) -> Result<PhoneNumberRecord, ApiError> {
        let number = addons_domain::phone::parse(phone_number, None)
            .map_err(|error| ApiError::invalid("PhoneNumber", error))?;
        let record = self
            .store
            .create_phone_number(account, &number.e164, settings)
            .await
            .map_err(|error| match error {
                StoreError::Conflict(_) => ApiError::conflict(format!("{} is already in use", number.e164)),
                other => other.into(),
            })?;
        self.refreshed(record).await
    }

    /// Replaces a number's settings.
    pub async fn update_phone_number(
        &self,
        account: &AccountSid,
        sid: &PhoneNumberSid,
        settings: &PhoneNumberSettings,
    ) -> Result<PhoneNumberRecord, ApiError> {
        let record = self
            .store
            .update_phone_number(account, sid, settings)
            .await?
            .ok_or_else(|| ApiError::not_found(&format!("/IncomingPhoneNumbers/{sid}")))?;
        self.refreshed(record).await
    }

    /// Releases a number.
    pub async fn delete_phone_number(
        &self,
        account: &AccountSid,
        sid: &PhoneNumberSid,
    ) -> Result<(), ApiError> {
        if !self.store.delete_phone_number(account, sid).await? {
            return Err(ApiError::not_found(&format!("/IncomingPhoneNumbers/{sid}")));
        }
        self.refreshed(()).await
    }
}

fn unique_name_conflict(error: StoreError, name: &str) -> ApiError {
    match error {
        StoreError::Conflict(_) => ApiError::conflict(format!(
            "UniqueName '{name}' is already used by another installed Add-on in this account"
        )),
        other => other.into(),
    }
}

fn check_install_name(name: &str) -> Result<String, ApiError> {
    let valid = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(name.to_owned())
    } else {
        Err(ApiError::invalid(
            "UniqueName",
            "must be 1 to 64 letters, digits, '_' or '-' (it is how Lookup's AddOns parameter names the Add-on)",
        ))
    }
}

/// Validates a developer's configuration against a version's configuration schema: one error
/// per field, each with the field, the rule and what was expected.
pub fn validate_configuration(
    version: &CompiledVersion,
    configuration: Option<Value>,
) -> Result<Value, ApiError> {
    let configuration = configuration.unwrap_or_else(|| json!({}));
    let errors: Vec<FieldError> = match &version.definition.configuration_schema {
        Some(schema) => match schema.validate(&configuration) {
            Ok(()) => Vec::new(),
            Err(errors) => errors,
        },
        None => match configuration.as_object() {
            Some(object) if object.is_empty() => Vec::new(),
            Some(object) => object
                .keys()
                .map(|key| FieldError {
                    field: key.clone(),
                    rule: "additionalProperties".into(),
                    expected: "no configuration (this Add-on has no configuration schema)".into(),
                    message: format!("'{key}' is not a configuration field of this Add-on"),
                })
                .collect(),
            None => vec![FieldError {
                field: String::new(),
                rule: "type".into(),
                expected: "a JSON object".into(),
                message: "Configuration must be a JSON object".into(),
            }],
        },
    };
    if errors.is_empty() {
        return Ok(configuration);
    }
    let summary: Vec<String> = errors.iter().map(|e| e.message.clone()).collect();
    Err(ApiError::invalid("Configuration", summary.join("; ")).with_details(json!({ "errors": errors })))
}
