//! Point-in-time customer features: one row per resolved customer, computed
//! only from events strictly before a cut-off date.
//!
//! Invariant (tested in `tests/it`): an event dated on or after the cut-off
//! never changes any figure. Offer outcomes (opened, clicked, redeemed)
//! count only for offers *sent* before the cut-off, so the label of an
//! offer sent on or after the cut-off can never leak into its own features.
//!
//! Every feature column is `f64`; a null means "undefined for this
//! customer" (a customer without any purchase before the cut-off has no
//! recency, no mean amount, ...) and the ranker reads it as missing (NaN).
//! Counts, totals and shares of such a customer are 0, never null.
//!
//! Column names follow `pipeline_core::ranker_input`: `spend_share_{cat}`,
//! `txn_share_{cat}`, `offers_{outcome}_{type}`, with the slugs and the
//! outcomes of the data's [`Vocabulary`] ([`vocabulary_from_data`]).

use chrono::NaiveDate;
use pipeline_core::calendar::to_epoch_days;
use pipeline_core::vocabulary::{
    MEASURE_PREFIX, OFFER_OUTCOMES, OTHER, Terms, Vocabulary, is_measure_name,
    measure_feature_names,
};
use polars::prelude::*;

use crate::error::{FeaturesError, Result};

/// Features that are null when they are undefined (no purchase before the
/// cut-off, or a single purchase for `mean_days_between`).
/// Besides these, a measure's `_mean` is null without purchases.
pub const NULLABLE_FEATURES: [&str; 9] = [
    "price_index",
    "recency_days",
    "monetary_mean",
    "monetary_min",
    "monetary_max",
    "monetary_std",
    "first_purchase_days_ago",
    "tenure_days",
    "mean_days_between",
];

/// How many categories and offer types the vocabulary keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VocabularyLimits {
    pub max_categories: usize,
    pub max_offer_types: usize,
}

impl Default for VocabularyLimits {
    fn default() -> Self {
        Self {
            max_categories: pipeline_core::vocabulary::DEFAULT_MAX_TERMS,
            max_offer_types: pipeline_core::vocabulary::DEFAULT_MAX_TERMS,
        }
    }
}

fn polars_error(what: &str) -> impl FnOnce(PolarsError) -> FeaturesError + '_ {
    move |source| FeaturesError::Polars {
        what: what.to_owned(),
        source,
    }
}

/// (value, weight) of a string column of a small aggregate frame.
fn weights(df: &DataFrame, key: &str, weight: &str, what: &str) -> Result<Vec<(String, f64)>> {
    let keys = df.column(key).and_then(|c| c.str().cloned());
    let values = df
        .column(weight)
        .and_then(|c| c.cast(&DataType::Float64))
        .and_then(|c| c.f64().cloned());
    let (keys, values) = (
        keys.map_err(polars_error(what))?,
        values.map_err(polars_error(what))?,
    );
    Ok(keys
        .iter()
        .zip(values.iter())
        .filter_map(|(k, v)| Some((k?.to_owned(), v.unwrap_or(0.0))))
        .collect())
}

/// The vocabulary of the data: categories by spend in `transactions`
/// (and the categories `offers` name), offer types by number of offers,
/// and the outcomes `interactions` record (a flag column with at least one
/// value).
pub fn vocabulary_from_data(
    mut transactions: LazyFrame,
    interactions: LazyFrame,
    offers: LazyFrame,
    limits: VocabularyLimits,
) -> Result<Vocabulary> {
    let measures = measures_of(&mut transactions)?;
    let spend = transactions
        .group_by([col("service_category")])
        .agg([col("amount").sum().alias("spend")])
        .collect()
        .map_err(polars_error("reading the categories of transactions"))?;
    let spend = weights(
        &spend,
        "service_category",
        "spend",
        "reading the categories of transactions",
    )?;
    let offers = offers
        .select([col("offer_type"), col("category")])
        .collect()
        .map_err(polars_error("reading the offer types of offers"))?;
    let offer_categories: Vec<String> = offers
        .column("category")
        .and_then(|c| c.str().cloned())
        .map_err(polars_error("reading the categories of offers"))?
        .iter()
        .flatten()
        .map(str::to_owned)
        .collect();
    let types = offers
        .lazy()
        .group_by([col("offer_type")])
        .agg([len().alias("offers")])
        .collect()
        .map_err(polars_error("reading the offer types of offers"))?;
    let types = weights(
        &types,
        "offer_type",
        "offers",
        "reading the offer types of offers",
    )?;
    let observed = interactions
        .select(["opened", "clicked"].map(|c| col(c).is_not_null().sum().alias(c)))
        .collect()
        .map_err(polars_error("reading the flags of offer_interactions"))?;
    let is_observed = |name: &str| {
        observed
            .column(name)
            .ok()
            .and_then(|c| c.cast(&DataType::UInt64).ok())
            .and_then(|c| c.u64().ok().and_then(|ca| ca.get(0)))
            .is_some_and(|n| n > 0)
    };
    let outcomes = OFFER_OUTCOMES
        .iter()
        .filter(|o| !matches!(**o, "opened" | "clicked") || is_observed(o))
        .map(|o| (*o).to_owned())
        .collect();
    Ok(Vocabulary {
        categories: Terms::from_weights(&spend, &offer_categories, limits.max_categories),
        offer_types: Terms::from_weights(&types, &[], limits.max_offer_types),
        outcomes,
        measures,
    })
}

