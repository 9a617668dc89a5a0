//! Checkpoints: save a session's variables to a safetensors file and restore them
//! (runtime.md section 8).
//!
//! # File format
//!
//! A checkpoint is a plain [safetensors](https://github.com/huggingface/safetensors)
//! file: an 8-byte little-endian header length `N`, `N` bytes of JSON (padded with spaces
//! so the data starts 8-byte aligned), then the tensors' bytes, contiguous, little-endian,
//! row-major. Tensor names are the variables' store keys (`foo/bar/v`); a partitioned
//! variable is one full tensor under its own key (`foo/p`, not `foo/p/part_0`). Optimizer
//! slots are variables like any other; the trailing `/` of a slot's store key
//! (`foo/v/Adam/`, from `get_variable("")` in scope `foo/v/Adam`) is dropped, so the
//! tensor is `foo/v/Adam`, the name TensorFlow's checkpoints use.
//!
//! varscope writes these `__metadata__` entries (all values are strings):
//!
//! | key                       | value                                                   |
//! |---------------------------|---------------------------------------------------------|
//! | `varscope.format_version` | `1` (marks a varscope checkpoint)                        |
//! | `varscope.graph_seed`     | the graph seed in decimal, or `none`                     |
//! | `varscope.checksum`       | `xxh64` (the algorithm of the per-tensor checksums)      |
//! | `dtype:NAME`              | TensorFlow's dtype name of tensor `NAME` (`float32`)    |
//! | `checksum:NAME`           | `xxh64:` and 16 lower-case hex digits: XXH64, seed 0, of the tensor's bytes as stored |
//! | `partitioning:NAME`       | only for partitioned variables: `axis:A;shards:S;offsets:O0,O1,...` (each shard's offset along axis `A` in the full shape) |
//!
//! Files without `varscope.format_version` (written by PyTorch, candle, the
//! `safetensors` crate) load by name; they have no checksums to verify.
//!
//! # Guarantees
//!
//! - [`save`] is atomic: it writes `.NAME.tmp-PID-K` in the target's directory, flushes
//!   and syncs it, renames it over the target and syncs the directory. On any error the
//!   temporary file is removed and a previous checkpoint at the target is untouched.
//! - [`restore`] validates everything before it writes any variable: the header, the
//!   assignment map, every shape and dtype, every checksum of the bytes it will use,
//!   and the placement, dtype support and device memory of every target. A failed
//!   restore leaves every variable as it was. (Only a device failure while writing,
//!   after all of that passed, can leave the variables written before it restored;
//!   variables that had no storage before the call are then freed again.)
//! - [`restore`] is streamed: the file is memory-mapped and only one variable's (or
//!   shard's) values are held on the host at a time, so a checkpoint larger than the free
//!   host memory minus one tensor still loads.
//! - The reader ([`CheckpointInfo::parse`]) never panics on any bytes: it has its own
//!   strict JSON parser with checked arithmetic, and is fuzzed (`fuzz/`).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use half::{bf16, f16};
use varscope_core::{DType, Graph, Variable};

use crate::error::GpuError;
use crate::session::Session;
use crate::values::HostValues;

/// Metadata key marking a varscope checkpoint, with the format version as value.
pub const FORMAT_VERSION_KEY: &str = "varscope.format_version";
/// The format version [`save`] writes and [`restore`] reads.
pub const FORMAT_VERSION: u32 = 1;
/// Metadata key of the graph seed (`none` when the graph has none).
pub const GRAPH_SEED_KEY: &str = "varscope.graph_seed";
/// Metadata key naming the checksum algorithm (`xxh64`).
pub const CHECKSUM_ALGORITHM_KEY: &str = "varscope.checksum";
/// Largest header [`CheckpointInfo::parse`] accepts (the limit of the safetensors crate).
pub const MAX_HEADER_BYTES: u64 = 100_000_000;

const DTYPE_PREFIX: &str = "dtype:";
const CHECKSUM_PREFIX: &str = "checksum:";
const PARTITIONING_PREFIX: &str = "partitioning:";
const METADATA_KEY: &str = "__metadata__";
const MAX_JSON_DEPTH: usize = 64;

// ----- errors --------------------------------------------------------------------------

/// Errors of [`save`], [`restore`], [`inspect`] and [`verify`]. Each names the file and
/// the tensor, variable, shape or dtype it is about. A failed call leaves the session's
/// variables and any previous checkpoint file as they were.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// An operating-system error on the checkpoint or its temporary file.
    #[error("Cannot {operation} {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done (`open`, `write`, `rename to ...`).
        operation: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// The file is shorter than its header says.
    #[error("Checkpoint {path} is truncated: the {section} needs {expected} bytes of file, but it has {actual}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// `header` (length prefix or JSON) or `data`.
        section: &'static str,
        /// Bytes the file should have at least.
        expected: u64,
        /// Bytes it has.
        actual: u64,
    },

    /// The safetensors header is malformed (bad JSON, bad tensor entry, bad offsets).
    #[error("Checkpoint {path} has a corrupt header{}: {reason} (at header byte {offset})", tensor_note(.tensor))]
    CorruptHeader {
        /// The file.
        path: PathBuf,
        /// The tensor whose entry is bad, if one.
        tensor: Option<String>,
        /// Byte offset in the JSON header (0 for problems of the whole header).
        offset: u64,
        /// What is wrong.
        reason: String,
    },

    /// varscope's metadata in the header is inconsistent or malformed.
    #[error("Checkpoint {path} has corrupt varscope metadata at key '{key}': {reason}")]
    CorruptMetadata {
        /// The file.
        path: PathBuf,
        /// The metadata key.
        key: String,
        /// What is wrong.
        reason: String,
    },

    /// A varscope checkpoint of a format version this build does not read.
    #[error("Checkpoint {path} has varscope format version {version}; this build reads version {FORMAT_VERSION}")]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version string found.
        version: String,
    },

    /// A tensor's bytes do not match the checksum recorded when it was saved.
    #[error("Checksum mismatch for tensor {tensor} in checkpoint {path}: recorded xxh64 {expected:016x}, bytes hash to {actual:016x}")]
    ChecksumMismatch {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// Recorded checksum.
        expected: u64,
        /// Checksum of the bytes in the file.
        actual: u64,
    },

    /// A bool tensor holding a byte other than 0 or 1.
    #[error("Tensor {tensor} in checkpoint {path} is bool but element {index} is the byte {byte}")]
    InvalidBool {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// Element index.
        index: u64,
        /// The byte found.
        byte: u8,
    },

    /// A tensor's shape differs from the variable it restores.
    #[error("Cannot restore tensor {tensor} of shape {} from {path} into variable {variable} of shape {}", fmt_shape(.file_shape), fmt_shape(.graph_shape))]
    ShapeMismatch {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// The variable (a partitioned variable's key for shards).
        variable: String,
        /// Shape in the file.
        file_shape: Vec<u64>,
        /// The variable's full shape.
        graph_shape: Vec<u64>,
    },

    /// A tensor's dtype cannot be converted to the variable's (conversions exist between
    /// float16, bfloat16, float32 and float64 only).
    #[error("Cannot restore tensor {tensor} of dtype {file_dtype} from {path} into variable {variable} of dtype {dtype}")]
    DTypeMismatch {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// The variable.
        variable: String,
        /// The dtype in the file (safetensors code).
        file_dtype: StoredDType,
        /// The variable's dtype.
        dtype: DType,
    },

    /// An assignment-map entry that does not follow `init_from_checkpoint`'s rules.
    #[error("Assignment map with scope only name {from} should map to scope only {to}. Should be 'scope/': 'other_scope/'.")]
    InvalidMapEntry {
        /// Checkpoint side.
        from: String,
        /// Graph side.
        to: String,
    },

    /// An assignment-map entry whose checkpoint side names nothing in the file.
    #[error("Tensor {from} is not found in {path} checkpoint (assignment map entry '{from}' -> '{to}')")]
    MapSourceNotFound {
        /// The file.
        path: PathBuf,
        /// Checkpoint side of the entry.
        from: String,
        /// Graph side of the entry.
        to: String,
    },

    /// The assignment map sends a tensor to a name that is no variable being restored.
    #[error("Tensor {tensor} of checkpoint {path} is mapped to {target}, which is not a variable being restored")]
    MapTargetNotFound {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// Where the map sends it.
        target: String,
    },

    /// Two tensors of the file would restore the same variable.
    #[error("Variable {variable} would be restored from both {first} and {second} of checkpoint {path}")]
    DuplicateTarget {
        /// The file.
        path: PathBuf,
        /// The variable.
        variable: String,
        /// One tensor.
        first: String,
        /// The other.
        second: String,
    },

    /// A strict restore found variables without a tensor, or tensors without a variable.
    #[error("Strict restore from {path} failed: missing in the checkpoint: [{}]; in the checkpoint but not in the graph: [{}]", .missing_in_file.join(", "), .unexpected_in_file.join(", "))]
    Strict {
        /// The file.
        path: PathBuf,
        /// Variables (store keys) the file has no tensor for.
        missing_in_file: Vec<String>,
        /// Tensors no variable receives.
        unexpected_in_file: Vec<String>,
    },

    /// A variable whose dtype has no checkpoint form (string, complex).
    #[error("Variable {variable} has dtype {dtype}, which a checkpoint cannot hold")]
    UnsupportedDType {
        /// The variable.
        variable: String,
        /// Its dtype.
        dtype: DType,
    },

    /// Two variables to save under one tensor name, or a reserved name.
    #[error("Cannot save variable {variable} as tensor {name}: {reason}")]
    BadName {
        /// The tensor name.
        name: String,
        /// The variable.
        variable: String,
        /// Why (`another variable has this name`, `reserved by safetensors`).
        reason: String,
    },

    /// Saving some but not all shards of a partitioned variable.
    #[error("Cannot save partitioned variable {variable} without all of its shards: missing {}", .missing.join(", "))]
    IncompleteShards {
        /// The partitioned variable's key.
        variable: String,
        /// The shards not given.
        missing: Vec<String>,
    },

    /// A shard whose slice does not fit its partitioned variable's full shape.
    #[error("Shard {variable} has offset {} and shape {}, which do not fit in the full shape {}", fmt_shape(.offset), fmt_shape(.shape), fmt_shape(.full_shape))]
    BadSlice {
        /// The shard.
        variable: String,
        /// Its offset.
        offset: Vec<u64>,
        /// Its shape.
        shape: Vec<u64>,
        /// The full shape.
        full_shape: Vec<u64>,
    },

    /// A session error (uninitialized variable, placement, device memory, wgpu).
    #[error(transparent)]
    Gpu(#[from] GpuError),
}

