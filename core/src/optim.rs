//! Optimizers as plain data (TensorFlow 1.x `tf.compat.v1.train.*` hyper-parameters and
//! defaults), their slot variables with TensorFlow's names, and the host reference of
//! one update step (runtime.md section 7).
//!
//! Slots are created exactly as `slot_creator.create_slot` does: inside
//! `variable_scope(None, default_name = "<primary op name>/<optimizer name>")`, as
//! `get_variable("")`, non-trainable, with the primary's caching device. The default-name
//! counters then give `foo/v/Adam` and `foo/v/Adam_1`, `foo/v/RMSProp`,
//! `foo/v/RMSProp_1`, ... A shard's slot is itself a shard of `p/<slot>`.

use crate::collections::GraphKeys;
use crate::partition::SliceInfo;
use crate::{DType, Error, Graph, Initializer, Result, Variable};

/// `tf.GraphKeys.GLOBAL_STEP`: the collection of the global step, and its variable's name.
pub const GLOBAL_STEP: &str = "global_step";

/// An optimizer and its hyper-parameters.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Optimizer {
    /// `GradientDescentOptimizer(learning_rate)`.
    Sgd {
        /// Learning rate.
        learning_rate: f32,
    },
    /// `MomentumOptimizer(learning_rate, momentum, use_nesterov=False)`.
    Momentum {
        /// Learning rate.
        learning_rate: f32,
        /// Momentum.
        momentum: f32,
        /// Nesterov momentum.
        use_nesterov: bool,
    },
    /// `AdagradOptimizer(learning_rate, initial_accumulator_value=0.1)`.
    Adagrad {
        /// Learning rate.
        learning_rate: f32,
        /// Starting value of the accumulator.
        initial_accumulator_value: f32,
    },
    /// `RMSPropOptimizer(learning_rate, decay=0.9, momentum=0.0, epsilon=1e-10, centered=False)`.
    RmsProp {
        /// Learning rate.
        learning_rate: f32,
        /// Discount of the mean square.
        decay: f32,
        /// Momentum.
        momentum: f32,
        /// Epsilon.
        epsilon: f32,
        /// Centered variant (also tracks the mean gradient).
        centered: bool,
    },
    /// `AdamOptimizer(learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-08)`.
    Adam {
        /// Learning rate.
        learning_rate: f32,
        /// First-moment decay.
        beta1: f32,
        /// Second-moment decay.
        beta2: f32,
        /// Epsilon.
        epsilon: f32,
    },
    /// `AdamWOptimizer(weight_decay, learning_rate=0.001, beta1=0.9, beta2=0.999,
    /// epsilon=1e-08)`: decoupled weight decay (`var -= weight_decay * var`, not scaled
    /// by the learning rate, applied before the Adam step), as `tf.contrib.opt`.
    AdamW {
        /// Weight decay.
        weight_decay: f32,
        /// Learning rate.
        learning_rate: f32,
        /// First-moment decay.
        beta1: f32,
        /// Second-moment decay.
        beta2: f32,
        /// Epsilon.
        epsilon: f32,
    },
}

impl Optimizer {
    /// `GradientDescentOptimizer(learning_rate)`.
    pub fn sgd(learning_rate: f32) -> Self {
        Optimizer::Sgd { learning_rate }
    }
    /// `MomentumOptimizer(learning_rate, momentum)`.
    pub fn momentum(learning_rate: f32, momentum: f32) -> Self {
        Optimizer::Momentum { learning_rate, momentum, use_nesterov: false }
    }
    /// `MomentumOptimizer(learning_rate, momentum, use_nesterov=True)`.
    pub fn nesterov(learning_rate: f32, momentum: f32) -> Self {
        Optimizer::Momentum { learning_rate, momentum, use_nesterov: true }
    }
    /// `AdagradOptimizer(learning_rate)`.
    pub fn adagrad(learning_rate: f32) -> Self {
        Optimizer::Adagrad { learning_rate, initial_accumulator_value: 0.1 }
    }
    /// `RMSPropOptimizer(learning_rate)`.
    pub fn rmsprop(learning_rate: f32) -> Self {
        Optimizer::RmsProp { learning_rate, decay: 0.9, momentum: 0.0, epsilon: 1e-10, centered: false }
    }
    /// `AdamOptimizer()` with TensorFlow's defaults.
    pub fn adam() -> Self {
        Optimizer::Adam { learning_rate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 }
    }
    /// `AdamWOptimizer(weight_decay)` with TensorFlow's defaults.
    pub fn adamw(weight_decay: f32) -> Self {
        Optimizer::AdamW { weight_decay, learning_rate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 }
    }

