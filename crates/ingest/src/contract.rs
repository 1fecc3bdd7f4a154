//! The input tables ingest writes: their contract specs (from
//! `pipeline_core::schema`) and keys.

use pipeline_core::schema::{CUSTOMERS_RAW, OFFER_INTERACTIONS, OFFERS, TRANSACTIONS, TableSpec};

/// The table whose `measures` become `measure_{name}` columns.
pub const MEASURES_TABLE: &str = "transactions";
pub const MEASURE_PREFIX: &str = "measure_";

/// One contract table ingest may write.
#[derive(Debug, Clone, Copy)]
pub struct InputTable {
    pub spec: &'static TableSpec,
    /// The key column: one row per value, duplicates are rejected.
    pub key: &'static str,
}

/// The tables a mapping may fill, by name. The default is the contract of
/// `pipeline_core::schema`; a test may pass another version of it.
#[derive(Debug, Clone)]
pub struct Contract {
    pub tables: Vec<InputTable>,
}

impl Default for Contract {
    fn default() -> Self {
        Contract {
            tables: vec![
                InputTable {
                    spec: &CUSTOMERS_RAW,
                    key: "record_id",
                },
                InputTable {
                    spec: &OFFERS,
                    key: "offer_id",
                },
                InputTable {
                    spec: &TRANSACTIONS,
                    key: "transaction_id",
                },
                InputTable {
                    spec: &OFFER_INTERACTIONS,
                    key: "interaction_id",
                },
            ],
        }
    }
}

impl Contract {
    pub fn table(&self, name: &str) -> Option<&InputTable> {
        self.tables.iter().find(|t| t.spec.name == name)
    }

    pub fn names(&self) -> String {
        self.tables
            .iter()
            .map(|t| t.spec.name)
            .collect::<Vec<_>>()
            .join(", ")
    }
}
