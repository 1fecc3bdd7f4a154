//! The model directory's JSON artifacts, as written by `train` and read by
//! `serve` (and by people). `ranker.txt` is LightGBM's own text format and
//! needs no type here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};

pub const RANKER_FILE: &str = "ranker.txt";
pub const FEATURE_COLS_FILE: &str = "feature_cols.json";
pub const SEGMENTS_FILE: &str = "segments.json";
pub const CLUSTER_CANDIDATES_FILE: &str = "cluster_candidates.json";
pub const METRICS_FILE: &str = "metrics.json";
pub const MANIFEST_FILE: &str = "manifest.json";

/// `feature_cols.json`: the ranker's feature names in order.
pub type FeatureCols = Vec<String>;

/// `segments.json`: standardisation and KMeans centroids of stage 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segments {
    /// Customer feature names the scaler and centroids use, in order.
    pub feature_names: Vec<String>,
    /// Transform applied before the distance: `log1p` or `identity`, per
    /// feature (same length as `feature_names`).
    pub transforms: Vec<String>,
    pub scaler_mean: Vec<f64>,
    pub scaler_std: Vec<f64>,
    /// `k` rows of `feature_names.len()` standardised coordinates.
    pub centroids: Vec<Vec<f64>>,
}

/// `cluster_candidates.json`: cluster id -> ordered candidate offer ids.
pub type ClusterCandidates = BTreeMap<u32, Vec<String>>;

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub model_version: String,
    /// RFC 3339 time the training finished.
    pub trained_at: String,
    /// `YYYY-MM-DD`: the last day of data the serving features describe.
    pub data_cutoff: String,
    /// File name -> SHA-256 hex of every artifact the run wrote.
    pub files: BTreeMap<String, String>,
}

/// Reads and parses a JSON artifact, naming the file on failure.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|e| CoreError::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|source| CoreError::BadJson {
        path: path.to_path_buf(),
        source,
    })
}

/// SHA-256 hex digest of a file, for the manifest.
pub fn sha256_file(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path).map_err(|e| CoreError::io(path, e))?;
    Ok(format!("{:x}", Sha256::digest(&bytes)))
}

/// The path of an artifact in the model directory.
pub fn artifact_path(model_dir: &Path, file: &str) -> PathBuf {
    model_dir.join(file)
}
