//! Type parsing: an input column (or constant) of whatever type the source
//! has, to the output column's type, as a polars expression. A conversion
//! that can fail on a value gives null there and names the reject rule a
//! non-null input turned null breaks; the table builder turns that into a
//! rejected row.

use chrono::NaiveDate;
use pipeline_core::calendar::to_epoch_days;
use pipeline_core::schema::ColumnType;
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::mapping::{EpochUnit, ValueType};

/// Why a row was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// A value that is not a date in the column's format.
    BadDate,
    /// A value that is not a number.
    BadNumber,
    /// A value that is not one of the flag's 0/1 values.
    BadFlag,
    /// A required column taken from a lookup whose key has no match.
    LookupMiss,
    /// A required column that is null.
    MissingValue,
    /// A key already taken by an earlier row.
    DuplicateKey,
    /// The contract's data-quality rules (`pipeline_core::quality`), on
    /// the converted value: NaN or infinite,
    NotFinite,
    /// below zero,
    Negative,
    /// a date before 1970 or after today,
    OutsideCalendar,
    /// a birth date before 1900 or after today,
    ImplausibleBirthDate,
    /// an end date before the row's start date.
    EndsBeforeStart,
}

impl Rule {
    pub const ALL: [Rule; 11] = [
        Rule::BadDate,
        Rule::BadNumber,
        Rule::BadFlag,
        Rule::LookupMiss,
        Rule::MissingValue,
        Rule::DuplicateKey,
        Rule::NotFinite,
        Rule::Negative,
        Rule::OutsideCalendar,
        Rule::ImplausibleBirthDate,
        Rule::EndsBeforeStart,
    ];

    pub fn parse(name: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::BadDate => "bad_date",
            Rule::BadNumber => "bad_number",
            Rule::BadFlag => "bad_flag",
            Rule::LookupMiss => "lookup_miss",
            Rule::MissingValue => "missing_value",
            Rule::DuplicateKey => "duplicate_key",
            Rule::NotFinite => "not_finite",
            Rule::Negative => "negative",
            Rule::OutsideCalendar => "outside_calendar",
            Rule::ImplausibleBirthDate => "implausible_birth_date",
            Rule::EndsBeforeStart => "ends_before_start",
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The type an output column gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Str,
    Date,
    F64,
    I64,
    Flag,
    /// A column outside the contract without a `type`: as read.
    AsRead,
}

impl Target {
    pub fn of_contract(ty: ColumnType) -> Target {
        match ty {
            ColumnType::Str => Target::Str,
            ColumnType::Date => Target::Date,
            ColumnType::F64 => Target::F64,
            ColumnType::I64 | ColumnType::U32 => Target::I64,
            ColumnType::Flag => Target::Flag,
        }
    }

    pub fn of_value_type(ty: ValueType) -> Target {
        match ty {
            ValueType::Str => Target::Str,
            ValueType::Date => Target::Date,
            ValueType::F64 => Target::F64,
            ValueType::I64 => Target::I64,
            ValueType::Flag => Target::Flag,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Target::Str => "str",
            Target::Date => "date",
            Target::F64 => "f64",
            Target::I64 => "i64",
            Target::Flag => "flag",
            Target::AsRead => "as read",
        }
    }

    /// The polars type of the output, when it does not follow the input.
    pub fn dtype(self) -> Option<DataType> {
        match self {
            Target::Str => Some(DataType::String),
            Target::Date => Some(DataType::Date),
            Target::F64 => Some(DataType::Float64),
            Target::I64 => Some(DataType::Int64),
            Target::Flag => Some(DataType::UInt8),
            Target::AsRead => None,
        }
    }
}

/// The parsing options of a column rule, checked.
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    pub format: Option<String>,
    pub day_origin: Option<NaiveDate>,
    pub epoch: Option<EpochUnit>,
    pub true_values: Option<Vec<String>>,
    pub false_values: Option<Vec<String>>,
}

impl ParseOptions {
    /// The names of the options set, for "does not apply" messages.
    fn set(&self) -> Vec<&'static str> {
        let mut set = Vec::new();
        if self.format.is_some() {
            set.push("format");
        }
        if self.day_origin.is_some() {
            set.push("day_origin");
        }
        if self.epoch.is_some() {
            set.push("epoch");
        }
        if self.true_values.is_some() {
            set.push("true_values");
        }
        if self.false_values.is_some() {
            set.push("false_values");
        }
        set
    }

    /// Refuses the options set other than `allowed` (for a `what` column).
    fn only(&self, allowed: &[&str], what: &str) -> Result<(), String> {
        match self.set().into_iter().find(|o| !allowed.contains(o)) {
            Some(o) => Err(format!("`{o}` does not apply to {what}")),
            None => Ok(()),
        }
    }
}

