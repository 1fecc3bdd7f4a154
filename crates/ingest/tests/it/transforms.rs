//! Lookups, `exists_in`, filters, `distinct_on` and derived columns
//! (templates, constants, row numbers, defaults, kept columns), with the
//! expected tables worked out by hand from the sources below.

use polars::prelude::*;

use crate::{Case, dtype, some, texts};

const MAPPING: &str = r#"
[sources]
households = "households.csv"
baskets = "baskets.csv"
campaigns = "campaigns.csv"
sends = "sends.jsonl"
redemptions = "redemptions.csv"

[tables.customers_raw]
source = "baskets"
distinct_on = ["household"]
keep = ["age"]

[[tables.customers_raw.lookups]]
source = "households"
on = "household"
right_on = "hh"
columns = ["joined", "age"]

[tables.customers_raw.columns]
record_id = "household"
registration_date = { column = "joined", format = "%Y%m%d" }

[tables.offers]
source = "campaigns"

[tables.offers.columns]
offer_id = "id"
offer_type = "kind"
offer_name = { template = "Campaign {id}" }
offer_value = { column = "value", default = 0 }
category = { constant = "DAIRY" }
valid_from = { column = "start", format = "%d/%m/%Y" }
valid_to = { column = "end", format = "%d/%m/%Y" }

[tables.transactions]
source = "baskets"
filter = [{ column = "qty", op = ">", value = 0 }]

[tables.transactions.columns]
transaction_id = { template = "T{basket}" }
record_id = "household"
service_id = "product"
service_category = { constant = "DAIRY" }
amount = "sales"
transaction_date = "ts"

[tables.offer_interactions]
source = "sends"
filter = [{ column = "hh", op = "!=", value = 102 }]

[[tables.offer_interactions.lookups]]
source = "campaigns"
on = "campaign"
right_on = "id"
columns = { campaign_start = "start" }

[tables.offer_interactions.columns]
interaction_id = { row_number = true, prefix = "INT" }
record_id = "hh"
offer_id = "campaign"
sent_date = { column = "campaign_start", format = "%d/%m/%Y" }
redeemed = { exists_in = "redemptions", on = ["hh", "campaign"], right_on = ["household", "campaign_id"] }
opened = "opened"
clicked = "clicked"
"#;

fn shop() -> Case {
    let case = Case::new();
    case.text(
        "households.csv",
        "hh,joined,age\n100,20170105,35-44\n101,20170210,\n102,20170301,65+\n",
    );
    case.text(
        "baskets.csv",
        "basket,product,household,ts,sales,qty\n\
         1,10,100,2017-01-01 11:53:26,2.50,1\n\
         2,10,101,2017-01-02 08:00:00,1.00,0\n\
         3,11,101,2017-01-03 23:59:59,3.00,2\n\
         4,11,100,2017-01-03,1.50,1\n",
    );
    case.text(
        "campaigns.csv",
        "id,kind,start,end,value\nC1,mail,03/01/2017,31/01/2017,5\nC2,app,01/02/2017,28/02/2017,\n",
    );
    case.text(
        "sends.jsonl",
        r#"{"hh": 100, "campaign": "C1", "opened": "yes", "clicked": 1}
{"hh": 101, "campaign": "C1", "opened": "no", "clicked": 0}
{"hh": 101, "campaign": "C2", "opened": "yes", "clicked": 1}
{"hh": 102, "campaign": "C2", "opened": null, "clicked": 0}
"#,
    );
    // Two coupons of one campaign redeemed by 101: one flag, not two rows.
    case.text(
        "redemptions.csv",
        "household,campaign_id,coupon\n101,C2,X1\n101,C2,X2\n100,C1,X3\n",
    );
    case.mapping(MAPPING);
    case
}

