//! Cleaning and integer encoding of the compared fields.
//!
//! Every value is cleaned once per distinct raw value (names repeat a lot),
//! then the cleaned values of a field are sorted into a dictionary and each
//! record holds a `u32` code: equality is an integer comparison, the
//! dictionary order gives the sorted-neighbourhood order of oversized
//! blocks, and the dictionary counts give term frequencies. Missing values
//! (null, empty after cleaning, unparsable) get [`MISSING`] and count as
//! neither agreement nor disagreement.

use std::collections::HashMap;

use rayon::prelude::*;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::settings::FieldKind;

/// The code of a missing value.
pub const MISSING: u32 = u32::MAX;

/// One compared field of every record, dictionary encoded.
#[derive(Debug, Clone)]
pub struct EncodedField {
    pub kind: FieldKind,
    /// Per record: index into `values`, or [`MISSING`].
    pub codes: Vec<u32>,
    /// Distinct cleaned values, sorted.
    pub values: Vec<String>,
    /// Records holding each value.
    pub counts: Vec<u32>,
    /// Records with a value.
    pub non_null: usize,
}

impl EncodedField {
    pub fn value(&self, record: usize) -> Option<&str> {
        let code = *self.codes.get(record)?;
        self.values.get(code as usize).map(String::as_str)
    }

    /// Share of non-null records holding value `code`.
    pub fn term_frequency(&self, code: u32) -> f64 {
        let count = self.counts.get(code as usize).copied().unwrap_or(1).max(1);
        count as f64 / self.non_null.max(1) as f64
    }
}

/// Cleans one raw value of a field of `kind`; `None` when nothing usable
/// is left.
pub fn clean_value(kind: FieldKind, raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    let cleaned = match kind {
        FieldKind::Name | FieldKind::String => clean_text(raw, kind == FieldKind::Name),
        FieldKind::Exact => fold_accents(raw).to_lowercase(),
        FieldKind::Email => raw.to_lowercase().split_whitespace().collect(),
        FieldKind::Phone => {
            let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
            // North American numbers written with the country code.
            match digits.strip_prefix('1') {
                Some(rest) if digits.len() == 11 => rest.to_owned(),
                _ => digits,
            }
        }
        FieldKind::Postcode => raw
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_uppercase())
            .collect(),
        FieldKind::Date => clean_date(raw)?,
    };
    (!cleaned.is_empty()).then_some(cleaned)
}

/// Strips accents: "Hélène" -> "Helene", "Nguyễn" -> "Nguyen".
fn fold_accents(raw: &str) -> String {
    raw.nfd().filter(|c| !is_combining_mark(*c)).collect()
}

/// Lowercase letters and digits separated by single spaces. Names also
/// drop apostrophes ("O'Brien" -> "obrien").
fn clean_text(raw: &str, name: bool) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut pending_space = false;
    for c in raw.nfd().filter(|c| !is_combining_mark(*c)) {
        if c.is_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.extend(c.to_lowercase());
        } else if name && (c == '\'' || c == '’') {
            continue;
        } else {
            pending_space = true;
        }
    }
    out
}

/// A date as `YYYYMMDD`, from `YYYY-MM-DD`, `YYYYMMDD`, `YYYY/MM/DD` or
/// `DD/MM/YYYY`. Impossible calendar dates with the right shape are kept
/// (a typo is still comparable); other shapes are missing.
fn clean_date(raw: &str) -> Option<String> {
    let parts: Vec<&str> = raw
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .collect();
    let (y, m, d) = match parts.as_slice() {
        [all] if all.len() == 8 => (&all[..4], &all[4..6], &all[6..]),
        [y, m, d] if y.len() == 4 => (*y, *m, *d),
        [d, m, y] if y.len() == 4 => (*y, *m, *d),
        _ => return None,
    };
    if m.len() > 2 || d.len() > 2 || m.is_empty() || d.is_empty() {
        return None;
    }
    Some(format!("{y}{m:0>2}{d:0>2}"))
}

/// FxHash (rustc-hash 2), a fast hasher for the short strings of a
/// column (not exposed to untrusted keys beyond our own input). Version 2
/// matters: the hand-rolled FxHash 1 this replaced left its entropy in the
/// high bits while hashbrown picks buckets with the low ones, so record ids
/// that differ in their last bytes fell into an eighth of the buckets and a
/// map of the 1.18M record ids took 50 s to build.
pub use rustc_hash::FxHasher;

