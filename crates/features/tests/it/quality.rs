//! The data-quality screen of the features stage's inputs (#14): rows that
//! break a rule of the contract are left out, counted by rule and column,
//! written to a rejects file; past the threshold the stage fails, naming
//! the rule, and writes nothing.

use std::path::Path;

use pipeline_core::quality::{Rule, TableQuality, rejects_path};
use pipeline_core::schema::{
    CUSTOMER_FEATURES, ENTITY_MAP, OFFER_INTERACTIONS, OFFERS, TRANSACTIONS,
};
use pipeline_core::table_io::{TableSink, read_table};
use polars::prelude::*;

use super::{MAP, Purchase, SENT, config, entity_map, interactions, offers, transactions, value};

/// Good purchases: R1 (C1) and R3 (C3) buy every few days in 2025, R1 for
/// 10.0 and R3 for 20.0.
fn good_purchases(n: usize) -> Vec<(String, f64, String)> {
    (0..n)
        .map(|i| {
            let (record, amount) = if i % 2 == 0 {
                ("R1", 10.0)
            } else {
                ("R3", 20.0)
            };
            let day = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap()
                + chrono::Days::new((i % 360) as u64);
            (
                record.to_owned(),
                amount,
                day.format("%Y-%m-%d").to_string(),
            )
        })
        .collect()
}

fn write(dir: &Path, rows: &[(String, f64, String)], duplicate_ids: usize, map: &[(&str, &str)]) {
    let purchases: Vec<Purchase> = rows
        .iter()
        .map(|(r, a, d)| (r.as_str(), "Produce", *a, "Vancouver", d.as_str()))
        .collect();
    let mut txns = transactions(&purchases);
    if duplicate_ids > 0 {
        // The last `duplicate_ids` rows repeat the ids of the first ones.
        let n = txns.height();
        let ids: Vec<String> = (0..n)
            .map(|i| {
                let j = if i >= n - duplicate_ids {
                    i - (n - duplicate_ids)
                } else {
                    i
                };
                format!("T{j}")
            })
            .collect();
        txns.with_column(Column::new("transaction_id".into(), ids))
            .unwrap();
    }
    let sink = TableSink::new(dir, false);
    sink.write(&TRANSACTIONS, &mut txns).unwrap();
    sink.write(&OFFER_INTERACTIONS, &mut interactions(SENT))
        .unwrap();
    sink.write(&OFFERS, &mut offers(SENT)).unwrap();
    sink.write(&ENTITY_MAP, &mut entity_map(map)).unwrap();
}

fn report(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join(features::REPORT_FILE)).unwrap()).unwrap()
}

fn table(report: &serde_json::Value, name: &str) -> TableQuality {
    let tables = report["data_quality"].as_array().unwrap();
    let t = tables.iter().find(|t| t["table"] == name).unwrap();
    serde_json::from_value(t.clone()).unwrap()
}

fn rows_of(q: &TableQuality, rule: Rule, column: &str) -> u64 {
    q.counts
        .iter()
        .filter(|c| c.rule == rule && c.column == column)
        .map(|c| c.rows)
        .sum()
}

