//! Host reference implementation of every initializer kernel: the values `/cpu:0`
//! holds, and the truth every GPU adapter is tested against.
//!
//! Values come out in the canonical little-endian host layout of the variable's dtype:
//! float32 / int32 / uint32 4 bytes, float16 / bfloat16 2 bytes (rounded to nearest
//! even with the `half` crate), float64 / int64 8 bytes, bool 1 byte (0 or 1). String
//! and complex dtypes have no host layout and are an error.
//!
//! # Kernel semantics
//!
//! - `Fill(v)`: every element is `v` converted to the dtype (floats round to nearest
//!   even from f64; integers truncate toward zero, saturating; bool is `v != 0`).
//! - `Values(list)`: TensorFlow's `constant_initializer` on the variable's **own** shape
//!   (a shard gets the list from its first element, as TensorFlow calls the initializer
//!   with the shard's shape): row-major, padded with the last value (zeros if the list
//!   is empty); more values than elements is an error.
//! - `Uniform`, `Normal`, `TruncatedNormal`: Philox over **full-shape** indices, exactly as
//!   documented in [`crate::random`]; the value is computed in f32 and then rounded to
//!   float16/bfloat16 or widened to float64. Integer dtypes (int32, uint32, int64)
//!   support `Uniform` only, as `low + word % (high - low)` with `high - low <= 2^32`.
//! - `Identity(gain)`: 2-D only, `gain` on the diagonal of the variable's own shape.
//! - `Orthogonal(gain)`: TensorFlow's algorithm on the own shape: flatten to
//!   `(prod(shape[:-1]), shape[-1])`, draw a `(max, min)` standard normal matrix from the
//!   normal stream (flat index in that matrix as the counter index), Householder QR in
//!   f64, multiply `Q` by `sign(diag(R))`, transpose if rows < cols, multiply by `gain`.
//! - `Host(f)`: `f(own dims, dtype, partition_info)`, converted to the dtype.
//! - `InitialValue::Constant(t)`: `t`'s values converted to the variable's dtype.
//!
//! [`element_plan`] describes, as plain values, the initializers a device kernel can
//! evaluate element by element (varscope-gpu's `descriptor` module lays them out for its
//! init kernel).

use half::{bf16, f16};

use crate::init::InitKernel;
use crate::partition::PartitionInfo;
use crate::random::{self, RandomKind, RandomStream};
use crate::tensor::{HostTensor, TensorData};
use crate::variable::{InitialValue, Variable};
use crate::DType;

pub use crate::orthogonal::orthogonal;

/// Why the host could not produce a variable's initial values. Each variant names the
/// variable by its store key.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ReferenceError {
    /// The variable's shape is not fully known.
    #[error("Variable {name} has no fully defined shape, so its initial value cannot be computed")]
    UnknownShape {
        /// Store key.
        name: String,
    },
    /// The dtype has no host layout (string, complex).
    #[error("Variable {name}: dtype {dtype} has no host value layout")]
    UnsupportedDType {
        /// Store key.
        name: String,
        /// The dtype.
        dtype: DType,
    },
    /// A random kernel on a dtype it does not support (normal on integers, random bool).
    #[error("Variable {name}: the {kernel} initializer does not support dtype {dtype}")]
    KernelDType {
        /// Store key.
        name: String,
        /// Kernel name (`"normal"`, `"orthogonal"`, ...).
        kernel: &'static str,
        /// The dtype.
        dtype: DType,
    },
    /// `constant_initializer` got more values than the variable has elements.
    #[error("Too many elements provided. Takes at most {n}, but got {m}.")]
    TooManyValues {
        /// Store key.
        name: String,
        /// Elements of the variable.
        n: u64,
        /// Values given.
        m: u64,
    },
    /// Identity on a variable that is not 2-D.
    #[error("Identity matrix initializer can only be used for 2D matrices.")]
    IdentityNot2D {
        /// Store key.
        name: String,
        /// The own shape.
        shape: Vec<u64>,
    },
    /// Orthogonal on a variable of rank below 2.
    #[error("The tensor to initialize must be at least two-dimensional")]
    OrthogonalRank {
        /// Store key.
        name: String,
        /// The own shape.
        shape: Vec<u64>,
    },
    /// Integer uniform bounds that are empty, out of the dtype's range, or span more than 2^32.
    #[error("Variable {name}: integer random_uniform needs minval < maxval within {dtype} and maxval - minval <= 2^32, got [{low}, {high})")]
    IntUniformBounds {
        /// Store key.
        name: String,
        /// The dtype.
        dtype: DType,
        /// Lower bound.
        low: f64,
        /// Upper bound.
        high: f64,
    },
    /// A host initializer or constant returned a value of the wrong size.
    #[error("Variable {name}: initial value has {got} elements, expected {expected} (shape {shape:?})")]
    ValueSize {
        /// Store key.
        name: String,
        /// Elements expected (the own shape's).
        expected: u64,
        /// Elements produced.
        got: u64,
        /// The own shape.
        shape: Vec<u64>,
    },
    /// A value that cannot be converted to the variable's dtype (strings, ...).
    #[error("Variable {name}: cannot convert a {from} value to {to}")]
    Conversion {
        /// Store key.
        name: String,
        /// The value's dtype.
        from: DType,
        /// The variable's dtype.
        to: DType,
    },
    /// `start + count` past the variable's elements.
    #[error("Variable {name}: element range {start}..{end} is outside its {len} elements")]
    Range {
        /// Store key.
        name: String,
        /// First element asked for.
        start: u64,
        /// One past the last element asked for.
        end: u64,
        /// Elements of the variable.
        len: u64,
    },
    /// A shard whose slice is not a single-axis slice of its full shape.
    #[error("Variable {name}: shard shape {shape:?} at offset {offset:?} is not a one-axis slice of {full:?}")]
    BadSlice {
        /// Store key.
        name: String,
        /// Own shape.
        shape: Vec<u64>,
        /// Full shape.
        full: Vec<u64>,
        /// Offset.
        offset: Vec<u64>,
    },
}

