//! Behaviour of the generator on a CI-sized run: the contract tables, the
//! duplicate mix, history attribution, determinism, the response model and
//! the errors a user meets.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use datagen::{DatagenConfig, DatagenSummary};
use pipeline_core::schema::*;
use pipeline_core::table_io::{TableSink, read_table};
use polars::prelude::*;

const PEOPLE: u64 = 20_000;

fn config(dir: &Path, customers: u64, seed: u64) -> DatagenConfig {
    DatagenConfig {
        customers,
        offers: 8,
        seed,
        end_date: chrono::NaiveDate::from_ymd_opt(2026, 6, 30).unwrap(),
        sink: TableSink::new(dir, false),
    }
}

struct Generated {
    _dir: tempfile::TempDir,
    path: PathBuf,
    summary: DatagenSummary,
}

/// One shared run of 20,000 people for the read-only tests.
fn generated() -> &'static Generated {
    static RUN: OnceLock<Generated> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let summary = datagen::run(&config(dir.path(), PEOPLE, 42)).unwrap();
        Generated {
            path: dir.path().to_path_buf(),
            _dir: dir,
            summary,
        }
    })
}

fn strings(df: &DataFrame, name: &str) -> Vec<Option<String>> {
    df.column(name)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.map(str::to_owned))
        .collect()
}

fn strs(df: &DataFrame, name: &str) -> Vec<String> {
    strings(df, name)
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect()
}

#[test]
fn every_contract_table_is_written_and_valid() {
    let g = generated();
    for spec in DATAGEN_TABLES {
        let df = read_table(&g.path, spec).unwrap_or_else(|e| panic!("{e}"));
        assert!(df.height() > 0, "{}", spec.name);
    }
    let raw = read_table(&g.path, &CUSTOMERS_RAW).unwrap();
    assert_eq!(raw.height() as u64, g.summary.records);
    assert_eq!(
        raw.column("date_of_birth").unwrap().dtype(),
        &DataType::Date
    );
    let ids = strs(&raw, "record_id");
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        ids.len(),
        "record ids are unique"
    );
    assert!(ids.iter().all(|id| id.starts_with("REC") && id.len() == 10));
    let offers = read_table(&g.path, &OFFERS).unwrap();
    assert_eq!(offers.height(), 8);
    let types: HashSet<String> = strs(&offers, "offer_type").into_iter().collect();
    assert_eq!(types.len(), 6, "all six offer types: {types:?}");
    // Every person x offer pair has its true propensity at this size.
    let truth = read_table(&g.path, &TRUTH_PROPENSITY).unwrap();
    let people = g.summary.base_people + g.summary.lookalike_people;
    assert_eq!(truth.height() as u64, people * 8);
}

#[test]
fn the_duplicate_mix_follows_the_system_we_replace() {
    let g = generated();
    let truth = read_table(&g.path, &CUSTOMERS_TRUTH).unwrap();
    let kinds = strs(&truth, "dup_type");
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for k in &kinds {
        *counts.entry(k.as_str()).or_default() += 1;
    }
    let extras = (kinds.len() - counts["original"]) as f64;
    let per_100 = 100.0 * extras / PEOPLE as f64;
    assert!(
        (16.5..19.5).contains(&per_100),
        "{per_100} extra records per 100 people"
    );
    for (kind, share) in [
        ("true_dup", 0.40),
        ("name_collision", 0.20),
        ("shared_phone", 0.15),
        ("shared_email", 0.15),
        ("id_error", 0.10),
    ] {
        let got = counts[kind] as f64 / extras;
        assert!((got - share).abs() < 0.03, "{kind}: {got:.3} vs {share}");
    }
}

