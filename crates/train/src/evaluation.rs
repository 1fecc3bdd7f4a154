//! Evaluation without the generator's truth: how well the model ranks the
//! redemptions of the temporal test window, next to three baselines on the
//! same rows (the offer type's past redemption rate, the customer's past
//! redemption rate, the segment's candidate order), and its lift over the
//! best of them. The rows are those of the temporal AUC: the sends of the
//! test window, labelled by `redeemed`. The definitions are in the crate
//! README ("Evaluation without truth").
//!
//! Ties are shared evenly: where a cut (the top `k` of a customer, the top
//! 10% of all rows) falls inside a group of equal scores, each member of
//! the group counts for the share of the remaining places it would get on
//! average under a random order, as the AUC counts ties half. A baseline
//! that scores all of a customer's sends alike (the customer's own rate)
//! therefore gets the figures of a random order within that customer.

use std::collections::{BTreeMap, HashMap};

use pipeline_core::artifacts::ClusterCandidates;
use pipeline_core::calendar::format_epoch_days;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};
use crate::examples::{Catalogue, Sends, Snapshot};
use crate::metrics;
use crate::shrinkage::{Cell, pseudo_count, smoothed_rate};

/// The cut-offs `k` of the per-customer figures unless `--eval-k` says.
pub const DEFAULT_KS: [usize; 3] = [1, 3, 5];
/// The share of all scored rows whose precision is `precision_at_10pct`.
pub const TOP_PERCENT: usize = 10;

/// The fewest test-window sends, redemptions and non-redeemed sends the
/// figures are computed on. Below them a figure's sampling error is as
/// large as the differences it is there to show: with 10 redemptions among
/// 100 sends an AUC of 0.70 has a standard error of about 0.1 (Hanley and
/// McNeil), so it cannot be told from chance at two standard errors, and
/// precision@10% rests on 10 rows.
pub const MIN_TEST_SENDS: usize = 100;
pub const MIN_TEST_REDEMPTIONS: usize = 10;

/// Bounds and fallback of the baselines' pseudo-counts (as the segments').
const MIN_SMOOTHING: f64 = 1.0;
const MAX_SMOOTHING: f64 = 10_000.0;
const FALLBACK_SMOOTHING: f64 = 20.0;

/// Refuses a test window too small to measure anything, before any
/// training work, saying what to change.
pub fn check_test_window(
    sends: &Sends,
    rows: &[usize],
    window: Snapshot,
    window_days: u32,
) -> Result<()> {
    let redemptions = rows.iter().filter(|&&r| sends.redeemed[r] > 0.5).count();
    let kept = rows.len() - redemptions;
    if rows.len() >= MIN_TEST_SENDS
        && redemptions >= MIN_TEST_REDEMPTIONS
        && kept >= MIN_TEST_REDEMPTIONS
    {
        return Ok(());
    }
    Err(TrainError::NotEnoughData(format!(
        "the test window {} (the last {window_days} days of sends, up to {}) holds {} sends, \
         {redemptions} redeemed and {kept} not; the evaluation needs at least {MIN_TEST_SENDS} \
         sends, {MIN_TEST_REDEMPTIONS} redeemed and {MIN_TEST_REDEMPTIONS} not, or its figures \
         are noise: pass a longer --window-days (every window, the test window included, is that \
         long) or train on more data (more customers, or a longer history of sends)",
        window.describe(),
        format_epoch_days(window.end - 1),
        rows.len(),
    )))
}

/// Precision, hit rate and recall of redemptions in each customer's top `k`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AtK {
    /// Mean over customers with a send of (redeemed among their top `k`) /
    /// min(k, their sends).
    pub precision: Option<f64>,
    /// Share of the customers with a redemption who have one in their top `k`.
    pub hit: Option<f64>,
    /// Mean over customers with a redemption of (redeemed among their top
    /// `k`) / (their redemptions).
    pub recall: Option<f64>,
}

/// The figures of one scoring of the test rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub auc: Option<f64>,
    /// Share redeemed among the top 10% of all rows by score.
    pub precision_at_10pct: Option<f64>,
    /// By `k`.
    pub at_k: BTreeMap<usize, AtK>,
}

