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
//!   on each GPU device one fused dispatch of `shaders/optim.wgsl` per group of rows that
//!   share their buffers (a slab of small variables, its slots' slab and the gradient
//!   buffer make one group: 1,000 small variables are one dispatch), with non_neg and
//!   clip_by_value fused in; then one `shaders/norm.wgsl` dispatch per buffer for the norm
//!   constraints. On `/cpu:0` it runs the host reference
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
//! Adam's step: the trainer keeps the step count `t` on the host and writes
//! `beta1_power = beta1^t`, `beta2_power = beta2^t` after each step (float32 of the f64
//! power). [`Trainer::new`] (and [`Trainer::reload_step`], after a restore into a live
//! trainer) recovers `t` from a restored `beta1_power`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use varscope_core::{Constraint, DType, Initializer, Optimizer, Regularizer, Variable};
use varscope_shaders::{
    NormRow, Shader, OptimParams, OptimRow, ReduceRow, RowParams, UpdateRow, CONSTRAINT_CLAMP, CONSTRAINT_NONE,
    NORM_MAX, NORM_MIN_MAX, NORM_UNIT, REDUCE_SEGMENT,
};

use crate::device::{DeviceInfo, Gpu};
use crate::error::GpuError;
use crate::init::Kernel;
use crate::pool::{scoped, Use, VarBuffer};
use crate::session::{ChunkBuffer, Session, VariableBuffers};
use crate::sync;

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

    /// Slot variables given to [`Trainer::with_state`] that do not fit their variable.
    #[error("Slots {slots:?} do not fit variable {variable}: expected {expected} slots of its shape and dtype")]
    SlotMismatch {
        /// Store key of the variable.
        variable: String,
        /// Store keys of the slots given.
        slots: Vec<String>,
        /// Slots the optimizer needs.
        expected: usize,
    },

    /// An optimizer this runtime has no kernel for.
    #[error("Optimizer {optimizer} is not supported by the GPU runtime")]
    UnsupportedOptimizer {
        /// TensorFlow's optimizer name.
        optimizer: String,
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

fn unsupported(op: &'static str, v: &Variable) -> OptimError {
    OptimError::UnsupportedDType { op, variable: v.key().to_string(), dtype: v.dtype() }
}

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

fn wgpu_err(info: &DeviceInfo, operation: String, message: String) -> OptimError {
    OptimError::Gpu(GpuError::Wgpu { device: info.name.clone(), operation, message })
}

fn device_index(s: &Session<'_>, v: &Variable) -> OptimResult<usize> {
    let name = &s.placement(v)?.name;
    Ok(s.devices().iter().position(|d| &d.name == name).unwrap_or(0))
}

fn ensure_initialized(s: &Session<'_>, v: &Variable) -> OptimResult<()> {
    if s.is_variable_initialized(v) {
        Ok(())
    } else {
        Err(GpuError::Uninitialized { variable: v.op_name().to_string() }.into())
    }
}

// ----- Kernels -------------------------------------------------------------------------



/// A params/rows buffer from the session's pool, written with `bytes`.
fn upload(
    s: &Session<'_>,
    gpu: &Gpu,
    info: &DeviceInfo,
    dev: usize,
    what: &str,
    bytes: &[u8],
) -> OptimResult<wgpu::Buffer> {
    let b = s
        .optim_pool(|p| p.acquire(gpu, dev, Use::Params, bytes.len() as u64))
        .map_err(|m| wgpu_err(info, what.to_string(), m))?;
    if !bytes.is_empty() {
        gpu.queue.write_buffer(&b, 0, bytes);
    }
    Ok(b)
}

fn recycle(s: &Session<'_>, dev: usize, bufs: Vec<wgpu::Buffer>) {
    s.optim_pool(|p| {
        for b in bufs {
            p.recycle(dev, Use::Params, b);
        }
    });
}

fn dispatch(pass: &mut wgpu::ComputePass<'_>, invocations: u32) {
    let [x, y, z] = varscope_shaders::dispatch_size(invocations);
    if x > 0 {
        pass.dispatch_workgroups(x, y, z);
    }
}

// ----- Gradients -----------------------------------------------------------------------

struct GradChunk {
    buf: Arc<VarBuffer>,
    /// Byte offset in `buf`.
    offset: u64,
    /// First element.
    start: u64,
    /// Elements.
    count: u64,
}

enum GradStorage {
    Host(Mutex<Vec<f32>>),
    Gpu(Vec<GradChunk>),
}

struct GradEntry {
    var: Variable,
    dev: usize,
    storage: GradStorage,
}

/// Gradient storage for a list of float32 variables: host vectors on `/cpu:0`, and on
/// each GPU device ranges of shared storage buffers (one range per variable chunk, at
/// offsets aligned to `min_storage_buffer_offset_alignment`, so each can be bound on its
/// own), allocated through the session's pool and zero at creation. User kernels write
/// them ([`Gradients::buffers`]); [`Trainer::apply_gradients`] reads them.
pub struct Gradients {
    entries: Vec<GradEntry>,
    index: HashMap<u64, usize>,
}

impl std::fmt::Debug for Gradients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gradients")
            .field("variables", &self.entries.iter().map(|e| e.var.key()).collect::<Vec<_>>())
            .finish()
    }
}

