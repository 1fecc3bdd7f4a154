//! Empirical-Bayes pseudo-counts: how strongly a group's redemption rate
//! (a segment's for one offer, a customer's, an offer type's) should be
//! shrunk toward its prior rate, estimated from how much the groups'
//! rates spread beyond binomial noise.
//!
//! The model: a group with prior rate `e` has a true rate drawn from
//! Beta(m e, m (1 - e)), and its `n` sends redeem binomially at that rate
//! (so its redemptions are beta-binomial). The smoothed rate
//! `(redeemed + m e) / (sent + m)` is then the posterior mean, and the
//! pseudo-count `m` is what [`pseudo_count`] estimates.

/// One group's past sends and the prior rate its rate is shrunk toward.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    pub sent: f64,
    pub redeemed: f64,
    pub prior: f64,
}

/// The moment sums of a set of cells.
#[derive(Debug, Clone, Copy, Default)]
struct Moments {
    cells: f64,
    /// The Pearson statistic `X2 = sum (k - n e)^2 / (n e (1 - e))`.
    pearson: f64,
    /// `sum (n - 1)`.
    pairs: f64,
}

impl Moments {
    fn add(&mut self, c: Cell) {
        let v = c.prior * (1.0 - c.prior);
        // A cell without sends, or with a prior of exactly 0 or 1, says
        // nothing about the spread.
        if c.sent < 1.0 || v.is_nan() || v <= 0.0 {
            return;
        }
        self.cells += 1.0;
        self.pearson += (c.redeemed - c.sent * c.prior).powi(2) / (c.sent * v);
        self.pairs += c.sent - 1.0;
    }
}

/// The method-of-moments estimate of the Beta prior's concentration `m`
/// over all `cells` (Williams' Pearson-dispersion estimator for
/// beta-binomial counts).
///
/// Derivation. Under the model, a cell's redemptions `k` of `n` sends with
/// prior rate `e` have `E[(k - n e)^2] = n e (1 - e) (1 + (n - 1) rho)`,
/// with the intra-cell correlation `rho = 1 / (m + 1)`. So the Pearson
/// statistic `X2 = sum (k - n e)^2 / (n e (1 - e))` has expectation
/// `N + rho sum (n - 1)` over `N` cells when the priors are known. Here
/// they are fitted on the same cells (`fitted` free parameters, such as
/// one rate per offer and one level per segment), which takes `fitted` of
/// the `N` degrees of freedom; both terms shrink by `df / N`, as they do
/// exactly in the one-way equal-size case, giving
/// `rho = (X2 - df) / (df / N x sum (n - 1))`, `m = 1 / rho - 1`.
///
/// Why pooled over every cell and corrected for the fitted priors: the
/// estimate it replaces (for the segments' candidates) took each offer's
/// own moment estimate and the median over offers, with the noise of
/// every cell counted in full. With few offers, each offer's handful of
/// cells is a noisy estimate by itself, and the fitted rates absorb part
/// of the noise (an offer sent to two segments keeps one degree of
/// freedom of two), so the spread beyond the noise came out negative for
/// most offers, the median hit the cap and every segment got the same
/// list. One `m` per offer, each shrunk toward the pooled one, was tried
/// and gave worse candidates (crate README): an offer's few cells measure
/// its own spread too noisily.
///
/// Returns `None` when the cells cannot tell spread from noise (no degree
/// of freedom left, or no cell with two sends); a dispersion at or below
/// the binomial noise gives `max`: the prior rates decide. The result is
/// clamped to `[min, max]`.
pub fn pseudo_count(
    cells: impl IntoIterator<Item = Cell>,
    fitted: usize,
    min: f64,
    max: f64,
) -> Option<f64> {
    let mut total = Moments::default();
    cells.into_iter().for_each(|c| total.add(c));
    let df = total.cells - fitted as f64;
    if df <= 0.0 || total.pairs <= 0.0 {
        return None;
    }
    let rho = (total.pearson - df) / (df / total.cells * total.pairs);
    let m = if rho > 0.0 { 1.0 / rho - 1.0 } else { max };
    Some(m.clamp(min, max))
}

