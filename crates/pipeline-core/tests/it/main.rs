//! Behaviour of the shared table I/O: validation errors name the file, the
//! column and what was expected; writers never leave partial files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod lenient_types;

use std::path::Path;

use pipeline_core::CoreError;
use pipeline_core::schema::{CUSTOMERS_RAW, ColumnType, OFFERS, TableSpec};
use pipeline_core::table_io::{TableSink, read_table, scan_table, write_json_atomic};
use polars::prelude::*;

fn offers_frame() -> DataFrame {
    DataFrame::new_infer_height(vec![
        Column::new("offer_id".into(), ["OFF001", "OFF002"]),
        Column::new("offer_name".into(), ["Free Oil Change", "Tire Credit"]),
        Column::new("offer_type".into(), ["Free Service", "Credit"]),
        Column::new("offer_value".into(), [70.0, 40.0]),
        Column::new("category".into(), [Some("Maintenance"), None]),
    ])
    .unwrap()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Writes `df` as the offers file without validation, to fake bad input.
fn write_raw(dir: &Path, spec: &TableSpec, mut df: DataFrame) {
    let file = std::fs::File::create(dir.join(spec.file)).unwrap();
    ParquetWriter::new(file).finish(&mut df).unwrap();
}

#[test]
fn round_trip_with_csv_and_no_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let sink = TableSink::new(dir.path(), true);
    sink.write(&OFFERS, &mut offers_frame()).unwrap();
    assert_eq!(files_in(dir.path()), ["offers.csv", "offers.parquet"]);
    let back = read_table(dir.path(), &OFFERS).unwrap();
    // The absent optional validity columns read as nulls.
    let columns = offers_frame().get_column_names_owned();
    assert!(
        back.select(columns)
            .unwrap()
            .equals_missing(&offers_frame())
    );
    assert_eq!(back.column("valid_to").unwrap().null_count(), 2);
    let csv = std::fs::read_to_string(dir.path().join("offers.csv")).unwrap();
    assert!(
        csv.starts_with("offer_id,offer_name,offer_type,offer_value,category\n"),
        "{csv}"
    );
    let lazy = scan_table(dir.path(), &OFFERS).unwrap().collect().unwrap();
    assert_eq!(lazy.height(), 2);
}

#[test]
fn a_missing_file_names_the_path_and_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let err = read_table(dir.path(), &OFFERS).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, CoreError::MissingFile { .. }));
    assert!(
        msg.contains("offers.parquet") && msg.contains("`offers` table"),
        "{msg}"
    );
    assert!(scan_table(dir.path(), &OFFERS).is_err());
}

#[test]
fn a_missing_column_is_named_with_its_expected_type() {
    let dir = tempfile::tempdir().unwrap();
    write_raw(
        dir.path(),
        &OFFERS,
        offers_frame().drop("offer_type").unwrap(),
    );
    let msg = read_table(dir.path(), &OFFERS).unwrap_err().to_string();
    assert!(msg.contains("offers.parquet"), "{msg}");
    assert!(
        msg.contains("column `offer_type` is missing (expected a string column)"),
        "{msg}"
    );
    let lazy_msg = scan_table(dir.path(), &OFFERS).err().unwrap().to_string();
    assert_eq!(msg, lazy_msg);
}

#[test]
fn an_absent_optional_column_reads_as_all_null_of_its_contract_type() {
    let dir = tempfile::tempdir().unwrap();
    // customers_raw with its key only: every identity column is optional.
    let ids =
        DataFrame::new_infer_height(vec![Column::new("record_id".into(), ["R1", "R2", "R3"])])
            .unwrap();
    write_raw(dir.path(), &CUSTOMERS_RAW, ids);
    let read = read_table(dir.path(), &CUSTOMERS_RAW).unwrap();
    let scanned = scan_table(dir.path(), &CUSTOMERS_RAW)
        .unwrap()
        .collect()
        .unwrap();
    for df in [&read, &scanned] {
        assert_eq!(df.height(), 3);
        assert_eq!(df.width(), CUSTOMERS_RAW.columns.len());
        for spec in CUSTOMERS_RAW.columns.iter().filter(|c| c.nullable) {
            let col = df.column(spec.name).unwrap();
            assert_eq!(col.dtype(), &spec.ty.dtype(), "{}", spec.name);
            assert_eq!(col.null_count(), 3, "{} is all-null", spec.name);
        }
    }
    assert_eq!(
        CUSTOMERS_RAW.column("date_of_birth").map(|c| c.ty),
        Some(ColumnType::Date)
    );
    assert_eq!(
        read.column("date_of_birth").unwrap().dtype(),
        &DataType::Date
    );

    // A present optional column keeps its values; the absent one is added.
    write_raw(
        dir.path(),
        &OFFERS,
        offers_frame().drop("category").unwrap(),
    );
    let offers = read_table(dir.path(), &OFFERS).unwrap();
    assert_eq!(offers.column("category").unwrap().null_count(), 2);
    assert_eq!(
        offers.column("offer_value").unwrap().f64().unwrap().get(0),
        Some(70.0)
    );
    // The writers accept such a table too.
    let sink = TableSink::new(dir.path().join("out"), false);
    sink.write(&OFFERS, &mut offers_frame().drop("category").unwrap())
        .unwrap();

    // The required key stays required.
    let no_key = DataFrame::new_infer_height(vec![Column::new("email".into(), ["a@b.c"])]).unwrap();
    write_raw(dir.path(), &CUSTOMERS_RAW, no_key);
    let msg = read_table(dir.path(), &CUSTOMERS_RAW)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("column `record_id` is missing (expected a string column)"),
        "{msg}"
    );
}

