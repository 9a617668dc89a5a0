//! The one error type of `varscope-gpu`.

use varscope_core::DType;

/// Errors of the session: devices, placement, memory, values and kernels.
///
/// Every variant names what it is about (variable store key, dtype, device, bytes,
/// limit, shader label). A call that returns an error leaves the session as it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GpuError {
    /// An error of the host layer (graph, scopes, variable store).
    #[error(transparent)]
    Core(#[from] varscope_core::Error),

    /// TensorFlow's `FailedPreconditionError` for reading a variable no initializer,
    /// assign or restore has run for.
    #[error("Attempting to use uninitialized value {variable}")]
    Uninitialized {
        /// The variable's op name (`foo/v`).
        variable: String,
    },

    /// A device string that does not parse or names a device the session does not have.
    #[error("Unknown device '{device}'{}; devices present: {}", for_variable(.variable), .available.join(", "))]
    UnknownDevice {
        /// The device string as given.
        device: String,
        /// The variable being placed, if any.
        variable: Option<String>,
        /// The devices the session has, by name.
        available: Vec<String>,
    },

    /// A dtype that the variable's device cannot hold.
    #[error("Variable {variable} has dtype {dtype}, which device {device} does not support{}", note(.reason))]
    UnsupportedDType {
        /// Store key.
        variable: String,
        /// The dtype.
        dtype: DType,
        /// The device (`/gpu:0`).
        device: String,
        /// Why (for example the missing adapter feature).
        reason: String,
    },

    /// A variable larger than its device can ever hold, detected before allocating.
    #[error("Variable {variable} needs {bytes} bytes on {device}, more than the device limit of {limit} bytes")]
    TooLarge {
        /// Store key.
        variable: String,
        /// Bytes the variable needs on the device.
        bytes: u64,
        /// The device.
        device: String,
        /// The device's limit in bytes.
        limit: u64,
    },

    /// Not enough device memory left for the variables being materialized.
    #[error("Out of memory on {device} while materializing {variable}: {bytes} bytes requested, {in_use} in use, limit {limit}")]
    OutOfMemory {
        /// Store key of the first variable that does not fit.
        variable: String,
        /// The device.
        device: String,
        /// Bytes requested by this call.
        bytes: u64,
        /// Bytes already in use on the device.
        in_use: u64,
        /// The device's limit.
        limit: u64,
    },

    /// A variable whose shape is not fully defined cannot be materialized.
    #[error("Variable {variable} has shape {shape}, which is not fully defined")]
    UnknownShape {
        /// Store key.
        variable: String,
        /// The shape, as TensorFlow prints it.
        shape: String,
    },

    /// A variable of another graph was given to this session.
    #[error("Variable {variable} belongs to another graph than this session's")]
    ForeignVariable {
        /// Store key.
        variable: String,
    },

    /// Values of the wrong dtype for a variable.
    #[error("Cannot assign a value of dtype {given} to variable {variable} of dtype {dtype}")]
    DTypeMismatch {
        /// Store key.
        variable: String,
        /// The variable's dtype.
        dtype: DType,
        /// The dtype of the values.
        given: DType,
    },

    /// Values of the wrong size for a variable.
    #[error("Cannot assign {given} elements to variable {variable} of shape {shape} ({expected} elements)")]
    SizeMismatch {
        /// Store key.
        variable: String,
        /// The variable's shape.
        shape: String,
        /// Elements it holds.
        expected: u64,
        /// Elements given.
        given: u64,
    },

    /// A buffer for [`crate::Session::read_into`] whose length is not the variable's byte
    /// count.
    #[error("Cannot read variable {variable} of shape {shape} and dtype {dtype} ({expected} bytes) into a buffer of {given} bytes")]
    ReadBufferSize {
        /// Store key.
        variable: String,
        /// The variable's shape.
        shape: String,
        /// The variable's dtype.
        dtype: DType,
        /// Its canonical host bytes.
        expected: u64,
        /// Bytes of the buffer given.
        given: usize,
    },

    /// Host bytes whose length does not match the dtype and shape they claim.
    #[error("{len} bytes is not a valid {dtype} tensor of {elements} elements")]
    BadHostBytes {
        /// The dtype.
        dtype: DType,
        /// Elements expected.
        elements: u64,
        /// Bytes given.
        len: usize,
    },

    /// Host values whose shape's element count overflows a `u64`.
    #[error("Host values of shape {shape}: the element count overflows a u64")]
    ShapeTooLarge {
        /// The shape.
        shape: String,
    },

    /// A shader module or pipeline failed to build (caught in a wgpu error scope).
    #[error("Shader {label} failed on {device}: {message}")]
    Shader {
        /// The shader's registry label (its file path).
        label: String,
        /// The device.
        device: String,
        /// wgpu's message.
        message: String,
    },

    /// A wgpu operation failed (validation or out-of-memory caught in an error scope,
    /// a failed buffer mapping, a lost device).
    #[error("wgpu error on {device} during {operation}: {message}")]
    Wgpu {
        /// The device.
        device: String,
        /// What the session was doing (`allocate foo/v`, `read foo/v`).
        operation: String,
        /// wgpu's message.
        message: String,
    },

    /// A variable on the host device has no wgpu buffers to hand out.
    #[error("Variable {variable} lives on {device}, which has no wgpu buffers")]
    NoBuffers {
        /// Store key.
        variable: String,
        /// The device (`/cpu:0`).
        device: String,
    },

    /// Creating the wgpu device of an adapter failed.
    #[error("Cannot open adapter {adapter} ({backend}): {message}")]
    RequestDevice {
        /// Adapter name.
        adapter: String,
        /// Backend name.
        backend: String,
        /// wgpu's message.
        message: String,
    },

    /// An adapter (or a user's device) below what varscope's kernels need, found before
    /// anything is allocated on it: an enumerated adapter is skipped with this error, a
    /// user's device fails the session. See `docs/platforms.md`.
    #[error("Adapter {adapter} ({backend}) cannot run varscope's kernels: {limit} is {available}, {required} needed{}", by_shader(.shader))]
    BelowRequirements {
        /// Adapter name.
        adapter: String,
        /// Backend name.
        backend: String,
        /// The wgpu limit or downlevel flag (`max_storage_buffers_per_shader_stage`,
        /// `DownlevelFlags::COMPUTE_SHADERS`: 1 present, 0 absent).
        limit: &'static str,
        /// The least value varscope needs.
        required: u64,
        /// The device's value.
        available: u64,
        /// The registered shader that sets the requirement, if one does.
        shader: Option<&'static str>,
    },

    /// An initializer produced values that do not fit its variable (a host closure
    /// returning the wrong shape or dtype, or a reference kernel failure).
    #[error("Initializer {initializer} of variable {variable} failed: {message}")]
    Initializer {
        /// Store key.
        variable: String,
        /// The initializer kind (`orthogonal`, `host_fn(f)`).
        initializer: String,
        /// What went wrong.
        message: String,
    },
}

fn for_variable(v: &Option<String>) -> String {
    match v {
        Some(v) => format!(" for variable {v}"),
        None => String::new(),
    }
}

fn by_shader(shader: &Option<&'static str>) -> String {
    match shader {
        Some(s) => format!(" (by {s})"),
        None => String::new(),
    }
}

fn note(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(" ({reason})")
    }
}

/// Result with [`GpuError`].
pub type Result<T, E = GpuError> = std::result::Result<T, E>;
