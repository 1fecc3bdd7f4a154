//! A model file is untrusted input: a `ranker.txt` cut anywhere, or one
//! whose `tree_sizes` header lies, with a manifest checksum updated to match
//! it, is refused at start-up and on reload. Under traffic no request fails
//! and the old model keeps serving. (LightGBM's own loader read past the
//! end of such files and killed the process.)

use std::sync::Arc;

use pipeline_core::artifacts;

use crate::helpers::{TestApp, TestFixture, Traffic, default_fixture};

const TOKEN: &str = "test-admin-token";

/// Writes `text` as the fixture's ranker and updates the manifest's
/// checksum, so only the model check itself can refuse it.
fn install(fixture: &TestFixture, text: &str) {
    let model_dir = fixture.model_dir();
    let ranker = artifacts::artifact_path(&model_dir, artifacts::RANKER_FILE);
    std::fs::write(&ranker, text).unwrap();
    let manifest_path = artifacts::artifact_path(&model_dir, artifacts::MANIFEST_FILE);
    let mut manifest: artifacts::Manifest =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    manifest.files.insert(
        artifacts::RANKER_FILE.to_owned(),
        artifacts::sha256_file(&ranker).unwrap(),
    );
    std::fs::write(&manifest_path, serde_json::to_string(&manifest).unwrap()).unwrap();
}

/// The reported cuts (33% and 50% of the file), every line boundary within
/// 15 lines of each and a few bytes into each of those lines, and the first
/// and last bytes of the tree section.
fn cut_points(text: &str) -> Vec<usize> {
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let mut cuts = Vec::new();
    for share in [0.33, 0.5] {
        let at = (text.len() as f64 * share) as usize;
        cuts.push(at);
        let line = line_starts.partition_point(|&s| s <= at);
        for &start in &line_starts[line.saturating_sub(15)..(line + 15).min(line_starts.len())] {
            cuts.extend([start, start + 4]);
        }
    }
    let trees = text.find("Tree=0").unwrap();
    let end = text.find("end of trees").unwrap();
    cuts.extend([trees, trees + 1, end - 1, end, end + 5]);
    cuts.retain(|&c| c < text.len());
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

/// The header's `tree_sizes` rewritten: one entry too many, one too few,
/// larger than the file, and a boundary moved.
fn lying_headers(text: &str) -> Vec<(&'static str, String)> {
    let line = text.lines().find(|l| l.starts_with("tree_sizes=")).unwrap();
    let sizes: Vec<usize> = line["tree_sizes=".len()..]
        .split(' ')
        .map(|s| s.parse().unwrap())
        .collect();
    let with = |sizes: Vec<usize>| {
        let list: Vec<String> = sizes.iter().map(usize::to_string).collect();
        text.replacen(line, &format!("tree_sizes={}", list.join(" ")), 1)
    };
    let mut longer = sizes.clone();
    longer.push(sizes[0]);
    let mut shorter = sizes.clone();
    shorter.pop();
    let mut larger = sizes.clone();
    *larger.last_mut().unwrap() = text.len() * 10;
    let mut moved = sizes.clone();
    moved[0] += 10;
    moved[1] -= 10;
    vec![
        ("longer", with(longer)),
        ("shorter", with(shorter)),
        ("larger than the file", with(larger)),
        ("a boundary moved", with(moved)),
    ]
}

fn good_text(fixture: &TestFixture) -> String {
    let ranker = artifacts::artifact_path(&fixture.model_dir(), artifacts::RANKER_FILE);
    std::fs::read_to_string(ranker).unwrap()
}

#[test]
fn a_cut_or_lying_model_is_refused_at_start_up() {
    let fixture = default_fixture();
    let text = good_text(&fixture);
    let mut cases: Vec<(String, String)> = [0.33, 0.5]
        .iter()
        .map(|share| {
            let cut = (text.len() as f64 * share) as usize;
            (format!("cut at {share}"), text[..cut].to_owned())
        })
        .collect();
    cases.extend(
        lying_headers(&text)
            .into_iter()
            .map(|(what, t)| (what.to_owned(), t)),
    );
    for (what, damaged) in cases {
        install(&fixture, &damaged);
        let err = TestApp::try_spawn(fixture.embedded_settings())
            .err()
            .unwrap_or_else(|| panic!("{what}: the service started on a damaged model"));
        assert!(err.contains("ranker.txt"), "{what}: {err}");
    }
    install(&fixture, &text);
    assert!(TestApp::try_spawn(fixture.embedded_settings()).is_ok());
}

#[test]
fn every_cut_and_lie_is_refused_on_reload_under_traffic() {
    let fixture = default_fixture();
    let text = good_text(&fixture);
    let mut settings = fixture.embedded_settings();
    settings.admin_token = Some(TOKEN.to_owned());
    let app = Arc::new(TestApp::spawn(settings));

    let traffic = Traffic::start(&app, &fixture.data.customer_ids, 2);

    let mut cases: Vec<(String, String)> = cut_points(&text)
        .into_iter()
        .map(|cut| (format!("cut at byte {cut}"), text[..cut].to_owned()))
        .collect();
    cases.extend(
        lying_headers(&text)
            .into_iter()
            .map(|(what, t)| (what.to_owned(), t)),
    );
    assert!(cases.len() > 100, "{} cases", cases.len());
    for (what, damaged) in &cases {
        install(&fixture, damaged);
        let (status, body) = app.reload(Some(TOKEN));
        assert_eq!(status, 422, "{what}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains("ranker.txt"),
            "{what}: {body}"
        );
        let serving = app.get_json("/").1["model"]["model_version"].clone();
        assert_eq!(serving, "fixture-v1", "{what}: the old model keeps serving");
    }
    assert!(traffic.wait_for_answers(50), "traffic ran");
    let (ok, failed) = traffic.stop();
    // The figures the operator's notes quote (run with --nocapture).
    eprintln!(
        "fault figures: {} cut or lying models refused on reload under traffic; {ok} requests answered 200, {failed} failed",
        cases.len()
    );
    assert_eq!(failed, 0, "no request failed");
    let metrics = app.get("/metrics").text().unwrap();
    let refused = format!(
        "offers_model_reloads_total{{result=\"refused\"}} {}",
        cases.len()
    );
    assert!(metrics.contains(&refused), "{refused} in {metrics}");
}
