//! The Configuration JSON Schema: the seed's dialect for the fields a developer fills in when
//! installing an Add-on, which become template fields.
//!
//! Supported: `string`, `number`, `integer`, `boolean` fields; `enum`, `name` (the label),
//! `_help` (the tooltip); a property's key (its element name) is the template variable name;
//! combining schemas (`allOf`, `anyOf`, `oneOf`, `not`) and regular expressions (`pattern`)
//! for input validation, with the usual validation keywords. Object and array fields are not
//! supported, and an unknown keyword is an error rather than silently ignored.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::fields::BuiltinField;
use crate::problem::{Problems, pointer};
use crate::schema::CompiledSchema;

/// The type of a configuration field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigFieldType {
    /// Text field.
    String,
    /// Number field.
    Number,
    /// Integer field.
    Integer,
    /// Checkbox.
    Boolean,
}

impl ConfigFieldType {
    fn parse(value: &str) -> Option<Self> {
        match value {
            "string" => Some(Self::String),
            "number" => Some(Self::Number),
            "integer" => Some(Self::Integer),
            "boolean" => Some(Self::Boolean),
            _ => None,
        }
    }
}

/// One configuration field: a template variable the developer sets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigField {
    /// The template variable name (the property's key).
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub field_type: ConfigFieldType,
    /// Whether the schema requires it.
    pub required: bool,
}

/// A configuration schema that follows the dialect and compiled.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigSchema {
    compiled: CompiledSchema,
    fields: BTreeMap<String, ConfigField>,
}

/// One configuration field that does not validate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The configuration field (empty for the configuration as a whole).
    pub field: String,
    /// The schema rule that failed (`type`, `enum`, `pattern`, `required`, …).
    pub rule: String,
    /// What was expected.
    pub expected: String,
    /// A sentence for people.
    pub message: String,
}

const ROOT_KEYWORDS: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "title",
    "description",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
];

const FIELD_KEYWORDS: &[&str] = &[
    "type",
    "name",
    "_help",
    "title",
    "description",
    "$comment",
    "enum",
    "const",
    "default",
    "pattern",
    "format",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
];

const OBJECT_AND_ARRAY_KEYWORDS: &[&str] = &[
    "items",
    "prefixItems",
    "additionalItems",
    "contains",
    "minContains",
    "maxContains",
    "minItems",
    "maxItems",
    "uniqueItems",
    "unevaluatedItems",
    "properties",
    "patternProperties",
    "additionalProperties",
    "unevaluatedProperties",
    "propertyNames",
    "required",
    "dependentRequired",
    "dependentSchemas",
    "dependencies",
    "minProperties",
    "maxProperties",
];

const COMBINERS: &[&str] = &["allOf", "anyOf", "oneOf"];

impl ConfigSchema {
    /// Checks a configuration schema against the dialect and compiles it, recording every
    /// problem under `at` (the schema's pointer in the manifest).
    pub fn compile(schema: &Value, at: &str, problems: &mut Problems) -> Option<ConfigSchema> {
        let before = problems.len();
        let Some(root) = schema.as_object() else {
            problems.push(at, "the configuration schema must be a JSON object");
            return None;
        };
        let fields = check_root(root, at, problems, true);
        if problems.len() > before {
            return None;
        }
        match CompiledSchema::compile(schema) {
            Ok(compiled) => Some(ConfigSchema { compiled, fields }),
            Err(errors) => {
                for (path, message) in errors {
                    problems.push(format!("{at}{path}"), message);
                }
                None
            }
        }
    }

    /// The schema as registered (what the Marketplace shows as `configuration_schema`).
    pub fn source(&self) -> &Value {
        self.compiled.source()
    }

    /// The fields, by name.
    pub fn fields(&self) -> &BTreeMap<String, ConfigField> {
        &self.fields
    }

    /// Whether `name` is a configuration field.
    pub fn has_field(&self, name: &str) -> bool {
        self.fields.contains_key(name)
    }

