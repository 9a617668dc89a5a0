//! Host values: a dtype, a shape and canonical little-endian host bytes.

use half::{bf16, f16};
use varscope_core::{DType, Shape};

use crate::error::{GpuError, Result};

/// Values of a variable on the host: dtype, shape and the canonical little-endian bytes
/// of runtime.md section 5 (f32 4 B, f16/bf16 2 B, f64 8 B, i8/u8 1 B, i16/u16 2 B,
/// i32 4 B, i64/u64 8 B, u32 4 B, bool 1 B per element), row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct HostValues {
    dtype: DType,
    shape: Vec<u64>,
    bytes: Vec<u8>,
}

/// Host bytes per element of a dtype that a device can hold (`None` for string and
/// complex).
pub(crate) fn host_elem_bytes(dtype: DType) -> Option<usize> {
    match dtype {
        DType::String | DType::Complex64 | DType::Complex128 => None,
        d => Some(d.size_bytes()),
    }
}

/// The first element of canonical host bytes of `dtype` that no [`HostValues`] may hold,
/// as its index and byte: a bool byte other than 0 or 1 (every bit pattern of the other
/// dtypes is a value). A restore checks its values with this before it writes any
/// variable.
pub(crate) fn first_invalid_value(dtype: DType, bytes: &[u8]) -> Option<(usize, u8)> {
    if dtype != DType::Bool {
        return None;
    }
    bytes.iter().position(|&b| b > 1).map(|i| (i, bytes[i]))
}

/// The element count of `shape`, or [`GpuError::ShapeTooLarge`] when it does not fit a
/// `u64`. Counted left to right as [`Shape::num_elements`] counts it, so a shape the graph
/// refuses as too large (a zero dimension after the overflow included) is refused here.
fn num_elements(shape: &[u64]) -> Result<u64> {
    shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| GpuError::ShapeTooLarge { shape: Shape::new(shape).to_string() })
}

impl HostValues {
    /// Values from canonical host bytes. Fails when the shape's element count overflows a
    /// `u64` ([`GpuError::ShapeTooLarge`]; so do the other constructors, which come here),
    /// the length does not match the dtype and shape, the dtype has no byte form (string,
    /// complex), or a bool byte is not 0 or 1.
    pub fn from_bytes(dtype: DType, shape: &[u64], bytes: Vec<u8>) -> Result<Self> {
        let n = num_elements(shape)?;
        let bad = || GpuError::BadHostBytes { dtype, elements: n, len: bytes.len() };
        let eb = host_elem_bytes(dtype).ok_or_else(bad)?;
        if (n as u128) * (eb as u128) != bytes.len() as u128 {
            return Err(bad());
        }
        if first_invalid_value(dtype, &bytes).is_some() {
            return Err(bad());
        }
        Ok(HostValues { dtype, shape: shape.to_vec(), bytes })
    }

    fn pod<T: bytemuck::Pod>(dtype: DType, shape: &[u64], v: &[T]) -> Result<Self> {
        Self::from_bytes(dtype, shape, bytemuck::cast_slice(v).to_vec())
    }

