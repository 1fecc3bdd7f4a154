//! Candidate pairs: the union of several blocking rules.
//!
//! Each rule gives every record a key (a hash of its transformed field
//! values; records missing a part get none under that rule). Records are
//! sorted by key and every block of equal keys is compared all-to-all, up
//! to `max_block_size` records. A larger block is not dropped: its records
//! are sorted by all their field values (the dictionary order of
//! [`crate::clean`]) and each is compared with its next `window` records (a
//! sorted neighbourhood), so every record of the block still gets
//! candidates. The report counts these blocks, their records and the pairs
//! the cap skipped.

use std::hash::Hasher;

use rayon::prelude::*;
use serde::Serialize;

use crate::clean::{EncodedField, FxHasher, MISSING};
use crate::settings::{KeyPart, KeyTransform};

/// What one blocking rule contributed.
#[derive(Debug, Clone, Serialize)]
pub struct RuleStats {
    pub rule: String,
    pub records_with_key: usize,
    pub blocks: usize,
    pub pairs: u64,
    /// Blocks larger than `max_block_size`, compared by a sorted window.
    pub oversized_blocks: usize,
    pub oversized_records: usize,
    /// All-to-all pairs of oversized blocks that the window did not compare.
    pub pairs_skipped_by_cap: u64,
    pub largest_block: usize,
}

/// Candidate pairs, each `(a << 32) | b` with `a < b`, sorted and unique.
#[derive(Debug)]
pub struct Candidates {
    pub pairs: Vec<u64>,
    pub rules: Vec<RuleStats>,
}

pub fn unpack(pair: u64) -> (usize, usize) {
    ((pair >> 32) as usize, (pair & 0xffff_ffff) as usize)
}

fn pack(a: u32, b: u32) -> u64 {
    let (a, b) = if a < b { (a, b) } else { (b, a) };
    (u64::from(a) << 32) | u64::from(b)
}

/// American Soundex of an ASCII-folded, cleaned name ("robert" -> "R163").
pub fn soundex(name: &str) -> Option<String> {
    let code = |c: u8| match c {
        b'b' | b'f' | b'p' | b'v' => b'1',
        b'c' | b'g' | b'j' | b'k' | b'q' | b's' | b'x' | b'z' => b'2',
        b'd' | b't' => b'3',
        b'l' => b'4',
        b'm' | b'n' => b'5',
        b'r' => b'6',
        b'h' | b'w' => b'h',
        _ => b'0',
    };
    let letters: Vec<u8> = name
        .bytes()
        .filter(u8::is_ascii_alphabetic)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let first = *letters.first()?;
    let mut out = vec![first.to_ascii_uppercase()];
    let mut last = code(first);
    for &c in &letters[1..] {
        let d = code(c);
        if d == b'h' {
            continue; // h and w do not separate equal codes
        }
        if d != b'0' && d != last {
            out.push(d);
            if out.len() == 4 {
                break;
            }
        }
        last = d;
    }
    while out.len() < 4 {
        out.push(b'0');
    }
    String::from_utf8(out).ok()
}

fn transform(value: &str, t: KeyTransform) -> Option<String> {
    let chars = || value.chars();
    let out = match t {
        KeyTransform::Exact => value.to_owned(),
        KeyTransform::Soundex => soundex(value)?,
        KeyTransform::Prefix(n) => chars().take(n).collect(),
        KeyTransform::Suffix(n) => {
            let count = chars().count();
            chars().skip(count.saturating_sub(n)).collect()
        }
        KeyTransform::EmailLocal => value.split('@').next().unwrap_or(value).to_owned(),
        KeyTransform::Year => chars().take(4).collect(),
    };
    (!out.is_empty()).then_some(out)
}

/// Per dictionary value of a field: the hash of its transformed key, or
/// `None` when the transform leaves nothing.
fn part_hashes(field: &EncodedField, t: KeyTransform) -> Vec<Option<u64>> {
    field
        .values
        .par_iter()
        .map(|v| {
            transform(v, t).map(|k| {
                let mut h = FxHasher::default();
                h.write(k.as_bytes());
                h.write_u8(0xff);
                h.finish()
            })
        })
        .collect()
}

