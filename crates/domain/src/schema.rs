//! JSON Schemas compiled once, offline: a `$ref` can never read a file or the network, and
//! `pattern` uses linear-time regular expressions.

use std::sync::Arc;

use serde_json::Value;

/// A schema that compiled; cheap to clone and shared between threads.
#[derive(Clone)]
pub struct CompiledSchema {
    source: Arc<Value>,
    validator: Arc<jsonschema::Validator>,
}

impl std::fmt::Debug for CompiledSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledSchema")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl PartialEq for CompiledSchema {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// Where an instance broke a schema, and which rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON pointer into the instance.
    pub instance_path: String,
    /// The keyword that failed (`type`, `pattern`, `required`, …).
    pub keyword: String,
    /// For `required`: the missing property.
    pub missing_property: Option<String>,
    /// Human-readable description of what was expected.
    pub expected: String,
    /// The validator's message.
    pub message: String,
}

impl CompiledSchema {
    /// Checks that `source` is a JSON Schema and compiles it. Every error is a message
    /// prefixed by the JSON pointer (inside the schema) where it was found.
    pub fn compile(source: &Value) -> Result<CompiledSchema, Vec<(String, String)>> {
        if !source.is_object() && !source.is_boolean() {
            return Err(vec![(
                String::new(),
                "a JSON Schema must be an object".to_owned(),
            )]);
        }
        // The seed's examples carry `"$schema": ""`; an empty one means the default draft.
        let stripped;
        let effective = match source.get("$schema") {
            Some(Value::String(uri)) if uri.is_empty() => {
                let mut copy = source.clone();
                if let Some(object) = copy.as_object_mut() {
                    object.remove("$schema");
                }
                stripped = copy;
                &stripped
            }
            _ => source,
        };
        if let Some(Value::String(uri)) = effective.get("$schema")
            && !KNOWN_DRAFTS.contains(&uri.trim_end_matches('#'))
        {
            return Err(vec![(
                "/$schema".to_owned(),
                format!(
                    "unknown $schema '{uri}': use a JSON Schema draft URI (draft-04, -06, -07, 2019-09, 2020-12) or leave it out"
                ),
            )]);
        }
        if let Err(error) = jsonschema::meta::validate(effective) {
            return Err(vec![(
                error.instance_path().as_str().to_owned(),
                format!("not a valid JSON Schema: {error}"),
            )]);
        }
        let validator = jsonschema::options()
            .offline()
            .with_pattern_options(jsonschema::PatternOptions::regex())
            .build(effective)
            .map_err(|error| {
                vec![(
                    error.schema_path().as_str().to_owned(),
                    format!("the schema does not compile: {error}"),
                )]
            })?;
        Ok(CompiledSchema {
            source: Arc::new(source.clone()),
            validator: Arc::new(validator),
        })
    }

    /// The schema as registered.
    pub fn source(&self) -> &Value {
        &self.source
    }

    /// Whether an instance holds.
    pub fn is_valid(&self, instance: &Value) -> bool {
        self.validator.is_valid(instance)
    }

    /// Every violation, for error messages.
    pub fn violations(&self, instance: &Value) -> Vec<Violation> {
        self.validator
            .iter_errors(instance)
            .map(|error| {
                let kind = error.kind();
                let missing_property = match kind {
                    jsonschema::error::ValidationErrorKind::Required { property } => Some(
                        property
                            .as_str()
                            .map_or_else(|| property.to_string(), str::to_owned),
                    ),
                    _ => None,
                };
                Violation {
                    instance_path: error.instance_path().as_str().to_owned(),
                    keyword: kind.keyword().to_owned(),
                    missing_property,
                    expected: expected_text(kind),
                    message: error.to_string(),
                }
            })
            .collect()
    }
}

