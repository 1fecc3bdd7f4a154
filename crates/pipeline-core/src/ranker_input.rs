//! The ranker's input row, built the same way in training and in serving.
//!
//! Architecture invariant: `train` and `serve` both build rows through
//! [`RankerLayout::fill`], so a model can never see features at serving
//! time that were computed differently from those it was trained on.
//!
//! A row is the concatenation, in the order of `models/feature_cols.json`,
//! of three kinds of feature, told apart by name:
//! - customer features: any column of `customer_features.parquet`, by its
//!   own name (`recency_days`, `spend_share_produce`, ...);
//! - offer features: `offer_value`, `offer_has_category`,
//!   `offer_type_{slug}` and `offer_category_{slug}` one-hot columns;
//! - customer x offer interactions, looked up through the offer's type and
//!   category: `x_category_spend_share` (the customer's `spend_share_{cat}`),
//!   `x_category_txn_share` (`txn_share_{cat}`), `x_type_received`,
//!   `x_type_redeemed` (`offers_received_{type}`, `offers_redeemed_{type}`)
//!   and `x_type_redeem_rate`, the smoothed rate
//!   `(redeemed + 1) / (received + 2)`.

use std::collections::HashMap;

use crate::vocabulary::{Terms, Vocabulary};

/// What the ranker knows of an offer.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OfferAttributes {
    pub offer_id: String,
    pub offer_type: String,
    /// NaN when unknown (`offers.offer_value` is optional).
    pub offer_value: f64,
    pub category: Option<String>,
}

