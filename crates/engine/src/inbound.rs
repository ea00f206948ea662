//! Incoming messages and calls: the gateway, acting as Twilio, runs every Add-on the number's
//! account enabled for the integration point, then calls the number's webhook as Twilio would
//! — Twilio's standard parameters plus `AddOns` (the results envelope, as a JSON string),
//! signed with the developer's auth token — and records the message or call with the webhook's
//! answer. A GET webhook gets no `AddOns` (warning 61006 in the account's error log). A webhook
//! that cannot be reached, times out or answers non-2xx is logged with Twilio's 112xx codes;
//! it never fails the gateway.

use std::sync::Arc;
use std::time::Duration;

use addons_domain::error_code::AddOnErrorCode;
use addons_domain::kind::IntegrationPoint;
use addons_domain::phone;
use addons_domain::sid::{AccountSid, AlertSid, CallSid, MessageSid};
use addons_store::{AlertRecord, EventKind, InboundEventRecord};
use bytes::Bytes;
use chrono::{SubsecRound, Utc};
use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use crate::catalog::Account;
use crate::client::{Outbound, SendError};
use crate::envelope::envelope;
use crate::invoke::{Engine, Inputs};

/// Twilio's webhook error codes.
pub mod codes {
    /// HTTP retrieval failure: the webhook answered with a non-2xx status.
    pub const HTTP_RETRIEVAL_FAILURE: i32 = 11200;
    /// HTTP connection failure: refused, unreachable, or timed out.
    pub const HTTP_CONNECTION_FAILURE: i32 = 11205;
    /// HTTP protocol violation: the exchange broke.
    pub const HTTP_PROTOCOL_VIOLATION: i32 = 11206;
    /// Too many redirects.
    pub const HTTP_TOO_MANY_REDIRECTS: i32 = 11215;
    /// The answer (TwiML) is too large.
    pub const RESPONSE_TOO_LARGE: i32 = 11750;
}

/// Webhook delivery settings.
#[derive(Debug, Clone, Copy)]
pub struct WebhookOptions {
    /// The most a webhook may take (Twilio: 15 s).
    pub timeout: Duration,
    /// The largest answer read.
    pub max_response_bytes: u64,
}

/// An inbound message or call to simulate.
#[derive(Debug, Clone)]
pub enum Arrival<'a> {
    /// An SMS.
    Message {
        /// Sender.
        from: &'a str,
        /// The developer's number.
        to: &'a str,
        /// The text.
        body: &'a str,
    },
    /// A call.
    Call {
        /// Caller.
        from: &'a str,
        /// The developer's number.
        to: &'a str,
    },
}

/// Why an arrival could not be delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArrivalError {
    /// `To` is not one of the account's numbers.
    #[error("{0} is not a phone number of this account")]
    UnknownNumber(String),
    /// `From` is not a phone number.
    #[error("'{0}' is not a phone number")]
    BadSender(String),
}

/// What the webhook was sent and what it answered.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The URL called (for GET, with the parameters).
    pub url: String,
    /// `GET` or `POST`.
    pub method: String,
    /// The parameters sent.
    pub params: Vec<(String, String)>,
    /// The HTTP status, if it answered.
    pub status: Option<u16>,
    /// The answer (TwiML).
    pub response: Option<String>,
    /// The failure, if any: Twilio's code and a message.
    pub error: Option<(i32, String)>,
}

/// The outcome of an arrival.
#[derive(Debug, Clone)]
pub struct Received {
    /// The stored message or call.
    pub event: InboundEventRecord,
    /// The webhook delivery, if the number has a webhook for this kind of traffic.
    pub delivery: Option<Delivery>,
}

