//! Twilio error codes the gateway answers with.

use serde::Serialize;

/// The per-result codes of a failed Add-on (inside `add_ons.results.<name>.code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "u32")]
pub enum AddOnErrorCode {
    /// 61000: an error inside the gateway itself.
    InternalError,
    /// 61001: the publisher did not answer within the time limit.
    Timeout,
    /// 61002: the publisher answered 5xx (or could not be reached) on every attempt.
    ProviderUnavailable,
    /// 61003: the request validation schema failed, or a required runtime field was missing.
    RequirementsNotMet,
    /// 61004: the publisher answered, but the response validation schema did not hold.
    NoResults,
    /// 61005: the publisher answered 4xx.
    BadRequest,
    /// 61006: warning; a GET webhook cannot carry Add-on results.
    UnavailableForGetCallbacks,
    /// 61007: the publisher's response exceeded the size limit.
    ResponseTooLarge,
    /// 61008: the publisher redirected more than five times.
    TooManyRedirects,
    /// 61009: a template field could not be filled from the available data.
    UnfulfillableRequest,
}

impl AddOnErrorCode {
    /// The numeric code.
    pub fn code(self) -> u32 {
        match self {
            AddOnErrorCode::InternalError => 61000,
            AddOnErrorCode::Timeout => 61001,
            AddOnErrorCode::ProviderUnavailable => 61002,
            AddOnErrorCode::RequirementsNotMet => 61003,
            AddOnErrorCode::NoResults => 61004,
            AddOnErrorCode::BadRequest => 61005,
            AddOnErrorCode::UnavailableForGetCallbacks => 61006,
            AddOnErrorCode::ResponseTooLarge => 61007,
            AddOnErrorCode::TooManyRedirects => 61008,
            AddOnErrorCode::UnfulfillableRequest => 61009,
        }
    }

    /// Twilio's wording for the code.
    pub fn description(self) -> &'static str {
        match self {
            AddOnErrorCode::InternalError => "Internal error",
            AddOnErrorCode::Timeout => "Request timed out",
            AddOnErrorCode::ProviderUnavailable => "Provider could not complete request",
            AddOnErrorCode::RequirementsNotMet => "Requirements to invoke Add-ons have not been met",
            AddOnErrorCode::NoResults => "No results",
            AddOnErrorCode::BadRequest => "Bad request",
            AddOnErrorCode::UnavailableForGetCallbacks => "Add-ons unavailable for GET callbacks",
            AddOnErrorCode::ResponseTooLarge => "Response body too large",
            AddOnErrorCode::TooManyRedirects => "Too many redirects",
            AddOnErrorCode::UnfulfillableRequest => "Could not fulfill request with available data",
        }
    }

    /// Whether a failure with this code counts against the publisher's SLA. Rejections the
    /// publisher could not have caused (request validation, unfillable fields, gateway errors)
    /// and well-formed answers that merely lack results do not.
    pub fn counts_against_sla(self) -> bool {
        matches!(
            self,
            AddOnErrorCode::Timeout
                | AddOnErrorCode::ProviderUnavailable
                | AddOnErrorCode::BadRequest
                | AddOnErrorCode::ResponseTooLarge
                | AddOnErrorCode::TooManyRedirects
        )
    }
}

impl From<AddOnErrorCode> for u32 {
    fn from(code: AddOnErrorCode) -> u32 {
        code.code()
    }
}

/// Link to Twilio's page for an error code, as `more_info` carries it.
pub fn more_info_url(code: u32) -> String {
    format!("https://www.twilio.com/docs/errors/{code}")
}
