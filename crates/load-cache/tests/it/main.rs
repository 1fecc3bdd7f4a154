//! Black-box tests of the `load-cache` binary against real `redis-server`
//! processes on free loopback ports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use feature_store::test_support::{
    FIXTURE_FEATURES, RedisServer, fixture_customers, write_fixture,
};
use feature_store::{RedisStore, RedisTimeouts};
use pipeline_core::schema::CUSTOMER_FEATURES;
use pipeline_core::table_io::TableSink;
use polars::prelude::{Column, DataFrame};

fn load_cache(data_dir: &Path, args: &[&str], env_url: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_load-cache"));
    cmd.arg("--data-dir")
        .arg(data_dir)
        .arg("--model-dir")
        .arg(data_dir.join("no-models"))
        .args(args)
        .env_remove("REDIS_URL")
        .env_remove("RUST_LOG");
    if let Some(url) = env_url {
        cmd.env("REDIS_URL", url);
    }
    cmd.output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn timeouts() -> RedisTimeouts {
    RedisTimeouts {
        connect: Duration::from_secs(2),
        response: Duration::from_secs(2),
    }
}

/// (customer id, first feature) of a lookup through the store `serve` uses.
fn lookup(url: &str, id: &str) -> Option<(String, f64, u64)> {
    runtime().block_on(async {
        let store = RedisStore::connect(url, timeouts()).await.unwrap();
        store
            .lookup(id)
            .await
            .unwrap()
            .map(|r| (r.customer_id, r.features[0], r.generation.generation))
    })
}

#[test]
fn loads_the_files_and_reports_keys_per_second() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    write_fixture(dir.path(), &FIXTURE_FEATURES, &fixture_customers(25, 1.0));
    let output = load_cache(dir.path(), &["--redis-url", &server.url()], None);
    assert!(output.status.success(), "{}", stderr(&output));
    let log = stderr(&output);
    assert!(log.contains("load-cache done"), "{log}");
    assert!(log.contains("keys/s"), "{log}");
    assert!(log.contains("generation 1"), "{log}");
    assert_eq!(
        lookup(&server.url(), "REC00007a"),
        Some(("CUS00007".to_owned(), 1.0, 1))
    );
}

#[test]
fn the_flag_wins_over_redis_url_and_the_env_alone_works() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    write_fixture(dir.path(), &FIXTURE_FEATURES, &fixture_customers(5, 1.0));
    let output = load_cache(
        dir.path(),
        &["--redis-url", &server.url()],
        Some("redis://127.0.0.1:1"),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let output = load_cache(dir.path(), &[], Some(&server.url()));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(lookup(&server.url(), "CUS00002").map(|r| r.2), Some(2));
}

#[test]
fn bad_input_fails_clearly_and_keeps_the_serving_generation() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    write_fixture(dir.path(), &FIXTURE_FEATURES, &fixture_customers(5, 1.0));
    assert!(
        load_cache(dir.path(), &["--redis-url", &server.url()], None)
            .status
            .success()
    );

    // A text column among the features.
    let mut bad = DataFrame::new_infer_height(vec![
        Column::new("customer_id".into(), &["CUS00000"]),
        Column::new("frequency".into(), &[3.0]),
        Column::new("segment_name".into(), &["vip"]),
    ])
    .unwrap();
    TableSink::new(dir.path(), false)
        .write(&CUSTOMER_FEATURES, &mut bad)
        .unwrap();
    let output = load_cache(dir.path(), &["--redis-url", &server.url()], None);
    assert!(!output.status.success());
    let log = stderr(&output);
    assert!(
        log.contains("customer_features.parquet") && log.contains("`segment_name`"),
        "{log}"
    );
    assert_eq!(
        lookup(&server.url(), "REC00004b"),
        Some(("CUS00004".to_owned(), 1.0, 1))
    );

    // A missing table.
    std::fs::remove_file(dir.path().join("entity_map.parquet")).unwrap();
    let output = load_cache(dir.path(), &["--redis-url", &server.url()], None);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("entity_map.parquet: file not found"),
        "{}",
        stderr(&output)
    );
    assert_eq!(lookup(&server.url(), "CUS00004").map(|r| r.2), Some(1));
}

#[test]
fn no_or_bad_redis_url_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    write_fixture(dir.path(), &FIXTURE_FEATURES, &fixture_customers(3, 1.0));
    let output = load_cache(dir.path(), &[], None);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("--redis-url or set REDIS_URL"),
        "{}",
        stderr(&output)
    );

    let output = load_cache(dir.path(), &["--redis-url", "localhost:6379"], None);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("invalid redis URL `localhost:6379`"),
        "{}",
        stderr(&output)
    );

    // Nothing listens there; the password stays out of the message.
    let output = load_cache(
        dir.path(),
        &[
            "--redis-url",
            "redis://:hunter2@127.0.0.1:1",
            "--connect-timeout-ms",
            "300",
        ],
        None,
    );
    assert!(!output.status.success());
    let log = stderr(&output);
    assert!(
        log.contains("unavailable") && !log.contains("hunter2"),
        "{log}"
    );
}

#[test]
fn synthetic_customers_load_for_the_benchmark() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let output = load_cache(
        dir.path(),
        &["--redis-url", &server.url(), "--synthetic", "2000"],
        None,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let found = lookup(&server.url(), "CUS0001999").unwrap();
    assert_eq!(found.0, "CUS0001999");
    let record = lookup(&server.url(), "REC0000001").unwrap();
    assert_eq!(record.0, "CUS0000001");
}