    /// TensorFlow's optimizer name, which names the slots.
    pub fn name(&self) -> &'static str {
        match self {
            Optimizer::Sgd { .. } => "GradientDescent",
            Optimizer::Momentum { .. } => "Momentum",
            Optimizer::Adagrad { .. } => "Adagrad",
            Optimizer::RmsProp { .. } => "RMSProp",
            Optimizer::Adam { .. } => "Adam",
            Optimizer::AdamW { .. } => "AdamW",
        }
    }

    /// The slots in TensorFlow's creation order: `(slot name, initializer)`.
    pub fn slot_specs(&self) -> Vec<(&'static str, Initializer)> {
        match self {
            Optimizer::Sgd { .. } => vec![],
            Optimizer::Momentum { .. } => vec![("momentum", Initializer::zeros())],
            Optimizer::Adagrad { initial_accumulator_value, .. } => {
                vec![("accumulator", Initializer::constant(*initial_accumulator_value as f64))]
            }
            Optimizer::RmsProp { centered, .. } => {
                let mut s = vec![("rms", Initializer::ones())];
                if *centered {
                    s.push(("mg", Initializer::zeros()));
                }
                s.push(("momentum", Initializer::zeros()));
                s
            }
            Optimizer::Adam { .. } | Optimizer::AdamW { .. } => {
                vec![("m", Initializer::zeros()), ("v", Initializer::zeros())]
            }
        }
    }

    /// One update on the host in float32, in the operation order of TensorFlow's
    /// `training_ops` kernels. `step` counts from 1: Adam's beta powers are those
    /// TensorFlow holds before that step ([`BetaPowers::at_step`]); `slots` are in
    /// [`slot_specs`](Self::slot_specs) order.
    pub fn reference_step(&self, step: u64, var: &mut [f32], grad: &[f32], slots: &mut [Vec<f32>]) -> Result<()> {
        let powers = match *self {
            Optimizer::Adam { beta1, beta2, .. } | Optimizer::AdamW { beta1, beta2, .. } => {
                BetaPowers::at_step(beta1, beta2, step)
            }
            _ => BetaPowers::default(),
        };
        self.reference_step_with_powers(powers, var, grad, slots)
    }

    /// [`reference_step`](Self::reference_step) with Adam's beta powers given (what the
    /// `beta1_power` / `beta2_power` variables hold before the step, for example restored
    /// from a checkpoint); other optimizers ignore them.
    pub fn reference_step_with_powers(
        &self,
        powers: BetaPowers,
        var: &mut [f32],
        grad: &[f32],
        slots: &mut [Vec<f32>],
    ) -> Result<()> {
        let n = var.len();
        if grad.len() != n || slots.len() != self.slot_specs().len() || slots.iter().any(|s| s.len() != n) {
            return Err(Error::ReferenceStepLengths {
                optimizer: self.name().to_string(),
                len: n,
                slots: self.slot_specs().len(),
            });
        }
        match *self {
            Optimizer::Sgd { learning_rate } => {
                for i in 0..n {
                    var[i] -= learning_rate * grad[i];
                }
            }
            Optimizer::Momentum { learning_rate, momentum, use_nesterov } => {
                let acc = &mut slots[0];
                for i in 0..n {
                    acc[i] = acc[i] * momentum + grad[i];
                    if use_nesterov {
                        var[i] -= grad[i] * learning_rate + acc[i] * momentum * learning_rate;
                    } else {
                        var[i] -= acc[i] * learning_rate;
                    }
                }
            }
            Optimizer::Adagrad { learning_rate, .. } => {
                let acc = &mut slots[0];
                for i in 0..n {
                    acc[i] += grad[i] * grad[i];
                    var[i] -= grad[i] * learning_rate / acc[i].sqrt();
                }
            }
            Optimizer::RmsProp { learning_rate, decay, momentum, epsilon, centered } => {
                // `slots.len() == slot_specs().len()` was checked above: RmsProp has
                // `rms`, (`mg`,) `momentum`, so there is a first and a last slot.
                let (ms, rest) = slots.split_first_mut().expect("rms slot");
                for i in 0..n {
                    let g = grad[i];
                    ms[i] += (g * g - ms[i]) * (1.0 - decay);
                    let denom = if centered {
                        let mg = &mut rest[0];
                        mg[i] += (g - mg[i]) * (1.0 - decay);
                        ms[i] - mg[i] * mg[i] + epsilon
                    } else {
                        ms[i] + epsilon
                    };
                    // See above: `rest` holds (`mg`,) `momentum`.
                    let mom = rest.last_mut().expect("momentum slot");
                    mom[i] = mom[i] * momentum + learning_rate * g / denom.sqrt();
                    var[i] -= mom[i];
                }
            }
            Optimizer::Adam { learning_rate, beta1, beta2, epsilon }
            | Optimizer::AdamW { learning_rate, beta1, beta2, epsilon, .. } => {
                let wd = match *self {
                    Optimizer::AdamW { weight_decay, .. } => weight_decay,
                    _ => 0.0,
                };
                let lr_t = powers.lr(learning_rate);
                let (m, v) = slots.split_at_mut(1);
                let (m, v) = (&mut m[0], &mut v[0]);
                for i in 0..n {
                    if wd != 0.0 {
                        var[i] -= wd * var[i];
                    }
                    let g = grad[i];
                    m[i] += (g - m[i]) * (1.0 - beta1);
                    v[i] += (g * g - v[i]) * (1.0 - beta2);
                    var[i] -= lr_t * m[i] / (v[i].sqrt() + epsilon);
                }
            }
        }
        Ok(())
    }
}

