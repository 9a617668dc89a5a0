//! Host constants: the values of `tf.constant`, Python numbers, lists and numpy arrays
//! given as initializers.

use crate::{DType, Shape};

/// Element storage of a [`HostTensor`]. Floats are held as `f64` and integers as `i64`;
/// the tensor's [`DType`] says how they are stored on a device.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    /// Floating values (float16, bfloat16, float32, float64, and complex real parts).
    Float(Vec<f64>),
    /// Integer values (int8, uint8, int16, uint16, int32, int64, uint32).
    Int(Vec<i64>),
    /// Boolean values.
    Bool(Vec<bool>),
    /// String values.
    Str(Vec<String>),
}

impl TensorData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            TensorData::Float(v) => v.len(),
            TensorData::Int(v) => v.len(),
            TensorData::Bool(v) => v.len(),
            TensorData::Str(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every element as `f64` (bool as 0/1; strings as 0).
    pub fn to_f64(&self) -> Vec<f64> {
        match self {
            TensorData::Float(v) => v.clone(),
            TensorData::Int(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::Bool(v) => v.iter().map(|&x| x as u8 as f64).collect(),
            TensorData::Str(v) => vec![0.0; v.len()],
        }
    }

    fn select(&self, idx: &[usize]) -> TensorData {
        match self {
            TensorData::Float(v) => TensorData::Float(idx.iter().map(|&i| v[i]).collect()),
            TensorData::Int(v) => TensorData::Int(idx.iter().map(|&i| v[i]).collect()),
            TensorData::Bool(v) => TensorData::Bool(idx.iter().map(|&i| v[i]).collect()),
            TensorData::Str(v) => TensorData::Str(idx.iter().map(|&i| v[i].clone()).collect()),
        }
    }
}

/// Where a constant initializer came from. TensorFlow treats a graph `Tensor` and a
/// Python/numpy value differently when partitioning (catalogue G9): a tensor's shape is
/// merged into the variable's shape; a Python value's is not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConstantKind {
    /// A graph tensor (`tf.constant(...)`).
    Tensor,
    /// A Python number or list, or a numpy array.
    Python,
}

/// A host value with a dtype and a fully known shape, or (for `Tensor` placeholders in
/// the catalogue's J cases) an unknown static shape.
#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    dtype: DType,
    shape: Vec<u64>,
    static_shape: Shape,
    /// Shared: scope defaults and getter arguments copy the tensor on every
    /// `get_variable`, and those copies must not copy the values.
    data: std::sync::Arc<TensorData>,
    kind: ConstantKind,
    /// The graph op it stands for, where a message names it ([`HostTensor::named`]).
    op_name: Option<std::sync::Arc<str>>,
}

impl HostTensor {
    /// A tensor from parts. Returns `None` when the data length does not match the shape
    /// or the data variant does not fit the dtype.
    pub fn new(dtype: DType, shape: &[u64], data: TensorData) -> Option<Self> {
        let n = shape.iter().try_fold(1u64, |a, &x| a.checked_mul(x))?;
        if n != data.len() as u64 || !data_fits(dtype, &data) {
            return None;
        }
        Some(HostTensor {
            dtype,
            shape: shape.to_vec(),
            static_shape: Shape::new(shape),
            data: std::sync::Arc::new(data),
            kind: ConstantKind::Tensor,
            op_name: None,
        })
    }

    /// `tf.constant(values)` of float32 with the given shape.
    pub fn f32(shape: &[u64], values: &[f32]) -> Option<Self> {
        Self::new(DType::Float32, shape, TensorData::Float(values.iter().map(|&x| x as f64).collect()))
    }

    /// A float tensor of any floating dtype.
    pub fn float(dtype: DType, shape: &[u64], values: Vec<f64>) -> Option<Self> {
        Self::new(dtype, shape, TensorData::Float(values))
    }

    /// An integer tensor (int8, uint8, int16, uint16, int32, int64, uint32). `None` when
    /// a value does not fit the dtype.
    pub fn int(dtype: DType, shape: &[u64], values: Vec<i64>) -> Option<Self> {
        Self::new(dtype, shape, TensorData::Int(values))
    }

    /// A tensor whose data is known to fit: the variant fits `dtype` and the length
    /// matches `shape` by construction at every call site.
    fn known(dtype: DType, shape: &[u64], data: TensorData) -> Self {
        HostTensor {
            dtype,
            shape: shape.to_vec(),
            static_shape: Shape::new(shape),
            data: std::sync::Arc::new(data),
            kind: ConstantKind::Tensor,
            op_name: None,
        }
    }

    /// The dtype `convert_to_tensor` gives Python ints: int32, or int64 when a value
    /// does not fit int32.
    fn py_int_dtype(v: &[i64]) -> DType {
        if v.iter().all(|x| i32::try_from(*x).is_ok()) {
            DType::Int32
        } else {
            DType::Int64
        }
    }

    /// A Python int (`4`): an int32 scalar (int64 if it does not fit int32).
    pub fn py_int(v: i64) -> Self {
        Self::known(Self::py_int_dtype(&[v]), &[], TensorData::Int(vec![v])).python()
    }

    /// A Python float (`1.5`): a float32 scalar.
    pub fn py_float(v: f64) -> Self {
        Self::known(DType::Float32, &[], TensorData::Float(vec![v])).python()
    }

    /// A Python list of floats (`[1., 2.]`): float32 of shape `[len]`.
    pub fn py_floats(v: &[f64]) -> Self {
        Self::known(DType::Float32, &[v.len() as u64], TensorData::Float(v.to_vec())).python()
    }

