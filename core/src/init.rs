//! Initializer specs as plain data, the fan computation, and resolution of an
//! initializer against a (possibly partitioned) variable into a kernel description.
//!
//! `glorot_*`, `he_*` and `lecun_*` are variance scaling with fixed arguments, as in
//! TensorFlow's `init_ops`. Resolution always uses the variable's **full** shape
//! (`partition_info.full_shape`), so shards compute the same values as the whole.

use std::fmt;
use std::sync::Arc;

use crate::partition::PartitionInfo;
use crate::{DType, HostTensor};

/// `mode` of variance scaling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FanMode {
    /// Divide by fan_in.
    FanIn,
    /// Divide by fan_out.
    FanOut,
    /// Divide by (fan_in + fan_out) / 2.
    FanAvg,
}

/// `distribution` of variance scaling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Distribution {
    /// Truncated normal (TF v1 `"normal"` is an alias), stddev corrected by 0.8796...
    TruncatedNormal,
    /// Plain normal.
    UntruncatedNormal,
    /// Uniform in ±sqrt(3·scale).
    Uniform,
}

/// A host closure used as an initializer: called as TensorFlow calls an initializer,
/// `init(shape, dtype=..., partition_info=...)`, on the host; its values are uploaded.
#[derive(Clone)]
pub struct HostInitFn {
    name: String,
    #[allow(clippy::type_complexity)]
    f: Arc<dyn Fn(&[u64], DType, Option<&PartitionInfo>) -> HostTensor + Send + Sync>,
}

impl HostInitFn {
    /// Wraps a closure. `name` is used in `Debug` output and error messages.
    pub fn new(
        name: impl Into<String>,
        f: impl Fn(&[u64], DType, Option<&PartitionInfo>) -> HostTensor + Send + Sync + 'static,
    ) -> Self {
        HostInitFn { name: name.into(), f: Arc::new(f) }
    }

    /// The closure's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Calls it.
    pub fn call(&self, shape: &[u64], dtype: DType, info: Option<&PartitionInfo>) -> HostTensor {
        (self.f)(shape, dtype, info)
    }
}

impl fmt::Debug for HostInitFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HostInitFn({})", self.name)
    }
}

impl PartialEq for HostInitFn {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.f, &other.f)
    }
}

/// A callable initializer (`tf.compat.v1.*_initializer`), as plain data.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Initializer {
    /// `zeros_initializer()`; zeros, `False` or `""` by dtype.
    Zeros,
    /// `ones_initializer()`.
    Ones,
    /// `constant_initializer(value)`: a scalar fills; a list fills row-major and pads
    /// with its last value (E12); more values than elements is an error. Shared, so
    /// copying the spec (every `get_variable` resolves it) does not copy the list.
    Constant(Arc<[f64]>),
    /// `random_uniform_initializer(minval, maxval, seed)`.
    RandomUniform {
        /// Lower bound (inclusive).
        minval: f64,
        /// Upper bound (exclusive).
        maxval: f64,
        /// Op seed.
        seed: Option<u64>,
    },
    /// `random_normal_initializer(mean, stddev, seed)`.
    RandomNormal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        stddev: f64,
        /// Op seed.
        seed: Option<u64>,
    },
    /// `truncated_normal_initializer(mean, stddev, seed)`: redrawn outside 2 stddev.
    TruncatedNormal {
        /// Mean.
        mean: f64,
        /// Standard deviation (before truncation).
        stddev: f64,
        /// Op seed.
        seed: Option<u64>,
    },
    /// `variance_scaling_initializer(scale, mode, distribution, seed)`.
    VarianceScaling {
        /// Scale.
        scale: f64,
        /// Fan mode.
        mode: FanMode,
        /// Distribution.
        distribution: Distribution,
        /// Op seed.
        seed: Option<u64>,
    },
    /// `orthogonal_initializer(gain, seed)`; QR on the host.
    Orthogonal {
        /// Multiplicative factor.
        gain: f64,
        /// Op seed.
        seed: Option<u64>,
    },
    /// `identity_initializer(gain)`; 2-D only.
    Identity {
        /// Multiplicative factor.
        gain: f64,
    },
    /// A host closure.
    HostFn(HostInitFn),
}

