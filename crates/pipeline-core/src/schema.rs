//! The table contract of `docs/contract.md` as code.
//!
//! A [`TableSpec`] names a file and the columns every reader may rely on.
//! Stages may add columns; they never rename or drop these. Readers check
//! the listed columns only, so an extra column never breaks a reader. An
//! optional column (`nullable`) may also be absent from the file: readers
//! then see it as all-null, typed as listed.
//!
//! The data-quality rules of a column ([`ColumnSpec::checks`]) are declared
//! here too, beside the column, and applied by [`crate::quality::screen`]
//! in every stage that reads the table.

use polars::prelude::DataType;

use crate::quality::{Check, Rule, clear, reject, reject_before};

/// The logical type of a contract column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Str,
    /// Parquet `date32`.
    Date,
    F64,
    I64,
    U32,
    /// 0/1 flag, stored as `u8` (a `bool` column is accepted on read).
    Flag,
}

impl ColumnType {
    /// The polars type a writer produces for this column.
    pub fn dtype(self) -> DataType {
        match self {
            ColumnType::Str => DataType::String,
            ColumnType::Date => DataType::Date,
            ColumnType::F64 => DataType::Float64,
            ColumnType::I64 => DataType::Int64,
            ColumnType::U32 => DataType::UInt32,
            ColumnType::Flag => DataType::UInt8,
        }
    }