/// Maps a shard's own row-major element index to its index in the full shape. Shards are
/// slices along one axis `d`: with `inner = prod(shape[d+1..])`,
/// `full = (k / own_block) * full_block + base + k % own_block` where
/// `own_block = own[d] * inner`, `full_block = full[d] * inner`, `base = offset[d] * inner`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexMap {
    /// Own elements per outer step (`own[d] * inner`, at least 1).
    pub own_block: u64,
    /// Full elements per outer step (`full[d] * inner`).
    pub full_block: u64,
    /// Full index of the shard's first element (`offset[d] * inner`).
    pub base: u64,
}

impl IndexMap {
    /// The identity map (an unpartitioned variable of `n` elements).
    pub fn identity(n: u64) -> Self {
        IndexMap { own_block: n.max(1), full_block: n.max(1), base: 0 }
    }

    /// The map of a shard of shape `own` at `offset` in `full`; `None` if it is not a
    /// single-axis slice (ranks differ, several axes differ, or it does not fit).
    pub fn new(own: &[u64], full: &[u64], offset: &[u64]) -> Option<Self> {
        if own.len() != full.len() || offset.len() != own.len() {
            return None;
        }
        let d = own.iter().zip(full).position(|(a, b)| a != b).unwrap_or(0);
        for i in 0..own.len() {
            if i != d && (own[i] != full[i] || offset[i] != 0) {
                return None;
            }
        }
        if own.is_empty() {
            return Some(IndexMap::identity(1));
        }
        if offset[d].checked_add(own[d])? > full[d] {
            return None;
        }
        let inner: u64 = own[d + 1..].iter().try_fold(1u64, |a, &b| a.checked_mul(b))?;
        Some(IndexMap {
            own_block: own[d].checked_mul(inner)?.max(1),
            full_block: full[d].checked_mul(inner)?.max(1),
            base: offset[d].checked_mul(inner)?,
        })
    }

    /// The full-shape index of own element `k`.
    #[inline]
    pub fn full_index(&self, k: u64) -> u64 {
        (k / self.own_block) * self.full_block + self.base + k % self.own_block
    }
}

/// What an elementwise kernel computes, as plain values: the part of a variable's
/// initializer a device kernel can evaluate itself (varscope-gpu turns it into its
/// descriptor rows; the device layout is not core's business).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ElementKernel {
    /// Every element is this value (converted to the dtype).
    Fill(f64),
    /// `gain` on the diagonal of the own 2-D shape of `cols` columns, zero elsewhere.
    Identity {
        /// The diagonal value.
        gain: f64,
        /// Columns of the own shape.
        cols: u64,
    },
    /// A Philox-driven random kind over full-shape indices ([`crate::random`]).
    Random(RandomKind),
}

