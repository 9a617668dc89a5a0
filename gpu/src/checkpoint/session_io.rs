//! The session calls of the checkpoint adapter: every byte that moves between a
//! checkpoint and the session goes through these few functions. Reads and writes are
//! batched: a save reads a batch of variables with one submission and one wait per
//! device, a restore writes a batch with one submission per device; a batch holds at most
//! [`BATCH_BYTES`] of values, so host memory stays flat however large the checkpoint.

use varscope_core::{DType, Variable};

use crate::error::GpuError;
use crate::session::Session;
use crate::values::HostValues;

/// Most bytes of variable values one batch holds on the host.
pub(super) const BATCH_BYTES: u64 = 64 << 20;

/// Whether `v` holds a value (a save refuses uninitialized variables up front).
pub(super) fn is_initialized(session: &Session, v: &Variable) -> bool {
    session.is_variable_initialized(v)
}

/// The canonical host bytes (row-major, little-endian, own dtype) of every variable of
/// `vars`, in order, read together.
pub(super) fn read_many(session: &Session, vars: &[Variable]) -> Result<Vec<Vec<u8>>, GpuError> {
    Ok(session.read_many(vars)?.into_iter().map(HostValues::into_bytes).collect())
}

/// Validates placement, dtype support, size and device memory of every variable of
/// `vars` that has no storage yet, then allocates them, all or nothing. Returns the ids
/// newly allocated, for [`release`].
pub(super) fn materialize(session: &Session, vars: &[Variable]) -> Result<Vec<u64>, GpuError> {
    session.materialize(vars)
}

/// One variable's new value: canonical host bytes of `dtype` and `shape`.
pub(super) struct Write {
    pub variable: Variable,
    pub dtype: DType,
    pub shape: Vec<u64>,
    pub bytes: Vec<u8>,
}

/// Writes a batch of values (one submission per device); each variable counts as
/// initialized.
pub(super) fn write_many(session: &Session, writes: Vec<Write>) -> Result<(), GpuError> {
    let mut values = Vec::with_capacity(writes.len());
    for w in writes {
        values.push((w.variable, HostValues::from_bytes(w.dtype, &w.shape, w.bytes)?));
    }
    session.assign_many(&values.iter().map(|(v, h)| (v.clone(), h)).collect::<Vec<_>>())
}

/// Frees the variables [`materialize`] allocated (a restore that failed after it).
pub(super) fn release(session: &Session, ids: &[u64]) {
    session.free(ids);
}
