use challenges::{Challenge, ChallengeError, EntryPolicy, ScoreFrom, Visibility};
use chrono::{TimeZone, Utc};

const GW: &str = include_str!("data/gw.yaml");

#[test]
fn the_documented_example_parses_with_its_defaults() {
    let c = Challenge::from_yaml(GW).unwrap();
    assert_eq!(c.slug, "gw-trigger");
    assert_eq!(c.score_from, ScoreFrom::ReconstructionError);
    assert_eq!(c.metric.to_string(), "tnr_at_tpr:0.9");
    assert_eq!(c.budget.max_lut, Some(60000));
    assert_eq!(c.entries_per_participant, EntryPolicy::Best);
    assert_eq!(c.phases[0].visibility(), Visibility::Live);
    assert_eq!(c.phases[1].visibility(), Visibility::Hidden);
    let mid = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
    assert_eq!(c.open_phase(mid).unwrap().name, "development");
    let late = Utc.with_ymd_and_hms(2027, 1, 15, 0, 0, 0).unwrap();
    assert_eq!(c.open_phase(late).unwrap().name, "final");
    let after = Utc.with_ymd_and_hms(2028, 1, 1, 0, 0, 0).unwrap();
    assert!(c.open_phase(after).is_none());
    assert_eq!(c.default_phase(after).name, "final");
    // Round trip through our own YAML.
    assert_eq!(Challenge::from_yaml(&c.to_yaml()).unwrap(), c);
}

fn error_for(edit: impl Fn(&str) -> String) -> ChallengeError {
    Challenge::from_yaml(&edit(GW)).unwrap_err()
}

fn field_of(error: ChallengeError) -> String {
    match error {
        ChallengeError::Field { field, .. } => field,
        other => panic!("expected a field error, got {other}"),
    }
}

#[test]
fn each_bad_field_is_named() {
    assert_eq!(
        field_of(error_for(
            |y| y.replace("slug: gw-trigger", "slug: GW Trigger")
        )),
        "slug"
    );
    assert_eq!(
        field_of(error_for(
            |y| y.replace("split: public_test", "split: train")
        )),
        "phases[0].split"
    );
    assert_eq!(
        field_of(error_for(|y| y.replace("clock_ns: 5", "clock_ns: -1"))),
        "target.clock_ns"
    );
    assert_eq!(
        field_of(error_for(|y| y.replace(
            "ends: 2027-01-01T00:00:00Z",
            "ends: 2025-01-01T00:00:00Z"
        ))),
        "phases[0].ends"
    );
    assert_eq!(
        field_of(error_for(|y| y.replace("name: final", "name: development"))),
        "phases[1].name"
    );
    let live_private = GW.replace(
        "    split: private_test\n",
        "    split: private_test\n    leaderboard: live\n",
    );
    assert_eq!(
        field_of(Challenge::from_yaml(&live_private).unwrap_err()),
        "phases[1].leaderboard"
    );
}

#[test]
fn syntax_errors_and_unknown_fields_are_reported() {
    let e = error_for(|y| {
        y.replace(
            "metric: tnr_at_tpr:0.9\ntarget",
            "metric: nonsense_metric\ntarget",
        )
    });
    assert!(matches!(e, ChallengeError::Syntax(_)), "{e}");
    let e = error_for(|y| format!("{y}\nsurprise: 1\n"));
    assert!(e.to_string().contains("surprise"), "{e}");
    assert!(Challenge::from_yaml("[1, 2").is_err());
}

#[test]
fn codabench_competitions_import_with_a_fragment_of_ours() {
    let fragment = r#"
dataset: { slug: coastal-flooding, version: latest }
input: { column: x }
label: floods
metric: flooding_score
target: { part: xc7z020, clock_ns: 10 }
"#;
    let c =
        challenges::from_codabench_yaml(include_str!("data/competition.yaml"), fragment).unwrap();
    assert_eq!(c.slug, "coastal-flooding-detection");
    assert_eq!(c.title, "Coastal Flooding Detection");
    assert_eq!(c.phases.len(), 2);
    assert_eq!(c.phases[0].name, "Development");
    assert_eq!(c.phases[0].split, "public_test");
    assert_eq!(c.phases[1].split, "private_test");
    assert_eq!(
        c.phases[1].ends.unwrap().to_rfc3339(),
        "2026-07-01T12:00:00+00:00"
    );
    // Missing our fields: a clear error naming the first.
    let e =
        challenges::from_codabench_yaml(include_str!("data/competition.yaml"), "{}").unwrap_err();
    assert!(e.to_string().contains("dataset"), "{e}");
}
