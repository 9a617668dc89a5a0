//! The header model of a safetensors checkpoint and its parser: the JSON (with
//! `serde_json`), the tensor entries (dtype, shape, contiguous offsets) and varscope's
//! metadata (format version, graph seed, per-tensor dtype, checksum and partitioning).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;

use serde::de::{self, Deserializer as _, MapAccess, Visitor};
use serde::Deserialize;
use varscope_core::DType;

use super::{
    CHECKSUM_ALGORITHM, CHECKSUM_ALGORITHM_KEY, CHECKSUM_PREFIX, DTYPE_PREFIX, FORMAT_VERSION, FORMAT_VERSION_KEY,
    GRAPH_SEED_KEY, METADATA_KEY, PARTITIONING_PREFIX,
};
use crate::dtype::StoredDType;
use crate::error::{fmt_shape, FormatError, Result};

/// How a saved variable was partitioned when it was saved (informational: a restore
/// slices the full tensor for whatever partitioning the graph has now).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partitioning {
    /// The axis the shards split.
    pub axis: usize,
    /// Each shard's offset along `axis`, ascending; the number of shards is its length.
    pub offsets: Vec<u64>,
}

impl Partitioning {
    /// The metadata form, `axis:0;shards:4;offsets:0,3,6,8`.
    pub fn encode(&self) -> String {
        let o: Vec<String> = self.offsets.iter().map(|x| x.to_string()).collect();
        format!("axis:{};shards:{};offsets:{}", self.axis, self.offsets.len(), o.join(","))
    }

    /// Parses the metadata form and checks it against the tensor's shape.
    pub fn decode(s: &str, shape: &[u64]) -> std::result::Result<Partitioning, String> {
        let mut parts = s.split(';');
        let mut field = |name: &str| -> std::result::Result<&str, String> {
            parts
                .next()
                .and_then(|p| p.strip_prefix(name))
                .and_then(|p| p.strip_prefix(':'))
                .ok_or_else(|| format!("expected '{name}:' in '{s}'"))
        };
        let num = |x: &str| x.parse::<u64>().map_err(|_| format!("'{x}' is not a non-negative integer"));
        let axis = num(field("axis")?)?;
        let shards = num(field("shards")?)?;
        let offsets: Vec<u64> = field("offsets")?.split(',').map(num).collect::<std::result::Result<_, _>>()?;
        if parts.next().is_some() {
            return Err(format!("trailing fields in '{s}'"));
        }
        let dim = usize::try_from(axis)
            .ok()
            .and_then(|a| shape.get(a).copied())
            .ok_or_else(|| format!("axis {axis} is out of range for shape {}", fmt_shape(shape)))?;
        if offsets.len() as u64 != shards || shards == 0 {
            return Err(format!("{shards} shards but {} offsets", offsets.len()));
        }
        if offsets[0] != 0
            || offsets.windows(2).any(|w| w[0] >= w[1])
            || offsets.last().is_some_and(|&o| o >= dim.max(1))
        {
            return Err(format!(
                "offsets {} are not strictly increasing from 0 within dimension {dim}",
                fmt_shape(&offsets)
            ));
        }
        Ok(Partitioning { axis: axis as usize, offsets })
    }
}

/// One tensor of a checkpoint, as its header describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    /// The tensor name (a store key for varscope checkpoints).
    pub name: String,
    /// The dtype as stored.
    pub stored_dtype: StoredDType,
    /// The shape.
    pub shape: Vec<u64>,
    /// Byte offset of its data in the file.
    pub offset: u64,
    /// Bytes of data.
    pub bytes: u64,
    /// The recorded XXH64 checksum (varscope checkpoints only).
    pub checksum: Option<u64>,
    /// The partitioning it was saved from (varscope checkpoints, partitioned variables).
    pub partitioning: Option<Partitioning>,
}

impl TensorInfo {
    /// The varscope dtype, if the stored dtype has one.
    pub fn dtype(&self) -> Option<DType> {
        self.stored_dtype.dtype()
    }
    /// Number of elements (`u64::MAX` if more; a parsed header never has more).
    pub fn num_elements(&self) -> u64 {
        self.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d)).unwrap_or(u64::MAX)
    }
}

