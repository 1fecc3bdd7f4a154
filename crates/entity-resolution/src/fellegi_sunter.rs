//! The Fellegi-Sunter model: m- and u-probabilities and the match prior by
//! expectation-maximisation on the candidate pairs (u starting from the
//! level frequencies of the candidates), u of random record pairs for the
//! term-frequency adjustment of exact agreement.
//! No ground truth is read here.

use std::collections::HashMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::clean::{EncodedField, FxBuild};
use crate::compare::{Comparator, Pattern, level_of};
use crate::settings::{FieldKind, Settings};

/// Probabilities are kept away from 0 so every weight is finite.
const FLOOR: f64 = 1e-6;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldModel {
    pub name: String,
    pub kind: FieldKind,
    pub levels: Vec<String>,
    /// P(level | match), lowest level first.
    pub m: Vec<f64>,
    /// P(level | non-match) among the candidate pairs, lowest level first.
    pub u: Vec<f64>,
    /// P(level | non-match) among random record pairs: the base of the
    /// term-frequency adjustment.
    pub u_random: Vec<f64>,
    pub term_frequency: bool,
}

impl FieldModel {
    /// log2 Bayes factor of `level`.
    pub fn weight(&self, level: usize) -> f64 {
        (self.m[level].max(FLOOR) / self.u[level].max(FLOOR)).log2()
    }
}

/// A trained model, saved as JSON and reused on later runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// [`Settings::model_fingerprint`] of the settings it was trained with.
    pub fingerprint: String,
    /// Prior probability that a candidate pair is a match.
    pub lambda: f64,
    pub fields: Vec<FieldModel>,
    pub em_iterations: usize,
    pub em_converged: bool,
    pub u_pairs_sampled: usize,
    pub trained_on_records: usize,
    pub trained_on_candidate_pairs: usize,
}

impl Model {
    pub fn prior_weight(&self) -> f64 {
        (self.lambda / (1.0 - self.lambda)).log2()
    }
}

/// SplitMix64: a small, seedable generator for pair sampling.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
}

/// u-probabilities: level frequencies among random record pairs (almost
/// all non-matches), with add-half smoothing.
pub fn estimate_u(
    comparator: &Comparator<'_>,
    n: usize,
    pairs: usize,
    seed: u64,
) -> (Vec<Vec<f64>>, usize) {
    let fields = comparator.fields();
    let mut rng = SplitMix(seed ^ 0x5eed_0000_0000_0075);
    let sample: Vec<(u32, u32)> = (0..pairs)
        .filter_map(|_| {
            let a = rng.below(n as u64) as u32;
            let b = rng.below(n as u64) as u32;
            (a != b).then_some((a, b))
        })
        .collect();
    let counts = count_patterns(
        comparator,
        sample.par_iter().map(|&(a, b)| (a as usize, b as usize)),
    );
    let u = fields
        .iter()
        .enumerate()
        .map(|(f, field)| {
            let levels = field.kind.levels();
            let mut c = vec![0.5f64; levels];
            for (&p, &k) in &counts {
                if let Some(l) = level_of(p, f) {
                    c[l] += k as f64;
                }
            }
            let total: f64 = c.iter().sum();
            c.iter().map(|x| x / total).collect()
        })
        .collect();
    (u, sample.len())
}

