//! TensorFlow's `DataType` codes (`tensorflow/core/framework/types.proto`) as a closed enum.

use std::fmt;

use varscope_core::DType;

/// A dtype as a TensorFlow bundle entry records it.
///
/// Every code a checkpoint can hold for a variable's value is here; reference dtypes
/// (`DT_FLOAT_REF` = code + 100) never appear in a bundle and are rejected as unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TfDtype {
    /// `DT_FLOAT` (1): IEEE float32.
    Float32,
    /// `DT_DOUBLE` (2): IEEE float64.
    Float64,
    /// `DT_INT32` (3).
    Int32,
    /// `DT_UINT8` (4).
    UInt8,
    /// `DT_INT16` (5).
    Int16,
    /// `DT_INT8` (6).
    Int8,
    /// `DT_STRING` (7): variable-length bytes; listed, never read.
    String,
    /// `DT_COMPLEX64` (8): two float32.
    Complex64,
    /// `DT_INT64` (9).
    Int64,
    /// `DT_BOOL` (10): one byte, 0 or 1.
    Bool,
    /// `DT_QINT8` (11).
    QInt8,
    /// `DT_QUINT8` (12).
    QUInt8,
    /// `DT_QINT32` (13).
    QInt32,
    /// `DT_BFLOAT16` (14).
    BFloat16,
    /// `DT_QINT16` (15).
    QInt16,
    /// `DT_QUINT16` (16).
    QUInt16,
    /// `DT_UINT16` (17).
    UInt16,
    /// `DT_COMPLEX128` (18): two float64.
    Complex128,
    /// `DT_HALF` (19): IEEE float16.
    Float16,
    /// `DT_RESOURCE` (20): a resource handle; listed, never read.
    Resource,
    /// `DT_VARIANT` (21): a serialized variant; listed, never read.
    Variant,
    /// `DT_UINT32` (22).
    UInt32,
    /// `DT_UINT64` (23).
    UInt64,
}

impl TfDtype {
    /// Every dtype, in code order.
    pub const ALL: [TfDtype; 23] = [
        TfDtype::Float32,
        TfDtype::Float64,
        TfDtype::Int32,
        TfDtype::UInt8,
        TfDtype::Int16,
        TfDtype::Int8,
        TfDtype::String,
        TfDtype::Complex64,
        TfDtype::Int64,
        TfDtype::Bool,
        TfDtype::QInt8,
        TfDtype::QUInt8,
        TfDtype::QInt32,
        TfDtype::BFloat16,
        TfDtype::QInt16,
        TfDtype::QUInt16,
        TfDtype::UInt16,
        TfDtype::Complex128,
        TfDtype::Float16,
        TfDtype::Resource,
        TfDtype::Variant,
        TfDtype::UInt32,
        TfDtype::UInt64,
    ];

    /// The `DataType` enum value stored in a `BundleEntryProto`.
    pub fn code(self) -> i32 {
        // Declaration order is code order, starting at 1.
        Self::ALL.iter().position(|d| *d == self).map_or(0, |i| i as i32 + 1)
    }

    /// The dtype of a `DataType` code, `None` for `DT_INVALID`, reference and unknown codes.
    pub fn from_code(code: i32) -> Option<TfDtype> {
        let index = usize::try_from(code).ok()?.checked_sub(1)?;
        Self::ALL.get(index).copied()
    }

    /// Bytes per element, `None` for the variable-length dtypes (string, resource, variant).
    pub fn size(self) -> Option<usize> {
        Some(match self {
            TfDtype::Int8 | TfDtype::UInt8 | TfDtype::Bool | TfDtype::QInt8 | TfDtype::QUInt8 => 1,
            TfDtype::Int16
            | TfDtype::UInt16
            | TfDtype::Float16
            | TfDtype::BFloat16
            | TfDtype::QInt16
            | TfDtype::QUInt16 => 2,
            TfDtype::Float32 | TfDtype::Int32 | TfDtype::UInt32 | TfDtype::QInt32 => 4,
            TfDtype::Float64 | TfDtype::Int64 | TfDtype::UInt64 | TfDtype::Complex64 => 8,
            TfDtype::Complex128 => 16,
            TfDtype::String | TfDtype::Resource | TfDtype::Variant => return None,
        })
    }

