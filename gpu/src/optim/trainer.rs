//! [`Trainer`]: one optimizer over a variable list, one fused step per device.

use std::collections::{BTreeMap, HashMap};

use varscope_core::optim::BetaPowers;
use varscope_core::{DType, Initializer, Optimizer, Variable};
use varscope_shaders::{NormRow, OptimRow, RowParams, Shader};

use super::fused::{encode_group, GroupBuffers};
use super::gradients::{GradStorage, Gradients};
use super::rows::{betas, clamp_of, norm_row, opt_code, opt_params};
use super::{check_f32, OptimError, OptimResult};
use crate::error::GpuError;
use crate::launch::Dev;
use crate::layout::host_to_device;
use crate::session::Session;
use crate::transfer::ReadRange;
use crate::values::HostValues;

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
pub struct Trainer {
    session: Session,
    optimizer: Optimizer,
    vars: Vec<Variable>,
    slots: Vec<Vec<Variable>>,
    index: HashMap<u64, usize>,
    beta_powers: Option<(Variable, Variable)>,
    /// The values of `beta_powers` before the next step, as the trainer last wrote or
    /// read them (TensorFlow's float32 accumulators).
    powers: BetaPowers,
    step: u64,
    /// TensorFlow's `global_step` and the value it holds (the trainer writes it).
    global_step: Option<(Variable, i64)>,
}

impl std::fmt::Debug for Trainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("optimizer", &self.optimizer)
            .field("variables", &self.vars.len())
            .field("step", &self.step)
            .finish()
    }
}

/// The step count `t` of restored beta powers `p1`, `p2` (the values before step `t + 1`).
///
/// Powers advanced by TensorFlow's rule (start at the betas, multiplied in float32 by
/// them each step, as this trainer and TensorFlow do) are matched exactly: the integer
/// whose powers are bit-identical to both. Other powers are matched by logarithm, from
/// `beta1_power` while it is a normal float (consecutive steps differ by a factor
/// `beta1`, far above rounding), else from `beta2_power`. When both have underflowed to
/// zero or subnormals, `1 - power` is exactly 1 in float32 and the step size no longer
/// depends on `t`; the earliest such step is returned. The step count is informational:
/// the step size is formed from the powers themselves.
pub(crate) fn recover_step(beta1: f32, beta2: f32, p1: f32, p2: f32) -> u64 {
    let estimate = |b: f32, p: f32| -> Option<u64> {
        (p > 0.0 && b > 0.0 && b < 1.0)
            .then(|| ((f64::from(p).ln() / f64::from(b).ln()).round() as i64 - 1).max(0) as u64)
    };
    let same = |q: BetaPowers| q.beta1_power.to_bits() == p1.to_bits() && q.beta2_power.to_bits() == p2.to_bits();
    for (b, p) in [(beta1, p1), (beta2, p2)] {
        if let Some(e) = estimate(b, p).filter(|_| p.is_normal()) {
            let lo = e.saturating_sub(4);
            let mut q = BetaPowers::at_step(beta1, beta2, lo + 1);
            for t in lo..=e + 4 {
                if same(q) {
                    return t;
                }
                q = q.advance(beta1, beta2);
            }
        }
    }
    for (b, p) in [(beta1, p1), (beta2, p2)] {
        if let Some(e) = estimate(b, p).filter(|_| p.is_normal()) {
            return e;
        }
    }
    let floor = f32::from_bits(1); // the smallest subnormal
    estimate(beta1, p1.max(floor)).into_iter().chain(estimate(beta2, p2.max(floor))).max().unwrap_or(0)
}

/// `global_step + 1` in the global step's dtype (wrapping, as TensorFlow's integer adds).
fn next_global_step(dtype: DType, x: i64) -> i64 {
    if dtype == DType::Int32 {
        i64::from((x as i32).wrapping_add(1))
    } else {
        x.wrapping_add(1)
    }
}