    /// float32 values.
    pub fn from_f32(shape: &[u64], v: &[f32]) -> Result<Self> {
        Self::pod(DType::Float32, shape, v)
    }
    /// float64 values.
    pub fn from_f64(shape: &[u64], v: &[f64]) -> Result<Self> {
        Self::pod(DType::Float64, shape, v)
    }
    /// float16 values.
    pub fn from_f16(shape: &[u64], v: &[f16]) -> Result<Self> {
        Self::pod(DType::Float16, shape, v)
    }
    /// bfloat16 values.
    pub fn from_bf16(shape: &[u64], v: &[bf16]) -> Result<Self> {
        Self::pod(DType::BFloat16, shape, v)
    }
    /// int8 values.
    pub fn from_i8(shape: &[u64], v: &[i8]) -> Result<Self> {
        Self::pod(DType::Int8, shape, v)
    }
    /// uint8 values.
    pub fn from_u8(shape: &[u64], v: &[u8]) -> Result<Self> {
        Self::pod(DType::UInt8, shape, v)
    }
    /// int16 values.
    pub fn from_i16(shape: &[u64], v: &[i16]) -> Result<Self> {
        Self::pod(DType::Int16, shape, v)
    }
    /// uint16 values.
    pub fn from_u16(shape: &[u64], v: &[u16]) -> Result<Self> {
        Self::pod(DType::UInt16, shape, v)
    }
    /// int32 values.
    pub fn from_i32(shape: &[u64], v: &[i32]) -> Result<Self> {
        Self::pod(DType::Int32, shape, v)
    }
    /// int64 values.
    pub fn from_i64(shape: &[u64], v: &[i64]) -> Result<Self> {
        Self::pod(DType::Int64, shape, v)
    }
    /// uint32 values.
    pub fn from_u32(shape: &[u64], v: &[u32]) -> Result<Self> {
        Self::pod(DType::UInt32, shape, v)
    }
    /// uint64 values.
    pub fn from_u64(shape: &[u64], v: &[u64]) -> Result<Self> {
        Self::pod(DType::UInt64, shape, v)
    }
    /// bool values.
    pub fn from_bool(shape: &[u64], v: &[bool]) -> Result<Self> {
        Self::from_bytes(DType::Bool, shape, v.iter().map(|&b| b as u8).collect())
    }
    /// Values of any numeric dtype converted from `f64` (rounded to nearest for floats,
    /// truncated toward zero for integers, `!= 0` for bool).
    pub fn from_f64_as(dtype: DType, shape: &[u64], v: &[f64]) -> Result<Self> {
        let bytes: Vec<u8> = match dtype {
            DType::Float32 => v.iter().flat_map(|&x| (x as f32).to_le_bytes()).collect(),
            DType::Float64 => v.iter().flat_map(|&x| x.to_le_bytes()).collect(),
            DType::Float16 => v.iter().flat_map(|&x| f16::from_f64(x).to_le_bytes()).collect(),
            DType::BFloat16 => v.iter().flat_map(|&x| bf16::from_f64(x).to_le_bytes()).collect(),
            DType::Int8 => v.iter().map(|&x| x as i8 as u8).collect(),
            DType::UInt8 => v.iter().map(|&x| x as u8).collect(),
            DType::Int16 => v.iter().flat_map(|&x| (x as i16).to_le_bytes()).collect(),
            DType::UInt16 => v.iter().flat_map(|&x| (x as u16).to_le_bytes()).collect(),
            DType::Int32 => v.iter().flat_map(|&x| (x as i32).to_le_bytes()).collect(),
            DType::Int64 => v.iter().flat_map(|&x| (x as i64).to_le_bytes()).collect(),
            DType::UInt32 => v.iter().flat_map(|&x| (x as u32).to_le_bytes()).collect(),
            DType::UInt64 => v.iter().flat_map(|&x| (x as u64).to_le_bytes()).collect(),
            DType::Bool => v.iter().map(|&x| (x != 0.0) as u8).collect(),
            _ => Vec::new(),
        };
        Self::from_bytes(dtype, shape, bytes)
    }

