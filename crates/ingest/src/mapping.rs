//! The mapping file (TOML) as typed values, read once and checked by
//! [`crate::plan`] before any data is read. Every table of keys denies
//! unknown keys, so a misspelt option is an error naming it rather than an
//! option silently ignored. The short forms (`name = "path"` for a source,
//! `column = "source_column"` for a column rule, a list for `measures`) read
//! as the long form with one key. `crates/ingest/README.md` documents every
//! key.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::path::Path;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::error::IngestError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// Source name -> where its file or folder of parts is.
    #[serde(default, deserialize_with = "map_of_short")]
    pub sources: BTreeMap<String, SourceSpec>,
    /// Contract table name -> how it is made.
    #[serde(default)]
    pub tables: BTreeMap<String, TableMapping>,
}

impl Mapping {
    pub fn load(path: &Path) -> Result<Self, IngestError> {
        let text = std::fs::read_to_string(path).map_err(|source| IngestError::ReadMapping {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, IngestError> {
        toml::from_str(text).map_err(|e| IngestError::MappingSyntax {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_owned(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceFormat {
    Csv,
    Parquet,
    #[serde(alias = "ndjson")]
    Jsonl,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// A file, or a folder whose visible files are the parts of one table.
    pub path: String,
    /// Default: from the file extension.
    pub format: Option<SourceFormat>,
    /// CSV: the field separator (default `,`).
    pub delimiter: Option<char>,
    /// CSV: whether the first line names the columns (default true).
    pub has_header: Option<bool>,
    /// CSV: field values read as null besides the empty field.
    #[serde(default)]
    pub null_values: Vec<String>,
}

impl From<String> for SourceSpec {
    fn from(path: String) -> Self {
        SourceSpec {
            path,
            format: None,
            delimiter: None,
            has_header: None,
            null_values: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableMapping {
    /// The source whose rows become this table's rows.
    pub source: String,
    /// Columns joined in from other sources by key.
    #[serde(default)]
    pub lookups: Vec<Lookup>,
    /// Conditions a row must meet to be ingested (all of them).
    #[serde(default)]
    pub filter: Vec<Filter>,
    /// Keep the first row of each distinct value of these columns.
    #[serde(default)]
    pub distinct_on: Vec<String>,
    /// Output column -> rule.
    #[serde(default, deserialize_with = "map_of_short")]
    pub columns: BTreeMap<String, ColumnRule>,
    /// Source columns copied unchanged, under their own names.
    #[serde(default)]
    pub keep: Vec<String>,
    /// transactions only: measure name -> rule; written as `measure_{name}`.
    #[serde(default, deserialize_with = "measures")]
    pub measures: BTreeMap<String, ColumnRule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lookup {
    pub source: String,
    /// Key columns of this table's rows.
    pub on: Names,
    /// Key columns of the lookup source (default: the same names as `on`).
    pub right_on: Option<Names>,
    /// The lookup source's columns to bring in: a list, or new name -> column.
    pub columns: Renames,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    pub column: String,
    pub op: FilterOp,
    /// The constant compared with (a list for `in` / `not_in`; none for the
    /// null tests).
    pub value: Option<toml::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum FilterOp {
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "in")]
    In,
    #[serde(rename = "not_in")]
    NotIn,
    #[serde(rename = "is_null")]
    IsNull,
    #[serde(rename = "not_null")]
    NotNull,
}

/// The value types a column rule may ask for; a contract column has its
/// contract type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    Str,
    Date,
    F64,
    I64,
    Flag,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EpochUnit {
    S,
    Ms,
    Us,
    Ns,
}

/// Where one output column's value comes from (exactly one of `column`,
/// `constant`, `template`, `row_number`, `exists_in`) and how it is parsed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnRule {
    pub column: Option<String>,
    pub constant: Option<toml::Value>,
    /// `"{basket_id}-{product_id}"`: columns in braces, `{{` for a brace.
    pub template: Option<String>,
    /// 1, 2, ... in source order, after filters and `distinct_on`.
    pub row_number: Option<bool>,
    /// row_number: text put before the number.
    pub prefix: Option<String>,
    /// A flag: 1 when the row's `on` key occurs in this source, else 0.
    pub exists_in: Option<String>,
    pub on: Option<Names>,
    pub right_on: Option<Names>,
    /// The output type of a column outside the contract (default: as read).
    #[serde(rename = "type")]
    pub ty: Option<ValueType>,
    /// Dates: a chrono format such as `%Y%m%d` or `%d/%m/%Y %H:%M`.
    pub format: Option<String>,
    /// Dates from day numbers: the date of day 0.
    pub day_origin: Option<toml::Value>,
    /// Dates from Unix timestamps: their unit.
    pub epoch: Option<EpochUnit>,
    /// Flags from text: the values read as 1 / as 0 (case-insensitive).
    pub true_values: Option<Vec<String>>,
    pub false_values: Option<Vec<String>>,
    /// The value of the column where the rule gives null.
    pub default: Option<toml::Value>,
}

impl From<String> for ColumnRule {
    fn from(column: String) -> Self {
        ColumnRule {
            column: Some(column),
            ..ColumnRule::default()
        }
    }
}

/// One column name or a list of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names(pub Vec<String>);

impl<'de> Deserialize<'de> for Names {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Names;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a column name or a list of column names")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Names, E> {
                Ok(Names(vec![v.to_owned()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Names, A::Error> {
                Vec::deserialize(SeqAccessDeserializer::new(seq)).map(Names)
            }
        }
        d.deserialize_any(V)
    }
}

/// Columns brought in by a lookup: a list (same names) or a table of new
/// name -> column of the lookup source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renames(pub Vec<(String, String)>);

impl<'de> Deserialize<'de> for Renames {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Renames;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of column names or a table of new name = \"column\"")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Renames, A::Error> {
                let names: Vec<String> = Vec::deserialize(SeqAccessDeserializer::new(seq))?;
                Ok(Renames(names.into_iter().map(|n| (n.clone(), n)).collect()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Renames, A::Error> {
                let m: BTreeMap<String, String> =
                    BTreeMap::deserialize(MapAccessDeserializer::new(map))?;
                Ok(Renames(m.into_iter().collect()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A value written either as a string (its short form) or as a table of
/// keys; the table goes through `T`'s own derive, unknown keys included.
struct Short<T>(T);

impl<'de, T: Deserialize<'de> + From<String>> Deserialize<'de> for Short<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de> + From<String>> Visitor<'de> for V<T> {
            type Value = Short<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a table of keys")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Short<T>, E> {
                Ok(Short(T::from(v.to_owned())))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Short<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(Short)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

fn map_of_short<'de, D, T>(d: D) -> Result<BTreeMap<String, T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + From<String>,
{
    let m: BTreeMap<String, Short<T>> = BTreeMap::deserialize(d)?;
    Ok(m.into_iter().map(|(k, v)| (k, v.0)).collect())
}

/// `measures = ["quantity"]` (each its own source column) or a table of
/// name -> column rule.
fn measures<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, ColumnRule>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = BTreeMap<String, ColumnRule>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of column names or a table of measure name = rule")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            let names: Vec<String> = Vec::deserialize(SeqAccessDeserializer::new(seq))?;
            Ok(names
                .into_iter()
                .map(|n| (n.clone(), ColumnRule::from(n)))
                .collect())
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            map_of_short(MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_any(V)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn parse(text: &str) -> Result<Mapping, String> {
        Mapping::parse(Path::new("m.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn short_and_long_forms_read_the_same() {
        let m = parse(
            r#"
            [sources]
            tx = "tx.csv"
            products = { path = "p", format = "parquet" }

            [tables.transactions]
            source = "tx"
            measures = ["quantity"]
            [tables.transactions.columns]
            amount = "sales"
            transaction_date = { column = "day", day_origin = 2016-12-31 }
            "#,
        )
        .unwrap();
        assert_eq!(m.sources["tx"].path, "tx.csv");
        assert_eq!(m.sources["products"].format, Some(SourceFormat::Parquet));
        let t = &m.tables["transactions"];
        assert_eq!(t.columns["amount"].column.as_deref(), Some("sales"));
        assert!(t.columns["transaction_date"].day_origin.is_some());
        assert_eq!(t.measures["quantity"].column.as_deref(), Some("quantity"));
    }

    #[test]
    fn unknown_keys_are_named_wherever_they_are() {
        for (text, key) in [
            ("colour = 1", "colour"),
            (
                "[sources]\na = { path = \"a.csv\", delimter = \";\" }",
                "delimter",
            ),
            (
                "[tables.offers]\nsource = \"a\"\n[tables.offers.columns]\noffer_id = { colum = \"id\" }",
                "colum",
            ),
            (
                "[tables.offers]\nsource = \"a\"\n[[tables.offers.lookups]]\nsource = \"b\"\non = \"k\"\ncolumns = [\"x\"]\nhow = \"inner\"",
                "how",
            ),
            ("[tables.offers]\nsrc = \"a\"", "src"),
        ] {
            let msg = parse(text).unwrap_err();
            assert!(msg.contains(&format!("unknown field `{key}`")), "{msg}");
            assert!(msg.starts_with("m.toml: "), "{msg}");
        }
    }
}
