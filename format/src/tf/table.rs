//! The immutable sorted table (LevelDB's format, as TensorFlow's `lib/io/table*` writes it)
//! that holds a bundle's `.index`.
//!
//! A table is a run of blocks followed by a 48-byte footer. Every block is followed by a
//! 5-byte trailer: a compression byte (0 none, 1 Snappy) and the masked CRC32C of the block
//! contents and that byte. A block holds entries `varint32 shared, varint32 non_shared,
//! varint32 value_len, key[shared..], value`, whose key shares `shared` bytes with the
//! previous key, then the restart array (`fixed32` offsets of entries with `shared == 0`) and
//! its `fixed32` length. The index block maps a key at or after each data block's last key
//! to that block's handle (`varint64 offset, varint64 size`); the footer holds the metaindex
//! and index handles, zero padding to 40 bytes and the magic number.

use super::error::IndexDefect;

/// The table magic number, the footer's last 8 bytes (little-endian).
pub const TABLE_MAGIC: u64 = 0xdb47_7524_8b80_fb57;
/// Footer length in bytes.
pub const FOOTER_LEN: usize = 48;
/// Block trailer length: compression byte and masked CRC32C.
const TRAILER_LEN: usize = 5;
/// Longest encoding of a block handle (two varint64).
const MAX_HANDLE_LEN: usize = 20;
/// Compression type byte of an uncompressed block.
const NO_COMPRESSION: u8 = 0;
/// Compression type byte of a Snappy block.
const SNAPPY: u8 = 1;
/// Snappy expands at most this many times (a 3-byte copy tag yields at most 64 bytes);
/// a larger claimed length is corrupt and is refused before allocating.
const SNAPPY_MAX_RATIO: usize = 32;

/// LevelDB's CRC mask: stored checksums are rotated and offset so that a checksum of data
/// that itself holds checksums stays well distributed.
pub fn mask_crc(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// Inverse of [`mask_crc`].
pub fn unmask_crc(masked: u32) -> u32 {
    masked.wrapping_sub(0xa282_ead8).rotate_left(15)
}

/// Why a table cannot be read: a structural defect or a block checksum mismatch, with the
/// byte offset of the block or footer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TableError {
    /// A structural defect.
    Defect {
        /// Byte offset of the footer or block.
        offset: u64,
        /// What is wrong.
        defect: IndexDefect,
    },
    /// A block fails its checksum.
    Checksum {
        /// Byte offset of the block.
        offset: u64,
        /// The unmasked stored checksum.
        stored: u32,
        /// The checksum of the bytes.
        computed: u32,
    },
}

fn defect(offset: usize, defect: IndexDefect) -> TableError {
    TableError::Defect { offset: offset as u64, defect }
}

/// Decodes a varint of at most `max_bytes` bytes, returning the value and the bytes used.
fn get_varint(bytes: &[u8], max_bytes: usize) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &b) in bytes.iter().take(max_bytes).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// A block's position in the file (excluding its trailer).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct BlockHandle {
    offset: u64,
    size: u64,
}

impl BlockHandle {
    fn decode(bytes: &[u8]) -> Option<(BlockHandle, usize)> {
        let (offset, a) = get_varint(bytes, 10)?;
        let (size, b) = get_varint(&bytes[a..], 10)?;
        Some((BlockHandle { offset, size }, a + b))
    }

    fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.offset);
        put_varint(out, self.size);
    }
}

/// One `(key, value)` entry of a table.
pub type Row = (Vec<u8>, Vec<u8>);