    /// A Python list of ints (`[1, 2]`): int32 of shape `[len]` (int64 if a value does
    /// not fit int32).
    pub fn py_ints(v: &[i64]) -> Self {
        Self::known(Self::py_int_dtype(v), &[v.len() as u64], TensorData::Int(v.to_vec())).python()
    }

    /// Marks this value as a Python/numpy value rather than a graph tensor.
    pub fn python(mut self) -> Self {
        self.kind = ConstantKind::Python;
        self
    }

    /// Gives the tensor an unknown static shape (a placeholder whose shape is only known
    /// when it runs, `tf.compat.v1.placeholder_with_default`), as in catalogue J1/J2.
    pub fn with_unknown_static_shape(mut self) -> Self {
        self.static_shape = Shape::unknown();
        self
    }

    /// Names the graph op this tensor stands for (`"PlaceholderWithDefault_1"`), for
    /// the messages that print it (J2). Unnamed, a tensor of unknown static shape is
    /// printed as a graph's first `PlaceholderWithDefault`.
    pub fn named(mut self, op_name: &str) -> Self {
        self.op_name = Some(op_name.into());
        self
    }

    /// The graph op name given by [`HostTensor::named`].
    pub fn op_name(&self) -> Option<&str> {
        self.op_name.as_deref()
    }

    /// The dtype.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The concrete shape of the values.
    pub fn shape(&self) -> &[u64] {
        &self.shape
    }

    /// The static shape a graph sees (`get_shape()`): the concrete shape unless it was
    /// hidden with [`HostTensor::with_unknown_static_shape`].
    pub fn static_shape(&self) -> &Shape {
        &self.static_shape
    }

    /// The values, row-major.
    pub fn data(&self) -> &TensorData {
        &self.data
    }

    /// Where it came from.
    pub fn kind(&self) -> ConstantKind {
        self.kind
    }

    /// Number of elements.
    pub fn num_elements(&self) -> u64 {
        self.shape.iter().product()
    }

    /// Converts the values to another dtype (as `convert_to_tensor(value, dtype)` does for
    /// Python values). Returns `None` when the conversion is not allowed (e.g. float
    /// values into an integer dtype, anything into string).
    pub fn cast_to(&self, dtype: DType) -> Option<HostTensor> {
        if dtype == self.dtype {
            return Some(self.clone());
        }
        let data = match (&*self.data, dtype) {
            (TensorData::Float(v), d) if d.is_floating() || d.is_complex() => TensorData::Float(v.clone()),
            (TensorData::Int(v), d) if d.is_floating() || d.is_complex() => {
                TensorData::Float(v.iter().map(|&x| x as f64).collect())
            }
            (TensorData::Int(v), d) if d.is_integer() => TensorData::Int(v.clone()),
            (TensorData::Bool(v), DType::Bool) => TensorData::Bool(v.clone()),
            _ => return None,
        };
        let mut t = HostTensor::new(dtype, &self.shape, data)?;
        t.kind = self.kind;
        t.static_shape = self.static_shape.clone();
        Some(t)
    }

    /// `array_ops.slice(self, offset, size)`: the sub-block starting at `offset`.
    /// Returns `None` if the block does not fit.
    pub fn slice(&self, offset: &[u64], size: &[u64]) -> Option<HostTensor> {
        if offset.len() != self.shape.len() || size.len() != self.shape.len() {
            return None;
        }
        for i in 0..self.shape.len() {
            if offset[i] + size[i] > self.shape[i] {
                return None;
            }
        }
        let rank = self.shape.len();
        let n: u64 = size.iter().product();
        let mut strides = vec![1u64; rank];
        for i in (0..rank.saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * self.shape[i + 1];
        }
        let mut idx = Vec::with_capacity(n as usize);
        let mut pos = vec![0u64; rank];
        for _ in 0..n {
            let flat: u64 = (0..rank).map(|d| (offset[d] + pos[d]) * strides[d]).sum();
            idx.push(flat as usize);
            for d in (0..rank).rev() {
                pos[d] += 1;
                if pos[d] < size[d] {
                    break;
                }
                pos[d] = 0;
            }
        }
        let mut t = HostTensor::new(self.dtype, size, self.data.select(&idx))?;
        t.kind = self.kind;
        Some(t)
    }
}

fn data_fits(dtype: DType, data: &TensorData) -> bool {
    match data {
        TensorData::Float(_) => dtype.is_floating() || dtype.is_complex(),
        // Integer values must fit the dtype (an int8 holds -128..=127).
        TensorData::Int(v) => dtype.int_range().is_some_and(|(lo, hi)| v.iter().all(|x| (lo..=hi).contains(x))),
        TensorData::Bool(_) => dtype == DType::Bool,
        TensorData::Str(_) => dtype == DType::String,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_blocks() {
        let t = HostTensor::f32(&[5, 3], &(0..15).map(|x| x as f32).collect::<Vec<_>>()).unwrap();
        let s = t.slice(&[3, 0], &[2, 3]).unwrap();
        assert_eq!(s.data().to_f64(), vec![9., 10., 11., 12., 13., 14.]);
        let c = t.slice(&[0, 1], &[5, 1]).unwrap();
        assert_eq!(c.data().to_f64(), vec![1., 4., 7., 10., 13.]);
        assert!(t.slice(&[4, 0], &[2, 3]).is_none());
    }

    #[test]
    fn python_literal_dtypes() {
        assert_eq!(HostTensor::py_int(4).dtype(), DType::Int32);
        assert_eq!(HostTensor::py_floats(&[1., 2.]).dtype(), DType::Float32);
        assert!(HostTensor::py_floats(&[1.]).cast_to(DType::Int32).is_none());
    }
}
