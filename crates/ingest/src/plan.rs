//! The mapping checked against the contract and the sources' schemas, into
//! one [`TablePlan`] per table, before any table is built: every source,
//! column, key and option the mapping names exists and fits, every
//! required contract column has a rule, and every constant parses. A
//! problem is a [`IngestError::Mapping`] naming the key path, or a
//! [`IngestError::MissingColumn`] naming the source file, the column and
//! the columns it has.

use std::collections::BTreeSet;
use std::path::Path;

use pipeline_core::calendar::to_epoch_days;
use pipeline_core::schema::TableSpec;
use polars::prelude::*;

use crate::contract::{Contract, InputTable, MEASURE_PREFIX, MEASURES_TABLE};
use crate::convert::{Conversion, ParseOptions, Target, convert, date_value, literal};
use crate::error::IngestError;
use crate::mapping::{ColumnRule, Filter, FilterOp, Mapping, Names, TableMapping};
use crate::source::{Source, Sources};

/// The row number (1, 2, ...) after filters and `distinct_on`.
pub const ROW_NUMBER: &str = "__row_number";

/// A lookup: a left join on string-cast keys; `marker` is true on the rows
/// that found a match.
#[derive(Debug, Clone)]
pub struct LookupPlan {
    pub source: String,
    pub on: Vec<String>,
    pub right_on: Vec<String>,
    /// (name in this table, column of the lookup source).
    pub columns: Vec<(String, String)>,
    pub marker: String,
}

/// An `exists_in` flag: `marker` is 1 where the key occurs in the source.
#[derive(Debug, Clone)]
pub struct ExistsPlan {
    pub source: String,
    pub on: Vec<String>,
    pub right_on: Vec<String>,
    pub marker: String,
}

/// One output column.
#[derive(Debug, Clone)]
pub struct OutputPlan {
    pub name: String,
    /// A required contract column: null rejects the row.
    pub required: bool,
    /// What the rule reads (a column, a constant, a built string).
    pub input: Expr,
    /// The converted value, before `default`.
    pub converted: Conversion,
    /// The value written: `converted`, nulls filled with `default`.
    pub value: Expr,
    pub has_default: bool,
    /// The marker of the lookup the input column came from.
    pub lookup_marker: Option<String>,
    /// That lookup's key columns in this table, for examples in messages.
    pub lookup_on: Vec<String>,
    /// The source column read, for examples in messages.
    pub origin: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TablePlan {
    pub name: String,
    pub spec: &'static TableSpec,
    pub key: &'static str,
    pub source: String,
    pub lookups: Vec<LookupPlan>,
    pub exists: Vec<ExistsPlan>,
    pub filters: Vec<Expr>,
    pub distinct_on: Vec<String>,
    /// The columns a rejected row keeps: the source's and the looked-up.
    pub originals: Vec<String>,
    pub outputs: Vec<OutputPlan>,
}

/// Checks the whole mapping and plans every table.
pub fn plan(
    mapping: &Mapping,
    mapping_path: &Path,
    sources: &Sources,
    contract: &Contract,
) -> Result<Vec<TablePlan>, IngestError> {
    if mapping.tables.is_empty() {
        return Err(IngestError::Mapping {
            path: mapping_path.to_path_buf(),
            at: "tables".to_owned(),
            message: format!("no table to ingest; the tables are: {}", contract.names()),
        });
    }
    mapping
        .tables
        .iter()
        .map(|(name, table)| {
            let Some(input) = contract.table(name) else {
                return Err(IngestError::Mapping {
                    path: mapping_path.to_path_buf(),
                    at: format!("tables.{name}"),
                    message: format!(
                        "not an input table of the contract; the tables are: {}",
                        contract.names()
                    ),
                });
            };
            TableCtx::new(mapping_path, name, table, sources)?.plan(*input)
        })
        .collect()
}

/// A column a rule may read: from the table's source or a lookup.
#[derive(Debug, Clone)]
struct Available {
    name: String,
    dtype: DataType,
    lookup: Option<usize>,
}

struct TableCtx<'a> {
    mapping_path: &'a Path,
    name: &'a str,
    table: &'a TableMapping,
    sources: &'a Sources,
    base: &'a Source,
    available: Vec<Available>,
    lookups: Vec<LookupPlan>,
    exists: Vec<ExistsPlan>,
}

