//! Developers' phone numbers, the inbound messages and calls that reach them, and the
//! developer-facing error log.

use addons_domain::sid::{AccountSid, AlertSid, PhoneNumberSid};
use chrono::{DateTime, Utc};

use crate::{
    Columns, Page, PageRequest, Store, StoreError, StoreResult, in_catalog_transaction, now, on_backend,
    parse_sid,
};

/// A phone number owned by an account, with its webhooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNumberRecord {
    /// `PN…`.
    pub sid: PhoneNumberSid,
    /// The owner.
    pub account_sid: AccountSid,
    /// E.164.
    pub phone_number: String,
    /// Display name.
    pub friendly_name: String,
    /// Where incoming messages are announced.
    pub sms_url: Option<String>,
    /// `GET` or `POST`.
    pub sms_method: String,
    /// Where incoming calls are announced.
    pub voice_url: Option<String>,
    /// `GET` or `POST`.
    pub voice_method: String,
    /// Created.
    pub date_created: DateTime<Utc>,
    /// Last updated.
    pub date_updated: DateTime<Utc>,
}

/// A number's settings, for creating or replacing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNumberSettings {
    /// Display name.
    pub friendly_name: String,
    /// SMS webhook.
    pub sms_url: Option<String>,
    /// Its method.
    pub sms_method: String,
    /// Voice webhook.
    pub voice_url: Option<String>,
    /// Its method.
    pub voice_method: String,
}

/// Whether an inbound event is a message or a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// An SMS (`SM…`).
    Message,
    /// A call (`CA…`).
    Call,
}

impl EventKind {
    fn as_str(self) -> &'static str {
        match self {
            EventKind::Message => "message",
            EventKind::Call => "call",
        }
    }
}

/// An inbound message or call, with what the Add-ons found and what the webhook answered.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundEventRecord {
    /// `SM…` or `CA…`.
    pub sid: String,
    /// Message or call.
    pub kind: EventKind,
    /// The account owning the number.
    pub account_sid: String,
    /// The number's `PN…`.
    pub phone_number_sid: String,
    /// Sender or caller (E.164).
    pub from_number: String,
    /// The developer's number.
    pub to_number: String,
    /// A message's body.
    pub body: Option<String>,
    /// `received` (message) or `completed` / `failed` (call).
    pub status: String,
    /// The Add-ons envelope, when any Add-on ran.
    pub add_ons: Option<serde_json::Value>,
    /// The webhook called.
    pub webhook_url: Option<String>,
    /// Its method.
    pub webhook_method: Option<String>,
    /// Its HTTP status, if it answered.
    pub webhook_status: Option<i32>,
    /// Its answer (TwiML).
    pub webhook_response: Option<String>,
    /// The error code, when the webhook failed.
    pub error_code: Option<i32>,
    /// The error's text.
    pub error_message: Option<String>,
    /// Received.
    pub date_created: DateTime<Utc>,
}

/// An entry in the developer's error log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRecord {
    /// `NO…`.
    pub sid: AlertSid,
    /// The account.
    pub account_sid: AccountSid,
    /// Twilio's error code (11200, 61006, …).
    pub error_code: i32,
    /// `error` or `warning`.
    pub log_level: String,
    /// What happened.
    pub alert_text: String,
    /// The URL involved.
    pub request_url: Option<String>,
    /// Its method.
    pub request_method: Option<String>,
    /// The message or call it concerns.
    pub resource_sid: Option<String>,
    /// When.
    pub date_created: DateTime<Utc>,
}

macro_rules! number_columns {
    () => {
        "sid, account_sid, phone_number, friendly_name, sms_url, sms_method, voice_url, voice_method, date_created, date_updated"
    };
}

macro_rules! event_columns {
    () => {
        "sid, kind, account_sid, phone_number_sid, from_number, to_number, body, status, add_ons, webhook_url, \
         webhook_method, webhook_status, webhook_response, error_code, error_message, date_created, date_updated"
    };
}

