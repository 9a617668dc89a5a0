//! Partitioners, the partition validation of `_call_partitioner`, shard slicing, and the
//! `partition_info` handed to initializers (catalogue section G).

use std::fmt;
use std::sync::Arc;

use crate::error::Error;
use crate::shape::{py_list, py_tuple};
use crate::{DType, Shape};

/// What a partitioner returned. TensorFlow compares partitions with Python `!=`, so a
/// list and a tuple with the same numbers differ (G11); built-in partitioners return lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Partitions {
    /// A Python list.
    List(Vec<i64>),
    /// A Python tuple.
    Tuple(Vec<i64>),
    /// Something that is not a sequence, by its `str()`.
    NotASequence(String),
}

impl Partitions {
    /// The numbers, if a sequence.
    pub fn values(&self) -> Option<&[i64]> {
        match self {
            Partitions::List(v) | Partitions::Tuple(v) => Some(v),
            Partitions::NotASequence(_) => None,
        }
    }
}

impl fmt::Display for Partitions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Partitions::List(v) => f.write_str(&py_list(v)),
            Partitions::Tuple(v) => f.write_str(&py_tuple(v)),
            Partitions::NotASequence(s) => f.write_str(s),
        }
    }
}

/// A user partitioner: called as `partitioner(shape=..., dtype=...)`.
#[derive(Clone)]
pub struct PartitionerFn {
    name: String,
    #[allow(clippy::type_complexity)]
    f: Arc<dyn Fn(&Shape, DType) -> Result<Partitions, Error> + Send + Sync>,
    /// A Python value that is not callable, by its `str()` ([`crate::compat::partitioner_value`]).
    not_callable: bool,
}

impl PartitionerFn {
    /// Wraps a closure.
    pub fn new(
        name: impl Into<String>,
        f: impl Fn(&Shape, DType) -> Result<Partitions, Error> + Send + Sync + 'static,
    ) -> Self {
        PartitionerFn { name: name.into(), f: Arc::new(f), not_callable: false }
    }

    /// A partitioner argument that is a Python value other than a callable, `repr` its
    /// `str()`: `get_variable` fails with `Partitioner must be callable, ...`.
    pub(crate) fn not_callable(repr: &str) -> Self {
        let r = repr.to_string();
        PartitionerFn {
            name: repr.to_string(),
            f: Arc::new(move |_, _| Err(Error::PartitionerNotCallable { repr: r.clone() })),
            not_callable: true,
        }
    }
}

impl fmt::Debug for PartitionerFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PartitionerFn({})", self.name)
    }
}

impl PartialEq for PartitionerFn {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.f, &other.f)
    }
}

/// A partitioner, as plain data where TensorFlow has a built-in one.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Partitioner {
    /// `fixed_size_partitioner(num_shards, axis)`.
    FixedSize {
        /// Number of shards (capped by the dim).
        num_shards: i64,
        /// Axis.
        axis: usize,
    },
    /// `variable_axis_size_partitioner(max_shard_bytes, axis, bytes_per_string_element, max_shards)`.
    VariableAxisSize {
        /// Target bytes per shard.
        max_shard_bytes: i64,
        /// Axis.
        axis: usize,
        /// Bytes assumed per string element.
        bytes_per_string_element: i64,
        /// Cap (0 and `None` are ignored, as in TensorFlow).
        max_shards: Option<i64>,
    },
    /// `min_max_variable_partitioner(max_partitions, axis, min_slice_size, bytes_per_string_element)`.
    MinMax {
        /// Cap on partitions.
        max_partitions: i64,
        /// Axis.
        axis: usize,
        /// Minimum bytes per slice.
        min_slice_size: i64,
        /// Bytes assumed per string element.
        bytes_per_string_element: i64,
    },
    /// A user partitioner.
    Custom(PartitionerFn),
}

impl Partitioner {
    /// `fixed_size_partitioner(num_shards, axis=0)`.
    pub fn fixed_size(num_shards: i64) -> Self {
        Partitioner::FixedSize { num_shards, axis: 0 }
    }

    /// `fixed_size_partitioner(num_shards, axis)`.
    pub fn fixed_size_axis(num_shards: i64, axis: usize) -> Self {
        Partitioner::FixedSize { num_shards, axis }
    }

