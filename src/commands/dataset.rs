//! `arena dataset`: generate a demo dataset into a local directory, and import a
//! `dataset.yaml` manifest (with its Parquet/CSV files) into the platform.
//!
//! `generate` writes what `import` reads, so a demo dataset goes from seed to served
//! in two commands:
//!
//! ```sh
//! arena dataset generate gw-anomaly --rows 100000 --seed 1 --out demo/gw
//! arena dataset import --manifest demo/gw/dataset.yaml
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use datasets::manifest::ManifestSplit;
use datasets::metadata;
use datasets::{BuiltVersion, Manifest};
use server::ops::datasets::Published;
use sqlx::types::chrono::{DateTime, Utc};

use crate::config::Config;
use crate::platform::{Platform, Schema};

/// `arena dataset ...`
#[derive(Debug, clap::Subcommand)]
pub enum DatasetCommand {
    /// Generate a demo dataset deterministically from a seed and write it to a directory:
    /// `data/{split}.parquet`, `dataset.yaml` (a manifest `import` accepts),
    /// `DATACARD.md` and `metadata/` (Croissant, DataCite, schema.org, BibTeX, CFF).
    Generate(GenerateArgs),
    /// Validate a `dataset.yaml` manifest and its files, then publish the version into
    /// the platform's database and object store.
    Import(ImportArgs),
}

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Generator: gw-anomaly, hybrid-genomes or coastal-flooding.
    pub name: String,
    /// Rows in total, split 60/10/15/15 into train, validation, public_test, private_test.
    #[arg(long, default_value_t = 10_000)]
    pub rows: usize,
    /// Random seed; the same (name, rows, seed) gives the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output directory (created if missing).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The `dataset.yaml` manifest; file paths in it are relative to its directory.
    #[arg(long)]
    pub manifest: PathBuf,
    /// Validate and describe the version, but publish nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub async fn run(config: &Config, command: DatasetCommand) -> anyhow::Result<()> {
    match command {
        DatasetCommand::Generate(args) => generate(config, args).await,
        DatasetCommand::Import(args) => import(config, args).await,
    }
}

async fn generate(config: &Config, args: GenerateArgs) -> anyhow::Result<()> {
    let base = config.public_url();
    let out = args.out.clone();
    let started = std::time::Instant::now();
    let built = tokio::task::spawn_blocking(move || write_generated(&args, &base))
        .await
        .context("the generator task failed")??;
    print_summary(&built);
    println!(
        "written to {} in {:.1?}\nimport it with: arena dataset import --manifest {}",
        out.display(),
        started.elapsed(),
        out.join("dataset.yaml").display()
    );
    Ok(())
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// Generates, builds (validation, Parquet, statistics) and writes everything.
fn write_generated(args: &GenerateArgs, base: &str) -> anyhow::Result<BuiltVersion> {
    let generated = datasets::generate(&args.name, args.rows, args.seed)
        .with_context(|| format!("generating `{}`", args.name))?;
    let now = Utc::now();
    let created = DateTime::<Utc>::from_timestamp(now.timestamp(), 0).unwrap_or(now);
    let built = generated
        .build(created)
        .context("building the version (validation, Parquet, statistics)")?;
    let data = args.out.join("data");
    let meta_dir = args.out.join("metadata");
    for dir in [&data, &meta_dir] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }

    // The complete files (labels included); `import` strips them again for hidden splits.
    let mut splits = BTreeMap::new();
    for blob in built.blobs.iter().filter(|b| !b.stripped) {
        write(&data.join(&blob.name), &blob.bytes)?;
        let split: &mut ManifestSplit = splits
            .entry(blob.split.as_str().to_owned())
            .or_insert_with(|| ManifestSplit {
                visibility: built.version.split(blob.split).map(|s| s.visibility),
                files: Vec::new(),
            });
        split.files.push(format!("data/{}", blob.name));
    }
    let ds = &built.dataset;
    let v = &built.version;
    let manifest = Manifest {
        slug: ds.slug.clone(),
        title: ds.title.clone(),
        description: ds.description.clone(),
        keywords: ds.keywords.clone(),
        domain: ds.domain.clone(),
        licence: ds.licence.clone(),
        creators: ds.creators.clone(),
        doi: ds.doi.clone(),
        publisher: Some(ds.publisher.clone()),
        rai: ds.rai.clone(),
        version: v.version.clone(),
        version_doi: v.doi.clone(),
        changelog: v.changelog.clone(),
        created: Some(v.created),
        features: v.features.clone(),
        splits,
    };
    write(
        &args.out.join("dataset.yaml"),
        manifest.to_yaml().context("writing the manifest")?,
    )?;
    write(&args.out.join("DATACARD.md"), &generated.data_card)?;

    // Metadata as the platform will serve it under `base`.
    let json = |value: &serde_json::Value| serde_json::to_string_pretty(value);
    write(
        &meta_dir.join("croissant.json"),
        json(&metadata::croissant::croissant(ds, v, base))?,
    )?;
    write(
        &meta_dir.join("datacite.xml"),
        metadata::datacite::datacite_xml(ds, v, base),
    )?;
    write(
        &meta_dir.join("datacite.json"),
        json(&metadata::datacite::datacite_json(ds, v, base))?,
    )?;
    write(
        &meta_dir.join("schema_org.json"),
        json(&metadata::schema_org::schema_org(ds, v, base))?,
    )?;
    write(
        &meta_dir.join("citation.bib"),
        metadata::citation::bibtex(ds, v, base),
    )?;
    write(
        &meta_dir.join("CITATION.cff"),
        metadata::citation::citation_cff(ds, v, base).context("writing CITATION.cff")?,
    )?;
    write(
        &meta_dir.join("version.json"),
        serde_json::to_string_pretty(v)?,
    )?;
    Ok(built)
}

fn print_summary(built: &BuiltVersion) {
    let v = &built.version;
    println!(
        "{} {}: {} rows, content sha256 {}",
        built.dataset.slug,
        v.version,
        v.total_rows(),
        v.content_hash
    );
    for split in &v.splits {
        let bytes: u64 = split.files.iter().map(|f| f.size).sum();
        println!(
            "  {:<12} {:>10} rows {:>12} bytes  {}",
            split.name.as_str(),
            split.rows,
            bytes,
            split.visibility.as_str()
        );
    }
}

async fn import(config: &Config, args: ImportArgs) -> anyhow::Result<()> {
    let path = args.manifest.clone();
    let built = tokio::task::spawn_blocking(move || datasets::ingest_manifest(&path))
        .await
        .context("the ingestion task failed")?
        .with_context(|| format!("ingesting {}", args.manifest.display()))?;
    print_summary(&built);
    if args.dry_run {
        println!("dry run: nothing published");
        return Ok(());
    }
    let platform = Platform::start(config, Schema::RequireCurrent).await?;
    let published =
        server::ops::datasets::publish(&platform.pool, platform.store.as_ref(), &built, None).await;
    platform.stop().await;
    let page = metadata::version_url(
        &config.public_url(),
        &built.dataset.slug,
        &built.version.version,
    );
    match published.context("publishing the version")? {
        Published::Created(_) => println!("published: {page}"),
        Published::Unchanged(_) => println!("already published with the same content: {page}"),
    }
    Ok(())
}
