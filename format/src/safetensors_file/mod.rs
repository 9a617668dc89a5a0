//! varscope's checkpoints as safetensors files (runtime.md section 8), host-only.
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
//! # Pieces
//!
//! - [`CheckpointReader`], [`inspect`], [`verify`]: open a regular file (anything else is
//!   refused up front), parse and validate the header ([`CheckpointInfo`]), read tensors
//!   with positioned reads into bounded buffers, verify checksums. A file that shrinks
//!   or changes while it is read is an error, never a crash. The parser never panics on
//!   any bytes and is fuzzed (`fuzz/`).
//! - [`units_of`], [`plan_save`], [`plan_restore`], [`part_bytes`], [`place_part`]:
//!   which tensor holds which variables, and the slicing, repartitioning and dtype
//!   conversion between a tensor's bytes and each variable's.
//! - [`check_save_destination`], [`AtomicFile`], [`CheckpointWriter`]: atomic writes
//!   through symlinks, findable temporary files, stale ones removed.

mod header;
mod plan;
mod read;
mod write;

pub use crate::dtype::{can_convert, convert_into, StoredDType};
pub use header::{CheckpointInfo, Partitioning, TensorInfo};
pub use plan::{
    for_each_run, part_bytes, place_part, plan_restore, plan_save, scope_prefix, tensor_name, units_of, Pair, Part,
    RestorePlan, SaveTensor, Unit,
};
pub use read::{checksum, inspect, verify, CheckpointReader, ChecksumStatus, VerifyReport};
pub use write::{check_save_destination, remove_stale_temporaries, AtomicFile, CheckpointWriter};

#[cfg(feature = "fuzzing")]
mod fuzzing;
#[cfg(feature = "fuzzing")]
pub use fuzzing::{fuzz_fixture, fuzz_restore_plan};

/// Metadata key marking a varscope checkpoint, with the format version as value.
pub const FORMAT_VERSION_KEY: &str = "varscope.format_version";
/// The format version varscope writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Metadata key of the graph seed (`none` when the graph has none).
pub const GRAPH_SEED_KEY: &str = "varscope.graph_seed";
/// Metadata key naming the checksum algorithm.
pub const CHECKSUM_ALGORITHM_KEY: &str = "varscope.checksum";
/// The checksum algorithm: XXH64 with seed 0.
pub const CHECKSUM_ALGORITHM: &str = "xxh64";
/// Largest header the reader accepts (the limit of the safetensors crate).
pub const MAX_HEADER_BYTES: u64 = 100_000_000;

const DTYPE_PREFIX: &str = "dtype:";
const CHECKSUM_PREFIX: &str = "checksum:";
const PARTITIONING_PREFIX: &str = "partitioning:";
const METADATA_KEY: &str = "__metadata__";
