//! Add-ons, their immutable versions, and their extensions (one per integration point).

use addons_domain::kind::{AddOnKind, IntegrationPoint};
use addons_domain::manifest::{Secret, join_secret};
use addons_domain::sid::{AccountSid, AddOnSid, ExtensionSid, VersionSid};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::{
    Columns, Page, PageRequest, Store, StoreError, StoreResult, in_catalog_transaction, now, on_backend,
    parse_json, parse_sid,
};

/// A version to store: the manifest with its credential removed, and the credential.
#[derive(Debug, Clone)]
pub struct NewVersion {
    /// The manifest, redacted.
    pub manifest: Value,
    /// The publisher credential, sealed before it is written.
    pub auth_secret: Option<Secret>,
    /// The integration points the version supports (their extensions are created if new).
    pub integration_points: Vec<IntegrationPoint>,
}

/// A stored version.
#[derive(Debug, Clone)]
pub struct VersionRecord {
    /// `XC…`.
    pub sid: VersionSid,
    /// The Add-on.
    pub add_on_sid: AddOnSid,
    /// 1 for the first version, then 2, 3…
    pub number: i32,
    /// The manifest, redacted.
    pub manifest: Value,
    /// The publisher credential, opened.
    pub auth_secret: Option<Secret>,
    /// Published.
    pub date_created: DateTime<Utc>,
}

impl VersionRecord {
    /// The manifest with its credential, ready to compile.
    pub fn full_manifest(&self) -> Value {
        join_secret(&self.manifest, self.auth_secret.as_ref().map(Secret::expose))
    }
}

/// A stored Add-on with its latest version.
#[derive(Debug, Clone)]
pub struct AddOnRecord {
    /// `XB…`.
    pub sid: AddOnSid,
    /// The publisher that owns it.
    pub publisher_sid: AccountSid,
    /// Globally unique name.
    pub unique_name: String,
    /// The seed's type (fixed for the Add-on's life).
    pub kind: AddOnKind,
    /// Created.
    pub date_created: DateTime<Utc>,
    /// Last published.
    pub date_updated: DateTime<Utc>,
    /// The latest version.
    pub latest: VersionRecord,
}

/// An Add-on extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionRecord {
    /// `XF…`.
    pub sid: ExtensionSid,
    /// The Add-on.
    pub add_on_sid: AddOnSid,
    /// The integration point.
    pub point: IntegrationPoint,
}

macro_rules! add_on_select {
    () => {
        "SELECT a.sid, a.publisher_sid, a.unique_name, a.kind, a.date_created, a.date_updated, \
     v.sid AS v_sid, v.add_on_sid, v.version_number, v.manifest, v.auth_secret_sealed, v.date_created AS v_date_created \
     FROM add_ons a JOIN add_on_versions v ON v.sid = a.latest_version_sid"
    };
}

macro_rules! version_select {
    () => {
        "SELECT sid AS v_sid, add_on_sid, version_number, manifest, auth_secret_sealed, date_created AS v_date_created \
         FROM add_on_versions"
    };
}

