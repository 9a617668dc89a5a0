//! The one error type of the TensorFlow bundle layer.

use std::fmt;
use std::path::PathBuf;

use super::TfDtype;

/// What is structurally wrong with an `.index` table or its entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IndexDefect {
    /// The file is shorter than the 48-byte footer.
    TooShort,
    /// The footer does not end in the table magic `0xdb4775248b80fb57`.
    BadMagic,
    /// A block handle (varint offset and size) cannot be decoded or points outside the file.
    BadBlockHandle,
    /// A block's restart array or entry encoding is malformed.
    BadBlock,
    /// A block trailer names a compression type other than none (0) or Snappy (1).
    UnknownCompression(u8),
    /// A Snappy-compressed block does not decompress.
    BadSnappy,
    /// Keys are not in strictly increasing order.
    KeysOutOfOrder,
    /// The table has no header entry under the empty key.
    MissingHeader,
    /// The `BundleHeaderProto` under the empty key cannot be parsed.
    BadHeader,
    /// A `BundleEntryProto` cannot be parsed.
    BadEntry,
    /// A tensor name is not UTF-8.
    NameNotUtf8,
    /// The header's shard count is not positive.
    BadShardCount,
}

impl fmt::Display for IndexDefect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IndexDefect::TooShort => f.write_str("file shorter than the 48-byte table footer"),
            IndexDefect::BadMagic => f.write_str("bad table magic number"),
            IndexDefect::BadBlockHandle => f.write_str("bad block handle"),
            IndexDefect::BadBlock => f.write_str("malformed block"),
            IndexDefect::UnknownCompression(c) => write!(f, "unknown block compression type {c}"),
            IndexDefect::BadSnappy => f.write_str("corrupt Snappy-compressed block"),
            IndexDefect::KeysOutOfOrder => f.write_str("keys out of order"),
            IndexDefect::MissingHeader => f.write_str("no bundle header under the empty key"),
            IndexDefect::BadHeader => f.write_str("unparseable BundleHeaderProto"),
            IndexDefect::BadEntry => f.write_str("unparseable BundleEntryProto"),
            IndexDefect::NameNotUtf8 => f.write_str("tensor name is not UTF-8"),
            IndexDefect::BadShardCount => f.write_str("header shard count is not positive"),
        }
    }
}

