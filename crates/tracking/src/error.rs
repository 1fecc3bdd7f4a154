//! Errors of experiment tracking. Every variant names where things went
//! wrong: the tracking URI and REST endpoint with the server's own message,
//! or the local file.

use std::path::PathBuf;

pub type Result<T, E = TrackingError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum TrackingError {
    #[error(
        "MLFLOW_TRACKING_URI `{uri}` is not usable: {reason} \
         (unset MLFLOW_TRACKING_URI to record the run locally under the model directory)"
    )]
    InvalidUri { uri: String, reason: String },

    #[error(
        "MLflow tracking server at {uri} is not reachable ({method} {endpoint}): {source}; \
         start the server or unset MLFLOW_TRACKING_URI to record the run locally \
         under the model directory"
    )]
    Unreachable {
        uri: String,
        method: &'static str,
        endpoint: String,
        #[source]
        source: reqwest::Error,
    },

    #[error(
        "MLflow tracking server at {uri}: {method} {endpoint} answered HTTP {status}: {message}"
    )]
    Server {
        uri: String,
        method: &'static str,
        endpoint: String,
        status: u16,
        /// MLflow's `error_code` (e.g. `RESOURCE_DOES_NOT_EXIST`), empty when
        /// the body was not MLflow's JSON error.
        error_code: String,
        message: String,
    },

    #[error(
        "MLflow tracking server at {uri}: {method} {endpoint} returned an unexpected body: {detail}"
    )]
    BadResponse {
        uri: String,
        method: &'static str,
        endpoint: String,
        detail: String,
    },

    #[error(
        "run {run_id} stores artifacts at `{artifact_uri}`, which this client cannot upload to: \
         only the tracking server's artifact proxy (mlflow-artifacts:/...) is supported; \
         start `mlflow server` with --serve-artifacts (the default) and --artifacts-destination"
    )]
    UnsupportedArtifactStore {
        run_id: String,
        artifact_uri: String,
    },

    #[error("{what} `{value}` is invalid: {reason}")]
    InvalidInput {
        what: &'static str,
        value: String,
        reason: String,
    },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl TrackingError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(what: &'static str, value: &str, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            what,
            value: value.to_owned(),
            reason: reason.into(),
        }
    }
}
