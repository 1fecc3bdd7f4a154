//! Entity resolution: probabilistic deduplication of customer records.
//!
//! `customers_raw` (or any table described by a settings file) goes
//! through the choice of the comparisons and rules its columns can feed
//! ([`plan`]), cleaning and integer encoding ([`clean`]), blocking by several
//! rules whose pairs are united ([`blocking`]), graded field comparisons
//! ([`compare`]), a Fellegi-Sunter model trained without labels
//! ([`fellegi_sunter`]), clustering with a chain guard ([`cluster`]), and
//! ends in `entity_map`, `match_pairs` and `er_report.json` ([`report`]).
//!
//! Resolved customer ids are named after the cluster's representative, its
//! smallest record id: `REC0000042` -> `CUS0000042` with the built-in
//! settings, `C-<record id>` otherwise. The same input gives the same ids,
//! and a person keeps their id in the next run as long as that record is
//! still in their cluster and no smaller record id joins it.
//!
//! API boundary: reads and writes happen only in [`run`] and [`explain`];
//! the modules compute.

pub mod blocking;
pub mod clean;
pub mod cluster;
pub mod compare;
pub mod error;
pub mod fellegi_sunter;
pub mod plan;
pub mod report;
pub mod settings;

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use pipeline_core::quality::{self, Screen, TableReport};
use pipeline_core::schema::{CUSTOMERS_RAW, CUSTOMERS_TRUTH, ENTITY_MAP, MATCH_PAIRS};
use pipeline_core::table_io::{self, TableSink};
use pipeline_core::telemetry::{StageTimer, peak_rss_bytes};
use polars::prelude::*;
use rayon::prelude::*;
use serde::Serialize;

use crate::blocking::{Candidates, unpack};
use crate::clean::{EncodedField, FxBuild};
use crate::cluster::Link;
use crate::compare::{Comparator, Pattern, level_of};
use crate::error::{ErError, Result};
use crate::fellegi_sunter::{Model, Scorer, probability};
use crate::plan::{ComparisonPlan, DropReason, IdentityReason, Mode};
use crate::report::{BlockingReport, ChainGuardReport, PhaseTiming, Report, Truth};
pub use crate::settings::Settings;
use crate::settings::{FieldKind, FieldSettings};

/// The model file name, in the model directory (customers) or the output
/// directory (`--input`).
pub const MODEL_FILE: &str = "er_model.json";

/// The stage's name in its rejects file (`customers_raw.entity-resolution.rejects.parquet`).
pub const STAGE: &str = "entity-resolution";
pub const REPORT_FILE: &str = "er_report.json";

/// Everything a run needs, parsed once from the command line.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub model_dir: PathBuf,
    /// Another table (CSV or Parquet) instead of `customers_raw`.
    pub input: Option<PathBuf>,
    pub settings: Option<PathBuf>,
    /// Where `--input` runs write; defaults to the input's folder.
    pub output_dir: Option<PathBuf>,
    pub csv: bool,
    pub seed: u64,
    /// Train even when a saved model fits the settings.
    pub retrain: bool,
    /// Overrides the settings' match threshold.
    pub threshold: Option<f64>,
    /// Compare nothing: every record is its own customer.
    pub no_entity_resolution: bool,
    /// The data-quality screen of `customers_raw` (the contract table;
    /// an `--input` table is checked by its settings only).
    pub screen: Screen,
}

impl Config {
    /// A config resolving `customers_raw` of `data_dir`.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>, model_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            model_dir: model_dir.into(),
            input: None,
            settings: None,
            output_dir: None,
            csv: false,
            seed: 42,
            retrain: false,
            threshold: None,
            no_entity_resolution: false,
            screen: Screen::default(),
        }
    }

    fn input_path(&self) -> PathBuf {
        self.input
            .clone()
            .unwrap_or_else(|| table_io::table_path(&self.data_dir, &CUSTOMERS_RAW))
    }

    fn output_dir(&self) -> PathBuf {
        match (&self.input, &self.output_dir) {
            (_, Some(dir)) => dir.clone(),
            (None, None) => self.data_dir.clone(),
            (Some(input), None) => input
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
        }
    }

    fn model_path(&self) -> PathBuf {
        match self.input {
            None => self.model_dir.join(MODEL_FILE),
            Some(_) => self.output_dir().join(MODEL_FILE),
        }
    }
}

/// The loaded, validated and encoded input.
struct Prepared {
    /// The settings restricted to the comparisons and rules used.
    settings: Settings,
    plan: ComparisonPlan,
    input: PathBuf,
    frame: DataFrame,
    fields: Vec<EncodedField>,
    truth: Option<Truth>,
    /// What the screen found in `customers_raw` (`None`: an `--input`).
    screened: Option<TableReport>,
}

impl Prepared {
    /// `; input: ...` for the summary line, when the input was screened.
    fn input_quality(&self) -> String {
        self.screened.as_ref().map_or_else(String::new, |r| {
            format!(
                "; input: {}",
                quality::summary(std::slice::from_ref(&r.quality))
            )
        })
    }

    fn ids(&self) -> Result<Vec<&str>> {
        let path = &self.input;
        let column = self.settings.id_column.as_str();
        let ids = id_column(&self.frame, path, column)?;
        Ok(ids.iter().map(|v| v.unwrap_or_default()).collect())
    }
}

