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

/// `docs/api.md` (varscope next to candle, tch-rs and burn), whose varscope snippet is
/// compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../docs/api.md")]
pub struct ApiComparison;

/// `docs/tensorflow.md` (coming from TensorFlow), whose Rust snippet is compiled as a
/// doctest (not run: it needs a TensorFlow checkpoint).
#[cfg(doctest)]
#[doc = include_str!("../docs/tensorflow.md")]
pub struct TensorFlowGuide;