/// The names of the numeric `measure_{name}` columns of `transactions`,
/// sorted; a `measure_` column of another type is an error naming it.
fn measures_of(transactions: &mut LazyFrame) -> Result<Vec<String>> {
    let schema = transactions
        .collect_schema()
        .map_err(polars_error("reading the columns of transactions"))?;
    let mut measures = Vec::new();
    for (name, dtype) in schema.iter() {
        let Some(measure) = name.strip_prefix(MEASURE_PREFIX) else {
            continue;
        };
        if !dtype.is_primitive_numeric() || !is_measure_name(measure) {
            return Err(FeaturesError::BadMeasure {
                column: name.to_string(),
                found: dtype.to_string(),
            });
        }
        measures.push(measure.to_owned());
    }
    measures.sort();
    Ok(measures)
}

/// `interactions` with each row's `offer_type` taken from `offers` (null
/// for an offer that is not in it): one source of truth for an offer's
/// type.
pub fn with_offer_types(interactions: LazyFrame, offers: LazyFrame) -> LazyFrame {
    let types = offers
        .select([col("offer_id"), col("offer_type").alias("catalogue_type")])
        .unique(Some(cols(["offer_id"])), UniqueKeepStrategy::First);
    interactions
        .left_join(types, col("offer_id"), col("offer_id"))
        .with_column(col("catalogue_type").alias("offer_type"))
        .drop(cols(["catalogue_type"]))
}

/// One boolean expression per feature slug of `terms`: whether `column`
/// holds that term (`other`: none of the kept ones).
fn term_masks(column: &str, terms: &Terms) -> Vec<(String, Expr)> {
    let mut masks: Vec<(String, Expr)> = terms
        .kept
        .iter()
        .map(|t| (t.slug.clone(), col(column).eq(lit(t.name.clone()))))
        .collect();
    if terms.other {
        let none_kept = terms.kept.iter().fold(col(column).is_not_null(), |acc, t| {
            acc.and(col(column).neq(lit(t.name.clone())))
        });
        masks.push((OTHER.to_owned(), none_kept));
    }
    masks
}

/// An entity map in which every record is its own customer, for data that
/// has not been through entity resolution. `records` needs a `record_id`.
pub fn identity_entity_map(records: LazyFrame) -> LazyFrame {
    records
        .select([col("record_id")])
        .unique(None, UniqueKeepStrategy::First)
        .with_columns([
            col("record_id").alias("customer_id"),
            lit(1u32).alias("cluster_size"),
        ])
}

