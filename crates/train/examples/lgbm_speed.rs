//! LightGBM training speed through lightgbm3 on a synthetic matrix, for
//! `scripts/bench_train.sh`, which trains Python's `lightgbm` on the very
//! same files and prints both side by side.
//!
//! `lgbm_speed ROWS FEATURES TREES THREADS OUT_DIR` writes `OUT_DIR/x.f64`
//! (row-major little-endian f64) and `OUT_DIR/y.f32`, trains TREES trees
//! and prints `lightgbm3_seconds=...` (Dataset construction included).
#![allow(clippy::print_stdout)]

use std::time::Instant;

use lightgbm3::{Booster, Dataset};
use serde_json::json;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_owned());
    let rows: usize = arg(0, "200000").parse()?;
    let width: usize = arg(1, "60").parse()?;
    let trees: u32 = arg(2, "300").parse()?;
    let threads: usize = arg(3, "2").parse()?;
    let out = std::path::PathBuf::from(arg(4, "/tmp/lgbm-speed"));
    std::fs::create_dir_all(&out)?;

    // A deterministic problem in which a few features matter.
    let mut state = 0x9e3779b97f4a7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut x = Vec::with_capacity(rows * width);
    let mut y = Vec::with_capacity(rows);
    for _ in 0..rows {
        let start = x.len();
        x.extend((0..width).map(|_| next()));
        let r = &x[start..];
        let logit = 2.0 * r[0] - 1.5 * r[1] + r[2] * r[3] * 3.0 - 1.2 + 0.5 * (r[4] - 0.5);
        y.push(if next() < 1.0 / (1.0 + (-logit).exp()) {
            1.0f32
        } else {
            0.0
        });
    }
    std::fs::write(
        out.join("x.f64"),
        x.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>(),
    )?;
    std::fs::write(
        out.join("y.f32"),
        y.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>(),
    )?;

    let params = json!({
        "objective": "binary",
        "num_iterations": trees,
        "learning_rate": 0.1,
        "num_leaves": 31,
        "min_data_in_leaf": 20,
        "num_threads": threads,
        "force_col_wise": true,
        "verbosity": -1,
        "seed": 1,
    });
    let started = Instant::now();
    let data = Dataset::from_slice(&x, &y, width as i32, true)?;
    let booster = Booster::train(data, &params)?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "lightgbm3_seconds={seconds:.3} trees={}",
        booster.num_iterations()
    );
    Ok(())
}
