//! The arguments of `get_variable` and of the calls it makes, as plain data: reuse
//! modes, the initializer and shape argument forms, and the resolved arguments custom
//! getters and variable creators receive (catalogue 0.4, E, H6, M3).

use std::fmt;
use std::sync::Arc;

use crate::collections::CollectionsArg;
use crate::partition::{PartitionInfo, SliceInfo};
use crate::variable::{Aggregation, CachingDevice, InitialValue, SeedInfo, Synchronization};
use crate::{Constraint, DType, Error, HostTensor, Initializer, Partitioner, Regularizer, Result, Shape};

/// The `reuse` argument of scope builders ([`crate::VariableScopeBuilder::reuse`],
/// [`crate::ScopePath::reuse`]).
///
/// TensorFlow's `reuse=False` and `reuse=None` are both [`Reuse::Inherit`]: TensorFlow
/// rewrites `reuse=False` to `None`, so a builder can never clear an inherited reuse
/// (catalogue C6). A scope's own, resolved mode is a [`ReuseMode`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Reuse {
    /// Take the enclosing scope's reuse (`reuse=None` or `reuse=False`, the default).
    #[default]
    Inherit,
    /// Reuse: in this scope and its sub-scopes a missing variable is an error
    /// (`reuse=True`).
    True,
    /// Get or create (`tf.compat.v1.AUTO_REUSE`).
    AutoReuse,
}

impl Reuse {
    /// Whether it sets a reuse mode (`True` and `AUTO_REUSE`; Python truthiness).
    pub fn is_truthy(self) -> bool {
        matches!(self, Reuse::True | Reuse::AutoReuse)
    }

    /// The mode a scope gets from this argument inside a scope whose mode is `parent`.
    pub fn resolve(self, parent: ReuseMode) -> ReuseMode {
        match self {
            Reuse::Inherit => parent,
            Reuse::True => ReuseMode::ReuseOnly,
            Reuse::AutoReuse => ReuseMode::AutoReuse,
        }
    }
}

impl fmt::Display for Reuse {
    /// The Python value: `None`, `True`, `_ReuseMode.AUTO_REUSE`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reuse::Inherit => "None",
            Reuse::True => "True",
            Reuse::AutoReuse => "_ReuseMode.AUTO_REUSE",
        })
    }
}

/// A scope's reuse mode (`scope.reuse`), and the one a custom getter receives: what
/// `get_variable` does with a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ReuseMode {
    /// Create only; an existing variable is an error (TensorFlow's `reuse=False`, the
    /// root scope's mode).
    #[default]
    CreateOnly,
    /// Reuse only; a missing variable is an error (`reuse=True`).
    ReuseOnly,
    /// Get or create (`tf.compat.v1.AUTO_REUSE`).
    AutoReuse,
}

impl ReuseMode {
    /// Whether an existing variable may be returned (`True` and `AUTO_REUSE`; Python
    /// truthiness of `scope.reuse`).
    pub fn is_truthy(self) -> bool {
        matches!(self, ReuseMode::ReuseOnly | ReuseMode::AutoReuse)
    }
}

impl fmt::Display for ReuseMode {
    /// The Python value of `scope.reuse`: `False`, `True`, `_ReuseMode.AUTO_REUSE`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReuseMode::CreateOnly => "False",
            ReuseMode::ReuseOnly => "True",
            ReuseMode::AutoReuse => "_ReuseMode.AUTO_REUSE",
        })
    }
}

/// A no-argument initializer callable (`lambda: [2]`): its value fixes the shape and dtype.
#[derive(Clone)]
pub struct ValueFn {
    name: String,
    f: Arc<dyn Fn() -> HostTensor + Send + Sync>,
}

impl ValueFn {
    /// Wraps a closure.
    pub fn new(name: impl Into<String>, f: impl Fn() -> HostTensor + Send + Sync + 'static) -> Self {
        ValueFn { name: name.into(), f: Arc::new(f) }
    }
    /// Calls it.
    pub fn call(&self) -> HostTensor {
        (self.f)()
    }
}

impl fmt::Debug for ValueFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ValueFn({})", self.name)
    }
}

impl PartialEq for ValueFn {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.f, &other.f)
    }
}

/// The `initializer` argument in every form TensorFlow accepts (E4-E12).
#[derive(Clone, Debug, PartialEq)]
pub enum InitArg {
    /// A callable initializer (takes the shape).
    Init(Initializer),
    /// A constant: a tensor, Python number or list, or numpy array. Fixes the shape.
    Value(HostTensor),
    /// A callable that takes no arguments and returns the value.
    ValueFn(ValueFn),
}

impl From<Initializer> for InitArg {
    fn from(i: Initializer) -> Self {
        InitArg::Init(i)
    }
}

impl From<HostTensor> for InitArg {
    fn from(t: HostTensor) -> Self {
        InitArg::Value(t)
    }
}

impl From<ValueFn> for InitArg {
    fn from(f: ValueFn) -> Self {
        InitArg::ValueFn(f)
    }
}

/// The `shape` argument in its TensorFlow forms (E10). A Python sequence (`[]`, `()`) is
/// distinct from a `TensorShape`: an empty sequence skips partitioning, an empty
/// `TensorShape` does not (G8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShapeArg {
    /// A Python list or tuple; `None` entries are unknown dims; negative dims are errors.
    Seq(Vec<Option<i64>>),
    /// A `TensorShape`.
    TensorShape(Shape),
}

impl ShapeArg {
    /// Whether it is an empty Python sequence (`is_scalar` in `_true_getter`).
    pub fn is_scalar_seq(&self) -> bool {
        matches!(self, ShapeArg::Seq(v) if v.is_empty())
    }

