//! Turns a generated chunk into the contract's tables, once the global
//! offsets of its ids are known.

use crate::catalogue::SERVICE_CATEGORIES;
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
}

/// The tables of one chunk.
pub struct ChunkTables {
    pub customers_raw: DataFrame,
    pub customers_truth: DataFrame,
    pub transactions: DataFrame,
    pub offer_interactions: DataFrame,
    pub truth_propensity: DataFrame,
}

fn date_column(name: &str, days: Vec<i32>) -> Column {
    Int32Chunked::from_vec(name.into(), days)
        .into_date()
        .into_series()
        .into()
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

fn str_col<'a>(name: &str, values: impl Iterator<Item = &'a str>) -> Column {
    StringChunked::from_iter_values(name.into(), values)
        .into_series()
        .into()
}

fn opt_str_col<'a>(name: &str, values: impl Iterator<Item = Option<&'a str>>) -> Column {
    StringChunked::from_iter_options(name.into(), values)
        .into_series()
        .into()
}

/// Appends `n` in decimal, zero-padded to `width` digits.
fn push_padded(buf: &mut String, n: u64, width: usize) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut rest = n;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let len = digits.len() - start;
    buf.extend(std::iter::repeat_n('0', width.saturating_sub(len)));
    buf.extend(digits[start..].iter().map(|&d| char::from(d)));
}

/// The ids `PREFIX{n:0width$}` of `numbers`, written through one reused
/// buffer straight into the column: no `String` per row.
fn id_chunked(
    name: &str,
    prefix: &str,
    width: usize,
    numbers: impl Iterator<Item = u64>,
) -> StringChunked {
    let mut values = StringChunkedBuilder::new(name.into(), numbers.size_hint().0);
    let mut buf = String::with_capacity(prefix.len() + width.max(20));
    for n in numbers {
        buf.clear();
        buf.push_str(prefix);
        push_padded(&mut buf, n, width);
        values.append_value(buf.as_str());
    }
    values.finish()
}

/// The `len` ids numbered on from `after` (the rows of earlier chunks):
/// `PREFIX{after + 1}` to `PREFIX{after + len}`.
fn sequential_ids(name: &str, prefix: &str, width: usize, after: u64, len: usize) -> StringChunked {
    id_chunked(name, prefix, width, (1..=len as u64).map(|i| after + i))
}

/// The values of `source` at `indices`, as the column `name`: gathering
/// shares the source's string data instead of copying it per row.
fn gather(source: &StringChunked, name: &str, indices: &[IdxSize]) -> PolarsResult<Column> {
    let mut out = source.take(indices)?;
    out.rename(name.into());
    Ok(out.into_series().into())
}

fn lookup<'a>(values: impl Iterator<Item = &'a str>) -> StringChunked {
    StringChunked::from_iter_values(PlSmallStr::EMPTY, values)
}