pub type FxBuild = rustc_hash::FxBuildHasher;

/// Encodes one field from its raw string values (one per record).
pub fn encode_field<'a, I>(kind: FieldKind, raw: I, len: usize) -> EncodedField
where
    I: Iterator<Item = Option<&'a str>>,
{
    // Distinct raw values first: cleaning is the expensive part.
    let mut raw_index: HashMap<&str, u32, FxBuild> = HashMap::default();
    let mut raw_values: Vec<&str> = Vec::new();
    let mut raw_codes: Vec<u32> = Vec::with_capacity(len);
    for value in raw {
        let code = match value {
            None => MISSING,
            Some(v) => *raw_index.entry(v).or_insert_with(|| {
                raw_values.push(v);
                (raw_values.len() - 1) as u32
            }),
        };
        raw_codes.push(code);
    }
    drop(raw_index);
    let cleaned: Vec<Option<String>> = raw_values
        .par_iter()
        .map(|v| clean_value(kind, v))
        .collect();
    let mut values: Vec<String> = cleaned.iter().flatten().cloned().collect();
    values.par_sort_unstable();
    values.dedup();
    let lookup: HashMap<&str, u32, FxBuild> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (v.as_str(), i as u32))
        .collect();
    let raw_to_clean: Vec<u32> = cleaned
        .iter()
        .map(|c| {
            c.as_deref()
                .and_then(|c| lookup.get(c).copied())
                .unwrap_or(MISSING)
        })
        .collect();
    drop(lookup);
    let codes: Vec<u32> = raw_codes
        .par_iter()
        .map(|&r| {
            if r == MISSING {
                MISSING
            } else {
                raw_to_clean[r as usize]
            }
        })
        .collect();
    let mut counts = vec![0u32; values.len()];
    let mut non_null = 0;
    for &c in &codes {
        if c != MISSING {
            counts[c as usize] += 1;
            non_null += 1;
        }
    }
    EncodedField {
        kind,
        codes,
        values,
        counts,
        non_null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn sequential_ids_spread_over_the_low_bits() {
        // hashbrown indexes buckets by the low bits: 65,536 ids over 65,536
        // buckets should fill about 1 - 1/e of them, as random hashes do.
        let build = FxBuild::default();
        let buckets: std::collections::HashSet<u64> = (0..65_536)
            .map(|i| build.hash_one(format!("REC{i:07}").as_str()) & 0xffff)
            .collect();
        assert!(buckets.len() > 38_000, "{} buckets", buckets.len());
    }

    #[test]
    fn cleans_by_kind() {
        assert_eq!(
            clean_value(FieldKind::Name, " Hélène "),
            Some("helene".into())
        );
        assert_eq!(
            clean_value(FieldKind::Name, "Nguyễn"),
            Some("nguyen".into())
        );
        assert_eq!(
            clean_value(FieldKind::Name, "O'Brien-Smith"),
            Some("obrien smith".into())
        );
        assert_eq!(clean_value(FieldKind::Name, "  "), None);
        assert_eq!(
            clean_value(FieldKind::Phone, "+1 (604) 555-0187"),
            Some("6045550187".into())
        );
        assert_eq!(
            clean_value(FieldKind::Postcode, "v5k 0a1"),
            Some("V5K0A1".into())
        );
        assert_eq!(
            clean_value(FieldKind::Email, " Ann.Lee@Mail.COM"),
            Some("ann.lee@mail.com".into())
        );
        assert_eq!(
            clean_value(FieldKind::Date, "1985-03-07"),
            Some("19850307".into())
        );
        assert_eq!(
            clean_value(FieldKind::Date, "19850307"),
            Some("19850307".into())
        );
        assert_eq!(
            clean_value(FieldKind::Date, "7/3/1985"),
            Some("19850307".into())
        );
        assert_eq!(clean_value(FieldKind::Date, "n/a"), None);
    }

    #[test]
    fn encodes_sorted_dictionary_with_counts() {
        let raw = [Some("Bob"), None, Some("alice"), Some("BOB "), Some("")];
        let f = encode_field(FieldKind::Name, raw.into_iter(), raw.len());
        assert_eq!(f.values, vec!["alice".to_owned(), "bob".to_owned()]);
        assert_eq!(f.codes, vec![1, MISSING, 0, 1, MISSING]);
        assert_eq!(f.counts, vec![1, 2]);
        assert_eq!(f.non_null, 3);
    }
}