const KNOWN_DRAFTS: [&str; 10] = [
    "http://json-schema.org/draft-04/schema",
    "http://json-schema.org/draft-06/schema",
    "http://json-schema.org/draft-07/schema",
    "https://json-schema.org/draft/2019-09/schema",
    "https://json-schema.org/draft/2020-12/schema",
    "https://json-schema.org/draft-04/schema",
    "https://json-schema.org/draft-06/schema",
    "https://json-schema.org/draft-07/schema",
    "http://json-schema.org/draft/2019-09/schema",
    "http://json-schema.org/draft/2020-12/schema",
];

fn expected_text(kind: &jsonschema::error::ValidationErrorKind) -> String {
    use jsonschema::error::ValidationErrorKind as K;
    match kind {
        K::Type { kind } => match kind {
            jsonschema::error::TypeKind::Single(t) => format!("a value of type {t}"),
            jsonschema::error::TypeKind::Multiple(set) => {
                let names: Vec<String> = set.iter().map(|t| t.to_string()).collect();
                format!("a value of type {}", names.join(" or "))
            }
        },
        K::Enum { options } => format!("one of {options}"),
        K::Constant { expected_value } => format!("exactly {expected_value}"),
        K::Pattern { pattern } => format!("text matching {pattern}"),
        K::Required { property } => format!("a value for {property}"),
        K::Minimum { limit } => format!("a number >= {limit}"),
        K::Maximum { limit } => format!("a number <= {limit}"),
        K::ExclusiveMinimum { limit } => format!("a number > {limit}"),
        K::ExclusiveMaximum { limit } => format!("a number < {limit}"),
        K::MinLength { limit } => format!("at least {limit} characters"),
        K::MaxLength { limit } => format!("at most {limit} characters"),
        K::MultipleOf { multiple_of } => format!("a multiple of {multiple_of}"),
        K::Format { format } => format!("a valid {format}"),
        K::AdditionalProperties { unexpected } => {
            format!(
                "no properties other than those declared (found {})",
                unexpected.join(", ")
            )
        }
        K::AnyOf { .. } => "a value matching at least one of the anyOf schemas".to_owned(),
        K::OneOfNotValid { .. } | K::OneOfMultipleValid { .. } => {
            "a value matching exactly one of the oneOf schemas".to_owned()
        }
        K::Not { .. } => "a value that does not match the 'not' schema".to_owned(),
        other => format!("a value satisfying '{}'", other.keyword()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn compiles_and_validates_the_seeds_request_schema() {
        let schema = CompiledSchema::compile(&json!({
            "type": "object",
            "properties": {"primary_address": {"type": "string", "pattern": "^\\+(91|1)+[0-9]*$"}},
            "required": ["primary_address"]
        }))
        .expect("compiles");
        assert!(schema.is_valid(&json!({"primary_address": "+12345678901"})));
        assert!(!schema.is_valid(&json!({"primary_address": "+4412345678"})));
        let violations = schema.violations(&json!({}));
        assert_eq!(violations[0].keyword, "required");
        assert_eq!(violations[0].missing_property.as_deref(), Some("primary_address"));
    }

    #[test]
    fn rejects_invalid_schemas_and_regexes() {
        assert!(CompiledSchema::compile(&json!({"type": "nonsense"})).is_err());
        assert!(CompiledSchema::compile(&json!({"type": "string", "pattern": "(unclosed"})).is_err());
        assert!(CompiledSchema::compile(&json!([1, 2])).is_err());
        assert!(CompiledSchema::compile(&json!({"$schema": "http://example.com/x"})).is_err());
    }

    #[test]
    fn an_empty_schema_uri_means_the_default_draft() {
        let schema = CompiledSchema::compile(&json!({"$schema": "", "type": "object", "required": ["a"]}))
            .expect("compiles");
        assert!(!schema.is_valid(&json!({})));
    }

    #[test]
    fn never_resolves_remote_or_file_references() {
        assert!(CompiledSchema::compile(&json!({"$ref": "http://127.0.0.1:9/schema.json"})).is_err());
        assert!(CompiledSchema::compile(&json!({"$ref": "file:///etc/passwd"})).is_err());
    }
}