pub fn chunk_tables(
    chunk: &RawChunk,
    offsets: ChunkOffsets,
    ids: &IdFormat,
    offers: &[Offer],
    centres: &[String],
) -> PolarsResult<ChunkTables> {
    let r = &chunk.records;
    let record_ids = sequential_ids("record_id", "REC", ids.record, offsets.record, r.len());
    let base_len = chunk.base_len();
    let person_ids = id_chunked(
        "true_customer_id",
        "P",
        ids.person,
        (0..chunk.people.len()).map(|pi| {
            if pi < base_len {
                chunk.base.start + pi as u64 + 1
            } else {
                ids.base_people + offsets.lookalike + (pi - base_len) as u64 + 1
            }
        }),
    );
    let record_id_col: Column = record_ids.clone().into_series().into();

    let customers_raw = DataFrame::new_infer_height(vec![
        record_id_col.clone(),
        str_col("first_name", r.iter().map(|x| x.first.as_str())),
        str_col("last_name", r.iter().map(|x| x.last.as_str())),
        opt_str_col("email", r.iter().map(|x| x.email.as_deref())),
        opt_str_col("phone", r.iter().map(|x| x.phone.as_deref())),
        opt_date_column("date_of_birth", r.iter().map(|x| x.dob).collect())?,
        str_col("city", r.iter().map(|x| x.city.as_ref())),
        str_col("province", r.iter().map(|x| x.province)),
        str_col("postal_code", r.iter().map(|x| x.postal.as_str())),
        date_column(
            "registration_date",
            r.iter().map(|x| x.registration).collect(),
        ),
    ])?;
    let record_people: Vec<IdxSize> = r.iter().map(|x| x.person as IdxSize).collect();
    let customers_truth = DataFrame::new_infer_height(vec![
        record_id_col,
        gather(&person_ids, "true_customer_id", &record_people)?,
        str_col("dup_type", r.iter().map(|x| x.dup_type.as_str())),
    ])?;

    let t = &chunk.transactions;
    let t_records: Vec<IdxSize> = t.iter().map(|x| x.record as IdxSize).collect();
    let t_services: Vec<IdxSize> = t.iter().map(|x| IdxSize::from(x.service)).collect();
    let t_centres: Vec<IdxSize> = t.iter().map(|x| IdxSize::from(x.centre)).collect();
    let transactions = DataFrame::new_infer_height(vec![
        sequential_ids(
            "transaction_id",
            "TXN",
            ids.transaction,
            offsets.transaction,
            t.len(),
        )
        .into_series()
        .into(),
        gather(&record_ids, "record_id", &t_records)?,
        gather(
            &lookup(SERVICES.iter().map(|s| s.id)),
            "service_id",
            &t_services,
        )?,
        gather(
            &lookup(SERVICES.iter().map(|s| s.name)),
            "service_name",
            &t_services,
        )?,
        gather(
            &lookup(
                SERVICES
                    .iter()
                    .map(|s| SERVICE_CATEGORIES[usize::from(s.category)]),
            ),
            "service_category",
            &t_services,
        )?,
        col("amount", t.iter().map(|x| x.amount).collect::<Vec<_>>()),
        gather(
            &lookup(centres.iter().map(String::as_str)),
            "location",
            &t_centres,
        )?,
        date_column("transaction_date", t.iter().map(|x| x.date).collect()),
    ])?;

    let it = &chunk.interactions;
    let offer_ids = lookup(offers.iter().map(|o| o.id.as_str()));
    let i_records: Vec<IdxSize> = it.iter().map(|x| x.record as IdxSize).collect();
    let i_offers: Vec<IdxSize> = it.iter().map(|x| IdxSize::from(x.offer)).collect();
    let offer_interactions = DataFrame::new_infer_height(vec![
        sequential_ids(
            "interaction_id",
            "INT",
            ids.interaction,
            offsets.interaction,
            it.len(),
        )
        .into_series()
        .into(),
        gather(&record_ids, "record_id", &i_records)?,
        gather(&offer_ids, "offer_id", &i_offers)?,
        gather(
            &lookup(offers.iter().map(|o| o.type_name())),
            "offer_type",
            &i_offers,
        )?,
        col(
            "offer_value",
            it.iter()
                .map(|x| offers[usize::from(x.offer)].value)
                .collect::<Vec<_>>(),
        ),
        date_column("sent_date", it.iter().map(|x| x.sent).collect()),
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
        for (oi, o) in offers.iter().enumerate() {
            truth_people.push(pi as IdxSize);
            truth_offers.push(oi as IdxSize);
            truth_p.push(crate::response::redemption_probability(&person.traits, o));
        }
    }
    let truth_propensity = DataFrame::new_infer_height(vec![
        gather(&person_ids, "true_customer_id", &truth_people)?,
        gather(&offer_ids, "offer_id", &truth_offers)?,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_zero_padded_like_format() {
        for (n, width) in [
            (0, 1),
            (7, 7),
            (1_234_567, 7),
            (12_345_678, 7),
            (u64::MAX, 9),
        ] {
            let ca = id_chunked("id", "REC", width, std::iter::once(n));
            assert_eq!(ca.get(0), Some(format!("REC{n:0width$}").as_str()));
        }
    }
}
