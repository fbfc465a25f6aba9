//! schema.org `Dataset` JSON-LD for the version's web page (Google Dataset Search style).

use serde_json::{Map, Value, json};

use super::{
    content_url, croissant_url, dataset_url, doi_url, effective_doi, licence_info, version_url,
};
use crate::model::{DatasetMeta, VersionMeta};

/// schema.org Dataset JSON-LD, to embed in `<script type="application/ld+json">`.
pub fn schema_org(ds: &DatasetMeta, v: &VersionMeta, base_url: &str) -> Value {
    let (licence_url, _) = licence_info(&ds.licence);
    let creators: Vec<Value> = ds
        .creators
        .iter()
        .map(|c| {
            let mut m = Map::new();
            m.insert(
                "@type".into(),
                json!(if c.organization {
                    "Organization"
                } else {
                    "Person"
                }),
            );
            m.insert("name".into(), json!(c.name));
            let (family, given) = c.split_name();
            if let Some(g) = given {
                m.insert("givenName".into(), json!(g));
            }
            if let Some(f) = family {
                m.insert("familyName".into(), json!(f));
            }
            if let Some(o) = c.orcid_url() {
                m.insert("@id".into(), json!(o));
                m.insert("sameAs".into(), json!(o));
            }
            if let Some(a) = &c.affiliation {
                m.insert(
                    "affiliation".into(),
                    json!({"@type": "Organization", "name": a}),
                );
            }
            Value::Object(m)
        })
        .collect();
    let mut distribution: Vec<Value> = Vec::new();
    for s in &v.splits {
        for f in s.public_files().unwrap_or_default() {
            distribution.push(json!({
                "@type": "DataDownload",
                "name": format!("{}/{}", s.name, f.name),
                "encodingFormat": crate::model::PARQUET_MEDIA_TYPE,
                "contentUrl": content_url(base_url, ds, v, s.name, f),
                "contentSize": format!("{} B", f.size),
                "sha256": f.sha256,
            }));
        }
    }
    distribution.push(json!({
        "@type": "DataDownload",
        "name": "Croissant metadata",
        "encodingFormat": "application/ld+json",
        "contentUrl": croissant_url(base_url, &ds.slug, &v.version),
    }));
    let variables: Vec<Value> = v
        .features
        .iter()
        .map(|f| {
            let mut desc = f.description.clone().unwrap_or_default();
            if f.is_tensor() {
                desc = format!("{desc} (tensor {:?} of {})", f.shape, f.dtype).trim().to_string();
            }
            json!({"@type": "PropertyValue", "name": f.name, "description": desc, "propertyID": f.role.as_str()})
        })
        .collect();
    let page = version_url(base_url, &ds.slug, &v.version);
    let mut m = Map::new();
    m.insert("@context".into(), json!("https://schema.org/"));
    m.insert("@type".into(), json!("Dataset"));
    m.insert("@id".into(), json!(page));
    m.insert("name".into(), json!(ds.title));
    m.insert("alternateName".into(), json!(ds.slug));
    m.insert("description".into(), json!(ds.description));
    m.insert("url".into(), json!(page));
    m.insert("version".into(), json!(v.version));
    m.insert("keywords".into(), json!(ds.keywords));
    m.insert("license".into(), json!(licence_url));
    m.insert("isAccessibleForFree".into(), json!(true));
    m.insert("creator".into(), Value::Array(creators));
    m.insert(
        "publisher".into(),
        json!({"@type": "Organization", "name": ds.publisher}),
    );
    m.insert("dateCreated".into(), json!(v.created.to_rfc3339()));
    m.insert(
        "datePublished".into(),
        json!(v.created.format("%Y-%m-%d").to_string()),
    );
    m.insert("inLanguage".into(), json!("en"));
    m.insert(
        "isPartOf".into(),
        json!({"@type": "Dataset", "name": ds.title, "url": dataset_url(base_url, &ds.slug)}),
    );
    m.insert("includedInDataCatalog".into(), json!({"@type": "DataCatalog", "name": ds.publisher, "url": base_url.trim_end_matches('/')}));
    m.insert("measurementTechnique".into(), json!(ds.domain));
    m.insert("variableMeasured".into(), Value::Array(variables));
    m.insert("distribution".into(), Value::Array(distribution));
    if let Some(doi) = effective_doi(ds, v) {
        m.insert("identifier".into(), json!(doi_url(doi)));
        m.insert("sameAs".into(), json!(doi_url(doi)));
    }
    m.insert(
        "citation".into(),
        json!(super::citation::bibtex(ds, v, base_url)),
    );
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::fixtures;

    #[test]
    fn dataset_fields() {
        let j = schema_org(
            &fixtures::dataset(),
            &fixtures::version(),
            "https://a.example/",
        );
        assert_eq!(j["@type"], "Dataset");
        assert_eq!(j["license"], "https://creativecommons.org/licenses/by/4.0/");
        assert_eq!(
            j["creator"][0]["@id"],
            "https://orcid.org/0000-0002-1825-0097"
        );
        // train + stripped public_test + croissant link; private_test not listed
        assert_eq!(j["distribution"].as_array().map(|a| a.len()), Some(3));
        assert_eq!(j["includedInDataCatalog"]["url"], "https://a.example");
    }
}
