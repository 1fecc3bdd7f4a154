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
//! `txn_share_{cat}`, `offers_{received,opened,clicked,redeemed}_{type}`,
//! with slugs from `pipeline_core::catalogue`.

use chrono::NaiveDate;
use pipeline_core::calendar::to_epoch_days;
use pipeline_core::catalogue::{OFFER_TYPES, SERVICE_CATEGORIES, slug};
use pipeline_core::schema::OFFER_OUTCOMES;
use polars::prelude::*;

use crate::error::{FeaturesError, Result};

/// Features that are null when they are undefined (no purchase before the
/// cut-off, or a single purchase for `mean_days_between`).
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

/// Every feature column, in order: the contract's list.
pub use pipeline_core::schema::customer_feature_names as feature_names;

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
/// `amount`, `location`, `transaction_date`; `interactions` needs
/// `record_id`, `offer_type`, `sent_date`, `opened`, `clicked`, `redeemed`;
/// `entity_map` needs `record_id`, `customer_id`. Every customer of
/// `entity_map` gets exactly one row; records absent from it are ignored.
pub fn customer_features_plan(
    transactions: LazyFrame,
    interactions: LazyFrame,
    entity_map: LazyFrame,
    cutoff: NaiveDate,
) -> LazyFrame {
    let cutoff_day = to_epoch_days(cutoff);
    let map = entity_map.select([col("record_id"), col("customer_id")]);

    let purchases = transactions
        .select([
            col("record_id"),
            col("service_id"),
            col("service_category"),
            col("amount"),
            col("location"),
            col("transaction_date").cast(DataType::Int32).alias("day"),
        ])
        .filter(col("day").lt(lit(cutoff_day)));
    // The service means come from every purchase before the cut-off,
    // before the join, so a customer's figure never depends on which other
    // customers the caller asked for. The mean of a large group is summed
    // in parallel, in an order that varies from run to run, and its last
    // bits with it (hence every `price_index`, the model and its metrics):
    // rounded to a millionth of a currency unit it is the same every run.
    let service_means = purchases
        .clone()
        .group_by([col("service_id")])
        .agg([
            ((col("amount").mean() * lit(1e6)).round(0, RoundMode::HalfToEven) / lit(1e6))
                .alias("service_mean"),
        ]);
    let purchases = purchases
        .left_join(service_means, col("service_id"), col("service_id"))
        .with_column((col("amount") / col("service_mean")).alias("price_ratio"))
        .inner_join(map.clone(), col("record_id"), col("record_id"));

    let mut purchase_aggs = vec![
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
        col("service_id")
            .n_unique()
            .cast(DataType::Float64)
            .alias("distinct_services"),
        col("service_category")
            .n_unique()
            .cast(DataType::Float64)
            .alias("distinct_categories"),
        col("location")
            .n_unique()
            .cast(DataType::Float64)
            .alias("distinct_locations"),
    ];
    for cat in SERVICE_CATEGORIES {
        let s = slug(cat);
        let is_cat = col("service_category").eq(lit(cat));
        purchase_aggs.push(
            when(is_cat.clone())
                .then(col("amount"))
                .otherwise(lit(0.0))
                .sum()
                .alias(format!("spend_{s}")),
        );
        purchase_aggs.push(
            is_cat
                .cast(DataType::Float64)
                .sum()
                .alias(format!("txns_{s}")),
        );
    }
    let purchases = purchases.group_by([col("customer_id")]).agg(purchase_aggs);

    let flag = |name: &str| col(name).cast(DataType::Float64).alias(name);
    let offers = interactions
        .select([
            col("record_id"),
            col("offer_type"),
            col("sent_date").cast(DataType::Int32).alias("sent_day"),
            flag("opened"),
            flag("clicked"),
            flag("redeemed"),
        ])
        .filter(col("sent_day").lt(lit(cutoff_day)))
        .inner_join(map.clone(), col("record_id"), col("record_id"))
        .with_column(lit(1.0).alias("received"));
    let mut offer_aggs = Vec::new();
    for outcome in OFFER_OUTCOMES {
        offer_aggs.push(col(outcome).sum().alias(format!("offers_{outcome}_total")));
        for t in OFFER_TYPES {
            offer_aggs.push(
                when(col("offer_type").eq(lit(t)))
                    .then(col(outcome))
                    .otherwise(lit(0.0))
                    .sum()
                    .alias(format!("offers_{outcome}_{}", slug(t))),
            );
        }
    }
    let offers = offers.group_by([col("customer_id")]).agg(offer_aggs);

    let customers = map
        .group_by([col("customer_id")])
        .agg([len().cast(DataType::Float64).alias("n_records")]);

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
        ((col("offers_opened_total") + lit(1.0)) / (col("offers_received_total") + lit(2.0)))
            .alias("offers_open_rate"),
        ((col("offers_clicked_total") + lit(1.0)) / (col("offers_received_total") + lit(2.0)))
            .alias("offers_click_rate"),
        ((col("offers_redeemed_total") + lit(1.0)) / (col("offers_received_total") + lit(2.0)))
            .alias("offers_redeem_rate"),
    ];
    for cat in SERVICE_CATEGORIES {
        let s = slug(cat);
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

    // Counts and totals of a customer without events are 0; the figures in
    // NULLABLE_FEATURES stay null.
    let mut zero_filled: Vec<String> = vec!["frequency".into(), "monetary_total".into()];
    zero_filled.extend(
        [
            "distinct_services",
            "distinct_categories",
            "distinct_locations",
        ]
        .map(String::from),
    );
    for cat in SERVICE_CATEGORIES {
        let s = slug(cat);
        zero_filled.push(format!("spend_{s}"));
        zero_filled.push(format!("txns_{s}"));
    }
    for outcome in OFFER_OUTCOMES {
        zero_filled.push(format!("offers_{outcome}_total"));
        for t in OFFER_TYPES {
            zero_filled.push(format!("offers_{outcome}_{}", slug(t)));
        }
    }
    let fills: Vec<Expr> = zero_filled
        .iter()
        .map(|n| col(n.as_str()).fill_null(lit(0.0)))
        .collect();

    let mut output = vec![col("customer_id")];
    output.extend(
        feature_names()
            .into_iter()
            .map(|n| col(n.as_str()).cast(DataType::Float64)),
    );

    customers
        .left_join(purchases, col("customer_id"), col("customer_id"))
        .left_join(offers, col("customer_id"), col("customer_id"))
        .with_columns(fills)
        .with_columns(derived)
        .select(output)
        .sort(["customer_id"], SortMultipleOptions::default())
}

/// Computes the features of every customer of `entity_map` from the events
/// strictly before `cutoff` (see [`customer_features_plan`]).
pub fn compute_customer_features(
    transactions: LazyFrame,
    interactions: LazyFrame,
    entity_map: LazyFrame,
    cutoff: NaiveDate,
) -> Result<DataFrame> {
    customer_features_plan(transactions, interactions, entity_map, cutoff)
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
