//! The compact, lossless binary value of a `cust:` key.
//!
//! The ranker must see exactly the feature values training saw, so every
//! value decodes to the same `f64` bits it was encoded from (a null feature
//! is stored and returned as `f64::NAN`). Most customer features are counts,
//! zeros, or money with cents, so each value gets the cheapest of a few
//! exact forms instead of eight bytes:
//!
//! ```text
//! value   = FORMAT_VERSION:u8  cluster:varint  n_features:varint
//!           tags:[u8; ceil(n/2)]  payload*
//! tag (4 bits, low nibble first)        payload
//!   0  +0.0                             none
//!   1  integer 0 < v < 2^53             varint(v)
//!   2  integer -2^53 < v < 0            varint(-v)
//!   3..6  k / 10^s exactly, s = 1..4    varint(zigzag(k))
//!   7  exactly representable as f32     4 bytes LE
//!   8  anything else (incl. -0.0, inf)  8 bytes LE
//!   9  canonical NaN (null)             none
//!  10  p / q exactly, q < 2^20          varint(p) varint(q)
//!  11  -(p / q) exactly                 varint(p) varint(q)
//! ```
//!
//! Shares and rates (`txn_share_*` = count / count, smoothed rates
//! `(c + 1) / (r + 2)`) are quotients of small integers; the encoder finds
//! `p / q` among the convergents of the value's continued fraction, a few
//! divisions per value.
//!
//! The decimal form is exact by construction: the encoder keeps it only
//! when `k as f64 / 10^s` (one correctly rounded IEEE division, the same
//! on every machine) gives back the original bits.

/// Bumped whenever the layout above changes; stored in every value and in
/// the generation meta.
pub const FORMAT_VERSION: u8 = 1;

const TAG_ZERO: u8 = 0;
const TAG_POS_INT: u8 = 1;
const TAG_NEG_INT: u8 = 2;
const TAG_DECIMAL_1: u8 = 3;
const TAG_DECIMAL_4: u8 = 6;
const TAG_F32: u8 = 7;
const TAG_F64: u8 = 8;
const TAG_NAN: u8 = 9;
const TAG_POS_RATIO: u8 = 10;
const TAG_NEG_RATIO: u8 = 11;

/// Largest denominator of the quotient form.
const MAX_DENOMINATOR: u64 = 1 << 20;

const POW10: [f64; 4] = [10.0, 100.0, 1_000.0, 10_000.0];
/// Integers up to 2^53 are exact in f64.
const EXACT_INT: f64 = 9_007_199_254_740_992.0;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// `t` rounded half away from zero, like `f64::round`, for `|t| < 2^53`,
/// without the libm call that `round` costs on the baseline x86-64 target
/// (no SSE4.1 rounding instruction): `t - trunc(t)` is exact.
#[inline]
fn round_small(t: f64) -> f64 {
    let i = t as i64;
    let f = t - i as f64;
    (i + i64::from(f >= 0.5) - i64::from(f <= -0.5)) as f64
}

/// Whether `v` may be `k / 10^s` for some `s` in 1..=4 (a quick filter: a
/// `false` is certain, a `true` is then checked exactly). Such a `v` is
/// the correctly rounded `K / 10^4` with `K = k * 10^(4 - s)`, so `v * 10^4`
/// lies within `|K| * 2.3e-16` of the integer `K`; a product farther than
/// `1e-15` relative from every integer is no such decimal.
#[inline]
fn may_be_decimal(v: f64) -> bool {
    let t = v * 10_000.0;
    if t.abs() >= (1u64 << 50) as f64 {
        return true;
    }
    (t - round_small(t)).abs() <= t.abs() * 1e-15
}

/// `x = p / q` exactly (bitwise), for `x > 0` with a small denominator:
/// walks the convergents of the continued fraction of `x`.
fn ratio(x: f64) -> Option<(u64, u64)> {
    if !(x > 0.0 && x < 1e12) {
        return None;
    }
    let bits = x.to_bits();
    let (mut h0, mut h1) = (0u64, 1u64);
    let (mut k0, mut k1) = (1u64, 0u64);
    let mut r = x;
    for _ in 0..24 {
        // r >= 0, so the truncating cast is the floor (and costs no libm
        // call); NaN and infinity stop here.
        if r.is_nan() || r >= 1e12 {
            return None;
        }
        let a = r as u64;
        let h = a.checked_mul(h1)?.checked_add(h0)?;
        let k = a.checked_mul(k1)?.checked_add(k0)?;
        if k > MAX_DENOMINATOR {
            return None;
        }
        if (h as f64 / k as f64).to_bits() == bits {
            return Some((h, k));
        }
        (h0, h1, k0, k1) = (h1, h, k1, k);
        let frac = r - a as f64;
        if frac <= 0.0 {
            return None;
        }
        r = 1.0 / frac;
    }
    None
}