/// An error reading or writing a TensorFlow tensor bundle. Every variant names the file;
/// those about one tensor name it too.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TfError {
    /// The file could not be opened, read, written or renamed.
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The `.index` table is truncated or corrupt.
    #[error("{path}: corrupt checkpoint index at byte {offset}: {defect}{tensor}", path = path.display(), tensor = for_tensor(tensor))]
    CorruptIndex {
        /// The `.index` file.
        path: PathBuf,
        /// The byte offset of the defective block or footer.
        offset: u64,
        /// What is wrong.
        defect: IndexDefect,
        /// The entry's key where the defect is in one entry.
        tensor: Option<String>,
    },
    /// A block of the `.index` table fails its masked CRC32C.
    #[error("{path}: index block at byte {offset} fails its checksum (stored {stored:#010x}, computed {computed:#010x})", path = path.display())]
    BlockChecksum {
        /// The `.index` file.
        path: PathBuf,
        /// The byte offset of the block.
        offset: u64,
        /// The unmasked checksum the trailer records.
        stored: u32,
        /// The checksum of the bytes read.
        computed: u32,
    },
    /// The bundle was written by a big-endian machine; varscope reads little-endian bundles.
    #[error("{path}: the bundle was written big-endian, which varscope does not read", path = path.display())]
    BigEndian {
        /// The `.index` file.
        path: PathBuf,
    },
    /// The bundle format version is newer than the reader (TensorFlow's `min_consumer` check).
    #[error("{path}: checkpoint format needs a consumer of version {min_consumer}; this reader is version 1", path = path.display())]
    UnsupportedVersion {
        /// The `.index` file.
        path: PathBuf,
        /// The header's `min_consumer`.
        min_consumer: i32,
    },
    /// An entry records a dtype code that is not a TensorFlow dtype.
    #[error("{path}: tensor {tensor:?} has unknown dtype code {code}", path = path.display())]
    UnknownDtype {
        /// The `.index` file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// The `DataType` code.
        code: i32,
    },
    /// The tensor's dtype has no fixed-size layout varscope reads (string, resource, variant).
    #[error("{path}: tensor {tensor:?} has dtype {dtype}, whose values varscope does not read", path = path.display())]
    UnsupportedDtype {
        /// The `.index` file (or the prefix being written).
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// Its dtype.
        dtype: TfDtype,
    },
    /// An entry's shape has a negative dimension, unknown rank, or too many elements.
    #[error("{path}: tensor {tensor:?} has invalid shape {shape:?}", path = path.display())]
    InvalidShape {
        /// The `.index` file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// The dimensions as stored (empty when the rank is unknown).
        shape: Vec<i64>,
    },
    /// An entry's byte size does not match its shape's element count times the dtype size.
    #[error("{path}: tensor {tensor:?} of dtype {dtype} and shape {shape:?} needs {expected} bytes, its entry records {size}", path = path.display())]
    SizeMismatch {
        /// The `.index` file.
        path: PathBuf,
        /// The tensor (or slice key, shown decoded).
        tensor: String,
        /// Its dtype.
        dtype: TfDtype,
        /// Its shape.
        shape: Vec<u64>,
        /// Element count times dtype size.
        expected: u64,
        /// The entry's `size` field.
        size: i64,
    },
    /// An entry names a data shard outside the header's shard count.
    #[error("{path}: tensor {tensor:?} is in shard {shard}, but the bundle has {num_shards}", path = path.display())]
    BadShardId {
        /// The `.index` file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// The entry's shard id.
        shard: i32,
        /// The header's shard count.
        num_shards: i32,
    },
    /// A data shard an entry needs does not exist or cannot be opened.
    #[error("{path}: missing data shard for tensor {tensor:?}: {source}", path = path.display())]
    MissingShard {
        /// The `.data-NNNNN-of-MMMMM` file.
        path: PathBuf,
        /// The first tensor stored in it.
        tensor: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// An entry's bytes `[offset, offset + size)` run past the end of its data shard.
    #[error("{path}: tensor {tensor:?} occupies bytes {offset}..{offset}+{size}, past the shard's end at {len}", path = path.display())]
    PastShardEnd {
        /// The data shard.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// The entry's offset.
        offset: i64,
        /// The entry's size.
        size: i64,
        /// The shard's length in bytes.
        len: u64,
    },
    /// A tensor's bytes fail the CRC32C its entry records.
    #[error("{path}: tensor {tensor:?} fails its checksum (stored {stored:#010x}, computed {computed:#010x})", path = path.display())]
    DataChecksum {
        /// The data shard.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// The unmasked checksum the entry records.
        stored: u32,
        /// The checksum of the bytes read.
        computed: u32,
    },
    /// A partitioned tensor's slices are out of range, overlap, leave gaps, or lack entries.
    #[error("{path}: tensor {tensor:?}: slice {slice} {defect}", path = path.display())]
    BadSlice {
        /// The `.index` file (or the prefix being written).
        path: PathBuf,
        /// The full tensor.
        tensor: String,
        /// The slice in TensorFlow's spec syntax (`0,5:-`).
        slice: String,
        /// What is wrong with it.
        defect: SliceDefect,
    },
    /// The checkpoint has no tensor of that name.
    #[error("{path}: tensor {tensor:?} not found in checkpoint", path = path.display())]
    NotFound {
        /// The `.index` file.
        path: PathBuf,
        /// The name asked for.
        tensor: String,
    },
    /// A region asked of a tensor does not fit its shape.
    #[error("{path}: region {start:?}+{len:?} is outside tensor {tensor:?} of shape {shape:?}", path = path.display())]
    RegionOutOfRange {
        /// The `.index` file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// The tensor's shape.
        shape: Vec<u64>,
        /// The region's offsets.
        start: Vec<u64>,
        /// The region's lengths.
        len: Vec<u64>,
    },
    /// A directory has no usable `checkpoint` state file.
    #[error("{path}: no checkpoint state (a `checkpoint` file with model_checkpoint_path)", path = path.display())]
    NoCheckpointState {
        /// The directory or `checkpoint` file.
        path: PathBuf,
    },
    /// A tensor added to a writer twice.
    #[error("{path}: tensor {tensor:?} added twice", path = path.display())]
    DuplicateTensor {
        /// The prefix being written.
        path: PathBuf,
        /// The tensor.
        tensor: String,
    },
    /// A tensor name a bundle cannot hold (empty, or starting with a NUL byte, which is
    /// reserved for slice keys).
    #[error("{path}: {tensor:?} is not a valid tensor name in a bundle", path = path.display())]
    InvalidName {
        /// The prefix being written.
        path: PathBuf,
        /// The name.
        tensor: String,
    },
    /// The bytes given to a writer do not match the tensor's dtype and shape.
    #[error("{path}: tensor {tensor:?} of dtype {dtype} and shape {shape:?} needs {expected} bytes, got {got}", path = path.display())]
    DataLength {
        /// The prefix being written.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// Its dtype.
        dtype: TfDtype,
        /// Its shape (of the slice, for a slice).
        shape: Vec<u64>,
        /// Element count times dtype size.
        expected: u64,
        /// The bytes given.
        got: usize,
    },
    /// A slice added under a name whose earlier slices have another dtype or full shape.
    #[error("{path}: slice of tensor {tensor:?} has dtype {dtype} and full shape {shape:?}, earlier slices have {earlier_dtype} and {earlier_shape:?}", path = path.display())]
    SliceConflict {
        /// The prefix being written.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// This slice's dtype.
        dtype: TfDtype,
        /// This slice's full shape.
        shape: Vec<u64>,
        /// The earlier slices' dtype.
        earlier_dtype: TfDtype,
        /// The earlier slices' full shape.
        earlier_shape: Vec<u64>,
    },
}

/// What is wrong with one slice of a partitioned tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SliceDefect {
    /// Its rank differs from the full tensor's.
    RankMismatch,
    /// It reaches outside the full tensor.
    OutOfRange,
    /// It overlaps an earlier slice.
    Overlap,
    /// The slices together do not cover the full tensor.
    Gap,
    /// Its own entry (under the encoded slice key) is missing.
    MissingEntry,
    /// Its entry's dtype or shape differs from what the slice implies.
    EntryMismatch,
}

impl fmt::Display for SliceDefect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SliceDefect::RankMismatch => "has another rank than the tensor",
            SliceDefect::OutOfRange => "reaches outside the tensor",
            SliceDefect::Overlap => "overlaps another slice",
            SliceDefect::Gap => "leaves part of the tensor uncovered (the slices do not tile it)",
            SliceDefect::MissingEntry => "has no entry under its slice key",
            SliceDefect::EntryMismatch => "has an entry whose dtype or shape does not match",
        })
    }
}

fn for_tensor(tensor: &Option<String>) -> String {
    match tensor {
        Some(t) => format!(" (entry {t:?})"),
        None => String::new(),
    }
}

/// This layer's result type.
pub type Result<T, E = TfError> = std::result::Result<T, E>;
