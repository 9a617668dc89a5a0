//! A variable's buffers as user kernels see them.

use varscope_core::DType;

/// A variable's chunk buffer, for user kernels.
#[derive(Clone, Debug)]
pub struct ChunkBuffer {
    /// The buffer (STORAGE | COPY_SRC | COPY_DST), labeled with the variable's name.
    pub buffer: wgpu::Buffer,
    /// The variable's elements it holds (row-major flat indices).
    pub elements: std::ops::Range<u64>,
    /// The bytes of `buffer` that hold them. Small variables share a buffer (a slab):
    /// `bytes.start` is then a multiple of the device's
    /// `min_storage_buffer_offset_alignment`, so it can be a binding offset.
    pub bytes: std::ops::Range<u64>,
}

/// Everything a user kernel needs to bind a variable: its chunk buffers, and the
/// device and queue they live on. The handles are clones; the buffers stay valid until
/// the variable is released or the session dropped.
#[derive(Clone, Debug)]
pub struct VariableBuffers {
    /// `/gpu:N`.
    pub device_name: String,
    /// The variable's dtype (see [`crate::layout`] for its device layout).
    pub dtype: DType,
    /// The wgpu device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// The chunks, in element order (one unless the variable exceeds the binding limit).
    pub chunks: Vec<ChunkBuffer>,
}
