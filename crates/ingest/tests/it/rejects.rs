//! Rows that break a rule are counted by rule and column, written to
//! `{table}.rejects.parquet` with their original values, and left out; too
//! many of them fail the run; a failing run writes nothing at all.

use ingest::RejectCount;
use ingest::convert::Rule;
use polars::prelude::*;

use crate::{Case, some, texts};

const MAPPING: &str = r#"
[sources]
sends = "sends.csv"
tx = "tx.csv"
products = "products.csv"

[tables.offer_interactions]
source = "sends"

[tables.offer_interactions.columns]
interaction_id = "id"
record_id = "hh"
offer_id = "campaign"
sent_date = { column = "sent", format = "%Y%m%d" }
redeemed = "redeemed"

[tables.transactions]
source = "tx"

[[tables.transactions.lookups]]
source = "products"
on = "product"
columns = ["department"]

[tables.transactions.columns]
transaction_id = "id"
record_id = "hh"
service_category = "department"
amount = "amount"
transaction_date = { column = "day", format = "%Y%m%d" }
"#;

/// Eight sends: three pass; a text date in another format, a flag of 2, no
/// household, a repeated id, and a row with both a bad date and a bad flag
/// (the first rule in column order counts) are rejected.
const SENDS: &str = "id,hh,campaign,sent,redeemed
I1,100,C1,20170103,1
I2,101,C1,2017-01-03,0
I3,102,C1,20170103,2
I4,,C1,20170103,0
I1,103,C1,20170103,0
I6,104,C2,20170110,1
I7,105,C2,20170110,0
I8,106,C2,x,5
";

/// Four lines: one of an unknown product, one whose amount is no number.
const TX: &str = "id,hh,product,amount,day
T1,100,10,2.5,20170101
T2,100,99,1.0,20170101
T3,101,10,abc,20170101
T4,101,11,3,20170102
";

fn case() -> Case {
    let case = Case::new();
    case.text("sends.csv", SENDS);
    case.text("tx.csv", TX);
    case.text("products.csv", "product,department\n10,DAIRY\n11,BAKERY\n");
    case.mapping(MAPPING);
    case
}

fn count(rule: Rule, column: &str, rows: u64, example: &str) -> RejectCount {
    RejectCount {
        rule,
        column: column.to_owned(),
        rows,
        example: Some(example.to_owned()),
    }
}

#[test]
fn rejects_are_counted_by_rule_and_column_and_written_with_their_values() {
    let case = case();
    let config = ingest::IngestConfig {
        max_reject_share: 1.0,
        ..case.config()
    };
    let report = ingest::run(&config).unwrap();

    let sends = &report.tables[0];
    assert_eq!(sends.table, "offer_interactions");
    assert_eq!((sends.rows_in, sends.rejected, sends.rows_out), (8, 5, 3));
    assert_eq!(
        sends.rejects,
        [
            count(Rule::BadDate, "sent_date", 2, "2017-01-03"),
            count(Rule::BadFlag, "redeemed", 1, "2"),
            count(Rule::DuplicateKey, "interaction_id", 1, "I1"),
            count(Rule::MissingValue, "record_id", 1, "null"),
        ]
    );
    let written = case.read("offer_interactions.parquet");
    assert_eq!(texts(&written, "interaction_id"), some(&["I1", "I6", "I7"]));

    let rejects = case.read("offer_interactions.rejects.parquet");
    let names: Vec<&str> = rejects
        .get_column_names()
        .into_iter()
        .map(|n| n.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "id",
            "hh",
            "campaign",
            "sent",
            "redeemed",
            "reject_rule",
            "reject_column"
        ]
    );
    for c in rejects.columns() {
        assert_eq!(c.dtype(), &DataType::String, "{}", c.name());
    }
    // In source order, with the values as they were.
    assert_eq!(texts(&rejects, "id"), some(&["I2", "I3", "I4", "I1", "I8"]));
    assert_eq!(
        texts(&rejects, "sent"),
        some(&["2017-01-03", "20170103", "20170103", "20170103", "x"])
    );
    assert_eq!(
        texts(&rejects, "reject_rule"),
        some(&[
            "bad_date",
            "bad_flag",
            "missing_value",
            "duplicate_key",
            "bad_date"
        ])
    );
    assert_eq!(
        texts(&rejects, "reject_column"),
        some(&[
            "sent_date",
            "redeemed",
            "record_id",
            "interaction_id",
            "sent_date"
        ])
    );

    let tx = &report.tables[1];
    assert_eq!((tx.rows_in, tx.rejected, tx.rows_out), (4, 2, 2));
    let mut by_rule: Vec<(Rule, &str)> = tx
        .rejects
        .iter()
        .map(|r| (r.rule, r.column.as_str()))
        .collect();
    by_rule.sort();
    assert_eq!(
        by_rule,
        [
            (Rule::BadNumber, "amount"),
            (Rule::LookupMiss, "service_category")
        ]
    );
    let tx_rejects = case.read("transactions.rejects.parquet");
    // The looked-up column is among the originals (null where it missed).
    assert_eq!(
        texts(&tx_rejects, "department"),
        [None, Some("DAIRY".to_owned())]
    );
    assert_eq!(texts(&tx_rejects, "id"), some(&["T2", "T3"]));
}

