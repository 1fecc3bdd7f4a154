//! The synthetic data generator: customers with realistic duplicate
//! records, their purchases, the offer catalogue and offer interactions,
//! plus the ground truth kept aside for evaluation (`customers_truth`,
//! `truth_propensity`).
//!
//! Generation is chunked: [`population::generate_chunk`] makes a fixed
//! number of people from an RNG seeded by the run's seed and the chunk's
//! index, chunks run in parallel (rayon) and are written in order, so the
//! same seed gives byte-identical tables whatever the thread count. Each
//! table has its own writer thread, so a wave is encoded and compressed
//! while the next one is generated. Memory stays bounded by a few waves of
//! chunks (the writers' queues are one wave deep), not by the size of the
//! run.

pub mod catalogue;
pub mod ceiling;
mod error;
pub mod geography;
pub mod names;
pub mod population;
pub mod response;
pub mod tables;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use pipeline_core::schema::TableSpec;
use pipeline_core::schema::{
    CUSTOMERS_RAW, CUSTOMERS_TRUTH, OFFER_INTERACTIONS, OFFERS, TRANSACTIONS, TRUTH_PROPENSITY,
};
use pipeline_core::table_io::{TableSink, TableWriter, write_json_atomic};
use pipeline_core::telemetry::{StageTimer, progress_bar};
use polars::prelude::DataFrame;
use rayon::prelude::*;
use serde::Serialize;

pub use error::DatagenError;
use population::{Calendar, ChunkPlan, RawChunk, generate_chunk};
use tables::{ChunkOffsets, ChunkTables, IdFormat, chunk_tables, offers_table};

/// Base people per chunk. Part of the output's definition: changing it
/// changes the tables a seed gives.
pub const CHUNK_PEOPLE: u64 = 10_000;
/// Above this many person x offer pairs, `truth_propensity` keeps a
/// deterministic sample of people.
pub const TRUTH_PAIR_LIMIT: u64 = 50_000_000;
pub const MAX_OFFERS: usize = 999;
pub const MAX_CUSTOMERS: u64 = 20_000_000;
pub const META_FILE: &str = "datagen_meta.json";

/// A validated generation request.
#[derive(Debug, Clone)]
pub struct DatagenConfig {
    /// Base people; look-alikes (other people sharing a name, phone or
    /// e-mail with one of them) come on top, about 9%.
    pub customers: u64,
    pub offers: usize,
    pub seed: u64,
    /// Last day of history.
    pub end_date: NaiveDate,
    pub sink: TableSink,
}

impl DatagenConfig {
    pub fn validate(&self) -> Result<(), DatagenError> {
        if self.customers == 0 || self.customers > MAX_CUSTOMERS {
            return Err(DatagenError::InvalidArgument {
                field: "--customers",
                message: format!("{} (expected 1 to {MAX_CUSTOMERS})", self.customers),
            });
        }
        if self.offers == 0 || self.offers > MAX_OFFERS {
            return Err(DatagenError::InvalidArgument {
                field: "--offers",
                message: format!("{} (expected 1 to {MAX_OFFERS})", self.offers),
            });
        }
        Ok(())
    }

    /// One person in this many has their true propensities written.
    pub fn truth_stride(&self) -> u64 {
        (self.customers * self.offers as u64)
            .div_ceil(TRUTH_PAIR_LIMIT)
            .max(1)
    }
}

/// What a run wrote; also saved as `datagen_meta.json` beside the tables.
#[derive(Debug, Clone, Serialize)]
pub struct DatagenSummary {
    pub seed: u64,
    pub base_people: u64,
    pub lookalike_people: u64,
    pub records: u64,
    pub transactions: u64,
    pub offer_interactions: u64,
    pub truth_propensity_rows: u64,
    /// One person in `truth_stride` is in `truth_propensity` (1 = all).
    pub truth_stride: u64,
    pub offers: usize,
    pub history_start: String,
    pub offers_start: String,
    pub end_date: String,
    pub seconds: f64,
}

