//! Stage 1: customer segments and the candidate offers of each segment.
//!
//! Customers are standardised on RFM figures (log1p where the figure is a
//! skewed count or amount) plus their category spend shares, clustered with
//! linfa's KMeans, and each segment gets the offers with the highest
//! smoothed redemption rate among its members. A missing figure (a
//! customer without purchases has no recency) is imputed at the mean, i.e.
//! 0 after standardisation; `serve` must do the same.

use std::collections::HashMap;

use linfa::prelude::*;
use linfa_clustering::KMeans;
use ndarray::Array2;
use pipeline_core::artifacts::{ClusterCandidates, Segments};
use pipeline_core::catalogue::{SERVICE_CATEGORIES, slug};
use rand_xoshiro::Xoshiro256Plus;
use rand_xoshiro::rand_core::{RngCore, SeedableRng};

use crate::error::{Result, TrainError};

/// The customer features stage 1 clusters on, with their transform.
pub fn segment_features() -> Vec<(String, &'static str)> {
    let mut v: Vec<(String, &'static str)> = [
        ("recency_days", "log1p"),
        ("frequency", "log1p"),
        ("monetary_total", "log1p"),
        ("monetary_mean", "log1p"),
        ("tenure_days", "identity"),
        ("distinct_categories", "identity"),
    ]
    .into_iter()
    .map(|(n, t)| (n.to_owned(), t))
    .collect();
    v.extend(
        SERVICE_CATEGORIES
            .iter()
            .map(|c| (format!("spend_share_{}", slug(c)), "identity")),
    );
    v
}

/// Hyperparameters of stage 1, checked before any work.
#[derive(Debug, Clone)]
pub struct SegmentParams {
    pub clusters: usize,
    /// KMeans is fitted on at most this many customers (a seeded sample);
    /// every customer is then assigned to its nearest centroid.
    pub fit_sample: usize,
    pub seed: u64,
}

fn transform(kind: &str, v: f64) -> f64 {
    match kind {
        "log1p" => v.max(0.0).ln_1p(),
        _ => v,
    }
}

/// Standardised coordinates of one customer (row of `columns`, NaN for
/// missing), as `serve` computes them from `segments.json`.
pub fn standardise(segments: &Segments, raw: &[f64], out: &mut [f64]) {
    for (j, value) in out.iter_mut().enumerate() {
        let v = transform(&segments.transforms[j], raw[j]);
        let std = segments.scaler_std[j];
        *value = if v.is_finite() && std > 0.0 {
            (v - segments.scaler_mean[j]) / std
        } else {
            0.0
        };
    }
}

/// Index of the nearest centroid.
pub fn nearest(centroids: &[Vec<f64>], x: &[f64]) -> usize {
    let mut best = (0, f64::INFINITY);
    for (c, centroid) in centroids.iter().enumerate() {
        let d: f64 = centroid.iter().zip(x).map(|(a, b)| (a - b) * (a - b)).sum();
        if d < best.1 {
            best = (c, d);
        }
    }
    best.0
}

