//! Offer validity: `serve` never recommends an offer outside its
//! `valid_from` / `valid_to` on the request date (`as_of`, default today);
//! with nothing valid it answers an empty list and says why.

use pipeline_core::calendar::{parse_date, to_epoch_days};
use polars::prelude::*;
use serde_json::Value;

use crate::helpers::{TestApp, TestFixture, default_fixture};

/// A validity window: `None` ends are open.
type Window = (Option<&'static str>, Option<&'static str>);

/// Adds validity columns to the fixture's offers: `windows[i]` for offer i,
/// the rest open.
fn set_validity(fixture: &TestFixture, windows: &[Window]) {
    let path = fixture.data_dir().join("offers.parquet");
    let mut offers = ParquetReader::new(std::fs::File::open(&path).unwrap())
        .finish()
        .unwrap();
    let n = offers.height();
    let column = |name: &str, pick: fn(&Window) -> Option<&'static str>| {
        let values: Vec<Option<i32>> = (0..n)
            .map(|i| {
                windows
                    .get(i)
                    .and_then(pick)
                    .map(|d| to_epoch_days(parse_date("test", d).unwrap()))
            })
            .collect();
        Column::new(name.into(), values)
            .cast(&DataType::Date)
            .unwrap()
    };
    offers.with_column(column("valid_from", |w| w.0)).unwrap();
    offers.with_column(column("valid_to", |w| w.1)).unwrap();
    ParquetWriter::new(std::fs::File::create(&path).unwrap())
        .finish(&mut offers)
        .unwrap();
}

fn offer_ids(body: &Value) -> Vec<String> {
    body["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["offer_id"].as_str().unwrap().to_owned())
        .collect()
}

/// A customer of the last cluster, whose candidates are every offer.
fn whole_catalogue_customer(fixture: &TestFixture) -> String {
    let last = *fixture.data.clusters.iter().max().unwrap();
    let at = fixture
        .data
        .clusters
        .iter()
        .position(|&c| c == last)
        .unwrap();
    fixture.data.customer_ids[at].clone()
}

#[test]
fn offers_outside_their_validity_are_never_recommended() {
    let fixture = default_fixture();
    set_validity(
        &fixture,
        &[
            (None, Some("2020-01-31")), // ended
            (Some("2030-01-01"), None), // not yet
            (Some("2025-01-01"), Some("2025-12-31")),
        ],
    );
    let offers: Vec<String> = fixture
        .data
        .offers
        .iter()
        .map(|o| o.offer_id.clone())
        .collect();
    let app = TestApp::spawn(fixture.embedded_settings());
    let id = whole_catalogue_customer(&fixture);
    let all = offers.len();

    let (status, body) = app.get_json(&format!("/recommend/{id}?top_k={all}&as_of=2025-06-01"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["as_of"], "2025-06-01");
    assert_eq!(body["candidates_not_valid"], 2);
    assert_eq!(body["candidates_scored"], all - 2);
    let served = offer_ids(&body);
    assert_eq!(served.len(), all - 2);
    assert!(
        !served.contains(&offers[0]) && !served.contains(&offers[1]),
        "{served:?}"
    );
    assert!(served.contains(&offers[2]));

    // Later: offer 1 has started, offer 2 has ended.
    let (_, body) = app.get_json(&format!("/recommend/{id}?top_k={all}&as_of=2031-02-03"));
    let served = offer_ids(&body);
    assert!(
        served.contains(&offers[1]) && !served.contains(&offers[2]),
        "{served:?}"
    );
    assert!(!served.contains(&offers[0]));

    // The batch route takes the same date.
    let (status, body) = app.post_json(
        "/recommend",
        &serde_json::json!({"ids": [id], "top_k": all, "as_of": "2025-06-01"}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][0]["result"]["candidates_not_valid"], 2);

    let (status, body) = app.get_json(&format!("/recommend/{id}?as_of=06/01/2025"));
    assert_eq!((status, body["error"].as_str()), (400, Some("bad_request")));
}

#[test]
fn with_nothing_valid_the_answer_is_empty_and_says_why() {
    let fixture = default_fixture();
    let ended = vec![(None, Some("2020-01-31")); fixture.data.offers.len()];
    set_validity(&fixture, &ended);
    let app = TestApp::spawn(fixture.embedded_settings());
    let id = &fixture.data.customer_ids[0];
    // Default as_of: today, long after every offer ended.
    let (status, body) = app.get_json(&format!("/recommend/{id}"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["recommendations"], serde_json::json!([]));
    assert_eq!(body["candidates_scored"], 0);
    let note = body["note"].as_str().unwrap();
    assert!(note.contains("valid"), "{note}");
}

#[test]
fn a_validity_window_that_ends_before_it_starts_is_refused_at_start_up() {
    let fixture = default_fixture();
    set_validity(&fixture, &[(Some("2025-02-01"), Some("2025-01-01"))]);
    let err = TestApp::try_spawn(fixture.embedded_settings())
        .err()
        .expect("a reversed window is refused");
    // The model names the offer among its candidates, and the offer is
    // out by the contract's rule: the error says which.
    assert!(
        err.contains("offers.parquet") && err.contains("ends_before_start on valid_to"),
        "{err}"
    );
}

/// The offers go through the contract's data-quality rules as train read
/// them (#14): a repeated id keeps its first row, an offer that ends before
/// it starts is left out, and the service starts (it refused the whole
/// catalogue before, although train had trained on the rest).
#[test]
fn offers_the_data_quality_rules_reject_are_not_served_and_the_rest_are() {
    let fixture = default_fixture();
    set_validity(&fixture, &[]);
    let path = fixture.data_dir().join("offers.parquet");
    let mut offers = ParquetReader::new(std::fs::File::open(&path).unwrap())
        .finish()
        .unwrap();
    let n = offers.height();
    let first = fixture.data.offers[0].offer_id.clone();
    let mut extra = offers.slice(0, 2);
    extra
        .with_column(Column::new("offer_id".into(), [first.as_str(), "OFF-BAD"]))
        .unwrap();
    extra
        .with_column(Column::new("offer_name".into(), ["Copy", "Bad"]))
        .unwrap();
    let day = |d: &str| to_epoch_days(parse_date("test", d).unwrap());
    extra
        .with_column(
            Column::new("valid_from".into(), [None, Some(day("2025-06-01"))])
                .cast(&DataType::Date)
                .unwrap(),
        )
        .unwrap();
    extra
        .with_column(
            Column::new("valid_to".into(), [None, Some(day("2025-01-01"))])
                .cast(&DataType::Date)
                .unwrap(),
        )
        .unwrap();
    offers.vstack_mut(&extra).unwrap();
    ParquetWriter::new(std::fs::File::create(&path).unwrap())
        .finish(&mut offers)
        .unwrap();

    let app = TestApp::spawn(fixture.embedded_settings());
    let (status, health) = app.get_json("/");
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["model"]["offers"], n);
    let id = whole_catalogue_customer(&fixture);
    let (status, body) = app.get_json(&format!("/recommend/{id}?top_k={n}&as_of=2025-03-01"));
    assert_eq!(status, 200, "{body}");
    let served = offer_ids(&body);
    assert_eq!(served.len(), n, "{served:?}");
    assert!(!served.contains(&"OFF-BAD".to_owned()));
    let names: Vec<&str> = body["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["offer_id"] == first.as_str())
        .map(|r| r["offer_name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 1);
    assert_ne!(names[0], "Copy", "the first row of a repeated id is kept");
}
