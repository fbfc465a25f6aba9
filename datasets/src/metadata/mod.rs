//! FAIR metadata writers: pure functions from [`DatasetMeta`] + [`VersionMeta`] + a base
//! URL to strings or JSON values.
//!
//! URL scheme (relative to the server's public base URL, trailing `/` ignored):
//! - dataset page: `{base}/datasets/{slug}`
//! - version page: `{base}/datasets/{slug}/versions/{version}`
//! - a file: `{base}/api/v1/datasets/{slug}/versions/{version}/splits/{split}/files/{name}`
//!   (unless [`FileMeta::content_url`] is set)
//! - Croissant: `{base}/api/v1/datasets/{slug}/versions/{version}/croissant`

pub mod citation;
pub mod croissant;
pub mod datacite;
pub mod schema_org;

use crate::model::{DatasetMeta, FileMeta, SplitName, VersionMeta};

fn trim(base: &str) -> &str {
    base.trim_end_matches('/')
}

pub fn dataset_url(base: &str, slug: &str) -> String {
    format!("{}/datasets/{slug}", trim(base))
}

pub fn version_url(base: &str, slug: &str, version: &str) -> String {
    format!("{}/datasets/{slug}/versions/{version}", trim(base))
}

pub fn file_url(base: &str, slug: &str, version: &str, split: SplitName, name: &str) -> String {
    format!(
        "{}/api/v1/datasets/{slug}/versions/{version}/splits/{}/files/{name}",
        trim(base),
        split.as_str()
    )
}

pub fn croissant_url(base: &str, slug: &str, version: &str) -> String {
    format!(
        "{}/api/v1/datasets/{slug}/versions/{version}/croissant",
        trim(base)
    )
}

/// Where a file is downloaded from: its explicit `content_url` or [`file_url`].
pub fn content_url(
    base: &str,
    ds: &DatasetMeta,
    v: &VersionMeta,
    split: SplitName,
    f: &FileMeta,
) -> String {
    f.content_url
        .clone()
        .unwrap_or_else(|| file_url(base, &ds.slug, &v.version, split, &f.name))
}

/// `https://doi.org/{doi}` for a bare DOI (a DOI already given as URL is kept).
pub fn doi_url(doi: &str) -> String {
    let bare = bare_doi(doi);
    format!("https://doi.org/{bare}")
}

/// DOI without resolver prefix.
pub fn bare_doi(doi: &str) -> &str {
    doi.trim()
        .trim_start_matches("https://doi.org/")
        .trim_start_matches("http://doi.org/")
        .trim_start_matches("doi:")
}

/// The DOI that identifies this version: the version DOI, else the dataset's concept DOI.
pub fn effective_doi<'a>(ds: &'a DatasetMeta, v: &'a VersionMeta) -> Option<&'a str> {
    v.doi.as_deref().or(ds.doi.as_deref()).map(bare_doi)
}

/// Canonical URL and human name of an SPDX licence identifier.
pub fn licence_info(spdx: &str) -> (String, String) {
    let known: &[(&str, &str, &str)] = &[
        (
            "CC-BY-4.0",
            "https://creativecommons.org/licenses/by/4.0/",
            "Creative Commons Attribution 4.0 International",
        ),
        (
            "CC-BY-SA-4.0",
            "https://creativecommons.org/licenses/by-sa/4.0/",
            "Creative Commons Attribution Share Alike 4.0 International",
        ),
        (
            "CC-BY-NC-4.0",
            "https://creativecommons.org/licenses/by-nc/4.0/",
            "Creative Commons Attribution Non Commercial 4.0 International",
        ),
        (
            "CC0-1.0",
            "https://creativecommons.org/publicdomain/zero/1.0/",
            "Creative Commons Zero v1.0 Universal",
        ),
        (
            "ODbL-1.0",
            "https://opendatacommons.org/licenses/odbl/1-0/",
            "Open Data Commons Open Database License v1.0",
        ),
        ("MIT", "https://opensource.org/licenses/MIT", "MIT License"),
        (
            "Apache-2.0",
            "https://www.apache.org/licenses/LICENSE-2.0",
            "Apache License 2.0",
        ),
    ];
    known
        .iter()
        .find(|(id, _, _)| id.eq_ignore_ascii_case(spdx))
        .map(|(_, url, name)| (url.to_string(), name.to_string()))
        .unwrap_or_else(|| {
            (
                format!("https://spdx.org/licenses/{spdx}.html"),
                spdx.to_string(),
            )
        })
}