impl Gradients {
    /// Allocates zeroed gradients for `vars` (float32, fully defined shapes, no
    /// duplicates) on each variable's device. Materializes the variables that have no
    /// storage yet, all together (so small ones share slabs), without initializing them.
    pub fn new(session: &Session<'_>, vars: &[Variable]) -> OptimResult<Self> {
        let mut seen = HashSet::new();
        for v in vars {
            check_f32("gradients", v)?;
            if !seen.insert(v.id()) {
                return Err(OptimError::DuplicateVariable { variable: v.key().to_string() });
            }
        }
        session.checkpoint_materialize(vars)?;
        // Chunk plans, per device.
        let mut plans: Vec<(Variable, usize, Vec<ChunkBuffer>)> = Vec::new();
        for v in vars {
            let dev = device_index(session, v)?;
            let chunks = if session.optim_gpu(dev).is_some() { session.buffers(v)?.chunks } else { Vec::new() };
            plans.push((v.clone(), dev, chunks));
        }
        let mut entries: Vec<GradEntry> = Vec::with_capacity(vars.len());
        let mut by_dev: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (i, (v, dev, _)) in plans.iter().enumerate() {
            by_dev.entry(*dev).or_default().push(i);
            let n = v.num_elements().unwrap_or(0) as usize;
            let storage = if session.optim_gpu(*dev).is_some() {
                GradStorage::Gpu(Vec::new())
            } else {
                GradStorage::Host(Mutex::new(vec![0.0; n]))
            };
            entries.push(GradEntry { var: v.clone(), dev: *dev, storage });
        }
        for (dev, idx) in by_dev {
            let Some((gpu, info)) = session.optim_gpu(dev) else { continue };
            let limits = gpu.device.limits();
            let align = u64::from(limits.min_storage_buffer_offset_alignment).max(4);
            let cap = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size).min(256 << 20);
            // Greedy packing of chunk ranges into buffers of at most `cap` bytes.
            let mut pending: Vec<(usize, u64, u64, u64)> = Vec::new(); // (entry, offset, start, count)
            let mut size = 0u64;
            let flush = |pending: &mut Vec<(usize, u64, u64, u64)>,
                         size: &mut u64,
                         entries: &mut Vec<GradEntry>|
             -> OptimResult<()> {
                if pending.is_empty() {
                    return Ok(());
                }
                let label =
                    format!("varscope gradients ({} ranges, first {})", pending.len(), entries[pending[0].0].var.key());
                let buf = session
                    .optim_pool(|p| p.alloc_variable(gpu, info, &label, *size))
                    .map_err(|m| wgpu_err(info, "allocate gradients".into(), m))?;
                for (e, offset, start, count) in pending.drain(..) {
                    if let GradStorage::Gpu(c) = &mut entries[e].storage {
                        c.push(GradChunk { buf: buf.clone(), offset, start, count });
                    }
                }
                *size = 0;
                Ok(())
            };
            for i in idx {
                for c in &plans[i].2 {
                    let count = c.elements.end - c.elements.start;
                    let bytes = (count * 4).max(4);
                    let mut off = size.div_ceil(align) * align;
                    if off + bytes > cap && !pending.is_empty() {
                        flush(&mut pending, &mut size, &mut entries)?;
                        off = 0;
                    }
                    pending.push((i, off, c.elements.start, count));
                    size = off + bytes;
                }
            }
            flush(&mut pending, &mut size, &mut entries)?;
        }
        let index = entries.iter().enumerate().map(|(i, e)| (e.var.id(), i)).collect();
        Ok(Gradients { entries, index })
    }

    /// The variables, in creation order.
    pub fn variables(&self) -> Vec<Variable> {
        self.entries.iter().map(|e| e.var.clone()).collect()
    }

    fn entry(&self, v: &Variable) -> OptimResult<&GradEntry> {
        self.index
            .get(&v.id())
            .map(|&i| &self.entries[i])
            .ok_or_else(|| OptimError::NoGradient { variable: v.key().to_string() })
    }

    /// The gradient buffers of `v` for user kernels: one [`ChunkBuffer`] per chunk of
    /// the variable (same element ranges), with the device and queue. Bind each as
    /// `array<f32>` at `bytes` (an aligned offset). Errors for `/cpu:0` variables.
    pub fn buffers(&self, session: &Session<'_>, v: &Variable) -> OptimResult<VariableBuffers> {
        let e = self.entry(v)?;
        match (&e.storage, session.optim_gpu(e.dev)) {
            (GradStorage::Gpu(chunks), Some((gpu, info))) => Ok(VariableBuffers {
                device_name: info.name.clone(),
                dtype: DType::Float32,
                device: gpu.device.clone(),
                queue: gpu.queue.clone(),
                chunks: chunks
                    .iter()
                    .map(|c| ChunkBuffer {
                        buffer: c.buf.buffer.clone(),
                        elements: c.start..c.start + c.count,
                        bytes: c.offset..c.offset + c.count * 4,
                    })
                    .collect(),
            }),
            _ => Err(OptimError::NoBuffers {
                op: "gradient buffers",
                variable: v.key().to_string(),
                device: session.devices()[e.dev].name.clone(),
            }),
        }
    }

    /// Writes a gradient from the host (row-major, one value per element).
    pub fn write_f32(&self, session: &Session<'_>, v: &Variable, values: &[f32]) -> OptimResult<()> {
        let e = self.entry(v)?;
        let n = v.num_elements().unwrap_or(0);
        if values.len() as u64 != n {
            return Err(OptimError::SizeMismatch {
                op: "write gradient",
                variable: v.key().to_string(),
                expected: n,
                given: values.len() as u64,
            });
        }
        match &e.storage {
            GradStorage::Host(h) => h.lock().unwrap_or_else(|p| p.into_inner()).copy_from_slice(values),
            GradStorage::Gpu(chunks) => {
                let Some((gpu, _)) = session.optim_gpu(e.dev) else { return Ok(()) };
                for c in chunks {
                    let part = &values[c.start as usize..(c.start + c.count) as usize];
                    if !part.is_empty() {
                        gpu.queue.write_buffer(&c.buf.buffer, c.offset, bytemuck::cast_slice(part));
                    }
                }
            }
        }
        Ok(())
    }

    /// Reads a gradient back to the host.
    pub fn read_f32(&self, session: &Session<'_>, v: &Variable) -> OptimResult<Vec<f32>> {
        let e = self.entry(v)?;
        match &e.storage {
            GradStorage::Host(h) => Ok(h.lock().unwrap_or_else(|p| p.into_inner()).clone()),
            GradStorage::Gpu(chunks) => {
                let (gpu, info) = session.optim_gpu(e.dev).expect("gpu gradients on a gpu device");
                let ranges: Vec<(wgpu::Buffer, u64, u64)> =
                    chunks.iter().map(|c| (c.buf.buffer.clone(), c.offset, c.count * 4)).collect();
                read_ranges(session, gpu, info, e.dev, &format!("read gradient of {}", v.key()), &ranges)
            }
        }
    }

    /// Sets every gradient to zero (one `clear_buffer` per range on GPUs).
    pub fn zero(&self, session: &Session<'_>) -> OptimResult<()> {
        let mut encoders: BTreeMap<usize, wgpu::CommandEncoder> = BTreeMap::new();
        for e in &self.entries {
            match &e.storage {
                GradStorage::Host(h) => h.lock().unwrap_or_else(|p| p.into_inner()).iter_mut().for_each(|x| *x = 0.0),
                GradStorage::Gpu(chunks) => {
                    let Some((gpu, _)) = session.optim_gpu(e.dev) else { continue };
                    let enc = encoders.entry(e.dev).or_insert_with(|| {
                        gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                            label: Some("varscope zero gradients"),
                        })
                    });
                    for c in chunks {
                        if c.count > 0 {
                            enc.clear_buffer(&c.buf.buffer, c.offset, Some(c.count * 4));
                        }
                    }
                }
            }
        }
        for (dev, enc) in encoders {
            let (gpu, info) = session.optim_gpu(dev).expect("gpu");
            scoped(gpu, || {
                gpu.queue.submit([enc.finish()]);
            })
            .map_err(|m| wgpu_err(info, "zero gradients".into(), m))?;
        }
        Ok(())
    }

    fn host(&self, v: &Variable) -> Option<Vec<f32>> {
        match &self.entry(v).ok()?.storage {
            GradStorage::Host(h) => Some(h.lock().unwrap_or_else(|p| p.into_inner()).clone()),
            GradStorage::Gpu(_) => None,
        }
    }
}

/// Copies byte ranges of buffers into pooled readback buffers in one submission, maps
/// them, and returns the f32 values in order.
fn read_ranges(
    s: &Session<'_>,
    gpu: &Gpu,
    info: &DeviceInfo,
    dev: usize,
    what: &str,
    ranges: &[(wgpu::Buffer, u64, u64)],
) -> OptimResult<Vec<f32>> {
    let mut staging = Vec::new();
    for (_, _, bytes) in ranges {
        match s.optim_pool(|p| p.acquire(gpu, dev, Use::Readback, *bytes)) {
            Ok(b) => staging.push(b),
            Err(m) => {
                s.optim_pool(|p| staging.drain(..).for_each(|b| p.recycle(dev, Use::Readback, b)));
                return Err(wgpu_err(info, what.to_string(), m));
            }
        }
    }
    let r = scoped(gpu, || {
        let mut enc = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(what) });
        for ((src, off, bytes), dst) in ranges.iter().zip(&staging) {
            if *bytes > 0 {
                enc.copy_buffer_to_buffer(src, *off, dst, 0, *bytes);
            }
        }
        gpu.queue.submit([enc.finish()]);
    });
    let mut out: Vec<f32> = Vec::new();
    let res = r.and_then(|_| {
        let views: Vec<(&wgpu::Buffer, u64)> =
            staging.iter().zip(ranges).filter(|(_, r)| r.2 > 0).map(|(b, r)| (b, r.2)).collect();
        sync::map_read_all(&gpu.device, &views, |_, bytes| out.extend_from_slice(bytemuck::cast_slice(bytes)))
    });
    s.optim_pool(|p| staging.into_iter().for_each(|b| p.recycle(dev, Use::Readback, b)));
    res.map_err(|m| wgpu_err(info, what.to_string(), m))?;
    Ok(out)
}

// ----- Trainer -------------------------------------------------------------------------

/// What one [`Trainer::apply_gradients`] call did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepStats {
    /// The step just taken (from 1).
    pub step: u64,
    /// Optimizer dispatches (fused update + elementwise constraints), all devices.
    pub update_dispatches: usize,
    /// Norm-constraint dispatches, all devices.
    pub norm_dispatches: usize,
    /// Command-buffer submissions, all devices.
    pub submissions: usize,
    /// Variables updated on the host (`/cpu:0`).
    pub host_variables: usize,
    /// Variables updated on GPUs.
    pub gpu_variables: usize,
}

impl StepStats {
    /// All GPU dispatches of the step.
    pub fn dispatches(&self) -> usize {
        self.update_dispatches + self.norm_dispatches
    }
}