/// The baselines, each scored on the same rows as the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baselines {
    pub offer_type_rate: Figures,
    pub customer_rate: Figures,
    pub segment_candidate_order: Figures,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Baseline {
    OfferTypeRate,
    CustomerRate,
    SegmentCandidateOrder,
}

impl Baselines {
    fn each(&self) -> [(Baseline, &Figures); 3] {
        [
            (Baseline::OfferTypeRate, &self.offer_type_rate),
            (Baseline::CustomerRate, &self.customer_rate),
            (
                Baseline::SegmentCandidateOrder,
                &self.segment_candidate_order,
            ),
        ]
    }
}

/// The model's figure against the best baseline's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lift {
    pub best_baseline: Baseline,
    pub baseline: f64,
    pub model: f64,
    /// model / baseline (absent when the baseline is 0).
    pub ratio: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AtKLift {
    pub precision: Option<Lift>,
    pub hit: Option<Lift>,
    pub recall: Option<Lift>,
}

/// The lift over the best baseline, figure by figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lifts {
    pub auc: Option<Lift>,
    pub precision_at_10pct: Option<Lift>,
    pub at_k: BTreeMap<usize, AtKLift>,
}

/// Pseudo-counts of the baselines' smoothed rates (empirical Bayes, toward
/// the overall past rate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineSmoothing {
    pub past_sends: usize,
    pub past_rate: f64,
    pub offer_type_rate: f64,
    pub customer_rate: f64,
}

/// The `evaluation` section of `metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub rows: usize,
    pub redemptions: usize,
    pub customers: usize,
    pub customers_with_redemption: usize,
    /// Rows in the top 10% (`precision_at_10pct`).
    pub top_rows: usize,
    pub model: Figures,
    pub baselines: Baselines,
    pub lift_over_best_baseline: Lifts,
    pub smoothing: BaselineSmoothing,
}

/// What [`evaluate`] needs: the test rows, the model's scores and what the
/// baselines know at the test cut-off.
pub struct TestWindow<'a> {
    pub sends: &'a Sends,
    /// The test rows (indices into `sends`), scored by the model in `scores`.
    pub rows: &'a [usize],
    pub scores: &'a [f64],
    pub cutoff: i32,
    pub catalogue: &'a Catalogue,
    /// The segments' candidates from the sends before the cut-off.
    pub candidates: &'a ClusterCandidates,
    /// customer id -> segment at the cut-off.
    pub segment_of: &'a HashMap<String, u32>,
    pub ks: &'a [usize],
}

/// The figures of the model and of the baselines on the test rows.
pub fn evaluate(w: &TestWindow) -> Evaluation {
    let labels: Vec<f32> = w.rows.iter().map(|&r| w.sends.redeemed[r]).collect();
    let groups: Vec<u32> = w.rows.iter().map(|&r| w.sends.customer[r]).collect();
    let past = PastRates::before(w.sends, w.cutoff, w.catalogue);
    let type_scores: Vec<f64> = w
        .rows
        .iter()
        .map(|&r| past.offer_type(w.sends.offer[r] as usize))
        .collect();
    let customer_scores: Vec<f64> = groups.iter().map(|&c| past.customer(c)).collect();
    let order_scores = segment_order_scores(w);
    let judge = |scores: &[f64]| figures(scores, &labels, &groups, w.ks);
    let model = judge(w.scores);
    let baselines = Baselines {
        offer_type_rate: judge(&type_scores),
        customer_rate: judge(&customer_scores),
        segment_candidate_order: judge(&order_scores),
    };
    let lift_over_best_baseline = lifts(&model, &baselines);
    let (customers, customers_with_redemption) = customer_counts(&labels, &groups);
    Evaluation {
        rows: labels.len(),
        redemptions: labels.iter().filter(|&&l| l > 0.5).count(),
        customers,
        customers_with_redemption,
        top_rows: top_rows(labels.len()),
        model,
        baselines,
        lift_over_best_baseline,
        smoothing: past.smoothing,
    }
}

/// Rows in the top [`TOP_PERCENT`] of `n` (rounded up: at least one).
fn top_rows(n: usize) -> usize {
    (n * TOP_PERCENT).div_ceil(100)
}