#[test]
fn too_many_rejects_fail_the_run_naming_the_rule_and_write_nothing() {
    let case = case();
    // Output of an earlier run stays as it was.
    std::fs::create_dir_all(&case.data).unwrap();
    std::fs::write(case.data.join("offer_interactions.parquet"), b"earlier").unwrap();
    let msg = case.run_err();
    assert!(
        msg.starts_with(
            "offer_interactions: 62.50% of the rows were rejected, above --max-reject-share 1.00%"
        ),
        "{msg}"
    );
    assert!(
        msg.contains("bad_date on sent_date: 2 rows (e.g. \"2017-01-03\")"),
        "{msg}"
    );
    assert_eq!(case.data_files(), ["offer_interactions.parquet"]);
    assert_eq!(
        std::fs::read(case.data.join("offer_interactions.parquet")).unwrap(),
        b"earlier"
    );

    // Just above the share that was rejected: passes.
    let config = ingest::IngestConfig {
        max_reject_share: 0.63,
        ..case.config()
    };
    ingest::run(&config).unwrap();
    assert!(
        case.data
            .join("offer_interactions.rejects.parquet")
            .is_file()
    );
}

#[test]
fn a_table_that_fails_leaves_no_file_at_all_not_even_the_good_tables() {
    // offers is fine; transactions keeps no row once filtered, so it cannot
    // be written (an empty table is refused).
    let case = Case::new();
    case.text("offers.csv", "id,kind\nC1,mail\n");
    case.text("tx.csv", "id,hh,amount,day\nT1,1,2.5,2017-01-01\n");
    case.mapping(
        r#"
[sources]
offers = "offers.csv"
tx = "tx.csv"

[tables.offers]
source = "offers"
columns = { offer_id = "id", offer_type = "kind" }

[tables.transactions]
source = "tx"
filter = [{ column = "amount", op = ">", value = 100 }]
[tables.transactions.columns]
transaction_id = "id"
record_id = "hh"
service_category = { constant = "X" }
amount = "amount"
transaction_date = "day"
"#,
    );
    let msg = case.run_err();
    assert!(
        msg.contains("transactions.parquet: the table is empty"),
        "{msg}"
    );
    assert!(case.data_files().is_empty(), "{:?}", case.data_files());

    // A folder in the way of one output: found before any file is moved,
    // and the staging folder is gone.
    case.mapping(
        &std::fs::read_to_string(case.src.join("mapping.toml"))
            .unwrap()
            .replace("op = \">\", value = 100", "op = \">\", value = 0"),
    );
    std::fs::create_dir_all(case.data.join("transactions.parquet")).unwrap();
    let msg = case.run_err();
    assert!(msg.contains("a folder is in the way"), "{msg}");
    assert_eq!(case.data_files(), ["transactions.parquet"]);

    std::fs::remove_dir(case.data.join("transactions.parquet")).unwrap();
    case.run().unwrap();
    assert_eq!(
        case.data_files(),
        [
            "ingest_report.json",
            "offers.parquet",
            "offers.rejects.parquet",
            "transactions.parquet",
            "transactions.rejects.parquet",
        ]
    );
}

