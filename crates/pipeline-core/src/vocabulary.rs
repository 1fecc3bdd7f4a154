//! The business vocabulary, read from the data: the service categories and
//! offer types that feature names are built from, and the offer outcomes
//! the interactions record.
//!
//! The `features` stage builds it from the tables (`transactions`
//! `service_category` by spend, `offers` `offer_type` and `category`, the
//! interaction flags present) and writes `vocabulary.json` beside
//! `customer_features.parquet`; `train` copies it into the model directory
//! (checksummed by `manifest.json`), and `serve` scores with the model's
//! copy. Nothing outside `datagen` names a category or an offer type.
//!
//! A long tail is bounded: the largest terms are kept (by spend for
//! categories, by number of offers for offer types) and every other value
//! falls into one `other` term. A value that is neither kept nor folded
//! (possible only with a vocabulary made on other data) is *unseen*:
//! [`Terms::resolve`] says so and the caller counts it.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};
use crate::schema::RFM_FEATURES;

/// The vocabulary's file name, in the data and the model directory.
pub const VOCABULARY_FILE: &str = "vocabulary.json";

/// The slug of the term the long tail falls into.
pub const OTHER: &str = "other";

/// Default for the number of categories and of offer types kept.
pub const DEFAULT_MAX_TERMS: usize = 16;

/// Offer outcomes, in column order. `received` and `redeemed` are always
/// known; `opened` and `clicked` only when the interactions record them.
pub const OFFER_OUTCOMES: [&str; 4] = ["received", "opened", "clicked", "redeemed"];

/// `Free Service` -> `free_service`: the form used inside feature names.
pub fn slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut last_underscore = true;
    for ch in name.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
            last_underscore = false;
        } else if !last_underscore {
            out.push('_');
            last_underscore = true;
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// A value of the data and the slug its feature names use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Term {
    pub name: String,
    pub slug: String,
}

/// How a value of the data maps onto a [`Terms`] list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved<'a> {
    /// One of the kept terms: its slug.
    Kept(&'a str),
    /// Not kept, counted in `other`.
    Other,
    /// Not kept and the vocabulary has no `other`: no feature describes it.
    Unseen,
}

impl<'a> Resolved<'a> {
    /// The slug whose features describe the value, if any.
    pub fn slug(self) -> Option<&'a str> {
        match self {
            Resolved::Kept(s) => Some(s),
            Resolved::Other => Some(OTHER),
            Resolved::Unseen => None,
        }
    }
}

/// The kept terms of one field, sorted by name, and whether the rest fall
/// into `other`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Terms {
    pub kept: Vec<Term>,
    pub other: bool,
}

impl Terms {
    /// Keeps the `max` values with the largest weight (ties by name) and
    /// folds the rest into `other`; `extra` are further values seen (offer
    /// categories), folded unless kept. A value whose slug is `other` or
    /// empty is always folded.
    pub fn from_weights(weights: &[(String, f64)], extra: &[String], max: usize) -> Self {
        let mut ranked: Vec<&(String, f64)> = weights.iter().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut names: Vec<&str> = Vec::new();
        let mut other = false;
        for (name, _) in ranked {
            let s = slug(name);
            if names.len() < max && !s.is_empty() && s != OTHER {
                names.push(name);
            } else {
                other = true;
            }
        }
        names.sort_unstable();
        names.dedup();
        other |= extra.iter().any(|e| !names.contains(&e.as_str()));
        let mut used: BTreeSet<String> = BTreeSet::new();
        let kept = names
            .into_iter()
            .map(|name| {
                // Two names with one slug ("Tires & Wheels", "tires wheels")
                // get `_2`, `_3`... in name order: deterministic.
                let base = slug(name);
                let mut s = base.clone();
                let mut n = 2;
                while used.contains(&s) || s == OTHER {
                    s = format!("{base}_{n}");
                    n += 1;
                }
                used.insert(s.clone());
                Term {
                    name: name.to_owned(),
                    slug: s,
                }
            })
            .collect();
        Self { kept, other }
    }

    /// The slugs features exist for, in column order (`other` last).
    pub fn slugs(&self) -> impl Iterator<Item = &str> {
        self.kept
            .iter()
            .map(|t| t.slug.as_str())
            .chain(self.other.then_some(OTHER))
    }

    pub fn len(&self) -> usize {
        self.kept.len() + usize::from(self.other)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The term of a value of the data.
    pub fn resolve(&self, value: &str) -> Resolved<'_> {
        match self.kept.iter().find(|t| t.name == value) {
            Some(t) => Resolved::Kept(&t.slug),
            None if self.other => Resolved::Other,
            None => Resolved::Unseen,
        }
    }