    /// The dtype.
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    /// The shape.
    pub fn shape(&self) -> &[u64] {
        &self.shape
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        // `from_bytes` checked that the count fits a `u64` and matches the bytes held, so
        // it fits a `usize` too.
        self.shape.iter().product::<u64>() as usize
    }
    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The canonical host bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// The canonical host bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Every element as `f64` (exact for every dtype except int64 and uint64 beyond 2^53).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        let b = &self.bytes;
        // `chunks_exact(N)` yields slices of exactly N bytes, so each `try_into` into
        // `[u8; N]` below cannot fail.
        match self.dtype {
            DType::Float32 => b.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
            DType::Float64 => b.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect(),
            DType::Float16 => b.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f64()).collect(),
            DType::BFloat16 => b.chunks_exact(2).map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f64()).collect(),
            DType::Int8 => b.iter().map(|&x| f64::from(x as i8)).collect(),
            DType::UInt8 => b.iter().map(|&x| f64::from(x)).collect(),
            DType::Int16 => b.chunks_exact(2).map(|c| f64::from(i16::from_le_bytes([c[0], c[1]]))).collect(),
            DType::UInt16 => b.chunks_exact(2).map(|c| f64::from(u16::from_le_bytes([c[0], c[1]]))).collect(),
            DType::Int32 => b.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
            DType::Int64 => b.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
            DType::UInt32 => b.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
            DType::UInt64 => b.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
            DType::Bool => b.iter().map(|&x| x as f64).collect(),
            _ => Vec::new(),
        }
    }

    /// Every element as `f32` (float32 exactly; other dtypes converted).
    pub fn to_f32_vec(&self) -> Vec<f32> {
        match self.dtype {
            DType::Float32 => bytemuck::pod_collect_to_vec(&self.bytes),
            _ => self.to_f64_vec().into_iter().map(|x| x as f32).collect(),
        }
    }

    /// Every element as `i64` (integers and bool exactly, uint64 above `i64::MAX` wrapped
    /// to negative; floats truncated).
    pub fn to_i64_vec(&self) -> Vec<i64> {
        match self.dtype {
            DType::Int64 => bytemuck::pod_collect_to_vec(&self.bytes),
            DType::Int32 => bytemuck::pod_collect_to_vec::<u8, i32>(&self.bytes).into_iter().map(i64::from).collect(),
            DType::UInt32 => bytemuck::pod_collect_to_vec::<u8, u32>(&self.bytes).into_iter().map(i64::from).collect(),
            DType::UInt64 => {
                bytemuck::pod_collect_to_vec::<u8, u64>(&self.bytes).into_iter().map(|x| x as i64).collect()
            }
            _ => self.to_f64_vec().into_iter().map(|x| x as i64).collect(),
        }
    }

    /// Every element as `bool` (`!= 0`).
    pub fn to_bool_vec(&self) -> Vec<bool> {
        match self.dtype {
            DType::Bool => self.bytes.iter().map(|&b| b != 0).collect(),
            _ => self.to_f64_vec().into_iter().map(|x| x != 0.0).collect(),
        }
    }

    /// The raw bit pattern of every element, widened to `u64` (for exact comparisons).
    pub fn to_bits_vec(&self) -> Vec<u64> {
        let eb = host_elem_bytes(self.dtype).unwrap_or(1);
        self.bytes
            .chunks_exact(eb)
            .map(|c| {
                let mut w = [0u8; 8];
                w[..eb].copy_from_slice(c);
                u64::from_le_bytes(w)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every public constructor, given a shape whose element count overflows a `u64`,
    /// returns [`GpuError::ShapeTooLarge`] naming the shape (runtime.md section 9: no
    /// panic on any input a user can give).
    #[test]
    fn overflowing_shapes_are_errors_not_panics() {
        for shape in [vec![u64::MAX, 2], vec![1 << 32, 1 << 32], vec![3, u64::MAX / 2, 5, 0]] {
            // (A zero dimension after the overflow still overflows the running product:
            // refused, as the graph refuses such a shape for a variable.)
            let results: Vec<(&str, Result<HostValues>)> = vec![
                ("from_bytes", HostValues::from_bytes(DType::Float32, &shape, vec![])),
                ("from_bytes bool", HostValues::from_bytes(DType::Bool, &shape, vec![0, 1])),
                ("from_bytes string", HostValues::from_bytes(DType::String, &shape, vec![])),
                ("from_f32", HostValues::from_f32(&shape, &[1.0])),
                ("from_f64", HostValues::from_f64(&shape, &[1.0])),
                ("from_f16", HostValues::from_f16(&shape, &[f16::ONE])),
                ("from_bf16", HostValues::from_bf16(&shape, &[bf16::ONE])),
                ("from_i8", HostValues::from_i8(&shape, &[1])),
                ("from_u8", HostValues::from_u8(&shape, &[1])),
                ("from_i16", HostValues::from_i16(&shape, &[1])),
                ("from_u16", HostValues::from_u16(&shape, &[1])),
                ("from_i32", HostValues::from_i32(&shape, &[1])),
                ("from_i64", HostValues::from_i64(&shape, &[1])),
                ("from_u32", HostValues::from_u32(&shape, &[1])),
                ("from_u64", HostValues::from_u64(&shape, &[1])),
                ("from_bool", HostValues::from_bool(&shape, &[true])),
                ("from_f64_as", HostValues::from_f64_as(DType::Int32, &shape, &[1.0])),
                ("from_f64_as complex", HostValues::from_f64_as(DType::Complex64, &shape, &[1.0])),
            ];
            let want = Shape::new(&shape).to_string();
            for (what, r) in results {
                match r {
                    Err(GpuError::ShapeTooLarge { shape: got }) => assert_eq!(got, want, "{what}"),
                    other => panic!("{what} {shape:?}: {other:?}"),
                }
            }
        }
    }

    /// Shapes whose element count fits keep their behaviour, at the edge included.
    #[test]
    fn large_shapes_that_fit_are_length_errors() {
        let e = HostValues::from_f32(&[u64::MAX], &[1.0]).unwrap_err();
        assert!(matches!(e, GpuError::BadHostBytes { elements: u64::MAX, len: 4, .. }), "{e:?}");
        let e = HostValues::from_u8(&[1 << 32, 1 << 31], &[]).unwrap_err();
        assert!(matches!(e, GpuError::BadHostBytes { elements, len: 0, .. } if elements == 1 << 63), "{e:?}");
        assert_eq!(HostValues::from_f32(&[0, u64::MAX], &[]).unwrap().len(), 0);
        assert_eq!(first_invalid_value(DType::Bool, &[0, 1, 1, 7, 2]), Some((3, 7)));
        assert_eq!(first_invalid_value(DType::UInt8, &[0, 1, 7]), None);
    }
}
