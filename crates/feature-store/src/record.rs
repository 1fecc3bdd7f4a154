//! What a lookup returns.

use std::sync::Arc;

/// One resolved customer as `serve` needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerRecord {
    /// The resolved customer id, also when the lookup named a record id.
    pub customer_id: String,
    /// The segment of `customer_segments.parquet`.
    pub cluster: u32,
    /// The feature values exactly as in `customer_features.parquet`, in the
    /// order of `generation.feature_names`; a null is `f64::NAN`.
    pub features: Vec<f64>,
    /// The generation the record was read from.
    pub generation: Arc<GenerationMeta>,
}

impl CustomerRecord {
    /// The value of the feature `name`, if the generation has it.
    pub fn feature(&self, name: &str) -> Option<f64> {
        let i = self
            .generation
            .feature_names
            .iter()
            .position(|n| n == name)?;
        self.features.get(i).copied()
    }
}

/// Describes one loaded generation (the JSON under `offers:meta`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GenerationMeta {
    /// Increases by one with every load; 0 for the embedded store.
    pub generation: u64,
    /// The feature columns of `customer_features.parquet`, in file order.
    pub feature_names: Vec<String>,
    /// Customers stored (one `cust:` key each).
    pub customers: u64,
    /// Aliases stored (record ids that differ from their customer id).
    pub aliases: u64,
    /// The number of `recs:{bucket}` alias hashes ([`crate::keys`]); `None`
    /// for the embedded store and for generations of the legacy layout (one
    /// `rec:{record_id}` string per alias), which the reader still serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias_buckets: Option<u64>,
    /// SHA-256 over the three input files, so two stores built from the
    /// same files report the same version.
    pub data_version: String,
    /// `model_version` of `models/manifest.json` when it was present.
    pub model_version: Option<String>,
    /// RFC 3339 time of the load.
    pub created_at: String,
    /// Version of the value encoding ([`crate::encoding::FORMAT_VERSION`]).
    pub encoding: u32,
}
