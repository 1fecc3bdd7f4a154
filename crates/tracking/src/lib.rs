//! Experiment tracking for training runs: an MLflow tracking server when
//! `MLFLOW_TRACKING_URI` is set, a local record under the model directory
//! otherwise, behind one type so `train` never cares which.
//!
//! # API
//!
//! ```text
//! Tracker::from_env(model_dir: &Path, experiment: &str) -> Result<Tracker>
//!     MLFLOW_TRACKING_URI unset or empty -> Tracker::local(model_dir, experiment)
//!     set                                -> Tracker::mlflow(uri, experiment)
//! Tracker::from_uri(uri: Option<&str>, model_dir: &Path, experiment: &str) -> Result<Tracker>
//! Tracker::local(model_dir: &Path, experiment: &str) -> Result<Tracker>
//! Tracker::mlflow(uri: &str, experiment: &str) -> Result<Tracker>
//!     Talks to the server right away (gets or creates the experiment), so a
//!     server that is down fails here, before any training work, with an
//!     error naming the URI.
//! tracker.location() -> String            where runs go, for a log line
//! tracker.is_remote() -> bool
//! tracker.experiment_id() -> &str
//! tracker.start_run(run_name: &str, tags: &[(K, V)]) -> Result<Run>     K, V: AsRef<str>
//!
//! run.run_id() -> &str
//! run.artifact_uri() -> &str
//! run.log_params(&[(K, V)]) -> Result<()>           batched, 100 per request
//! run.set_tags(&[(K, V)]) -> Result<()>
//! run.log_metrics(&[(K, f64)], step: i64) -> Result<()>   batched, 1000 per request
//! run.log_artifact(local_file: &Path, artifact_dir: &str) -> Result<String>
//!     artifact_dir "" = the run's artifact root; returns "artifact_dir/file_name"
//! run.log_artifact_dir(local_dir: &Path, artifact_dir: &str) -> Result<Vec<String>>
//!     every file under local_dir, keeping sub-folders; returns the artifact paths
//! run.register_model(name: &str, artifact_path: &str) -> Result<ModelVersion>
//!     registers {artifact_uri}/{artifact_path} (log it first) as a new
//!     version of the registered model `name`, creating the model if absent
//! run.finish(RunStatus::Finished | RunStatus::Failed) -> Result<()>
//!     a Run dropped without finish() is marked FAILED (best effort)
//! ```
//!
//! `Tracker` methods take `&self`; `Run` methods take `&mut self` (and
//! `finish` takes the run). `TrackingError` is `Send + Sync`, so `?` turns
//! it into an `anyhow::Error`. Typical use in a stage's `run`:
//!
//! ```no_run
//! # fn main() -> Result<(), tracking::TrackingError> {
//! # let model_dir = std::path::Path::new("models");
//! use tracking::{RunStatus, Tracker};
//!
//! let tracker = Tracker::from_env(model_dir, "offers-ranker")?; // fails fast if the server is down
//! let mut run = tracker.start_run("train", &[("stage", "train")])?;
//! run.log_params(&[("num_leaves", "31"), ("learning_rate", "0.05")])?;
//! run.log_metrics(&[("valid_auc", 0.81)], 0)?;
//! run.log_artifact(&model_dir.join("roc_curve.png"), "charts")?;
//! run.log_artifact(&model_dir.join("ranker.txt"), "model")?;
//! let version = run.register_model("offers-ranker", "model")?;
//! run.finish(RunStatus::Finished)?;
//! # let _ = version;
//! # Ok(())
//! # }
//! ```
//!
//! With a server, credentials come as in MLflow's clients:
//! `MLFLOW_TRACKING_TOKEN` (bearer), `MLFLOW_TRACKING_USERNAME` /
//! `MLFLOW_TRACKING_PASSWORD` (basic) or user info in the URI.
//!
//! Keys (params, metrics, tags) follow MLflow's rules: at most 250
//! characters of letters, digits, `_ - . / :` and space, not a path that
//! would normalize to something else. Param values longer than 6000
//! characters and tag values longer than 8000 are truncated (with a
//! warning), as the server would. The local layout is documented in
//! `local.rs`: `{model_dir}/mlruns/experiments/<experiment>/<run_id>/run.json`
//! plus `artifacts/`, and `{model_dir}/mlruns/registered_models/<model>.json`.

