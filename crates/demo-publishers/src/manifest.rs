//! The demo Add-ons' manifests, as a publisher would register them.
//!
//! Between them they cover the seed's variety: every parameter carrier (JSON, query, form),
//! GET and POST, every auth scheme but `none` (bearer, query, basic, body), pay-per-use and
//! pay-per-success pricing, configuration schemas with a boolean and an enum, an optional
//! parameter, a header parameter, `{{SHA256:…}}`, request and response validation schemas,
//! and response cleaning.

use serde_json::{Value, json};

use crate::apps::DemoApp;
use crate::config::{API_KEY_PARAMETER, BODY_TOKEN_PARAMETER, Credentials};

/// The manifest of an app served under `base_url`, with the fixed demo credentials
/// ([`Credentials::default`]).
///
/// [`DemoApp::Custom`] gets a minimal phone-number manifest (`demo_custom`: Lookup only, JSON
/// POST of `phone_number`, no auth, pay-per-use); a test that needs more writes its own.
pub fn manifest(app: &DemoApp, base_url: &str) -> Value {
    manifest_with_credentials(app, base_url, &Credentials::default())
}

/// The manifest of an app served under `base_url`, declaring these credentials.
pub fn manifest_with_credentials(app: &DemoApp, base_url: &str, credentials: &Credentials) -> Value {
    let url = format!("{}{}", base_url.trim_end_matches('/'), app.path());
    match app {
        DemoApp::Anagrams => json!({
            "unique_name": app.unique_name(),
            "friendly_name": "Anagrams",
            "description": "English words spelled by a phone number's last digits on a phone keypad, such as +18778TWILIO.",
            "type": "phone-number",
            "integration_points": ["lookups", "incoming-sms", "voice-incoming"],
            "endpoint": {"url": url, "method": "POST", "carrier": "json"},
            "parameters": {
                "phone_number": "{{primary_address}}",
                "phone_number_sha256": "{{SHA256:primary_address}}",
                "requested_at": "{{unix_timestamp}}",
                "X-Demo-Request": {"value": "{{request_sid}}", "in": "header"},
                "source": "twilio"
            },
            "response_validation_schema": {
                "type": "object",
                "required": ["anagrams"],
                "properties": {"anagrams": {"type": "array", "items": {"type": "string"}}}
            },
            "response_cleaning": ["$.usage"],
            "auth": {"scheme": "bearer", "secret": credentials.bearer_token},
            "pricing": {"model": "pay-per-use", "price": "0.0001"},
            "limits": {"timeout_ms": 2000},
            "retries": {"count": 2, "ttl_ms": 2000}
        }),
        DemoApp::SpamScore => json!({
            "unique_name": app.unique_name(),
            "friendly_name": "Spam Score",
            "description": "Whether a phone number is likely to be spam: a score of 0 or 1, with reasons.",
            "type": "phone-number",
            "integration_points": ["lookups", "incoming-sms", "voice-incoming"],
            "endpoint": {"url": url, "method": "GET", "carrier": "query"},
            "parameters": {
                "phone": "{{primary_address}}",
                "request_sid": "{{request_sid}}"
            },
            "response_validation_schema": {
                "type": "object",
                "required": ["status", "score"]
            },
            "auth": {"scheme": "query", "parameter": API_KEY_PARAMETER, "secret": credentials.api_key},
            "pricing": {
                "model": "pay-per-success",
                "price": "0.0005",
                "non_billable_elements": ["$.error"]
            },
            "limits": {"timeout_ms": 1500, "max_response_bytes": 4096},
            "retries": {"count": 2, "ttl_ms": 2000}
        }),
        DemoApp::CallerName => json!({
            "unique_name": app.unique_name(),
            "friendly_name": "Caller Name",
            "description": "The name behind a North American number, consumer or business, and optionally where it is.",
            "type": "phone-number",
            "integration_points": ["lookups", "incoming-sms", "voice-incoming"],
            "endpoint": {"url": url, "method": "POST", "carrier": "form"},
            "parameters": {
                "number": "{{primary_address}}",
                "include_location": {"value": "{{include_location}}", "optional": true}
            },
            "configuration_schema": {
                "type": "object",
                "properties": {
                    "include_location": {
                        "type": "boolean",
                        "name": "Include location",
                        "_help": "Add the caller's city and state to the result."
                    }
                }
            },
            "request_validation_schema": {
                "type": "object",
                "properties": {
                    "primary_address": {"type": "string", "pattern": "^\\+1[0-9]*$"}
                },
                "required": ["primary_address"]
            },
            "response_validation_schema": {
                "type": "object",
                "required": ["caller_name", "caller_type"]
            },
            "auth": {
                "scheme": "basic",
                "username": credentials.basic_username,
                "secret": credentials.basic_password
            },
            "pricing": {"model": "pay-per-use", "price": "0.001"}
        }),
        DemoApp::Sentiment => json!({
            "unique_name": app.unique_name(),
            "friendly_name": "Message Sentiment",
            "description": "Sentiment (positive, negative, neutral) and intent of an incoming SMS, in English, Spanish or French.",
            "type": "message-analysis",
            "integration_points": ["incoming-sms"],
            "endpoint": {"url": url, "method": "POST", "carrier": "json"},
            "parameters": {
                "text": "{{body}}",
                "from": "{{primary_address}}",
                "to": "{{secondary_address}}",
                "language": {"value": "{{language}}", "optional": true}
            },
            "configuration_schema": {
                "type": "object",
                "properties": {
                    "language": {
                        "type": "string",
                        "name": "Language",
                        "enum": ["en", "es", "fr"],
                        "_help": "The language of your messages; guessed from each message when not set."
                    }
                }
            },
            "response_validation_schema": {
                "type": "object",
                "required": ["sentiment", "score", "intent"],
                "properties": {
                    "sentiment": {"enum": ["positive", "negative", "neutral"]},
                    "score": {"type": "number", "minimum": -1, "maximum": 1}
                }
            },
            "auth": {"scheme": "body", "parameter": BODY_TOKEN_PARAMETER, "secret": credentials.body_token},
            "pricing": {"model": "pay-per-use", "price": "0.0002"},
            "retries": {"count": 1, "ttl_ms": 2000}
        }),
        DemoApp::Custom(_) => json!({
            "unique_name": app.unique_name(),
            "friendly_name": "Custom",
            "description": "A test publisher with its own answer.",
            "type": "phone-number",
            "integration_points": ["lookups"],
            "endpoint": {"url": url, "method": "POST", "carrier": "json"},
            "parameters": {"phone_number": "{{primary_address}}"},
            "pricing": {"model": "pay-per-use", "price": "0.0001"}
        }),
    }
}

