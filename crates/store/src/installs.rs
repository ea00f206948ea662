//! Installed Add-ons (a developer's configured instance of an Add-on, pinned to a version) and
//! which of their extensions are enabled.

use addons_domain::kind::IntegrationPoint;
use addons_domain::sid::{AccountSid, AddOnSid, ExtensionSid, InstallSid, InstalledAddOnSid, VersionSid};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::{
    Columns, Page, PageRequest, Store, StoreError, StoreResult, in_catalog_transaction, now, on_backend,
    parse_json, parse_sid,
};

/// An install to create.
#[derive(Debug, Clone)]
pub struct NewInstall {
    /// The installed Add-on to pin.
    pub add_on_sid: AddOnSid,
    /// The version it is pinned to.
    pub version_sid: VersionSid,
    /// Unique within the account.
    pub unique_name: String,
    /// The validated configuration.
    pub configuration: Value,
    /// The version's extensions; each starts disabled.
    pub extensions: Vec<ExtensionSid>,
}

/// Changes to an install.
#[derive(Debug, Clone, Default)]
pub struct InstallUpdate {
    /// A new unique name.
    pub unique_name: Option<String>,
    /// A new (validated) configuration.
    pub configuration: Option<Value>,
    /// A new version to pin, with its extensions. Extensions kept across versions keep their
    /// enabled state; new ones start disabled.
    pub version: Option<(VersionSid, Vec<ExtensionSid>)>,
}

/// A stored install.
#[derive(Debug, Clone, PartialEq)]
pub struct InstallRecord {
    /// `XE…`: the installed Add-on (its configuration).
    pub sid: InstalledAddOnSid,
    /// The developer account.
    pub account_sid: AccountSid,
    /// The Add-on.
    pub add_on_sid: AddOnSid,
    /// The pinned version.
    pub version_sid: VersionSid,
    /// `XD…`: the account's installation of this Add-on.
    pub install_sid: InstallSid,
    /// Unique within the account; the name the developer invokes it by.
    pub unique_name: String,
    /// The configuration.
    pub configuration: Value,
    /// Created.
    pub date_created: DateTime<Utc>,
    /// Last updated.
    pub date_updated: DateTime<Utc>,
}

/// One extension of an install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledExtensionRecord {
    /// The install.
    pub installed_add_on_sid: InstalledAddOnSid,
    /// The extension.
    pub extension_sid: ExtensionSid,
    /// Its integration point.
    pub point: IntegrationPoint,
    /// Whether it is invoked.
    pub enabled: bool,
}

macro_rules! install_columns {
    () => {
        "sid, account_sid, add_on_sid, version_sid, install_sid, unique_name, configuration, date_created, date_updated"
    };
}

macro_rules! extension_select {
    () => {
        "SELECT ie.installed_add_on_sid, ie.extension_sid, ie.enabled, e.integration_point \
     FROM installed_add_on_extensions ie \
     JOIN add_on_extensions e ON e.sid = ie.extension_sid \
     JOIN installed_add_ons i ON i.sid = ie.installed_add_on_sid"
    };
}

impl Store {
    /// Installs an Add-on for an account. A unique name already used in the account is a
    /// [`StoreError::Conflict`].
    pub async fn create_install(&self, account: &AccountSid, new: NewInstall) -> StoreResult<InstallRecord> {
        let sid = InstalledAddOnSid::generate();
        let created = now();
        let configuration = new.configuration.to_string();
        let install_sid: InstallSid = in_catalog_transaction!(self, tx => {
            let existing: Option<String> = sqlx::query_scalar(
                "SELECT install_sid FROM installed_add_ons WHERE account_sid = $1 AND add_on_sid = $2 LIMIT 1",
            )
            .bind(account.as_str())
            .bind(new.add_on_sid.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            let install_sid = match existing {
                Some(text) => parse_sid(&text, "installed_add_ons.install_sid")?,
                None => InstallSid::generate(),
            };
            sqlx::query(concat!(
                "INSERT INTO installed_add_ons (", install_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)"
            ))
            .bind(sid.as_str())
            .bind(account.as_str())
            .bind(new.add_on_sid.as_str())
            .bind(new.version_sid.as_str())
            .bind(install_sid.as_str())
            .bind(&new.unique_name)
            .bind(&configuration)
            .bind(created)
            .execute(&mut *tx)
            .await?;
            for extension in &new.extensions {
                sqlx::query(
                    "INSERT INTO installed_add_on_extensions (installed_add_on_sid, extension_sid, enabled) VALUES ($1, $2, $3)",
                )
                .bind(sid.as_str())
                .bind(extension.as_str())
                .bind(false)
                .execute(&mut *tx)
                .await?;
            }
            install_sid
        });
        Ok(InstallRecord {
            sid,
            account_sid: account.clone(),
            add_on_sid: new.add_on_sid,
            version_sid: new.version_sid,
            install_sid,
            unique_name: new.unique_name,
            configuration: new.configuration,
            date_created: created,
            date_updated: created,
        })
    }

