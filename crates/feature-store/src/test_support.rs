//! Test helpers (cargo feature `test-support`): a real `redis-server` on a
//! free loopback port that a test can stop and restart, and small input
//! tables written through `pipeline-core`'s `TableSink`.
//!
//! Panics on setup failures: this is test code, where a panic with a clear
//! message is the right report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pipeline_core::schema::{CUSTOMER_FEATURES, CUSTOMER_SEGMENTS, ENTITY_MAP};
use pipeline_core::table_io::TableSink;
use polars::prelude::{Column, DataFrame, NamedFrom, Series};

/// A `redis-server` child process, killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    extra_args: Vec<String>,
    child: Option<Child>,
    dir: PathBuf,
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a free loopback port");
    listener.local_addr().expect("local address").port()
}

impl RedisServer {
    /// Starts `redis-server` without persistence on a free loopback port.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts it with extra arguments, e.g. `["--requirepass", "pw"]`.
    pub fn start_with(extra_args: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "feature-store-redis-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("creating the redis working folder");
        let mut server = Self {
            port: free_port(),
            extra_args: extra_args.iter().map(|s| (*s).to_owned()).collect(),
            child: None,
            dir,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--dir", &self.dir.to_string_lossy()])
            .args(&self.extra_args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting redis-server (installed by scripts/setup.sh)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on port {} within 10 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT` (database 0).
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The process id, e.g. to freeze it with `SIGSTOP`.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server (its data is lost: no persistence).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a fresh, empty server on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Sends a signal (`"STOP"`, `"CONT"`) to the server process.
    pub fn signal(&self, signal: &str) {
        if let Some(pid) = self.pid() {
            let status = Command::new("kill")
                .args([format!("-{signal}"), pid.to_string()])
                .status()
                .expect("running kill");
            assert!(status.success(), "kill -{signal} {pid} failed");
        }
    }

    /// A blocking connection to database `db`, for assertions.
    pub fn connection(&self, db: i64) -> redis::Connection {
        let client = redis::Client::open(format!("{}/{db}", self.url())).expect("redis URL");
        client
            .get_connection()
            .expect("connecting to the test redis")
    }

    /// `INFO memory` `used_memory` in bytes.
    pub fn used_memory(&self) -> u64 {
        let info: String = redis::cmd("INFO")
            .arg("memory")
            .query(&mut self.connection(0))
            .expect("INFO memory");
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("used_memory in INFO memory")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One customer of a fixture.
#[derive(Debug, Clone, PartialEq)]
pub struct FixtureCustomer {
    pub customer_id: String,
    pub cluster: u32,
    /// `None` is written as a null.
    pub features: Vec<Option<f64>>,
    pub record_ids: Vec<String>,
}

/// Writes `customer_features`, `customer_segments` and `entity_map` for
/// `customers` into `dir` with the feature columns `feature_names`.
pub fn write_fixture(dir: &Path, feature_names: &[&str], customers: &[FixtureCustomer]) {
    let sink = TableSink::new(dir, false);
    let ids: Vec<&str> = customers.iter().map(|c| c.customer_id.as_str()).collect();
    let mut columns = vec![Column::new("customer_id".into(), &ids)];
    for (j, name) in feature_names.iter().enumerate() {
        let values: Vec<Option<f64>> = customers.iter().map(|c| c.features[j]).collect();
        columns.push(Column::new((*name).into(), &values));
    }
    let mut features = DataFrame::new_infer_height(columns).expect("features frame");
    sink.write(&CUSTOMER_FEATURES, &mut features)
        .expect("writing customer_features");

    let clusters: Vec<u32> = customers.iter().map(|c| c.cluster).collect();
    let mut segments = DataFrame::new_infer_height(vec![
        Column::new("customer_id".into(), &ids),
        Column::new("cluster".into(), &clusters),
    ])
    .expect("segments frame");
    sink.write(&CUSTOMER_SEGMENTS, &mut segments)
        .expect("writing customer_segments");

    let mut records = Vec::new();
    let mut owners = Vec::new();
    let mut sizes = Vec::new();
    for c in customers {
        for r in &c.record_ids {
            records.push(r.as_str());
            owners.push(c.customer_id.as_str());
            sizes.push(c.record_ids.len() as u32);
        }
    }
    let mut entity_map = DataFrame::new_infer_height(vec![
        Series::new("record_id".into(), &records).into(),
        Series::new("customer_id".into(), &owners).into(),
        Series::new("cluster_size".into(), &sizes).into(),
    ])
    .expect("entity map frame");
    sink.write(&ENTITY_MAP, &mut entity_map)
        .expect("writing entity_map");
}

/// `n` customers whose values all carry `marker` (so a test can tell
/// generations apart): feature 0 is `marker`, the others a mix of counts,
/// cents, zeros, nulls and full-precision fractions. Customer `i` is
/// `CUS{i}` with records `REC{i}a` (and `REC{i}b` for even `i`).
pub fn fixture_customers(n: usize, marker: f64) -> Vec<FixtureCustomer> {
    (0..n)
        .map(|i| {
            let x = i as f64;
            let mut record_ids = vec![format!("REC{i:05}a")];
            if i % 2 == 0 {
                record_ids.push(format!("REC{i:05}b"));
            }
            FixtureCustomer {
                customer_id: format!("CUS{i:05}"),
                cluster: (i % 5) as u32,
                features: vec![
                    Some(marker),
                    Some(x),
                    Some(x * 1.25 + 0.01),
                    if i % 3 == 0 {
                        None
                    } else {
                        Some((x + 1.0) / 3.0)
                    },
                    Some(0.0),
                    Some(-x / 7.0),
                    Some(1e300 * (x + 1.0)),
                ],
                record_ids,
            }
        })
        .collect()
}

/// The feature names of [`fixture_customers`].
pub const FIXTURE_FEATURES: [&str; 7] = [
    "generation_marker",
    "frequency",
    "monetary_total",
    "spend_share_repair",
    "offers_redeemed_total",
    "balance_trend",
    "huge_value",
];
