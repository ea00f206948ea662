//! Templates: a publisher parameter's value, literal text with `{{field}}` and
//! `{{SHA256:field}}` expressions.
//!
//! A template is parsed and its field names resolved once, at registration; rendering walks the
//! compiled segments and never parses again.

use std::borrow::Cow;

use serde_json::Value;

use crate::fields::{FieldRef, FieldValue, FieldValues};

/// One piece of a compiled template.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    /// Literal text.
    Literal(Box<str>),
    /// A field's value, or the lower-case hex SHA-256 of it.
    Field {
        /// The field.
        field: FieldRef,
        /// `{{SHA256:field}}` rather than `{{field}}`.
        sha256: bool,
    },
}

/// A template as written, before its names are resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum RawSegment {
    /// Literal text.
    Literal(String),
    /// An expression between braces.
    Expression {
        /// The field name.
        name: String,
        /// Whether it was `SHA256:name`.
        sha256: bool,
    },
}

/// Why a template cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{{` without a matching `}}`.
    #[error("'{{{{' at byte {0} has no closing '}}}}'")]
    Unclosed(usize),
    /// Nothing, or not a field name, between the braces.
    #[error("'{{{{{0}}}}}' is not a template field: expected {{{{name}}}} or {{{{SHA256:name}}}}")]
    BadExpression(String),
    /// A name that the Add-on cannot be given.
    #[error("{0}")]
    Unavailable(String),
}

fn is_field_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Splits a template into literal text and expressions.
pub fn parse(text: &str) -> Result<Vec<RawSegment>, TemplateError> {
    let mut segments = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            segments.push(RawSegment::Literal(rest[..start].to_owned()));
        }
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or(TemplateError::Unclosed(offset + start))?;
        let inner = after[..end].trim();
        let (name, sha256) = match inner.split_once(':') {
            Some((function, name)) if function.trim() == "SHA256" => (name.trim(), true),
            Some(_) => return Err(TemplateError::BadExpression(inner.to_owned())),
            None => (inner, false),
        };
        if !is_field_name(name) {
            return Err(TemplateError::BadExpression(inner.to_owned()));
        }
        segments.push(RawSegment::Expression {
            name: name.to_owned(),
            sha256,
        });
        let consumed = start + 2 + end + 2;
        offset += consumed;
        rest = &rest[consumed..];
    }
    if !rest.is_empty() {
        segments.push(RawSegment::Literal(rest.to_owned()));
    }
    Ok(segments)
}

/// A compiled template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    segments: Vec<Segment>,
}

/// A field a template needs that this invocation does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingField(pub FieldRef);

impl Template {
    /// Compiles a template, resolving every name with `resolve` (which says why a name is not
    /// available). Every unavailable name is reported.
    pub fn compile(
        text: &str,
        mut resolve: impl FnMut(&str, bool) -> Result<FieldRef, String>,
    ) -> Result<Template, Vec<TemplateError>> {
        let raw = parse(text).map_err(|error| vec![error])?;
        let mut errors = Vec::new();
        let mut segments = Vec::with_capacity(raw.len());
        for segment in raw {
            match segment {
                RawSegment::Literal(text) => segments.push(Segment::Literal(text.into())),
                RawSegment::Expression { name, sha256 } => match resolve(&name, sha256) {
                    Ok(field) => segments.push(Segment::Field { field, sha256 }),
                    Err(reason) => errors.push(TemplateError::Unavailable(reason)),
                },
            }
        }
        if errors.is_empty() {
            Ok(Template { segments })
        } else {
            Err(errors)
        }
    }

    /// A template that is only literal text (a constant).
    pub fn constant(text: &str) -> Template {
        Template {
            segments: vec![Segment::Literal(text.into())],
        }
    }

    /// The compiled segments.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The fields the template uses.
    pub fn fields(&self) -> impl Iterator<Item = &FieldRef> {
        self.segments.iter().filter_map(|segment| match segment {
            Segment::Field { field, .. } => Some(field),
            Segment::Literal(_) => None,
        })
    }

    /// If the template is exactly one unhashed field, that field.
    pub fn single_field(&self) -> Option<&FieldRef> {
        match self.segments.as_slice() {
            [Segment::Field { field, sha256: false }] => Some(field),
            _ => None,
        }
    }

