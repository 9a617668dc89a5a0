//! Variable handles: what `get_variable` returns, as plain data a session attaches
//! buffers to.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::device::{DeviceName, DeviceSpec};
use crate::partition::{PartitionInfo, Partitions, SliceInfo};
use crate::{Constraint, DType, HostTensor, InitKernel, Initializer, Regularizer, Shape};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub(crate) fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// `tf.VariableSynchronization`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Synchronization {
    /// AUTO (the default).
    #[default]
    Auto,
    /// NONE.
    None,
    /// ON_WRITE.
    OnWrite,
    /// ON_READ: makes `trainable` default to false (I6).
    OnRead,
}

/// `tf.VariableAggregation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Aggregation {
    /// NONE (the default).
    #[default]
    None,
    /// SUM.
    Sum,
    /// MEAN.
    Mean,
    /// ONLY_FIRST_REPLICA.
    OnlyFirstReplica,
}

/// How a variable gets its first value.
#[derive(Clone, Debug, PartialEq)]
pub enum InitialValue {
    /// A callable initializer, resolved against the variable (fans from the full shape
    /// for shards).
    Initializer {
        /// The initializer as given.
        initializer: Initializer,
        /// The kernel that computes the values.
        kernel: InitKernel,
    },
    /// Constant values (a constant initializer, or a slice of one for a shard).
    Constant(HostTensor),
}

impl InitialValue {
    /// The kernel, for initializer-based values.
    pub fn kernel(&self) -> Option<&InitKernel> {
        match self {
            InitialValue::Initializer { kernel, .. } => Some(kernel),
            InitialValue::Constant(_) => None,
        }
    }
}

/// The seed inputs of a variable's random initializer (runtime.md section 3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SeedInfo {
    /// The graph seed (`None`: the graph has none; the documented default applies).
    pub graph_seed: Option<u64>,
    /// The initializer's op seed, if it has one.
    pub op_seed: Option<u64>,
    /// The name hashed when there is no op seed: the store key of the whole variable
    /// (for a shard, its partitioned variable's key), so shards match the unpartitioned
    /// variable.
    pub hash_name: String,
}

///
/// Fields most variables leave empty (a shard's slice, a caching device, a constraint,
/// a regularizer) are boxed, and default collections are shared: this stays alive for
/// every variable of a model, and its first touch is part of creating one.
pub(crate) struct VariableData {
    pub id: u64,
    pub graph_id: u64,
    pub key: String,
    /// The op name where it is not `key` (A9: an op took the name first).
    pub op_name: Option<String>,
    pub shape: Shape,
    pub dtype: DType,
    pub initial: InitialValue,
    pub trainable: bool,
    pub collections: Arc<[String]>,
    pub caching_device: Option<Box<CachingDevice>>,
    pub constraint: Option<Box<Constraint>>,
    pub regularizer: Option<Box<Regularizer>>,
    pub use_resource: Option<bool>,
    pub synchronization: Synchronization,
    pub aggregation: Aggregation,
    pub validate_shape: bool,
    pub slice: Option<Box<SliceInfo>>,
    /// Slice info set after creation (slots of shards, as `_set_save_slice_info`).
    pub late_slice: std::sync::OnceLock<Box<SliceInfo>>,
    pub partition_info: Option<Box<PartitionInfo>>,
    pub seed: SeedInfo,
    pub in_store: bool,
    /// [`crate::GetterArgs::origin`] of the call that created it.
    pub origin: Option<&'static std::panic::Location<'static>>,
}

/// A variable: a cheap, clonable handle. Two handles are equal when they are the same
/// variable (TensorFlow's `v1 is v2`).
#[derive(Clone)]
pub struct Variable(pub(crate) Arc<VariableData>);

