use serde_json::{Value, json};

use super::*;

fn anagram() -> Value {
    json!({
        "unique_name": "publisher_anagrams",
        "friendly_name": "Anagram",
        "description": "English words a phone number spells",
        "type": "phone-number",
        "integration_points": ["lookups"],
        "endpoint": {"url": "https://anagrams.example.com/v1/anagrams", "method": "POST", "carrier": "json"},
        "parameters": {
            "number": "{{primary_address}}",
            "number_hash": "{{SHA256:primary_address}}",
            "request": {"value": "{{request_sid}}", "in": "header"},
            "at": "{{unix_timestamp}}",
            "source": "twilio",
            "limit": 5,
            "min_length": {"value": "{{min_length}}", "optional": true},
            "dob": "{{dob}}"
        },
        "runtime_fields": {"dob": {"required": false, "description": "date of birth"}},
        "configuration_schema": {
            "type": "object",
            "properties": {"min_length": {"type": "integer", "name": "Shortest word"}}
        },
        "request_validation_schema": {
            "type": "object",
            "properties": {"primary_address": {"type": "string", "pattern": "^\\+1[0-9]*$"}},
            "required": ["primary_address"]
        },
        "response_validation_schema": {"type": "object", "required": ["anagrams"]},
        "response_cleaning": ["$.api_key", "$.usage"],
        "auth": {"scheme": "bearer", "secret": "s3cret"},
        "pricing": {"model": "pay-per-use", "price": "0.0001"},
        "limits": {"timeout_ms": 1500, "max_response_bytes": 20000},
        "retries": {"count": 3, "ttl_ms": 1800}
    })
}

fn problems_of(manifest: &Value, policy: RegistrationPolicy) -> Vec<Problem> {
    compile(manifest, policy).expect_err("the manifest should be rejected")
}

fn pointers(problems: &[Problem]) -> Vec<&str> {
    problems.iter().map(|p| p.pointer.as_str()).collect()
}

fn with(mut manifest: Value, pointer: &str, value: Value) -> Value {
    *manifest
        .pointer_mut(pointer)
        .expect("pointer exists in the fixture") = value;
    manifest
}

#[test]
fn a_complete_manifest_compiles() {
    let definition = compile(&anagram(), RegistrationPolicy::default()).expect("compiles");
    assert_eq!(definition.unique_name, "publisher_anagrams");
    assert_eq!(definition.kind, AddOnKind::PhoneNumber);
    assert_eq!(definition.integration_points, vec![IntegrationPoint::Lookups]);
    assert_eq!(definition.endpoint.carrier, Carrier::Json);
    assert_eq!(definition.parameters.len(), 8);
    let header = definition
        .parameters
        .iter()
        .find(|p| p.name == "request")
        .expect("request");
    assert_eq!(header.placement, Placement::Header);
    let limit = definition
        .parameters
        .iter()
        .find(|p| p.name == "limit")
        .expect("limit");
    assert_eq!(limit.value, ParameterValue::Constant(json!(5)));
    assert!(
        definition
            .parameters
            .iter()
            .any(|p| p.name == "min_length" && p.optional)
    );
    assert_eq!(definition.limits.timeout, Duration::from_millis(1500));
    assert_eq!(definition.limits.max_response_bytes, 20000);
    assert_eq!(
        definition.retry,
        RetryPolicy {
            max_retries: 3,
            ttl: Duration::from_millis(1800)
        }
    );
    assert_eq!(definition.pricing.price(), Money::from_nanos(100_000));
    assert!(matches!(definition.auth, PublisherAuth::Bearer { .. }));
    assert_eq!(definition.response_cleaning.len(), 2);
}

#[test]
fn defaults_are_the_types_limits() {
    let mut manifest = anagram();
    let object = manifest.as_object_mut().expect("object");
    object.remove("limits");
    object.remove("retries");
    let definition = compile(&manifest, RegistrationPolicy::default()).expect("compiles");
    assert_eq!(definition.limits.timeout, Duration::from_millis(2000));
    assert_eq!(definition.limits.max_response_bytes, 50 * 1024);
    assert_eq!(definition.retry.ttl, Duration::from_millis(2000));
}

#[test]
fn body_on_a_phone_number_add_on_is_rejected() {
    let manifest = with(anagram(), "/parameters/number", json!("{{body}}"));
    let problems = problems_of(&manifest, RegistrationPolicy::default());
    assert_eq!(pointers(&problems), vec!["/parameters/number"]);
    assert!(
        problems[0].message.contains("not supplied to phone-number"),
        "{problems:?}"
    );
}

