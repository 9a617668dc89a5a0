//! varscope's shared test support, used by the test suites of every crate.
//!
//! - [`policy`]: the `VARSCOPE_REQUIRE_GPU` policy. With `VARSCOPE_REQUIRE_GPU=1`, a test
//!   that finds no GPU adapter fails; without it, the GPU part skips with a printed reason.
//!   No test outside this crate reads the variable (checked by `tests/architecture.rs`).
//! - [`targets`]: [`for_each_target`], which runs a test body on every target (`/cpu:0`
//!   and each adapter), catches a failure on one target so the others still run, prints
//!   one PASS/FAIL line per target and fails at the end naming every failing target.
//! - [`TempDir`]: a fresh, named directory for one test, removed when dropped.
//! - `adapters` (feature `wgpu`): every wgpu adapter present, for tests that open
//!   devices themselves rather than through a `varscope_gpu::Session`, and
//!   `read_buffer`, a buffer's bytes read back.
//!
//! The crate depends on no varscope crate, so varscope-gpu's own unit tests can use it
//! without a second copy of varscope-gpu's types; targets typed by a session (names such
//! as `/gpu:1`, capabilities) are built at the call site and implement [`TestTarget`].

#![warn(missing_docs)]

#[cfg(feature = "wgpu")]
mod adapters;
pub mod policy;
pub mod targets;
mod temp;

#[cfg(feature = "wgpu")]
pub use adapters::{adapters, read_buffer};
pub use policy::{gpu_required, have_gpus, loud, REQUIRE_GPU};
pub use targets::{for_each_target, run_targets, Report, TestTarget};
pub use temp::TempDir;