impl Variable {
    /// A unique id (stable for the process), used by sessions to key buffers.
    pub fn id(&self) -> u64 {
        self.0.id
    }
    /// Id of the graph that made it.
    pub fn graph_id(&self) -> u64 {
        self.0.graph_id
    }
    /// The tf name with output index: `foo/bar/v:0`.
    pub fn name(&self) -> String {
        format!("{}:0", self.op_name())
    }
    /// The op name: `foo/bar/v` (may be `foo/v_1` when an op took the name first, A9).
    pub fn op_name(&self) -> &str {
        self.0.op_name.as_deref().unwrap_or(&self.0.key)
    }
    /// The store key: the full name passed to the store (`foo/v`). For variables made by
    /// [`crate::Graph::variable`] (invisible to the store), the op name.
    pub fn key(&self) -> &str {
        &self.0.key
    }
    /// The static shape (unknown only with `validate_shape=false` and a shapeless value).
    pub fn shape(&self) -> &Shape {
        &self.0.shape
    }
    /// The dims, if fully known.
    pub fn dims(&self) -> Option<Vec<u64>> {
        self.0.shape.as_list()
    }
    /// Number of elements, if known.
    pub fn num_elements(&self) -> Option<u64> {
        self.0.shape.num_elements()
    }
    /// The dtype.
    pub fn dtype(&self) -> DType {
        self.0.dtype
    }
    /// How it gets its first value.
    pub fn initial_value(&self) -> &InitialValue {
        &self.0.initial
    }
    /// Whether optimizers update it.
    pub fn trainable(&self) -> bool {
        self.0.trainable
    }
    /// The collections it was added to, in order.
    pub fn collections(&self) -> &[String] {
        &self.0.collections
    }
    /// The `caching_device` resolved from the argument and scope (`None`: session default).
    pub fn caching_device(&self) -> Option<&CachingDevice> {
        self.0.caching_device.as_deref()
    }
    /// The constraint (not inherited from parent scopes, D8).
    pub fn constraint(&self) -> Option<&Constraint> {
        self.0.constraint.as_deref()
    }
    /// The regularizer applied at creation (argument or scope default; `None` for
    /// `no_regularizer`). Whether it returned a loss shows in REGULARIZATION_LOSSES.
    pub fn regularizer(&self) -> Option<&Regularizer> {
        self.0.regularizer.as_deref()
    }
    /// `use_resource` as resolved (`None`: runtime default, a resource variable).
    /// `Some(false)` is a ref variable: TensorFlow's ref-variable op names (A14) and
    /// error texts (C2's "Originally defined at", C14's `float32_ref`, J2); on a device
    /// it is a buffer like any other.
    pub fn use_resource(&self) -> Option<bool> {
        self.0.use_resource
    }
    /// Synchronization.
    pub fn synchronization(&self) -> Synchronization {
        self.0.synchronization
    }
    /// Aggregation.
    pub fn aggregation(&self) -> Aggregation {
        self.0.aggregation
    }
    /// validate_shape.
    pub fn validate_shape(&self) -> bool {
        self.0.validate_shape
    }
    /// For a shard: where it sits in its partitioned variable.
    pub fn slice_info(&self) -> Option<&SliceInfo> {
        self.0.slice.as_deref().or_else(|| self.0.late_slice.get().map(|b| &**b))
    }

    /// Marks the variable as a shard of a larger one after creation (a shard's slot).
    pub(crate) fn set_slice_info(&self, info: SliceInfo) {
        let _ = self.0.late_slice.set(Box::new(info));
    }
    /// For a shard: the `partition_info` its initializer received.
    pub fn partition_info(&self) -> Option<&PartitionInfo> {
        self.0.partition_info.as_deref()
    }
    /// Seed inputs of its random initializer.
    pub fn seed_info(&self) -> &SeedInfo {
        &self.0.seed
    }
    /// Whether the store holds it (false for `Graph::variable`).
    pub fn in_store(&self) -> bool {
        self.0.in_store
    }
    /// Bytes of its values on the host (`num_elements * dtype size`), if the shape is known.
    pub fn nbytes(&self) -> Option<u64> {
        self.num_elements().map(|n| n * self.0.dtype.size_bytes() as u64)
    }
    /// The full shape of the whole variable (the shard's partitioned variable for a shard).
    pub fn full_shape(&self) -> Option<Vec<u64>> {
        match self.slice_info() {
            Some(s) => Some(s.full_shape.clone()),
            None => self.dims(),
        }
    }
    /// The shard's offset in the full shape (zeros when not a shard).
    pub fn var_offset(&self) -> Vec<u64> {
        match self.slice_info() {
            Some(s) => s.var_offset.clone(),
            None => vec![0; self.0.shape.rank().unwrap_or(0)],
        }
    }
}

impl PartialEq for Variable {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
impl Eq for Variable {}

impl std::hash::Hash for Variable {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.id.hash(state)
    }
}