impl<'a> TableCtx<'a> {
    fn new(
        mapping_path: &'a Path,
        name: &'a str,
        table: &'a TableMapping,
        sources: &'a Sources,
    ) -> Result<Self, IngestError> {
        let mut ctx = TableCtx {
            mapping_path,
            name,
            table,
            sources,
            base: sources_first(sources, mapping_path, name, &table.source)?,
            available: Vec::new(),
            lookups: Vec::new(),
            exists: Vec::new(),
        };
        ctx.available = ctx
            .base
            .schema
            .iter()
            .map(|(n, t)| Available {
                name: n.to_string(),
                dtype: t.clone(),
                lookup: None,
            })
            .collect();
        Ok(ctx)
    }

    fn err(&self, at: &str, message: impl Into<String>) -> IngestError {
        IngestError::Mapping {
            path: self.mapping_path.to_path_buf(),
            at: format!("tables.{}.{at}", self.name),
            message: message.into(),
        }
    }

    fn source(&self, name: &str, at: &str) -> Result<&'a Source, IngestError> {
        self.sources.get(name).ok_or_else(|| {
            self.err(
                at,
                format!(
                    "no source `{name}`; the sources are: {}",
                    self.sources.names()
                ),
            )
        })
    }

    /// A column of the table's rows (its source's or a lookup's).
    fn column(&self, name: &str, at: &str) -> Result<&Available, IngestError> {
        self.available
            .iter()
            .find(|a| a.name == name)
            .ok_or_else(|| {
                let looked_up: Vec<&str> = self
                    .available
                    .iter()
                    .filter(|a| a.lookup.is_some())
                    .map(|a| a.name.as_str())
                    .collect();
                let mut list = self.base.column_list();
                if !looked_up.is_empty() {
                    list.push_str(&format!(" (and from lookups: {})", looked_up.join(", ")));
                }
                IngestError::MissingColumn {
                    path: self.base.path.clone(),
                    column: name.to_owned(),
                    at: format!("tables.{}.{at}", self.name),
                    available: list,
                }
            })
    }

    fn plan(mut self, input: InputTable) -> Result<TablePlan, IngestError> {
        for (i, lookup) in self.table.lookups.iter().enumerate() {
            self.plan_lookup(i, lookup)?;
        }
        let filters = self
            .table
            .filter
            .iter()
            .enumerate()
            .map(|(i, f)| self.plan_filter(i, f))
            .collect::<Result<Vec<_>, _>>()?;
        for name in &self.table.distinct_on {
            self.column(name, "distinct_on")?;
        }
        let outputs = self.plan_outputs(input.spec)?;
        let originals = self.available.iter().map(|a| a.name.clone()).collect();
        Ok(TablePlan {
            name: self.name.to_owned(),
            spec: input.spec,
            key: input.key,
            source: self.table.source.clone(),
            lookups: self.lookups,
            exists: self.exists,
            filters,
            distinct_on: self.table.distinct_on.clone(),
            originals,
            outputs,
        })
    }

    /// Checks a pair of key lists: as long as each other, present on the
    /// left (this table) and in `right`.
    fn keys(
        &self,
        on: &Names,
        right_on: Option<&Names>,
        right: &Source,
        at: &str,
    ) -> Result<(Vec<String>, Vec<String>), IngestError> {
        let left = on.0.clone();
        let right_keys = right_on.map_or_else(|| left.clone(), |r| r.0.clone());
        if left.is_empty() || left.len() != right_keys.len() {
            return Err(self.err(
                at,
                "`on` and `right_on` name as many key columns, at least one",
            ));
        }
        for name in &left {
            self.column(name, at)?;
        }
        for name in &right_keys {
            require_column(right, name, &format!("tables.{}.{at}", self.name))?;
        }
        Ok((left, right_keys))
    }

    fn plan_lookup(
        &mut self,
        i: usize,
        lookup: &crate::mapping::Lookup,
    ) -> Result<(), IngestError> {
        let at = format!("lookups[{i}]");
        let right = self.source(&lookup.source, &at)?;
        let (on, right_on) = self.keys(&lookup.on, lookup.right_on.as_ref(), right, &at)?;
        if lookup.columns.0.is_empty() {
            return Err(self.err(&at, "`columns` names no column to bring in"));
        }
        let mut brought = Vec::new();
        for (new, column) in &lookup.columns.0 {
            let dtype = require_column(right, column, &format!("tables.{}.{at}", self.name))?;
            if new.starts_with("__") {
                return Err(self.err(
                    &at,
                    format!("`{new}`: names starting with `__` are reserved"),
                ));
            }
            if self.available.iter().any(|a| &a.name == new) {
                return Err(self.err(
                    &at,
                    format!(
                        "`{new}` is already a column of this table; bring it in under another \
                         name: columns = {{ other_name = \"{column}\" }}"
                    ),
                ));
            }
            self.available.push(Available {
                name: new.clone(),
                dtype: dtype.clone(),
                lookup: Some(i),
            });
            brought.push((new.clone(), column.clone()));
        }
        self.lookups.push(LookupPlan {
            source: lookup.source.clone(),
            on,
            right_on,
            columns: brought,
            marker: format!("__lookup{i}"),
        });
        Ok(())
    }

    fn plan_filter(&self, i: usize, filter: &Filter) -> Result<Expr, IngestError> {
        let at = format!("filter[{i}]");
        let column = self.column(&filter.column, &at)?;
        filter_expr(filter, &column.dtype).map_err(|m| self.err(&at, m))
    }

    /// Contract columns in contract order, then the other columns, `keep`
    /// and the measures.
    fn plan_outputs(&mut self, spec: &'static TableSpec) -> Result<Vec<OutputPlan>, IngestError> {
        let mut outputs = Vec::new();
        for c in spec.columns {
            let target = Target::of_contract(c.ty);
            match self.table.columns.get(c.name) {
                Some(rule) => {
                    let at = format!("columns.{}", c.name);
                    if let Some(ty) = rule.ty
                        && Target::of_value_type(ty) != target
                    {
                        return Err(self.err(
                            &at,
                            format!(
                                "`type` {} differs from the contract type of `{}`, {}",
                                Target::of_value_type(ty).name(),
                                c.name,
                                target.name()
                            ),
                        ));
                    }
                    outputs.push(self.plan_output(c.name, rule, target, !c.nullable, &at)?);
                }
                None if !c.nullable => {
                    return Err(self.err(
                        "columns",
                        format!(
                            "no rule for `{}`, a required column of {}",
                            c.name, spec.name
                        ),
                    ));
                }
                None => outputs.push(null_output(c.name, target)),
            }
        }
        let mut extra: Vec<(String, ColumnRule, String)> = self
            .table
            .columns
            .iter()
            .filter(|(name, _)| spec.column(name).is_none())
            .map(|(name, rule)| (name.clone(), rule.clone(), format!("columns.{name}")))
            .collect();
        for name in &self.table.keep {
            extra.push((
                name.clone(),
                ColumnRule::from(name.clone()),
                "keep".to_owned(),
            ));
        }
        if !self.table.measures.is_empty() && self.name != MEASURES_TABLE {
            return Err(self.err("measures", format!("only {MEASURES_TABLE} has measures")));
        }
        for (name, rule) in &self.table.measures {
            let mut rule = rule.clone();
            rule.ty = Some(rule.ty.unwrap_or(crate::mapping::ValueType::F64));
            if rule.ty != Some(crate::mapping::ValueType::F64) {
                return Err(self.err(&format!("measures.{name}"), "a measure is an f64 column"));
            }
            extra.push((
                format!("{MEASURE_PREFIX}{name}"),
                rule,
                format!("measures.{name}"),
            ));
        }
        let mut names: BTreeSet<String> = outputs.iter().map(|o| o.name.clone()).collect();
        for (name, rule, at) in extra {
            if name.starts_with("__") {
                return Err(self.err(
                    &at,
                    format!("`{name}`: names starting with `__` are reserved"),
                ));
            }
            if !names.insert(name.clone()) {
                return Err(self.err(&at, format!("`{name}` is written twice")));
            }
            let target = rule.ty.map_or(Target::AsRead, Target::of_value_type);
            outputs.push(self.plan_output(&name, &rule, target, false, &at)?);
        }
        Ok(outputs)
    }

    fn plan_output(
        &mut self,
        name: &str,
        rule: &ColumnRule,
        target: Target,
        required: bool,
        at: &str,
    ) -> Result<OutputPlan, IngestError> {
        check_producer_keys(rule).map_err(|m| self.err(at, m))?;
        let opts = ParseOptions {
            format: rule.format.clone(),
            day_origin: rule
                .day_origin
                .as_ref()
                .map(date_value)
                .transpose()
                .map_err(|m| self.err(at, format!("day_origin: {m}")))?,
            epoch: rule.epoch,
            true_values: rule.true_values.clone(),
            false_values: rule.false_values.clone(),
        };
        let (input, from, lookup, origin) = self.input_of(rule, at)?;
        let converted =
            convert(input.clone(), &from, target, &opts).map_err(|m| self.err(at, m))?;
        if rule.constant.is_some() && evaluates_to_null(converted.value.clone()) {
            return Err(self.err(
                at,
                format!("the constant is not a valid {} value", target.name()),
            ));
        }
        let mut value = converted.value.clone();
        if let Some(default) = &rule.default {
            let (lit_expr, lit_type) = literal(default).map_err(|m| self.err(at, m))?;
            let fill = convert(lit_expr, &lit_type, target, &ParseOptions::default())
                .map_err(|m| self.err(at, format!("default: {m}")))?;
            if evaluates_to_null(fill.value.clone()) {
                return Err(self.err(
                    at,
                    format!("the default is not a valid {} value", target.name()),
                ));
            }
            value = value.fill_null(fill.value);
        }
        Ok(OutputPlan {
            name: name.to_owned(),
            required,
            input,
            converted,
            value,
            has_default: rule.default.is_some(),
            lookup_marker: lookup.map(|i| format!("__lookup{i}")),
            lookup_on: lookup
                .and_then(|i| self.lookups.get(i))
                .map(|l| l.on.clone())
                .unwrap_or_default(),
            origin,
        })
    }

    /// What a rule reads: the expression, its type, the lookup it came
    /// from and the source column.
    fn input_of(
        &mut self,
        rule: &ColumnRule,
        at: &str,
    ) -> Result<(Expr, DataType, Option<usize>, Option<String>), IngestError> {
        if let Some(name) = &rule.column {
            let c = self.column(name, at)?;
            return Ok((
                col(name.as_str()),
                c.dtype.clone(),
                c.lookup,
                Some(name.clone()),
            ));
        }
        if let Some(value) = &rule.constant {
            let (e, t) = literal(value).map_err(|m| self.err(at, m))?;
            return Ok((e, t, None, None));
        }
        if let Some(template) = &rule.template {
            let pieces =
                template_pieces(template).map_err(|m| self.err(at, format!("template: {m}")))?;
            let mut parts = Vec::new();
            for piece in pieces {
                parts.push(match piece {
                    Piece::Text(t) => lit(t),
                    Piece::Column(c) => {
                        self.column(&c, at)?;
                        col(c.as_str()).cast(DataType::String)
                    }
                });
            }
            return Ok((concat_str(parts, "", false), DataType::String, None, None));
        }
        if rule.row_number == Some(true) {
            let prefix = rule.prefix.clone().unwrap_or_default();
            let e = concat_str(
                [lit(prefix), col(ROW_NUMBER).cast(DataType::String)],
                "",
                false,
            );
            return Ok((e, DataType::String, None, None));
        }
        let Some(source) = &rule.exists_in else {
            return Err(self.err(at, "say where the value comes from"));
        };
        let right = self.source(source, at)?;
        let on = rule
            .on
            .as_ref()
            .ok_or_else(|| self.err(at, "exists_in needs `on`, the key columns"))?;
        let (on, right_on) = self.keys(on, rule.right_on.as_ref(), right, at)?;
        let marker = format!("__exists{}", self.exists.len());
        self.exists.push(ExistsPlan {
            source: source.clone(),
            on,
            right_on,
            marker: marker.clone(),
        });
        Ok((
            col(marker.as_str()).fill_null(lit(0u8)),
            DataType::UInt8,
            None,
            None,
        ))
    }
}

