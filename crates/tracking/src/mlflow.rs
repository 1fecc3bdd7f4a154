//! A small blocking client for the MLflow tracking server's REST API
//! (`/api/2.0/mlflow/...`) and its artifact proxy
//! (`/api/2.0/mlflow-artifacts/artifacts/...`).
//!
//! Only what a training run needs: experiment by name, run create/update,
//! `log-batch`, artifact upload, registered models and model versions.
//! Every error names the tracking URI, the endpoint and the server's message.

use std::fs::File;
use std::path::Path;
use std::time::Duration;

use reqwest::Url;
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde::Serialize;
use serde_json::{Value, json};

use crate::error::{Result, TrackingError};

/// Long enough for a busy server, short enough that a wrong host fails at
/// the start of training rather than after a minute of silence.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Artifact uploads stream whole model files.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(600);

/// One metric value as `runs/log-batch` takes it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct MetricValue {
    pub key: String,
    /// Protobuf JSON: a number, or "NaN" / "Infinity" / "-Infinity".
    pub value: Value,
    pub timestamp: i64,
    pub step: i64,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct KeyValue {
    pub key: String,
    pub value: String,
}

/// What `runs/create` tells about a new run.
#[derive(Debug, Clone)]
pub(crate) struct CreatedRun {
    pub run_id: String,
    pub artifact_uri: String,
}

#[derive(Debug, Clone)]
enum Auth {
    None,
    Basic {
        user: String,
        password: Option<String>,
    },
    Bearer(String),
}

/// A connection to one MLflow tracking server.
#[derive(Debug, Clone)]
pub(crate) struct MlflowClient {
    /// Base URL without credentials and without a trailing slash.
    base: Url,
    /// The URI as shown in messages (credentials removed).
    shown: String,
    http: Client,
    auth: Auth,
}