    /// Checks a list read from a file: slugs well formed and unique.
    fn check(&self, field: &str) -> std::result::Result<(), String> {
        let mut names = BTreeSet::new();
        let mut slugs = BTreeSet::new();
        for t in &self.kept {
            let well_formed = !t.slug.is_empty()
                && t.slug
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !well_formed || t.slug == OTHER {
                return Err(format!(
                    "{field}: slug `{}` of `{}` is not a lower-case [a-z0-9_] word other than `other`",
                    t.slug, t.name
                ));
            }
            if !names.insert(&t.name) || !slugs.insert(&t.slug) {
                return Err(format!(
                    "{field}: `{}` / `{}` appears twice",
                    t.name, t.slug
                ));
            }
        }
        Ok(())
    }
}

/// The vocabulary of one dataset (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vocabulary {
    /// `transactions.service_category` (and `offers.category`).
    pub categories: Terms,
    /// `offers.offer_type`.
    pub offer_types: Terms,
    /// The outcomes the interactions record, in the order of
    /// [`OFFER_OUTCOMES`].
    pub outcomes: Vec<String>,
    /// The extra numeric measures of `transactions` (`measure_{name}`
    /// columns: quantity, discounts), by name, sorted.
    #[serde(default)]
    pub measures: Vec<String>,
}

/// The columns of `lifetimes`' `summary_data_from_transaction_data` (daily
/// periods, observation end the day before the cut-off), for BG/NBD and
/// Gamma-Gamma models: repeat purchase days, age at the last purchase, age
/// at the cut-off (`T`) and the mean value of the repeat days. Null for a
/// customer without purchase (lifetimes leaves them out).
pub const LIFETIMES_FEATURES: [&str; 4] =
    ["lt_frequency", "lt_recency", "lt_t", "lt_monetary_value"];

/// The prefix of an extra numeric measure column of `transactions`.
pub const MEASURE_PREFIX: &str = "measure_";

/// Whether `name` (after [`MEASURE_PREFIX`]) can name features: a
/// non-empty lower-case `[a-z0-9_]` word.
pub fn is_measure_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The per-customer figures of one measure, in column order: its sum and
/// mean over the purchase rows before the cut-off, and the share of those
/// rows where it is not zero (a coupon used, a discount given).
pub fn measure_feature_names(measure: &str) -> [String; 3] {
    [
        format!("{MEASURE_PREFIX}{measure}_sum"),
        format!("{MEASURE_PREFIX}{measure}_mean"),
        format!("{MEASURE_PREFIX}{measure}_nonzero_share"),
    ]
}

impl Vocabulary {
    /// Reads and checks `vocabulary.json`.
    pub fn read(path: &Path) -> Result<Self> {
        let vocabulary: Self = crate::artifacts::read_json(path)?;
        vocabulary
            .check()
            .map_err(|message| CoreError::BadVocabulary {
                path: path.to_path_buf(),
                message,
            })?;
        Ok(vocabulary)
    }

