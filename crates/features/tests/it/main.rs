//! Behaviour of the features stage on small hand-made tables.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use chrono::NaiveDate;
use features::{
    Config, FeaturesError, VocabularyLimits, compute_customer_features, vocabulary_from_data,
    with_offer_types,
};
use pipeline_core::calendar::to_epoch_days;
use pipeline_core::schema::{CUSTOMERS_RAW, ENTITY_MAP, OFFER_INTERACTIONS, OFFERS, TRANSACTIONS};
use pipeline_core::table_io::TableSink;
use pipeline_core::vocabulary::{VOCABULARY_FILE, Vocabulary};
use polars::prelude::*;

mod quality;

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn dates(v: &[&str]) -> Column {
    let days: Vec<i32> = v.iter().map(|s| to_epoch_days(date(s))).collect();
    Column::new("d".into(), days).cast(&DataType::Date).unwrap()
}

/// (record, category, amount, location, date)
type Purchase<'a> = (&'a str, &'a str, f64, &'a str, &'a str);
/// (record, offer type, sent date, opened, clicked, redeemed)
type Sent<'a> = (&'a str, &'a str, &'a str, u8, u8, u8);

fn transactions(rows: &[Purchase]) -> DataFrame {
    let n = rows.len();
    DataFrame::new(
        n,
        vec![
            Column::new(
                "transaction_id".into(),
                (0..n).map(|i| format!("T{i}")).collect::<Vec<_>>(),
            ),
            Column::new(
                "record_id".into(),
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            ),
            Column::new(
                "service_id".into(),
                rows.iter()
                    .map(|r| format!("S-{}", r.1))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "service_name".into(),
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            ),
            Column::new(
                "service_category".into(),
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            ),
            Column::new(
                "amount".into(),
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            ),
            Column::new(
                "location".into(),
                rows.iter().map(|r| r.3).collect::<Vec<_>>(),
            ),
            dates(&rows.iter().map(|r| r.4).collect::<Vec<_>>())
                .with_name("transaction_date".into()),
        ],
    )
    .unwrap()
}

fn interactions(rows: &[Sent]) -> DataFrame {
    let n = rows.len();
    DataFrame::new(
        n,
        vec![
            Column::new(
                "interaction_id".into(),
                (0..n).map(|i| format!("I{i}")).collect::<Vec<_>>(),
            ),
            Column::new(
                "record_id".into(),
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            ),
            Column::new(
                "offer_id".into(),
                rows.iter()
                    .map(|r| format!("OFF-{}", r.1))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "offer_type".into(),
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            ),
            Column::new("offer_value".into(), vec![10.0; n]),
            dates(&rows.iter().map(|r| r.2).collect::<Vec<_>>()).with_name("sent_date".into()),
            Column::new(
                "opened".into(),
                rows.iter().map(|r| r.3).collect::<Vec<_>>(),
            ),
            Column::new(
                "clicked".into(),
                rows.iter().map(|r| r.4).collect::<Vec<_>>(),
            ),
            Column::new(
                "redeemed".into(),
                rows.iter().map(|r| r.5).collect::<Vec<_>>(),
            ),
        ],
    )
    .unwrap()
}

/// One offer per offer type of `sent` (`OFF-{type}`), as `interactions`
/// names them.
fn offers(sent: &[Sent]) -> DataFrame {
    let mut types: Vec<&str> = sent.iter().map(|r| r.1).collect();
    types.sort_unstable();
    types.dedup();
    DataFrame::new(
        types.len(),
        vec![
            Column::new(
                "offer_id".into(),
                types.iter().map(|t| format!("OFF-{t}")).collect::<Vec<_>>(),
            ),
            Column::new("offer_type".into(), types.clone()),
            Column::new("category".into(), vec![None::<&str>; types.len()]),
        ],
    )
    .unwrap()
}

fn entity_map(pairs: &[(&str, &str)]) -> DataFrame {
    DataFrame::new(
        pairs.len(),
        vec![
            Column::new(
                "record_id".into(),
                pairs.iter().map(|p| p.0).collect::<Vec<_>>(),
            ),
            Column::new(
                "customer_id".into(),
                pairs.iter().map(|p| p.1).collect::<Vec<_>>(),
            ),
            Column::new("cluster_size".into(), vec![1u32; pairs.len()]),
        ],
    )
    .unwrap()
}

