//! Starting the app, Redis and fixtures for the tests.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use feature_store::{CustomerTables, GenerationLoader, RedisTimeouts};
use serve::fixture::{FixtureData, FixtureSpec, write_fixture};
use serve::{Application, Settings, StoreSettings};

/// A fixture in a temporary directory.
pub struct TestFixture {
    pub dir: tempfile::TempDir,
    pub data: FixtureData,
}

impl TestFixture {
    pub fn new(spec: &FixtureSpec) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = write_fixture(dir.path(), spec).unwrap();
        Self { dir, data }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn model_dir(&self) -> PathBuf {
        self.dir.path().join("models")
    }

    pub fn embedded_settings(&self) -> Settings {
        Settings::local(
            self.data_dir(),
            self.model_dir(),
            StoreSettings::Embedded {
                data_dir: self.data_dir(),
            },
        )
    }

    pub fn redis_settings(&self, redis: &RedisServer) -> Settings {
        let mut settings = Settings::local(
            self.data_dir(),
            self.model_dir(),
            StoreSettings::Redis { url: redis.url() },
        );
        // The production default (250 ms) is for a quiet network; the tests
        // share two cores with every other test binary and its servers.
        settings.store_timeout = Duration::from_secs(2);
        settings
    }
}

/// The app running on its own thread (its own actix system), stopped on drop.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::blocking::Client,
    handle: ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestApp {
    pub fn spawn(settings: Settings) -> Self {
        Self::try_spawn(settings).unwrap()
    }

    pub fn try_spawn(settings: Settings) -> Result<Self, String> {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                match Application::build(settings).await {
                    Ok(app) => {
                        let _ = tx.send(Ok((app.port(), app.handle())));
                        let _ = app.run_until_stopped().await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(format!("{e:#}")));
                    }
                }
            });
        });
        let (port, handle) = rx.recv().map_err(|e| e.to_string())??;
        Ok(Self {
            address: format!("http://127.0.0.1:{port}"),
            client: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            handle,
            thread: Some(thread),
        })
    }

    pub fn get(&self, path: &str) -> reqwest::blocking::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .unwrap()
    }

    pub fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let response = self.get(path);
        let status = response.status().as_u16();
        (status, response.json().unwrap())
    }

    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.address))
            .json(body)
            .send()
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().unwrap())
    }

    pub fn reload(&self, token: Option<&str>) -> (u16, serde_json::Value) {
        let mut request = self.client.post(format!("{}/admin/reload", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().unwrap();
        let status = response.status().as_u16();
        (status, response.json().unwrap())
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            rt.block_on(handle.stop(true));
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real `redis-server` on a free loopback port, in its own directory so
/// that a restart finds the data it saved.
pub struct RedisServer {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    extra_args: Vec<String>,
}

impl RedisServer {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts it with extra arguments, e.g. `["--cluster-enabled", "yes"]`.
    pub fn start_with(extra_args: &[&str]) -> Self {
        let mut server = Self {
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            child: None,
            extra_args: extra_args.iter().map(|s| (*s).to_owned()).collect(),
        };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Starts the server (again) on the same port and directory.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "redis-server already running");
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .args(&self.extra_args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/setup.sh)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.command("PING").as_deref() == Some("+PONG") {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not start", self.port);
    }

    /// Saves the data to disk (so a restart keeps it) and stops the server.
    pub fn save_and_stop(&mut self) {
        assert_eq!(self.command("SAVE").as_deref(), Some("+OK"));
        self.kill();
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends one inline command; returns the first reply line.
    pub fn command(&self, command: &str) -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        stream.write_all(format!("{command}\r\n").as_bytes()).ok()?;
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).ok()?;
        Some(line.trim_end().to_owned())
    }

    /// Loads the customer tables of `data_dir` as a new generation through
    /// the feature-store writer (staging database 1, then SWAPDB).
    pub fn load(&self, data_dir: &Path) -> u64 {
        let tables = CustomerTables::read(data_dir).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let loader = GenerationLoader::connect(&self.url(), 1, RedisTimeouts::default())
                .await
                .unwrap();
            loader.load(&tables, None, |_| {}).await.unwrap().generation
        })
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn default_fixture() -> TestFixture {
    TestFixture::new(&FixtureSpec::default())
}

/// Polls `f` until it returns true or `timeout` passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Recommendation requests from background threads until stopped, counted
/// as answered (200) or failed (anything else).
pub struct Traffic {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Traffic {
    /// `threads` clients cycling through `ids` (each thread its own stride).
    pub fn start(app: &Arc<TestApp>, ids: &[String], threads: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let threads = (0..threads)
            .map(|t| {
                let (app, stop, ok, failed) = (
                    Arc::clone(app),
                    Arc::clone(&stop),
                    Arc::clone(&ok),
                    Arc::clone(&failed),
                );
                let ids = ids.to_vec();
                std::thread::spawn(move || {
                    let mut i = t;
                    while !stop.load(Ordering::Relaxed) {
                        let status = app
                            .get(&format!("/recommend/{}", ids[i % ids.len()]))
                            .status();
                        (if status == 200 { &ok } else { &failed }).fetch_add(1, Ordering::Relaxed);
                        i += 7;
                    }
                })
            })
            .collect();
        Self {
            stop,
            ok,
            failed,
            threads,
        }
    }

    /// Waits until at least `n` requests were answered (at most 30 s).
    pub fn wait_for_answers(&self, n: u64) -> bool {
        eventually(Duration::from_secs(30), || {
            self.ok.load(Ordering::Relaxed) >= n
        })
    }

    /// Stops the clients; returns (answered, failed).
    pub fn stop(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            let _ = thread.join();
        }
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}