#[test]
fn duplicates_are_the_same_person_and_look_alikes_are_not() {
    let g = generated();
    let raw = read_table(&g.path, &CUSTOMERS_RAW).unwrap();
    let truth = read_table(&g.path, &CUSTOMERS_TRUTH).unwrap();
    let ids = strs(&raw, "record_id");
    assert_eq!(
        ids,
        strs(&truth, "record_id"),
        "both tables in the same order"
    );
    let person = strs(&truth, "true_customer_id");
    let kind = strs(&truth, "dup_type");
    let first = strs(&raw, "first_name");
    let last = strs(&raw, "last_name");
    let phone = strings(&raw, "phone");
    let email = strings(&raw, "email");

    let mut records_of: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, p) in person.iter().enumerate() {
        records_of.entry(p).or_default().push(i);
    }
    let original_of = |p: &str| {
        records_of[p]
            .iter()
            .copied()
            .find(|&i| kind[i] == "original")
    };
    let mut checked = HashMap::<&str, usize>::new();
    for i in 0..ids.len() {
        match kind[i].as_str() {
            "true_dup" => {
                let o = original_of(&person[i]).expect("a true duplicate has an original");
                let differences = [
                    first[i] != first[o],
                    last[i] != last[o],
                    email[i] != email[o],
                    phone[i] != phone[o],
                ]
                .iter()
                .filter(|d| **d)
                .count();
                assert!(
                    differences <= 1,
                    "one change at most: {} vs {}",
                    ids[i],
                    ids[o]
                );
            }
            "id_error" => assert!(original_of(&person[i]).is_some()),
            "name_collision" | "shared_phone" | "shared_email" => {
                // A different person, alone in their cluster, who shares
                // the field with someone.
                assert_eq!(records_of[person[i].as_str()].len(), 1);
                let shares = (0..ids.len()).any(|j| {
                    j != i
                        && person[j] != person[i]
                        && match kind[i].as_str() {
                            "name_collision" => first[j] == first[i] && last[j] == last[i],
                            "shared_phone" => phone[i].is_some() && phone[j] == phone[i],
                            _ => email[j] == email[i],
                        }
                });
                assert!(shares, "{} ({}) shares nothing", ids[i], kind[i]);
            }
            _ => {}
        }
        *checked.entry(kind[i].as_str()).or_default() += 1;
    }
    assert!(checked.len() == 6, "{checked:?}");
}

#[test]
fn a_persons_history_is_spread_over_their_records() {
    let g = generated();
    let truth = read_table(&g.path, &CUSTOMERS_TRUTH).unwrap();
    let kind: HashMap<String, String> = strs(&truth, "record_id")
        .into_iter()
        .zip(strs(&truth, "dup_type"))
        .collect();
    for spec in [&TRANSACTIONS, &OFFER_INTERACTIONS] {
        let df = read_table(&g.path, spec).unwrap();
        let mut per_kind: HashMap<&str, usize> = HashMap::new();
        for r in strs(&df, "record_id") {
            let k = kind
                .get(&r)
                .unwrap_or_else(|| panic!("{} names unknown record {r}", spec.name));
            *per_kind.entry(k.as_str()).or_default() += 1;
        }
        let on_duplicates = per_kind.get("true_dup").copied().unwrap_or(0)
            + per_kind.get("id_error").copied().unwrap_or(0);
        let share = on_duplicates as f64 / df.height() as f64;
        // About 7% of people have a duplicate, and it gets ~25% of their history.
        assert!(
            (0.005..0.06).contains(&share),
            "{}: {share:.4} on duplicate records",
            spec.name
        );
    }
}

#[test]
fn interactions_are_consistent_and_spread_over_the_last_year() {
    let g = generated();
    let df = read_table(&g.path, &OFFER_INTERACTIONS).unwrap();
    let sent = df
        .column("sent_date")
        .unwrap()
        .cast(&DataType::Int32)
        .unwrap();
    let sent = sent.i32().unwrap();
    let end = pipeline_core::calendar::to_epoch_days(
        chrono::NaiveDate::from_ymd_opt(2026, 6, 30).unwrap(),
    );
    let (min, max) = (sent.min().unwrap(), sent.max().unwrap());
    assert!(
        min >= end - 364 && max <= end && max - min > 350,
        "{min}..{max}"
    );
    let flag = |n: &str| -> Vec<u8> {
        df.column(n)
            .unwrap()
            .u8()
            .unwrap()
            .into_no_null_iter()
            .collect()
    };
    let (o, c, r) = (flag("opened"), flag("clicked"), flag("redeemed"));
    for i in 0..o.len() {
        assert!(
            r[i] <= c[i] && c[i] <= o[i],
            "redeemed implies clicked implies opened"
        );
    }
    let rate = r.iter().map(|&x| f64::from(x)).sum::<f64>() / r.len() as f64;
    assert!((0.04..0.35).contains(&rate), "redemption rate {rate}");
}

