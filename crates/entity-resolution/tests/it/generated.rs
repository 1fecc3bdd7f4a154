//! Quality on generated customers (datagen): the targets on 20,000
//! people and on 1 million (where a model with a single non-match class
//! once took e-mail look-alikes for matches: precision 0.03); the same
//! customers with their e-mail only.

use chrono::NaiveDate;
use entity_resolution::{Config, run};
use pipeline_core::table_io::TableSink;

/// Generates `people`, resolves them, and checks the quality targets.
fn resolve_generated(people: u64, dir: &std::path::Path) -> Config {
    let datagen_config = datagen::DatagenConfig {
        customers: people,
        offers: 8,
        seed: 7,
        end_date: NaiveDate::from_ymd_opt(2026, 6, 30).unwrap(),
        sink: TableSink::new(dir, false),
    };
    datagen::run(&datagen_config).unwrap();
    let config = Config::for_data_dir(dir, dir.join("models"));
    let report = run(&config).unwrap();
    println!("{report}");
    let q = report
        .quality
        .clone()
        .expect("customers_truth gives ground truth");
    assert!(
        q.pairwise_precision >= 0.995,
        "precision {}",
        q.pairwise_precision
    );
    let kind = |k: &str| q.by_kind.iter().find(|x| x.kind == k).cloned();
    let dup = kind("true_dup").expect("true duplicates generated");
    assert!(
        dup.linked_to_own_person >= 0.99,
        "true_dup recall {}",
        dup.linked_to_own_person
    );
    for k in ["name_collision", "shared_phone", "shared_email"] {
        if let Some(kq) = kind(k) {
            assert!(
                kq.merged_with_other_person < 1.0 / 200.0,
                "{k} merged {}",
                kq.merged_with_other_person
            );
        }
    }
    config
}

#[test]
fn generated_customers_meet_quality_targets() {
    let dir = tempfile::tempdir().unwrap();
    let config = resolve_generated(20_000, dir.path());
    // Same input, same ids (model reused the second time).
    let map = crate::entity_map(dir.path());
    let again = run(&config).unwrap();
    assert!(again.model_reused);
    assert_eq!(crate::entity_map(dir.path()), map);
}

#[test]
fn a_million_generated_people_meet_quality_targets() {
    let dir = tempfile::tempdir().unwrap();
    resolve_generated(1_000_000, dir.path());
}

/// With the built-in settings and only `record_id` and `email`, one field
/// is too few for a match model: the records are linked when their e-mails
/// are equal (after cleaning: lowercase, no spaces), which is computed here
/// independently by grouping the e-mails.
#[test]
fn generated_customers_with_email_only_are_linked_by_equal_email() {
    use std::collections::HashMap;

    use entity_resolution::plan::Mode;
    use polars::prelude::*;

    let dir = tempfile::tempdir().unwrap();
    let datagen_config = datagen::DatagenConfig {
        customers: 3000,
        offers: 8,
        seed: 11,
        end_date: NaiveDate::from_ymd_opt(2026, 6, 30).unwrap(),
        sink: TableSink::new(dir.path(), false),
    };
    datagen::run(&datagen_config).unwrap();
    let path = dir.path().join("customers_raw.parquet");
    let mut raw = ParquetReader::new(std::fs::File::open(&path).unwrap())
        .finish()
        .unwrap()
        .select(["record_id", "email"])
        .unwrap();
    ParquetWriter::new(std::fs::File::create(&path).unwrap())
        .finish(&mut raw)
        .unwrap();

    let config = Config::for_data_dir(dir.path(), dir.path().join("models"));
    let report = run(&config).unwrap();
    assert_eq!(report.resolution.mode, Mode::ExactAgreement);
    assert_eq!(report.resolution.comparisons_used, ["email"]);
    assert_eq!(report.resolution.blocking_rules_used, ["email_local_part"]);
    assert!(report.model.is_none() && report.model_path.is_none());
    assert!(!dir.path().join("models/er_model.json").exists());

    // Expected: one customer per distinct e-mail, named after its smallest
    // record id (CUS + digits); a record without e-mail is alone.
    let ids = raw.column("record_id").unwrap().str().unwrap();
    let emails = raw.column("email").unwrap().str().unwrap();
    let mut smallest: HashMap<String, &str> = HashMap::new();
    for (id, email) in ids.iter().zip(emails.iter()) {
        let (Some(id), Some(email)) = (id, email) else {
            continue;
        };
        let key: String = email.to_lowercase().split_whitespace().collect();
        let slot = smallest.entry(key).or_insert(id);
        if id < *slot {
            *slot = id;
        }
    }
    let expected: Vec<(String, String)> = ids
        .iter()
        .zip(emails.iter())
        .map(|(id, email)| {
            let id = id.unwrap();
            let rep = email
                .map(|e| smallest[&e.to_lowercase().split_whitespace().collect::<String>()])
                .unwrap_or(id);
            (id.to_owned(), rep.replace("REC", "CUS"))
        })
        .collect();
    let shared = expected
        .iter()
        .filter(|(r, c)| r.replace("REC", "CUS") != *c)
        .count();
    assert!(shared > 50, "the data has shared e-mails to find: {shared}");
    assert_eq!(crate::entity_map(dir.path()), expected);
    let pairs = crate::read_parquet(&dir.path().join("match_pairs.parquet"));
    let prob = pairs.column("match_probability").unwrap().f64().unwrap();
    assert!(prob.iter().all(|p| p == Some(1.0)));
    let err = entity_resolution::explain(&config, &expected[0].0, &expected[1].0)
        .err()
        .map(|e| e.to_string());
    assert!(
        err.as_deref().is_some_and(|e| e.contains(
            "no match model exists: fewer than 3 comparable fields (email): \
             pairs are linked by exact agreement"
        )),
        "{err:?}"
    );
}
