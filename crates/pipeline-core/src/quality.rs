//! The data-quality rules of the contract, and the screen every stage puts
//! its input tables through.
//!
//! A rule is declared once, beside its column in [`crate::schema`]
//! ([`ColumnSpec::checks`](crate::schema::ColumnSpec)); [`screen`] applies
//! them to a table as read:
//!
//! - a row that breaks a [`Action::Reject`] rule is left out, and kept
//!   with the rule and the column for the stage's rejects file
//!   ([`write_rejects`]);
//! - a value that breaks a [`Action::Clear`] rule (an optional field
//!   holding a placeholder, such as a date of birth of 0001-01-01) is set
//!   to null and the row kept;
//! - both are counted by rule and column ([`TableQuality`], for the
//!   stage's summary line and report), and the stage fails, naming the
//!   rules, when more than `max_reject_share` of a table's rows are
//!   rejected: a table that bad is a broken export, not noise to drop.
//!
//! A row breaking several rules is rejected by the first, in column order;
//! a duplicate key is checked last, among the rows no other rule rejected
//! (the first such row keeps the key). Rules that need another table
//! (`unknown_record`, `unknown_offer`) run only where the stage has it.
//!
//! The screen reads the checked columns once; the table it returns is the
//! input plan itself when nothing broke a rule, so clean data costs one
//! pass over those columns.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::calendar::to_epoch_days;
use crate::error::{CoreError, Result};
use crate::schema::TableSpec;
use crate::table_io::write_parquet_atomic;

/// The default of every stage's `--max-reject-share`.
pub const DEFAULT_MAX_REJECT_SHARE: f64 = 0.01;
/// The rule a rejected row broke, in a rejects file.
pub const REJECT_RULE: &str = "reject_rule";
/// The column that broke it, in a rejects file.
pub const REJECT_COLUMN: &str = "reject_column";
const ROW: &str = "__quality_row";

/// The first day an event may have happened on: the epoch and earlier
/// dates (1900-01-01, 0001-01-01) are what systems write for "unknown".
pub fn earliest_event() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()
}

/// The first plausible date of birth.
pub fn earliest_birth() -> NaiveDate {
    NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or_default()
}

/// What a value must not be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// NaN or infinite.
    NotFinite,
    /// Below zero.
    Negative,
    /// A date before [`earliest_event`] or after the run's date.
    OutsideCalendar,
    /// A date of birth before [`earliest_birth`] or after the run's date.
    ImplausibleBirthDate,
    /// A key an earlier row already has.
    DuplicateKey,
    /// A `record_id` the entity map does not hold.
    UnknownRecord,
    /// An `offer_id` the offers table does not hold.
    UnknownOffer,
    /// An end date before the row's start date.
    EndsBeforeStart,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::NotFinite => "not_finite",
            Rule::Negative => "negative",
            Rule::OutsideCalendar => "outside_calendar",
            Rule::ImplausibleBirthDate => "implausible_birth_date",
            Rule::DuplicateKey => "duplicate_key",
            Rule::UnknownRecord => "unknown_record",
            Rule::UnknownOffer => "unknown_offer",
            Rule::EndsBeforeStart => "ends_before_start",
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happens to a row whose value breaks a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The row is left out and written to the rejects file.
    Reject,
    /// The value is set to null; the row stays.
    Clear,
}

/// One rule on one column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Check {
    pub rule: Rule,
    pub action: Action,
    /// The start column an end date is compared with ([`Rule::EndsBeforeStart`]).
    pub start: Option<&'static str>,
}

pub const fn reject(rule: Rule) -> Check {
    Check {
        rule,
        action: Action::Reject,
        start: None,
    }
}

pub const fn clear(rule: Rule) -> Check {
    Check {
        rule,
        action: Action::Clear,
        start: None,
    }
}

/// Rejects a row whose end date is before its `start` column's date.
pub const fn reject_before(start: &'static str) -> Check {
    Check {
        rule: Rule::EndsBeforeStart,
        action: Action::Reject,
        start: Some(start),
    }
}

