//! In-process scoring of one request (5 candidates): the compiled trees
//! against LightGBM's batched call and LightGBM's single-row fast path.
//!
//! The model is a 300-tree fixture trained here, or the real one when
//! `OFFERS_BENCH_MODEL_DIR` and `OFFERS_BENCH_DATA_DIR` name a model and a
//! data directory (customer tables, offers). Ends with a table of medians
//! and ratios read back from criterion's estimates.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::hint::black_box;
use std::path::PathBuf;

use criterion::Criterion;
use feature_store::EmbeddedStore;
use serve::fixture::{FixtureSpec, write_fixture};
use serve::scoring::forest::Walk;
use serve::scoring::{LoadedModel, Scorer};

const GROUP: &str = "score_request";
/// The compiled trees over every candidate of the customer's segment.
const FULL_SEGMENT: &str = "compiled_full_segment";
const SCORERS: [(&str, Scorer); 3] = [
    ("compiled", Scorer::Compiled),
    ("lightgbm_batched", Scorer::LightGbmBatched),
    ("lightgbm_single_row", Scorer::LightGbmSingleRow),
];

fn main() {
    let _keep = tempfile::tempdir().unwrap();
    let (model_dir, data_dir) = match (
        std::env::var_os("OFFERS_BENCH_MODEL_DIR"),
        std::env::var_os("OFFERS_BENCH_DATA_DIR"),
    ) {
        (Some(m), Some(d)) => (PathBuf::from(m), PathBuf::from(d)),
        _ => {
            let spec = FixtureSpec {
                customers: 600,
                trees: 300,
                num_leaves: 31,
                ..FixtureSpec::default()
            };
            write_fixture(_keep.path(), &spec).unwrap();
            (_keep.path().join("models"), _keep.path().join("data"))
        }
    };
    let model = LoadedModel::load(&model_dir, &data_dir).unwrap();
    let store = EmbeddedStore::from_files(&data_dir).unwrap();
    let generation = store.generation();
    let layout = model.layout_for(&generation).unwrap();
    // The case is a request of 5 candidates: the first 5 of the
    // customer's segment (a segment of the default catalogue holds all 8
    // offers, so the full request is also measured).
    let customer_ids = customer_ids(&data_dir);
    let record = customer_ids.iter().find_map(|id| store.lookup(id)).unwrap();
    let segment = model.candidates(record.cluster);
    let five = &segment[..segment.len().min(5)];
    let candidates = five.len();
    println!(
        "model {}: {} trees, {} features; customer {}: {candidates} of its segment's {} candidates",
        model.info().model_version,
        model.info().trees,
        model.info().features,
        record.customer_id,
        segment.len()
    );

    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group(GROUP);
    for (name, scorer) in SCORERS {
        group.bench_function(name, |b| {
            b.iter(|| {
                model
                    .recommend_with(scorer, &layout, black_box(&record.features), five, 3)
                    .unwrap()
            })
        });
    }
    group.bench_function(FULL_SEGMENT, |b| {
        b.iter(|| model.recommend(&layout, black_box(&record.features), record.cluster, 3, 0))
    });
    group.finish();

    // The compiled trees alone, both walk strategies, on the same rows.
    let width = layout.width();
    let mut rows = vec![0.0; candidates * width];
    for (&offer, row) in five.iter().zip(rows.chunks_exact_mut(width)) {
        layout.fill(&record.features, &model.offers()[offer].attributes, row);
    }
    let mut group = criterion.benchmark_group("forest_only");
    for (name, walk) in [
        ("lockstep", Walk::Lockstep),
        ("early_exit", Walk::EarlyExit),
    ] {
        let mut forest = model.forest().clone();
        forest.set_walk(walk);
        let mut scratch = rows.clone();
        let mut out = vec![0.0; candidates];
        group.bench_function(name, |b| {
            b.iter(|| {
                scratch.copy_from_slice(&rows);
                forest.predict(black_box(&mut scratch), &mut out);
                out[0]
            })
        });
    }
    group.finish();
    criterion.final_summary();
    print_ratios(candidates, segment.len());
}

fn customer_ids(data_dir: &std::path::Path) -> Vec<String> {
    let df =
        pipeline_core::table_io::read_table(data_dir, &pipeline_core::schema::CUSTOMER_SEGMENTS)
            .unwrap();
    df.column("customer_id")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .flatten()
        .take(2000)
        .map(str::to_owned)
        .collect()
}

/// Reads criterion's median estimates back and prints them side by side.
fn print_ratios(candidates: usize, segment: usize) {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    let median = |name: &str| -> Option<f64> {
        let (group, name) = name.split_once('/').unwrap_or((GROUP, name));
        let path = target
            .join("criterion")
            .join(group)
            .join(name)
            .join("new/estimates.json");
        let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        json["median"]["point_estimate"].as_f64()
    };
    let Some(base) = median("compiled") else {
        println!("(no criterion estimates found under {})", target.display());
        return;
    };
    println!("\nscoring one request ({candidates} candidates), median per request:");
    println!("{:<22} {:>12} {:>14}", "scorer", "median", "vs compiled");
    let names = SCORERS
        .iter()
        .map(|(n, _)| *n)
        .chain(["forest_only/lockstep", "forest_only/early_exit"]);
    for name in names {
        if let Some(m) = median(name) {
            println!("{name:<22} {:>9.2} µs {:>13.1}x", m / 1000.0, m / base);
        }
    }
    if let Some(m) = median(FULL_SEGMENT) {
        println!(
            "the whole segment ({segment} candidates), compiled: {:.2} µs",
            m / 1000.0
        );
    }
}
