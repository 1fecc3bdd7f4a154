//! The Fellegi-Sunter model: m- and u-probabilities and the match prior by
//! expectation-maximisation on the candidate pairs (u starting from the
//! level frequencies of the candidates), u of random record pairs for the
//! term-frequency adjustment of exact agreement.
//! No ground truth is read here.

use std::collections::HashMap;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
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
    /// The latent classes EM fitted, the match class first.
    #[serde(default)]
    pub classes: Vec<LatentClass>,
    pub em_iterations: usize,
    pub em_converged: bool,
    pub u_pairs_sampled: usize,
    pub trained_on_records: usize,
    pub trained_on_candidate_pairs: usize,
}

/// One class of the fitted mixture: its share of the candidate pairs and
/// its level distribution per field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatentClass {
    pub name: String,
    pub share: f64,
    /// `[field][level]` probabilities, lowest level first.
    pub levels: Vec<Vec<f64>>,
}

impl Model {
    /// Checks a saved model against the settings it claims to fit: one
    /// field model per field, in order and of the same kind, every
    /// probability vector as long as the field's levels and made of
    /// probabilities, at least two classes. Scoring indexes all of these
    /// unchecked, so a model file that passes cannot make it panic.
    pub fn check(&self, settings: &Settings) -> Result<(), String> {
        let probability = |what: &str, p: f64| -> Result<(), String> {
            if p.is_finite() && (0.0..=1.0).contains(&p) {
                Ok(())
            } else {
                Err(format!("{what} is {p}, expected a probability in [0, 1]"))
            }
        };
        let vector = |what: &str, v: &[f64], n: usize| -> Result<(), String> {
            if v.len() != n {
                return Err(format!("{what} has {} values, expected {n}", v.len()));
            }
            v.iter().try_for_each(|&p| probability(what, p))
        };
        probability("`lambda`", self.lambda)?;
        if self.fields.len() != settings.fields.len() {
            return Err(format!(
                "{} field models for the {} fields of the settings",
                self.fields.len(),
                settings.fields.len()
            ));
        }
        for (fm, fs) in self.fields.iter().zip(&settings.fields) {
            if fm.name != fs.name || fm.kind != fs.kind {
                return Err(format!(
                    "field model `{}` ({:?}) where the settings have `{}` ({:?})",
                    fm.name, fm.kind, fs.name, fs.kind
                ));
            }
            let n = fs.kind.levels();
            vector(&format!("`{}`.m", fm.name), &fm.m, n)?;
            vector(&format!("`{}`.u", fm.name), &fm.u, n)?;
            vector(&format!("`{}`.u_random", fm.name), &fm.u_random, n)?;
        }
        if self.classes.len() == 1 {
            return Err(
                "one latent class; scoring needs a match class and a non-match class".into(),
            );
        }
        for class in &self.classes {
            probability(&format!("class `{}` share", class.name), class.share)?;
            if class.levels.len() != settings.fields.len() {
                return Err(format!(
                    "class `{}` has {} fields, expected {}",
                    class.name,
                    class.levels.len(),
                    settings.fields.len()
                ));
            }
            for (levels, fs) in class.levels.iter().zip(&settings.fields) {
                let what = format!("class `{}` field `{}`", class.name, fs.name);
                vector(&what, levels, fs.kind.levels())?;
            }
        }
        Ok(())
    }

