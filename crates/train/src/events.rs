//! The events snapshot features are computed from, with integer keys.
//!
//! Every snapshot computes its customer features with
//! `features::compute_customer_features`, the function that builds the
//! serving table, so training rows and serving rows cannot drift apart.
//! That function joins, groups and counts distinct values on key columns;
//! with the contract's string ids (record, customer, service, location)
//! those string joins and distinct counts were most of the snapshot time
//! (85 s for the 12 snapshots at 1M people). [`KeyedEvents`] replaces the
//! ids once by dense `u32` codes and runs the very same plan on them: two
//! codes are equal exactly when their ids are, and customer codes sort as
//! the ids do (they index the sorted [`Sends::customer_ids`]), so every
//! figure and the row order stay those of the string tables.
//!
//! The cut-off is applied by `compute_customer_features` itself on the
//! event dates, which the coding leaves untouched: a snapshot still sees
//! only the events strictly before its cut-off.
//!
//! [`Sends::customer_ids`]: crate::examples::Sends::customer_ids

use polars::prelude::*;

use pipeline_core::vocabulary::{MEASURE_PREFIX, Vocabulary};

use crate::error::{Result, TrainError, polars_err};
use crate::examples::FeatureTable;

/// Record code of an event whose record is not in the entity map: it
/// matches no entity map row, as the unknown record id matched none.
const UNMAPPED_RECORD: u32 = u32::MAX;

/// Transactions, offer interactions and the entity map with `u32` keys.
pub struct KeyedEvents {
    transactions: DataFrame,
    interactions: DataFrame,
    /// `record_id` (record code), `customer_id` (customer code).
    entity_map: DataFrame,
    /// The customer code of each entity map row, to select customers.
    map_customers: Vec<u32>,
    customer_ids: Vec<String>,
    vocabulary: Vocabulary,
}

/// A `code` column numbering the distinct values of `column` of `frame`.
fn codes(frame: LazyFrame, column: &str) -> LazyFrame {
    frame
        .select([col(column)])
        .unique_stable(None, UniqueKeepStrategy::First)
        .with_row_index("code", None)
        .with_column(col("code").cast(DataType::UInt32))
}

impl KeyedEvents {
    /// Codes the tables. `transactions` and `interactions` have the
    /// columns `features::customer_features_plan` reads, `entity_map` has
    /// `record_id` and `customer_id`; `customer_ids` is the sorted list of
    /// every customer of `entity_map` ([`Sends::customer_ids`]).
    ///
    /// [`Sends::customer_ids`]: crate::examples::Sends::customer_ids
    pub fn new(
        transactions: &DataFrame,
        interactions: &DataFrame,
        entity_map: &DataFrame,
        customer_ids: &[String],
        vocabulary: &Vocabulary,
    ) -> Result<Self> {
        if customer_ids.len() >= UNMAPPED_RECORD as usize {
            return Err(TrainError::NotEnoughData(format!(
                "{} customers do not fit 32-bit codes",
                customer_ids.len()
            )));
        }
        let customers = DataFrame::new(
            customer_ids.len(),
            vec![
                Column::new("customer_id".into(), customer_ids),
                Column::new(
                    "customer_code".into(),
                    (0..customer_ids.len() as u32).collect::<Vec<u32>>(),
                ),
            ],
        )
        .map_err(polars_err("coding the customers"))?;
        let map = entity_map
            .clone()
            .lazy()
            .select([col("record_id"), col("customer_id")]);
        let records = codes(map.clone(), "record_id").rename(["code"], ["record_code"], true);
        let record_code = || {
            col("record_code")
                .fill_null(lit(UNMAPPED_RECORD))
                .alias("record_id")
        };
        let coded_map = map
            .left_join(records.clone(), col("record_id"), col("record_id"))
            .inner_join(customers.lazy(), col("customer_id"), col("customer_id"))
            .select([record_code(), col("customer_code").alias("customer_id")])
            .collect()
            .map_err(polars_err("coding the entity map"))?;

        let tx = transactions.clone().lazy();
        let services = codes(tx.clone(), "service_id").rename(["code"], ["service_code"], true);
        let locations = codes(tx.clone(), "location").rename(["code"], ["location_code"], true);
        let mut columns = vec![
            record_code(),
            col("service_code").alias("service_id"),
            col("service_category"),
            col("amount"),
            col("location_code").alias("location"),
            col("transaction_date"),
        ];
        columns.extend(
            vocabulary
                .measures
                .iter()
                .map(|m| col(format!("{MEASURE_PREFIX}{m}"))),
        );
        let transactions = tx
            .left_join(records.clone(), col("record_id"), col("record_id"))
            .left_join(services, col("service_id"), col("service_id"))
            .left_join(locations, col("location"), col("location"))
            .select(columns)
            .collect()
            .map_err(polars_err("coding the transactions"))?;
        let interactions = interactions
            .clone()
            .lazy()
            .left_join(records, col("record_id"), col("record_id"))
            .select([
                record_code(),
                col("offer_type"),
                col("sent_date"),
                col("opened"),
                col("clicked"),
                col("redeemed"),
            ])
            .collect()
            .map_err(polars_err("coding the offer interactions"))?;
        let map_customers = coded_map
            .column("customer_id")
            .and_then(|c| c.u32().cloned())
            .map_err(polars_err("coding the entity map"))?
            .into_no_null_iter()
            .collect();
        Ok(Self {
            transactions,
            interactions,
            entity_map: coded_map,
            map_customers,
            customer_ids: customer_ids.to_vec(),
            vocabulary: vocabulary.clone(),
        })
    }

