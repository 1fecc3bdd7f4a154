//! Training examples as point-in-time snapshots.
//!
//! For a cut-off `c` and a window `w`, the examples are the offers sent in
//! `[c, c + w)`, labelled by their redemption, with the customer features
//! computed by `features` from the events strictly before `c`. A label
//! therefore never sees its own row or anything after its send date.
//! Rows are filled only through [`RankerLayout`], as `serve` fills them.

use std::collections::HashMap;

use pipeline_core::calendar::format_epoch_days;
use pipeline_core::ranker_input::{OfferAttributes, RankerLayout};
use pipeline_core::vocabulary::Vocabulary;
use polars::prelude::*;
use rayon::prelude::*;

use crate::error::{Result, TrainError, polars_err};
use crate::ranker::Matrix;

/// The offer catalogue, with the vocabulary slugs the layout needs
/// resolved beforehand (`None`: the vocabulary has no feature for it).
#[derive(Debug, Clone)]
pub struct Catalogue {
    pub offers: Vec<OfferAttributes>,
    pub ids: Vec<String>,
    pub type_slugs: Vec<Option<String>>,
    pub category_slugs: Vec<Option<String>>,
    pub index: HashMap<String, usize>,
    /// Per offer, the first and last day (epoch days, inclusive) it may be
    /// sent and recommended (`offers.valid_from` / `valid_to`; `None`: an
    /// open end), as `serve` filters candidates.
    pub validity: Vec<(Option<i32>, Option<i32>)>,
}

impl Catalogue {
    pub fn from_frame(df: &DataFrame, vocabulary: &Vocabulary) -> Result<Self> {
        let what = "reading offers.parquet";
        let ids = df
            .column("offer_id")
            .and_then(|c| c.str().cloned())
            .map_err(polars_err(what))?;
        let types = df
            .column("offer_type")
            .and_then(|c| c.str().cloned())
            .map_err(polars_err(what))?;
        let values = df
            .column("offer_value")
            .and_then(|c| c.f64().cloned())
            .map_err(polars_err(what))?;
        let cats = df
            .column("category")
            .and_then(|c| c.str().cloned())
            .map_err(polars_err(what))?;
        // Optional columns: absent (a frame built without them) is open.
        let days = |name: &str| -> Result<Vec<Option<i32>>> {
            match df.column(name) {
                Err(_) => Ok(vec![None; df.height()]),
                Ok(c) => Ok(c
                    .cast(&DataType::Int32)
                    .and_then(|c| c.i32().map(|d| d.iter().collect()))
                    .map_err(polars_err(format!("{what}: column `{name}`")))?),
            }
        };
        let validity = days("valid_from")?
            .into_iter()
            .zip(days("valid_to")?)
            .collect();
        let mut offers = Vec::with_capacity(df.height());
        for i in 0..df.height() {
            offers.push(OfferAttributes {
                offer_id: ids.get(i).unwrap_or_default().to_owned(),
                offer_type: types.get(i).unwrap_or_default().to_owned(),
                offer_value: values.get(i).unwrap_or(f64::NAN),
                category: cats.get(i).map(str::to_owned),
            });
        }
        Ok(Self::new(offers, vocabulary).with_validity(validity))
    }

    /// The catalogue with each offer's validity (one per offer, in order).
    pub fn with_validity(mut self, validity: Vec<(Option<i32>, Option<i32>)>) -> Self {
        if validity.len() == self.offers.len() {
            self.validity = validity;
        }
        self
    }

    /// Whether offer `o` may be sent on `day`.
    pub fn valid_on(&self, o: usize, day: i32) -> bool {
        let (from, to) = self.validity[o];
        from.is_none_or(|f| day >= f) && to.is_none_or(|t| day <= t)
    }

