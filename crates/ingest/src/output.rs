//! Writing a run's files all or nothing: every table is validated against
//! its contract spec first (messages name the final path), then the
//! tables, their rejects and the report are written into a staging folder
//! inside the data folder, and only when all of them are written are they
//! renamed into place. A failure on the way leaves the data folder as it
//! was (the staging folder removes itself).

use std::fs::File;
use std::path::{Path, PathBuf};

use pipeline_core::table_io::{TableSink, check_frame, table_path, write_json_atomic};
use polars::prelude::*;

use crate::error::IngestError;
use crate::report::{IngestReport, REPORT_FILE};
use crate::table::TableOutcome;

/// `{table}.rejects.parquet`.
pub fn rejects_file(table: &str) -> String {
    format!("{table}.rejects.parquet")
}

fn write_rejects(path: &Path, rejects: &mut DataFrame) -> Result<(), IngestError> {
    let file = File::create(path).map_err(|e| IngestError::io(path, e))?;
    ParquetWriter::new(file)
        .with_compression(ParquetCompression::Zstd(None))
        .finish(rejects)
        .map_err(|source| IngestError::Compute {
            table: path.display().to_string(),
            source,
        })?;
    Ok(())
}

/// Writes every outcome, its rejects and the report into `data_dir`, or
/// nothing. Returns the files written, in the data folder.
pub fn write_all(
    data_dir: &Path,
    csv: bool,
    outcomes: &mut [TableOutcome],
    report: &IngestReport,
) -> Result<Vec<PathBuf>, IngestError> {
    for o in outcomes.iter() {
        check_frame(&table_path(data_dir, o.spec), o.spec, &o.valid)?;
    }
    std::fs::create_dir_all(data_dir).map_err(|e| IngestError::io(data_dir, e))?;
    let staging = tempfile::Builder::new()
        .prefix(".ingest-staging-")
        .tempdir_in(data_dir)
        .map_err(|e| IngestError::io(data_dir, e))?;
    let sink = TableSink::new(staging.path(), csv);
    for o in outcomes.iter_mut() {
        sink.write(o.spec, &mut o.valid)?;
        write_rejects(
            &staging.path().join(rejects_file(o.spec.name)),
            &mut o.rejects,
        )?;
    }
    write_json_atomic(staging.path().join(REPORT_FILE), report)?;

    let mut names: Vec<PathBuf> = std::fs::read_dir(staging.path())
        .map_err(|e| IngestError::io(staging.path(), e))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(|e| IngestError::io(staging.path(), e))?;
    // The report last: present only when every table is in place.
    names.sort_by_key(|p| p.file_name().is_some_and(|n| n == REPORT_FILE));
    // A folder in the way would fail its rename half-way through the set.
    for from in &names {
        if let Some(name) = from.file_name() {
            let to = data_dir.join(name);
            if to.is_dir() {
                return Err(IngestError::io(
                    &to,
                    std::io::Error::other("a folder is in the way of the output file"),
                ));
            }
        }
    }
    let mut written = Vec::with_capacity(names.len());
    for from in names {
        let Some(name) = from.file_name() else {
            continue;
        };
        let to = data_dir.join(name);
        std::fs::rename(&from, &to).map_err(|e| IngestError::io(&to, e))?;
        written.push(to);
    }
    Ok(written)
}