/// (customers with a send, customers with a redemption).
fn customer_counts(labels: &[f32], groups: &[u32]) -> (usize, usize) {
    let mut redeemed: HashMap<u32, bool> = HashMap::new();
    for (&g, &l) in groups.iter().zip(labels) {
        *redeemed.entry(g).or_default() |= l > 0.5;
    }
    (redeemed.len(), redeemed.values().filter(|&&r| r).count())
}

/// The past redemption rates of offer types and customers, smoothed toward
/// the overall past rate.
struct PastRates {
    offer_type_of: Vec<usize>,
    offer_type_rates: Vec<f64>,
    customer_cells: HashMap<u32, Cell>,
    smoothing: BaselineSmoothing,
}

impl PastRates {
    /// From the sends strictly before `cutoff`, the convention of the
    /// features' offer history.
    fn before(sends: &Sends, cutoff: i32, catalogue: &Catalogue) -> Self {
        let mut type_index: HashMap<&str, usize> = HashMap::new();
        let offer_type_of: Vec<usize> = catalogue
            .offers
            .iter()
            .map(|o| {
                let next = type_index.len();
                *type_index.entry(o.offer_type.as_str()).or_insert(next)
            })
            .collect();
        let empty = Cell {
            sent: 0.0,
            redeemed: 0.0,
            prior: 0.0,
        };
        let mut types = vec![empty; type_index.len()];
        let mut customers: HashMap<u32, Cell> = HashMap::new();
        let (mut sent, mut redeemed) = (0.0, 0.0);
        for i in (0..sends.len()).filter(|&i| sends.day[i] < cutoff) {
            let y = f64::from(sends.redeemed[i]);
            let t = &mut types[offer_type_of[sends.offer[i] as usize]];
            t.sent += 1.0;
            t.redeemed += y;
            let c = customers.entry(sends.customer[i]).or_insert(empty);
            c.sent += 1.0;
            c.redeemed += y;
            sent += 1.0;
            redeemed += y;
        }
        // Laplace's rule keeps the prior inside (0, 1) on any history.
        let past_rate = (redeemed + 1.0) / (sent + 2.0);
        let with_prior = |c: &mut Cell| c.prior = past_rate;
        types.iter_mut().for_each(with_prior);
        customers.values_mut().for_each(with_prior);
        // One fitted parameter, the overall rate.
        let estimate = |cells: Vec<Cell>| {
            pseudo_count(cells, 1, MIN_SMOOTHING, MAX_SMOOTHING).unwrap_or(FALLBACK_SMOOTHING)
        };
        let type_m = estimate(types.clone());
        let customer_m = estimate(customers.values().copied().collect());
        Self {
            offer_type_of,
            offer_type_rates: types.iter().map(|&c| smoothed_rate(c, type_m)).collect(),
            customer_cells: customers,
            smoothing: BaselineSmoothing {
                past_sends: sent as usize,
                past_rate,
                offer_type_rate: type_m,
                customer_rate: customer_m,
            },
        }
    }

    fn offer_type(&self, offer: usize) -> f64 {
        self.offer_type_rates[self.offer_type_of[offer]]
    }

    /// A customer without past sends gets the overall past rate.
    fn customer(&self, customer: u32) -> f64 {
        self.customer_cells
            .get(&customer)
            .map_or(self.smoothing.past_rate, |&c| {
                smoothed_rate(c, self.smoothing.customer_rate)
            })
    }
}

/// Minus the offer's place in its customer's segment's candidate list;
/// offers outside the list, and customers without a segment, share the
/// last place.
fn segment_order_scores(w: &TestWindow) -> Vec<f64> {
    let last = -(w.candidates.values().map(Vec::len).max().unwrap_or(0) as f64);
    w.rows
        .iter()
        .map(|&r| {
            let customer = &w.sends.customer_ids[w.sends.customer[r] as usize];
            let offer = &w.catalogue.ids[w.sends.offer[r] as usize];
            w.segment_of
                .get(customer)
                .and_then(|s| w.candidates.get(s))
                .and_then(|list| list.iter().position(|o| o == offer))
                .map_or(last, |place| -(place as f64))
        })
        .collect()
}

