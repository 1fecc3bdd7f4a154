use feature_store::test_support::{FIXTURE_FEATURES, fixture_customers, write_fixture};
use feature_store::{CustomerTables, EmbeddedStore, StoreError};
use pipeline_core::schema::CUSTOMER_FEATURES;
use pipeline_core::table_io::TableSink;
use polars::prelude::{Column, DataFrame};

#[test]
fn tables_keep_file_order_nulls_and_aliases() {
    let dir = tempfile::tempdir().unwrap();
    let customers = fixture_customers(6, 1.0);
    write_fixture(dir.path(), &FIXTURE_FEATURES, &customers);
    let tables = CustomerTables::read(dir.path()).unwrap();
    assert_eq!(
        tables.feature_names,
        FIXTURE_FEATURES.map(str::to_owned).to_vec()
    );
    assert_eq!(tables.len(), 6);
    // 6 customers, records a for all, b for even ones.
    assert_eq!(tables.aliases.len(), 9);
    assert!(tables.features_of(0)[3].is_nan());
    assert_eq!(
        tables.features_of(4)[2].to_bits(),
        (4.0f64 * 1.25 + 0.01).to_bits()
    );
    assert_eq!(tables.data_version.len(), 16 * 3 + 2);
}

#[test]
fn embedded_store_answers_by_customer_and_by_record() {
    let dir = tempfile::tempdir().unwrap();
    write_fixture(dir.path(), &FIXTURE_FEATURES, &fixture_customers(4, 1.0));
    let store = EmbeddedStore::from_files(dir.path()).unwrap();
    let by_customer = store.lookup("CUS00002").unwrap();
    let by_record = store.lookup("REC00002b").unwrap();
    assert_eq!(by_customer, by_record);
    assert_eq!(by_record.customer_id, "CUS00002");
    assert_eq!(by_record.cluster, 2);
    assert_eq!(by_record.feature("frequency"), Some(2.0));
    assert!(store.lookup("REC99999a").is_none());
    assert_eq!(store.generation().generation, 0);
}

#[test]
fn a_text_feature_column_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    write_fixture(dir.path(), &FIXTURE_FEATURES, &fixture_customers(3, 1.0));
    let mut bad = DataFrame::new_infer_height(vec![
        Column::new("customer_id".into(), &["CUS00000", "CUS00001"]),
        Column::new("frequency".into(), &[1.0, 2.0]),
        Column::new("favourite_city".into(), &["Victoria", "Regina"]),
    ])
    .unwrap();
    TableSink::new(dir.path(), false)
        .write(&CUSTOMER_FEATURES, &mut bad)
        .unwrap();
    let err = CustomerTables::read(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::BadColumn { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("customer_features.parquet"), "{message}");
    assert!(message.contains("`favourite_city`"), "{message}");
    assert!(message.contains("numeric"), "{message}");
}

#[test]
fn a_missing_file_names_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let err = CustomerTables::read(dir.path()).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("customer_features.parquet"), "{message}");
    assert!(message.contains("not found"), "{message}");
}

#[test]
fn a_customer_twice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut customers = fixture_customers(3, 1.0);
    let mut twin = customers[1].clone();
    twin.record_ids = vec!["REC77777a".to_owned()];
    customers.push(twin);
    // The segments table would also repeat it; the features check comes
    // first only if segments are unique, so write them from 3 customers.
    write_fixture(dir.path(), &FIXTURE_FEATURES, &customers);
    let message = CustomerTables::read(dir.path()).unwrap_err().to_string();
    assert!(message.contains("`CUS00001` appears twice"), "{message}");
}