fn sources_first<'a>(
    sources: &'a Sources,
    mapping_path: &Path,
    table: &str,
    name: &str,
) -> Result<&'a Source, IngestError> {
    sources.get(name).ok_or_else(|| IngestError::Mapping {
        path: mapping_path.to_path_buf(),
        at: format!("tables.{table}.source"),
        message: format!("no source `{name}`; the sources are: {}", sources.names()),
    })
}

/// A column of another source, or the error naming its file and columns.
fn require_column<'s>(
    source: &'s Source,
    name: &str,
    at: &str,
) -> Result<&'s DataType, IngestError> {
    source
        .dtype(name)
        .ok_or_else(|| IngestError::MissingColumn {
            path: source.path.clone(),
            column: name.to_owned(),
            at: at.to_owned(),
            available: source.column_list(),
        })
}

/// Exactly one of the producing keys, and the keys that go with it only.
fn check_producer_keys(rule: &ColumnRule) -> Result<(), String> {
    if rule.row_number == Some(false) {
        return Err("`row_number = false` asks for nothing; leave it out".to_owned());
    }
    let given: Vec<&str> = [
        ("column", rule.column.is_some()),
        ("constant", rule.constant.is_some()),
        ("template", rule.template.is_some()),
        ("row_number", rule.row_number.is_some()),
        ("exists_in", rule.exists_in.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, set)| set.then_some(k))
    .collect();
    match given.len() {
        0 => return Err("say where the value comes from: one of `column`, `constant`, `template`, `row_number`, `exists_in`".to_owned()),
        1 => {}
        _ => return Err(format!("give one of {}, not several", given.join(", "))),
    }
    if rule.prefix.is_some() && rule.row_number.is_none() {
        return Err("`prefix` goes with `row_number`".to_owned());
    }
    if (rule.on.is_some() || rule.right_on.is_some()) && rule.exists_in.is_none() {
        return Err("`on` and `right_on` go with `exists_in`".to_owned());
    }
    Ok(())
}