/// The tag and (for varint forms) the integer payloads of one value.
fn classify(v: f64) -> (u8, u64, u64) {
    let bits = v.to_bits();
    if bits == 0 {
        return (TAG_ZERO, 0, 0);
    }
    if bits == f64::NAN.to_bits() {
        return (TAG_NAN, 0, 0);
    }
    // -0.0 would pass the integer and decimal checks as +0.0.
    if !v.is_finite() || bits == (-0.0f64).to_bits() {
        return (TAG_F64, 0, 0);
    }
    if v.abs() < EXACT_INT && (v as i64) as f64 == v {
        return if v > 0.0 {
            (TAG_POS_INT, v as u64, 0)
        } else {
            (TAG_NEG_INT, (-v) as u64, 0)
        };
    }
    let f32_exact = (v as f32) as f64 == v;
    if may_be_decimal(v) {
        for (i, p) in POW10.iter().enumerate() {
            let t = v * p;
            if t.abs() >= EXACT_INT {
                continue;
            }
            let k = round_small(t);
            if k.abs() < EXACT_INT && (k / p).to_bits() == bits {
                let z = zigzag(k as i64);
                if f32_exact && varint_len(z) > 4 {
                    return (TAG_F32, 0, 0);
                }
                return (TAG_DECIMAL_1 + i as u8, z, 0);
            }
        }
    }
    if let Some((p, q)) = ratio(v.abs())
        && (!f32_exact || varint_len(p) + varint_len(q) <= 4)
    {
        let tag = if v > 0.0 {
            TAG_POS_RATIO
        } else {
            TAG_NEG_RATIO
        };
        return (tag, p, q);
    }
    if f32_exact {
        (TAG_F32, 0, 0)
    } else {
        (TAG_F64, 0, 0)
    }
}

/// Encodes one customer, appending to `out` (cleared first) so a bulk
/// writer can reuse one buffer.
pub fn encode_customer_into(out: &mut Vec<u8>, cluster: u32, features: &[f64]) {
    out.clear();
    out.push(FORMAT_VERSION);
    put_varint(out, u64::from(cluster));
    put_varint(out, features.len() as u64);
    let tags_at = out.len();
    out.resize(tags_at + features.len().div_ceil(2), 0);
    for (i, &v) in features.iter().enumerate() {
        let (tag, payload, denominator) = classify(v);
        out[tags_at + i / 2] |= tag << ((i % 2) * 4);
        match tag {
            TAG_POS_INT | TAG_NEG_INT | TAG_DECIMAL_1..=TAG_DECIMAL_4 => put_varint(out, payload),
            TAG_F32 => out.extend_from_slice(&(v as f32).to_le_bytes()),
            TAG_F64 => out.extend_from_slice(&v.to_le_bytes()),
            TAG_POS_RATIO | TAG_NEG_RATIO => {
                put_varint(out, payload);
                put_varint(out, denominator);
            }
            _ => {}
        }
    }
}

/// Encodes one customer into a new buffer.
pub fn encode_customer(cluster: u32, features: &[f64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + features.len() * 2);
    encode_customer_into(&mut out, cluster, features);
    out
}

/// Why a value does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("encoding version {0}, this build reads version {FORMAT_VERSION}")]
    Version(u8),
    #[error("value ends early")]
    Truncated,
    #[error("unknown tag {0}")]
    Tag(u8),
    #[error("{0} bytes left over after the last feature")]
    Trailing(usize),
    #[error("cluster {0} does not fit in u32")]
    Cluster(u64),
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let s = self
            .bytes
            .get(self.pos..end)
            .ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.bytes.get(self.pos).ok_or(DecodeError::Truncated)?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(DecodeError::Truncated)
    }
}

/// Decodes a value: `(cluster, features)`.
pub fn decode_customer(bytes: &[u8]) -> Result<(u32, Vec<f64>), DecodeError> {
    let mut r = Reader { bytes, pos: 0 };
    let version = r.take(1)?[0];
    if version != FORMAT_VERSION {
        return Err(DecodeError::Version(version));
    }
    let cluster = r.varint()?;
    let cluster = u32::try_from(cluster).map_err(|_| DecodeError::Cluster(cluster))?;
    let n = usize::try_from(r.varint()?).map_err(|_| DecodeError::Truncated)?;
    // A corrupt count must not allocate gigabytes: every feature needs at
    // least half a byte of tags.
    if n.div_ceil(2) > bytes.len() {
        return Err(DecodeError::Truncated);
    }
    let tags = r.take(n.div_ceil(2))?.to_vec();
    let mut features = Vec::with_capacity(n);
    for i in 0..n {
        let tag = (tags[i / 2] >> ((i % 2) * 4)) & 0x0f;
        let v = match tag {
            TAG_ZERO => 0.0,
            TAG_NAN => f64::NAN,
            TAG_POS_INT => r.varint()? as f64,
            TAG_NEG_INT => -(r.varint()? as f64),
            TAG_DECIMAL_1..=TAG_DECIMAL_4 => {
                let k = unzigzag(r.varint()?) as f64;
                k / POW10[usize::from(tag - TAG_DECIMAL_1)]
            }
            TAG_F32 => {
                let b = r.take(4)?;
                f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64
            }
            TAG_POS_RATIO | TAG_NEG_RATIO => {
                let p = r.varint()? as f64;
                let q = r.varint()? as f64;
                if tag == TAG_POS_RATIO {
                    p / q
                } else {
                    -(p / q)
                }
            }
            TAG_F64 => {
                let b = r.take(8)?;
                f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
            }
            other => return Err(DecodeError::Tag(other)),
        };
        features.push(v);
    }
    if r.pos != bytes.len() {
        return Err(DecodeError::Trailing(bytes.len() - r.pos));
    }
    Ok((cluster, features))
}