macro_rules! alert_columns {
    () => {
        "sid, account_sid, error_code, log_level, alert_text, request_url, request_method, resource_sid, date_created"
    };
}

impl Store {
    /// Gives a number to an account. A number another account (or this one) already has is a
    /// [`StoreError::Conflict`].
    pub async fn create_phone_number(
        &self,
        account: &AccountSid,
        phone_number: &str,
        settings: &PhoneNumberSettings,
    ) -> StoreResult<PhoneNumberRecord> {
        let sid = PhoneNumberSid::generate();
        let created = now();
        in_catalog_transaction!(self, tx => {
            sqlx::query(concat!("INSERT INTO incoming_phone_numbers (", number_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)"))
                .bind(sid.as_str())
                .bind(account.as_str())
                .bind(phone_number)
                .bind(&settings.friendly_name)
                .bind(settings.sms_url.as_deref())
                .bind(&settings.sms_method)
                .bind(settings.voice_url.as_deref())
                .bind(&settings.voice_method)
                .bind(created)
                .execute(&mut *tx)
                .await?;
        });
        Ok(PhoneNumberRecord {
            sid,
            account_sid: account.clone(),
            phone_number: phone_number.to_owned(),
            friendly_name: settings.friendly_name.clone(),
            sms_url: settings.sms_url.clone(),
            sms_method: settings.sms_method.clone(),
            voice_url: settings.voice_url.clone(),
            voice_method: settings.voice_method.clone(),
            date_created: created,
            date_updated: created,
        })
    }

    /// One of an account's numbers.
    pub async fn phone_number(
        &self,
        account: &AccountSid,
        sid: &PhoneNumberSid,
    ) -> StoreResult<Option<PhoneNumberRecord>> {
        let query = concat!(
            "SELECT ",
            number_columns!(),
            " FROM incoming_phone_numbers WHERE sid = $1 AND account_sid = $2"
        );
        Ok(on_backend!(self, pool => {
            match sqlx::query(query).bind(sid.as_str()).bind(account.as_str()).fetch_optional(pool).await? {
                Some(row) => Some(number_from_row(&row)?),
                None => None,
            }
        }))
    }

    /// An account's numbers, oldest first.
    pub async fn phone_numbers(
        &self,
        account: &AccountSid,
        page: PageRequest,
    ) -> StoreResult<Page<PhoneNumberRecord>> {
        let query = concat!(
            "SELECT ",
            number_columns!(),
            " FROM incoming_phone_numbers WHERE account_sid = $1 \
             ORDER BY date_created, sid LIMIT $2 OFFSET $3"
        );
        let items = on_backend!(self, pool => {
            let rows = sqlx::query(query).bind(account.as_str()).bind(page.limit()).bind(page.offset()).fetch_all(pool).await?;
            rows.iter().map(number_from_row).collect::<StoreResult<Vec<_>>>()?
        });
        Ok(Page::from_overfetch(items, page))
    }

    /// Every number (for the in-memory catalog).
    pub async fn all_phone_numbers(&self) -> StoreResult<Vec<PhoneNumberRecord>> {
        let query = concat!("SELECT ", number_columns!(), " FROM incoming_phone_numbers");
        Ok(on_backend!(self, pool => {
            let rows = sqlx::query(query).fetch_all(pool).await?;
            rows.iter().map(number_from_row).collect::<StoreResult<Vec<_>>>()?
        }))
    }

    /// Replaces a number's settings. `None` if the account has no such number.
    pub async fn update_phone_number(
        &self,
        account: &AccountSid,
        sid: &PhoneNumberSid,
        settings: &PhoneNumberSettings,
    ) -> StoreResult<Option<PhoneNumberRecord>> {
        let changed = in_catalog_transaction!(self, tx => {
            sqlx::query(
                "UPDATE incoming_phone_numbers SET friendly_name = $1, sms_url = $2, sms_method = $3, voice_url = $4, \
                 voice_method = $5, date_updated = $6 WHERE sid = $7 AND account_sid = $8",
            )
            .bind(&settings.friendly_name)
            .bind(settings.sms_url.as_deref())
            .bind(&settings.sms_method)
            .bind(settings.voice_url.as_deref())
            .bind(&settings.voice_method)
            .bind(now())
            .bind(sid.as_str())
            .bind(account.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected()
                > 0
        });
        if !changed {
            return Ok(None);
        }
        self.phone_number(account, sid).await
    }

    /// Releases a number. `false` if the account has no such number.
    pub async fn delete_phone_number(&self, account: &AccountSid, sid: &PhoneNumberSid) -> StoreResult<bool> {
        Ok(in_catalog_transaction!(self, tx => {
            sqlx::query("DELETE FROM incoming_phone_numbers WHERE sid = $1 AND account_sid = $2")
                .bind(sid.as_str())
                .bind(account.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected()
                > 0
        }))
    }

    /// Stores an inbound message or call.
    pub async fn insert_inbound_event(&self, event: &InboundEventRecord) -> StoreResult<()> {
        let add_ons = event.add_ons.as_ref().map(serde_json::Value::to_string);
        on_backend!(self, pool => {
            sqlx::query(concat!(
                "INSERT INTO inbound_events (", event_columns!(), ") VALUES \
                 ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16)"
            ))
            .bind(&event.sid)
            .bind(event.kind.as_str())
            .bind(&event.account_sid)
            .bind(&event.phone_number_sid)
            .bind(&event.from_number)
            .bind(&event.to_number)
            .bind(event.body.as_deref())
            .bind(&event.status)
            .bind(add_ons.as_deref())
            .bind(event.webhook_url.as_deref())
            .bind(event.webhook_method.as_deref())
            .bind(event.webhook_status)
            .bind(event.webhook_response.as_deref())
            .bind(event.error_code)
            .bind(event.error_message.as_deref())
            .bind(event.date_created)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// One of an account's messages or calls.
    pub async fn inbound_event(
        &self,
        account: &AccountSid,
        kind: EventKind,
        sid: &str,
    ) -> StoreResult<Option<InboundEventRecord>> {
        let query = concat!(
            "SELECT ",
            event_columns!(),
            " FROM inbound_events WHERE sid = $1 AND account_sid = $2 AND kind = $3"
        );
        Ok(on_backend!(self, pool => {
            match sqlx::query(query).bind(sid).bind(account.as_str()).bind(kind.as_str()).fetch_optional(pool).await? {
                Some(row) => Some(event_from_row(&row)?),
                None => None,
            }
        }))
    }

    /// An account's messages or calls, newest first (as Twilio lists them).
    pub async fn inbound_events(
        &self,
        account: &AccountSid,
        kind: EventKind,
        page: PageRequest,
    ) -> StoreResult<Page<InboundEventRecord>> {
        let query = concat!(
            "SELECT ",
            event_columns!(),
            " FROM inbound_events WHERE account_sid = $1 AND kind = $2 \
             ORDER BY date_created DESC, sid DESC LIMIT $3 OFFSET $4"
        );
        let items = on_backend!(self, pool => {
            let rows = sqlx::query(query)
                .bind(account.as_str())
                .bind(kind.as_str())
                .bind(page.limit())
                .bind(page.offset())
                .fetch_all(pool)
                .await?;
            rows.iter().map(event_from_row).collect::<StoreResult<Vec<_>>>()?
        });
        Ok(Page::from_overfetch(items, page))
    }

    /// Adds an entry to an account's error log.
    pub async fn insert_alert(&self, alert: &AlertRecord) -> StoreResult<()> {
        on_backend!(self, pool => {
            sqlx::query(concat!("INSERT INTO alerts (", alert_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"))
                .bind(alert.sid.as_str())
                .bind(alert.account_sid.as_str())
                .bind(alert.error_code)
                .bind(&alert.log_level)
                .bind(&alert.alert_text)
                .bind(alert.request_url.as_deref())
                .bind(alert.request_method.as_deref())
                .bind(alert.resource_sid.as_deref())
                .bind(alert.date_created)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// One of an account's alerts.
    pub async fn alert(&self, account: &AccountSid, sid: &AlertSid) -> StoreResult<Option<AlertRecord>> {
        let query = concat!(
            "SELECT ",
            alert_columns!(),
            " FROM alerts WHERE sid = $1 AND account_sid = $2"
        );
        Ok(on_backend!(self, pool => {
            match sqlx::query(query).bind(sid.as_str()).bind(account.as_str()).fetch_optional(pool).await? {
                Some(row) => Some(alert_from_row(&row)?),
                None => None,
            }
        }))
    }

    /// An account's alerts, newest first.
    pub async fn alerts(&self, account: &AccountSid, page: PageRequest) -> StoreResult<Page<AlertRecord>> {
        let query = concat!(
            "SELECT ",
            alert_columns!(),
            " FROM alerts WHERE account_sid = $1 ORDER BY date_created DESC, sid DESC LIMIT $2 OFFSET $3"
        );
        let items = on_backend!(self, pool => {
            let rows = sqlx::query(query).bind(account.as_str()).bind(page.limit()).bind(page.offset()).fetch_all(pool).await?;
            rows.iter().map(alert_from_row).collect::<StoreResult<Vec<_>>>()?
        });
        Ok(Page::from_overfetch(items, page))
    }
}

fn number_from_row(row: &impl Columns) -> StoreResult<PhoneNumberRecord> {
    Ok(PhoneNumberRecord {
        sid: parse_sid(&row.text("sid")?, "incoming_phone_numbers.sid")?,
        account_sid: parse_sid(&row.text("account_sid")?, "incoming_phone_numbers.account_sid")?,
        phone_number: row.text("phone_number")?,
        friendly_name: row.text("friendly_name")?,
        sms_url: row.optional_text("sms_url")?,
        sms_method: row.text("sms_method")?,
        voice_url: row.optional_text("voice_url")?,
        voice_method: row.text("voice_method")?,
        date_created: row.time("date_created")?,
        date_updated: row.time("date_updated")?,
    })
}

fn event_from_row(row: &impl Columns) -> StoreResult<InboundEventRecord> {
    let kind = match row.text("kind")?.as_str() {
        "message" => EventKind::Message,
        "call" => EventKind::Call,
        other => return Err(StoreError::Corrupt(format!("inbound_events.kind: '{other}'"))),
    };
    Ok(InboundEventRecord {
        sid: row.text("sid")?,
        kind,
        account_sid: row.text("account_sid")?,
        phone_number_sid: row.text("phone_number_sid")?,
        from_number: row.text("from_number")?,
        to_number: row.text("to_number")?,
        body: row.optional_text("body")?,
        status: row.text("status")?,
        add_ons: row
            .optional_text("add_ons")?
            .map(|text| crate::parse_json(&text, "inbound_events.add_ons"))
            .transpose()?,
        webhook_url: row.optional_text("webhook_url")?,
        webhook_method: row.optional_text("webhook_method")?,
        webhook_status: row.optional_int32("webhook_status")?,
        webhook_response: row.optional_text("webhook_response")?,
        error_code: row.optional_int32("error_code")?,
        error_message: row.optional_text("error_message")?,
        date_created: row.time("date_created")?,
    })
}

fn alert_from_row(row: &impl Columns) -> StoreResult<AlertRecord> {
    Ok(AlertRecord {
        sid: parse_sid(&row.text("sid")?, "alerts.sid")?,
        account_sid: parse_sid(&row.text("account_sid")?, "alerts.account_sid")?,
        error_code: row.int32("error_code")?,
        log_level: row.text("log_level")?,
        alert_text: row.text("alert_text")?,
        request_url: row.optional_text("request_url")?,
        request_method: row.optional_text("request_method")?,
        resource_sid: row.optional_text("resource_sid")?,
        date_created: row.time("date_created")?,
    })
}
