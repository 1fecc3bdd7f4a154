//! The information ceiling: how close could any model come to the true
//! propensities, seeing only what the pipeline sees?
//!
//! The oracle knows each person's hidden traits ([`Traits`]). A model sees
//! their purchases and how they answered earlier offers. The best forecast
//! from those is the Bayes one: the posterior over the traits given the
//! history, under this crate's own generative model, and the propensity
//! averaged over it. Its AUC and top-3 share, next to the oracle's on the
//! same rows, say how much of a trained model's gap to the oracle no model
//! could close.
//!
//! The posterior is exact on a grid: segment (4) x preferred category (4) x
//! favourite offer type (6) x price sensitivity (11 bins of its Beta prior)
//! x responsiveness (21 points of its normal prior), 22,176 points. The
//! forecaster is generous: it knows the generative model, and it sees each
//! person whole (perfect entity resolution), so a trained model can beat it
//! only by chance.
//!
//! What the history says of each trait (see [`crate::population`]):
//! - segment: the number of purchases and of offers received, and the
//!   responses;
//! - preferred category: which services were bought;
//! - price sensitivity: how far prices paid fall below list prices;
//! - favourite type and responsiveness: the responses to earlier offers
//!   (redeemed; opened without redeeming).

use crate::catalogue::{Offer, SERVICES, services_in};
use crate::population::{
    AMOUNT_NOISE_SD, Calendar, P_PREFERRED_PURCHASE, PREFERRED_CATEGORY_WEIGHTS,
    PRICE_SENSITIVE_DISCOUNT, PRICE_SENSITIVITY_BETA, RESPONSIVENESS_SD, RawChunk,
};
use crate::response::{Segment, Traits, open_probability, redemption_probability};

const CATEGORIES: usize = PREFERRED_CATEGORY_WEIGHTS.len();
const TYPES: usize = 6;
const PS_BINS: usize = 11;
const R_POINTS: usize = 21;
/// The responsiveness grid spans this many standard deviations each side.
const R_SPAN: f64 = 3.5;
/// Grid points whose posterior weight is below this share of the largest
/// are dropped before forecasting (their total mass is negligible).
const PRUNE: f64 = 1e-9;

/// What the forecaster is told besides the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Knowledge {
    /// Nothing: every trait is inferred from the history. This is the
    /// ceiling of any model of the pipeline's inputs.
    History,
    /// Every trait but responsiveness, which is inferred from the responses
    /// to earlier offers.
    AllButResponsiveness,
}

/// What the pipeline can see of one person before the cut-off.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub registration: i32,
    /// (service index, amount paid) of each purchase before the cut-off.
    pub purchases: Vec<(u8, f64)>,
    /// (offer index, opened, redeemed) of each offer sent before the
    /// cut-off.
    pub sends: Vec<(u16, bool, bool)>,
}

/// An offer sent on or after the cut-off: a row the forecast is judged on.
#[derive(Debug, Clone, Copy)]
pub struct LaterSend {
    /// Index of the person in the chunk.
    pub person: u32,
    pub offer: u16,
    pub redeemed: bool,
}

/// Splits a chunk's history at `cutoff`: each person's events before it,
/// and the sends on or after it.
pub fn split_chunk(chunk: &RawChunk, cutoff: i32) -> (Vec<History>, Vec<LaterSend>) {
    let mut histories: Vec<History> = chunk
        .people
        .iter()
        .map(|p| History {
            registration: p.registration,
            ..History::default()
        })
        .collect();
    let person_of = |record: u32| chunk.records[record as usize].person;
    for t in chunk.transactions.iter().filter(|t| t.date < cutoff) {
        histories[person_of(t.record) as usize]
            .purchases
            .push((t.service, t.amount));
    }
    let mut later = Vec::new();
    for i in &chunk.interactions {
        let person = person_of(i.record);
        if i.sent < cutoff {
            histories[person as usize]
                .sends
                .push((i.offer, i.opened == 1, i.redeemed == 1));
        } else {
            later.push(LaterSend {
                person,
                offer: i.offer,
                redeemed: i.redeemed == 1,
            });
        }
    }
    (histories, later)
}

/// The grid, its prior, and every offer's redemption probability at every
/// grid point, for one catalogue, calendar and cut-off.
pub struct Ceiling {
    offers: Vec<Offer>,
    calendar: Calendar,
    cutoff: i32,
    grid: Vec<Traits>,
    log_prior: Vec<f64>,
    /// Offer-major: `p[o * grid.len() + g]`.
    p: Vec<f64>,
    ln_p: Vec<f64>,
    ln_not_p: Vec<f64>,
    /// Per responsiveness point: ln P(opened | not redeemed) and its
    /// complement.
    ln_open: [f64; R_POINTS],
    ln_not_open: [f64; R_POINTS],
}