#[test]
fn bad_transactions_are_left_out_counted_and_written_beside_the_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = good_purchases(4000);
    let bad = [
        ("R1", -19_776.0, "2025-06-01"),
        ("R1", f64::NAN, "2025-06-02"),
        ("R3", f64::INFINITY, "2025-06-03"),
        ("R3", 5.0, "1900-01-01"),
        ("R1", 5.0, "2100-01-01"),
    ];
    rows.extend(
        bad.iter()
            .map(|(r, a, d)| ((*r).to_owned(), *a, (*d).to_owned())),
    );
    // 20 repeats of earlier rows' ids: the first row of an id is kept.
    rows.extend(good_purchases(20));
    write(dir.path(), &rows, 20, MAP);
    let summary = features::run(&config(dir.path(), false)).unwrap();

    let report = report(dir.path());
    let q = table(&report, "transactions");
    assert_eq!(q.rows, 4025);
    assert_eq!(q.rejected, 25, "{}", q.breakdown());
    assert_eq!(rows_of(&q, Rule::Negative, "amount"), 1);
    assert_eq!(rows_of(&q, Rule::NotFinite, "amount"), 2);
    assert_eq!(rows_of(&q, Rule::OutsideCalendar, "transaction_date"), 2);
    assert_eq!(rows_of(&q, Rule::DuplicateKey, "transaction_id"), 20);
    assert!(
        summary
            .to_string()
            .contains("transactions: 25 of 4025 rows rejected"),
        "{summary}"
    );

    // The rejects file holds exactly those rows, each with its rule.
    let rejects_file = rejects_path(dir.path(), features::STAGE, "transactions");
    assert_eq!(
        report["rejects_files"][0].as_str().unwrap(),
        rejects_file.display().to_string()
    );
    let rejects = ParquetReader::new(std::fs::File::open(&rejects_file).unwrap())
        .finish()
        .unwrap();
    assert_eq!(rejects.height(), 25);
    let rules = rejects
        .column("reject_rule")
        .unwrap()
        .str()
        .unwrap()
        .clone();
    assert_eq!(
        rules.iter().filter(|r| *r == Some("duplicate_key")).count(),
        20
    );
    assert!(
        rejects.column("amount").is_ok(),
        "the rejected rows keep their columns"
    );

    // The features are those of the good rows alone: 2000 purchases of
    // 10.0 for C1, no NaN anywhere, and the default cut-off comes from the
    // good dates (2100 is not "the last event": the last is a send of
    // 2026-02-16).
    let df = read_table(dir.path(), &CUSTOMER_FEATURES).unwrap();
    assert_eq!(value(&df, "C1", "frequency"), Some(2000.0));
    assert_eq!(value(&df, "C1", "monetary_total"), Some(20_000.0));
    assert_eq!(value(&df, "C3", "monetary_total"), Some(40_000.0));
    assert_eq!(report["cutoff"], "2026-02-17");
    for c in df.columns() {
        if let Ok(f) = c.f64() {
            assert!(
                f.iter().flatten().all(f64::is_finite),
                "{} has NaN or inf",
                c.name()
            );
        }
    }

    // A clean rerun removes the stale rejects file.
    write(dir.path(), &good_purchases(4000), 0, MAP);
    features::run(&config(dir.path(), false)).unwrap();
    assert!(!rejects_file.exists());
    assert_eq!(
        table(&super::quality::report(dir.path()), "transactions").rejected,
        0
    );
}

#[test]
fn records_missing_from_the_entity_map_past_the_threshold_fail_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // R3 (half of the purchases) is missing from the entity map.
    let map: Vec<(&str, &str)> = MAP.iter().copied().filter(|(r, _)| *r != "R3").collect();
    write(dir.path(), &good_purchases(1000), 0, &map);
    let err = features::run(&config(dir.path(), false)).unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("transactions.parquet")
            && msg.contains("unknown_record on record_id: 500 rejected")
            && msg.contains("50.00%")
            && msg.contains("--max-reject-share"),
        "{msg}"
    );
    for file in [
        CUSTOMER_FEATURES.file.to_owned(),
        features::REPORT_FILE.to_owned(),
        pipeline_core::vocabulary::VOCABULARY_FILE.to_owned(),
        "transactions.features.rejects.parquet".to_owned(),
    ] {
        assert!(!dir.path().join(&file).exists(), "{file} was written");
    }

    // A higher threshold lets the run through; the rows are still left out.
    let mut lenient = config(dir.path(), false);
    lenient.screen.max_reject_share = 0.6;
    features::run(&lenient).unwrap();
    let df = read_table(dir.path(), &CUSTOMER_FEATURES).unwrap();
    assert_eq!(value(&df, "C1", "frequency"), Some(500.0));
    let ids = df.column("customer_id").unwrap().str().unwrap().clone();
    assert!(
        !ids.iter().any(|id| id == Some("C3")),
        "C3 is in no entity map"
    );
    let q = table(&report(dir.path()), "transactions");
    assert_eq!(rows_of(&q, Rule::UnknownRecord, "record_id"), 500);
}
