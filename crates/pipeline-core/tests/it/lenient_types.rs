//! The read path's leniency: a datetime where a date is expected, integer
//! 0/1 flags and any number where an f64 is expected are converted to the
//! contract types (pandas writes all three); an integer flag holding any
//! other value is an error naming the file, the column and the value.

use std::path::Path;

use pipeline_core::schema::OFFER_INTERACTIONS;
use pipeline_core::table_io::{TableSink, read_table, scan_table};
use polars::prelude::*;

const MS_PER_DAY: i64 = 86_400_000;

/// Milliseconds since the epoch of `days` after 1970-01-01 plus `ms`.
fn at(days: i64, ms: i64) -> i64 {
    days * MS_PER_DAY + ms
}

/// offer_interactions as pandas writes it: `sent_date` a datetime, the
/// flags integers (or bool), `offer_value` an integer.
fn pandas_like(tz: Option<TimeZone>, redeemed: [i64; 3]) -> DataFrame {
    let sent = Int64Chunked::new(
        "sent_date".into(),
        // 2024-03-01 23:59:59.999, 1969-12-31 12:00, 2024-03-02 00:00.
        [
            at(19_783, MS_PER_DAY - 1),
            at(-1, MS_PER_DAY / 2),
            at(19_784, 0),
        ],
    )
    .into_datetime(TimeUnit::Milliseconds, tz);
    DataFrame::new_infer_height(vec![
        Column::new("interaction_id".into(), ["I1", "I2", "I3"]),
        Column::new("record_id".into(), ["R1", "R2", "R3"]),
        Column::new("offer_id".into(), ["O1", "O1", "O2"]),
        Column::new("offer_type".into(), ["Type A", "Type A", "Type B"]),
        Column::new("offer_value".into(), [5i64, 5, 10]),
        sent.into_series().into(),
        Column::new("opened".into(), [1i32, 0, 1]),
        Column::new("clicked".into(), [true, false, false]),
        Column::new("redeemed".into(), redeemed),
    ])
    .unwrap()
}

fn write_raw(dir: &Path, mut df: DataFrame) {
    let file = std::fs::File::create(dir.join(OFFER_INTERACTIONS.file)).unwrap();
    ParquetWriter::new(file).finish(&mut df).unwrap();
}

/// Both read paths, whole and scanned.
fn read_both(dir: &Path) -> [DataFrame; 2] {
    let whole = read_table(dir, &OFFER_INTERACTIONS).unwrap();
    let scanned = scan_table(dir, &OFFER_INTERACTIONS)
        .unwrap()
        .collect()
        .unwrap();
    [whole, scanned]
}

fn epoch_days(df: &DataFrame, name: &str) -> Vec<Option<i32>> {
    let c = df.column(name).unwrap();
    assert_eq!(c.dtype(), &DataType::Date, "{name}");
    c.date().unwrap().physical().iter().collect()
}

#[test]
fn datetimes_of_any_unit_read_as_their_date() {
    for tz in [None, Some(TimeZone::UTC)] {
        let dir = tempfile::tempdir().unwrap();
        let mut df = pandas_like(tz.clone(), [1, 0, 0]);
        // Nanoseconds too, as pandas writes by default.
        let ns = df
            .column("sent_date")
            .unwrap()
            .cast(&DataType::Datetime(TimeUnit::Nanoseconds, tz.clone()))
            .unwrap();
        df.with_column(ns).unwrap();
        write_raw(dir.path(), df);
        for read in read_both(dir.path()) {
            // The last millisecond of a day stays on that day; a time before
            // 1970 goes to its own (earlier) day, not towards zero.
            assert_eq!(
                epoch_days(&read, "sent_date"),
                [Some(19_783), Some(-1), Some(19_784)],
                "{tz:?}"
            );
        }
    }
}