    /// `variable_axis_size_partitioner(...)`, validating its arguments as TensorFlow does (G6).
    pub fn variable_axis_size(
        max_shard_bytes: i64,
        axis: usize,
        bytes_per_string_element: i64,
        max_shards: Option<i64>,
    ) -> Result<Self, Error> {
        if max_shard_bytes < 1 || bytes_per_string_element < 1 {
            return Err(Error::PartitionerArgs {
                message: format!(
                    "Both max_shard_bytes and bytes_per_string_element must be positive. Currently, max_shard_bytes is {max_shard_bytes} andbytes_per_string_element is {bytes_per_string_element}"
                ),
            });
        }
        if let Some(m) = max_shards {
            if m != 0 && m < 1 {
                return Err(Error::PartitionerArgs { message: "max_shards must be positive.".into() });
            }
        }
        Ok(Partitioner::VariableAxisSize { max_shard_bytes, axis, bytes_per_string_element, max_shards })
    }

    /// `min_max_variable_partitioner(max_partitions, axis, min_slice_size, bytes_per_string_element)`.
    pub fn min_max(max_partitions: i64, axis: usize, min_slice_size: i64, bytes_per_string_element: i64) -> Self {
        Partitioner::MinMax { max_partitions, axis, min_slice_size, bytes_per_string_element }
    }

    /// `min_max_variable_partitioner` with TensorFlow's defaults (1, 0, 256 KiB, 16).
    pub fn min_max_default() -> Self {
        Self::min_max(1, 0, 256 << 10, 16)
    }

    /// `str()` of a partitioner given as a Python value that is not callable
    /// ([`crate::compat::partitioner_value`]); `None` for every real partitioner.
    pub(crate) fn not_callable(&self) -> Option<&str> {
        match self {
            Partitioner::Custom(f) if f.not_callable => Some(&f.name),
            _ => None,
        }
    }

    /// A user partitioner from a closure.
    pub fn custom(
        name: impl Into<String>,
        f: impl Fn(&Shape, DType) -> Result<Partitions, Error> + Send + Sync + 'static,
    ) -> Self {
        Partitioner::Custom(PartitionerFn::new(name, f))
    }

    /// Calls the partitioner as `partitioner(shape=shape, dtype=dtype)`.
    pub fn call(&self, shape: &Shape, dtype: DType) -> Result<Partitions, Error> {
        let dims = shape.as_list().unwrap_or_default();
        let rank = dims.len();
        let axis_err = |axis: usize| Error::PartitionAxis { axis, shape: shape.clone() };
        match self {
            Partitioner::FixedSize { num_shards, axis } => {
                let d = *dims.get(*axis).ok_or_else(|| axis_err(*axis))? as i64;
                let mut p = vec![1i64; rank];
                p[*axis] = (*num_shards).min(d);
                Ok(Partitions::List(p))
            }
            Partitioner::VariableAxisSize { max_shard_bytes, axis, bytes_per_string_element, max_shards } => {
                let d = *dims.get(*axis).ok_or_else(|| axis_err(*axis))?;
                let elem = if dtype == DType::String { *bytes_per_string_element } else { dtype.size_bytes() as i64 };
                let n: f64 = dims.iter().map(|&x| x as f64).product();
                let mut p = vec![1i64; rank];
                if d == 0 {
                    return Ok(Partitions::List(p));
                }
                let bytes_per_slice = (n / d as f64) * elem as f64;
                let slices_per_shard = ((*max_shard_bytes as f64 / bytes_per_slice).floor() as i64).max(1);
                let mut shards = (d as f64 / slices_per_shard as f64).ceil() as i64;
                if let Some(m) = max_shards {
                    if *m != 0 {
                        shards = shards.min(*m);
                    }
                }
                p[*axis] = shards;
                Ok(Partitions::List(p))
            }
            Partitioner::MinMax { max_partitions, axis, min_slice_size, bytes_per_string_element } => {
                if *axis >= rank {
                    return Err(Error::PartitionAxis { axis: *axis, shape: shape.clone() });
                }
                let elem = if dtype == DType::String { *bytes_per_string_element } else { dtype.size_bytes() as i64 };
                let n: f64 = dims.iter().map(|&x| x as f64).product();
                let total = n * elem as f64;
                let parts = (total / *min_slice_size as f64).ceil() as i64;
                let mut p = vec![1i64; rank];
                p[*axis] = 1.max((dims[*axis] as i64).min(*max_partitions).min(parts));
                Ok(Partitions::List(p))
            }
            Partitioner::Custom(f) => (f.f)(shape, dtype),
        }
    }
}