    /// Renders the template as text.
    pub fn render_text(&self, values: &FieldValues<'_>) -> Result<String, MissingField> {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Field { field, sha256 } => {
                    let value = values.get(field).ok_or_else(|| MissingField(field.clone()))?;
                    if *sha256 {
                        out.push_str(&crate::signature::sha256_hex(&value.hash_input()));
                    } else {
                        match value.to_text() {
                            Some(text) => out.push_str(&text),
                            None => return Err(MissingField(field.clone())),
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// Renders the template as a JSON value: a template that is exactly one field keeps that
    /// field's type (a boolean configuration field stays a boolean); anything else is text.
    pub fn render_json(&self, values: &FieldValues<'_>) -> Result<Value, MissingField> {
        if let Some(field) = self.single_field() {
            let value = values.get(field).ok_or_else(|| MissingField(field.clone()))?;
            return value.to_json().ok_or_else(|| MissingField(field.clone()));
        }
        self.render_text(values).map(Value::String)
    }

    /// The field's value for a template that is exactly one field (used for the audio part).
    pub fn single_value<'v>(&self, values: &FieldValues<'v>) -> Option<FieldValue<'v>> {
        self.single_field().and_then(|field| values.get(field))
    }
}

/// Renders a constant JSON scalar from a manifest as text.
pub fn scalar_text(value: &Value) -> Cow<'_, str> {
    match value {
        Value::String(text) => Cow::Borrowed(text),
        other => Cow::Owned(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::{Map, json};
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::fields::BuiltinField;

    fn resolve(name: &str, _sha: bool) -> Result<FieldRef, String> {
        if let Some(builtin) = BuiltinField::parse(name) {
            return Ok(FieldRef::Builtin(builtin));
        }
        match name {
            "language" | "combine" => Ok(FieldRef::Config(name.into())),
            "dob" => Ok(FieldRef::Runtime(name.into())),
            other => Err(format!("unknown field {other}")),
        }
    }

    fn values<'a>(config: &'a Map<String, Value>, runtime: &'a HashMap<String, String>) -> FieldValues<'a> {
        FieldValues {
            request_sid: "XR0123456789abcdef0123456789abcdef",
            unix_timestamp: 1_700_000_000,
            primary_address: Some("+18778894546"),
            secondary_address: None,
            body: None,
            audio: None,
            configuration: config,
            runtime,
        }
    }

    #[test]
    fn parses_literals_and_expressions() {
        assert_eq!(
            parse("a{{ primary_address }}b{{SHA256:body}}").expect("parses"),
            vec![
                RawSegment::Literal("a".into()),
                RawSegment::Expression {
                    name: "primary_address".into(),
                    sha256: false
                },
                RawSegment::Literal("b".into()),
                RawSegment::Expression {
                    name: "body".into(),
                    sha256: true
                },
            ]
        );
        assert_eq!(
            parse("plain").expect("parses"),
            vec![RawSegment::Literal("plain".into())]
        );
    }

    #[test]
    fn rejects_bad_syntax() {
        assert_eq!(parse("x{{primary_address"), Err(TemplateError::Unclosed(1)));
        assert!(matches!(parse("{{}}"), Err(TemplateError::BadExpression(_))));
        assert!(matches!(
            parse("{{MD5:body}}"),
            Err(TemplateError::BadExpression(_))
        ));
        assert!(matches!(parse("{{a b}}"), Err(TemplateError::BadExpression(_))));
    }

    #[test]
    fn compile_reports_every_unknown_name() {
        let errors =
            Template::compile("{{nope}}-{{primary_address}}-{{other}}", resolve).expect_err("unknown names");
        assert_eq!(errors.len(), 2);
    }

    #[test]
    fn renders_text_and_hashes() {
        let config = Map::new();
        let runtime = HashMap::new();
        let values = values(&config, &runtime);
        let template = Template::compile("n={{primary_address}}", resolve).expect("compiles");
        assert_eq!(template.render_text(&values).expect("renders"), "n=+18778894546");
        let hashed = Template::compile("{{SHA256:primary_address}}", resolve).expect("compiles");
        assert_eq!(
            hashed.render_text(&values).expect("renders"),
            hex::encode(Sha256::digest(b"+18778894546"))
        );
    }

    #[test]
    fn json_rendering_keeps_configuration_types() {
        let config = json!({"combine": true, "language": "en_US"})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let runtime = HashMap::new();
        let values = values(&config, &runtime);
        let combine = Template::compile("{{combine}}", resolve).expect("compiles");
        assert_eq!(combine.render_json(&values).expect("renders"), json!(true));
        let timestamp = Template::compile("{{unix_timestamp}}", resolve).expect("compiles");
        assert_eq!(
            timestamp.render_json(&values).expect("renders"),
            json!(1_700_000_000)
        );
        let mixed = Template::compile("{{language}}-x", resolve).expect("compiles");
        assert_eq!(mixed.render_json(&values).expect("renders"), json!("en_US-x"));
    }

    #[test]
    fn missing_fields_are_reported() {
        let config = Map::new();
        let runtime = HashMap::new();
        let values = values(&config, &runtime);
        let template = Template::compile("{{dob}}", resolve).expect("compiles");
        assert_eq!(
            template.render_text(&values),
            Err(MissingField(FieldRef::Runtime("dob".into())))
        );
    }
}
