//! DataCite Metadata Schema 4.5: XML (kernel-4) and the JSON used by the DataCite REST API
//! (`data.attributes`). Mandatory properties: Identifier (DOI), Creator, Title, Publisher,
//! PublicationYear, ResourceType. Recommended ones written here: Subject, Date,
//! RelatedIdentifier, Description; optional: Language, AlternateIdentifier, Size, Format,
//! Version, Rights.
//!
//! Without a DOI the XML carries no `<identifier>` (DataCite assigns one on registration)
//! and the version URL is given as alternate identifier.

use serde_json::{Map, Value, json};

use super::{croissant_url, dataset_url, effective_doi, licence_info, version_url, year};
use crate::model::{Creator, DatasetMeta, VersionMeta};

pub const NAMESPACE: &str = "http://datacite.org/schema/kernel-4";
pub const SCHEMA_LOCATION: &str = "http://schema.datacite.org/meta/kernel-4.5/metadata.xsd";

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

fn total_size(v: &VersionMeta) -> u64 {
    v.splits
        .iter()
        .flat_map(|s| s.public_files().unwrap_or_default())
        .map(|f| f.size)
        .sum()
}

fn technical_info(v: &VersionMeta) -> String {
    let mut parts = Vec::new();
    for s in &v.splits {
        parts.push(format!(
            "{} ({} rows, {})",
            s.name,
            s.rows,
            s.visibility.as_str()
        ));
    }
    let feats: Vec<String> = v
        .features
        .iter()
        .map(|f| {
            if f.is_tensor() {
                format!("{}: {}{:?} ({})", f.name, f.dtype, f.shape, f.role.as_str())
            } else {
                format!("{}: {} ({})", f.name, f.dtype, f.role.as_str())
            }
        })
        .collect();
    format!(
        "Parquet files (snappy). Splits: {}. Columns: {}. Content hash (sha256): {}.",
        parts.join(", "),
        feats.join("; "),
        v.content_hash
    )
}

fn creator_xml(c: &Creator, out: &mut String) {
    out.push_str("    <creator>\n");
    let name_type = if c.organization {
        "Organizational"
    } else {
        "Personal"
    };
    out.push_str(&format!(
        "      <creatorName nameType=\"{name_type}\">{}</creatorName>\n",
        xml_escape(&c.name)
    ));
    let (family, given) = c.split_name();
    if let Some(g) = given {
        out.push_str(&format!(
            "      <givenName>{}</givenName>\n",
            xml_escape(&g)
        ));
    }
    if let Some(f) = family {
        out.push_str(&format!(
            "      <familyName>{}</familyName>\n",
            xml_escape(&f)
        ));
    }
    if let Some(o) = c.orcid_url() {
        out.push_str(&format!(
            "      <nameIdentifier nameIdentifierScheme=\"ORCID\" schemeURI=\"https://orcid.org\">{}</nameIdentifier>\n",
            xml_escape(&o)
        ));
    }
    if let Some(a) = &c.affiliation {
        out.push_str(&format!(
            "      <affiliation>{}</affiliation>\n",
            xml_escape(a)
        ));
    }
    out.push_str("    </creator>\n");
}