/// An output value and the rule a non-null input that comes out null breaks
/// (none when the conversion cannot fail).
#[derive(Debug, Clone)]
pub struct Conversion {
    pub value: Expr,
    pub rule: Option<Rule>,
}

impl Conversion {
    fn total(value: Expr) -> Self {
        Conversion { value, rule: None }
    }

    fn partial(value: Expr, rule: Rule) -> Self {
        Conversion {
            value,
            rule: Some(rule),
        }
    }
}

/// Formats tried, in order, for a text date when the rule gives none.
const DEFAULT_DATE_FORMATS: [&str; 3] = ["%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"];
const DEFAULT_TRUE: [&str; 5] = ["1", "true", "yes", "y", "t"];
const DEFAULT_FALSE: [&str; 5] = ["0", "false", "no", "n", "f"];

/// Converts `input` (of type `from`) to `target`. An error says why the
/// mapping cannot work (for the mapping's error message).
pub fn convert(
    input: Expr,
    from: &DataType,
    target: Target,
    opts: &ParseOptions,
) -> Result<Conversion, String> {
    match target {
        Target::AsRead => {
            opts.only(&[], "a column without a `type`")?;
            Ok(Conversion::total(input))
        }
        Target::Str => {
            opts.only(&[], "a str column")?;
            Ok(Conversion::total(if *from == DataType::String {
                input
            } else {
                input.cast(DataType::String)
            }))
        }
        Target::Date => to_date(input, from, opts),
        Target::F64 => {
            opts.only(&[], "an f64 column")?;
            to_number(input, from, DataType::Float64)
        }
        Target::I64 => {
            opts.only(&[], "an i64 column")?;
            to_number(input, from, DataType::Int64)
        }
        Target::Flag => to_flag(input, from, opts),
    }
}

fn trimmed(input: Expr) -> Expr {
    input.str().strip_chars(lit(NULL))
}

fn to_number(input: Expr, from: &DataType, to: DataType) -> Result<Conversion, String> {
    if *from == DataType::String {
        return Ok(Conversion::partial(
            trimmed(input).cast(to),
            Rule::BadNumber,
        ));
    }
    if from.is_float() && to == DataType::Int64 {
        // A fraction is no integer: 2.5 is rejected, not truncated to 2.
        let whole = input.clone().eq(input.clone().floor());
        let value = when(whole)
            .then(input.cast(DataType::Int64))
            .otherwise(lit(NULL).cast(DataType::Int64));
        return Ok(Conversion::partial(value, Rule::BadNumber));
    }
    if from.is_primitive_numeric() || *from == DataType::Boolean {
        return Ok(Conversion::total(input.cast(to)));
    }
    Err(format!("cannot make a number of a {from} column"))
}

fn has_time_of_day(format: &str) -> bool {
    [
        "%H", "%I", "%k", "%l", "%M", "%S", "%T", "%R", "%r", "%c", "%+", "%s",
    ]
    .iter()
    .any(|d| format.contains(d))
}

/// Text to a date with one format: a date, or a datetime truncated to its
/// date when the format reads a time of day.
fn parse_date_text(text: Expr, format: &str) -> Expr {
    let options = StrptimeOptions {
        format: Some(format.into()),
        strict: false,
        exact: true,
        cache: true,
    };
    if has_time_of_day(format) {
        text.str()
            .to_datetime(Some(TimeUnit::Microseconds), None, options, lit("raise"))
            .cast(DataType::Date)
    } else {
        text.str().to_date(options)
    }
}

/// Whole numbers to a date: days after `day_origin`, or a Unix timestamp.
fn date_of_number(number: Expr, opts: &ParseOptions) -> Option<Expr> {
    if let Some(origin) = opts.day_origin {
        let days = number.cast(DataType::Int64) + lit(i64::from(to_epoch_days(origin)));
        return Some(days.cast(DataType::Int32).cast(DataType::Date));
    }
    let unit = match opts.epoch? {
        EpochUnit::S => {
            // Seconds have no polars unit: scale to milliseconds.
            let ms = number.cast(DataType::Int64) * lit(1000i64);
            return Some(
                ms.cast(DataType::Datetime(TimeUnit::Milliseconds, None))
                    .cast(DataType::Date),
            );
        }
        EpochUnit::Ms => TimeUnit::Milliseconds,
        EpochUnit::Us => TimeUnit::Microseconds,
        EpochUnit::Ns => TimeUnit::Nanoseconds,
    };
    Some(
        number
            .cast(DataType::Int64)
            .cast(DataType::Datetime(unit, None))
            .cast(DataType::Date),
    )
}

