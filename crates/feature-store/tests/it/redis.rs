//! Both stores against real `redis-server` processes.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use feature_store::test_support::{
    FIXTURE_FEATURES, FixtureCustomer, RedisServer, fixture_customers, write_fixture,
};
use feature_store::{
    CustomerTables, EmbeddedStore, GenerationLoader, RedisStore, RedisTimeouts, StoreError,
};

const STAGING: i64 = 1;

/// Short enough that the down and frozen cases end well inside a test,
/// long enough that a connect on a loaded CI machine (two cores, every
/// test binary starting its own servers) does not time out.
fn quick() -> RedisTimeouts {
    RedisTimeouts {
        connect: Duration::from_secs(2),
        response: Duration::from_secs(2),
    }
}

fn tables(dir: &Path, customers: &[FixtureCustomer]) -> CustomerTables {
    write_fixture(dir, &FIXTURE_FEATURES, customers);
    CustomerTables::read(dir).unwrap()
}

async fn load(url: &str, tables: &CustomerTables) -> feature_store::LoadReport {
    let loader = GenerationLoader::connect(url, STAGING, quick())
        .await
        .unwrap();
    loader
        .load(tables, Some("model-1".to_owned()), |_| {})
        .await
        .unwrap()
}

fn dbsize(server: &RedisServer, db: i64) -> u64 {
    redis::cmd("DBSIZE")
        .query(&mut server.connection(db))
        .unwrap()
}

fn bits(values: &[f64]) -> Vec<u64> {
    values.iter().map(|v| v.to_bits()).collect()
}