/// Rows of one fused dispatch share (variable buffer, [gradient buffer, slot buffers]).
/// `wgpu::Buffer` hashes by its id, which never changes.
type GroupKey = (wgpu::Buffer, Vec<wgpu::Buffer>);

impl Trainer {
    /// An optimizer over `var_list`: checks every variable is trainable float32 with a
    /// known shape and appears once, creates the slots (`Graph::create_slots`, named as
    /// TensorFlow does) and, for Adam/AdamW, the non-slot variables `beta1_power` and
    /// `beta2_power` (non-trainable, global); materializes variables and slots (each set
    /// together, so small ones share slabs) and runs the initializers of the slots and
    /// powers that are not initialized yet. If `beta1_power` is already initialized
    /// (restored), the step count continues from it.
    pub fn new(session: &Session, optimizer: Optimizer, var_list: &[Variable]) -> OptimResult<Self> {
        Self::build(session, optimizer, var_list, None, None)
    }

    /// A trainer over existing optimizer state: `slots[i]` are the slot variables of
    /// `var_list[i]` in [`Optimizer::slot_specs`] order (for example those of an earlier
    /// trainer, or created with `Graph::create_slots` before a restore), and, for
    /// Adam/AdamW, the `beta1_power` / `beta2_power` variables (`None`: new ones). A
    /// missing entry of `slots` counts as an empty list (right for SGD, which has no
    /// slots). Otherwise as [`Trainer::new`]; a slot list of the wrong number, shape or
    /// dtype is [`OptimError::SlotMismatch`].
    pub fn with_state(
        session: &Session,
        optimizer: Optimizer,
        var_list: &[Variable],
        slots: &[Vec<Variable>],
        beta_powers: Option<(Variable, Variable)>,
    ) -> OptimResult<Self> {
        Self::build(session, optimizer, var_list, Some(slots), beta_powers)
    }

    fn build(
        session: &Session,
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
        // Slots and beta powers are created, allocated and initialized as one: if any
        // step fails, the graph forgets the variables this call created (their names
        // are free again) and their storage is freed (runtime.md section 9).
        let mut created: Vec<Variable> = Vec::new();
        let r = g.all_or_nothing(|| {
            Self::build_in(session, optimizer, var_list, given_slots, given_powers, index, &mut created)
        });
        if r.is_err() {
            // The slots and powers are gone from the graph; a variable of `var_list` is
            // freed only while nothing initialized it (another thread may have meanwhile).
            for v in &created {
                if !var_list.contains(v) || !session.is_variable_initialized(v) {
                    session.release(v);
                }
            }
        }
        r
    }

