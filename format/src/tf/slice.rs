//! Slices of partitioned tensors (`TensorSliceProto`) and the keys their entries live under.
//!
//! A slice's entry is keyed by TensorFlow's `EncodeTensorNameSlice`: in "ordered code",
//! the unsigned number 0, the tensor name as an escaped string, the rank as an unsigned
//! number, then per dimension the start and length as signed numbers (a whole dimension is
//! start 0, length -1). Unsigned numbers are a length byte and the big-endian bytes without
//! leading zeros; strings escape `\x00` as `\x00\xff` and `\xff` as `\xff\x00` and end in
//! `\x00\x01`; signed numbers carry the sign and the byte count in their leading bits.

use std::fmt;

use super::error::SliceDefect;
use super::proto::{Extent as ExtentProto, TensorSliceProto};

/// One dimension of a slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Extent {
    /// The whole dimension.
    Full,
    /// `len` indices from `start`.
    Range {
        /// First index.
        start: u64,
        /// Number of indices.
        len: u64,
    },
}

/// A rectangular part of a tensor, one [`Extent`] per dimension.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorSlice {
    /// Extents, outermost dimension first.
    pub extents: Vec<Extent>,
}

impl TensorSlice {
    /// The slice with explicit `starts` and `lens` in every dimension (as TensorFlow's
    /// `Saver` writes a partitioned variable's shards).
    pub fn from_ranges(starts: &[u64], lens: &[u64]) -> TensorSlice {
        TensorSlice { extents: starts.iter().zip(lens).map(|(&start, &len)| Extent::Range { start, len }).collect() }
    }

    /// The rank.
    pub fn rank(&self) -> usize {
        self.extents.len()
    }

    /// Concrete `(start, len)` per dimension against the full `shape`, `None` if the ranks
    /// differ or an extent reaches past the shape.
    pub fn resolve(&self, shape: &[u64]) -> Option<Vec<(u64, u64)>> {
        if shape.len() != self.extents.len() {
            return None;
        }
        self.extents
            .iter()
            .zip(shape)
            .map(|(e, &dim)| match *e {
                Extent::Full => Some((0, dim)),
                Extent::Range { start, len } => (start.checked_add(len)? <= dim).then_some((start, len)),
            })
            .collect()
    }

    /// The slice of a `TensorSliceProto`, `None` for a negative start or length.
    pub(crate) fn from_proto(proto: &TensorSliceProto) -> Option<TensorSlice> {
        let extents = proto
            .extent
            .iter()
            .map(|e| match e.length {
                None | Some(-1) if e.start == 0 => Some(Extent::Full),
                None | Some(-1) => None,
                Some(len) => Some(Extent::Range { start: u64::try_from(e.start).ok()?, len: u64::try_from(len).ok()? }),
            })
            .collect::<Option<_>>()?;
        Some(TensorSlice { extents })
    }

    /// The `TensorSliceProto` TensorFlow's `TensorSlice::AsProto` writes.
    pub(crate) fn to_proto(&self) -> TensorSliceProto {
        TensorSliceProto {
            extent: self
                .extents
                .iter()
                .map(|e| match *e {
                    Extent::Full => ExtentProto { start: 0, length: None },
                    Extent::Range { start, len } => ExtentProto { start: start as i64, length: Some(len as i64) },
                })
                .collect(),
        }
    }

    /// `(start, length)` per dimension as TensorFlow's `TensorSlice` holds them (a whole
    /// dimension is `(0, -1)`).
    fn signed_extents(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.extents.iter().map(|e| match *e {
            Extent::Full => (0, -1),
            Extent::Range { start, len } => (start as i64, len as i64),
        })
    }
}

/// TensorFlow's slice spec syntax: `start,len` or `-` per dimension, joined by `:`.
impl fmt::Display for TensorSlice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.extents.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            match e {
                Extent::Full => f.write_str("-")?,
                Extent::Range { start, len } => write!(f, "{start},{len}")?,
            }
        }
        Ok(())
    }
}

/// Checks that `boxes` (concrete `(start, len)` per dimension, all within `shape`) tile the
/// tensor: no two overlap and together they cover every element. Returns the index of the
/// first offending slice and what is wrong.
pub(crate) fn check_tiling(shape: &[u64], boxes: &[Vec<(u64, u64)>]) -> Result<(), (usize, SliceDefect)> {
    let volume = |b: &[(u64, u64)]| b.iter().try_fold(1u64, |acc, &(_, len)| acc.checked_mul(len));
    let mut covered = 0u64;
    for (i, b) in boxes.iter().enumerate() {
        let overlaps =
            boxes[..i].iter().any(|other| b.iter().zip(other).all(|(&(s, l), &(os, ol))| s < os + ol && os < s + l));
        if overlaps {
            return Err((i, SliceDefect::Overlap));
        }
        covered = volume(b).and_then(|v| covered.checked_add(v)).ok_or((i, SliceDefect::OutOfRange))?;
    }
    let total = shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
    if total != Some(covered) {
        return Err((boxes.len().saturating_sub(1), SliceDefect::Gap));
    }
    Ok(())
}