/// Reads every `(key, value)` pair of a table, in key order, checking every block's checksum
/// and that keys strictly increase.
pub fn read_table(file: &[u8]) -> Result<Vec<Row>, TableError> {
    let Some(footer_at) = file.len().checked_sub(FOOTER_LEN) else {
        return Err(defect(0, IndexDefect::TooShort));
    };
    let footer = &file[footer_at..];
    let mut magic = [0u8; 8];
    magic.copy_from_slice(&footer[40..48]);
    if u64::from_le_bytes(magic) != TABLE_MAGIC {
        return Err(defect(footer_at, IndexDefect::BadMagic));
    }
    let bad_handle = || defect(footer_at, IndexDefect::BadBlockHandle);
    let (_metaindex, used) = BlockHandle::decode(&footer[..40]).ok_or_else(bad_handle)?;
    let (index, _) = BlockHandle::decode(&footer[used..40]).ok_or_else(bad_handle)?;
    let index_block = read_block(file, index, footer_at)?;
    let mut entries: Vec<Row> = Vec::new();
    for (_, handle) in parse_block(&index_block, index.offset as usize)? {
        let (handle, _) =
            BlockHandle::decode(&handle).ok_or_else(|| defect(index.offset as usize, IndexDefect::BadBlockHandle))?;
        let block = read_block(file, handle, footer_at)?;
        let start = entries.len();
        entries.extend(parse_block(&block, handle.offset as usize)?);
        // Keys strictly increase within and across blocks.
        let from = start.saturating_sub(1);
        if entries[from..].windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(defect(handle.offset as usize, IndexDefect::KeysOutOfOrder));
        }
    }
    Ok(entries)
}

/// Reads one block's contents, checking its trailer checksum and decompressing Snappy.
/// `limit` is where blocks end (the footer's offset).
fn read_block(file: &[u8], handle: BlockHandle, limit: usize) -> Result<Vec<u8>, TableError> {
    let offset = handle.offset as usize;
    let bad = || defect(offset, IndexDefect::BadBlockHandle);
    let start = usize::try_from(handle.offset).map_err(|_| bad())?;
    let size = usize::try_from(handle.size).map_err(|_| bad())?;
    let end =
        start.checked_add(size).and_then(|e| e.checked_add(TRAILER_LEN)).filter(|&e| e <= limit).ok_or_else(bad)?;
    let contents = &file[start..start + size];
    let kind = file[start + size];
    let stored = unmask_crc(read_u32(file, end - 4).ok_or_else(bad)?);
    let computed = crc32c::crc32c_append(crc32c::crc32c(contents), &[kind]);
    if stored != computed {
        return Err(TableError::Checksum { offset: handle.offset, stored, computed });
    }
    match kind {
        NO_COMPRESSION => Ok(contents.to_vec()),
        SNAPPY => {
            let corrupt = || defect(offset, IndexDefect::BadSnappy);
            let len = snap::raw::decompress_len(contents).map_err(|_| corrupt())?;
            if len > contents.len().saturating_mul(SNAPPY_MAX_RATIO) {
                return Err(corrupt());
            }
            snap::raw::Decoder::new().decompress_vec(contents).map_err(|_| corrupt())
        }
        other => Err(defect(offset, IndexDefect::UnknownCompression(other))),
    }
}

/// Splits a block's contents into its `(key, value)` entries. `offset` is the block's file
/// offset, for errors.
fn parse_block(block: &[u8], offset: usize) -> Result<Vec<Row>, TableError> {
    let bad = || defect(offset, IndexDefect::BadBlock);
    let count_at = block.len().checked_sub(4).ok_or_else(bad)?;
    let num_restarts = read_u32(block, count_at).ok_or_else(bad)? as usize;
    if num_restarts > count_at / 4 {
        return Err(bad());
    }
    let entries_end = count_at - 4 * num_restarts;
    let mut out = Vec::new();
    let mut key: Vec<u8> = Vec::new();
    let mut p = 0usize;
    while p < entries_end {
        let region = &block[p..entries_end];
        let (shared, a) = get_varint(region, 5).ok_or_else(bad)?;
        let (non_shared, b) = get_varint(&region[a..], 5).ok_or_else(bad)?;
        let (value_len, c) = get_varint(&region[a + b..], 5).ok_or_else(bad)?;
        let (shared, non_shared, value_len) = (shared as usize, non_shared as usize, value_len as usize);
        let header = a + b + c;
        let body_end = header
            .checked_add(non_shared)
            .and_then(|e| e.checked_add(value_len))
            .filter(|&e| e <= region.len())
            .ok_or_else(bad)?;
        if shared > key.len() {
            return Err(bad());
        }
        key.truncate(shared);
        key.extend_from_slice(&region[header..header + non_shared]);
        out.push((key.clone(), region[header + non_shared..body_end].to_vec()));
        p += body_end;
    }
    Ok(out)
}

