//! The device layout of the init kernel's parameters: how a variable's elementwise
//! initializer ([`varscope_core::reference::element_plan`], plain values) becomes the
//! per-variable fields of a `varscope_shaders::InitDesc` row (kind and dtype codes, 32-bit
//! value patterns, split 64-bit index maps). The session fills in the per-chunk fields;
//! tests and tools that dispatch `shaders/init.wgsl` themselves use [`kernel_params_for`].

use half::{bf16, f16};
use varscope_core::random::RandomKind;
use varscope_core::reference::{self, ElementKernel, ElementPlan, IndexMap, ReferenceError};
use varscope_core::{DType, InitKernel, Variable};
use varscope_shaders as s;

/// The per-variable parameters of a device init kernel. Field for field, these are the
/// `InitDesc` fields that do not depend on the chunk (the session adds `out_offset`,
/// `count`, `first` and `wg_start` per row, and picks the pipeline by `kind`, the dtype's
/// pack and `varscope_shaders::row_layout(row)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelParams {
    /// `varscope_shaders::KIND_*`.
    pub kind: u32,
    /// `varscope_shaders::DTYPE_*`.
    pub dtype: u32,
    /// [`IndexMap::own_block`] (fits u32).
    pub own_block: u32,
    /// [`IndexMap::full_block`].
    pub full_block: u64,
    /// [`IndexMap::base`].
    pub base: u64,
    /// Columns of the own shape (identity only; 0 otherwise).
    pub cols: u32,
    /// The Philox key.
    pub key: [u32; 2],
    /// First parameter (see the kinds table of `varscope_shaders`).
    pub p0: u32,
    /// Second parameter.
    pub p1: u32,
}

/// The device dtype code of `dtype`, if the init kernel produces it.
pub fn dtype_code(dtype: DType) -> Option<u32> {
    Some(match dtype {
        DType::Float32 => s::DTYPE_F32,
        DType::Float16 => s::DTYPE_F16,
        DType::BFloat16 => s::DTYPE_BF16,
        DType::Int32 => s::DTYPE_I32,
        DType::UInt32 => s::DTYPE_U32,
        DType::Bool => s::DTYPE_BOOL,
        _ => return None,
    })
}

/// The 32-bit device pattern of a fill value: f32 bits; float16/bfloat16 bits in the low
/// half; int32/uint32 two's complement; bool 0/1.
pub fn device_bits(dtype: DType, v: f64) -> u32 {
    match dtype {
        DType::Float16 => u32::from(f16::from_f64(v).to_bits()),
        DType::BFloat16 => u32::from(bf16::from_f64(v).to_bits()),
        DType::Int32 => (v as i32) as u32,
        DType::UInt32 => v as u32,
        DType::Bool => u32::from(v != 0.0),
        _ => (v as f32).to_bits(),
    }
}

/// The device kernel parameters of `var`: `Ok(None)` when no device kernel computes it
/// (constant lists, orthogonal, host closures, constants, dtypes other than float32,
/// float16, bfloat16, int32, uint32 and bool, or more than 2^32 own elements) and the
/// session uploads the host reference's bytes instead.
pub fn kernel_params(var: &Variable) -> Result<Option<KernelParams>, ReferenceError> {
    Ok(reference::element_plan(var)?.and_then(|p| params_of(&p)))
}

/// [`kernel_params`] on plain parameters.
pub fn kernel_params_for(
    name: &str,
    kernel: &InitKernel,
    dtype: DType,
    own: &[u64],
    map: &IndexMap,
    key: [u32; 2],
) -> Result<Option<KernelParams>, ReferenceError> {
    Ok(reference::element_plan_for(name, kernel, dtype, own, map, key)?.and_then(|p| params_of(&p)))
}