/// One optimizer over a list of trainable float32 variables (TensorFlow's
/// `optimizer.apply_gradients(zip(grads, var_list))`). See the module documentation.
pub struct Trainer<'s, 'g> {
    session: &'s Session<'g>,
    optimizer: Optimizer,
    vars: Vec<Variable>,
    slots: Vec<Vec<Variable>>,
    index: HashMap<u64, usize>,
    beta_powers: Option<(Variable, Variable)>,
    step: u64,
}

impl std::fmt::Debug for Trainer<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("optimizer", &self.optimizer)
            .field("variables", &self.vars.len())
            .field("step", &self.step)
            .finish()
    }
}

fn opt_code(o: &Optimizer) -> Option<u32> {
    use varscope_shaders as s;
    Some(match o {
        Optimizer::Sgd { .. } => s::OPT_SGD,
        Optimizer::Momentum { use_nesterov: false, .. } => s::OPT_MOMENTUM,
        Optimizer::Momentum { use_nesterov: true, .. } => s::OPT_NESTEROV,
        Optimizer::Adagrad { .. } => s::OPT_ADAGRAD,
        Optimizer::RmsProp { centered: false, .. } => s::OPT_RMSPROP,
        Optimizer::RmsProp { centered: true, .. } => s::OPT_RMSPROP_CENTERED,
        Optimizer::Adam { .. } => s::OPT_ADAM,
        Optimizer::AdamW { .. } => s::OPT_ADAMW,
        #[allow(unreachable_patterns)]
        _ => return None,
    })
}

fn opt_params(o: &Optimizer, step: u64) -> OptimParams {
    let mut p = OptimParams::default();
    match *o {
        Optimizer::Sgd { learning_rate } => p.lr = learning_rate,
        Optimizer::Momentum { learning_rate, momentum, .. } => {
            p.lr = learning_rate;
            p.momentum = momentum;
        }
        Optimizer::Adagrad { learning_rate, .. } => p.lr = learning_rate,
        Optimizer::RmsProp { learning_rate, decay, momentum, epsilon, .. } => {
            p.lr = learning_rate;
            p.momentum = momentum;
            p.one_minus_a = 1.0 - decay;
            p.epsilon = epsilon;
        }
        Optimizer::Adam { learning_rate, beta1, beta2, epsilon } => {
            p.lr = varscope_core::optim::adam_lr(learning_rate, beta1, beta2, step);
            p.one_minus_a = 1.0 - beta1;
            p.one_minus_b = 1.0 - beta2;
            p.epsilon = epsilon;
        }
        Optimizer::AdamW { weight_decay, learning_rate, beta1, beta2, epsilon } => {
            p.lr = varscope_core::optim::adam_lr(learning_rate, beta1, beta2, step);
            p.one_minus_a = 1.0 - beta1;
            p.one_minus_b = 1.0 - beta2;
            p.epsilon = epsilon;
            p.weight_decay = weight_decay;
        }
        #[allow(unreachable_patterns)]
        _ => {}
    }
    p
}

fn betas(o: &Optimizer) -> Option<(f32, f32)> {
    match *o {
        Optimizer::Adam { beta1, beta2, .. } | Optimizer::AdamW { beta1, beta2, .. } => Some((beta1, beta2)),
        _ => None,
    }
}

/// `(constraint code, lo, hi)` of an elementwise constraint for the fused kernel.
fn clamp_of(c: Option<&Constraint>) -> (u32, f32, f32) {
    match c {
        Some(Constraint::NonNeg) => (CONSTRAINT_CLAMP, 0.0, f32::MAX),
        Some(Constraint::ClipByValue { min, max }) => (CONSTRAINT_CLAMP, *min as f32, *max as f32),
        _ => (CONSTRAINT_NONE, 0.0, 0.0),
    }
}

/// A norm constraint as a [`NormRow`] template (offsets and starts left 0), or `None`
/// when the shape does not collapse into 3 kept and 3 reduced dimensions.
pub(crate) fn norm_row(c: &Constraint, shape: &[u64]) -> Option<NormRow> {
    let (kind, max_value, min_value, rate) = match c {
        Constraint::MaxNorm { max_value, .. } => (NORM_MAX, *max_value, 0.0, 1.0),
        Constraint::UnitNorm { .. } => (NORM_UNIT, 1.0, 0.0, 1.0),
        Constraint::MinMaxNorm { min_value, max_value, rate, .. } => (NORM_MIN_MAX, *max_value, *min_value, *rate),
        _ => return None,
    };
    let axes = c.axes();
    // (size, stride, reduced) per dimension, size-1 dimensions dropped, neighbours of
    // the same class merged.
    let mut dims: Vec<(u64, u64, bool)> = Vec::new();
    let mut stride = 1u64;
    let mut rev: Vec<(u64, u64, bool)> = Vec::new();
    for (d, &n) in shape.iter().enumerate().rev() {
        rev.push((n, stride, axes.contains(&d)));
        stride *= n;
    }
    for (n, st, red) in rev.into_iter().rev() {
        if n == 1 {
            continue;
        }
        match dims.last_mut() {
            Some(last) if last.2 == red && last.1 == st * n => {
                last.0 *= n;
                last.1 = st;
            }
            _ => dims.push((n, st, red)),
        }
    }
    let kept: Vec<_> = dims.iter().filter(|d| !d.2).collect();
    let red: Vec<_> = dims.iter().filter(|d| d.2).collect();
    if kept.len() > 3 || red.len() > 3 || stride > u64::from(u32::MAX) {
        return None;
    }
    let mut row = NormRow {
        kind,
        max_value: max_value as f32,
        min_value: min_value as f32,
        rate: rate as f32,
        kept_dims: [1; 4],
        red_dims: [1; 4],
        ..Default::default()
    };
    let pad = 3 - kept.len();
    for (i, d) in kept.iter().enumerate() {
        row.kept_dims[pad + i] = d.0 as u32;
        row.kept_strides[pad + i] = d.1 as u32;
    }
    for (i, d) in red.iter().enumerate() {
        row.red_dims[i] = d.0 as u32;
        row.red_strides[i] = d.1 as u32;
    }
    row.groups = kept.iter().map(|d| d.0 as u32).product();
    Some(row)
}

/// Rows of one fused dispatch share (variable buffer, [gradient buffer, slot buffers]).
/// `wgpu::Buffer` hashes by its id, which never changes.
type GroupKey = (wgpu::Buffer, Vec<wgpu::Buffer>);

/// Norm-constrained variables done on the host, with their new values.
type HostNorms = Vec<(Variable, Vec<f32>)>;

impl<'s, 'g> Trainer<'s, 'g> {
    /// An optimizer over `var_list`: checks every variable is trainable float32 with a
    /// known shape and appears once, creates the slots (`Graph::create_slots`, named as
    /// TensorFlow does) and, for Adam/AdamW, the non-slot variables `beta1_power` and
    /// `beta2_power` (non-trainable, global); materializes variables and slots (each set
    /// together, so small ones share slabs) and runs the initializers of the slots and
    /// powers that are not initialized yet. If `beta1_power` is already initialized
    /// (restored), the step count continues from it.
    pub fn new(session: &'s Session<'g>, optimizer: Optimizer, var_list: &[Variable]) -> OptimResult<Self> {
        Self::build(session, optimizer, var_list, None, None)
    }

    /// A trainer over existing optimizer state: `slots[i]` are the slot variables of
    /// `var_list[i]` in [`Optimizer::slot_specs`] order (for example those of an earlier
    /// trainer, or created with `Graph::create_slots` before a restore), and, for
    /// Adam/AdamW, the `beta1_power` / `beta2_power` variables (`None`: new ones).
    /// Otherwise as [`Trainer::new`]; a slot of the wrong number, shape or dtype is
    /// [`OptimError::SlotMismatch`].
    pub fn with_state(
        session: &'s Session<'g>,
        optimizer: Optimizer,
        var_list: &[Variable],
        slots: &[Vec<Variable>],
        beta_powers: Option<(Variable, Variable)>,
    ) -> OptimResult<Self> {
        Self::build(session, optimizer, var_list, Some(slots), beta_powers)
    }

