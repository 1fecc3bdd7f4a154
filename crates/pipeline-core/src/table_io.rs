//! Validated, atomic table I/O.
//!
//! Readers check the contract columns of a [`TableSpec`] before anyone
//! touches the data, so a bad file fails with its path, the column and what
//! was expected rather than deep inside a stage. Readers accept the lenient
//! types of the contract (a datetime for a date, integer 0/1 flags, any
//! number for an f64) and convert them, so a table written by pandas reads
//! as is; writers produce the exact types. Writers never leave a
//! half-written file: they write `.NAME.tmp-PID` beside the target and
//! rename it into place only when everything was written.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use polars::io::parquet::write::BatchedWriter;
use polars::prelude::*;
use serde::Serialize;

use crate::error::{CoreError, Result};
use crate::schema::{ColumnSpec, ColumnType, TableSpec};

/// A file that appears at its destination only on [`AtomicFile::commit`].
/// Dropped without commit, it removes its temporary file.
#[derive(Debug)]
pub struct AtomicFile {
    dest: PathBuf,
    tmp: PathBuf,
    file: Option<File>,
    committed: bool,
}

impl AtomicFile {
    /// Creates the temporary file beside `dest`, creating parent folders.
    pub fn create(dest: impl Into<PathBuf>) -> Result<Self> {
        let dest = dest.into();
        let dir = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| Path::new("."))
            .to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| CoreError::io(&dir, e))?;
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".to_owned());
        let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let file = File::create(&tmp).map_err(|e| CoreError::io(&tmp, e))?;
        Ok(Self {
            dest,
            tmp,
            file: Some(file),
            committed: false,
        })
    }

    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// The open temporary file.
    pub fn file(&mut self) -> Result<&mut File> {
        self.file.as_mut().ok_or_else(|| {
            CoreError::io(
                &self.tmp,
                std::io::Error::other("temporary file already closed"),
            )
        })
    }

    /// A second handle on the temporary file, for writers that take
    /// ownership of their sink.
    pub fn handle(&mut self) -> Result<File> {
        let tmp = self.tmp.clone();
        self.file()?.try_clone().map_err(|e| CoreError::io(tmp, e))
    }

    /// Flushes, syncs and renames the file into place.
    pub fn commit(mut self) -> Result<PathBuf> {
        if let Some(file) = self.file.take() {
            file.sync_all().map_err(|e| CoreError::io(&self.tmp, e))?;
        }
        fs::rename(&self.tmp, &self.dest).map_err(|e| CoreError::io(&self.dest, e))?;
        self.committed = true;
        Ok(self.dest.clone())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Writes bytes to `dest` atomically.
pub fn write_bytes_atomic(dest: impl Into<PathBuf>, bytes: &[u8]) -> Result<PathBuf> {
    let mut out = AtomicFile::create(dest)?;
    let tmp = out.tmp.clone();
    out.file()?
        .write_all(bytes)
        .map_err(|e| CoreError::io(tmp, e))?;
    out.commit()
}

/// Writes `value` as pretty JSON to `dest` atomically.
pub fn write_json_atomic<T: Serialize + ?Sized>(
    dest: impl Into<PathBuf>,
    value: &T,
) -> Result<PathBuf> {
    let dest = dest.into();
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|source| CoreError::Json {
        path: dest.clone(),
        source,
    })?;
    bytes.push(b'\n');
    write_bytes_atomic(dest, &bytes)
}

/// Checks that `schema` (of the file at `path`) has every required contract
/// column of `spec`, and every contract column it has, with an acceptable
/// type. An optional column may be absent (readers add it as all-null).
pub fn check_schema(path: &Path, spec: &TableSpec, schema: &Schema) -> Result<()> {
    for col in spec.columns {
        let Some(found) = schema.get(col.name) else {
            if col.nullable {
                continue;
            }
            return Err(CoreError::MissingColumn {
                path: path.to_path_buf(),
                column: col.name.to_owned(),
                expected: col.ty.describe().to_owned(),
            });
        };
        if !col.ty.accepts(found) {
            return Err(CoreError::WrongType {
                path: path.to_path_buf(),
                column: col.name.to_owned(),
                expected: col.ty.describe().to_owned(),
                found: found.to_string(),
            });
        }
    }
    Ok(())
}

