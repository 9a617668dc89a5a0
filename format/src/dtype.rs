//! The dtypes a safetensors file stores, their sizes, the varscope dtype each stands for,
//! and the float conversions a restore may apply.

use std::fmt;

use half::{bf16, f16};
use varscope_core::DType;

/// A safetensors dtype as stored in a file (`"F32"`). varscope variables use thirteen of
/// them; the others (8-bit floats) can be inspected but not restored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoredDType {
    /// `BOOL`.
    Bool,
    /// `U8`.
    U8,
    /// `I8`.
    I8,
    /// `F8_E5M2`.
    F8E5M2,
    /// `F8_E4M3`.
    F8E4M3,
    /// `I16`.
    I16,
    /// `U16`.
    U16,
    /// `F16`.
    F16,
    /// `BF16`.
    BF16,
    /// `I32`.
    I32,
    /// `U32`.
    U32,
    /// `F32`.
    F32,
    /// `F64`.
    F64,
    /// `I64`.
    I64,
    /// `U64`.
    U64,
}

impl StoredDType {
    const ALL: [StoredDType; 15] = [
        StoredDType::Bool,
        StoredDType::U8,
        StoredDType::I8,
        StoredDType::F8E5M2,
        StoredDType::F8E4M3,
        StoredDType::I16,
        StoredDType::U16,
        StoredDType::F16,
        StoredDType::BF16,
        StoredDType::I32,
        StoredDType::U32,
        StoredDType::F32,
        StoredDType::F64,
        StoredDType::I64,
        StoredDType::U64,
    ];

    /// The safetensors code (`"F32"`).
    pub fn code(self) -> &'static str {
        match self {
            StoredDType::Bool => "BOOL",
            StoredDType::U8 => "U8",
            StoredDType::I8 => "I8",
            StoredDType::F8E5M2 => "F8_E5M2",
            StoredDType::F8E4M3 => "F8_E4M3",
            StoredDType::I16 => "I16",
            StoredDType::U16 => "U16",
            StoredDType::F16 => "F16",
            StoredDType::BF16 => "BF16",
            StoredDType::I32 => "I32",
            StoredDType::U32 => "U32",
            StoredDType::F32 => "F32",
            StoredDType::F64 => "F64",
            StoredDType::I64 => "I64",
            StoredDType::U64 => "U64",
        }
    }

    /// Parses a safetensors code.
    pub fn from_code(code: &str) -> Option<StoredDType> {
        StoredDType::ALL.into_iter().find(|d| d.code() == code)
    }

    /// Bytes per element.
    pub fn size_bytes(self) -> usize {
        match self {
            StoredDType::Bool | StoredDType::U8 | StoredDType::I8 | StoredDType::F8E5M2 | StoredDType::F8E4M3 => 1,
            StoredDType::I16 | StoredDType::U16 | StoredDType::F16 | StoredDType::BF16 => 2,
            StoredDType::I32 | StoredDType::U32 | StoredDType::F32 => 4,
            StoredDType::F64 | StoredDType::I64 | StoredDType::U64 => 8,
        }
    }

    /// The varscope dtype with the same byte form, if any.
    pub fn dtype(self) -> Option<DType> {
        Some(match self {
            StoredDType::Bool => DType::Bool,
            StoredDType::F16 => DType::Float16,
            StoredDType::BF16 => DType::BFloat16,
            StoredDType::F32 => DType::Float32,
            StoredDType::F64 => DType::Float64,
            StoredDType::I32 => DType::Int32,
            StoredDType::I64 => DType::Int64,
            StoredDType::U32 => DType::UInt32,
            StoredDType::U64 => DType::UInt64,
            StoredDType::I8 => DType::Int8,
            StoredDType::U8 => DType::UInt8,
            StoredDType::I16 => DType::Int16,
            StoredDType::U16 => DType::UInt16,
            _ => return None,
        })
    }

    /// The stored form of a varscope dtype (`None` for string and complex).
    pub fn of(dtype: DType) -> Option<StoredDType> {
        Some(match dtype {
            DType::Bool => StoredDType::Bool,
            DType::Float16 => StoredDType::F16,
            DType::BFloat16 => StoredDType::BF16,
            DType::Float32 => StoredDType::F32,
            DType::Float64 => StoredDType::F64,
            DType::Int32 => StoredDType::I32,
            DType::Int64 => StoredDType::I64,
            DType::UInt32 => StoredDType::U32,
            DType::UInt64 => StoredDType::U64,
            DType::Int8 => StoredDType::I8,
            DType::UInt8 => StoredDType::U8,
            DType::Int16 => StoredDType::I16,
            DType::UInt16 => StoredDType::U16,
            _ => return None,
        })
    }
}

impl fmt::Display for StoredDType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.dtype() {
            Some(d) => write!(f, "{} ({d})", self.code()),
            None => f.write_str(self.code()),
        }
    }
}

/// Whether values stored as `from` can restore a variable of dtype `to`: the same byte
/// form, or a conversion within float16, bfloat16, float32 and float64 (rounded to
/// nearest even, NaN and infinities kept).
pub fn can_convert(from: StoredDType, to: DType) -> bool {
    match from.dtype() {
        Some(d) if d == to => true,
        Some(d) => d.is_floating() && to.is_floating(),
        None => false,
    }
}

/// Appends `src` (whole elements stored as `from`) converted to `to` (see
/// [`can_convert`]; nothing is appended for a pair it refuses). Each element is rounded
/// once, to nearest even; NaN and infinities are kept.
pub fn convert_into(src: &[u8], from: StoredDType, to: DType, out: &mut Vec<u8>) {
    let Some(fd) = from.dtype() else { return };
    if fd == to {
        out.extend_from_slice(src);
        return;
    }
    if !can_convert(from, to) {
        return;
    }
    let eb = from.size_bytes();
    for c in src.chunks_exact(eb) {
        let x: f64 = match from {
            StoredDType::F16 => f16::from_le_bytes([c[0], c[1]]).to_f64(),
            StoredDType::BF16 => bf16::from_le_bytes([c[0], c[1]]).to_f64(),
            StoredDType::F32 => f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64,
            _ => f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]),
        };
        // f16, bf16 and f32 are exact in f64, so each conversion rounds once.
        match to {
            DType::Float16 => out.extend_from_slice(&f16::from_f64(x).to_le_bytes()),
            DType::BFloat16 => out.extend_from_slice(&bf16::from_f64(x).to_le_bytes()),
            DType::Float32 => out.extend_from_slice(&(x as f32).to_le_bytes()),
            _ => out.extend_from_slice(&x.to_le_bytes()),
        }
    }
}