pub mod error;
mod local;
mod mlflow;
#[cfg(feature = "test-support")]
pub mod test_support;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use error::{Result, TrackingError};

use local::{LocalRun, LocalStore};
use mlflow::{KeyValue, MetricValue, MlflowClient};

/// The variable that selects a tracking server, as in MLflow's own clients.
pub const TRACKING_URI_ENV: &str = "MLFLOW_TRACKING_URI";
/// MLflow's `runs/log-batch` limits (mlflow/utils/validation.py).
pub const MAX_PARAMS_PER_BATCH: usize = 100;
pub const MAX_TAGS_PER_BATCH: usize = 100;
pub const MAX_METRICS_PER_BATCH: usize = 1000;
pub const MAX_KEY_CHARS: usize = 250;
pub const MAX_PARAM_VALUE_CHARS: usize = 6000;
pub const MAX_TAG_VALUE_CHARS: usize = 8000;

/// A run's lifecycle state, as MLflow names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunStatus {
    Running,
    Finished,
    Failed,
    Killed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "RUNNING",
            Self::Finished => "FINISHED",
            Self::Failed => "FAILED",
            Self::Killed => "KILLED",
        }
    }
}

/// A registered model version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelVersion {
    pub name: String,
    /// "1", "2", ... as MLflow numbers them.
    pub version: String,
    /// What was registered: `{artifact_uri}/{artifact_path}` (a file path
    /// for local runs).
    pub source: String,
}

#[derive(Debug)]
enum Backend {
    Local(LocalStore),
    Mlflow(MlflowClient),
}

/// Where runs of one experiment are recorded.
#[derive(Debug)]
pub struct Tracker {
    backend: Backend,
    experiment: String,
    experiment_id: String,
}

impl Tracker {
    /// MLflow at `MLFLOW_TRACKING_URI` if it is set and not empty, else the
    /// local recorder under `model_dir`.
    pub fn from_env(model_dir: &Path, experiment: &str) -> Result<Self> {
        let uri = std::env::var(TRACKING_URI_ENV).ok();
        Self::from_uri(uri.as_deref(), model_dir, experiment)
    }

    /// [`Tracker::from_env`] with the URI given: `None` or blank selects
    /// the local recorder.
    pub fn from_uri(uri: Option<&str>, model_dir: &Path, experiment: &str) -> Result<Self> {
        match uri {
            Some(uri) if !uri.trim().is_empty() => Self::mlflow(uri, experiment),
            _ => Self::local(model_dir, experiment),
        }
    }

    /// Records runs under `{model_dir}/mlruns/`; needs no server.
    pub fn local(model_dir: &Path, experiment: &str) -> Result<Self> {
        check_experiment_name(experiment)?;
        let store = LocalStore::new(model_dir, experiment)?;
        Ok(Self {
            experiment_id: local::file_name(experiment),
            backend: Backend::Local(store),
            experiment: experiment.to_owned(),
        })
    }

    /// Connects to the MLflow tracking server at `uri` and gets or creates
    /// the experiment. Fails now if the server cannot be reached.
    pub fn mlflow(uri: &str, experiment: &str) -> Result<Self> {
        check_experiment_name(experiment)?;
        let client = MlflowClient::new(uri)?;
        let experiment_id = client.get_or_create_experiment(experiment)?;
        tracing::debug!(
            uri = client.uri(),
            experiment,
            experiment_id,
            "MLflow experiment ready"
        );
        Ok(Self {
            backend: Backend::Mlflow(client),
            experiment: experiment.to_owned(),
            experiment_id,
        })
    }

    pub fn is_remote(&self) -> bool {
        matches!(self.backend, Backend::Mlflow(_))
    }

    pub fn experiment(&self) -> &str {
        &self.experiment
    }

    /// MLflow's experiment id, or the experiment's folder name locally.
    pub fn experiment_id(&self) -> &str {
        &self.experiment_id
    }

    /// Where runs go, for a log line.
    pub fn location(&self) -> String {
        match &self.backend {
            Backend::Local(store) => {
                format!("local run record {}", store.experiment_dir().display())
            }
            Backend::Mlflow(client) => format!(
                "MLflow {} experiment `{}` (id {})",
                client.uri(),
                self.experiment,
                self.experiment_id
            ),
        }
    }

