//! # varscope-gpu
//!
//! The session side of varscope (runtime.md sections 1, 2, 4, 5, 6, 9): devices, placement,
//! variables as wgpu storage buffers, initializers, reads and writes, and a variable's
//! buffers for user kernels.
//!
//! ```
//! use varscope_core::{Graph, Initializer};
//! use varscope_gpu::Session;
//!
//! let g = Graph::new();
//! let v = g.get_variable("v").shape([2, 3]).initializer(Initializer::ones()).get().unwrap();
//! let v = v.variable().unwrap().clone();
//! let s = Session::new(&g).unwrap();
//! s.global_variables_initializer().unwrap();
//! assert_eq!(s.read_f32(&v).unwrap(), vec![1.0; 6]);
//! ```
//!
//! ## Devices and placement
//!
//! [`Session::devices`] lists `/cpu:0` (the host: reference kernels of
//! `varscope_core::reference`) and one `/gpu:N` per wgpu adapter, ordered discrete,
//! integrated, virtual, other, CPU/software; then by backend (Vulkan, Metal, DX12, GL);
//! then by name. A variable goes to its `caching_device` (any TensorFlow spelling, or a
//! device function), else to the default device: [`SessionOptions::default_device`],
//! else [`DEFAULT_DEVICE_ENV`], else `/gpu:0` if an adapter exists, else `/cpu:0`. `""`
//! means no caching device.
//!
//! ## Memory
//!
//! Variables materialize (validated all at once, allocated all or nothing) when first
//! initialized, assigned or asked for their buffers. A variable larger than the
//! device's `max_storage_buffer_binding_size` (or [`SessionOptions::max_chunk_bytes`]) is
//! split into chunks of whole 64-element granules, each its own buffer labeled
//! `name[start..end]`; small variables (up to 1 MiB) materialized together share slab
//! buffers at aligned offsets, so one dispatch initializes thousands. Device layouts:
//! see [`layout`]. Buffers have STORAGE | COPY_SRC | COPY_DST usage.
//!
//! ## Initialization
//!
//! `/cpu:0` runs the reference. A GPU runs the descriptor-table init kernel of
//! `varscope-shaders` (one dispatch per output buffer and (kind, layout) pipeline),
//! `clear_buffer` / the plain fill kernel for fills of whole buffers, and uploads host
//! values for what no device kernel computes (orthogonal, host closures, constant lists
//! and tensors, float64/int64): every pending variable of a device in one submission.
//!
//! Architecture invariants: all GPU memory goes through the session's pool; every
//! shader module and pipeline is created inside a wgpu error scope and fails as
//! [`GpuError::Shader`] naming the shader; the public API is synchronous, with one
//! `block_on` and one poll/map helper; a call that fails changes nothing.

#![warn(missing_docs)]

mod buffers;
pub mod checkpoint;
pub use checkpoint::tf as tf_checkpoint;
pub mod descriptor;
mod device;
mod error;
#[cfg(target_os = "linux")]
mod huge_pages;
mod init;
mod kernels;
mod launch;
pub mod layout;
pub mod optim;
mod options;
mod placement;
mod pool;
mod runtime_dir;
mod scratch;
mod session;
mod storage;
mod sync;
#[cfg(test)]
mod test_adapters;
mod transfer;
mod values;

pub use checkpoint::{CheckpointError, CheckpointInfo, RestoreOptions, RestoreReport, SaveOptions, SaveReport};
pub use device::{AdapterMask, DeviceInfo, DeviceOptions, DeviceType, ExternalDevice, ExternalPlacement};
pub use error::{GpuError, Result};
pub use optim::{Gradients, LossValue, OptimError, OptimResult, StepStats, Trainer, UpdateOp};
pub use scratch::{ScratchBuffer, SCRATCH_USAGE};
pub use session::{
    parse_debug_fill, ChunkBuffer, Session, SessionOptions, VariableBuffers, DEBUG_FILL_ENV, DEFAULT_DEVICE_ENV,
};
pub use values::HostValues;