/// What one run's checks compare against.
#[derive(Debug, Clone)]
pub struct Screen {
    /// The run's date: no event, and no birth, comes after it.
    pub today: NaiveDate,
    /// The entity map's record ids, for [`Rule::UnknownRecord`]; `None`:
    /// not checked.
    pub records: Option<Series>,
    /// The offer ids, for [`Rule::UnknownOffer`]; `None`: not checked.
    pub offers: Option<Series>,
    /// Fail when a table rejects more than this share of its rows.
    pub max_reject_share: f64,
}

/// A run today with the default threshold.
impl Default for Screen {
    fn default() -> Self {
        Self::new(crate::calendar::today(), DEFAULT_MAX_REJECT_SHARE)
    }
}

impl Screen {
    /// A screen for a run on `today` with the given reject threshold.
    pub fn new(today: NaiveDate, max_reject_share: f64) -> Self {
        Self {
            today,
            records: None,
            offers: None,
            max_reject_share,
        }
    }

    /// Whether `rule` can run with what this screen holds.
    fn can_check(&self, rule: Rule) -> bool {
        match rule {
            Rule::UnknownRecord => self.records.is_some(),
            Rule::UnknownOffer => self.offers.is_some(),
            _ => true,
        }
    }

    /// The boolean expression "`column` breaks `check`" (null: it does not),
    /// or `None` for a rule checked outside polars.
    fn broken(&self, column: &str, check: &Check) -> Option<Expr> {
        let value = col(column);
        let outside = |from: NaiveDate| {
            let days = value.clone().cast(DataType::Int32);
            days.clone()
                .lt(lit(to_epoch_days(from)))
                .or(days.gt(lit(to_epoch_days(self.today))))
        };
        let unknown = |keys: &Option<Series>| {
            keys.as_ref()
                .map(|k| value.clone().is_in(lit(k.clone()), false).not())
        };
        let broken = match check.rule {
            Rule::NotFinite => value.clone().is_finite().not(),
            Rule::Negative => value.clone().lt(lit(0.0)),
            Rule::OutsideCalendar => outside(earliest_event()),
            Rule::ImplausibleBirthDate => outside(earliest_birth()),
            Rule::DuplicateKey => return None,
            Rule::UnknownRecord => unknown(&self.records)?,
            Rule::UnknownOffer => unknown(&self.offers)?,
            Rule::EndsBeforeStart => value.clone().lt(col(check.start?)),
        };
        Some(broken.fill_null(lit(false)))
    }
}

/// How many rows (or values) broke one rule on one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleCount {
    pub rule: Rule,
    pub column: String,
    pub action: Action,
    pub rows: u64,
    /// The first offending value, as text.
    pub example: Option<String>,
}

/// The screen's verdict on one table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableQuality {
    pub table: String,
    pub rows: u64,
    pub rejected: u64,
    /// Values set to null by a `clear` rule.
    pub cleared: u64,
    /// Largest first.
    pub counts: Vec<RuleCount>,
}

impl TableQuality {
    /// The rejected share of the rows read.
    pub fn reject_share(&self) -> f64 {
        match self.rows {
            0 => 0.0,
            n => self.rejected as f64 / n as f64,
        }
    }

    /// `rule on column: rows (e.g. value)`, largest first.
    pub fn breakdown(&self) -> String {
        let mut out = String::new();
        for (i, c) in self.counts.iter().enumerate() {
            if i > 0 {
                out.push_str("; ");
            }
            let verb = match c.action {
                Action::Reject => "rejected",
                Action::Clear => "cleared",
            };
            let _ = write!(out, "{} on {}: {} {verb}", c.rule, c.column, c.rows);
            if let Some(e) = &c.example {
                let _ = write!(out, " (e.g. {e})");
            }
        }
        out
    }
}

/// A table through the screen.
pub struct Screened {
    /// The rows that passed, with cleared values set to null.
    pub table: LazyFrame,
    pub report: TableReport,
}

/// What the screen found in one table.
#[derive(Debug, Clone)]
pub struct TableReport {
    pub quality: TableQuality,
    /// The rejected rows with [`REJECT_RULE`] and [`REJECT_COLUMN`]; `None`
    /// when no row was rejected.
    pub rejects: Option<DataFrame>,
}