fn tensor_note(t: &Option<String>) -> String {
    match t {
        Some(t) => format!(" in the entry of tensor {t}"),
        None => String::new(),
    }
}

fn fmt_shape(s: &[u64]) -> String {
    let parts: Vec<String> = s.iter().map(|d| d.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

/// Result with [`CheckpointError`].
pub type Result<T, E = CheckpointError> = std::result::Result<T, E>;

// ----- dtypes --------------------------------------------------------------------------

/// A safetensors dtype as stored in a file (`"F32"`). varscope variables use eight of
/// them; the others can be inspected but not restored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoredDType {
    /// `BOOL`.
    Bool,
    /// `U8`.
    U8,
    /// `I8`.
    I8,
    /// `F8_E5M2`.
    F8E5M2,
    /// `F8_E4M3`.
    F8E4M3,
    /// `I16`.
    I16,
    /// `U16`.
    U16,
    /// `F16`.
    F16,
    /// `BF16`.
    BF16,
    /// `I32`.
    I32,
    /// `U32`.
    U32,
    /// `F32`.
    F32,
    /// `F64`.
    F64,
    /// `I64`.
    I64,
    /// `U64`.
    U64,
}

impl StoredDType {
    const ALL: [StoredDType; 15] = [
        StoredDType::Bool,
        StoredDType::U8,
        StoredDType::I8,
        StoredDType::F8E5M2,
        StoredDType::F8E4M3,
        StoredDType::I16,
        StoredDType::U16,
        StoredDType::F16,
        StoredDType::BF16,
        StoredDType::I32,
        StoredDType::U32,
        StoredDType::F32,
        StoredDType::F64,
        StoredDType::I64,
        StoredDType::U64,
    ];

    /// The safetensors code (`"F32"`).
    pub fn code(self) -> &'static str {
        match self {
            StoredDType::Bool => "BOOL",
            StoredDType::U8 => "U8",
            StoredDType::I8 => "I8",
            StoredDType::F8E5M2 => "F8_E5M2",
            StoredDType::F8E4M3 => "F8_E4M3",
            StoredDType::I16 => "I16",
            StoredDType::U16 => "U16",
            StoredDType::F16 => "F16",
            StoredDType::BF16 => "BF16",
            StoredDType::I32 => "I32",
            StoredDType::U32 => "U32",
            StoredDType::F32 => "F32",
            StoredDType::F64 => "F64",
            StoredDType::I64 => "I64",
            StoredDType::U64 => "U64",
        }
    }

    /// Parses a safetensors code.
    pub fn from_code(code: &str) -> Option<StoredDType> {
        StoredDType::ALL.into_iter().find(|d| d.code() == code)
    }

    /// Bytes per element.
    pub fn size_bytes(self) -> usize {
        match self {
            StoredDType::Bool | StoredDType::U8 | StoredDType::I8 | StoredDType::F8E5M2 | StoredDType::F8E4M3 => 1,
            StoredDType::I16 | StoredDType::U16 | StoredDType::F16 | StoredDType::BF16 => 2,
            StoredDType::I32 | StoredDType::U32 | StoredDType::F32 => 4,
            StoredDType::F64 | StoredDType::I64 | StoredDType::U64 => 8,
        }
    }

    /// The varscope dtype with the same byte form, if any.
    pub fn dtype(self) -> Option<DType> {
        Some(match self {
            StoredDType::Bool => DType::Bool,
            StoredDType::F16 => DType::Float16,
            StoredDType::BF16 => DType::BFloat16,
            StoredDType::F32 => DType::Float32,
            StoredDType::F64 => DType::Float64,
            StoredDType::I32 => DType::Int32,
            StoredDType::I64 => DType::Int64,
            StoredDType::U32 => DType::UInt32,
            _ => return None,
        })
    }

    /// The stored form of a varscope dtype (`None` for string and complex).
    pub fn of(dtype: DType) -> Option<StoredDType> {
        Some(match dtype {
            DType::Bool => StoredDType::Bool,
            DType::Float16 => StoredDType::F16,
            DType::BFloat16 => StoredDType::BF16,
            DType::Float32 => StoredDType::F32,
            DType::Float64 => StoredDType::F64,
            DType::Int32 => StoredDType::I32,
            DType::Int64 => StoredDType::I64,
            DType::UInt32 => StoredDType::U32,
            _ => return None,
        })
    }
}

impl fmt::Display for StoredDType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.dtype() {
            Some(d) => write!(f, "{} ({d})", self.code()),
            None => f.write_str(self.code()),
        }
    }
}

/// Whether values stored as `from` can restore a variable of dtype `to`: the same byte
/// form, or a conversion within float16, bfloat16, float32 and float64 (rounded to
/// nearest even, NaN and infinities kept).
pub fn can_convert(from: StoredDType, to: DType) -> bool {
    match from.dtype() {
        Some(d) if d == to => true,
        Some(d) => d.is_floating() && to.is_floating(),
        None => false,
    }
}

// ----- checksum ------------------------------------------------------------------------

const P1: u64 = 0x9E37_79B1_85EB_CA87;
const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const P3: u64 = 0x1656_67B1_9E37_79F9;
const P4: u64 = 0x85EB_CA77_C2B2_AE63;
const P5: u64 = 0x27D4_EB2F_1656_67C5;

fn xxh_round(acc: u64, input: u64) -> u64 {
    acc.wrapping_add(input.wrapping_mul(P2)).rotate_left(31).wrapping_mul(P1)
}

fn xxh_merge(acc: u64, val: u64) -> u64 {
    (acc ^ xxh_round(0, val)).wrapping_mul(P1).wrapping_add(P4)
}

fn le64(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[..8]);
    u64::from_le_bytes(w)
}

/// XXH64 with seed 0: the checksum of each tensor's stored bytes.
pub fn xxh64(data: &[u8]) -> u64 {
    let len = data.len() as u64;
    let mut rest = data;
    let mut h = if data.len() >= 32 {
        let mut v = [P1.wrapping_add(P2), P2, 0, 0u64.wrapping_sub(P1)];
        while rest.len() >= 32 {
            for (i, acc) in v.iter_mut().enumerate() {
                *acc = xxh_round(*acc, le64(&rest[i * 8..]));
            }
            rest = &rest[32..];
        }
        let mut h = v[0]
            .rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18));
        for acc in v {
            h = xxh_merge(h, acc);
        }
        h
    } else {
        P5
    };
    h = h.wrapping_add(len);
    while rest.len() >= 8 {
        h ^= xxh_round(0, le64(rest));
        h = h.rotate_left(27).wrapping_mul(P1).wrapping_add(P4);
        rest = &rest[8..];
    }
    if rest.len() >= 4 {
        let w = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as u64;
        h ^= w.wrapping_mul(P1);
        h = h.rotate_left(23).wrapping_mul(P2).wrapping_add(P3);
        rest = &rest[4..];
    }
    for &b in rest {
        h ^= (b as u64).wrapping_mul(P5);
        h = h.rotate_left(11).wrapping_mul(P1);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(P2);
    h ^= h >> 29;
    h = h.wrapping_mul(P3);
    h ^= h >> 32;
    h
}