/// A variable's initializer as an elementwise kernel over its full-shape indices.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ElementPlan {
    /// What each element is.
    pub kernel: ElementKernel,
    /// The variable's dtype.
    pub dtype: DType,
    /// Own elements (the product of the own shape).
    pub elements: u64,
    /// Own index to full-shape index.
    pub map: IndexMap,
    /// The Philox key (`[0, 0]` for non-random kernels).
    pub key: [u32; 2],
}

/// `var`'s initializer as an elementwise kernel: `Ok(None)` when it is not one (constant
/// lists, orthogonal, host closures, constant tensors), and the host must compute
/// [`initial_bytes`] instead. Errors are those [`initial_bytes`] gives.
pub fn element_plan(var: &Variable) -> Result<Option<ElementPlan>, ReferenceError> {
    let plan = Plan::of(var)?;
    match &plan.source {
        Source::Kernel(k) => element_plan_for(&plan.name, k, plan.dtype, &plan.own, &plan.map, plan.key),
        _ => Ok(None),
    }
}

/// [`element_plan`] on plain parameters (`name` only names the variable in errors).
pub fn element_plan_for(
    name: &str,
    kernel: &InitKernel,
    dtype: DType,
    own: &[u64],
    map: &IndexMap,
    key: [u32; 2],
) -> Result<Option<ElementPlan>, ReferenceError> {
    check_dtype(name, dtype)?;
    let kernel_of = match Generator::new(name, kernel, dtype, own)? {
        Generator::Fill(v) => ElementKernel::Fill(v),
        Generator::Identity { gain, cols } => ElementKernel::Identity { gain, cols },
        Generator::Random(kind) => ElementKernel::Random(kind),
        Generator::Values(_) | Generator::Dense => return Ok(None),
    };
    let key = if kernel.is_random() { key } else { [0, 0] };
    Ok(Some(ElementPlan { kernel: kernel_of, dtype, elements: own.iter().product(), map: *map, key }))
}

/// The variable's own initial values in the host layout of its dtype.
pub fn initial_bytes(var: &Variable) -> Result<Vec<u8>, ReferenceError> {
    let plan = Plan::of(var)?;
    let n = plan.own.iter().product();
    plan.bytes(var, 0, n)
}

/// Own elements `start..start + count` of the variable, in the host layout of its dtype.
pub fn initial_bytes_range(var: &Variable, start: u64, count: u64) -> Result<Vec<u8>, ReferenceError> {
    Plan::of(var)?.bytes(var, start, count)
}

/// The variable's own initial values as f64 (for tests; bool as 0/1).
pub fn initial_f64(var: &Variable) -> Result<Vec<f64>, ReferenceError> {
    let bytes = initial_bytes(var)?;
    Ok(decode_f64(var.dtype(), &bytes))
}

/// Decodes host-layout bytes of `dtype` to f64 (empty for dtypes without a layout).
pub fn decode_f64(dtype: DType, bytes: &[u8]) -> Vec<f64> {
    fn chunks<const N: usize>(b: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
        b.chunks_exact(N).map(|c| c.try_into().unwrap_or([0; N]))
    }
    match dtype {
        DType::Float32 => chunks::<4>(bytes).map(|c| f32::from_le_bytes(c) as f64).collect(),
        DType::Float16 => chunks::<2>(bytes).map(|c| f16::from_le_bytes(c).to_f64()).collect(),
        DType::BFloat16 => chunks::<2>(bytes).map(|c| bf16::from_le_bytes(c).to_f64()).collect(),
        DType::Float64 => chunks::<8>(bytes).map(f64::from_le_bytes).collect(),
        DType::Int8 => bytes.iter().map(|&b| f64::from(b as i8)).collect(),
        DType::UInt8 => bytes.iter().map(|&b| f64::from(b)).collect(),
        DType::Int16 => chunks::<2>(bytes).map(|c| f64::from(i16::from_le_bytes(c))).collect(),
        DType::UInt16 => chunks::<2>(bytes).map(|c| f64::from(u16::from_le_bytes(c))).collect(),
        DType::Int32 => chunks::<4>(bytes).map(|c| i32::from_le_bytes(c) as f64).collect(),
        DType::UInt32 => chunks::<4>(bytes).map(|c| u32::from_le_bytes(c) as f64).collect(),
        DType::Int64 => chunks::<8>(bytes).map(|c| i64::from_le_bytes(c) as f64).collect(),
        DType::UInt64 => chunks::<8>(bytes).map(|c| u64::from_le_bytes(c) as f64).collect(),
        DType::Bool => bytes.iter().map(|&b| f64::from(b)).collect(),
        _ => Vec::new(),
    }
}