    /// Starts a run named `run_name` with `tags`.
    pub fn start_run<K: AsRef<str>, V: AsRef<str>>(
        &self,
        run_name: &str,
        tags: &[(K, V)],
    ) -> Result<Run> {
        let tags = key_values("tag", tags, MAX_TAG_VALUE_CHARS)?;
        match &self.backend {
            Backend::Local(store) => {
                let run = store.start_run(run_name, &tags)?;
                Ok(Run {
                    run_id: run.run_id().to_owned(),
                    artifact_uri: run.artifacts_dir().display().to_string(),
                    backend: RunBackend::Local(run),
                    finished: false,
                })
            }
            Backend::Mlflow(client) => {
                // runs/create takes any number of tags; keep within the
                // log-batch limit anyway by sending the rest afterwards.
                let (first, rest) = tags.split_at(tags.len().min(MAX_TAGS_PER_BATCH));
                let created = client.create_run(&self.experiment_id, run_name, first, now_ms())?;
                let mut run = Run {
                    run_id: created.run_id,
                    artifact_uri: created.artifact_uri,
                    backend: RunBackend::Mlflow(client.clone()),
                    finished: false,
                };
                for chunk in rest.chunks(MAX_TAGS_PER_BATCH) {
                    run.send_batch(&[], &[], chunk)?;
                }
                Ok(run)
            }
        }
    }
}

#[derive(Debug)]
enum RunBackend {
    Local(LocalRun),
    Mlflow(MlflowClient),
}

/// One training run. Finish it with [`Run::finish`]; dropped unfinished, it
/// is marked FAILED.
#[derive(Debug)]
pub struct Run {
    backend: RunBackend,
    run_id: String,
    artifact_uri: String,
    finished: bool,
}

impl Run {
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// `mlflow-artifacts:/<experiment_id>/<run_id>/artifacts` on a proxied
    /// MLflow server; the run's `artifacts` folder locally.
    pub fn artifact_uri(&self) -> &str {
        &self.artifact_uri
    }

    pub fn is_remote(&self) -> bool {
        matches!(self.backend, RunBackend::Mlflow(_))
    }

    /// The run's folder (holding `run.json`) for a local run.
    pub fn local_dir(&self) -> Option<PathBuf> {
        match &self.backend {
            RunBackend::Local(run) => run.artifacts_dir().parent().map(Path::to_path_buf),
            RunBackend::Mlflow(_) => None,
        }
    }

    fn send_batch(
        &mut self,
        metrics: &[MetricValue],
        params: &[KeyValue],
        tags: &[KeyValue],
    ) -> Result<()> {
        match &mut self.backend {
            RunBackend::Local(run) => run.log(metrics, params, tags),
            RunBackend::Mlflow(client) => client.log_batch(&self.run_id, metrics, params, tags),
        }
    }

    /// Logs params, at most 100 per request.
    pub fn log_params<K: AsRef<str>, V: AsRef<str>>(&mut self, params: &[(K, V)]) -> Result<()> {
        let params = key_values("param", params, MAX_PARAM_VALUE_CHARS)?;
        for chunk in params.chunks(MAX_PARAMS_PER_BATCH) {
            self.send_batch(&[], chunk, &[])?;
        }
        Ok(())
    }

    /// Sets tags (a tag may be overwritten, unlike a param).
    pub fn set_tags<K: AsRef<str>, V: AsRef<str>>(&mut self, tags: &[(K, V)]) -> Result<()> {
        let tags = key_values("tag", tags, MAX_TAG_VALUE_CHARS)?;
        for chunk in tags.chunks(MAX_TAGS_PER_BATCH) {
            self.send_batch(&[], &[], chunk)?;
        }
        Ok(())
    }

