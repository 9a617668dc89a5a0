//! Reading a bundle: the parsed index ([`Index`]) and the reader that adds the data shards
//! ([`BundleReader`]).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

use prost::Message;

use super::error::{IndexDefect, Result, SliceDefect, TfError};
use super::proto::{BundleEntryProto, BundleHeaderProto};
use super::region::copy_region;
use super::slice::{check_tiling, encode_slice_key, TensorSlice};
use super::table::{read_table, unmask_crc, TableError};
use super::{data_path, index_path, state, Tensor, TfDtype};

/// The bundle format version this reader consumes (TensorFlow's `kTensorBundleVersion`).
const READER_VERSION: i32 = 1;

/// Where a tensor's (or slice's) bytes are: `[offset, offset + size)` of data shard `shard`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stored {
    /// The data shard index.
    pub shard: usize,
    /// Byte offset in the shard.
    pub offset: u64,
    /// Byte count.
    pub size: u64,
    /// The CRC32C of the bytes (unmasked).
    pub crc32c: u32,
}

/// How a tensor is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    /// In one piece.
    Whole(Stored),
    /// Partitioned: each slice (concrete `(start, len)` per dimension) stored in its own
    /// entry. The slices tile the tensor (checked on open).
    Sliced(Vec<(Vec<(u64, u64)>, Stored)>),
}

/// One tensor of a bundle, as its index entry describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// The tensor's name (the variable's store key, no `:0`).
    pub name: String,
    /// Its dtype.
    pub dtype: TfDtype,
    /// Its full shape.
    pub shape: Vec<u64>,
    /// Where its bytes are.
    pub layout: Layout,
}

impl TensorInfo {
    /// Number of elements of the full tensor (checked on open not to overflow).
    pub fn num_elements(&self) -> u64 {
        self.shape.iter().product()
    }

    /// Whether the tensor is stored as slices.
    pub fn is_sliced(&self) -> bool {
        matches!(self.layout, Layout::Sliced(_))
    }

    fn stored(&self) -> Vec<(Vec<(u64, u64)>, Stored)> {
        match &self.layout {
            Layout::Whole(s) => vec![(self.shape.iter().map(|&d| (0, d)).collect(), *s)],
            Layout::Sliced(slices) => slices.clone(),
        }
    }
}

/// A parsed `.index`: the header fields and every tensor, sorted by name.
#[derive(Clone, Debug)]
pub struct Index {
    /// Number of data shards.
    pub num_shards: usize,
    /// The tensors by name.
    pub tensors: BTreeMap<String, TensorInfo>,
}

/// Parses the bytes of an `.index` file; `path` only names the file in errors. Checks the
/// table (footer, blocks, checksums, key order), the header (shard count, endianness,
/// version) and every entry (dtype, shape, byte size, shard id, slices tiling the tensor).
pub fn parse_index(path: &Path, bytes: &[u8]) -> Result<Index> {
    let rows = read_table(bytes).map_err(|e| match e {
        TableError::Defect { offset, defect } => corrupt(path, offset, defect, None),
        TableError::Checksum { offset, stored, computed } => {
            TfError::BlockChecksum { path: path.to_owned(), offset, stored, computed }
        }
    })?;
    let end = bytes.len() as u64;
    let Some((first_key, header)) = rows.first().filter(|(k, _)| k.is_empty()) else {
        return Err(corrupt(path, end, IndexDefect::MissingHeader, None));
    };
    debug_assert!(first_key.is_empty());
    let header =
        BundleHeaderProto::decode(header.as_slice()).map_err(|_| corrupt(path, end, IndexDefect::BadHeader, None))?;
    if header.num_shards <= 0 {
        return Err(corrupt(path, end, IndexDefect::BadShardCount, None));
    }
    if header.endianness != 0 {
        return Err(TfError::BigEndian { path: path.to_owned() });
    }
    if let Some(v) = &header.version {
        if v.min_consumer > READER_VERSION || v.bad_consumers.contains(&READER_VERSION) {
            return Err(TfError::UnsupportedVersion { path: path.to_owned(), min_consumer: v.min_consumer });
        }
    }
    let mut named = Vec::new();
    let mut slice_entries = HashMap::new();
    for (key, value) in &rows[1..] {
        let shown = String::from_utf8_lossy(key).into_owned();
        let entry = BundleEntryProto::decode(value.as_slice())
            .map_err(|_| corrupt(path, end, IndexDefect::BadEntry, Some(shown.clone())))?;
        if key.first() == Some(&0) {
            slice_entries.insert(key.clone(), entry);
        } else {
            let name = String::from_utf8(key.clone())
                .map_err(|_| corrupt(path, end, IndexDefect::NameNotUtf8, Some(shown)))?;
            named.push((name, entry));
        }
    }
    let num_shards = header.num_shards;
    let mut tensors = BTreeMap::new();
    for (name, entry) in named {
        let info = tensor_info(path, num_shards, &name, &entry, &slice_entries)?;
        tensors.insert(name, info);
    }
    Ok(Index { num_shards: num_shards as usize, tensors })
}