fn id_column<'a>(frame: &'a DataFrame, path: &Path, column: &str) -> Result<&'a StringChunked> {
    let col = frame.column(column).map_err(|_| ErError::MissingColumn {
        path: path.to_path_buf(),
        column: column.to_owned(),
        field: "id_column".to_owned(),
        present: present_columns(frame),
    })?;
    col.str().map_err(|_| ErError::WrongType {
        path: path.to_path_buf(),
        column: column.to_owned(),
        field: "id_column".to_owned(),
        found: col.dtype().to_string(),
        expected: "a string column".to_owned(),
    })
}

fn present_columns(frame: &DataFrame) -> String {
    frame
        .get_column_names()
        .iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn load_settings(config: &Config) -> Result<Settings> {
    let mut settings = match &config.settings {
        Some(path) => Settings::from_file(path)?,
        None => Settings::customers()?,
    };
    if let Some(t) = config.threshold {
        if !(0.0 < t && t < 1.0) {
            return Err(ErError::InvalidSettings {
                origin: "--threshold".into(),
                message: format!("expected a probability strictly between 0 and 1, got {t}"),
            });
        }
        settings.match_threshold = t;
    }
    Ok(settings)
}

fn read_input(path: &Path, settings: &Settings) -> Result<DataFrame> {
    if !path.is_file() {
        return Err(pipeline_core::CoreError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "input file not found"),
        )
        .into());
    }
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let read_err = |what| {
        let path = path.to_path_buf();
        move |source| ErError::Read { path, what, source }
    };
    let mut frame = match ext.as_str() {
        "csv" => {
            // Every column as text: postcodes and ids keep their zeros.
            let separator = settings.csv_separator as u8;
            CsvReadOptions::default()
                .with_has_header(true)
                .with_infer_schema_length(Some(0))
                .with_raise_if_empty(false)
                .map_parse_options(|o| o.with_separator(separator))
                .try_into_reader_with_file_path(Some(path.to_path_buf()))
                .and_then(|r| r.finish())
                .map_err(read_err("CSV"))?
        }
        "parquet" | "pq" => {
            let file = File::open(path).map_err(|e| pipeline_core::CoreError::io(path, e))?;
            ParquetReader::new(file)
                .finish()
                .map_err(read_err("Parquet"))?
        }
        _ => {
            return Err(ErError::UnsupportedFormat {
                path: path.to_path_buf(),
            });
        }
    };
    // ", "-separated files (FEBRL) have padded headers.
    let names: Vec<PlSmallStr> = frame
        .get_column_names()
        .iter()
        .map(|c| PlSmallStr::from(c.trim()))
        .collect();
    frame
        .set_column_names(&names)
        .map_err(read_err("column names"))?;
    Ok(frame)
}

/// Encodes every field of the settings whose column the table has, or
/// says why it cannot be compared (absent, or no usable value). A column
/// present with a type that cannot be compared is an error.
fn encode_fields(
    frame: &DataFrame,
    path: &Path,
    settings: &Settings,
) -> Result<Vec<std::result::Result<EncodedField, DropReason>>> {
    let n = frame.height();
    let columns: Vec<Option<StringChunked>> = settings
        .fields
        .iter()
        .map(|field| field_as_text(frame, path, field))
        .collect::<Result<_>>()?;
    Ok(settings
        .fields
        .par_iter()
        .zip(columns.par_iter())
        .map(|(field, column)| {
            let column = column.as_ref().ok_or(DropReason::ColumnAbsent)?;
            if column.null_count() == n {
                return Err(DropReason::NoValues);
            }
            let encoded = clean::encode_field(field.kind, column.iter(), n);
            if encoded.non_null == 0 {
                return Err(DropReason::NoValues);
            }
            Ok(encoded)
        })
        .collect())
}

/// The column of `field` as text, `None` when the table does not have it;
/// an all-null column of no type (`null`) is all-null text.
fn field_as_text(
    frame: &DataFrame,
    path: &Path,
    field: &FieldSettings,
) -> Result<Option<StringChunked>> {
    let name = field.column();
    let Ok(col) = frame.column(name) else {
        return Ok(None);
    };
    let dtype = col.dtype();
    let accepted = dtype == &DataType::String
        || dtype == &DataType::Null
        || dtype.is_integer()
        || (field.kind == FieldKind::Date && dtype == &DataType::Date);
    if !accepted {
        return Err(ErError::WrongType {
            path: path.to_path_buf(),
            column: name.to_owned(),
            field: field.name.clone(),
            found: dtype.to_string(),
            expected: if field.kind == FieldKind::Date {
                "a date32, string or integer column".to_owned()
            } else {
                "a string or integer column".to_owned()
            },
        });
    }
    let text_err = |source| ErError::Read {
        path: path.to_path_buf(),
        what: "a column as text",
        source,
    };
    let as_text = col.cast(&DataType::String).map_err(text_err)?;
    let text = as_text.str().map_err(text_err)?;
    Ok(Some(text.rechunk().into_owned()))
}

fn check_ids(frame: &DataFrame, path: &Path, column: &str) -> Result<()> {
    let ids = id_column(frame, path, column)?;
    if ids.null_count() > 0 {
        return Err(ErError::NullIds {
            path: path.to_path_buf(),
            column: column.to_owned(),
            count: ids.null_count(),
        });
    }
    let mut sorted: Vec<&str> = ids.iter().flatten().collect();
    sorted.par_sort_unstable();
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        return Err(ErError::DuplicateId {
            path: path.to_path_buf(),
            column: column.to_owned(),
            id: w[0].to_owned(),
        });
    }
    Ok(())
}