fn price_sensitivity_points() -> [(f64, f64); PS_BINS] {
    let (a, b) = PRICE_SENSITIVITY_BETA;
    let mut points = [(0.0, 0.0); PS_BINS];
    for (i, point) in points.iter_mut().enumerate() {
        let x = (i as f64 + 0.5) / PS_BINS as f64;
        *point = (x, x.powf(a - 1.0) * (1.0 - x).powf(b - 1.0));
    }
    normalise(&mut points);
    points
}

fn responsiveness_points() -> [(f64, f64); R_POINTS] {
    let mut points = [(0.0, 0.0); R_POINTS];
    let step = 2.0 * R_SPAN / (R_POINTS - 1) as f64;
    for (i, point) in points.iter_mut().enumerate() {
        let z = -R_SPAN + i as f64 * step;
        *point = (z * RESPONSIVENESS_SD, (-0.5 * z * z).exp());
    }
    normalise(&mut points);
    points
}

fn normalise(points: &mut [(f64, f64)]) {
    let total: f64 = points.iter().map(|p| p.1).sum();
    points.iter_mut().for_each(|p| p.1 /= total);
}

fn binomial_pmf(k: u32, n: u32, q: f64) -> f64 {
    if k > n {
        return 0.0;
    }
    let mut choose = 1.0;
    for i in 0..k {
        choose = choose * f64::from(n - i) / f64::from(i + 1);
    }
    choose * q.powi(k as i32) * (1.0 - q).powi((n - k) as i32)
}

/// Share of the days `from..=end` that fall before `cutoff`.
fn share_before(from: i32, end: i32, cutoff: i32) -> f64 {
    if from > end {
        return 0.0;
    }
    (f64::from((cutoff - from).max(0)) / f64::from(end - from + 1)).min(1.0)
}

impl Ceiling {
    pub fn new(offers: &[Offer], calendar: Calendar, cutoff: i32) -> Self {
        let ps = price_sensitivity_points();
        let rs = responsiveness_points();
        let mut grid = Vec::with_capacity(4 * CATEGORIES * TYPES * PS_BINS * R_POINTS);
        let mut log_prior = Vec::with_capacity(grid.capacity());
        for (segment, w_seg) in Segment::ALL.iter().zip(Segment::WEIGHTS) {
            for (category, w_cat) in PREFERRED_CATEGORY_WEIGHTS.iter().enumerate() {
                for favourite_type in 0..TYPES {
                    for &(price_sensitivity, w_ps) in &ps {
                        for &(responsiveness, w_r) in &rs {
                            grid.push(Traits {
                                segment: *segment,
                                preferred_category: category as u8,
                                price_sensitivity,
                                favourite_type: favourite_type as u8,
                                responsiveness,
                            });
                            log_prior.push((w_seg * w_cat * w_ps * w_r / TYPES as f64).ln());
                        }
                    }
                }
            }
        }
        let p: Vec<f64> = offers
            .iter()
            .flat_map(|o| grid.iter().map(move |t| redemption_probability(t, o)))
            .collect();
        let ln_p = p.iter().map(|p| p.ln()).collect();
        let ln_not_p = p.iter().map(|p| (1.0 - p).ln()).collect();
        let mut ln_open = [0.0; R_POINTS];
        let mut ln_not_open = [0.0; R_POINTS];
        for (j, &(r, _)) in rs.iter().enumerate() {
            let open = open_probability(&Traits {
                responsiveness: r,
                ..grid[0]
            });
            ln_open[j] = open.ln();
            ln_not_open[j] = (1.0 - open).ln();
        }
        Self {
            offers: offers.to_vec(),
            calendar,
            cutoff,
            grid,
            log_prior,
            p,
            ln_p,
            ln_not_p,
            ln_open,
            ln_not_open,
        }
    }

    pub fn offers(&self) -> &[Offer] {
        &self.offers
    }

