//! The service over real `redis-server` processes started by the tests.

use std::sync::Arc;
use std::time::Duration;

use serve::fixture::{FixtureSpec, write_data};

use crate::helpers::{RedisServer, TestApp, Traffic, default_fixture, eventually};

#[test]
fn serves_from_redis_including_aliases() {
    let fixture = default_fixture();
    let redis = RedisServer::start();
    assert_eq!(redis.load(&fixture.data_dir()), 1);
    let app = TestApp::spawn(fixture.redis_settings(&redis));
    let embedded = TestApp::spawn(fixture.embedded_settings());

    let (status, health) = app.get_json("/");
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["store"]["kind"], "redis");
    assert_eq!(health["store"]["generation"], 1);

    // Redis and the embedded store answer the same, alias included.
    for customer in [0, 1, 2, 3, 30] {
        let id = &fixture.data.customer_ids[customer];
        let (status, from_redis) = app.get_json(&format!("/recommend/{id}?top_k=4"));
        assert_eq!(status, 200, "{from_redis}");
        assert_eq!(
            from_redis,
            embedded.get_json(&format!("/recommend/{id}?top_k=4")).1
        );
        if let Some(alias) = fixture.data.alias_of(customer) {
            let (status, by_alias) = app.get_json(&format!("/recommend/{alias}?top_k=4"));
            assert_eq!(status, 200);
            assert_eq!(by_alias["customer_id"], id.as_str());
            assert_eq!(by_alias, from_redis);
        }
    }
    assert_eq!(app.get_json("/recommend/NOBODY").0, 404);
}

#[test]
fn redis_down_answers_503_quickly_and_recovers_by_itself() {
    let fixture = default_fixture();
    let mut redis = RedisServer::start();
    redis.load(&fixture.data_dir());
    let app = TestApp::spawn(fixture.redis_settings(&redis));
    let path = format!("/recommend/{}", fixture.data.customer_ids[4]);
    let (status, before) = app.get_json(&path);
    assert_eq!(status, 200);

    redis.save_and_stop();
    // The client gives up after 10 s: a lookup that hung would fail here.
    let port = redis.port.to_string();
    for _ in 0..3 {
        let (status, body) = app.get_json(&path);
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"], "store_unavailable");
        assert!(
            !body.to_string().contains(&port),
            "no Redis address: {body}"
        );
    }
    let (status, health) = app.get_json("/");
    assert_eq!(status, 503, "health says the store is unreachable");
    assert!(
        !health.to_string().contains(&port),
        "no Redis address: {health}"
    );

    redis.restart();
    assert!(
        eventually(Duration::from_secs(10), || app.get_json(&path).0 == 200),
        "the service recovers once Redis is back"
    );
    assert_eq!(app.get_json(&path).1, before);
    assert_eq!(app.get_json("/").0, 200);
    let text = app.get("/metrics").text().unwrap();
    assert!(
        text.contains("route=\"GET /recommend/{id}\",status=\"503\"} 3"),
        "{text}"
    );
    assert!(
        !text.contains("offers_store_errors_total{kind=\"unavailable\"} 0"),
        "{text}"
    );
}

#[test]
fn a_generation_switch_during_traffic_drops_no_request() {
    let fixture = default_fixture();
    let redis = RedisServer::start();
    assert_eq!(redis.load(&fixture.data_dir()), 1);
    let app = Arc::new(TestApp::spawn(fixture.redis_settings(&redis)));

    // The next generation: the same customers with other feature values,
    // plus more customers.
    let next_dir = tempfile::tempdir().unwrap();
    let next = write_data(
        next_dir.path(),
        &FixtureSpec {
            customers: 500,
            seed: 99,
            ..FixtureSpec::default()
        },
    )
    .unwrap();
    let newcomer = next.customer_ids[450].clone();
    assert_eq!(app.get_json(&format!("/recommend/{newcomer}")).0, 404);

    let traffic = Traffic::start(&app, &fixture.data.customer_ids, 2);
    assert!(
        traffic.wait_for_answers(20),
        "traffic ran before the switch"
    );
    assert_eq!(redis.load(next_dir.path()), 2);
    let across = traffic.stop();
    let traffic = Traffic::start(&app, &fixture.data.customer_ids, 2);
    assert!(traffic.wait_for_answers(20), "traffic ran after the switch");
    let (after, failed) = traffic.stop();
    eprintln!(
        "fault figures: generation switch under traffic; {} + {after} requests answered 200, {} + {failed} failed",
        across.0, across.1
    );
    assert_eq!(
        (across.1, failed),
        (0, 0),
        "no request failed across the switch"
    );

    let (status, body) = app.get_json(&format!("/recommend/{newcomer}"));
    assert_eq!(status, 200, "the new generation serves: {body}");
    assert_eq!(app.get_json("/").1["store"]["generation"], 2);
    // Old customers now answer from their new features and segment.
    let (_, moved) = app.get_json(&format!("/recommend/{}", next.customer_ids[0]));
    assert_eq!(moved["cluster"], next.clusters[0]);
}

/// #14 item 3: a Redis Cluster node given as a standalone URL (here a
/// cluster node with no slot served, which answers CLUSTERDOWN; a node of a
/// working cluster answers MOVED for most keys) makes the store unusable:
/// 503 with a message that says so, never 500, and no address in the
/// answer.
#[test]
fn a_redis_cluster_node_given_as_a_standalone_url_answers_503_naming_it() {
    let fixture = default_fixture();
    let redis = RedisServer::start_with(&["--cluster-enabled", "yes"]);
    let app = TestApp::spawn(fixture.redis_settings(&redis));
    let path = format!("/recommend/{}", fixture.data.customer_ids[0]);
    let (status, body) = app.get_json(&path);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "store_unavailable");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("Redis Cluster"), "{message}");
    assert!(!message.contains(&redis.port.to_string()), "{message}");
    let (status, health) = app.get_json("/");
    assert_eq!(status, 503, "{health}");
}