/// Redeemed rows expected among the first `slots` of `items` ordered by
/// score (best first), ties shared evenly, and the probability that at
/// least one is among them. `items` are (score, redeemed) sorted by score,
/// best first.
fn expected_in_top(items: &[(f64, bool)], slots: usize) -> (f64, f64) {
    // `sure`: redeemed rows wholly above the cut.
    let (mut taken, mut sure) = (0usize, 0usize);
    let mut i = 0;
    while i < items.len() && taken < slots {
        let mut j = i;
        while j < items.len() && items[j].0 == items[i].0 {
            j += 1;
        }
        let group = j - i;
        let positives = items[i..j].iter().filter(|(_, y)| *y).count();
        let take = group.min(slots - taken);
        if take < group {
            // The cut falls inside the group: a random `take` of it.
            let hits = sure as f64 + positives as f64 * take as f64 / group as f64;
            let miss: f64 = (0..take)
                .map(|t| (group - positives).saturating_sub(t) as f64 / (group - t) as f64)
                .product();
            let any = if sure > 0 { 1.0 } else { 1.0 - miss };
            return (hits, any);
        }
        sure += positives;
        taken += take;
        i = j;
    }
    (sure as f64, if sure > 0 { 1.0 } else { 0.0 })
}

/// Sorts (score, redeemed) best first.
fn ranked(mut items: Vec<(f64, bool)>) -> Vec<(f64, bool)> {
    items.sort_by(|a, b| b.0.total_cmp(&a.0));
    items
}

/// The figures of `scores` on the rows (`labels`, customer `groups`).
pub fn figures(scores: &[f64], labels: &[f32], groups: &[u32], ks: &[usize]) -> Figures {
    let all = ranked(
        scores
            .iter()
            .zip(labels)
            .map(|(&s, &l)| (s, l > 0.5))
            .collect(),
    );
    let top = top_rows(all.len());
    let precision_at_10pct = (top > 0).then(|| expected_in_top(&all, top).0 / top as f64);
    let mut by_customer: BTreeMap<u32, Vec<(f64, bool)>> = BTreeMap::new();
    for ((&s, &l), &g) in scores.iter().zip(labels).zip(groups) {
        by_customer.entry(g).or_default().push((s, l > 0.5));
    }
    let customers: Vec<Vec<(f64, bool)>> = by_customer.into_values().map(ranked).collect();
    let at_k = ks
        .iter()
        .map(|&k| (k, at_k(&customers, k)))
        .collect::<BTreeMap<_, _>>();
    Figures {
        auc: metrics::auc(scores, labels),
        precision_at_10pct,
        at_k,
    }
}

/// Precision, hit rate and recall at `k` over customers whose sends are
/// ranked best first.
fn at_k(customers: &[Vec<(f64, bool)>], k: usize) -> AtK {
    let (mut precision, mut hit, mut recall) = (0.0, 0.0, 0.0);
    let (mut with_send, mut with_redemption) = (0usize, 0usize);
    for sends in customers {
        let slots = k.min(sends.len());
        if slots == 0 {
            continue;
        }
        let (hits, any) = expected_in_top(sends, slots);
        with_send += 1;
        precision += hits / slots as f64;
        let positives = sends.iter().filter(|(_, y)| *y).count();
        if positives > 0 {
            with_redemption += 1;
            hit += any;
            recall += hits / positives as f64;
        }
    }
    let mean = |total: f64, n: usize| (n > 0).then(|| total / n as f64);
    AtK {
        precision: mean(precision, with_send),
        hit: mean(hit, with_redemption),
        recall: mean(recall, with_redemption),
    }
}

/// The model's figure against the best baseline's (`None` when either is
/// absent).
fn lift(model: Option<f64>, baselines: [(Baseline, Option<f64>); 3]) -> Option<Lift> {
    let model = model?;
    let (best_baseline, baseline) = baselines
        .into_iter()
        .filter_map(|(b, v)| Some((b, v?)))
        // On a tie the first baseline in table order.
        .reduce(|best, next| if next.1 > best.1 { next } else { best })?;
    Some(Lift {
        best_baseline,
        baseline,
        model,
        ratio: (baseline > 0.0).then(|| model / baseline),
    })
}

fn lifts(model: &Figures, baselines: &Baselines) -> Lifts {
    let each = baselines.each();
    let of = |pick: &dyn Fn(&Figures) -> Option<f64>| {
        lift(pick(model), each.map(|(b, figures)| (b, pick(figures))))
    };
    let at_k = model
        .at_k
        .keys()
        .map(|&k| {
            let at = |f: &Figures| f.at_k.get(&k).cloned();
            (
                k,
                AtKLift {
                    precision: of(&|f| at(f)?.precision),
                    hit: of(&|f| at(f)?.hit),
                    recall: of(&|f| at(f)?.recall),
                },
            )
        })
        .collect();
    Lifts {
        auc: of(&|f| f.auc),
        precision_at_10pct: of(&|f| f.precision_at_10pct),
        at_k,
    }
}