// ----- header model --------------------------------------------------------------------

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
    fn decode(s: &str, shape: &[u64]) -> std::result::Result<Partitioning, String> {
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
        if offsets[0] != 0 || offsets.windows(2).any(|w| w[0] >= w[1]) || offsets.last().is_some_and(|&o| o >= dim.max(1)) {
            return Err(format!("offsets {} are not strictly increasing from 0 within dimension {dim}", fmt_shape(&offsets)));
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
    /// Number of elements.
    pub fn num_elements(&self) -> u64 {
        self.shape.iter().product()
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
    /// Parses and validates the header of a checkpoint held in memory (the whole file):
    /// length prefix, JSON, tensor entries, offsets covering the data exactly, and
    /// varscope's metadata. Does not read tensor data (see [`CheckpointInfo::verify`]).
    /// Never panics, whatever the bytes.
    pub fn parse(file: &[u8]) -> Result<CheckpointInfo> {
        parse_file(file, Path::new("<memory>"))
    }

    /// The tensor named `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The bytes of tensor `t` within `file` (the bytes this info was parsed from).
    pub fn data<'a>(&self, file: &'a [u8], t: &TensorInfo) -> Option<&'a [u8]> {
        let start = usize::try_from(t.offset).ok()?;
        let end = start.checked_add(usize::try_from(t.bytes).ok()?)?;
        file.get(start..end)
    }

    /// Verifies every recorded checksum and the bytes of every bool tensor against
    /// `file` (the bytes this info was parsed from).
    pub fn verify(&self, file: &[u8]) -> Result<()> {
        for t in &self.tensors {
            check_tensor_bytes(self, file, t, Path::new("<memory>"))?;
        }
        Ok(())
    }
}

fn check_tensor_bytes(info: &CheckpointInfo, file: &[u8], t: &TensorInfo, path: &Path) -> Result<()> {
    let data = info.data(file, t).ok_or_else(|| CheckpointError::Truncated {
        path: path.to_path_buf(),
        section: "data",
        expected: t.offset.saturating_add(t.bytes),
        actual: file.len() as u64,
    })?;
    if let Some(expected) = t.checksum {
        let actual = xxh64(data);
        if actual != expected {
            return Err(CheckpointError::ChecksumMismatch { path: path.to_path_buf(), tensor: t.name.clone(), expected, actual });
        }
    }
    if t.stored_dtype == StoredDType::Bool {
        if let Some(i) = data.iter().position(|&b| b > 1) {
            return Err(CheckpointError::InvalidBool { path: path.to_path_buf(), tensor: t.name.clone(), index: i as u64, byte: data[i] });
        }
    }
    Ok(())
}

// ----- JSON header parser --------------------------------------------------------------

struct HeaderErr {
    offset: usize,
    tensor: Option<String>,
    reason: String,
}

type PResult<T> = std::result::Result<T, HeaderErr>;

struct Json<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Json<'a> {
    fn err<T>(&self, reason: impl Into<String>) -> PResult<T> {
        Err(HeaderErr { offset: self.pos, tensor: None, reason: reason.into() })
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn expect(&mut self, c: u8) -> PResult<()> {
        self.ws();
        match self.peek() {
            Some(b) if b == c => {
                self.pos += 1;
                Ok(())
            }
            Some(b) => self.err(format!("expected '{}', found '{}'", c as char, (b as char).escape_default())),
            None => self.err(format!("expected '{}', found the end of the header", c as char)),
        }
    }

    fn hex4(&mut self) -> PResult<u32> {
        let Some(h) = self.s.get(self.pos..self.pos + 4) else {
            return self.err("truncated \\u escape");
        };
        let Some(v) = std::str::from_utf8(h).ok().and_then(|h| u32::from_str_radix(h, 16).ok()) else {
            return self.err("invalid \\u escape");
        };
        if !h.iter().all(u8::is_ascii_hexdigit) {
            return self.err("invalid \\u escape");
        }
        self.pos += 4;
        Ok(v)
    }

    fn string(&mut self) -> PResult<String> {
        self.expect(b'"')?;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(b) = self.peek() else {
                return self.err("unterminated string");
            };
            self.pos += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let Some(e) = self.peek() else {
                        return self.err("unterminated escape");
                    };
                    self.pos += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi) {
                                if self.s.get(self.pos..self.pos + 2) != Some(b"\\u") {
                                    return self.err("unpaired surrogate in \\u escape");
                                }
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return self.err("unpaired surrogate in \\u escape");
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            match char::from_u32(cp) {
                                Some(c) => c,
                                None => return self.err("unpaired surrogate in \\u escape"),
                            }
                        }
                        _ => return self.err(format!("invalid escape '\\{}'", (e as char).escape_default())),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                0..=0x1f => return self.err("control character in string"),
                _ => out.push(b),
            }
        }
        // The header was checked to be UTF-8 and escapes produce UTF-8.
        match String::from_utf8(out) {
            Ok(s) => Ok(s),
            Err(_) => self.err("string is not UTF-8"),
        }
    }

    fn uint(&mut self) -> PResult<u64> {
        self.ws();
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        let digits = &self.s[start..self.pos];
        if digits.is_empty() || matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            self.pos = start;
            return self.err("expected a non-negative integer");
        }
        if digits.len() > 1 && digits[0] == b'0' {
            self.pos = start;
            return self.err("number with a leading zero");
        }
        let mut v: u64 = 0;
        for &d in digits {
            match v.checked_mul(10).and_then(|v| v.checked_add((d - b'0') as u64)) {
                Some(n) => v = n,
                None => {
                    self.pos = start;
                    return self.err("integer too large");
                }
            }
        }
        Ok(v)
    }

    fn uint_array(&mut self) -> PResult<Vec<u64>> {
        self.expect(b'[')?;
        let mut out = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(out);
        }
        loop {
            out.push(self.uint()?);
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(out);
                }
                _ => return self.err("expected ',' or ']' in array"),
            }
        }
    }

    /// Skips any JSON value (unknown fields), with a depth limit.
    fn skip_value(&mut self, depth: usize) -> PResult<()> {
        if depth > MAX_JSON_DEPTH {
            return self.err("JSON nested too deeply");
        }
        self.ws();
        match self.peek() {
            Some(b'"') => self.string().map(|_| ()),
            Some(b'{') => {
                self.pos += 1;
                self.ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    self.string()?;
                    self.expect(b':')?;
                    self.skip_value(depth + 1)?;
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(());
                        }
                        _ => return self.err("expected ',' or '}' in object"),
                    }
                }
            }
            Some(b'[') => {
                self.pos += 1;
                self.ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    self.skip_value(depth + 1)?;
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(());
                        }
                        _ => return self.err("expected ',' or ']' in array"),
                    }
                }
            }
            Some(b't') => self.literal("true"),
            Some(b'f') => self.literal("false"),
            Some(b'n') => self.literal("null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b) => self.err(format!("unexpected '{}'", (b as char).escape_default())),
            None => self.err("unexpected end of the header"),
        }
    }

    fn literal(&mut self, word: &str) -> PResult<()> {
        if self.s.get(self.pos..self.pos + word.len()) == Some(word.as_bytes()) {
            self.pos += word.len();
            Ok(())
        } else {
            self.err("invalid literal")
        }
    }

    fn number(&mut self) -> PResult<()> {
        let digits = |j: &mut Json| {
            let s = j.pos;
            while j.peek().is_some_and(|b| b.is_ascii_digit()) {
                j.pos += 1;
            }
            j.pos > s
        };
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        if !digits(self) {
            return self.err("invalid number");
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !digits(self) {
                return self.err("invalid number");
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !digits(self) {
                return self.err("invalid number");
            }
        }
        Ok(())
    }

    /// `{` key `:` value (`,` ...)* `}` with a callback per key.
    fn object(&mut self, mut f: impl FnMut(&mut Json<'a>, String) -> PResult<()>) -> PResult<()> {
        self.expect(b'{')?;
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.ws();
            let key = self.string()?;
            self.expect(b':')?;
            self.ws();
            f(self, key)?;
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return self.err("expected ',' or '}' in object"),
            }
        }
    }
}