/// `_call_partitioner`: calls the partitioner and validates what it returned, in
/// TensorFlow's order (G2). Returns the partitions as returned.
pub fn call_partitioner(partitioner: &Partitioner, shape: &Shape, dtype: DType) -> Result<Partitions, Error> {
    if !shape.is_fully_defined() {
        return Err(Error::PartitionShapeNotFullyDefined { shape: shape.clone() });
    }
    let rank = shape.rank().unwrap_or(0);
    if rank < 1 {
        return Err(Error::PartitionRankZero { shape: shape.clone() });
    }
    let slicing = partitioner.call(shape, dtype)?;
    let values = match slicing.values() {
        Some(v) => v.to_vec(),
        None => return Err(Error::PartitionerNotSequence { returned: slicing.to_string() }),
    };
    if values.len() != rank {
        return Err(Error::PartitionRankMismatch { partitions: slicing.to_string(), shape: shape.clone() });
    }
    if values.iter().any(|&p| p < 1) {
        return Err(Error::PartitionZero { partitions: slicing.to_string() });
    }
    if values.iter().filter(|&&p| p > 1).count() > 1 {
        return Err(Error::PartitionMultipleAxes { shape: shape.clone(), partitions: slicing.to_string() });
    }
    Ok(slicing)
}

/// `_get_slice_dim_and_num_slices`: the first axis with more than one partition, or
/// `(0, 1)` when every entry is 1.
pub fn slice_dim_and_num_slices(partitions: &[i64]) -> (usize, u64) {
    for (i, &p) in partitions.iter().enumerate() {
        if p > 1 {
            return (i, p as u64);
        }
    }
    (0, 1)
}

/// `_iter_slices`: `(offset, shape)` of each shard. The first `dim % n` shards get one
/// more slice than the others.
pub fn iter_slices(full_shape: &[u64], num_slices: u64, slice_dim: usize) -> Vec<(Vec<u64>, Vec<u64>)> {
    let dim = full_shape[slice_dim];
    let excess = dim % num_slices;
    let min_len = dim / num_slices;
    let mut offset = vec![0u64; full_shape.len()];
    let mut out = Vec::with_capacity(num_slices as usize);
    for i in 0..num_slices {
        let mut shape = full_shape.to_vec();
        shape[slice_dim] = min_len + u64::from(i < excess);
        out.push((offset.clone(), shape.clone()));
        offset[slice_dim] += shape[slice_dim];
    }
    out
}

/// The `partition_info` an initializer receives: the full shape and this shard's offset.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PartitionInfo {
    full_shape: Vec<u64>,
    var_offset: Vec<u64>,
}

impl PartitionInfo {
    /// `_PartitionInfo(full_shape, var_offset)`, with its validation (G19's message).
    pub fn new(full_shape: &[u64], var_offset: &[u64]) -> Result<Self, Error> {
        if full_shape.len() != var_offset.len() {
            return Err(Error::PartitionOffset {
                message: format!(
                    "Expected equal length, but `var_offset` is of length {} while full_shape is of length {}.",
                    var_offset.len(),
                    full_shape.len()
                ),
            });
        }
        for (&o, &s) in var_offset.iter().zip(full_shape) {
            if o >= s {
                return Err(Error::PartitionOffset {
                    message: format!(
                        "Expected 0 <= offset < shape but found offset={o}, shape={s} for var_offset={}, full_shape={}",
                        py_list(var_offset),
                        py_list(full_shape)
                    ),
                });
            }
        }
        Ok(PartitionInfo { full_shape: full_shape.to_vec(), var_offset: var_offset.to_vec() })
    }

    /// The full (unpartitioned) shape.
    pub fn full_shape(&self) -> &[u64] {
        &self.full_shape
    }

    /// This shard's offset in the full shape.
    pub fn var_offset(&self) -> &[u64] {
        &self.var_offset
    }

    /// The one axis where `shape` differs from the full shape, if any.
    pub fn single_slice_dim(&self, shape: &[u64]) -> Option<usize> {
        shape.iter().zip(&self.full_shape).position(|(a, b)| a != b)
    }

