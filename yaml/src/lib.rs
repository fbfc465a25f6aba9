//! YAML read from users (challenge definitions, dataset manifests, precision
//! configurations), with every resource bounded before anything is built.
//!
//! Anchors and aliases are refused outright: they are the way a small document
//! expands into a large one (a 100 KB anchored scalar repeated by 2,000 aliases
//! is 200 MB), and none of our formats needs them. The input size, the nesting
//! depth and the number of nodes are capped as well, so the memory a parse can
//! take is a small multiple of [`MAX_INPUT_BYTES`].
//!
//! ```
//! #[derive(serde::Deserialize)]
//! struct Point { x: i32 }
//! let p: Point = yaml::from_str("x: 3").unwrap();
//! assert_eq!(p.x, 3);
//! let bomb = "a: &big [1, 2]\nb: *big\n";
//! let err = yaml::from_str::<serde_json::Value>(bomb).unwrap_err();
//! assert!(err.to_string().contains("anchors and aliases"));
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The largest YAML document read, in bytes.
pub const MAX_INPUT_BYTES: usize = 1 << 20;
/// The deepest nesting of mappings and sequences read.
pub const MAX_DEPTH: usize = 32;
/// The most nodes (scalars, mappings, sequences) in one document.
pub const MAX_NODES: usize = 100_000;

/// Why a YAML document was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the YAML document is {size} bytes, over the limit of {MAX_INPUT_BYTES} bytes")]
    TooLarge { size: usize },
    #[error(
        "YAML anchors and aliases (`&name`, `*name`) are not accepted; write the value out where it is used"
    )]
    Aliases,
    #[error("the YAML document is too large or too deeply nested: {0}")]
    Budget(String),
    #[error("{0}")]
    Syntax(String),
    #[error("cannot write YAML: {0}")]
    Write(String),
}

/// Parse a YAML (or JSON) document into `T`, within the limits above.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    if text.len() > MAX_INPUT_BYTES {
        return Err(Error::TooLarge { size: text.len() });
    }
    serde_saphyr::from_str_with_options(text, options()).map_err(classify)
}

/// Write `value` as YAML.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, Error> {
    serde_saphyr::to_string(value).map_err(|e| Error::Write(e.to_string()))
}

fn options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_aliases = 0;
    budget.max_anchors = 0;
    budget.max_depth = MAX_DEPTH;
    budget.max_nodes = MAX_NODES;
    budget.max_documents = 1;
    budget.max_total_scalar_bytes = MAX_INPUT_BYTES;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    // YAML 1.2 booleans (`true`/`false` only), as serde_yaml read them: `y`,
    // `no` and `on` stay strings (a phase named `no` is a name).
    options.strict_booleans = true;
    options
}

/// Budget breaches on anchors or aliases get their own message, so the user
/// learns what to change; other messages are the parser's, with its location.
fn classify(error: serde_saphyr::Error) -> Error {
    let text = error.to_string();
    let lower = text.to_lowercase();
    if lower.contains("budget") || lower.contains("limit") {
        if lower.contains("alias") || lower.contains("anchor") {
            return Error::Aliases;
        }
        return Error::Budget(first_line(&text));
    }
    Error::Syntax(text)
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn plain_documents_parse() {
        let v: Value = from_str("a: 1\nb: [x, y]\nc: {d: true}\n").unwrap();
        assert_eq!(v["b"][1], "y");
        assert_eq!(v["c"]["d"], true);
        let v: Value = from_str(r#"{"json": [1, 2.5]}"#).unwrap();
        assert_eq!(v["json"][1], 2.5);
    }

    #[test]
    fn aliases_and_anchors_are_refused() {
        let big = "x".repeat(100_000);
        let mut bomb = format!("title: &big {big}\norganizers:\n");
        for _ in 0..2000 {
            bomb.push_str("  - *big\n");
        }
        let err = from_str::<Value>(&bomb).unwrap_err();
        assert!(matches!(err, Error::Aliases), "{err}");
        let err = from_str::<Value>("a: &x 1\n").unwrap_err();
        assert!(matches!(err, Error::Aliases), "{err}");
        // A merge key needs an alias, so it is refused the same way.
        let err = from_str::<Value>("base: &b {x: 1}\nmore:\n  <<: *b\n").unwrap_err();
        assert!(matches!(err, Error::Aliases), "{err}");
    }

    #[test]
    fn size_depth_and_node_limits() {
        let long = "a: ".to_owned() + &"x".repeat(MAX_INPUT_BYTES);
        assert!(matches!(
            from_str::<Value>(&long),
            Err(Error::TooLarge { .. })
        ));
        let deep = "[".repeat(MAX_DEPTH + 10) + &"]".repeat(MAX_DEPTH + 10);
        assert!(matches!(from_str::<Value>(&deep), Err(Error::Budget(_))));
        let many = "[".to_owned() + &"1,".repeat(MAX_NODES + 10) + "1]";
        assert!(matches!(from_str::<Value>(&many), Err(Error::Budget(_))));
    }

    #[test]
    fn syntax_errors_name_the_place() {
        let err = from_str::<Value>("a: [1, 2\n").unwrap_err();
        assert!(matches!(err, Error::Syntax(_)), "{err}");
    }

    #[test]
    fn round_trip() {
        let v: Value = from_str("a: 1\nb: [x, 'y: z']\n").unwrap();
        let text = to_string(&v).unwrap();
        let back: Value = from_str(&text).unwrap();
        assert_eq!(v, back);
    }
}