const PURCHASES: &[Purchase] = &[
    ("R1", "Produce", 100.0, "Vancouver", "2026-01-10"),
    ("R1", "Dairy", 300.0, "Vancouver", "2026-02-10"),
    ("R2", "Produce", 200.0, "Burnaby", "2026-03-01"),
    ("R3", "Bakery", 50.0, "Calgary", "2026-02-20"),
];

const SENT: &[Sent] = &[
    ("R1", "Type A", "2026-01-15", 1, 1, 1),
    ("R2", "Type A", "2026-02-15", 1, 0, 0),
    ("R2", "Type B", "2026-02-16", 0, 0, 0),
    ("R3", "Type C", "2026-02-01", 1, 1, 1),
];

/// Events after the cut-off of the point-in-time test, with categories
/// and types the earlier events do not have.
const LATE_PURCHASES: &[Purchase] = &[
    ("R1", "Produce", 999.0, "Kelowna", "2026-03-01"),
    ("R3", "Dairy", 5.0, "Calgary", "2026-06-30"),
    ("R4", "Deli", 70.0, "Regina", "2026-03-02"),
];

const LATE_SENT: &[Sent] = &[
    // A label's own row: sent on the cut-off, redeemed.
    ("R1", "Type D", "2026-03-01", 1, 1, 1),
    ("R2", "Type A", "2026-05-05", 1, 1, 1),
    ("R4", "Type E", "2026-03-10", 1, 1, 1),
];

/// R1 and R2 are the same person (C1); R3 is C3; R4 has no events at all.
const MAP: &[(&str, &str)] = &[("R1", "C1"), ("R2", "C1"), ("R3", "C3"), ("R4", "C4")];

fn vocabulary_of(purchases: &[Purchase], sent: &[Sent], limits: VocabularyLimits) -> Vocabulary {
    vocabulary_from_data(
        transactions(purchases).lazy(),
        interactions(sent).lazy(),
        offers(sent).lazy(),
        limits,
    )
    .unwrap()
}

/// The vocabulary of every event of these tests, so that frames computed
/// from fewer events have the same columns.
fn vocabulary() -> Vocabulary {
    vocabulary_of(
        &[PURCHASES, LATE_PURCHASES].concat(),
        &[SENT, LATE_SENT].concat(),
        VocabularyLimits::default(),
    )
}

fn features_of(purchases: &[Purchase], sent: &[Sent], cutoff: &str) -> DataFrame {
    compute_customer_features(
        transactions(purchases).lazy(),
        interactions(sent).lazy(),
        entity_map(MAP).lazy(),
        date(cutoff),
        &vocabulary(),
    )
    .unwrap()
}

fn value(df: &DataFrame, customer: &str, feature: &str) -> Option<f64> {
    let ids = df.column("customer_id").unwrap().str().unwrap();
    let row = ids.iter().position(|id| id == Some(customer)).unwrap();
    df.column(feature).unwrap().f64().unwrap().get(row)
}

#[test]
fn columns_follow_the_ranker_layout_conventions() {
    let df = features_of(PURCHASES, SENT, "2026-04-01");
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(names[0], "customer_id");
    let vocabulary = vocabulary();
    assert_eq!(&names[1..], vocabulary.customer_feature_names().as_slice());
    for name in [
        "spend_share_produce",
        "txn_share_dairy",
        "offers_redeemed_type_c",
        "offers_received_type_b",
    ] {
        assert!(names.iter().any(|n| n == name), "missing {name}");
    }
    // Every feature the ranker's interactions look up exists.
    let mut cols: Vec<String> = vec!["recency_days".into()];
    cols.extend(pipeline_core::ranker_input::offer_feature_names(
        &vocabulary,
    ));
    pipeline_core::ranker_input::RankerLayout::new(&cols, &names[1..], &vocabulary).unwrap();
}

