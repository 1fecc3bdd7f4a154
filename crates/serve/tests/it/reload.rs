//! `POST /admin/reload`: the token, a good model swapped in during traffic,
//! broken models refused while the old one keeps serving.

use std::sync::Arc;

use pipeline_core::artifacts;
use serve::fixture::{FixtureSpec, write_model};

use crate::helpers::{TestApp, Traffic, default_fixture};

const TOKEN: &str = "test-admin-token";

fn version(app: &TestApp) -> String {
    app.get_json("/").1["model"]["model_version"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn reload_demands_the_admin_token() {
    let fixture = default_fixture();
    let mut settings = fixture.embedded_settings();
    settings.admin_token = Some(TOKEN.to_owned());
    let app = TestApp::spawn(settings);
    let (status, body) = app.reload(None);
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, body) = app.reload(Some("wrong"));
    assert_eq!((status, body["error"].as_str()), (403, Some("forbidden")));
    let (status, body) = app.reload(Some(TOKEN));
    assert_eq!(status, 200, "{body}");

    // Without a configured token nobody may reload.
    let closed = TestApp::spawn(fixture.embedded_settings());
    assert_eq!(closed.reload(Some(TOKEN)).0, 403);
}

#[test]
fn reload_swaps_a_good_model_during_traffic_and_refuses_broken_ones() {
    let fixture = default_fixture();
    let mut settings = fixture.embedded_settings();
    settings.admin_token = Some(TOKEN.to_owned());
    let app = Arc::new(TestApp::spawn(settings));
    let model_dir = fixture.model_dir();
    assert_eq!(version(&app), "fixture-v1");

    // Traffic through every reload: no request may fail.
    let traffic = Traffic::start(&app, &fixture.data.customer_ids, 2);

    // 1. A truncated ranker.txt with a manifest that matches it (so the
    //    checksum does not catch it): the model itself is refused.
    let ranker = artifacts::artifact_path(&model_dir, artifacts::RANKER_FILE);
    let good_text = std::fs::read_to_string(&ranker).unwrap();
    std::fs::write(&ranker, &good_text[..good_text.len() / 2]).unwrap();
    let manifest_path = artifacts::artifact_path(&model_dir, artifacts::MANIFEST_FILE);
    let good_manifest = std::fs::read_to_string(&manifest_path).unwrap();
    let mut manifest: artifacts::Manifest = serde_json::from_str(&good_manifest).unwrap();
    manifest.files.remove(artifacts::RANKER_FILE);
    std::fs::write(&manifest_path, serde_json::to_string(&manifest).unwrap()).unwrap();
    let (status, body) = app.reload(Some(TOKEN));
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"], "unprocessable");
    assert!(
        body["message"].as_str().unwrap().contains("ranker.txt"),
        "{body}"
    );
    assert_eq!(version(&app), "fixture-v1");

    // 2. A file that no longer matches the manifest's checksum.
    std::fs::write(&manifest_path, &good_manifest).unwrap();
    let (status, body) = app.reload(Some(TOKEN));
    assert_eq!(status, 422);
    assert!(
        body["message"].as_str().unwrap().contains("checksum"),
        "{body}"
    );

    // 3. A model needing a feature the store cannot supply.
    std::fs::write(&ranker, &good_text).unwrap();
    let cols_path = artifacts::artifact_path(&model_dir, artifacts::FEATURE_COLS_FILE);
    let mut cols: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(&cols_path).unwrap()).unwrap();
    cols[0] = "lifetime_value".to_owned();
    let renamed = good_text.replacen(
        "feature_names=recency_days",
        "feature_names=lifetime_value",
        1,
    );
    std::fs::write(&ranker, &renamed).unwrap();
    std::fs::write(&cols_path, serde_json::to_string(&cols).unwrap()).unwrap();
    manifest.files.clear();
    std::fs::write(&manifest_path, serde_json::to_string(&manifest).unwrap()).unwrap();
    let (status, body) = app.reload(Some(TOKEN));
    assert_eq!(status, 422);
    assert!(
        body["message"].as_str().unwrap().contains("lifetime_value"),
        "{body}"
    );
    assert_eq!(version(&app), "fixture-v1");

    // 4. A good new model: swapped in.
    let spec = FixtureSpec {
        model_version: "fixture-v2".to_owned(),
        trees: 40,
        seed: 11,
        ..FixtureSpec::default()
    };
    write_model(&model_dir, &fixture.data, &spec).unwrap();
    let (status, body) = app.reload(Some(TOKEN));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["previous_version"], "fixture-v1");
    assert_eq!(body["model"]["model_version"], "fixture-v2");
    assert_eq!(version(&app), "fixture-v2");

    assert!(traffic.wait_for_answers(20), "traffic ran");
    let (ok, failed) = traffic.stop();
    eprintln!("fault figures: reloads under traffic; {ok} requests answered 200, {failed} failed");
    assert_eq!(failed, 0, "no request failed during reloads");
    let text = app.get("/metrics").text().unwrap();
    assert!(
        text.contains("offers_model_reloads_total{result=\"refused\"} 3"),
        "{text}"
    );
    assert!(text.contains("offers_model_reloads_total{result=\"accepted\"} 1"));
    assert!(text.contains("offers_model_info{model_version=\"fixture-v2\"} 1"));
}

#[test]
fn the_token_is_matched_exactly_and_guessing_is_throttled() {
    let fixture = default_fixture();
    let mut settings = fixture.embedded_settings();
    settings.admin_token = Some(TOKEN.to_owned());
    let app = TestApp::spawn(settings);
    // Whitespace around the token is not the token.
    let padded = app
        .client
        .post(format!("{}/admin/reload", app.address))
        .header("Authorization", format!("Bearer  {TOKEN} "))
        .send()
        .unwrap();
    assert_eq!(padded.status(), 403);
    // Four more failures reach the limit of five per window; then even
    // the right token waits, and the answer says for how long.
    for guess in ["a", "b", "c", "d"] {
        assert_eq!(app.reload(Some(guess)).0, 403);
    }
    let response = app
        .client
        .post(format!("{}/admin/reload", app.address))
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .unwrap()
            .to_str()
            .unwrap(),
        "60"
    );
    let body: serde_json::Value = response.json().unwrap();
    assert_eq!(body["error"], "too_many_requests");
}
