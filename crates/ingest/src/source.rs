//! The mapping's sources: found, their format told, their schema read from
//! metadata or the header (JSON lines are parsed whole, once), before any
//! table is built. A folder is one table in parts: its visible files
//! (names not starting with `.` or `_`), in name order, all with the same
//! columns.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::error::IngestError;
use crate::jsonl;
use crate::mapping::{SourceFormat, SourceSpec};

/// CSV columns are read as text: the mapping says how each is parsed, so a
/// reader's guess from the first rows never decides a type.
#[derive(Debug, Clone)]
struct CsvOptions {
    separator: u8,
    has_header: bool,
    null_values: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    /// The file or folder, resolved against the source folder.
    pub path: PathBuf,
    pub format: SourceFormat,
    parts: Vec<PathBuf>,
    csv: CsvOptions,
    pub schema: Schema,
    /// JSON lines, parsed when the schema was read.
    loaded: Option<DataFrame>,
}

fn format_name(format: SourceFormat) -> &'static str {
    match format {
        SourceFormat::Csv => "CSV",
        SourceFormat::Parquet => "Parquet",
        SourceFormat::Jsonl => "JSON lines",
    }
}

fn format_of_extension(path: &Path) -> Option<SourceFormat> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "csv" => Some(SourceFormat::Csv),
        "parquet" | "pq" => Some(SourceFormat::Parquet),
        "jsonl" | "ndjson" | "json" => Some(SourceFormat::Jsonl),
        _ => None,
    }
}