    /// Validates a developer's configuration: one error per field, each naming the field, the
    /// rule and what was expected. Keys the schema does not declare are errors too, since they
    /// can only be mistakes.
    pub fn validate(&self, configuration: &Value) -> Result<(), Vec<FieldError>> {
        let Some(object) = configuration.as_object() else {
            return Err(vec![FieldError {
                field: String::new(),
                rule: "type".to_owned(),
                expected: "a JSON object".to_owned(),
                message: "Configuration must be a JSON object".to_owned(),
            }]);
        };
        let mut errors: BTreeMap<String, FieldError> = BTreeMap::new();
        for key in object.keys() {
            if !self.fields.contains_key(key) {
                let known: Vec<&str> = self.fields.keys().map(String::as_str).collect();
                errors.insert(
                    key.clone(),
                    FieldError {
                        field: key.clone(),
                        rule: "additionalProperties".to_owned(),
                        expected: format!("one of the configuration fields ({})", known.join(", ")),
                        message: format!("'{key}' is not a configuration field of this Add-on"),
                    },
                );
            }
        }
        for violation in self.compiled.violations(configuration) {
            let field = violation.missing_property.clone().unwrap_or_else(|| {
                violation
                    .instance_path
                    .trim_start_matches('/')
                    .split('/')
                    .next()
                    .unwrap_or_default()
                    .replace("~1", "/")
                    .replace("~0", "~")
            });
            errors.entry(field.clone()).or_insert_with(|| FieldError {
                message: if field.is_empty() {
                    format!("Configuration: {}", violation.message)
                } else {
                    format!("Configuration field '{field}': {}", violation.message)
                },
                field,
                rule: violation.keyword,
                expected: violation.expected,
            });
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.into_values().collect())
        }
    }

    /// The configuration with only declared fields, in a map (for template rendering).
    pub fn as_map(configuration: &Value) -> Map<String, Value> {
        configuration.as_object().cloned().unwrap_or_default()
    }
}

fn check_root(
    root: &Map<String, Value>,
    at: &str,
    problems: &mut Problems,
    top: bool,
) -> BTreeMap<String, ConfigField> {
    let mut fields = BTreeMap::new();
    for (keyword, value) in root {
        let here = pointer(at, keyword);
        if !ROOT_KEYWORDS.contains(&keyword.as_str())
            || (!top && keyword.starts_with('$') && keyword != "$comment")
        {
            problems.push(
                here,
                format!(
                    "unknown keyword '{keyword}' in the configuration schema (supported at this level: {})",
                    ROOT_KEYWORDS.join(", ")
                ),
            );
            continue;
        }
        match keyword.as_str() {
            "type" if value != "object" => {
                problems.push(here, "the configuration schema's type must be \"object\"");
            }
            "additionalProperties" if !value.is_boolean() => {
                problems.push(here, "additionalProperties must be true or false");
            }
            "properties" => match value.as_object() {
                Some(properties) => {
                    for (name, property) in properties {
                        let at_property = pointer(&here, name);
                        if let Some(field_type) = check_field_name(name, &at_property, problems)
                            .then(|| check_field(property, &at_property, problems, true))
                            .flatten()
                        {
                            fields.insert(
                                name.clone(),
                                ConfigField {
                                    name: name.clone(),
                                    field_type,
                                    required: false,
                                },
                            );
                        }
                    }
                }
                None => problems.push(here, "properties must be an object of field schemas"),
            },
            "required" => match value.as_array() {
                Some(names) => {
                    for (index, name) in names.iter().enumerate() {
                        if !name.is_string() {
                            problems.push(
                                pointer(&here, &index.to_string()),
                                "required lists field names (strings)",
                            );
                        }
                    }
                }
                None => problems.push(here, "required must be an array of field names"),
            },
            "allOf" | "anyOf" | "oneOf" => {
                for_each_subschema(value, &here, problems, |sub, at_sub, problems| {
                    check_root(sub, at_sub, problems, false);
                });
            }
            "not" => match value.as_object() {
                Some(sub) => {
                    check_root(sub, &here, problems, false);
                }
                None => problems.push(here, "not must be a schema object"),
            },
            _ => {}
        }
    }
    if let Some(Value::Array(names)) = root.get("required") {
        for (index, name) in names.iter().enumerate() {
            if let Some(name) = name.as_str() {
                match fields.get_mut(name) {
                    Some(field) => field.required = true,
                    None if top => problems.push(
                        pointer(&pointer(at, "required"), &index.to_string()),
                        format!("'{name}' is required but not declared in properties"),
                    ),
                    None => {}
                }
            }
        }
    }
    fields
}