/// Fits the scaler and KMeans on `raw` (row-major, `n x names.len()`,
/// NaN for missing) and returns the segments artifact.
pub fn fit_segments(raw: &[f64], params: &SegmentParams) -> Result<Segments> {
    let spec = segment_features();
    let width = spec.len();
    let n = raw.len() / width;
    if n < params.clusters {
        return Err(TrainError::NotEnoughData(format!(
            "{n} customers for {} clusters",
            params.clusters
        )));
    }
    let transforms: Vec<String> = spec.iter().map(|(_, t)| (*t).to_owned()).collect();
    let mut mean = vec![0.0; width];
    let mut std = vec![0.0; width];
    for j in 0..width {
        let (mut sum, mut sq, mut count) = (0.0, 0.0, 0.0);
        for i in 0..n {
            let v = transform(&transforms[j], raw[i * width + j]);
            if v.is_finite() {
                sum += v;
                sq += v * v;
                count += 1.0;
            }
        }
        if count > 0.0 {
            mean[j] = sum / count;
            std[j] = (sq / count - mean[j] * mean[j]).max(0.0).sqrt();
        }
    }
    let mut segments = Segments {
        feature_names: spec.iter().map(|(n, _)| n.clone()).collect(),
        transforms,
        scaler_mean: mean,
        scaler_std: std,
        centroids: Vec::new(),
    };

    // A seeded sample keeps the fit fast and reproducible at any size.
    let mut rng = Xoshiro256Plus::seed_from_u64(params.seed);
    let mut rows: Vec<usize> = (0..n).collect();
    let sample = params.fit_sample.max(params.clusters).min(n);
    for i in 0..sample {
        let j = i + (rng.next_u64() % (n - i) as u64) as usize;
        rows.swap(i, j);
    }
    rows.truncate(sample);
    rows.sort_unstable();
    let mut x = Array2::<f64>::zeros((sample, width));
    let mut z = vec![0.0; width];
    for (r, &i) in rows.iter().enumerate() {
        standardise(&segments, &raw[i * width..(i + 1) * width], &mut z);
        for (j, v) in z.iter().enumerate() {
            x[[r, j]] = *v;
        }
    }
    let model =
        KMeans::params_with_rng(params.clusters, Xoshiro256Plus::seed_from_u64(params.seed))
            .n_runs(3)
            .max_n_iterations(200)
            .tolerance(1e-5)
            .fit(&DatasetBase::from(x))
            .map_err(|e| TrainError::KMeans(e.to_string()))?;
    segments.centroids = model
        .centroids()
        .outer_iter()
        .map(|row| row.to_vec())
        .collect();
    Ok(segments)
}

/// The cluster of every customer (rows of `raw`, as in [`fit_segments`]).
pub fn assign(segments: &Segments, raw: &[f64]) -> Vec<u32> {
    use rayon::prelude::*;
    let width = segments.feature_names.len();
    raw.par_chunks(width)
        .map(|row| {
            let mut z = vec![0.0; width];
            standardise(segments, row, &mut z);
            nearest(&segments.centroids, &z) as u32
        })
        .collect()
}

/// Bounds of the estimated pseudo-count: at the top, the clusters' rates
/// are indistinguishable and the offers' overall rates decide.
const MIN_SMOOTHING: f64 = 1.0;
const MAX_SMOOTHING: f64 = 10_000.0;
/// The pseudo-count when no offer was sent to two clusters.
const FALLBACK_SMOOTHING: f64 = 20.0;

/// Sends and redemptions per (cluster, offer) cell, cluster-major.
struct CellCounts {
    clusters: usize,
    offers: usize,
    sent: Vec<f64>,
    redeemed: Vec<f64>,
}

impl CellCounts {
    fn tally(
        sends: impl Iterator<Item = (u32, usize, bool)>,
        clusters: usize,
        offers: usize,
    ) -> Self {
        let mut sent = vec![0.0; clusters * offers];
        let mut redeemed = vec![0.0; clusters * offers];
        for (c, o, r) in sends {
            let cell = c as usize * offers + o;
            if cell < sent.len() {
                sent[cell] += 1.0;
                redeemed[cell] += f64::from(u8::from(r));
            }
        }
        Self {
            clusters,
            offers,
            sent,
            redeemed,
        }
    }

    /// Each offer's overall rate, `(redeemed + 1) / (sent + 2)`.
    fn offer_rates(&self) -> Vec<f64> {
        (0..self.offers)
            .map(|o| {
                let s: f64 = (0..self.clusters)
                    .map(|c| self.sent[c * self.offers + o])
                    .sum();
                let r: f64 = (0..self.clusters)
                    .map(|c| self.redeemed[c * self.offers + o])
                    .sum();
                (r + 1.0) / (s + 2.0)
            })
            .collect()
    }

    /// The rate each cell would have if the cluster differed from the
    /// others only by its overall responsiveness: `p_offer x lift`, where
    /// the lift is the cluster's redemptions over what the offers' overall
    /// rates predict for its sends.
    fn expected_rates(&self, offer_rates: &[f64]) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.sent.len());
        for c in 0..self.clusters {
            let cells = c * self.offers..(c + 1) * self.offers;
            let predicted: f64 = self.sent[cells.clone()]
                .iter()
                .zip(offer_rates)
                .map(|(n, p)| n * p)
                .sum();
            let observed: f64 = self.redeemed[cells].iter().sum();
            let lift = if predicted > 0.0 {
                (observed + 1.0) / (predicted + 1.0)
            } else {
                1.0
            };
            out.extend(offer_rates.iter().map(|p| (p * lift).min(0.999)));
        }
        out
    }
}