/// Adam's non-slot accumulators `beta1_power` and `beta2_power` as TensorFlow holds them:
/// float32 variables that start at `beta1` and `beta2` and are multiplied (in float32) by
/// `beta1` and `beta2` after every step. The step size is formed from them in float32
/// ([`lr`](Self::lr)), so a step taken from restored powers is TensorFlow's step bit for
/// bit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BetaPowers {
    /// `beta1_power`: `beta1^t` before step `t` (from 1).
    pub beta1_power: f32,
    /// `beta2_power`: `beta2^t` before step `t` (from 1).
    pub beta2_power: f32,
}

impl Default for BetaPowers {
    /// Powers of betas 1 (no bias correction to apply; what optimizers without beta
    /// powers pass).
    fn default() -> Self {
        BetaPowers { beta1_power: 1.0, beta2_power: 1.0 }
    }
}

impl BetaPowers {
    /// The powers before the first step: `beta1`, `beta2`.
    pub fn initial(beta1: f32, beta2: f32) -> Self {
        BetaPowers { beta1_power: beta1, beta2_power: beta2 }
    }

    /// The powers after one more step: each multiplied by its beta in float32
    /// (`beta1_power.assign(beta1_power * beta1)` in TensorFlow's `_finish`).
    #[must_use]
    pub fn advance(self, beta1: f32, beta2: f32) -> Self {
        BetaPowers { beta1_power: self.beta1_power * beta1, beta2_power: self.beta2_power * beta2 }
    }

    /// The powers before step `step` (from 1; 0 counts as 1): [`initial`](Self::initial)
    /// advanced `step - 1` times. Stops early once both stop changing (underflowed to
    /// zero, or a beta of 1).
    pub fn at_step(beta1: f32, beta2: f32, step: u64) -> Self {
        let mut p = BetaPowers::initial(beta1, beta2);
        for _ in 1..step {
            let next = p.advance(beta1, beta2);
            if next.beta1_power.to_bits() == p.beta1_power.to_bits()
                && next.beta2_power.to_bits() == p.beta2_power.to_bits()
            {
                break;
            }
            p = next;
        }
        p
    }

