//! The true response model: how likely a person is to redeem an offer.
//!
//! It depends on the person AND the offer, through hidden traits that each
//! leave a trace the pipeline can see:
//! - segment: how often they buy (transaction counts, spend);
//! - preferred service category: half their purchases are in it, and an
//!   offer about that category is far more attractive;
//! - price sensitivity: they buy cheaper variants, and value matters more
//!   to them for Discount, Credit and Free Service offers;
//! - favourite offer type: visible in what they redeemed before;
//! - responsiveness: visible in how they opened, clicked and redeemed
//!   earlier offers.

use crate::catalogue::Offer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Segment {
    Occasional = 0,
    Regular = 1,
    Frequent = 2,
    Vip = 3,
}

impl Segment {
    pub const ALL: [Segment; 4] = [
        Segment::Occasional,
        Segment::Regular,
        Segment::Frequent,
        Segment::Vip,
    ];
    /// Shares of the population.
    pub const WEIGHTS: [f64; 4] = [0.50, 0.30, 0.15, 0.05];

    /// Transactions over two years of activity, inclusive range.
    pub fn transactions(self) -> (u32, u32) {
        match self {
            Segment::Occasional => (1, 3),
            Segment::Regular => (4, 10),
            Segment::Frequent => (11, 24),
            Segment::Vip => (25, 60),
        }
    }

    /// Mean offers received over the last year.
    pub fn offers_per_year(self) -> f64 {
        match self {
            Segment::Occasional => 3.0,
            Segment::Regular => 4.5,
            Segment::Frequent => 6.0,
            Segment::Vip => 8.0,
        }
    }

    fn base_logit(self) -> f64 {
        match self {
            Segment::Occasional => -0.5,
            Segment::Regular => 0.0,
            Segment::Frequent => 0.3,
            Segment::Vip => 0.5,
        }
    }
}

/// A person's hidden traits; never written anywhere but through their
/// effects (and `truth_propensity`).
#[derive(Debug, Clone, Copy)]
pub struct Traits {
    pub segment: Segment,
    /// Index into `SERVICE_CATEGORIES`.
    pub preferred_category: u8,
    /// 0 (indifferent to price) to 1 (very sensitive).
    pub price_sensitivity: f64,
    /// Index into `OFFER_TYPES`.
    pub favourite_type: u8,
    /// Person-level effect on the logit of every response, about N(0, 0.7).
    pub responsiveness: f64,
}

/// Middle of each offer type's value range: `value / mid` says how
/// generous an offer is for its kind.
const TYPE_MID_VALUE: [f64; 6] = [60.0, 55.0, 30.0, 40.0, 80.0, 30.0];

const BASE_LOGIT: f64 = -2.5;

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The true probability that a person with `traits` redeems `offer` when
/// it is sent to them.
pub fn redemption_probability(traits: &Traits, offer: &Offer) -> f64 {
    let mut logit = BASE_LOGIT + traits.segment.base_logit() + traits.responsiveness;
    match offer.category {
        Some(c) if c == traits.preferred_category => logit += 1.5,
        Some(_) => logit -= 0.4,
        None => {}
    }
    if offer.offer_type == traits.favourite_type {
        logit += 0.9;
    }
    let generosity = (offer.value / TYPE_MID_VALUE[usize::from(offer.offer_type)]).clamp(0.2, 3.0);
    let frequent = matches!(traits.segment, Segment::Frequent | Segment::Vip);
    logit += match offer.offer_type {
        // Free Service, Discount, Credit: money off; the price-sensitive
        // care about how much.
        0 | 1 | 3 => {
            1.4 * traits.price_sensitivity * generosity.ln() + 0.5 * traits.price_sensitivity - 0.2
        }
        // Points reward those who come back often.
        2 => {
            if frequent {
                0.5
            } else {
                -0.3
            }
        }
        // Bundles suit those who spend freely.
        4 => 0.6 * (0.5 - traits.price_sensitivity) + 0.3 * generosity.ln(),
        // Referrals work on the engaged.
        _ => 0.4 * traits.responsiveness - 0.3,
    };
    sigmoid(logit)
}

/// Probability of opening an offer e-mail that is not redeemed.
pub fn open_probability(traits: &Traits) -> f64 {
    sigmoid(-0.4 + traits.responsiveness)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(offer_type: u8, value: f64, category: Option<u8>) -> Offer {
        Offer {
            id: "OFF".into(),
            name: "x".into(),
            offer_type,
            value,
            category,
        }
    }

    fn person() -> Traits {
        Traits {
            segment: Segment::Regular,
            preferred_category: 1,
            price_sensitivity: 0.8,
            favourite_type: 3,
            responsiveness: 0.0,
        }
    }

    #[test]
    fn the_preferred_category_wins() {
        let t = person();
        let liked = redemption_probability(&t, &offer(1, 55.0, Some(1)));
        let other = redemption_probability(&t, &offer(1, 55.0, Some(2)));
        assert!(liked > 2.0 * other, "{liked} vs {other}");
    }

    #[test]
    fn the_favourite_type_and_value_matter() {
        let t = person();
        let fav = redemption_probability(&t, &offer(3, 40.0, None));
        let not_fav = redemption_probability(&t, &offer(1, 55.0, None));
        assert!(fav > not_fav);
        let generous = redemption_probability(&t, &offer(1, 110.0, None));
        let stingy = redemption_probability(&t, &offer(1, 15.0, None));
        assert!(generous > stingy);
    }

    #[test]
    fn responsive_people_respond_more() {
        let mut t = person();
        let base = redemption_probability(&t, &offer(2, 30.0, None));
        t.responsiveness = 1.0;
        assert!(redemption_probability(&t, &offer(2, 30.0, None)) > base);
    }
}
