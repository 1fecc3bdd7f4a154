//! Builds one table from its plan: the source rows with their lookups and
//! `exists_in` flags joined in (in source order), filtered, deduplicated,
//! numbered, converted; then each row either passes every rule or is
//! rejected by the first it breaks (in output column order), and among the
//! passing rows a key already taken is a `duplicate_key` reject (the first
//! row keeps it).

use std::collections::{BTreeMap, HashSet};

use pipeline_core::quality::{self, Screen};
use pipeline_core::schema::TableSpec;
use polars::prelude::*;

use crate::convert::Rule;
use crate::error::IngestError;
use crate::plan::{OutputPlan, ROW_NUMBER, TablePlan};
use crate::report::{RejectCount, TableReport};
use crate::source::{Source, Sources};

/// The source row index, kept to restore source order after joins.
const ROW: &str = "__row";
const RULE: &str = "__reject_rule";
const RULE_COLUMN: &str = "__reject_column";
pub const REJECT_RULE: &str = "reject_rule";
pub const REJECT_COLUMN: &str = "reject_column";

/// A built table: the rows to write, the rejected rows and the counts.
#[derive(Debug)]
pub struct TableOutcome {
    pub spec: &'static TableSpec,
    pub valid: DataFrame,
    /// The original columns as text, plus `reject_rule`, `reject_column`.
    pub rejects: DataFrame,
    pub report: TableReport,
}

fn output_alias(o: &OutputPlan) -> String {
    format!("__out_{}", o.name)
}

fn raw_alias(o: &OutputPlan) -> String {
    format!("__raw_{}", o.name)
}

pub fn build(plan: &TablePlan, sources: &Sources) -> Result<TableOutcome, IngestError> {
    let compute = |source| IngestError::Compute {
        table: plan.name.clone(),
        source,
    };
    let joined = joined(plan, sources)?.collect().map_err(compute)?;
    let rows_in = joined.height() as u64;
    let kept = match plan.filters.iter().cloned().reduce(|a, b| a.and(b)) {
        Some(all) => joined.lazy().filter(all).collect().map_err(compute)?,
        None => joined,
    };
    let filtered_out = rows_in - kept.height() as u64;
    let distinct = if plan.distinct_on.is_empty() {
        kept
    } else {
        let on = plan.distinct_on.iter().map(|c| col(c.as_str())).collect();
        kept.lazy()
            .unique_stable_generic(Some(on), UniqueKeepStrategy::First)
            .collect()
            .map_err(compute)?
    };
    let deduplicated = rows_in - filtered_out - distinct.height() as u64;
    let computed = converted(plan, distinct).collect().map_err(compute)?;
    let (valid, rejects, quality) = split(plan, computed)?;
    let rejects_by_rule = count_rejects(plan, &rejects).map_err(compute)?;
    let cleared = quality
        .counts
        .iter()
        .filter(|c| c.action == quality::Action::Clear)
        .filter_map(|c| {
            Some(RejectCount {
                rule: Rule::parse(c.rule.as_str())?,
                column: c.column.clone(),
                rows: c.rows,
                example: c.example.clone(),
            })
        })
        .collect();
    let report = TableReport {
        table: plan.name.clone(),
        source: plan.source.clone(),
        rows_in,
        filtered_out,
        deduplicated,
        rejected: rejects.height() as u64,
        rows_out: valid.height() as u64,
        rejects: rejects_by_rule,
        cleared,
    };
    Ok(TableOutcome {
        spec: plan.spec,
        valid,
        rejects,
        report,
    })
}

fn source<'s>(sources: &'s Sources, name: &str) -> Result<&'s Source, IngestError> {
    sources.get(name).ok_or_else(|| IngestError::BadSource {
        path: name.into(),
        message: "source disappeared after planning".to_owned(),
    })
}

/// `on` cast to text under `keys` (so an integer key meets a text one).
fn key_columns(on: &[String], keys: &[String]) -> Vec<Expr> {
    on.iter()
        .zip(keys)
        .map(|(c, k)| col(c.as_str()).cast(DataType::String).alias(k.as_str()))
        .collect()
}