struct RawEntry {
    name: String,
    dtype: StoredDType,
    shape: Vec<u64>,
    start: u64,
    end: u64,
}

type RawHeader = (Option<Vec<(String, String)>>, Vec<RawEntry>);

fn parse_json_header(text: &[u8]) -> PResult<RawHeader> {
    let mut j = Json { s: text, pos: 0 };
    let mut metadata: Option<Vec<(String, String)>> = None;
    let mut seen_meta = false;
    let mut entries: Vec<RawEntry> = Vec::new();
    let mut names: HashSet<String> = HashSet::new();
    j.ws();
    if j.peek() != Some(b'{') {
        return j.err("the header is not a JSON object");
    }
    j.object(|j, key| {
        if key == METADATA_KEY {
            if seen_meta {
                return j.err("duplicate __metadata__");
            }
            seen_meta = true;
            if j.peek() == Some(b'n') {
                return j.literal("null");
            }
            let mut map: Vec<(String, String)> = Vec::new();
            let mut keys = HashSet::new();
            j.object(|j, k| {
                let v = j.string()?;
                if !keys.insert(k.clone()) {
                    return j.err(format!("duplicate metadata key '{k}'"));
                }
                map.push((k, v));
                Ok(())
            })?;
            map.sort();
            metadata = Some(map);
            return Ok(());
        }
        if !names.insert(key.clone()) {
            return j.err(format!("duplicate tensor {key}"));
        }
        let entry = tensor_entry(j, &key).map_err(|mut e| {
            e.tensor = Some(key.clone());
            e
        })?;
        entries.push(entry);
        Ok(())
    })?;
    j.ws();
    if j.pos != text.len() {
        return j.err("unexpected bytes after the header object");
    }
    Ok((metadata, entries))
}

fn tensor_entry(j: &mut Json, name: &str) -> PResult<RawEntry> {
    let mut dtype = None;
    let mut shape = None;
    let mut offsets = None;
    j.object(|j, field| {
        let dup = |j: &Json| j.err::<()>(format!("duplicate field '{field}'"));
        match field.as_str() {
            "dtype" => {
                if dtype.is_some() {
                    return dup(j);
                }
                let at = j.pos;
                let code = j.string()?;
                match StoredDType::from_code(&code) {
                    Some(d) => dtype = Some(d),
                    None => {
                        j.pos = at;
                        return j.err(format!("unknown dtype '{}'", code.escape_default()));
                    }
                }
            }
            "shape" => {
                if shape.is_some() {
                    return dup(j);
                }
                shape = Some(j.uint_array()?);
            }
            "data_offsets" => {
                if offsets.is_some() {
                    return dup(j);
                }
                let at = j.pos;
                let o = j.uint_array()?;
                if o.len() != 2 {
                    j.pos = at;
                    return j.err(format!("data_offsets has {} numbers, not 2", o.len()));
                }
                offsets = Some((o[0], o[1]));
            }
            _ => j.skip_value(1)?,
        }
        Ok(())
    })?;
    let missing = |f: &str| HeaderErr { offset: j.pos, tensor: Some(name.to_string()), reason: format!("missing field '{f}'") };
    let dtype = dtype.ok_or_else(|| missing("dtype"))?;
    let shape = shape.ok_or_else(|| missing("shape"))?;
    let (start, end) = offsets.ok_or_else(|| missing("data_offsets"))?;
    Ok(RawEntry { name: name.to_string(), dtype, shape, start, end })
}

fn parse_file(file: &[u8], path: &Path) -> Result<CheckpointInfo> {
    let file_len = file.len() as u64;
    let corrupt = |tensor: Option<String>, offset: u64, reason: String| CheckpointError::CorruptHeader {
        path: path.to_path_buf(),
        tensor,
        offset,
        reason,
    };
    if file.len() < 8 {
        return Err(CheckpointError::Truncated { path: path.to_path_buf(), section: "header", expected: 8, actual: file_len });
    }
    let n = le64(file);
    if n > MAX_HEADER_BYTES {
        return Err(corrupt(None, 0, format!("header length {n} exceeds the limit of {MAX_HEADER_BYTES} bytes")));
    }
    if n == 0 {
        return Err(corrupt(None, 0, "header length is 0".into()));
    }
    let header_end = 8 + n;
    if header_end > file_len {
        return Err(CheckpointError::Truncated { path: path.to_path_buf(), section: "header", expected: header_end, actual: file_len });
    }
    let text = &file[8..header_end as usize];
    if let Err(e) = std::str::from_utf8(text) {
        return Err(corrupt(None, e.valid_up_to() as u64, "the header is not UTF-8".into()));
    }
    let (metadata, mut entries) =
        parse_json_header(text).map_err(|e| corrupt(e.tensor, e.offset as u64, e.reason))?;

    // Offsets: sorted, contiguous from 0, sizes matching dtype and shape.
    entries.sort_by_key(|e| (e.start, e.end));
    let mut pos = 0u64;
    for e in &entries {
        let bad = |reason: String| corrupt(Some(e.name.clone()), 0, reason);
        if e.start != pos || e.end < e.start {
            return Err(bad(format!(
                "data_offsets [{}, {}] do not continue the data at offset {pos} (tensors must be contiguous, in order)",
                e.start, e.end
            )));
        }
        let bytes = e
            .shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .and_then(|n| n.checked_mul(e.dtype.size_bytes() as u64));
        if bytes != Some(e.end - e.start) {
            return Err(bad(format!(
                "shape {} of {} needs {} bytes, but data_offsets give {}",
                fmt_shape(&e.shape),
                e.dtype.code(),
                bytes.map(|b| b.to_string()).unwrap_or_else(|| "more than 2^64".into()),
                e.end - e.start
            )));
        }
        pos = e.end;
    }
    let data_len = file_len - header_end;
    match header_end.checked_add(pos) {
        Some(total) if total > file_len => {
            return Err(CheckpointError::Truncated { path: path.to_path_buf(), section: "data", expected: total, actual: file_len })
        }
        None => {
            return Err(CheckpointError::Truncated { path: path.to_path_buf(), section: "data", expected: u64::MAX, actual: file_len })
        }
        Some(_) if pos < data_len => {
            return Err(corrupt(None, 0, format!("{} bytes follow the last tensor's data", data_len - pos)));
        }
        Some(_) => {}
    }

    let mut tensors: Vec<TensorInfo> = entries
        .into_iter()
        .map(|e| TensorInfo {
            name: e.name,
            stored_dtype: e.dtype,
            offset: header_end + e.start,
            bytes: e.end - e.start,
            shape: e.shape,
            checksum: None,
            partitioning: None,
        })
        .collect();
    let metadata = metadata.unwrap_or_default();
    let (format_version, graph_seed) = apply_metadata(&metadata, &mut tensors, path)?;
    Ok(CheckpointInfo { tensors, format_version, graph_seed, metadata, header_bytes: n, file_bytes: file_len })
}

fn apply_metadata(meta: &[(String, String)], tensors: &mut [TensorInfo], path: &Path) -> Result<(Option<u32>, Option<u64>)> {
    let bad = |key: &str, reason: String| CheckpointError::CorruptMetadata { path: path.to_path_buf(), key: key.to_string(), reason };
    let get = |k: &str| meta.iter().find(|(mk, _)| mk == k).map(|(_, v)| v.as_str());
    let Some(version) = get(FORMAT_VERSION_KEY) else {
        return Ok((None, None));
    };
    if version != FORMAT_VERSION.to_string() {
        return Err(CheckpointError::UnsupportedVersion { path: path.to_path_buf(), version: version.to_string() });
    }
    let graph_seed = match get(GRAPH_SEED_KEY) {
        None | Some("none") => None,
        Some(s) => Some(s.parse::<u64>().map_err(|_| bad(GRAPH_SEED_KEY, format!("'{s}' is not a seed")))?),
    };
    match get(CHECKSUM_ALGORITHM_KEY) {
        Some("xxh64") => {}
        other => return Err(bad(CHECKSUM_ALGORITHM_KEY, format!("unsupported checksum algorithm {other:?} (expected \"xxh64\")"))),
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
            return Err(bad(k, format!("the file has no tensor {name}")));
        };
        let t = &mut tensors[i];
        match prefix {
            DTYPE_PREFIX => {
                let d = DType::from_name(v).ok_or_else(|| bad(k, format!("unknown dtype '{v}'")))?;
                if StoredDType::of(d) != Some(t.stored_dtype) {
                    return Err(bad(k, format!("dtype {d} does not match the stored dtype {}", t.stored_dtype.code())));
                }
                has_dtype[i] = true;
            }
            CHECKSUM_PREFIX => {
                let hex = v
                    .strip_prefix("xxh64:")
                    .filter(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()))
                    .ok_or_else(|| bad(k, format!("'{v}' is not 'xxh64:' and 16 hex digits")))?;
                t.checksum = u64::from_str_radix(hex, 16).ok();
            }
            _ => t.partitioning = Some(Partitioning::decode(v, &t.shape).map_err(|r| bad(k, r))?),
        }
    }
    for (t, has) in tensors.iter().zip(has_dtype) {
        if t.checksum.is_none() {
            return Err(bad(&format!("{CHECKSUM_PREFIX}{}", t.name), "missing: every tensor of a varscope checkpoint has a checksum".into()));
        }
        if !has {
            return Err(bad(&format!("{DTYPE_PREFIX}{}", t.name), "missing: every tensor of a varscope checkpoint has a dtype".into()));
        }
    }
    Ok((Some(FORMAT_VERSION), graph_seed))
}