fn corrupt(path: &Path, offset: u64, defect: IndexDefect, tensor: Option<String>) -> TfError {
    TfError::CorruptIndex { path: path.to_owned(), offset, defect, tensor }
}

/// Validates a dtype code and a shape: known dtype, known rank, no negative dimension, and
/// an element count (and byte count) that fits `i64`.
fn dtype_and_shape(path: &Path, name: &str, entry: &BundleEntryProto) -> Result<(TfDtype, Vec<u64>)> {
    let dtype = TfDtype::from_code(entry.dtype).ok_or_else(|| TfError::UnknownDtype {
        path: path.to_owned(),
        tensor: name.to_owned(),
        code: entry.dtype,
    })?;
    let proto = entry.shape.clone().unwrap_or_default();
    let raw: Vec<i64> = proto.dim.iter().map(|d| d.size).collect();
    let invalid = || TfError::InvalidShape { path: path.to_owned(), tensor: name.to_owned(), shape: raw.clone() };
    if proto.unknown_rank {
        return Err(invalid());
    }
    let shape: Vec<u64> = raw.iter().map(|&d| u64::try_from(d).ok()).collect::<Option<_>>().ok_or_else(invalid)?;
    let elem = dtype.size().unwrap_or(1) as u64;
    shape
        .iter()
        .try_fold(elem, |acc, &d| acc.checked_mul(d))
        .filter(|&bytes| bytes <= i64::MAX as u64)
        .ok_or_else(invalid)?;
    Ok((dtype, shape))
}

/// Validates where an entry's bytes are: shard id in range, non-negative offset and size,
/// and for fixed-size dtypes a size equal to elements times dtype size.
fn stored(
    path: &Path,
    num_shards: i32,
    name: &str,
    dtype: TfDtype,
    shape: &[u64],
    entry: &BundleEntryProto,
) -> Result<Stored> {
    if entry.shard_id < 0 || entry.shard_id >= num_shards {
        return Err(TfError::BadShardId {
            path: path.to_owned(),
            tensor: name.to_owned(),
            shard: entry.shard_id,
            num_shards,
        });
    }
    let expected = dtype.size().map(|size| shape.iter().product::<u64>() * size as u64);
    let size_ok = match expected {
        Some(expected) => u64::try_from(entry.size) == Ok(expected),
        None => entry.size >= 0,
    };
    if !size_ok || entry.offset < 0 {
        return Err(TfError::SizeMismatch {
            path: path.to_owned(),
            tensor: name.to_owned(),
            dtype,
            shape: shape.to_vec(),
            expected: expected.unwrap_or(0),
            size: entry.size,
        });
    }
    Ok(Stored {
        shard: entry.shard_id as usize,
        offset: entry.offset as u64,
        size: entry.size as u64,
        crc32c: unmask_crc(entry.crc32c),
    })
}

