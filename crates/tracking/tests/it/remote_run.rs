//! A full training run against a real MLflow server, checked through the
//! server's own REST API; and the fast failure when no server is there.

use std::fs;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use serde_json::Value;
use tracking::{RunStatus, Tracker, TrackingError};

use tracking::test_support::MlflowServer;

/// A GET on the server's REST API, outside the client under test.
fn rest_get(uri: &str, endpoint: &str, query: &[(&str, &str)]) -> Value {
    let response = reqwest::blocking::Client::new()
        .get(format!("{uri}/api/2.0/mlflow/{endpoint}"))
        .query(query)
        .send()
        .unwrap_or_else(|e| panic!("GET {endpoint}: {e}"));
    let status = response.status();
    let text = response.text().unwrap();
    assert!(
        status.is_success(),
        "GET {endpoint} {query:?}: HTTP {status}: {text}"
    );
    serde_json::from_str(&text).unwrap()
}

fn by_key<'a>(items: &'a Value, key: &str) -> Option<&'a Value> {
    items
        .as_array()?
        .iter()
        .find(|item| item["key"] == key)
        .map(|item| &item["value"])
}

#[test]
fn a_training_run_lands_on_a_real_mlflow_server() {
    let server = MlflowServer::start();
    let uri = server.uri.as_str();
    let inputs = tempfile::tempdir().unwrap();
    let model_file = inputs.path().join("ranker.txt");
    let model_bytes = "tree\nversion=v4\nnum_leaves=31\n".repeat(200);
    fs::write(&model_file, &model_bytes).unwrap();
    let chart = inputs.path().join("roc curve.png");
    fs::write(&chart, b"\x89PNG\r\n\x1a\nnot-really-a-png").unwrap();

    let tracker = Tracker::from_uri(Some(uri), inputs.path(), "offers-ranker").unwrap();
    assert!(tracker.is_remote());
    assert!(tracker.location().contains(uri), "{}", tracker.location());
    // Getting the experiment again finds the one just created.
    let again = Tracker::mlflow(&format!("{uri}/"), "offers-ranker").unwrap();
    assert_eq!(again.experiment_id(), tracker.experiment_id());
    let experiment = rest_get(
        uri,
        "experiments/get-by-name",
        &[("experiment_name", "offers-ranker")],
    );
    assert_eq!(
        experiment["experiment"]["experiment_id"],
        tracker.experiment_id()
    );

    let mut run = tracker
        .start_run("train-it", &[("stage", "train"), ("data_seed", "7")])
        .unwrap();
    assert!(
        run.artifact_uri().starts_with("mlflow-artifacts:"),
        "{}",
        run.artifact_uri()
    );
    // 150 params and 1100 metrics: more than one log-batch request each.
    let params: Vec<(String, String)> = (0..150)
        .map(|i| (format!("p{i:03}"), format!("value {i}")))
        .collect();
    run.log_params(&params).unwrap();
    run.log_params(&[("long_param", "y".repeat(7000))]).unwrap();
    let many: Vec<(String, f64)> = (0..1100)
        .map(|i| (format!("feature_gain/f{i:04}"), i as f64 / 10.0))
        .collect();
    run.log_metrics(&many, 0).unwrap();
    for step in 0..5 {
        run.log_metrics(&[("train_logloss", 0.7 - step as f64 * 0.1)], step)
            .unwrap();
    }
    run.log_metrics(&[("valid_auc", 0.8125), ("undefined_metric", f64::NAN)], 0)
        .unwrap();
    run.set_tags(&[("git_sha", "abc123")]).unwrap();
    assert_eq!(
        run.log_artifact(&model_file, "model").unwrap(),
        "model/ranker.txt"
    );
    assert_eq!(
        run.log_artifact(&chart, "charts").unwrap(),
        "charts/roc curve.png"
    );
    let bundle = inputs.path().join("bundle");
    fs::create_dir_all(bundle.join("meta")).unwrap();
    fs::write(bundle.join("meta/layout.json"), "{}").unwrap();
    fs::write(bundle.join("ranker.txt"), "tree").unwrap();
    run.log_artifact_dir(&bundle, "bundle").unwrap();
    let v1 = run.register_model("offers-ranker", "model").unwrap();
    let v2 = run
        .register_model("offers-ranker", "model/ranker.txt")
        .unwrap();
    assert_eq!((v1.version.as_str(), v2.version.as_str()), ("1", "2"));
    assert_eq!(v1.source, format!("{}/model", run.artifact_uri()));

    // A param cannot change: the server's refusal names URI and endpoint.
    let err = run.log_params(&[("p000", "another")]).unwrap_err();
    assert!(matches!(err, TrackingError::Server { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(uri) && message.contains("runs/log-batch") && message.contains("p000"),
        "{message}"
    );

    let run_id = run.run_id().to_owned();
    run.finish(RunStatus::Finished).unwrap();

    // Everything is there, as the server reports it.
    let got = rest_get(uri, "runs/get", &[("run_id", &run_id)]);
    let info = &got["run"]["info"];
    assert_eq!(info["status"], "FINISHED");
    assert_eq!(info["run_name"], "train-it");
    assert_eq!(info["experiment_id"], tracker.experiment_id());
    assert!(info["end_time"].as_str().is_some() || info["end_time"].is_i64());
    let data = &got["run"]["data"];
    assert_eq!(data["params"].as_array().unwrap().len(), 151);
    assert_eq!(by_key(&data["params"], "p149").unwrap(), "value 149");
    assert_eq!(
        by_key(&data["params"], "long_param")
            .unwrap()
            .as_str()
            .unwrap()
            .len(),
        tracking::MAX_PARAM_VALUE_CHARS
    );
    assert_eq!(by_key(&data["tags"], "stage").unwrap(), "train");
    assert_eq!(by_key(&data["tags"], "git_sha").unwrap(), "abc123");
    assert_eq!(by_key(&data["tags"], "mlflow.runName").unwrap(), "train-it");
    assert_eq!(by_key(&data["metrics"], "valid_auc").unwrap(), 0.8125);
    assert_eq!(
        by_key(&data["metrics"], "feature_gain/f1099").unwrap(),
        109.9
    );
    assert_eq!(by_key(&data["metrics"], "undefined_metric").unwrap(), "NaN");
    assert_eq!(data["metrics"].as_array().unwrap().len(), 1100 + 3);
    let history = rest_get(
        uri,
        "metrics/get-history",
        &[("run_id", &run_id), ("metric_key", "train_logloss")],
    );
    let mut steps: Vec<i64> = history["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["step"]
                .as_str()
                .map_or_else(|| m["step"].as_i64().unwrap(), |s| s.parse().unwrap())
        })
        .collect();
    steps.sort_unstable();
    assert_eq!(steps, [0, 1, 2, 3, 4]);

    let listed = rest_get(
        uri,
        "artifacts/list",
        &[("run_id", &run_id), ("path", "model")],
    );
    let files = listed["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{listed}");
    assert_eq!(files[0]["path"], "model/ranker.txt");
    let size = &files[0]["file_size"];
    let size = size
        .as_str()
        .map_or_else(|| size.as_u64().unwrap(), |s| s.parse().unwrap());
    assert_eq!(size, model_bytes.len() as u64);
    let listed = rest_get(
        uri,
        "artifacts/list",
        &[("run_id", &run_id), ("path", "charts")],
    );
    assert_eq!(listed["files"][0]["path"], "charts/roc curve.png");
    let listed = rest_get(
        uri,
        "artifacts/list",
        &[("run_id", &run_id), ("path", "bundle/meta")],
    );
    assert_eq!(listed["files"][0]["path"], "bundle/meta/layout.json");
    // The bytes on the server are the bytes sent.
    let artifact_path = run_artifact_path(&got, "model/ranker.txt");
    let downloaded = reqwest::blocking::get(format!(
        "{uri}/api/2.0/mlflow-artifacts/artifacts/{artifact_path}"
    ))
    .unwrap()
    .text()
    .unwrap();
    assert_eq!(downloaded, model_bytes);
    assert!(
        server
            .dir
            .path()
            .join("artifacts")
            .join(&artifact_path)
            .is_file()
    );

    let model = rest_get(uri, "registered-models/get", &[("name", "offers-ranker")]);
    assert_eq!(model["registered_model"]["name"], "offers-ranker");
    let version = rest_get(
        uri,
        "model-versions/get",
        &[("name", "offers-ranker"), ("version", "1")],
    );
    assert_eq!(version["model_version"]["run_id"], run_id.as_str());
    assert_eq!(version["model_version"]["source"], v1.source.as_str());
    let version = rest_get(
        uri,
        "model-versions/get",
        &[("name", "offers-ranker"), ("version", "2")],
    );
    assert_eq!(version["model_version"]["source"], v2.source.as_str());

    // A run abandoned by an early error is not left RUNNING.
    let crashed = tracker.start_run("crashes", &[("stage", "train")]).unwrap();
    let crashed_id = crashed.run_id().to_owned();
    drop(crashed);
    let got = rest_get(uri, "runs/get", &[("run_id", &crashed_id)]);
    assert_eq!(got["run"]["info"]["status"], "FAILED");
}

/// `mlflow-artifacts:/<exp>/<run>/artifacts` + path -> the proxy's path.
fn run_artifact_path(run: &Value, path: &str) -> String {
    let uri = run["run"]["info"]["artifact_uri"].as_str().unwrap();
    let base = uri
        .trim_start_matches("mlflow-artifacts:")
        .trim_start_matches('/');
    format!("{base}/{path}")
}

#[test]
fn an_unreachable_server_fails_at_once_naming_the_uri() {
    // A port that was free a moment ago: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let uri = format!("http://127.0.0.1:{port}");
    let models = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let err = Tracker::from_uri(Some(&uri), models.path(), "offers-ranker").unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(matches!(err, TrackingError::Unreachable { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&uri), "{message}");
    assert!(message.contains("not reachable"), "{message}");
    assert!(message.contains("MLFLOW_TRACKING_URI"), "{message}");
    // Nothing was recorded locally instead.
    assert!(!models.path().join("mlruns").exists());
}

#[test]
fn a_non_http_tracking_uri_is_refused_by_name() {
    let models = tempfile::tempdir().unwrap();
    for uri in ["sqlite:///tmp/mlflow.db", "file:./mlruns", "not a uri"] {
        let err = Tracker::from_uri(Some(uri), models.path(), "offers-ranker").unwrap_err();
        assert!(
            matches!(err, TrackingError::InvalidUri { .. }),
            "{uri}: {err:?}"
        );
        assert!(err.to_string().contains(uri), "{err}");
    }
}

#[test]
fn a_server_that_is_not_mlflow_is_reported_with_its_answer() {
    // A plain HTTP server answering 404 for everything, like a wrong port.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let uri = format!("http://{}", listener.local_addr().unwrap());
    let responder = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = stream.read(&mut buf);
        let body = "<html>no such page</html>";
        let _ = write!(
            stream,
            "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    });
    let models = tempfile::tempdir().unwrap();
    let err = Tracker::from_uri(Some(&uri), models.path(), "offers-ranker").unwrap_err();
    responder.join().unwrap();
    let message = err.to_string();
    assert!(
        matches!(err, TrackingError::Server { status: 404, .. }),
        "{err:?}"
    );
    assert!(
        message.contains(&uri) && message.contains("experiments/get-by-name"),
        "{message}"
    );
    assert!(message.contains("no such page"), "{message}");
}
