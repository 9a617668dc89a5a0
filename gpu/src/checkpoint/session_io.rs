//! The session calls of the checkpoint adapter: every byte that moves between a
//! checkpoint and the session goes through these few functions, so batched transfers
//! (one submission per device for a save or a restore) replace them here and nowhere
//! else.

use varscope_core::{DType, Variable};

use crate::error::GpuError;
use crate::session::Session;
use crate::values::HostValues;

/// Whether `v` holds a value (a save refuses uninitialized variables up front).
pub(super) fn is_initialized(session: &Session<'_>, v: &Variable) -> bool {
    session.is_variable_initialized(v)
}

/// The canonical host bytes of `v` (row-major, little-endian, its own dtype).
pub(super) fn read_bytes(session: &Session<'_>, v: &Variable) -> Result<Vec<u8>, GpuError> {
    Ok(session.read(v)?.into_bytes())
}

/// Validates placement, dtype support, size and device memory of every variable of
/// `vars` that has no storage yet, then allocates them, all or nothing. Returns the ids
/// newly allocated, for [`release`].
pub(super) fn materialize(session: &Session<'_>, vars: &[Variable]) -> Result<Vec<u64>, GpuError> {
    session.checkpoint_materialize(vars)
}

/// Writes canonical host bytes of `dtype` and `shape` into `v`; it counts as
/// initialized.
pub(super) fn write_bytes(
    session: &Session<'_>,
    v: &Variable,
    dtype: DType,
    shape: &[u64],
    bytes: Vec<u8>,
) -> Result<(), GpuError> {
    let values = HostValues::from_bytes(dtype, shape, bytes)?;
    session.assign(v, &values)
}

/// Frees the variables [`materialize`] allocated (a restore that failed after it).
pub(super) fn release(session: &Session<'_>, ids: &[u64]) {
    session.checkpoint_release(ids);
}