// ----- JSON writer ---------------------------------------------------------------------

fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

struct OutTensor {
    name: String,
    dtype: DType,
    shape: Vec<u64>,
    bytes: u64,
    partitioning: Option<Partitioning>,
}

/// The JSON header, padded with spaces so that `8 + len` is a multiple of 8. Checksums
/// are fixed-width, so the header with placeholders has the final header's length.
fn header_json(tensors: &[OutTensor], checksums: &[u64], graph_seed: Option<u64>) -> Vec<u8> {
    let mut meta: Vec<(String, String)> = vec![
        (FORMAT_VERSION_KEY.into(), FORMAT_VERSION.to_string()),
        (GRAPH_SEED_KEY.into(), graph_seed.map(|s| s.to_string()).unwrap_or_else(|| "none".into())),
        (CHECKSUM_ALGORITHM_KEY.into(), "xxh64".into()),
    ];
    for (t, c) in tensors.iter().zip(checksums) {
        meta.push((format!("{DTYPE_PREFIX}{}", t.name), t.dtype.name().into()));
        meta.push((format!("{CHECKSUM_PREFIX}{}", t.name), format!("xxh64:{c:016x}")));
        if let Some(p) = &t.partitioning {
            meta.push((format!("{PARTITIONING_PREFIX}{}", t.name), p.encode()));
        }
    }
    let mut s = String::from("{");
    json_str(&mut s, METADATA_KEY);
    s.push_str(":{");
    for (i, (k, v)) in meta.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        json_str(&mut s, k);
        s.push(':');
        json_str(&mut s, v);
    }
    s.push('}');
    let mut off = 0u64;
    for t in tensors {
        s.push(',');
        json_str(&mut s, &t.name);
        let dims: Vec<String> = t.shape.iter().map(|d| d.to_string()).collect();
        let code = StoredDType::of(t.dtype).map(|d| d.code()).unwrap_or("U8");
        s.push_str(&format!(":{{\"dtype\":\"{code}\",\"shape\":[{}],\"data_offsets\":[{off},{}]}}", dims.join(","), off + t.bytes));
        off += t.bytes;
    }
    s.push('}');
    while (s.len() + 8) % 8 != 0 {
        s.push(' ');
    }
    s.into_bytes()
}

// ----- variables, shards, slices -------------------------------------------------------

/// What a tensor name stands for in the graph: a variable, or (some of) the shards of a
/// partitioned variable.
struct Unit {
    name: String,
    dtype: DType,
    full_shape: Vec<u64>,
    /// (variable, offset in the full shape, shape); one entry with zero offset for an
    /// unpartitioned variable.
    parts: Vec<(Variable, Vec<u64>, Vec<u64>)>,
    partitioned: bool,
}

/// The tensor name of an unpartitioned variable: its store key, without the trailing `/`
/// of slot variables (`get_variable("")` in scope `foo/v/Adam` has the store key
/// `foo/v/Adam/` and the op name `foo/v/Adam`, TensorFlow's checkpoint name).
fn tensor_name(v: &Variable) -> String {
    let k = v.key();
    match k.strip_suffix('/') {
        Some(t) if !t.is_empty() => t.to_string(),
        _ => k.to_string(),
    }
}

fn unknown_shape(v: &Variable) -> CheckpointError {
    CheckpointError::Gpu(GpuError::UnknownShape { variable: v.key().to_string(), shape: v.shape().to_string() })
}

/// Groups variables into units (shards under their partitioned variable's key), in
/// first-appearance order, skipping duplicates. Checks each shard's slice.
fn units_of(graph: &Graph, vars: &[Variable]) -> Result<Vec<Unit>> {
    let mut units: Vec<Unit> = Vec::new();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    let mut seen = HashSet::new();
    for v in vars {
        if !seen.insert(v.id()) {
            continue;
        }
        if v.graph_id() != graph.id() {
            return Err(GpuError::ForeignVariable { variable: v.key().to_string() }.into());
        }
        let dims = v.dims().ok_or_else(|| unknown_shape(v))?;
        let (name, full, offset, partitioned) = match v.slice_info() {
            Some(si) => (si.full_name.clone(), si.full_shape.clone(), si.var_offset.clone(), true),
            None => (tensor_name(v), dims.clone(), vec![0; dims.len()], false),
        };
        let fits = full.len() == dims.len()
            && offset.len() == dims.len()
            && (0..dims.len()).all(|i| offset[i].checked_add(dims[i]).is_some_and(|e| e <= full[i]));
        if !fits {
            return Err(CheckpointError::BadSlice { variable: v.key().to_string(), offset, shape: dims, full_shape: full });
        }
        match by_name.get(&name) {
            Some(&i) if units[i].partitioned && partitioned && units[i].full_shape == full && units[i].dtype == v.dtype() => {
                units[i].parts.push((v.clone(), offset, dims));
            }
            Some(_) => {
                return Err(CheckpointError::BadName {
                    name,
                    variable: v.key().to_string(),
                    reason: "another variable or partitioned variable has this name".into(),
                })
            }
            None => {
                by_name.insert(name.clone(), units.len());
                units.push(Unit { name, dtype: v.dtype(), full_shape: full, parts: vec![(v.clone(), offset, dims)], partitioned });
            }
        }
    }
    Ok(units)
}

/// Calls `f(start_element, count)` for each contiguous run of the region `offset`,
/// `size` of a row-major tensor of shape `full`, in the region's row-major order.
fn for_each_run(full: &[u64], offset: &[u64], size: &[u64], mut f: impl FnMut(u64, u64)) {
    if size.contains(&0) {
        return;
    }
    let r = full.len();
    let mut stride = vec![1u64; r];
    for i in (0..r.saturating_sub(1)).rev() {
        stride[i] = stride[i + 1] * full[i + 1];
    }
    // Merge trailing dims the region covers fully, plus the first partial one.
    let mut d = r;
    let mut block = 1u64;
    while d > 0 && size[d - 1] == full[d - 1] {
        block *= full[d - 1];
        d -= 1;
    }
    if d > 0 {
        block *= size[d - 1];
        d -= 1;
    }
    let base: u64 = (0..r).map(|j| offset[j] * stride[j]).sum();
    let outer: u64 = size[..d].iter().product();
    let mut idx = vec![0u64; d];
    for _ in 0..outer {
        let start = base + (0..d).map(|j| idx[j] * stride[j]).sum::<u64>();
        f(start, block);
        for j in (0..d).rev() {
            idx[j] += 1;
            if idx[j] < size[j] {
                break;
            }
            idx[j] = 0;
        }
    }
}

/// Appends `src` (elements stored as `from`) converted to `to` (see [`can_convert`]).
fn convert_into(src: &[u8], from: StoredDType, to: DType, out: &mut Vec<u8>) {
    let Some(fd) = from.dtype() else { return };
    if fd == to {
        out.extend_from_slice(src);
        return;
    }
    let eb = from.size_bytes();
    for c in src.chunks_exact(eb) {
        let x: f64 = match from {
            StoredDType::F16 => f16::from_le_bytes([c[0], c[1]]).to_f64(),
            StoredDType::BF16 => bf16::from_le_bytes([c[0], c[1]]).to_f64(),
            StoredDType::F32 => f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64,
            _ => f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]),
        };
        // f16, bf16 and f32 are exact in f64, so each conversion rounds once.
        match to {
            DType::Float16 => out.extend_from_slice(&f16::from_f64(x).to_le_bytes()),
            DType::BFloat16 => out.extend_from_slice(&bf16::from_f64(x).to_le_bytes()),
            DType::Float32 => out.extend_from_slice(&(x as f32).to_le_bytes()),
            _ => out.extend_from_slice(&x.to_le_bytes()),
        }
    }
}