impl fmt::Debug for Variable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<tf.Variable '{}' shape={} dtype={}>", self.name(), self.0.shape, self.0.dtype)
    }
}

/// A variable split into shards (`PartitionedVariable`). Its name has no `:0` (A13).
#[derive(Clone)]
pub struct PartitionedVariable(pub(crate) Arc<PartitionedData>);

pub(crate) struct PartitionedData {
    pub name: String,
    pub shape: Shape,
    pub dtype: DType,
    pub shards: Vec<Variable>,
    pub partitions: Partitions,
}

impl PartitionedVariable {
    /// The store key (`scope0/name0`), no `:0`.
    pub fn name(&self) -> &str {
        &self.0.name
    }
    /// The name of the concatenated value (`as_tensor()`): `scope0/name0:0`.
    pub fn tensor_name(&self) -> String {
        format!("{}:0", self.0.name)
    }
    /// The full shape.
    pub fn shape(&self) -> &Shape {
        &self.0.shape
    }
    /// The dtype.
    pub fn dtype(&self) -> DType {
        self.0.dtype
    }
    /// The shards, in order (`p/part_0`, `p/part_1`, ...).
    pub fn shards(&self) -> &[Variable] {
        &self.0.shards
    }
    /// The partitions as the partitioner returned them.
    pub fn partitions(&self) -> &Partitions {
        &self.0.partitions
    }
}

impl PartialEq for PartitionedVariable {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for PartitionedVariable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<PartitionedVariable '{}' shape={} parts={}>", self.0.name, self.0.shape, self.0.shards.len())
    }
}

/// A named graph value that is not a variable: a constant or op output (`foo_1/c:0`), or
/// whatever a custom getter chose to return instead of a variable.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// The tf name with output index (`ns/c:0`).
    pub name: String,
    /// The graph it belongs to.
    pub graph_id: u64,
}

/// What `get_variable` returns: a variable, a partitioned variable, or (from a custom
/// getter) any other value.
#[derive(Clone, Debug, PartialEq)]
pub enum VarRef {
    /// A single variable.
    Variable(Variable),
    /// A partitioned variable.
    Partitioned(PartitionedVariable),
    /// Something a custom getter returned instead.
    Tensor(Tensor),
}

impl VarRef {
    /// The tf name: `foo/v:0`, a partitioned variable's `foo/p` (no `:0`), or the tensor's.
    pub fn name(&self) -> String {
        match self {
            VarRef::Variable(v) => v.name(),
            VarRef::Partitioned(p) => p.name().to_string(),
            VarRef::Tensor(t) => t.name.clone(),
        }
    }
    /// The variable, if single.
    pub fn variable(&self) -> Option<&Variable> {
        match self {
            VarRef::Variable(v) => Some(v),
            _ => None,
        }
    }
    /// The partitioned variable, if partitioned.
    pub fn partitioned(&self) -> Option<&PartitionedVariable> {
        match self {
            VarRef::Partitioned(p) => Some(p),
            _ => None,
        }
    }
    /// The shape (unknown for a tensor).
    pub fn shape(&self) -> Shape {
        match self {
            VarRef::Variable(v) => v.shape().clone(),
            VarRef::Partitioned(p) => p.shape().clone(),
            VarRef::Tensor(_) => Shape::unknown(),
        }
    }
    /// The dtype (`None` for a tensor).
    pub fn dtype(&self) -> Option<DType> {
        match self {
            VarRef::Variable(v) => Some(v.dtype()),
            VarRef::Partitioned(p) => Some(p.dtype()),
            VarRef::Tensor(_) => None,
        }
    }
    /// The single variables it holds: itself, or the shards.
    pub fn variables(&self) -> Vec<Variable> {
        match self {
            VarRef::Variable(v) => vec![v.clone()],
            VarRef::Partitioned(p) => p.shards().to_vec(),
            VarRef::Tensor(_) => Vec::new(),
        }
    }
}

impl From<Variable> for VarRef {
    fn from(v: Variable) -> Self {
        VarRef::Variable(v)
    }
}

// ----- placement values -------------------------------------------------------------
//
// A device function takes the variable it places, and a variable holds its placement,
// so the two types live in one module.