    pub fn new(offers: Vec<OfferAttributes>, vocabulary: &Vocabulary) -> Self {
        let ids: Vec<String> = offers.iter().map(|o| o.offer_id.clone()).collect();
        let resolve = |terms: &pipeline_core::vocabulary::Terms, value: Option<&str>| {
            value.and_then(|v| terms.resolve(v).slug().map(str::to_owned))
        };
        Self {
            type_slugs: offers
                .iter()
                .map(|o| resolve(&vocabulary.offer_types, Some(&o.offer_type)))
                .collect(),
            category_slugs: offers
                .iter()
                .map(|o| resolve(&vocabulary.categories, o.category.as_deref()))
                .collect(),
            index: ids
                .iter()
                .enumerate()
                .map(|(i, id)| (id.clone(), i))
                .collect(),
            validity: vec![(None, None); ids.len()],
            ids,
            offers,
        }
    }

    pub fn len(&self) -> usize {
        self.offers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.offers.is_empty()
    }

    /// Fills the ranker row of (customer, offer `o`).
    pub fn fill(&self, layout: &RankerLayout, customer: &[f64], o: usize, out: &mut [f64]) {
        layout.fill_with_slugs(
            customer,
            &self.offers[o],
            self.type_slugs[o].as_deref(),
            self.category_slugs[o].as_deref(),
            out,
        );
    }
}

/// Customer features as a row-major f64 table (null -> NaN).
#[derive(Debug, Clone)]
pub struct FeatureTable {
    pub names: Vec<String>,
    pub ids: Vec<String>,
    pub values: Vec<f64>,
}

impl FeatureTable {
    pub fn from_frame(df: &DataFrame, names: &[String], what: &str) -> Result<Self> {
        let ids: Vec<String> = df
            .column("customer_id")
            .and_then(|c| c.str().cloned())
            .map_err(polars_err(what))?
            .iter()
            .map(|s| s.unwrap_or_default().to_owned())
            .collect();
        Ok(Self {
            names: names.to_vec(),
            ids,
            values: row_major(df, names, what)?,
        })
    }

    /// Like [`FeatureTable::from_frame`], for a frame whose `customer_id`
    /// holds indices into `customer_ids` (see [`crate::events`]).
    pub fn from_coded_frame(
        df: &DataFrame,
        names: &[String],
        customer_ids: &[String],
        what: &str,
    ) -> Result<Self> {
        let codes = df
            .column("customer_id")
            .and_then(|c| c.u32().cloned())
            .map_err(polars_err(what))?;
        let ids = codes
            .iter()
            .map(|code| {
                code.and_then(|c| customer_ids.get(c as usize))
                    .cloned()
                    .ok_or_else(|| {
                        TrainError::NotEnoughData(format!("{what}: unknown customer code {code:?}"))
                    })
            })
            .collect::<Result<Vec<String>>>()?;
        Ok(Self {
            names: names.to_vec(),
            ids,
            values: row_major(df, names, what)?,
        })
    }