#[cfg(test)]
mod tests {
    //! The encoder's fast paths must choose exactly what the plain version
    //! (kept here as the reference) chose.
    use super::*;

    mod reference {
        use super::super::*;

        /// `x = p / q` exactly (bitwise), for `x > 0` with a small denominator:
        /// walks the convergents of the continued fraction of `x`.
        fn ratio_reference(x: f64) -> Option<(u64, u64)> {
            if !(x > 0.0 && x < 1e12) {
                return None;
            }
            let bits = x.to_bits();
            let (mut h0, mut h1) = (0u64, 1u64);
            let (mut k0, mut k1) = (1u64, 0u64);
            let mut r = x;
            for _ in 0..24 {
                let a = r.floor();
                if a >= 1e12 || a.is_nan() {
                    return None;
                }
                let a = a as u64;
                let h = a.checked_mul(h1)?.checked_add(h0)?;
                let k = a.checked_mul(k1)?.checked_add(k0)?;
                if k > MAX_DENOMINATOR {
                    return None;
                }
                if (h as f64 / k as f64).to_bits() == bits {
                    return Some((h, k));
                }
                (h0, h1, k0, k1) = (h1, h, k1, k);
                let frac = r - r.floor();
                if frac <= 0.0 {
                    return None;
                }
                r = 1.0 / frac;
            }
            None
        }

        /// The tag and (for varint forms) the integer payloads of one value.
        pub(super) fn classify_reference(v: f64) -> (u8, u64, u64) {
            let bits = v.to_bits();
            if bits == 0 {
                return (TAG_ZERO, 0, 0);
            }
            if bits == f64::NAN.to_bits() {
                return (TAG_NAN, 0, 0);
            }
            // -0.0 would pass the integer and decimal checks as +0.0.
            if !v.is_finite() || bits == (-0.0f64).to_bits() {
                return (TAG_F64, 0, 0);
            }
            if v.fract() == 0.0 && v.abs() < EXACT_INT {
                return if v > 0.0 {
                    (TAG_POS_INT, v as u64, 0)
                } else {
                    (TAG_NEG_INT, (-v) as u64, 0)
                };
            }
            let f32_exact = (v as f32) as f64 == v;
            for (i, p) in POW10.iter().enumerate() {
                let k = (v * p).round();
                if k.abs() < EXACT_INT && (k / p).to_bits() == bits {
                    let z = zigzag(k as i64);
                    if f32_exact && varint_len(z) > 4 {
                        return (TAG_F32, 0, 0);
                    }
                    return (TAG_DECIMAL_1 + i as u8, z, 0);
                }
            }
            if let Some((p, q)) = ratio_reference(v.abs())
                && (!f32_exact || varint_len(p) + varint_len(q) <= 4)
            {
                let tag = if v > 0.0 {
                    TAG_POS_RATIO
                } else {
                    TAG_NEG_RATIO
                };
                return (tag, p, q);
            }
            if f32_exact {
                (TAG_F32, 0, 0)
            } else {
                (TAG_F64, 0, 0)
            }
        }
    }

    /// SplitMix64.
    fn next(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    #[test]
    fn fast_classify_matches_the_reference() {
        let mut state = 7u64;
        let mut values = vec![
            0.0,
            -0.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            5e-324,
            0.5,
            -0.5,
            1.5,
            -2.5,
            0.1 + 0.2,
            1.0 / 3.0,
            2f64.powi(52) + 0.5,
            2f64.powi(53),
            2f64.powi(53) - 1.0,
            -(2f64.powi(53) - 1.0),
            2f64.powi(60),
            9.2e18,
            1e12,
            1e12 - 0.5,
            0.99995,
            0.00005,
            -0.00015,
            4503599627370495.5,
            450359962737.0495,
        ];
        for _ in 0..300_000 {
            let r = next(&mut state);
            let small = (r % 2_000_000) as f64 - 1_000_000.0;
            let s = POW10[(r >> 40) as usize % 4];
            let q = 1 + (r >> 20) % 5_000;
            let big = (r >> 11) as f64;
            values.extend([
                f64::from_bits(r),
                small / s,
                small / q as f64,
                big / s,
                big / 10_000_000.0,
                (small / s) * (1.0 + 1e-15),
                ((r % 40) as f64 + 1.0) / ((r >> 8) % 90 + 2) as f64,
                (r >> 11) as f64 / (1u64 << 53) as f64,
                ((r >> 30) % 40_000) as f64 / 100.0 / ((r % 39) + 1) as f64,
            ]);
        }
        for v in values {
            assert_eq!(
                classify(v),
                reference::classify_reference(v),
                "{v:e} ({:#x})",
                v.to_bits()
            );
        }
    }
}