fn bad(path: &Path, message: impl Into<String>) -> IngestError {
    IngestError::BadSource {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// The visible files of a folder, in name order.
fn parts_of(dir: &Path) -> Result<Vec<PathBuf>, IngestError> {
    let mut parts = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| IngestError::io(dir, e))? {
        let entry = entry.map_err(|e| IngestError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.starts_with('_') || !entry.path().is_file() {
            continue;
        }
        parts.push(entry.path());
    }
    parts.sort();
    if parts.is_empty() {
        return Err(bad(dir, "the folder holds no part files"));
    }
    Ok(parts)
}

/// The format given, or the one every part's extension says.
fn resolve_format(
    path: &Path,
    given: Option<SourceFormat>,
    parts: &[PathBuf],
) -> Result<SourceFormat, IngestError> {
    if let Some(format) = given {
        return Ok(format);
    }
    let mut found = None;
    for part in parts {
        let Some(format) = format_of_extension(part) else {
            return Err(bad(
                part,
                "cannot tell the format from the extension; set `format` to csv, parquet or jsonl",
            ));
        };
        match found {
            Some(f) if f != format => {
                return Err(bad(path, "the parts are of different formats"));
            }
            _ => found = Some(format),
        }
    }
    found.ok_or_else(|| bad(path, "no part files"))
}

fn csv_options(spec: &SourceSpec) -> Result<CsvOptions, IngestError> {
    let separator = match spec.delimiter {
        None => b',',
        Some(c) if c.is_ascii() => c as u8,
        Some(c) => {
            return Err(bad(
                Path::new(&spec.path),
                format!("delimiter `{c}` is not a single ASCII character"),
            ));
        }
    };
    Ok(CsvOptions {
        separator,
        has_header: spec.has_header.unwrap_or(true),
        null_values: spec.null_values.clone(),
    })
}

impl Source {
    /// Finds the source and reads its schema.
    pub fn open(name: &str, spec: &SourceSpec, source_dir: &Path) -> Result<Self, IngestError> {
        let path = source_dir.join(&spec.path);
        let parts = if path.is_dir() {
            parts_of(&path)?
        } else if path.is_file() {
            vec![path.clone()]
        } else {
            return Err(IngestError::MissingSource {
                name: name.to_owned(),
                path,
            });
        };
        let format = resolve_format(&path, spec.format, &parts)?;
        let mut source = Source {
            name: name.to_owned(),
            path,
            format,
            parts,
            csv: csv_options(spec)?,
            schema: Schema::default(),
            loaded: None,
        };
        if format == SourceFormat::Jsonl {
            let df = jsonl::read(&source.parts)?;
            source.schema = (**df.schema()).clone();
            source.loaded = Some(df);
        } else {
            source.schema = source.part_schemas()?;
        }
        Ok(source)
    }

    fn unreadable(&self, path: &Path) -> impl FnOnce(PolarsError) -> IngestError + use<> {
        let path = path.to_path_buf();
        let format = format_name(self.format);
        move |source| IngestError::Unreadable {
            path,
            format,
            source,
        }
    }

    fn scan_part(&self, part: &Path) -> Result<LazyFrame, IngestError> {
        let pl_path = PlRefPath::try_from_path(part).map_err(self.unreadable(part))?;
        match self.format {
            SourceFormat::Parquet => LazyFrame::scan_parquet(pl_path, ScanArgsParquet::default())
                .map_err(self.unreadable(part)),
            SourceFormat::Csv => {
                let nulls = (!self.csv.null_values.is_empty()).then(|| {
                    NullValues::AllColumns(
                        self.csv
                            .null_values
                            .iter()
                            .map(|s| s.as_str().into())
                            .collect(),
                    )
                });
                LazyCsvReader::new(pl_path)
                    .with_has_header(self.csv.has_header)
                    .with_separator(self.csv.separator)
                    .with_infer_schema_length(Some(0))
                    .with_null_values(nulls)
                    .finish()
                    .map_err(self.unreadable(part))
            }
            SourceFormat::Jsonl => Err(bad(part, "JSON lines are read whole, not scanned")),
        }
    }

    /// The schema of the first part; every other part must have the same.
    fn part_schemas(&self) -> Result<Schema, IngestError> {
        let mut first: Option<(PathBuf, Schema)> = None;
        for part in &self.parts {
            let schema = (*self
                .scan_part(part)?
                .collect_schema()
                .map_err(self.unreadable(part))?)
            .clone();
            match &first {
                None => first = Some((part.clone(), schema)),
                Some((first_part, expected)) if *expected != schema => {
                    return Err(bad(
                        part,
                        format!(
                            "its columns ({}) differ from those of {} ({})",
                            describe(&schema),
                            first_part.display(),
                            describe(expected)
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        first
            .map(|(_, s)| s)
            .ok_or_else(|| bad(&self.path, "no part files"))
    }

    /// The source's rows, every part in order.
    pub fn scan(&self) -> Result<LazyFrame, IngestError> {
        if let Some(df) = &self.loaded {
            return Ok(df.clone().lazy());
        }
        let scans = self
            .parts
            .iter()
            .map(|p| self.scan_part(p))
            .collect::<Result<Vec<_>, _>>()?;
        if scans.len() == 1 {
            return scans
                .into_iter()
                .next()
                .ok_or_else(|| bad(&self.path, "no part files"));
        }
        concat(scans, UnionArgs::default()).map_err(self.unreadable(&self.path))
    }

    /// The columns, for messages.
    pub fn column_list(&self) -> String {
        self.schema
            .iter_names()
            .map(|n| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn dtype(&self, column: &str) -> Option<&DataType> {
        self.schema.get(column)
    }
}

/// `name: type, ...` of a schema.
fn describe(schema: &Schema) -> String {
    schema
        .iter()
        .map(|(n, t)| format!("{n}: {t}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every source of the mapping, opened.
#[derive(Debug, Clone, Default)]
pub struct Sources(BTreeMap<String, Source>);

impl Sources {
    pub fn open(
        specs: &BTreeMap<String, SourceSpec>,
        source_dir: &Path,
    ) -> Result<Self, IngestError> {
        let mut sources = BTreeMap::new();
        for (name, spec) in specs {
            sources.insert(name.clone(), Source::open(name, spec, source_dir)?);
        }
        Ok(Sources(sources))
    }

    pub fn get(&self, name: &str) -> Option<&Source> {
        self.0.get(name)
    }

    pub fn names(&self) -> String {
        self.0.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}
