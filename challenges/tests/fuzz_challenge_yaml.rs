//! Fuzz target `challenge_yaml`: the challenge definition (YAML or JSON) and
//! the Codabench `competition.yaml` importer. Any text must give a challenge
//! or an error naming the problem, never a panic; an accepted challenge must
//! survive a YAML round trip and answer its phase queries.

#[path = "../../fuzz/harness.rs"]
mod harness;

use challenges::Challenge;
use chrono::{TimeZone, Utc};

const FRAGMENT: &str = "dataset: { slug: gw-anomaly, version: latest }\ninput: { column: strain }\n\
label: is_anomaly\nmetric: roc_auc\ntarget: { part: xc7a100t, clock_ns: 5 }\n";

#[test]
fn fuzz_challenge_definitions() {
    harness::fuzz("challenge_yaml", Vec::new(), |bytes| {
        // Invalid UTF-8 is refused before parsing; fuzz the text behind it.
        let text = String::from_utf8_lossy(bytes);
        let text = text.as_ref();
        let imported = match challenges::from_codabench_yaml(text, FRAGMENT) {
            Ok(c) => format!("codabench ok {}", c.phases.len()),
            Err(e) => format!("codabench: {e}"),
        };
        let challenge = match Challenge::from_yaml(text) {
            Ok(challenge) => challenge,
            Err(e) => return format!("{e} | {imported}"),
        };
        let again = Challenge::from_yaml(&challenge.to_yaml())
            .unwrap_or_else(|e| panic!("an accepted challenge does not round-trip: {e}"));
        assert_eq!(again.slug, challenge.slug);
        for t in [0, 1_700_000_000, 4_102_444_800] {
            let now = Utc.timestamp_opt(t, 0).unwrap();
            let _ = challenge.open_phase(now);
            let _ = challenge.default_phase(now);
        }
        let _ = challenge.ranking();
        format!("ok {} phases | {imported}", challenge.phases.len())
    });
}
