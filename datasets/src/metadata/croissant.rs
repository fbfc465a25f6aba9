//! Croissant 1.1 JSON-LD (with the Responsible-AI vocabulary).
//!
//! Layout: one `cr:FileObject` per served Parquet file (sha256, contentUrl, contentSize);
//! a `splits` record set (`dataType: cr:Split`) enumerating the served splits with their
//! Croissant split URLs; and one record set per served split whose fields map the Parquet
//! columns. Tensor columns carry `isArray: true` and `arrayShape: "d0,d1,..."`; label
//! columns add `cr:Label` to their `dataType`; every split record set has a constant
//! `split` field referencing `splits/name`. Private splits are omitted and label-hidden
//! splits describe their label-stripped files.

use serde_json::{Map, Value, json};

use super::{citation, content_url, doi_url, effective_doi, licence_info, version_url};
use crate::model::{DatasetMeta, FeatureSpec, Rai, Role, SplitName, VersionMeta};

/// Croissant version URI we conform to.
pub const CONFORMS_TO: &str = "http://mlcommons.org/croissant/1.1";

/// The JSON-LD `@context` of Croissant 1.1 (plus the RAI prefix).
pub fn context() -> Value {
    json!({
        "@language": "en",
        "@vocab": "https://schema.org/",
        "arrayShape": "cr:arrayShape",
        "citeAs": "cr:citeAs",
        "column": "cr:column",
        "conformsTo": "dct:conformsTo",
        "containedIn": "cr:containedIn",
        "cr": "http://mlcommons.org/croissant/",
        "rai": "http://mlcommons.org/croissant/RAI/",
        "data": {"@id": "cr:data", "@type": "@json"},
        "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
        "dct": "http://purl.org/dc/terms/",
        "description": {"@container": "@language"},
        "equivalentProperty": "cr:equivalentProperty",
        "examples": {"@id": "cr:examples", "@type": "@json"},
        "extract": "cr:extract",
        "field": "cr:field",
        "fileProperty": "cr:fileProperty",
        "fileObject": "cr:fileObject",
        "fileSet": "cr:fileSet",
        "format": "cr:format",
        "includes": "cr:includes",
        "isArray": "cr:isArray",
        "isLiveDataset": "cr:isLiveDataset",
        "jsonPath": "cr:jsonPath",
        "key": "cr:key",
        "md5": "cr:md5",
        "name": {"@container": "@language"},
        "parentField": "cr:parentField",
        "path": "cr:path",
        "recordSet": "cr:recordSet",
        "references": "cr:references",
        "regex": "cr:regex",
        "repeated": "cr:repeated",
        "replace": "cr:replace",
        "samplingRate": "cr:samplingRate",
        "sc": "https://schema.org/",
        "separator": "cr:separator",
        "source": "cr:source",
        "subField": "cr:subField",
        "transform": "cr:transform"
    })
}

fn creator_json(c: &crate::model::Creator) -> Value {
    let mut m = Map::new();
    if c.organization {
        m.insert("@type".into(), json!("sc:Organization"));
        m.insert("name".into(), json!(c.name));
    } else {
        m.insert("@type".into(), json!("sc:Person"));
        m.insert("name".into(), json!(c.name));
        let (family, given) = c.split_name();
        if let Some(g) = given {
            m.insert("givenName".into(), json!(g));
        }
        if let Some(f) = family {
            m.insert("familyName".into(), json!(f));
        }
    }
    if let Some(o) = c.orcid_url() {
        m.insert("identifier".into(), json!(o));
        m.insert("sameAs".into(), json!(o));
    }
    if let Some(a) = &c.affiliation {
        m.insert(
            "affiliation".into(),
            json!({"@type": "sc:Organization", "name": a}),
        );
    }
    Value::Object(m)
}

fn rai_json(r: &Rai, out: &mut Map<String, Value>) {
    let mut one = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            out.insert(format!("rai:{k}"), json!(v));
        }
    };
    one("dataCollection", &r.data_collection);
    one("dataCollectionMissingData", &r.data_collection_missing_data);
    one("dataCollectionRawData", &r.data_collection_raw_data);
    one("dataSocialImpact", &r.data_social_impact);
    one(
        "dataReleaseMaintenancePlan",
        &r.data_release_maintenance_plan,
    );
    let mut many = |k: &str, v: &Vec<String>| {
        if !v.is_empty() {
            out.insert(format!("rai:{k}"), json!(v));
        }
    };
    many("dataCollectionType", &r.data_collection_type);
    many("dataPreprocessingProtocol", &r.data_preprocessing_protocol);
    many("dataAnnotationProtocol", &r.data_annotation_protocol);
    many("machineAnnotationTools", &r.machine_annotation_tools);
    many("dataBiases", &r.data_biases);
    many("dataLimitations", &r.data_limitations);
    many("dataUseCases", &r.data_use_cases);
    many(
        "personalSensitiveInformation",
        &r.personal_sensitive_information,
    );
}