    /// The classes scoring uses: the fitted ones, or for a model saved
    /// without them, a match class of m and one non-match class of u (plain
    /// Fellegi-Sunter).
    pub fn scoring_classes(&self) -> Vec<LatentClass> {
        if !self.classes.is_empty() {
            return self.classes.clone();
        }
        let of = |pick: fn(&FieldModel) -> &Vec<f64>| -> Vec<Vec<f64>> {
            self.fields.iter().map(|f| pick(f).clone()).collect()
        };
        vec![
            LatentClass {
                name: "match".into(),
                share: self.lambda,
                levels: of(|f| &f.m),
            },
            LatentClass {
                name: "non-match".into(),
                share: 1.0 - self.lambda,
                levels: of(|f| &f.u),
            },
        ]
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
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x5eed_0000_0000_0075);
    let n = n.max(1) as u32;
    let sample: Vec<(u32, u32)> = (0..pairs)
        .filter_map(|_| {
            let a = rng.random_range(0..n);
            let b = rng.random_range(0..n);
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

/// A latent-class mixture over comparison patterns: within a class the
/// fields are independent, each with its own level distribution. Class 0
/// is the match class; the others together are the non-matches.
#[derive(Debug, Clone)]
pub struct Mixture {
    /// What each class started as ("match", "non-match: phone", ...).
    pub names: Vec<String>,
    /// Share of the candidate pairs in each class.
    pub shares: Vec<f64>,
    /// `[class][field][level]` probabilities.
    pub levels: Vec<Vec<Vec<f64>>>,
    pub iterations: usize,
    pub converged: bool,
}

impl Mixture {
    /// P(level | match): the match class.
    pub fn m(&self) -> Vec<Vec<f64>> {
        self.levels[0].clone()
    }

    /// P(level | non-match): the non-match classes pooled by their shares.
    pub fn u(&self) -> Vec<Vec<f64>> {
        let rest: f64 = self.shares[1..].iter().sum::<f64>().max(FLOOR);
        let mut u: Vec<Vec<f64>> = self.levels[0].iter().map(|l| vec![0.0; l.len()]).collect();
        for (share, class) in self.shares.iter().zip(&self.levels).skip(1) {
            for (uf, cf) in u.iter_mut().zip(class) {
                for (x, &p) in uf.iter_mut().zip(cf) {
                    *x += share / rest * p;
                }
            }
        }
        u
    }

    /// The match prior among the candidates.
    pub fn lambda(&self) -> f64 {
        self.shares[0].clamp(FLOOR, 1.0 - FLOOR)
    }

    /// P(pattern, class k): the class's share times its probability of
    /// each level present.
    fn joint(&self, k: usize, p: Pattern) -> f64 {
        let mut q = self.shares[k];
        for (f, levels) in self.levels[k].iter().enumerate() {
            if let Some(l) = level_of(p, f) {
                q *= levels[l];
            }
        }
        q
    }

    /// P(match | pattern).
    fn match_posterior(&self, p: Pattern) -> f64 {
        let sum: f64 = (0..self.shares.len()).map(|k| self.joint(k, p)).sum();
        if sum > 0.0 {
            self.joint(0, p) / sum
        } else {
            0.0
        }
    }
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

/// Weight of the prior on each non-match class, in random record pairs.
const U_PRIOR_PAIRS: f64 = 50.0;

/// EM for a latent-class mixture from `start`. Classes marked in `frozen`
/// keep their level distributions (their shares are still estimated).
/// With `u_prior`, every non-match class gets [`U_PRIOR_PAIRS`] random
/// record pairs added to its counts: negligible on real data, but a table
/// with a handful of candidates keeps u close to the population's instead
/// of learning from nothing that agreement is common.
fn fit_mixture(
    patterns: &[(Pattern, u64)],
    mut mix: Mixture,
    frozen: &[bool],
    u_prior: Option<&[Vec<f64>]>,
    max_iterations: usize,
) -> Mixture {
    let classes = mix.shares.len();
    let total: f64 = patterns.iter().map(|&(_, c)| c as f64).sum();
    let mut posterior = vec![0.0; classes];
    mix.iterations = 0;
    mix.converged = false;
    while mix.iterations < max_iterations {
        mix.iterations += 1;
        let mut counts: Vec<Vec<Vec<f64>>> = mix
            .levels
            .iter()
            .map(|class| class.iter().map(|l| vec![0.0; l.len()]).collect())
            .collect();
        let mut class_counts = vec![0.0; classes];
        for &(p, c) in patterns {
            let mut sum = 0.0;
            for (k, post) in posterior.iter_mut().enumerate() {
                *post = mix.joint(k, p);
                sum += *post;
            }
            if sum <= 0.0 {
                continue;
            }
            for ((&q, class), size) in posterior.iter().zip(&mut counts).zip(&mut class_counts) {
                let w = q / sum * c as f64;
                *size += w;
                for (f, levels) in class.iter_mut().enumerate() {
                    if let Some(l) = level_of(p, f) {
                        levels[l] += w;
                    }
                }
            }
        }
        if let Some(prior) = u_prior {
            for class in counts.iter_mut().skip(1) {
                for (cf, pf) in class.iter_mut().zip(prior) {
                    for (x, &p) in cf.iter_mut().zip(pf) {
                        *x += U_PRIOR_PAIRS * p;
                    }
                }
            }
        }
        let mut change: f64 = 0.0;
        for k in 0..classes {
            if !frozen.get(k).copied().unwrap_or(false) {
                change = change.max(maximise(&mut mix.levels[k], &counts[k]));
            }
            let share = (class_counts[k] / total.max(1.0)).clamp(FLOOR, 1.0 - FLOOR);
            change = change.max((share - mix.shares[k]).abs());
            mix.shares[k] = share;
        }
        if change < 1e-6 {
            mix.converged = true;
            break;
        }
    }
    mix
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

/// A pair is a seed match when it agrees exactly on at least this share of
/// the fields both records have (and on at least three).
const SEED_EXACT_SHARE: f64 = 0.8;

/// Where EM starts: the candidates split by their comparison vector into
/// a match class (pairs that agree exactly almost everywhere), one
/// non-match class per blocking rule (the remaining pairs that agree on
/// that rule's fields, the first such rule) and one for the rest; each
/// class's level frequencies, add-half smoothed, are its start. Empty
/// classes are left out.
///
/// Why several non-match classes: the non-matches that blocking brings
/// together are not one population. Households share a surname, an address
/// and a phone; namesakes share both names; e-mail look-alikes share a
/// local part. Fitted as one class with independent fields, they fit
/// badly, and EM improves the likelihood by moving the match class onto
/// the largest of them: at 1M people the match class became "same e-mail
/// local part" (precision 0.03). With a class each, the match class keeps
/// the near-identical pairs.
fn seeded_start(
    patterns: &[(Pattern, u64)],
    levels: &[usize],
    rules: &[(String, Vec<usize>)],
    match_share: &dyn Fn(Pattern) -> f64,
) -> Mixture {
    // Class 0: match; 1..=rules: by rule; last: the rest.
    let n_classes = rules.len() + 2;
    let mut counts: Vec<Vec<Vec<f64>>> = (0..n_classes)
        .map(|_| levels.iter().map(|&n| vec![0.5; n]).collect())
        .collect();
    let mut sizes = vec![0.0; n_classes];
    // A rule's field "agrees" at its top two levels (only the top one for a
    // two-level field): blocking keys are often looser than exact.
    let agrees = |p: Pattern, f: usize| {
        level_of(p, f).is_some_and(|l| l >= levels[f].saturating_sub(2).max(1))
    };
    for &(p, c) in patterns {
        let present: Vec<(usize, usize)> = (0..levels.len())
            .filter_map(|f| level_of(p, f).map(|l| (f, l)))
            .collect();
        let class = rules
            .iter()
            .position(|(_, fields)| fields.iter().all(|&f| agrees(p, f)))
            .map_or(n_classes - 1, |r| r + 1);
        let r = match_share(p);
        for (k, w) in [(0, r * c as f64), (class, (1.0 - r) * c as f64)] {
            if w > 0.0 {
                for &(f, l) in &present {
                    counts[k][f][l] += w;
                }
                sizes[k] += w;
            }
        }
    }
    let mut names = vec!["match".to_owned()];
    names.extend(rules.iter().map(|(name, _)| format!("non-match: {name}")));
    names.push("non-match: other".to_owned());
    let total: f64 = sizes.iter().sum::<f64>().max(1.0);
    let mut mix = Mixture {
        names: Vec::new(),
        shares: Vec::new(),
        levels: Vec::new(),
        iterations: 0,
        converged: false,
    };
    for (k, ((name, class), size)) in names.into_iter().zip(counts).zip(sizes).enumerate() {
        // The match class always takes part, started at "agreement is
        // likely" when no pair is near-identical.
        if k > 0 && size == 0.0 {
            continue;
        }
        let class = if size == 0.0 {
            initial_m(&class)
        } else {
            class
                .into_iter()
                .map(|l| {
                    let sum: f64 = l.iter().sum();
                    l.into_iter().map(|x| x / sum).collect()
                })
                .collect()
        };
        mix.names.push(name);
        mix.shares.push((size / total).clamp(0.01, 0.99));
        mix.levels.push(class);
    }
    let sum: f64 = mix.shares.iter().sum();
    mix.shares.iter_mut().for_each(|s| *s /= sum);
    mix
}

/// 1 for a near-identical pair (exact on at least [`SEED_EXACT_SHARE`] of
/// the fields both records have, and on at least three), else 0.
fn seed_match(levels: &[usize]) -> impl Fn(Pattern) -> f64 + '_ {
    move |p| {
        let present = (0..levels.len()).filter_map(|f| level_of(p, f).map(|l| (f, l)));
        let (mut n, mut exact) = (0usize, 0usize);
        for (f, l) in present {
            n += 1;
            exact += usize::from(l + 1 == levels[f]);
        }
        f64::from(u8::from(
            n >= 3 && exact as f64 >= SEED_EXACT_SHARE * n as f64,
        ))
    }
}

/// Trains a model on the candidate pairs.
///
/// m, u and the match prior come from a latent-class mixture fitted by EM
/// on the candidates' comparison vectors (see [`seeded_start`]): m is the
/// match class, u the non-match classes pooled. u is estimated on the
/// candidates rather than on random pairs because the non-matches that
/// blocking brings together agree far more often than random pairs do
/// (households share a surname, a postcode and a phone); with the random
/// pairs' u fixed, EM converges to "every candidate is a match". The u of
/// random pairs is kept for the term-frequency adjustment, which is
/// relative to the population.
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
    let levels: Vec<usize> = u_random.iter().map(Vec::len).collect();
    let rules: Vec<(String, Vec<usize>)> = settings
        .blocking
        .iter()
        .zip(settings.resolved_blocking().unwrap_or_default())
        .map(|(rule, parts)| (rule.name.clone(), parts.iter().map(|p| p.field).collect()))
        .collect();
    // Two classes from the near-identical pairs first, then a class per
    // rule from where that ended.
    let start = seeded_start(&patterns, &levels, &[], &seed_match(&levels));
    let two = fit_mixture(
        &patterns,
        start,
        &[false, false],
        Some(&u_random),
        settings.em_max_iterations,
    );
    let start = seeded_start(&patterns, &levels, &rules, &|p| two.match_posterior(p));
    let frozen = vec![false; start.shares.len()];
    let fit = fit_mixture(
        &patterns,
        start,
        &frozen,
        Some(&u_random),
        settings.em_max_iterations,
    );
    let (m, u) = (fit.m(), fit.u());
    let fields = settings
        .fields
        .iter()
        .zip(m)
        .zip(u)
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
        lambda: fit.lambda(),
        fields,
        classes: fit
            .names
            .iter()
            .zip(&fit.shares)
            .zip(&fit.levels)
            .map(|((name, &share), levels)| LatentClass {
                name: name.clone(),
                share,
                levels: levels.clone(),
            })
            .collect(),
        em_iterations: fit.iterations,
        em_converged: fit.converged,
        u_pairs_sampled: sampled,
        trained_on_records: n_records,
        trained_on_candidate_pairs: n_pairs,
    }
}

/// Scores pairs with the fitted mixture: the match weight of a pair is
/// log2 of P(pattern, match) / P(pattern, non-match), the non-match side
/// summed over the non-match classes, plus term-frequency adjustments. With
/// one non-match class this is the classic Fellegi-Sunter sum of per-field
/// log2(m / u). With several, the pair is explained against the non-match
/// class it is most like (a per-field sum) plus one correction for the
/// other classes: e-mail look-alikes agree on the e-mail's local part far
/// more often than matches do, but they rarely also agree on the date of
/// birth and the postcode, and the class structure keeps that.
#[derive(Debug)]
pub struct Scorer {
    names: Vec<String>,
    /// `[class]` log2 share.
    log_share: Vec<f64>,
    /// `[class][field][level]` log2 probability.
    log_levels: Vec<Vec<Vec<f64>>>,
    /// `[field][value code]`: log2(u_exact / tf(value)) added on exact
    /// agreement, u_exact the chance that two random records agree exactly
    /// (the sum of squared value frequencies); empty when the field is not
    /// adjusted.
    tf_adjustment: Vec<Vec<f32>>,
}

/// The match weight of one pair, split as the waterfall shows it.
#[derive(Debug, Clone)]
pub struct Breakdown {
    /// The non-match class the pair is most like.
    pub against: String,
    /// log2 of the match share over that class's share.
    pub prior: f64,
    /// Per field, `None` when a value is missing: the level, P(level) in
    /// the match class and in `against`, their log2 ratio, and the
    /// term-frequency adjustment.
    pub fields: Vec<Option<FieldTerm>>,
    /// log2 of `against`'s probability over all non-match classes' (<= 0).
    pub other_classes: f64,
    pub weight: f64,
}

#[derive(Debug, Clone, Copy)]
pub struct FieldTerm {
    pub level: usize,
    pub m: f64,
    pub u: f64,
    pub weight: f64,
    pub tf: f64,
}

impl Scorer {
    pub fn new(model: &Model, fields: &[EncodedField]) -> Self {
        let classes = model.scoring_classes();
        let log_share = classes.iter().map(|c| c.share.max(FLOOR).log2()).collect();
        let log_levels = classes
            .iter()
            .map(|c| {
                c.levels
                    .iter()
                    .map(|l| l.iter().map(|p| p.max(FLOOR).log2()).collect())
                    .collect()
            })
            .collect();
        let tf_adjustment = model
            .fields
            .iter()
            .zip(fields)
            .map(|(fm, enc)| {
                if !fm.term_frequency {
                    return Vec::new();
                }
                // P(two random records agree exactly), from the value
                // counts themselves rather than a sample of pairs.
                let u_exact = enc
                    .counts
                    .iter()
                    .map(|&c| (f64::from(c) / enc.non_null.max(1) as f64).powi(2))
                    .sum::<f64>()
                    .max(FLOOR);
                (0..enc.values.len())
                    .map(|code| (u_exact / enc.term_frequency(code as u32)).log2() as f32)
                    .collect()
            })
            .collect();
        Self {
            names: classes.into_iter().map(|c| c.name).collect(),
            log_share,
            log_levels,
            tf_adjustment,
        }
    }

    /// log2 P(pattern, class k) over the fields present.
    fn class_log_probability(&self, k: usize, pattern: Pattern) -> f64 {
        let mut lp = self.log_share[k];
        for (f, levels) in self.log_levels[k].iter().enumerate() {
            if let Some(level) = level_of(pattern, f) {
                lp += levels[level];
            }
        }
        lp
    }

    /// The term-frequency adjustment of field `f` at `level` for record `a`.
    fn tf(&self, fields: &[EncodedField], f: usize, level: usize, a: usize) -> f64 {
        let exact = level + 1 == self.log_levels[0][f].len();
        if !exact || self.tf_adjustment[f].is_empty() {
            return 0.0;
        }
        let code = fields[f].codes[a] as usize;
        f64::from(self.tf_adjustment[f].get(code).copied().unwrap_or(0.0))
    }

    /// log2 P(pattern, non-match) and the non-match class most likely to
    /// have produced it.
    fn non_match(&self, pattern: Pattern) -> (f64, usize) {
        let lps: Vec<f64> = (1..self.log_share.len())
            .map(|k| self.class_log_probability(k, pattern))
            .collect();
        let (best, max) = lps
            .iter()
            .enumerate()
            .fold((0, f64::NEG_INFINITY), |acc, (i, &lp)| {
                if lp > acc.1 { (i, lp) } else { acc }
            });
        let sum: f64 = lps.iter().map(|lp| (lp - max).exp2()).sum();
        (max + sum.log2(), best + 1)
    }

    /// The match weight of records `a` and `b` with comparison vector `pattern`.
    pub fn weight(&self, fields: &[EncodedField], pattern: Pattern, a: usize) -> f64 {
        let mut w = self.class_log_probability(0, pattern) - self.non_match(pattern).0;
        for f in 0..self.tf_adjustment.len() {
            if let Some(level) = level_of(pattern, f) {
                w += self.tf(fields, f, level, a);
            }
        }
        w
    }

    /// [`Scorer::weight`] term by term.
    pub fn breakdown(&self, fields: &[EncodedField], pattern: Pattern, a: usize) -> Breakdown {
        let (non_match, k) = self.non_match(pattern);
        let terms: Vec<Option<FieldTerm>> = (0..self.log_levels[0].len())
            .map(|f| {
                level_of(pattern, f).map(|level| {
                    let (lm, lu) = (self.log_levels[0][f][level], self.log_levels[k][f][level]);
                    FieldTerm {
                        level,
                        m: lm.exp2(),
                        u: lu.exp2(),
                        weight: lm - lu,
                        tf: self.tf(fields, f, level, a),
                    }
                })
            })
            .collect();
        let prior = self.log_share[0] - self.log_share[k];
        let other_classes = self.class_log_probability(k, pattern) - non_match;
        let weight =
            prior + other_classes + terms.iter().flatten().map(|t| t.weight + t.tf).sum::<f64>();
        Breakdown {
            against: self.names[k].clone(),
            prior,
            fields: terms,
            other_classes,
            weight,
        }
    }
}

/// Match probability of a match weight.
pub fn probability(weight: f64) -> f64 {
    1.0 / (1.0 + (-weight).exp2())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// EM over pattern counts with u fixed (as Splink does): returns m, lambda,
    /// iterations and whether it converged. Every field takes part.
    fn expectation_maximisation(
        patterns: &[(Pattern, u64)],
        u: &[Vec<f64>],
        max_iterations: usize,
    ) -> (Vec<Vec<f64>>, f64, usize, bool) {
        let start = Mixture {
            names: vec!["match".into(), "non-match".into()],
            shares: vec![0.3, 0.7],
            levels: vec![initial_m(u), u.to_vec()],
            iterations: 0,
            converged: false,
        };
        let fit = fit_mixture(patterns, start, &[false, true], None, max_iterations);
        (fit.m(), fit.lambda(), fit.iterations, fit.converged)
    }

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

    /// Level frequencies of every field over `patterns`, add-half smoothed.
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

    /// Packs two-level fields: `true` agrees, `false` disagrees.
    fn pack(agree: &[bool]) -> Pattern {
        agree
            .iter()
            .enumerate()
            .map(|(f, &a)| (u32::from(a) + 1) << (3 * f))
            .sum()
    }

    #[test]
    fn em_with_free_u_is_not_fooled_by_what_blocking_made_common() {
        // Three two-level fields. Blocking made every candidate agree on
        // field 0, matches or not; matches also agree on fields 1 and 2,
        // non-matches rarely. With u of random pairs (agreement rare
        // everywhere) fixed, everything looks like a match; estimating u on
        // the candidates finds the 10% of true matches.
        let u_random = vec![vec![0.999, 0.001]; 3];
        let patterns = vec![
            (pack(&[true, true, true]), 1000),
            (pack(&[true, false, true]), 20),
            (pack(&[true, true, false]), 20),
            (pack(&[true, false, false]), 8500),
            (pack(&[true, true, false]), 250),
            (pack(&[true, false, true]), 250),
        ];
        let (_, lambda, _, _) = expectation_maximisation(&patterns, &u_random, 500);
        assert!(lambda > 0.9, "u fixed: {lambda}");
        let start = Mixture {
            names: vec!["match".into(), "non-match".into()],
            shares: vec![0.3, 0.7],
            levels: vec![
                initial_m(&u_random),
                level_frequencies(&patterns, &u_random),
            ],
            iterations: 0,
            converged: false,
        };
        let free = fit_mixture(&patterns, start, &[false, false], Some(&u_random), 500);
        assert!(
            free.lambda() > 0.08 && free.lambda() < 0.2,
            "u free: {}",
            free.lambda()
        );
        let u = free.u();
        assert!(u[0][1] > 0.99 && u[1][1] < 0.1, "{u:?}");
    }

    /// Candidates as blocking makes them at scale: few matches among many
    /// households (same surname, phone and postcode) and namesakes (same
    /// first and last name). Fields: first, last, dob, phone, postcode.
    fn crowded_candidates() -> Vec<(Pattern, u64)> {
        vec![
            // 1% matches: identical, or one field off.
            (pack(&[true, true, true, true, true]), 700),
            (pack(&[false, true, true, true, true]), 100),
            (pack(&[true, true, true, false, true]), 100),
            (pack(&[true, true, false, true, true]), 100),
            // Households: same surname, phone and postcode.
            (pack(&[false, true, false, true, true]), 25_000),
            (pack(&[false, false, false, true, true]), 8_000),
            // Namesakes: both names, sometimes the postcode.
            (pack(&[true, true, false, false, false]), 60_000),
            (pack(&[true, true, false, false, true]), 2_000),
            // Same date of birth and little else.
            (pack(&[false, false, true, false, false]), 4_000),
            (pack(&[false, true, true, false, false]), 1_000),
        ]
    }

    #[test]
    fn a_class_per_rule_keeps_the_match_class_on_matches() {
        let patterns = crowded_candidates();
        let levels = vec![2; 5];
        let u_random = vec![vec![0.999, 0.001]; 5];
        let rules = vec![
            ("phone".to_owned(), vec![3]),
            ("names".to_owned(), vec![0, 1]),
            ("dob".to_owned(), vec![2]),
        ];
        let start = seeded_start(&patterns, &levels, &rules, &seed_match(&levels));
        assert_eq!(
            start.names,
            [
                "match",
                "non-match: phone",
                "non-match: names",
                "non-match: dob"
            ]
        );
        let frozen = vec![false; start.shares.len()];
        let fit = fit_mixture(&patterns, start, &frozen, Some(&u_random), 500);
        let matches = 1000.0 / patterns.iter().map(|&(_, c)| c as f64).sum::<f64>();
        assert!(
            (fit.lambda() - matches).abs() < 0.3 * matches,
            "lambda {} for a match share of {matches}",
            fit.lambda()
        );
        let (m, u) = (fit.m(), fit.u());
        for f in 0..5 {
            let weight = (m[f][1] / u[f][1]).log2();
            assert!(m[f][1] > 0.85 && weight > 0.0, "field {f}: m {m:?} u {u:?}");
        }
    }

    #[test]
    fn one_non_match_class_is_pulled_off_the_matches() {
        // The same candidates fitted with a single non-match class, from
        // the same near-identical seed: the match class wanders off.
        let patterns = crowded_candidates();
        let u_random = vec![vec![0.999, 0.001]; 5];
        let start = seeded_start(&patterns, &[2; 5], &[], &seed_match(&[2; 5]));
        assert_eq!(start.names, ["match", "non-match: other"]);
        let fit = fit_mixture(&patterns, start, &[false, false], Some(&u_random), 500);
        let matches = 1000.0 / patterns.iter().map(|&(_, c)| c as f64).sum::<f64>();
        assert!(fit.lambda() > 3.0 * matches, "lambda {}", fit.lambda());
    }

    #[test]
    fn probability_of_weight() {
        assert!((probability(0.0) - 0.5).abs() < 1e-12);
        assert!(probability(10.0) > 0.999);
    }
}