    pub fn width(&self) -> usize {
        self.names.len()
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn row(&self, i: usize) -> &[f64] {
        &self.values[i * self.width()..(i + 1) * self.width()]
    }

    pub fn index(&self) -> HashMap<&str, usize> {
        self.ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect()
    }

    /// The columns `cols` of every row, row-major (NaN when absent).
    pub fn select(&self, cols: &[String]) -> Vec<f64> {
        let pos: Vec<Option<usize>> = cols
            .iter()
            .map(|c| self.names.iter().position(|n| n == c))
            .collect();
        let mut out = Vec::with_capacity(self.len() * cols.len());
        for i in 0..self.len() {
            let row = self.row(i);
            out.extend(pos.iter().map(|p| p.map_or(f64::NAN, |j| row[j])));
        }
        out
    }
}

/// The columns `names` of `df` as a row-major f64 table (null -> NaN).
fn row_major(df: &DataFrame, names: &[String], what: &str) -> Result<Vec<f64>> {
    let width = names.len();
    let mut values = vec![f64::NAN; df.height() * width];
    for (j, name) in names.iter().enumerate() {
        let column = df
            .column(name)
            .and_then(|c| c.cast(&DataType::Float64))
            .map_err(polars_err(format!("{what}: feature column `{name}`")))?;
        let ca = column.f64().map_err(polars_err(what))?;
        for (i, v) in ca.iter().enumerate() {
            values[i * width + j] = v.unwrap_or(f64::NAN);
        }
    }
    Ok(values)
}

/// Every offer sent to a resolved customer, in columns.
pub struct Sends {
    /// Sorted resolved customer ids; `customer` indexes into it.
    pub customer_ids: Vec<String>,
    pub customer: Vec<u32>,
    pub record_ids: StringChunked,
    pub offer: Vec<u32>,
    pub day: Vec<i32>,
    pub redeemed: Vec<f32>,
    /// Sends whose offer is not in offers.parquet (skipped).
    pub unknown_offers: usize,
    /// Sends dated outside their offer's validity (skipped: `serve` would
    /// never have recommended the offer that day, so they teach nothing
    /// it can use, and a campaign's redemptions are learnt from its own
    /// window).
    pub outside_validity: usize,
}

impl Sends {
    /// Joins the interactions to the entity map and the catalogue.
    pub fn collect(
        interactions: LazyFrame,
        entity_map: LazyFrame,
        catalogue: &Catalogue,
    ) -> Result<Self> {
        let what = "reading offer_interactions.parquet";
        let map = entity_map.select([col("record_id"), col("customer_id")]);
        let customers = map
            .clone()
            .select([col("customer_id")])
            .unique(None, UniqueKeepStrategy::First)
            .sort(["customer_id"], SortMultipleOptions::default())
            .collect()
            .map_err(polars_err("reading the entity map"))?;
        let customer_ids: Vec<String> = customers
            .column("customer_id")
            .and_then(|c| c.str().cloned())
            .map_err(polars_err("reading the entity map"))?
            .iter()
            .map(|s| s.unwrap_or_default().to_owned())
            .collect();
        let df = interactions
            .select([
                col("record_id"),
                col("offer_id"),
                col("sent_date").cast(DataType::Int32).alias("day"),
                col("redeemed").cast(DataType::Float32).alias("redeemed"),
            ])
            .inner_join(map, col("record_id"), col("record_id"))
            .collect()
            .map_err(polars_err(what))?;
        let index: HashMap<&str, u32> = customer_ids
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i as u32))
            .collect();
        let cust = df
            .column("customer_id")
            .and_then(|c| c.str().cloned())
            .map_err(polars_err(what))?;
        let offer_ids = df
            .column("offer_id")
            .and_then(|c| c.str().cloned())
            .map_err(polars_err(what))?;
        let days = df
            .column("day")
            .and_then(|c| c.i32().cloned())
            .map_err(polars_err(what))?;
        let red = df
            .column("redeemed")
            .and_then(|c| c.f32().cloned())
            .map_err(polars_err(what))?;
        let records = df
            .column("record_id")
            .and_then(|c| c.str().cloned())
            .map_err(polars_err(what))?;
        let mut keep = Vec::with_capacity(df.height());
        let (mut customer, mut offer, mut day, mut redeemed) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut unknown_offers = 0;
        let mut outside_validity = 0;
        for i in 0..df.height() {
            let (Some(c), Some(o), Some(d)) = (cust.get(i), offer_ids.get(i), days.get(i)) else {
                continue;
            };
            let (Some(&ci), Some(&oi)) = (index.get(c), catalogue.index.get(o)) else {
                unknown_offers += 1;
                continue;
            };
            if !catalogue.valid_on(oi, d) {
                outside_validity += 1;
                continue;
            }
            keep.push(i as IdxSize);
            customer.push(ci);
            offer.push(oi as u32);
            day.push(d);
            redeemed.push(red.get(i).unwrap_or(0.0));
        }
        let keep = IdxCa::from_vec("keep".into(), keep);
        let record_ids = records.take(&keep).map_err(polars_err(what))?;
        Ok(Self {
            customer_ids,
            customer,
            record_ids,
            offer,
            day,
            redeemed,
            unknown_offers,
            outside_validity,
        })
    }

    pub fn len(&self) -> usize {
        self.day.len()
    }

    pub fn is_empty(&self) -> bool {
        self.day.is_empty()
    }

    /// Rows sent in `[from, to)`.
    pub fn in_window(&self, from: i32, to: i32) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| self.day[i] >= from && self.day[i] < to)
            .collect()
    }

    /// The distinct customers of `rows`, as indices into
    /// [`Sends::customer_ids`], in first-seen order.
    pub fn customers_of(&self, rows: &[usize]) -> Vec<u32> {
        let mut seen = vec![false; self.customer_ids.len()];
        let mut customers = Vec::new();
        for &r in rows {
            let c = self.customer[r];
            if !std::mem::replace(&mut seen[c as usize], true) {
                customers.push(c);
            }
        }
        customers
    }
}