/// Counts of distinct comparison vectors over `pairs`.
pub fn count_patterns<I>(comparator: &Comparator<'_>, pairs: I) -> HashMap<Pattern, u64, FxBuild>
where
    I: ParallelIterator<Item = (usize, usize)>,
{
    pairs
        .fold(
            HashMap::<Pattern, u64, FxBuild>::default,
            |mut acc, (a, b)| {
                *acc.entry(comparator.pattern(a, b)).or_insert(0) += 1;
                acc
            },
        )
        .reduce(HashMap::default, |mut a, b| {
            for (k, v) in b {
                *a.entry(k).or_insert(0) += v;
            }
            a
        })
}

/// The outcome of one expectation-maximisation.
#[derive(Debug, Clone)]
pub struct EmFit {
    pub m: Vec<Vec<f64>>,
    pub u: Vec<Vec<f64>>,
    pub lambda: f64,
    pub iterations: usize,
    pub converged: bool,
}

/// The starting m-probabilities: agreement likely among matches
/// (geometric towards exact).
fn initial_m(u: &[Vec<f64>]) -> Vec<Vec<f64>> {
    u.iter()
        .map(|levels| {
            let raw: Vec<f64> = (0..levels.len()).map(|l| 4f64.powi(l as i32)).collect();
            let total: f64 = raw.iter().sum();
            raw.iter().map(|x| x / total).collect()
        })
        .collect()
}

/// EM over pattern counts with u fixed (as Splink does): returns m, lambda,
/// iterations and whether it converged. Every field takes part.
pub fn expectation_maximisation(
    patterns: &[(Pattern, u64)],
    u: &[Vec<f64>],
    max_iterations: usize,
) -> (Vec<Vec<f64>>, f64, usize, bool) {
    let fit = em(
        patterns,
        u,
        u.to_vec(),
        initial_m(u),
        0.3,
        Estimate::M,
        max_iterations,
    );
    (fit.m, fit.lambda, fit.iterations, fit.converged)
}

/// Weight of the prior on u, in random record pairs.
const U_PRIOR_PAIRS: f64 = 50.0;

/// EM from `m`, `u` and a prior of 0.3, estimating what `estimate` says
/// (u with the random pairs' u, `u_prior`, as a prior of
/// [`U_PRIOR_PAIRS`] pairs).
fn em(
    patterns: &[(Pattern, u64)],
    u_prior: &[Vec<f64>],
    mut u: Vec<Vec<f64>>,
    mut m: Vec<Vec<f64>>,
    mut lambda: f64,
    estimate: Estimate,
    max_iterations: usize,
) -> EmFit {
    let total: f64 = patterns.iter().map(|&(_, c)| c as f64).sum();
    let mut iterations = 0;
    let mut converged = false;
    while iterations < max_iterations {
        iterations += 1;
        let mut m_counts: Vec<Vec<f64>> = m.iter().map(|l| vec![0.0; l.len()]).collect();
        let mut u_counts: Vec<Vec<f64>> = u.iter().map(|l| vec![0.0; l.len()]).collect();
        let mut matched = 0.0;
        for &(p, c) in patterns {
            let (mut pm, mut pu) = (lambda, 1.0 - lambda);
            for f in 0..m.len() {
                if let Some(l) = level_of(p, f) {
                    pm *= m[f][l];
                    pu *= u[f][l];
                }
            }
            let r = pm / (pm + pu);
            let w = r * c as f64;
            matched += w;
            let w_non = (1.0 - r) * c as f64;
            for f in 0..m.len() {
                if let Some(l) = level_of(p, f) {
                    m_counts[f][l] += w;
                    u_counts[f][l] += w_non;
                }
            }
        }
        let mut change: f64 = 0.0;
        change = change.max(maximise(&mut m, &m_counts));
        if estimate == Estimate::MAndU {
            // MAP with a prior of U_PRIOR_PAIRS random pairs: negligible
            // on real data, but a table with a handful of candidates keeps
            // u close to the population's instead of learning from
            // nothing that agreement is common.
            for (f, counts) in u_counts.iter_mut().enumerate() {
                for (c, &p) in counts.iter_mut().zip(&u_prior[f]) {
                    *c += U_PRIOR_PAIRS * p;
                }
            }
            change = change.max(maximise(&mut u, &u_counts));
        }
        let new_lambda = (matched / total.max(1.0)).clamp(FLOOR, 1.0 - FLOOR);
        change = change.max((new_lambda - lambda).abs());
        lambda = new_lambda;
        if change < 1e-6 {
            converged = true;
            break;
        }
    }
    EmFit {
        m,
        u,
        lambda,
        iterations,
        converged,
    }
}

/// What an EM run estimates besides lambda.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Estimate {
    M,
    MAndU,
}

/// The M step for one set of probabilities: returns the largest change.
fn maximise(probs: &mut [Vec<f64>], counts: &[Vec<f64>]) -> f64 {
    let mut change: f64 = 0.0;
    for f in 0..probs.len() {
        let sum: f64 = counts[f].iter().sum();
        if sum <= 0.0 {
            continue;
        }
        for (l, &c) in counts[f].iter().enumerate() {
            let new = (c / sum).max(FLOOR);
            change = change.max((new - probs[f][l]).abs());
            probs[f][l] = new;
        }
    }
    change
}

fn sorted_patterns(counts: &HashMap<Pattern, u64, FxBuild>) -> Vec<(Pattern, u64)> {
    let mut patterns: Vec<(Pattern, u64)> = counts.iter().map(|(&p, &c)| (p, c)).collect();
    patterns.sort_unstable();
    patterns
}

/// Level frequencies of every field over `patterns`, add-half smoothed.
#[cfg(test)]
fn level_frequencies(patterns: &[(Pattern, u64)], u: &[Vec<f64>]) -> Vec<Vec<f64>> {
    u.iter()
        .enumerate()
        .map(|(f, levels)| {
            let mut c = vec![0.5f64; levels.len()];
            for &(p, k) in patterns {
                if let Some(l) = level_of(p, f) {
                    c[l] += k as f64;
                }
            }
            let total: f64 = c.iter().sum();
            c.iter().map(|x| x / total).collect()
        })
        .collect()
}

