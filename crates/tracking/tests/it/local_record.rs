//! The local recorder: the documented layout under `{model_dir}/mlruns/`.

use std::fs;
use std::path::Path;

use serde_json::Value;
use tracking::{RunStatus, Tracker};

fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn blank_uri_selects_the_local_recorder() {
    let models = tempfile::tempdir().unwrap();
    for uri in [None, Some(""), Some("  ")] {
        let tracker = Tracker::from_uri(uri, models.path(), "offers-ranker").unwrap();
        assert!(!tracker.is_remote(), "{uri:?} should record locally");
    }
    assert!(
        models
            .path()
            .join("mlruns/experiments/offers-ranker")
            .is_dir()
    );
}

#[test]
fn local_run_records_params_metrics_artifacts_and_model_versions() {
    let models = tempfile::tempdir().unwrap();
    let inputs = tempfile::tempdir().unwrap();
    let model_file = inputs.path().join("ranker.txt");
    fs::write(&model_file, "tree\nversion=v4\n").unwrap();

    let tracker = Tracker::local(models.path(), "offers ranker").unwrap();
    let mut run = tracker
        .start_run("train-2026", &[("stage", "train")])
        .unwrap();
    let params: Vec<(String, String)> = (0..150)
        .map(|i| (format!("p{i:03}"), i.to_string()))
        .collect();
    run.log_params(&params).unwrap();
    run.log_params(&[("long", "x".repeat(7000))]).unwrap();
    run.log_metrics(&[("valid_auc", 0.81), ("broken", f64::NAN)], 3)
        .unwrap();
    run.set_tags(&[("git_sha", "abc123")]).unwrap();
    assert_eq!(
        run.log_artifact(&model_file, "model").unwrap(),
        "model/ranker.txt"
    );
    let bundle = inputs.path().join("bundle");
    fs::create_dir_all(bundle.join("meta")).unwrap();
    fs::write(bundle.join("meta/layout.json"), "{}").unwrap();
    fs::write(bundle.join("ranker.txt"), "tree").unwrap();
    assert_eq!(
        run.log_artifact_dir(&bundle, "bundle").unwrap(),
        ["bundle/meta/layout.json", "bundle/ranker.txt"]
    );
    let v1 = run
        .register_model("offers-ranker", "model/ranker.txt")
        .unwrap();
    let v2 = run.register_model("offers-ranker", "model").unwrap();
    assert_eq!((v1.version.as_str(), v2.version.as_str()), ("1", "2"));
    let run_dir = run.local_dir().unwrap();
    let run_id = run.run_id().to_owned();
    run.finish(RunStatus::Finished).unwrap();

    // Spaces are not kept in folder names.
    assert_eq!(
        run_dir,
        models
            .path()
            .join("mlruns/experiments/offers_ranker")
            .join(&run_id)
    );
    assert_eq!(run_id.len(), 32);
    let record = read_json(&run_dir.join("run.json"));
    assert_eq!(record["status"], "FINISHED");
    assert_eq!(record["run_name"], "train-2026");
    assert_eq!(record["experiment"], "offers ranker");
    assert!(record["end_time"].as_i64().unwrap() >= record["start_time"].as_i64().unwrap());
    assert_eq!(record["tags"]["stage"], "train");
    assert_eq!(record["tags"]["git_sha"], "abc123");
    assert_eq!(record["params"].as_object().unwrap().len(), 151);
    assert_eq!(record["params"]["p149"], "149");
    assert_eq!(
        record["params"]["long"].as_str().unwrap().len(),
        tracking::MAX_PARAM_VALUE_CHARS
    );
    let metrics = record["metrics"].as_array().unwrap();
    assert_eq!(metrics.len(), 2);
    assert_eq!(metrics[0]["key"], "valid_auc");
    assert_eq!(metrics[0]["value"], 0.81);
    assert_eq!(metrics[0]["step"], 3);
    assert_eq!(metrics[1]["value"], "NaN");
    assert_eq!(
        record["artifacts"],
        serde_json::json!([
            "model/ranker.txt",
            "bundle/meta/layout.json",
            "bundle/ranker.txt"
        ])
    );
    assert!(run_dir.join("artifacts/bundle/meta/layout.json").is_file());
    assert_eq!(
        fs::read(run_dir.join("artifacts/model/ranker.txt")).unwrap(),
        fs::read(&model_file).unwrap()
    );
    assert_eq!(record["model_versions"].as_array().unwrap().len(), 2);

    let registry = read_json(
        &models
            .path()
            .join("mlruns/registered_models/offers-ranker.json"),
    );
    let versions = registry["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[1]["version"], "2");
    assert_eq!(versions[0]["run_id"], run_id.as_str());
    assert!(
        versions[0]["source"]
            .as_str()
            .unwrap()
            .ends_with("artifacts/model/ranker.txt")
    );
    // No temporary files are left behind.
    let leftovers: Vec<_> = fs::read_dir(&run_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_param_cannot_change_and_bad_names_are_rejected() {
    let models = tempfile::tempdir().unwrap();
    let tracker = Tracker::local(models.path(), "offers-ranker").unwrap();
    let mut run = tracker.start_run("r", &[] as &[(&str, &str)]).unwrap();
    run.log_params(&[("num_leaves", "31")]).unwrap();
    run.log_params(&[("num_leaves", "31")]).unwrap();
    let err = run
        .log_params(&[("num_leaves", "63")])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("num_leaves") && err.contains("31") && err.contains("63"),
        "{err}"
    );
    let err = run
        .log_metrics(&[("auc;drop", 1.0)], 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("auc;drop"), "{err}");
    let file = models.path().join("x.txt");
    fs::write(&file, "x").unwrap();
    let err = run
        .log_artifact(&file, "../escape")
        .unwrap_err()
        .to_string();
    assert!(err.contains("../escape"), "{err}");
    let err = run
        .register_model("offers-ranker", "model")
        .unwrap_err()
        .to_string();
    assert!(err.contains("log the model"), "{err}");
    let missing = models.path().join("missing.txt");
    let err = run.log_artifact(&missing, "model").unwrap_err().to_string();
    assert!(err.contains("missing.txt"), "{err}");
}

#[test]
fn a_run_dropped_unfinished_is_marked_failed() {
    let models = tempfile::tempdir().unwrap();
    let tracker = Tracker::local(models.path(), "offers-ranker").unwrap();
    let run = tracker.start_run("crashes", &[("stage", "train")]).unwrap();
    let dir = run.local_dir().unwrap();
    assert_eq!(read_json(&dir.join("run.json"))["status"], "RUNNING");
    drop(run);
    let record = read_json(&dir.join("run.json"));
    assert_eq!(record["status"], "FAILED");
    assert!(record["end_time"].is_i64());
}