#[test]
fn features_aggregate_across_a_customers_records() {
    let df = features_of(PURCHASES, SENT, "2026-04-01");
    assert_eq!(df.height(), 3, "one row per resolved customer");
    assert_eq!(value(&df, "C1", "n_records"), Some(2.0));
    assert_eq!(value(&df, "C1", "frequency"), Some(3.0));
    assert_eq!(value(&df, "C1", "monetary_total"), Some(600.0));
    assert_eq!(value(&df, "C1", "monetary_mean"), Some(200.0));
    assert_eq!(value(&df, "C1", "monetary_min"), Some(100.0));
    assert_eq!(value(&df, "C1", "monetary_max"), Some(300.0));
    assert_eq!(value(&df, "C1", "distinct_locations"), Some(2.0));
    assert_eq!(value(&df, "C1", "distinct_categories"), Some(2.0));
    assert_eq!(value(&df, "C1", "spend_share_produce"), Some(0.5));
    assert_eq!(value(&df, "C1", "txn_share_produce"), Some(2.0 / 3.0));
    assert_eq!(value(&df, "C1", "spend_share_dairy"), Some(0.5));
    // 2026-04-01 minus 2026-03-01 and 2026-01-10.
    assert_eq!(value(&df, "C1", "recency_days"), Some(31.0));
    assert_eq!(value(&df, "C1", "first_purchase_days_ago"), Some(81.0));
    assert_eq!(value(&df, "C1", "tenure_days"), Some(50.0));
    assert_eq!(value(&df, "C1", "mean_days_between"), Some(25.0));
    assert_eq!(value(&df, "C1", "one_time_buyer"), Some(0.0));
    assert_eq!(value(&df, "C1", "offers_received_type_a"), Some(2.0));
    assert_eq!(value(&df, "C1", "offers_opened_type_a"), Some(2.0));
    assert_eq!(value(&df, "C1", "offers_clicked_type_a"), Some(1.0));
    assert_eq!(value(&df, "C1", "offers_redeemed_type_a"), Some(1.0));
    assert_eq!(value(&df, "C1", "offers_received_type_b"), Some(1.0));
    assert_eq!(value(&df, "C1", "offers_received_total"), Some(3.0));
    assert_eq!(value(&df, "C1", "offers_redeem_rate"), Some(2.0 / 5.0));
    assert_eq!(value(&df, "C3", "one_time_buyer"), Some(1.0));
    assert_eq!(value(&df, "C3", "monetary_std"), Some(0.0));
    assert_eq!(value(&df, "C3", "mean_days_between"), None);
}

#[test]
fn a_customer_without_events_gets_zeros_and_nulls() {
    let df = features_of(PURCHASES, SENT, "2026-04-01");
    for zero in [
        "frequency",
        "monetary_total",
        "spend_share_produce",
        "offers_received_total",
        "distinct_services",
    ] {
        assert_eq!(value(&df, "C4", zero), Some(0.0), "{zero}");
    }
    for null in features::customer_features::NULLABLE_FEATURES {
        assert_eq!(value(&df, "C4", null), None, "{null}");
    }
    assert_eq!(value(&df, "C4", "offers_redeem_rate"), Some(0.5));
}

#[test]
fn an_event_on_or_after_the_cutoff_never_changes_a_feature() {
    let cutoff = "2026-03-01";
    let before = features_of(PURCHASES, SENT, cutoff);
    // The R2 purchase of 2026-03-01 is on the cut-off: already excluded.
    assert_eq!(value(&before, "C1", "frequency"), Some(2.0));

    let late_purchases = [PURCHASES, LATE_PURCHASES].concat();
    let late_sent = [SENT, LATE_SENT].concat();
    let after = features_of(&late_purchases, &late_sent, cutoff);
    assert!(
        before.equals_missing(&after),
        "before:\n{before}\nafter:\n{after}"
    );

    // The same events one day earlier do count: the test can fail.
    let later = features_of(&late_purchases, &late_sent, "2026-03-02");
    assert!(!before.equals_missing(&later));
    assert_eq!(value(&later, "C1", "offers_redeemed_type_d"), Some(1.0));
}