/// The offer and interaction feature names of `vocabulary`, in a sensible
/// default order. Training puts the customer features first, then these.
pub fn offer_feature_names(vocabulary: &Vocabulary) -> Vec<String> {
    let mut names = vec!["offer_value".to_owned(), "offer_has_category".to_owned()];
    names.extend(
        vocabulary
            .offer_types
            .slugs()
            .map(|t| format!("offer_type_{t}")),
    );
    names.extend(
        vocabulary
            .categories
            .slugs()
            .map(|c| format!("offer_category_{c}")),
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
#[error("feature `{feature}` of the model cannot be supplied: {reason}")]
pub struct UnknownFeature {
    pub feature: String,
    pub reason: String,
}

/// A compiled mapping from (customer feature vector, offer) to a ranker row.
#[derive(Debug, Clone)]
pub struct RankerLayout {
    feature_cols: Vec<String>,
    slots: Vec<Slot>,
    vocabulary: Vocabulary,
}

impl RankerLayout {
    /// Compiles the layout for `feature_cols` given the names of the
    /// customer feature vector that [`RankerLayout::fill`] will receive and
    /// the model's vocabulary. Fails, naming the feature, when a column
    /// cannot be supplied (a customer feature the vector lacks, a type or
    /// category outside the vocabulary): a model is refused at load, never
    /// at request.
    pub fn new(
        feature_cols: &[String],
        customer_features: &[String],
        vocabulary: &Vocabulary,
    ) -> Result<Self, UnknownFeature> {
        let index: HashMap<&str, usize> = customer_features
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        // Every term of the vocabulary must have its customer feature.
        let by_prefix = |feature: &str,
                         prefix: &str,
                         terms: &Terms|
         -> Result<HashMap<String, usize>, UnknownFeature> {
            terms
                .slugs()
                .map(|s| {
                    let name = format!("{prefix}{s}");
                    match index.get(name.as_str()) {
                        Some(&i) => Ok((s.to_owned(), i)),
                        None => Err(UnknownFeature {
                            feature: feature.to_owned(),
                            reason: format!(
                                "it reads the customer feature `{name}`, which the {} customer features do not include",
                                customer_features.len()
                            ),
                        }),
                    }
                })
                .collect()
        };
        let in_terms = |feature: &str, slug: &str, terms: &Terms, what: &str| {
            if terms.slugs().any(|t| t == slug) {
                Ok(slug.to_owned())
            } else {
                Err(UnknownFeature {
                    feature: feature.to_owned(),
                    reason: format!("`{slug}` is not an {what} of the model's vocabulary"),
                })
            }
        };
        let types = &vocabulary.offer_types;
        let categories = &vocabulary.categories;
        let mut slots = Vec::with_capacity(feature_cols.len());
        for name in feature_cols {
            let n = name.as_str();
            let slot = if let Some(&i) = index.get(n) {
                Slot::Customer(i)
            } else if n == "offer_value" {
                Slot::OfferValue
            } else if n == "offer_has_category" {
                Slot::OfferHasCategory
            } else if let Some(t) = n.strip_prefix("offer_type_") {
                Slot::OfferType(in_terms(n, t, types, "offer type")?)
            } else if let Some(c) = n.strip_prefix("offer_category_") {
                Slot::OfferCategory(in_terms(n, c, categories, "offer category")?)
            } else if n == "x_category_spend_share" {
                Slot::ByCategory(by_prefix(n, "spend_share_", categories)?)
            } else if n == "x_category_txn_share" {
                Slot::ByCategory(by_prefix(n, "txn_share_", categories)?)
            } else if n == "x_type_received" {
                Slot::ByType(by_prefix(n, "offers_received_", types)?)
            } else if n == "x_type_redeemed" {
                Slot::ByType(by_prefix(n, "offers_redeemed_", types)?)
            } else if n == "x_type_redeem_rate" {
                Slot::TypeRedeemRate {
                    received: by_prefix(n, "offers_received_", types)?,
                    redeemed: by_prefix(n, "offers_redeemed_", types)?,
                }
            } else {
                return Err(UnknownFeature {
                    feature: name.clone(),
                    reason: format!(
                        "neither one of the {} customer features nor a known offer feature",
                        customer_features.len()
                    ),
                });
            };
            slots.push(slot);
        }
        Ok(Self {
            feature_cols: feature_cols.to_vec(),
            slots,
            vocabulary: vocabulary.clone(),
        })
    }

    pub fn feature_cols(&self) -> &[String] {
        &self.feature_cols
    }

    pub fn vocabulary(&self) -> &Vocabulary {
        &self.vocabulary
    }

    pub fn width(&self) -> usize {
        self.slots.len()
    }

    /// Writes the row for `customer` (in the order of the names given to
    /// [`RankerLayout::new`]) and `offer` into `out` (length [`width`]).
    /// An offer type or category the vocabulary neither keeps nor folds
    /// into `other` has no feature: its one-hots are 0 and its customer
    /// interactions read as no history (callers count such offers).
    ///
    /// [`width`]: RankerLayout::width
    pub fn fill(&self, customer: &[f64], offer: &OfferAttributes, out: &mut [f64]) {
        let type_slug = self
            .vocabulary
            .offer_types
            .resolve(&offer.offer_type)
            .slug();
        let cat_slug = offer
            .category
            .as_deref()
            .and_then(|c| self.vocabulary.categories.resolve(c).slug());
        self.fill_with_slugs(customer, offer, type_slug, cat_slug, out);
    }

    /// [`RankerLayout::fill`] with the slugs resolved beforehand, for hot
    /// loops.
    pub fn fill_with_slugs(
        &self,
        customer: &[f64],
        offer: &OfferAttributes,
        type_slug: Option<&str>,
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
                Slot::OfferHasCategory => f64::from(u8::from(offer.category.is_some())),
                Slot::OfferType(t) => f64::from(u8::from(Some(t.as_str()) == type_slug)),
                Slot::OfferCategory(c) => f64::from(u8::from(Some(c.as_str()) == cat_slug)),
                Slot::ByCategory(m) => get(m, cat_slug),
                Slot::ByType(m) => get(m, type_slug),
                Slot::TypeRedeemRate { received, redeemed } => {
                    (get(redeemed, type_slug) + 1.0) / (get(received, type_slug) + 2.0)
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

    fn vocabulary() -> Vocabulary {
        let w = |v: &[&str]| -> Vec<(String, f64)> {
            v.iter().map(|n| ((*n).to_owned(), 1.0)).collect()
        };
        Vocabulary {
            categories: Terms::from_weights(&w(&["Produce", "Dairy"]), &[], 8),
            offer_types: Terms::from_weights(&w(&["Type A", "Type B"]), &[], 8),
            outcomes: names(&["received", "redeemed"]),
            measures: Vec::new(),
        }
    }

    #[test]
    fn fills_customer_offer_and_interaction_slots() {
        let v = vocabulary();
        let mut customer_names = names(&["recency_days"]);
        customer_names.extend(names(&[
            "spend_share_produce",
            "spend_share_dairy",
            "txn_share_produce",
            "txn_share_dairy",
            "offers_received_type_a",
            "offers_received_type_b",
            "offers_redeemed_type_a",
            "offers_redeemed_type_b",
        ]));
        let mut cols = names(&["recency_days"]);
        cols.extend(offer_feature_names(&v));
        let layout = RankerLayout::new(&cols, &customer_names, &v).unwrap();
        let offer = OfferAttributes {
            offer_id: "OFF002".into(),
            offer_type: "Type A".into(),
            offer_value: 15.0,
            category: Some("Produce".into()),
        };
        let mut row = vec![f64::NAN; layout.width()];
        let customer = [12.0, 0.4, 0.6, 0.25, 0.75, 3.0, 0.0, 1.0, 0.0];
        layout.fill(&customer, &offer, &mut row);
        let at = |n: &str| row[cols.iter().position(|c| c == n).unwrap()];
        assert_eq!(at("recency_days"), 12.0);
        assert_eq!(at("offer_value"), 15.0);
        assert_eq!(at("offer_type_type_a"), 1.0);
        assert_eq!(at("offer_type_type_b"), 0.0);
        assert_eq!(at("offer_category_produce"), 1.0);
        assert_eq!(at("offer_category_dairy"), 0.0);
        assert_eq!(at("x_category_spend_share"), 0.4);
        assert_eq!(at("x_category_txn_share"), 0.25);
        assert_eq!(at("x_type_received"), 3.0);
        assert_eq!(at("x_type_redeem_rate"), 2.0 / 5.0);

        // A type the vocabulary has never seen: no one-hot, no history.
        let unseen = OfferAttributes {
            offer_type: "Cashback".into(),
            category: Some("Bakery".into()),
            ..offer
        };
        layout.fill(&customer, &unseen, &mut row);
        let at = |n: &str| row[cols.iter().position(|c| c == n).unwrap()];
        assert_eq!(at("offer_type_type_a") + at("offer_type_type_b"), 0.0);
        assert_eq!(at("x_type_received"), 0.0);
        assert_eq!(at("x_category_spend_share"), 0.0);
        assert_eq!(at("offer_has_category"), 1.0);
    }

    #[test]
    fn refuses_a_feature_it_cannot_supply() {
        let v = vocabulary();
        let err = RankerLayout::new(&names(&["lifetime_value"]), &names(&["recency_days"]), &v)
            .unwrap_err();
        assert_eq!(err.feature, "lifetime_value");
        // The vocabulary has `dairy`; a store without its share cannot
        // supply the interaction.
        let err = RankerLayout::new(
            &names(&["x_category_spend_share"]),
            &names(&["spend_share_produce"]),
            &v,
        )
        .unwrap_err();
        assert!(err.reason.contains("spend_share_dairy"), "{err}");
        // A one-hot of a type outside the vocabulary.
        let err = RankerLayout::new(&names(&["offer_type_type_d"]), &[], &v).unwrap_err();
        assert!(err.reason.contains("type_d"), "{err}");
    }
}