/// One snapshot: features before `cutoff`, labels sent in `[cutoff, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Snapshot {
    pub cutoff: i32,
    pub end: i32,
}

impl Snapshot {
    pub fn describe(&self) -> String {
        format!(
            "[{}, {})",
            format_epoch_days(self.cutoff),
            format_epoch_days(self.end)
        )
    }
}

/// Consecutive windows of `window` days ending the day after `last_send`,
/// as many as fit after `first_send`: the last is the test window, the one
/// before it validation, the rest training.
pub fn schedule(first_send: i32, last_send: i32, window: i32) -> Result<Vec<Snapshot>> {
    let end = last_send + 1;
    let count = (end - first_send) / window.max(1);
    if count < 3 {
        return Err(TrainError::NotEnoughData(format!(
            "offers were sent over {} days ({} to {}): {window}-day windows give {count} snapshots, \
             need 3 (train, validation, test); pass a smaller --window-days",
            end - first_send,
            format_epoch_days(first_send),
            format_epoch_days(last_send),
        )));
    }
    Ok((0..count)
        .rev()
        .map(|k| Snapshot {
            cutoff: end - (k + 1) * window,
            end: end - k * window,
        })
        .collect())
}

/// Labelled ranker rows of `rows`, with each row's customer index (into
/// [`Sends::customer_ids`]) and offer index.
pub struct ExampleSet {
    pub matrix: Matrix,
    pub rows: Vec<usize>,
}

impl ExampleSet {
    /// No rows yet, `width` columns.
    pub fn empty(width: usize) -> Self {
        Self {
            matrix: Matrix {
                width,
                ..Matrix::default()
            },
            rows: Vec::new(),
        }
    }
}

/// Builds the rows of `rows` (indices into `sends`) from `table`.
pub fn build_examples(
    layout: &RankerLayout,
    table: &FeatureTable,
    sends: &Sends,
    rows: &[usize],
    catalogue: &Catalogue,
) -> Result<ExampleSet> {
    let width = layout.width();
    let index = table.index();
    let feature_row: Vec<usize> = rows
        .iter()
        .map(|&r| {
            let id = &sends.customer_ids[sends.customer[r] as usize];
            index.get(id.as_str()).copied().ok_or_else(|| {
                TrainError::NotEnoughData(format!("customer {id} has a send but no feature row"))
            })
        })
        .collect::<Result<_>>()?;
    let mut x = vec![0.0; rows.len() * width];
    x.par_chunks_mut(width)
        .zip(rows.par_iter().zip(feature_row.par_iter()))
        .for_each(|(out, (&r, &f))| {
            catalogue.fill(layout, table.row(f), sends.offer[r] as usize, out);
        });
    let labels = rows.iter().map(|&r| sends.redeemed[r]).collect();
    Ok(ExampleSet {
        matrix: Matrix { x, labels, width },
        rows: rows.to_vec(),
    })
}

/// Appends `b` to `a`.
pub fn concat(mut a: ExampleSet, b: ExampleSet) -> ExampleSet {
    a.matrix.extend_from(&b.matrix);
    a.rows.extend(b.rows);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_end_the_day_after_the_last_send() {
        let s = schedule(0, 364, 30).unwrap();
        assert_eq!(s.len(), 12);
        assert_eq!(
            s.last().unwrap(),
            &Snapshot {
                cutoff: 335,
                end: 365
            }
        );
        assert_eq!(s[0], Snapshot { cutoff: 5, end: 35 });
        assert!(schedule(0, 50, 30).is_err());
    }
}