    /// TensorFlow's `dtype.name` (`"float32"`, `"bfloat16"`, `"resource"`).
    pub fn name(self) -> &'static str {
        match self {
            TfDtype::Float32 => "float32",
            TfDtype::Float64 => "float64",
            TfDtype::Int32 => "int32",
            TfDtype::UInt8 => "uint8",
            TfDtype::Int16 => "int16",
            TfDtype::Int8 => "int8",
            TfDtype::String => "string",
            TfDtype::Complex64 => "complex64",
            TfDtype::Int64 => "int64",
            TfDtype::Bool => "bool",
            TfDtype::QInt8 => "qint8",
            TfDtype::QUInt8 => "quint8",
            TfDtype::QInt32 => "qint32",
            TfDtype::BFloat16 => "bfloat16",
            TfDtype::QInt16 => "qint16",
            TfDtype::QUInt16 => "quint16",
            TfDtype::UInt16 => "uint16",
            TfDtype::Complex128 => "complex128",
            TfDtype::Float16 => "float16",
            TfDtype::Resource => "resource",
            TfDtype::Variant => "variant",
            TfDtype::UInt32 => "uint32",
            TfDtype::UInt64 => "uint64",
        }
    }

    /// Parses a dtype name as [`TfDtype::name`] prints it (also `"half"`, `"float"`, `"double"`).
    pub fn from_name(name: &str) -> Option<TfDtype> {
        match name {
            "half" => Some(TfDtype::Float16),
            "float" => Some(TfDtype::Float32),
            "double" => Some(TfDtype::Float64),
            _ => Self::ALL.iter().copied().find(|d| d.name() == name),
        }
    }

    /// The varscope dtype with the same bytes, where varscope has one.
    pub fn to_core(self) -> Option<DType> {
        Some(match self {
            TfDtype::Float16 => DType::Float16,
            TfDtype::BFloat16 => DType::BFloat16,
            TfDtype::Float32 => DType::Float32,
            TfDtype::Float64 => DType::Float64,
            TfDtype::Int32 => DType::Int32,
            TfDtype::Int64 => DType::Int64,
            TfDtype::UInt32 => DType::UInt32,
            TfDtype::UInt64 => DType::UInt64,
            TfDtype::Int8 => DType::Int8,
            TfDtype::UInt8 => DType::UInt8,
            TfDtype::Int16 => DType::Int16,
            TfDtype::UInt16 => DType::UInt16,
            TfDtype::Bool => DType::Bool,
            TfDtype::Complex64 => DType::Complex64,
            TfDtype::Complex128 => DType::Complex128,
            _ => return None,
        })
    }

    /// The TensorFlow dtype of a varscope dtype, `None` for `String` (not a fixed-size
    /// tensor varscope saves).
    pub fn from_core(dtype: DType) -> Option<TfDtype> {
        Some(match dtype {
            DType::Float16 => TfDtype::Float16,
            DType::BFloat16 => TfDtype::BFloat16,
            DType::Float32 => TfDtype::Float32,
            DType::Float64 => TfDtype::Float64,
            DType::Int32 => TfDtype::Int32,
            DType::Int64 => TfDtype::Int64,
            DType::UInt32 => TfDtype::UInt32,
            DType::UInt64 => TfDtype::UInt64,
            DType::Int8 => TfDtype::Int8,
            DType::UInt8 => TfDtype::UInt8,
            DType::Int16 => TfDtype::Int16,
            DType::UInt16 => TfDtype::UInt16,
            DType::Bool => TfDtype::Bool,
            DType::Complex64 => TfDtype::Complex64,
            DType::Complex128 => TfDtype::Complex128,
            _ => return None,
        })
    }
}

impl fmt::Display for TfDtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_types_proto() {
        let table = [
            (TfDtype::Float32, 1),
            (TfDtype::Float64, 2),
            (TfDtype::Int32, 3),
            (TfDtype::UInt8, 4),
            (TfDtype::Int16, 5),
            (TfDtype::Int8, 6),
            (TfDtype::String, 7),
            (TfDtype::Int64, 9),
            (TfDtype::Bool, 10),
            (TfDtype::BFloat16, 14),
            (TfDtype::UInt16, 17),
            (TfDtype::Float16, 19),
            (TfDtype::Resource, 20),
            (TfDtype::Variant, 21),
            (TfDtype::UInt32, 22),
            (TfDtype::UInt64, 23),
        ];
        for (dtype, code) in table {
            assert_eq!(dtype.code(), code, "{dtype}");
            assert_eq!(TfDtype::from_code(code), Some(dtype));
            assert_eq!(TfDtype::from_name(dtype.name()), Some(dtype));
        }
        for bad in [0, 24, 101, -1, i32::MAX] {
            assert_eq!(TfDtype::from_code(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_fixed_size_varscope_dtype_has_a_tensorflow_dtype() {
        for d in DType::ALL {
            match TfDtype::from_core(d) {
                Some(t) => {
                    assert_eq!(t.to_core(), Some(d), "{d}");
                    assert_eq!(t.name(), d.name(), "{d}");
                    assert_eq!(t.size(), Some(d.size_bytes()), "{d}");
                }
                None => assert_eq!(d, DType::String),
            }
        }
    }
}