    /// One of an account's installs.
    pub async fn install(
        &self,
        account: &AccountSid,
        sid: &InstalledAddOnSid,
    ) -> StoreResult<Option<InstallRecord>> {
        let query = concat!(
            "SELECT ",
            install_columns!(),
            " FROM installed_add_ons WHERE sid = $1 AND account_sid = $2"
        );
        Ok(on_backend!(self, pool => {
            match sqlx::query(query).bind(sid.as_str()).bind(account.as_str()).fetch_optional(pool).await? {
                Some(row) => Some(install_from_row(&row)?),
                None => None,
            }
        }))
    }

    /// An account's installs, oldest first.
    pub async fn installs(
        &self,
        account: &AccountSid,
        page: PageRequest,
    ) -> StoreResult<Page<InstallRecord>> {
        let query = concat!(
            "SELECT ",
            install_columns!(),
            " FROM installed_add_ons WHERE account_sid = $1 ORDER BY date_created, sid LIMIT $2 OFFSET $3"
        );
        let items = on_backend!(self, pool => {
            let rows = sqlx::query(query).bind(account.as_str()).bind(page.limit()).bind(page.offset()).fetch_all(pool).await?;
            rows.iter().map(install_from_row).collect::<StoreResult<Vec<_>>>()?
        });
        Ok(Page::from_overfetch(items, page))
    }

    /// Every install of every account (for the in-memory catalog).
    pub async fn all_installs(&self) -> StoreResult<Vec<InstallRecord>> {
        let query = concat!(
            "SELECT ",
            install_columns!(),
            " FROM installed_add_ons ORDER BY date_created, sid"
        );
        Ok(on_backend!(self, pool => {
            let rows = sqlx::query(query).fetch_all(pool).await?;
            rows.iter().map(install_from_row).collect::<StoreResult<Vec<_>>>()?
        }))
    }