/// The key a slice's entry is stored under (TensorFlow's `EncodeTensorNameSlice`).
pub fn encode_slice_key(name: &str, slice: &TensorSlice) -> Vec<u8> {
    let mut out = Vec::new();
    write_num_increasing(&mut out, 0);
    write_string(&mut out, name.as_bytes());
    write_num_increasing(&mut out, slice.rank() as u64);
    for (start, len) in slice.signed_extents() {
        write_signed_num_increasing(&mut out, start);
        write_signed_num_increasing(&mut out, len);
    }
    out
}

/// Decodes a slice key into the tensor name and slice, `None` if it is not one.
pub fn decode_slice_key(key: &[u8]) -> Option<(Vec<u8>, TensorSlice)> {
    let mut src = key;
    if read_num_increasing(&mut src)? != 0 {
        return None;
    }
    let name = read_string(&mut src)?;
    let rank = read_num_increasing(&mut src)?;
    if rank == 0 || rank >= i32::MAX as u64 || rank > src.len() as u64 {
        return None;
    }
    let mut extents = Vec::with_capacity(rank as usize);
    for _ in 0..rank {
        let start = read_signed_num_increasing(&mut src)?;
        let len = read_signed_num_increasing(&mut src)?;
        extents.push(if len < 0 {
            Extent::Full
        } else {
            Extent::Range { start: u64::try_from(start).ok()?, len: len as u64 }
        });
    }
    src.is_empty().then_some((name, TensorSlice { extents }))
}

fn write_num_increasing(out: &mut Vec<u8>, value: u64) {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    out.push((8 - skip) as u8);
    out.extend_from_slice(&bytes[skip..]);
}

fn read_num_increasing(src: &mut &[u8]) -> Option<u64> {
    let (&len, rest) = src.split_first()?;
    let len = len as usize;
    if len > 8 || rest.len() < len {
        return None;
    }
    let value = rest[..len].iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    *src = &rest[len..];
    Some(value)
}

fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    for &b in s {
        match b {
            0x00 => out.extend_from_slice(&[0x00, 0xff]),
            0xff => out.extend_from_slice(&[0xff, 0x00]),
            b => out.push(b),
        }
    }
    out.extend_from_slice(&[0x00, 0x01]);
}

