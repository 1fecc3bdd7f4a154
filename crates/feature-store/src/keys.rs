//! The Redis key layout, shared by the writer and the reader.
//!
//! All keys of one generation live in one Redis database; the serving
//! database is the one named by the URL (default 0).
//!
//! Aliases (source `record_id` -> resolved `customer_id`) are not one key
//! each: they are spread over `recs:{bucket}` hashes of about
//! [`ALIASES_PER_BUCKET`] fields, so that Redis keeps every bucket in its
//! compact listpack encoding (about 25 bytes per alias instead of about 100
//! for a string key with its dictionary entry). The bucket of a record is
//! [`alias_bucket`] (FNV-1a of the id, modulo the generation's bucket count,
//! which [`crate::GenerationMeta::alias_buckets`] records).

/// `cust:{customer_id}`: the encoded customer ([`crate::encoding`]).
pub const CUSTOMER_PREFIX: &str = "cust:";
/// `recs:{bucket}`: hash of `record_id` -> `customer_id` for the records
/// whose [`alias_bucket`] is `bucket`. Only records whose id differs from
/// their customer id have an alias (a lookup tries the customer key first).
pub const ALIAS_BUCKET_PREFIX: &str = "recs:";
/// `rec:{record_id}`: one string per alias, the layout of generations
/// written before alias buckets (meta without `alias_buckets`). Read only.
pub const LEGACY_ALIAS_PREFIX: &str = "rec:";
/// The serving generation number (decimal string).
pub const GENERATION: &str = "offers:generation";
/// JSON [`crate::GenerationMeta`] of the generation in this database.
pub const META: &str = "offers:meta";
/// Load lock (in the serving database): only one load at a time.
pub const LOAD_LOCK: &str = "offers:load-lock";

/// Mean aliases per bucket. Redis keeps a hash in listpack encoding up to
/// `hash-max-listpack-entries` fields (default 128); with a mean of 64 the
/// chance that a bucket exceeds 128 is about 1e-11, and a bucket that does
/// is still correct, only larger.
pub const ALIASES_PER_BUCKET: u64 = 64;

pub fn customer_key(customer_id: &str) -> String {
    format!("{CUSTOMER_PREFIX}{customer_id}")
}

/// The number of alias buckets of a generation with `aliases` aliases
/// (at least 1).
pub fn alias_bucket_count(aliases: u64) -> u64 {
    aliases.div_ceil(ALIASES_PER_BUCKET).max(1)
}

/// The bucket of `record_id` among `buckets`: 64-bit FNV-1a of its UTF-8
/// bytes, modulo `buckets`. Part of the stored layout: never change it
/// without a new layout (the reader and the writer must agree).
pub fn alias_bucket(record_id: &str, buckets: u64) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in record_id.as_bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash % buckets.max(1)
}

/// `recs:{bucket}`.
pub fn alias_bucket_key(bucket: u64) -> String {
    format!("{ALIAS_BUCKET_PREFIX}{bucket}")
}

/// `rec:{record_id}` of the legacy layout.
pub fn legacy_alias_key(record_id: &str) -> String {
    format!("{LEGACY_ALIAS_PREFIX}{record_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_reference_values() {
        // 64-bit FNV-1a test vectors (Fowler, Noll, Vo).
        assert_eq!(alias_bucket("", u64::MAX), 0xcbf2_9ce4_8422_2325);
        assert_eq!(alias_bucket("a", u64::MAX), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(alias_bucket("foobar", u64::MAX), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn buckets_stay_in_range_and_spread() {
        assert_eq!(alias_bucket_count(0), 1);
        assert_eq!(alias_bucket_count(64), 1);
        assert_eq!(alias_bucket_count(65), 2);
        let buckets = alias_bucket_count(64_000);
        let mut counts = vec![0u32; buckets as usize];
        for i in 0..64_000 {
            counts[alias_bucket(&format!("REC{i:07}"), buckets) as usize] += 1;
        }
        let max = counts.iter().copied().max().unwrap_or_default();
        assert!(max <= 128, "a bucket got {max} aliases");
    }
}