/// The checks of `spec`'s columns and `extra` (for columns outside the
/// contract, such as `measure_*`) that `screen` can run.
fn checks_of(spec: &TableSpec, extra: &[(String, Check)], screen: &Screen) -> Vec<(String, Check)> {
    spec.columns
        .iter()
        .flat_map(|c| c.checks.iter().map(move |k| (c.name.to_owned(), *k)))
        .chain(extra.iter().cloned())
        .filter(|(_, k)| screen.can_check(k.rule))
        .collect()
}

fn flag_name(i: usize) -> String {
    format!("__broken_{i}")
}

/// The verdict of the checks on every row.
struct Verdicts {
    /// Per row, the index of the reject check it broke first.
    rejected: Vec<Option<usize>>,
    /// Per clear check, the rows (not rejected) whose value it clears.
    cleared: Vec<Vec<IdxSize>>,
}

fn flags(values: &DataFrame, i: usize) -> PolarsResult<BooleanChunked> {
    Ok(values.column(&flag_name(i))?.bool()?.clone())
}

/// Applies the checks to the read values: rejects first (in order), then
/// duplicate keys among the rows left, then clears.
fn verdicts(values: &DataFrame, checks: &[(String, Check)]) -> PolarsResult<Verdicts> {
    let rows = values.height();
    let mut rejected: Vec<Option<usize>> = vec![None; rows];
    let mut cleared = vec![Vec::new(); checks.len()];
    for (i, (_, check)) in checks.iter().enumerate() {
        if check.action != Action::Reject || check.rule == Rule::DuplicateKey {
            continue;
        }
        for (row, broken) in flags(values, i)?.iter().enumerate() {
            if broken == Some(true) && rejected[row].is_none() {
                rejected[row] = Some(i);
            }
        }
    }
    for (i, (column, check)) in checks.iter().enumerate() {
        if check.rule != Rule::DuplicateKey {
            continue;
        }
        let keys = values.column(column)?.cast(&DataType::String)?;
        let keys = keys.str()?;
        let mut seen = HashSet::with_capacity(keys.len());
        for (row, key) in keys.iter().enumerate() {
            if rejected[row].is_none() && key.is_some_and(|k| !seen.insert(k)) {
                rejected[row] = Some(i);
            }
        }
    }
    for (i, (_, check)) in checks.iter().enumerate() {
        if check.action != Action::Clear {
            continue;
        }
        for (row, broken) in flags(values, i)?.iter().enumerate() {
            if broken == Some(true) && rejected[row].is_none() {
                cleared[i].push(row as IdxSize);
            }
        }
    }
    Ok(Verdicts { rejected, cleared })
}

/// The value of `column` at `row`, as text.
fn example(values: &DataFrame, column: &str, row: usize) -> Option<String> {
    match values.column(column).ok()?.get(row).ok()? {
        AnyValue::Null => Some("null".to_owned()),
        AnyValue::String(s) => Some(s.to_owned()),
        other => Some(other.to_string()),
    }
}

/// Counts the verdicts by check, largest first.
fn count(values: &DataFrame, checks: &[(String, Check)], v: &Verdicts) -> Vec<RuleCount> {
    let mut rejects: BTreeMap<usize, (u64, usize)> = BTreeMap::new();
    for (row, check) in v.rejected.iter().enumerate() {
        if let Some(i) = check {
            rejects.entry(*i).or_insert((0, row)).0 += 1;
        }
    }
    let clears = v
        .cleared
        .iter()
        .enumerate()
        .filter_map(|(i, rows)| Some((i, (rows.len() as u64, *rows.first()? as usize))));
    let mut counts: Vec<RuleCount> = rejects
        .into_iter()
        .chain(clears)
        .map(|(i, (rows, first))| {
            let (column, check) = &checks[i];
            RuleCount {
                rule: check.rule,
                column: column.clone(),
                action: check.action,
                rows,
                example: example(values, column, first),
            }
        })
        .collect();
    counts.sort_by_key(|c| std::cmp::Reverse(c.rows));
    counts
}

fn index_series(rows: Vec<IdxSize>) -> Series {
    Series::new(ROW.into(), rows)
}