fn read_string(src: &mut &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < src.len() {
        let b = src[i];
        match (b, src.get(i + 1)) {
            (0x00, Some(0x01)) => {
                *src = &src[i + 2..];
                return Some(out);
            }
            (0x00, Some(0xff)) => out.push(0x00),
            (0xff, Some(0x00)) => out.push(0xff),
            (0x00 | 0xff, _) => return None,
            _ => {
                out.push(b);
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    None
}

/// Header bits of the first two bytes of a signed number encoded in `len` bytes.
const LENGTH_TO_HEADER: [[u8; 2]; 11] = [
    [0, 0],
    [0x80, 0],
    [0xc0, 0],
    [0xe0, 0],
    [0xf0, 0],
    [0xf8, 0],
    [0xfc, 0],
    [0xfe, 0],
    [0xff, 0],
    [0xff, 0x80],
    [0xff, 0xc0],
];

/// Header bits that overlap the payload of an encoding of `len` bytes, as a mask of the
/// last 8 bytes read big-endian.
const LENGTH_TO_MASK: [u64; 11] = [
    0,
    0x80,
    0xc000,
    0xe0_0000,
    0xf000_0000,
    0xf8_0000_0000,
    0xfc00_0000_0000,
    0xfe_0000_0000_0000,
    0xff00_0000_0000_0000,
    0x8000_0000_0000_0000,
    0,
];

fn write_signed_num_increasing(out: &mut Vec<u8>, value: i64) {
    let magnitude = if value < 0 { !value } else { value } as u64;
    if magnitude < 64 {
        out.push(LENGTH_TO_HEADER[1][0] ^ (value as u8));
        return;
    }
    // Significant bits (at most 63) decide the length: 7 payload bits per byte, minus the
    // sign bit.
    let bits = 64 - magnitude.leading_zeros() as usize;
    let len = bits / 7 + 1;
    let sign = if value < 0 { 0xff } else { 0x00 };
    let mut buf = [sign; 10];
    buf[2..].copy_from_slice(&value.to_be_bytes());
    let begin = &mut buf[10 - len..];
    begin[0] ^= LENGTH_TO_HEADER[len][0];
    begin[1] ^= LENGTH_TO_HEADER[len][1];
    out.extend_from_slice(begin);
}

fn read_signed_num_increasing(src: &mut &[u8]) -> Option<i64> {
    let first = *src.first()?;
    let xor_mask: u64 = if first & 0x80 == 0 { !0 } else { 0 };
    let first_byte = first ^ (xor_mask as u8);
    let (len, mut x) = if first_byte != 0xff {
        // The header's run of sign-valued bits, then a delimiter bit: TensorFlow's
        // `7 - Log2Floor(first_byte ^ 0xff)` (at least 1, as the top bit is set here).
        let len = (first_byte ^ 0xff).leading_zeros() as usize;
        let bytes = src.get(..len)?;
        let x = bytes.iter().fold(xor_mask, |acc, &b| (acc << 8) | u64::from(b));
        (len, x)
    } else {
        let mut len = 8;
        if src.len() < len {
            return None;
        }
        let second = src[1] ^ (xor_mask as u8);
        if second >= 0x80 {
            if second < 0xc0 {
                len = 9;
            } else {
                let third = src[2] ^ (xor_mask as u8);
                if second == 0xc0 && third < 0x80 {
                    len = 10;
                } else {
                    return None;
                }
            }
        }
        let bytes = src.get(len - 8..len)?;
        let mut be = [0u8; 8];
        be.copy_from_slice(bytes);
        (len, u64::from_be_bytes(be))
    };
    x ^= LENGTH_TO_MASK[len];
    *src = &src[len..];
    Some(x as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(v: i64) -> Vec<u8> {
        let mut out = Vec::new();
        write_signed_num_increasing(&mut out, v);
        out
    }

    #[test]
    fn signed_numbers_match_ordered_code_examples() {
        // The two worked examples in TensorFlow's ordered_code.cc.
        assert_eq!(signed(0x424242), vec![0xf0, 0x42, 0x42, 0x42]);
        assert_eq!(signed(-0x800), vec![0x38, 0x00]);
        assert_eq!(signed(0), vec![0x80]);
        assert_eq!(signed(-1), vec![0x7f]);
        assert_eq!(signed(63), vec![0xbf]);
        assert_eq!(signed(64), vec![0xc0, 0x40]);
    }

    #[test]
    fn signed_numbers_round_trip_and_keep_order() {
        let mut values = vec![i64::MIN, i64::MAX, 0, -1, 1, 63, 64, -64, -65];
        for shift in 0..63 {
            values.extend([1i64 << shift, -(1i64 << shift), (1i64 << shift) - 1]);
        }
        values.sort();
        values.dedup();
        let encoded: Vec<Vec<u8>> = values.iter().map(|&v| signed(v)).collect();
        for (v, e) in values.iter().zip(&encoded) {
            let mut src = e.as_slice();
            assert_eq!(read_signed_num_increasing(&mut src), Some(*v), "{v}");
            assert!(src.is_empty(), "{v}");
        }
        assert!(encoded.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn slice_keys_round_trip() {
        let slice = TensorSlice {
            extents: vec![Extent::Range { start: 5, len: 5 }, Extent::Full, Extent::Range { start: 1 << 40, len: 3 }],
        };
        let name = "scope/w\u{0}\u{ff}x";
        let key = encode_slice_key(name, &slice);
        assert_eq!(key[0], 0, "slice keys sort before every name");
        let (decoded_name, decoded) = decode_slice_key(&key).unwrap();
        assert_eq!(decoded_name, name.as_bytes());
        assert_eq!(decoded, slice);
        assert_eq!(slice.to_string(), "5,5:-:1099511627776,3");
        assert_eq!(TensorSlice::from_proto(&slice.to_proto()), Some(slice));
    }

    #[test]
    fn slice_key_bytes_match_tensorflow() {
        // EncodeTensorNameSlice("w", {0,5 : -}) built by hand from the rules.
        let slice = TensorSlice { extents: vec![Extent::Range { start: 0, len: 5 }, Extent::Full] };
        let expected = [0x00, b'w', 0x00, 0x01, 0x01, 0x02, 0x80, 0x85, 0x80, 0x7f];
        assert_eq!(encode_slice_key("w", &slice), expected);
    }
}
