//! Turns a generated chunk into the contract's tables, once the global
//! offsets of its ids are known.

use pipeline_core::catalogue::SERVICE_CATEGORIES;
use polars::prelude::*;

use crate::catalogue::{Offer, SERVICES};
use crate::population::RawChunk;

/// Where a chunk's ids start, counted over all earlier chunks.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChunkOffsets {
    pub record: u64,
    pub lookalike: u64,
    pub transaction: u64,
    pub interaction: u64,
}

impl ChunkOffsets {
    pub fn advance(&mut self, chunk: &RawChunk) {
        self.record += chunk.records.len() as u64;
        self.lookalike += chunk.lookalikes() as u64;
        self.transaction += chunk.transactions.len() as u64;
        self.interaction += chunk.interactions.len() as u64;
    }
}

/// Zero-padded widths of the generated ids, fixed for a run from its size
/// so that ids sort as text in the order they were made.
#[derive(Debug, Clone, Copy)]
pub struct IdFormat {
    pub base_people: u64,
    record: usize,
    person: usize,
    transaction: usize,
    interaction: usize,
}

fn digits(n: u64) -> usize {
    n.max(1).ilog10() as usize + 1
}

impl IdFormat {
    pub fn for_people(base_people: u64) -> Self {
        Self {
            base_people,
            record: digits(2 * base_people).max(7),
            person: digits(2 * base_people).max(7),
            transaction: digits(80 * base_people).max(9),
            interaction: digits(40 * base_people).max(9),
        }
    }

    pub fn record(&self, n: u64) -> String {
        format!("REC{:0w$}", n, w = self.record)
    }
    pub fn person(&self, n: u64) -> String {
        format!("P{:0w$}", n, w = self.person)
    }
    fn transaction(&self, n: u64) -> String {
        format!("TXN{:0w$}", n, w = self.transaction)
    }
    fn interaction(&self, n: u64) -> String {
        format!("INT{:0w$}", n, w = self.interaction)
    }
}

/// The tables of one chunk.
pub struct ChunkTables {
    pub customers_raw: DataFrame,
    pub customers_truth: DataFrame,
    pub transactions: DataFrame,
    pub offer_interactions: DataFrame,
    pub truth_propensity: DataFrame,
}

fn date_column(name: &str, days: Vec<i32>) -> PolarsResult<Column> {
    Series::new(name.into(), days)
        .cast(&DataType::Date)
        .map(Column::from)
}

fn opt_date_column(name: &str, days: Vec<Option<i32>>) -> PolarsResult<Column> {
    Series::new(name.into(), days)
        .cast(&DataType::Date)
        .map(Column::from)
}

fn col<T: ?Sized, V>(name: &str, values: V) -> Column
where
    Series: NamedFrom<V, T>,
{
    Series::new(name.into(), values).into()
}

