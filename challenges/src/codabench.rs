//! Import of the fields Codabench's `competition.yaml` (version 2) shares with
//! our format: title, description, and phases with their dates. Everything
//! Codabench does not know (the dataset, the hardware target, the metric...)
//! comes from a fragment of our own format given alongside.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Map as Mapping, Value};

use crate::definition::Challenge;
use crate::error::{ChallengeError, Result};

/// Build a challenge from a Codabench `competition.yaml` and a YAML fragment of
/// our format with the fields Codabench lacks. Fields in the fragment win.
pub fn from_codabench_yaml(codabench: &str, ours: &str) -> Result<Challenge> {
    let source: Value = yaml::from_str(codabench)
        .map_err(|e| ChallengeError::Syntax(format!("competition.yaml: {e}")))?;
    let fragment: Value =
        yaml::from_str(ours).map_err(|e| ChallengeError::Syntax(format!("fragment: {e}")))?;
    if let Some(version) = source.get("version").and_then(Value::as_i64)
        && version != 2
    {
        return Err(ChallengeError::field(
            "version",
            format!("competition.yaml version {version}; only version 2 is read"),
        ));
    }
    let mut merged = Mapping::new();
    let title = source
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or_default();
    merged.insert("title".into(), title.into());
    merged.insert("slug".into(), slugify(title).into());
    if let Some(description) = source.get("description").and_then(Value::as_str) {
        merged.insert("description".into(), description.into());
    }
    let phases = source
        .get("phases")
        .and_then(Value::as_array)
        .map(|phases| {
            phases
                .iter()
                .enumerate()
                .map(|(i, p)| phase(i, p, phases.len()))
                .collect::<Result<Vec<_>>>()
        })
        .transpose()?;
    if let Some(phases) = phases {
        merged.insert("phases".into(), Value::Array(phases));
    }
    if let Value::Object(fragment) = fragment {
        for (key, value) in fragment {
            merged.insert(key, value);
        }
    }
    let challenge: Challenge = serde_json::from_value(Value::Object(merged))
        .map_err(|e| ChallengeError::Syntax(e.to_string()))?;
    challenge.validate()?;
    Ok(challenge)
}

/// A Codabench phase: name, start, end. The last phase scores the private test
/// split (hidden until published); earlier ones the public test split.
fn phase(index: usize, source: &Value, count: usize) -> Result<Value> {
    let mut phase = Mapping::new();
    let name = source
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("phase-{}", index + 1));
    phase.insert("name".into(), name.into());
    let split = if count > 1 && index == count - 1 {
        "private_test"
    } else {
        "public_test"
    };
    phase.insert("split".into(), split.into());
    for key in ["start", "end"] {
        if let Some(value) = source.get(key) {
            let at = parse_date(value).ok_or_else(|| {
                ChallengeError::field(format!("phases[{index}].{key}"), "not a date")
            })?;
            let ours = if key == "start" { "starts" } else { "ends" };
            phase.insert(ours.into(), at.to_rfc3339().into());
        }
    }
    Ok(Value::Object(phase))
}

/// Codabench writes dates as `2024-01-31`, `2024-01-31 12:00` or RFC 3339.
fn parse_date(value: &Value) -> Option<DateTime<Utc>> {
    let text = value.as_str()?.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(at) = NaiveDateTime::parse_from_str(text, format) {
            return Some(at.and_utc());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()?
        .and_hms_opt(0, 0, 0)
        .map(|at| at.and_utc())
}

fn slugify(title: &str) -> String {
    let mut slug = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.truncate(64);
    slug.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_and_dates() {
        assert_eq!(
            slugify("GW Anomaly: Challenge 2026!"),
            "gw-anomaly-challenge-2026"
        );
        let d = parse_date(&Value::from("2026-03-01")).unwrap();
        assert_eq!(d.to_rfc3339(), "2026-03-01T00:00:00+00:00");
        assert!(parse_date(&Value::from("2026-03-01 12:30")).is_some());
        assert!(parse_date(&Value::from("yesterday")).is_none());
    }
}