#[test]
fn secondary_address_on_a_lookup_add_on_is_rejected() {
    let manifest = with(anagram(), "/parameters/number", json!("{{secondary_address}}"));
    let problems = problems_of(&manifest, RegistrationPolicy::default());
    assert_eq!(pointers(&problems), vec!["/parameters/number"]);
    assert!(
        problems[0].message.contains("not supplied at lookups"),
        "{problems:?}"
    );
}

#[test]
fn secondary_address_is_fine_for_sms_and_voice() {
    let mut manifest = with(anagram(), "/parameters/number", json!("{{secondary_address}}"));
    manifest["integration_points"] = json!(["incoming-sms", "incoming-voice"]);
    manifest.as_object_mut().expect("object").remove("runtime_fields");
    manifest["parameters"]
        .as_object_mut()
        .expect("object")
        .remove("dob");
    let definition = compile(&manifest, RegistrationPolicy::default()).expect("compiles");
    assert_eq!(
        definition.integration_points,
        vec![IntegrationPoint::IncomingSms, IntegrationPoint::VoiceIncoming]
    );
}

#[test]
fn a_configuration_field_missing_from_the_schema_is_rejected() {
    let manifest = with(anagram(), "/parameters/source", json!("{{language}}"));
    let problems = problems_of(&manifest, RegistrationPolicy::default());
    assert_eq!(pointers(&problems), vec!["/parameters/source"]);
}

#[test]
fn runtime_fields_on_a_non_lookup_add_on_are_rejected() {
    let manifest = with(anagram(), "/integration_points", json!(["incoming-sms"]));
    let problems = problems_of(&manifest, RegistrationPolicy::default());
    let found = pointers(&problems);
    assert!(found.contains(&"/runtime_fields"), "{problems:?}");
    assert!(found.contains(&"/parameters/dob"), "{problems:?}");
}

#[test]
fn configuration_schema_problems_carry_pointers() {
    let manifest = with(
        anagram(),
        "/configuration_schema/properties",
        json!({"min_length": {"type": "integer"}, "list": {"type": "array"}, "odd": {"type": "string", "color": 1}}),
    );
    let problems = problems_of(&manifest, RegistrationPolicy::default());
    let found = pointers(&problems);
    assert!(
        found.contains(&"/configuration_schema/properties/list/type"),
        "{problems:?}"
    );
    assert!(
        found.contains(&"/configuration_schema/properties/odd/color"),
        "{problems:?}"
    );
}

#[test]
fn invalid_schemas_regexes_and_paths_are_rejected() {
    let mut manifest = with(anagram(), "/request_validation_schema", json!({"type": 12}));
    manifest["response_validation_schema"] = json!({"type": "string", "pattern": "(["});
    manifest["response_cleaning"] = json!(["$.ok", "$[", 7]);
    let problems = problems_of(&manifest, RegistrationPolicy::default());
    let found = pointers(&problems);
    assert!(
        found.iter().any(|p| p.starts_with("/request_validation_schema")),
        "{problems:?}"
    );
    assert!(
        found.iter().any(|p| p.starts_with("/response_validation_schema")),
        "{problems:?}"
    );
    assert!(found.contains(&"/response_cleaning/1"), "{problems:?}");
    assert!(found.contains(&"/response_cleaning/2"), "{problems:?}");
}

#[test]
fn limits_above_the_types_maximum_are_rejected() {
    let mut manifest = with(anagram(), "/limits/timeout_ms", json!(2500));
    manifest["limits"]["max_response_bytes"] = json!(60_000);
    manifest["retries"]["ttl_ms"] = json!(5000);
    manifest["retries"]["count"] = json!(9);
    let problems = problems_of(&manifest, RegistrationPolicy::default());
    let found = pointers(&problems);
    for expected in [
        "/limits/timeout_ms",
        "/limits/max_response_bytes",
        "/retries/ttl_ms",
        "/retries/count",
    ] {
        assert!(found.contains(&expected), "{expected} missing from {problems:?}");
    }
}

#[test]
fn integration_points_the_type_does_not_allow_are_rejected() {
    let manifest = with(
        anagram(),
        "/integration_points",
        json!(["lookups", "recordings", "fax"]),
    );
    let problems = problems_of(&manifest, RegistrationPolicy::default());
    let found = pointers(&problems);
    assert!(found.contains(&"/integration_points/1"), "{problems:?}");
    assert!(found.contains(&"/integration_points/2"), "{problems:?}");
}

#[test]
fn plain_http_needs_the_operators_permission() {
    let manifest = with(
        anagram(),
        "/endpoint/url",
        json!("http://127.0.0.1:9000/anagrams"),
    );
    let problems = problems_of(&manifest, RegistrationPolicy::default());
    assert_eq!(pointers(&problems), vec!["/endpoint/url"]);
    let allowed = RegistrationPolicy {
        allow_insecure_endpoints: true,
    };
    assert!(compile(&manifest, allowed).is_ok());
}