fn check_field_name(name: &str, at: &str, problems: &mut Problems) -> bool {
    let mut chars = name.chars();
    let well_formed = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !well_formed {
        problems.push(
            at,
            format!("'{name}' cannot be a template variable: use letters, digits and '_', not starting with a digit"),
        );
        return false;
    }
    if BuiltinField::parse(name).is_some() {
        problems.push(
            at,
            format!(
                "'{name}' is a template field Twilio fills in; a configuration field cannot reuse its name"
            ),
        );
        return false;
    }
    true
}

/// Checks one field's schema; returns its type when it has a valid one.
fn check_field(
    value: &Value,
    at: &str,
    problems: &mut Problems,
    needs_type: bool,
) -> Option<ConfigFieldType> {
    let Some(field) = value.as_object() else {
        problems.push(at, "a configuration field must be a schema object");
        return None;
    };
    let mut field_type = None;
    for (keyword, value) in field {
        let here = pointer(at, keyword);
        if OBJECT_AND_ARRAY_KEYWORDS.contains(&keyword.as_str()) {
            problems.push(
                here,
                format!("'{keyword}' is an object/array keyword; configuration fields are string, number, integer or boolean"),
            );
            continue;
        }
        if !FIELD_KEYWORDS.contains(&keyword.as_str()) {
            problems.push(
                here,
                format!(
                    "unknown keyword '{keyword}' in a configuration field (supported: {})",
                    FIELD_KEYWORDS.join(", ")
                ),
            );
            continue;
        }
        match keyword.as_str() {
            "type" => match value.as_str() {
                Some("object" | "array") => problems.push(
                    here,
                    "object and array fields are not supported: use string, number, integer or boolean",
                ),
                Some(name) => match ConfigFieldType::parse(name) {
                    Some(parsed) => field_type = Some(parsed),
                    None => problems.push(
                        here,
                        format!("'{name}' is not a field type: use string, number, integer or boolean"),
                    ),
                },
                None => problems.push(here, "type must be one of string, number, integer, boolean"),
            },
            "name" | "_help" | "title" | "description" | "pattern" | "format" | "$comment"
                if !value.is_string() =>
            {
                problems.push(here, format!("'{keyword}' must be a string"));
            }
            "enum" => match value.as_array() {
                Some(options) if options.is_empty() => {
                    problems.push(here, "enum must list at least one value")
                }
                Some(options) => {
                    for (index, option) in options.iter().enumerate() {
                        if option.is_object() || option.is_array() {
                            problems.push(
                                pointer(&here, &index.to_string()),
                                "enum values must be strings, numbers or booleans",
                            );
                        }
                    }
                }
                None => problems.push(here, "enum must be an array of values"),
            },
            "allOf" | "anyOf" | "oneOf" => {
                for_each_subschema(value, &here, problems, |sub, at_sub, problems| {
                    check_field(&Value::Object(sub.clone()), at_sub, problems, false);
                });
            }
            "not" => {
                check_field(value, &here, problems, false);
            }
            _ => {}
        }
    }
    if needs_type && field_type.is_none() && !field.contains_key("type") {
        problems.push(
            pointer(at, "type"),
            "a configuration field needs a type: string, number, integer or boolean",
        );
    }
    field_type
}

