#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod bench;
mod errors;

pub use errors::{Error, Result};

pub use varscope_core::*;
/// The GPU side: devices, sessions, buffers and kernels (crate `varscope-gpu`).
pub use varscope_gpu as gpu;
/// The WGSL kernels and their registry (crate `varscope-shaders`).
pub use varscope_shaders as shaders;