    /// The part of [`Trainer::build`] that creates and allocates variables; each one it
    /// allocates is pushed to `created`.
    fn build_in(
        session: &Session,
        optimizer: Optimizer,
        var_list: &[Variable],
        given_slots: Option<&[Vec<Variable>]>,
        given_powers: Option<(Variable, Variable)>,
        index: HashMap<u64, usize>,
        created: &mut Vec<Variable>,
    ) -> OptimResult<Self> {
        let g = session.graph();
        let want = optimizer.slot_specs().len();
        let slots: Vec<Vec<Variable>> = match given_slots {
            Some(given) => {
                let mut out = Vec::with_capacity(var_list.len());
                for (i, v) in var_list.iter().enumerate() {
                    let sl = given.get(i).cloned().unwrap_or_default();
                    let bad = sl.len() != want || sl.iter().any(|x| x.dtype() != v.dtype() || x.dims() != v.dims());
                    if bad {
                        return Err(OptimError::SlotMismatch {
                            variable: v.key().to_string(),
                            slots: sl.iter().map(|x| x.key().to_string()).collect(),
                            expected: want,
                        });
                    }
                    out.push(sl);
                }
                out
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
        // What this call allocates, freed again if it fails.
        let powers = beta_powers.iter().flat_map(|(a, b)| [a, b]);
        let unallocated = var_list.iter().chain(slots.iter().flatten()).chain(powers);
        created.extend(unallocated.filter(|v| session.variable_bytes(v).is_none()).cloned());
        session.materialize(var_list)?;
        for (v, sl) in var_list.iter().zip(&slots) {
            for s in sl {
                session.colocate(s, v)?;
            }
        }
        let all_slots: Vec<Variable> = slots.iter().flatten().cloned().collect();
        session.materialize(&all_slots)?;
        let mut init = all_slots;
        if let Some((a, b)) = &beta_powers {
            init.push(a.clone());
            init.push(b.clone());
        }
        session.variables_initializer(&init)?;
        let mut t = Trainer {
            session: session.clone(),
            optimizer,
            vars: var_list.to_vec(),
            slots,
            index,
            beta_powers,
            powers: BetaPowers::default(),
            step: 0,
            global_step: None,
        };
        t.reload_step()?;
        Ok(t)
    }

    /// The trainer with TensorFlow's `global_step` (as
    /// `optimizer.minimize(loss, global_step=global_step)`): each step adds 1 to it, in
    /// the step's submission on the global step's device; it checkpoints like any
    /// variable. It must be an int64 or int32 scalar (TensorFlow's `assert_global_step`);
    /// it is materialized and, if not yet initialized, initialized, and its value read
    /// (again by [`reload_step`](Self::reload_step) after a restore).
    /// `Graph::get_or_create_global_step` makes one as TensorFlow names it.
    pub fn with_global_step(mut self, global_step: &Variable) -> OptimResult<Self> {
        let v = global_step;
        let bad = |problem| OptimError::BadGlobalStep {
            variable: v.key().to_string(),
            problem,
            dtype: v.dtype(),
            shape: v.shape().to_string(),
        };
        if !v.dtype().is_integer() {
            return Err(bad("does not have integer type"));
        }
        if !matches!(v.dtype(), DType::Int32 | DType::Int64) {
            return Err(bad("is not int32 or int64"));
        }
        if v.dims().is_none_or(|d| !d.is_empty()) {
            return Err(bad("is not scalar"));
        }
        let one = std::slice::from_ref(v);
        self.session.materialize(one)?;
        self.session.variables_initializer(one)?;
        self.global_step = Some((v.clone(), 0));
        self.reload_global_step()?;
        Ok(self)
    }

    /// The global step given to [`with_global_step`](Self::with_global_step).
    pub fn global_step(&self) -> Option<&Variable> {
        self.global_step.as_ref().map(|(v, _)| v)
    }

    /// The value the global step holds (as the trainer last wrote or read it).
    pub fn global_step_value(&self) -> Option<i64> {
        self.global_step.as_ref().map(|(_, x)| *x)
    }

    fn reload_global_step(&mut self) -> OptimResult<()> {
        if let Some((v, x)) = &mut self.global_step {
            *x = self.session.read(v)?.to_i64_vec().first().copied().unwrap_or(0);
        }
        Ok(())
    }

    /// The session the trainer runs on.
    pub fn session(&self) -> &Session {
        &self.session
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

    /// The beta powers the next step uses (what `beta1_power` / `beta2_power` hold; betas
    /// of 1 for optimizers without them).
    pub fn next_beta_powers(&self) -> BetaPowers {
        self.powers
    }

    /// Reads the beta powers and the global step back (after a checkpoint restore or an
    /// assignment to them): the next step forms its step size from the powers, as
    /// TensorFlow does, and the step count is recovered from them exactly (see the module
    /// documentation); the global step continues from its value. Without beta powers
    /// or a global step, a no-op.
    pub fn reload_step(&mut self) -> OptimResult<()> {
        self.reload_global_step()?;
        if let (Some((b1p, b2p)), Some((beta1, beta2))) = (&self.beta_powers, betas(&self.optimizer)) {
            let p = self.session.read_many(&[b1p.clone(), b2p.clone()])?;
            let first = |v: &HostValues, d: f32| v.to_f32_vec().first().copied().unwrap_or(d);
            self.powers = BetaPowers { beta1_power: first(&p[0], beta1), beta2_power: first(&p[1], beta2) };
            self.step = recover_step(beta1, beta2, self.powers.beta1_power, self.powers.beta2_power);
        }
        Ok(())
    }

    /// One optimizer step for every variable `grads` holds (each must be in the
    /// trainer's list; variables of the list without a gradient are left alone), then
    /// each updated variable's constraint. GPU work is submitted without waiting; call
    /// [`Session::sync`] (or read) to wait. Each GPU's work is recorded under one
    /// session lock and submitted once.
    pub fn apply_gradients(&mut self, grads: &Gradients) -> OptimResult<StepStats> {
        let s = &self.session;
        if !s.same_session(grads.session()) {
            return Err(OptimError::OtherSession {
                what: "gradients",
                variable: grads.entries.first().map(|e| e.var.key().to_string()).unwrap_or_default(),
            });
        }
        let mut pairs: Vec<usize> = Vec::with_capacity(grads.entries.len());
        let mut needed: Vec<Variable> = Vec::new();
        for e in &grads.entries {
            let i = *self
                .index
                .get(&e.var.id())
                .ok_or_else(|| OptimError::NotInVarList { variable: e.var.key().to_string() })?;
            needed.push(self.vars[i].clone());
            needed.extend(self.slots[i].iter().cloned());
            pairs.push(i);
        }
        // Checked before any device is touched, under one lock.
        if let Some(v) = s.first_uninitialized(&needed) {
            return Err(GpuError::Uninitialized { variable: v.op_name().to_string() }.into());
        }
        let step = self.step + 1;
        let mut stats = StepStats { step, ..Default::default() };
        // The beta powers after this step (TensorFlow's `_finish`: each multiplied by its
        // beta in float32), written with the step of their device.
        let mut nonslot: Vec<(Variable, HostValues)> = Vec::new();
        let mut next_powers = self.powers;
        if let (Some((b1p, b2p)), Some((b1, b2))) = (&self.beta_powers, betas(&self.optimizer)) {
            next_powers = self.powers.advance(b1, b2);
            nonslot.push((b1p.clone(), HostValues::from_f32(&[], &[next_powers.beta1_power])?));
            nonslot.push((b2p.clone(), HostValues::from_f32(&[], &[next_powers.beta2_power])?));
        }
        // The global step after this step (`global_step.assign_add(1)`), written the same way.
        let next_global = self.global_step.as_ref().map(|(v, x)| (v.clone(), next_global_step(v.dtype(), *x)));
        if let Some((v, x)) = &next_global {
            let value = match v.dtype() {
                DType::Int32 => HostValues::from_i32(&[], &[*x as i32])?,
                _ => HostValues::from_i64(&[], &[*x])?,
            };
            nonslot.push((v.clone(), value));
        }
        // Host rows first (they cannot fail half-way on a device), then one submission per GPU.
        let mut by_dev: BTreeMap<usize, Vec<(usize, usize)>> = BTreeMap::new(); // dev -> (var, grad entry)
        for (gi, &i) in pairs.iter().enumerate() {
            by_dev.entry(grads.entries[gi].dev).or_default().push((i, gi));
        }
        for (dev, list) in by_dev {
            match s.dev(dev) {
                None => {
                    self.host_step(&list, grads)?;
                    stats.host_variables += list.len();
                }
                Some(d) => {
                    let mine: Vec<(Variable, HostValues)> =
                        nonslot.iter().filter(|(p, _)| s.device_index(p).ok() == Some(dev)).cloned().collect();
                    nonslot.retain(|(p, _)| s.device_index(p).ok() != Some(dev));
                    let (u, n) = self.gpu_step(d, &list, grads, &mine)?;
                    stats.update_dispatches += u;
                    stats.norm_dispatches += n;
                    stats.submissions += 1;
                    stats.gpu_variables += list.len();
                }
            }
        }
        self.step = step;
        self.powers = next_powers;
        if let (Some((_, x)), Some((_, next))) = (&mut self.global_step, next_global) {
            *x = next;
        }
        if !nonslot.is_empty() {
            s.assign_many(&nonslot.iter().map(|(p, h)| (p.clone(), h)).collect::<Vec<_>>())?;
        }
        Ok(stats)
    }

    /// The host reference step of the `/cpu:0` variables in `list`: one batched read and
    /// one batched write.
    fn host_step(&self, list: &[(usize, usize)], grads: &Gradients) -> OptimResult<()> {
        let s = &self.session;
        let mut vars: Vec<Variable> = Vec::new();
        for &(i, _) in list {
            vars.push(self.vars[i].clone());
            vars.extend(self.slots[i].iter().cloned());
        }
        let mut values: Vec<Vec<f32>> = s.read_many(&vars)?.iter().map(HostValues::to_f32_vec).collect();
        let mut k = 0;
        for &(i, gi) in list {
            let v = &self.vars[i];
            let grad = grads
                .host(&grads.entries[gi].var)
                .ok_or_else(|| OptimError::NoGradient { variable: v.key().to_string() })?;
            let nslots = self.slots[i].len();
            let (var, slots) = values[k..k + 1 + nslots].split_at_mut(1);
            let mut slot_vals: Vec<Vec<f32>> = slots.iter_mut().map(std::mem::take).collect();
            self.optimizer.reference_step_with_powers(self.powers, &mut var[0], &grad, &mut slot_vals)?;
            if let Some(c) = v.constraint() {
                let mut x: Vec<f64> = var[0].iter().map(|&x| f64::from(x)).collect();
                c.apply_reference(&v.dims().unwrap_or_default(), &mut x);
                var[0] = x.into_iter().map(|x| x as f32).collect();
            }
            for (dst, src) in slots.iter_mut().zip(slot_vals) {
                *dst = src;
            }
            k += 1 + nslots;
        }
        let hv: Vec<HostValues> = vars
            .iter()
            .zip(&values)
            .map(|(v, x)| HostValues::from_f32(&v.dims().unwrap_or_default(), x))
            .collect::<Result<_, _>>()?;
        s.assign_many(&vars.iter().cloned().zip(hv.iter()).collect::<Vec<_>>())?;
        Ok(())
    }

    /// One device's step under one session lock: rows grouped by (variable buffer,
    /// gradient buffer, slot buffers), per group one dispatch of the vector kernel and one
    /// of the scalar kernel where each has rows (`fused`), then the norm constraints
    /// and the writes `nonslot` (beta powers, global step) of this device; one submission. Norm constraints the
    /// kernel cannot take (chunked or high-rank variables) run on the host afterwards.
    /// Returns (update dispatches, norm dispatches).
    fn gpu_step(
        &self,
        d: Dev<'_>,
        list: &[(usize, usize)],
        grads: &Gradients,
        nonslot: &[(Variable, HostValues)],
    ) -> OptimResult<(usize, usize)> {
        let s = &self.session;
        let nslots = self.optimizer.slot_specs().len();
        let kind = opt_code(&self.optimizer).unwrap_or_default();
        let mut l = s.locked();
        let (mut launch, storage) = l.launch(d, "apply_gradients");
        let chunks_of = |v: &Variable| {
            storage.chunks(v.id()).ok_or_else(|| OptimError::NoBuffers {
                op: "apply_gradients",
                variable: v.key().to_string(),
                device: d.info.name.clone(),
            })
        };
        #[allow(clippy::mutable_key_type)]
        let mut groups: HashMap<GroupKey, Vec<OptimRow>> = HashMap::new();
        let mut order: Vec<GroupKey> = Vec::new();
        let mut norm_groups: Vec<(wgpu::Buffer, Vec<NormRow>)> = Vec::new();
        let mut host_norms: Vec<Variable> = Vec::new();
        for &(i, gi) in list {
            let v = &self.vars[i];
            let vc = chunks_of(v)?;
            let sc: Vec<_> = self.slots[i].iter().map(chunks_of).collect::<Result<_, _>>()?;
            let GradStorage::Gpu(gc) = &grads.entries[gi].storage else {
                return Err(OptimError::NoGradient { variable: v.key().to_string() });
            };
            let (code, lo, hi) = clamp_of(v.constraint());
            for (k, c) in vc.iter().enumerate() {
                let g = gc
                    .iter()
                    .find(|g| g.start == c.start)
                    .ok_or_else(|| OptimError::NoGradient { variable: v.key().to_string() })?;
                let mut row = OptimRow {
                    var_off: (c.offset / 4) as u32,
                    grad_off: (g.offset / 4) as u32,
                    count: c.count as u32,
                    constraint: code,
                    lo,
                    hi,
                    ..Default::default()
                };
                let mut bufs = vec![g.buf.buffer.clone()];
                for (j, chunks) in sc.iter().enumerate().take(nslots) {
                    let slot = chunks.get(k).ok_or_else(|| OptimError::NoBuffers {
                        op: "apply_gradients",
                        variable: self.slots[i][j].key().to_string(),
                        device: d.info.name.clone(),
                    })?;
                    let off = (slot.offset / 4) as u32;
                    match j {
                        0 => row.s0_off = off,
                        1 => row.s1_off = off,
                        _ => row.s2_off = off,
                    }
                    bufs.push(slot.buf.buffer.clone());
                }
                if row.count == 0 {
                    continue;
                }
                let key: GroupKey = (c.buf.buffer.clone(), bufs);
                groups
                    .entry(key.clone())
                    .or_insert_with(|| {
                        order.push(key);
                        Vec::new()
                    })
                    .push(row);
            }
            // Norm constraints: rows grouped by buffer; chunked or high-rank ones on the host.
            if let Some(c) = v.constraint().filter(|c| !c.is_elementwise()) {
                match (vc.len(), norm_row(c, &v.dims().unwrap_or_default())) {
                    (1, Some(mut row)) => {
                        row.var_off = (vc[0].offset / 4) as u32;
                        match norm_groups.iter_mut().find(|(b, _)| *b == vc[0].buf.buffer) {
                            Some((_, rows)) => rows.push(row),
                            None => norm_groups.push((vc[0].buf.buffer.clone(), vec![row])),
                        }
                    }
                    _ => host_norms.push(v.clone()),
                }
            }
        }
        let params = opt_params(&self.optimizer, self.powers);
        let dummy = launch.params(&[0u8; 16])?;
        for key in &order {
            // The distinct read-write buffers: the variable's first, then new slot buffers.
            let mut rw: Vec<wgpu::Buffer> = vec![key.0.clone()];
            let mut map = [0u32; 3];
            for (j, b) in key.1[1..].iter().enumerate() {
                map[j] = match rw.iter().position(|x| x == b) {
                    Some(p) => p as u32,
                    None => {
                        rw.push(b.clone());
                        (rw.len() - 1) as u32
                    }
                };
            }
            let bufs = GroupBuffers { grad: &key.1[0], rw: &rw, map };
            encode_group(&mut launch, kind, params, &bufs, &groups[key], &dummy)?;
        }
        let updates = launch.dispatches();
        for (buf, mut rows) in norm_groups {
            let mut total = 0u32;
            for r in &mut rows {
                r.start = total;
                total += r.groups;
            }
            let rows_b = launch.params(bytemuck::cast_slice(&rows))?;
            let params_b =
                launch.params(bytemuck::bytes_of(&RowParams { num_rows: rows.len() as u32, total, _pad: [0; 2] }))?;
            launch.dispatch(Shader::Norm, &[], &[&rows_b, &params_b, &buf], total)?;
        }
        let norms = launch.dispatches() - updates;
        // The beta powers and the global step are read by no kernel of this step: their
        // queue writes go first.
        for (p, value) in nonslot {
            let c = chunks_of(p)?.first().ok_or_else(|| OptimError::NoGradient { variable: p.key().to_string() })?;
            launch.write(&c.buf.buffer, c.offset, &host_to_device(value.dtype(), value.bytes()));
        }
        let host_ranges: Vec<(Variable, Vec<ReadRange>, Vec<u64>)> = host_norms
            .iter()
            .map(|v| {
                let cs = chunks_of(v)?;
                let ranges = cs
                    .iter()
                    .map(|c| ReadRange { buffer: c.buf.buffer.clone(), offset: c.offset, bytes: c.bytes })
                    .collect();
                Ok((v.clone(), ranges, cs.iter().map(|c| c.start).collect()))
            })
            .collect::<OptimResult<_>>()?;
        launch.submit()?;
        // Norm constraints that do not fit the kernel: on the host, after the update.
        for (v, ranges, starts) in host_ranges {
            let Some(c) = v.constraint() else { continue };
            let mut x: Vec<f64> = Vec::new();
            l.read_ranges(d, "apply_gradients (host norm constraint)", &ranges, |_, b| {
                x.extend(bytemuck::cast_slice::<u8, f32>(b).iter().map(|&y| f64::from(y)))
            })?;
            c.apply_reference(&v.dims().unwrap_or_default(), &mut x);
            let vals: Vec<f32> = x.into_iter().map(|y| y as f32).collect();
            let (mut launch, _) = l.launch(d, "apply_gradients (host norm constraint)");
            for (r, start) in ranges.iter().zip(starts) {
                let n = (r.bytes / 4) as usize;
                let part = &vals[start as usize..(start as usize + n).min(vals.len())];
                launch.write(&r.buffer, r.offset, bytemuck::cast_slice(part));
            }
            launch.submit()?;
        }
        Ok((updates, norms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_takes_the_session_lock_once_per_device() {
        use varscope_core::Graph;
        let g = Graph::new();
        let vars: Vec<Variable> = (0..200)
            .map(|i| g.get_variable(&format!("v{i}")).shape([3, 5]).initializer(Initializer::ones()).get().unwrap())
            .map(|r| r.variable().unwrap().clone())
            .collect();
        let s = Session::new(&g).unwrap();
        if !varscope_test_support::have_gpus("a_step_takes_the_session_lock_once_per_device", s.num_gpus()) {
            return;
        }
        s.global_variables_initializer().unwrap();
        let mut tr = Trainer::new(&s, Optimizer::adam(), &vars).unwrap();
        let grads = Gradients::new(&s, &vars).unwrap();
        let before = s.lock_count();
        let stats = tr.apply_gradients(&grads).unwrap();
        // One check of every variable's state, then one lock for the device's step.
        assert_eq!(s.lock_count() - before, 2, "{stats:?} on {}", s.default_device().name);
    }

    #[test]
    fn the_step_is_recovered_exactly_from_the_stored_powers() {
        for (b1, b2) in [(0.9f32, 0.999f32), (0.5, 0.99), (0.95, 0.9999)] {
            for t in [0u64, 1, 2, 7, 100, 959, 960, 961, 985, 986, 1000, 2000, 5000, 20_000, 60_000] {
                let q = BetaPowers::at_step(b1, b2, t + 1);
                let (p1, p2) = (q.beta1_power, q.beta2_power);
                let r = recover_step(b1, b2, p1, p2);
                if p2.is_normal() || p1.is_normal() {
                    assert_eq!(r, t, "betas ({b1}, {b2}) step {t}");
                } else {
                    // Both underflowed: the bias correction no longer depends on t.
                    let lr = |t| varscope_core::optim::adam_lr(0.001, b1, b2, t + 1);
                    assert_eq!(lr(r), lr(t), "betas ({b1}, {b2}) step {t} recovered as {r}");
                }
            }
        }
    }
}
