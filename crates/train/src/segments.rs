//! Stage 1: customer segments and the candidate offers of each segment.
//!
//! Customers are standardised on RFM figures (log1p where the figure is a
//! skewed count or amount) plus their category spend shares, clustered with
//! linfa's KMeans, and each segment gets the offers with the highest
//! smoothed redemption rate among its members. A missing figure (a
//! customer without purchases has no recency) is imputed at the mean, i.e.
//! 0 after standardisation; `serve` must do the same.

use std::collections::{BTreeSet, HashMap};

use linfa::prelude::*;
use linfa_clustering::KMeans;
use ndarray::Array2;
use pipeline_core::artifacts::{ClusterCandidates, Segments};
use pipeline_core::vocabulary::Vocabulary;
use rand_xoshiro::Xoshiro256Plus;
use rand_xoshiro::rand_core::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};
use crate::shrinkage::{Cell, pseudo_count, smoothed_rate};

/// The customer features stage 1 clusters on, with their transform: RFM
/// figures and the spend share of every category of the vocabulary.
pub fn segment_features(vocabulary: &Vocabulary) -> Vec<(String, &'static str)> {
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
        vocabulary
            .categories
            .slugs()
            .map(|c| (format!("spend_share_{c}"), "identity")),
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
pub fn fit_segments(
    raw: &[f64],
    spec: &[(String, &'static str)],
    params: &SegmentParams,
) -> Result<Segments> {
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

/// Bounds of the estimated pseudo-count. At the bottom, a segment's own
/// rate is never taken raw (one redemption in one send is not a 100%
/// offer); at the top, the segments' rates are indistinguishable and the
/// offers' overall rates decide (see [`crate::shrinkage::pseudo_count`]).
const MIN_SMOOTHING: f64 = 1.0;
const MAX_SMOOTHING: f64 = 10_000.0;
/// The pseudo-count when the sends cannot measure the segments' spread
/// (no offer sent to two segments, or no cell with two sends).
const FALLBACK_SMOOTHING: f64 = 20.0;

/// How the candidate lists came out, for `metrics.json` and the log: a
/// smoothing that shrinks every segment onto the offers' overall rates
/// gives every segment the same list and leaves offers out for good.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateStats {
    /// The pseudo-count `m` used.
    pub smoothing: f64,
    /// Where `m` came from.
    pub smoothing_source: SmoothingSource,
    pub segments: usize,
    /// Distinct ordered candidate lists among the segments.
    pub distinct_lists: usize,
    /// Distinct candidate sets (what `serve` scores: it reorders them).
    pub distinct_sets: usize,
    /// Offers in no segment's list: `serve` never recommends them.
    pub offers_never_candidate: usize,
    pub never_candidate: Vec<String>,
    /// Offers given a place because every segment had the same set
    /// ([`spread_uncovered`]).
    #[serde(default)]
    pub placed_for_coverage: usize,
}

/// Where the pseudo-count of the candidate rates came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmoothingSource {
    /// `--smoothing`.
    Given,
    /// Estimated from the sends ([`crate::shrinkage::pseudo_count`]).
    Estimated,
    /// The sends could not measure it: [`FALLBACK_SMOOTHING`].
    Fallback,
}

impl CandidateStats {
    fn of(
        lists: &ClusterCandidates,
        offer_ids: &[String],
        smoothing: f64,
        smoothing_source: SmoothingSource,
        placed_for_coverage: usize,
    ) -> Self {
        let distinct_lists = lists.values().collect::<BTreeSet<_>>().len();
        let distinct_sets = lists
            .values()
            .map(|l| l.iter().collect::<BTreeSet<_>>())
            .collect::<BTreeSet<_>>()
            .len();
        let used: BTreeSet<&String> = lists.values().flatten().collect();
        let never_candidate: Vec<String> = offer_ids
            .iter()
            .filter(|o| !used.contains(o))
            .cloned()
            .collect();
        Self {
            smoothing,
            smoothing_source,
            segments: lists.len(),
            distinct_lists,
            distinct_sets,
            offers_never_candidate: never_candidate.len(),
            never_candidate,
            placed_for_coverage,
        }
    }
}

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

    /// The counts of `cell` with its prior rate.
    fn cell(&self, cell: usize, expected: &[f64]) -> Cell {
        Cell {
            sent: self.sent[cell],
            redeemed: self.redeemed[cell],
            prior: expected[cell],
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
/// the sends ([`empirical_smoothing`]). Returns the candidates and how
/// they came out.
///
/// `sends` holds (cluster, offer index, redeemed) per past interaction.
pub fn candidates(
    sends: impl Iterator<Item = (u32, usize, bool)>,
    clusters: usize,
    offer_ids: &[String],
    smoothing: Option<f64>,
    top_n: usize,
) -> (ClusterCandidates, CandidateStats) {
    let offers = offer_ids.len();
    let counts = CellCounts::tally(sends, clusters, offers);
    let expected = counts.expected_rates(&counts.offer_rates());
    let (smoothing, source) = match smoothing {
        Some(m) => (m, SmoothingSource::Given),
        None => empirical_smoothing(&counts, &expected)
            .map_or((FALLBACK_SMOOTHING, SmoothingSource::Fallback), |m| {
                (m, SmoothingSource::Estimated)
            }),
    };
    let rates: Vec<Vec<f64>> = (0..clusters)
        .map(|c| {
            (0..offers)
                .map(|o| smoothed_rate(counts.cell(c * offers + o, &expected), smoothing))
                .collect()
        })
        .collect();
    let mut lists: Vec<Vec<usize>> = rates
        .iter()
        .map(|r| crate::metrics::top_k(r, top_n))
        .collect();
    let placed = spread_uncovered(&mut lists, &rates, offers);
    let out: ClusterCandidates = lists
        .into_iter()
        .enumerate()
        .map(|(c, list)| {
            let ids = list.into_iter().map(|o| offer_ids[o].clone()).collect();
            (c as u32, ids)
        })
        .collect();
    let stats = CandidateStats::of(&out, offer_ids, smoothing, source, placed);
    (out, stats)
}

/// The share of a list's places, from its tail, that
/// [`spread_uncovered`] may give to offers in no list.
const COVERAGE_SHARE: f64 = 0.25;

/// When every segment's list holds the same set of offers, the segments'
/// rates did not tell their tastes apart (on Complete Journey's 27
/// campaigns the Pearson dispersion of the cells is below its degrees of
/// freedom, so `m` is at its cap and the order is the offers' overall
/// one), and the offers outside that set would never be served, nor ever
/// sent, so no later run could learn about them. Then each such offer,
/// most promising first, takes the last place of one segment's list,
/// round-robin over the segments (at most [`COVERAGE_SHARE`] of a list),
/// in the segment where it rates best against the offer it displaces. An
/// offer is never displaced from its last list. Lists whose sets differ
/// are left alone: there the data chose. Returns how many offers were
/// placed.
fn spread_uncovered(lists: &mut [Vec<usize>], rates: &[Vec<f64>], offers: usize) -> usize {
    let first: BTreeSet<usize> = match lists.first() {
        Some(l) => l.iter().copied().collect(),
        None => return 0,
    };
    let same_set = lists
        .iter()
        .all(|l| l.iter().copied().collect::<BTreeSet<_>>() == first);
    if lists.len() < 2 || !same_set {
        return 0;
    }
    let best = |o: usize| rates.iter().map(|r| r[o]).fold(f64::MIN, f64::max);
    let mut uncovered: Vec<usize> = (0..offers).filter(|o| !first.contains(o)).collect();
    uncovered.sort_by(|&a, &b| best(b).total_cmp(&best(a)).then(a.cmp(&b)));
    let mut holders = vec![0usize; offers];
    lists.iter().flatten().for_each(|&o| holders[o] += 1);
    let mut given = vec![0usize; lists.len()];
    let mut placed = 0;
    for o in uncovered {
        // Per segment with room left: the place it would give (its last
        // place not yet given whose offer is held elsewhere too).
        let choice = lists
            .iter()
            .enumerate()
            .filter(|(c, l)| (given[*c] as f64) < (l.len() as f64 * COVERAGE_SHARE).floor())
            .filter_map(|(c, l)| {
                let end = l.len() - given[c];
                (0..end)
                    .rev()
                    .find(|&p| holders[l[p]] > 1)
                    .map(|p| (c, p, rates[c][o] / rates[c][l[p]].max(f64::MIN_POSITIVE)))
            })
            .min_by(|a, b| given[a.0].cmp(&given[b.0]).then(b.2.total_cmp(&a.2)));
        let Some((c, p, _)) = choice else { break };
        holders[lists[c][p]] -= 1;
        holders[o] += 1;
        // The new offer goes last, after the ones the segment chose.
        lists[c].remove(p);
        lists[c].push(o);
        given[c] += 1;
        placed += 1;
    }
    placed
}

/// The pseudo-count of the smoothed rates, by empirical Bayes: the
/// concentration of a Beta prior around each cell's prior rate `e`,
/// estimated by [`pseudo_count`] from every (cluster, offer) cell at once.
/// The priors are fitted on the same cells, one rate per offer and one
/// lift per cluster (less one: scaling every rate up and every lift down
/// changes nothing), so that many degrees of freedom are taken off.
/// `None` when the cells cannot measure the spread.
///
/// The prior already carries the cluster's overall level, so only the
/// differences in taste that reorder offers count as spread. A fixed `m`
/// fits one data size and catalogue; this one follows the data.
fn empirical_smoothing(counts: &CellCounts, expected: &[f64]) -> Option<f64> {
    let (clusters, offers) = (counts.clusters, counts.offers);
    let sent_offers = (0..offers)
        .filter(|&o| (0..clusters).any(|c| counts.sent[c * offers + o] > 0.0))
        .count();
    let sent_clusters = (0..clusters)
        .filter(|&c| {
            counts.sent[c * offers..(c + 1) * offers]
                .iter()
                .any(|&n| n > 0.0)
        })
        .count();
    let fitted = (sent_offers + sent_clusters).saturating_sub(1);
    let cells = (0..counts.sent.len()).map(|cell| counts.cell(cell, expected));
    pseudo_count(cells, fitted, MIN_SMOOTHING, MAX_SMOOTHING)
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
        let (_, stats) = candidates(sends([[100, 200], [200, 400]]), 2, &ids, None, 2);
        assert_eq!(stats.smoothing, MAX_SMOOTHING);
        assert_eq!(stats.smoothing_source, SmoothingSource::Estimated);
        // Opposite tastes: A wins in cluster 0, B in cluster 1. Every prior
        // is 0.2 (to 1e-4); the Pearson terms are 1000^2 / (10,000 x 0.16)
        // = 625 per cell, X2 = 2500, df = 4 cells - (2 offers + 2 lifts -
        // 1) = 1, so rho = 2499 / (1/4 x 4 x 9999) = 0.24993 and m = 3.0:
        // each cluster's own winner leads.
        let (out, stats) = candidates(sends([[300, 100], [100, 300]]), 2, &ids, None, 1);
        assert!((stats.smoothing - 3.0).abs() < 0.01, "{stats:?}");
        assert_eq!(out[&0], vec!["A".to_string()]);
        assert_eq!(out[&1], vec!["B".to_string()]);
        // Nothing sent to two clusters: the fallback.
        let one = vec![(0u32, 0usize, true), (0, 1, false)].into_iter();
        let (_, stats) = candidates(one, 2, &ids, None, 1);
        assert_eq!(stats.smoothing, FALLBACK_SMOOTHING);
        assert_eq!(stats.smoothing_source, SmoothingSource::Fallback);
    }

    #[test]
    fn few_offers_with_differing_segments_get_distinct_lists() {
        // Four segments, eight offers, 150 sends per cell drawn from a
        // seeded generator: segment c redeems offer c at 22%, every other
        // offer at 12% (offers 4 to 7 appeal to nobody in particular).
        // Per offer, the segments' rates spread as Beta(m e, m (1 - e))
        // with m = 65. The estimate this one replaced (per-offer moments,
        // median over offers) reached its 10,000 cap on three of these six
        // seeds, giving all four segments the same two offers, and lay at
        // 200 to 730 on the others; pooled and corrected for the fitted
        // priors it is 80 to 133, and each segment's favourite leads its
        // own list.
        let ids: Vec<String> = (0..8).map(|o| format!("O{o}")).collect();
        for seed in 1..=6 {
            let mut rng = Xoshiro256Plus::seed_from_u64(seed);
            let mut sends = Vec::new();
            for c in 0..4u32 {
                for o in 0..8usize {
                    let rate = if o == c as usize { 0.22 } else { 0.12 };
                    for _ in 0..150 {
                        let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                        sends.push((c, o, u < rate));
                    }
                }
            }
            let (lists, stats) = candidates(sends.into_iter(), 4, &ids, None, 2);
            assert_eq!(stats.smoothing_source, SmoothingSource::Estimated);
            assert!(stats.smoothing < 500.0, "seed {seed}: {stats:?}");
            for c in 0..4u32 {
                assert_eq!(lists[&c][0], ids[c as usize], "seed {seed}: {lists:?}");
            }
            assert_eq!(stats.distinct_lists, 4, "seed {seed}: {lists:?}");
            // Each favourite is in its segment's list; at most the four
            // offers nobody prefers are left out.
            assert!(stats.offers_never_candidate <= 4, "seed {seed}: {stats:?}");
        }
    }

    #[test]
    fn segments_that_cannot_be_told_apart_share_out_the_offers_left_out() {
        // Ten segments with the same taste (offer o redeems (1 + o)% of
        // its sends in every segment, 400 sends per cell): the estimate
        // finds no spread, every segment gets the same 20 of 27 offers, and
        // the seven left out take one last place each.
        let ids: Vec<String> = (0..27).map(|o| format!("O{o}")).collect();
        let mut sends = Vec::new();
        for c in 0..10u32 {
            for o in 0..27usize {
                sends.extend((0..400).map(|i| (c, o, i % 100 < 1 + o)));
            }
        }
        let (lists, stats) = candidates(sends.into_iter(), 10, &ids, None, 20);
        assert_eq!(stats.smoothing, MAX_SMOOTHING, "{stats:?}");
        assert_eq!(stats.placed_for_coverage, 7, "{stats:?}");
        assert_eq!(stats.offers_never_candidate, 0, "{stats:?}");
        assert_eq!(stats.distinct_sets, 8, "{lists:?}");
        let common: Vec<String> = (7..27).rev().map(|o| format!("O{o}")).collect();
        for list in lists.values() {
            assert_eq!(list.len(), 20);
            // The head the data chose stays, in its order.
            assert_eq!(list[..19], common[..19], "{list:?}");
        }
        // The most promising of the seven (O6) comes first, into segment 0.
        assert_eq!(lists[&0][19], "O6");
        // Room for fewer than the offers left out: one place per list of 4.
        let ids: Vec<String> = (0..30).map(|o| format!("O{o}")).collect();
        let sends = (0..2u32)
            .flat_map(|c| (0..30usize).flat_map(move |o| (0..100).map(move |i| (c, o, i < o))));
        let (lists, stats) = candidates(sends, 2, &ids, Some(10.0), 4);
        assert_eq!(stats.placed_for_coverage, 2, "{lists:?}");
        assert_eq!(stats.offers_never_candidate, 24);
        // Segment 0 gives O26's place; O26 then has one list left, so
        // segment 1 gives O27's instead.
        let names = |v: &[&str]| -> Vec<String> { v.iter().map(|s| s.to_string()).collect() };
        assert_eq!(lists[&0], names(&["O29", "O28", "O27", "O25"]));
        assert_eq!(lists[&1], names(&["O29", "O28", "O26", "O24"]));
    }

    #[test]
    fn the_reported_counts_are_those_of_the_lists() {
        // Unsmoothed (m = 0): segments 0 and 1 rank A, B, C; segment 2
        // ranks C, B, A; nobody ranks D (never redeemed) in their top 2.
        let ids: Vec<String> = ["A", "B", "C", "D"].iter().map(|s| s.to_string()).collect();
        let rates: [[u32; 4]; 3] = [[5, 3, 1, 0], [6, 4, 2, 0], [1, 3, 5, 0]];
        let mut sends = Vec::new();
        for (c, row) in rates.iter().enumerate() {
            for (o, &hits) in row.iter().enumerate() {
                sends.extend((0..10).map(|i| (c as u32, o, i < hits)));
            }
        }
        let (lists, stats) = candidates(sends.into_iter(), 3, &ids, Some(0.0), 2);
        let names = |v: &[&str]| -> Vec<String> { v.iter().map(|s| s.to_string()).collect() };
        assert_eq!(lists[&0], names(&["A", "B"]));
        assert_eq!(lists[&1], names(&["A", "B"]));
        assert_eq!(lists[&2], names(&["C", "B"]));
        assert_eq!(
            stats,
            CandidateStats {
                smoothing: 0.0,
                smoothing_source: SmoothingSource::Given,
                segments: 3,
                distinct_lists: 2,
                distinct_sets: 2,
                offers_never_candidate: 1,
                never_candidate: names(&["D"]),
                placed_for_coverage: 0,
            }
        );
        // The same sets in another order are one set, two lists.
        let (_, stats) = candidates(
            vec![
                (0u32, 0usize, true),
                (0, 1, false),
                (1, 0, false),
                (1, 1, true),
            ]
            .into_iter(),
            2,
            &ids[..2],
            Some(0.0),
            2,
        );
        assert_eq!((stats.distinct_lists, stats.distinct_sets), (2, 1));
        assert_eq!(stats.offers_never_candidate, 0);
    }
}