/// What a checkpoint's header says: the tensors (in file order) and varscope's metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckpointInfo {
    /// The tensors, in the order of their data in the file.
    pub tensors: Vec<TensorInfo>,
    /// The varscope format version (`None`: a file written by another tool).
    pub format_version: Option<u32>,
    /// The graph seed recorded at save time (`None`: none, or not a varscope file).
    pub graph_seed: Option<u64>,
    /// The whole `__metadata__` map, sorted by key.
    pub metadata: Vec<(String, String)>,
    /// Bytes of the JSON header (without the 8-byte length).
    pub header_bytes: u64,
    /// Bytes of the whole file.
    pub file_bytes: u64,
}

impl CheckpointInfo {
    /// The tensor named `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// Whether the file records a checksum for every tensor (a varscope checkpoint).
    pub fn has_checksums(&self) -> bool {
        self.format_version.is_some()
    }
}

// ----- JSON ------------------------------------------------------------------------------

/// A tensor entry as written in the JSON; unknown fields are ignored, duplicate fields
/// are an error (serde's derive).
#[derive(Deserialize)]
struct RawTensor {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: [u64; 2],
}

struct RawHeader {
    metadata: Vec<(String, String)>,
    entries: Vec<(String, RawTensor)>,
}

/// A JSON object of strings whose keys must be unique (serde's maps keep the last).
struct UniqueStrings(Vec<(String, String)>);

impl<'de> Deserialize<'de> for UniqueStrings {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = UniqueStrings;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<UniqueStrings, A::Error> {
                let mut seen = HashSet::new();
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    if !seen.insert(k.clone()) {
                        return Err(de::Error::custom(format!("duplicate metadata key '{}'", crate::error::esc(&k))));
                    }
                    out.push((k, v));
                }
                Ok(UniqueStrings(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// The top-level object; records the key being read so an error names its tensor.
struct HeaderVisitor<'a> {
    current: &'a mut Option<String>,
}

impl<'de> Visitor<'de> for HeaderVisitor<'_> {
    type Value = RawHeader;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of tensor entries")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<RawHeader, A::Error> {
        let mut names = HashSet::new();
        let mut metadata = None;
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == METADATA_KEY {
                if metadata.is_some() {
                    return Err(de::Error::custom("duplicate __metadata__"));
                }
                let m: Option<UniqueStrings> = map.next_value()?;
                metadata = Some(m.map(|m| m.0).unwrap_or_default());
                continue;
            }
            *self.current = Some(key.clone());
            if !names.insert(key.clone()) {
                return Err(de::Error::custom("duplicate tensor"));
            }
            let t: RawTensor = map.next_value()?;
            *self.current = None;
            entries.push((key, t));
        }
        Ok(RawHeader { metadata: metadata.unwrap_or_default(), entries })
    }
}

fn parse_json(text: &[u8], path: &Path) -> Result<RawHeader> {
    let mut current = None;
    let mut de = serde_json::Deserializer::from_slice(text);
    let parsed = (&mut de).deserialize_map(HeaderVisitor { current: &mut current }).and_then(|h| de.end().map(|()| h));
    parsed.map_err(|e| {
        let msg = e.to_string();
        let reason = match msg.rsplit_once(" at line ") {
            Some((r, _)) => r.to_string(),
            None => msg,
        };
        FormatError::CorruptHeader {
            path: path.to_path_buf(),
            tensor: current,
            line: e.line() as u64,
            column: e.column() as u64,
            reason,
        }
    })
}

// ----- the whole header ------------------------------------------------------------------