    fn build(
        session: &'s Session<'g>,
        optimizer: Optimizer,
        var_list: &[Variable],
        given_slots: Option<&[Vec<Variable>]>,
        given_powers: Option<(Variable, Variable)>,
    ) -> OptimResult<Self> {
        let g = session.graph();
        if opt_code(&optimizer).is_none() {
            return Err(OptimError::UnsupportedOptimizer { optimizer: optimizer.name().to_string() });
        }
        let mut index = HashMap::new();
        for (i, v) in var_list.iter().enumerate() {
            check_f32("apply_gradients", v)?;
            if !v.trainable() {
                return Err(OptimError::NotTrainable { variable: v.key().to_string() });
            }
            if index.insert(v.id(), i).is_some() {
                return Err(OptimError::DuplicateVariable { variable: v.key().to_string() });
            }
        }
        let want = optimizer.slot_specs().len();
        let slots: Vec<Vec<Variable>> = match given_slots {
            Some(given) => {
                for (i, v) in var_list.iter().enumerate() {
                    let sl = given.get(i).map(Vec::as_slice).unwrap_or(&[]);
                    let bad = sl.len() != want || sl.iter().any(|x| x.dtype() != v.dtype() || x.dims() != v.dims());
                    if bad {
                        return Err(OptimError::SlotMismatch {
                            variable: v.key().to_string(),
                            slots: sl.iter().map(|x| x.key().to_string()).collect(),
                            expected: want,
                        });
                    }
                }
                given[..var_list.len()].to_vec()
            }
            None => var_list.iter().map(|v| g.create_slots(v, &optimizer)).collect::<Result<_, _>>()?,
        };
        let beta_powers = match (betas(&optimizer), given_powers) {
            (Some(_), Some(p)) => Some(p),
            (Some((b1, b2)), None) => {
                let mk = |name: &str, b: f32| {
                    g.variable(Initializer::constant(f64::from(b))).shape(&[]).name(name).trainable(false).create()
                };
                Some((mk("beta1_power", b1)?, mk("beta2_power", b2)?))
            }
            (None, _) => None,
        };
        session.checkpoint_materialize(var_list)?;
        let all_slots: Vec<Variable> = slots.iter().flatten().cloned().collect();
        session.checkpoint_materialize(&all_slots)?;
        let mut init = all_slots;
        if let Some((a, b)) = &beta_powers {
            init.push(a.clone());
            init.push(b.clone());
        }
        session.variables_initializer(&init)?;
        let mut t = Trainer {
            session,
            optimizer,
            vars: var_list.to_vec(),
            slots,
            index,
            beta_powers,
            step: 0,
        };
        t.reload_step()?;
        Ok(t)
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &Optimizer {
        &self.optimizer
    }

    /// The variables, in the order given.
    pub fn variables(&self) -> &[Variable] {
        &self.vars
    }

    /// The slot variables of `v`, in [`Optimizer::slot_specs`] order (empty for SGD or
    /// a variable the trainer does not hold).
    pub fn slots(&self, v: &Variable) -> &[Variable] {
        self.index.get(&v.id()).map(|&i| self.slots[i].as_slice()).unwrap_or(&[])
    }

    /// Adam's `beta1_power` and `beta2_power` variables.
    pub fn beta_powers(&self) -> Option<(&Variable, &Variable)> {
        self.beta_powers.as_ref().map(|(a, b)| (a, b))
    }

    /// Steps taken (Adam's `t`).
    pub fn step(&self) -> u64 {
        self.step
    }

    /// Recovers the step count from `beta1_power` (after a checkpoint restore); a no-op
    /// for optimizers without one.
    pub fn reload_step(&mut self) -> OptimResult<()> {
        if let (Some((b1p, _)), Some((beta1, _))) = (&self.beta_powers, betas(&self.optimizer)) {
            let p = f64::from(self.session.read_f32(b1p)?.first().copied().unwrap_or(beta1));
            let b = f64::from(beta1);
            // beta1_power holds beta1^(t + 1) before step t + 1.
            let t = if p > 0.0 && b > 0.0 && b < 1.0 { (p.ln() / b.ln()).round() as i64 - 1 } else { 0 };
            self.step = t.max(0) as u64;
        }
        Ok(())
    }

    /// One optimizer step for every variable `grads` holds (each must be in the
    /// trainer's list; variables of the list without a gradient are left alone), then
    /// each updated variable's constraint. GPU work is submitted without waiting; call
    /// [`Session::sync`] (or read) to wait.
    pub fn apply_gradients(&mut self, grads: &Gradients) -> OptimResult<StepStats> {
        let s = self.session;
        let mut pairs: Vec<usize> = Vec::with_capacity(grads.entries.len());
        for e in &grads.entries {
            let i = *self
                .index
                .get(&e.var.id())
                .ok_or_else(|| OptimError::NotInVarList { variable: e.var.key().to_string() })?;
            ensure_initialized(s, &self.vars[i])?;
            for slot in &self.slots[i] {
                ensure_initialized(s, slot)?;
            }
            pairs.push(i);
        }
        let step = self.step + 1;
        let mut stats = StepStats { step, ..Default::default() };
        // Host rows first (they cannot fail half-way on a device), then one submission per GPU.
        let mut by_dev: BTreeMap<usize, Vec<(usize, usize)>> = BTreeMap::new(); // dev -> (var, grad entry)
        for (gi, &i) in pairs.iter().enumerate() {
            by_dev.entry(grads.entries[gi].dev).or_default().push((i, gi));
        }
        for (dev, list) in by_dev {
            match s.optim_gpu(dev) {
                None => {
                    for (i, gi) in list {
                        self.host_step(step, i, grads, gi)?;
                        stats.host_variables += 1;
                    }
                }
                Some((gpu, info)) => {
                    let (u, n) = self.gpu_step(gpu, info, dev, step, &list, grads)?;
                    stats.update_dispatches += u;
                    stats.norm_dispatches += n;
                    stats.submissions += 1;
                    stats.gpu_variables += list.len();
                }
            }
        }
        self.step = step;
        if let (Some((b1p, b2p)), Some((b1, b2))) = (&self.beta_powers, betas(&self.optimizer)) {
            let t = step as i32 + 1;
            for (p, b) in [(b1p, b1), (b2p, b2)] {
                let value = f64::from(b).powi(t) as f32;
                match s.buffers(p) {
                    // A plain queue write, flushed with the next submission (a session
                    // `assign` would submit and wait for the device on every step).
                    Ok(buf) => {
                        buf.queue.write_buffer(&buf.chunks[0].buffer, buf.chunks[0].bytes.start, &value.to_le_bytes())
                    }
                    Err(GpuError::NoBuffers { .. }) => s.assign_f32(p, &[value])?,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(stats)
    }

    fn host_step(&self, step: u64, i: usize, grads: &Gradients, gi: usize) -> OptimResult<()> {
        let s = self.session;
        let v = &self.vars[i];
        let grad = grads
            .host(&grads.entries[gi].var)
            .ok_or_else(|| OptimError::NoGradient { variable: v.key().to_string() })?;
        let mut var = s.read_f32(v)?;
        let mut slots: Vec<Vec<f32>> = self.slots[i].iter().map(|sl| s.read_f32(sl)).collect::<Result<_, _>>()?;
        self.optimizer.reference_step(step, &mut var, &grad, &mut slots)?;
        if let Some(c) = v.constraint() {
            let mut x: Vec<f64> = var.iter().map(|&x| f64::from(x)).collect();
            c.apply_reference(&v.dims().unwrap_or_default(), &mut x);
            var = x.into_iter().map(|x| x as f32).collect();
        }
        s.assign_f32(v, &var)?;
        for (sl, vals) in self.slots[i].iter().zip(&slots) {
            s.assign_f32(sl, vals)?;
        }
        Ok(())
    }

    /// One device's step: rows grouped by (variable buffer, gradient buffer, slot
    /// buffers); one dispatch per group, then the norm constraints; one submission.
    /// Returns (update dispatches, norm dispatches).
    fn gpu_step(
        &self,
        gpu: &Gpu,
        info: &DeviceInfo,
        dev: usize,
        step: u64,
        list: &[(usize, usize)],
        grads: &Gradients,
    ) -> OptimResult<(usize, usize)> {
        let s = self.session;
        let nslots = self.optimizer.slot_specs().len();
        // Group rows.
        #[allow(clippy::mutable_key_type)]
        let mut groups: HashMap<GroupKey, Vec<(OptimRow, Vec<wgpu::Buffer>)>> = HashMap::new();
        let mut order: Vec<GroupKey> = Vec::new();
        let mut norms: Vec<(Variable, Vec<ChunkBuffer>)> = Vec::new();
        for &(i, gi) in list {
            let v = &self.vars[i];
            let vb = s.buffers(v)?.chunks;
            let sb: Vec<Vec<ChunkBuffer>> =
                self.slots[i].iter().map(|sl| s.buffers(sl).map(|b| b.chunks)).collect::<Result<_, _>>()?;
            let GradStorage::Gpu(gc) = &grads.entries[gi].storage else {
                return Err(OptimError::NoGradient { variable: v.key().to_string() });
            };
            let (code, lo, hi) = clamp_of(v.constraint());
            for (k, c) in vb.iter().enumerate() {
                let g = gc
                    .iter()
                    .find(|g| g.start == c.elements.start)
                    .ok_or_else(|| OptimError::NoGradient { variable: v.key().to_string() })?;
                let mut row = OptimRow {
                    var_off: (c.bytes.start / 4) as u32,
                    grad_off: (g.offset / 4) as u32,
                    count: (c.elements.end - c.elements.start) as u32,
                    constraint: code,
                    lo,
                    hi,
                    ..Default::default()
                };
                let mut slot_bufs = Vec::with_capacity(nslots);
                for (j, chunks) in sb.iter().enumerate() {
                    let sc = &chunks[k];
                    let off = (sc.bytes.start / 4) as u32;
                    match j {
                        0 => row.s0_off = off,
                        1 => row.s1_off = off,
                        _ => row.s2_off = off,
                    }
                    slot_bufs.push(sc.buffer.clone());
                }
                if row.count == 0 {
                    continue;
                }
                let key: GroupKey = (c.buffer.clone(), {
                    let mut k = vec![g.buf.buffer.clone()];
                    k.extend(slot_bufs.iter().cloned());
                    k
                });
                let e = groups.entry(key.clone()).or_insert_with(|| {
                    order.push(key);
                    Vec::new()
                });
                e.push((row, slot_bufs));
            }
            if let Some(c) = v.constraint() {
                if !c.is_elementwise() {
                    norms.push((v.clone(), vb));
                }
            }
        }
        let kind = opt_code(&self.optimizer).unwrap_or_default();
        let params = opt_params(&self.optimizer, step);
        let mut temps: Vec<wgpu::Buffer> = Vec::new();
        let result = (|| -> OptimResult<(usize, usize, HostNorms)> {
            let dummy = upload(s, gpu, info, dev, "optimizer", &[0u8; 16])?;
            temps.push(dummy.clone());
            // Plan every dispatch (pipelines, tables) before encoding.
            struct Planned {
                kernel: Arc<Kernel>,
                rows: wgpu::Buffer,
                params: wgpu::Buffer,
                tiles: wgpu::Buffer,
                bufs: Vec<wgpu::Buffer>,
                grad: wgpu::Buffer,
                total: u32,
            }
            let mut planned: Vec<Planned> = Vec::new();
            for key in &order {
                let rows_and_bufs = &groups[key];
                // The distinct read-write buffers: the variable's first, then new slot buffers.
                let mut rw: Vec<wgpu::Buffer> = vec![key.0.clone()];
                let mut map = [0u32; 3];
                for (j, b) in key.1[1..].iter().enumerate() {
                    let pos = match rw.iter().position(|x| x == b) {
                        Some(p) => p,
                        None => {
                            rw.push(b.clone());
                            rw.len() - 1
                        }
                    };
                    map[j] = pos as u32;
                }
                let mut rows: Vec<OptimRow> = rows_and_bufs.iter().map(|(r, _)| *r).collect();
                let (total, tiles) = varscope_shaders::optim_tiles(&mut rows).ok_or_else(|| {
                    wgpu_err(info, "apply_gradients".into(), "more than 2^32 invocations in one dispatch".into())
                })?;
                let mut p = params;
                p.num_rows = rows.len() as u32;
                p.total = total;
                let kernel =
                    s.kernel(gpu, info, dev, Shader::Optim, &[kind, 0, map[0], map[1], map[2]])?;
                let rb = upload(s, gpu, info, dev, "optimizer rows", bytemuck::cast_slice(&rows))?;
                temps.push(rb.clone());
                let pb = upload(s, gpu, info, dev, "optimizer params", bytemuck::bytes_of(&p))?;
                temps.push(pb.clone());
                let tb = upload(s, gpu, info, dev, "optimizer tiles", bytemuck::cast_slice(&tiles))?;
                temps.push(tb.clone());
                planned.push(Planned {
                    kernel,
                    rows: rb,
                    params: pb,
                    tiles: tb,
                    bufs: rw,
                    grad: key.1[0].clone(),
                    total,
                });
            }
            // Norm constraints: rows grouped by buffer; chunked or high-rank ones on the host.
            let mut norm_groups: Vec<(wgpu::Buffer, Vec<NormRow>)> = Vec::new();
            let mut host_norms: Vec<Variable> = Vec::new();
            for (v, chunks) in &norms {
                let c = v.constraint().expect("norm constraint");
                let dims = v.dims().unwrap_or_default();
                match (chunks.len(), norm_row(c, &dims)) {
                    (1, Some(mut row)) => {
                        row.var_off = (chunks[0].bytes.start / 4) as u32;
                        match norm_groups.iter_mut().find(|(b, _)| *b == chunks[0].buffer) {
                            Some((_, rows)) => rows.push(row),
                            None => norm_groups.push((chunks[0].buffer.clone(), vec![row])),
                        }
                    }
                    _ => host_norms.push(v.clone()),
                }
            }
            let mut norm_planned: Vec<(Arc<Kernel>, wgpu::Buffer, wgpu::Buffer, wgpu::Buffer, u32)> = Vec::new();
            for (buf, mut rows) in norm_groups {
                let mut total = 0u32;
                for r in &mut rows {
                    r.start = total;
                    total += r.groups;
                }
                let kernel = s.kernel(gpu, info, dev, Shader::Norm, &[])?;
                let rb = upload(s, gpu, info, dev, "norm rows", bytemuck::cast_slice(&rows))?;
                temps.push(rb.clone());
                let p = RowParams { num_rows: rows.len() as u32, total, _pad: [0; 2] };
                let pb = upload(s, gpu, info, dev, "norm params", bytemuck::bytes_of(&p))?;
                temps.push(pb.clone());
                norm_planned.push((kernel, rb, pb, buf, total));
            }
            let (nu, nn) = (planned.len(), norm_planned.len());
            scoped(gpu, || {
                let mut enc = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("varscope apply_gradients"),
                });
                {
                    let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some("varscope optimizer"),
                        timestamp_writes: None,
                    });
                    for p in &planned {
                        let mut entries = vec![
                            wgpu::BindGroupEntry { binding: 0, resource: p.rows.as_entire_binding() },
                            wgpu::BindGroupEntry { binding: 1, resource: p.params.as_entire_binding() },
                            wgpu::BindGroupEntry { binding: 2, resource: p.grad.as_entire_binding() },
                        ];
                        for b in 0..varscope_shaders::OPTIM_RW_BINDINGS {
                            let buf = p.bufs.get(b).unwrap_or(&dummy);
                            entries.push(wgpu::BindGroupEntry {
                                binding: 3 + b as u32,
                                resource: buf.as_entire_binding(),
                            });
                        }
                        entries.push(wgpu::BindGroupEntry { binding: 7, resource: p.tiles.as_entire_binding() });
                        let bg = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
                            label: Some("varscope optimizer"),
                            layout: &p.kernel.layout,
                            entries: &entries,
                        });
                        pass.set_pipeline(&p.kernel.pipeline);
                        pass.set_bind_group(0, &bg, &[]);
                        dispatch(&mut pass, p.total);
                    }
                }
                if !norm_planned.is_empty() {
                    let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some("varscope norm constraints"),
                        timestamp_writes: None,
                    });
                    for (k, rows, params, buf, total) in &norm_planned {
                        let bg = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
                            label: Some("varscope norm constraints"),
                            layout: &k.layout,
                            entries: &[
                                wgpu::BindGroupEntry { binding: 0, resource: rows.as_entire_binding() },
                                wgpu::BindGroupEntry { binding: 1, resource: params.as_entire_binding() },
                                wgpu::BindGroupEntry { binding: 2, resource: buf.as_entire_binding() },
                            ],
                        });
                        pass.set_pipeline(&k.pipeline);
                        pass.set_bind_group(0, &bg, &[]);
                        dispatch(&mut pass, *total);
                    }
                }
                gpu.queue.submit([enc.finish()]);
            })
            .map_err(|m| wgpu_err(info, "apply_gradients".into(), m))?;
            // Norm constraints that do not fit the kernel: on the host, after the update.
            let mut host = Vec::new();
            for v in host_norms {
                let c = v.constraint().expect("norm constraint");
                let mut x: Vec<f64> = s.read_f32(&v)?.into_iter().map(f64::from).collect();
                c.apply_reference(&v.dims().unwrap_or_default(), &mut x);
                host.push((v, x.into_iter().map(|x| x as f32).collect()));
            }
            Ok((nu, nn, host))
        })();
        recycle(s, dev, temps);
        let (nu, nn, host) = result?;
        for (v, vals) in host {
            s.assign_f32(&v, &vals)?;
        }
        Ok((nu, nn))
    }
}

