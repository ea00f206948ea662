//! Response cleaning: JSONPaths whose matches are deleted from a publisher's response before it
//! reaches the developer (API keys, usage counters, vendor URIs).
//!
//! Paths are parsed once at registration. At run time every path is matched against the
//! response as received, the matches are de-duplicated (a path such as `$.a[0,0]` matches the
//! same node twice) and deleted deepest first, and within one array from the highest index
//! down, so that no deletion shifts another's target.

use std::cmp::Ordering;

use jsonpath_rust::parser::model::{JpQuery, Segment, Selector};
use jsonpath_rust::parser::parse_json_path;
use jsonpath_rust::query::js_path_process;
use serde_json::Value;

/// A compiled JSONPath.
#[derive(Debug, Clone)]
pub struct JsonPathExpr {
    source: String,
    query: JpQuery,
}

impl PartialEq for JsonPathExpr {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// One step of a concrete location in a document.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

impl PartialOrd for Step {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Step {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Step::Key(a), Step::Key(b)) => a.cmp(b),
            (Step::Index(a), Step::Index(b)) => a.cmp(b),
            (Step::Key(_), Step::Index(_)) => Ordering::Less,
            (Step::Index(_), Step::Key(_)) => Ordering::Greater,
        }
    }
}

impl JsonPathExpr {
    /// Parses a JSONPath. `$` alone is refused: it would delete the whole response.
    pub fn parse(source: &str) -> Result<JsonPathExpr, String> {
        let query = parse_json_path(source).map_err(|error| format!("not a JSONPath: {error}"))?;
        if query.segments.is_empty() {
            return Err("'$' selects the whole response; name the elements to delete".to_owned());
        }
        Ok(JsonPathExpr {
            source: source.to_owned(),
            query,
        })
    }

    /// The path as registered.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the path matches anything in `document`.
    pub fn matches(&self, document: &Value) -> bool {
        js_path_process(&self.query, document).is_ok_and(|found| !found.is_empty())
    }

    fn locations(&self, document: &Value) -> Vec<Vec<Step>> {
        let Ok(found) = js_path_process(&self.query, document) else {
            return Vec::new();
        };
        found
            .into_iter()
            .filter_map(|reference| normalized_steps(&reference.path()))
            .collect()
    }
}

/// Turns a normalized path (`$['a'][0]`), as the query reports its matches, into steps.
fn normalized_steps(path: &str) -> Option<Vec<Step>> {
    let query = parse_json_path(path).ok()?;
    query
        .segments
        .iter()
        .map(|segment| match segment {
            Segment::Selector(Selector::Name(name)) => Some(Step::Key(name.clone())),
            Segment::Selector(Selector::Index(index)) => usize::try_from(*index).ok().map(Step::Index),
            _ => None,
        })
        .collect()
}

/// Deletes everything the paths match. Returns how many elements were removed.
pub fn clean(document: &mut Value, paths: &[JsonPathExpr]) -> usize {
    let mut targets: Vec<Vec<Step>> = paths.iter().flat_map(|path| path.locations(document)).collect();
    // Descending order puts descendants before their ancestors and, within one array, higher
    // indices before lower ones; equal locations become neighbours and are de-duplicated.
    targets.sort_unstable_by(|a, b| b.cmp(a));
    targets.dedup();
    targets.iter().filter(|target| delete(document, target)).count()
}

fn delete(document: &mut Value, target: &[Step]) -> bool {
    let Some((last, parents)) = target.split_last() else {
        return false;
    };
    let mut node = document;
    for step in parents {
        node = match (step, node) {
            (Step::Key(key), Value::Object(map)) => match map.get_mut(key) {
                Some(child) => child,
                None => return false,
            },
            (Step::Index(index), Value::Array(items)) => match items.get_mut(*index) {
                Some(child) => child,
                None => return false,
            },
            _ => return false,
        };
    }
    match (last, node) {
        (Step::Key(key), Value::Object(map)) => map.shift_remove(key).is_some(),
        (Step::Index(index), Value::Array(items)) if *index < items.len() => {
            items.remove(*index);
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn paths(sources: &[&str]) -> Vec<JsonPathExpr> {
        sources
            .iter()
            .map(|s| JsonPathExpr::parse(s).expect("parses"))
            .collect()
    }

    #[test]
    fn deletes_keys_and_nested_elements() {
        let mut doc =
            json!({"api_key": "secret", "usage": {"count": 3}, "result": {"score": 1, "uri": "/x"}});
        let removed = clean(&mut doc, &paths(&["$.api_key", "$.usage", "$.result.uri"]));
        assert_eq!(removed, 3);
        assert_eq!(doc, json!({"result": {"score": 1}}));
    }

    #[test]
    fn a_node_matched_twice_is_deleted_once() {
        let mut doc = json!({"a": [10, 11, 12]});
        assert_eq!(clean(&mut doc, &paths(&["$.a[0,0]"])), 1);
        assert_eq!(doc, json!({"a": [11, 12]}));
    }

    #[test]
    fn overlapping_paths_delete_each_node_once() {
        let mut doc = json!({"a": [10, 11, 12, 13]});
        assert_eq!(clean(&mut doc, &paths(&["$.a[1]", "$.a[1,3]", "$.a[3]"])), 2);
        assert_eq!(doc, json!({"a": [10, 12]}));
    }

    #[test]
    fn array_deletions_do_not_shift_each_other() {
        let mut doc = json!({"items": [{"k": 1}, {"k": 2}, {"k": 3}]});
        assert_eq!(
            clean(&mut doc, &paths(&["$.items[0]", "$.items[2]", "$.items[1].k"])),
            3
        );
        assert_eq!(doc, json!({"items": [{}]}));
    }

    #[test]
    fn wildcards_and_descendants() {
        let mut doc = json!({"a": {"secret": 1, "b": {"secret": 2}}, "list": [{"secret": 3, "v": 1}]});
        clean(&mut doc, &paths(&["$..secret"]));
        assert_eq!(doc, json!({"a": {"b": {}}, "list": [{"v": 1}]}));
    }

    #[test]
    fn keys_with_quotes_and_slashes() {
        let mut doc = json!({"it's": 1, "a/b": 2, "keep": 3});
        clean(&mut doc, &paths(&["$[\"it's\"]", "$['a/b']"]));
        assert_eq!(doc, json!({"keep": 3}));
    }

    #[test]
    fn rejects_unparsable_paths_and_the_root() {
        assert!(JsonPathExpr::parse("$.a[").is_err());
        assert!(JsonPathExpr::parse("a.b").is_err());
        assert!(JsonPathExpr::parse("$").is_err());
    }

    #[test]
    fn nothing_matched_changes_nothing() {
        let mut doc = json!({"a": 1});
        assert_eq!(clean(&mut doc, &paths(&["$.b", "$.a.c"])), 0);
        assert_eq!(doc, json!({"a": 1}));
    }
}
