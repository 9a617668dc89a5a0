//! Training (runtime.md section 7): gradient buffers, optimizers with slot variables,
//! constraints after every update, regularization losses, and variable updates
//! (`assign*`, `scatter_*`).
//!
//! - [`Gradients`]: varscope-managed gradient storage for a variable list. On a GPU each
//!   variable chunk's gradient has its own aligned range of a shared buffer
//!   ([`Gradients::buffers`]), which the user's kernels bind and write.
//! - [`Trainer`]: one optimizer over a variable list. [`Trainer::new`] creates the slot
//!   variables through the variable store ([`varscope_core::Graph::create_slots`]:
//!   `foo/v/Adam`, `foo/v/Adam_1`, ...) and, for Adam and AdamW, TensorFlow's non-slot
//!   variables `beta1_power` / `beta2_power`; all are ordinary variables, so they are in
//!   the collections and are checkpointed. [`Trainer::apply_gradients`] runs one step:
//!   on each GPU device, per group of rows that share their buffers (a slab of small
//!   variables, its slots' slab and the gradient buffer make one group: 1,000 small
//!   variables are one group), one fused dispatch of `shaders/optim4.wgsl` for the whole
//!   groups of 4 elements of rows at 4-word-aligned offsets (`vec4` loads and stores) and
//!   one of `shaders/optim.wgsl` for the rest (tails of `count % 4` elements, unaligned
//!   rows), each only where it has rows, with non_neg and clip_by_value fused in; then one
//!   `shaders/norm.wgsl` dispatch per buffer for the norm constraints. On `/cpu:0` it runs the host reference
//!   ([`varscope_core::Optimizer::reference_step`] and
//!   [`varscope_core::Constraint::apply_reference`]).
//! - [`Session::regularization_losses`] / [`Session::total_regularization_loss`]: the
//!   REGULARIZATION_LOSSES of the graph, reduced on each variable's device
//!   (`shaders/reduce.wgsl`: f32 partial sums of 256 elements, added in f64 on the host).
//! - [`Session::update_f32`], [`Session::update_from_buffer`], [`Session::scatter_f32`]
//!   and their TensorFlow-named shorthands: `shaders/update.wgsl` on GPUs, the host on
//!   `/cpu:0`. Errors are checked before anything is written.
//!
//! Supported dtype: float32 (optimizers, constraints, regularizers, updates); other
//! dtypes are rejected with [`OptimError::UnsupportedDType`].
//!
//! Numerics: the GPU kernels use the host reference's operation order, but drivers
//! contract `a * b + c` into fma and may reorder, so GPU results agree with the
//! reference to a few ulp per step (the tests state the tolerance per optimizer).
//!
//! Adam's step, as TensorFlow's `AdamOptimizer`: the non-slot variables `beta1_power`
//! and `beta2_power` are float32 accumulators that start at `beta1` and `beta2` and are
//! multiplied by them in float32 after each step ([`varscope_core::optim::BetaPowers`]);
//! the step size `lr * sqrt(1 - beta2_power) / (1 - beta1_power)` is formed from them in
//! float32 on the host and passed to the kernel, so a step continued from TensorFlow's
//! powers is TensorFlow's step. The trainer keeps the powers of the next step on the
//! host and writes the advanced ones with each step; [`Trainer::new`] (and
//! [`Trainer::reload_step`], after a restore into a live trainer) reads them back and
//! recovers the step count `t` exactly: the integer whose powers are bit-identical to
//! the restored ones. A run resumed from a checkpoint of step N is bit-identical to one
//! that never stopped.
//!
//! `global_step`: [`Trainer::with_global_step`] gives the trainer TensorFlow's
//! `minimize(loss, global_step=...)` counter, an int64 (or int32) scalar advanced by 1
//! with each step, in the step's submission on its device.
//!
//! Module map: `error` (the error type), `fused` (rows split between the vector and
//! scalar kernels, and their dispatches), `gradients` ([`Gradients`]), `rows` (kernel
//! parameter rows), `trainer` ([`Trainer`]), `updates` (assign/scatter on the session),
//! `regularize` (regularization losses on the session).

mod error;
mod fused;
mod gradients;
mod regularize;
mod rows;
mod trainer;
mod updates;

pub use error::{OptimError, OptimResult};
pub use gradients::Gradients;
pub use regularize::LossValue;
pub use trainer::{StepStats, Trainer};
pub use updates::UpdateOp;

use varscope_core::{DType, Variable};

use crate::error::GpuError;
use crate::session::Session;

fn unsupported(op: &'static str, v: &Variable) -> OptimError {
    OptimError::UnsupportedDType { op, variable: v.key().to_string(), dtype: v.dtype() }
}

/// The element count of a float32 variable with a known shape.
fn check_f32(op: &'static str, v: &Variable) -> OptimResult<u64> {
    if v.dtype() != DType::Float32 {
        return Err(unsupported(op, v));
    }
    v.num_elements().ok_or_else(|| OptimError::BadShape {
        op,
        variable: v.key().to_string(),
        shape: v.shape().to_string(),
    })
}

fn ensure_initialized(s: &Session, v: &Variable) -> OptimResult<()> {
    if s.is_variable_initialized(v) {
        Ok(())
    } else {
        Err(GpuError::Uninitialized { variable: v.op_name().to_string() }.into())
    }
}
