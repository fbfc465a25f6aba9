//! The challenge definition: one documented YAML format used by
//! `arena challenge create FILE`, the API and the organizer form, its
//! validation, and an importer for the shared fields of Codabench's
//! `competition.yaml` (version 2). Pure: strings in, values out.
//!
//! ```
//! let yaml = r#"
//! slug: demo
//! title: Demo
//! dataset: { slug: gw-anomaly, version: 1.0.0 }
//! input: { column: x }
//! label: is_anomaly
//! metric: roc_auc
//! target: { part: xc7a100t }
//! phases:
//!   - { name: development, split: public_test }
//! "#;
//! let challenge = challenges::Challenge::from_yaml(yaml).unwrap();
//! assert_eq!(challenge.target.clock_ns, 5.0);
//! ```

mod codabench;
mod definition;
mod error;

pub use codabench::from_codabench_yaml;
pub use definition::*;
pub use error::{ChallengeError, Result};