#[test]
fn a_wrong_type_says_what_was_found_and_expected() {
    let dir = tempfile::tempdir().unwrap();
    let mut df = offers_frame();
    df.replace(
        "offer_value",
        Series::new("offer_value".into(), ["70", "40"]).into(),
    )
    .unwrap();
    write_raw(dir.path(), &OFFERS, df);
    let msg = read_table(dir.path(), &OFFERS).unwrap_err().to_string();
    assert!(
        msg.contains("column `offer_value` has type str, expected an f64 column"),
        "{msg}"
    );
}

#[test]
fn empty_tables_and_nulls_in_required_columns_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_raw(dir.path(), &OFFERS, offers_frame().head(Some(0)));
    let msg = read_table(dir.path(), &OFFERS).unwrap_err().to_string();
    assert!(msg.contains("the table is empty"), "{msg}");

    let mut df = offers_frame();
    df.replace(
        "offer_id",
        Series::new("offer_id".into(), [Some("OFF001"), None]).into(),
    )
    .unwrap();
    write_raw(dir.path(), &OFFERS, df);
    let msg = read_table(dir.path(), &OFFERS).unwrap_err().to_string();
    assert!(
        msg.contains("column `offer_id` has 1 null values, expected none"),
        "{msg}"
    );
}

#[test]
fn a_file_that_is_not_parquet_is_reported_as_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("offers.parquet"),
        b"offer_id,offer_name\nOFF001,x\n",
    )
    .unwrap();
    let msg = read_table(dir.path(), &OFFERS).unwrap_err().to_string();
    assert!(
        msg.contains("offers.parquet: cannot read as Parquet"),
        "{msg}"
    );
}

#[test]
fn an_invalid_frame_is_not_written_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let sink = TableSink::new(dir.path(), true);
    let mut bad = offers_frame().drop("offer_type").unwrap();
    assert!(sink.write(&OFFERS, &mut bad).is_err());
    assert!(
        files_in(dir.path()).is_empty(),
        "{:?}",
        files_in(dir.path())
    );
}

#[test]
fn a_batched_writer_dropped_before_finish_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sink = TableSink::new(dir.path(), true);
    let mut df = offers_frame();
    {
        let mut w = sink.batched(&OFFERS, df.schema()).unwrap();
        w.write(&mut df).unwrap();
        // Dropped here, as when a later batch fails.
    }
    assert!(
        files_in(dir.path()).is_empty(),
        "{:?}",
        files_in(dir.path())
    );

    let mut w = sink.batched(&OFFERS, df.schema()).unwrap();
    w.write(&mut df).unwrap();
    w.write(&mut df).unwrap();
    assert_eq!(w.finish().unwrap(), 4);
    assert_eq!(read_table(dir.path(), &OFFERS).unwrap().height(), 4);
    let csv = std::fs::read_to_string(dir.path().join("offers.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "one header and four rows: {csv}");
}

#[test]
fn an_unwritable_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"x").unwrap();
    let sink = TableSink::new(blocker.join("data"), false);
    let msg = sink
        .write(&OFFERS, &mut offers_frame())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("not-a-dir/data"), "{msg}");
    let msg = write_json_atomic(blocker.join("x.json"), &1)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("not-a-dir"), "{msg}");
}

#[test]
fn a_json_artifact_that_does_not_parse_names_the_file_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cluster_candidates.json");
    std::fs::write(&path, "{\"0\": [\"OFF1\",").unwrap();
    let err =
        pipeline_core::artifacts::read_json::<pipeline_core::artifacts::ClusterCandidates>(&path)
            .unwrap_err()
            .to_string();
    assert!(err.contains("cluster_candidates.json"), "{err}");
    assert!(err.contains("not the JSON"), "{err}");
    assert!(!err.contains("encode"), "{err}");
}
