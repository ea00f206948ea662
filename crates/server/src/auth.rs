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
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::AppState;

/// The user name of the operator's admin credential.
pub const OPERATOR_USERNAME: &str = "operator";

fn basic_credentials(parts: &Parts) -> Option<(String, String)> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Any authenticated account.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Arc<Account>);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let (sid, token) = basic_credentials(parts).ok_or_else(ApiError::unauthenticated)?;
        state
            .catalog
            .authenticate(&sid, &token)
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
        let (user, password) = basic_credentials(parts).ok_or_else(ApiError::unauthenticated)?;
        let candidate: [u8; 32] = Sha256::digest(password.as_bytes()).into();
        let matches = candidate
            .iter()
            .zip(state.operator_token_hash.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
        if user == OPERATOR_USERNAME && matches {
            Ok(Operator)
        } else {
            Err(ApiError::unauthenticated())
        }
    }
}