/// The smoothed rate `(redeemed + m prior) / (sent + m)`; the prior itself
/// when there is neither evidence nor smoothing.
pub fn smoothed_rate(cell: Cell, m: f64) -> f64 {
    let weight = cell.sent + m;
    if weight > 0.0 {
        (cell.redeemed + m * cell.prior) / weight
    } else {
        cell.prior
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(sent: f64, redeemed: f64, prior: f64) -> Cell {
        Cell {
            sent,
            redeemed,
            prior,
        }
    }

    #[test]
    fn the_estimate_solves_the_moment_equation_by_hand() {
        // Two cells of 10 sends, prior 0.5, redeeming 2 and 8: the
        // Pearson terms are (2 - 5)^2 / 2.5 = 3.6 each, X2 = 7.2. With
        // one fitted parameter df = 1, sum (n - 1) = 18, so
        // rho = (7.2 - 1) / (1/2 x 18) = 0.68889 and m = 1/rho - 1 =
        // 0.45161, clamped up to the minimum 0.5 here.
        let cells = [cell(10.0, 2.0, 0.5), cell(10.0, 8.0, 0.5)];
        let m = pseudo_count(cells, 1, 0.0, 1e4).unwrap();
        assert!((m - (1.0 / (6.2 / 9.0) - 1.0)).abs() < 1e-12, "{m}");
        assert_eq!(pseudo_count(cells, 1, 0.5, 1e4), Some(0.5));
        // Three cells redeeming 4, 5, 6 of 10 at prior 0.5: X2 =
        // (1 + 0 + 1) / 2.5 = 0.8, df = 2: less spread than binomial
        // noise, so the prior decides (the maximum).
        let tight = [
            cell(10.0, 4.0, 0.5),
            cell(10.0, 5.0, 0.5),
            cell(10.0, 6.0, 0.5),
        ];
        assert_eq!(pseudo_count(tight, 1, 1.0, 1e4), Some(1e4));
        // Rates 0.2, 0.5, 0.8 of 100 sends: X2 = 2 x 900 / 25 = 72,
        // df = 2, sum (n - 1) = 297, rho = 70 / (2/3 x 297) = 0.35354,
        // m = 1.82857.
        let wide = [
            cell(100.0, 20.0, 0.5),
            cell(100.0, 50.0, 0.5),
            cell(100.0, 80.0, 0.5),
        ];
        let m = pseudo_count(wide, 1, 1.0, 1e4).unwrap();
        assert!((m - (198.0 / 70.0 - 1.0)).abs() < 1e-12, "{m}");
    }

    #[test]
    fn cells_that_cannot_measure_spread_give_no_estimate() {
        // As many fitted parameters as cells: no degree of freedom.
        let two = [cell(10.0, 2.0, 0.5), cell(10.0, 8.0, 0.5)];
        assert_eq!(pseudo_count(two, 2, 1.0, 1e4), None);
        // Single sends only: spread and noise are the same thing.
        let singles = [
            cell(1.0, 1.0, 0.5),
            cell(1.0, 0.0, 0.5),
            cell(1.0, 1.0, 0.5),
        ];
        assert_eq!(pseudo_count(singles, 1, 1.0, 1e4), None);
        // Empty cells and degenerate priors are left out.
        let odd = [cell(0.0, 0.0, 0.5), cell(5.0, 5.0, 1.0)];
        assert_eq!(pseudo_count(odd, 0, 1.0, 1e4), None);
    }

    #[test]
    fn beta_binomial_draws_give_back_their_concentration() {
        // 4000 cells of 50 sends whose rates are drawn from Beta(m e,
        // m (1 - e)) with m = 30, e = 0.2, through a seeded generator: the
        // estimate lands near 30 (its sampling error here is about 1;
        // this draw gives 30.09).
        use rand_xoshiro::Xoshiro256Plus;
        use rand_xoshiro::rand_core::{RngCore, SeedableRng};
        let mut rng = Xoshiro256Plus::seed_from_u64(3);
        let mut uniform = || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let (m, e, n) = (30.0, 0.2, 50);
        // Beta(a, b) with integer a, b as the a-th smallest of a + b - 1
        // uniforms.
        let (a, b) = ((m * e) as usize, (m * (1.0 - e)) as usize);
        let cells: Vec<Cell> = (0..4000)
            .map(|_| {
                let mut u: Vec<f64> = (0..a + b - 1).map(|_| uniform()).collect();
                u.sort_by(f64::total_cmp);
                let rate = u[a - 1];
                let redeemed = (0..n).filter(|_| uniform() < rate).count() as f64;
                cell(n as f64, redeemed, e)
            })
            .collect();
        let got = pseudo_count(cells, 0, 1.0, 1e4).unwrap();
        assert!((got - m).abs() < 6.0, "{got}");
    }
}