    /// Whether a column read from disk with `found` satisfies this type.
    pub fn accepts(self, found: &DataType) -> bool {
        match self {
            ColumnType::Flag => matches!(found, DataType::UInt8 | DataType::Boolean),
            ColumnType::U32 => {
                matches!(found, DataType::UInt32 | DataType::UInt64 | DataType::Int64)
            }
            ColumnType::I64 => matches!(found, DataType::Int64 | DataType::Int32),
            other => &other.dtype() == found,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            ColumnType::Str => "a string column",
            ColumnType::Date => "a date32 column",
            ColumnType::F64 => "an f64 column",
            ColumnType::I64 => "an i64 column",
            ColumnType::U32 => "a u32 column",
            ColumnType::Flag => "a u8 or bool 0/1 flag column",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ColumnSpec {
    pub name: &'static str,
    pub ty: ColumnType,
    pub nullable: bool,
    /// The data-quality rules of the column's values, in the order checked.
    pub checks: &'static [Check],
}

const fn req(name: &'static str, ty: ColumnType) -> ColumnSpec {
    ColumnSpec {
        name,
        ty,
        nullable: false,
        checks: &[],
    }
}

const fn opt(name: &'static str, ty: ColumnType) -> ColumnSpec {
    ColumnSpec {
        name,
        ty,
        nullable: true,
        checks: &[],
    }
}

impl ColumnSpec {
    const fn checked(mut self, checks: &'static [Check]) -> ColumnSpec {
        self.checks = checks;
        self
    }
}

/// A table's key: unique, the first row keeps it.
const KEY: &[Check] = &[reject(Rule::DuplicateKey)];
/// A date an event happened on: within the calendar, or the row is out.
const EVENT_DATE: &[Check] = &[reject(Rule::OutsideCalendar)];

/// One table of the contract: its file name and the columns it guarantees.
#[derive(Debug, Clone, Copy)]
pub struct TableSpec {
    /// Short name used in messages, e.g. `customers_raw`.
    pub name: &'static str,
    /// File name inside the data directory.
    pub file: &'static str,
    pub columns: &'static [ColumnSpec],
}

impl TableSpec {
    pub fn column(&self, name: &str) -> Option<&ColumnSpec> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn column_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.columns.iter().map(|c| c.name)
    }
}

use ColumnType::{Date, F64, Flag, Str, U32};

pub const CUSTOMERS_RAW: TableSpec = TableSpec {
    name: "customers_raw",
    file: "customers_raw.parquet",
    columns: &[
        req("record_id", Str).checked(KEY),
        // Identity fields are all optional (entity resolution compares the
        // ones present); only the key is required. An impossible date is
        // a placeholder for "unknown" (0001-01-01, 9999-12-31): cleared,
        // so that records never agree on it, and the record kept.
        opt("first_name", Str),
        opt("last_name", Str),
        opt("email", Str),
        opt("phone", Str),
        opt("date_of_birth", Date).checked(&[clear(Rule::ImplausibleBirthDate)]),
        opt("city", Str),
        opt("province", Str),
        opt("postal_code", Str),
        opt("registration_date", Date).checked(&[clear(Rule::OutsideCalendar)]),
    ],
};

/// Duplicate kinds of `customers_truth.dup_type`.
pub const DUP_TYPES: [&str; 6] = [
    "original",
    "true_dup",
    "name_collision",
    "shared_phone",
    "shared_email",
    "id_error",
];

pub const CUSTOMERS_TRUTH: TableSpec = TableSpec {
    name: "customers_truth",
    file: "customers_truth.parquet",
    columns: &[
        req("record_id", Str),
        req("true_customer_id", Str),
        req("dup_type", Str),
    ],
};

pub const OFFERS: TableSpec = TableSpec {
    name: "offers",
    file: "offers.parquet",
    columns: &[
        req("offer_id", Str).checked(KEY),
        req("offer_type", Str),
        // Shown to people; the offer id when absent.
        opt("offer_name", Str),
        // Null: unknown (the ranker reads it as missing); so is a value
        // that is no finite amount >= 0.
        opt("offer_value", F64).checked(&[clear(Rule::NotFinite), clear(Rule::Negative)]),
        // A `transactions.service_category` value the offer is about.
        opt("category", Str),
        // The days the offer may be sent and recommended (inclusive); an
        // open end is unbounded.
        opt("valid_from", Date),
        opt("valid_to", Date).checked(&[reject_before("valid_from")]),
    ],
};

pub const TRANSACTIONS: TableSpec = TableSpec {
    name: "transactions",
    file: "transactions.parquet",
    columns: &[
        req("transaction_id", Str).checked(KEY),
        req("record_id", Str).checked(&[reject(Rule::UnknownRecord)]),
        req("service_category", Str),
        // A return or a correction is no purchase: the RFM figures assume
        // amounts paid.
        req("amount", F64).checked(&[reject(Rule::NotFinite), reject(Rule::Negative)]),
        req("transaction_date", Date).checked(EVENT_DATE),
        // Absent: no price index and no distinct-services count.
        opt("service_id", Str),
        opt("service_name", Str),
        // Absent: no distinct-locations count.
        opt("location", Str),
    ],
};

pub const OFFER_INTERACTIONS: TableSpec = TableSpec {
    name: "offer_interactions",
    file: "offer_interactions.parquet",
    columns: &[
        req("interaction_id", Str).checked(KEY),
        req("record_id", Str).checked(&[reject(Rule::UnknownRecord)]),
        req("offer_id", Str).checked(&[reject(Rule::UnknownOffer)]),
        req("sent_date", Date).checked(EVENT_DATE),
        req("redeemed", Flag),
        // Not read: the type and value of an offer come from `offers`.
        opt("offer_type", Str),
        opt("offer_value", F64),
        // Absent (or all null): not observed; the open and click features
        // are then left out of the vocabulary.
        opt("opened", Flag),
        opt("clicked", Flag),
    ],
};

pub const TRUTH_PROPENSITY: TableSpec = TableSpec {
    name: "truth_propensity",
    file: "truth_propensity.parquet",
    columns: &[
        req("true_customer_id", Str),
        req("offer_id", Str),
        req("propensity", F64),
    ],
};

pub const ENTITY_MAP: TableSpec = TableSpec {
    name: "entity_map",
    file: "entity_map.parquet",
    columns: &[
        req("record_id", Str).checked(KEY),
        req("customer_id", Str),
        req("cluster_size", U32),
    ],
};

pub const MATCH_PAIRS: TableSpec = TableSpec {
    name: "match_pairs",
    file: "match_pairs.parquet",
    columns: &[
        req("record_id_l", Str),
        req("record_id_r", Str),
        req("match_weight", F64),
        req("match_probability", F64),
    ],
};

/// Only the key is checked on read; the feature columns the features stage
/// writes are `Vocabulary::customer_feature_names` (and `models/feature_cols.json`).
pub const CUSTOMER_FEATURES: TableSpec = TableSpec {
    name: "customer_features",
    file: "customer_features.parquet",
    columns: &[req("customer_id", Str)],
};

/// The RFM and diversity figures of `customer_features`, in column order
/// (the features stage leaves some null for a customer with no purchase:
/// its `NULLABLE_FEATURES`).
pub const RFM_FEATURES: [&str; 14] = [
    "recency_days",
    "frequency",
    "monetary_total",
    "monetary_mean",
    "monetary_min",
    "monetary_max",
    "monetary_std",
    "first_purchase_days_ago",
    "tenure_days",
    "mean_days_between",
    "one_time_buyer",
    "distinct_services",
    "distinct_categories",
    "distinct_locations",
];

pub const CUSTOMER_SEGMENTS: TableSpec = TableSpec {
    name: "customer_segments",
    file: "customer_segments.parquet",
    columns: &[req("customer_id", Str), req("cluster", U32)],
};

/// Every table of the contract, for documentation and tests.
pub const ALL_TABLES: [&TableSpec; 10] = [
    &CUSTOMERS_RAW,
    &CUSTOMERS_TRUTH,
    &OFFERS,
    &TRANSACTIONS,
    &OFFER_INTERACTIONS,
    &TRUTH_PROPENSITY,
    &ENTITY_MAP,
    &MATCH_PAIRS,
    &CUSTOMER_FEATURES,
    &CUSTOMER_SEGMENTS,
];

/// The tables datagen writes.
pub const DATAGEN_TABLES: [&TableSpec; 6] = [
    &CUSTOMERS_RAW,
    &CUSTOMERS_TRUTH,
    &OFFERS,
    &TRANSACTIONS,
    &OFFER_INTERACTIONS,
    &TRUTH_PROPENSITY,
];
