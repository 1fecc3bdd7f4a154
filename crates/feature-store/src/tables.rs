//! The three input tables of a generation, read and validated once.
//!
//! Both `load-cache` and the embedded store build a generation from the same
//! [`CustomerTables`], which is what makes the two stores agree.
//!
//! Rules: every column of `customer_features.parquet` other than
//! `customer_id` is a feature and must be numeric (integers and booleans are
//! widened to `f64`, which is exact below 2^53; a null becomes `NaN`). A
//! customer id may appear once. Customers without a row in
//! `customer_segments.parquet` and records of `entity_map.parquet` whose
//! customer has no features are counted and left out (bad rows are data).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use pipeline_core::artifacts::sha256_file;
use pipeline_core::schema::{CUSTOMER_FEATURES, CUSTOMER_SEGMENTS, ENTITY_MAP};
use pipeline_core::table_io::{read_table, table_path};
use polars::prelude::{Column, DataFrame, DataType, PolarsError};

use crate::error::StoreError;
use crate::record::GenerationMeta;

/// Customers (features + cluster) and aliases, ready to store.
#[derive(Debug, Clone, Default)]
pub struct CustomerTables {
    /// Feature columns of `customer_features.parquet`, in file order.
    pub feature_names: Vec<String>,
    pub customer_ids: Vec<String>,
    pub clusters: Vec<u32>,
    /// Row-major: customer `i` owns `features[i * n .. (i + 1) * n]` with
    /// `n = feature_names.len()`; a null is `f64::NAN`.
    pub features: Vec<f64>,
    /// `(record_id, customer_id)` for every record of a stored customer whose
    /// id differs from the customer id.
    pub aliases: Vec<(String, String)>,
    /// Customers of the feature table left out for having no cluster.
    pub customers_without_cluster: u64,
    /// Records of the entity map whose customer is not stored.
    pub records_without_customer: u64,
    /// Identifies the input files (prefixes of their SHA-256), or how the
    /// tables were made (`synthetic-...`).
    pub data_version: String,
}