#[test]
fn integer_flags_and_integer_amounts_read_as_contract_types() {
    let dir = tempfile::tempdir().unwrap();
    let mut df = pandas_like(None, [0, 1, 1]);
    df.with_column(Column::new("offer_value".into(), [2.5f32, 5.0, 10.0]))
        .unwrap();
    write_raw(dir.path(), df);
    for read in read_both(dir.path()) {
        for (name, want) in [
            ("opened", [1u8, 0, 1]),
            ("clicked", [1, 0, 0]),
            ("redeemed", [0, 1, 1]),
        ] {
            let c = read.column(name).unwrap();
            if name == "clicked" {
                // bool was already accepted and is left as it is.
                assert_eq!(c.dtype(), &DataType::Boolean);
                let got: Vec<u8> = c
                    .bool()
                    .unwrap()
                    .iter()
                    .map(|b| u8::from(b.unwrap()))
                    .collect();
                assert_eq!(got, want);
                continue;
            }
            assert_eq!(c.dtype(), &DataType::UInt8, "{name}");
            let got: Vec<u8> = c.u8().unwrap().into_no_null_iter().collect();
            assert_eq!(got, want, "{name}");
        }
        let value = read.column("offer_value").unwrap();
        assert_eq!(value.dtype(), &DataType::Float64);
        let got: Vec<f64> = value.f64().unwrap().into_no_null_iter().collect();
        assert_eq!(got, [2.5, 5.0, 10.0]);
    }

    // Integers too.
    write_raw(dir.path(), pandas_like(None, [0, 1, 1]));
    for read in read_both(dir.path()) {
        let got: Vec<f64> = read
            .column("offer_value")
            .unwrap()
            .f64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!(got, [5.0, 5.0, 10.0]);
    }
}

#[test]
fn an_integer_flag_other_than_zero_or_one_names_file_column_and_value() {
    let dir = tempfile::tempdir().unwrap();
    write_raw(dir.path(), pandas_like(None, [0, 1, 2]));
    let whole = read_table(dir.path(), &OFFER_INTERACTIONS)
        .unwrap_err()
        .to_string();
    let scanned = scan_table(dir.path(), &OFFER_INTERACTIONS)
        .err()
        .unwrap()
        .to_string();
    for msg in [&whole, &scanned] {
        assert!(msg.contains("offer_interactions.parquet"), "{msg}");
        assert!(
            msg.contains("column `redeemed` holds the value 2, expected a 0/1 flag"),
            "{msg}"
        );
    }
    // A negative value is no flag either.
    write_raw(dir.path(), pandas_like(None, [0, -1, 1]));
    let msg = read_table(dir.path(), &OFFER_INTERACTIONS)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("`redeemed` holds the value -1"), "{msg}");
}

#[test]
fn a_float_flag_with_missing_values_reads_as_a_flag_and_a_fraction_does_not() {
    // What pandas writes for a flag column with NaN in it.
    let dir = tempfile::tempdir().unwrap();
    let mut df = pandas_like(None, [0, 1, 1]);
    df.with_column(Column::new(
        "opened".into(),
        [Some(1.0f64), None, Some(0.0)],
    ))
    .unwrap();
    write_raw(dir.path(), df.clone());
    for read in read_both(dir.path()) {
        let c = read.column("opened").unwrap();
        assert_eq!(c.dtype(), &DataType::UInt8);
        let got: Vec<Option<u8>> = c.u8().unwrap().iter().collect();
        assert_eq!(got, [Some(1), None, Some(0)]);
    }
    df.with_column(Column::new(
        "opened".into(),
        [Some(1.0f64), None, Some(0.5)],
    ))
    .unwrap();
    write_raw(dir.path(), df);
    let msg = read_table(dir.path(), &OFFER_INTERACTIONS)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("`opened` holds the value 0.5"), "{msg}");
}

#[test]
fn writers_still_produce_the_exact_contract_types() {
    let dir = tempfile::tempdir().unwrap();
    let sink = TableSink::new(dir.path(), false);
    let msg = sink
        .write(&OFFER_INTERACTIONS, &mut pandas_like(None, [0, 1, 1]))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("expected"), "{msg}");
    assert!(!dir.path().join(OFFER_INTERACTIONS.file).exists());
}