fn expected_bits(customer: &FixtureCustomer) -> Vec<u64> {
    customer
        .features
        .iter()
        .map(|v| v.unwrap_or(f64::NAN).to_bits())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn load_then_lookup_by_customer_and_by_record_round_trips_exactly() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let customers = fixture_customers(50, 1.0);
    let tables = tables(dir.path(), &customers);
    let report = load(&server.url(), &tables).await;
    assert_eq!(report.generation, 1);
    assert_eq!((report.customers, report.aliases), (50, 75));

    let store = RedisStore::connect(&server.url(), quick()).await.unwrap();
    for customer in &customers {
        let by_id = store.lookup(&customer.customer_id).await.unwrap().unwrap();
        assert_eq!(by_id.customer_id, customer.customer_id);
        assert_eq!(by_id.cluster, customer.cluster);
        assert_eq!(bits(&by_id.features), expected_bits(customer));
        for record in &customer.record_ids {
            let by_record = store.lookup(record).await.unwrap().unwrap();
            assert_eq!(
                by_record.customer_id, customer.customer_id,
                "alias {record}"
            );
            assert_eq!(bits(&by_record.features), expected_bits(customer));
        }
    }
    assert!(store.lookup("CUS99999").await.unwrap().is_none());
    assert!(store.lookup("REC99999a").await.unwrap().is_none());
    let meta = store.generation().await.unwrap();
    assert_eq!(meta.generation, 1);
    assert_eq!(
        meta.feature_names,
        FIXTURE_FEATURES.map(str::to_owned).to_vec()
    );
    assert_eq!(meta.model_version.as_deref(), Some("model-1"));
    assert_eq!(meta.alias_buckets, Some(2));
    // Serving database: customers + alias buckets (75 aliases, 64 per
    // bucket) + generation + meta; the staging database is empty again and
    // the lock is gone.
    assert_eq!(report.alias_buckets, 2);
    assert_eq!(dbsize(&server, 0), 50 + 2 + 2);
    assert_eq!(dbsize(&server, STAGING), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_load_switches_generation_and_drops_the_first() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let first = fixture_customers(30, 1.0);
    load(&server.url(), &tables(dir.path(), &first)).await;
    let store = RedisStore::connect(&server.url(), quick()).await.unwrap();
    assert_eq!(
        store.lookup("CUS00029").await.unwrap().unwrap().features[0],
        1.0
    );

    // Generation 2 has 20 customers: CUS00020..29 and their aliases go away.
    let second = fixture_customers(20, 2.0);
    let report = load(&server.url(), &tables(dir.path(), &second)).await;
    assert_eq!(report.generation, 2);
    let record = store.lookup("REC00010b").await.unwrap().unwrap();
    assert_eq!(
        (record.customer_id.as_str(), record.features[0]),
        ("CUS00010", 2.0)
    );
    assert_eq!(record.generation.generation, 2);
    assert!(store.lookup("CUS00029").await.unwrap().is_none());
    assert!(store.lookup("REC00028b").await.unwrap().is_none());
    assert_eq!(report.alias_buckets, 1);
    assert_eq!(dbsize(&server, 0), 20 + 1 + 2);
    assert_eq!(dbsize(&server, STAGING), 0);
    assert_eq!(store.generation().await.unwrap().generation, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn readers_never_see_a_mix_during_a_generation_switch() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let n = 3000;
    let gen1 = tables(dir.path(), &fixture_customers(n, 1.0));
    let gen2 = tables(dir.path(), &fixture_customers(n, 2.0));
    load(&server.url(), &gen1).await;
    let store = RedisStore::connect(&server.url(), quick()).await.unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]);
    let mut readers = Vec::new();
    for r in 0..4 {
        let (store, stop, seen) = (store.clone(), Arc::clone(&stop), Arc::clone(&seen));
        readers.push(tokio::spawn(async move {
            let mut i = r;
            while !stop.load(Ordering::Relaxed) {
                let id = if i % 2 == 0 {
                    format!("CUS{:05}", i % 3000)
                } else {
                    format!("REC{:05}a", i % 3000)
                };
                let record = store
                    .lookup(&id)
                    .await
                    .unwrap()
                    .unwrap_or_else(|| panic!("{id} missing"));
                // The marker feature and the generation number agree: the
                // value and the meta come from the same generation.
                let marker = record.features[0];
                assert_eq!(marker, record.generation.generation as f64, "{id}");
                seen[record.generation.generation as usize].fetch_add(1, Ordering::Relaxed);
                i += 4;
            }
        }));
    }
    let read = |generation: usize| {
        let seen = Arc::clone(&seen);
        async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            while seen[generation].load(Ordering::Relaxed) == 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    read(1).await;
    let loader = GenerationLoader::connect(&server.url(), STAGING, quick())
        .await
        .unwrap();
    loader.load(&gen2, None, |_| {}).await.unwrap();
    read(2).await;
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.await.unwrap();
    }
    assert!(
        seen[1].load(Ordering::Relaxed) > 0,
        "no lookup before the switch"
    );
    assert!(
        seen[2].load(Ordering::Relaxed) > 0,
        "no lookup after the switch"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_load_leaves_the_old_generation_serving() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let old = fixture_customers(100, 1.0);
    load(&server.url(), &tables(dir.path(), &old)).await;
    let store = RedisStore::connect(&server.url(), quick()).await.unwrap();

    // A big new generation, abandoned (as if the process died) once some
    // of its keys are in Redis.
    let big = tables(dir.path(), &fixture_customers(200_000, 2.0));
    let loader = GenerationLoader::connect(&server.url(), STAGING, quick())
        .await
        .unwrap()
        // Long enough that the lock is still held when the next load tries,
        // however loaded the machine; the test polls for its expiry.
        .with_lock_ttl(Duration::from_secs(4));
    let written = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&written);
    let interrupted = tokio::select! {
        _ = loader.load(&big, None, move |n| { counter.fetch_add(n, Ordering::Relaxed); }) => false,
        _ = async { while written.load(Ordering::Relaxed) < 20_000 { tokio::time::sleep(Duration::from_millis(1)).await; } } => true,
    };
    assert!(
        interrupted,
        "the load finished before it could be interrupted"
    );
    // The progress callback counts keys after Redis acknowledged them.
    assert!(
        dbsize(&server, STAGING) >= 20_000,
        "the partial generation should sit in staging"
    );

    // Still generation 1, whole, by id and by alias.
    for customer in &old {
        let record = store
            .lookup(&customer.record_ids[0])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.generation.generation, 1);
        assert_eq!(bits(&record.features), expected_bits(customer));
    }
    assert!(store.lookup("CUS00150").await.unwrap().is_none());
    assert_eq!(
        dbsize(&server, 0),
        100 + 3 + 2 + 1,
        "generation 1 (150 aliases in 3 buckets) plus the dead load's lock"
    );

    // The dead load's lock blocks a new load until it expires.
    let small = tables(dir.path(), &fixture_customers(10, 2.0));
    let err = loader.load(&small, None, |_| {}).await.unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let report = loop {
        match loader.load(&small, None, |_| {}).await {
            Err(StoreError::Locked { .. }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => break other.unwrap(),
        }
    };
    assert_eq!(report.generation, 2);
    assert_eq!(dbsize(&server, 0), 10 + 1 + 2);
    assert_eq!(
        store.lookup("CUS00005").await.unwrap().unwrap().features[0],
        2.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_down_gives_unavailable_quickly_and_the_store_recovers_by_itself() {
    let mut server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let customers = fixture_customers(20, 1.0);
    let tables = tables(dir.path(), &customers);
    load(&server.url(), &tables).await;
    let store = RedisStore::connect(&server.url(), quick()).await.unwrap();
    assert!(store.lookup("CUS00003").await.unwrap().is_some());
    // A lookup that hung would never come back: the deadline must end it.
    // Far above the deadline, so a loaded machine does not matter.
    let hung = quick().deadline() * 20;

    // Stopped: connection refused.
    server.stop();
    for _ in 0..3 {
        let err = tokio::time::timeout(hung, store.lookup("CUS00003"))
            .await
            .expect("the lookup hung")
            .unwrap_err();
        assert!(err.is_unavailable(), "{err}");
    }
    assert!(store.ping().await.is_err());

    // Back, empty (no persistence): reachable but no generation yet.
    server.restart();
    let started = Instant::now();
    let err = loop {
        match store.lookup("CUS00003").await {
            Err(StoreError::NoGeneration { .. }) => break None,
            Err(e) if started.elapsed() < Duration::from_secs(60) => {
                assert!(e.is_unavailable(), "{e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => break Some(other),
        }
    };
    assert!(err.is_none(), "expected NoGeneration, got {err:?}");
    // Loaded again: the same store object serves it.
    load(&server.url(), &tables).await;
    let record = store.lookup("REC00003a").await.unwrap().unwrap();
    assert_eq!(record.customer_id, "CUS00003");
    assert_eq!(bits(&record.features), expected_bits(&customers[3]));

    // Frozen (accepts nothing, answers nothing): the deadline still holds.
    server.signal("STOP");
    let err = tokio::time::timeout(hung, store.lookup("CUS00004")).await;
    server.signal("CONT");
    let err = err.expect("the lookup hung on a frozen Redis").unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    let started = Instant::now();
    loop {
        match store.lookup("CUS00004").await {
            Ok(Some(record)) => {
                assert_eq!(record.customer_id, "CUS00004");
                break;
            }
            other => {
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "no recovery: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn embedded_and_redis_stores_give_the_same_answers() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let customers = fixture_customers(40, 1.0);
    let tables = tables(dir.path(), &customers);
    load(&server.url(), &tables).await;
    let redis =
        feature_store::Store::Redis(RedisStore::connect(&server.url(), quick()).await.unwrap());
    let embedded = feature_store::Store::Embedded(EmbeddedStore::from_files(dir.path()).unwrap());
    let mut ids: Vec<String> = customers.iter().map(|c| c.customer_id.clone()).collect();
    ids.extend(customers.iter().flat_map(|c| c.record_ids.clone()));
    ids.extend(["CUS99999".to_owned(), "nobody".to_owned(), String::new()]);
    for id in &ids {
        let a = redis.lookup(id).await.unwrap();
        let b = embedded.lookup(id).await.unwrap();
        match (a, b) {
            (None, None) => {}
            (Some(a), Some(b)) => {
                assert_eq!(a.customer_id, b.customer_id);
                assert_eq!(a.cluster, b.cluster);
                assert_eq!(bits(&a.features), bits(&b.features));
                assert_eq!(a.generation.feature_names, b.generation.feature_names);
                assert_eq!(a.generation.data_version, b.generation.data_version);
            }
            (a, b) => panic!("{id}: redis {a:?}, embedded {b:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn passwords_work_and_never_show_in_messages() {
    let server = RedisServer::start_with(&["--requirepass", "s3cret-pw"]);
    let dir = tempfile::tempdir().unwrap();
    let tables = tables(dir.path(), &fixture_customers(5, 1.0));
    let url = format!("redis://:s3cret-pw@127.0.0.1:{}", server.port());
    load(&url, &tables).await;
    let store = RedisStore::connect(&url, quick()).await.unwrap();
    assert!(store.lookup("REC00001a").await.unwrap().is_some());
    assert!(!format!("{store:?}").contains("s3cret"));

    let wrong = format!("redis://:wrong-pw@127.0.0.1:{}", server.port());
    let err = RedisStore::connect(&wrong, quick()).await.unwrap_err();
    assert!(!err.to_string().contains("wrong-pw"), "{err}");
    let nothing_there = format!("redis://:s3cret-pw@127.0.0.1:{}", server.port() ^ 1);
    let err = RedisStore::connect(&nothing_there, quick())
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(!err.to_string().contains("s3cret"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_urls_and_settings_are_clear_errors() {
    let err = RedisStore::new("http://127.0.0.1:6379", quick()).unwrap_err();
    assert!(matches!(err, StoreError::InvalidUrl { .. }), "{err}");
    assert!(err.to_string().contains("rediss://"), "{err}");
    let err = RedisStore::new("redis://127.0.0.1:notaport", quick()).unwrap_err();
    assert!(matches!(err, StoreError::InvalidUrl { .. }), "{err}");
    let server = RedisServer::start();
    let err = GenerationLoader::connect(&format!("{}/1", server.url()), 1, quick())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("staging database 1 is the serving database"),
        "{err}"
    );
    // Nothing loaded yet: unavailable (503), not an internal error.
    let store = RedisStore::connect(&server.url(), quick()).await.unwrap();
    let err = store.lookup("CUS00001").await.unwrap_err();
    assert!(
        matches!(err, StoreError::NoGeneration { .. }) && err.is_unavailable(),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn generations_of_the_legacy_alias_layout_are_still_served() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let customers = fixture_customers(10, 1.0);
    let tables = tables(dir.path(), &customers);
    load(&server.url(), &tables).await;
    // Rewrite the generation as a loader before alias buckets wrote it: one
    // `rec:{record_id}` string per alias, a meta without `alias_buckets`.
    let mut conn = server.connection(0);
    let mut meta: serde_json::Value = serde_json::from_str(
        &redis::cmd("GET")
            .arg("offers:meta")
            .query::<String>(&mut conn)
            .unwrap(),
    )
    .unwrap();
    assert!(
        meta.as_object_mut()
            .unwrap()
            .remove("alias_buckets")
            .is_some()
    );
    let _: () = redis::cmd("SET")
        .arg("offers:meta")
        .arg(meta.to_string())
        .query(&mut conn)
        .unwrap();
    let _: () = redis::cmd("DEL").arg("recs:0").query(&mut conn).unwrap();
    for (record, customer) in &tables.aliases {
        let _: () = redis::cmd("SET")
            .arg(format!("rec:{record}"))
            .arg(customer)
            .query(&mut conn)
            .unwrap();
    }
    let store = RedisStore::connect(&server.url(), quick()).await.unwrap();
    let record = store.lookup("REC00004b").await.unwrap().unwrap();
    assert_eq!(record.customer_id, "CUS00004");
    assert_eq!(bits(&record.features), expected_bits(&customers[4]));
    assert_eq!(record.generation.alias_buckets, None);
    assert!(store.lookup("REC00099a").await.unwrap().is_none());
}