/// The lazy plan of [`compute_customer_features`].
///
/// `transactions` needs `record_id`, `service_id`, `service_category`,
/// `amount`, `location`, `transaction_date` (`service_id` and `location`
/// may be null); `interactions` needs `record_id`, `offer_type` (see
/// [`with_offer_types`]), `sent_date`, `redeemed` and the flags of the
/// vocabulary's outcomes; `entity_map` needs `record_id`, `customer_id`.
/// Every customer of `entity_map` gets exactly one row; records absent
/// from it are ignored.
pub fn customer_features_plan(
    transactions: LazyFrame,
    interactions: LazyFrame,
    entity_map: LazyFrame,
    cutoff: NaiveDate,
    vocabulary: &Vocabulary,
) -> LazyFrame {
    let cutoff_day = to_epoch_days(cutoff);
    let map = entity_map.select([col("record_id"), col("customer_id")]);
    let purchases = purchase_figures(
        transactions,
        map.clone(),
        cutoff_day,
        &vocabulary.categories,
        &vocabulary.measures,
    );
    let offers = offer_figures(interactions, map.clone(), cutoff_day, vocabulary);

    let customers = map
        .group_by([col("customer_id")])
        .agg([len().cast(DataType::Float64).alias("n_records")]);

    // Counts and totals of a customer without events are 0; the figures in
    // NULLABLE_FEATURES stay null.
    let mut zero_filled: Vec<String> = [
        "frequency",
        "monetary_total",
        "distinct_services",
        "distinct_categories",
        "distinct_locations",
    ]
    .map(String::from)
    .to_vec();
    for s in vocabulary.categories.slugs() {
        zero_filled.push(format!("spend_{s}"));
        zero_filled.push(format!("txns_{s}"));
    }
    for m in &vocabulary.measures {
        let [sum, _, nonzero] = measure_feature_names(m);
        zero_filled.push(sum);
        zero_filled.push(nonzero);
    }
    for outcome in &vocabulary.outcomes {
        zero_filled.push(format!("offers_{outcome}_total"));
        for t in vocabulary.offer_types.slugs() {
            zero_filled.push(format!("offers_{outcome}_{t}"));
        }
    }
    let fills: Vec<Expr> = zero_filled
        .iter()
        .map(|n| col(n.as_str()).fill_null(lit(0.0)))
        .collect();

    let mut output = vec![col("customer_id")];
    output.extend(
        vocabulary
            .customer_feature_names()
            .into_iter()
            .map(|n| col(n.as_str()).cast(DataType::Float64)),
    );

    customers
        .left_join(purchases, col("customer_id"), col("customer_id"))
        .left_join(offers, col("customer_id"), col("customer_id"))
        .with_columns(fills)
        .with_columns(derived_figures(cutoff_day, vocabulary))
        .select(output)
        .sort(["customer_id"], SortMultipleOptions::default())
}

/// The `transactions` columns [`customer_features_plan`] reads for
/// `vocabulary`, by name.
pub fn transaction_columns(vocabulary: &Vocabulary) -> Vec<String> {
    let mut names: Vec<String> = [
        "record_id",
        "service_id",
        "service_category",
        "amount",
        "location",
        "transaction_date",
    ]
    .map(String::from)
    .to_vec();
    names.extend(
        vocabulary
            .measures
            .iter()
            .map(|m| format!("{MEASURE_PREFIX}{m}")),
    );
    names
}

