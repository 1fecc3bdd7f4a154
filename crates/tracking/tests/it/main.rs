//! Integration tests of experiment tracking: the local recorder's layout,
//! a real `mlflow server` (from the project's Python venv, sqlite backend,
//! loopback port) checked through its own REST API, and the fast failure
//! when the configured server is down.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod local_record;
mod remote_run;