/// Wall time spent in each phase of the chunk loop, for the debug log.
#[derive(Default)]
struct PhaseTimes {
    generate: Duration,
    build: Duration,
    /// Blocked handing chunks to writers that are behind.
    wait_for_writers: Duration,
}

/// The chunk tables in the order of [`CHUNK_TABLE_SPECS`].
fn into_frames(t: ChunkTables) -> [DataFrame; 5] {
    [
        t.customers_raw,
        t.customers_truth,
        t.transactions,
        t.offer_interactions,
        t.truth_propensity,
    ]
}

/// The tables every chunk adds rows to, each written by its own thread.
const CHUNK_TABLE_SPECS: [&TableSpec; 5] = [
    &CUSTOMERS_RAW,
    &CUSTOMERS_TRUTH,
    &TRANSACTIONS,
    &OFFER_INTERACTIONS,
    &TRUTH_PROPENSITY,
];

/// Writes one table's chunks in the order they arrive, opening the file on
/// the first. Returns the still uncommitted writer (none if no chunk came)
/// and the time spent writing.
fn write_table(
    sink: &TableSink,
    spec: &'static TableSpec,
    frames: mpsc::Receiver<DataFrame>,
) -> Result<(Option<TableWriter>, Duration), DatagenError> {
    let mut writer: Option<TableWriter> = None;
    let mut busy = Duration::ZERO;
    for mut frame in frames {
        let t = Instant::now();
        let w = match writer.as_mut() {
            Some(w) => w,
            None => writer.insert(sink.batched(spec, frame.schema())?),
        };
        w.write(&mut frame)?;
        busy += t.elapsed();
    }
    Ok((writer, busy))
}

fn build_err(table: &'static str) -> impl FnOnce(polars::error::PolarsError) -> DatagenError {
    move |source| DatagenError::Build { table, source }
}

