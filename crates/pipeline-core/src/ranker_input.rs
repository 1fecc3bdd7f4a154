//! The ranker's input row, built the same way in training and in serving.
//!
//! Architecture invariant: `train` and `serve` both build rows through
//! [`RankerLayout::fill`], so a model can never see features at serving
//! time that were computed differently from those it was trained on.
//!
//! A row is the concatenation, in the order of `models/feature_cols.json`,
//! of three kinds of feature, told apart by name:
//! - customer features: any column of `customer_features.parquet`, by its
//!   own name (`recency_days`, `spend_share_repair`, ...);
//! - offer features: `offer_value`, `offer_has_category`,
//!   `offer_type_{slug}` and `offer_category_{slug}` one-hot columns;
//! - customer x offer interactions, looked up through the offer's type and
//!   category: `x_category_spend_share` (the customer's `spend_share_{cat}`),
//!   `x_category_txn_share` (`txn_share_{cat}`), `x_type_received`,
//!   `x_type_redeemed` (`offers_received_{type}`, `offers_redeemed_{type}`)
//!   and `x_type_redeem_rate`, the smoothed rate
//!   `(redeemed + 1) / (received + 2)`.

use std::collections::HashMap;

use crate::catalogue::{OFFER_TYPES, SERVICE_CATEGORIES, slug};

/// What the ranker knows of an offer.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OfferAttributes {
    pub offer_id: String,
    pub offer_type: String,
    pub offer_value: f64,
    pub category: Option<String>,
}

/// The offer and interaction feature names, in a sensible default order.
/// Training puts the customer features first, then these.
pub fn offer_feature_names() -> Vec<String> {
    let mut names = vec!["offer_value".to_owned(), "offer_has_category".to_owned()];
    names.extend(
        OFFER_TYPES
            .iter()
            .map(|t| format!("offer_type_{}", slug(t))),
    );
    names.extend(
        SERVICE_CATEGORIES
            .iter()
            .map(|c| format!("offer_category_{}", slug(c))),
    );
    names.extend(
        [
            "x_category_spend_share",
            "x_category_txn_share",
            "x_type_received",
            "x_type_redeemed",
            "x_type_redeem_rate",
        ]
        .map(str::to_owned),
    );
    names
}

/// Where one slot of the row comes from.
#[derive(Debug, Clone)]
enum Slot {
    Customer(usize),
    OfferValue,
    OfferHasCategory,
    OfferType(String),
    OfferCategory(String),
    /// Customer feature chosen by the offer's category slug.
    ByCategory(HashMap<String, usize>),
    /// Customer feature chosen by the offer's type slug.
    ByType(HashMap<String, usize>),
    TypeRedeemRate {
        received: HashMap<String, usize>,
        redeemed: HashMap<String, usize>,
    },
}

/// A feature name the layout cannot supply.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "feature `{feature}` of the model is neither a customer feature nor a known offer feature{hint}"
)]
pub struct UnknownFeature {
    pub feature: String,
    pub hint: String,
}

/// A compiled mapping from (customer feature vector, offer) to a ranker row.
#[derive(Debug, Clone)]
pub struct RankerLayout {
    feature_cols: Vec<String>,
    slots: Vec<Slot>,
}

impl RankerLayout {
    /// Compiles the layout for `feature_cols` given the names of the
    /// customer feature vector that [`RankerLayout::fill`] will receive.
    /// Fails, naming the feature, when a column cannot be supplied: a model
    /// is refused at load, never at request.
    pub fn new(
        feature_cols: &[String],
        customer_features: &[String],
    ) -> Result<Self, UnknownFeature> {
        let index: HashMap<&str, usize> = customer_features
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let by_prefix = |prefix: &str, names: &[&str]| -> HashMap<String, usize> {
            names
                .iter()
                .filter_map(|n| {
                    let s = slug(n);
                    index.get(format!("{prefix}{s}").as_str()).map(|&i| (s, i))
                })
                .collect()
        };
        let mut slots = Vec::with_capacity(feature_cols.len());
        for name in feature_cols {
            let slot = if let Some(&i) = index.get(name.as_str()) {
                Slot::Customer(i)
            } else if name == "offer_value" {
                Slot::OfferValue
            } else if name == "offer_has_category" {
                Slot::OfferHasCategory
            } else if let Some(t) = name.strip_prefix("offer_type_") {
                Slot::OfferType(t.to_owned())
            } else if let Some(c) = name.strip_prefix("offer_category_") {
                Slot::OfferCategory(c.to_owned())
            } else if name == "x_category_spend_share" {
                Slot::ByCategory(by_prefix("spend_share_", &SERVICE_CATEGORIES))
            } else if name == "x_category_txn_share" {
                Slot::ByCategory(by_prefix("txn_share_", &SERVICE_CATEGORIES))
            } else if name == "x_type_received" {
                Slot::ByType(by_prefix("offers_received_", &OFFER_TYPES))
            } else if name == "x_type_redeemed" {
                Slot::ByType(by_prefix("offers_redeemed_", &OFFER_TYPES))
            } else if name == "x_type_redeem_rate" {
                Slot::TypeRedeemRate {
                    received: by_prefix("offers_received_", &OFFER_TYPES),
                    redeemed: by_prefix("offers_redeemed_", &OFFER_TYPES),
                }
            } else {
                return Err(UnknownFeature {
                    feature: name.clone(),
                    hint: format!(" ({} customer features available)", customer_features.len()),
                });
            };
            slots.push(slot);
        }
        Ok(Self {
            feature_cols: feature_cols.to_vec(),
            slots,
        })
    }