/// Parses and validates the JSON header `text` (the `header_bytes` after the length
/// prefix) of a file of `file_bytes` bytes: tensor entries, offsets covering the data
/// exactly, and varscope's metadata. Never panics, whatever the bytes.
pub(crate) fn parse_header(text: &[u8], file_bytes: u64, path: &Path) -> Result<CheckpointInfo> {
    let header_bytes = text.len() as u64;
    let corrupt = |tensor: Option<String>, reason: String| FormatError::CorruptHeader {
        path: path.to_path_buf(),
        tensor,
        line: 0,
        column: 0,
        reason,
    };
    if let Err(e) = std::str::from_utf8(text) {
        return Err(corrupt(None, format!("the header is not UTF-8 (at header byte {})", e.valid_up_to())));
    }
    let RawHeader { metadata, mut entries } = parse_json(text, path)?;

    let mut checked = Vec::with_capacity(entries.len());
    for (name, e) in &entries {
        let dtype = StoredDType::from_code(&e.dtype)
            .ok_or_else(|| corrupt(Some(name.clone()), format!("unknown dtype '{}'", crate::error::esc(&e.dtype))))?;
        checked.push(dtype);
    }
    // Offsets: sorted, contiguous from 0, sizes matching dtype and shape.
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_key(|&i| (entries[i].1.data_offsets, i));
    let mut pos = 0u64;
    for &i in &order {
        let (name, e) = &entries[i];
        let [start, end] = e.data_offsets;
        let bad = |reason: String| corrupt(Some(name.clone()), reason);
        if start != pos || end < start {
            return Err(bad(format!(
                "data_offsets [{start}, {end}] do not continue the data at offset {pos} (tensors must be contiguous, in order)"
            )));
        }
        let dtype = checked[i];
        let bytes = e
            .shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .and_then(|n| n.checked_mul(dtype.size_bytes() as u64));
        if bytes != Some(end - start) {
            return Err(bad(format!(
                "shape {} of {} needs {} bytes, but data_offsets give {}",
                fmt_shape(&e.shape),
                dtype.code(),
                bytes.map(|b| b.to_string()).unwrap_or_else(|| "more than 2^64".into()),
                end - start
            )));
        }
        pos = end;
    }
    let header_end = 8 + header_bytes;
    let data_len = file_bytes.saturating_sub(header_end);
    match header_end.checked_add(pos) {
        Some(total) if total <= file_bytes => {
            if pos < data_len {
                return Err(corrupt(None, format!("{} bytes follow the last tensor's data", data_len - pos)));
            }
        }
        total => {
            return Err(FormatError::Truncated {
                path: path.to_path_buf(),
                section: "data",
                expected: total.unwrap_or(u64::MAX),
                actual: file_bytes,
            })
        }
    }

    let mut tensors: Vec<TensorInfo> = Vec::with_capacity(entries.len());
    let mut taken: Vec<Option<(String, RawTensor)>> = entries.drain(..).map(Some).collect();
    for i in order {
        if let Some((name, e)) = taken[i].take() {
            tensors.push(TensorInfo {
                name,
                stored_dtype: checked[i],
                offset: header_end + e.data_offsets[0],
                bytes: e.data_offsets[1] - e.data_offsets[0],
                shape: e.shape,
                checksum: None,
                partitioning: None,
            });
        }
    }
    let mut metadata = metadata;
    metadata.sort();
    let (format_version, graph_seed) = apply_metadata(&metadata, &mut tensors, path)?;
    Ok(CheckpointInfo { tensors, format_version, graph_seed, metadata, header_bytes, file_bytes })
}