    /// Features at `cutoff` (epoch days; events strictly before it count)
    /// of the customers whose codes are `wanted` (every customer when
    /// `None`), one row per customer in customer id order.
    pub fn features_at(
        &self,
        cutoff: i32,
        wanted: Option<&[u32]>,
        names: &[String],
    ) -> Result<FeatureTable> {
        let map = match wanted {
            Some(wanted) => {
                let mut keep = vec![false; self.customer_ids.len()];
                for &c in wanted {
                    if let Some(k) = keep.get_mut(c as usize) {
                        *k = true;
                    }
                }
                let mask: BooleanChunked = self
                    .map_customers
                    .iter()
                    .map(|&c| keep[c as usize])
                    .collect();
                self.entity_map
                    .filter(&mask)
                    .map_err(polars_err("selecting the snapshot customers"))?
            }
            None => self.entity_map.clone(),
        };
        let df = features::compute_customer_features(
            self.transactions.clone().lazy(),
            self.interactions.clone().lazy(),
            map.lazy(),
            pipeline_core::calendar::from_epoch_days(cutoff),
            &self.vocabulary,
        )?;
        FeatureTable::from_coded_frame(
            &df,
            names,
            &self.customer_ids,
            "computing snapshot features",
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use pipeline_core::calendar::to_epoch_days;

    fn day(s: &str) -> i32 {
        to_epoch_days(chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap())
    }

    fn dates(name: &str, v: &[&str]) -> Column {
        let days: Vec<i32> = v.iter().map(|s| day(s)).collect();
        Column::new(name.into(), days)
            .cast(&DataType::Date)
            .unwrap()
    }

    /// (record, category, amount, location, date)
    type Purchase<'a> = (&'a str, &'a str, f64, &'a str, &'a str);
    /// (record, offer type, sent date, redeemed)
    type Sent<'a> = (&'a str, &'a str, &'a str, u8);

    fn transactions(rows: &[Purchase<'static>]) -> DataFrame {
        let c = |f: fn(&Purchase<'static>) -> &'static str| rows.iter().map(f).collect::<Vec<_>>();
        let services: Vec<String> = rows.iter().map(|r| format!("S-{}", r.1)).collect();
        DataFrame::new(
            rows.len(),
            vec![
                Column::new("record_id".into(), c(|r| r.0)),
                Column::new("service_id".into(), services),
                Column::new("service_category".into(), c(|r| r.1)),
                Column::new(
                    "amount".into(),
                    rows.iter().map(|r| r.2).collect::<Vec<_>>(),
                ),
                Column::new("location".into(), c(|r| r.3)),
                dates("transaction_date", &c(|r| r.4)),
                // Every other line without a unit: the non-zero share.
                Column::new(
                    "measure_quantity".into(),
                    rows.iter()
                        .enumerate()
                        .map(|(i, r)| if i % 2 == 0 { r.2 / 50.0 } else { 0.0 })
                        .collect::<Vec<_>>(),
                ),
            ],
        )
        .unwrap()
    }

    fn interactions(rows: &[Sent<'static>]) -> DataFrame {
        let c = |f: fn(&Sent<'static>) -> &'static str| rows.iter().map(f).collect::<Vec<_>>();
        let flag = || rows.iter().map(|r| r.3).collect::<Vec<_>>();
        DataFrame::new(
            rows.len(),
            vec![
                Column::new("record_id".into(), c(|r| r.0)),
                Column::new("offer_type".into(), c(|r| r.1)),
                dates("sent_date", &c(|r| r.2)),
                Column::new("opened".into(), flag()),
                Column::new("clicked".into(), flag()),
                Column::new("redeemed".into(), flag()),
            ],
        )
        .unwrap()
    }

    /// R1 and R2 are C1, R3 is C3, R4 (no events) is C4; R9 is in no
    /// cluster, yet its purchase counts in the service means.
    fn entity_map() -> DataFrame {
        df!(
            "record_id" => ["R3", "R1", "R4", "R2"],
            "customer_id" => ["C3", "C1", "C4", "C1"],
        )
        .unwrap()
    }

    const PURCHASES: &[Purchase] = &[
        ("R1", "Produce", 100.0, "Vancouver", "2026-01-10"),
        ("R1", "Dairy", 300.0, "Vancouver", "2026-02-10"),
        ("R2", "Produce", 200.0, "Burnaby", "2026-03-01"),
        ("R3", "Bakery", 50.0, "Calgary", "2026-02-20"),
        ("R3", "Produce", 120.0, "Calgary", "2026-02-25"),
        ("R9", "Produce", 400.0, "Regina", "2026-01-05"),
    ];

    const SENT: &[Sent] = &[
        ("R1", "Type A", "2026-01-15", 1),
        ("R2", "Type A", "2026-02-15", 0),
        ("R2", "Type B", "2026-02-16", 0),
        ("R3", "Type C", "2026-02-01", 1),
        ("R9", "Type B", "2026-02-01", 1),
    ];

    fn customer_ids() -> Vec<String> {
        ["C1", "C3", "C4"].map(String::from).to_vec()
    }

    /// Two categories and two types kept, the rest in `other`: the coded
    /// tables must fold the same values as the string tables.
    fn vocabulary() -> Vocabulary {
        use pipeline_core::vocabulary::{OFFER_OUTCOMES, Terms};
        let w = |v: &[(&str, f64)]| -> Vec<(String, f64)> {
            v.iter().map(|(n, x)| ((*n).to_owned(), *x)).collect()
        };
        Vocabulary {
            categories: Terms::from_weights(
                &w(&[("Produce", 820.0), ("Dairy", 300.0), ("Bakery", 50.0)]),
                &[],
                2,
            ),
            offer_types: Terms::from_weights(
                &w(&[("Type A", 2.0), ("Type B", 2.0), ("Type C", 1.0)]),
                &[],
                2,
            ),
            outcomes: OFFER_OUTCOMES.map(String::from).to_vec(),
            measures: vec!["quantity".to_owned()],
        }
    }

    fn keyed(purchases: &[Purchase<'static>], sent: &[Sent<'static>]) -> KeyedEvents {
        KeyedEvents::new(
            &transactions(purchases),
            &interactions(sent),
            &entity_map(),
            &customer_ids(),
            &vocabulary(),
        )
        .unwrap()
    }

    /// The features of `wanted` from the string tables, as `features`
    /// computes them.
    fn by_ids(cutoff: &str, wanted: &[&str]) -> FeatureTable {
        let all = entity_map();
        let mask: BooleanChunked = all
            .column("customer_id")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|c| c.is_some_and(|c| wanted.contains(&c)))
            .collect();
        let map = all.filter(&mask).unwrap().lazy();
        let df = features::compute_customer_features(
            transactions(PURCHASES).lazy(),
            interactions(SENT).lazy(),
            map,
            pipeline_core::calendar::from_epoch_days(day(cutoff)),
            &vocabulary(),
        )
        .unwrap();
        FeatureTable::from_frame(&df, &vocabulary().customer_feature_names(), "test").unwrap()
    }

    fn assert_same(a: &FeatureTable, b: &FeatureTable) {
        assert_eq!(a.ids, b.ids);
        assert_eq!(a.names, b.names);
        for (k, (x, y)) in a.values.iter().zip(&b.values).enumerate() {
            let name = &a.names[k % a.width()];
            assert!(
                (x.is_nan() && y.is_nan()) || (x - y).abs() <= 1e-9 * x.abs().max(1.0),
                "{} {name}: {x} vs {y}",
                a.ids[k / a.width()]
            );
        }
    }

    #[test]
    fn coded_keys_give_the_features_of_the_string_ids() {
        let names = vocabulary().customer_feature_names();
        let events = keyed(PURCHASES, SENT);
        for cutoff in ["2026-02-01", "2026-02-21", "2026-04-01"] {
            let all = events.features_at(day(cutoff), None, &names).unwrap();
            assert_eq!(all.ids, ["C1", "C3", "C4"]);
            assert_same(&all, &by_ids(cutoff, &["C1", "C3", "C4"]));
            // Customer codes are indices into `customer_ids`: C3 is 1.
            let some = events.features_at(day(cutoff), Some(&[1]), &names).unwrap();
            assert_eq!(some.ids, ["C3"]);
            assert_same(&some, &by_ids(cutoff, &["C3"]));
        }
        // R9's 400 is in the Produce mean: C1's first Produce (100) is well
        // below it.
        let t = events.features_at(day("2026-01-11"), None, &names).unwrap();
        let price = names.iter().position(|n| n == "price_index").unwrap();
        assert!((t.row(0)[price] - 100.0 / 250.0).abs() < 1e-12);
    }

    #[test]
    fn events_on_or_after_the_cutoff_never_change_a_snapshot() {
        let names = vocabulary().customer_feature_names();
        let cutoff = "2026-02-16";
        let before = keyed(PURCHASES, SENT)
            .features_at(day(cutoff), None, &names)
            .unwrap();
        let mut purchases = PURCHASES.to_vec();
        purchases.push(("R1", "Deli", 999.0, "Surrey", cutoff));
        purchases.push(("R4", "Produce", 5.0, "Surrey", "2026-03-01"));
        purchases.push(("R8", "Dairy", 1.0, "Nowhere", "2026-03-02"));
        let mut sent = SENT.to_vec();
        // A label's own row: sent on the cut-off, redeemed.
        sent.push(("R1", "Type B", cutoff, 1));
        sent.push(("R4", "Type A", "2026-05-01", 1));
        let after = keyed(&purchases, &sent)
            .features_at(day(cutoff), None, &names)
            .unwrap();
        assert_same(&before, &after);
        let later = keyed(&purchases, &sent)
            .features_at(day("2026-06-01"), None, &names)
            .unwrap();
        let frequency = names.iter().position(|n| n == "frequency").unwrap();
        assert_eq!(
            later.row(2)[frequency],
            1.0,
            "C4's late purchase counts later"
        );
    }
}