/// The output of an optional contract column the mapping leaves out.
fn null_output(name: &str, target: Target) -> OutputPlan {
    let dtype = target.dtype().unwrap_or(DataType::String);
    let value = lit(NULL).cast(dtype);
    OutputPlan {
        name: name.to_owned(),
        required: false,
        input: value.clone(),
        converted: Conversion {
            value: value.clone(),
            rule: None,
        },
        value,
        has_default: false,
        lookup_marker: None,
        lookup_on: Vec::new(),
        origin: None,
    }
}

/// Whether a constant expression comes out null (a constant that does not
/// parse as its column's type).
fn evaluates_to_null(expr: Expr) -> bool {
    DataFrame::new_infer_height(vec![Column::new("__one".into(), [1i32])])
        .and_then(|df| df.lazy().select([expr.alias("v")]).collect())
        .map(|df| df.column("v").map(|c| c.null_count() > 0).unwrap_or(true))
        .unwrap_or(true)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Column(String),
}

/// `"{a}-{b}"` into text and column pieces; `{{` and `}}` are braces.
fn template_pieces(template: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(ch) => name.push(ch),
                        None => return Err(format!("unclosed `{{` in `{template}`")),
                    }
                }
                if name.is_empty() {
                    return Err(format!("`{{}}` names no column in `{template}`"));
                }
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Column(name));
            }
            '}' => return Err(format!("a lone `}}` in `{template}` (write `}}}}`)")),
            other => text.push(other),
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    if !pieces.iter().any(|p| matches!(p, Piece::Column(_))) {
        return Err(format!(
            "`{template}` names no column (a constant goes in `constant`)"
        ));
    }
    Ok(pieces)
}