    /// ln P(counts of purchases and of offers received before the cut-off
    /// | segment), up to a constant.
    fn segment_log_likelihood(&self, h: &History) -> [f64; 4] {
        let cal = &self.calendar;
        let active_from = h.registration.max(cal.history_start);
        let active_share =
            f64::from(cal.end - active_from + 1) / f64::from(cal.end - cal.history_start + 1);
        let q_purchase = share_before(active_from, cal.end, self.cutoff);
        let send_from = h.registration.max(cal.offers_start);
        let year_share = f64::from((cal.end - send_from + 1).max(0)) / 365.0;
        let q_send = share_before(send_from, cal.end, self.cutoff);
        let purchases = h.purchases.len() as u32;
        let sends = h.sends.len() as f64;
        Segment::ALL.map(|segment| {
            let (lo, hi) = segment.transactions();
            let p_count = (lo..=hi)
                .map(|full| {
                    let n = (f64::from(full) * active_share).round() as u32;
                    binomial_pmf(purchases, n, q_purchase)
                })
                .sum::<f64>()
                / f64::from(hi - lo + 1);
            // Sends are Poisson and dated uniformly: those before the
            // cut-off are Poisson with the mean thinned.
            let mean = segment.offers_per_year() * year_share * q_send;
            let ln_sends = if mean > 0.0 {
                sends * mean.ln() - mean
            } else if sends == 0.0 {
                0.0
            } else {
                f64::NEG_INFINITY
            };
            p_count.ln() + ln_sends
        })
    }

    /// ln P(services bought | preferred category), up to a constant.
    fn category_log_likelihood(h: &History) -> [f64; CATEGORIES] {
        std::array::from_fn(|c| {
            let in_category = services_in(c as u8).count();
            h.purchases
                .iter()
                .map(|&(service, _)| {
                    let own = usize::from(SERVICES[usize::from(service)].category) == c;
                    let p = (1.0 - P_PREFERRED_PURCHASE) / SERVICES.len() as f64
                        + if own {
                            P_PREFERRED_PURCHASE / in_category as f64
                        } else {
                            0.0
                        };
                    p.ln()
                })
                .sum()
        })
    }

    /// ln P(amounts paid | price sensitivity), up to a constant.
    fn price_log_likelihood(h: &History, sensitivity: f64) -> f64 {
        let shift = (1.0 - PRICE_SENSITIVE_DISCOUNT * sensitivity).ln();
        h.purchases
            .iter()
            .filter(|&&(_, amount)| amount > 0.0)
            .map(|&(service, amount)| {
                let z = ((amount / SERVICES[usize::from(service)].price).ln() - shift)
                    / AMOUNT_NOISE_SD;
                -0.5 * z * z
            })
            .sum()
    }

    /// The posterior over the grid given `h`; with
    /// [`Knowledge::AllButResponsiveness`], over responsiveness alone, the
    /// other traits being `truth`'s.
    pub fn posterior(&self, h: &History, knowledge: Knowledge, truth: &Traits) -> Posterior {
        match knowledge {
            Knowledge::History => self.grid_posterior(h),
            Knowledge::AllButResponsiveness => {
                let rs = responsiveness_points();
                let points: Vec<Traits> = rs
                    .iter()
                    .map(|&(r, _)| Traits {
                        responsiveness: r,
                        ..*truth
                    })
                    .collect();
                let log_weights = rs
                    .iter()
                    .zip(&points)
                    .map(|(&(_, prior), t)| {
                        let open = open_probability(t);
                        prior.ln()
                            + h.sends
                                .iter()
                                .map(|&(o, opened, redeemed)| {
                                    let p = redemption_probability(t, &self.offers[usize::from(o)]);
                                    match (redeemed, opened) {
                                        (true, _) => p.ln(),
                                        (false, true) => (1.0 - p).ln() + open.ln(),
                                        (false, false) => (1.0 - p).ln() + (1.0 - open).ln(),
                                    }
                                })
                                .sum::<f64>()
                    })
                    .collect();
                Posterior::from_log_weights(Points::Explicit(points), log_weights)
            }
        }
    }

    fn grid_posterior(&self, h: &History) -> Posterior {
        let seg = self.segment_log_likelihood(h);
        let cat = Self::category_log_likelihood(h);
        let ps: Vec<f64> = price_sensitivity_points()
            .iter()
            .map(|&(x, _)| Self::price_log_likelihood(h, x))
            .collect();
        let n = self.grid.len();
        let mut ll: Vec<f64> = (0..n)
            .map(|g| {
                let t = &self.grid[g];
                let ps_index = (g / R_POINTS) % PS_BINS;
                self.log_prior[g]
                    + seg[t.segment as usize]
                    + cat[usize::from(t.preferred_category)]
                    + ps[ps_index]
            })
            .collect();
        for &(o, opened, redeemed) in &h.sends {
            let at = usize::from(o) * n;
            if redeemed {
                ll.iter_mut()
                    .zip(&self.ln_p[at..at + n])
                    .for_each(|(l, x)| *l += x);
            } else {
                let open = if opened {
                    &self.ln_open
                } else {
                    &self.ln_not_open
                };
                ll.iter_mut()
                    .zip(&self.ln_not_p[at..at + n])
                    .enumerate()
                    .for_each(|(g, (l, x))| *l += x + open[g % R_POINTS]);
            }
        }
        let support: Vec<u32> = (0..n as u32).collect();
        Posterior::from_log_weights(Points::Grid(support), ll)
    }
}