fn write_inputs(dir: &Path, with_map: bool) {
    let sink = TableSink::new(dir, false);
    sink.write(&TRANSACTIONS, &mut transactions(PURCHASES))
        .unwrap();
    sink.write(&OFFER_INTERACTIONS, &mut interactions(SENT))
        .unwrap();
    sink.write(&OFFERS, &mut offers(SENT)).unwrap();
    if with_map {
        sink.write(&ENTITY_MAP, &mut entity_map(MAP)).unwrap();
    }
    let ids = ["R1", "R2", "R3", "R4"];
    let mut raw = DataFrame::new(
        4,
        vec![
            Column::new("record_id".into(), ids.to_vec()),
            Column::new("first_name".into(), vec!["A"; 4]),
            Column::new("last_name".into(), vec!["B"; 4]),
            Column::new("email".into(), vec!["a@b.c"; 4]),
            Column::new("phone".into(), vec![None::<&str>; 4]),
            dates(&["1980-01-01"; 4]).with_name("date_of_birth".into()),
            Column::new("city".into(), vec!["Vancouver"; 4]),
            Column::new("province".into(), vec!["BC"; 4]),
            Column::new("postal_code".into(), vec!["V5K 0A1"; 4]),
            dates(&["2024-01-01"; 4]).with_name("registration_date".into()),
        ],
    )
    .unwrap();
    sink.write(&CUSTOMERS_RAW, &mut raw).unwrap();
}

fn config(dir: &Path, identity_map: bool) -> Config {
    Config {
        data_dir: dir.to_path_buf(),
        csv: false,
        cutoff: None,
        identity_map,
        limits: VocabularyLimits::default(),
        screen: Default::default(),
    }
}

fn output(dir: &Path) -> std::path::PathBuf {
    dir.join("customer_features.parquet")
}

#[test]
fn run_writes_the_table_at_the_default_cutoff() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path(), true);
    features::run(&config(dir.path(), false)).unwrap();
    let df =
        pipeline_core::table_io::read_table(dir.path(), &pipeline_core::schema::CUSTOMER_FEATURES)
            .unwrap();
    assert_eq!(df.height(), 3);
    // Default cut-off: the day after the last event (2026-03-01), so the
    // last purchase is one day old.
    assert_eq!(value(&df, "C1", "recency_days"), Some(1.0));
    assert_eq!(value(&df, "C1", "frequency"), Some(3.0));
}

#[test]
fn missing_entity_map_is_a_clear_error_unless_identity_map() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path(), false);
    let err = features::run(&config(dir.path(), false)).unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("entity_map.parquet") && msg.contains("--identity-map"),
        "{msg}"
    );
    assert!(matches!(
        err.downcast_ref::<FeaturesError>(),
        Some(FeaturesError::MissingEntityMap { .. })
    ));
    assert!(!output(dir.path()).exists(), "no output on failure");

    features::run(&config(dir.path(), true)).unwrap();
    let df =
        pipeline_core::table_io::read_table(dir.path(), &pipeline_core::schema::CUSTOMER_FEATURES)
            .unwrap();
    assert_eq!(df.height(), 4, "identity map: one customer per record");
}

#[test]
fn identity_map_needs_only_the_record_ids_of_customers_raw() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path(), false);
    // A customer table with its key only (every identity column absent).
    let mut ids = DataFrame::new_infer_height(vec![Column::new(
        "record_id".into(),
        ["R1", "R2", "R3", "R4"],
    )])
    .unwrap();
    TableSink::new(dir.path(), false)
        .write(&CUSTOMERS_RAW, &mut ids)
        .unwrap();
    features::run(&config(dir.path(), true)).unwrap();
    let df =
        pipeline_core::table_io::read_table(dir.path(), &pipeline_core::schema::CUSTOMER_FEATURES)
            .unwrap();
    assert_eq!(df.height(), 4, "one customer per record");
    // R1's two purchases (100 + 300), under its own id.
    assert_eq!(value(&df, "R1", "frequency"), Some(2.0));
    assert_eq!(value(&df, "R1", "monetary_total"), Some(400.0));
    assert_eq!(value(&df, "R4", "n_records"), Some(1.0));
}