    /// Writes `vocabulary.json` atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        crate::table_io::write_json_atomic(path, self).map(drop)
    }

    /// What a file must satisfy beyond its JSON shape.
    pub fn check(&self) -> std::result::Result<(), String> {
        self.categories.check("categories")?;
        if let Some(bad) = self.measures.iter().find(|m| !is_measure_name(m)) {
            return Err(format!(
                "measures: `{bad}` is not a lower-case [a-z0-9_] name"
            ));
        }
        self.offer_types.check("offer_types")?;
        let known: Vec<&str> = OFFER_OUTCOMES
            .iter()
            .copied()
            .filter(|o| self.outcomes.iter().any(|x| x == o))
            .collect();
        if known != self.outcomes || !known.contains(&"received") || !known.contains(&"redeemed") {
            return Err(format!(
                "outcomes {:?}: expected `received` and `redeemed`, optionally `opened` and `clicked`, in the order {OFFER_OUTCOMES:?}",
                self.outcomes
            ));
        }
        Ok(())
    }

    pub fn has_outcome(&self, outcome: &str) -> bool {
        self.outcomes.iter().any(|o| o == outcome)
    }

    /// Every feature column of `customer_features.parquet`, in order (the
    /// key `customer_id` comes first and is not listed).
    pub fn customer_feature_names(&self) -> Vec<String> {
        let mut names: Vec<String> = vec!["n_records".to_owned()];
        names.extend(RFM_FEATURES.iter().map(|s| (*s).to_owned()));
        // Mean of amount / the service's mean amount: below 1 for a
        // customer who buys the cheaper variants (price sensitivity).
        names.push("price_index".to_owned());
        for s in self.categories.slugs() {
            names.push(format!("spend_share_{s}"));
        }
        for s in self.categories.slugs() {
            names.push(format!("txn_share_{s}"));
        }
        for outcome in &self.outcomes {
            names.push(format!("offers_{outcome}_total"));
        }
        // Smoothed rates, (count + 1) / (received + 2): how responsive the
        // customer has been to any offer.
        for (outcome, rate) in [
            ("opened", "offers_open_rate"),
            ("clicked", "offers_click_rate"),
            ("redeemed", "offers_redeem_rate"),
        ] {
            if self.has_outcome(outcome) {
                names.push(rate.to_owned());
            }
        }
        for outcome in &self.outcomes {
            for t in self.offer_types.slugs() {
                names.push(format!("offers_{outcome}_{t}"));
            }
        }
        for m in &self.measures {
            names.extend(measure_feature_names(m));
        }
        names.extend(LIFETIMES_FEATURES.iter().map(|s| (*s).to_owned()));
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights(v: &[(&str, f64)]) -> Vec<(String, f64)> {
        v.iter().map(|(n, w)| ((*n).to_owned(), *w)).collect()
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("Free Service"), "free_service");
        assert_eq!(slug("  Tires & Wheels "), "tires_wheels");
        assert_eq!(slug("Points"), "points");
    }

    #[test]
    fn keeps_the_largest_and_folds_the_tail() {
        let terms = Terms::from_weights(
            &weights(&[("GROCERY", 90.0), ("DRUG GM", 50.0), ("KIOSK", 1.0)]),
            &[],
            2,
        );
        let names: Vec<&str> = terms.kept.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["DRUG GM", "GROCERY"]);
        assert!(terms.other);
        assert_eq!(
            terms.slugs().collect::<Vec<_>>(),
            ["drug_gm", "grocery", OTHER]
        );
        assert_eq!(terms.resolve("GROCERY"), Resolved::Kept("grocery"));
        assert_eq!(terms.resolve("KIOSK"), Resolved::Other);
        assert_eq!(terms.resolve("never seen"), Resolved::Other);
    }

    #[test]
    fn without_a_tail_there_is_no_other_and_a_new_value_is_unseen() {
        let terms = Terms::from_weights(&weights(&[("A", 1.0), ("B", 2.0)]), &[], 16);
        assert!(!terms.other);
        assert_eq!(terms.resolve("C"), Resolved::Unseen);
        assert_eq!(terms.resolve("C").slug(), None);
        // An offer category outside the kept ones brings `other` in.
        let terms = Terms::from_weights(&weights(&[("A", 1.0)]), &["Z".to_owned()], 16);
        assert!(terms.other);
    }

    #[test]
    fn colliding_empty_and_other_slugs() {
        let terms = Terms::from_weights(
            &weights(&[
                ("Tires & Wheels", 3.0),
                ("tires wheels", 2.0),
                ("???", 5.0),
                ("Other", 4.0),
            ]),
            &[],
            16,
        );
        assert_eq!(
            terms.slugs().collect::<Vec<_>>(),
            ["tires_wheels", "tires_wheels_2", OTHER]
        );
        assert_eq!(terms.resolve("Other"), Resolved::Other);
        assert_eq!(terms.resolve("???"), Resolved::Other);
        terms.check("categories").unwrap();
    }

    #[test]
    fn a_file_with_bad_slugs_or_outcomes_is_refused() {
        let good = Vocabulary {
            categories: Terms::from_weights(&weights(&[("A", 1.0)]), &[], 4),
            offer_types: Terms::from_weights(&weights(&[("T", 1.0)]), &[], 4),
            outcomes: vec!["received".into(), "redeemed".into()],
            measures: Vec::new(),
        };
        good.check().unwrap();
        let mut bad = good.clone();
        bad.categories.kept[0].slug = "Spend Share".into();
        assert!(bad.check().unwrap_err().contains("categories"));
        let mut bad = good.clone();
        bad.outcomes = vec!["redeemed".into(), "received".into()];
        assert!(bad.check().unwrap_err().contains("outcomes"));
        let mut bad = good;
        bad.outcomes = vec!["received".into()];
        assert!(bad.check().is_err());
    }

    #[test]
    fn feature_names_follow_the_vocabulary() {
        let v = Vocabulary {
            categories: Terms::from_weights(&weights(&[("Produce", 1.0)]), &["Deli".into()], 4),
            offer_types: Terms::from_weights(&weights(&[("Type A", 1.0)]), &[], 4),
            outcomes: vec!["received".into(), "redeemed".into()],
            measures: Vec::new(),
        };
        let names = v.customer_feature_names();
        for n in [
            "spend_share_produce",
            "spend_share_other",
            "txn_share_other",
            "offers_received_type_a",
            "offers_redeemed_type_a",
            "offers_redeem_rate",
        ] {
            assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
        }
        assert!(
            !names
                .iter()
                .any(|x| x.contains("open") || x.contains("click"))
        );
    }
}