// ----- save ----------------------------------------------------------------------------

/// Options of [`save`]. Build with the setters from `default()`.
#[derive(Clone, Debug, Default)]
pub struct SaveOptions {
    variables: Option<Vec<Variable>>,
    fail_after_bytes: Option<u64>,
}

impl SaveOptions {
    /// The variables to save (default: the graph's global variables). Shards of a
    /// partitioned variable are saved together as its full tensor, so all of them must be
    /// given. Optimizer slots are variables like any other.
    pub fn variables(mut self, vars: impl Into<Vec<Variable>>) -> Self {
        self.variables = Some(vars.into());
        self
    }

    /// Test hook: the save fails with an I/O error once this many bytes of the temporary
    /// file are written, as a crash half-way would leave it.
    #[doc(hidden)]
    pub fn fail_after_bytes(mut self, bytes: u64) -> Self {
        self.fail_after_bytes = Some(bytes);
        self
    }
}

/// What [`save`] wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct SaveReport {
    /// The checkpoint file.
    pub path: PathBuf,
    /// The tensors written, in file order, with their checksums.
    pub tensors: Vec<TensorInfo>,
    /// Bytes of the file.
    pub bytes: u64,
}

/// A writer that fails after a byte budget (the [`SaveOptions::fail_after_bytes`] hook).
struct Budget<W> {
    inner: W,
    left: Option<u64>,
}

impl<W: Write> Write for Budget<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = match self.left {
            Some(0) => return Err(io::Error::other("injected failure (SaveOptions::fail_after_bytes)")),
            Some(left) => buf.len().min(usize::try_from(left).unwrap_or(usize::MAX)),
            None => buf.len(),
        };
        let n = self.inner.write(&buf[..n])?;
        if let Some(left) = &mut self.left {
            *left -= n as u64;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Saves variables of `session` (default: all global variables) to the safetensors file
/// `path`, atomically. Every variable must be initialized. See the module documentation
/// for the format.
pub fn save(session: &Session, path: impl AsRef<Path>, options: &SaveOptions) -> Result<SaveReport> {
    let path = path.as_ref();
    let graph = session.graph();
    let vars = match &options.variables {
        Some(v) => v.clone(),
        None => graph.global_variables(),
    };
    let units = units_of(graph, &vars)?;

    // Validate everything before creating any file.
    let mut out = Vec::with_capacity(units.len());
    for u in &units {
        if StoredDType::of(u.dtype).is_none() {
            return Err(CheckpointError::UnsupportedDType { variable: u.name.clone(), dtype: u.dtype });
        }
        if u.name == METADATA_KEY {
            return Err(CheckpointError::BadName { name: u.name.clone(), variable: u.name.clone(), reason: "the name is reserved by safetensors".into() });
        }
        for (v, _, _) in &u.parts {
            if !session.is_variable_initialized(v) {
                return Err(GpuError::Uninitialized { variable: v.op_name().to_string() }.into());
            }
        }
        let elems: u64 = u.full_shape.iter().product();
        let bytes = elems * u.dtype.size_bytes() as u64;
        let partitioning = if u.partitioned {
            let have: u64 = u.parts.iter().map(|(_, _, s)| s.iter().product::<u64>()).sum();
            let given: HashSet<u64> = u.parts.iter().map(|(v, _, _)| v.id()).collect();
            let all = graph.partitioned_variable(&u.name).map(|p| p.shards().to_vec()).unwrap_or_default();
            let missing: Vec<String> = all.iter().filter(|s| !given.contains(&s.id())).map(|s| s.key().to_string()).collect();
            if !missing.is_empty() || have != elems {
                return Err(CheckpointError::IncompleteShards { variable: u.name.clone(), missing });
            }
            let axis = u.parts[0].2.iter().zip(&u.full_shape).position(|(a, b)| a != b).unwrap_or(0);
            let mut offsets: Vec<u64> = u.parts.iter().map(|(_, o, _)| o.get(axis).copied().unwrap_or(0)).collect();
            offsets.sort_unstable();
            Some(Partitioning { axis, offsets })
        } else {
            None
        };
        out.push(OutTensor { name: u.name.clone(), dtype: u.dtype, shape: u.full_shape.clone(), bytes, partitioning });
    }

    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).ok_or_else(|| CheckpointError::Io {
        path: path.to_path_buf(),
        operation: "save to".into(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name"),
    })?;
    let (tmp_path, file) = loop {
        let k = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let p = dir.join(format!(".{file_name}.tmp-{}-{k}", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&p) {
            Ok(f) => break (p, f),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(CheckpointError::Io { path: p, operation: "create".into(), source: e }),
        }
    };
    let res = write_tmp(session, &units, &out, file, &tmp_path, options).and_then(|checksums| {
        fs::rename(&tmp_path, path).map_err(|e| CheckpointError::Io {
            path: tmp_path.clone(),
            operation: format!("rename to {}", path.display()),
            source: e,
        })?;
        Ok(checksums)
    });
    let checksums = match res {
        Ok(c) => c,
        Err(e) => {
            let _ = fs::remove_file(&tmp_path);
            return Err(e);
        }
    };
    #[cfg(unix)]
    if let Ok(d) = File::open(&dir) {
        d.sync_all().map_err(|e| CheckpointError::Io { path: dir.clone(), operation: "sync directory".into(), source: e })?;
    }
    let header = header_json(&out, &checksums, graph.seed());
    let mut offset = 8 + header.len() as u64;
    let tensors = out
        .into_iter()
        .zip(checksums)
        .map(|(t, c)| {
            let info = TensorInfo {
                stored_dtype: StoredDType::of(t.dtype).unwrap_or(StoredDType::U8),
                offset,
                bytes: t.bytes,
                checksum: Some(c),
                name: t.name,
                shape: t.shape,
                partitioning: t.partitioning,
            };
            offset += info.bytes;
            info
        })
        .collect();
    Ok(SaveReport { path: path.to_path_buf(), tensors, bytes: offset })
}

/// Writes the temporary file: header with placeholder checksums, each tensor's bytes
/// (one tensor in host memory at a time), then the final header; flushes and syncs.
fn write_tmp(
    session: &Session,
    units: &[Unit],
    out: &[OutTensor],
    file: File,
    tmp: &Path,
    options: &SaveOptions,
) -> Result<Vec<u64>> {
    let io_err = |operation: &str| {
        let operation = operation.to_string();
        move |e: io::Error| CheckpointError::Io { path: tmp.to_path_buf(), operation, source: e }
    };
    let graph_seed = session.graph().seed();
    let mut checksums = vec![0u64; out.len()];
    let placeholder = header_json(out, &checksums, graph_seed);
    let mut w = Budget { inner: io::BufWriter::with_capacity(1 << 20, file), left: options.fail_after_bytes };
    w.write_all(&(placeholder.len() as u64).to_le_bytes()).map_err(io_err("write"))?;
    w.write_all(&placeholder).map_err(io_err("write"))?;
    for ((u, t), sum) in units.iter().zip(out).zip(checksums.iter_mut()) {
        let bytes = if u.partitioned {
            let eb = u.dtype.size_bytes() as u64;
            let mut full = vec![0u8; t.bytes as usize];
            for (v, offset, shape) in &u.parts {
                let vals = session.read(v)?;
                let src = vals.bytes();
                let mut pos = 0usize;
                for_each_run(&u.full_shape, offset, shape, |start, count| {
                    let (s, n) = ((start * eb) as usize, (count * eb) as usize);
                    full[s..s + n].copy_from_slice(&src[pos..pos + n]);
                    pos += n;
                });
            }
            full
        } else {
            session.read(&u.parts[0].0)?.into_bytes()
        };
        *sum = xxh64(&bytes);
        w.write_all(&bytes).map_err(io_err("write"))?;
    }
    w.flush().map_err(io_err("write"))?;
    let Budget { inner, left } = w;
    let mut file = inner.into_inner().map_err(|e| CheckpointError::Io {
        path: tmp.to_path_buf(),
        operation: "write".into(),
        source: io::Error::new(e.error().kind(), e.error().to_string()),
    })?;
    let header = header_json(out, &checksums, graph_seed);
    debug_assert_eq!(header.len(), placeholder.len());
    let mut w = Budget { inner: &mut file, left };
    w.inner.seek(SeekFrom::Start(8)).map_err(io_err("seek in"))?;
    w.write_all(&header).map_err(io_err("write"))?;
    file.sync_all().map_err(io_err("sync"))?;
    Ok(checksums)
}

// ----- restore -------------------------------------------------------------------------

/// Options of [`restore`]. Build with the setters from `default()`.
#[derive(Clone, Debug, Default)]
pub struct RestoreOptions {
    assignment_map: Vec<(String, String)>,
    strict: bool,
    variables: Option<Vec<Variable>>,
}

impl RestoreOptions {
    /// Adds an assignment-map entry, as in `init_from_checkpoint`: `from` names the
    /// checkpoint side, `to` the graph side. `"old_scope/" -> "new_scope/"` maps a scope
    /// (both sides must end in `/`; `"/"` alone is the root), `"old/v" -> "new/w"` one
    /// tensor. An exact entry beats a scope entry, and the longest scope wins. With a
    /// non-empty map only the tensors it matches are restored; an entry that matches no
    /// tensor, or sends one to a name that is not a variable being restored, is an error.
    pub fn map(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.assignment_map.push((from.into(), to.into()));
        self
    }

    /// Replaces the whole assignment map.
    pub fn assignment_map(mut self, map: impl IntoIterator<Item = (String, String)>) -> Self {
        self.assignment_map = map.into_iter().collect();
        self
    }

    /// Strict mode: a variable the file has no tensor for, or a tensor no variable
    /// receives, is an error (and nothing is restored). Default: reported, not an error.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// The variables to restore (default: the graph's global variables). Shards go by
    /// their partitioned variable's key and take their slice of its full tensor; any
    /// subset of the shards may be given.
    pub fn variables(mut self, vars: impl Into<Vec<Variable>>) -> Self {
        self.variables = Some(vars.into());
        self
    }
}

/// One variable (or partitioned variable) a restore wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restored {
    /// The tensor it came from.
    pub tensor: String,
    /// The variable's store key (a partitioned variable's key for shards).
    pub variable: String,
    /// The dtype in the file.
    pub file_dtype: StoredDType,
    /// The variable's dtype (differs from `file_dtype` when converted).
    pub dtype: DType,
    /// Shards written (1 for an unpartitioned variable).
    pub shards: usize,
}

/// What [`restore`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// What was restored, in file order.
    pub restored: Vec<Restored>,
    /// Variables being restored (store keys) that no tensor of the file reached.
    pub missing_in_file: Vec<String>,
    /// Tensors of the file that no variable received.
    pub unexpected_in_file: Vec<String>,
    /// The graph seed the checkpoint was saved with, if recorded.
    pub saved_graph_seed: Option<u64>,
}

