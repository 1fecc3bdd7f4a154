//! Quality on generated customers (datagen): the targets on 20,000
//! people and on 1 million (where a model with a single non-match class
//! once took e-mail look-alikes for matches: precision 0.03).

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