fn tensor_info(
    path: &Path,
    num_shards: i32,
    name: &str,
    entry: &BundleEntryProto,
    slice_entries: &HashMap<Vec<u8>, BundleEntryProto>,
) -> Result<TensorInfo> {
    let (dtype, shape) = dtype_and_shape(path, name, entry)?;
    if entry.slices.is_empty() {
        let layout = Layout::Whole(stored(path, num_shards, name, dtype, &shape, entry)?);
        return Ok(TensorInfo { name: name.to_owned(), dtype, shape, layout });
    }
    let mut slices = Vec::with_capacity(entry.slices.len());
    for proto in &entry.slices {
        let bad =
            |slice: String, defect| TfError::BadSlice { path: path.to_owned(), tensor: name.to_owned(), slice, defect };
        let slice = TensorSlice::from_proto(proto).ok_or_else(|| bad(format!("{proto:?}"), SliceDefect::OutOfRange))?;
        let spec = slice.to_string();
        if slice.rank() != shape.len() {
            return Err(bad(spec, SliceDefect::RankMismatch));
        }
        let boxed = slice.resolve(&shape).ok_or_else(|| bad(spec.clone(), SliceDefect::OutOfRange))?;
        let slice_entry = slice_entries
            .get(&encode_slice_key(name, &slice))
            .ok_or_else(|| bad(spec.clone(), SliceDefect::MissingEntry))?;
        let slice_name = format!("{name}[{spec}]");
        let (slice_dtype, slice_shape) = dtype_and_shape(path, &slice_name, slice_entry)?;
        let lens: Vec<u64> = boxed.iter().map(|&(_, len)| len).collect();
        if slice_dtype != dtype || slice_shape != lens || !slice_entry.slices.is_empty() {
            return Err(bad(spec, SliceDefect::EntryMismatch));
        }
        let at = stored(path, num_shards, &slice_name, dtype, &lens, slice_entry)?;
        slices.push((boxed, at));
    }
    let boxes: Vec<Vec<(u64, u64)>> = slices.iter().map(|(b, _)| b.clone()).collect();
    if let Err((i, defect)) = check_tiling(&shape, &boxes) {
        let spec = TensorSlice::from_ranges(
            &boxes[i].iter().map(|b| b.0).collect::<Vec<_>>(),
            &boxes[i].iter().map(|b| b.1).collect::<Vec<_>>(),
        );
        return Err(TfError::BadSlice {
            path: path.to_owned(),
            tensor: name.to_owned(),
            slice: spec.to_string(),
            defect,
        });
    }
    Ok(TensorInfo { name: name.to_owned(), dtype, shape, layout: Layout::Sliced(slices) })
}

struct Shard {
    path: PathBuf,
    file: File,
}

/// An open bundle: its index and its data shards. Reads are positioned reads on the open
/// files (no memory map, so a file shrinking underneath is an error, not a signal); every
/// read checks the bytes' CRC32C.
pub struct BundleReader {
    prefix: PathBuf,
    index_path: PathBuf,
    index: Index,
    shards: Vec<Option<Shard>>,
}

impl BundleReader {
    /// Opens a bundle from a prefix (`model.ckpt-1000`), its `.index` file, or a directory
    /// (or `checkpoint` file) whose checkpoint state names the latest prefix. Checks the whole
    /// index, opens every data shard an entry needs and checks that every entry's bytes lie
    /// inside its shard.
    pub fn open(path: impl AsRef<Path>) -> Result<BundleReader> {
        let prefix = state::resolve_prefix(path.as_ref())?;
        let index_path = index_path(&prefix);
        let bytes = std::fs::read(&index_path).map_err(|source| TfError::Io { path: index_path.clone(), source })?;
        let index = parse_index(&index_path, &bytes)?;
        let mut shards: Vec<Option<Shard>> = (0..index.num_shards).map(|_| None).collect();
        for info in index.tensors.values() {
            for (_, at) in info.stored() {
                let shard_path = data_path(&prefix, at.shard, index.num_shards);
                let slot = &mut shards[at.shard];
                if slot.is_none() {
                    let file = File::open(&shard_path).map_err(|source| TfError::MissingShard {
                        path: shard_path.clone(),
                        tensor: info.name.clone(),
                        source,
                    })?;
                    *slot = Some(Shard { path: shard_path, file });
                }
                if let Some(shard) = slot {
                    let len = file_len(shard)?;
                    if at.offset.checked_add(at.size).is_none_or(|end| end > len) {
                        return Err(past_end(shard, &info.name, &at, len));
                    }
                }
            }
        }
        Ok(BundleReader { prefix, index_path, index, shards })
    }

