//! Behaviour of the ingest stage on small hand-made sources (every format,
//! lookups, filters, derived columns, rejects, atomic output, mapping
//! errors) and on a sample of the real Complete Journey data.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod complete_journey;
mod default_contract;
mod errors;
mod rejects;
mod sources;
mod transforms;

use std::path::{Path, PathBuf};

use ingest::{IngestConfig, IngestError, IngestReport};
use polars::prelude::*;

/// A source folder and a data folder in one temporary directory.
pub struct Case {
    _dir: tempfile::TempDir,
    pub src: PathBuf,
    pub data: PathBuf,
}

impl Default for Case {
    fn default() -> Self {
        Self::new()
    }
}

impl Case {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&src).unwrap();
        Case {
            _dir: dir,
            src,
            data,
        }
    }

    /// Writes a text file (CSV, JSON lines, the mapping) under the source
    /// folder.
    pub fn text(&self, rel: &str, content: &str) -> PathBuf {
        let path = self.src.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        path
    }

    pub fn parquet(&self, rel: &str, mut df: DataFrame) -> PathBuf {
        let path = self.src.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let file = std::fs::File::create(&path).unwrap();
        ParquetWriter::new(file).finish(&mut df).unwrap();
        path
    }

    pub fn mapping(&self, toml: &str) -> PathBuf {
        self.text("mapping.toml", toml)
    }

    /// A run of `mapping.toml` against the contract.
    pub fn config(&self) -> IngestConfig {
        IngestConfig {
            contract: ingest::Contract::default(),
            ..IngestConfig::new(self.src.join("mapping.toml"), &self.data)
        }
    }

    pub fn run(&self) -> Result<IngestReport, IngestError> {
        ingest::run(&self.config())
    }

    pub fn run_err(&self) -> String {
        match self.run() {
            Ok(_) => panic!("expected the run to fail"),
            Err(e) => e.to_string(),
        }
    }

    pub fn read(&self, file: &str) -> DataFrame {
        read_parquet(&self.data.join(file))
    }

    /// The names in the data folder, hidden ones included.
    pub fn data_files(&self) -> Vec<String> {
        files_in(&self.data)
    }
}

pub fn read_parquet(path: &Path) -> DataFrame {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ParquetReader::new(file).finish().unwrap()
}

pub fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A column as text values (`None` for null), whatever its type.
pub fn texts(df: &DataFrame, name: &str) -> Vec<Option<String>> {
    let c = df
        .column(name)
        .unwrap_or_else(|_| panic!("no column {name}"))
        .cast(&DataType::String)
        .unwrap();
    c.str()
        .unwrap()
        .iter()
        .map(|v| v.map(str::to_owned))
        .collect()
}

/// `["a", "b"]` as the `Some` values `texts` returns.
pub fn some(values: &[&str]) -> Vec<Option<String>> {
    values.iter().map(|v| Some((*v).to_owned())).collect()
}

pub fn dtype(df: &DataFrame, name: &str) -> DataType {
    df.column(name).unwrap().dtype().clone()
}