fn params_of(plan: &ElementPlan) -> Option<KernelParams> {
    let dtype = dtype_code(plan.dtype)?;
    if plan.elements > u64::from(u32::MAX) || plan.map.own_block > u64::from(u32::MAX) {
        return None;
    }
    let mut p = KernelParams {
        kind: s::KIND_FILL,
        dtype,
        own_block: plan.map.own_block as u32,
        full_block: plan.map.full_block,
        base: plan.map.base,
        cols: 0,
        key: plan.key,
        p0: 0,
        p1: 0,
    };
    match plan.kernel {
        ElementKernel::Fill(v) => p.p0 = device_bits(plan.dtype, v),
        ElementKernel::Identity { gain, cols } => {
            p.kind = s::KIND_IDENTITY;
            p.p0 = device_bits(plan.dtype, gain);
            p.cols = u32::try_from(cols).ok()?;
        }
        ElementKernel::Random(kind) => {
            (p.kind, p.p0, p.p1) = match kind {
                RandomKind::Uniform { low, range } => (s::KIND_UNIFORM, low.to_bits(), range.to_bits()),
                RandomKind::UniformInt { low, range } => (s::KIND_UNIFORM_INT, low, range),
                RandomKind::Normal { mean, stddev } => (s::KIND_NORMAL, mean.to_bits(), stddev.to_bits()),
                RandomKind::TruncatedNormal { mean, stddev } => {
                    (s::KIND_TRUNCATED_NORMAL, mean.to_bits(), stddev.to_bits())
                }
            }
        }
    }
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u32; 2] = [0x1234_5678, 0x9abc_def0];

    #[test]
    fn params_of_device_kernels() {
        let map = IndexMap::new(&[3, 4], &[10, 4], &[6, 0]).expect("a slice");
        let uniform = InitKernel::Uniform { low: -1.0, high: 1.0 };
        let p = kernel_params_for("v", &uniform, DType::Float16, &[3, 4], &map, KEY).unwrap().unwrap();
        assert_eq!((p.kind, p.dtype, p.p0, p.p1), (s::KIND_UNIFORM, s::DTYPE_F16, (-1f32).to_bits(), 2f32.to_bits()));
        assert_eq!((p.own_block, p.full_block, p.base, p.key), (12, 40, 24, KEY));
        let p = kernel_params_for("v", &InitKernel::Fill(1.0), DType::BFloat16, &[3, 4], &map, KEY).unwrap().unwrap();
        assert_eq!((p.kind, p.p0, p.key), (s::KIND_FILL, 0x3f80, [0, 0]));
        let p = kernel_params_for("v", &InitKernel::Identity { gain: -2.0 }, DType::Int32, &[3, 4], &map, KEY);
        let p = p.unwrap().unwrap();
        assert_eq!((p.kind, p.p0, p.cols), (s::KIND_IDENTITY, (-2i32) as u32, 4));
        let values = InitKernel::Values(vec![1.0, 2.0]);
        assert!(kernel_params_for("v", &values, DType::Float32, &[3, 4], &map, KEY).unwrap().is_none());
        // float64 and int64 have no device kernel: the host computes them.
        assert!(kernel_params_for("v", &InitKernel::Fill(1.0), DType::Float64, &[3, 4], &map, KEY).unwrap().is_none());
        assert!(kernel_params_for("v", &InitKernel::Fill(1.0), DType::Int64, &[3, 4], &map, KEY).unwrap().is_none());
        // More than 2^32 own elements: the host computes them in chunks.
        let big = IndexMap::identity(1 << 33);
        let p = kernel_params_for("v", &InitKernel::Fill(1.0), DType::Float32, &[1 << 33], &big, KEY).unwrap();
        assert!(p.is_none());
    }

    #[test]
    fn device_bits_per_dtype() {
        assert_eq!(device_bits(DType::Float32, 1.5), 1.5f32.to_bits());
        assert_eq!(device_bits(DType::Float16, 1.0), 0x3c00);
        assert_eq!(device_bits(DType::UInt32, 7.9), 7);
        assert_eq!(device_bits(DType::Bool, -3.0), 1);
        assert_eq!(device_bits(DType::Bool, 0.0), 0);
    }
}