    /// Logs metric values at `step` (e.g. the boosting round; 0 for final
    /// figures), stamped now, at most 1000 per request.
    pub fn log_metrics<K: AsRef<str>>(&mut self, metrics: &[(K, f64)], step: i64) -> Result<()> {
        let timestamp = now_ms();
        let metrics = metrics
            .iter()
            .map(|(key, value)| {
                let key = key.as_ref();
                check_key("metric", key)?;
                Ok(MetricValue {
                    key: key.to_owned(),
                    value: metric_json(*value),
                    timestamp,
                    step,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        for chunk in metrics.chunks(MAX_METRICS_PER_BATCH) {
            self.send_batch(chunk, &[], &[])?;
        }
        Ok(())
    }

    /// Copies (locally) or uploads (MLflow artifact proxy) the file
    /// `local_file` to `{artifact_dir}/{file name}` in the run's artifacts
    /// and returns that artifact path.
    pub fn log_artifact(&mut self, local_file: &Path, artifact_dir: &str) -> Result<String> {
        let file_name = local_file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| {
                TrackingError::invalid(
                    "artifact file",
                    &local_file.display().to_string(),
                    "it has no file name",
                )
            })?;
        let artifact_dir = artifact_dir.trim_matches('/');
        let artifact_path = if artifact_dir.is_empty() {
            file_name
        } else {
            format!("{artifact_dir}/{file_name}")
        };
        check_artifact_path(&artifact_path)?;
        if !local_file.is_file() {
            return Err(TrackingError::io(
                local_file,
                std::io::Error::new(std::io::ErrorKind::NotFound, "artifact file not found"),
            ));
        }
        match &mut self.backend {
            RunBackend::Local(run) => run.log_artifact(local_file, &artifact_path)?,
            RunBackend::Mlflow(client) => {
                client.upload_artifact(
                    &self.run_id,
                    &self.artifact_uri,
                    &artifact_path,
                    local_file,
                )?;
            }
        }
        Ok(artifact_path)
    }

    /// Logs every file under `local_dir` (recursively, in name order) to
    /// `{artifact_dir}/{path relative to local_dir}` and returns the
    /// artifact paths.
    pub fn log_artifact_dir(
        &mut self,
        local_dir: &Path,
        artifact_dir: &str,
    ) -> Result<Vec<String>> {
        let mut files = Vec::new();
        collect_files(local_dir, &mut files)?;
        let artifact_dir = artifact_dir.trim_matches('/');
        let mut logged = Vec::with_capacity(files.len());
        for file in files {
            let relative_dir = file
                .parent()
                .and_then(|parent| parent.strip_prefix(local_dir).ok())
                .map(|rel| rel.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            let target = match (artifact_dir.is_empty(), relative_dir.is_empty()) {
                (true, _) => relative_dir,
                (false, true) => artifact_dir.to_owned(),
                (false, false) => format!("{artifact_dir}/{relative_dir}"),
            };
            logged.push(self.log_artifact(&file, &target)?);
        }
        Ok(logged)
    }

    /// Registers the logged artifact `artifact_path` (a file or folder under
    /// the run's artifacts) as a new version of the registered model `name`.
    pub fn register_model(&mut self, name: &str, artifact_path: &str) -> Result<ModelVersion> {
        if name.trim().is_empty() {
            return Err(TrackingError::invalid(
                "registered model name",
                name,
                "it is empty",
            ));
        }
        let artifact_path = artifact_path.trim_matches('/');
        check_artifact_path(artifact_path)?;
        match &mut self.backend {
            RunBackend::Local(run) => run.register_model(name, artifact_path),
            RunBackend::Mlflow(client) => {
                let source = format!(
                    "{}/{artifact_path}",
                    self.artifact_uri.trim_end_matches('/')
                );
                client.ensure_registered_model(name)?;
                let version = client.create_model_version(name, &source, &self.run_id)?;
                Ok(ModelVersion {
                    name: name.to_owned(),
                    version,
                    source,
                })
            }
        }
    }

    fn end(&mut self, status: RunStatus) -> Result<()> {
        self.finished = true;
        let end_time = now_ms();
        match &mut self.backend {
            RunBackend::Local(run) => run.finish(status, end_time),
            RunBackend::Mlflow(client) => {
                client.update_run(&self.run_id, status.as_str(), end_time)
            }
        }
    }

    /// Ends the run with `status` (FINISHED or FAILED, usually).
    pub fn finish(mut self, status: RunStatus) -> Result<()> {
        self.end(status)
    }
}

impl Drop for Run {
    /// A run left behind by an early `?` would stay RUNNING forever.
    fn drop(&mut self) {
        if !self.finished
            && let Err(e) = self.end(RunStatus::Failed)
        {
            tracing::warn!(run_id = %self.run_id, "could not mark the unfinished run FAILED: {e}");
        }
    }
}

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries = std::fs::read_dir(dir)
        .map_err(|e| TrackingError::io(dir, e))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| TrackingError::io(dir, e))?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_files(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// Protobuf's JSON mapping spells non-finite doubles as strings.
fn metric_json(value: f64) -> Value {
    if value.is_nan() {
        Value::from("NaN")
    } else if value == f64::INFINITY {
        Value::from("Infinity")
    } else if value == f64::NEG_INFINITY {
        Value::from("-Infinity")
    } else {
        Value::from(value)
    }
}

fn key_values<K: AsRef<str>, V: AsRef<str>>(
    what: &'static str,
    pairs: &[(K, V)],
    max_value: usize,
) -> Result<Vec<KeyValue>> {
    pairs
        .iter()
        .map(|(key, value)| {
            let key = key.as_ref();
            check_key(what, key)?;
            Ok(KeyValue {
                key: key.to_owned(),
                value: truncate_value(what, key, value.as_ref(), max_value),
            })
        })
        .collect()
}

fn truncate_value(what: &str, key: &str, value: &str, max_chars: usize) -> String {
    match value.char_indices().nth(max_chars) {
        Some((cut, _)) => {
            tracing::warn!(
                "{what} `{key}`: value of {} characters truncated to MLflow's limit of {max_chars}",
                value.chars().count()
            );
            value[..cut].to_owned()
        }
        None => value.to_owned(),
    }
}

/// MLflow's key rule (mlflow/utils/validation.py): letters, digits, `_`,
/// `-`, `.`, space, `/`, `:`; at most 250 characters; and, since keys may
/// become file names, a path that normalizes to itself.
fn check_key(what: &'static str, key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(TrackingError::invalid(what, key, "the key is empty"));
    }
    if key.chars().count() > MAX_KEY_CHARS {
        return Err(TrackingError::invalid(
            what,
            key,
            format!("keys are at most {MAX_KEY_CHARS} characters"),
        ));
    }
    if let Some(bad) = key
        .chars()
        .find(|&c| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ' | '/' | ':')))
    {
        return Err(TrackingError::invalid(
            what,
            key,
            format!(
                "character {bad:?} is not allowed (letters, digits, `_ - . / :` and space are)"
            ),
        ));
    }
    if !normalizes_to_itself(key) {
        return Err(TrackingError::invalid(
            what,
            key,
            "keys may become file paths and this one is not a plain relative path",
        ));
    }
    Ok(())
}

fn check_artifact_path(path: &str) -> Result<()> {
    if path.is_empty() || path.contains('\\') || path.contains('\0') || !normalizes_to_itself(path)
    {
        return Err(TrackingError::invalid(
            "artifact path",
            path,
            "expected a relative path of names separated by `/`, without `.` or `..`",
        ));
    }
    Ok(())
}

/// True for `a/b c/d`; false for `/a`, `a//b`, `a/`, `./a`, `a/../b`.
fn normalizes_to_itself(path: &str) -> bool {
    !path.starts_with('/')
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

fn check_experiment_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(TrackingError::invalid(
            "experiment name",
            name,
            "it is empty",
        ));
    }
    if name.chars().count() > 500 {
        return Err(TrackingError::invalid(
            "experiment name",
            name,
            "it is longer than 500 characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_mlflow_rules() {
        assert!(check_key("param", "learning_rate").is_ok());
        assert!(check_key("metric", "val/auc at k:10").is_ok());
        for bad in [
            "",
            "/abs",
            "a//b",
            "a/",
            "./a",
            "a/../b",
            "semi;colon",
            &"k".repeat(251),
        ] {
            assert!(
                check_key("param", bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn long_values_are_truncated_on_a_char_boundary() {
        let value = "é".repeat(MAX_PARAM_VALUE_CHARS + 10);
        let cut = truncate_value("param", "k", &value, MAX_PARAM_VALUE_CHARS);
        assert_eq!(cut.chars().count(), MAX_PARAM_VALUE_CHARS);
    }

    #[test]
    fn non_finite_metrics_use_protobuf_spelling() {
        assert_eq!(metric_json(f64::NAN), Value::from("NaN"));
        assert_eq!(metric_json(f64::NEG_INFINITY), Value::from("-Infinity"));
        assert_eq!(metric_json(0.5), Value::from(0.5));
    }
}