/// One tensor to unit assignment of a restore plan.
struct Pair {
    tensor: usize,
    unit: usize,
}

struct Plan {
    pairs: Vec<Pair>,
    missing: Vec<String>,
    unexpected: Vec<String>,
}

fn scope_prefix(s: &str) -> &str {
    if s == "/" {
        ""
    } else {
        s
    }
}

/// Matches tensors to units by name through the assignment map, and checks every pair's
/// shape, dtype and (for the pairs it will use) bytes. No session needed.
fn plan_restore(info: &CheckpointInfo, file: &[u8], units: &[Unit], map: &[(String, String)], strict: bool, path: &Path) -> Result<Plan> {
    for (from, to) in map {
        if from.ends_with('/') != to.ends_with('/') {
            return Err(CheckpointError::InvalidMapEntry { from: from.clone(), to: to.clone() });
        }
    }
    let by_name: HashMap<&str, usize> = units.iter().enumerate().map(|(i, u)| (u.name.as_str(), i)).collect();
    let mut used_entry = vec![false; map.len()];
    let mut claimed: HashMap<usize, usize> = HashMap::new();
    let mut pairs = Vec::new();
    let mut unexpected = Vec::new();
    for (ti, t) in info.tensors.iter().enumerate() {
        let target: Option<(String, bool)> = if map.is_empty() {
            Some((t.name.clone(), false))
        } else if let Some(i) = map.iter().position(|(f, _)| !f.ends_with('/') && *f == t.name) {
            used_entry[i] = true;
            Some((map[i].1.clone(), true))
        } else {
            let best = map
                .iter()
                .enumerate()
                .filter(|(_, (f, _))| f.ends_with('/') && t.name.starts_with(scope_prefix(f)))
                .max_by_key(|(_, (f, _))| scope_prefix(f).len());
            best.map(|(i, (f, to))| {
                used_entry[i] = true;
                (format!("{}{}", scope_prefix(to), &t.name[scope_prefix(f).len()..]), true)
            })
        };
        let Some((target, mapped)) = target else {
            unexpected.push(t.name.clone());
            continue;
        };
        let Some(&ui) = by_name.get(target.as_str()) else {
            if mapped {
                return Err(CheckpointError::MapTargetNotFound { path: path.to_path_buf(), tensor: t.name.clone(), target });
            }
            unexpected.push(t.name.clone());
            continue;
        };
        if let Some(&prev) = claimed.get(&ui) {
            return Err(CheckpointError::DuplicateTarget {
                path: path.to_path_buf(),
                variable: units[ui].name.clone(),
                first: info.tensors[prev].name.clone(),
                second: t.name.clone(),
            });
        }
        claimed.insert(ui, ti);
        pairs.push(Pair { tensor: ti, unit: ui });
    }
    if let Some(i) = used_entry.iter().position(|u| !u) {
        return Err(CheckpointError::MapSourceNotFound { path: path.to_path_buf(), from: map[i].0.clone(), to: map[i].1.clone() });
    }
    let missing: Vec<String> = units.iter().enumerate().filter(|(i, _)| !claimed.contains_key(i)).map(|(_, u)| u.name.clone()).collect();
    if strict && (!missing.is_empty() || !unexpected.is_empty()) {
        return Err(CheckpointError::Strict { path: path.to_path_buf(), missing_in_file: missing, unexpected_in_file: unexpected });
    }
    for p in &pairs {
        let (t, u) = (&info.tensors[p.tensor], &units[p.unit]);
        if t.shape != u.full_shape {
            return Err(CheckpointError::ShapeMismatch {
                path: path.to_path_buf(),
                tensor: t.name.clone(),
                variable: u.name.clone(),
                file_shape: t.shape.clone(),
                graph_shape: u.full_shape.clone(),
            });
        }
        if !can_convert(t.stored_dtype, u.dtype) {
            return Err(CheckpointError::DTypeMismatch {
                path: path.to_path_buf(),
                tensor: t.name.clone(),
                variable: u.name.clone(),
                file_dtype: t.stored_dtype,
                dtype: u.dtype,
            });
        }
    }
    for p in &pairs {
        check_tensor_bytes(info, file, &info.tensors[p.tensor], path)?;
    }
    Ok(Plan { pairs, missing, unexpected })
}

/// The host values of one part (a variable or shard) of `unit` from tensor `t`: its
/// region of the full tensor, converted to the variable's dtype.
fn part_values(info: &CheckpointInfo, file: &[u8], t: &TensorInfo, unit: &Unit, part: usize) -> Option<HostValues> {
    let data = info.data(file, t)?;
    let (_, offset, shape) = &unit.parts[part];
    let eb = t.stored_dtype.size_bytes() as u64;
    let n: u64 = shape.iter().product();
    let mut out = Vec::with_capacity((n as usize).saturating_mul(unit.dtype.size_bytes()));
    for_each_run(&unit.full_shape, offset, shape, |start, count| {
        let (s, len) = ((start * eb) as usize, (count * eb) as usize);
        convert_into(&data[s..s + len], t.stored_dtype, unit.dtype, &mut out);
    });
    HostValues::from_bytes(unit.dtype, shape, out).ok()
}

