//! Test support (feature `test-support`): a real `mlflow server` on a free
//! loopback port, started for a test and stopped on drop. The tests of this
//! crate and of `train` use it; it panics with the server's log on failure,
//! as a test helper should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a cold `mlflow server` (Python imports, sqlite migrations) may
/// take: about 10 s on an idle 2-core machine, over 60 s measured while
/// cargo builds run beside it.
const STARTUP_LIMIT: Duration = Duration::from_secs(180);

/// A running `mlflow server` with a sqlite store in a temporary folder.
pub struct MlflowServer {
    pub uri: String,
    child: Child,
    log: PathBuf,
    // Holds the sqlite database and artifacts until the server is gone.
    pub dir: tempfile::TempDir,
}

fn venv_dir() -> PathBuf {
    match std::env::var_os("OFFERS_PYVENV") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            let home = std::env::var_os("HOME").expect("HOME is set");
            Path::new(&home).join(".cache/offers-recsys/pyvenv")
        }
    }
}

fn free_loopback_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
}

impl MlflowServer {
    /// Starts the server from the venv of `scripts/setup.sh` (or
    /// `OFFERS_PYVENV`) and waits until `/health` answers.
    pub fn start() -> Self {
        Self::start_serving_artifacts(true)
    }

    /// Starts the server; with `serve_artifacts` false it does not proxy
    /// artifacts (`--no-serve-artifacts`), and a run's artifact URI is a
    /// folder on the server's disk (`--default-artifact-root`), which a
    /// REST client cannot write.
    pub fn start_serving_artifacts(serve_artifacts: bool) -> Self {
        let mlflow = venv_dir().join("bin/mlflow");
        assert!(
            mlflow.is_file(),
            "{} not found: run scripts/setup.sh (installs mlflow into the venv; OFFERS_PYVENV overrides its folder)",
            mlflow.display()
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_loopback_port();
        let log = dir.path().join("mlflow-server.log");
        let log_file = File::create(&log).expect("server log file");
        let mut command = Command::new(&mlflow);
        command
            .arg("server")
            .arg("--backend-store-uri")
            .arg(format!(
                "sqlite:///{}",
                dir.path().join("mlflow.db").display()
            ))
            .arg(if serve_artifacts {
                "--artifacts-destination"
            } else {
                "--default-artifact-root"
            })
            .arg(dir.path().join("artifacts"))
            .arg(if serve_artifacts {
                "--serve-artifacts"
            } else {
                "--no-serve-artifacts"
            })
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--workers",
                "1",
            ])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log handle"))
            .stderr(log_file);
        // Own process group, so Drop stops the server's workers too.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", mlflow.display()));
        let mut server = Self {
            uri: format!("http://127.0.0.1:{port}"),
            child,
            log,
            dir,
        };
        server.wait_healthy();
        server
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn wait_healthy(&mut self) {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let started = Instant::now();
        let health = format!("{}/health", self.uri);
        while started.elapsed() < STARTUP_LIMIT {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "mlflow server exited early ({status}); log:\n{}",
                    self.log_tail()
                );
            }
            if let Ok(response) = http.get(&health).send()
                && response.status().is_success()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!(
            "mlflow server at {} not healthy after {STARTUP_LIMIT:?}; log:\n{}",
            self.uri,
            self.log_tail()
        );
    }
}

impl Drop for MlflowServer {
    fn drop(&mut self) {
        // The negative pid addresses the process group we created.
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // Whatever of the group did not stop on TERM.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}