/// Generates every datagen table of the contract into `config.sink`.
pub fn run(config: &DatagenConfig) -> Result<DatagenSummary, DatagenError> {
    config.validate()?;
    let started = Instant::now();
    let timer = StageTimer::start("datagen");
    let end = pipeline_core::calendar::to_epoch_days(config.end_date);
    let calendar = Calendar::ending(end);
    let offers = catalogue::offers(config.offers, config.seed);
    let plan = ChunkPlan {
        seed: config.seed,
        calendar,
        offers: offers.clone(),
        truth_stride: config.truth_stride(),
    };
    let ids = IdFormat::for_people(config.customers);
    let centres = geography::centre_names();

    let mut offers_df = offers_table(&offers).map_err(build_err("offers"))?;
    let chunks = config.customers.div_ceil(CHUNK_PEOPLE) as usize;
    // Enough chunks in flight to keep every core busy while the previous
    // wave is written; few enough to bound memory.
    let wave = (2 * rayon::current_num_threads()).max(2);
    let bar = progress_bar(config.customers, "people");
    let mut offsets = ChunkOffsets::default();
    let mut totals = (0u64, 0u64);
    let mut phase = PhaseTimes::default();

    // Each table is written (encoded, compressed) by its own thread, in
    // chunk order, while the next wave is generated: zstd runs on the
    // thread that writes, so one writer thread for all tables was the
    // bottleneck.
    let (generated, written) = std::thread::scope(|scope| {
        let mut senders = Vec::with_capacity(CHUNK_TABLE_SPECS.len());
        let mut writers = Vec::with_capacity(CHUNK_TABLE_SPECS.len());
        for spec in CHUNK_TABLE_SPECS {
            let (tx, rx) = mpsc::sync_channel::<DataFrame>(wave);
            let sink = &config.sink;
            let thread = std::thread::Builder::new()
                .name(format!("write {}", spec.name))
                .spawn_scoped(scope, move || write_table(sink, spec, rx))
                .map_err(|source| DatagenError::Thread {
                    table: spec.name,
                    source,
                });
            senders.push(tx);
            writers.push(thread);
        }
        let generated = (|| -> Result<(), DatagenError> {
            for wave_start in (0..chunks).step_by(wave) {
                let wave_chunks: Vec<usize> =
                    (wave_start..(wave_start + wave).min(chunks)).collect();
                let t0 = Instant::now();
                let raw: Vec<RawChunk> = wave_chunks
                    .par_iter()
                    .map(|&c| {
                        let start = c as u64 * CHUNK_PEOPLE;
                        let end = (start + CHUNK_PEOPLE).min(config.customers);
                        generate_chunk(&plan, c, start..end)
                    })
                    .collect();
                let t1 = Instant::now();
                let mut chunk_offsets = Vec::with_capacity(raw.len());
                for chunk in &raw {
                    chunk_offsets.push(offsets);
                    offsets.advance(chunk);
                }
                let built: Vec<ChunkTables> = raw
                    .par_iter()
                    .zip(chunk_offsets.par_iter())
                    .map(|(chunk, &off)| chunk_tables(chunk, off, &ids, &offers, &centres))
                    .collect::<Result<_, _>>()
                    .map_err(build_err("chunk"))?;
                let t2 = Instant::now();
                for (chunk, tables) in raw.iter().zip(built) {
                    totals.0 += tables.truth_propensity.height() as u64;
                    for (tx, frame) in senders.iter().zip(into_frames(tables)) {
                        if tx.send(frame).is_err() {
                            // That writer stopped on an error (or never
                            // started), which its join below reports.
                            return Ok(());
                        }
                    }
                    totals.1 += chunk.base_len() as u64;
                    bar.set_position(totals.1);
                }
                phase.generate += t1 - t0;
                phase.build += t2 - t1;
                phase.wait_for_writers += t2.elapsed();
            }
            Ok(())
        })();
        drop(senders);
        let written: Vec<_> = writers
            .into_iter()
            .map(|thread| match thread?.join() {
                Ok(written) => written,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect();
        (generated, written)
    });
    generated?;
    let mut writers = Vec::with_capacity(written.len());
    let mut busy = Vec::with_capacity(written.len());
    for w in written {
        let (writer, time) = w?;
        writers.extend(writer);
        busy.push(format!("{:.2}", time.as_secs_f64()));
    }
    tracing::debug!(
        generate_s = phase.generate.as_secs_f64(),
        build_s = phase.build.as_secs_f64(),
        wait_for_writers_s = phase.wait_for_writers.as_secs_f64(),
        writers_busy_s = busy.join(" "),
        "phases"
    );
    bar.finish_and_clear();
    config.sink.write(&OFFERS, &mut offers_df)?;
    for w in writers {
        w.finish()?;
    }

    let summary = DatagenSummary {
        seed: config.seed,
        base_people: config.customers,
        lookalike_people: offsets.lookalike,
        records: offsets.record,
        transactions: offsets.transaction,
        offer_interactions: offsets.interaction,
        truth_propensity_rows: totals.0,
        truth_stride: plan.truth_stride,
        offers: offers.len(),
        history_start: pipeline_core::calendar::format_epoch_days(calendar.history_start),
        offers_start: pipeline_core::calendar::format_epoch_days(calendar.offers_start),
        end_date: pipeline_core::calendar::format_epoch_days(calendar.end),
        seconds: started.elapsed().as_secs_f64(),
    };
    write_json_atomic(config.sink.dir.join(META_FILE), &summary)?;
    let rows_out = summary.records * 2
        + summary.transactions
        + summary.offer_interactions
        + summary.truth_propensity_rows
        + offers.len() as u64;
    timer.finish(
        0,
        rows_out,
        format!(
            "{} people + {} look-alikes, {} records, {} transactions, {} offer interactions",
            summary.base_people,
            summary.lookalike_people,
            summary.records,
            summary.transactions,
            summary.offer_interactions
        ),
    );
    Ok(summary)
}

/// Concatenates the frames of a table, for tests and small runs.
pub fn stack(frames: Vec<DataFrame>) -> polars::error::PolarsResult<DataFrame> {
    let mut iter = frames.into_iter();
    let Some(mut first) = iter.next() else {
        return Ok(DataFrame::empty());
    };
    for f in iter {
        first.vstack_mut(&f)?;
    }
    Ok(first)
}
