//! Generated customers for the load benchmark (`--synthetic N`), shaped
//! like the output of the features stage: 62 features, of which counts
//! (small integers), money with cents, zeros, and shares and means that
//! need full `f64` precision, plus about 1.18 source records per customer.
//! Deterministic for a seed; needs no input file.

use feature_store::CustomerTables;

use pipeline_core::vocabulary::{OFFER_OUTCOMES as OUTCOMES, Terms, Vocabulary};

/// How many categories and offer types the generated customers have, with
/// made-up names (`Category 1`, `Type 1`, ...).
const CATEGORY_COUNT: usize = 4;
const OFFER_TYPE_COUNT: usize = 6;

/// The vocabulary the generated customers' feature names come from.
pub fn vocabulary() -> Vocabulary {
    let terms = |prefix: &str, n: usize| {
        let weights: Vec<(String, f64)> = (1..=n).map(|i| (format!("{prefix} {i}"), 1.0)).collect();
        Terms::from_weights(&weights, &[], n)
    };
    Vocabulary {
        categories: terms("Category", CATEGORY_COUNT),
        offer_types: terms("Type", OFFER_TYPE_COUNT),
        outcomes: OUTCOMES.map(str::to_owned).to_vec(),
        measures: Vec::new(),
    }
}

/// SplitMix64: enough randomness for benchmark data, no dependency.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn cents(&mut self, max_dollars: u64) -> f64 {
        self.below(max_dollars * 100) as f64 / 100.0
    }
}

/// The feature names, in the order of the features stage.
pub fn feature_names() -> Vec<String> {
    vocabulary().customer_feature_names()
}

fn customer(rng: &mut SplitMix, n_records: u64, out: &mut Vec<f64>) {
    let frequency = 1 + rng.below(40);
    let amounts: Vec<f64> = (0..frequency).map(|_| 20.0 + rng.cents(400)).collect();
    let total: f64 = amounts.iter().sum();
    let mean = total / frequency as f64;
    let min = amounts.iter().copied().fold(f64::INFINITY, f64::min);
    let max = amounts.iter().copied().fold(0.0, f64::max);
    let var = amounts.iter().map(|a| (a - mean) * (a - mean)).sum::<f64>() / frequency as f64;
    let first = 30 + rng.below(700);
    let recency = rng.below(first);
    let tenure = first - recency;
    out.extend([
        n_records as f64,
        recency as f64,
        frequency as f64,
        total,
        mean,
        min,
        max,
        var.sqrt(),
        first as f64,
        tenure as f64,
        if frequency > 1 {
            tenure as f64 / (frequency - 1) as f64
        } else {
            f64::NAN
        },
        f64::from(u8::from(frequency == 1)),
        (1 + rng.below(10)) as f64,
        (1 + rng.below(4)) as f64,
        (1 + rng.below(3)) as f64,
        0.6 + 0.8 * rng.unit(),
    ]);
    // Category shares: most customers use two or three categories.
    let weights: Vec<f64> = (0..CATEGORY_COUNT)
        .map(|_| if rng.below(3) == 0 { 0.0 } else { rng.unit() })
        .collect();
    let sum: f64 = weights.iter().sum::<f64>().max(1e-9);
    out.extend(weights.iter().map(|w| w / sum));
    let counts: Vec<u64> = weights
        .iter()
        .map(|w| (w / sum * frequency as f64).round() as u64)
        .collect();
    let count_sum = counts.iter().sum::<u64>().max(1);
    out.extend(counts.iter().map(|&c| c as f64 / count_sum as f64));
    // Offer history: received >= opened >= clicked >= redeemed per type.
    let per_type: Vec<[u64; 4]> = (0..OFFER_TYPE_COUNT)
        .map(|_| {
            let received = rng.below(4);
            let opened = rng.below(received + 1);
            let clicked = rng.below(opened + 1);
            let redeemed = rng.below(clicked + 1);
            [received, opened, clicked, redeemed]
        })
        .collect();
    let by_type: Vec<Vec<u64>> = (0..OUTCOMES.len())
        .map(|o| per_type.iter().map(|t| t[o]).collect())
        .collect();
    let totals: Vec<u64> = by_type.iter().map(|row| row.iter().sum()).collect();
    out.extend(totals.iter().map(|&t| t as f64));
    for o in 1..4 {
        out.push((totals[o] as f64 + 1.0) / (totals[0] as f64 + 2.0));
    }
    for row in by_type {
        out.extend(row.into_iter().map(|v| v as f64));
    }
    // lifetimes' summary: every purchase on its own day.
    out.extend([
        (frequency - 1) as f64,
        tenure as f64,
        (first - 1) as f64,
        if frequency > 1 { mean } else { 0.0 },
    ]);
}

/// `customers` generated customers with their source records as aliases.
pub fn tables(customers: usize, seed: u64) -> CustomerTables {
    let mut rng = SplitMix(seed);
    let names = feature_names();
    let mut tables = CustomerTables {
        customer_ids: Vec::with_capacity(customers),
        clusters: Vec::with_capacity(customers),
        features: Vec::with_capacity(customers * names.len()),
        aliases: Vec::with_capacity(customers * 6 / 5),
        data_version: format!("synthetic-{customers}-{seed}"),
        ..CustomerTables::default()
    };
    let mut record = 0u64;
    for i in 0..customers {
        let customer_id = format!("CUS{:07}", i + 1);
        // About 1.18 records per person, as in the generated data.
        let n_records = if rng.below(100) < 16 {
            2 + rng.below(2)
        } else {
            1
        };
        for _ in 0..n_records {
            record += 1;
            tables
                .aliases
                .push((format!("REC{record:07}"), customer_id.clone()));
        }
        customer(&mut rng, n_records, &mut tables.features);
        tables.clusters.push(rng.below(6) as u32);
        tables.customer_ids.push(customer_id);
    }
    tables.feature_names = names;
    tables
}