/// Orders the offers of each cluster by smoothed redemption rate,
/// `(redeemed + m * e) / (sent + m)`. The prior rate `e` is the offer's
/// overall rate `(redeemed + 1) / (sent + 2)` times the cluster's lift (how
/// much more or less its members redeem than the offers' overall rates
/// predict): a cluster that saw an offer rarely falls back to the offer's
/// overall appeal at the cluster's level of response. Keeps the best
/// `top_n`. `smoothing` is the pseudo-count `m`; `None` estimates it from
/// the sends ([`empirical_smoothing`]). Returns the candidates and the `m`
/// used.
///
/// `sends` holds (cluster, offer index, redeemed) per past interaction.
pub fn candidates(
    sends: impl Iterator<Item = (u32, usize, bool)>,
    clusters: usize,
    offer_ids: &[String],
    smoothing: Option<f64>,
    top_n: usize,
) -> (ClusterCandidates, f64) {
    let offers = offer_ids.len();
    let counts = CellCounts::tally(sends, clusters, offers);
    let expected = counts.expected_rates(&counts.offer_rates());
    let smoothing = smoothing.unwrap_or_else(|| empirical_smoothing(&counts, &expected));
    let mut out = ClusterCandidates::new();
    for c in 0..clusters {
        let rates: Vec<f64> = (0..offers)
            .map(|o| {
                let cell = c * offers + o;
                let weight = counts.sent[cell] + smoothing;
                if weight > 0.0 {
                    (counts.redeemed[cell] + smoothing * expected[cell]) / weight
                } else {
                    // Never sent to the cluster and no smoothing: the
                    // prior rate, not 0 / 0.
                    expected[cell]
                }
            })
            .collect();
        let best = crate::metrics::top_k(&rates, top_n);
        out.insert(
            c as u32,
            best.into_iter().map(|o| offer_ids[o].clone()).collect(),
        );
    }
    (out, smoothing)
}

/// The pseudo-count of the smoothed rates, by empirical Bayes (method of
/// moments): how much a cluster's taste for one offer departs from its
/// prior rate `e`. A cell's observed rate varies around `e` by binomial
/// noise, `e (1 - e) / n`, plus the true spread `tau2`; so per offer
/// `tau2 = (sum n (r - e)^2 - sum e (1 - e)) / sum n`, and a Beta prior of
/// mean `p` with that spread has pseudo-count `m = p (1 - p) / tau2 - 1`.
/// Returns the median over the offers sent to at least two clusters,
/// within [1, 10,000] (no measurable spread: the prior rates decide).
///
/// The prior already carries the cluster's overall level, so only the
/// differences in taste that reorder offers count as spread. A fixed `m`
/// fits one data size and catalogue; this one follows the data.
fn empirical_smoothing(counts: &CellCounts, expected: &[f64]) -> f64 {
    let (clusters, offers) = (counts.clusters, counts.offers);
    let mut estimates: Vec<f64> = (0..offers)
        .filter_map(|o| {
            let cells: Vec<usize> = (0..clusters)
                .map(|c| c * offers + o)
                .filter(|&cell| counts.sent[cell] > 0.0)
                .collect();
            if cells.len() < 2 {
                return None;
            }
            let (mut total, mut spread, mut noise, mut mean) = (0.0, 0.0, 0.0, 0.0);
            for &cell in &cells {
                let (n, e) = (counts.sent[cell], expected[cell]);
                let r = counts.redeemed[cell] / n;
                total += n;
                spread += n * (r - e).powi(2);
                noise += e * (1.0 - e);
                mean += n * e;
            }
            let p = mean / total;
            let tau2 = (spread - noise) / total;
            let m = if tau2 > 0.0 {
                p * (1.0 - p) / tau2 - 1.0
            } else {
                MAX_SMOOTHING
            };
            Some(m.clamp(MIN_SMOOTHING, MAX_SMOOTHING))
        })
        .collect();
    if estimates.is_empty() {
        return FALLBACK_SMOOTHING;
    }
    estimates.sort_by(f64::total_cmp);
    estimates[estimates.len() / 2]
}