/// A pair is a seed match when it agrees exactly on at least this share of
/// the fields both records have (and on at least three).
const SEED_EXACT_SHARE: f64 = 0.8;

/// Where EM starts: m, u and lambda of a rough split of the candidates into
/// pairs that agree exactly almost everywhere and the rest. EM is a local
/// search; started from "agreement is likely among matches" it found, at
/// 100k people, the stronger cluster structure of the candidates instead:
/// same address (households share a surname, a postcode and a phone) with
/// precision 0.42. Started near the right mode it stays there.
fn seeded_start(
    patterns: &[(Pattern, u64)],
    u_random: &[Vec<f64>],
) -> (Vec<Vec<f64>>, Vec<Vec<f64>>, f64) {
    let mut matches: Vec<Vec<f64>> = u_random.iter().map(|l| vec![0.5; l.len()]).collect();
    let mut others = matches.clone();
    let (mut n_matches, mut n_total) = (0.0, 0.0);
    for &(p, c) in patterns {
        let levels: Vec<(usize, usize)> = (0..u_random.len())
            .filter_map(|f| level_of(p, f).map(|l| (f, l)))
            .collect();
        let exact = levels
            .iter()
            .filter(|&&(f, l)| l + 1 == u_random[f].len())
            .count();
        let seed = levels.len() >= 3 && exact as f64 >= SEED_EXACT_SHARE * levels.len() as f64;
        let side = if seed { &mut matches } else { &mut others };
        for (f, l) in levels {
            side[f][l] += c as f64;
        }
        n_total += c as f64;
        if seed {
            n_matches += c as f64;
        }
    }
    let normalise = |mut probs: Vec<Vec<f64>>| {
        for levels in &mut probs {
            let total: f64 = levels.iter().sum();
            levels.iter_mut().for_each(|x| *x /= total);
        }
        probs
    };
    let lambda = (n_matches / n_total.max(1.0)).clamp(0.01, 0.99);
    (normalise(matches), normalise(others), lambda)
}

/// Trains a model on the candidate pairs.
///
/// Both m and u are estimated by EM over the candidates: the non-matches
/// that blocking brings together are not random pairs (household members
/// share a surname, a postcode and a phone; name collisions share both
/// names), so u measured on random pairs would make their agreement look
/// like evidence of a match, and EM with u fixed at those values converges
/// to "every candidate is a match". u starts from the level frequencies
/// over all candidates, m from agreement; the u of random pairs is kept
/// for the term-frequency adjustment, which is relative to the population.
pub fn train(
    comparator: &Comparator<'_>,
    settings: &Settings,
    pattern_counts: &HashMap<Pattern, u64, FxBuild>,
    n_records: usize,
    n_pairs: usize,
    seed: u64,
) -> Model {
    let sample = settings
        .u_sample_pairs
        .min(n_records.saturating_mul(n_records.saturating_sub(1)) / 2)
        .max(1000);
    let (u_random, sampled) = estimate_u(comparator, n_records, sample, seed);
    let patterns = sorted_patterns(pattern_counts);
    let (m_start, u_start, lambda_start) = seeded_start(&patterns, &u_random);
    let fit = em(
        &patterns,
        &u_random,
        u_start,
        m_start,
        lambda_start,
        Estimate::MAndU,
        settings.em_max_iterations,
    );
    let fields = settings
        .fields
        .iter()
        .zip(fit.m)
        .zip(fit.u)
        .zip(u_random)
        .map(|(((f, m), u), u_random)| FieldModel {
            name: f.name.clone(),
            kind: f.kind,
            levels: f
                .kind
                .level_labels()
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            m,
            u,
            u_random,
            term_frequency: f.term_frequency(),
        })
        .collect();
    Model {
        fingerprint: settings.model_fingerprint(),
        lambda: fit.lambda,
        fields,
        em_iterations: fit.iterations,
        em_converged: fit.converged,
        u_pairs_sampled: sampled,
        trained_on_records: n_records,
        trained_on_candidate_pairs: n_pairs,
    }
}

/// Scores pairs: prior + per-field log2 Bayes factors + term-frequency
/// adjustments, all precomputed into tables.
#[derive(Debug)]
pub struct Scorer {
    prior: f64,
    /// `[field][level]` log2 Bayes factor.
    weights: Vec<Vec<f64>>,
    /// `[field][value code]`: log2(u_exact / tf(value)) added on exact
    /// agreement; empty when the field is not adjusted.
    tf_adjustment: Vec<Vec<f32>>,
}