impl MlflowClient {
    /// Parses the tracking URI. Credentials come from the URI's user info or
    /// MLflow's own variables (`MLFLOW_TRACKING_TOKEN`,
    /// `MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD`).
    /// Sends nothing: see [`MlflowClient::experiment_id_by_name`].
    pub(crate) fn new(uri: &str) -> Result<Self> {
        let invalid = |reason: &str| TrackingError::InvalidUri {
            uri: uri.to_owned(),
            reason: reason.to_owned(),
        };
        let mut base = Url::parse(uri.trim()).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(invalid(
                "only an http(s) MLflow tracking server is supported (file: and database URIs are not)",
            ));
        }
        if base.host_str().is_none() {
            return Err(invalid("it has no host"));
        }
        let mut auth = match std::env::var("MLFLOW_TRACKING_TOKEN") {
            Ok(token) if !token.is_empty() => Auth::Bearer(token),
            _ => match std::env::var("MLFLOW_TRACKING_USERNAME") {
                Ok(user) if !user.is_empty() => Auth::Basic {
                    user,
                    password: std::env::var("MLFLOW_TRACKING_PASSWORD").ok(),
                },
                _ => Auth::None,
            },
        };
        if !base.username().is_empty() {
            auth = Auth::Basic {
                user: base.username().to_owned(),
                password: base.password().map(str::to_owned),
            };
            // Url's setters only fail for URLs that cannot have credentials,
            // which an http(s) URL with a host always can.
            let _ = base.set_username("");
            let _ = base.set_password(None);
        }
        base.set_query(None);
        base.set_fragment(None);
        let trimmed = base.path().trim_end_matches('/').to_owned();
        base.set_path(&trimmed);
        let shown = base.as_str().trim_end_matches('/').to_owned();
        let http = Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| invalid(&format!("cannot build an HTTP client: {e}")))?;
        Ok(Self {
            base,
            shown,
            http,
            auth,
        })
    }

    pub(crate) fn uri(&self) -> &str {
        &self.shown
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            path.extend(segments);
        }
        url
    }

    fn api_url(&self, endpoint: &str) -> Url {
        let mut segments = vec!["api", "2.0", "mlflow"];
        segments.extend(endpoint.split('/'));
        self.url(&segments)
    }

    fn authorize(&self, request: RequestBuilder) -> RequestBuilder {
        match &self.auth {
            Auth::None => request,
            Auth::Basic { user, password } => request.basic_auth(user, password.as_deref()),
            Auth::Bearer(token) => request.bearer_auth(token),
        }
    }

    /// Sends a request and returns the JSON body of a success, or an error
    /// naming the endpoint and the server's message.
    fn send(&self, method: &'static str, endpoint: &str, request: RequestBuilder) -> Result<Value> {
        let response =
            self.authorize(request)
                .send()
                .map_err(|source| TrackingError::Unreachable {
                    uri: self.shown.clone(),
                    method,
                    endpoint: endpoint.to_owned(),
                    source,
                })?;
        self.read_body(method, endpoint, response)
    }

    fn read_body(&self, method: &'static str, endpoint: &str, response: Response) -> Result<Value> {
        let status = response.status();
        let text = response.text().map_err(|e| TrackingError::BadResponse {
            uri: self.shown.clone(),
            method,
            endpoint: endpoint.to_owned(),
            detail: format!("cannot read the body of HTTP {}: {e}", status.as_u16()),
        })?;
        if status.is_success() {
            if text.trim().is_empty() {
                return Ok(Value::Object(Default::default()));
            }
            return serde_json::from_str(&text).map_err(|e| TrackingError::BadResponse {
                uri: self.shown.clone(),
                method,
                endpoint: endpoint.to_owned(),
                detail: format!("not JSON ({e}): {}", clip(&text)),
            });
        }
        // MLflow answers errors as {"error_code": ..., "message": ...}; a
        // proxy or a different server answers anything.
        let parsed: Option<Value> = serde_json::from_str(&text).ok();
        let field = |name: &str| {
            parsed
                .as_ref()
                .and_then(|v| v.get(name))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let error_code = field("error_code").unwrap_or_default();
        let message = match (
            field("message").or_else(|| field("detail")),
            error_code.is_empty(),
        ) {
            (Some(message), false) => format!("{error_code}: {message}"),
            (Some(message), true) => message,
            (None, _) if text.trim().is_empty() => {
                status.canonical_reason().unwrap_or("no body").to_owned()
            }
            (None, _) => clip(&text),
        };
        Err(TrackingError::Server {
            uri: self.shown.clone(),
            method,
            endpoint: endpoint.to_owned(),
            status: status.as_u16(),
            error_code,
            message,
        })
    }

    fn get(&self, endpoint: &str, query: &[(&str, &str)]) -> Result<Value> {
        let request = self.http.get(self.api_url(endpoint)).query(query);
        self.send("GET", endpoint, request)
    }

    fn post(&self, endpoint: &str, body: &Value) -> Result<Value> {
        let request = self.http.post(self.api_url(endpoint)).json(body);
        self.send("POST", endpoint, request)
    }

    fn bad_response(
        &self,
        method: &'static str,
        endpoint: &str,
        detail: &str,
        body: &Value,
    ) -> TrackingError {
        TrackingError::BadResponse {
            uri: self.shown.clone(),
            method,
            endpoint: endpoint.to_owned(),
            detail: format!("{detail}: {}", clip(&body.to_string())),
        }
    }

    /// The experiment's id, `None` if no experiment has that name. This is
    /// the first request a tracker sends, so it doubles as the check that
    /// the server is there.
    pub(crate) fn experiment_id_by_name(&self, name: &str) -> Result<Option<String>> {
        let endpoint = "experiments/get-by-name";
        let body = match self.get(endpoint, &[("experiment_name", name)]) {
            Ok(body) => body,
            Err(TrackingError::Server { error_code, .. })
                if error_code == "RESOURCE_DOES_NOT_EXIST" =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let experiment = &body["experiment"];
        let id = experiment["experiment_id"].as_str().ok_or_else(|| {
            self.bad_response("GET", endpoint, "no experiment.experiment_id", &body)
        })?;
        if experiment["lifecycle_stage"].as_str() == Some("deleted") {
            return Err(TrackingError::invalid(
                "MLflow experiment",
                name,
                format!(
                    "it was deleted on {} (id {id}); restore it (`mlflow experiments restore --experiment-id {id}`) \
                     or train under another experiment name",
                    self.shown
                ),
            ));
        }
        Ok(Some(id.to_owned()))
    }

    /// Gets the experiment's id, creating the experiment if absent.
    pub(crate) fn get_or_create_experiment(&self, name: &str) -> Result<String> {
        if let Some(id) = self.experiment_id_by_name(name)? {
            return Ok(id);
        }
        let endpoint = "experiments/create";
        match self.post(endpoint, &json!({ "name": name })) {
            Ok(body) => body["experiment_id"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| self.bad_response("POST", endpoint, "no experiment_id", &body)),
            // Another trainer created it between our two requests.
            Err(TrackingError::Server { error_code, .. }) if error_code == "RESOURCE_ALREADY_EXISTS" => self
                .experiment_id_by_name(name)?
                .ok_or_else(|| TrackingError::Server {
                    uri: self.shown.clone(),
                    method: "GET",
                    endpoint: "experiments/get-by-name".to_owned(),
                    status: 404,
                    error_code: "RESOURCE_DOES_NOT_EXIST".to_owned(),
                    message: format!("experiment `{name}` exists according to experiments/create but cannot be found"),
                }),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn create_run(
        &self,
        experiment_id: &str,
        run_name: &str,
        tags: &[KeyValue],
        start_time_ms: i64,
    ) -> Result<CreatedRun> {
        let endpoint = "runs/create";
        let body = self.post(
            endpoint,
            &json!({
                "experiment_id": experiment_id,
                "run_name": run_name,
                "start_time": start_time_ms,
                "tags": tags,
            }),
        )?;
        let info = &body["run"]["info"];
        let run_id = info["run_id"]
            .as_str()
            .ok_or_else(|| self.bad_response("POST", endpoint, "no run.info.run_id", &body))?;
        let artifact_uri = info["artifact_uri"].as_str().ok_or_else(|| {
            self.bad_response("POST", endpoint, "no run.info.artifact_uri", &body)
        })?;
        Ok(CreatedRun {
            run_id: run_id.to_owned(),
            artifact_uri: artifact_uri.to_owned(),
        })
    }

    /// One `runs/log-batch` request; the caller keeps within MLflow's batch
    /// limits.
    pub(crate) fn log_batch(
        &self,
        run_id: &str,
        metrics: &[MetricValue],
        params: &[KeyValue],
        tags: &[KeyValue],
    ) -> Result<()> {
        self.post(
            "runs/log-batch",
            &json!({ "run_id": run_id, "metrics": metrics, "params": params, "tags": tags }),
        )?;
        Ok(())
    }

    pub(crate) fn update_run(&self, run_id: &str, status: &str, end_time_ms: i64) -> Result<()> {
        self.post(
            "runs/update",
            &json!({ "run_id": run_id, "status": status, "end_time": end_time_ms }),
        )?;
        Ok(())
    }

    /// Uploads `local` to `{artifact_uri}/{artifact_path}` through the
    /// server's artifact proxy: `PUT {uri}/api/2.0/mlflow-artifacts/artifacts/{path}`,
    /// where a run's artifact URI `mlflow-artifacts:/<exp>/<run>/artifacts`
    /// gives the path `<exp>/<run>/artifacts/...` (as MLflow's own
    /// `MlflowArtifactsRepository.resolve_uri` does).
    pub(crate) fn upload_artifact(
        &self,
        run_id: &str,
        artifact_uri: &str,
        artifact_path: &str,
        local: &Path,
    ) -> Result<()> {
        let unsupported = || TrackingError::UnsupportedArtifactStore {
            run_id: run_id.to_owned(),
            artifact_uri: artifact_uri.to_owned(),
        };
        let parsed = Url::parse(artifact_uri).map_err(|_| unsupported())?;
        if parsed.scheme() != "mlflow-artifacts" {
            return Err(unsupported());
        }
        let mut url = self.base.clone();
        // `mlflow-artifacts://host:port/...` names the artifact server itself.
        if let Some(host) = parsed.host_str() {
            url.set_host(Some(host)).map_err(|_| unsupported())?;
            url.set_port(parsed.port()).map_err(|_| unsupported())?;
        }
        let endpoint_segments: Vec<&str> = ["api", "2.0", "mlflow-artifacts", "artifacts"]
            .into_iter()
            .chain(parsed.path().split('/').filter(|s| !s.is_empty()))
            .chain(artifact_path.split('/'))
            .collect();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            path.extend(&endpoint_segments);
        }
        let endpoint = format!(
            "mlflow-artifacts/artifacts/{}",
            endpoint_segments[4..].join("/")
        );
        let file = File::open(local).map_err(|e| TrackingError::io(local, e))?;
        let request = self
            .http
            .put(url)
            .timeout(UPLOAD_TIMEOUT)
            .header(reqwest::header::CONTENT_TYPE, content_type(artifact_path))
            .body(file);
        self.send("PUT", &endpoint, request)?;
        Ok(())
    }

    /// Creates the registered model unless it exists.
    pub(crate) fn ensure_registered_model(&self, name: &str) -> Result<()> {
        match self.get("registered-models/get", &[("name", name)]) {
            Ok(_) => return Ok(()),
            Err(TrackingError::Server { error_code, .. })
                if error_code == "RESOURCE_DOES_NOT_EXIST" => {}
            Err(e) => return Err(e),
        }
        match self.post("registered-models/create", &json!({ "name": name })) {
            Ok(_) => Ok(()),
            Err(TrackingError::Server { error_code, .. })
                if error_code == "RESOURCE_ALREADY_EXISTS" =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Creates a model version and returns its version number.
    pub(crate) fn create_model_version(
        &self,
        name: &str,
        source: &str,
        run_id: &str,
    ) -> Result<String> {
        let endpoint = "model-versions/create";
        let body = self.post(
            endpoint,
            &json!({ "name": name, "source": source, "run_id": run_id }),
        )?;
        // MLflow's protobuf JSON gives the version as a string; accept a
        // number too.
        match &body["model_version"]["version"] {
            Value::String(v) => Ok(v.clone()),
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(self.bad_response("POST", endpoint, "no model_version.version", &body)),
        }
    }
}

fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("png") => "image/png",
        Some("json") => "application/json",
        Some("txt" | "log" | "md") => "text/plain",
        Some("csv") => "text/csv",
        Some("html") => "text/html",
        _ => "application/octet-stream",
    }
}

/// Keeps error messages readable when a server answers with a whole page.
fn clip(text: &str) -> String {
    const MAX: usize = 500;
    let text = text.trim();
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}
