//! A saved `er_model.json` is untrusted input: one whose shapes or
//! probabilities do not fit its settings is refused, naming the file, and
//! the earlier outputs stay as they were.

use super::*;

/// Runs once to save a model, damages it with `damage`, and returns the
/// error of the next run and whether the first run's outputs survived.
fn rerun_with_damaged_model(damage: impl Fn(&mut serde_json::Value)) -> (String, bool) {
    let out = tempfile::tempdir().unwrap();
    let config = febrl_config(febrl("dataset1.csv"), out.path());
    run(&config).unwrap();
    let model_path = out.path().join("er_model.json");
    let map_before = std::fs::read(out.path().join("entity_map.parquet")).unwrap();
    let mut model: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&model_path).unwrap()).unwrap();
    damage(&mut model);
    std::fs::write(&model_path, serde_json::to_vec(&model).unwrap()).unwrap();
    let err = run(&config).expect_err("a damaged model must be refused");
    let map_after = std::fs::read(out.path().join("entity_map.parquet")).unwrap();
    (format!("{err:#}"), map_before == map_after)
}

#[test]
fn a_model_file_with_a_short_level_vector_is_refused_by_name() {
    let (err, kept) = rerun_with_damaged_model(|m| {
        let levels = m["classes"][0]["levels"][0].as_array_mut().unwrap();
        levels.truncate(1);
    });
    assert!(err.contains("er_model.json"), "{err}");
    assert!(err.contains("has 1 values"), "{err}");
    assert!(kept, "the earlier entity_map must be left as it was");
}

#[test]
fn a_model_file_with_an_impossible_probability_is_refused() {
    let (err, kept) = rerun_with_damaged_model(|m| {
        m["fields"][0]["m"][0] = serde_json::json!(-3.0);
    });
    assert!(err.contains("er_model.json"), "{err}");
    assert!(err.contains("expected a probability"), "{err}");
    assert!(kept);
}

#[test]
fn a_model_file_missing_a_field_model_is_refused() {
    let (err, kept) = rerun_with_damaged_model(|m| {
        m["fields"].as_array_mut().unwrap().pop();
    });
    assert!(err.contains("field models for the"), "{err}");
    assert!(kept);
}