fn for_each_subschema(
    value: &Value,
    at: &str,
    problems: &mut Problems,
    mut check: impl FnMut(&Map<String, Value>, &str, &mut Problems),
) {
    match value.as_array() {
        Some(subschemas) if !subschemas.is_empty() => {
            for (index, sub) in subschemas.iter().enumerate() {
                let at_sub = pointer(at, &index.to_string());
                match sub.as_object() {
                    Some(sub) => check(sub, &at_sub, problems),
                    None => problems.push(at_sub, "a subschema must be an object"),
                }
            }
        }
        _ => problems.push(
            at,
            format!("{} must be a non-empty array of schemas", COMBINERS.join("/")),
        ),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn seed_schema() -> Value {
        json!({
            "title": "Config schema",
            "type": "object",
            "properties": {
                "language": {"type": "string", "name": "Language", "_help": "Select the language", "enum": ["en_US", "en_UK", "es"]},
                "combine_tracks": {"type": "boolean", "name": "Combine Audio Tracks", "_help": "Combine"},
                "keywords": {"type": "string", "name": "Keywords to detect", "_help": "Comma separated"},
                "phone_number": {"type": "string", "name": "Phone Number", "_help": "E164", "pattern": "^\\+(1)+[0-9]*$"}
            },
            "required": ["language", "phone_number"]
        })
    }

    fn compile(schema: &Value) -> Result<ConfigSchema, Vec<crate::problem::Problem>> {
        let mut problems = Problems::new();
        match ConfigSchema::compile(schema, "/configuration_schema", &mut problems) {
            Some(compiled) if problems.is_empty() => Ok(compiled),
            _ => Err(problems.into_vec()),
        }
    }

    #[test]
    fn the_seeds_example_compiles() {
        let schema = compile(&seed_schema()).expect("compiles");
        assert_eq!(schema.fields().len(), 4);
        assert!(schema.fields()["language"].required);
        assert!(!schema.fields()["keywords"].required);
        assert_eq!(
            schema.fields()["combine_tracks"].field_type,
            ConfigFieldType::Boolean
        );
    }

    #[test]
    fn object_array_and_unknown_keywords_are_rejected_with_pointers() {
        let problems = compile(&json!({
            "type": "object",
            "properties": {
                "tags": {"type": "array", "items": {"type": "string"}},
                "nested": {"type": "object"},
                "label": {"type": "string", "nmae": "typo"}
            }
        }))
        .expect_err("rejected");
        let pointers: Vec<&str> = problems.iter().map(|p| p.pointer.as_str()).collect();
        assert!(pointers.contains(&"/configuration_schema/properties/tags/type"));
        assert!(pointers.contains(&"/configuration_schema/properties/tags/items"));
        assert!(pointers.contains(&"/configuration_schema/properties/nested/type"));
        assert!(pointers.contains(&"/configuration_schema/properties/label/nmae"));
    }

    #[test]
    fn broken_regex_and_builtin_names_are_rejected() {
        let problems = compile(&json!({
            "type": "object",
            "properties": {
                "code": {"type": "string", "pattern": "([a-z]"},
                "body": {"type": "string"}
            }
        }))
        .expect_err("rejected");
        let pointers: Vec<&str> = problems.iter().map(|p| p.pointer.as_str()).collect();
        assert!(
            pointers.contains(&"/configuration_schema/properties/body"),
            "{problems:?}"
        );
    }

    #[test]
    fn broken_regex_is_rejected() {
        let problems = compile(&json!({
            "type": "object",
            "properties": {"code": {"type": "string", "pattern": "([a-z]"}}
        }))
        .expect_err("rejected");
        assert!(
            problems[0].pointer.starts_with("/configuration_schema"),
            "{problems:?}"
        );
    }

    #[test]
    fn configuration_errors_name_each_field() {
        let schema = compile(&seed_schema()).expect("compiles");
        assert!(
            schema
                .validate(&json!({"language": "es", "phone_number": "+15551234567", "combine_tracks": true}))
                .is_ok()
        );
        let errors = schema
            .validate(&json!({"language": "fr", "combine_tracks": "yes", "colour": 1}))
            .expect_err("invalid");
        let by_field: BTreeMap<&str, &FieldError> = errors.iter().map(|e| (e.field.as_str(), e)).collect();
        assert_eq!(by_field["language"].rule, "enum");
        assert_eq!(by_field["combine_tracks"].rule, "type");
        assert_eq!(by_field["phone_number"].rule, "required");
        assert_eq!(by_field["colour"].rule, "additionalProperties");
        let pattern = schema
            .validate(&json!({"language": "es", "phone_number": "+44123"}))
            .expect_err("pattern");
        assert_eq!(pattern[0].field, "phone_number");
        assert_eq!(pattern[0].rule, "pattern");
    }
}