// ----- Regularization losses -------------------------------------------------------------

/// The value of one REGULARIZATION_LOSSES entry.
#[derive(Clone, Debug, PartialEq)]
pub struct LossValue {
    /// TensorFlow's tensor name (`s/b/Regularizer/mul:0`).
    pub name: String,
    /// The regularized variable.
    pub variable: Variable,
    /// The loss.
    pub value: f64,
}

// ----- Session: regularization and updates ---------------------------------------------------

/// The update of [`Session::update_f32`] and friends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UpdateOp {
    /// `assign` / `scatter_update`.
    Assign,
    /// `assign_add` / `scatter_add`.
    Add,
    /// `assign_sub` / `scatter_sub`.
    Sub,
}

impl UpdateOp {
    fn code(self) -> u32 {
        match self {
            UpdateOp::Assign => varscope_shaders::UPDATE_ASSIGN,
            UpdateOp::Add => varscope_shaders::UPDATE_ADD,
            UpdateOp::Sub => varscope_shaders::UPDATE_SUB,
        }
    }

    fn dense_name(self) -> &'static str {
        match self {
            UpdateOp::Assign => "assign",
            UpdateOp::Add => "assign_add",
            UpdateOp::Sub => "assign_sub",
        }
    }

    fn scatter_name(self) -> &'static str {
        match self {
            UpdateOp::Assign => "scatter_update",
            UpdateOp::Add => "scatter_add",
            UpdateOp::Sub => "scatter_sub",
        }
    }

    fn apply(self, d: &mut f32, s: f32) {
        match self {
            UpdateOp::Assign => *d = s,
            UpdateOp::Add => *d += s,
            UpdateOp::Sub => *d -= s,
        }
    }
}

