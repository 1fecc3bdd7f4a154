//! What an ingest run did, per table: rows read, left out by filters and
//! `distinct_on`, rejected by rule and column, written. Written as
//! `ingest_report.json` beside the tables and logged as the summary line.

use serde::{Deserialize, Serialize};

use crate::convert::Rule;

pub const REPORT_FILE: &str = "ingest_report.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectCount {
    pub rule: Rule,
    /// The output column whose value broke the rule.
    pub column: String,
    pub rows: u64,
    /// The first rejected row's source value, when the column reads one.
    pub example: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableReport {
    pub table: String,
    pub source: String,
    /// Rows of the source.
    pub rows_in: u64,
    /// Left out by `filter` (not rejects).
    pub filtered_out: u64,
    /// Left out by `distinct_on` (not rejects).
    pub deduplicated: u64,
    pub rejected: u64,
    pub rows_out: u64,
    /// Largest first.
    pub rejects: Vec<RejectCount>,
    /// Values of written rows set to null by a contract rule whose action
    /// is to clear (a birth date in year 1, a NaN offer value), by rule.
    #[serde(default)]
    pub cleared: Vec<RejectCount>,
}

impl TableReport {
    /// Rows the mapping's rules were applied to.
    pub fn considered(&self) -> u64 {
        self.rows_in - self.filtered_out - self.deduplicated
    }

    /// The rejected share of the rows considered.
    pub fn reject_share(&self) -> f64 {
        match self.considered() {
            0 => 0.0,
            n => self.rejected as f64 / n as f64,
        }
    }

    /// `bad_date on transaction_date: 3 rows (e.g. "2017-13-01"), ...`.
    pub fn breakdown(&self) -> String {
        self.rejects
            .iter()
            .map(|r| {
                let example = r
                    .example
                    .as_ref()
                    .map(|e| format!(" (e.g. {e:?})"))
                    .unwrap_or_default();
                format!("{} on {}: {} rows{example}", r.rule, r.column, r.rows)
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// One clause of the summary line.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} {} in, {} out, {} rejected",
            self.table, self.rows_in, self.rows_out, self.rejected
        );
        let dropped = self.filtered_out + self.deduplicated;
        if dropped > 0 {
            s.push_str(&format!(", {dropped} filtered or deduplicated"));
        }
        s
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestReport {
    pub mapping: String,
    pub source_dir: String,
    pub max_reject_share: f64,
    pub tables: Vec<TableReport>,
}