/// Own elements `start..start + count` of a kernel-initialized variable, computed from
/// plain parameters: the core of [`initial_bytes_range`]. `own` is the variable's own
/// shape, `map` maps own to full indices, `key` is the Philox key. `Host` kernels are
/// called with `partition_info`.
#[allow(clippy::too_many_arguments)]
pub fn kernel_bytes(
    name: &str,
    kernel: &InitKernel,
    dtype: DType,
    own: &[u64],
    map: &IndexMap,
    key: [u32; 2],
    partition_info: Option<&PartitionInfo>,
    start: u64,
    count: u64,
) -> Result<Vec<u8>, ReferenceError> {
    check_dtype(name, dtype)?;
    let n: u64 = own.iter().product();
    check_range(name, start, count, n)?;
    let mut out = Vec::with_capacity((count as usize).saturating_mul(dtype.size_bytes()));
    match Generator::new(name, kernel, dtype, own)? {
        Generator::Fill(v) => {
            let mut one = Vec::with_capacity(8);
            push_f64(dtype, v, &mut one);
            for _ in 0..count {
                out.extend_from_slice(&one);
            }
        }
        Generator::Values(vals) => {
            if vals.len() as u64 > n {
                return Err(ReferenceError::TooManyValues { name: name.into(), n, m: vals.len() as u64 });
            }
            let last = vals.last().copied().unwrap_or(0.0);
            for k in start..start + count {
                push_f64(dtype, vals.get(k as usize).copied().unwrap_or(last), &mut out);
            }
        }
        Generator::Identity { gain, cols } => {
            for k in start..start + count {
                push_f64(dtype, if k / cols == k % cols { gain } else { 0.0 }, &mut out);
            }
        }
        Generator::Random(kind) => {
            let mut s = RandomStream::new(key, kind);
            if let RandomKind::UniformInt { .. } = kind {
                for k in start..start + count {
                    let w = s.bits(map.full_index(k));
                    match dtype {
                        DType::Int64 => {
                            let (lo, _) = int_bounds(kernel);
                            let range = (w.wrapping_sub(lo as u32)) as i64;
                            out.extend_from_slice(&lo.wrapping_add(range).to_le_bytes())
                        }
                        _ => out.extend_from_slice(&w.to_le_bytes()),
                    }
                }
            } else {
                for k in start..start + count {
                    push_f32(dtype, s.f32_at(map.full_index(k)), &mut out);
                }
            }
        }
        Generator::Dense => {
            let values = match kernel {
                InitKernel::Orthogonal { gain } => orthogonal(own, *gain, key),
                InitKernel::Host(f) => {
                    let t = f.call(own, dtype, partition_info);
                    return tensor_bytes(name, &t, dtype, n, start, count);
                }
                _ => Vec::new(),
            };
            for &v in &values[start as usize..(start + count) as usize] {
                push_f64(dtype, v, &mut out);
            }
        }
    }
    Ok(out)
}

/// Own elements `start..start + count` of a constant `t` converted to `dtype`
/// (`n`: the variable's own element count).
pub fn tensor_bytes(
    name: &str,
    t: &HostTensor,
    dtype: DType,
    n: u64,
    start: u64,
    count: u64,
) -> Result<Vec<u8>, ReferenceError> {
    check_dtype(name, dtype)?;
    check_range(name, start, count, n)?;
    if t.num_elements() != n {
        return Err(ReferenceError::ValueSize {
            name: name.into(),
            expected: n,
            got: t.num_elements(),
            shape: t.shape().to_vec(),
        });
    }
    let (s, e) = (start as usize, (start + count) as usize);
    let mut out = Vec::with_capacity((count as usize).saturating_mul(dtype.size_bytes()));
    match t.data() {
        TensorData::Float(v) => v[s..e].iter().for_each(|&x| push_f64(dtype, x, &mut out)),
        TensorData::Int(v) => v[s..e].iter().for_each(|&x| push_i64(dtype, x, &mut out)),
        TensorData::Bool(v) => v[s..e].iter().for_each(|&x| push_f64(dtype, f64::from(u8::from(x)), &mut out)),
        TensorData::Str(_) => return Err(ReferenceError::Conversion { name: name.into(), from: t.dtype(), to: dtype }),
    }
    Ok(out)
}