impl Initializer {
    /// The ops TensorFlow builds for this initializer under `<var>/Initializer/`
    /// (A14), relative to it: the op (or name scope) the initializer opens first, then
    /// the ops inside that scope. A variable reserves these names in the names table.
    pub(crate) fn op_names(&self) -> &'static [&'static str] {
        const UNIFORM: &[&str] = &[
            "random_uniform",
            "random_uniform/shape",
            "random_uniform/min",
            "random_uniform/max",
            "random_uniform/RandomUniform",
            "random_uniform/sub",
            "random_uniform/mul",
        ];
        const NORMAL: &[&str] = &[
            "random_normal",
            "random_normal/shape",
            "random_normal/mean",
            "random_normal/stddev",
            "random_normal/RandomStandardNormal",
            "random_normal/mul",
        ];
        const TRUNCATED: &[&str] = &[
            "truncated_normal",
            "truncated_normal/shape",
            "truncated_normal/mean",
            "truncated_normal/stddev",
            "truncated_normal/TruncatedNormal",
            "truncated_normal/mul",
        ];
        match self {
            Initializer::Zeros => &["zeros"],
            Initializer::Ones => &["ones"],
            Initializer::Constant(_) => &["Const"],
            Initializer::RandomUniform { .. } => UNIFORM,
            Initializer::RandomNormal { .. } => NORMAL,
            Initializer::TruncatedNormal { .. } => TRUNCATED,
            Initializer::VarianceScaling { distribution, .. } => match distribution {
                Distribution::Uniform => UNIFORM,
                Distribution::TruncatedNormal => TRUNCATED,
                Distribution::UntruncatedNormal => NORMAL,
            },
            Initializer::Orthogonal { .. } | Initializer::Identity { .. } | Initializer::HostFn(_) => &[],
        }
    }

    /// `zeros_initializer()`.
    pub fn zeros() -> Self {
        Initializer::Zeros
    }
    /// `ones_initializer()`.
    pub fn ones() -> Self {
        Initializer::Ones
    }
    /// `constant_initializer(value)` with one value.
    pub fn constant(value: f64) -> Self {
        Initializer::Constant(Arc::from([value]))
    }
    /// `constant_initializer([values])`.
    pub fn constant_list(values: &[f64]) -> Self {
        Initializer::Constant(Arc::from(values))
    }
    /// `random_uniform_initializer(minval, maxval)`.
    pub fn random_uniform(minval: f64, maxval: f64) -> Self {
        Initializer::RandomUniform { minval, maxval, seed: None }
    }
    /// `random_normal_initializer(mean, stddev)`.
    pub fn random_normal(mean: f64, stddev: f64) -> Self {
        Initializer::RandomNormal { mean, stddev, seed: None }
    }
    /// `truncated_normal_initializer(mean, stddev)`.
    pub fn truncated_normal(mean: f64, stddev: f64) -> Self {
        Initializer::TruncatedNormal { mean, stddev, seed: None }
    }
    /// `variance_scaling_initializer(scale, mode, distribution)`.
    pub fn variance_scaling(scale: f64, mode: FanMode, distribution: Distribution) -> Self {
        Initializer::VarianceScaling { scale, mode, distribution, seed: None }
    }
    /// `glorot_uniform_initializer()`, the default for floating variables.
    pub fn glorot_uniform() -> Self {
        Self::variance_scaling(1.0, FanMode::FanAvg, Distribution::Uniform)
    }
    /// `glorot_normal_initializer()`.
    pub fn glorot_normal() -> Self {
        Self::variance_scaling(1.0, FanMode::FanAvg, Distribution::TruncatedNormal)
    }
    /// `he_uniform()`.
    pub fn he_uniform() -> Self {
        Self::variance_scaling(2.0, FanMode::FanIn, Distribution::Uniform)
    }
    /// `he_normal()`.
    pub fn he_normal() -> Self {
        Self::variance_scaling(2.0, FanMode::FanIn, Distribution::TruncatedNormal)
    }
    /// `lecun_uniform()`.
    pub fn lecun_uniform() -> Self {
        Self::variance_scaling(1.0, FanMode::FanIn, Distribution::Uniform)
    }
    /// `lecun_normal()`.
    pub fn lecun_normal() -> Self {
        Self::variance_scaling(1.0, FanMode::FanIn, Distribution::TruncatedNormal)
    }
    /// `orthogonal_initializer(gain)`.
    pub fn orthogonal(gain: f64) -> Self {
        Initializer::Orthogonal { gain, seed: None }
    }
    /// `identity_initializer(gain)`.
    pub fn identity(gain: f64) -> Self {
        Initializer::Identity { gain }
    }
    /// A host closure initializer.
    pub fn host_fn(
        name: impl Into<String>,
        f: impl Fn(&[u64], DType, Option<&PartitionInfo>) -> HostTensor + Send + Sync + 'static,
    ) -> Self {
        Initializer::HostFn(HostInitFn::new(name, f))
    }

    /// Sets the op seed of a random initializer (no effect on the others).
    pub fn with_seed(mut self, op_seed: u64) -> Self {
        match &mut self {
            Initializer::RandomUniform { seed, .. }
            | Initializer::RandomNormal { seed, .. }
            | Initializer::TruncatedNormal { seed, .. }
            | Initializer::VarianceScaling { seed, .. }
            | Initializer::Orthogonal { seed, .. } => *seed = Some(op_seed),
            _ => {}
        }
        self
    }

    /// The op seed, for random initializers.
    pub fn seed(&self) -> Option<u64> {
        match self {
            Initializer::RandomUniform { seed, .. }
            | Initializer::RandomNormal { seed, .. }
            | Initializer::TruncatedNormal { seed, .. }
            | Initializer::VarianceScaling { seed, .. }
            | Initializer::Orthogonal { seed, .. } => *seed,
            _ => None,
        }
    }

    /// A short TensorFlow-like name (`"glorot_uniform"`, `"zeros"`).
    pub fn kind_name(&self) -> String {
        match self {
            Initializer::Zeros => "zeros".into(),
            Initializer::Ones => "ones".into(),
            Initializer::Constant(_) => "constant".into(),
            Initializer::RandomUniform { .. } => "random_uniform".into(),
            Initializer::RandomNormal { .. } => "random_normal".into(),
            Initializer::TruncatedNormal { .. } => "truncated_normal".into(),
            Initializer::VarianceScaling { scale, mode, distribution, .. } => {
                let named = match (mode, distribution) {
                    (FanMode::FanAvg, Distribution::Uniform) if *scale == 1.0 => Some("glorot_uniform"),
                    (FanMode::FanAvg, Distribution::TruncatedNormal) if *scale == 1.0 => Some("glorot_normal"),
                    (FanMode::FanIn, Distribution::Uniform) if *scale == 2.0 => Some("he_uniform"),
                    (FanMode::FanIn, Distribution::TruncatedNormal) if *scale == 2.0 => Some("he_normal"),
                    (FanMode::FanIn, Distribution::Uniform) if *scale == 1.0 => Some("lecun_uniform"),
                    (FanMode::FanIn, Distribution::TruncatedNormal) if *scale == 1.0 => Some("lecun_normal"),
                    _ => None,
                };
                named.unwrap_or("variance_scaling").into()
            }
            Initializer::Orthogonal { .. } => "orthogonal".into(),
            Initializer::Identity { .. } => "identity".into(),
            Initializer::HostFn(f) => format!("host_fn({})", f.name()),
        }
    }

    /// Resolves this initializer for a variable of `full_shape` into the kernel that
    /// produces its values. Variance scaling becomes uniform / normal / truncated normal
    /// with parameters from the fans of the full shape.
    pub fn resolve(&self, full_shape: &[u64]) -> InitKernel {
        match self {
            Initializer::Zeros => InitKernel::Fill(0.0),
            Initializer::Ones => InitKernel::Fill(1.0),
            Initializer::Constant(v) if v.len() == 1 => InitKernel::Fill(v[0]),
            Initializer::Constant(v) => InitKernel::Values(v.to_vec()),
            Initializer::RandomUniform { minval, maxval, .. } => InitKernel::Uniform { low: *minval, high: *maxval },
            Initializer::RandomNormal { mean, stddev, .. } => InitKernel::Normal { mean: *mean, stddev: *stddev },
            Initializer::TruncatedNormal { mean, stddev, .. } => {
                InitKernel::TruncatedNormal { mean: *mean, stddev: *stddev }
            }
            Initializer::VarianceScaling { scale, mode, distribution, .. } => {
                let (fan_in, fan_out) = compute_fans(full_shape);
                let denom = match mode {
                    FanMode::FanIn => fan_in.max(1.0),
                    FanMode::FanOut => fan_out.max(1.0),
                    FanMode::FanAvg => ((fan_in + fan_out) / 2.0).max(1.0),
                };
                let s = scale / denom;
                match distribution {
                    Distribution::TruncatedNormal => {
                        InitKernel::TruncatedNormal { mean: 0.0, stddev: s.sqrt() / TRUNCATED_NORMAL_STD_CORRECTION }
                    }
                    Distribution::UntruncatedNormal => InitKernel::Normal { mean: 0.0, stddev: s.sqrt() },
                    Distribution::Uniform => {
                        let limit = (3.0 * s).sqrt();
                        InitKernel::Uniform { low: -limit, high: limit }
                    }
                }
            }
            Initializer::Orthogonal { gain, .. } => InitKernel::Orthogonal { gain: *gain },
            Initializer::Identity { gain } => InitKernel::Identity { gain: *gain },
            Initializer::HostFn(f) => InitKernel::Host(f.clone()),
        }
    }
}

