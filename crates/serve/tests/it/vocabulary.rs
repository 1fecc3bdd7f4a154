//! The model's vocabulary at serving time: an offer whose type the model
//! has never seen is counted in `/metrics` (and still answered), and a
//! model whose vocabulary the store cannot supply is refused at load.

use pipeline_core::artifacts::{self, Manifest};
use pipeline_core::vocabulary::{Term, VOCABULARY_FILE, Vocabulary};
use polars::prelude::*;

use crate::helpers::{TestApp, default_fixture};

const TOKEN: &str = "vocabulary-test-token";

/// `/metrics`' value of the unseen-values series of `field`.
fn unseen(app: &TestApp, field: &str) -> Option<u64> {
    let text = app.get("/metrics").text().unwrap();
    let series = format!("offers_catalogue_unseen_values{{field=\"{field}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(series.as_str()))
        .map(|v| v.parse().unwrap())
}

#[test]
fn an_offer_type_the_model_never_saw_is_counted_and_still_answered() {
    let fixture = default_fixture();
    let path = fixture.data_dir().join("offers.parquet");
    let mut offers = ParquetReader::new(std::fs::File::open(&path).unwrap())
        .finish()
        .unwrap();
    // Two offers change to types and categories outside the vocabulary.
    let n = offers.height();
    let types: Vec<String> = (0..n)
        .map(|i| match i {
            0 | 1 => "Cashback".to_owned(),
            _ => fixture.data.offers[i].offer_type.clone(),
        })
        .collect();
    let categories: Vec<Option<String>> = (0..n)
        .map(|i| match i {
            0 => Some("Bakery".to_owned()),
            _ => fixture.data.offers[i].category.clone(),
        })
        .collect();
    offers
        .with_column(Column::new("offer_type".into(), types))
        .unwrap();
    offers
        .with_column(Column::new("category".into(), categories))
        .unwrap();
    ParquetWriter::new(std::fs::File::create(&path).unwrap())
        .finish(&mut offers)
        .unwrap();

    let app = TestApp::spawn(fixture.embedded_settings());
    assert_eq!(unseen(&app, "offer_type"), Some(2));
    assert_eq!(unseen(&app, "category"), Some(1));
    // The whole catalogue still answers, the unseen offers included.
    let id = &fixture.data.customer_ids[0];
    let (status, body) = app.get_json(&format!("/recommend/{id}?top_k={n}"));
    assert_eq!(status, 200, "{body}");
    assert!(
        body["recommendations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["score"].as_f64().is_some_and(f64::is_finite)),
        "{body}"
    );

    // The untouched fixture counts nothing.
    let clean = default_fixture();
    let app = TestApp::spawn(clean.embedded_settings());
    assert_eq!(unseen(&app, "offer_type"), Some(0));
}

#[test]
fn a_vocabulary_the_store_cannot_supply_is_refused_and_the_old_model_serves() {
    let fixture = default_fixture();
    let mut settings = fixture.embedded_settings();
    settings.admin_token = Some(TOKEN.to_owned());
    let app = TestApp::spawn(settings);
    let model_dir = fixture.model_dir();

    // A category the store has no `spend_share_…` for.
    let vocabulary_path = model_dir.join(VOCABULARY_FILE);
    let mut vocabulary = Vocabulary::read(&vocabulary_path).unwrap();
    vocabulary.categories.kept.push(Term {
        name: "Echo".into(),
        slug: "echo".into(),
    });
    vocabulary.write(&vocabulary_path).unwrap();
    let manifest_path = artifacts::artifact_path(&model_dir, artifacts::MANIFEST_FILE);
    let mut manifest: Manifest = artifacts::read_json(&manifest_path).unwrap();
    manifest.files.insert(
        VOCABULARY_FILE.to_owned(),
        artifacts::sha256_file(&vocabulary_path).unwrap(),
    );
    manifest.model_version = "fixture-v2".into();
    std::fs::write(&manifest_path, serde_json::to_string(&manifest).unwrap()).unwrap();
    let (status, body) = app.reload(Some(TOKEN));
    assert_eq!(status, 422, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("spend_share_echo"), "{message}");
    let (_, health) = app.get_json("/");
    assert_eq!(health["model"]["model_version"], "fixture-v1", "{health}");

    // A vocabulary file that is not one: refused, naming the file.
    std::fs::write(&vocabulary_path, br#"{"categories": 3}"#).unwrap();
    manifest.files.remove(VOCABULARY_FILE);
    std::fs::write(&manifest_path, serde_json::to_string(&manifest).unwrap()).unwrap();
    let (status, body) = app.reload(Some(TOKEN));
    assert_eq!(status, 422, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains(VOCABULARY_FILE),
        "{body}"
    );
    // And no vocabulary at all: a model from before, to retrain.
    std::fs::remove_file(&vocabulary_path).unwrap();
    let (status, body) = app.reload(Some(TOKEN));
    assert_eq!(status, 422, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("retrain"),
        "{body}"
    );
}
