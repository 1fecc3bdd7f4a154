//! The local run recorder, used when no tracking server is configured.
//!
//! Layout under `{model_dir}/mlruns/`:
//!
//! ```text
//! experiments/<experiment>/<run_id>/run.json         the run (see below)
//! experiments/<experiment>/<run_id>/artifacts/<path> copies of logged files
//! registered_models/<model>.json                     {"name", "versions": [{"version",
//!                                                     "source", "run_id", "creation_timestamp"}]}
//! ```
//!
//! `run.json` holds `run_id`, `run_name`, `experiment`, `status`
//! (`RUNNING`, `FINISHED`, `FAILED`, `KILLED`), `start_time` / `end_time`
//! (Unix milliseconds, `end_time` null while running), `tags` and `params`
//! (string maps), `metrics` (every logged value: `key`, `value`,
//! `timestamp`, `step`; non-finite values as the strings `"NaN"`,
//! `"Infinity"`, `"-Infinity"`, as MLflow's JSON has them), `artifacts`
//! (paths relative to `artifacts/`) and `model_versions` (`name`,
//! `version`, `source`). It is rewritten atomically after every call, so a
//! crashed run still shows what it logged and `status: RUNNING`.
//! Experiment and model names become folder and file names with every
//! character other than `A-Z a-z 0-9 . _ -` replaced by `_`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Result, TrackingError};
use crate::mlflow::{KeyValue, MetricValue};
use crate::{ModelVersion, RunStatus, now_ms};