fn left_join(left: LazyFrame, right: LazyFrame, keys: &[String]) -> LazyFrame {
    let on: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    left.join(right, on.clone(), on, JoinArgs::new(JoinType::Left))
        .drop(cols(keys.iter().map(String::as_str)))
}

/// The source rows with every lookup and `exists_in` joined in, in source
/// order.
fn joined(plan: &TablePlan, sources: &Sources) -> Result<LazyFrame, IngestError> {
    let mut lf = source(sources, &plan.source)?
        .scan()?
        .with_row_index(ROW, None);
    for (i, l) in plan.lookups.iter().enumerate() {
        let right_source = source(sources, &l.source)?;
        let keys: Vec<String> = (0..l.on.len()).map(|j| format!("__key{i}_{j}")).collect();
        let mut right_cols = key_columns(&l.right_on, &keys);
        right_cols.extend(
            l.columns
                .iter()
                .map(|(new, c)| col(c.as_str()).alias(new.as_str())),
        );
        right_cols.push(lit(true).alias(l.marker.as_str()));
        let right = right_source.scan()?.select(right_cols);
        check_unique(plan, right_source, &right, &keys, &l.right_on)?;
        lf = left_join(lf.with_columns(key_columns(&l.on, &keys)), right, &keys);
    }
    for (i, e) in plan.exists.iter().enumerate() {
        let keys: Vec<String> = (0..e.on.len())
            .map(|j| format!("__exists_key{i}_{j}"))
            .collect();
        let right = source(sources, &e.source)?
            .scan()?
            .select(key_columns(&e.right_on, &keys))
            .unique(None, UniqueKeepStrategy::Any)
            .with_column(lit(1u8).alias(e.marker.as_str()));
        lf = left_join(lf.with_columns(key_columns(&e.on, &keys)), right, &keys);
    }
    Ok(lf.sort([ROW], SortMultipleOptions::default()))
}

/// A lookup source must have one row per key, or a lookup would multiply
/// the table's rows.
fn check_unique(
    plan: &TablePlan,
    right_source: &Source,
    right: &LazyFrame,
    keys: &[String],
    right_on: &[String],
) -> Result<(), IngestError> {
    let by: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    let dup = right
        .clone()
        .group_by(by)
        .agg([len().alias("__rows")])
        .filter(col("__rows").gt(lit(1)))
        .limit(1)
        .collect()
        .map_err(|source| IngestError::Compute {
            table: plan.name.clone(),
            source,
        })?;
    if dup.height() == 0 {
        return Ok(());
    }
    let key = right_on
        .iter()
        .zip(keys)
        .map(|(name, k)| {
            let v = dup
                .column(k)
                .ok()
                .and_then(|c| c.get(0).ok())
                .map(|v| v.to_string())
                .unwrap_or_default();
            format!("{name} = {v}")
        })
        .collect::<Vec<_>>()
        .join(", ");
    let rows = dup
        .column("__rows")
        .ok()
        .and_then(|c| c.get(0).ok())
        .and_then(|v| v.extract::<u32>())
        .unwrap_or(2);
    Err(IngestError::LookupNotUnique {
        name: right_source.name.clone(),
        path: right_source.path.clone(),
        key,
        rows,
    })
}

/// The rules a row can break through output `o`, in the order checked.
fn checks(o: &OutputPlan) -> Vec<(Expr, Rule)> {
    let mut checks = Vec::new();
    let value = col(output_alias(o).as_str());
    if o.required
        && !o.has_default
        && let Some(marker) = &o.lookup_marker
    {
        checks.push((col(marker.as_str()).is_null(), Rule::LookupMiss));
    }
    if let Some(rule) = o.converted.rule {
        let converted = if o.has_default {
            col(raw_alias(o).as_str())
        } else {
            value.clone()
        };
        checks.push((o.input.clone().is_not_null().and(converted.is_null()), rule));
    }
    if o.required {
        checks.push((value.is_null(), Rule::MissingValue));
    }
    checks
}