fn field_json(rs: &str, f: &FeatureSpec, file_ids: &[String]) -> Value {
    let id = format!("{rs}/{}", f.name);
    let mut m = Map::new();
    m.insert("@type".into(), json!("cr:Field"));
    m.insert("@id".into(), json!(id));
    m.insert("name".into(), json!(f.name));
    let mut desc = f.description.clone().unwrap_or_default();
    if f.is_tensor() {
        let shape = f
            .shape
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(" x ");
        if !desc.is_empty() {
            desc.push(' ');
        }
        desc.push_str(&format!(
            "Tensor of shape [{shape}], stored row-major as a fixed-size list."
        ));
    }
    if !desc.is_empty() {
        m.insert("description".into(), json!(desc));
    }
    if f.role == Role::Label {
        m.insert("dataType".into(), json!([f.dtype.croissant(), "cr:Label"]));
    } else {
        m.insert("dataType".into(), json!(f.dtype.croissant()));
    }
    if f.is_tensor() {
        m.insert("isArray".into(), json!(true));
        m.insert(
            "arrayShape".into(),
            json!(
                f.shape
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        );
    }
    let source =
        |file_id: &String| json!({"fileObject": {"@id": file_id}, "extract": {"column": f.name}});
    let src = match file_ids {
        [one] => source(one),
        many => Value::Array(many.iter().map(source).collect()),
    };
    m.insert("source".into(), src);
    Value::Object(m)
}

/// Croissant 1.1 JSON-LD for a version, as served to the public.
pub fn croissant(ds: &DatasetMeta, v: &VersionMeta, base_url: &str) -> Value {
    let (licence_url, _) = licence_info(&ds.licence);
    let page = version_url(base_url, &ds.slug, &v.version);
    let mut root = Map::new();
    root.insert("@context".into(), context());
    root.insert("@type".into(), json!("sc:Dataset"));
    root.insert("conformsTo".into(), json!(CONFORMS_TO));
    root.insert("name".into(), json!(ds.slug));
    root.insert("alternateName".into(), json!(ds.title));
    root.insert("description".into(), json!(ds.description));
    root.insert("url".into(), json!(page));
    root.insert("version".into(), json!(v.version));
    root.insert(
        "datePublished".into(),
        json!(v.created.format("%Y-%m-%d").to_string()),
    );
    root.insert("dateCreated".into(), json!(v.created.to_rfc3339()));
    root.insert("license".into(), json!(licence_url));
    root.insert("keywords".into(), json!(ds.keywords));
    root.insert("inLanguage".into(), json!("en"));
    root.insert(
        "creator".into(),
        Value::Array(ds.creators.iter().map(creator_json).collect()),
    );
    root.insert(
        "publisher".into(),
        json!({"@type": "sc:Organization", "name": ds.publisher}),
    );
    root.insert("citeAs".into(), json!(citation::bibtex(ds, v, base_url)));
    if let Some(doi) = effective_doi(ds, v) {
        root.insert("identifier".into(), json!(doi_url(doi)));
        root.insert("sameAs".into(), json!(doi_url(doi)));
    }
    if !v.changelog.is_empty() {
        root.insert("sc:releaseNotes".into(), json!(v.changelog));
    }
    rai_json(&ds.rai, &mut root);

    let mut distribution = Vec::new();
    let mut record_sets = Vec::new();
    let mut split_rows = Vec::new();
    let mut split_sets = Vec::new();
    for split in &v.splits {
        let Some(files) = split.public_files() else {
            continue;
        };
        if files.is_empty() {
            continue;
        }
        let mut file_ids = Vec::new();
        for f in files {
            let id = format!("{}/{}", split.name.as_str(), f.name);
            distribution.push(json!({
                "@type": "cr:FileObject",
                "@id": id,
                "name": f.name,
                "description": format!("{} split of {} {} ({} rows).", split.name, ds.slug, v.version, f.rows),
                "contentUrl": content_url(base_url, ds, v, split.name, f),
                "contentSize": format!("{} B", f.size),
                "encodingFormat": crate::model::PARQUET_MEDIA_TYPE,
                "sha256": f.sha256,
            }));
            file_ids.push(id);
        }
        // Fields: the declared features present in every served file, in declaration order.
        let present: Vec<&FeatureSpec> = v
            .features
            .iter()
            .filter(|feat| files.iter().all(|f| f.has_column(&feat.name)))
            .collect();
        split_rows.push(json!({
            "splits/name": split.name.as_str(),
            "splits/url": split.name.croissant_url(),
        }));
        split_sets.push((split.name, file_ids, present));
    }
    if !split_rows.is_empty() {
        record_sets.push(json!({
            "@type": "cr:RecordSet",
            "@id": "splits",
            "name": "splits",
            "description": "The splits served for this version.",
            "dataType": "cr:Split",
            "key": {"@id": "splits/name"},
            "field": [
                {"@type": "cr:Field", "@id": "splits/name", "name": "name", "description": "Split name.", "dataType": "sc:Text"},
                {"@type": "cr:Field", "@id": "splits/url", "name": "url", "description": "Croissant split URL.", "dataType": "sc:URL"}
            ],
            "data": split_rows,
        }));
    }
    for (name, file_ids, present) in split_sets {
        let rs = name.as_str();
        let mut fields: Vec<Value> = present
            .iter()
            .map(|f| field_json(rs, f, &file_ids))
            .collect();
        fields.push(json!({
            "@type": "cr:Field",
            "@id": format!("{rs}/split"),
            "name": "split",
            "description": "Split to which the record belongs.",
            "dataType": "sc:Text",
            "value": rs,
            "references": {"field": {"@id": "splits/name"}},
        }));
        let mut m = Map::new();
        m.insert("@type".into(), json!("cr:RecordSet"));
        m.insert("@id".into(), json!(rs));
        m.insert("name".into(), json!(rs));
        m.insert(
            "description".into(),
            json!(format!("Records of the {rs} split ({}).", split_kind(name))),
        );
        if let Some(id) = present.iter().find(|f| f.role == Role::Id) {
            m.insert("key".into(), json!({"@id": format!("{rs}/{}", id.name)}));
        }
        m.insert("field".into(), Value::Array(fields));
        record_sets.push(Value::Object(m));
    }
    root.insert("distribution".into(), Value::Array(distribution));
    root.insert("recordSet".into(), Value::Array(record_sets));
    Value::Object(root)
}

fn split_kind(name: SplitName) -> &'static str {
    match name {
        SplitName::Train => "training",
        SplitName::Validation => "validation",
        SplitName::PublicTest => "public test, labels withheld",
        SplitName::PrivateTest => "private test",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::fixtures;

    #[test]
    fn shape_splits_labels() {
        let j = croissant(
            &fixtures::dataset(),
            &fixtures::version(),
            "https://arena.example/",
        );
        assert_eq!(j["conformsTo"], CONFORMS_TO);
        let dist = j["distribution"].as_array().expect("dist");
        assert_eq!(dist.len(), 2, "private split must not be served");
        assert_eq!(
            dist[0]["contentUrl"],
            "https://arena.example/api/v1/datasets/toy/versions/1.0.0/splits/train/files/train.parquet"
        );
        let rs = j["recordSet"].as_array().expect("record sets");
        assert_eq!(rs[0]["dataType"], "cr:Split");
        let train = &rs[1];
        let x = &train["field"][1];
        assert_eq!(x["isArray"], true);
        assert_eq!(x["arrayShape"], "2,3");
        assert_eq!(x["dataType"], "cr:Float32");
        assert_eq!(train["field"][2]["dataType"][1], "cr:Label");
        let test = &rs[2];
        let names: Vec<&str> = test["field"]
            .as_array()
            .expect("fields")
            .iter()
            .filter_map(|f| f["name"].as_str())
            .collect();
        assert_eq!(
            names,
            vec!["id", "x", "split"],
            "labels stripped from public_test"
        );
        assert_eq!(j["rai:dataBiases"][0], "None known.");
        assert_eq!(j["identifier"], "https://doi.org/10.5281/zenodo.1234");
    }
}