/// The optional columns of `spec` that `schema` lacks.
fn absent_optional<'s>(
    spec: &'s TableSpec,
    schema: &'s Schema,
) -> impl Iterator<Item = &'s ColumnSpec> + 's {
    spec.columns
        .iter()
        .filter(move |c| c.nullable && schema.get(c.name).is_none())
}

/// An all-null column of `col`'s contract type, for an optional column the
/// file does not have.
fn null_column(col: &ColumnSpec) -> Expr {
    lit(NULL).cast(col.ty.dtype()).alias(col.name)
}

/// Adds every optional column of `spec` that `df` lacks, all-null.
/// Eager, not lazy: a lazy collect panics inside a current-thread async
/// runtime (polars blocks on its own), and `serve` reads offers from one.
fn add_absent_optional(path: &Path, spec: &TableSpec, mut df: DataFrame) -> Result<DataFrame> {
    let absent: Vec<Column> = absent_optional(spec, df.schema())
        .map(|c| Column::full_null(c.name.into(), df.height(), &c.ty.dtype()))
        .collect();
    for column in absent {
        df.with_column(column).map_err(unreadable(path))?;
    }
    Ok(df)
}

/// How the read path brings a column of a lenient type to its contract type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Widening {
    /// A lossless (or date-truncating) cast.
    Cast,
    /// An integer flag: cast to `u8` once every value is checked to be 0/1.
    CheckedFlag,
}

/// The widening a reader applies to a column of `found` type where the
/// contract says `ty`, if that type is one the contract tolerates on read.
/// A datetime becomes its date in the stored instant's own frame (UTC for a
/// time-zone-aware column: polars is built without time-zone support).
fn widening(ty: ColumnType, found: &DataType) -> Option<Widening> {
    match ty {
        ColumnType::Date if matches!(found, DataType::Datetime(_, _)) => Some(Widening::Cast),
        ColumnType::F64 if *found == DataType::Float32 || found.is_integer() => {
            Some(Widening::Cast)
        }
        // pandas writes a flag with missing values as floats.
        ColumnType::Flag
            if (found.is_integer() && *found != DataType::UInt8) || found.is_float() =>
        {
            Some(Widening::CheckedFlag)
        }
        _ => None,
    }
}