    /// Adam's bias-corrected step size, in float32 and TensorFlow's order:
    /// `lr * sqrt(1 - beta2_power) / (1 - beta1_power)`.
    pub fn lr(self, lr: f32) -> f32 {
        lr * (1.0 - self.beta2_power).sqrt() / (1.0 - self.beta1_power)
    }
}

/// Adam's bias-corrected step size at `step` (from 1), as TensorFlow computes it: from
/// the float32 beta powers it holds before that step ([`BetaPowers::at_step`],
/// [`BetaPowers::lr`]).
pub fn adam_lr(lr: f32, beta1: f32, beta2: f32, step: u64) -> f32 {
    BetaPowers::at_step(beta1, beta2, step).lr(lr)
}

impl Graph {
    /// `tf.compat.v1.train.get_global_step()`: the first variable of the `global_step`
    /// collection, else the global variable named `global_step` (TensorFlow's fallback
    /// to the tensor `global_step/read:0`), else `None`.
    pub fn global_step(&self) -> Option<Variable> {
        self.get_collection(GLOBAL_STEP)
            .iter()
            .find_map(|i| i.variable().cloned())
            .or_else(|| self.global_variables().into_iter().find(|v| v.op_name() == GLOBAL_STEP))
    }

    /// `tf.compat.v1.train.get_or_create_global_step()`: [`global_step`](Self::global_step),
    /// or a new one as TensorFlow's `create_global_step` makes it: `get_variable("global_step")`
    /// in the current variable scope, an int64 scalar initialized to 0, not trainable, in
    /// the `variables` and `global_step` collections. varscope places it on `/cpu:0`
    /// (TensorFlow keeps int64 scalars in host memory; not every adapter holds int64).
    pub fn get_or_create_global_step(&self) -> Result<Variable> {
        if let Some(v) = self.global_step() {
            return Ok(v);
        }
        self.get_variable(GLOBAL_STEP)
            .shape(Vec::<u64>::new())
            .dtype(DType::Int64)
            .initializer(Initializer::zeros())
            .trainable(false)
            .collections([GraphKeys::GLOBAL_VARIABLES, GLOBAL_STEP])
            .caching_device("/cpu:0")
            .variable()
    }

    /// Creates (or, for an existing slot, returns) the slot variables of `primary` for
    /// `optimizer`, named and placed as TensorFlow's `slot_creator` does. Returns them in
    /// [`Optimizer::slot_specs`] order.
    pub fn create_slots(&self, primary: &Variable, optimizer: &Optimizer) -> Result<Vec<Variable>> {
        let mut out = Vec::new();
        for (_, init) in optimizer.slot_specs() {
            out.push(self.create_slot(primary, init, optimizer.name())?);
        }
        Ok(out)
    }

    /// `slot_creator.create_slot_with_initializer(primary, initializer, shape, dtype, name)`.
    pub fn create_slot(&self, primary: &Variable, initializer: Initializer, name: &str) -> Result<Variable> {
        let Some(dims) = primary.dims() else {
            return Err(Error::InvalidInitializer { name: primary.key().to_string(), shape: primary.shape().clone() });
        };
        let prefix = format!("{}/{}", primary.op_name(), name);
        let mut b = self.variable_scope_default(&prefix);
        if let Some(cd) = primary.caching_device() {
            b = b.caching_device(cd.clone());
        }
        b.run(|scope| {
            let saved = scope.partitioner();
            if saved.is_some() {
                scope.set_partitioner_opt(None);
            }
            let slot = self
                .get_variable("")
                .shape(dims.clone())
                .dtype(primary.dtype())
                .initializer(initializer)
                .trainable(false)
                .variable();
            if saved.is_some() {
                scope.set_partitioner_opt(saved);
            }
            let slot = slot?;
            if let Some(si) = primary.slice_info() {
                let real = slot.op_name().strip_prefix(&format!("{}/", primary.op_name())).unwrap_or(name).to_string();
                slot.set_slice_info(SliceInfo {
                    full_name: format!("{}/{}", si.full_name, real),
                    full_shape: si.full_shape.clone(),
                    var_offset: si.var_offset.clone(),
                    var_shape: si.var_shape.clone(),
                });
            }
            Ok(slot)
        })
    }
}