fn to_date(input: Expr, from: &DataType, opts: &ParseOptions) -> Result<Conversion, String> {
    if opts.day_origin.is_some() && opts.epoch.is_some() {
        return Err("give `day_origin` or `epoch`, not both".to_owned());
    }
    let numeric = opts.day_origin.is_some() || opts.epoch.is_some();
    if numeric && opts.format.is_some() {
        return Err("`format` reads text dates; day numbers and timestamps take none".to_owned());
    }
    match from {
        DataType::Date => {
            opts.only(&[], "a column that is already a date")?;
            Ok(Conversion::total(input))
        }
        DataType::Datetime(_, _) => {
            opts.only(&[], "a datetime column (it is truncated to its date)")?;
            Ok(Conversion::total(input.cast(DataType::Date)))
        }
        DataType::String if numeric => {
            opts.only(&["day_origin", "epoch"], "a date column")?;
            let number = trimmed(input).cast(DataType::Int64);
            let value = date_of_number(number, opts).ok_or("no date option")?;
            Ok(Conversion::partial(value, Rule::BadDate))
        }
        DataType::String => {
            opts.only(&["format"], "a date column")?;
            let text = trimmed(input);
            let value = match &opts.format {
                Some(f) => parse_date_text(text, f),
                None => coalesce(
                    &DEFAULT_DATE_FORMATS
                        .iter()
                        .map(|f| parse_date_text(text.clone(), f))
                        .collect::<Vec<_>>(),
                ),
            };
            Ok(Conversion::partial(value, Rule::BadDate))
        }
        t if t.is_integer() => {
            opts.only(&["format", "day_origin", "epoch"], "a date column")?;
            let value = match &opts.format {
                Some(f) => parse_date_text(input.cast(DataType::String), f),
                None => date_of_number(input, opts).ok_or_else(|| {
                    "an integer column becomes a date with `format` (e.g. \"%Y%m%d\"), \
                     `day_origin` (day numbers) or `epoch` (Unix timestamps)"
                        .to_owned()
                })?,
            };
            Ok(Conversion::partial(value, Rule::BadDate))
        }
        other => Err(format!("cannot make a date of a {other} column")),
    }
}

/// `text` equal to any of `values` (already lowercase).
fn any_of(text: &Expr, values: &[String]) -> Expr {
    values
        .iter()
        .map(|v| text.clone().eq(lit(v.as_str())))
        .reduce(|a, b| a.or(b))
        .unwrap_or(lit(false))
}

