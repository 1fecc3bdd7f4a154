//! A mapping that cannot work fails before any table is built, naming the
//! mapping key, and for a missing file or column the source file, the
//! column and the columns that exist; nothing is written.

use crate::Case;

const GOOD: &str = r#"
[sources]
tx = "tx.csv"
products = "products.csv"

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
transaction_date = "day"
"#;

fn case(mapping: &str) -> Case {
    let case = Case::new();
    case.text(
        "tx.csv",
        "id,hh,product,amount,day\nT1,1,10,2.5,2017-01-01\n",
    );
    case.text("products.csv", "product,department\n10,DAIRY\n");
    case.mapping(mapping);
    case
}

/// The run's error, after checking that it wrote nothing.
fn fails(mapping: &str) -> String {
    let case = case(mapping);
    let msg = case.run_err();
    assert!(!case.data.exists(), "{msg}: the data folder was created");
    msg
}

#[test]
fn the_good_mapping_runs() {
    let case = case(GOOD);
    assert_eq!(case.run().unwrap().tables[0].rows_out, 1);
}

#[test]
fn a_missing_column_names_the_file_the_column_and_the_columns_there() {
    let msg = fails(&GOOD.replace("amount = \"amount\"", "amount = \"sales_value\""));
    assert!(
        msg.contains("tx.csv: column `sales_value` not found"),
        "{msg}"
    );
    assert!(
        msg.contains("needed by tables.transactions.columns.amount"),
        "{msg}"
    );
    assert!(
        msg.contains(
            "the columns are: id, hh, product, amount, day (and from lookups: department)"
        ),
        "{msg}"
    );

    // In a lookup source: that file and its columns.
    let msg = fails(&GOOD.replace("columns = [\"department\"]", "columns = [\"dept\"]"));
    assert!(
        msg.contains("products.csv: column `dept` not found"),
        "{msg}"
    );
    assert!(msg.contains("tables.transactions.lookups[0]"), "{msg}");
    assert!(
        msg.contains("the columns are: product, department"),
        "{msg}"
    );

    // In a template, a filter, a key.
    let msg = fails(&GOOD.replace(
        "transaction_id = \"id\"",
        "transaction_id = { template = \"{id}-{line}\" }",
    ));
    assert!(msg.contains("column `line` not found"), "{msg}");
    let msg = fails(&GOOD.replace(
        "source = \"tx\"\n",
        "source = \"tx\"\nfilter = [{ column = \"qty\", op = \">\", value = 0 }]\n",
    ));
    assert!(
        msg.contains("column `qty` not found (needed by tables.transactions.filter[0])"),
        "{msg}"
    );
    let msg = fails(&GOOD.replace("on = \"product\"", "on = \"sku\""));
    assert!(msg.contains("column `sku` not found"), "{msg}");
}

#[test]
fn a_missing_source_file_is_named_with_its_source() {
    let msg = fails(&GOOD.replace("tx = \"tx.csv\"", "tx = \"baskets/2017.csv\""));
    assert!(
        msg.contains("baskets/2017.csv: source `tx` not found"),
        "{msg}"
    );
}

#[test]
fn unknown_keys_are_errors_naming_the_key() {
    let msg = fails(&GOOD.replace("on = \"product\"", "on = \"product\"\nhow = \"inner\""));
    assert!(msg.contains("unknown field `how`"), "{msg}");
    assert!(msg.contains("mapping.toml"), "{msg}");
    let msg = fails(&GOOD.replace(
        "amount = \"amount\"",
        "amount = { column = \"amount\", fromat = \"%Y\" }",
    ));
    assert!(msg.contains("unknown field `fromat`"), "{msg}");
}

#[test]
fn mapping_mistakes_name_the_key_and_what_is_expected() {
    for (from, to, expected) in [
        (
            "amount = \"amount\"\n",
            "",
            "tables.transactions.columns: no rule for `amount`, a required column of transactions",
        ),
        (
            "tables.transactions",
            "tables.orders",
            "tables.orders: not an input table of the contract",
        ),
        (
            "source = \"tx\"",
            "source = \"baskets\"",
            "tables.transactions.source: no source `baskets`; the sources are: products, tx",
        ),
        (
            "amount = \"amount\"",
            "amount = { column = \"amount\", format = \"%d\" }",
            "tables.transactions.columns.amount: `format` does not apply to an f64 column",
        ),
        (
            "transaction_date = \"day\"",
            "transaction_date = { constant = \"soon\" }",
            "tables.transactions.columns.transaction_date: the constant is not a valid date value",
        ),
        (
            "transaction_date = \"day\"",
            "transaction_date = { column = \"day\", constant = \"2017-01-01\" }",
            "give one of column, constant, not several",
        ),
        (
            "amount = \"amount\"",
            "amount = { column = \"amount\", type = \"date\" }",
            "`type` date differs from the contract type of `amount`, f64",
        ),
        (
            "columns = [\"department\"]",
            "columns = [\"product\"]",
            "`product` is already a column of this table",
        ),
    ] {
        let mapping = GOOD.replace(from, to);
        assert_ne!(mapping, GOOD, "{from}");
        let msg = fails(&mapping);
        assert!(msg.contains(expected), "{msg}\nexpected: {expected}");
    }
}

#[test]
fn a_lookup_source_with_two_rows_for_a_key_is_refused() {
    let case = case(GOOD);
    case.text("products.csv", "product,department\n10,DAIRY\n10,BAKERY\n");
    let msg = case.run_err();
    assert!(msg.contains("lookup source `products`"), "{msg}");
    assert!(
        msg.contains("has 2 rows for product = \"10\"; a lookup needs one row per key"),
        "{msg}"
    );
    assert!(!case.data.exists());
}