fn load_truth(
    config: &Config,
    settings: &Settings,
    frame: &DataFrame,
    ids: &[&str],
) -> Result<Option<Truth>> {
    if config.input.is_none() {
        let path = table_io::table_path(&config.data_dir, &CUSTOMERS_TRUTH);
        if !path.is_file() {
            return Ok(None);
        }
        let truth = table_io::read_table(&config.data_dir, &CUSTOMERS_TRUTH)?;
        let index: HashMap<&str, usize, FxBuild> =
            ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        fn str_col<'f>(frame: &'f DataFrame, path: &Path, name: &str) -> Result<&'f StringChunked> {
            frame
                .column(name)
                .and_then(|c| c.str())
                .map_err(|source| ErError::Read {
                    path: path.to_path_buf(),
                    what: "the truth table",
                    source,
                })
        }
        let (rec, person, kind) = (
            str_col(&truth, &path, "record_id")?,
            str_col(&truth, &path, "true_customer_id")?,
            str_col(&truth, &path, "dup_type")?,
        );
        let mut entity = vec![u32::MAX; ids.len()];
        let mut kinds = vec![0u8; ids.len()];
        let mut people: HashMap<&str, u32, FxBuild> = HashMap::default();
        let kind_names: Vec<String> = pipeline_core::schema::DUP_TYPES
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        for ((r, p), k) in rec.iter().zip(person.iter()).zip(kind.iter()) {
            let (Some(r), Some(p), Some(k)) = (r, p, k) else {
                continue;
            };
            let Some(&i) = index.get(r) else { continue };
            let next = people.len() as u32;
            entity[i] = *people.entry(p).or_insert(next);
            kinds[i] = kind_names.iter().position(|x| x == k).unwrap_or(0) as u8;
        }
        // Records the truth does not know are their own people.
        let first_unknown = people.len() as u32;
        for (e, next) in entity
            .iter_mut()
            .filter(|e| **e == u32::MAX)
            .zip(first_unknown..)
        {
            *e = next;
        }
        return Ok(Some(Truth {
            entity,
            kind: Some(kinds),
            kind_names,
        }));
    }
    let Some(spec) = &settings.truth else {
        return Ok(None);
    };
    let keys: Vec<String> = if let Some(column) = &spec.column {
        let path = config.input_path();
        let col = frame.column(column).map_err(|_| ErError::MissingColumn {
            path: path.clone(),
            column: column.clone(),
            field: "truth.column".into(),
            present: present_columns(frame),
        })?;
        let text = col
            .cast(&DataType::String)
            .map_err(|source| ErError::Read {
                path: path.clone(),
                what: "the truth column",
                source,
            })?;
        let text = text.str().map_err(|source| ErError::Read {
            path,
            what: "the truth column",
            source,
        })?;
        text.iter()
            .enumerate()
            .map(|(i, v)| v.map_or_else(|| format!("\u{0}{i}"), str::to_owned))
            .collect()
    } else if !spec.id_markers.is_empty() {
        ids.iter()
            .map(|id| {
                let cut = spec
                    .id_markers
                    .iter()
                    .filter_map(|m| id.find(m.as_str()))
                    .min()
                    .unwrap_or(id.len());
                id[..cut].to_owned()
            })
            .collect()
    } else {
        return Ok(None);
    };
    let mut people: HashMap<&str, u32, FxBuild> = HashMap::default();
    let entity = keys
        .iter()
        .map(|k| {
            let next = people.len() as u32;
            *people.entry(k.as_str()).or_insert(next)
        })
        .collect();
    Ok(Some(Truth {
        entity,
        kind: None,
        kind_names: Vec::new(),
    }))
}

fn prepare(config: &Config, timings: &mut Vec<PhaseTiming>) -> Result<Prepared> {
    let settings = load_settings(config)?;
    let started = Instant::now();
    let input = config.input_path();
    let (frame, screened) = match &config.input {
        None => {
            let raw = table_io::read_table(&config.data_dir, &CUSTOMERS_RAW)?;
            let screened =
                quality::screen(&input, &CUSTOMERS_RAW, raw.lazy(), &[], &config.screen)?;
            let frame = screened.table.collect().map_err(|source| ErError::Read {
                path: input.clone(),
                what: "the screened records",
                source,
            })?;
            (frame, Some(screened.report))
        }
        Some(path) => (read_input(path, &settings)?, None),
    };
    if frame.height() == 0 {
        return Err(ErError::Empty { path: input });
    }
    check_ids(&frame, &input, &settings.id_column)?;
    timings.push(PhaseTiming {
        phase: "read",
        seconds: started.elapsed().as_secs_f64(),
    });
    let started = Instant::now();
    let disabled = if config.no_entity_resolution {
        Some(IdentityReason::Flag)
    } else if !settings.resolve {
        Some(IdentityReason::Settings)
    } else {
        None
    };
    let (settings, plan, fields) = match disabled {
        Some(reason) => (
            settings.restricted_to(&[]).0,
            ComparisonPlan::disabled(reason),
            Vec::new(),
        ),
        None => {
            let encoded = encode_fields(&frame, &input, &settings)?;
            let unusable: Vec<Option<DropReason>> =
                encoded.iter().map(|e| e.as_ref().err().copied()).collect();
            let (settings, plan) = ComparisonPlan::new(&settings, &unusable);
            let fields = if plan.mode == Mode::Identity {
                Vec::new()
            } else {
                encoded.into_iter().filter_map(|e| e.ok()).collect()
            };
            (settings, plan, fields)
        }
    };
    plan.log();
    timings.push(PhaseTiming {
        phase: "clean",
        seconds: started.elapsed().as_secs_f64(),
    });
    let mut prepared = Prepared {
        settings,
        plan,
        input,
        frame,
        fields,
        truth: None,
        screened,
    };
    let truth = {
        let ids = prepared.ids()?;
        load_truth(config, &prepared.settings, &prepared.frame, &ids)?
    };
    prepared.truth = truth;
    Ok(prepared)
}