/// Block compression of a table being written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// Blocks stored as they are (what TensorFlow writes for bundles).
    #[default]
    None,
    /// Blocks Snappy-compressed where that saves at least an eighth.
    Snappy,
}

/// Writes a table as TensorFlow's `TableBuilder` does: data blocks cut when their size
/// estimate reaches `block_size`, restart points every `restart_interval` keys, index keys
/// shortened to a separator between blocks, an empty metaindex block.
#[derive(Clone, Debug)]
pub struct TableBuilder {
    /// Approximate uncompressed bytes per data block (TensorFlow: 262144).
    pub block_size: usize,
    /// Keys between restart points (TensorFlow: 16).
    pub restart_interval: usize,
    /// Block compression.
    pub compression: Compression,
}

impl Default for TableBuilder {
    fn default() -> Self {
        TableBuilder { block_size: 262_144, restart_interval: 16, compression: Compression::None }
    }
}

/// The entries given to [`TableBuilder::build`] are not in strictly increasing key order;
/// holds the index of the first offending entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeysOutOfOrder(pub usize);

impl TableBuilder {
    /// Builds the table bytes from entries in strictly increasing key order.
    pub fn build<'a>(
        &self,
        entries: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
    ) -> Result<Vec<u8>, KeysOutOfOrder> {
        let mut out = Vec::new();
        let mut data = BlockBuilder::new(self.restart_interval.max(1));
        let mut index = BlockBuilder::new(1);
        let mut last_key: Vec<u8> = Vec::new();
        let mut pending: Option<BlockHandle> = None;
        for (i, (key, value)) in entries.into_iter().enumerate() {
            if i > 0 {
                if key <= last_key.as_slice() {
                    return Err(KeysOutOfOrder(i));
                }
                if key.len() + value.len() >= 2 * self.block_size && !data.is_empty() {
                    pending = Some(self.write_block(&mut out, &mut data));
                }
            }
            if let Some(handle) = pending.take() {
                shortest_separator(&mut last_key, key);
                let mut encoded = Vec::new();
                handle.encode(&mut encoded);
                index.add(&last_key, &encoded);
            }
            last_key.clear();
            last_key.extend_from_slice(key);
            data.add(key, value);
            if data.size_estimate() >= self.block_size {
                pending = Some(self.write_block(&mut out, &mut data));
            }
        }
        if !data.is_empty() {
            pending = Some(self.write_block(&mut out, &mut data));
        }
        let metaindex = self.write_block(&mut out, &mut BlockBuilder::new(self.restart_interval));
        if let Some(handle) = pending {
            short_successor(&mut last_key);
            let mut encoded = Vec::new();
            handle.encode(&mut encoded);
            index.add(&last_key, &encoded);
        }
        let index_handle = self.write_block(&mut out, &mut index);
        let footer_start = out.len();
        metaindex.encode(&mut out);
        index_handle.encode(&mut out);
        out.resize(footer_start + 2 * MAX_HANDLE_LEN, 0);
        out.extend_from_slice(&TABLE_MAGIC.to_le_bytes());
        Ok(out)
    }

    fn write_block(&self, out: &mut Vec<u8>, block: &mut BlockBuilder) -> BlockHandle {
        let raw = block.finish();
        let (contents, kind) = match self.compression {
            Compression::Snappy => match snap::raw::Encoder::new().compress_vec(&raw) {
                Ok(c) if c.len() < raw.len() - raw.len() / 8 => (c, SNAPPY),
                _ => (raw, NO_COMPRESSION),
            },
            Compression::None => (raw, NO_COMPRESSION),
        };
        let handle = BlockHandle { offset: out.len() as u64, size: contents.len() as u64 };
        out.extend_from_slice(&contents);
        out.push(kind);
        let crc = crc32c::crc32c_append(crc32c::crc32c(&contents), &[kind]);
        out.extend_from_slice(&mask_crc(crc).to_le_bytes());
        handle
    }
}