/// Reads varscope's metadata into the tensors (checksums, partitionings) and checks it.
fn apply_metadata(
    meta: &[(String, String)],
    tensors: &mut [TensorInfo],
    path: &Path,
) -> Result<(Option<u32>, Option<u64>)> {
    let bad = |key: &str, reason: String| FormatError::CorruptMetadata {
        path: path.to_path_buf(),
        key: key.to_string(),
        reason,
    };
    let get = |k: &str| meta.iter().find(|(mk, _)| mk == k).map(|(_, v)| v.as_str());
    let Some(version) = get(FORMAT_VERSION_KEY) else {
        return Ok((None, None));
    };
    if version != FORMAT_VERSION.to_string() {
        return Err(FormatError::UnsupportedVersion {
            path: path.to_path_buf(),
            version: version.to_string(),
            supported: FORMAT_VERSION,
        });
    }
    let graph_seed = match get(GRAPH_SEED_KEY) {
        None | Some("none") => None,
        Some(s) => Some(
            s.parse::<u64>().map_err(|_| bad(GRAPH_SEED_KEY, format!("'{}' is not a seed", crate::error::esc(s))))?,
        ),
    };
    match get(CHECKSUM_ALGORITHM_KEY) {
        Some(CHECKSUM_ALGORITHM) => {}
        Some(other) => {
            return Err(bad(
                CHECKSUM_ALGORITHM_KEY,
                format!(
                    "unsupported checksum algorithm '{}' (expected '{CHECKSUM_ALGORITHM}')",
                    crate::error::esc(other)
                ),
            ))
        }
        None => return Err(bad(CHECKSUM_ALGORITHM_KEY, format!("missing (expected '{CHECKSUM_ALGORITHM}')"))),
    }
    let index: HashMap<String, usize> = tensors.iter().enumerate().map(|(i, t)| (t.name.clone(), i)).collect();
    let mut has_dtype = vec![false; tensors.len()];
    for (k, v) in meta {
        let (prefix, name) = if let Some(n) = k.strip_prefix(DTYPE_PREFIX) {
            (DTYPE_PREFIX, n)
        } else if let Some(n) = k.strip_prefix(CHECKSUM_PREFIX) {
            (CHECKSUM_PREFIX, n)
        } else if let Some(n) = k.strip_prefix(PARTITIONING_PREFIX) {
            (PARTITIONING_PREFIX, n)
        } else {
            continue;
        };
        let Some(&i) = index.get(name) else {
            return Err(bad(k, format!("the file has no tensor {}", crate::error::esc(name))));
        };
        let t = &mut tensors[i];
        match prefix {
            DTYPE_PREFIX => {
                let d =
                    DType::from_name(v).ok_or_else(|| bad(k, format!("unknown dtype '{}'", crate::error::esc(v))))?;
                if StoredDType::of(d) != Some(t.stored_dtype) {
                    return Err(bad(k, format!("dtype {d} does not match the stored dtype {}", t.stored_dtype.code())));
                }
                has_dtype[i] = true;
            }
            CHECKSUM_PREFIX => {
                t.checksum =
                    Some(decode_checksum(v).ok_or_else(|| {
                        bad(k, format!("'{}' is not 'xxh64:' and 16 hex digits", crate::error::esc(v)))
                    })?)
            }
            _ => t.partitioning = Some(Partitioning::decode(v, &t.shape).map_err(|r| bad(k, crate::error::esc(&r)))?),
        }
    }
    for (t, has) in tensors.iter().zip(has_dtype) {
        if t.checksum.is_none() {
            return Err(bad(
                &format!("{CHECKSUM_PREFIX}{}", t.name),
                "missing: every tensor of a varscope checkpoint has a checksum".into(),
            ));
        }
        if !has {
            return Err(bad(
                &format!("{DTYPE_PREFIX}{}", t.name),
                "missing: every tensor of a varscope checkpoint has a dtype".into(),
            ));
        }
    }
    Ok((Some(FORMAT_VERSION), graph_seed))
}

/// The metadata form of a checksum: `xxh64:` and 16 lower-case hex digits.
pub(crate) fn encode_checksum(sum: u64) -> String {
    format!("{CHECKSUM_ALGORITHM}:{sum:016x}")
}

fn decode_checksum(v: &str) -> Option<u64> {
    let hex = v.strip_prefix(CHECKSUM_ALGORITHM)?.strip_prefix(':')?;
    if hex.len() != 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitioning_round_trips_and_rejects_nonsense() {
        let p = Partitioning { axis: 1, offsets: vec![0, 3, 6] };
        assert_eq!(Partitioning::decode(&p.encode(), &[2, 8]), Ok(p));
        for bad in [
            "axis:2;shards:1;offsets:0",
            "axis:0;shards:2;offsets:0",
            "axis:0;shards:2;offsets:0,0",
            "axis:0;shards:1;offsets:1",
            "axis:0",
            "x",
        ] {
            assert!(Partitioning::decode(bad, &[4, 4]).is_err(), "{bad}");
        }
    }

    #[test]
    fn checksums_round_trip_in_metadata_form() {
        assert_eq!(encode_checksum(0x44BC_2CF5_AD77_0999), "xxh64:44bc2cf5ad770999");
        assert_eq!(decode_checksum("xxh64:44bc2cf5ad770999"), Some(0x44BC_2CF5_AD77_0999));
        for bad in
            ["xxh64:44bc2cf5ad77099", "crc32:44bc2cf5ad770999", "xxh64:+4bc2cf5ad770999", "xxh6444bc2cf5ad770999"]
        {
            assert_eq!(decode_checksum(bad), None, "{bad}");
        }
    }
}