impl Engine {
    /// Delivers an inbound message or call to one of `account`'s numbers.
    pub async fn receive(
        self: &Arc<Self>,
        account: &Account,
        arrival: Arrival<'_>,
    ) -> Result<Received, ArrivalError> {
        let (from, to, body, kind, point) = match arrival {
            Arrival::Message { from, to, body } => (
                from,
                to,
                Some(body),
                EventKind::Message,
                IntegrationPoint::IncomingSms,
            ),
            Arrival::Call { from, to } => (from, to, None, EventKind::Call, IntegrationPoint::VoiceIncoming),
        };
        let to = self
            .parse_number(to, None)
            .map_err(|_| ArrivalError::UnknownNumber(to.to_owned()))?;
        let from = self
            .parse_number(from, None)
            .map_err(|_| ArrivalError::BadSender(from.to_owned()))?;
        let route = self
            .catalog()
            .snapshot()
            .number(&to.e164)
            .filter(|route| route.record.account_sid == account.sid)
            .cloned()
            .ok_or_else(|| ArrivalError::UnknownNumber(to.e164.clone()))?;
        let sid = match kind {
            EventKind::Message => MessageSid::generate().to_string(),
            EventKind::Call => CallSid::generate().to_string(),
        };
        let inputs = Inputs {
            primary_address: Some(from.e164.clone()),
            secondary_address: Some(to.e164.clone()),
            body: body.map(str::to_owned),
            audio: None,
            reference_sid: Some(sid.clone()),
        };
        let results = self.invoke_enabled(&account.sid, point, inputs).await;
        let add_ons = (!results.is_empty()).then(|| envelope(&results));

        let record = &route.record;
        let (url, method) = match kind {
            EventKind::Message => (record.sms_url.clone(), record.sms_method.clone()),
            EventKind::Call => (record.voice_url.clone(), record.voice_method.clone()),
        };
        let mut params = standard_params(kind, &sid, &account.sid, &from, &to, body);
        let delivery = match url {
            Some(url) => {
                let is_get = method.eq_ignore_ascii_case("GET");
                match &add_ons {
                    Some(add_ons) if !is_get => params.push(("AddOns".to_owned(), add_ons.to_string())),
                    Some(_) => {
                        self.alert(
                            &account.sid,
                            AddOnErrorCode::UnavailableForGetCallbacks.code() as i32,
                            "warning",
                            format!(
                                "Add-ons unavailable for GET callbacks: the results of the Add-ons for {sid} were not sent to {url}; use POST to receive them in the AddOns parameter"
                            ),
                            Some((&url, &method)),
                            &sid,
                        )
                        .await;
                    }
                    None => {}
                }
                let delivery = self.deliver(account, &url, is_get, params).await;
                if let Some((code, message)) = &delivery.error {
                    self.alert(
                        &account.sid,
                        *code,
                        "error",
                        message.clone(),
                        Some((&delivery.url, &delivery.method)),
                        &sid,
                    )
                    .await;
                }
                Some(delivery)
            }
            None => None,
        };

        let now = Utc::now().trunc_subsecs(6);
        let failed = delivery.as_ref().and_then(|d| d.error.clone());
        let event = InboundEventRecord {
            sid,
            kind,
            account_sid: account.sid.to_string(),
            phone_number_sid: record.sid.to_string(),
            from_number: from.e164.clone(),
            to_number: to.e164.clone(),
            body: body.map(str::to_owned),
            status: match (kind, &failed) {
                (EventKind::Message, _) => "received",
                (EventKind::Call, None) => "completed",
                (EventKind::Call, Some(_)) => "failed",
            }
            .to_owned(),
            add_ons,
            webhook_url: delivery.as_ref().map(|d| d.url.clone()),
            webhook_method: delivery.as_ref().map(|d| d.method.clone()),
            webhook_status: delivery.as_ref().and_then(|d| d.status).map(i32::from),
            webhook_response: delivery.as_ref().and_then(|d| d.response.clone()),
            error_code: failed.as_ref().map(|(code, _)| *code),
            error_message: failed.map(|(_, message)| message),
            date_created: now,
        };
        if let Err(error) = self.store.insert_inbound_event(&event).await {
            tracing::error!(%error, sid = %event.sid, "could not store an inbound message or call");
        }
        Ok(Received { event, delivery })
    }

    async fn deliver(
        &self,
        account: &Account,
        url: &str,
        is_get: bool,
        params: Vec<(String, String)>,
    ) -> Delivery {
        let method = if is_get { "GET" } else { "POST" }.to_owned();
        let failed = |url: String, params: Vec<(String, String)>, code: i32, message: String| Delivery {
            url,
            method: method.clone(),
            params,
            status: None,
            response: None,
            error: Some((code, message)),
        };
        let Ok(mut parsed) = url::Url::parse(url) else {
            return failed(
                url.to_owned(),
                params,
                codes::HTTP_RETRIEVAL_FAILURE,
                format!("'{url}' is not a URL"),
            );
        };
        let mut headers = HeaderMap::new();
        let body = if is_get {
            {
                let mut pairs = parsed.query_pairs_mut();
                for (name, value) in &params {
                    pairs.append_pair(name, value);
                }
            }
            let signature = account.signer.sign(parsed.as_str(), []);
            insert(&mut headers, "x-twilio-signature", &signature);
            Bytes::new()
        } else {
            let signature = account.signer.sign(
                parsed.as_str(),
                params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            );
            insert(&mut headers, "x-twilio-signature", &signature);
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
            Bytes::from(
                form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(params.iter())
                    .finish(),
            )
        };
        let outbound = Outbound {
            method: if is_get {
                http::Method::GET
            } else {
                http::Method::POST
            },
            url: parsed.clone(),
            headers,
            body,
        };
        let options = self.webhook;
        let url = parsed.to_string();
        match self
            .client
            .send(&outbound, options.timeout, options.max_response_bytes)
            .await
        {
            Ok(answer) => {
                let response = String::from_utf8_lossy(&answer.body).into_owned();
                let error = (!(200..300).contains(&answer.status)).then(|| {
                    (
                        codes::HTTP_RETRIEVAL_FAILURE,
                        format!(
                            "HTTP retrieval failure: {method} {url} answered {}",
                            answer.status
                        ),
                    )
                });
                Delivery {
                    url,
                    method,
                    params,
                    status: Some(answer.status),
                    response: Some(response),
                    error,
                }
            }
            Err(error) => {
                let (code, text) = classify(&error, options.timeout);
                failed(
                    url.clone(),
                    params,
                    code,
                    format!("{text}: {method} {url}: {error}"),
                )
            }
        }
    }