/// `scipy.stats.truncnorm.std(a=-2, b=2, loc=0., scale=1.)`, the constant TensorFlow
/// divides by so a truncated normal has the requested variance.
pub const TRUNCATED_NORMAL_STD_CORRECTION: f64 = 0.879_625_661_034_239_8;

/// What produces a variable's values, after resolution against its full shape. This is
/// what the session's kernels (WGSL on a GPU, Rust on `/cpu:0`) implement.
#[derive(Clone, Debug, PartialEq)]
pub enum InitKernel {
    /// Every element is the value.
    Fill(f64),
    /// Row-major values of the full shape, padded with the last one (constant_initializer).
    Values(Vec<f64>),
    /// Uniform in `[low, high)`.
    Uniform {
        /// Lower bound.
        low: f64,
        /// Upper bound.
        high: f64,
    },
    /// Normal.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        stddev: f64,
    },
    /// Normal redrawn outside `mean ± 2·stddev`.
    TruncatedNormal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        stddev: f64,
    },
    /// Orthogonal matrix (QR of a normal matrix, on the host).
    Orthogonal {
        /// Gain.
        gain: f64,
    },
    /// `gain` on the diagonal of a 2-D variable.
    Identity {
        /// Gain.
        gain: f64,
    },
    /// A host closure.
    Host(HostInitFn),
}

