//! Accounts: publishers and developers, each with an auth token that is sealed at rest and
//! hashed for authentication.

use addons_domain::manifest::Secret;
use addons_domain::sid::AccountSid;
use chrono::{DateTime, Utc};

use crate::crypto::{new_auth_token, token_hash};
use crate::{
    Columns, Page, PageRequest, Store, StoreError, StoreResult, in_catalog_transaction, now, on_backend,
    parse_sid,
};

/// What an account does in the marketplace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountRole {
    /// Registers and publishes Add-ons.
    Publisher,
    /// Installs Add-ons and uses them.
    Developer,
}

impl AccountRole {
    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountRole::Publisher => "publisher",
            AccountRole::Developer => "developer",
        }
    }

    /// Parses a role name.
    pub fn parse(value: &str) -> Option<AccountRole> {
        match value {
            "publisher" => Some(AccountRole::Publisher),
            "developer" => Some(AccountRole::Developer),
            _ => None,
        }
    }
}

/// An account to create.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// Display name.
    pub friendly_name: String,
    /// Role.
    pub role: AccountRole,
    /// A SID to use instead of a fresh one (configured sandbox accounts).
    pub sid: Option<AccountSid>,
    /// An auth token to use instead of a fresh one (configured sandbox accounts).
    pub auth_token: Option<Secret>,
}

/// A stored account, with its auth token opened.
#[derive(Debug, Clone)]
pub struct AccountRecord {
    /// The account SID.
    pub sid: AccountSid,
    /// Display name.
    pub friendly_name: String,
    /// Role.
    pub role: AccountRole,
    /// The auth token (used to sign what is sent on the account's behalf).
    pub auth_token: Secret,
    /// SHA-256 of the auth token (what authentication compares).
    pub auth_token_hash: Vec<u8>,
    /// Created.
    pub date_created: DateTime<Utc>,
    /// Last updated.
    pub date_updated: DateTime<Utc>,
}

macro_rules! columns {
    () => {
        "sid, friendly_name, role, auth_token_hash, auth_token_sealed, date_created, date_updated"
    };
}

impl Store {
    /// Creates an account with a new auth token (or the one given).
    pub async fn create_account(&self, new: NewAccount) -> StoreResult<AccountRecord> {
        let sid = new.sid.unwrap_or_else(AccountSid::generate);
        let token = new.auth_token.unwrap_or_else(|| Secret::new(new_auth_token()));
        let hash = token_hash(token.expose());
        let sealed = self.vault().seal(token.expose());
        let created = now();
        in_catalog_transaction!(self, tx => {
            sqlx::query(concat!("INSERT INTO accounts (", columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $6)"))
                .bind(sid.as_str())
                .bind(&new.friendly_name)
                .bind(new.role.as_str())
                .bind(&hash)
                .bind(&sealed)
                .bind(created)
                .execute(&mut *tx)
                .await?;
        });
        Ok(AccountRecord {
            sid,
            friendly_name: new.friendly_name,
            role: new.role,
            auth_token: token,
            auth_token_hash: hash,
            date_created: created,
            date_updated: created,
        })
    }

    /// One account.
    pub async fn account(&self, sid: &AccountSid) -> StoreResult<Option<AccountRecord>> {
        let query = concat!("SELECT ", columns!(), " FROM accounts WHERE sid = $1");
        let row = on_backend!(self, pool => {
            match sqlx::query(query).bind(sid.as_str()).fetch_optional(pool).await? {
                Some(row) => Some(self.account_from_row(&row)?),
                None => None,
            }
        });
        Ok(row)
    }

    /// A page of accounts, oldest first.
    pub async fn accounts(&self, page: PageRequest) -> StoreResult<Page<AccountRecord>> {
        let query = concat!(
            "SELECT ",
            columns!(),
            " FROM accounts ORDER BY date_created, sid LIMIT $1 OFFSET $2"
        );
        let items = on_backend!(self, pool => {
            let rows = sqlx::query(query).bind(page.limit()).bind(page.offset()).fetch_all(pool).await?;
            rows.iter().map(|row| self.account_from_row(row)).collect::<StoreResult<Vec<_>>>()?
        });
        Ok(Page::from_overfetch(items, page))
    }

    /// Every account (for the authentication cache).
    pub async fn all_accounts(&self) -> StoreResult<Vec<AccountRecord>> {
        let query = concat!("SELECT ", columns!(), " FROM accounts ORDER BY date_created, sid");
        let items = on_backend!(self, pool => {
            let rows = sqlx::query(query).fetch_all(pool).await?;
            rows.iter().map(|row| self.account_from_row(row)).collect::<StoreResult<Vec<_>>>()?
        });
        Ok(items)
    }

    fn account_from_row(&self, row: &impl Columns) -> StoreResult<AccountRecord> {
        let role = row.text("role")?;
        Ok(AccountRecord {
            sid: parse_sid(&row.text("sid")?, "accounts.sid")?,
            friendly_name: row.text("friendly_name")?,
            role: AccountRole::parse(&role)
                .ok_or_else(|| StoreError::Corrupt(format!("accounts.role: '{role}'")))?,
            auth_token: Secret::new(self.vault().open(&row.bytes("auth_token_sealed")?)?),
            auth_token_hash: row.bytes("auth_token_hash")?,
            date_created: row.time("date_created")?,
            date_updated: row.time("date_updated")?,
        })
    }
}