/// The two sides of a comparison of a column (of `dtype`) with a constant.
fn comparable(column: Expr, dtype: &DataType, value: &toml::Value) -> Result<(Expr, Expr), String> {
    use toml::Value as V;
    match value {
        V::Integer(_) | V::Float(_) => {
            let number = match value {
                V::Integer(i) => *i as f64,
                V::Float(f) => *f,
                _ => 0.0,
            };
            if dtype.is_primitive_numeric() {
                Ok((column, lit(number)))
            } else if *dtype == DataType::String {
                Ok((
                    column.str().strip_chars(lit(NULL)).cast(DataType::Float64),
                    lit(number),
                ))
            } else {
                Err(format!("compares a {dtype} column with a number"))
            }
        }
        V::String(_) | V::Datetime(_) => match dtype {
            DataType::String => match value {
                V::String(s) => Ok((column, lit(s.as_str()))),
                other => Ok((column, lit(other.to_string()))),
            },
            DataType::Date | DataType::Datetime(_, _) => {
                let day = to_epoch_days(date_value(value)?);
                Ok((column.cast(DataType::Date), lit(day).cast(DataType::Date)))
            }
            other => Err(format!("compares a {other} column with text")),
        },
        V::Boolean(b) if *dtype == DataType::Boolean => Ok((column, lit(*b))),
        V::Boolean(_) => Err(format!("compares a {dtype} column with a boolean")),
        V::Array(_) | V::Table(_) => Err("`value` is a single constant for this `op`".to_owned()),
    }
}