impl Store {
    /// Creates an Add-on with its first version. A taken unique name is a
    /// [`StoreError::Conflict`].
    pub async fn create_add_on(
        &self,
        publisher: &AccountSid,
        unique_name: &str,
        kind: AddOnKind,
        version: NewVersion,
    ) -> StoreResult<AddOnRecord> {
        let sid = AddOnSid::generate();
        let version_sid = VersionSid::generate();
        let created = now();
        let manifest = version.manifest.to_string();
        let sealed = version
            .auth_secret
            .as_ref()
            .map(|s| self.vault().seal(s.expose()));
        in_catalog_transaction!(self, tx => {
            sqlx::query(
                "INSERT INTO add_ons (sid, publisher_sid, unique_name, kind, latest_version_sid, version_count, date_created, date_updated) \
                 VALUES ($1, $2, $3, $4, $5, 1, $6, $6)",
            )
            .bind(sid.as_str())
            .bind(publisher.as_str())
            .bind(unique_name)
            .bind(kind.as_str())
            .bind(version_sid.as_str())
            .bind(created)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO add_on_versions (sid, add_on_sid, version_number, manifest, auth_secret_sealed, date_created) \
                 VALUES ($1, $2, 1, $3, $4, $5)",
            )
            .bind(version_sid.as_str())
            .bind(sid.as_str())
            .bind(&manifest)
            .bind(&sealed)
            .bind(created)
            .execute(&mut *tx)
            .await?;
            for point in &version.integration_points {
                sqlx::query(
                    "INSERT INTO add_on_extensions (sid, add_on_sid, integration_point) VALUES ($1, $2, $3) \
                     ON CONFLICT (add_on_sid, integration_point) DO NOTHING",
                )
                .bind(ExtensionSid::generate().as_str())
                .bind(sid.as_str())
                .bind(point.unique_name())
                .execute(&mut *tx)
                .await?;
            }
        });
        Ok(AddOnRecord {
            sid: sid.clone(),
            publisher_sid: publisher.clone(),
            unique_name: unique_name.to_owned(),
            kind,
            date_created: created,
            date_updated: created,
            latest: VersionRecord {
                sid: version_sid,
                add_on_sid: sid,
                number: 1,
                manifest: version.manifest,
                auth_secret: version.auth_secret,
                date_created: created,
            },
        })
    }

    /// Publishes a new version of a publisher's Add-on; it becomes the latest. Existing
    /// versions, and the installs pinned to them, are untouched. `None` if the publisher has
    /// no such Add-on.
    pub async fn publish_version(
        &self,
        publisher: &AccountSid,
        add_on: &AddOnSid,
        version: NewVersion,
    ) -> StoreResult<Option<VersionRecord>> {
        let version_sid = VersionSid::generate();
        let created = now();
        let manifest = version.manifest.to_string();
        let sealed = version
            .auth_secret
            .as_ref()
            .map(|s| self.vault().seal(s.expose()));
        let number: Option<i32> = in_catalog_transaction!(self, tx => {
            // One statement claims the next number and moves `latest`, so concurrent
            // publications get distinct numbers on both backends.
            let number: Option<i32> = sqlx::query_scalar(
                "UPDATE add_ons SET version_count = version_count + 1, latest_version_sid = $1, date_updated = $2 \
                 WHERE sid = $3 AND publisher_sid = $4 RETURNING version_count",
            )
            .bind(version_sid.as_str())
            .bind(created)
            .bind(add_on.as_str())
            .bind(publisher.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(number) = number {
                sqlx::query(
                    "INSERT INTO add_on_versions (sid, add_on_sid, version_number, manifest, auth_secret_sealed, date_created) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(version_sid.as_str())
                .bind(add_on.as_str())
                .bind(number)
                .bind(&manifest)
                .bind(&sealed)
                .bind(created)
                .execute(&mut *tx)
                .await?;
                for point in &version.integration_points {
                    sqlx::query(
                        "INSERT INTO add_on_extensions (sid, add_on_sid, integration_point) VALUES ($1, $2, $3) \
                         ON CONFLICT (add_on_sid, integration_point) DO NOTHING",
                    )
                    .bind(ExtensionSid::generate().as_str())
                    .bind(add_on.as_str())
                    .bind(point.unique_name())
                    .execute(&mut *tx)
                    .await?;
                }
            }
            number
        });
        Ok(number.map(|number| VersionRecord {
            sid: version_sid,
            add_on_sid: add_on.clone(),
            number,
            manifest: version.manifest,
            auth_secret: version.auth_secret,
            date_created: created,
        }))
    }

    /// One Add-on, if `publisher` owns it.
    pub async fn publisher_add_on(
        &self,
        publisher: &AccountSid,
        sid: &AddOnSid,
    ) -> StoreResult<Option<AddOnRecord>> {
        let query = concat!(add_on_select!(), " WHERE a.sid = $1 AND a.publisher_sid = $2");
        Ok(on_backend!(self, pool => {
            match sqlx::query(query).bind(sid.as_str()).bind(publisher.as_str()).fetch_optional(pool).await? {
                Some(row) => Some(self.add_on_from_row(&row)?),
                None => None,
            }
        }))
    }

    /// A publisher's Add-ons, oldest first.
    pub async fn publisher_add_ons(
        &self,
        publisher: &AccountSid,
        page: PageRequest,
    ) -> StoreResult<Page<AddOnRecord>> {
        let query = concat!(
            add_on_select!(),
            " WHERE a.publisher_sid = $1 ORDER BY a.date_created, a.sid LIMIT $2 OFFSET $3"
        );
        let items = on_backend!(self, pool => {
            let rows = sqlx::query(query).bind(publisher.as_str()).bind(page.limit()).bind(page.offset()).fetch_all(pool).await?;
            rows.iter().map(|row| self.add_on_from_row(row)).collect::<StoreResult<Vec<_>>>()?
        });
        Ok(Page::from_overfetch(items, page))
    }

    /// A publisher's Add-on by unique name.
    pub async fn publisher_add_on_by_name(
        &self,
        publisher: &AccountSid,
        unique_name: &str,
    ) -> StoreResult<Option<AddOnRecord>> {
        let query = concat!(
            add_on_select!(),
            " WHERE a.unique_name = $1 AND a.publisher_sid = $2"
        );
        Ok(on_backend!(self, pool => {
            match sqlx::query(query).bind(unique_name).bind(publisher.as_str()).fetch_optional(pool).await? {
                Some(row) => Some(self.add_on_from_row(&row)?),
                None => None,
            }
        }))
    }

    /// Any Add-on (the Marketplace lists every published Add-on to every developer).
    pub async fn available_add_on(&self, sid: &AddOnSid) -> StoreResult<Option<AddOnRecord>> {
        let query = concat!(add_on_select!(), " WHERE a.sid = $1");
        Ok(on_backend!(self, pool => {
            match sqlx::query(query).bind(sid.as_str()).fetch_optional(pool).await? {
                Some(row) => Some(self.add_on_from_row(&row)?),
                None => None,
            }
        }))
    }

    /// Every Add-on, oldest first.
    pub async fn available_add_ons(&self, page: PageRequest) -> StoreResult<Page<AddOnRecord>> {
        let query = concat!(
            add_on_select!(),
            " ORDER BY a.date_created, a.sid LIMIT $1 OFFSET $2"
        );
        let items = on_backend!(self, pool => {
            let rows = sqlx::query(query).bind(page.limit()).bind(page.offset()).fetch_all(pool).await?;
            rows.iter().map(|row| self.add_on_from_row(row)).collect::<StoreResult<Vec<_>>>()?
        });
        Ok(Page::from_overfetch(items, page))
    }

    /// An Add-on's versions, first published first.
    pub async fn versions(&self, add_on: &AddOnSid, page: PageRequest) -> StoreResult<Page<VersionRecord>> {
        let query = concat!(
            version_select!(),
            " WHERE add_on_sid = $1 ORDER BY version_number LIMIT $2 OFFSET $3"
        );
        let items = on_backend!(self, pool => {
            let rows = sqlx::query(query).bind(add_on.as_str()).bind(page.limit()).bind(page.offset()).fetch_all(pool).await?;
            rows.iter().map(|row| self.version_from_row(row)).collect::<StoreResult<Vec<_>>>()?
        });
        Ok(Page::from_overfetch(items, page))
    }

    /// One version of an Add-on.
    pub async fn version(&self, add_on: &AddOnSid, sid: &VersionSid) -> StoreResult<Option<VersionRecord>> {
        let query = concat!(version_select!(), " WHERE add_on_sid = $1 AND sid = $2");
        Ok(on_backend!(self, pool => {
            match sqlx::query(query).bind(add_on.as_str()).bind(sid.as_str()).fetch_optional(pool).await? {
                Some(row) => Some(self.version_from_row(&row)?),
                None => None,
            }
        }))
    }

    /// Every version of every Add-on (for the in-memory catalog).
    pub async fn all_versions(&self) -> StoreResult<Vec<VersionRecord>> {
        let query = concat!(version_select!(), " ORDER BY add_on_sid, version_number");
        Ok(on_backend!(self, pool => {
            let rows = sqlx::query(query).fetch_all(pool).await?;
            rows.iter().map(|row| self.version_from_row(row)).collect::<StoreResult<Vec<_>>>()?
        }))
    }

    /// An Add-on's extensions, in integration-point order.
    pub async fn extensions(&self, add_on: &AddOnSid) -> StoreResult<Vec<ExtensionRecord>> {
        let mut extensions = on_backend!(self, pool => {
            let rows = sqlx::query("SELECT sid, add_on_sid, integration_point FROM add_on_extensions WHERE add_on_sid = $1")
                .bind(add_on.as_str())
                .fetch_all(pool)
                .await?;
            rows.iter().map(extension_from_row).collect::<StoreResult<Vec<_>>>()?
        });
        extensions.sort_by_key(|e| e.point);
        Ok(extensions)
    }

    /// Every extension of every Add-on (for the in-memory catalog).
    pub async fn all_extensions(&self) -> StoreResult<Vec<ExtensionRecord>> {
        Ok(on_backend!(self, pool => {
            let rows = sqlx::query("SELECT sid, add_on_sid, integration_point FROM add_on_extensions")
                .fetch_all(pool)
                .await?;
            rows.iter().map(extension_from_row).collect::<StoreResult<Vec<_>>>()?
        }))
    }

    /// Which publisher owns each Add-on (for the in-memory catalog).
    pub async fn add_on_publishers(&self) -> StoreResult<std::collections::HashMap<AddOnSid, AccountSid>> {
        let rows: Vec<(String, String)> = on_backend!(self, pool => {
            sqlx::query_as("SELECT sid, publisher_sid FROM add_ons").fetch_all(pool).await?
        });
        rows.into_iter()
            .map(|(sid, publisher)| {
                Ok((
                    parse_sid(&sid, "add_ons.sid")?,
                    parse_sid(&publisher, "add_ons.publisher_sid")?,
                ))
            })
            .collect()
    }

    fn version_from_row(&self, row: &impl Columns) -> StoreResult<VersionRecord> {
        let auth_secret = match row.optional_bytes("auth_secret_sealed")? {
            Some(sealed) => Some(Secret::new(self.vault().open(&sealed)?)),
            None => None,
        };
        Ok(VersionRecord {
            sid: parse_sid(&row.text("v_sid")?, "add_on_versions.sid")?,
            add_on_sid: parse_sid(&row.text("add_on_sid")?, "add_on_versions.add_on_sid")?,
            number: row.int32("version_number")?,
            manifest: parse_json(&row.text("manifest")?, "add_on_versions.manifest")?,
            auth_secret,
            date_created: row.time("v_date_created")?,
        })
    }

    fn add_on_from_row(&self, row: &impl Columns) -> StoreResult<AddOnRecord> {
        let kind = row.text("kind")?;
        Ok(AddOnRecord {
            sid: parse_sid(&row.text("sid")?, "add_ons.sid")?,
            publisher_sid: parse_sid(&row.text("publisher_sid")?, "add_ons.publisher_sid")?,
            unique_name: row.text("unique_name")?,
            kind: AddOnKind::parse(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("add_ons.kind: '{kind}'")))?,
            date_created: row.time("date_created")?,
            date_updated: row.time("date_updated")?,
            latest: self.version_from_row(row)?,
        })
    }
}

fn extension_from_row(row: &impl Columns) -> StoreResult<ExtensionRecord> {
    let point = row.text("integration_point")?;
    Ok(ExtensionRecord {
        sid: parse_sid(&row.text("sid")?, "add_on_extensions.sid")?,
        add_on_sid: parse_sid(&row.text("add_on_sid")?, "add_on_extensions.add_on_sid")?,
        point: IntegrationPoint::parse(&point)
            .ok_or_else(|| StoreError::Corrupt(format!("add_on_extensions.integration_point: '{point}'")))?,
    })
}