enum Points {
    /// Indices into the ceiling's grid.
    Grid(Vec<u32>),
    Explicit(Vec<Traits>),
}

/// A posterior over traits: weighted points, the negligible ones dropped.
pub struct Posterior {
    points: Points,
    weights: Vec<f64>,
}

impl Posterior {
    fn from_log_weights(points: Points, log_weights: Vec<f64>) -> Self {
        let max = log_weights
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        // Every point impossible cannot happen for a history the generator
        // made; fall back to equal weights rather than NaN.
        let weight = |l: f64| {
            if max.is_finite() {
                (l - max).exp()
            } else {
                1.0
            }
        };
        let keep: Vec<usize> = (0..log_weights.len())
            .filter(|&i| weight(log_weights[i]) >= PRUNE)
            .collect();
        let mut weights: Vec<f64> = keep.iter().map(|&i| weight(log_weights[i])).collect();
        let total: f64 = weights.iter().sum();
        weights.iter_mut().for_each(|w| *w /= total);
        let points = match points {
            Points::Grid(g) => Points::Grid(keep.iter().map(|&i| g[i]).collect()),
            Points::Explicit(t) => Points::Explicit(keep.iter().map(|&i| t[i]).collect()),
        };
        Self { points, weights }
    }

    /// Points with weight kept after pruning.
    pub fn len(&self) -> usize {
        self.weights.len()
    }

    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    /// E[redemption probability of offer `offer` | history].
    pub fn forecast(&self, ceiling: &Ceiling, offer: usize) -> f64 {
        match &self.points {
            Points::Grid(g) => {
                let row = &ceiling.p[offer * ceiling.grid.len()..];
                g.iter()
                    .zip(&self.weights)
                    .map(|(&g, w)| w * row[g as usize])
                    .sum()
            }
            Points::Explicit(t) => t
                .iter()
                .zip(&self.weights)
                .map(|(t, w)| w * redemption_probability(t, &ceiling.offers[offer]))
                .sum(),
        }
    }

