//! TensorFlow tensor bundles (`tf.train.Saver` checkpoints): reader and writer.
//!
//! A bundle at prefix `P` is `P.index`, a sorted table ([`table`]) mapping the empty key to
//! a `BundleHeaderProto` and every tensor name to a `BundleEntryProto` (dtype, shape, data
//! shard, byte offset and size, masked CRC32C, and for a partitioned tensor its slices,
//! each stored under a slice key, see [`slice`](mod@slice)), and the data shards
//! `P.data-NNNNN-of-MMMMM` holding the tensors' raw little-endian bytes.
//!
//! - [`BundleReader`] opens a prefix, an `.index` file or a directory with a `checkpoint`
//!   state file, validates the whole index, and reads tensors whole or any region of them
//!   (reassembling partitioned tensors), checking every CRC32C.
//! - [`BundleWriter`] writes a bundle TensorFlow 1.15 and 2.x read, atomically.
//! - [`parse_index`] checks an `.index` file's bytes alone (the fuzz target's entry point).

use std::path::{Path, PathBuf};

mod dtype;
mod error;
pub mod proto;
mod reader;
mod region;
pub mod slice;
mod state;
pub mod table;
mod writer;

pub use dtype::TfDtype;
pub use error::{IndexDefect, Result, SliceDefect, TfError};
pub use reader::{parse_index, BundleReader, Index, Layout, Stored, TensorInfo};
pub use region::copy_region;
pub use slice::{Extent, TensorSlice};
pub use state::{is_tf_checkpoint, latest_checkpoint, resolve_prefix, STATE_FILE};
pub use writer::BundleWriter;

/// A tensor's values as host bytes: little-endian, row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tensor {
    /// The dtype.
    pub dtype: TfDtype,
    /// The shape.
    pub shape: Vec<u64>,
    /// `product(shape) * dtype.size()` bytes.
    pub data: Vec<u8>,
}

/// `PREFIX.index`.
pub fn index_path(prefix: &Path) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(".index");
    PathBuf::from(s)
}

/// `PREFIX.data-NNNNN-of-MMMMM` for shard `shard` of `num_shards`.
pub fn data_path(prefix: &Path, shard: usize, num_shards: usize) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(format!(".data-{shard:05}-of-{num_shards:05}"));
    PathBuf::from(s)
}