/// Restores variables of `session` from the safetensors file `path`: by name, through
/// the assignment map, into any partitioning, converting between float dtypes.
/// Restored variables count as initialized (initializers skip them).
///
/// Everything is validated before any variable is written; on error no variable
/// changes. The file is memory-mapped and values are streamed one variable (or shard)
/// at a time. Files from other tools (PyTorch, candle) load by name.
pub fn restore(session: &Session, path: impl AsRef<Path>, options: &RestoreOptions) -> Result<RestoreReport> {
    let path = path.as_ref();
    let graph = session.graph();
    let vars = match &options.variables {
        Some(v) => v.clone(),
        None => graph.global_variables(),
    };
    let units = units_of(graph, &vars)?;
    for u in &units {
        if StoredDType::of(u.dtype).is_none() {
            return Err(CheckpointError::UnsupportedDType { variable: u.name.clone(), dtype: u.dtype });
        }
    }

    let file = File::open(path).map_err(|e| CheckpointError::Io { path: path.to_path_buf(), operation: "open".into(), source: e })?;
    let len = file
        .metadata()
        .map_err(|e| CheckpointError::Io { path: path.to_path_buf(), operation: "stat".into(), source: e })?
        .len();
    if len < 8 {
        return Err(CheckpointError::Truncated { path: path.to_path_buf(), section: "header", expected: 8, actual: len });
    }
    // SAFETY: the map is read-only and lives for this call. Another process truncating
    // or rewriting the file meanwhile is outside what a checkpoint reader can defend
    // against (save never does it: it renames a new file over the old one).
    let map = unsafe { memmap2::Mmap::map(&file) }
        .map_err(|e| CheckpointError::Io { path: path.to_path_buf(), operation: "memory-map".into(), source: e })?;
    let bytes: &[u8] = &map;
    let info = parse_file(bytes, path)?;
    let plan = plan_restore(&info, bytes, &units, &options.assignment_map, options.strict, path)?;

    // Device side: placement, dtype support, size and memory of every target, all at once.
    let targets: Vec<Variable> =
        plan.pairs.iter().flat_map(|p| units[p.unit].parts.iter().map(|(v, _, _)| v.clone())).collect();
    let made = session.materialize(&targets)?;

    let mut restored = Vec::with_capacity(plan.pairs.len());
    for p in &plan.pairs {
        let (t, u) = (&info.tensors[p.tensor], &units[p.unit]);
        for (i, (v, _, _)) in u.parts.iter().enumerate() {
            let written = match part_values(&info, bytes, t, u, i) {
                Some(vals) => session.assign(v, &vals),
                None => Err(GpuError::BadHostBytes { dtype: u.dtype, elements: u.parts[i].2.iter().product(), len: 0 }),
            };
            if let Err(e) = written {
                session.free(&made);
                return Err(e.into());
            }
        }
        restored.push(Restored {
            tensor: t.name.clone(),
            variable: u.name.clone(),
            file_dtype: t.stored_dtype,
            dtype: u.dtype,
            shards: u.parts.len(),
        });
    }
    Ok(RestoreReport {
        restored,
        missing_in_file: plan.missing,
        unexpected_in_file: plan.unexpected,
        saved_graph_seed: info.graph_seed,
    })
}

// ----- inspection ----------------------------------------------------------------------

fn map_file(path: &Path) -> Result<Option<memmap2::Mmap>> {
    let file = File::open(path).map_err(|e| CheckpointError::Io { path: path.to_path_buf(), operation: "open".into(), source: e })?;
    let len = file
        .metadata()
        .map_err(|e| CheckpointError::Io { path: path.to_path_buf(), operation: "stat".into(), source: e })?
        .len();
    if len == 0 {
        return Ok(None);
    }
    // SAFETY: as in `restore`.
    let map = unsafe { memmap2::Mmap::map(&file) }
        .map_err(|e| CheckpointError::Io { path: path.to_path_buf(), operation: "memory-map".into(), source: e })?;
    Ok(Some(map))
}

/// Reads a checkpoint's header (`varscope inspect FILE`): tensors with name, dtype,
/// shape, bytes, checksum and saved partitioning, and the metadata. Reads no tensor data.
pub fn inspect(path: impl AsRef<Path>) -> Result<CheckpointInfo> {
    let path = path.as_ref();
    let map = map_file(path)?;
    parse_file(map.as_deref().unwrap_or(&[]), path)
}

/// Like [`inspect`], and also verifies every tensor's checksum and every bool tensor's
/// bytes.
pub fn verify(path: impl AsRef<Path>) -> Result<CheckpointInfo> {
    let path = path.as_ref();
    let map = map_file(path)?;
    let bytes = map.as_deref().unwrap_or(&[]);
    let info = parse_file(bytes, path)?;
    for t in &info.tensors {
        check_tensor_bytes(&info, bytes, t, path)?;
    }
    Ok(info)
}

/// Fuzzing entry (`fuzz/fuzz_targets/checkpoint_reader.rs`): runs the whole host side of
/// a restore on arbitrary bytes: parse, verify, plan against `vars` (with and without an
/// assignment map, strict and not) and produce every variable's values. Returns the
/// values produced. Must never panic.
#[doc(hidden)]
pub fn fuzz_restore_plan(file: &[u8], graph: &Graph, vars: &[Variable], map: &[(String, String)], strict: bool) -> Result<Vec<HostValues>> {
    let path = Path::new("<fuzz>");
    let info = parse_file(file, path)?;
    let _ = info.verify(file);
    let units = units_of(graph, vars)?;
    let plan = plan_restore(&info, file, &units, map, strict, path)?;
    let mut out = Vec::new();
    for p in &plan.pairs {
        let (t, u) = (&info.tensors[p.tensor], &units[p.unit]);
        for i in 0..u.parts.len() {
            if let Some(v) = part_values(&info, file, t, u, i) {
                out.push(v);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xxh64_known_answers() {
        assert_eq!(xxh64(b""), 0xEF46_DB37_51D8_E999);
        assert_eq!(xxh64(b"a"), 0xD24E_C4F1_A98C_6E5B);
        assert_eq!(xxh64(b"abc"), 0x44BC_2CF5_AD77_0999);
        assert_eq!(xxh64(b"Nobody inspects the spammish repetition"), 0xFBCE_A83C_8A37_8BF1);
    }

    #[test]
    fn runs_cover_regions() {
        let mut runs = Vec::new();
        for_each_run(&[4, 3], &[1, 0], &[2, 3], |s, n| runs.push((s, n)));
        assert_eq!(runs, vec![(3, 6)]);
        runs.clear();
        for_each_run(&[2, 5], &[0, 4], &[2, 1], |s, n| runs.push((s, n)));
        assert_eq!(runs, vec![(4, 1), (9, 1)]);
        runs.clear();
        for_each_run(&[2, 3, 4], &[0, 1, 0], &[2, 2, 4], |s, n| runs.push((s, n)));
        assert_eq!(runs, vec![(4, 8), (16, 8)]);
        runs.clear();
        for_each_run(&[], &[], &[], |s, n| runs.push((s, n)));
        assert_eq!(runs, vec![(0, 1)]);
        runs.clear();
        for_each_run(&[3, 0], &[0, 0], &[3, 0], |s, n| runs.push((s, n)));
        assert!(runs.is_empty());
    }

    #[test]
    fn partitioning_round_trips_and_rejects_nonsense() {
        let p = Partitioning { axis: 1, offsets: vec![0, 3, 6] };
        assert_eq!(Partitioning::decode(&p.encode(), &[2, 8]), Ok(p));
        for bad in ["axis:2;shards:1;offsets:0", "axis:0;shards:2;offsets:0", "axis:0;shards:2;offsets:0,0", "axis:0;shards:1;offsets:1", "axis:0", "x"] {
            assert!(Partitioning::decode(bad, &[4, 4]).is_err(), "{bad}");
        }
    }

    #[test]
    fn conversions_round_to_nearest_even() {
        let mut out = Vec::new();
        convert_into(&1.000_976_6_f32.to_le_bytes(), StoredDType::F32, DType::Float16, &mut out);
        assert_eq!(out, f16::from_f32(1.000_976_6).to_le_bytes());
        out.clear();
        convert_into(&bf16::from_f32(-2.5).to_le_bytes(), StoredDType::BF16, DType::Float32, &mut out);
        assert_eq!(out, (-2.5f32).to_le_bytes());
        assert!(can_convert(StoredDType::F16, DType::BFloat16));
        assert!(!can_convert(StoredDType::I32, DType::Float32));
        assert!(!can_convert(StoredDType::U8, DType::Bool));
    }

    #[test]
    fn json_strings_round_trip() {
        let name = "a\"b\\c\n\u{1}é/ü";
        let mut s = String::new();
        json_str(&mut s, name);
        let mut j = Json { s: s.as_bytes(), pos: 0 };
        assert_eq!(j.string().ok().as_deref(), Some(name));
        let mut j = Json { s: br#""\ud83d\ude00 \u00e9""#, pos: 0 };
        assert_eq!(j.string().ok().as_deref(), Some("\u{1F600} é"));
        let mut j = Json { s: br#""\ud83d""#, pos: 0 };
        assert!(j.string().is_err());
    }
}