fn polars_error(path: &Path) -> impl Fn(PolarsError) -> StoreError + '_ {
    move |e| StoreError::BadData {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// The string values of `name` (no nulls: the contract checks them).
fn strings(df: &DataFrame, path: &Path, name: &str) -> Result<Vec<String>, StoreError> {
    let column = df.column(name).map_err(polars_error(path))?;
    let values = column
        .as_materialized_series()
        .str()
        .map_err(polars_error(path))?;
    Ok(values
        .iter()
        .map(|v| v.unwrap_or_default().to_owned())
        .collect())
}

fn is_feature_type(dtype: &DataType) -> bool {
    dtype.is_primitive_numeric() || dtype.is_bool()
}

/// A feature column as `f64`, nulls as `NaN`.
fn feature_values(column: &Column, path: &Path) -> Result<Vec<f64>, StoreError> {
    let series = column
        .as_materialized_series()
        .cast(&DataType::Float64)
        .map_err(polars_error(path))?;
    let values = series.f64().map_err(polars_error(path))?;
    Ok(values.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

impl CustomerTables {
    /// Reads and validates the three tables in `data_dir`.
    pub fn read(data_dir: &Path) -> Result<Self, StoreError> {
        let features_path = table_path(data_dir, &CUSTOMER_FEATURES);
        let segments_path = table_path(data_dir, &CUSTOMER_SEGMENTS);
        let entity_path = table_path(data_dir, &ENTITY_MAP);
        let features = read_table(data_dir, &CUSTOMER_FEATURES)?;
        let segments = read_table(data_dir, &CUSTOMER_SEGMENTS)?;
        let entity_map = read_table(data_dir, &ENTITY_MAP)?;
        let mut tables = Self::from_frames(
            (&features_path, &features),
            (&segments_path, &segments),
            (&entity_path, &entity_map),
        )?;
        let mut version = Vec::with_capacity(3);
        for path in [&features_path, &segments_path, &entity_path] {
            let digest = sha256_file(path)?;
            version.push(digest.chars().take(16).collect::<String>());
        }
        tables.data_version = version.join("-");
        Ok(tables)
    }

    /// Builds the tables from frames already read (each with the path it came
    /// from, for messages). `data_version` is left empty.
    pub fn from_frames(
        (features_path, features): (&PathBuf, &DataFrame),
        (segments_path, segments): (&PathBuf, &DataFrame),
        (entity_path, entity_map): (&PathBuf, &DataFrame),
    ) -> Result<Self, StoreError> {
        // Features: check every column before converting any.
        let mut feature_columns = Vec::new();
        for column in features.columns() {
            let name = column.name().as_str();
            if name == "customer_id" {
                continue;
            }
            if !is_feature_type(column.dtype()) {
                return Err(StoreError::BadColumn {
                    path: features_path.clone(),
                    column: name.to_owned(),
                    found: column.dtype().to_string(),
                    expected:
                        "a numeric feature column (every column but `customer_id` is a feature)"
                            .to_owned(),
                });
            }
            feature_columns.push(column);
        }
        if feature_columns.is_empty() {
            return Err(StoreError::BadData {
                path: features_path.clone(),
                reason: "no feature column besides `customer_id`".to_owned(),
            });
        }
        let feature_names: Vec<String> = feature_columns
            .iter()
            .map(|c| c.name().as_str().to_owned())
            .collect();
        let all_ids = strings(features, features_path, "customer_id")?;

        // Segments.
        let segment_ids = strings(segments, segments_path, "customer_id")?;
        let cluster_column = segments
            .column("cluster")
            .map_err(polars_error(segments_path))?
            .as_materialized_series()
            .cast(&DataType::Int64)
            .map_err(polars_error(segments_path))?;
        let cluster_values = cluster_column.i64().map_err(polars_error(segments_path))?;
        let mut cluster_of: HashMap<&str, u32> = HashMap::with_capacity(segment_ids.len());
        for (id, cluster) in segment_ids.iter().zip(cluster_values.iter()) {
            let cluster = cluster
                .and_then(|c| u32::try_from(c).ok())
                .ok_or_else(|| StoreError::BadData {
                    path: segments_path.clone(),
                    reason: format!("column `cluster` of customer `{id}` is {cluster:?}, expected a cluster number 0..2^32"),
                })?;
            if cluster_of.insert(id, cluster).is_some() {
                return Err(StoreError::BadData {
                    path: segments_path.clone(),
                    reason: format!("customer `{id}` appears twice in column `customer_id`"),
                });
            }
        }

        // Rows kept: customers with a cluster, each once.
        let mut seen = HashSet::with_capacity(all_ids.len());
        let mut kept_rows = Vec::with_capacity(all_ids.len());
        let mut clusters = Vec::with_capacity(all_ids.len());
        let mut customers_without_cluster = 0u64;
        for (row, id) in all_ids.iter().enumerate() {
            if !seen.insert(id.as_str()) {
                return Err(StoreError::BadData {
                    path: features_path.clone(),
                    reason: format!("customer `{id}` appears twice in column `customer_id`"),
                });
            }
            match cluster_of.get(id.as_str()) {
                Some(&cluster) => {
                    kept_rows.push(row);
                    clusters.push(cluster);
                }
                None => customers_without_cluster += 1,
            }
        }
        if kept_rows.is_empty() {
            return Err(StoreError::BadData {
                path: segments_path.clone(),
                reason: format!(
                    "none of the {} customers of {} has a cluster",
                    all_ids.len(),
                    features_path.display()
                ),
            });
        }

        // Features, row-major over the kept rows.
        let n = feature_names.len();
        let mut matrix = vec![0.0; kept_rows.len() * n];
        for (j, column) in feature_columns.iter().enumerate() {
            let values = feature_values(column, features_path)?;
            for (i, &row) in kept_rows.iter().enumerate() {
                matrix[i * n + j] = values[row];
            }
        }
        let customer_ids: Vec<String> = kept_rows.iter().map(|&r| all_ids[r].clone()).collect();

        // Aliases of stored customers.
        let stored: HashSet<&str> = customer_ids.iter().map(String::as_str).collect();
        let record_ids = strings(entity_map, entity_path, "record_id")?;
        let record_customers = strings(entity_map, entity_path, "customer_id")?;
        let mut aliases = Vec::with_capacity(record_ids.len());
        let mut records_without_customer = 0u64;
        for (record, customer) in record_ids.into_iter().zip(record_customers) {
            if !stored.contains(customer.as_str()) {
                records_without_customer += 1;
            } else if record != customer {
                aliases.push((record, customer));
            }
        }

        Ok(Self {
            feature_names,
            customer_ids,
            clusters,
            features: matrix,
            aliases,
            customers_without_cluster,
            records_without_customer,
            data_version: String::new(),
        })
    }

    pub fn len(&self) -> usize {
        self.customer_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.customer_ids.is_empty()
    }

    /// The features of customer row `row`.
    pub fn features_of(&self, row: usize) -> &[f64] {
        let n = self.feature_names.len();
        &self.features[row * n..(row + 1) * n]
    }

    /// The meta of a generation built from these tables (`alias_buckets` is
    /// set by the Redis loader, which chooses them).
    pub fn meta(&self, generation: u64, model_version: Option<String>) -> GenerationMeta {
        GenerationMeta {
            generation,
            feature_names: self.feature_names.clone(),
            customers: self.customer_ids.len() as u64,
            aliases: self.aliases.len() as u64,
            alias_buckets: None,
            data_version: self.data_version.clone(),
            model_version,
            created_at: chrono::Utc::now().to_rfc3339(),
            encoding: u32::from(crate::encoding::FORMAT_VERSION),
        }
    }
}
