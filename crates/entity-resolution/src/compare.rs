//! Field comparisons with graded levels, and the packed comparison vector
//! (`Pattern`) of a record pair.
//!
//! Levels count from 0 (disagreement) up to the field's exact level; a
//! missing value on either side gives no level at all. A pattern packs
//! `level + 1` (0 = missing) into 3 bits per field, so the distinct
//! patterns of millions of pairs are a few thousand and the EM runs on
//! their counts.

use crate::clean::{EncodedField, MISSING};
use crate::settings::{FieldKind, FieldSettings};

/// The packed comparison vector of a pair.
pub type Pattern = u32;

const BITS: u32 = 3;

/// The level of field `f` in `pattern`, `None` when a value is missing.
pub fn level_of(pattern: Pattern, f: usize) -> Option<usize> {
    let raw = (pattern >> (BITS * f as u32)) & 0b111;
    (raw != 0).then(|| raw as usize - 1)
}

/// Compares records field by field.
#[derive(Debug)]
pub struct Comparator<'a> {
    fields: &'a [EncodedField],
    thresholds: Vec<[f64; 2]>,
}

impl<'a> Comparator<'a> {
    pub fn new(fields: &'a [EncodedField], settings: &[FieldSettings]) -> Self {
        Self {
            fields,
            thresholds: settings.iter().map(FieldSettings::thresholds).collect(),
        }
    }

    pub fn fields(&self) -> &'a [EncodedField] {
        self.fields
    }

    /// The comparison vector of records `a` and `b`.
    pub fn pattern(&self, a: usize, b: usize) -> Pattern {
        let mut pattern = 0;
        for f in 0..self.fields.len() {
            if let Some(level) = self.level(f, a, b) {
                pattern |= ((level as u32) + 1) << (BITS * f as u32);
            }
        }
        pattern
    }

    /// The level of field `f` for records `a` and `b`.
    pub fn level(&self, f: usize, a: usize, b: usize) -> Option<usize> {
        let field = &self.fields[f];
        let (ca, cb) = (field.codes[a], field.codes[b]);
        if ca == MISSING || cb == MISSING {
            return None;
        }
        let exact = field.kind.levels() - 1;
        if ca == cb {
            return Some(exact);
        }
        let va = field.values[ca as usize].as_str();
        let vb = field.values[cb as usize].as_str();
        let [strong, weak] = self.thresholds[f];
        Some(match field.kind {
            FieldKind::Name | FieldKind::String => {
                let jw = jaro_winkler(va, vb);
                if jw >= strong {
                    2
                } else if jw >= weak {
                    1
                } else {
                    0
                }
            }
            FieldKind::Exact => 0,
            FieldKind::Date => usize::from(within_one_edit(va, vb) || day_month_swapped(va, vb)),
            FieldKind::Phone => usize::from(within_one_edit(va, vb)),
            FieldKind::Email => {
                let la = va.split('@').next().unwrap_or(va);
                let lb = vb.split('@').next().unwrap_or(vb);
                if la == lb {
                    2
                } else if jaro_winkler(la, lb) >= strong {
                    1
                } else {
                    0
                }
            }
            FieldKind::Postcode => usize::from(
                va.len() >= 3 && vb.len() >= 3 && va.as_bytes()[..3] == vb.as_bytes()[..3],
            ),
        })
    }
}

/// The weight of a pair under the exact-agreement rule (the fallback when
/// too few fields are left for a match model): `None` unless every field
/// both records have agrees exactly, and at least one does. The weight is
/// the sum, over those fields, of log2(1 / frequency of the shared value):
/// the evidence of the agreement if matches always agree and two random
/// records agree as often as the value is common. A value shared by many
/// records (a family e-mail) weighs little, so the chain guard can still
/// cut the bridges it makes.
pub fn exact_agreement_weight(fields: &[EncodedField], pattern: Pattern, a: usize) -> Option<f64> {
    let mut weight = 0.0;
    let mut agreeing = 0;
    for (f, field) in fields.iter().enumerate() {
        let Some(level) = level_of(pattern, f) else {
            continue;
        };
        if level + 1 != field.kind.levels() {
            return None;
        }
        agreeing += 1;
        weight -= field.term_frequency(field.codes[a]).log2();
    }
    (agreeing > 0).then_some(weight)
}