#[test]
fn malformed_input_names_file_and_column_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path(), true);
    // transactions.parquet without its `amount` column.
    let mut bad = transactions(PURCHASES).drop("amount").unwrap();
    let file = std::fs::File::create(dir.path().join("transactions.parquet")).unwrap();
    ParquetWriter::new(file).finish(&mut bad).unwrap();
    let msg = format!(
        "{:#}",
        features::run(&config(dir.path(), false)).unwrap_err()
    );
    assert!(
        msg.contains("transactions.parquet") && msg.contains("`amount`"),
        "{msg}"
    );
    assert!(!output(dir.path()).exists());

    // Not Parquet at all.
    std::fs::write(
        dir.path().join("offer_interactions.parquet"),
        b"sent_date,redeemed\n",
    )
    .unwrap();
    write_inputs_transactions_only(dir.path());
    let msg = format!(
        "{:#}",
        features::run(&config(dir.path(), false)).unwrap_err()
    );
    assert!(msg.contains("offer_interactions.parquet"), "{msg}");
    assert!(!output(dir.path()).exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty());
}

fn write_inputs_transactions_only(dir: &Path) {
    TableSink::new(dir, false)
        .write(&TRANSACTIONS, &mut transactions(PURCHASES))
        .unwrap();
}

#[test]
fn a_null_customer_id_is_reported_against_entity_map() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path(), false);
    // Written by hand: the sink would refuse the null itself.
    let mut map = df!(
        "record_id" => ["R1", "R2", "R3", "R4"],
        "customer_id" => [Some("C1"), None, Some("C2"), Some("C3")],
        "cluster_size" => [1u32, 1, 1, 1],
    )
    .unwrap();
    let file = std::fs::File::create(dir.path().join("entity_map.parquet")).unwrap();
    ParquetWriter::new(file).finish(&mut map).unwrap();
    let err = format!(
        "{:#}",
        features::run(&config(dir.path(), false)).unwrap_err()
    );
    assert!(
        err.contains("entity_map.parquet") && err.contains("customer_id"),
        "{err}"
    );
    assert!(!err.contains("customer_features.parquet"), "{err}");
    assert!(!output(dir.path()).exists(), "no output on failure");
}

/// A retailer's tables with their own names, the bare minimum of columns
/// (no service ids, locations, offer types on interactions, opens or
/// clicks) and a long tail of categories.
fn write_retail_inputs(dir: &Path) {
    let sink = TableSink::new(dir, false);
    let mut transactions = df!(
        "transaction_id" => ["T1", "T2", "T3", "T4", "T5"],
        "record_id" => ["H1", "H1", "H1", "H2", "H2"],
        "service_category" => ["PRODUCE", "DAIRY", "KIOSK", "PRODUCE", "MEAT"],
        "amount" => [30.0, 10.0, 5.0, 40.0, 15.0],
        "measure_coupon_disc" => [0.0, -1.0, 0.0, -2.0, 0.0],
    )
    .unwrap();
    transactions
        .with_column(
            dates(&[
                "2026-01-02",
                "2026-01-03",
                "2026-01-04",
                "2026-01-05",
                "2026-01-06",
            ])
            .with_name("transaction_date".into()),
        )
        .unwrap();
    sink.write(&TRANSACTIONS, &mut transactions).unwrap();
    let mut offers = df!(
        "offer_id" => ["8", "9", "10"],
        "offer_type" => ["Type A", "Type B", "Type A"],
    )
    .unwrap();
    sink.write(&OFFERS, &mut offers).unwrap();
    let mut sent = df!(
        "interaction_id" => ["I1", "I2", "I3"],
        "record_id" => ["H1", "H1", "H2"],
        "offer_id" => ["8", "9", "10"],
        "redeemed" => [1u8, 0, 1],
    )
    .unwrap();
    sent.with_column(
        dates(&["2026-01-01", "2026-01-02", "2026-01-03"]).with_name("sent_date".into()),
    )
    .unwrap();
    sink.write(&OFFER_INTERACTIONS, &mut sent).unwrap();
    let mut raw = df!("record_id" => ["H1", "H2"]).unwrap();
    sink.write(&CUSTOMERS_RAW, &mut raw).unwrap();
}

