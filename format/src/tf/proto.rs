//! The protocol buffer messages of a tensor bundle, derived by hand with field numbers from
//! `tensor_bundle.proto`, `tensor_shape.proto`, `tensor_slice.proto` and `versions.proto`.
//! Enum fields are kept as `int32` (the same wire encoding) and interpreted by the reader.

/// `tensorflow.VersionDef`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct VersionDef {
    /// The version of the code that produced the data.
    #[prost(int32, tag = "1")]
    pub producer: i32,
    /// Any consumer below this version is not allowed to consume the data.
    #[prost(int32, tag = "2")]
    pub min_consumer: i32,
    /// Specific consumer versions not allowed to consume the data.
    #[prost(int32, repeated, tag = "3")]
    pub bad_consumers: Vec<i32>,
}

/// `tensorflow.BundleHeaderProto`, stored under the empty key.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BundleHeaderProto {
    /// Number of data files.
    #[prost(int32, tag = "1")]
    pub num_shards: i32,
    /// `LITTLE` = 0, `BIG` = 1.
    #[prost(int32, tag = "2")]
    pub endianness: i32,
    /// Format version.
    #[prost(message, optional, tag = "3")]
    pub version: Option<VersionDef>,
}

/// `tensorflow.TensorShapeProto.Dim`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Dim {
    /// The dimension's size (-1 for unknown, never in a bundle).
    #[prost(int64, tag = "1")]
    pub size: i64,
    /// An optional name.
    #[prost(string, tag = "2")]
    pub name: String,
}

/// `tensorflow.TensorShapeProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorShapeProto {
    /// The dimensions, outermost first.
    #[prost(message, repeated, tag = "2")]
    pub dim: Vec<Dim>,
    /// True when the rank is unknown.
    #[prost(bool, tag = "3")]
    pub unknown_rank: bool,
}

/// `tensorflow.TensorSliceProto.Extent`: no fields set means the whole dimension.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Extent {
    /// First index.
    #[prost(int64, tag = "1")]
    pub start: i64,
    /// Length (a one-field `oneof`, so its presence is tracked).
    #[prost(int64, optional, tag = "2")]
    pub length: Option<i64>,
}

/// `tensorflow.TensorSliceProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorSliceProto {
    /// One extent per dimension.
    #[prost(message, repeated, tag = "1")]
    pub extent: Vec<Extent>,
}

/// `tensorflow.BundleEntryProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BundleEntryProto {
    /// The `DataType` code.
    #[prost(int32, tag = "1")]
    pub dtype: i32,
    /// The shape (of the full tensor when `slices` is set).
    #[prost(message, optional, tag = "2")]
    pub shape: Option<TensorShapeProto>,
    /// The data file index.
    #[prost(int32, tag = "3")]
    pub shard_id: i32,
    /// Byte offset in the data file.
    #[prost(int64, tag = "4")]
    pub offset: i64,
    /// Byte count in the data file.
    #[prost(int64, tag = "5")]
    pub size: i64,
    /// Masked CRC32C of the bytes.
    #[prost(fixed32, tag = "6")]
    pub crc32c: u32,
    /// Present for a partitioned tensor: its slices, each stored under its slice key.
    #[prost(message, repeated, tag = "7")]
    pub slices: Vec<TensorSliceProto>,
}