    /// The bundle's prefix.
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    /// The `.index` file.
    pub fn index_path(&self) -> &Path {
        &self.index_path
    }

    /// Number of data shards.
    pub fn num_shards(&self) -> usize {
        self.index.num_shards
    }

    /// Every tensor, sorted by name.
    pub fn tensors(&self) -> impl Iterator<Item = &TensorInfo> {
        self.index.tensors.values()
    }

    /// The tensor of that name, if present.
    pub fn get(&self, name: &str) -> Option<&TensorInfo> {
        self.index.tensors.get(name)
    }

    fn info(&self, name: &str) -> Result<&TensorInfo> {
        self.get(name).ok_or_else(|| TfError::NotFound { path: self.index_path.clone(), tensor: name.to_owned() })
    }

    /// Reads a whole tensor (a partitioned one reassembled from its slices).
    pub fn read(&self, name: &str) -> Result<Tensor> {
        let info = self.info(name)?;
        let start = vec![0; info.shape.len()];
        let len = info.shape.clone();
        self.read_region(name, &start, &len)
    }

    /// Reads the box `start .. start + len` of a tensor, from whichever stored pieces
    /// overlap it (any partitioning of a tensor, whatever partitioning it was saved with).
    pub fn read_region(&self, name: &str, start: &[u64], len: &[u64]) -> Result<Tensor> {
        let info = self.info(name)?;
        let elem = info.dtype.size().ok_or_else(|| TfError::UnsupportedDtype {
            path: self.index_path.clone(),
            tensor: name.to_owned(),
            dtype: info.dtype,
        })?;
        let fits = start.len() == info.shape.len()
            && len.len() == info.shape.len()
            && start.iter().zip(len).zip(&info.shape).all(|((&s, &l), &d)| s.checked_add(l).is_some_and(|e| e <= d));
        if !fits {
            return Err(TfError::RegionOutOfRange {
                path: self.index_path.clone(),
                tensor: name.to_owned(),
                shape: info.shape.clone(),
                start: start.to_vec(),
                len: len.to_vec(),
            });
        }
        // The region lies inside the tensor, whose byte size was checked on open.
        let bytes = len.iter().product::<u64>() as usize * elem;
        let mut data = vec![0u8; bytes];
        let region: Vec<(u64, u64)> = start.iter().copied().zip(len.iter().copied()).collect();
        for (piece, at) in info.stored() {
            let overlaps = piece.iter().zip(&region).all(|(&(s, l), &(rs, rl))| s < rs + rl && rs < s + l);
            if overlaps {
                let src = self.read_stored(name, info.dtype, &piece, &at)?;
                copy_region(&src, &piece, &mut data, &region, elem);
            }
        }
        Ok(Tensor { dtype: info.dtype, shape: len.to_vec(), data })
    }

    /// Reads one tensor's stored bytes (every slice of a partitioned one) and checks their
    /// CRC32C, without keeping them.
    pub fn verify_tensor(&self, name: &str) -> Result<()> {
        let info = self.info(name)?;
        for (piece, at) in info.stored() {
            self.read_stored(name, info.dtype, &piece, &at)?;
        }
        Ok(())
    }

    /// Reads every stored byte range and checks its CRC32C (also for string, resource and
    /// variant tensors, whose values are otherwise not read).
    pub fn verify(&self) -> Result<()> {
        for info in self.tensors() {
            self.verify_tensor(&info.name)?;
        }
        Ok(())
    }