// ---- internals ----

enum Generator {
    Fill(f64),
    Values(Vec<f64>),
    Identity {
        gain: f64,
        cols: u64,
    },
    Random(RandomKind),
    /// Computed whole (orthogonal, host closures).
    Dense,
}

impl Generator {
    fn new(name: &str, kernel: &InitKernel, dtype: DType, own: &[u64]) -> Result<Self, ReferenceError> {
        let float = dtype.is_floating();
        let kdt = |kernel: &'static str| ReferenceError::KernelDType { name: name.into(), kernel, dtype };
        Ok(match kernel {
            InitKernel::Fill(v) => Generator::Fill(*v),
            InitKernel::Values(v) => {
                let n: u64 = own.iter().product();
                if v.len() as u64 > n {
                    return Err(ReferenceError::TooManyValues { name: name.into(), n, m: v.len() as u64 });
                }
                Generator::Values(v.clone())
            }
            InitKernel::Identity { gain } => {
                if own.len() != 2 {
                    return Err(ReferenceError::IdentityNot2D { name: name.into(), shape: own.to_vec() });
                }
                Generator::Identity { gain: *gain, cols: own[1].max(1) }
            }
            InitKernel::Uniform { low, high } if float => {
                let (low, range) = random::uniform_params(*low, *high);
                Generator::Random(RandomKind::Uniform { low, range })
            }
            InitKernel::Uniform { low, high } if dtype.has_uniform_int() => {
                let (lo, hi) = (low.trunc(), high.trunc());
                let (min, max) = match dtype {
                    DType::Int32 => (i32::MIN as f64, i32::MAX as f64),
                    DType::UInt32 => (0.0, u32::MAX as f64),
                    _ => (i64::MIN as f64, i64::MAX as f64),
                };
                let ok = lo.is_finite()
                    && hi.is_finite()
                    && lo < hi
                    && lo >= min
                    && hi <= max + 1.0
                    && hi - lo <= 4_294_967_296.0;
                if !ok {
                    return Err(ReferenceError::IntUniformBounds { name: name.into(), dtype, low: *low, high: *high });
                }
                let range = ((hi - lo) as u64 & 0xffff_ffff) as u32;
                Generator::Random(RandomKind::UniformInt { low: (lo as i64) as u32, range })
            }
            InitKernel::Uniform { .. } => return Err(kdt("random_uniform")),
            InitKernel::Normal { mean, stddev } if float => {
                Generator::Random(RandomKind::Normal { mean: *mean as f32, stddev: *stddev as f32 })
            }
            InitKernel::Normal { .. } => return Err(kdt("random_normal")),
            InitKernel::TruncatedNormal { mean, stddev } if float => {
                Generator::Random(RandomKind::TruncatedNormal { mean: *mean as f32, stddev: *stddev as f32 })
            }
            InitKernel::TruncatedNormal { .. } => return Err(kdt("truncated_normal")),
            InitKernel::Orthogonal { .. } if float => {
                if own.len() < 2 {
                    return Err(ReferenceError::OrthogonalRank { name: name.into(), shape: own.to_vec() });
                }
                Generator::Dense
            }
            InitKernel::Orthogonal { .. } => return Err(kdt("orthogonal")),
            InitKernel::Host(_) => Generator::Dense,
        })
    }
}

/// The integer uniform lower bound as i64 (for int64 values; only called after
/// `Generator::new` validated the bounds).
fn int_bounds(kernel: &InitKernel) -> (i64, i64) {
    match kernel {
        InitKernel::Uniform { low, high } => (low.trunc() as i64, high.trunc() as i64),
        _ => (0, 0),
    }
}

enum Source<'a> {
    Kernel(&'a InitKernel),
    Constant(&'a HostTensor),
}

struct Plan<'a> {
    name: String,
    dtype: DType,
    own: Vec<u64>,
    map: IndexMap,
    key: [u32; 2],
    source: Source<'a>,
}