/// Cluster id -> candidate offer indices, for evaluation.
pub fn candidate_indices(
    candidates: &ClusterCandidates,
    offer_ids: &[String],
) -> HashMap<u32, Vec<usize>> {
    let index: HashMap<&str, usize> = offer_ids
        .iter()
        .enumerate()
        .map(|(i, o)| (o.as_str(), i))
        .collect();
    candidates
        .iter()
        .map(|(c, offers)| {
            (
                *c,
                offers
                    .iter()
                    .filter_map(|o| index.get(o.as_str()).copied())
                    .collect(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_prefer_the_clusters_own_winners_but_smooth_small_counts() {
        let ids: Vec<String> = ["A", "B", "C"].iter().map(|s| s.to_string()).collect();
        // Cluster 0: B redeems 40/100, A 10/100; C sent once and redeemed
        // once. Cluster 1: C redeems 5/100, so C's overall rate is modest:
        // p_C = (6 + 1) / (101 + 2) = 0.068 (p_A = 0.108, p_B = 0.402).
        let mut sends = Vec::new();
        for i in 0..100 {
            sends.push((0u32, 0usize, i < 10));
            sends.push((0, 1, i < 40));
            sends.push((1, 2, i < 5));
        }
        sends.push((0, 2, true));
        let run = |m: f64| candidates(sends.clone().into_iter(), 2, &ids, Some(m), 2).0;
        let names = |v: &[&str]| -> Vec<String> { v.iter().map(|s| s.to_string()).collect() };

        // Unsmoothed, C's single redemption (1/1) would top the list.
        assert_eq!(run(0.0)[&0], names(&["C", "B"]));
        // m = 20 shrinks C from 1/1 to (1 + 20 p_C) / 21 = 0.112: far below
        // B's 0.400 but, one redemption in one send being real evidence,
        // still above A's (10 + 20 p_A) / 120 = 0.101.
        let out = run(20.0);
        assert_eq!(out[&0], names(&["B", "C"]));
        assert_eq!(out[&1].len(), 2);
        // A stronger prior (m = 100) brings C down to 0.077, below A's
        // 0.104: the cluster's well-measured winners come first.
        assert_eq!(run(100.0)[&0], names(&["B", "A"]));
    }

    #[test]
    fn the_estimated_smoothing_counts_only_differences_in_taste() {
        let ids: Vec<String> = ["A", "B"].iter().map(|s| s.to_string()).collect();
        // Two clusters of 2 x 10,000 sends, redemptions per 1000 given.
        let sends = |rates: [[u32; 2]; 2]| {
            let mut v = Vec::new();
            for (c, row) in rates.iter().enumerate() {
                for (o, &per_mille) in row.iter().enumerate() {
                    v.extend((0..10_000).map(move |i| (c as u32, o, i % 1000 < per_mille)));
                }
            }
            v.into_iter()
        };
        // Cluster 1 redeems everything twice as often: a difference of
        // level, not of taste, which the lift absorbs.
        let (_, m) = candidates(sends([[100, 200], [200, 400]]), 2, &ids, None, 2);
        assert_eq!(m, MAX_SMOOTHING);
        // Opposite tastes: A wins in cluster 0, B in cluster 1; a small
        // pseudo-count lets each cluster's own winner lead.
        let (out, m) = candidates(sends([[300, 100], [100, 300]]), 2, &ids, None, 1);
        assert!(m < 20.0, "{m}");
        assert_eq!(out[&0], vec!["A".to_string()]);
        assert_eq!(out[&1], vec!["B".to_string()]);
        // Nothing sent to two clusters: the fallback.
        let one = vec![(0u32, 0usize, true), (0, 1, false)].into_iter();
        assert_eq!(candidates(one, 2, &ids, None, 1).1, FALLBACK_SMOOTHING);
    }
}
