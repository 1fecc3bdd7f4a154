//! The generator's ground truth, for evaluation only: nothing trains on it.
//!
//! A send's true person is its record's `true_customer_id`; a resolved
//! customer's true person is the majority `true_customer_id` of its
//! records (ties broken deterministically). `truth_propensity` may hold only a
//! deterministic sample of people; rows of other people are left out of
//! the figures that need the truth, and the figures say on how many rows
//! they were computed.

use std::collections::HashMap;
use std::path::Path;

use pipeline_core::schema::{CUSTOMERS_TRUTH, TRUTH_PROPENSITY};
use pipeline_core::table_io::read_table;
use polars::prelude::*;

use crate::error::{Result, polars_err};
use crate::examples::Catalogue;

pub struct Truth {
    /// record_id -> person index (only people with propensities).
    record_person: HashMap<String, u32>,
    offers: usize,
    /// person x offer true redemption probability (NaN: unknown).
    propensity: Vec<f32>,
}

impl Truth {
    pub fn load(data_dir: &Path, catalogue: &Catalogue) -> Result<Self> {
        let what = "reading truth_propensity.parquet";
        let prop = read_table(data_dir, &TRUTH_PROPENSITY)?;
        let persons = prop
            .column("true_customer_id")
            .and_then(|c| c.str().cloned())
            .map_err(polars_err(what))?;
        let offer_ids = prop
            .column("offer_id")
            .and_then(|c| c.str().cloned())
            .map_err(polars_err(what))?;
        let values = prop
            .column("propensity")
            .and_then(|c| c.f64().cloned())
            .map_err(polars_err(what))?;
        let mut person_index: HashMap<String, u32> = HashMap::new();
        let offers = catalogue.len();
        let mut propensity = Vec::new();
        // A person's rows are usually consecutive: the last one is reused
        // without hashing, and a new person's id is copied once (not once
        // per row: at 1M people x 200 offers that was 50M allocations).
        let mut last: Option<(&str, u32)> = None;
        for ((p, o), v) in persons.iter().zip(offer_ids.iter()).zip(values.iter()) {
            let (Some(p), Some(o), Some(v)) = (p, o, v) else {
                continue;
            };
            let Some(&oi) = catalogue.index.get(o) else {
                continue;
            };
            let pi = match last {
                Some((lp, pi)) if lp == p => pi,
                _ => {
                    let pi = match person_index.get(p) {
                        Some(&pi) => pi,
                        None => {
                            let pi = person_index.len() as u32;
                            person_index.insert(p.to_owned(), pi);
                            propensity.extend(std::iter::repeat_n(f32::NAN, offers));
                            pi
                        }
                    };
                    last = Some((p, pi));
                    pi
                }
            };
            propensity[pi as usize * offers + oi] = v as f32;
        }
        drop(prop);
        let truth = read_table(data_dir, &CUSTOMERS_TRUTH)?;
        let what = "reading customers_truth.parquet";
        let records = truth
            .column("record_id")
            .and_then(|c| c.str().cloned())
            .map_err(polars_err(what))?;
        let people = truth
            .column("true_customer_id")
            .and_then(|c| c.str().cloned())
            .map_err(polars_err(what))?;
        let mut record_person = HashMap::new();
        for (r, p) in records.iter().zip(people.iter()) {
            if let (Some(r), Some(p)) = (r, p)
                && let Some(&pi) = person_index.get(p)
            {
                record_person.insert(r.to_owned(), pi);
            }
        }
        Ok(Self {
            record_person,
            offers,
            propensity,
        })
    }

    pub fn person_of_record(&self, record_id: &str) -> Option<u32> {
        self.record_person.get(record_id).copied()
    }

    /// True propensity of `person` for offer `o` (None when unknown).
    pub fn propensity(&self, person: u32, o: usize) -> Option<f64> {
        let v = *self.propensity.get(person as usize * self.offers + o)?;
        v.is_finite().then_some(f64::from(v))
    }

    /// Every offer's true propensity for `person`, if all are known.
    pub fn offer_propensities(&self, person: u32) -> Option<Vec<f64>> {
        (0..self.offers)
            .map(|o| self.propensity(person, o))
            .collect()
    }

    /// Majority true person of each resolved customer, from the entity map
    /// (`record_id`, `customer_id`); customers without known truth are
    /// absent.
    pub fn customer_persons(&self, entity_map: LazyFrame) -> Result<HashMap<String, u32>> {
        let what = "reading the entity map";
        let map = entity_map
            .select([col("record_id"), col("customer_id")])
            .collect()
            .map_err(polars_err(what))?;
        let records = map
            .column("record_id")
            .and_then(|c| c.str().cloned())
            .map_err(polars_err(what))?;
        let customers = map
            .column("customer_id")
            .and_then(|c| c.str().cloned())
            .map_err(polars_err(what))?;
        let mut votes: HashMap<&str, HashMap<u32, u32>> = HashMap::new();
        for (r, c) in records.iter().zip(customers.iter()) {
            if let (Some(r), Some(c)) = (r, c)
                && let Some(p) = self.person_of_record(r)
            {
                *votes.entry(c).or_default().entry(p).or_default() += 1;
            }
        }
        Ok(votes
            .into_iter()
            .filter_map(|(c, v)| {
                v.into_iter()
                    .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
                    .map(|(p, _)| (c.to_owned(), p))
            })
            .collect())
    }
}