fn flag_values(given: &Option<Vec<String>>, default: &[&str]) -> Vec<String> {
    match given {
        Some(v) => v.iter().map(|s| s.trim().to_lowercase()).collect(),
        None => default.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn to_flag(input: Expr, from: &DataType, opts: &ParseOptions) -> Result<Conversion, String> {
    let null_flag = || lit(NULL).cast(DataType::UInt8);
    match from {
        DataType::Boolean => {
            opts.only(&[], "a bool column")?;
            Ok(Conversion::total(input.cast(DataType::UInt8)))
        }
        t if t.is_primitive_numeric() => {
            opts.only(&[], "a numeric flag column (its values must be 0 or 1)")?;
            let value = when(input.clone().eq(lit(1)))
                .then(lit(1u8))
                .when(input.eq(lit(0)))
                .then(lit(0u8))
                .otherwise(null_flag());
            Ok(Conversion::partial(value, Rule::BadFlag))
        }
        DataType::String => {
            opts.only(&["true_values", "false_values"], "a flag column")?;
            let truthy = flag_values(&opts.true_values, &DEFAULT_TRUE);
            let falsy = flag_values(&opts.false_values, &DEFAULT_FALSE);
            if let Some(both) = truthy.iter().find(|v| falsy.contains(v)) {
                return Err(format!("`{both}` is in both true_values and false_values"));
            }
            let text = trimmed(input).str().to_lowercase();
            let value = when(any_of(&text, &truthy))
                .then(lit(1u8))
                .when(any_of(&text, &falsy))
                .then(lit(0u8))
                .otherwise(null_flag());
            Ok(Conversion::partial(value, Rule::BadFlag))
        }
        other => Err(format!("cannot make a 0/1 flag of a {other} column")),
    }
}

/// A TOML constant as a polars literal and its type. A date (TOML
/// `2017-01-01`, unquoted) becomes a date; a date-time its text.
pub fn literal(value: &toml::Value) -> Result<(Expr, DataType), String> {
    Ok(match value {
        toml::Value::String(s) => (lit(s.as_str()), DataType::String),
        toml::Value::Integer(i) => (lit(*i), DataType::Int64),
        toml::Value::Float(f) => (lit(*f), DataType::Float64),
        toml::Value::Boolean(b) => (lit(*b), DataType::Boolean),
        toml::Value::Datetime(dt) => match (dt.date, dt.time) {
            (Some(d), None) => {
                let date = NaiveDate::from_ymd_opt(
                    i32::from(d.year),
                    u32::from(d.month),
                    u32::from(d.day),
                )
                .ok_or_else(|| format!("{dt} is not a date"))?;
                (
                    lit(to_epoch_days(date)).cast(DataType::Date),
                    DataType::Date,
                )
            }
            _ => (lit(dt.to_string()), DataType::String),
        },
        toml::Value::Array(_) | toml::Value::Table(_) => {
            return Err("a constant is a string, number, boolean or date".to_owned());
        }
    })
}

/// A TOML date or `YYYY-MM-DD` string as a date.
pub fn date_value(value: &toml::Value) -> Result<NaiveDate, String> {
    let text = match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Datetime(dt) if dt.time.is_none() => dt.to_string(),
        other => return Err(format!("expected a date (YYYY-MM-DD), found {other}")),
    };
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| format!("`{text}` is not a date (YYYY-MM-DD)"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Converts `values` of one column and returns the output as text
    /// (`None` for null) and whether each row breaks the rule.
    fn run(
        values: Column,
        target: Target,
        opts: ParseOptions,
    ) -> (Vec<Option<String>>, Option<Rule>) {
        let from = values.dtype().clone();
        let df = DataFrame::new_infer_height(vec![values.with_name("x".into())]).unwrap();
        let conv = convert(col("x"), &from, target, &opts).unwrap();
        let out = df
            .lazy()
            .select([conv.value.cast(DataType::String).alias("y")])
            .collect()
            .unwrap();
        let got = out
            .column("y")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|v| v.map(str::to_owned))
            .collect();
        (got, conv.rule)
    }

    fn strs(values: &[Option<&str>]) -> Vec<Option<String>> {
        values.iter().map(|v| v.map(str::to_owned)).collect()
    }

    fn text(values: &[Option<&str>]) -> Column {
        Column::new("x".into(), values)
    }

    fn format(f: &str) -> ParseOptions {
        ParseOptions {
            format: Some(f.to_owned()),
            ..ParseOptions::default()
        }
    }

    #[test]
    fn text_dates_in_a_format() {
        let (got, rule) = run(
            text(&[
                Some("20170101"),
                Some(" 20171231 "),
                Some("20171301"),
                Some("2017-01-01"),
                None,
            ]),
            Target::Date,
            format("%Y%m%d"),
        );
        assert_eq!(
            got,
            strs(&[Some("2017-01-01"), Some("2017-12-31"), None, None, None])
        );
        assert_eq!(rule, Some(Rule::BadDate));

        let (got, _) = run(
            text(&[
                Some("31/12/2017 23:59"),
                Some("01/01/2018 00:00"),
                Some("31/12/2017"),
            ]),
            Target::Date,
            format("%d/%m/%Y %H:%M"),
        );
        assert_eq!(got, strs(&[Some("2017-12-31"), Some("2018-01-01"), None]));
    }

    #[test]
    fn text_dates_without_a_format_are_iso_with_or_without_a_time() {
        let (got, _) = run(
            text(&[
                Some("2017-03-04"),
                Some("2017-03-04 23:10:00"),
                Some("2017-03-04T01:02:03"),
                Some("04/03/2017"),
            ]),
            Target::Date,
            ParseOptions::default(),
        );
        assert_eq!(
            got,
            strs(&[
                Some("2017-03-04"),
                Some("2017-03-04"),
                Some("2017-03-04"),
                None
            ])
        );
    }

    #[test]
    fn integer_dates_in_a_format_and_day_numbers_from_an_origin() {
        let (got, _) = run(
            Column::new("x".into(), [20170101i64, 20170230]),
            Target::Date,
            format("%Y%m%d"),
        );
        assert_eq!(got, strs(&[Some("2017-01-01"), None]));

        // Complete Journey's original DAY column: day 1 is its first day.
        let opts = ParseOptions {
            day_origin: NaiveDate::from_ymd_opt(2016, 12, 31),
            ..ParseOptions::default()
        };
        let (got, rule) = run(
            Column::new("x".into(), [1i32, 59, 366]),
            Target::Date,
            opts.clone(),
        );
        assert_eq!(
            got,
            strs(&[Some("2017-01-01"), Some("2017-02-28"), Some("2018-01-01")])
        );
        assert_eq!(rule, Some(Rule::BadDate));
        let (got, _) = run(text(&[Some(" 2 "), Some("x")]), Target::Date, opts);
        assert_eq!(got, strs(&[Some("2017-01-02"), None]));
    }

    #[test]
    fn timestamps_become_their_date() {
        // 2017-01-01 23:59:59 UTC and 1969-12-31 23:00 UTC, in seconds.
        let opts = ParseOptions {
            epoch: Some(EpochUnit::S),
            ..ParseOptions::default()
        };
        let (got, _) = run(
            Column::new("x".into(), [1_483_315_199i64, -3600]),
            Target::Date,
            opts,
        );
        assert_eq!(got, strs(&[Some("2017-01-01"), Some("1969-12-31")]));

        let ms = Int64Chunked::new("x".into(), [1_483_315_199_000i64, 1_483_315_200_000])
            .into_datetime(TimeUnit::Milliseconds, None);
        let (got, rule) = run(
            ms.into_series().into(),
            Target::Date,
            ParseOptions::default(),
        );
        assert_eq!(got, strs(&[Some("2017-01-01"), Some("2017-01-02")]));
        assert_eq!(rule, None, "a datetime always has a date");
    }

    #[test]
    fn flags_from_integers_booleans_and_text() {
        let (got, rule) = run(
            Column::new("x".into(), [Some(0i64), Some(1), Some(2), None]),
            Target::Flag,
            ParseOptions::default(),
        );
        assert_eq!(got, strs(&[Some("0"), Some("1"), None, None]));
        assert_eq!(rule, Some(Rule::BadFlag));

        let (got, rule) = run(
            Column::new("x".into(), [true, false]),
            Target::Flag,
            ParseOptions::default(),
        );
        assert_eq!(got, strs(&[Some("1"), Some("0")]));
        assert_eq!(rule, None);

        let (got, _) = run(
            text(&[
                Some("Yes"),
                Some(" no"),
                Some("TRUE"),
                Some("0"),
                Some("maybe"),
            ]),
            Target::Flag,
            ParseOptions::default(),
        );
        assert_eq!(
            got,
            strs(&[Some("1"), Some("0"), Some("1"), Some("0"), None])
        );

        let opts = ParseOptions {
            true_values: Some(vec!["R".to_owned()]),
            false_values: Some(vec!["-".to_owned()]),
            ..ParseOptions::default()
        };
        let (got, _) = run(text(&[Some("r"), Some("-"), Some("1")]), Target::Flag, opts);
        assert_eq!(got, strs(&[Some("1"), Some("0"), None]));
    }

    #[test]
    fn numbers_from_text_and_other_numbers() {
        let (got, rule) = run(
            text(&[Some(" 2.5"), Some("1e3"), Some("1,5"), None]),
            Target::F64,
            ParseOptions::default(),
        );
        assert_eq!(got, strs(&[Some("2.5"), Some("1000.0"), None, None]));
        assert_eq!(rule, Some(Rule::BadNumber));

        let (got, rule) = run(
            Column::new("x".into(), [3i32, -1]),
            Target::F64,
            ParseOptions::default(),
        );
        assert_eq!(got, strs(&[Some("3.0"), Some("-1.0")]));
        assert_eq!(rule, None);

        let (got, _) = run(
            Column::new("x".into(), [2.0f64, 2.5]),
            Target::I64,
            ParseOptions::default(),
        );
        assert_eq!(got, strs(&[Some("2"), None]));
    }

    #[test]
    fn options_that_do_not_apply_are_refused() {
        let err = convert(col("x"), &DataType::Float64, Target::F64, &format("%Y")).unwrap_err();
        assert_eq!(err, "`format` does not apply to an f64 column");
        let err = convert(
            col("x"),
            &DataType::Int64,
            Target::Date,
            &ParseOptions::default(),
        )
        .unwrap_err();
        assert!(err.contains("`day_origin`"), "{err}");
        let err = convert(
            col("x"),
            &DataType::Float64,
            Target::Date,
            &ParseOptions::default(),
        )
        .unwrap_err();
        assert_eq!(err, "cannot make a date of a f64 column");
    }
}