#[test]
fn the_response_model_favours_what_a_profile_shows() {
    // A person's most-bought category is a visible trace of their hidden
    // preference: offers about it must have a higher true propensity.
    let g = generated();
    let lf = |spec| {
        LazyFrame::scan_parquet(
            PlRefPath::try_from_path(&g.path.join(spec)).unwrap(),
            Default::default(),
        )
        .unwrap()
    };
    let top_category = lf(TRANSACTIONS.file)
        .join(
            lf(CUSTOMERS_TRUTH.file),
            [col("record_id")],
            [col("record_id")],
            JoinArgs::new(JoinType::Inner),
        )
        .group_by([col("true_customer_id"), col("service_category")])
        .agg([col("amount").sum().alias("spend")])
        .sort(
            ["spend"],
            SortMultipleOptions::default().with_order_descending(true),
        )
        .group_by([col("true_customer_id")])
        .agg([
            col("service_category").first().alias("top_category"),
            col("spend").sum().alias("total"),
        ]);
    let joined = lf(TRUTH_PROPENSITY.file)
        .join(
            lf(OFFERS.file),
            [col("offer_id")],
            [col("offer_id")],
            JoinArgs::new(JoinType::Inner),
        )
        .join(
            top_category,
            [col("true_customer_id")],
            [col("true_customer_id")],
            JoinArgs::new(JoinType::Inner),
        )
        .filter(col("category").is_not_null())
        .with_column(col("category").eq(col("top_category")).alias("favoured"))
        .group_by([col("favoured")])
        .agg([col("propensity").mean().alias("mean")])
        .sort(["favoured"], Default::default())
        .collect()
        .unwrap();
    let means: Vec<f64> = joined
        .column("mean")
        .unwrap()
        .f64()
        .unwrap()
        .into_no_null_iter()
        .collect();
    assert_eq!(means.len(), 2, "{joined}");
    assert!(
        means[1] > 1.5 * means[0],
        "favoured {} vs other {}",
        means[1],
        means[0]
    );
}

#[test]
fn the_same_seed_gives_identical_files_whatever_the_thread_count() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    one_thread.install(|| datagen::run(&config(a.path(), 25_000, 7)).unwrap());
    let four = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap();
    four.install(|| datagen::run(&config(b.path(), 25_000, 7)).unwrap());
    datagen::run(&config(c.path(), 25_000, 8)).unwrap();
    for spec in DATAGEN_TABLES {
        let bytes = |d: &Path| std::fs::read(d.join(spec.file)).unwrap();
        assert!(
            bytes(a.path()) == bytes(b.path()),
            "{} differs between thread counts",
            spec.file
        );
        if spec.name != "offers" {
            assert!(
                bytes(a.path()) != bytes(c.path()),
                "{} ignores the seed",
                spec.file
            );
        }
    }
}

#[test]
fn a_large_catalogue_samples_truth_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 3_000, 1);
    cfg.offers = 200;
    let summary = datagen::run(&cfg).unwrap();
    assert_eq!(summary.truth_stride, 1);
    let offers = read_table(dir.path(), &OFFERS).unwrap();
    assert_eq!(offers.height(), 200);
    assert_eq!(
        strs(&offers, "offer_id").last().map(String::as_str),
        Some("OFF200")
    );
    // 5M people x 200 offers would need a sample: the stride says how sparse.
    let mut big = config(dir.path(), 5_000_000, 1);
    big.offers = 200;
    assert_eq!(big.truth_stride(), 20);
}

fn datagen_bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_datagen"))
}

#[test]
fn bad_arguments_fail_with_a_clear_message_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for (args, expected) in [
        (vec!["--customers", "0"], "--customers"),
        (vec!["--customers", "many"], "--customers"),
        (vec!["--offers", "1000"], "--offers"),
        (
            vec!["--end-date", "30/06/2026"],
            "invalid date `30/06/2026` for --end-date",
        ),
    ] {
        let out = datagen_bin()
            .args(&args)
            .arg("--data-dir")
            .arg(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn an_unwritable_data_directory_is_named_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let target = blocker.join("data");
    let out = datagen_bin()
        .args(["--customers", "100", "--data-dir"])
        .arg(&target)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("a-file/data"), "{stderr}");
}

#[test]
fn the_binary_writes_csv_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let out = datagen_bin()
        .args(["--customers", "300", "--csv", "--seed", "3", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for spec in DATAGEN_TABLES {
        assert!(dir.path().join(spec.file).is_file());
        assert!(
            dir.path()
                .join(spec.file.replace(".parquet", ".csv"))
                .is_file()
        );
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join(datagen::META_FILE)).unwrap())
            .unwrap();
    assert_eq!(meta["base_people"], 300);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn the_centre_count_matches_the_centre_names() {
    assert_eq!(
        datagen::geography::centre_count(),
        datagen::geography::centre_names().len()
    );
}