fn block(prepared: &Prepared) -> Result<Candidates> {
    let rules = blocking_rules(prepared)?;
    Ok(blocking::candidate_pairs(
        &prepared.fields,
        &rules,
        prepared.settings.max_block_size,
        prepared.settings.window,
    ))
}

/// The blocking rules of the settings, their keys resolved to fields.
fn blocking_rules(prepared: &Prepared) -> Result<Vec<(String, Vec<settings::KeyPart>)>> {
    let resolved =
        prepared
            .settings
            .resolved_blocking()
            .map_err(|message| ErError::InvalidSettings {
                origin: prepared.input.display().to_string(),
                message,
            })?;
    let rules: Vec<(String, Vec<settings::KeyPart>)> = prepared
        .settings
        .blocking
        .iter()
        .map(|r| r.name.clone())
        .zip(resolved)
        .collect();
    Ok(rules)
}

/// A saved model that fits the settings, if any.
fn saved_model(path: &Path, settings: &Settings) -> Result<Option<Model>> {
    if !path.is_file() {
        return Ok(None);
    }
    let model: Model =
        pipeline_core::artifacts::read_json(path).map_err(|e| ErError::BadModel {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    if model.fingerprint != settings.model_fingerprint() {
        tracing::warn!(path = %path.display(), "saved model was trained with other settings; retraining");
        return Ok(None);
    }
    model.check(settings).map_err(|message| ErError::BadModel {
        path: path.to_path_buf(),
        message,
    })?;
    Ok(Some(model))
}

fn count_patterns(patterns: &[Pattern]) -> HashMap<Pattern, u64, FxBuild> {
    patterns
        .par_iter()
        .fold(HashMap::<Pattern, u64, FxBuild>::default, |mut acc, &p| {
            *acc.entry(p).or_insert(0) += 1;
            acc
        })
        .reduce(HashMap::default, |mut a, b| {
            for (k, v) in b {
                *a.entry(k).or_insert(0) += v;
            }
            a
        })
}

/// The saved model when one fits the settings (and `--retrain` is not
/// given), else one trained on the candidates' comparison vectors; and
/// whether it was reused.
fn fit_or_load(
    config: &Config,
    prepared: &Prepared,
    comparator: &Comparator<'_>,
    patterns: &[Pattern],
) -> Result<(Model, bool)> {
    let settings = &prepared.settings;
    let reused = if config.retrain {
        None
    } else {
        saved_model(&config.model_path(), settings)?
    };
    let model_reused = reused.is_some();
    let model = match reused {
        Some(m) => m,
        None => {
            let counts = count_patterns(patterns);
            let n = prepared.frame.height();
            fellegi_sunter::train(
                comparator,
                settings,
                &counts,
                n,
                patterns.len(),
                config.seed,
            )
        }
    };
    tracing::info!(
        lambda = model.lambda,
        iterations = model.em_iterations,
        reused = model_reused,
        "model ready"
    );
    Ok((model, model_reused))
}

/// The candidate pairs that are linked: at or above the threshold under
/// `model`, or without one, those the exact-agreement rule links.
fn link_pairs(
    prepared: &Prepared,
    model: Option<&Model>,
    pairs: &[u64],
    patterns: &[Pattern],
) -> Vec<Link> {
    let fields = &prepared.fields;
    let link = |p: u64, w: f64| {
        let (a, b) = unpack(p);
        Link {
            a: a as u32,
            b: b as u32,
            weight: w as f32,
        }
    };
    let Some(model) = model else {
        return pairs
            .par_iter()
            .zip(patterns.par_iter())
            .filter_map(|(&p, &pattern)| {
                compare::exact_agreement_weight(fields, pattern, unpack(p).0).map(|w| link(p, w))
            })
            .collect();
    };
    let scorer = Scorer::new(model, fields);
    let threshold = prepared.settings.match_threshold;
    let threshold_weight = (threshold / (1.0 - threshold)).log2();
    pairs
        .par_iter()
        .zip(patterns.par_iter())
        .filter_map(|(&p, &pattern)| {
            let w = scorer.weight(fields, pattern, unpack(p).0);
            (w >= threshold_weight).then(|| link(p, w))
        })
        .collect()
}

/// Resolves the input of `config` and writes `entity_map`, `match_pairs`,
/// the model and `er_report.json`. Nothing is written unless every step
/// before succeeded.
pub fn run(config: &Config) -> anyhow::Result<Report> {
    let timer = StageTimer::start("entity-resolution");
    let mut timings = Vec::new();
    let prepared = prepare(config, &mut timings)
        .with_context(|| format!("resolving {}", config.input_path().display()))?;
    if prepared.plan.mode == Mode::Identity {
        return run_identity(config, &prepared, timer, timings);
    }
    let settings = &prepared.settings;
    let n = prepared.frame.height();
    tracing::info!(
        records = n,
        fields = settings.fields.len(),
        "input cleaned and encoded"
    );

    let started = Instant::now();
    let candidates = block(&prepared)?;
    let n_pairs = candidates.pairs.len();
    timings.push(PhaseTiming {
        phase: "block",
        seconds: started.elapsed().as_secs_f64(),
    });
    tracing::info!(candidate_pairs = n_pairs, "blocked");

    let started = Instant::now();
    let comparator = Comparator::new(&prepared.fields, &settings.fields);
    let patterns: Vec<Pattern> = candidates
        .pairs
        .par_iter()
        .map(|&p| {
            let (a, b) = unpack(p);
            comparator.pattern(a, b)
        })
        .collect();
    let compare_seconds = started.elapsed().as_secs_f64();
    timings.push(PhaseTiming {
        phase: "compare",
        seconds: compare_seconds,
    });

    let started = Instant::now();
    let model_path = config.model_path();
    let (model, model_reused) = match prepared.plan.mode {
        Mode::Probabilistic => {
            let (model, reused) = fit_or_load(config, &prepared, &comparator, &patterns)?;
            (Some(model), reused)
        }
        Mode::ExactAgreement | Mode::Identity => (None, false),
    };
    timings.push(PhaseTiming {
        phase: "train",
        seconds: started.elapsed().as_secs_f64(),
    });

    let started = Instant::now();
    let links = link_pairs(&prepared, model.as_ref(), &candidates.pairs, &patterns);
    timings.push(PhaseTiming {
        phase: "score",
        seconds: started.elapsed().as_secs_f64(),
    });

    let started = Instant::now();
    let plain = cluster::connected_components(n, &links);
    let (clustering, guard_stats) =
        cluster::guarded_components(n, &links, &settings.chain_guard, &plain);
    let ids = prepared.ids()?;
    let customer_ids = name_clusters(&clustering.cluster_of, clustering.clusters, &ids, &prepared)?;
    let mut sizes = vec![0u32; clustering.clusters];
    for &c in &clustering.cluster_of {
        sizes[c as usize] += 1;
    }
    timings.push(PhaseTiming {
        phase: "cluster",
        seconds: started.elapsed().as_secs_f64(),
    });

    let started = Instant::now();
    let (pc, pc_findable) = match &prepared.truth {
        Some(t) => {
            let (a, b) = t.pair_completeness(&candidates.pairs);
            (Some(a), Some(b))
        }
        None => (None, None),
    };
    let quality = prepared
        .truth
        .as_ref()
        .map(|t| report::evaluate(&clustering.cluster_of, t));
    let quality_without_guard = match (&prepared.truth, guard_stats.links_cut) {
        (Some(t), cut) if cut > 0 => Some(report::evaluate(&plain.cluster_of, t)),
        (Some(_), _) => quality.clone(),
        _ => None,
    };
    timings.push(PhaseTiming {
        phase: "evaluate",
        seconds: started.elapsed().as_secs_f64(),
    });

    // Writing: everything above succeeded.
    let started = Instant::now();
    let output_dir = config.output_dir();
    let mut entity_map = entity_map_frame(&ids, &customer_ids, &clustering.cluster_of, &sizes)?;
    let linked_by_model = model.is_some();
    let mut pairs =
        match_pairs_frame(&links, &ids, &comparator, &settings.fields, linked_by_model)?;
    let rejects_file = write_tables(config, &prepared, &mut entity_map, &mut pairs)?;
    if let Some(model) = model.as_ref().filter(|_| !model_reused) {
        table_io::write_json_atomic(&model_path, model)
            .with_context(|| format!("writing {}", model_path.display()))?;
    }
    timings.push(PhaseTiming {
        phase: "write",
        seconds: started.elapsed().as_secs_f64(),
    });

    let total = timer.elapsed().as_secs_f64();
    let all_pairs = n as f64 * (n as f64 - 1.0) / 2.0;
    let report = Report {
        input: prepared.input.display().to_string(),
        output_dir: output_dir.display().to_string(),
        records: n,
        data_quality: prepared.screened.as_ref().map(|r| r.quality.clone()),
        rejects_file: rejects_file.map(|p| p.display().to_string()),
        fields: settings.fields.iter().map(|f| f.name.clone()).collect(),
        resolution: prepared.plan.clone(),
        blocking: BlockingReport {
            rules: candidates.rules.clone(),
            candidate_pairs: n_pairs as u64,
            all_pairs,
            reduction_ratio: if all_pairs > 0.0 {
                1.0 - n_pairs as f64 / all_pairs
            } else {
                1.0
            },
            pairs_completeness: pc,
            pairs_completeness_findable: pc_findable,
        },
        model_path: linked_by_model.then(|| model_path.display().to_string()),
        model_reused,
        model,
        match_threshold: settings.match_threshold,
        linked_pairs: links.len() as u64,
        clusters: clustering.clusters,
        multi_record_clusters: sizes.iter().filter(|&&s| s > 1).count(),
        largest_cluster: sizes.iter().copied().max().unwrap_or(0) as usize,
        chain_guard: ChainGuardReport {
            enabled: settings.chain_guard.enabled,
            max_weight: settings.chain_guard.max_weight,
            min_side: settings.chain_guard.min_side,
            stats: guard_stats,
            clusters_without_guard: plain.clusters,
            quality_without_guard,
        },
        quality,
        timings,
        total_seconds: total,
        records_per_second: n as f64 / total.max(1e-9),
        pairs_compared_per_second: n_pairs as f64 / compare_seconds.max(1e-9),
        peak_rss_bytes: peak_rss_bytes(),
    };
    let report_path = output_dir.join(REPORT_FILE);
    table_io::write_json_atomic(&report_path, &report)
        .with_context(|| format!("writing {}", report_path.display()))?;
    timer.finish(
        n as u64,
        clustering.clusters as u64,
        format!(
            "{}; {} candidate pairs, {} linked{}",
            prepared.plan,
            n_pairs,
            links.len(),
            prepared.input_quality()
        ),
    );
    Ok(report)
}

/// Writes `entity_map` and `match_pairs` (empty when nothing was linked)
/// into the output directory of `config`.
fn write_tables(
    config: &Config,
    prepared: &Prepared,
    entity_map: &mut DataFrame,
    pairs: &mut DataFrame,
) -> anyhow::Result<Option<PathBuf>> {
    let output_dir = config.output_dir();
    let sink = TableSink::new(&output_dir, config.csv);
    sink.write(&ENTITY_MAP, entity_map)
        .with_context(|| format!("writing {}", output_dir.join(ENTITY_MAP.file).display()))?;
    sink.write(&MATCH_PAIRS, pairs)
        .or_else(|e| match e {
            // No linked pair at all is a valid result: write the empty table.
            pipeline_core::CoreError::Empty { .. } => write_empty(&output_dir, pairs),
            other => Err(other),
        })
        .with_context(|| format!("writing {}", output_dir.join(MATCH_PAIRS.file).display()))?;
    // Last: a failure above leaves the previous run's rejects with its
    // previous tables.
    match &prepared.screened {
        Some(report) => Ok(quality::write_rejects(
            &output_dir,
            STAGE,
            &mut report.clone(),
        )?),
        None => Ok(None),
    }
}

/// The run without matching: every record is its own customer, named from
/// its record id as a cluster of one would be; `match_pairs` is written
/// empty (its contract columns only) and the report has no model, so the
/// stages downstream run as usual.
fn run_identity(
    config: &Config,
    prepared: &Prepared,
    timer: StageTimer,
    mut timings: Vec<PhaseTiming>,
) -> anyhow::Result<Report> {
    let started = Instant::now();
    let settings = &prepared.settings;
    let n = prepared.frame.height();
    let ids = prepared.ids()?;
    let cluster_of: Vec<u32> = (0..n as u32).collect();
    let customer_ids = name_clusters(&cluster_of, n, &ids, prepared)?;
    let sizes = vec![1u32; n];
    let quality = prepared
        .truth
        .as_ref()
        .map(|t| report::evaluate(&cluster_of, t));
    let mut entity_map = entity_map_frame(&ids, &customer_ids, &cluster_of, &sizes)?;
    let mut pairs = match_pairs_frame(&[], &ids, &Comparator::new(&[], &[]), &[], false)?;
    let rejects_file = write_tables(config, prepared, &mut entity_map, &mut pairs)?;
    timings.push(PhaseTiming {
        phase: "write",
        seconds: started.elapsed().as_secs_f64(),
    });
    let total = timer.elapsed().as_secs_f64();
    let output_dir = config.output_dir();
    let report = Report {
        input: prepared.input.display().to_string(),
        output_dir: output_dir.display().to_string(),
        records: n,
        data_quality: prepared.screened.as_ref().map(|r| r.quality.clone()),
        rejects_file: rejects_file.map(|p| p.display().to_string()),
        fields: Vec::new(),
        resolution: prepared.plan.clone(),
        blocking: BlockingReport {
            rules: Vec::new(),
            candidate_pairs: 0,
            all_pairs: n as f64 * (n as f64 - 1.0) / 2.0,
            reduction_ratio: 1.0,
            pairs_completeness: None,
            pairs_completeness_findable: None,
        },
        model_path: None,
        model_reused: false,
        model: None,
        match_threshold: settings.match_threshold,
        linked_pairs: 0,
        clusters: n,
        multi_record_clusters: 0,
        largest_cluster: usize::from(n > 0),
        chain_guard: ChainGuardReport {
            enabled: false,
            max_weight: settings.chain_guard.max_weight,
            min_side: settings.chain_guard.min_side,
            stats: cluster::GuardStats::default(),
            clusters_without_guard: n,
            quality_without_guard: quality.clone(),
        },
        quality,
        timings,
        total_seconds: total,
        records_per_second: n as f64 / total.max(1e-9),
        pairs_compared_per_second: 0.0,
        peak_rss_bytes: peak_rss_bytes(),
    };
    let report_path = output_dir.join(REPORT_FILE);
    table_io::write_json_atomic(&report_path, &report)
        .with_context(|| format!("writing {}", report_path.display()))?;
    timer.finish(
        n as u64,
        n as u64,
        format!("{}{}", prepared.plan, prepared.input_quality()),
    );
    Ok(report)
}

fn write_empty(dir: &Path, frame: &mut DataFrame) -> pipeline_core::Result<PathBuf> {
    let path = table_io::table_path(dir, &MATCH_PAIRS);
    let mut out = table_io::AtomicFile::create(&path)?;
    ParquetWriter::new(out.handle()?)
        .finish(frame)
        .map_err(|source| pipeline_core::CoreError::Write {
            path: path.clone(),
            source,
        })?;
    out.commit()
}

/// Customer id of every cluster from its smallest record id. Two clusters
/// named alike (`digits_only` on ids whose letters differ: `A1`, `B1`) are
/// an error: they would become one customer downstream.
fn name_clusters(
    cluster_of: &[u32],
    clusters: usize,
    ids: &[&str],
    prepared: &Prepared,
) -> Result<Vec<String>> {
    let mut representative: Vec<Option<&str>> = vec![None; clusters];
    for (r, &c) in cluster_of.iter().enumerate() {
        let slot = &mut representative[c as usize];
        if slot.is_none_or(|cur| ids[r] < cur) {
            *slot = Some(ids[r]);
        }
    }
    let names: Vec<String> = representative
        .iter()
        .map(|rep| customer_id(rep.unwrap_or_default(), &prepared.settings))
        .collect();
    if !prepared.settings.customer_id.digits_only {
        // Distinct record ids with one prefix: distinct names.
        return Ok(names);
    }
    let mut seen: HashMap<&str, usize, FxBuild> = HashMap::default();
    for (c, name) in names.iter().enumerate() {
        if let Some(&first) = seen.get(name.as_str()) {
            return Err(ErError::CustomerIdCollision {
                path: prepared.input.clone(),
                record_a: representative[first].unwrap_or_default().to_owned(),
                record_b: representative[c].unwrap_or_default().to_owned(),
                customer_id: name.clone(),
            });
        }
        seen.insert(name, c);
    }
    Ok(names)
}

/// The resolved customer id named by representative record `id`.
pub fn customer_id(id: &str, settings: &Settings) -> String {
    let style = &settings.customer_id;
    if style.digits_only {
        let digits: String = id.chars().filter(char::is_ascii_digit).collect();
        if !digits.is_empty() {
            return format!("{}{digits}", style.prefix);
        }
    }
    format!("{}{id}", style.prefix)
}

fn build_err(table: &'static str) -> impl Fn(PolarsError) -> ErError {
    move |source| ErError::Build { table, source }
}

fn entity_map_frame(
    ids: &[&str],
    customer_ids: &[String],
    cluster_of: &[u32],
    sizes: &[u32],
) -> Result<DataFrame> {
    let customer: Vec<&str> = cluster_of
        .iter()
        .map(|&c| customer_ids[c as usize].as_str())
        .collect();
    let size: Vec<u32> = cluster_of.iter().map(|&c| sizes[c as usize]).collect();
    DataFrame::new_infer_height(vec![
        Column::new("record_id".into(), ids),
        Column::new("customer_id".into(), customer),
        Column::new("cluster_size".into(), size),
    ])
    .map_err(build_err("entity_map"))
}

/// The linked pairs as the `match_pairs` table. Without a model
/// (`linked_by_model` false: the exact-agreement rule) a pair's probability
/// is 1 and its weight the evidence of the values it shares.
fn match_pairs_frame(
    links: &[Link],
    ids: &[&str],
    comparator: &Comparator<'_>,
    fields: &[FieldSettings],
    linked_by_model: bool,
) -> Result<DataFrame> {
    let left: Vec<&str> = links.iter().map(|l| ids[l.a as usize]).collect();
    let right: Vec<&str> = links.iter().map(|l| ids[l.b as usize]).collect();
    let weight: Vec<f64> = links.iter().map(|l| f64::from(l.weight)).collect();
    let prob: Vec<f64> = weight
        .iter()
        .map(|&w| if linked_by_model { probability(w) } else { 1.0 })
        .collect();
    let mut columns = vec![
        Column::new("record_id_l".into(), left),
        Column::new("record_id_r".into(), right),
        Column::new("match_weight".into(), weight),
        Column::new("match_probability".into(), prob),
    ];
    let patterns: Vec<Pattern> = links
        .par_iter()
        .map(|l| comparator.pattern(l.a as usize, l.b as usize))
        .collect();
    for (f, field) in fields.iter().enumerate() {
        // The comparison level per field, -1 when a value is missing.
        let levels: Vec<i8> = patterns
            .iter()
            .map(|&p| level_of(p, f).map_or(-1, |l| l as i8))
            .collect();
        columns.push(Column::new(format!("gamma_{}", field.name).into(), levels));
    }
    DataFrame::new_infer_height(columns).map_err(build_err("match_pairs"))
}

/// One field's part of a pair's match weight.
#[derive(Debug, Clone, Serialize)]
pub struct FieldExplanation {
    pub field: String,
    pub value_l: Option<String>,
    pub value_r: Option<String>,
    pub level: Option<String>,
    /// P(level) among matches.
    pub m: Option<f64>,
    /// P(level) in the non-match class the pair is explained against.
    pub u: Option<f64>,
    /// log2(m / u), 0 when a value is missing.
    pub weight: f64,
    /// Term-frequency adjustment of exact agreement.
    pub tf_adjustment: f64,
    pub cumulative: f64,
}

/// The match weight of one pair, field by field (Splink's waterfall).
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub record_l: String,
    pub record_r: String,
    /// The non-match class the pair is most like; `u` is its.
    pub against: String,
    /// log2 of the match class's share over `against`'s.
    pub prior_weight: f64,
    pub fields: Vec<FieldExplanation>,
    /// log2 of `against`'s probability of the pair over all non-match
    /// classes' (0 with a single non-match class, negative otherwise).
    pub other_classes: f64,
    pub match_weight: f64,
    pub match_probability: f64,
    pub threshold: f64,
    pub linked: bool,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "match weight of {} and {} (u of the class \"{}\", the non-matches they are most like)",
            self.record_l, self.record_r, self.against
        )?;
        writeln!(
            f,
            "  {:<16} {:<22} {:<22} {:<20} {:>9} {:>9} {:>8} {:>7} {:>9}",
            "field", "left", "right", "level", "m", "u", "weight", "tf", "total"
        )?;
        writeln!(
            f,
            "  {:<16} {:<22} {:<22} {:<20} {:>9} {:>9} {:>8.2} {:>7} {:>9.2}",
            "prior", "", "", "", "", "", self.prior_weight, "", self.prior_weight
        )?;
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(missing)".into());
        let num = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |x| format!("{x:.5}"));
        for e in &self.fields {
            writeln!(
                f,
                "  {:<16} {:<22} {:<22} {:<20} {:>9} {:>9} {:>8.2} {:>7.2} {:>9.2}",
                e.field,
                show(&e.value_l),
                show(&e.value_r),
                e.level.clone().unwrap_or_else(|| "null".into()),
                num(e.m),
                num(e.u),
                e.weight,
                e.tf_adjustment,
                e.cumulative
            )?;
        }
        writeln!(
            f,
            "  {:<16} {:<22} {:<22} {:<20} {:>9} {:>9} {:>8.2} {:>7} {:>9.2}",
            "other classes", "", "", "", "", "", self.other_classes, "", self.match_weight
        )?;
        writeln!(
            f,
            "  match weight {:.3}, probability {:.6} ({} at threshold {})",
            self.match_weight,
            self.match_probability,
            if self.linked { "linked" } else { "not linked" },
            self.threshold
        )
    }
}