    pub fn feature_cols(&self) -> &[String] {
        &self.feature_cols
    }

    pub fn width(&self) -> usize {
        self.slots.len()
    }

    /// Writes the row for `customer` (in the order of the names given to
    /// [`RankerLayout::new`]) and `offer` into `out` (length [`width`]).
    ///
    /// [`width`]: RankerLayout::width
    pub fn fill(&self, customer: &[f64], offer: &OfferAttributes, out: &mut [f64]) {
        let type_slug = slug(&offer.offer_type);
        let cat_slug = offer.category.as_deref().map(slug);
        self.fill_with_slugs(customer, offer, &type_slug, cat_slug.as_deref(), out);
    }

    /// [`RankerLayout::fill`] with the slugs precomputed, for hot loops.
    pub fn fill_with_slugs(
        &self,
        customer: &[f64],
        offer: &OfferAttributes,
        type_slug: &str,
        cat_slug: Option<&str>,
        out: &mut [f64],
    ) {
        let get = |m: &HashMap<String, usize>, key: Option<&str>| -> f64 {
            key.and_then(|k| m.get(k))
                .and_then(|&i| customer.get(i))
                .copied()
                .unwrap_or(0.0)
        };
        for (slot, value) in self.slots.iter().zip(out.iter_mut()) {
            *value = match slot {
                Slot::Customer(i) => customer.get(*i).copied().unwrap_or(f64::NAN),
                Slot::OfferValue => offer.offer_value,
                Slot::OfferHasCategory => f64::from(u8::from(cat_slug.is_some())),
                Slot::OfferType(t) => f64::from(u8::from(t == type_slug)),
                Slot::OfferCategory(c) => f64::from(u8::from(Some(c.as_str()) == cat_slug)),
                Slot::ByCategory(m) => get(m, cat_slug),
                Slot::ByType(m) => get(m, Some(type_slug)),
                Slot::TypeRedeemRate { received, redeemed } => {
                    (get(redeemed, Some(type_slug)) + 1.0) / (get(received, Some(type_slug)) + 2.0)
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn fills_customer_offer_and_interaction_slots() {
        let customer_names = names(&[
            "recency_days",
            "spend_share_repair",
            "offers_received_discount",
            "offers_redeemed_discount",
        ]);
        let mut cols = names(&["recency_days"]);
        cols.extend(offer_feature_names());
        let layout = RankerLayout::new(&cols, &customer_names).unwrap();
        let offer = OfferAttributes {
            offer_id: "OFF002".into(),
            offer_type: "Discount".into(),
            offer_value: 15.0,
            category: Some("Repair".into()),
        };
        let mut row = vec![f64::NAN; layout.width()];
        layout.fill(&[12.0, 0.4, 3.0, 1.0], &offer, &mut row);
        let at = |n: &str| row[cols.iter().position(|c| c == n).unwrap()];
        assert_eq!(at("recency_days"), 12.0);
        assert_eq!(at("offer_value"), 15.0);
        assert_eq!(at("offer_type_discount"), 1.0);
        assert_eq!(at("offer_type_points"), 0.0);
        assert_eq!(at("offer_category_repair"), 1.0);
        assert_eq!(at("offer_category_tires"), 0.0);
        assert_eq!(at("x_category_spend_share"), 0.4);
        // No txn_share_* customer feature: the interaction reads as 0.
        assert_eq!(at("x_category_txn_share"), 0.0);
        assert_eq!(at("x_type_received"), 3.0);
        assert_eq!(at("x_type_redeem_rate"), 2.0 / 5.0);
    }

    #[test]
    fn refuses_a_feature_it_cannot_supply() {
        let err =
            RankerLayout::new(&names(&["lifetime_value"]), &names(&["recency_days"])).unwrap_err();
        assert_eq!(err.feature, "lifetime_value");
    }
}