pub fn chunk_tables(
    chunk: &RawChunk,
    offsets: ChunkOffsets,
    ids: &IdFormat,
    offers: &[Offer],
    centres: &[String],
) -> PolarsResult<ChunkTables> {
    let record_ids: Vec<String> = (0..chunk.records.len() as u64)
        .map(|i| ids.record(offsets.record + i + 1))
        .collect();
    let base_len = chunk.base_len();
    let person_ids: Vec<String> = (0..chunk.people.len())
        .map(|pi| {
            let n = if pi < base_len {
                chunk.base.start + pi as u64 + 1
            } else {
                ids.base_people + offsets.lookalike + (pi - base_len) as u64 + 1
            };
            ids.person(n)
        })
        .collect();

    let r = &chunk.records;
    let customers_raw = DataFrame::new_infer_height(vec![
        col("record_id", record_ids.clone()),
        col(
            "first_name",
            r.iter().map(|x| x.first.as_str()).collect::<Vec<_>>(),
        ),
        col(
            "last_name",
            r.iter().map(|x| x.last.as_str()).collect::<Vec<_>>(),
        ),
        col(
            "email",
            r.iter().map(|x| x.email.as_deref()).collect::<Vec<_>>(),
        ),
        col(
            "phone",
            r.iter().map(|x| x.phone.as_deref()).collect::<Vec<_>>(),
        ),
        opt_date_column("date_of_birth", r.iter().map(|x| x.dob).collect())?,
        col(
            "city",
            r.iter().map(|x| x.city.as_str()).collect::<Vec<_>>(),
        ),
        col("province", r.iter().map(|x| x.province).collect::<Vec<_>>()),
        col(
            "postal_code",
            r.iter().map(|x| x.postal.as_str()).collect::<Vec<_>>(),
        ),
        date_column(
            "registration_date",
            r.iter().map(|x| x.registration).collect(),
        )?,
    ])?;
    let customers_truth = DataFrame::new_infer_height(vec![
        col("record_id", record_ids.clone()),
        col(
            "true_customer_id",
            r.iter()
                .map(|x| person_ids[x.person as usize].as_str())
                .collect::<Vec<_>>(),
        ),
        col(
            "dup_type",
            r.iter().map(|x| x.dup_type.as_str()).collect::<Vec<_>>(),
        ),
    ])?;

    let t = &chunk.transactions;
    let service = |x: &crate::population::RawTransaction| &SERVICES[usize::from(x.service)];
    let transactions = DataFrame::new_infer_height(vec![
        col(
            "transaction_id",
            (0..t.len() as u64)
                .map(|i| ids.transaction(offsets.transaction + i + 1))
                .collect::<Vec<_>>(),
        ),
        col(
            "record_id",
            t.iter()
                .map(|x| record_ids[x.record as usize].as_str())
                .collect::<Vec<_>>(),
        ),
        col(
            "service_id",
            t.iter().map(|x| service(x).id).collect::<Vec<_>>(),
        ),
        col(
            "service_name",
            t.iter().map(|x| service(x).name).collect::<Vec<_>>(),
        ),
        col(
            "service_category",
            t.iter()
                .map(|x| SERVICE_CATEGORIES[usize::from(service(x).category)])
                .collect::<Vec<_>>(),
        ),
        col("amount", t.iter().map(|x| x.amount).collect::<Vec<_>>()),
        col(
            "location",
            t.iter()
                .map(|x| centres[usize::from(x.centre)].as_str())
                .collect::<Vec<_>>(),
        ),
        date_column("transaction_date", t.iter().map(|x| x.date).collect())?,
    ])?;

    let it = &chunk.interactions;
    let offer = |x: &crate::population::RawInteraction| &offers[usize::from(x.offer)];
    let offer_interactions = DataFrame::new_infer_height(vec![
        col(
            "interaction_id",
            (0..it.len() as u64)
                .map(|i| ids.interaction(offsets.interaction + i + 1))
                .collect::<Vec<_>>(),
        ),
        col(
            "record_id",
            it.iter()
                .map(|x| record_ids[x.record as usize].as_str())
                .collect::<Vec<_>>(),
        ),
        col(
            "offer_id",
            it.iter().map(|x| offer(x).id.as_str()).collect::<Vec<_>>(),
        ),
        col(
            "offer_type",
            it.iter().map(|x| offer(x).type_name()).collect::<Vec<_>>(),
        ),
        col(
            "offer_value",
            it.iter().map(|x| offer(x).value).collect::<Vec<_>>(),
        ),
        date_column("sent_date", it.iter().map(|x| x.sent).collect())?,
        col("opened", it.iter().map(|x| x.opened).collect::<Vec<_>>()),
        col("clicked", it.iter().map(|x| x.clicked).collect::<Vec<_>>()),
        col(
            "redeemed",
            it.iter().map(|x| x.redeemed).collect::<Vec<_>>(),
        ),
    ])?;

    let mut truth_people = Vec::new();
    let mut truth_offers = Vec::new();
    let mut truth_p = Vec::new();
    for (pi, person) in chunk.people.iter().enumerate() {
        if !chunk.in_truth_sample[pi] {
            continue;
        }
        for o in offers {
            truth_people.push(person_ids[pi].as_str());
            truth_offers.push(o.id.as_str());
            truth_p.push(crate::response::redemption_probability(&person.traits, o));
        }
    }
    let truth_propensity = DataFrame::new_infer_height(vec![
        col("true_customer_id", truth_people),
        col("offer_id", truth_offers),
        col("propensity", truth_p),
    ])?;

    Ok(ChunkTables {
        customers_raw,
        customers_truth,
        transactions,
        offer_interactions,
        truth_propensity,
    })
}

/// The offer catalogue as a table.
pub fn offers_table(offers: &[Offer]) -> PolarsResult<DataFrame> {
    DataFrame::new_infer_height(vec![
        col(
            "offer_id",
            offers.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(),
        ),
        col(
            "offer_name",
            offers.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
        ),
        col(
            "offer_type",
            offers.iter().map(|o| o.type_name()).collect::<Vec<_>>(),
        ),
        col(
            "offer_value",
            offers.iter().map(|o| o.value).collect::<Vec<_>>(),
        ),
        col(
            "category",
            offers.iter().map(|o| o.category_name()).collect::<Vec<_>>(),
        ),
    ])
}