/// Year of the version's creation.
pub fn year(v: &VersionMeta) -> i32 {
    use chrono::Datelike;
    v.created.year()
}

#[cfg(test)]
pub(crate) mod fixtures {
    use crate::model::*;
    use chrono::TimeZone;

    pub fn dataset() -> DatasetMeta {
        DatasetMeta {
            slug: "toy".into(),
            title: "Toy & {test} dataset".into(),
            description: "A toy dataset <for> tests.".into(),
            keywords: vec!["anomaly detection".into(), "toy".into()],
            domain: "testing".into(),
            licence: "CC-BY-4.0".into(),
            creators: vec![
                Creator {
                    name: "Doe, Jane".into(),
                    given_name: Some("Jane".into()),
                    family_name: Some("Doe".into()),
                    orcid: Some("0000-0002-1825-0097".into()),
                    affiliation: Some("Example University".into()),
                    organization: false,
                },
                Creator {
                    name: "FastML Arena".into(),
                    given_name: None,
                    family_name: None,
                    orcid: None,
                    affiliation: None,
                    organization: true,
                },
            ],
            doi: Some("10.5281/zenodo.1234".into()),
            publisher: "FastML Arena".into(),
            rai: Rai {
                data_collection: Some("Simulated.".into()),
                data_biases: vec!["None known.".into()],
                personal_sensitive_information: vec!["None.".into()],
                data_use_cases: vec!["Benchmarking.".into()],
                ..Rai::default()
            },
        }
    }

    pub fn version() -> VersionMeta {
        let file = |name: &str, labels: bool| FileMeta {
            name: name.into(),
            sha256: "ab".repeat(32),
            size: 1234,
            rows: 10,
            columns: {
                let mut c = vec![
                    ColumnSchema::from_field(
                        &FeatureSpec::scalar("id", Dtype::Int64, Role::Id, "id").arrow_field(),
                    ),
                    ColumnSchema::from_field(
                        &FeatureSpec::tensor("x", Dtype::Float32, &[2, 3], Role::Feature, "x")
                            .arrow_field(),
                    ),
                ];
                if labels {
                    c.push(ColumnSchema::from_field(
                        &FeatureSpec::scalar("y", Dtype::Bool, Role::Label, "y").arrow_field(),
                    ));
                }
                c
            },
            content_url: None,
        };
        VersionMeta {
            version: "1.0.0".into(),
            created: chrono::Utc
                .with_ymd_and_hms(2025, 3, 4, 5, 6, 7)
                .single()
                .unwrap_or_default(),
            changelog: "First.".into(),
            content_hash: "cd".repeat(32),
            features: vec![
                FeatureSpec::scalar("id", Dtype::Int64, Role::Id, "Record id"),
                FeatureSpec::tensor("x", Dtype::Float32, &[2, 3], Role::Feature, "Input"),
                FeatureSpec::scalar("y", Dtype::Bool, Role::Label, "Anomaly flag"),
            ],
            splits: vec![
                SplitMeta {
                    name: SplitName::Train,
                    visibility: Visibility::Public,
                    rows: 10,
                    files: vec![file("train.parquet", true)],
                    stripped_files: vec![],
                    stats: vec![],
                },
                SplitMeta {
                    name: SplitName::PublicTest,
                    visibility: Visibility::LabelsHidden,
                    rows: 10,
                    files: vec![file("public_test.parquet", true)],
                    stripped_files: vec![file("public_test.parquet", false)],
                    stats: vec![],
                },
                SplitMeta {
                    name: SplitName::PrivateTest,
                    visibility: Visibility::Private,
                    rows: 10,
                    files: vec![file("private_test.parquet", true)],
                    stripped_files: vec![],
                    stats: vec![],
                },
            ],
            doi: None,
        }
    }
}