impl<'a> Plan<'a> {
    fn of(var: &'a Variable) -> Result<Plan<'a>, ReferenceError> {
        let name = var.key().to_string();
        let own = var.dims().ok_or_else(|| ReferenceError::UnknownShape { name: name.clone() })?;
        let full = var.full_shape().unwrap_or_else(|| own.clone());
        let offset = var.var_offset();
        let map = IndexMap::new(&own, &full, &offset).ok_or_else(|| ReferenceError::BadSlice {
            name: name.clone(),
            shape: own.clone(),
            full: full.clone(),
            offset: offset.clone(),
        })?;
        let source = match var.initial_value() {
            InitialValue::Initializer { kernel, .. } => Source::Kernel(kernel),
            InitialValue::Constant(t) => Source::Constant(t),
        };
        Ok(Plan { name, dtype: var.dtype(), own, map, key: random::philox_key(var.seed_info()), source })
    }

    fn bytes(&self, var: &Variable, start: u64, count: u64) -> Result<Vec<u8>, ReferenceError> {
        let n: u64 = self.own.iter().product();
        match &self.source {
            Source::Kernel(k) => kernel_bytes(
                &self.name,
                k,
                self.dtype,
                &self.own,
                &self.map,
                self.key,
                var.partition_info(),
                start,
                count,
            ),
            Source::Constant(t) => tensor_bytes(&self.name, t, self.dtype, n, start, count),
        }
    }
}

fn check_dtype(name: &str, dtype: DType) -> Result<(), ReferenceError> {
    if matches!(dtype, DType::String | DType::Complex64 | DType::Complex128) {
        return Err(ReferenceError::UnsupportedDType { name: name.into(), dtype });
    }
    Ok(())
}

fn check_range(name: &str, start: u64, count: u64, n: u64) -> Result<(), ReferenceError> {
    match start.checked_add(count) {
        Some(end) if end <= n => Ok(()),
        end => Err(ReferenceError::Range { name: name.into(), start, end: end.unwrap_or(u64::MAX), len: n }),
    }
}

#[inline]
fn push_f64(dtype: DType, v: f64, out: &mut Vec<u8>) {
    match dtype {
        DType::Float32 => out.extend_from_slice(&(v as f32).to_le_bytes()),
        DType::Float16 => out.extend_from_slice(&f16::from_f64(v).to_le_bytes()),
        DType::BFloat16 => out.extend_from_slice(&bf16::from_f64(v).to_le_bytes()),
        DType::Float64 => out.extend_from_slice(&v.to_le_bytes()),
        DType::Int8 => out.push(v as i8 as u8),
        DType::UInt8 => out.push(v as u8),
        DType::Int16 => out.extend_from_slice(&(v as i16).to_le_bytes()),
        DType::UInt16 => out.extend_from_slice(&(v as u16).to_le_bytes()),
        DType::Int32 => out.extend_from_slice(&(v as i32).to_le_bytes()),
        DType::UInt32 => out.extend_from_slice(&(v as u32).to_le_bytes()),
        DType::Int64 => out.extend_from_slice(&(v as i64).to_le_bytes()),
        DType::UInt64 => out.extend_from_slice(&(v as u64).to_le_bytes()),
        DType::Bool => out.push(u8::from(v != 0.0)),
        _ => {}
    }
}

#[inline]
fn push_i64(dtype: DType, v: i64, out: &mut Vec<u8>) {
    match dtype {
        DType::Int8 => out.push(v as i8 as u8),
        DType::UInt8 => out.push(v as u8),
        DType::Int16 => out.extend_from_slice(&(v as i16).to_le_bytes()),
        DType::UInt16 => out.extend_from_slice(&(v as u16).to_le_bytes()),
        DType::Int32 => out.extend_from_slice(&(v as i32).to_le_bytes()),
        DType::UInt32 => out.extend_from_slice(&(v as u32).to_le_bytes()),
        DType::Int64 => out.extend_from_slice(&v.to_le_bytes()),
        DType::UInt64 => out.extend_from_slice(&(v as u64).to_le_bytes()),
        DType::Bool => out.push(u8::from(v != 0)),
        _ => push_f64(dtype, v as f64, out),
    }
}

#[inline]
fn push_f32(dtype: DType, v: f32, out: &mut Vec<u8>) {
    match dtype {
        DType::Float32 => out.extend_from_slice(&v.to_le_bytes()),
        DType::Float16 => out.extend_from_slice(&f16::from_f32(v).to_le_bytes()),
        DType::BFloat16 => out.extend_from_slice(&bf16::from_f32(v).to_le_bytes()),
        _ => push_f64(dtype, f64::from(v), out),
    }
}

#[cfg(test)]
#[path = "reference_tests.rs"]
mod tests;
