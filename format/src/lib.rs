//! # varscope-format
//!
//! Checkpoint file formats as host-only code: no wgpu, no session. The session adapter in
//! `varscope-gpu` moves bytes between these layouts and device buffers; the fuzz targets
//! and the command use this crate directly.
//!
//! - [`tf`]: TensorFlow tensor bundles (`.index` + `.data-NNNNN-of-MMMMM`).

#![warn(missing_docs)]

pub mod tf;
