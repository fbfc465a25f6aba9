//! `hybrid-genomes`: genotype vectors from two diverged parental populations; anomalies
//! are first-generation (F1) hybrids and backcrosses (genomics).
//!
//! Ancestral allele frequencies p_l ~ U(0.05, 0.95) at 256 biallelic loci; each parental
//! population's frequencies follow the Balding-Nichols model, Beta(p(1-F)/F, (1-p)(1-F)/F)
//! with F_ST = 0.1. Parental genotypes are sums of two Bernoulli(p_pop) alleles. F1
//! hybrids take one haplotype from each population. Backcrosses take one haplotype from
//! a parental population and one recombinant F1 gamete whose ancestry switches between
//! populations with probability 0.02 per locus (loci ordered along one chromosome).

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int64Array, StringArray};
use arrow::record_batch::RecordBatch;
use rand::Rng;

use super::{
    GeneratedDataset, arena_creator, beta, fsl_f32, row_rng, split_ranges, splits_markdown,
    synthetic_rai,
};
use crate::error::Result;
use crate::model::{DatasetMeta, Dtype, FeatureSpec, Role, SplitName, arrow_schema};

pub const NAME: &str = "hybrid-genomes";
pub const LOCI: usize = 256;
pub const F_ST: f64 = 0.1;
/// Fraction of hybrids in validation and test splits (half F1, half backcross).
pub const ANOMALY_FRACTION: f64 = 0.2;
const SWITCH_PROB: f64 = 0.02;

struct Populations {
    a: Vec<f64>,
    b: Vec<f64>,
}

fn populations(seed: u64) -> Populations {
    let mut rng = row_rng(seed, u64::MAX);
    let mut a = Vec::with_capacity(LOCI);
    let mut b = Vec::with_capacity(LOCI);
    let k = (1.0 - F_ST) / F_ST;
    for _ in 0..LOCI {
        let p: f64 = rng.gen_range(0.05..0.95);
        a.push(beta(&mut rng, p * k, (1.0 - p) * k));
        b.push(beta(&mut rng, p * k, (1.0 - p) * k));
    }
    Populations { a, b }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    PopA,
    PopB,
    F1,
    BackcrossA,
    BackcrossB,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::PopA => "pop_a",
            Kind::PopB => "pop_b",
            Kind::F1 => "f1",
            Kind::BackcrossA => "backcross_a",
            Kind::BackcrossB => "backcross_b",
        }
    }
    fn is_hybrid(self) -> bool {
        !matches!(self, Kind::PopA | Kind::PopB)
    }
}

fn allele(rng: &mut impl Rng, p: f64) -> u8 {
    u8::from(rng.r#gen::<f64>() < p)
}

fn row(pops: &Populations, seed: u64, id: u64, hybrids: bool, x: &mut [f32]) -> Kind {
    let mut rng = row_rng(seed, id);
    let u: f64 = rng.r#gen();
    let kind = if hybrids && u < ANOMALY_FRACTION / 2.0 {
        Kind::F1
    } else if hybrids && u < ANOMALY_FRACTION {
        if rng.r#gen::<bool>() {
            Kind::BackcrossA
        } else {
            Kind::BackcrossB
        }
    } else if rng.r#gen::<bool>() {
        Kind::PopA
    } else {
        Kind::PopB
    };
    let mut gamete_from_a = rng.r#gen::<bool>();
    for (l, xl) in x.iter_mut().enumerate().take(LOCI) {
        let (pa, pb) = (pops.a[l], pops.b[l]);
        let g = match kind {
            Kind::PopA => allele(&mut rng, pa) + allele(&mut rng, pa),
            Kind::PopB => allele(&mut rng, pb) + allele(&mut rng, pb),
            Kind::F1 => allele(&mut rng, pa) + allele(&mut rng, pb),
            Kind::BackcrossA | Kind::BackcrossB => {
                if l > 0 && rng.r#gen::<f64>() < SWITCH_PROB {
                    gamete_from_a = !gamete_from_a;
                }
                let parent = if kind == Kind::BackcrossA { pa } else { pb };
                let recombinant = if gamete_from_a { pa } else { pb };
                allele(&mut rng, parent) + allele(&mut rng, recombinant)
            }
        };
        *xl = f32::from(g);
    }
    kind
}

pub fn features() -> Vec<FeatureSpec> {
    vec![
        FeatureSpec::scalar(
            "id",
            Dtype::Int64,
            Role::Id,
            "Row identifier (0-based row number across all splits).",
        ),
        FeatureSpec::tensor(
            "x",
            Dtype::Float32,
            &[LOCI],
            Role::Feature,
            "Genotypes (0, 1 or 2 copies of the alternative allele) at 256 loci.",
        ),
        FeatureSpec::scalar(
            "is_anomaly",
            Dtype::Bool,
            Role::Label,
            "True for hybrids (F1 or backcross).",
        ),
        FeatureSpec::scalar(
            "kind",
            Dtype::String,
            Role::Extra,
            "pop_a, pop_b, f1, backcross_a or backcross_b.",
        ),
    ]
}