    /// `single_offset(shape)`: the offset along the sliced axis (0 if none).
    pub fn single_offset(&self, shape: &[u64]) -> u64 {
        self.single_slice_dim(shape).map_or(0, |d| self.var_offset[d])
    }
}

/// Where a shard sits in its partitioned variable (`SaveSliceInfo`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SliceInfo {
    /// Store key of the whole partitioned variable (`scope/p`).
    pub full_name: String,
    /// Full shape.
    pub full_shape: Vec<u64>,
    /// Offset of this shard.
    pub var_offset: Vec<u64>,
    /// Shape of this shard.
    pub var_shape: Vec<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(p: &Partitioner, shape: &[u64], dtype: DType) -> Vec<i64> {
        p.call(&Shape::new(shape), dtype).unwrap().values().unwrap().to_vec()
    }

    #[test]
    fn slices_follow_g3() {
        let s: Vec<_> = iter_slices(&[10], 4, 0).into_iter().map(|(_, s)| s[0]).collect();
        assert_eq!(s, vec![3, 3, 2, 2]);
        let s = iter_slices(&[2, 5], 3, 1);
        assert_eq!(s[2], (vec![0, 4], vec![2, 1]));
    }

    #[test]
    fn variable_axis_size_g5() {
        let p = Partitioner::variable_axis_size(1000, 0, 16, None).unwrap();
        assert_eq!(parts(&p, &[100, 10], DType::Float32), vec![4, 1]);
        let p = Partitioner::variable_axis_size(1000, 0, 16, Some(3)).unwrap();
        assert_eq!(parts(&p, &[100, 10], DType::Float32), vec![3, 1]);
        let p = Partitioner::variable_axis_size(128, 0, 16, None).unwrap();
        assert_eq!(parts(&p, &[10, 4], DType::String), vec![5, 1]);
        let p = Partitioner::variable_axis_size(10, 0, 16, None).unwrap();
        assert_eq!(parts(&p, &[4, 100], DType::Float32), vec![4, 1]);
        let p = Partitioner::variable_axis_size(50, 1, 16, None).unwrap();
        assert_eq!(parts(&p, &[7, 3], DType::Float64), vec![1, 3]);
        let p = Partitioner::variable_axis_size(1000, 0, 16, Some(0)).unwrap();
        assert_eq!(parts(&p, &[100, 10], DType::Float32), vec![4, 1]);
    }

    #[test]
    fn min_max_g7() {
        let p = Partitioner::min_max(16, 0, 256 << 10, 16);
        assert_eq!(parts(&p, &[1024, 1024], DType::Float32), vec![16, 1]);
        let p = Partitioner::min_max(4, 0, 256 << 10, 16);
        assert_eq!(parts(&p, &[1024, 1024], DType::Float32), vec![4, 1]);
        assert_eq!(parts(&Partitioner::min_max(16, 0, 256 << 10, 16), &[10, 10], DType::Float32), vec![1, 1]);
        assert_eq!(parts(&Partitioner::min_max(16, 0, 1000, 16), &[100, 10], DType::Float32), vec![4, 1]);
        assert_eq!(parts(&Partitioner::min_max(16, 0, 1000, 16), &[3, 1000], DType::Float32), vec![3, 1]);
        assert_eq!(parts(&Partitioner::min_max(16, 1, 64, 16), &[4, 50], DType::Float32), vec![1, 13]);
        assert_eq!(parts(&Partitioner::min_max_default(), &[1024, 1024], DType::Float32), vec![1, 1]);
        assert_eq!(parts(&Partitioner::min_max(100, 0, 100, 16), &[10, 10], DType::String), vec![10, 1]);
        let e = Partitioner::min_max(2, 2, 64, 16).call(&Shape::new(&[4, 4]), DType::Float32).unwrap_err();
        assert_eq!(e.to_string(), "Cannot partition variable along axis 2 when shape is only (4, 4)");
    }

    #[test]
    fn partition_info_offsets() {
        let full = [7u64, 3];
        let offs: Vec<u64> = iter_slices(&full, 3, 0)
            .iter()
            .map(|(o, s)| PartitionInfo::new(&full, o).unwrap().single_offset(s))
            .collect();
        assert_eq!(offs, vec![0, 3, 5]);
        let e = PartitionInfo::new(&[2, 4], &[2, 0]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Expected 0 <= offset < shape but found offset=2, shape=2 for var_offset=[2, 0], full_shape=[2, 4]"
        );
    }
}