/// Where the values of an update come from on the device.
enum Source<'a> {
    Host(&'a [f32]),
    Buffer(&'a wgpu::Buffer, u64),
}

impl Session<'_> {
    /// Every REGULARIZATION_LOSSES entry of the graph with its value, computed on each
    /// variable's device: l1, l2 and l1_l2 of GPU variables by `shaders/reduce.wgsl`
    /// (one dispatch per buffer, one submission and one readback per device), of
    /// `/cpu:0` variables and host-closure regularizers on the host. In graph order.
    pub fn regularization_losses(&self) -> OptimResult<Vec<LossValue>> {
        let losses = self.graph().regularization_losses();
        let mut out: Vec<Option<f64>> = vec![None; losses.len()];
        // GPU rows per device: (loss index, chunks).
        let mut per_dev: BTreeMap<usize, Vec<(usize, Vec<ChunkBuffer>)>> = BTreeMap::new();
        for (li, l) in losses.iter().enumerate() {
            let v = &l.variable;
            ensure_initialized(self, v)?;
            let dev = device_index(self, v)?;
            let gpu_kind =
                matches!(l.regularizer, Regularizer::L1 { .. } | Regularizer::L2 { .. } | Regularizer::L1L2 { .. });
            if gpu_kind && self.optim_gpu(dev).is_some() {
                check_f32("regularization loss", v)?;
                per_dev.entry(dev).or_default().push((li, self.buffers(v)?.chunks));
            } else {
                let x = self.read(v)?.to_f64_vec();
                out[li] = l.regularizer.reference_loss(&x);
            }
        }
        for (dev, items) in per_dev {
            let (gpu, info) = self.optim_gpu(dev).expect("gpu device");
            // Segments per chunk, grouped by buffer.
            let mut groups: Vec<(wgpu::Buffer, Vec<ReduceRow>)> = Vec::new();
            let mut owners: Vec<usize> = Vec::new(); // loss index per segment
            for (li, chunks) in &items {
                for c in chunks {
                    let count = (c.elements.end - c.elements.start) as u32;
                    let segs = count.div_ceil(REDUCE_SEGMENT);
                    if segs == 0 {
                        continue;
                    }
                    let row =
                        ReduceRow { off: (c.bytes.start / 4) as u32, count, start: 0, out_seg: owners.len() as u32 };
                    owners.extend(std::iter::repeat_n(*li, segs as usize));
                    match groups.iter_mut().find(|(b, _)| *b == c.buffer) {
                        Some((_, rows)) => rows.push(row),
                        None => groups.push((c.buffer.clone(), vec![row])),
                    }
                }
            }
            let mut temps = Vec::new();
            let res = (|| -> OptimResult<Vec<f32>> {
                let out_bytes = (owners.len() as u64 * 8).max(8);
                let outb = self
                    .optim_pool(|p| p.alloc_variable(gpu, info, "varscope regularization partial sums", out_bytes))
                    .map_err(|m| wgpu_err(info, "regularization losses".into(), m))?;
                let kernel = self.kernel(gpu, info, dev, Shader::Reduce, &[])?;
                let mut planned = Vec::new();
                for (buf, rows) in &mut groups {
                    let mut total = 0u32;
                    for r in rows.iter_mut() {
                        r.start = total;
                        total += r.count.div_ceil(REDUCE_SEGMENT);
                    }
                    let rb = upload(self, gpu, info, dev, "reduce rows", bytemuck::cast_slice(rows))?;
                    temps.push(rb.clone());
                    let p = RowParams { num_rows: rows.len() as u32, total, _pad: [0; 2] };
                    let pb = upload(self, gpu, info, dev, "reduce params", bytemuck::bytes_of(&p))?;
                    temps.push(pb.clone());
                    planned.push((rb, pb, buf.clone(), total));
                }
                scoped(gpu, || {
                    let mut enc = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                        label: Some("varscope regularization"),
                    });
                    {
                        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                            label: Some("varscope regularization"),
                            timestamp_writes: None,
                        });
                        pass.set_pipeline(&kernel.pipeline);
                        for (rb, pb, buf, total) in &planned {
                            let bg = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
                                label: Some("varscope regularization"),
                                layout: &kernel.layout,
                                entries: &[
                                    wgpu::BindGroupEntry { binding: 0, resource: rb.as_entire_binding() },
                                    wgpu::BindGroupEntry { binding: 1, resource: pb.as_entire_binding() },
                                    wgpu::BindGroupEntry { binding: 2, resource: buf.as_entire_binding() },
                                    wgpu::BindGroupEntry { binding: 3, resource: outb.buffer.as_entire_binding() },
                                ],
                            });
                            pass.set_bind_group(0, &bg, &[]);
                            dispatch(&mut pass, *total);
                        }
                    }
                    gpu.queue.submit([enc.finish()]);
                })
                .map_err(|m| wgpu_err(info, "regularization losses".into(), m))?;
                read_ranges(
                    self,
                    gpu,
                    info,
                    dev,
                    "regularization losses",
                    &[(outb.buffer.clone(), 0, owners.len() as u64 * 8)],
                )
            })();
            recycle(self, dev, temps);
            let partials = res?;
            let mut sums: HashMap<usize, (f64, f64)> = HashMap::new();
            for (seg, li) in owners.iter().enumerate() {
                let e = sums.entry(*li).or_default();
                e.0 += f64::from(partials[2 * seg]);
                e.1 += f64::from(partials[2 * seg + 1]);
            }
            for (li, _) in &items {
                let (l1, l2) = sums.get(li).copied().unwrap_or_default();
                out[*li] = match losses[*li].regularizer {
                    Regularizer::L1 { scale } => Some(scale * l1),
                    Regularizer::L2 { scale } => Some(scale * l2),
                    Regularizer::L1L2 { l1: a, l2: b } => Some(a * l1 + b * l2),
                    _ => None,
                };
            }
        }
        Ok(losses
            .into_iter()
            .zip(out)
            .filter_map(|(l, v)| v.map(|value| LossValue { name: l.name, variable: l.variable, value }))
            .collect())
    }

    /// `tf.losses.get_regularization_loss()`, run: the sum of every
    /// REGULARIZATION_LOSSES value (0 when there are none).
    pub fn total_regularization_loss(&self) -> OptimResult<f64> {
        Ok(self.regularization_losses()?.iter().map(|l| l.value).sum())
    }

    /// `assign` / `assign_add` / `assign_sub` of host values (one per element,
    /// row-major) to a float32 variable. `Assign` initializes an uninitialized variable;
    /// `Add` and `Sub` need an initialized one.
    pub fn update_f32(&self, v: &Variable, op: UpdateOp, values: &[f32]) -> OptimResult<()> {
        let n = check_f32(op.dense_name(), v)?;
        if values.len() as u64 != n {
            return Err(OptimError::SizeMismatch {
                op: op.dense_name(),
                variable: v.key().to_string(),
                expected: n,
                given: values.len() as u64,
            });
        }
        if op == UpdateOp::Assign {
            return Ok(self.assign_f32(v, values)?);
        }
        ensure_initialized(self, v)?;
        let dev = device_index(self, v)?;
        if self.optim_gpu(dev).is_none() {
            let mut x = self.read_f32(v)?;
            x.iter_mut().zip(values).for_each(|(d, s)| op.apply(d, *s));
            return Ok(self.assign_f32(v, &x)?);
        }
        let rows = self.dense_rows(v)?;
        self.run_update(v, op, op.dense_name(), Source::Host(values), rows)
    }

    /// `assign` / `assign_add` / `assign_sub` from another buffer on the variable's
    /// device: `n` f32 values (the variable's element count) starting at byte
    /// `src_offset` of `src`, which needs `COPY_SRC` usage (every variable and gradient
    /// buffer has it). The source is copied first, so it may be the variable's own slab.
    pub fn update_from_buffer(
        &self,
        v: &Variable,
        op: UpdateOp,
        src: &wgpu::Buffer,
        src_offset: u64,
    ) -> OptimResult<()> {
        let name = op.dense_name();
        let n = check_f32(name, v)?;
        let dev = device_index(self, v)?;
        if self.optim_gpu(dev).is_none() {
            return Err(OptimError::NoBuffers {
                op: name,
                variable: v.key().to_string(),
                device: self.devices()[dev].name.clone(),
            });
        }
        let end = src_offset.saturating_add(n * 4);
        if end > src.size() || !src_offset.is_multiple_of(4) || !src.usage().contains(wgpu::BufferUsages::COPY_SRC) {
            return Err(OptimError::SourceRange {
                op: name,
                variable: v.key().to_string(),
                start: src_offset,
                end,
                size: src.size(),
                usage: format!("{:?}", src.usage()),
            });
        }
        if op != UpdateOp::Assign {
            ensure_initialized(self, v)?;
        }
        let rows = self.dense_rows(v)?;
        self.run_update(v, op, name, Source::Buffer(src, src_offset), rows)?;
        if op == UpdateOp::Assign {
            self.optim_mark_initialized(v)?;
        }
        Ok(())
    }

    /// `scatter_update` / `scatter_add` / `scatter_sub`: for each `indices[k]`, combines
    /// row `k` of `updates` (`updates.len() == indices.len() * row_len`, where a row is
    /// the variable's shape without its first dimension) into row `indices[k]` of `v`.
    /// Out-of-range indices are errors and nothing is written. Duplicate indices: for
    /// `Add`/`Sub` their updates are summed (in index-list order) before being applied;
    /// for `Assign` the last one wins.
    pub fn scatter_f32(&self, v: &Variable, op: UpdateOp, indices: &[i64], updates: &[f32]) -> OptimResult<()> {
        let name = op.scatter_name();
        let n = check_f32(name, v)?;
        let dims = v.dims().unwrap_or_default();
        if dims.is_empty() {
            return Err(OptimError::BadShape { op: name, variable: v.key().to_string(), shape: v.shape().to_string() });
        }
        let rows_n = dims[0];
        let row_len = n.checked_div(rows_n).unwrap_or(0);
        let expected = indices.len() as u64 * row_len;
        if updates.len() as u64 != expected {
            return Err(OptimError::SizeMismatch {
                op: name,
                variable: v.key().to_string(),
                expected,
                given: updates.len() as u64,
            });
        }
        for (position, &index) in indices.iter().enumerate() {
            if index < 0 || index as u64 >= rows_n {
                return Err(OptimError::IndexOutOfRange {
                    op: name,
                    variable: v.key().to_string(),
                    index,
                    position,
                    rows: rows_n,
                });
            }
        }
        ensure_initialized(self, v)?;
        // Merge duplicates: unique rows in first-seen order.
        let rl = row_len as usize;
        let mut uniq: Vec<u64> = Vec::new();
        let mut pos: HashMap<u64, usize> = HashMap::new();
        let mut merged: Vec<f32> = Vec::new();
        for (k, &index) in indices.iter().enumerate() {
            let src = &updates[k * rl..(k + 1) * rl];
            match pos.get(&(index as u64)) {
                Some(&p) => {
                    let dst = &mut merged[p * rl..(p + 1) * rl];
                    for (d, s) in dst.iter_mut().zip(src) {
                        if op == UpdateOp::Assign {
                            *d = *s;
                        } else {
                            *d += *s;
                        }
                    }
                }
                None => {
                    pos.insert(index as u64, uniq.len());
                    uniq.push(index as u64);
                    merged.extend_from_slice(src);
                }
            }
        }
        let dev = device_index(self, v)?;
        if self.optim_gpu(dev).is_none() {
            let mut x = self.read_f32(v)?;
            for (p, &index) in uniq.iter().enumerate() {
                let dst = &mut x[index as usize * rl..(index as usize + 1) * rl];
                dst.iter_mut().zip(&merged[p * rl..(p + 1) * rl]).for_each(|(d, s)| op.apply(d, *s));
            }
            return Ok(self.assign_f32(v, &x)?);
        }
        // One row per (index, chunk) intersection: element range [index*rl, (index+1)*rl).
        let chunks = self.buffers(v)?.chunks;
        let mut rows: Vec<(usize, UpdateRow)> = Vec::new();
        for (p, &index) in uniq.iter().enumerate() {
            let (a, b) = (index * row_len, (index + 1) * row_len);
            for (ci, c) in chunks.iter().enumerate() {
                let lo = a.max(c.elements.start);
                let hi = b.min(c.elements.end);
                if lo < hi {
                    rows.push((
                        ci,
                        UpdateRow {
                            dst_off: (c.bytes.start / 4 + (lo - c.elements.start)) as u32,
                            src_off: (p as u64 * row_len + (lo - a)) as u32,
                            count: (hi - lo) as u32,
                            start: 0,
                        },
                    ));
                }
            }
        }
        let op2 = if op == UpdateOp::Assign { UpdateOp::Assign } else { op };
        self.run_update(v, op2, name, Source::Host(&merged), rows)
    }

    /// Rows of a dense update: one per chunk, source offset = the chunk's first element.
    fn dense_rows(&self, v: &Variable) -> OptimResult<Vec<(usize, UpdateRow)>> {
        let chunks = self.buffers(v)?.chunks;
        Ok(chunks
            .iter()
            .enumerate()
            .map(|(ci, c)| {
                (
                    ci,
                    UpdateRow {
                        dst_off: (c.bytes.start / 4) as u32,
                        src_off: c.elements.start as u32,
                        count: (c.elements.end - c.elements.start) as u32,
                        start: 0,
                    },
                )
            })
            .collect())
    }

    /// Runs update rows (chunk index, row) of `v` on its GPU: the source values go to
    /// pooled buffers (uploaded, or copied from the source buffer; one per chunk for
    /// dense updates, whose row `src_off` is the element index), then one dispatch of
    /// `update_main` per chunk buffer, one submission.
    fn run_update(
        &self,
        v: &Variable,
        op: UpdateOp,
        name: &'static str,
        src: Source<'_>,
        rows: Vec<(usize, UpdateRow)>,
    ) -> OptimResult<()> {
        let dev = device_index(self, v)?;
        let (gpu, info) = self.optim_gpu(dev).ok_or_else(|| OptimError::NoBuffers {
            op: name,
            variable: v.key().to_string(),
            device: self.devices()[dev].name.clone(),
        })?;
        let chunks = self.buffers(v)?.chunks;
        let what = format!("{name} {}", v.key());
        let mut temps = Vec::new();
        let res = (|| -> OptimResult<()> {
            let kernel = self.kernel(gpu, info, dev, Shader::Update, &[op.code()])?;
            // Source values: dense updates get one buffer per chunk (the chunk's elements,
            // so no binding exceeds the chunk size); scatters share one buffer of the
            // merged update rows.
            let n = v.num_elements().unwrap_or(0);
            let dense = match src {
                Source::Host(h) => {
                    h.len() as u64 == n && rows.iter().all(|(ci, r)| u64::from(r.src_off) == chunks[*ci].elements.start)
                }
                Source::Buffer(..) => true,
            };
            // (chunk, pooled source buffer, copy from (buffer, byte offset, bytes)).
            let mut srcs: Vec<Option<wgpu::Buffer>> = vec![None; chunks.len()];
            let mut copies: Vec<(wgpu::Buffer, u64, wgpu::Buffer, u64)> = Vec::new();
            let mut shared: Option<wgpu::Buffer> = None;
            for (ci, c) in chunks.iter().enumerate() {
                let (a, b) = (c.elements.start, c.elements.end);
                let words = if dense {
                    b - a
                } else {
                    match src {
                        Source::Host(h) => h.len() as u64,
                        Source::Buffer(..) => 0,
                    }
                };
                if !dense {
                    if let Some(sb) = &shared {
                        srcs[ci] = Some(sb.clone());
                        continue;
                    }
                }
                let sb = self
                    .optim_pool(|p| p.acquire(gpu, dev, Use::Params, words * 4))
                    .map_err(|m| wgpu_err(info, what.clone(), m))?;
                temps.push(sb.clone());
                match src {
                    Source::Host(h) => {
                        let part = if dense { &h[a as usize..b as usize] } else { h };
                        if !part.is_empty() {
                            gpu.queue.write_buffer(&sb, 0, bytemuck::cast_slice(part));
                        }
                    }
                    Source::Buffer(buf, off) => {
                        if words > 0 {
                            copies.push((buf.clone(), off + a * 4, sb.clone(), words * 4));
                        }
                    }
                }
                if !dense {
                    shared = Some(sb.clone());
                }
                srcs[ci] = Some(sb);
            }
            let mut planned = Vec::new();
            for (ci, c) in chunks.iter().enumerate() {
                let mut rs: Vec<UpdateRow> = rows.iter().filter(|(i, _)| *i == ci).map(|(_, r)| *r).collect();
                let mut total = 0u32;
                for r in &mut rs {
                    r.start = total;
                    total += r.count;
                    if dense {
                        r.src_off -= c.elements.start as u32;
                    }
                }
                if total == 0 {
                    continue;
                }
                let rb = upload(self, gpu, info, dev, "update rows", bytemuck::cast_slice(&rs))?;
                temps.push(rb.clone());
                let p = RowParams { num_rows: rs.len() as u32, total, _pad: [0; 2] };
                let pb = upload(self, gpu, info, dev, "update params", bytemuck::bytes_of(&p))?;
                temps.push(pb.clone());
                let Some(sb) = srcs[ci].clone() else { continue };
                planned.push((rb, pb, c.buffer.clone(), total, sb));
            }
            scoped(gpu, || {
                let mut enc = gpu
                    .device
                    .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("varscope update") });
                for (b, off, dst, bytes) in &copies {
                    enc.copy_buffer_to_buffer(b, *off, dst, 0, *bytes);
                }
                {
                    let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some("varscope update"),
                        timestamp_writes: None,
                    });
                    pass.set_pipeline(&kernel.pipeline);
                    for (rb, pb, buf, total, srcb) in &planned {
                        let bg = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
                            label: Some("varscope update"),
                            layout: &kernel.layout,
                            entries: &[
                                wgpu::BindGroupEntry { binding: 0, resource: rb.as_entire_binding() },
                                wgpu::BindGroupEntry { binding: 1, resource: pb.as_entire_binding() },
                                wgpu::BindGroupEntry { binding: 2, resource: srcb.as_entire_binding() },
                                wgpu::BindGroupEntry { binding: 3, resource: buf.as_entire_binding() },
                            ],
                        });
                        pass.set_bind_group(0, &bg, &[]);
                        dispatch(&mut pass, *total);
                    }
                }
                gpu.queue.submit([enc.finish()]);
            })
            .map_err(|m| wgpu_err(info, what.clone(), m))
        })();
        recycle(self, dev, temps);
        res
    }

    /// `v.assign_add(values)`, run (float32).
    pub fn assign_add(&self, v: &Variable, values: &[f32]) -> OptimResult<()> {
        self.update_f32(v, UpdateOp::Add, values)
    }

    /// `v.assign_sub(values)`, run (float32).
    pub fn assign_sub(&self, v: &Variable, values: &[f32]) -> OptimResult<()> {
        self.update_f32(v, UpdateOp::Sub, values)
    }

    /// `tf.scatter_update(v, indices, updates)`, run (float32).
    pub fn scatter_update(&self, v: &Variable, indices: &[i64], updates: &[f32]) -> OptimResult<()> {
        self.scatter_f32(v, UpdateOp::Assign, indices, updates)
    }

    /// `tf.scatter_add(v, indices, updates)`, run (float32).
    pub fn scatter_add(&self, v: &Variable, indices: &[i64], updates: &[f32]) -> OptimResult<()> {
        self.scatter_f32(v, UpdateOp::Add, indices, updates)
    }

    /// `tf.scatter_sub(v, indices, updates)`, run (float32).
    pub fn scatter_sub(&self, v: &Variable, indices: &[i64], updates: &[f32]) -> OptimResult<()> {
        self.scatter_f32(v, UpdateOp::Sub, indices, updates)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn norm_rows_collapse_shapes() {
        let r = norm_row(&Constraint::max_norm(2.0), &[3, 4]).unwrap();
        assert_eq!(r.groups, 4);
        assert_eq!(&r.kept_dims[..3], &[1, 1, 4]);
        assert_eq!(&r.kept_strides[2..3], &[1]);
        assert_eq!(&r.red_dims[..3], &[3, 1, 1]);
        assert_eq!(r.red_strides[0], 4);
        let r = norm_row(&Constraint::UnitNorm { axes: vec![0, 1] }, &[2, 3, 5]).unwrap();
        assert_eq!(r.groups, 5);
        assert_eq!((r.red_dims[0], r.red_strides[0]), (6, 5));
        let r = norm_row(&Constraint::UnitNorm { axes: vec![] }, &[2, 3]).unwrap();
        assert_eq!((r.groups, r.red_dims[0]), (6, 1));
    }
}