/// The numbered rows with every output column and the first rule each row
/// breaks (null when none) and its column.
fn converted(plan: &TablePlan, rows: DataFrame) -> LazyFrame {
    let mut values = Vec::new();
    for o in &plan.outputs {
        values.push(o.value.clone().alias(output_alias(o).as_str()));
        if o.has_default && o.converted.rule.is_some() {
            values.push(o.converted.value.clone().alias(raw_alias(o).as_str()));
        }
    }
    let mut rules = Vec::new();
    let mut columns = Vec::new();
    for o in &plan.outputs {
        for (broken, rule) in checks(o) {
            rules.push(
                when(broken.clone())
                    .then(lit(rule.as_str()))
                    .otherwise(lit(NULL).cast(DataType::String)),
            );
            columns.push(
                when(broken)
                    .then(lit(o.name.as_str()))
                    .otherwise(lit(NULL).cast(DataType::String)),
            );
        }
    }
    let null_text = || lit(NULL).cast(DataType::String);
    let (rule, column) = if rules.is_empty() {
        (null_text(), null_text())
    } else {
        (coalesce(&rules), coalesce(&columns))
    };
    rows.lazy()
        .with_row_index(ROW_NUMBER, Some(1))
        .with_columns(values)
        .with_columns([rule.alias(RULE), column.alias(RULE_COLUMN)])
}

/// Rows whose key an earlier row already has (null keys are left to the
/// missing-value rule).
fn duplicate_keys(keys: &Column) -> PolarsResult<BooleanChunked> {
    let text = keys.cast(&DataType::String)?;
    let text = text.str()?;
    let mut seen = HashSet::with_capacity(text.len());
    Ok(text
        .iter()
        .map(|k| k.is_some_and(|k| !seen.insert(k)))
        .collect())
}

/// The original columns as text, for a rejects file.
fn originals_as_text(plan: &TablePlan) -> Vec<Expr> {
    plan.originals
        .iter()
        .map(|c| col(c.as_str()).cast(DataType::String))
        .collect()
}

/// The converted rows split into those written and those rejected, with
/// what the contract's data-quality screen found among the converted rows.
fn split(
    plan: &TablePlan,
    computed: DataFrame,
) -> Result<(DataFrame, DataFrame, quality::TableQuality), IngestError> {
    let compute = |source| IngestError::Compute {
        table: plan.name.clone(),
        source,
    };
    let (valid, mut rejects) = split_converted(plan, computed).map_err(compute)?;
    // The contract's rules (`pipeline_core::quality`) on the converted
    // values: the same as every stage downstream applies. The threshold is
    // ingest's own, on all its rejects together (`lib::run`).
    let screen = Screen {
        max_reject_share: 1.0,
        ..Screen::default()
    };
    let named: Vec<Expr> = plan
        .outputs
        .iter()
        .map(|o| col(output_alias(o).as_str()).alias(o.name.as_str()))
        .chain([col(ROW)])
        .collect();
    let path = std::path::PathBuf::from(plan.spec.file);
    let screened = quality::screen(
        &path,
        plan.spec,
        valid.clone().lazy().select(named),
        &[],
        &screen,
    )?;
    let kept = screened.table.collect().map_err(compute)?;
    if let Some(marks) = &screened.report.rejects {
        let marks = marks
            .select([ROW, quality::REJECT_RULE, quality::REJECT_COLUMN])
            .map_err(compute)?;
        let mut original = originals_as_text(plan);
        original.extend([col(ROW), col(REJECT_RULE), col(REJECT_COLUMN)]);
        let on = [col(ROW)];
        let more = valid
            .lazy()
            .join(marks.lazy(), on.clone(), on, JoinArgs::new(JoinType::Inner))
            .select(original);
        rejects = concat([rejects.lazy(), more], UnionArgs::default())
            .and_then(|lf| lf.sort([ROW], SortMultipleOptions::default()).collect())
            .map_err(compute)?;
    }
    let rejects = rejects.drop(ROW).map_err(compute)?;
    let valid = kept.drop(ROW).map_err(compute)?;
    Ok((valid, rejects, screened.report.quality))
}