    /// Updates an install. `None` if the account has no such install.
    pub async fn update_install(
        &self,
        account: &AccountSid,
        sid: &InstalledAddOnSid,
        update: InstallUpdate,
    ) -> StoreResult<Option<InstallRecord>> {
        let updated = now();
        let configuration = update.configuration.as_ref().map(Value::to_string);
        let changed = in_catalog_transaction!(self, tx => {
            let changed = sqlx::query(
                "UPDATE installed_add_ons SET \
                 unique_name = COALESCE($1, unique_name), \
                 configuration = COALESCE($2, configuration), \
                 version_sid = COALESCE($3, version_sid), \
                 date_updated = $4 \
                 WHERE sid = $5 AND account_sid = $6",
            )
            .bind(update.unique_name.as_deref())
            .bind(configuration.as_deref())
            .bind(update.version.as_ref().map(|(version, _)| version.as_str()))
            .bind(updated)
            .bind(sid.as_str())
            .bind(account.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected()
                > 0;
            if changed && let Some((_, extensions)) = &update.version {
                let current: Vec<String> = sqlx::query_scalar(
                    "SELECT extension_sid FROM installed_add_on_extensions WHERE installed_add_on_sid = $1",
                )
                .bind(sid.as_str())
                .fetch_all(&mut *tx)
                .await?;
                for stale in current.iter().filter(|c| !extensions.iter().any(|e| e.as_str() == c.as_str())) {
                    sqlx::query("DELETE FROM installed_add_on_extensions WHERE installed_add_on_sid = $1 AND extension_sid = $2")
                        .bind(sid.as_str())
                        .bind(stale)
                        .execute(&mut *tx)
                        .await?;
                }
                for extension in extensions {
                    sqlx::query(
                        "INSERT INTO installed_add_on_extensions (installed_add_on_sid, extension_sid, enabled) VALUES ($1, $2, $3) \
                         ON CONFLICT (installed_add_on_sid, extension_sid) DO NOTHING",
                    )
                    .bind(sid.as_str())
                    .bind(extension.as_str())
                    .bind(false)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            changed
        });
        if !changed {
            return Ok(None);
        }
        self.install(account, sid).await
    }

    /// Uninstalls. `false` if the account has no such install.
    pub async fn delete_install(&self, account: &AccountSid, sid: &InstalledAddOnSid) -> StoreResult<bool> {
        Ok(in_catalog_transaction!(self, tx => {
            sqlx::query("DELETE FROM installed_add_ons WHERE sid = $1 AND account_sid = $2")
                .bind(sid.as_str())
                .bind(account.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected()
                > 0
        }))
    }

    /// The extensions of one of an account's installs, in integration-point order.
    pub async fn install_extensions(
        &self,
        account: &AccountSid,
        install: &InstalledAddOnSid,
    ) -> StoreResult<Vec<InstalledExtensionRecord>> {
        let query = concat!(
            extension_select!(),
            " WHERE ie.installed_add_on_sid = $1 AND i.account_sid = $2"
        );
        let mut extensions = on_backend!(self, pool => {
            let rows = sqlx::query(query).bind(install.as_str()).bind(account.as_str()).fetch_all(pool).await?;
            rows.iter().map(installed_extension_from_row).collect::<StoreResult<Vec<_>>>()?
        });
        extensions.sort_by_key(|e| e.point);
        Ok(extensions)
    }

    /// Every install's extensions (for the in-memory catalog).
    pub async fn all_install_extensions(&self) -> StoreResult<Vec<InstalledExtensionRecord>> {
        Ok(on_backend!(self, pool => {
            let rows = sqlx::query(extension_select!()).fetch_all(pool).await?;
            rows.iter().map(installed_extension_from_row).collect::<StoreResult<Vec<_>>>()?
        }))
    }

    /// Enables or disables one extension of an install. `None` if the account has no such
    /// install or the install no such extension.
    pub async fn set_install_extension(
        &self,
        account: &AccountSid,
        install: &InstalledAddOnSid,
        extension: &ExtensionSid,
        enabled: bool,
    ) -> StoreResult<Option<InstalledExtensionRecord>> {
        let changed = in_catalog_transaction!(self, tx => {
            sqlx::query(
                "UPDATE installed_add_on_extensions SET enabled = $1 \
                 WHERE installed_add_on_sid = $2 AND extension_sid = $3 \
                 AND installed_add_on_sid IN (SELECT sid FROM installed_add_ons WHERE account_sid = $4)",
            )
            .bind(enabled)
            .bind(install.as_str())
            .bind(extension.as_str())
            .bind(account.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected()
                > 0
        });
        if !changed {
            return Ok(None);
        }
        Ok(self
            .install_extensions(account, install)
            .await?
            .into_iter()
            .find(|e| &e.extension_sid == extension))
    }
}

fn install_from_row(row: &impl Columns) -> StoreResult<InstallRecord> {
    Ok(InstallRecord {
        sid: parse_sid(&row.text("sid")?, "installed_add_ons.sid")?,
        account_sid: parse_sid(&row.text("account_sid")?, "installed_add_ons.account_sid")?,
        add_on_sid: parse_sid(&row.text("add_on_sid")?, "installed_add_ons.add_on_sid")?,
        version_sid: parse_sid(&row.text("version_sid")?, "installed_add_ons.version_sid")?,
        install_sid: parse_sid(&row.text("install_sid")?, "installed_add_ons.install_sid")?,
        unique_name: row.text("unique_name")?,
        configuration: parse_json(&row.text("configuration")?, "installed_add_ons.configuration")?,
        date_created: row.time("date_created")?,
        date_updated: row.time("date_updated")?,
    })
}

fn installed_extension_from_row(row: &impl Columns) -> StoreResult<InstalledExtensionRecord> {
    let point = row.text("integration_point")?;
    Ok(InstalledExtensionRecord {
        installed_add_on_sid: parse_sid(
            &row.text("installed_add_on_sid")?,
            "installed_add_on_extensions.installed_add_on_sid",
        )?,
        extension_sid: parse_sid(
            &row.text("extension_sid")?,
            "installed_add_on_extensions.extension_sid",
        )?,
        point: IntegrationPoint::parse(&point)
            .ok_or_else(|| StoreError::Corrupt(format!("add_on_extensions.integration_point: '{point}'")))?,
        enabled: row.flag("enabled")?,
    })
}