pub fn meta() -> DatasetMeta {
    DatasetMeta {
        slug: NAME.to_string(),
        title: "Hybrid genomes among two parental populations (synthetic)".to_string(),
        description: "Genotype vectors at 256 biallelic loci from two parental populations diverged under the \
            Balding-Nichols model (F_ST = 0.1). Training data contains parental genomes only; validation and test \
            splits contain first-generation hybrids and backcrosses as anomalies."
            .to_string(),
        keywords: vec![
            "anomaly detection".into(),
            "population genetics".into(),
            "genomics".into(),
            "admixture".into(),
            "FPGA".into(),
        ],
        domain: "genomics".to_string(),
        licence: "CC-BY-4.0".to_string(),
        creators: vec![arena_creator()],
        doi: None,
        publisher: "FastML Arena".to_string(),
        rai: synthetic_rai(
            "Synthetic: genotypes drawn from the population-genetic model in the data card; no human or animal samples.",
            &["Two populations of equal size and unlinked drift; real admixture involves many populations, unequal sampling and linkage disequilibrium."],
            &["No mutation, selection, genotyping error or missing data; backcross recombination is a simple per-locus switch process."],
            &["Benchmarking anomaly detectors that flag admixed genomes with low latency."],
        ),
    }
}

pub fn generate(rows: usize, seed: u64) -> Result<GeneratedDataset> {
    let pops = populations(seed);
    let features = features();
    let schema = arrow_schema(&features);
    let mut splits = Vec::new();
    for (name, range) in split_ranges(rows) {
        let n = range.len();
        let mut xs = vec![0f32; n * LOCI];
        let mut ids = Vec::with_capacity(n);
        let mut labels = Vec::with_capacity(n);
        let mut kinds = Vec::with_capacity(n);
        for (i, id) in range.enumerate() {
            let kind = row(
                &pops,
                seed,
                id as u64,
                name != SplitName::Train,
                &mut xs[i * LOCI..(i + 1) * LOCI],
            );
            ids.push(id as i64);
            labels.push(kind.is_hybrid());
            kinds.push(kind.as_str());
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(ids)),
            fsl_f32(xs, LOCI)?,
            Arc::new(BooleanArray::from(labels)),
            Arc::new(StringArray::from(kinds)),
        ];
        splits.push((name, RecordBatch::try_new(schema.clone(), columns)?));
    }
    Ok(GeneratedDataset {
        meta: meta(),
        features,
        splits,
        data_card: data_card(rows, seed),
        rows,
        seed,
    })
}

fn data_card(rows: usize, seed: u64) -> String {
    format!(
        r#"# hybrid-genomes: hybrid genomes among two parental populations (synthetic)

Generated by FastML Arena's `hybrid-genomes` generator with seed {seed} and {rows} rows.
Licence: CC-BY-4.0.

## Generative model

- 256 biallelic loci, ordered along one chromosome. Ancestral allele frequencies
  p_l ~ Uniform(0.05, 0.95).
- Two parental populations A and B drift from the ancestor under the Balding-Nichols
  model: p_l,pop ~ Beta(p_l (1 - F) / F, (1 - p_l)(1 - F) / F) with F_ST = F = {fst}.
  These frequencies are fixed by the seed and shared by all rows.
- Parental genomes (kind pop_a / pop_b, equally likely): genotype = number of alternative
  alleles among two independent draws with the population's frequency (0, 1 or 2).
- Hybrids (anomalies), only in validation and test splits, with probability {frac}:
  half F1 (one haplotype from A, one from B), half backcrosses (one haplotype from A or B,
  the other a recombinant F1 gamete whose ancestry switches with probability {switch}
  per locus).
- Columns: `id` (int64), `x` = FixedSizeList<Float32>[256] with values 0/1/2 (shape
  [256]), `is_anomaly` (label) and `kind` (analysis column, withheld with the labels in
  test splits).

## Splits

Rows are split 60/10/15/15 by row number; ids are row numbers, so splits are disjoint.
Training rows are parental genomes only.

{splits}
## Intended use

Benchmarking anomaly detectors for admixture screening that must run with low latency
and small resources (e.g. on FPGAs).

## Limitations

No linkage between loci within parental genomes, no mutation or selection, no genotyping
error or missing calls, exactly two source populations. Real admixture is subtler.
"#,
        fst = F_ST,
        frac = ANOMALY_FRACTION,
        switch = SWITCH_PROB,
        splits = splits_markdown(rows),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hybrids_are_more_heterozygous_and_train_is_clean() {
        let d = generate(3000, 11).expect("generate");
        let train = d.split(SplitName::Train).expect("train");
        let labels = train
            .column(2)
            .as_any()
            .downcast_ref::<BooleanArray>()
            .expect("bool");
        assert_eq!(labels.true_count(), 0);
        let pops = populations(11);
        let mut x = vec![0f32; LOCI];
        let (mut het_f1, mut het_p, mut nf1, mut np) = (0.0, 0.0, 0, 0);
        for id in 0..2000u64 {
            let k = row(&pops, 11, id, true, &mut x);
            let het = x.iter().filter(|v| **v == 1.0).count() as f64 / LOCI as f64;
            match k {
                Kind::F1 => {
                    het_f1 += het;
                    nf1 += 1;
                }
                Kind::PopA | Kind::PopB => {
                    het_p += het;
                    np += 1;
                }
                _ => {}
            }
            assert!(x.iter().all(|v| *v == 0.0 || *v == 1.0 || *v == 2.0));
        }
        assert!(nf1 > 50 && np > 500);
        assert!(
            het_f1 / nf1 as f64 > het_p / np as f64,
            "F1 hybrids carry excess heterozygosity"
        );
    }
}
