//! Evaluation figures: AUC, log loss, calibration, ROC points, and the
//! ranking measures against the true propensities (NDCG@3, expected
//! redemptions of the top 3). Pure functions over slices.

use serde::Serialize;

/// Area under the ROC curve by the rank-sum formula, ties counted half.
/// `None` when one class is absent.
pub fn auc(scores: &[f64], labels: &[f32]) -> Option<f64> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let positives = labels.iter().filter(|&&l| l > 0.5).count() as f64;
    let negatives = labels.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return None;
    }
    // Sum of the (average) ranks of the positives.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let mean_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            if labels[k] > 0.5 {
                rank_sum += mean_rank;
            }
        }
        i = j + 1;
    }
    Some((rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives))
}

/// Mean binary cross-entropy, probabilities clipped to [1e-15, 1 - 1e-15].
pub fn log_loss(probs: &[f64], labels: &[f32]) -> f64 {
    if probs.is_empty() {
        return f64::NAN;
    }
    let total: f64 = probs
        .iter()
        .zip(labels)
        .map(|(&p, &y)| {
            let p = p.clamp(1e-15, 1.0 - 1e-15);
            if y > 0.5 { -p.ln() } else { -(1.0 - p).ln() }
        })
        .sum();
    total / probs.len() as f64
}

/// ROC curve points (false positive rate, true positive rate), thinned to
/// at most `max_points` for charts.
pub fn roc_points(scores: &[f64], labels: &[f32], max_points: usize) -> (Vec<f64>, Vec<f64>) {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let positives = labels.iter().filter(|&&l| l > 0.5).count().max(1) as f64;
    let negatives = (labels.len() as f64 - positives).max(1.0);
    let mut fpr = vec![0.0];
    let mut tpr = vec![0.0];
    let (mut tp, mut fp) = (0.0, 0.0);
    let step = (order.len() / max_points.max(1)).max(1);
    for (n, &i) in order.iter().enumerate() {
        if labels[i] > 0.5 {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        let tie_next = order.get(n + 1).is_some_and(|&j| scores[j] == scores[i]);
        if !tie_next && (n % step == 0 || n + 1 == order.len()) {
            fpr.push(fp / negatives);
            tpr.push(tp / positives);
        }
    }
    (fpr, tpr)
}

/// One bin of a calibration table: rows ordered by predicted probability,
/// cut into equal-count bins.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CalibrationBin {
    pub rows: usize,
    pub mean_predicted: f64,
    pub observed_rate: f64,
}

/// Calibration in `bins` equal-count bins, and the expected calibration
/// error (row-weighted mean |predicted - observed|).
pub fn calibration(probs: &[f64], labels: &[f32], bins: usize) -> (Vec<CalibrationBin>, f64) {
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_unstable_by(|&a, &b| probs[a].total_cmp(&probs[b]));
    let n = order.len();
    let bins = bins.max(1).min(n.max(1));
    let mut table = Vec::with_capacity(bins);
    let mut ece = 0.0;
    for b in 0..bins {
        let (lo, hi) = (b * n / bins, (b + 1) * n / bins);
        if hi <= lo {
            continue;
        }
        let slice = &order[lo..hi];
        let rows = slice.len();
        let mean_predicted = slice.iter().map(|&i| probs[i]).sum::<f64>() / rows as f64;
        let observed_rate = slice.iter().map(|&i| f64::from(labels[i])).sum::<f64>() / rows as f64;
        ece += rows as f64 / n as f64 * (mean_predicted - observed_rate).abs();
        table.push(CalibrationBin {
            rows,
            mean_predicted,
            observed_rate,
        });
    }
    (table, ece)
}

/// Indices of the `k` largest `scores`, best first (ties by index).
pub fn top_k(scores: &[f64], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order.truncate(k);
    order
}

/// DCG of `chosen` (in order) with the true propensities as gains.
pub fn dcg(chosen: &[usize], truth: &[f64]) -> f64 {
    chosen
        .iter()
        .enumerate()
        .map(|(rank, &i)| truth[i] / ((rank + 2) as f64).log2())
        .sum()
}

/// NDCG@k of the order given by `scores` against the true propensities.
pub fn ndcg_at(scores: &[f64], truth: &[f64], k: usize) -> f64 {
    let ideal = dcg(&top_k(truth, k), truth);
    if ideal <= 0.0 {
        return 1.0;
    }
    dcg(&top_k(scores, k), truth) / ideal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_of_perfect_random_and_tied_scores() {
        let labels = [0.0, 0.0, 1.0, 1.0];
        assert_eq!(auc(&[0.1, 0.2, 0.8, 0.9], &labels), Some(1.0));
        assert_eq!(auc(&[0.9, 0.8, 0.2, 0.1], &labels), Some(0.0));
        assert_eq!(auc(&[0.5; 4], &labels), Some(0.5));
        assert_eq!(auc(&[0.1, 0.4, 0.35, 0.8], &labels), Some(0.75));
        assert_eq!(auc(&[0.1, 0.2], &[1.0, 1.0]), None);
    }

    #[test]
    fn ndcg_and_calibration() {
        let truth = [0.1, 0.5, 0.3, 0.2];
        assert!((ndcg_at(&[0.0, 9.0, 8.0, 7.0], &truth, 3) - 1.0).abs() < 1e-12);
        assert!(ndcg_at(&[9.0, 0.0, 1.0, 2.0], &truth, 3) < 1.0);
        let (table, ece) = calibration(&[0.1, 0.1, 0.9, 0.9], &[0.0, 0.0, 1.0, 1.0], 2);
        assert_eq!(table.len(), 2);
        assert!((ece - 0.1).abs() < 1e-12);
        assert!((log_loss(&[0.5, 0.5], &[0.0, 1.0]) - 2f64.ln()).abs() < 1e-12);
    }
}
