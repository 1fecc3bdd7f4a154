//! The data-quality screen of `customers_raw` (#14): a repeated record id
//! is rejected and written to the rejects file, a date of birth in year 1
//! or 9999 is cleared (the record still resolves), and past the threshold
//! the stage fails naming the rule and writes nothing.

use chrono::NaiveDate;
use pipeline_core::calendar::to_epoch_days;
use polars::prelude::*;

use super::{outputs, read_parquet, run_bin, write_parquet};

/// `n` distinct people; record 3's birth date is in year 1, record 7's in
/// 9999; the last row repeats record 5's id under another name.
fn customers(n: usize) -> DataFrame {
    let mut ids: Vec<String> = (0..n).map(|i| format!("REC{i:07}")).collect();
    let mut first: Vec<String> = (0..n).map(|i| format!("Given{i}")).collect();
    let mut last: Vec<String> = (0..n).map(|i| format!("Family{}", i * 7919)).collect();
    let day = |y, m, d| to_epoch_days(NaiveDate::from_ymd_opt(y, m, d).unwrap());
    let mut dob: Vec<i32> = (0..n).map(|i| day(1950 + (i % 50) as i32, 1, 1)).collect();
    dob[3] = day(1, 1, 1);
    dob[7] = day(9999, 12, 31);
    ids.push(ids[5].clone());
    first.push("Someone".into());
    last.push("Else".into());
    dob.push(day(1980, 5, 5));
    let rows = ids.len();
    DataFrame::new(
        rows,
        vec![
            Column::new("record_id".into(), ids),
            Column::new("first_name".into(), first),
            Column::new("last_name".into(), last),
            Column::new("city".into(), vec!["Regina"; rows]),
            Column::new("date_of_birth".into(), dob)
                .cast(&DataType::Date)
                .unwrap(),
        ],
    )
    .unwrap()
}

#[test]
fn a_repeated_record_id_is_rejected_and_impossible_birth_dates_cleared() {
    let dir = tempfile::tempdir().unwrap();
    write_parquet(dir.path(), "customers_raw.parquet", &mut customers(300));
    let (ok, stderr) = run_bin(&[], dir.path());
    assert!(ok, "{stderr}");

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("er_report.json")).unwrap()).unwrap();
    assert_eq!(report["records"], 300);
    let q = &report["data_quality"];
    assert_eq!(
        (
            q["rows"].as_u64(),
            q["rejected"].as_u64(),
            q["cleared"].as_u64()
        ),
        (Some(301), Some(1), Some(2))
    );
    let counts = q["counts"].as_array().unwrap();
    let count = |rule: &str| {
        counts.iter().find(|c| c["rule"] == rule).map(|c| {
            (
                c["column"].as_str().unwrap().to_owned(),
                c["rows"].as_u64().unwrap(),
            )
        })
    };
    assert_eq!(count("duplicate_key"), Some(("record_id".into(), 1)));
    assert_eq!(
        count("implausible_birth_date"),
        Some(("date_of_birth".into(), 2))
    );

    // The repeated row is in the rejects file, with its rule.
    let rejects_file = dir
        .path()
        .join("customers_raw.entity-resolution.rejects.parquet");
    assert_eq!(report["rejects_file"], rejects_file.display().to_string());
    let rejects = read_parquet(&rejects_file);
    assert_eq!(rejects.height(), 1);
    let first = rejects.column("first_name").unwrap().str().unwrap().get(0);
    assert_eq!(first, Some("Someone"));
    let rule = rejects.column("reject_rule").unwrap().str().unwrap().get(0);
    assert_eq!(rule, Some("duplicate_key"));

    // Every record id once in the entity map, the first row's person kept.
    let map = read_parquet(&dir.path().join("entity_map.parquet"));
    assert_eq!(map.height(), 300);
    let ids = map.column("record_id").unwrap().str().unwrap().clone();
    assert_eq!(ids.iter().filter(|id| *id == Some("REC0000005")).count(), 1);

    // With no rejects allowed the run fails, naming the rule, and the
    // earlier outputs are left as they were (nothing half-written).
    let before = std::fs::read(dir.path().join("entity_map.parquet")).unwrap();
    let (ok, stderr) = run_bin(&["--max-reject-share", "0"], dir.path());
    assert!(!ok);
    assert!(
        stderr.contains("customers_raw.parquet")
            && stderr.contains("duplicate_key on record_id: 1 rejected (e.g. REC0000005)"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("entity_map.parquet")).unwrap(),
        before
    );
}

#[test]
fn too_many_repeated_record_ids_fail_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // 1 repeat in 11 rows: 9%, above the default 1%.
    write_parquet(dir.path(), "customers_raw.parquet", &mut customers(10));
    let (ok, stderr) = run_bin(&[], dir.path());
    assert!(!ok);
    assert!(
        stderr.contains("9.09% of the `customers_raw` rows")
            && stderr.contains("--max-reject-share"),
        "{stderr}"
    );
    assert!(outputs(dir.path()).is_empty(), "{:?}", outputs(dir.path()));
}