#[cfg(test)]
mod tests {
    use addons_domain::kind::{AddOnKind, IntegrationPoint};
    use addons_domain::manifest::{Carrier, HttpMethod, PublisherAuth, RegistrationPolicy, compile};
    use addons_domain::pricing::Pricing;

    use super::*;
    use crate::apps::demo_apps;

    const BASE: &str = "http://127.0.0.1:4567/";
    const POLICY: RegistrationPolicy = RegistrationPolicy {
        allow_insecure_endpoints: true,
    };

    fn compiled(app: &DemoApp) -> addons_domain::AddOnDefinition {
        match compile(&manifest(app, BASE), POLICY) {
            Ok(definition) => definition,
            Err(problems) => panic!("{app:?} does not compile: {problems:?}"),
        }
    }

    #[test]
    fn every_manifest_compiles() {
        for app in demo_apps() {
            let definition = compiled(&app);
            assert_eq!(definition.unique_name, app.unique_name());
            assert_eq!(
                definition.endpoint.url.as_str(),
                format!("http://127.0.0.1:4567{}", app.path())
            );
        }
        let custom = DemoApp::custom(|_| json!({}));
        assert_eq!(compiled(&custom).unique_name, "demo_custom");
    }

    #[test]
    fn derived_credentials_compile_too() {
        let credentials = Credentials::derived_from("token");
        for app in demo_apps() {
            let manifest = manifest_with_credentials(&app, BASE, &credentials);
            assert!(compile(&manifest, POLICY).is_ok(), "{app:?}");
        }
    }

    #[test]
    fn anagrams_is_json_bearer_pay_per_use() {
        let definition = compiled(&DemoApp::Anagrams);
        assert_eq!(definition.endpoint.carrier, Carrier::Json);
        assert_eq!(definition.endpoint.method, HttpMethod::Post);
        assert!(
            matches!(&definition.auth, PublisherAuth::Bearer { secret } if secret.expose() == Credentials::default().bearer_token)
        );
        assert_eq!(definition.pricing.model(), "pay-per-use");
        assert_eq!(definition.pricing.price().nanos(), 100_000);
        assert_eq!(
            definition.integration_points,
            vec![
                IntegrationPoint::Lookups,
                IntegrationPoint::IncomingSms,
                IntegrationPoint::VoiceIncoming
            ]
        );
        assert_eq!(definition.response_cleaning.len(), 1);
        assert!(definition.response_validation_schema.is_some());
    }

    #[test]
    fn spam_score_is_query_get_pay_per_success() {
        let definition = compiled(&DemoApp::SpamScore);
        assert_eq!(definition.endpoint.carrier, Carrier::Query);
        assert_eq!(definition.endpoint.method, HttpMethod::Get);
        assert!(
            matches!(&definition.auth, PublisherAuth::Query { parameter, .. } if parameter == API_KEY_PARAMETER)
        );
        assert!(matches!(
            &definition.pricing,
            Pricing::PayPerSuccess { non_billable_elements, .. } if non_billable_elements.len() == 1
        ));
    }

    #[test]
    fn caller_name_is_form_basic_with_configuration() {
        let definition = compiled(&DemoApp::CallerName);
        assert_eq!(definition.endpoint.carrier, Carrier::Form);
        assert!(matches!(&definition.auth, PublisherAuth::Basic { username, .. } if username == "twilio"));
        let schema = definition
            .configuration_schema
            .as_ref()
            .expect("a configuration schema");
        assert!(schema.has_field("include_location"));
        assert!(
            definition
                .parameters
                .iter()
                .any(|p| p.name == "include_location" && p.optional)
        );
        assert!(definition.request_validation_schema.is_some());
    }

    #[test]
    fn sentiment_is_message_analysis_with_a_language() {
        let definition = compiled(&DemoApp::Sentiment);
        assert_eq!(definition.kind, AddOnKind::MessageAnalysis);
        assert_eq!(definition.integration_points, vec![IntegrationPoint::IncomingSms]);
        assert_eq!(definition.endpoint.carrier, Carrier::Json);
        assert!(
            matches!(&definition.auth, PublisherAuth::Body { parameter, .. } if parameter == BODY_TOKEN_PARAMETER)
        );
        let schema = definition
            .configuration_schema
            .as_ref()
            .expect("a configuration schema");
        assert!(schema.has_field("language"));
    }
}