/// Per customer: the purchase aggregates before the cut-off.
fn purchase_figures(
    transactions: LazyFrame,
    map: LazyFrame,
    cutoff_day: i32,
    categories: &Terms,
    measures: &[String],
) -> LazyFrame {
    let mut columns = vec![
        col("record_id"),
        col("service_id"),
        col("service_category"),
        col("amount"),
        col("location"),
        col("transaction_date").cast(DataType::Int32).alias("day"),
    ];
    columns.extend(measures.iter().map(|m| {
        let name = format!("{MEASURE_PREFIX}{m}");
        col(name.as_str()).cast(DataType::Float64).alias(name)
    }));
    let purchases = transactions
        .select(columns)
        .filter(col("day").lt(lit(cutoff_day)));
    // The service means come from every purchase before the cut-off,
    // before the join, so a customer's figure never depends on which other
    // customers the caller asked for. The mean of a large group is summed
    // in parallel, in an order that varies from run to run, and its last
    // bits with it (hence every `price_index`, the model and its metrics):
    // rounded to a millionth of a currency unit it is the same every run.
    // A purchase without a service id has no price ratio (the join does
    // not match nulls).
    let service_means = purchases
        .clone()
        .filter(col("service_id").is_not_null())
        .group_by([col("service_id")])
        .agg([
            ((col("amount").mean() * lit(1e6)).round(0, RoundMode::HalfToEven) / lit(1e6))
                .alias("service_mean"),
        ]);
    let purchases = purchases
        .left_join(service_means, col("service_id"), col("service_id"))
        .with_column((col("amount") / col("service_mean")).alias("price_ratio"))
        .inner_join(map, col("record_id"), col("record_id"));

    let distinct = |name: &str, alias: &str| {
        col(name)
            .drop_nulls()
            .n_unique()
            .cast(DataType::Float64)
            .alias(alias)
    };
    let mut aggs = vec![
        len().cast(DataType::Float64).alias("frequency"),
        col("amount").sum().alias("monetary_total"),
        col("amount").mean().alias("monetary_mean"),
        col("amount").min().alias("monetary_min"),
        col("amount").max().alias("monetary_max"),
        // Population std of one purchase is 0, not undefined.
        col("amount").std(0).alias("monetary_std"),
        col("price_ratio").mean().alias("price_index"),
        col("day").min().alias("first_day"),
        col("day").max().alias("last_day"),
        distinct("service_id", "distinct_services"),
        distinct("service_category", "distinct_categories"),
        distinct("location", "distinct_locations"),
    ];
    for (s, is_cat) in term_masks("service_category", categories) {
        aggs.push(
            when(is_cat.clone())
                .then(col("amount"))
                .otherwise(lit(0.0))
                .sum()
                .alias(format!("spend_{s}")),
        );
        aggs.push(
            is_cat
                .cast(DataType::Float64)
                .sum()
                .alias(format!("txns_{s}")),
        );
    }
    for m in measures {
        let value = || col(format!("{MEASURE_PREFIX}{m}"));
        let [sum, mean, nonzero] = measure_feature_names(m);
        aggs.push(value().sum().alias(sum));
        aggs.push(value().mean().alias(mean));
        aggs.push(
            value()
                .neq(lit(0.0))
                .cast(DataType::Float64)
                .mean()
                .alias(nonzero),
        );
    }
    aggs.extend(lifetimes_aggregates(cutoff_day));
    purchases.group_by([col("customer_id")]).agg(aggs)
}

/// `lifetimes`' summary columns before the cut-off (see
/// `pipeline_core::vocabulary::LIFETIMES_FEATURES`), as aggregates of one
/// customer's purchases: a repeat is a purchase day after the first, and the
/// mean value of the repeat days is their amount over their number (0
/// without repeat, as lifetimes has it).
fn lifetimes_aggregates(cutoff_day: i32) -> Vec<Expr> {
    let days = || col("day").n_unique().cast(DataType::Float64);
    let first = || col("day").min();
    let repeat_amount = || col("amount").filter(col("day").neq(first())).sum();
    vec![
        (days() - lit(1.0)).alias("lt_frequency"),
        (col("day").max() - first())
            .cast(DataType::Float64)
            .alias("lt_recency"),
        (lit(cutoff_day - 1) - first())
            .cast(DataType::Float64)
            .alias("lt_t"),
        when(days().gt(lit(1.0)))
            .then(repeat_amount() / (days() - lit(1.0)))
            .otherwise(lit(0.0))
            .alias("lt_monetary_value"),
    ]
}

/// Per customer: the offer outcomes of the offers sent before the cut-off.
fn offer_figures(
    interactions: LazyFrame,
    map: LazyFrame,
    cutoff_day: i32,
    vocabulary: &Vocabulary,
) -> LazyFrame {
    let flag = |name: &str| col(name).cast(DataType::Float64).alias(name);
    let mut columns = vec![
        col("record_id"),
        col("offer_type"),
        col("sent_date").cast(DataType::Int32).alias("sent_day"),
    ];
    columns.extend(
        vocabulary
            .outcomes
            .iter()
            .filter(|o| *o != "received")
            .map(|o| flag(o)),
    );
    let offers = interactions
        .select(columns)
        .filter(col("sent_day").lt(lit(cutoff_day)))
        .inner_join(map, col("record_id"), col("record_id"))
        .with_column(lit(1.0).alias("received"));
    let types = term_masks("offer_type", &vocabulary.offer_types);
    let mut aggs = Vec::new();
    for outcome in &vocabulary.outcomes {
        aggs.push(
            col(outcome.as_str())
                .sum()
                .alias(format!("offers_{outcome}_total")),
        );
        for (t, is_type) in &types {
            aggs.push(
                when(is_type.clone())
                    .then(col(outcome.as_str()))
                    .otherwise(lit(0.0))
                    .sum()
                    .alias(format!("offers_{outcome}_{t}")),
            );
        }
    }
    offers.group_by([col("customer_id")]).agg(aggs)
}