/// A figure for a log line: 4 decimals, or `n/a`; never `NaN`.
pub fn shown(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.4}"),
        _ => "n/a".to_owned(),
    }
}

impl Evaluation {
    /// The truth-free part of train's closing line: the model's AUC,
    /// precision@10% and hit@k (the smallest k), each with the best
    /// baseline's.
    pub fn summary(&self) -> String {
        let l = &self.lift_over_best_baseline;
        let versus = |lift: &Option<Lift>| {
            lift.as_ref().map_or_else(
                || "n/a".to_owned(),
                |x| {
                    format!(
                        "{} (best baseline {} {})",
                        shown(Some(x.model)),
                        baseline_name(x.best_baseline),
                        shown(Some(x.baseline))
                    )
                },
            )
        };
        // The smallest k: with few sends per customer in a window, the
        // larger ones tell little (every send is in the top k).
        let k = l.at_k.keys().next().copied();
        let hit = k.map_or_else(String::new, |k| {
            format!(", hit@{k} {}", versus(&l.at_k[&k].hit))
        });
        format!(
            "temporal AUC {}, precision@{TOP_PERCENT}% {}{hit}",
            versus(&l.auc),
            versus(&l.precision_at_10pct),
        )
    }
}

fn baseline_name(b: Baseline) -> &'static str {
    match b {
        Baseline::OfferTypeRate => "offer-type rate",
        Baseline::CustomerRate => "customer rate",
        Baseline::SegmentCandidateOrder => "segment order",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline_core::ranker_input::OfferAttributes;
    use polars::prelude::*;

    fn close(got: Option<f64>, want: f64) {
        let got = got.unwrap_or(f64::NAN);
        assert!((got - want).abs() < 1e-9, "got {got}, want {want}");
    }

    #[test]
    fn figures_of_a_hand_ranked_window() {
        // Customer 0: scores 0.9 0.8 0.3 0.1, redeemed 0 1 1 0; customer 1:
        // 0.7 0.2, redeemed 1 0; customer 2: 0.6 0.5 0.4, none redeemed;
        // customer 3: one send at 0.05, redeemed.
        let scores = [0.9, 0.8, 0.3, 0.1, 0.7, 0.2, 0.6, 0.5, 0.4, 0.05];
        let labels = [0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0];
        let groups = [0, 0, 0, 0, 1, 1, 2, 2, 2, 3];
        let f = figures(&scores, &labels, &groups, &[1, 3]);
        // Positive-negative pairs in order: 0.8 beats 5 of 6 negatives,
        // 0.3 beats 2, 0.7 beats 5, 0.05 none: 12 / 24.
        close(f.auc, 0.5);
        // The top 10% of 10 rows is the 0.9 row, not redeemed.
        close(f.precision_at_10pct, 0.0);
        // @1: customers 1 and 3 have a redemption on top, 0 and 2 not.
        let at1 = &f.at_k[&1];
        close(at1.precision, 2.0 / 4.0);
        close(at1.hit, 2.0 / 3.0);
        close(at1.recall, 2.0 / 3.0);
        // @3: customer 0 has 2 of its top 3 (recall 2/2), customer 1
        // 1 of its 2 sends, customer 2 none, customer 3 1 of 1.
        let at3 = &f.at_k[&3];
        close(at3.precision, (2.0 / 3.0 + 0.5 + 0.0 + 1.0) / 4.0);
        close(at3.hit, 1.0);
        close(at3.recall, 1.0);
    }

    #[test]
    fn ties_share_the_places_they_straddle() {
        // One redemption among four equal scores: a random pick of 1 finds
        // it with probability 1/4, of 3 with 3/4.
        let tied = [(0.5, true), (0.5, false), (0.5, false), (0.5, false)];
        assert_eq!(expected_in_top(&tied, 1), (0.25, 0.25));
        let (hits, any) = expected_in_top(&tied, 3);
        assert!((hits - 0.75).abs() < 1e-12 && (any - 0.75).abs() < 1e-12);
        // Two of four, pick 1: half a redemption, a hit half the time.
        let two = [(0.5, true), (0.5, true), (0.5, false), (0.5, false)];
        assert_eq!(expected_in_top(&two, 1), (0.5, 0.5));
        // A redemption above the tie makes the hit sure; the tie of three
        // with one redemption adds a third for the one place left.
        let above = [(0.9, true), (0.5, false), (0.5, true), (0.5, false)];
        let (hits, any) = expected_in_top(&above, 2);
        assert!((hits - 4.0 / 3.0).abs() < 1e-12 && any == 1.0);
        // A constant score within a customer is a random order.
        let f = figures(&[0.3; 4], &[1.0, 0.0, 0.0, 0.0], &[7; 4], &[1]);
        close(f.at_k[&1].precision, 0.25);
        close(f.auc, 0.5);
    }

    fn sends(rows: &[(u32, u32, i32, bool)]) -> Sends {
        Sends {
            customer_ids: vec!["C0".into(), "C1".into(), "C2".into()],
            customer: rows.iter().map(|r| r.0).collect(),
            record_ids: StringChunked::from_iter_values(
                "record_id".into(),
                rows.iter().map(|r| format!("R{}", r.0)),
            ),
            offer: rows.iter().map(|r| r.1).collect(),
            day: rows.iter().map(|r| r.2).collect(),
            redeemed: rows.iter().map(|r| f32::from(u8::from(r.3))).collect(),
            unknown_offers: 0,
            outside_validity: 0,
        }
    }

    fn catalogue() -> Catalogue {
        let offer = |id: &str, kind: &str| OfferAttributes {
            offer_id: id.into(),
            offer_type: kind.into(),
            offer_value: 1.0,
            category: None,
        };
        let vocabulary = pipeline_core::vocabulary::Vocabulary {
            categories: pipeline_core::vocabulary::Terms::from_weights(&[], &[], 4),
            offer_types: pipeline_core::vocabulary::Terms::from_weights(
                &[("x".into(), 2.0), ("y".into(), 1.0)],
                &[],
                4,
            ),
            outcomes: vec!["received".into(), "redeemed".into()],
            measures: Vec::new(),
        };
        Catalogue::new(
            vec![offer("O0", "x"), offer("O1", "x"), offer("O2", "y")],
            &vocabulary,
        )
    }

    #[test]
    fn baselines_and_lift_against_hand_computed_values() {
        // Before the cut-off (day 10): C0 redeemed O2 three times of three
        // and not O0; C1 redeemed O0 and none of O2, O1, O1. So type x
        // (O0, O1) redeemed 1 of 4, type y (O2) 3 of 4, C0 3 of 4, C1 1 of
        // 4, C2 has no past; the past rate is (4 + 1) / (8 + 2) = 0.5.
        let past = [
            (0, 2, 1, true),
            (0, 2, 2, true),
            (0, 2, 3, true),
            (0, 0, 4, false),
            (1, 2, 1, false),
            (1, 0, 2, true),
            (1, 1, 3, false),
            (1, 1, 4, false),
        ];
        // The test window: a = (C0, O0, no), b = (C0, O2, yes),
        // c = (C1, O1, yes), d = (C2, O2, no), e = (C2, O1, yes).
        let test = [
            (0, 0, 10, false),
            (0, 2, 11, true),
            (1, 1, 12, true),
            (2, 2, 13, false),
            (2, 1, 14, true),
        ];
        let all = sends(&[&past[..], &test[..]].concat());
        let rows: Vec<usize> = (8..13).collect();
        let candidates: ClusterCandidates = [
            (0, vec!["O2".to_string(), "O0".to_string()]),
            (1, vec!["O0".to_string()]),
        ]
        .into_iter()
        .collect();
        // C2 has no segment.
        let segment_of: HashMap<String, u32> =
            [("C0".to_string(), 0), ("C1".to_string(), 1)].into();
        let e = evaluate(&TestWindow {
            sends: &all,
            rows: &rows,
            scores: &[0.1, 0.9, 0.8, 0.2, 0.3],
            cutoff: 10,
            catalogue: &catalogue(),
            candidates: &candidates,
            segment_of: &segment_of,
            ks: &[1],
        });
        assert_eq!((e.rows, e.redemptions, e.top_rows), (5, 3, 1));
        assert_eq!((e.customers, e.customers_with_redemption), (3, 3));
        // Both rates' cells are (4, 1) and (4, 3) around 0.5: X2 = 1 + 1,
        // df = 2 - 1, sum (n - 1) = 6, rho = (2 - 1) / (1/2 x 6) = 1/3,
        // m = 2; the rates are (1 + 1) / 6 = 1/3 and (3 + 1) / 6 = 2/3.
        assert_eq!(e.smoothing.past_sends, 8);
        close(Some(e.smoothing.past_rate), 0.5);
        close(Some(e.smoothing.offer_type_rate), 2.0);
        close(Some(e.smoothing.customer_rate), 2.0);

        // The model ranks every redemption above every other send.
        close(e.model.auc, 1.0);
        close(e.model.precision_at_10pct, 1.0);
        close(e.model.at_k[&1].precision, 1.0);

        // Offer type: a 1/3, b 2/3, c 1/3, d 2/3, e 1/3. Of the six
        // (redeemed, not) pairs b-a wins, b-d, c-a and e-a tie: 2.5 / 6.
        // The top row is one of the 2/3 pair (b, d): half a redemption. C2's
        // top send is d: @1 two customers of three.
        let t = &e.baselines.offer_type_rate;
        close(t.auc, 2.5 / 6.0);
        close(t.precision_at_10pct, 0.5);
        close(t.at_k[&1].precision, 2.0 / 3.0);
        close(t.at_k[&1].hit, 2.0 / 3.0);
        // Customer: a 2/3, b 2/3, c 1/3, d 0.5 (no past), e 0.5: pairs b-d
        // win, b-a and e-d tie: 2 / 6. C0's and C2's sends tie: half a hit
        // each, C1's one send is a hit.
        let c = &e.baselines.customer_rate;
        close(c.auc, 2.0 / 6.0);
        close(c.precision_at_10pct, 0.5);
        close(c.at_k[&1].precision, 2.0 / 3.0);
        close(c.at_k[&1].recall, 2.0 / 3.0);
        // Segment order: a is second in C0's list (-1), b first (0); c (O1
        // is not in C1's list), d and e (C2 has no segment) share the last
        // place (-2). Pairs: b beats a and d, c-d and e-d tie: 3 / 6.
        let s = &e.baselines.segment_candidate_order;
        close(s.auc, 0.5);
        close(s.precision_at_10pct, 1.0);
        close(s.at_k[&1].precision, (1.0 + 1.0 + 0.5) / 3.0);

        // The segment order is the best baseline on every figure here.
        let l = &e.lift_over_best_baseline;
        let auc = l.auc.as_ref().unwrap();
        assert_eq!(auc.best_baseline, Baseline::SegmentCandidateOrder);
        close(auc.ratio, 2.0);
        let top = l.precision_at_10pct.as_ref().unwrap();
        assert_eq!(top.best_baseline, Baseline::SegmentCandidateOrder);
        close(top.ratio, 1.0);
        close(
            l.at_k[&1].precision.as_ref().unwrap().ratio,
            1.0 / (2.5 / 3.0),
        );
        // The typed section reads back as written.
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(serde_json::from_value::<Evaluation>(json).unwrap(), e);
        assert!(!e.summary().contains("NaN"), "{}", e.summary());
    }

    #[test]
    fn a_window_too_small_to_measure_says_what_to_change() {
        let window = Snapshot {
            cutoff: 10,
            end: 40,
        };
        let few: Vec<(u32, u32, i32, bool)> = (0..150).map(|i| (0, 0, 20, i < 5)).collect();
        let s = sends(&few);
        let rows: Vec<usize> = (0..150).collect();
        let msg = check_test_window(&s, &rows, window, 30)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("150 sends, 5 redeemed and 145 not")
                && msg.contains("at least 100 sends, 10 redeemed")
                && msg.contains("--window-days"),
            "{msg}"
        );
        let s = sends(&(0..150).map(|i| (0, 0, 20, i < 20)).collect::<Vec<_>>());
        assert!(check_test_window(&s, &rows, window, 30).is_ok());
        assert!(check_test_window(&s, &rows[..99], window, 30).is_err());
    }
}