/// A device function: picks a device string from the variable being placed (its store
/// key, shape, dtype and, for shards, where the shard sits).
#[derive(Clone)]
pub struct DeviceFn {
    name: String,
    f: Arc<dyn Fn(&Variable) -> String + Send + Sync>,
}

impl DeviceFn {
    /// Wraps a closure.
    pub fn new(name: impl Into<String>, f: impl Fn(&Variable) -> String + Send + Sync + 'static) -> Self {
        DeviceFn { name: name.into(), f: Arc::new(f) }
    }

    /// Calls it.
    pub fn call(&self, v: &Variable) -> String {
        (self.f)(v)
    }
}

impl fmt::Debug for DeviceFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceFn({})", self.name)
    }
}

impl PartialEq for DeviceFn {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.f, &other.f)
    }
}

/// A `caching_device` value: a device string in any TensorFlow spelling, parsed into a
/// [`DeviceSpec`] when a variable is requested (a malformed string is an error at that
/// `get_variable` call), or a device function. `""` is a real value that stops caching
/// (D5). Two spellings of one device are equal (`"/GPU:1"` == `"/device:GPU:1"`);
/// whether the device exists is reported by the session.
#[derive(Clone, Debug)]
pub enum CachingDevice {
    /// A device string as given, not parsed yet (scope defaults and arguments).
    Name(String),
    /// A parsed device string: as given, and its spec (what variables hold).
    Device {
        /// The spelling as given (what the session reports).
        given: String,
        /// The parsed spec.
        spec: DeviceSpec,
    },
    /// A function of the variable.
    Fn(DeviceFn),
}

impl CachingDevice {
    /// A device function from a closure: the device for a variable, like TensorFlow's
    /// device functions. A session calls it once per variable (the first time it places
    /// the variable, and remembers the answer), possibly while it holds its own lock, so
    /// the closure must not call into the session.
    pub fn func(name: impl Into<String>, f: impl Fn(&Variable) -> String + Send + Sync + 'static) -> Self {
        CachingDevice::Fn(DeviceFn::new(name, f))
    }

    /// The device string for a variable: the string as given (borrowed), or the
    /// function's answer.
    pub fn resolve(&self, v: &Variable) -> std::borrow::Cow<'_, str> {
        match self {
            CachingDevice::Name(s) | CachingDevice::Device { given: s, .. } => std::borrow::Cow::Borrowed(s),
            CachingDevice::Fn(f) => std::borrow::Cow::Owned(f.call(v)),
        }
    }

    /// The parsed spec of a device string (`None` for a function).
    pub fn spec(&self) -> Option<Result<DeviceSpec, crate::Error>> {
        match self {
            CachingDevice::Name(s) => Some(DeviceSpec::parse(s)),
            CachingDevice::Device { spec, .. } => Some(Ok(spec.clone())),
            CachingDevice::Fn(_) => None,
        }
    }

    /// This value with its device string parsed (functions unchanged).
    pub fn parsed(&self) -> Result<CachingDevice, crate::Error> {
        Ok(match self {
            CachingDevice::Name(s) => CachingDevice::Device { given: s.clone(), spec: DeviceSpec::parse(s)? },
            other => other.clone(),
        })
    }
}

impl PartialEq for CachingDevice {
    /// Device strings compare by their parsed spec (by spelling when one does not
    /// parse); functions by identity.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (CachingDevice::Fn(a), CachingDevice::Fn(b)) => a == b,
            (CachingDevice::Fn(_), _) | (_, CachingDevice::Fn(_)) => false,
            (a, b) => match (a.spec(), b.spec()) {
                (Some(Ok(x)), Some(Ok(y))) => x == y,
                _ => a.resolve_str() == b.resolve_str(),
            },
        }
    }
}

impl CachingDevice {
    fn resolve_str(&self) -> Option<&str> {
        match self {
            CachingDevice::Name(s) | CachingDevice::Device { given: s, .. } => Some(s),
            CachingDevice::Fn(_) => None,
        }
    }
}

impl From<&str> for CachingDevice {
    fn from(s: &str) -> Self {
        CachingDevice::Name(s.to_string())
    }
}

impl From<String> for CachingDevice {
    fn from(s: String) -> Self {
        CachingDevice::Name(s)
    }
}

impl From<DeviceName> for CachingDevice {
    fn from(d: DeviceName) -> Self {
        CachingDevice::Name(d.to_string())
    }
}