/// Explains the match weight of records `record_l` and `record_r` with the
/// saved model (trained first when there is none that fits).
pub fn explain(config: &Config, record_l: &str, record_r: &str) -> anyhow::Result<Explanation> {
    let mut timings = Vec::new();
    let prepared = prepare(config, &mut timings)
        .with_context(|| format!("reading {}", config.input_path().display()))?;
    if let Some(why) = prepared.plan.without_model() {
        return Err(ErError::NoModel { why }.into());
    }
    let settings = &prepared.settings;
    let ids = prepared.ids()?;
    let find = |id: &str| {
        ids.iter()
            .position(|x| *x == id)
            .ok_or_else(|| ErError::UnknownRecord {
                path: prepared.input.clone(),
                id: id.to_owned(),
            })
    };
    let (a, b) = (find(record_l)?, find(record_r)?);
    let comparator = Comparator::new(&prepared.fields, &settings.fields);
    let model_path = config.model_path();
    let model = match if config.retrain {
        None
    } else {
        saved_model(&model_path, settings)?
    } {
        Some(m) => m,
        None => {
            tracing::info!("no saved model fits the settings: training one");
            let candidates = block(&prepared)?;
            let patterns: Vec<Pattern> = candidates
                .pairs
                .par_iter()
                .map(|&p| {
                    let (x, y) = unpack(p);
                    comparator.pattern(x, y)
                })
                .collect();
            let counts = count_patterns(&patterns);
            fellegi_sunter::train(
                &comparator,
                settings,
                &counts,
                ids.len(),
                patterns.len(),
                config.seed,
            )
        }
    };
    let scorer = Scorer::new(&model, &prepared.fields);
    let breakdown = scorer.breakdown(&prepared.fields, comparator.pattern(a, b), a);
    let mut cumulative = breakdown.prior;
    let mut fields = Vec::new();
    for (f, (fm, term)) in model.fields.iter().zip(&breakdown.fields).enumerate() {
        let (weight, tf) = term.map_or((0.0, 0.0), |t| (t.weight, t.tf));
        cumulative += weight + tf;
        fields.push(FieldExplanation {
            field: fm.name.clone(),
            value_l: prepared.fields[f].value(a).map(str::to_owned),
            value_r: prepared.fields[f].value(b).map(str::to_owned),
            level: term.map(|t| fm.levels[t.level].clone()),
            m: term.map(|t| t.m),
            u: term.map(|t| t.u),
            weight,
            tf_adjustment: tf,
            cumulative,
        });
    }
    let match_weight = cumulative + breakdown.other_classes;
    Ok(Explanation {
        record_l: record_l.to_owned(),
        record_r: record_r.to_owned(),
        against: breakdown.against,
        prior_weight: breakdown.prior,
        fields,
        other_classes: breakdown.other_classes,
        match_weight,
        match_probability: probability(match_weight),
        threshold: settings.match_threshold,
        linked: probability(match_weight) >= settings.match_threshold,
    })
}