/// Where local runs of one experiment go.
#[derive(Debug, Clone)]
pub(crate) struct LocalStore {
    root: PathBuf,
    experiment: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LocalMetric {
    pub key: String,
    pub value: Value,
    pub timestamp: i64,
    pub step: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LocalModelVersion {
    pub name: String,
    pub version: String,
    pub source: String,
}

/// The content of `run.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RunRecord {
    pub run_id: String,
    pub run_name: String,
    pub experiment: String,
    pub status: RunStatus,
    pub start_time: i64,
    pub end_time: Option<i64>,
    pub tags: BTreeMap<String, String>,
    pub params: BTreeMap<String, String>,
    pub metrics: Vec<LocalMetric>,
    pub artifacts: Vec<String>,
    pub model_versions: Vec<LocalModelVersion>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RegistryVersion {
    version: String,
    source: String,
    run_id: String,
    creation_timestamp: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RegisteredModel {
    name: String,
    versions: Vec<RegistryVersion>,
}

/// One run being recorded.
#[derive(Debug)]
pub(crate) struct LocalRun {
    store: LocalStore,
    dir: PathBuf,
    record: RunRecord,
}

impl LocalStore {
    pub(crate) fn new(model_dir: &Path, experiment: &str) -> Result<Self> {
        let root = model_dir.join("mlruns");
        let dir = root.join("experiments").join(file_name(experiment));
        fs::create_dir_all(&dir).map_err(|e| TrackingError::io(&dir, e))?;
        Ok(Self {
            root,
            experiment: experiment.to_owned(),
        })
    }

    pub(crate) fn experiment_dir(&self) -> PathBuf {
        self.root
            .join("experiments")
            .join(file_name(&self.experiment))
    }

    pub(crate) fn start_run(&self, run_name: &str, tags: &[KeyValue]) -> Result<LocalRun> {
        let run_id = new_run_id();
        let dir = self.experiment_dir().join(&run_id);
        let artifacts = dir.join("artifacts");
        fs::create_dir_all(&artifacts).map_err(|e| TrackingError::io(&artifacts, e))?;
        let run = LocalRun {
            store: self.clone(),
            dir,
            record: RunRecord {
                run_id,
                run_name: run_name.to_owned(),
                experiment: self.experiment.clone(),
                status: RunStatus::Running,
                start_time: now_ms(),
                end_time: None,
                tags: tags
                    .iter()
                    .map(|t| (t.key.clone(), t.value.clone()))
                    .collect(),
                params: BTreeMap::new(),
                metrics: Vec::new(),
                artifacts: Vec::new(),
                model_versions: Vec::new(),
            },
        };
        run.save()?;
        Ok(run)
    }
}

impl LocalRun {
    pub(crate) fn run_id(&self) -> &str {
        &self.record.run_id
    }

    pub(crate) fn artifacts_dir(&self) -> PathBuf {
        self.dir.join("artifacts")
    }

    fn save(&self) -> Result<()> {
        write_json_atomic(&self.dir.join("run.json"), &self.record)
    }

    pub(crate) fn log(
        &mut self,
        metrics: &[MetricValue],
        params: &[KeyValue],
        tags: &[KeyValue],
    ) -> Result<()> {
        // Same rule as MLflow: a param is set once per run.
        for p in params {
            if let Some(old) = self.record.params.get(&p.key)
                && *old != p.value
            {
                return Err(TrackingError::invalid(
                    "param",
                    &p.key,
                    format!(
                        "it is already logged as `{old}` in run {}; a param cannot change (new value `{}`)",
                        self.record.run_id, p.value
                    ),
                ));
            }
        }
        for p in params {
            self.record.params.insert(p.key.clone(), p.value.clone());
        }
        for t in tags {
            self.record.tags.insert(t.key.clone(), t.value.clone());
        }
        self.record
            .metrics
            .extend(metrics.iter().map(|m| LocalMetric {
                key: m.key.clone(),
                value: m.value.clone(),
                timestamp: m.timestamp,
                step: m.step,
            }));
        self.save()
    }

    pub(crate) fn log_artifact(&mut self, local: &Path, artifact_path: &str) -> Result<()> {
        let dest = self.artifacts_dir().join(artifact_path);
        let bytes = fs::read(local).map_err(|e| TrackingError::io(local, e))?;
        write_bytes_atomic(&dest, &bytes)?;
        if !self.record.artifacts.iter().any(|a| a == artifact_path) {
            self.record.artifacts.push(artifact_path.to_owned());
        }
        self.save()
    }

    pub(crate) fn register_model(
        &mut self,
        name: &str,
        artifact_path: &str,
    ) -> Result<ModelVersion> {
        let source_path = self.artifacts_dir().join(artifact_path);
        if !source_path.exists() {
            return Err(TrackingError::invalid(
                "model source",
                artifact_path,
                format!(
                    "{} does not exist; log the model with log_artifact before registering it",
                    source_path.display()
                ),
            ));
        }
        let source = source_path.display().to_string();
        let registry = self
            .store
            .root
            .join("registered_models")
            .join(format!("{}.json", file_name(name)));
        let mut model = match fs::read(&registry) {
            Ok(bytes) => serde_json::from_slice::<RegisteredModel>(&bytes).map_err(|source| {
                TrackingError::Json {
                    path: registry.clone(),
                    source,
                }
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => RegisteredModel {
                name: name.to_owned(),
                versions: Vec::new(),
            },
            Err(e) => return Err(TrackingError::io(&registry, e)),
        };
        let version = (model.versions.len() + 1).to_string();
        model.versions.push(RegistryVersion {
            version: version.clone(),
            source: source.clone(),
            run_id: self.record.run_id.clone(),
            creation_timestamp: now_ms(),
        });
        write_json_atomic(&registry, &model)?;
        self.record.model_versions.push(LocalModelVersion {
            name: name.to_owned(),
            version: version.clone(),
            source: source.clone(),
        });
        self.save()?;
        Ok(ModelVersion {
            name: name.to_owned(),
            version,
            source,
        })
    }

    pub(crate) fn finish(&mut self, status: RunStatus, end_time: i64) -> Result<()> {
        self.record.status = status;
        self.record.end_time = Some(end_time);
        self.save()
    }
}

/// A run id like MLflow's: 32 lowercase hex digits, unique per process and
/// time.
fn new_run_id() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{nanos:016x}{:08x}{count:08x}", std::process::id())
}

pub(crate) fn file_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    // "." and ".." would climb the tree.
    if cleaned.chars().all(|c| c == '.') {
        cleaned.replace('.', "_")
    } else {
        cleaned
    }
}

/// Writes `.NAME.tmp-PID` beside `dest` and renames it into place, so a
/// reader never sees half a file.
fn write_bytes_atomic(dest: &Path, bytes: &[u8]) -> Result<()> {
    let dir = dest.parent().unwrap_or_else(|| Path::new("."));
    fs::create_dir_all(dir).map_err(|e| TrackingError::io(dir, e))?;
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "artifact".to_owned());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    if let Err(e) = fs::write(&tmp, bytes) {
        let _ = fs::remove_file(&tmp);
        return Err(TrackingError::io(&tmp, e));
    }
    fs::rename(&tmp, dest).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        TrackingError::io(dest, e)
    })
}

fn write_json_atomic<T: Serialize>(dest: &Path, value: &T) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|source| TrackingError::Json {
        path: dest.to_path_buf(),
        source,
    })?;
    bytes.push(b'\n');
    write_bytes_atomic(dest, &bytes)
}