/// The contract columns of `spec` that `schema` holds in a lenient type.
fn widenings<'s>(
    spec: &'s TableSpec,
    schema: &'s Schema,
) -> impl Iterator<Item = (&'s ColumnSpec, Widening)> + 's {
    spec.columns.iter().filter_map(move |c| {
        let found = schema.get(c.name)?;
        widening(c.ty, found).map(|w| (c, w))
    })
}

fn bad_flag(path: &Path, column: &str, value: AnyValue<'_>) -> CoreError {
    CoreError::BadFlag {
        path: path.to_path_buf(),
        column: column.to_owned(),
        value: value.to_string(),
    }
}

/// `values` with nulls and every 0 and 1 left out: what makes an integer
/// column no flag.
fn not_a_flag(values: Expr) -> Expr {
    values.clone().neq(lit(0)).and(values.neq(lit(1)))
}

/// Converts the lenient columns of `lf` (of `schema`, the file at `path`)
/// into their contract types; an integer flag that holds another value than
/// 0/1 is an error. The check reads the flag columns only; the casts join
/// the plan. Returns the converted frame and its schema.
fn widen(
    path: &Path,
    spec: &TableSpec,
    lf: LazyFrame,
    schema: Schema,
) -> Result<(LazyFrame, Schema)> {
    let mut casts = Vec::new();
    let mut widened = schema.clone();
    for (col_spec, how) in widenings(spec, &schema) {
        if how == Widening::CheckedFlag {
            let bad = lf
                .clone()
                .select([col(col_spec.name)])
                .filter(not_a_flag(col(col_spec.name)))
                .limit(1)
                .collect()
                .map_err(unreadable(path))?;
            if let Some(value) = bad.columns().first().and_then(|c| c.get(0).ok()) {
                return Err(bad_flag(path, col_spec.name, value));
            }
        }
        casts.push(col(col_spec.name).strict_cast(col_spec.ty.dtype()));
        widened.with_column(col_spec.name.into(), col_spec.ty.dtype());
    }
    if casts.is_empty() {
        return Ok((lf, schema));
    }
    Ok((lf.with_columns(casts), widened))
}

/// [`widen`] for a table read whole.
fn widen_frame(path: &Path, spec: &TableSpec, df: DataFrame) -> Result<DataFrame> {
    if widenings(spec, df.schema()).next().is_none() {
        return Ok(df);
    }
    let schema = (**df.schema()).clone();
    let (lf, _) = widen(path, spec, df.lazy(), schema)?;
    lf.collect().map_err(unreadable(path))
}

/// Checks columns, types, emptiness and nulls of an in-memory table.
pub fn check_frame(path: &Path, spec: &TableSpec, df: &DataFrame) -> Result<()> {
    check_schema(path, spec, df.schema())?;
    check_rows(path, spec, df)
}

/// Emptiness, and nulls in the non-nullable columns of `spec` (those `df`
/// holds): the checks of [`read_table`] beyond the schema, for a table read
/// in part from a [`scan_table`].
pub fn check_rows(path: &Path, spec: &TableSpec, df: &DataFrame) -> Result<()> {
    if df.height() == 0 {
        return Err(CoreError::Empty {
            path: path.to_path_buf(),
        });
    }
    for col in spec.columns.iter().filter(|c| !c.nullable) {
        let count = df
            .column(col.name)
            .map(|c| c.null_count())
            .unwrap_or_default();
        if count > 0 {
            return Err(CoreError::UnexpectedNulls {
                path: path.to_path_buf(),
                column: col.name.to_owned(),
                count,
            });
        }
    }
    Ok(())
}

/// The path of `spec`'s file in `dir`.
pub fn table_path(dir: &Path, spec: &TableSpec) -> PathBuf {
    dir.join(spec.file)
}

fn ensure_exists(path: &Path, spec: &TableSpec) -> Result<()> {
    if path.is_file() {
        Ok(())
    } else {
        Err(CoreError::MissingFile {
            path: path.to_path_buf(),
            table: spec.name,
        })
    }
}

fn unreadable(path: &Path) -> impl FnOnce(PolarsError) -> CoreError + '_ {
    move |source| CoreError::Unreadable {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads the whole table of `spec` from `dir` and validates it.
pub fn read_table(dir: &Path, spec: &TableSpec) -> Result<DataFrame> {
    read_table_file(&table_path(dir, spec), spec)
}

/// Reads `path` as the table `spec` and validates it.
pub fn read_table_file(path: &Path, spec: &TableSpec) -> Result<DataFrame> {
    ensure_exists(path, spec)?;
    let file = File::open(path).map_err(|e| CoreError::io(path, e))?;
    let df = ParquetReader::new(file)
        .finish()
        .map_err(unreadable(path))?;
    let df = widen_frame(path, spec, df)?;
    check_frame(path, spec, &df)?;
    add_absent_optional(path, spec, df)
}

/// A lazy scan of the table of `spec` in `dir`, whose schema has been
/// checked from the file's metadata (no data read yet, but for the values
/// of an integer flag column, which are checked to be 0/1), with every
/// optional column the file lacks added as all-null. Emptiness and nulls
/// are checked only by [`read_table`]; callers of a scan check what they use.
pub fn scan_table(dir: &Path, spec: &TableSpec) -> Result<LazyFrame> {
    let path = table_path(dir, spec);
    ensure_exists(&path, spec)?;
    let pl_path = PlRefPath::try_from_path(&path).map_err(unreadable(&path))?;
    let mut lf =
        LazyFrame::scan_parquet(pl_path, ScanArgsParquet::default()).map_err(unreadable(&path))?;
    let schema = lf.collect_schema().map_err(unreadable(&path))?;
    let (lf, schema) = widen(&path, spec, lf, (*schema).clone())?;
    check_schema(&path, spec, &schema)?;
    let absent: Vec<Expr> = absent_optional(spec, &schema).map(null_column).collect();
    Ok(if absent.is_empty() {
        lf
    } else {
        lf.with_columns(absent)
    })
}

fn parquet_writer(file: File) -> ParquetWriter<File> {
    ParquetWriter::new(file)
        .with_compression(ParquetCompression::Zstd(None))
        .with_statistics(StatisticsOptions::default())
}

/// Writes `df` to `path` as Parquet atomically, unchecked: for files
/// outside the contract (rejects).
pub fn write_parquet_atomic(path: &Path, df: &mut DataFrame) -> Result<PathBuf> {
    let mut out = AtomicFile::create(path)?;
    parquet_writer(out.handle()?)
        .finish(df)
        .map_err(|source| CoreError::Write {
            path: path.to_path_buf(),
            source,
        })?;
    out.commit()
}

/// Where and how a stage writes its tables.
#[derive(Debug, Clone)]
pub struct TableSink {
    pub dir: PathBuf,
    /// Also write `NAME.csv` beside each Parquet file.
    pub csv: bool,
}

impl TableSink {
    pub fn new(dir: impl Into<PathBuf>, csv: bool) -> Self {
        Self {
            dir: dir.into(),
            csv,
        }
    }

    /// Validates `df` against `spec` and writes it (and its CSV twin)
    /// atomically. Returns the Parquet path.
    pub fn write(&self, spec: &TableSpec, df: &mut DataFrame) -> Result<PathBuf> {
        let path = table_path(&self.dir, spec);
        check_frame(&path, spec, df)?;
        let mut out = AtomicFile::create(&path)?;
        parquet_writer(out.handle()?)
            .finish(df)
            .map_err(|source| CoreError::Write {
                path: path.clone(),
                source,
            })?;
        if self.csv {
            write_csv(&path.with_extension("csv"), df)?;
        }
        out.commit()
    }

    /// A writer that takes the table in batches (row groups), for tables
    /// too large to hold in memory at once.
    pub fn batched(&self, spec: &'static TableSpec, schema: &Schema) -> Result<TableWriter> {
        TableWriter::create(&self.dir, spec, schema, self.csv)
    }
}

fn write_csv(path: &Path, df: &mut DataFrame) -> Result<()> {
    let mut out = AtomicFile::create(path)?;
    let file = out.handle()?;
    CsvWriter::new(BufWriter::new(file))
        .finish(df)
        .map_err(|source| CoreError::Write {
            path: path.to_path_buf(),
            source,
        })?;
    out.commit()?;
    Ok(())
}

/// Streams a table to Parquet (and optionally CSV) in batches; the files
/// appear only on [`TableWriter::finish`].
pub struct TableWriter {
    spec: &'static TableSpec,
    path: PathBuf,
    parquet: (AtomicFile, BatchedWriter<File>),
    csv: Option<(AtomicFile, BufWriter<File>)>,
    rows: usize,
}

impl TableWriter {
    fn create(dir: &Path, spec: &'static TableSpec, schema: &Schema, csv: bool) -> Result<Self> {
        let path = table_path(dir, spec);
        check_schema(&path, spec, schema)?;
        let mut out = AtomicFile::create(&path)?;
        let writer = parquet_writer(out.handle()?)
            .batched(schema)
            .map_err(|source| CoreError::Write {
                path: path.clone(),
                source,
            })?;
        let csv = if csv {
            let mut c = AtomicFile::create(path.with_extension("csv"))?;
            let f = BufWriter::new(c.handle()?);
            Some((c, f))
        } else {
            None
        };
        Ok(Self {
            spec,
            path,
            parquet: (out, writer),
            csv,
            rows: 0,
        })
    }

    pub fn write(&mut self, df: &mut DataFrame) -> Result<()> {
        if df.height() == 0 {
            return Ok(());
        }
        let write_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CoreError::Write { path, source }
        };
        self.parquet
            .1
            .write_batch(df)
            .map_err(write_err(&self.path))?;
        if let Some((file, sink)) = self.csv.as_mut() {
            CsvWriter::new(sink)
                .include_header(self.rows == 0)
                .finish(df)
                .map_err(write_err(file.dest()))?;
        }
        self.rows += df.height();
        Ok(())
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Closes the files and moves them into place. An empty table is an
    /// error, as it would be for a reader.
    pub fn finish(self) -> Result<usize> {
        if self.rows == 0 {
            return Err(CoreError::Empty { path: self.path });
        }
        let (out, writer) = self.parquet;
        writer.finish().map_err(|source| CoreError::Write {
            path: self.path.clone(),
            source,
        })?;
        drop(writer);
        out.commit()?;
        if let Some((file, mut sink)) = self.csv {
            let dest = file.dest().to_path_buf();
            sink.flush().map_err(|e| CoreError::io(dest, e))?;
            drop(sink);
            file.commit()?;
        }
        tracing::debug!(table = self.spec.name, rows = self.rows, "written");
        Ok(self.rows)
    }
}
