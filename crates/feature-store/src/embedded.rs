//! The in-memory store `serve` uses when no Redis URL is given.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::error::StoreError;
use crate::record::{CustomerRecord, GenerationMeta};
use crate::tables::CustomerTables;

/// Customers and aliases of the feature files, held in memory. Cheap to
/// clone (shared).
#[derive(Debug, Clone)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tables: CustomerTables,
    /// customer_id -> row of `tables`.
    by_customer: HashMap<String, usize>,
    /// record_id -> row of `tables`.
    by_record: HashMap<String, usize>,
    meta: Arc<GenerationMeta>,
}

impl EmbeddedStore {
    /// Reads `customer_features.parquet`, `customer_segments.parquet` and
    /// `entity_map.parquet` from `data_dir`.
    pub fn from_files(data_dir: &Path) -> Result<Self, StoreError> {
        Ok(Self::from_tables(CustomerTables::read(data_dir)?))
    }

    /// Wraps tables already read.
    pub fn from_tables(tables: CustomerTables) -> Self {
        let by_customer: HashMap<String, usize> = tables
            .customer_ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i))
            .collect();
        let by_record = tables
            .aliases
            .iter()
            .filter_map(|(record, customer)| {
                by_customer.get(customer).map(|&i| (record.clone(), i))
            })
            .collect();
        let meta = Arc::new(tables.meta(0, None));
        Self {
            inner: Arc::new(Inner {
                tables,
                by_customer,
                by_record,
                meta,
            }),
        }
    }

    /// The customer named by a customer id or a record id.
    pub fn lookup(&self, id: &str) -> Option<CustomerRecord> {
        let inner = &*self.inner;
        let row = inner
            .by_customer
            .get(id)
            .or_else(|| inner.by_record.get(id))
            .copied()?;
        Some(CustomerRecord {
            customer_id: inner.tables.customer_ids[row].clone(),
            cluster: inner.tables.clusters[row],
            features: inner.tables.features_of(row).to_vec(),
            generation: Arc::clone(&inner.meta),
        })
    }

    /// The meta of the files (generation 0).
    pub fn generation(&self) -> Arc<GenerationMeta> {
        Arc::clone(&self.inner.meta)
    }
}