/// Shortens `start` to a key `k` with `start <= k < limit` where one byte can be bumped.
fn shortest_separator(start: &mut Vec<u8>, limit: &[u8]) {
    let common = start.iter().zip(limit).take_while(|(a, b)| a == b).count();
    if common < start.len().min(limit.len()) {
        let byte = start[common];
        if byte < 0xff && byte + 1 < limit[common] {
            start[common] = byte + 1;
            start.truncate(common + 1);
        }
    }
}

/// Shortens `key` to a short key at or after it.
fn short_successor(key: &mut Vec<u8>) {
    if let Some(i) = key.iter().position(|&b| b != 0xff) {
        key[i] += 1;
        key.truncate(i + 1);
    }
}

struct BlockBuilder {
    buffer: Vec<u8>,
    restarts: Vec<u32>,
    interval: usize,
    counter: usize,
    last_key: Vec<u8>,
}

impl BlockBuilder {
    fn new(interval: usize) -> Self {
        BlockBuilder {
            buffer: Vec::new(),
            restarts: vec![0],
            interval: interval.max(1),
            counter: 0,
            last_key: Vec::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.buffer.is_empty()
    }

    fn size_estimate(&self) -> usize {
        self.buffer.len() + 4 * self.restarts.len() + 4
    }

    fn add(&mut self, key: &[u8], value: &[u8]) {
        let shared = if self.counter < self.interval {
            self.last_key.iter().zip(key).take_while(|(a, b)| a == b).count()
        } else {
            self.restarts.push(self.buffer.len() as u32);
            self.counter = 0;
            0
        };
        put_varint(&mut self.buffer, shared as u64);
        put_varint(&mut self.buffer, (key.len() - shared) as u64);
        put_varint(&mut self.buffer, value.len() as u64);
        self.buffer.extend_from_slice(&key[shared..]);
        self.buffer.extend_from_slice(value);
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.counter += 1;
    }

    /// Returns the finished block and resets the builder.
    fn finish(&mut self) -> Vec<u8> {
        let mut block = std::mem::take(&mut self.buffer);
        for r in &self.restarts {
            block.extend_from_slice(&r.to_le_bytes());
        }
        block.extend_from_slice(&(self.restarts.len() as u32).to_le_bytes());
        self.restarts = vec![0];
        self.counter = 0;
        self.last_key.clear();
        block
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        (0..n).map(|i| (format!("key/{i:06}").into_bytes(), vec![i as u8; i % 7])).collect()
    }

    #[test]
    fn round_trips_across_block_sizes_and_compression() {
        let entries = pairs(500);
        for block_size in [16, 100, 4096, 262_144] {
            for compression in [Compression::None, Compression::Snappy] {
                let builder = TableBuilder { block_size, restart_interval: 3, compression };
                let bytes = builder.build(entries.iter().map(|(k, v)| (k.as_slice(), v.as_slice()))).unwrap();
                assert_eq!(read_table(&bytes).unwrap(), entries, "{block_size} {compression:?}");
            }
        }
    }

    #[test]
    fn empty_table_round_trips() {
        let bytes = TableBuilder::default().build(std::iter::empty()).unwrap();
        assert_eq!(read_table(&bytes).unwrap(), Vec::new());
    }

    #[test]
    fn unsorted_keys_are_refused() {
        let e = TableBuilder::default().build([(&b"b"[..], &b""[..]), (&b"a"[..], &b""[..])]);
        assert_eq!(e, Err(KeysOutOfOrder(1)));
    }

    #[test]
    fn crc_mask_round_trips() {
        for crc in [0u32, 1, 0xdead_beef, u32::MAX] {
            assert_eq!(unmask_crc(mask_crc(crc)), crc);
            assert_ne!(mask_crc(crc), crc);
        }
    }

    #[test]
    fn separators_stay_between_keys() {
        let mut s = b"abcdefg".to_vec();
        shortest_separator(&mut s, b"abzz");
        assert_eq!(s, b"abd");
        let mut s = b"abc".to_vec();
        shortest_separator(&mut s, b"abcd");
        assert_eq!(s, b"abc");
        let mut k = vec![0xff, 0xff, 3, 9];
        short_successor(&mut k);
        assert_eq!(k, vec![0xff, 0xff, 4]);
    }
}