/// DataCite 4.5 XML for a version.
pub fn datacite_xml(ds: &DatasetMeta, v: &VersionMeta, base_url: &str) -> String {
    let (licence_url, licence_name) = licence_info(&ds.licence);
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        "<resource xmlns=\"{NAMESPACE}\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:schemaLocation=\"{NAMESPACE} {SCHEMA_LOCATION}\">\n"
    ));
    if let Some(doi) = effective_doi(ds, v) {
        x.push_str(&format!(
            "  <identifier identifierType=\"DOI\">{}</identifier>\n",
            xml_escape(doi)
        ));
    }
    x.push_str("  <creators>\n");
    for c in &ds.creators {
        creator_xml(c, &mut x);
    }
    x.push_str("  </creators>\n");
    x.push_str(&format!(
        "  <titles>\n    <title xml:lang=\"en\">{}</title>\n  </titles>\n",
        xml_escape(&ds.title)
    ));
    x.push_str(&format!(
        "  <publisher xml:lang=\"en\">{}</publisher>\n",
        xml_escape(&ds.publisher)
    ));
    x.push_str(&format!(
        "  <publicationYear>{}</publicationYear>\n",
        year(v)
    ));
    x.push_str(&format!(
        "  <resourceType resourceTypeGeneral=\"Dataset\">{}</resourceType>\n",
        xml_escape("Anomaly detection dataset")
    ));
    x.push_str("  <subjects>\n");
    x.push_str(&format!(
        "    <subject xml:lang=\"en\">{}</subject>\n",
        xml_escape(&ds.domain)
    ));
    for k in &ds.keywords {
        x.push_str(&format!(
            "    <subject xml:lang=\"en\">{}</subject>\n",
            xml_escape(k)
        ));
    }
    x.push_str("  </subjects>\n");
    x.push_str(&format!(
        "  <dates>\n    <date dateType=\"Created\">{}</date>\n    <date dateType=\"Issued\">{}</date>\n  </dates>\n",
        v.created.format("%Y-%m-%d"),
        v.created.format("%Y-%m-%d")
    ));
    x.push_str("  <language>en</language>\n");
    x.push_str(&format!(
        "  <alternateIdentifiers>\n    <alternateIdentifier alternateIdentifierType=\"URL\">{}</alternateIdentifier>\n  </alternateIdentifiers>\n",
        xml_escape(&version_url(base_url, &ds.slug, &v.version))
    ));
    x.push_str("  <relatedIdentifiers>\n");
    x.push_str(&format!(
        "    <relatedIdentifier relatedIdentifierType=\"URL\" relationType=\"IsVersionOf\">{}</relatedIdentifier>\n",
        xml_escape(&dataset_url(base_url, &ds.slug))
    ));
    if let (Some(concept), Some(vdoi)) = (ds.doi.as_deref(), v.doi.as_deref())
        && concept != vdoi
    {
        x.push_str(&format!(
            "    <relatedIdentifier relatedIdentifierType=\"DOI\" relationType=\"IsVersionOf\">{}</relatedIdentifier>\n",
            xml_escape(super::bare_doi(concept))
        ));
    }
    x.push_str(&format!(
        "    <relatedIdentifier relatedIdentifierType=\"URL\" relationType=\"HasMetadata\" relatedMetadataScheme=\"Croissant\" schemeURI=\"http://mlcommons.org/croissant/1.1\">{}</relatedIdentifier>\n",
        xml_escape(&croissant_url(base_url, &ds.slug, &v.version))
    ));
    x.push_str("  </relatedIdentifiers>\n");
    x.push_str(&format!(
        "  <sizes>\n    <size>{} rows</size>\n    <size>{} bytes</size>\n  </sizes>\n",
        v.total_rows(),
        total_size(v)
    ));
    x.push_str(&format!(
        "  <formats>\n    <format>{}</format>\n  </formats>\n",
        crate::model::PARQUET_MEDIA_TYPE
    ));
    x.push_str(&format!(
        "  <version>{}</version>\n",
        xml_escape(&v.version)
    ));
    x.push_str(&format!(
        "  <rightsList>\n    <rights xml:lang=\"en\" rightsURI=\"{}\" rightsIdentifierScheme=\"SPDX\" schemeURI=\"https://spdx.org/licenses/\" rightsIdentifier=\"{}\">{}</rights>\n  </rightsList>\n",
        xml_escape(&licence_url),
        xml_escape(&ds.licence),
        xml_escape(&licence_name)
    ));
    x.push_str("  <descriptions>\n");
    x.push_str(&format!(
        "    <description xml:lang=\"en\" descriptionType=\"Abstract\">{}</description>\n",
        xml_escape(&ds.description)
    ));
    x.push_str(&format!(
        "    <description xml:lang=\"en\" descriptionType=\"TechnicalInfo\">{}</description>\n",
        xml_escape(&technical_info(v))
    ));
    if !v.changelog.is_empty() {
        x.push_str(&format!(
            "    <description xml:lang=\"en\" descriptionType=\"Other\">{}</description>\n",
            xml_escape(&format!("Changes in {}: {}", v.version, v.changelog))
        ));
    }
    x.push_str("  </descriptions>\n");
    x.push_str("</resource>\n");
    x
}