#[test]
fn every_problem_is_reported_at_once() {
    let manifest = json!({
        "unique_name": "Bad Name",
        "type": "fax",
        "colour": "blue",
        "pricing": {"model": "pay-per-minute", "price": "x"}
    });
    let problems = problems_of(&manifest, RegistrationPolicy::default());
    let found = pointers(&problems);
    for expected in [
        "/unique_name",
        "/type",
        "/colour",
        "/friendly_name",
        "/pricing/price",
    ] {
        assert!(found.contains(&expected), "{expected} missing from {problems:?}");
    }
}

#[test]
fn pay_per_minute_is_for_recordings_only() {
    let manifest = with(
        anagram(),
        "/pricing",
        json!({"model": "pay-per-minute", "price": "0.02"}),
    );
    let problems = problems_of(&manifest, RegistrationPolicy::default());
    assert_eq!(pointers(&problems), vec!["/pricing/model"]);
}

#[test]
fn pay_per_success_compiles_its_conditions() {
    let manifest = with(
        anagram(),
        "/pricing",
        json!({"model": "pay-per-success", "price": 0.001, "non_billable_elements": ["$.error"], "non_billable_statuses": [203]}),
    );
    let definition = compile(&manifest, RegistrationPolicy::default()).expect("compiles");
    assert!(
        matches!(definition.pricing, Pricing::PayPerSuccess { ref non_billable_statuses, .. } if non_billable_statuses == &[203])
    );
}

#[test]
fn carriers_methods_and_placements_must_agree() {
    let manifest = with(anagram(), "/endpoint/method", json!("GET"));
    let problems = problems_of(&manifest, RegistrationPolicy::default());
    assert_eq!(pointers(&problems), vec!["/endpoint/method"]);

    let mut query = with(anagram(), "/endpoint/carrier", json!("query"));
    query["parameters"]["source"] = json!({"value": "twilio", "in": "body"});
    let problems = problems_of(&query, RegistrationPolicy::default());
    assert_eq!(pointers(&problems), vec!["/parameters/source"]);
}

#[test]
fn reserved_headers_are_rejected() {
    let mut manifest = anagram();
    manifest["parameters"]["request"] = json!({"value": "x", "in": "header"});
    manifest["parameters"]["X-Twilio-Signature"] = json!({"value": "forged", "in": "header"});
    manifest["parameters"]["Authorization"] = json!({"value": "x", "in": "header"});
    let problems = problems_of(&manifest, RegistrationPolicy::default());
    let found = pointers(&problems);
    assert!(found.contains(&"/parameters/X-Twilio-Signature"), "{problems:?}");
    assert!(found.contains(&"/parameters/Authorization"), "{problems:?}");
}

#[test]
fn recording_add_ons_use_audio_carriers() {
    let manifest = json!({
        "unique_name": "voicebase_transcription",
        "friendly_name": "Transcription",
        "type": "recording-analysis",
        "integration_points": ["recordings"],
        "endpoint": {"url": "https://asr.example.com/jobs", "method": "PUT", "carrier": "multipart"},
        "parameters": {
            "media": "{{audio_data}}",
            "callback": "{{callback_url}}",
            "duration": "{{duration}}",
            "digest": "{{SHA256:audio_data}}"
        },
        "auth": {"scheme": "basic", "username": "twilio", "secret": "pw"},
        "pricing": {"model": "pay-per-minute", "price": "0.02"}
    });
    let definition = compile(&manifest, RegistrationPolicy::default()).expect("compiles");
    assert!(
        definition
            .parameters
            .iter()
            .any(|p| p.is_audio_part && p.name == "media")
    );

    let mut no_audio = manifest.clone();
    no_audio["parameters"]
        .as_object_mut()
        .expect("object")
        .remove("media");
    assert_eq!(
        pointers(&problems_of(&no_audio, RegistrationPolicy::default())),
        vec!["/parameters"]
    );

    let json_carrier = with(manifest, "/endpoint/carrier", json!("json"));
    let found = problems_of(&json_carrier, RegistrationPolicy::default());
    assert!(pointers(&found).contains(&"/endpoint/carrier"), "{found:?}");
}

#[test]
fn secrets_are_split_from_and_joined_to_the_manifest() {
    let (redacted, secret) = split_secret(&anagram());
    assert_eq!(secret.as_deref(), Some("s3cret"));
    assert_eq!(redacted["auth"]["secret"], json!(REDACTED));
    assert!(compile(&redacted, RegistrationPolicy::default()).is_err());
    let joined = join_secret(&redacted, secret.as_deref());
    assert_eq!(joined, anagram());
    let definition = compile(&joined, RegistrationPolicy::default()).expect("compiles");
    assert_eq!(
        format!("{:?}", definition.auth),
        "Bearer { secret: Secret([redacted]) }"
    );
}