    async fn alert(
        &self,
        account: &AccountSid,
        code: i32,
        level: &str,
        text: String,
        request: Option<(&str, &str)>,
        resource: &str,
    ) {
        let alert = AlertRecord {
            sid: AlertSid::generate(),
            account_sid: account.clone(),
            error_code: code,
            log_level: level.to_owned(),
            alert_text: text,
            request_url: request.map(|(url, _)| url.to_owned()),
            request_method: request.map(|(_, method)| method.to_owned()),
            resource_sid: Some(resource.to_owned()),
            date_created: Utc::now().trunc_subsecs(6),
        };
        if let Err(error) = self.store.insert_alert(&alert).await {
            tracing::error!(%error, "could not store an alert");
        }
    }
}

fn classify(error: &SendError, timeout: Duration) -> (i32, String) {
    match error {
        SendError::Timeout(_) => (
            codes::HTTP_CONNECTION_FAILURE,
            format!(
                "HTTP connection failure: no answer within {} ms",
                timeout.as_millis()
            ),
        ),
        SendError::Connect(_) | SendError::Blocked(_) => {
            (codes::HTTP_CONNECTION_FAILURE, "HTTP connection failure".into())
        }
        SendError::Transport(_) => (codes::HTTP_PROTOCOL_VIOLATION, "HTTP protocol violation".into()),
        SendError::TooManyRedirects => (codes::HTTP_TOO_MANY_REDIRECTS, "HTTP too many redirects".into()),
        SendError::TooLarge(_) => (codes::RESPONSE_TOO_LARGE, "Response body too large".into()),
    }
}

fn insert(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), value);
    }
}

/// Twilio's standard webhook parameters for an inbound message or call.
fn standard_params(
    kind: EventKind,
    sid: &str,
    account: &AccountSid,
    from: &phone::PhoneNumber,
    to: &phone::PhoneNumber,
    body: Option<&str>,
) -> Vec<(String, String)> {
    let country = |number: &phone::PhoneNumber| number.country_code.clone().unwrap_or_default();
    let mut params: Vec<(&str, String)> = match kind {
        EventKind::Message => vec![
            ("MessageSid", sid.to_owned()),
            ("SmsSid", sid.to_owned()),
            ("SmsMessageSid", sid.to_owned()),
            ("AccountSid", account.to_string()),
            ("From", from.e164.clone()),
            ("To", to.e164.clone()),
            ("Body", body.unwrap_or_default().to_owned()),
            ("NumMedia", "0".to_owned()),
            ("NumSegments", segments(body.unwrap_or_default()).to_string()),
            ("SmsStatus", "received".to_owned()),
            ("ApiVersion", "2010-04-01".to_owned()),
        ],
        EventKind::Call => vec![
            ("CallSid", sid.to_owned()),
            ("AccountSid", account.to_string()),
            ("From", from.e164.clone()),
            ("To", to.e164.clone()),
            ("Caller", from.e164.clone()),
            ("Called", to.e164.clone()),
            ("CallStatus", "ringing".to_owned()),
            ("Direction", "inbound".to_owned()),
            ("ApiVersion", "2010-04-01".to_owned()),
            ("CallerCountry", country(from)),
            ("CalledCountry", country(to)),
        ],
    };
    params.extend([
        ("FromCountry", country(from)),
        ("FromState", String::new()),
        ("FromCity", String::new()),
        ("FromZip", String::new()),
        ("ToCountry", country(to)),
        ("ToState", String::new()),
        ("ToCity", String::new()),
        ("ToZip", String::new()),
    ]);
    params.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// SMS segments: 160 GSM characters, or 70 UCS-2 ones, per single segment; 153 / 67 when
/// concatenated.
fn segments(body: &str) -> usize {
    let gsm = body
        .chars()
        .all(|c| (c.is_ascii() && !c.is_ascii_control()) || c == '\n' || c == '\r');
    let length = body.chars().count();
    let (single, multi) = if gsm { (160, 153) } else { (70, 67) };
    if length <= single {
        1
    } else {
        length.div_ceil(multi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_follow_the_encoding() {
        assert_eq!(segments(""), 1);
        assert_eq!(segments(&"a".repeat(160)), 1);
        assert_eq!(segments(&"a".repeat(161)), 2);
        assert_eq!(segments(&"é".repeat(70)), 1);
        assert_eq!(segments(&"é".repeat(71)), 2);
    }

    #[test]
    fn webhook_failures_map_to_twilio_codes() {
        let timeout = Duration::from_millis(100);
        assert_eq!(classify(&SendError::Timeout(timeout), timeout).0, 11205);
        assert_eq!(classify(&SendError::Connect("refused".into()), timeout).0, 11205);
        assert_eq!(classify(&SendError::TooManyRedirects, timeout).0, 11215);
        assert_eq!(classify(&SendError::TooLarge(1), timeout).0, 11750);
        assert_eq!(classify(&SendError::Transport("reset".into()), timeout).0, 11206);
    }
}