/// The figures computed from the aggregates: recency, tenure, rates and
/// shares.
fn derived_figures(cutoff_day: i32, vocabulary: &Vocabulary) -> Vec<Expr> {
    let null_f64 = || lit(NULL).cast(DataType::Float64);
    let day_f64 = |name: &str| col(name).cast(DataType::Float64);
    let has_purchase = col("frequency").gt(lit(0.0));
    let mut derived = vec![
        when(has_purchase.clone())
            .then(lit(f64::from(cutoff_day)) - day_f64("last_day"))
            .otherwise(null_f64())
            .alias("recency_days"),
        when(has_purchase.clone())
            .then(lit(f64::from(cutoff_day)) - day_f64("first_day"))
            .otherwise(null_f64())
            .alias("first_purchase_days_ago"),
        when(has_purchase.clone())
            .then(day_f64("last_day") - day_f64("first_day"))
            .otherwise(null_f64())
            .alias("tenure_days"),
        when(col("frequency").gt(lit(1.0)))
            .then((day_f64("last_day") - day_f64("first_day")) / (col("frequency") - lit(1.0)))
            .otherwise(null_f64())
            .alias("mean_days_between"),
        col("frequency")
            .eq(lit(1.0))
            .cast(DataType::Float64)
            .alias("one_time_buyer"),
    ];
    for (outcome, rate) in [
        ("opened", "offers_open_rate"),
        ("clicked", "offers_click_rate"),
        ("redeemed", "offers_redeem_rate"),
    ] {
        if vocabulary.has_outcome(outcome) {
            derived.push(
                ((col(format!("offers_{outcome}_total")) + lit(1.0))
                    / (col("offers_received_total") + lit(2.0)))
                .alias(rate),
            );
        }
    }
    for s in vocabulary.categories.slugs() {
        derived.push(
            when(col("monetary_total").gt(lit(0.0)))
                .then(col(format!("spend_{s}")) / col("monetary_total"))
                .otherwise(lit(0.0))
                .alias(format!("spend_share_{s}")),
        );
        derived.push(
            when(has_purchase.clone())
                .then(col(format!("txns_{s}")) / col("frequency"))
                .otherwise(lit(0.0))
                .alias(format!("txn_share_{s}")),
        );
    }
    derived
}

/// Computes the features of every customer of `entity_map` from the events
/// strictly before `cutoff` (see [`customer_features_plan`]).
pub fn compute_customer_features(
    transactions: LazyFrame,
    interactions: LazyFrame,
    entity_map: LazyFrame,
    cutoff: NaiveDate,
    vocabulary: &Vocabulary,
) -> Result<DataFrame> {
    customer_features_plan(transactions, interactions, entity_map, cutoff, vocabulary)
        .collect()
        .map_err(|source| FeaturesError::Compute {
            cutoff: cutoff.format("%Y-%m-%d").to_string(),
            source,
        })
}

/// The serving cut-off: the day after the last transaction or offer send,
/// so that the features describe everything known.
pub fn default_cutoff(transactions: LazyFrame, interactions: LazyFrame) -> Result<NaiveDate> {
    let last = |lf: LazyFrame, column: &str, table: &'static str| -> Result<Option<i32>> {
        let df = lf
            .select([col(column).cast(DataType::Int32).max().alias("last")])
            .collect()
            .map_err(|source| FeaturesError::Polars {
                what: format!("reading the last {column} of {table}"),
                source,
            })?;
        let value = df
            .column("last")
            .and_then(|c| c.i32().map(|ca| ca.get(0)))
            .map_err(|source| FeaturesError::Polars {
                what: format!("reading the last {column} of {table}"),
                source,
            })?;
        Ok(value)
    };
    let t = last(transactions, "transaction_date", "transactions")?;
    let i = last(interactions, "sent_date", "offer_interactions")?;
    let day = t.max(i).ok_or(FeaturesError::NoEvents {
        table: "transactions and offer_interactions",
    })?;
    Ok(pipeline_core::calendar::from_epoch_days(day + 1))
}