/// DataCite 4.5 JSON (the `attributes` object of the DataCite REST API).
pub fn datacite_json(ds: &DatasetMeta, v: &VersionMeta, base_url: &str) -> Value {
    let (licence_url, licence_name) = licence_info(&ds.licence);
    let creators: Vec<Value> = ds
        .creators
        .iter()
        .map(|c| {
            let mut m = Map::new();
            m.insert("name".into(), json!(c.name));
            m.insert("nameType".into(), json!(if c.organization { "Organizational" } else { "Personal" }));
            let (family, given) = c.split_name();
            if let Some(g) = given {
                m.insert("givenName".into(), json!(g));
            }
            if let Some(f) = family {
                m.insert("familyName".into(), json!(f));
            }
            if let Some(o) = c.orcid_url() {
                m.insert(
                    "nameIdentifiers".into(),
                    json!([{"nameIdentifier": o, "nameIdentifierScheme": "ORCID", "schemeUri": "https://orcid.org"}]),
                );
            }
            if let Some(a) = &c.affiliation {
                m.insert("affiliation".into(), json!([{"name": a}]));
            }
            Value::Object(m)
        })
        .collect();
    let mut subjects = vec![json!({"subject": ds.domain, "lang": "en"})];
    subjects.extend(
        ds.keywords
            .iter()
            .map(|k| json!({"subject": k, "lang": "en"})),
    );
    let mut related = vec![
        json!({"relatedIdentifier": dataset_url(base_url, &ds.slug), "relatedIdentifierType": "URL", "relationType": "IsVersionOf"}),
        json!({"relatedIdentifier": croissant_url(base_url, &ds.slug, &v.version), "relatedIdentifierType": "URL",
               "relationType": "HasMetadata", "relatedMetadataScheme": "Croissant", "schemeUri": "http://mlcommons.org/croissant/1.1"}),
    ];
    if let (Some(concept), Some(vdoi)) = (ds.doi.as_deref(), v.doi.as_deref())
        && concept != vdoi
    {
        related.push(json!({"relatedIdentifier": super::bare_doi(concept), "relatedIdentifierType": "DOI", "relationType": "IsVersionOf"}));
    }
    let mut descriptions = vec![
        json!({"description": ds.description, "descriptionType": "Abstract", "lang": "en"}),
        json!({"description": technical_info(v), "descriptionType": "TechnicalInfo", "lang": "en"}),
    ];
    if !v.changelog.is_empty() {
        descriptions.push(json!({"description": format!("Changes in {}: {}", v.version, v.changelog), "descriptionType": "Other", "lang": "en"}));
    }
    let mut m = Map::new();
    if let Some(doi) = effective_doi(ds, v) {
        m.insert("doi".into(), json!(doi));
        m.insert(
            "identifiers".into(),
            json!([{"identifier": doi, "identifierType": "DOI"}]),
        );
    }
    m.insert("creators".into(), Value::Array(creators));
    m.insert("titles".into(), json!([{"title": ds.title, "lang": "en"}]));
    m.insert(
        "publisher".into(),
        json!({"name": ds.publisher, "lang": "en"}),
    );
    m.insert("publicationYear".into(), json!(year(v)));
    m.insert(
        "types".into(),
        json!({"resourceTypeGeneral": "Dataset", "resourceType": "Anomaly detection dataset"}),
    );
    m.insert("subjects".into(), Value::Array(subjects));
    m.insert(
        "dates".into(),
        json!([{"date": v.created.format("%Y-%m-%d").to_string(), "dateType": "Created"},
               {"date": v.created.format("%Y-%m-%d").to_string(), "dateType": "Issued"}]),
    );
    m.insert("language".into(), json!("en"));
    m.insert(
        "alternateIdentifiers".into(),
        json!([{"alternateIdentifier": version_url(base_url, &ds.slug, &v.version), "alternateIdentifierType": "URL"}]),
    );
    m.insert("relatedIdentifiers".into(), Value::Array(related));
    m.insert(
        "sizes".into(),
        json!([
            format!("{} rows", v.total_rows()),
            format!("{} bytes", total_size(v))
        ]),
    );
    m.insert("formats".into(), json!([crate::model::PARQUET_MEDIA_TYPE]));
    m.insert("version".into(), json!(v.version));
    m.insert(
        "rightsList".into(),
        json!([{"rights": licence_name, "rightsUri": licence_url, "rightsIdentifier": ds.licence,
                "rightsIdentifierScheme": "SPDX", "schemeUri": "https://spdx.org/licenses/", "lang": "en"}]),
    );
    m.insert("descriptions".into(), Value::Array(descriptions));
    m.insert(
        "url".into(),
        json!(version_url(base_url, &ds.slug, &v.version)),
    );
    m.insert(
        "schemaVersion".into(),
        json!("http://datacite.org/schema/kernel-4"),
    );
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::fixtures;

    #[test]
    fn xml_well_formed_with_mandatory_properties() {
        let x = datacite_xml(
            &fixtures::dataset(),
            &fixtures::version(),
            "https://a.example",
        );
        let mut reader = quick_xml::Reader::from_str(&x);
        let mut names = Vec::new();
        let mut depth = 0i32;
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Start(e)) => {
                    depth += 1;
                    names.push(String::from_utf8_lossy(e.name().as_ref()).to_string());
                }
                Ok(quick_xml::events::Event::End(_)) => depth -= 1,
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("not well-formed: {e}\n{x}"),
            }
        }
        assert_eq!(depth, 0);
        for m in [
            "identifier",
            "creator",
            "title",
            "publisher",
            "publicationYear",
            "resourceType",
        ] {
            assert!(names.iter().any(|n| n == m), "missing {m}");
        }
        assert!(x.contains("&lt;for&gt;"), "escaped description");
        assert!(x.contains("nameIdentifierScheme=\"ORCID\""));
        assert!(x.contains("Toy &amp; {test} dataset"));
    }

    #[test]
    fn json_mandatory_properties() {
        let j = datacite_json(
            &fixtures::dataset(),
            &fixtures::version(),
            "https://a.example",
        );
        assert_eq!(j["doi"], "10.5281/zenodo.1234");
        assert_eq!(j["types"]["resourceTypeGeneral"], "Dataset");
        assert_eq!(j["publicationYear"], 2025);
        assert_eq!(
            j["creators"][0]["nameIdentifiers"][0]["nameIdentifierScheme"],
            "ORCID"
        );
        assert_eq!(j["rightsList"][0]["rightsIdentifier"], "CC-BY-4.0");
        assert!(j["titles"][0]["title"].is_string());
        assert!(j["publisher"]["name"].is_string());
    }
}