/// `lf` without the rejected rows and with the cleared values null.
fn kept(
    lf: LazyFrame,
    schema: &Schema,
    checks: &[(String, Check)],
    v: &Verdicts,
    rejected_rows: &[IdxSize],
) -> LazyFrame {
    let mut kept = lf.with_row_index(ROW, None);
    if !rejected_rows.is_empty() {
        kept = kept.filter(
            col(ROW)
                .is_in(lit(index_series(rejected_rows.to_vec())), false)
                .not(),
        );
    }
    let mut by_column: BTreeMap<&str, Vec<IdxSize>> = BTreeMap::new();
    for (i, rows) in v.cleared.iter().enumerate() {
        if !rows.is_empty() {
            by_column
                .entry(checks[i].0.as_str())
                .or_default()
                .extend(rows);
        }
    }
    for (column, rows) in by_column {
        let dtype = schema.get(column).cloned().unwrap_or(DataType::Null);
        kept = kept.with_column(
            when(col(ROW).is_in(lit(index_series(rows)), false))
                .then(lit(NULL).cast(dtype))
                .otherwise(col(column))
                .alias(column),
        );
    }
    kept.drop(cols([ROW]))
}

/// The rejected rows of `lf`, in table order, with their rule and column.
fn rejects(
    lf: LazyFrame,
    checks: &[(String, Check)],
    v: &Verdicts,
    rejected_rows: Vec<IdxSize>,
) -> PolarsResult<DataFrame> {
    let (rules, columns): (Vec<&str>, Vec<&str>) = v
        .rejected
        .iter()
        .flatten()
        .map(|&i| (checks[i].1.rule.as_str(), checks[i].0.as_str()))
        .unzip();
    let marks = DataFrame::new_infer_height(vec![
        Column::new(ROW.into(), rejected_rows.clone()),
        Column::new(REJECT_RULE.into(), rules),
        Column::new(REJECT_COLUMN.into(), columns),
    ])?;
    let on = [col(ROW)];
    lf.with_row_index(ROW, None)
        .filter(col(ROW).is_in(lit(index_series(rejected_rows)), false))
        .join(marks.lazy(), on.clone(), on, JoinArgs::new(JoinType::Inner))
        .sort([ROW], SortMultipleOptions::default())
        .drop(cols([ROW]))
        .collect()
}

/// Puts the table `lf` (read from `path` as `spec`) through the rules of its
/// contract columns and `extra`; see the module doc. Fails when the
/// rejected share passes `screen.max_reject_share`.
pub fn screen(
    path: &Path,
    spec: &TableSpec,
    lf: LazyFrame,
    extra: &[(String, Check)],
    screen: &Screen,
) -> Result<Screened> {
    let failed = |source| CoreError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    // A column the table does not have (an optional one a writer left
    // out) has nothing to check.
    let schema = lf.clone().collect_schema().map_err(failed)?;
    let checks: Vec<(String, Check)> = checks_of(spec, extra, screen)
        .into_iter()
        .filter(|(column, check)| {
            schema.contains(column) && check.start.is_none_or(|s| schema.contains(s))
        })
        .collect();
    let mut exprs: Vec<Expr> = Vec::new();
    let mut read: HashSet<&str> = HashSet::new();
    for (i, (column, check)) in checks.iter().enumerate() {
        if read.insert(column) {
            exprs.push(col(column.as_str()));
        }
        if let Some(broken) = screen.broken(column, check) {
            exprs.push(broken.alias(flag_name(i)));
        }
    }
    if exprs.is_empty() {
        exprs.push(len().alias(ROW));
    }
    let values = lf.clone().select(exprs).collect().map_err(failed)?;
    let rows = if read.is_empty() {
        values
            .column(ROW)
            .ok()
            .and_then(|c| c.get(0).ok())
            .and_then(|v| v.extract::<u64>())
            .unwrap_or_default()
    } else {
        values.height() as u64
    };
    let v = verdicts(&values, &checks).map_err(failed)?;
    let counts = count(&values, &checks, &v);
    drop(values);
    let rejected_rows: Vec<IdxSize> = v
        .rejected
        .iter()
        .enumerate()
        .filter_map(|(row, c)| c.map(|_| row as IdxSize))
        .collect();
    let quality = TableQuality {
        table: spec.name.to_owned(),
        rows,
        rejected: rejected_rows.len() as u64,
        cleared: v.cleared.iter().map(|r| r.len() as u64).sum(),
        counts,
    };
    if quality.reject_share() > screen.max_reject_share {
        return Err(CoreError::TooManyRejects {
            path: path.to_path_buf(),
            table: spec.name,
            share: 100.0 * quality.reject_share(),
            max: 100.0 * screen.max_reject_share,
            breakdown: quality.breakdown(),
        });
    }
    if quality.rejected == 0 && quality.cleared == 0 {
        return Ok(Screened {
            table: lf,
            report: TableReport {
                quality,
                rejects: None,
            },
        });
    }
    tracing::warn!(table = spec.name, file = %path.display(), "{}", quality.breakdown());
    let rejects = if rejected_rows.is_empty() {
        None
    } else {
        Some(rejects(lf.clone(), &checks, &v, rejected_rows.clone()).map_err(failed)?)
    };
    Ok(Screened {
        table: kept(lf, &schema, &checks, &v, &rejected_rows),
        report: TableReport { quality, rejects },
    })
}