fn filter_expr(filter: &Filter, dtype: &DataType) -> Result<Expr, String> {
    let column = col(filter.column.as_str());
    let value = match (filter.op, &filter.value) {
        (FilterOp::IsNull, None) => return Ok(column.is_null()),
        (FilterOp::NotNull, None) => return Ok(column.is_not_null()),
        (FilterOp::IsNull | FilterOp::NotNull, Some(_)) => {
            return Err("the null tests take no `value`".to_owned());
        }
        (_, None) => return Err("this `op` needs a `value`".to_owned()),
        (_, Some(v)) => v,
    };
    if let FilterOp::In | FilterOp::NotIn = filter.op {
        let toml::Value::Array(items) = value else {
            return Err("`in` and `not_in` take a list `value`".to_owned());
        };
        let mut any = lit(false);
        for item in items {
            let (l, r) = comparable(column.clone(), dtype, item)?;
            any = any.or(l.eq(r));
        }
        return Ok(if filter.op == FilterOp::In {
            any
        } else {
            any.not()
        });
    }
    let (l, r) = comparable(column, dtype, value)?;
    Ok(match filter.op {
        FilterOp::Eq => l.eq(r),
        FilterOp::Ne => l.neq(r),
        FilterOp::Lt => l.lt(r),
        FilterOp::Le => l.lt_eq(r),
        FilterOp::Gt => l.gt(r),
        FilterOp::Ge => l.gt_eq(r),
        FilterOp::In | FilterOp::NotIn | FilterOp::IsNull | FilterOp::NotNull => lit(false),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn templates_split_into_text_and_columns() {
        assert_eq!(
            template_pieces("B{basket_id}-{{P}}{product_id}").unwrap(),
            [
                Piece::Text("B".into()),
                Piece::Column("basket_id".into()),
                Piece::Text("-{P}".into()),
                Piece::Column("product_id".into()),
            ]
        );
        assert!(template_pieces("{a").unwrap_err().contains("unclosed"));
        assert!(template_pieces("a}").unwrap_err().contains("lone"));
        assert!(
            template_pieces("abc")
                .unwrap_err()
                .contains("names no column")
        );
        assert!(
            template_pieces("{}x")
                .unwrap_err()
                .contains("names no column")
        );
    }
}