/// Blocks `fields` by every rule and unites the pairs.
pub fn candidate_pairs(
    fields: &[EncodedField],
    rules: &[(String, Vec<KeyPart>)],
    max_block_size: usize,
    window: usize,
) -> Candidates {
    let n = fields.first().map_or(0, |f| f.codes.len());
    // Sorted-neighbourhood order: records by all their field values.
    let rank = neighbourhood_rank(fields, n);
    let mut all = Vec::new();
    let mut stats = Vec::with_capacity(rules.len());
    for (name, parts) in rules {
        let (pairs, rule_stats) =
            block_one_rule(fields, name, parts, &rank, max_block_size, window);
        all.extend_from_slice(&pairs);
        stats.push(rule_stats);
    }
    all.par_sort_unstable();
    all.dedup();
    Candidates {
        pairs: all,
        rules: stats,
    }
}

fn neighbourhood_rank(fields: &[EncodedField], n: usize) -> Vec<u32> {
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.par_sort_unstable_by(|&a, &b| {
        fields
            .iter()
            .map(|f| f.codes[a as usize].cmp(&f.codes[b as usize]))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| a.cmp(&b))
    });
    let mut rank = vec![0u32; n];
    for (r, &rec) in order.iter().enumerate() {
        rank[rec as usize] = r as u32;
    }
    rank
}

fn block_one_rule(
    fields: &[EncodedField],
    name: &str,
    parts: &[KeyPart],
    rank: &[u32],
    max_block_size: usize,
    window: usize,
) -> (Vec<u64>, RuleStats) {
    let n = rank.len();
    let hashes: Vec<Vec<Option<u64>>> = parts
        .iter()
        .map(|p| part_hashes(&fields[p.field], p.transform))
        .collect();
    let mut keyed: Vec<(u64, u32)> = (0..n)
        .into_par_iter()
        .filter_map(|rec| {
            let mut key = 0xcbf2_9ce4_8422_2325u64;
            for (p, part) in parts.iter().enumerate() {
                let code = fields[part.field].codes[rec];
                if code == MISSING {
                    return None;
                }
                let h = hashes[p][code as usize]?;
                key = (key.rotate_left(17) ^ h).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            }
            Some((key, rank[rec]))
        })
        .collect();
    keyed.par_sort_unstable();
    // Block boundaries.
    let mut blocks: Vec<(usize, usize)> = Vec::new();
    let mut start = 0;
    for i in 1..=keyed.len() {
        if i == keyed.len() || keyed[i].0 != keyed[start].0 {
            if i - start >= 2 {
                blocks.push((start, i));
            }
            start = i;
        }
    }
    // `keyed` holds ranks; map back to records after pairing.
    let mut record_of_rank = vec![0u32; n];
    for (rec, &r) in rank.iter().enumerate() {
        record_of_rank[r as usize] = rec as u32;
    }
    let pairs: Vec<u64> = blocks
        .par_iter()
        .flat_map_iter(|&(s, e)| {
            let members = &keyed[s..e];
            let size = members.len();
            let reach = if size > max_block_size { window } else { size };
            let record_of_rank = &record_of_rank;
            (0..size).flat_map(move |i| {
                let hi = (i + reach + 1).min(size);
                (i + 1..hi).map(move |j| {
                    pack(
                        record_of_rank[members[i].1 as usize],
                        record_of_rank[members[j].1 as usize],
                    )
                })
            })
        })
        .collect();
    let mut stats = RuleStats {
        rule: name.to_owned(),
        records_with_key: keyed.len(),
        blocks: blocks.len(),
        pairs: pairs.len() as u64,
        oversized_blocks: 0,
        oversized_records: 0,
        pairs_skipped_by_cap: 0,
        largest_block: 0,
    };
    for &(s, e) in &blocks {
        let size = e - s;
        stats.largest_block = stats.largest_block.max(size);
        if size > max_block_size {
            stats.oversized_blocks += 1;
            stats.oversized_records += size;
            let all = (size as u64) * (size as u64 - 1) / 2;
            let w = window as u64;
            let s64 = size as u64;
            let windowed = if s64 > w {
                w * (s64 - w) + w * (w - 1) / 2
            } else {
                all
            };
            stats.pairs_skipped_by_cap += all - windowed.min(all);
        }
    }
    (pairs, stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soundex_codes() {
        assert_eq!(soundex("robert").as_deref(), Some("R163"));
        assert_eq!(soundex("rupert").as_deref(), Some("R163"));
        assert_eq!(soundex("ashcraft").as_deref(), Some("A261"));
        assert_eq!(soundex("tymczak").as_deref(), Some("T522"));
        assert_eq!(soundex("pfister").as_deref(), Some("P236"));
        assert_eq!(soundex("lee").as_deref(), Some("L000"));
        assert_eq!(soundex("123"), None);
    }
}
