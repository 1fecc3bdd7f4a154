//! The information ceiling of datagen's data: the AUC and top-3 share of
//! the Bayes-optimal forecaster ([`datagen::ceiling`]), next to the
//! oracle's, on the same test window `train` evaluates on (sends in the
//! last `--window-days` days; history strictly before).
//!
//! A trained model's gap to the oracle splits into what no model could
//! close (oracle - ceiling) and what the pipeline leaves (ceiling - model).
//! Figures use train's own metric code.
//!
//!     ceiling --customers 200000 --offers 8 --seed 42
#![allow(clippy::print_stdout)]

use std::time::Instant;

use clap::Parser;
use datagen::ceiling::{Ceiling, Knowledge, split_chunk};
use datagen::population::{Calendar, ChunkPlan, generate_chunk, mix};
use datagen::response::redemption_probability;
use pipeline_core::calendar::{format_epoch_days, parse_date, to_epoch_days};
use rayon::prelude::*;
use train::metrics::{auc, ndcg_at, top_k};

#[derive(Debug, Parser)]
struct Args {
    /// Base people, as datagen's `--customers`.
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..=datagen::MAX_CUSTOMERS))]
    customers: u64,
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=datagen::MAX_OFFERS as i64))]
    offers: u16,
    /// datagen's seed: the same people as `datagen --seed`.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, default_value = "2026-06-30")]
    end_date: String,
    /// The test window: sends in the last this many days.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(i32).range(1..=365))]
    window_days: i32,
    /// People (with some history) whose whole-catalogue order is judged.
    #[arg(long, default_value_t = 10_000)]
    ranking_people: u64,
}

/// The forecasters compared, in table order.
const FORECASTERS: [&str; 3] = [
    "oracle (knows every trait)",
    "Bayes: every trait but responsiveness known",
    "Bayes: history only (the ceiling)",
];

#[derive(Default)]
struct Tally {
    /// Per forecaster: the score of each later send.
    scores: [Vec<f64>; 3],
    labels: Vec<f32>,
    /// Per forecaster: sum of true propensities of its top 3, and NDCG@3.
    top3: [f64; 3],
    ndcg: [f64; 3],
    best_top3: f64,
    ranked: u64,
}

impl Tally {
    fn merge(mut self, other: Tally) -> Tally {
        for f in 0..3 {
            self.scores[f].extend_from_slice(&other.scores[f]);
            self.top3[f] += other.top3[f];
            self.ndcg[f] += other.ndcg[f];
        }
        self.labels.extend_from_slice(&other.labels);
        self.best_top3 += other.best_top3;
        self.ranked += other.ranked;
        self
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let end = to_epoch_days(parse_date("--end-date", &args.end_date)?);
    let cutoff = end + 1 - args.window_days;
    let plan = ChunkPlan {
        seed: args.seed,
        calendar: Calendar::ending(end),
        offers: datagen::catalogue::offers(usize::from(args.offers), args.seed),
        truth_stride: 1,
    };
    let ceiling = Ceiling::new(&plan.offers, plan.calendar, cutoff);
    let chunks = args.customers.div_ceil(datagen::CHUNK_PEOPLE) as usize;
    // One person in `stride` of those with history is ranked.
    let stride = (args.customers / args.ranking_people.max(1)).max(1);
    let k = 3.min(usize::from(args.offers));

    let tally = (0..chunks)
        .into_par_iter()
        .map(|c| {
            // Chunk ranges as datagen's run makes them: the same people.
            let start = c as u64 * datagen::CHUNK_PEOPLE;
            let end = (start + datagen::CHUNK_PEOPLE).min(args.customers);
            let chunk = generate_chunk(&plan, c, start..end);
            let (histories, later) = split_chunk(&chunk, cutoff);
            let mut later_of: Vec<Vec<(usize, bool)>> = vec![Vec::new(); histories.len()];
            for s in &later {
                later_of[s.person as usize].push((usize::from(s.offer), s.redeemed));
            }
            let mut t = Tally::default();
            // One person at a time: a posterior holds up to 22k points.
            for (pi, (h, person)) in histories.iter().zip(&chunk.people).enumerate() {
                let seen = !h.purchases.is_empty() || !h.sends.is_empty();
                let ranked =
                    seen && mix(args.seed ^ mix(c as u64) ^ pi as u64).is_multiple_of(stride);
                if later_of[pi].is_empty() && !ranked {
                    continue;
                }
                let traits = &person.traits;
                let partial = ceiling.posterior(h, Knowledge::AllButResponsiveness, traits);
                let full = ceiling.posterior(h, Knowledge::History, traits);
                let forecasters = |o: usize| -> [f64; 3] {
                    [
                        redemption_probability(traits, &plan.offers[o]),
                        partial.forecast(&ceiling, o),
                        full.forecast(&ceiling, o),
                    ]
                };
                for &(o, redeemed) in &later_of[pi] {
                    for (f, score) in forecasters(o).into_iter().enumerate() {
                        t.scores[f].push(score);
                    }
                    t.labels.push(f32::from(u8::from(redeemed)));
                }
                if ranked {
                    let by_offer: Vec<[f64; 3]> = (0..plan.offers.len()).map(forecasters).collect();
                    let column = |f: usize| -> Vec<f64> { by_offer.iter().map(|s| s[f]).collect() };
                    let truth = column(0);
                    let sum_top = |scores: &[f64]| -> f64 {
                        top_k(scores, k).iter().map(|&o| truth[o]).sum()
                    };
                    t.best_top3 += sum_top(&truth);
                    for f in 0..3 {
                        let scores = column(f);
                        t.top3[f] += sum_top(&scores);
                        t.ndcg[f] += ndcg_at(&scores, &truth, k);
                    }
                    t.ranked += 1;
                }
            }
            t
        })
        .reduce(Tally::default, Tally::merge);

    let oracle_auc = auc(&tally.scores[0], &tally.labels).unwrap_or(f64::NAN);
    println!(
        "information ceiling: {} people, {} offers, seed {}; test window [{}, {}]: {} sends, {} redeemed; {} people ranked ({:.0} s)",
        args.customers,
        args.offers,
        args.seed,
        format_epoch_days(cutoff),
        format_epoch_days(end),
        tally.labels.len(),
        tally.labels.iter().filter(|&&l| l > 0.5).count(),
        tally.ranked,
        started.elapsed().as_secs_f64(),
    );
    println!(
        "{:<45} {:>7} {:>9} {:>11} {:>7}",
        "forecaster", "AUC", "/ oracle", "top-3 share", "NDCG@3"
    );
    let mut figures = Vec::new();
    for (f, name) in FORECASTERS.iter().enumerate() {
        let a = auc(&tally.scores[f], &tally.labels).unwrap_or(f64::NAN);
        let n = tally.ranked.max(1) as f64;
        println!(
            "{:<45} {:>7.4} {:>9.4} {:>11.4} {:>7.4}",
            name,
            a,
            a / oracle_auc,
            tally.top3[f] / tally.best_top3,
            tally.ndcg[f] / n,
        );
        figures.push((a, tally.top3[f] / tally.best_top3));
    }
    // One line for scripts (scripts/bench_train.sh).
    println!(
        "oracle_auc={:.6} ceiling_auc={:.6} ceiling_top3={:.6} sends={}",
        figures[0].0,
        figures[2].0,
        figures[2].1,
        tally.labels.len()
    );
    Ok(())
}