/// The contract's data-quality rules (`pipeline_core::quality`, the same
/// every later stage applies) run on the converted values: a negative, NaN
/// or infinite amount and a date outside the calendar are rejects with
/// their source text; an impossible birth date is cleared, its row kept.
#[test]
fn the_contract_rules_apply_to_the_converted_values() {
    let case = Case::new();
    case.text(
        "tx.csv",
        "id,hh,amount,day\nT1,1,2.5,20170101\nT2,1,-5,20170101\nT3,2,NaN,20170102\nT4,2,1.0,21000101\nT5,3,inf,20170103\nT6,3,4.0,20170103\n",
    );
    case.text(
        "people.csv",
        "hh,born\n1,19800505\n2,00010101\n3,99991231\n",
    );
    case.mapping(
        r#"
[sources]
tx = "tx.csv"
people = "people.csv"

[tables.customers_raw]
source = "people"
columns = { record_id = "hh", date_of_birth = { column = "born", format = "%Y%m%d" } }

[tables.transactions]
source = "tx"
[tables.transactions.columns]
transaction_id = "id"
record_id = "hh"
service_category = { constant = "X" }
amount = "amount"
transaction_date = { column = "day", format = "%Y%m%d" }
"#,
    );
    let config = ingest::IngestConfig {
        max_reject_share: 1.0,
        ..case.config()
    };
    let report = ingest::run(&config).unwrap();
    let tx = report
        .tables
        .iter()
        .find(|t| t.table == "transactions")
        .unwrap();
    assert_eq!((tx.rows_in, tx.rejected, tx.rows_out), (6, 4, 2));
    let mut by_rule: Vec<(Rule, &str, u64)> = tx
        .rejects
        .iter()
        .map(|r| (r.rule, r.column.as_str(), r.rows))
        .collect();
    by_rule.sort();
    assert_eq!(
        by_rule,
        [
            (Rule::NotFinite, "amount", 2),
            (Rule::Negative, "amount", 1),
            (Rule::OutsideCalendar, "transaction_date", 1),
        ]
    );
    let written = case.read("transactions.parquet");
    assert_eq!(texts(&written, "transaction_id"), some(&["T1", "T6"]));
    let rejects = case.read("transactions.rejects.parquet");
    assert_eq!(texts(&rejects, "id"), some(&["T2", "T3", "T4", "T5"]));
    assert_eq!(
        texts(&rejects, "day"),
        some(&["20170101", "20170102", "21000101", "20170103"])
    );
    assert_eq!(
        texts(&rejects, "reject_rule"),
        some(&["negative", "not_finite", "outside_calendar", "not_finite"])
    );

    let people = report
        .tables
        .iter()
        .find(|t| t.table == "customers_raw")
        .unwrap();
    assert_eq!((people.rejected, people.rows_out), (0, 3));
    assert_eq!(people.cleared.len(), 1, "{:?}", people.cleared);
    assert_eq!(
        (people.cleared[0].rule, people.cleared[0].rows),
        (Rule::ImplausibleBirthDate, 2)
    );
    let raw = case.read("customers_raw.parquet");
    let born = raw.column("date_of_birth").unwrap();
    assert_eq!(born.null_count(), 2, "year 1 and 9999 cleared");
}
