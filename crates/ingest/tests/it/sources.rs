//! Every source format (CSV, Parquet, JSON lines; a file or a folder of
//! parts) gives the same table from the same rows and the same mapping.

use polars::prelude::*;

use crate::{Case, dtype, some, texts};

const CSV_HEADER: &str = "basket,product,household,day,sales,qty,store\n";
const CSV_ROWS: [&str; 3] = [
    "1,10,100,1,2.50,1,S1\n",
    "1,11,100,1,1.00,2,S1\n",
    "2,10,101,3,2.50,1,S2\n",
];

fn typed_rows() -> DataFrame {
    DataFrame::new_infer_height(vec![
        Column::new("basket".into(), [1i64, 1, 2]),
        Column::new("product".into(), [10i64, 11, 10]),
        Column::new("household".into(), [100i64, 100, 101]),
        Column::new("day".into(), [1i32, 1, 3]),
        Column::new("sales".into(), [2.5, 1.0, 2.5]),
        Column::new("qty".into(), [1i64, 2, 1]),
        Column::new("store".into(), ["S1", "S1", "S2"]),
    ])
    .unwrap()
}

const JSON_ROWS: [&str; 3] = [
    r#"{"basket": 1, "product": 10, "household": 100, "day": 1, "sales": 2.5, "qty": 1, "store": "S1"}"#,
    r#"{"basket": 1, "product": 11, "household": 100, "day": 1, "sales": 1.0, "qty": 2, "store": "S1"}"#,
    r#"{"basket": 2, "product": 10, "household": 101, "day": 3, "sales": 2.5, "qty": 1, "store": "S2"}"#,
];

/// The transactions mapping, reading the baskets from `tx_source` (a TOML
/// value) and departments from a CSV lookup.
fn mapping(tx_source: &str) -> String {
    format!(
        r#"
[sources]
tx = {tx_source}
products = "products.csv"

[tables.transactions]
source = "tx"
measures = ["qty"]

[[tables.transactions.lookups]]
source = "products"
on = "product"
columns = {{ category = "department" }}

[tables.transactions.columns]
transaction_id = {{ template = "{{basket}}-{{product}}" }}
record_id = "household"
service_category = "category"
amount = "sales"
transaction_date = {{ column = "day", day_origin = 2016-12-31 }}
location = "store"
"#
    )
}

fn check_transactions(case: &Case, what: &str) {
    let report = case.run().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(report.tables[0].rows_in, 3, "{what}");
    assert_eq!(report.tables[0].rows_out, 3, "{what}");
    let tx = case.read("transactions.parquet");
    assert_eq!(
        texts(&tx, "transaction_id"),
        some(&["1-10", "1-11", "2-10"]),
        "{what}"
    );
    assert_eq!(
        texts(&tx, "record_id"),
        some(&["100", "100", "101"]),
        "{what}"
    );
    assert_eq!(
        texts(&tx, "service_category"),
        some(&["DAIRY", "BAKERY", "DAIRY"]),
        "{what}"
    );
    assert_eq!(texts(&tx, "amount"), some(&["2.5", "1.0", "2.5"]), "{what}");
    assert_eq!(dtype(&tx, "transaction_date"), DataType::Date, "{what}");
    assert_eq!(
        texts(&tx, "transaction_date"),
        some(&["2017-01-01", "2017-01-01", "2017-01-03"]),
        "{what}"
    );
    assert_eq!(dtype(&tx, "measure_qty"), DataType::Float64, "{what}");
    assert_eq!(
        texts(&tx, "measure_qty"),
        some(&["1.0", "2.0", "1.0"]),
        "{what}"
    );
    assert_eq!(texts(&tx, "location"), some(&["S1", "S1", "S2"]), "{what}");
    // Optional contract columns the mapping leaves out are written empty.
    assert_eq!(tx.column("service_name").unwrap().null_count(), 3, "{what}");
}

fn case_with_products() -> Case {
    let case = Case::new();
    case.text("products.csv", "product,department\n10,DAIRY\n11,BAKERY\n");
    case
}

#[test]
fn csv_parquet_and_json_lines_files_give_the_same_table() {
    let case = case_with_products();
    case.text("tx.csv", &format!("{CSV_HEADER}{}", CSV_ROWS.concat()));
    case.mapping(&mapping("\"tx.csv\""));
    check_transactions(&case, "csv");

    let case = case_with_products();
    case.parquet("tx.parquet", typed_rows());
    case.mapping(&mapping("\"tx.parquet\""));
    check_transactions(&case, "parquet");

    let case = case_with_products();
    case.text("tx.jsonl", &(JSON_ROWS.join("\n") + "\n"));
    case.mapping(&mapping("\"tx.jsonl\""));
    check_transactions(&case, "jsonl");

    // Another separator and null marker, and a format the extension does not say.
    let case = case_with_products();
    let semicolons = format!("{CSV_HEADER}{}", CSV_ROWS.concat()).replace(',', ";");
    case.text("tx.txt", &semicolons);
    case.mapping(&mapping(
        r#"{ path = "tx.txt", format = "csv", delimiter = ";", null_values = ["NA"] }"#,
    ));
    check_transactions(&case, "semicolon csv");
}

#[test]
fn a_folder_of_parts_is_one_table_in_name_order() {
    let case = case_with_products();
    case.text("parts/part-1.csv", &format!("{CSV_HEADER}{}", CSV_ROWS[2]));
    case.text(
        "parts/part-0.csv",
        &format!("{CSV_HEADER}{}{}", CSV_ROWS[0], CSV_ROWS[1]),
    );
    // Markers and hidden files of the tools that write parts are not parts.
    case.text("parts/_SUCCESS", "");
    case.text("parts/.part-0.csv.crc", "x");
    case.mapping(&mapping("\"parts\""));
    check_transactions(&case, "csv parts");

    let case = case_with_products();
    let rows = typed_rows();
    case.parquet("parts/a.parquet", rows.slice(0, 1));
    case.parquet("parts/b.parquet", rows.slice(1, 2));
    case.mapping(&mapping("\"parts\""));
    check_transactions(&case, "parquet parts");

    let case = case_with_products();
    case.text("parts/0.jsonl", JSON_ROWS[0]);
    case.text("parts/1.jsonl", &JSON_ROWS[1..].join("\n"));
    case.mapping(&mapping("\"parts\""));
    check_transactions(&case, "jsonl parts");
}

#[test]
fn parts_with_other_columns_are_refused_naming_the_part() {
    let case = case_with_products();
    case.text("parts/part-0.csv", &format!("{CSV_HEADER}{}", CSV_ROWS[0]));
    case.text("parts/part-1.csv", "basket,product\n1,2\n");
    case.mapping(&mapping("\"parts\""));
    let msg = case.run_err();
    assert!(
        msg.contains("part-1.csv: its columns (basket: str, product: str) differ from those of"),
        "{msg}"
    );
    assert!(msg.contains("part-0.csv"), "{msg}");
    assert!(!case.data.exists(), "nothing written");
}
