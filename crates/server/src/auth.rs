//! HTTP Basic authentication, as Twilio's APIs use it: `AccountSid:AuthToken`, checked against
//! the in-memory catalog. The authenticated account is the tenant for everything the request
//! touches; handlers never take an account SID from the body.

use std::sync::Arc;

use addons_engine::Account;
use addons_store::AccountRole;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use base64::Engine as _;

use crate::error::ApiError;
use crate::state::AppState;

/// The user name of the operator's admin credential.
pub const OPERATOR_USERNAME: &str = "operator";

/// `user:password` from a Basic `Authorization` header, decoded once and split in place.
struct Credentials {
    text: String,
    colon: usize,
}

impl Credentials {
    fn user(&self) -> &str {
        &self.text[..self.colon]
    }

    fn password(&self) -> &str {
        &self.text[self.colon + 1..]
    }
}

fn basic_credentials(parts: &Parts) -> Option<Credentials> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let colon = text.find(':')?;
    Some(Credentials { text, colon })
}

/// Any authenticated account.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Arc<Account>);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let credentials = basic_credentials(parts).ok_or_else(ApiError::unauthenticated)?;
        state
            .catalog
            .authenticate(credentials.user(), credentials.password())
            .map(Authenticated)
            .ok_or_else(ApiError::unauthenticated)
    }
}

/// An authenticated publisher account.
#[derive(Debug, Clone)]
pub struct Publisher(pub Arc<Account>);

impl FromRequestParts<AppState> for Publisher {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Authenticated(account) = Authenticated::from_request_parts(parts, state).await?;
        if account.role != AccountRole::Publisher {
            return Err(ApiError::forbidden("Only publisher accounts can manage Add-ons"));
        }
        Ok(Publisher(account))
    }
}

/// The marketplace operator (user `operator`, password from configuration).
#[derive(Debug, Clone, Copy)]
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let credentials = basic_credentials(parts).ok_or_else(ApiError::unauthenticated)?;
        let matches = addons_store::crypto::token_matches(&state.operator_token_hash, credentials.password());
        if credentials.user() == OPERATOR_USERNAME && matches {
            Ok(Operator)
        } else {
            Err(ApiError::unauthenticated())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(authorization: &str) -> Parts {
        let request = axum::http::Request::builder()
            .header(header::AUTHORIZATION, authorization)
            .body(())
            .unwrap_or_else(|error| unreachable!("a valid request: {error}"));
        request.into_parts().0
    }

    #[test]
    fn basic_credentials_split_at_the_first_colon() {
        let encoded = base64::engine::general_purpose::STANDARD.encode("AC123:to:ken");
        let credentials = basic_credentials(&parts(&format!("basic {encoded}")));
        let credentials = credentials.unwrap_or_else(|| unreachable!("valid Basic credentials"));
        assert_eq!(credentials.user(), "AC123");
        assert_eq!(credentials.password(), "to:ken");
    }

    #[test]
    fn other_schemes_and_malformed_credentials_are_refused() {
        let no_colon = base64::engine::general_purpose::STANDARD.encode("AC123");
        for value in ["Bearer abc", "Basic !!!", &format!("Basic {no_colon}"), "Basic"] {
            assert!(basic_credentials(&parts(value)).is_none(), "{value}");
        }
    }
}