/// `YYYYMMDD` dates equal but for day and month swapped.
fn day_month_swapped(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == 8 && b.len() == 8 && a[..4] == b[..4] && a[4..6] == b[6..8] && a[6..8] == b[4..6]
}

/// At most one insertion, deletion, substitution or adjacent transposition
/// apart (bytes).
pub fn within_one_edit(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if long.len() - short.len() > 1 {
        return false;
    }
    let prefix = short.iter().zip(long).take_while(|(x, y)| x == y).count();
    if prefix == short.len() {
        return true;
    }
    if short.len() == long.len() {
        let rest = prefix + 1;
        // substitution
        if short[rest..] == long[rest..] {
            return true;
        }
        // adjacent transposition
        rest < short.len()
            && short[prefix] == long[rest]
            && short[rest] == long[prefix]
            && short[rest + 1..] == long[rest + 1..]
    } else {
        short[prefix..] == long[prefix + 1..]
    }
}

/// Jaro-Winkler similarity, equal to `strsim::jaro_winkler` (tested), but
/// without allocating for ASCII strings of up to 64 bytes, which is every
/// cleaned name; anything else goes to strsim.
pub fn jaro_winkler(a: &str, b: &str) -> f64 {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    if !a.is_ascii() || !b.is_ascii() || x.len() > 64 || y.len() > 64 {
        return strsim::jaro_winkler(a, b);
    }
    if x.is_empty() && y.is_empty() {
        return 1.0;
    }
    if x.is_empty() || y.is_empty() {
        return 0.0;
    }
    let range = (x.len().max(y.len()) / 2).saturating_sub(1);
    let (mut x_flags, mut y_flags) = (0u64, 0u64);
    let mut matches = 0usize;
    for (i, &c) in x.iter().enumerate() {
        let lo = i.saturating_sub(range);
        let hi = (i + range + 1).min(y.len());
        for (j, &d) in y.iter().enumerate().take(hi).skip(lo) {
            if c == d && y_flags & (1 << j) == 0 {
                x_flags |= 1 << i;
                y_flags |= 1 << j;
                matches += 1;
                break;
            }
        }
    }
    if matches == 0 {
        return 0.0;
    }
    let mut transpositions = 0usize;
    let mut j = 0usize;
    for (i, &c) in x.iter().enumerate() {
        if x_flags & (1 << i) == 0 {
            continue;
        }
        while y_flags & (1 << j) == 0 {
            j += 1;
        }
        if c != y[j] {
            transpositions += 1;
        }
        j += 1;
    }
    let m = matches as f64;
    let jaro =
        (m / x.len() as f64 + m / y.len() as f64 + (m - (transpositions / 2) as f64) / m) / 3.0;
    if jaro > 0.7 {
        let prefix = x.iter().zip(y).take(4).take_while(|(p, q)| p == q).count();
        jaro + 0.1 * prefix as f64 * (1.0 - jaro)
    } else {
        jaro
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jaro_winkler_equals_strsim() {
        let words = [
            "",
            "a",
            "martha",
            "marhta",
            "dwayne",
            "duane",
            "dixon",
            "dicksonx",
            "okonkwo",
            "okonkow",
            "smith",
            "smyth",
            "jean luc",
            "jeanluc",
            "abcdefghijklmnopqrstuvwxyz",
            "zyx",
            "héléne",
        ];
        for a in words {
            for b in words {
                let ours = jaro_winkler(a, b);
                let theirs = strsim::jaro_winkler(a, b);
                assert!(
                    (ours - theirs).abs() < 1e-12,
                    "{a} vs {b}: {ours} != {theirs}"
                );
            }
        }
    }

    #[test]
    fn one_edit() {
        assert!(within_one_edit("6045550187", "6045550187"));
        assert!(within_one_edit("6045550187", "6045550188"));
        assert!(!within_one_edit("6045550187", "6045501870"));
        assert!(within_one_edit("6045550187", "604555187"));
        assert!(within_one_edit("6045550187", "6045551087"));
        assert!(!within_one_edit("6045550187", "6045551078"));
        assert!(within_one_edit("", "1"));
    }

    #[test]
    fn swapped_dates() {
        assert!(day_month_swapped("19850307", "19850703"));
        assert!(!day_month_swapped("19850307", "19860703"));
    }
}