impl InitKernel {
    /// Whether the kernel draws random numbers (and so needs a Philox key).
    pub fn is_random(&self) -> bool {
        matches!(
            self,
            InitKernel::Uniform { .. }
                | InitKernel::Normal { .. }
                | InitKernel::TruncatedNormal { .. }
                | InitKernel::Orthogonal { .. }
        )
    }
}

/// TensorFlow's `_compute_fans`: rank 0 gives (1, 1); rank 1 (d, d); rank 2 (d0, d1);
/// higher ranks multiply the last two dims by the receptive field (product of the others).
pub fn compute_fans(shape: &[u64]) -> (f64, f64) {
    match shape.len() {
        0 => (1.0, 1.0),
        1 => (shape[0] as f64, shape[0] as f64),
        2 => (shape[0] as f64, shape[1] as f64),
        n => {
            let rf: f64 = shape[..n - 2].iter().map(|&d| d as f64).product();
            (shape[n - 2] as f64 * rf, shape[n - 1] as f64 * rf)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fans() {
        assert_eq!(compute_fans(&[]), (1.0, 1.0));
        assert_eq!(compute_fans(&[5]), (5.0, 5.0));
        assert_eq!(compute_fans(&[3, 4]), (3.0, 4.0));
        assert_eq!(compute_fans(&[2, 3, 4, 5]), (24.0, 30.0));
    }

    #[test]
    fn glorot_limit_from_fans() {
        match Initializer::glorot_uniform().resolve(&[6, 10]) {
            InitKernel::Uniform { low, high } => {
                let lim = (6.0f64 / 16.0).sqrt();
                assert!((high - lim).abs() < 1e-12 && (low + lim).abs() < 1e-12);
            }
            k => panic!("unexpected {k:?}"),
        }
        assert_eq!(Initializer::he_normal().kind_name(), "he_normal");
    }
}