#[test]
fn the_vocabulary_and_the_feature_names_come_from_the_data() {
    let dir = tempfile::tempdir().unwrap();
    write_retail_inputs(dir.path());
    let mut config = config(dir.path(), true);
    config.limits.max_categories = 2;
    features::run(&config).unwrap();

    let vocabulary = Vocabulary::read(&dir.path().join(VOCABULARY_FILE)).unwrap();
    // The two largest by spend (PRODUCE 70, MEAT 15), the rest in `other`.
    let kept: Vec<&str> = vocabulary
        .categories
        .kept
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(kept, ["MEAT", "PRODUCE"]);
    assert!(vocabulary.categories.other);
    let types: Vec<&str> = vocabulary.offer_types.slugs().collect();
    assert_eq!(types, ["type_a", "type_b"]);
    // No opened / clicked columns: those outcomes are not observed.
    assert_eq!(vocabulary.outcomes, ["received", "redeemed"]);
    assert_eq!(vocabulary.measures, ["coupon_disc"]);

    let df =
        pipeline_core::table_io::read_table(dir.path(), &pipeline_core::schema::CUSTOMER_FEATURES)
            .unwrap();
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(&names[1..], vocabulary.customer_feature_names().as_slice());
    assert!(
        !names
            .iter()
            .any(|n| n.contains("open") || n.contains("click")),
        "{names:?}"
    );
    // H1: PRODUCE 30, DAIRY 10 and KIOSK 5 (both folded) of 45.
    assert_eq!(value(&df, "H1", "spend_share_produce"), Some(30.0 / 45.0));
    assert_eq!(value(&df, "H1", "spend_share_other"), Some(15.0 / 45.0));
    assert_eq!(value(&df, "H1", "txn_share_other"), Some(2.0 / 3.0));
    assert_eq!(value(&df, "H2", "spend_share_meat"), Some(15.0 / 55.0));
    // The type of an interaction comes from the offers table.
    assert_eq!(value(&df, "H1", "offers_received_type_a"), Some(1.0));
    assert_eq!(value(&df, "H1", "offers_received_type_b"), Some(1.0));
    assert_eq!(value(&df, "H1", "offers_redeemed_type_b"), Some(0.0));
    assert_eq!(value(&df, "H2", "offers_redeemed_type_a"), Some(1.0));
    // No service ids and no locations: no price index, nothing distinct.
    assert_eq!(value(&df, "H1", "price_index"), None);
    assert_eq!(value(&df, "H1", "distinct_services"), Some(0.0));
    assert_eq!(value(&df, "H1", "distinct_locations"), Some(0.0));
    assert_eq!(value(&df, "H1", "distinct_categories"), Some(3.0));
    // The measure, per customer: H1 -1 on one line of three, H2 -2 on one
    // of two.
    assert_eq!(value(&df, "H1", "measure_coupon_disc_sum"), Some(-1.0));
    assert_eq!(
        value(&df, "H1", "measure_coupon_disc_mean"),
        Some(-1.0 / 3.0)
    );
    assert_eq!(
        value(&df, "H1", "measure_coupon_disc_nonzero_share"),
        Some(1.0 / 3.0)
    );
    assert_eq!(value(&df, "H2", "measure_coupon_disc_mean"), Some(-1.0));
    assert_eq!(
        value(&df, "H2", "measure_coupon_disc_nonzero_share"),
        Some(0.5)
    );

    // A `measure_` column that holds text is refused, naming it.
    let mut transactions = pipeline_core::table_io::read_table(dir.path(), &TRANSACTIONS).unwrap();
    transactions
        .with_column(Column::new("measure_coupon_disc".into(), ["a"; 5]))
        .unwrap();
    TableSink::new(dir.path(), false)
        .write(&TRANSACTIONS, &mut transactions)
        .unwrap();
    let err = features::run(&config).unwrap_err().to_string();
    assert!(err.contains("`measure_coupon_disc`"), "{err}");
}

#[test]
fn an_interaction_takes_its_offer_type_from_the_offers_table() {
    let sent = interactions(&[("R1", "Type A", "2026-01-15", 1, 1, 1)]);
    // The offers table says OFF-Type A is a Type B offer.
    let offers = df!("offer_id" => ["OFF-Type A"], "offer_type" => ["Type B"]).unwrap();
    let typed = with_offer_types(sent.lazy(), offers.lazy())
        .collect()
        .unwrap();
    let types = typed.column("offer_type").unwrap().str().unwrap();
    assert_eq!(types.get(0), Some("Type B"));
}