/// `{table}.{stage}.rejects.parquet` in `dir`.
pub fn rejects_path(dir: &Path, stage: &str, table: &str) -> PathBuf {
    dir.join(format!("{table}.{stage}.rejects.parquet"))
}

/// Writes the rejects of `report` beside the stage's outputs, or removes
/// a previous run's file when there are none (so the folder never shows
/// rejects the data no longer has). Returns the path written.
pub fn write_rejects(dir: &Path, stage: &str, report: &mut TableReport) -> Result<Option<PathBuf>> {
    let path = rejects_path(dir, stage, &report.quality.table);
    match report.rejects.as_mut() {
        Some(rejects) => write_parquet_atomic(&path, rejects).map(Some),
        None => match std::fs::remove_file(&path) {
            Ok(()) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CoreError::io(path, e)),
        },
    }
}

/// The one-line summary of several tables' screens, for a stage's closing
/// line: `transactions 20 rejected, customers_raw 3 cleared`, or
/// `no rows rejected`.
pub fn summary(tables: &[TableQuality]) -> String {
    let parts: Vec<String> = tables
        .iter()
        .filter(|t| t.rejected > 0 || t.cleared > 0)
        .map(|t| match (t.rejected, t.cleared) {
            (r, 0) => format!("{}: {r} of {} rows rejected", t.table, t.rows),
            (0, c) => format!("{}: {c} values cleared", t.table),
            (r, c) => format!(
                "{}: {r} of {} rows rejected, {c} values cleared",
                t.table, t.rows
            ),
        })
        .collect();
    if parts.is_empty() {
        "no rows rejected".to_owned()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::schema::{OFFER_INTERACTIONS, OFFERS};

    fn day(s: &str) -> i32 {
        to_epoch_days(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap())
    }

    fn dates(name: &str, v: &[Option<&str>]) -> Column {
        let days: Vec<Option<i32>> = v.iter().map(|d| d.map(day)).collect();
        Column::new(name.into(), days)
            .cast(&DataType::Date)
            .unwrap()
    }

    /// O2 ends before it starts, O3 repeats O1's id, O4's value is NaN,
    /// O5's negative; O6 has no start (nothing to compare).
    fn offers() -> DataFrame {
        DataFrame::new(
            6,
            vec![
                Column::new("offer_id".into(), ["O1", "O2", "O1", "O4", "O5", "O6"]),
                Column::new("offer_type".into(), ["a"; 6]),
                Column::new("offer_value".into(), [5.0, 5.0, 5.0, f64::NAN, -1.0, 2.0]),
                dates(
                    "valid_from",
                    &[
                        Some("2025-01-01"),
                        Some("2025-03-01"),
                        None,
                        None,
                        None,
                        None,
                    ],
                ),
                dates(
                    "valid_to",
                    &[
                        Some("2025-02-01"),
                        Some("2025-02-01"),
                        None,
                        None,
                        None,
                        Some("2025-01-01"),
                    ],
                ),
            ],
        )
        .unwrap()
    }

    fn today() -> Screen {
        Screen::new(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(), 0.5)
    }

    fn run(df: DataFrame, s: &Screen) -> Result<(DataFrame, TableReport)> {
        let out = screen(Path::new("offers.parquet"), &OFFERS, df.lazy(), &[], s)?;
        Ok((out.table.collect().unwrap(), out.report))
    }

    #[test]
    fn rejects_and_clears_by_rule_and_counts_them() {
        let (kept, report) = run(offers(), &today()).unwrap();
        let ids: Vec<_> = kept
            .column("offer_id")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .flatten()
            .collect();
        assert_eq!(ids, ["O1", "O4", "O5", "O6"]);
        let values = kept.column("offer_value").unwrap().f64().unwrap();
        assert_eq!(values.get(1), None, "NaN cleared");
        assert_eq!(values.get(2), None, "negative cleared");
        assert_eq!(values.get(3), Some(2.0));
        let q = &report.quality;
        assert_eq!((q.rows, q.rejected, q.cleared), (6, 2, 2));
        let by = |rule| q.counts.iter().find(|c| c.rule == rule).unwrap();
        assert_eq!(by(Rule::EndsBeforeStart).column, "valid_to");
        assert_eq!(by(Rule::DuplicateKey).example.as_deref(), Some("O1"));
        assert_eq!(by(Rule::NotFinite).action, Action::Clear);
        let rejects = report.rejects.unwrap();
        let rules: Vec<_> = rejects
            .column(REJECT_RULE)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .flatten()
            .collect();
        assert_eq!(rules, ["ends_before_start", "duplicate_key"]);
        assert_eq!(
            rejects.column("offer_value").unwrap().len(),
            2,
            "the row's columns are kept"
        );
    }

    #[test]
    fn past_the_threshold_the_error_names_table_rule_and_share() {
        let strict = Screen {
            max_reject_share: 0.3,
            ..today()
        };
        let msg = run(offers(), &strict).unwrap_err().to_string();
        assert!(
            msg.contains("offers.parquet")
                && msg.contains("33.33% of the `offers` rows")
                && msg.contains("ends_before_start on valid_to: 1 rejected"),
            "{msg}"
        );
    }

    #[test]
    fn a_clean_table_is_returned_as_read() {
        let clean = offers().slice(0, 1);
        let (kept, report) = run(clean.clone(), &today()).unwrap();
        assert!(kept.equals_missing(&clean));
        assert!(report.rejects.is_none());
        assert_eq!(summary(&[report.quality]), "no rows rejected");
    }

    #[test]
    fn key_rules_run_only_with_the_keys_and_dates_stay_in_the_calendar() {
        let sends = DataFrame::new(
            3,
            vec![
                Column::new("interaction_id".into(), ["I1", "I2", "I3"]),
                Column::new("record_id".into(), ["R1", "R2", "R1"]),
                Column::new("offer_id".into(), ["O1", "O1", "O9"]),
                dates(
                    "sent_date",
                    &[Some("2025-05-05"), Some("2030-01-01"), Some("2025-05-05")],
                ),
                Column::new("redeemed".into(), [true, false, false]),
            ],
        )
        .unwrap();
        let check = |s: &Screen| {
            screen(
                Path::new("i.parquet"),
                &OFFER_INTERACTIONS,
                sends.clone().lazy(),
                &[],
                s,
            )
            .unwrap()
            .report
            .quality
        };
        // Without the key sets: only the date rule (2030 is after "today").
        let q = check(&today());
        assert_eq!(q.rejected, 1);
        assert_eq!(q.counts[0].rule, Rule::OutsideCalendar);
        // With them: R2 (the 2030 send) is unknown too, and a row counts
        // once, by its first broken rule in column order (record_id comes
        // before sent_date); O9 is an unknown offer.
        let keyed = Screen {
            records: Some(Series::new("r".into(), ["R1"])),
            offers: Some(Series::new("o".into(), ["O1"])),
            max_reject_share: 1.0,
            ..today()
        };
        let q = check(&keyed);
        assert_eq!(q.rejected, 2);
        let rules: Vec<Rule> = q.counts.iter().map(|c| c.rule).collect();
        assert!(
            rules.contains(&Rule::UnknownRecord) && rules.contains(&Rule::UnknownOffer),
            "{rules:?}"
        );
    }
}