    /// `tensor_shape.as_shape(self)`, rejecting negative dims.
    pub fn to_shape(&self) -> Result<Shape> {
        match self {
            ShapeArg::TensorShape(s) => Ok(s.clone()),
            ShapeArg::Seq(v) => {
                let mut dims = Vec::with_capacity(v.len());
                for d in v {
                    match d {
                        Some(d) if *d < 0 => return Err(Error::NegativeDimension { dim: *d }),
                        Some(d) => dims.push(Some(*d as u64)),
                        None => dims.push(None),
                    }
                }
                Ok(Shape::partial(dims))
            }
        }
    }
}

impl<const N: usize> From<[u64; N]> for ShapeArg {
    fn from(d: [u64; N]) -> Self {
        ShapeArg::Seq(d.iter().map(|&x| Some(x as i64)).collect())
    }
}
impl<const N: usize> From<[i64; N]> for ShapeArg {
    fn from(d: [i64; N]) -> Self {
        ShapeArg::Seq(d.iter().map(|&x| Some(x)).collect())
    }
}
impl<const N: usize> From<[i32; N]> for ShapeArg {
    fn from(d: [i32; N]) -> Self {
        ShapeArg::Seq(d.iter().map(|&x| Some(x as i64)).collect())
    }
}
impl<const N: usize> From<[Option<i64>; N]> for ShapeArg {
    fn from(d: [Option<i64>; N]) -> Self {
        ShapeArg::Seq(d.to_vec())
    }
}
impl From<&[u64]> for ShapeArg {
    fn from(d: &[u64]) -> Self {
        ShapeArg::Seq(d.iter().map(|&x| Some(x as i64)).collect())
    }
}
impl From<Vec<u64>> for ShapeArg {
    fn from(d: Vec<u64>) -> Self {
        ShapeArg::Seq(d.iter().map(|&x| Some(x as i64)).collect())
    }
}
impl From<Vec<i64>> for ShapeArg {
    fn from(d: Vec<i64>) -> Self {
        ShapeArg::Seq(d.into_iter().map(Some).collect())
    }
}
impl From<u64> for ShapeArg {
    /// The Python int `5` means `[5]`.
    fn from(d: u64) -> Self {
        ShapeArg::Seq(vec![Some(d as i64)])
    }
}
impl From<Shape> for ShapeArg {
    fn from(s: Shape) -> Self {
        ShapeArg::TensorShape(s)
    }
}

/// The arguments a custom getter receives, already resolved against the scope (H6):
/// `name` is the full name, `dtype` the resolved dtype, `trainable` resolved.
#[derive(Clone, Debug)]
pub struct GetterArgs {
    /// Full name (store key).
    pub name: String,
    /// Shape as given.
    pub shape: Option<ShapeArg>,
    /// Resolved dtype.
    pub dtype: DType,
    /// Initializer (argument or scope default).
    pub initializer: Option<InitArg>,
    /// Regularizer (argument or scope default).
    pub regularizer: Option<Regularizer>,
    /// The scope's reuse mode.
    pub reuse: ReuseMode,
    /// Resolved trainable.
    pub trainable: bool,
    /// Collections as given.
    pub collections: Option<CollectionsArg>,
    /// Caching device.
    pub caching_device: Option<CachingDevice>,
    /// Partitioner.
    pub partitioner: Option<Partitioner>,
    /// validate_shape.
    pub validate_shape: bool,
    /// use_resource.
    pub use_resource: Option<bool>,
    /// Constraint.
    pub constraint: Option<Constraint>,
    /// Synchronization.
    pub synchronization: Synchronization,
    /// Aggregation.
    pub aggregation: Aggregation,
    /// Where the user's code asked for the variable (the `get_variable` / `var` call),
    /// when known: the "Originally defined at" of a ref variable's C2 error.
    pub origin: Option<&'static std::panic::Location<'static>>,
}

/// The arguments a variable creator receives (catalogue M3).
#[derive(Clone, Debug)]
pub struct CreatorArgs {
    /// How the variable gets its value.
    pub initial_value: InitialValue,
    /// The name (full name; a creator may change it: the tf name changes, the store key does not).
    pub name: String,
    /// Resolved trainable.
    pub trainable: bool,
    /// Collections (`None` means the default).
    pub collections: Option<CollectionsArg>,
    /// Caching device.
    pub caching_device: Option<CachingDevice>,
    /// dtype (the variable's).
    pub dtype: DType,
    /// Static shape.
    pub shape: Shape,
    /// Constraint.
    pub constraint: Option<Constraint>,
    /// Resolved use_resource.
    pub use_resource: bool,
    /// Synchronization.
    pub synchronization: Synchronization,
    /// Aggregation.
    pub aggregation: Aggregation,
    /// validate_shape.
    pub validate_shape: bool,
    pub(crate) hidden: Hidden,
}

/// What the store passes to the default creator beyond TensorFlow's creator kwargs.
#[derive(Clone, Debug)]
pub(crate) struct Hidden {
    pub key: Option<String>,
    pub scope_stack: bool,
    pub slice: Option<SliceInfo>,
    pub partition_info: Option<PartitionInfo>,
    pub seed: SeedInfo,
    pub regularizer: Option<Regularizer>,
    /// [`GetterArgs::origin`].
    pub origin: Option<&'static std::panic::Location<'static>>,
}

/// Convenience: `HostTensor` constants as initializers.
impl From<&HostTensor> for InitArg {
    fn from(t: &HostTensor) -> Self {
        InitArg::Value(t.clone())
    }
}