    /// E[f(traits) | history], for checking what the posterior learnt.
    pub fn mean_of(&self, ceiling: &Ceiling, f: impl Fn(&Traits) -> f64) -> f64 {
        match &self.points {
            Points::Grid(g) => g
                .iter()
                .zip(&self.weights)
                .map(|(&g, w)| w * f(&ceiling.grid[g as usize]))
                .sum(),
            Points::Explicit(t) => t.iter().zip(&self.weights).map(|(t, w)| w * f(t)).sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue;
    use crate::population::{ChunkPlan, generate_chunk};

    const END: i32 = 20_634; // 2026-06-30

    /// The 8-offer plan and its ceiling at train's test cut-off.
    fn at_test_cutoff() -> (ChunkPlan, i32, Ceiling) {
        let plan = plan(8);
        let cutoff = END - 29;
        let ceiling = Ceiling::new(&plan.offers, plan.calendar, cutoff);
        (plan, cutoff, ceiling)
    }

    fn plan(offers: usize) -> ChunkPlan {
        ChunkPlan {
            seed: 11,
            calendar: Calendar::ending(END),
            offers: catalogue::offers(offers, 11),
            truth_stride: 1,
        }
    }

    #[test]
    fn the_grid_prior_matches_the_generator() {
        // With nothing seen, the forecast is the population's mean
        // propensity; the generated people give the same mean.
        let plan = plan(8);
        let ceiling = Ceiling::new(&plan.offers, plan.calendar, END + 1);
        let nobody = History {
            registration: END + 1,
            ..History::default()
        };
        let post = ceiling.posterior(&nobody, Knowledge::History, &ceiling.grid[0]);
        assert_eq!(post.len(), ceiling.grid.len());
        let chunk = generate_chunk(&plan, 0, 0..10_000);
        for (o, offer) in plan.offers.iter().enumerate() {
            let prior_mean = post.forecast(&ceiling, o);
            let people_mean = chunk
                .people
                .iter()
                .map(|p| redemption_probability(&p.traits, offer))
                .sum::<f64>()
                / chunk.people.len() as f64;
            assert!(
                (prior_mean - people_mean).abs() < 0.006,
                "offer {o}: grid prior {prior_mean} against the people's {people_mean}"
            );
        }
    }

    #[test]
    fn redemptions_raise_the_forecast_and_ignored_offers_lower_it() {
        let (plan, _, ceiling) = at_test_cutoff();
        let person = |redeemed: bool| History {
            registration: END - 1000,
            purchases: vec![(0, 70.0), (1, 45.0), (3, 280.0)],
            sends: (0..4).map(|o| (o, redeemed, redeemed)).collect(),
        };
        let any = ceiling.grid[0];
        let keen = ceiling.posterior(&person(true), Knowledge::History, &any);
        let cold = ceiling.posterior(&person(false), Knowledge::History, &any);
        for o in 0..plan.offers.len() {
            assert!(keen.forecast(&ceiling, o) > cold.forecast(&ceiling, o));
        }
        let r = |t: &Traits| t.responsiveness;
        assert!(keen.mean_of(&ceiling, r) > 0.2 && cold.mean_of(&ceiling, r) < 0.0);
    }

    #[test]
    fn the_forecast_is_calibrated_and_learns_the_traits() {
        // Posterior forecasts on generated people: calibrated against the
        // later outcomes, and closer to the truth than the prior. A
        // likelihood that drifted from the generator fails here.
        let (plan, cutoff, ceiling) = at_test_cutoff();
        let mut forecast = Vec::new();
        let mut outcome = Vec::new();
        let (mut on_true_category, mut r_error, mut r_prior_error, mut people) =
            (0.0, 0.0, 0.0, 0.0);
        for index in 0..3 {
            let start = index as u64 * 10_000;
            let chunk = generate_chunk(&plan, index, start..start + 10_000);
            let (histories, later) = split_chunk(&chunk, cutoff);
            let posts: Vec<Posterior> = histories
                .iter()
                .zip(&chunk.people)
                .map(|(h, p)| ceiling.posterior(h, Knowledge::History, &p.traits))
                .collect();
            for s in &later {
                forecast.push(posts[s.person as usize].forecast(&ceiling, usize::from(s.offer)));
                outcome.push(f64::from(u8::from(s.redeemed)));
            }
            for ((post, p), h) in posts.iter().zip(&chunk.people).zip(&histories) {
                if h.sends.len() < 3 {
                    continue;
                }
                let truth = p.traits;
                on_true_category += post.mean_of(&ceiling, |t| {
                    f64::from(u8::from(t.preferred_category == truth.preferred_category))
                });
                let r = post.mean_of(&ceiling, |t| t.responsiveness);
                r_error += (r - truth.responsiveness).powi(2);
                r_prior_error += truth.responsiveness.powi(2);
                people += 1.0;
            }
        }
        let mut order: Vec<usize> = (0..forecast.len()).collect();
        order.sort_by(|&a, &b| forecast[a].total_cmp(&forecast[b]));
        for part in order.chunks(order.len().div_ceil(5)) {
            let mean = |v: &[f64]| part.iter().map(|&i| v[i]).sum::<f64>() / part.len() as f64;
            let (predicted, observed) = (mean(&forecast), mean(&outcome));
            assert!(
                (predicted - observed).abs() < 0.02,
                "quintile: forecast {predicted:.4}, observed {observed:.4}"
            );
        }
        // Prior share on the true category: sum of squared weights, 0.285.
        assert!(
            on_true_category / people > 0.5,
            "{}",
            on_true_category / people
        );
        assert!(
            r_error < 0.9 * r_prior_error,
            "{r_error} vs {r_prior_error}"
        );
    }

    #[test]
    fn knowing_the_other_traits_beats_inferring_them() {
        let (plan, cutoff, ceiling) = at_test_cutoff();
        let chunk = generate_chunk(&plan, 0, 0..10_000);
        let (histories, _) = split_chunk(&chunk, cutoff);
        let (mut inferred, mut told) = (0.0, 0.0);
        for (h, p) in histories.iter().zip(&chunk.people) {
            let post = ceiling.posterior(h, Knowledge::History, &p.traits);
            let partial = ceiling.posterior(h, Knowledge::AllButResponsiveness, &p.traits);
            for (o, offer) in plan.offers.iter().enumerate() {
                let truth = redemption_probability(&p.traits, offer);
                inferred += (post.forecast(&ceiling, o) - truth).powi(2);
                told += (partial.forecast(&ceiling, o) - truth).powi(2);
            }
        }
        assert!(told < 0.5 * inferred, "{told} vs {inferred}");
    }
}