/// The project venv's Python (scripts/env.sh's default when unset).
fn python() -> std::path::PathBuf {
    match std::env::var_os("OFFERS_PYVENV") {
        Some(venv) => std::path::PathBuf::from(venv).join("bin/python"),
        None => std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME"))
            .join(".cache/offers-recsys/pyvenv/bin/python"),
    }
}

#[test]
fn lifetimes_columns_match_the_python_lifetimes_package() {
    // 80 records with 0 to 11 purchases on few distinct days (same-day
    // purchases are common), some after the cut-off.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let (mut ids, mut amounts, mut days) = (Vec::new(), Vec::new(), Vec::new());
    let base = to_epoch_days(date("2026-01-01"));
    for r in 0..80 {
        let spread = 1 + next(70) as i32;
        for _ in 0..next(12) {
            ids.push(format!("R{r:02}"));
            amounts.push(next(20_000) as f64 / 100.0);
            days.push(base + (next(spread as u64) as i32) * 2);
        }
    }
    let n = ids.len();
    let mut tx = df!(
        "transaction_id" => (0..n).map(|i| format!("T{i}")).collect::<Vec<_>>(),
        "record_id" => ids.clone(),
        "service_category" => vec!["Any"; n],
        "amount" => amounts,
    )
    .unwrap();
    tx.with_column(
        Column::new("transaction_date".into(), days)
            .cast(&DataType::Date)
            .unwrap(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sink = TableSink::new(dir.path(), false);
    sink.write(&TRANSACTIONS, &mut tx).unwrap();
    let mut raw =
        df!("record_id" => (0..80).map(|r| format!("R{r:02}")).collect::<Vec<_>>()).unwrap();
    sink.write(&CUSTOMERS_RAW, &mut raw).unwrap();
    let mut offers = df!("offer_id" => ["O1"], "offer_type" => ["T"]).unwrap();
    sink.write(&OFFERS, &mut offers).unwrap();
    let mut sent = df!(
        "interaction_id" => ["I1"],
        "record_id" => ["R00"],
        "offer_id" => ["O1"],
        "redeemed" => [0u8],
    )
    .unwrap();
    sent.with_column(dates(&["2026-01-02"]).with_name("sent_date".into()))
        .unwrap();
    sink.write(&OFFER_INTERACTIONS, &mut sent).unwrap();

    let cutoff = "2026-03-01";
    let mut config = config(dir.path(), true);
    config.cutoff = Some(date(cutoff));
    features::run(&config).unwrap();
    let df =
        pipeline_core::table_io::read_table(dir.path(), &pipeline_core::schema::CUSTOMER_FEATURES)
            .unwrap();

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/lifetimes_check.py");
    let out = std::process::Command::new(python())
        .arg(script)
        .arg(dir.path())
        .arg(cutoff)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&out.stdout).unwrap();
    // Some customers repeat on the same day, some buy only after the
    // cut-off: the comparison covers both.
    assert!(expected.len() > 40, "{}", expected.len());
    let mut compared = 0;
    for r in 0..80 {
        let id = format!("R{r:02}");
        let ours: Vec<Option<f64>> = pipeline_core::vocabulary::LIFETIMES_FEATURES
            .iter()
            .map(|f| value(&df, &id, f))
            .collect();
        match expected.get(&id) {
            None => assert!(ours.iter().all(Option::is_none), "{id}: {ours:?}"),
            Some(want) => {
                for (k, (got, want)) in ours.iter().zip(want.as_array().unwrap()).enumerate() {
                    let want = want.as_f64().unwrap();
                    let got = got.unwrap_or_else(|| panic!("{id} column {k} is null"));
                    assert!(
                        (got - want).abs() <= 1e-9 * want.abs().max(1.0),
                        "{id} {}: {got} vs lifetimes {want}",
                        pipeline_core::vocabulary::LIFETIMES_FEATURES[k]
                    );
                }
                compared += 1;
            }
        }
    }
    assert_eq!(compared, expected.len());
}
