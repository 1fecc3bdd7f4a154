//! The Redis key layout, shared by the writer and the reader.
//!
//! All keys of one generation live in one Redis database; the serving
//! database is the one named by the URL (default 0).

/// `cust:{customer_id}`: the encoded customer ([`crate::encoding`]).
pub const CUSTOMER_PREFIX: &str = "cust:";
/// `rec:{record_id}`: the resolved customer_id of a source record. Written
/// only when the record id differs from its customer id (a lookup tries the
/// customer key first).
pub const ALIAS_PREFIX: &str = "rec:";
/// The serving generation number (decimal string).
pub const GENERATION: &str = "offers:generation";
/// JSON [`crate::GenerationMeta`] of the generation in this database.
pub const META: &str = "offers:meta";
/// Load lock (in the serving database): only one load at a time.
pub const LOAD_LOCK: &str = "offers:load-lock";

pub fn customer_key(customer_id: &str) -> String {
    format!("{CUSTOMER_PREFIX}{customer_id}")
}

pub fn alias_key(record_id: &str) -> String {
    format!("{ALIAS_PREFIX}{record_id}")
}
