//! The error type of training and updates.

use varscope_core::DType;

use crate::error::GpuError;

/// Errors of training and updates. Every variant names the variable it is about; a call
/// that returns an error has written nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OptimError {
    /// An error of the session (device, memory, uninitialized variable, wgpu).
    #[error(transparent)]
    Gpu(#[from] GpuError),

    /// An error of the host layer (slot creation in the variable store).
    #[error(transparent)]
    Core(#[from] varscope_core::Error),

    /// A non-trainable variable was given to an optimizer.
    #[error("Variable {variable} is not trainable; an optimizer only updates trainable variables")]
    NotTrainable {
        /// Store key.
        variable: String,
    },

    /// The same variable appears twice in a variable list.
    #[error("Variable {variable} appears more than once in the variable list")]
    DuplicateVariable {
        /// Store key.
        variable: String,
    },

    /// A gradient for a variable the trainer does not optimize.
    #[error("Variable {variable} has a gradient but is not in the optimizer's variable list")]
    NotInVarList {
        /// Store key.
        variable: String,
    },

    /// A variable the gradient set does not hold.
    #[error("No gradient for variable {variable}")]
    NoGradient {
        /// Store key.
        variable: String,
    },

    /// A dtype the operation does not support (float32 only).
    #[error("{op} on variable {variable}: dtype {dtype} is not supported (float32 only)")]
    UnsupportedDType {
        /// The operation (`apply_gradients`, `scatter_add`, ...).
        op: &'static str,
        /// Store key.
        variable: String,
        /// The variable's dtype.
        dtype: DType,
    },

    /// A variable whose shape is not fully defined, or a scalar given to a row op.
    #[error("{op} on variable {variable}: shape {shape} is not supported")]
    BadShape {
        /// The operation.
        op: &'static str,
        /// Store key.
        variable: String,
        /// The shape, as TensorFlow prints it.
        shape: String,
    },

    /// A number of values that does not match the variable (or the indices).
    #[error("{op} on variable {variable}: expected {expected} values, got {given}")]
    SizeMismatch {
        /// The operation.
        op: &'static str,
        /// Store key.
        variable: String,
        /// Values expected.
        expected: u64,
        /// Values given.
        given: u64,
    },

    /// A scatter index outside `[0, rows)`.
    #[error("{op} on variable {variable}: index {index} (position {position}) is not in [0, {rows})")]
    IndexOutOfRange {
        /// The operation.
        op: &'static str,
        /// Store key.
        variable: String,
        /// The index.
        index: i64,
        /// Its position in the index list.
        position: usize,
        /// Rows of the variable (its first dimension).
        rows: u64,
    },

    /// A source buffer range outside the buffer, or a buffer without COPY_SRC.
    #[error("{op} on variable {variable}: source bytes {start}..{end} do not fit the source buffer ({size} bytes, usage {usage})")]
    SourceRange {
        /// The operation.
        op: &'static str,
        /// Store key.
        variable: String,
        /// First byte.
        start: u64,
        /// End byte.
        end: u64,
        /// The source buffer's size.
        size: u64,
        /// Its usage flags.
        usage: String,
    },

    /// Slot variables given to [`super::Trainer::with_state`] that do not fit their variable.
    #[error("Slots {slots:?} do not fit variable {variable}: expected {expected} slots of its shape and dtype")]
    SlotMismatch {
        /// Store key of the variable.
        variable: String,
        /// Store keys of the slots given.
        slots: Vec<String>,
        /// Slots the optimizer needs.
        expected: usize,
    },

    /// A handle used with another session's handles (for example gradients of one
    /// session given to a trainer of another).
    #[error("The {what} of variable {variable} belong to another session than the trainer's")]
    OtherSession {
        /// What was given (`gradients`).
        what: &'static str,
        /// Store key of the first variable it holds.
        variable: String,
    },

    /// An optimizer this runtime has no kernel for.
    #[error("Optimizer {optimizer} is not supported by the GPU runtime")]
    UnsupportedOptimizer {
        /// TensorFlow's optimizer name.
        optimizer: String,
    },

    /// A global step that is not an int32 or int64 scalar (TensorFlow's
    /// `assert_global_step`).
    #[error("Existing \"global_step\" {problem}: {variable} ({dtype}, shape {shape})")]
    BadGlobalStep {
        /// Store key.
        variable: String,
        /// `does not have integer type` or `is not scalar`.
        problem: &'static str,
        /// The variable's dtype.
        dtype: DType,
        /// Its shape, as TensorFlow prints it.
        shape: String,
    },

    /// A buffer operation on a variable of `/cpu:0` (it has no buffers).
    #[error("{op} on variable {variable}: it lives on {device}, which has no wgpu buffers")]
    NoBuffers {
        /// The operation.
        op: &'static str,
        /// Store key.
        variable: String,
        /// The device.
        device: String,
    },
}

/// Result with [`OptimError`].
pub type OptimResult<T> = std::result::Result<T, OptimError>;