/// The converted rows split by the mapping's own rules (conversion, nulls,
/// lookups, duplicate keys); both keep [`ROW`], the rejects as text.
fn split_converted(plan: &TablePlan, computed: DataFrame) -> PolarsResult<(DataFrame, DataFrame)> {
    let passes = computed.column(RULE)?.str()?.is_null();
    let passed = computed.filter(&passes)?;
    let failed = computed.filter(&!&passes)?;
    let key = plan
        .outputs
        .iter()
        .find(|o| o.name == plan.key)
        .map(output_alias)
        .unwrap_or_else(|| plan.key.to_owned());
    let dup = duplicate_keys(passed.column(&key)?)?;
    let duplicates = passed.filter(&dup)?;
    let valid = passed.filter(&!&dup)?;

    let mut failed_cols = originals_as_text(plan);
    failed_cols.extend([
        col(ROW),
        col(RULE).alias(REJECT_RULE),
        col(RULE_COLUMN).alias(REJECT_COLUMN),
    ]);
    let mut dup_cols = originals_as_text(plan);
    dup_cols.extend([
        col(ROW),
        lit(Rule::DuplicateKey.as_str()).alias(REJECT_RULE),
        lit(plan.key).alias(REJECT_COLUMN),
    ]);
    let rejects = concat(
        [
            failed.lazy().select(failed_cols),
            duplicates.lazy().select(dup_cols),
        ],
        UnionArgs::default(),
    )?
    .sort([ROW], SortMultipleOptions::default())
    .collect()?;
    Ok((valid, rejects))
}

/// The text of row `row` of the rejects' column `column`.
fn reject_value(rejects: &DataFrame, column: &str, row: usize) -> Option<String> {
    match rejects.column(column).ok()?.get(row).ok()? {
        AnyValue::Null => Some("null".to_owned()),
        AnyValue::String(s) => Some(s.to_owned()),
        other => Some(other.to_string()),
    }
}

/// An example of a reject: the source value of the column, or for a lookup
/// miss the key that found no match.
fn example(
    plan: &TablePlan,
    rule: Rule,
    column: &str,
    rejects: &DataFrame,
    row: usize,
) -> Option<String> {
    let output = plan.outputs.iter().find(|o| o.name == column)?;
    if rule == Rule::LookupMiss && !output.lookup_on.is_empty() {
        let keys: Option<Vec<String>> = output
            .lookup_on
            .iter()
            .map(|k| reject_value(rejects, k, row).map(|v| format!("{k} = {v}")))
            .collect();
        return keys.map(|k| k.join(", "));
    }
    reject_value(rejects, output.origin.as_deref()?, row)
}

/// Rejects by (rule, column), largest first, with an example from the
/// first such row.
fn count_rejects(plan: &TablePlan, rejects: &DataFrame) -> PolarsResult<Vec<RejectCount>> {
    let rules = rejects.column(REJECT_RULE)?.str()?;
    let columns = rejects.column(REJECT_COLUMN)?.str()?;
    let mut counts: BTreeMap<(String, String), (u64, usize)> = BTreeMap::new();
    for (i, (rule, column)) in rules.iter().zip(columns.iter()).enumerate() {
        let key = (
            rule.unwrap_or("").to_owned(),
            column.unwrap_or("").to_owned(),
        );
        counts.entry(key).or_insert((0, i)).0 += 1;
    }
    let mut out: Vec<RejectCount> = counts
        .into_iter()
        .filter_map(|((rule, column), (rows, first))| {
            let rule = Rule::parse(&rule)?;
            let example = example(plan, rule, &column, rejects, first);
            Some(RejectCount {
                rule,
                column,
                rows,
                example,
            })
        })
        .collect();
    out.sort_by_key(|r| std::cmp::Reverse(r.rows));
    Ok(out)
}
