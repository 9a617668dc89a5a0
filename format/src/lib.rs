//! # varscope-format
//!
//! Checkpoint file formats as host-only code: no wgpu, no session. The session adapter in
//! `varscope-gpu` moves bytes between these layouts and device buffers; the fuzz targets
//! and the command use this crate directly.
//!
//! - [`safetensors_file`]: varscope's checkpoints (safetensors files with varscope's
//!   metadata): header model, checksums, restore/save planning, reading with positioned
//!   reads, atomic writes.
//! - [`tf`]: TensorFlow tensor bundles (`.index` + `.data-NNNNN-of-MMMMM`).
//! - [`FormatError`]: the crate's one error type.
//!
//! Architecture invariant: this crate never depends on wgpu (checked by
//! `tests/architecture.rs` at the workspace root).

#![warn(missing_docs)]

mod dtype;
pub mod error;
pub mod safetensors_file;
pub mod tf;

pub use dtype::{can_convert, convert_into, StoredDType};
pub use error::{BadNameReason, DestinationProblem, FileKind, FormatError, Result};
