//! Element types of variables, with TensorFlow's names and reprs.

use std::fmt;

/// The element type of a variable or constant.
///
/// `String`, `Complex64` and `Complex128` exist at graph level only (a device rejects
/// them when the session materializes the variable); `Float64`, `Int64` and `UInt64`
/// live on `/cpu:0` and on adapters that support them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
#[derive(Default)]
pub enum DType {
    /// IEEE half precision.
    Float16,
    /// Brain float 16 (the upper half of a float32).
    BFloat16,
    /// IEEE single precision, the default.
    #[default]
    Float32,
    /// IEEE double precision.
    Float64,
    /// Signed 8-bit integer.
    Int8,
    /// Unsigned 8-bit integer.
    UInt8,
    /// Signed 16-bit integer.
    Int16,
    /// Unsigned 16-bit integer.
    UInt16,
    /// Signed 32-bit integer.
    Int32,
    /// Signed 64-bit integer.
    Int64,
    /// Unsigned 32-bit integer.
    UInt32,
    /// Unsigned 64-bit integer (checkpoints, restore and save; no random initializer,
    /// as TensorFlow's `random_uniform` has none).
    UInt64,
    /// Boolean.
    Bool,
    /// Byte string (graph-level only).
    String,
    /// Complex with float32 parts (graph-level only; has no default initializer).
    Complex64,
    /// Complex with float64 parts (graph-level only; has no default initializer).
    Complex128,
}

impl DType {
    /// Every dtype, in declaration order.
    pub const ALL: [DType; 16] = [
        DType::Float16,
        DType::BFloat16,
        DType::Float32,
        DType::Float64,
        DType::Int8,
        DType::UInt8,
        DType::Int16,
        DType::UInt16,
        DType::Int32,
        DType::Int64,
        DType::UInt32,
        DType::UInt64,
        DType::Bool,
        DType::String,
        DType::Complex64,
        DType::Complex128,
    ];

    /// TensorFlow's `dtype.name` (`"float32"`).
    pub fn name(self) -> &'static str {
        match self {
            DType::Float16 => "float16",
            DType::BFloat16 => "bfloat16",
            DType::Float32 => "float32",
            DType::Float64 => "float64",
            DType::Int8 => "int8",
            DType::UInt8 => "uint8",
            DType::Int16 => "int16",
            DType::UInt16 => "uint16",
            DType::Int32 => "int32",
            DType::Int64 => "int64",
            DType::UInt32 => "uint32",
            DType::UInt64 => "uint64",
            DType::Bool => "bool",
            DType::String => "string",
            DType::Complex64 => "complex64",
            DType::Complex128 => "complex128",
        }
    }

    /// TensorFlow's `repr(dtype)` (`"<dtype: 'float32'>"`).
    pub fn repr(self) -> String {
        format!("<dtype: '{}'>", self.name())
    }

    /// Parses a TensorFlow dtype name (`"float32"`, `"half"`, `"float"`, `"double"`).
    pub fn from_name(name: &str) -> Option<DType> {
        Some(match name {
            "float16" | "half" => DType::Float16,
            "bfloat16" => DType::BFloat16,
            "float32" | "float" => DType::Float32,
            "float64" | "double" => DType::Float64,
            "int8" => DType::Int8,
            "uint8" => DType::UInt8,
            "int16" => DType::Int16,
            "uint16" => DType::UInt16,
            "int32" => DType::Int32,
            "int64" => DType::Int64,
            "uint32" => DType::UInt32,
            "uint64" => DType::UInt64,
            "bool" => DType::Bool,
            "string" => DType::String,
            "complex64" => DType::Complex64,
            "complex128" => DType::Complex128,
            _ => return None,
        })
    }

    /// Bytes per element as stored on the host and in checkpoints (`String`: 16, the
    /// size TensorFlow's partitioners assume per string element).
    pub fn size_bytes(self) -> usize {
        match self {
            DType::Int8 | DType::UInt8 => 1,
            DType::Float16 | DType::BFloat16 | DType::Int16 | DType::UInt16 => 2,
            DType::Float32 | DType::Int32 | DType::UInt32 => 4,
            DType::Float64 | DType::Int64 | DType::UInt64 | DType::Complex64 => 8,
            DType::Bool => 1,
            DType::String | DType::Complex128 => 16,
        }
    }

    /// Floating point (float16, bfloat16, float32, float64).
    pub fn is_floating(self) -> bool {
        matches!(self, DType::Float16 | DType::BFloat16 | DType::Float32 | DType::Float64)
    }

    /// Signed or unsigned integer.
    pub fn is_integer(self) -> bool {
        matches!(
            self,
            DType::Int8
                | DType::UInt8
                | DType::Int16
                | DType::UInt16
                | DType::Int32
                | DType::Int64
                | DType::UInt32
                | DType::UInt64
        )
    }

    /// Unsigned integer.
    pub fn is_unsigned(self) -> bool {
        matches!(self, DType::UInt8 | DType::UInt16 | DType::UInt32 | DType::UInt64)
    }

    /// Integer dtypes TensorFlow's `random_uniform` draws (int32, int64; varscope also
    /// draws uint32). The 8- and 16-bit integers take only fill and constant initializers.
    pub fn has_uniform_int(self) -> bool {
        matches!(self, DType::Int32 | DType::Int64 | DType::UInt32)
    }

    /// The range of an integer dtype as `(min, max)`; `None` for other dtypes.
    pub fn int_range(self) -> Option<(i64, i64)> {
        Some(match self {
            DType::Int8 => (i8::MIN.into(), i8::MAX.into()),
            DType::UInt8 => (0, u8::MAX.into()),
            DType::Int16 => (i16::MIN.into(), i16::MAX.into()),
            DType::UInt16 => (0, u16::MAX.into()),
            DType::Int32 => (i32::MIN.into(), i32::MAX.into()),
            DType::UInt32 => (0, u32::MAX.into()),
            DType::Int64 => (i64::MIN, i64::MAX),
            // The part of the range an i64 holds.
            DType::UInt64 => (0, i64::MAX),
            _ => return None,
        })
    }

    /// Complex.
    pub fn is_complex(self) -> bool {
        matches!(self, DType::Complex64 | DType::Complex128)
    }

    /// Whether TensorFlow gives this dtype a default initializer (E1): floating types get
    /// glorot_uniform, integers, bool and string get zeros.
    pub fn has_default_initializer(self) -> bool {
        !self.is_complex()
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in DType::ALL {
            assert_eq!(DType::from_name(d.name()), Some(d));
        }
        assert_eq!(DType::Int32.repr(), "<dtype: 'int32'>");
    }
}