    /// Reads one stored byte range with a positioned read and checks its checksum.
    fn read_stored(&self, name: &str, info_dtype: TfDtype, piece: &[(u64, u64)], at: &Stored) -> Result<Vec<u8>> {
        let shard = self.shards.get(at.shard).and_then(Option::as_ref);
        // `open` opened every shard an entry refers to.
        let Some(shard) = shard else {
            return Err(TfError::BadShardId {
                path: self.index_path.clone(),
                tensor: name.to_owned(),
                shard: at.shard as i32,
                num_shards: self.index.num_shards as i32,
            });
        };
        let mut buf = vec![0u8; at.size as usize];
        if let Err(source) = read_exact_at(&shard.file, &mut buf, at.offset) {
            if source.kind() == std::io::ErrorKind::UnexpectedEof {
                let len = file_len(shard)?;
                return Err(past_end(shard, name, at, len));
            }
            return Err(TfError::Io { path: shard.path.clone(), source });
        }
        let elements = piece.iter().map(|&(_, len)| len).product();
        let computed = content_crc(info_dtype, elements, &buf);
        if computed != at.crc32c {
            return Err(TfError::DataChecksum {
                path: shard.path.clone(),
                tensor: name.to_owned(),
                stored: at.crc32c,
                computed,
            });
        }
        Ok(buf)
    }
}

/// The checksum TensorFlow records for a tensor's stored bytes: the CRC32C of the bytes for
/// fixed-size dtypes; for strings (varint64 lengths, a masked length checksum, the bytes)
/// and variants (per element: varint64 length, bytes, masked running checksum) lengths
/// count as their fixed-width little-endian values. Malformed string or variant data yields
/// the plain CRC32C, which then fails the comparison.
fn content_crc(dtype: TfDtype, elements: u64, bytes: &[u8]) -> u32 {
    let plain = crc32c::crc32c(bytes);
    match dtype {
        TfDtype::String => string_crc(elements, bytes).unwrap_or(plain),
        TfDtype::Variant => variant_crc(bytes).unwrap_or(plain),
        _ => plain,
    }
}

fn varint64(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at)?;
        *at += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn extend_len(crc: u32, len: u64) -> u32 {
    match u32::try_from(len) {
        Ok(short) => crc32c::crc32c_append(crc, &short.to_le_bytes()),
        Err(_) => crc32c::crc32c_append(crc, &len.to_le_bytes()),
    }
}

fn string_crc(elements: u64, bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() {
        // TensorFlow stores nothing for an empty string tensor.
        return Some(0);
    }
    let mut at = 0;
    let mut crc = 0u32;
    for _ in 0..elements {
        crc = extend_len(crc, varint64(bytes, &mut at)?);
    }
    let raw = bytes.get(at..at + 4)?;
    if unmask_crc(u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]])) != crc {
        return None;
    }
    crc = crc32c::crc32c_append(crc, raw);
    Some(crc32c::crc32c_append(crc, &bytes[at + 4..]))
}

fn variant_crc(bytes: &[u8]) -> Option<u32> {
    let mut at = 0;
    let mut crc = 0u32;
    while at < bytes.len() {
        let len = varint64(bytes, &mut at)?;
        crc = crc32c::crc32c_append(crc, &len.to_le_bytes());
        let end = at.checked_add(usize::try_from(len).ok()?)?;
        crc = crc32c::crc32c_append(crc, bytes.get(at..end)?);
        let raw = bytes.get(end..end + 4)?;
        crc = crc32c::crc32c_append(crc, raw);
        at = end + 4;
    }
    Some(crc)
}

fn file_len(shard: &Shard) -> Result<u64> {
    shard.file.metadata().map(|m| m.len()).map_err(|source| TfError::Io { path: shard.path.clone(), source })
}

fn past_end(shard: &Shard, name: &str, at: &Stored, len: u64) -> TfError {
    TfError::PastShardEnd {
        path: shard.path.clone(),
        tensor: name.to_owned(),
        offset: at.offset as i64,
        size: at.size as i64,
        len,
    }
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, offset) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