#[test]
fn lookups_filters_distinct_rows_and_derived_columns() {
    let case = shop();
    let report = case.run().unwrap();
    let by_table = |name: &str| report.tables.iter().find(|t| t.table == name).unwrap();

    let customers = case.read("customers_raw.parquet");
    assert_eq!(texts(&customers, "record_id"), some(&["100", "101"]));
    assert_eq!(
        texts(&customers, "registration_date"),
        some(&["2017-01-05", "2017-02-10"])
    );
    assert_eq!(dtype(&customers, "registration_date"), DataType::Date);
    assert_eq!(texts(&customers, "age"), [Some("35-44".to_owned()), None]);
    assert_eq!(customers.column("first_name").unwrap().null_count(), 2);
    let c = by_table("customers_raw");
    assert_eq!((c.rows_in, c.deduplicated, c.rows_out), (4, 2, 2));

    let offers = case.read("offers.parquet");
    assert_eq!(texts(&offers, "offer_id"), some(&["C1", "C2"]));
    assert_eq!(texts(&offers, "offer_type"), some(&["mail", "app"]));
    assert_eq!(
        texts(&offers, "offer_name"),
        some(&["Campaign C1", "Campaign C2"])
    );
    assert_eq!(texts(&offers, "offer_value"), some(&["5.0", "0.0"]));
    assert_eq!(texts(&offers, "category"), some(&["DAIRY", "DAIRY"]));
    assert_eq!(
        texts(&offers, "valid_from"),
        some(&["2017-01-03", "2017-02-01"])
    );
    assert_eq!(
        texts(&offers, "valid_to"),
        some(&["2017-01-31", "2017-02-28"])
    );

    let tx = case.read("transactions.parquet");
    assert_eq!(texts(&tx, "transaction_id"), some(&["T1", "T3", "T4"]));
    assert_eq!(texts(&tx, "record_id"), some(&["100", "101", "100"]));
    assert_eq!(
        texts(&tx, "transaction_date"),
        some(&["2017-01-01", "2017-01-03", "2017-01-03"])
    );
    assert_eq!(texts(&tx, "amount"), some(&["2.5", "3.0", "1.5"]));
    let t = by_table("transactions");
    assert_eq!(
        (t.rows_in, t.filtered_out, t.rejected, t.rows_out),
        (4, 1, 0, 3)
    );

    let sends = case.read("offer_interactions.parquet");
    assert_eq!(
        texts(&sends, "interaction_id"),
        some(&["INT1", "INT2", "INT3"])
    );
    assert_eq!(texts(&sends, "record_id"), some(&["100", "101", "101"]));
    assert_eq!(texts(&sends, "offer_id"), some(&["C1", "C1", "C2"]));
    assert_eq!(
        texts(&sends, "sent_date"),
        some(&["2017-01-03", "2017-01-03", "2017-02-01"])
    );
    for flag in ["redeemed", "opened", "clicked"] {
        assert_eq!(dtype(&sends, flag), DataType::UInt8, "{flag}");
    }
    assert_eq!(texts(&sends, "redeemed"), some(&["1", "0", "1"]));
    assert_eq!(texts(&sends, "opened"), some(&["1", "0", "1"]));
    assert_eq!(texts(&sends, "clicked"), some(&["1", "0", "1"]));
    let s = by_table("offer_interactions");
    assert_eq!((s.rows_in, s.filtered_out, s.rows_out), (4, 1, 3));

    // The report on disk is the one returned.
    let on_disk: ingest::IngestReport = serde_json::from_str(
        &std::fs::read_to_string(case.data.join("ingest_report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(on_disk, report);
}

#[test]
fn filters_compare_numbers_text_dates_lists_and_nulls() {
    let case = Case::new();
    let day = |d: i32| d + 17_167; // 17_167 = 2017-01-01 in days since 1970.
    let rows = DataFrame::new_infer_height(vec![
        Column::new("id".into(), ["a", "b", "c", "d", "e"]),
        Column::new("household".into(), ["1", "1", "2", "2", "3"]),
        Int32Chunked::new("day".into(), [day(0), day(1), day(2), day(3), day(4)])
            .into_date()
            .into_series()
            .into(),
        Column::new("store".into(), ["S1", "S2", "S3", "S1", "S1"]),
        Column::new("amount".into(), ["1.5", "2", "30", "4", "5"]),
        Column::new("note".into(), [None, None, Some("x"), None, None]),
    ])
    .unwrap();
    case.parquet("tx.parquet", rows);
    case.mapping(
        r#"
[sources]
tx = "tx.parquet"

[tables.transactions]
source = "tx"
filter = [
  { column = "day", op = ">=", value = 2017-01-02 },
  { column = "store", op = "in", value = ["S1", "S3"] },
  { column = "note", op = "is_null" },
  { column = "amount", op = "<", value = 10 },
]

[tables.transactions.columns]
transaction_id = "id"
record_id = "household"
service_category = { constant = "X" }
amount = "amount"
transaction_date = "day"
"#,
    );
    let report = case.run().unwrap();
    // a: too early; b: in S2; c: has a note (and 30 >= 10); d and e pass
    // all four.
    let tx = case.read("transactions.parquet");
    assert_eq!(texts(&tx, "transaction_id"), some(&["d", "e"]));
    assert_eq!(report.tables[0].filtered_out, 3);
}
