//! BibTeX and CITATION.cff (Citation File Format 1.2.0).

use serde_json::{Map, Value, json};

use super::{doi_url, effective_doi, licence_info, version_url, year};
use crate::error::Result;
use crate::model::{Creator, DatasetMeta, VersionMeta};

/// Escapes BibTeX special characters.
fn bib_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\textbackslash{}"),
            '{' | '}' | '&' | '%' | '$' | '#' | '_' => {
                out.push('\\');
                out.push(ch);
            }
            '~' => out.push_str("\\textasciitilde{}"),
            '^' => out.push_str("\\textasciicircum{}"),
            '\n' | '\r' => out.push(' '),
            _ => out.push(ch),
        }
    }
    out
}

fn bib_author(c: &Creator) -> String {
    if c.organization {
        return format!("{{{}}}", bib_escape(&c.name));
    }
    match c.split_name() {
        (Some(f), Some(g)) => format!("{}, {}", bib_escape(&f), bib_escape(&g)),
        (Some(f), None) => bib_escape(&f),
        _ => format!("{{{}}}", bib_escape(&c.name)),
    }
}

/// Citation key: slug and version with non-alphanumerics replaced by `_`.
pub fn bibtex_key(ds: &DatasetMeta, v: &VersionMeta) -> String {
    format!("{}_{}", ds.slug, v.version)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// BibTeX `@misc` entry for a version.
pub fn bibtex(ds: &DatasetMeta, v: &VersionMeta, base_url: &str) -> String {
    let mut lines = vec![
        format!(
            "  author = {{{}}}",
            ds.creators
                .iter()
                .map(bib_author)
                .collect::<Vec<_>>()
                .join(" and ")
        ),
        format!("  title = {{{{{}}}}}", bib_escape(&ds.title)),
        format!("  year = {{{}}}", year(v)),
        format!("  version = {{{}}}", bib_escape(&v.version)),
        format!("  publisher = {{{}}}", bib_escape(&ds.publisher)),
        format!("  howpublished = {{Dataset}}"),
    ];
    if let Some(doi) = effective_doi(ds, v) {
        lines.push(format!("  doi = {{{}}}", bib_escape(doi)));
    }
    lines.push(format!(
        "  url = {{{}}}",
        version_url(base_url, &ds.slug, &v.version)
    ));
    if !ds.keywords.is_empty() {
        lines.push(format!(
            "  keywords = {{{}}}",
            bib_escape(&ds.keywords.join(", "))
        ));
    }
    format!("@misc{{{},\n{}\n}}\n", bibtex_key(ds, v), lines.join(",\n"))
}

/// CITATION.cff (YAML, CFF 1.2.0) for a version.
pub fn citation_cff(ds: &DatasetMeta, v: &VersionMeta, base_url: &str) -> Result<String> {
    let (licence_url, _) = licence_info(&ds.licence);
    let authors: Vec<Value> = ds
        .creators
        .iter()
        .map(|c| {
            let mut m = Map::new();
            if c.organization {
                m.insert("name".into(), json!(c.name));
            } else {
                match c.split_name() {
                    (Some(f), g) => {
                        m.insert("family-names".into(), json!(f));
                        if let Some(g) = g {
                            m.insert("given-names".into(), json!(g));
                        }
                    }
                    (None, _) => {
                        m.insert("name".into(), json!(c.name));
                    }
                }
            }
            if let Some(o) = c.orcid_url() {
                m.insert("orcid".into(), json!(o));
            }
            if let Some(a) = &c.affiliation {
                m.insert("affiliation".into(), json!(a));
            }
            Value::Object(m)
        })
        .collect();
    let mut root = Map::new();
    root.insert("cff-version".into(), json!("1.2.0"));
    root.insert(
        "message".into(),
        json!("If you use this dataset, please cite it using the metadata from this file."),
    );
    root.insert("type".into(), json!("dataset"));
    root.insert("title".into(), json!(ds.title));
    root.insert("abstract".into(), json!(ds.description));
    root.insert("authors".into(), Value::Array(authors));
    root.insert("version".into(), json!(v.version));
    root.insert(
        "date-released".into(),
        json!(v.created.format("%Y-%m-%d").to_string()),
    );
    if let Some(doi) = effective_doi(ds, v) {
        root.insert("doi".into(), json!(doi));
        root.insert(
            "identifiers".into(),
            json!([{"type": "doi", "value": doi, "description": "DOI of this version"},
                   {"type": "url", "value": version_url(base_url, &ds.slug, &v.version)}]),
        );
    } else {
        root.insert(
            "identifiers".into(),
            json!([{"type": "url", "value": version_url(base_url, &ds.slug, &v.version)}]),
        );
    }
    root.insert(
        "url".into(),
        json!(version_url(base_url, &ds.slug, &v.version)),
    );
    if is_spdx_like(&ds.licence) {
        root.insert("license".into(), json!(ds.licence));
    } else {
        root.insert("license-url".into(), json!(licence_url));
    }
    if !ds.keywords.is_empty() {
        root.insert("keywords".into(), json!(ds.keywords));
    }
    if let Some(doi) = effective_doi(ds, v) {
        root.insert("repository".into(), json!(doi_url(doi)));
    }
    Ok(yaml::to_string(&Value::Object(root))?)
}

fn is_spdx_like(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '+')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::fixtures;

    #[test]
    fn bibtex_escapes_and_lists_authors() {
        let b = bibtex(
            &fixtures::dataset(),
            &fixtures::version(),
            "https://a.example",
        );
        assert!(b.starts_with("@misc{toy_1_0_0,\n"), "{b}");
        assert!(b.contains("author = {Doe, Jane and {FastML Arena}}"), "{b}");
        assert!(b.contains("title = {{Toy \\& \\{test\\} dataset}}"), "{b}");
        assert!(b.contains("year = {2025}"), "{b}");
        assert!(b.contains("doi = {10.5281/zenodo.1234}"), "{b}");
        assert_eq!(
            b.matches('{').count() - b.matches("\\{").count(),
            b.matches('}').count() - b.matches("\\}").count()
        );
    }

    #[test]
    fn cff_is_yaml_with_required_keys() {
        let s = citation_cff(
            &fixtures::dataset(),
            &fixtures::version(),
            "https://a.example",
        )
        .expect("cff");
        let v: serde_json::Value = yaml::from_str(&s).expect("yaml");
        for k in ["cff-version", "message", "title", "authors"] {
            assert!(v.get(k).is_some(), "missing {k}: {s}");
        }
        assert_eq!(v["cff-version"].as_str(), Some("1.2.0"));
        assert_eq!(v["authors"][0]["family-names"].as_str(), Some("Doe"));
        assert_eq!(
            v["authors"][0]["orcid"].as_str(),
            Some("https://orcid.org/0000-0002-1825-0097")
        );
        assert_eq!(v["authors"][1]["name"].as_str(), Some("FastML Arena"));
        assert_eq!(v["license"].as_str(), Some("CC-BY-4.0"));
        assert_eq!(v["date-released"].as_str(), Some("2025-03-04"));
    }
}