impl Scorer {
    pub fn new(model: &Model, fields: &[EncodedField]) -> Self {
        let weights = model
            .fields
            .iter()
            .map(|f| (0..f.levels.len()).map(|l| f.weight(l)).collect())
            .collect();
        let tf_adjustment = model
            .fields
            .iter()
            .zip(fields)
            .map(|(fm, enc)| {
                if !fm.term_frequency {
                    return Vec::new();
                }
                let u_exact = fm.u_random.last().copied().unwrap_or(FLOOR).max(FLOOR);
                (0..enc.values.len())
                    .map(|code| (u_exact / enc.term_frequency(code as u32)).log2() as f32)
                    .collect()
            })
            .collect();
        Self {
            prior: model.prior_weight(),
            weights,
            tf_adjustment,
        }
    }

    pub fn prior(&self) -> f64 {
        self.prior
    }

    /// The weight of field `f` at `level` for the pair, and its term-frequency
    /// part.
    pub fn field_weight(
        &self,
        fields: &[EncodedField],
        f: usize,
        level: usize,
        a: usize,
    ) -> (f64, f64) {
        let base = self.weights[f][level];
        let exact = level + 1 == self.weights[f].len();
        let tf = if exact && !self.tf_adjustment[f].is_empty() {
            let code = fields[f].codes[a] as usize;
            f64::from(self.tf_adjustment[f].get(code).copied().unwrap_or(0.0))
        } else {
            0.0
        };
        (base, tf)
    }

    /// The match weight of records `a` and `b` with comparison vector `pattern`.
    pub fn weight(&self, fields: &[EncodedField], pattern: Pattern, a: usize) -> f64 {
        let mut w = self.prior;
        for f in 0..self.weights.len() {
            if let Some(level) = level_of(pattern, f) {
                let (base, tf) = self.field_weight(fields, f, level, a);
                w += base + tf;
            }
        }
        w
    }
}

/// Match probability of a match weight.
pub fn probability(weight: f64) -> f64 {
    1.0 / (1.0 + (-weight).exp2())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn em_separates_two_populations() {
        // Two fields with two levels; matches agree, non-matches rarely.
        let u = vec![vec![0.99, 0.01], vec![0.95, 0.05]];
        let pack = |a: u32, b: u32| (a + 1) | ((b + 1) << 3);
        let patterns = vec![
            (pack(1, 1), 900),
            (pack(0, 1), 60),
            (pack(1, 0), 40),
            (pack(0, 0), 9000),
        ];
        let (m, lambda, _, converged) = expectation_maximisation(&patterns, &u, 200);
        assert!(converged);
        assert!(m[0][1] > 0.9 && m[1][1] > 0.9, "{m:?}");
        assert!((lambda - 0.1).abs() < 0.03, "{lambda}");
    }

    #[test]
    fn em_with_free_u_is_not_fooled_by_what_blocking_made_common() {
        // Three two-level fields. Blocking made every candidate agree on
        // field 0, matches or not; matches also agree on fields 1 and 2,
        // non-matches rarely. With u of random pairs (agreement rare
        // everywhere) fixed, everything looks like a match; estimating u on
        // the candidates finds the 10% of true matches.
        let u_random = vec![vec![0.999, 0.001]; 3];
        let pack = |a: u32, b: u32, c: u32| (a + 1) | ((b + 1) << 3) | ((c + 1) << 6);
        let patterns = vec![
            (pack(1, 1, 1), 1000),
            (pack(1, 0, 1), 20),
            (pack(1, 1, 0), 20),
            (pack(1, 0, 0), 8500),
            (pack(1, 1, 0), 250),
            (pack(1, 0, 1), 250),
        ];
        let fixed = em(
            &patterns,
            &u_random,
            u_random.clone(),
            initial_m(&u_random),
            0.3,
            Estimate::M,
            500,
        );
        assert!(fixed.lambda > 0.9, "u fixed: {}", fixed.lambda);
        let start = level_frequencies(&patterns, &u_random);
        let free = em(
            &patterns,
            &u_random,
            start,
            initial_m(&u_random),
            0.3,
            Estimate::MAndU,
            500,
        );
        assert!(
            free.lambda > 0.08 && free.lambda < 0.2,
            "u free: {}",
            free.lambda
        );
        assert!(free.u[0][1] > 0.99 && free.u[1][1] < 0.1, "{:?}", free.u);
    }

    #[test]
    fn probability_of_weight() {
        assert!((probability(0.0) - 0.5).abs() < 1e-12);
        assert!(probability(10.0) > 0.999);
    }
}
