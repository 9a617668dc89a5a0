//! The one error type of `varscope-core`. `Display` prints TensorFlow's message wherever
//! the catalogue (section P) gives one; [`Error::kind`] says which Python exception
//! TensorFlow raises.

use crate::{DType, Shape};

/// The Python exception class TensorFlow raises for an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PyErrorKind {
    /// `ValueError`.
    ValueError,
    /// `TypeError`.
    TypeError,
    /// `RuntimeError`.
    RuntimeError,
}

/// Errors of scope resolution and the variable store.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// C1: a variable exists and reuse is off. For a ref variable (`use_resource=False`,
    /// C2) TensorFlow appends where it was defined; varscope gives the `get_variable` /
    /// `var` call that created it, as one traceback line.
    #[error("Variable {name} already exists, disallowed. Did you mean to set reuse=True or reuse=tf.AUTO_REUSE in VarScope?{}", originally_defined_at(defined_at.as_deref()))]
    AlreadyExists {
        /// Store key.
        name: String,
        /// For a ref variable, its traceback (`  File "src/main.rs", line 12, column 5`,
        /// empty when the call site is not known); `None` for a resource variable.
        defined_at: Option<String>,
    },
    /// C3: reuse=True and the variable does not exist.
    #[error("Variable {name} does not exist, or was not created with tf.get_variable(). Did you mean to set reuse=tf.AUTO_REUSE in VarScope?")]
    DoesNotExist {
        /// Store key.
        name: String,
    },
    /// C12: shape mismatch on reuse.
    #[error("Trying to share variable {name}, but specified shape {specified} and found shape {found}.")]
    ShapeMismatch {
        /// Store key.
        name: String,
        /// Shape asked for.
        specified: Shape,
        /// Shape of the existing variable.
        found: Shape,
    },
    /// C14: dtype mismatch on reuse.
    #[error("Trying to share variable {name}, but specified dtype {specified} and found dtype {found}{}.", if *found_ref { "_ref" } else { "" })]
    DTypeMismatch {
        /// Store key.
        name: String,
        /// dtype asked for.
        specified: DType,
        /// dtype of the existing variable.
        found: DType,
        /// The existing variable is a ref variable (`use_resource=False`), whose dtype
        /// TensorFlow prints as `float32_ref`.
        found_ref: bool,
    },
    /// E3: neither a shape nor an initializer.
    #[error("Variable {name} did not get an initializer, so its `shape` argument must be specified.")]
    NoInitializerNoShape {
        /// Store key.
        name: String,
    },
    /// E4: a constant initializer and a shape.
    #[error("If initializer is a constant, do not specify shape.")]
    ConstantWithShape {
        /// Store key.
        name: String,
    },
    /// E5: explicit dtype differs from the constant's dtype.
    #[error("Initializer type '{}' and explicit dtype '{}' don't match.", .init.repr(), .explicit.repr())]
    InitializerDTypeMismatch {
        /// Store key.
        name: String,
        /// dtype of the constant.
        init: DType,
        /// The explicit dtype.
        explicit: DType,
    },
    /// E1: no default initializer for this dtype.
    #[error("An initializer for variable {name} of {} is required", .dtype.repr())]
    InitializerRequired {
        /// Store key.
        name: String,
        /// The dtype.
        dtype: DType,
    },
    /// E8: a callable that needs a shape, without a fully defined one.
    #[error("The initializer passed is not valid. It should be a callable with no arguments and the shape should not be provided or an instance of `tf.keras.initializers.*' and `shape` should be fully defined.")]
    InvalidInitializer {
        /// Store key.
        name: String,
        /// The shape given.
        shape: Shape,
    },
    /// E12: constant_initializer with too many values.
    #[error("Too many elements provided. Takes at most {max}, but got {got}.")]
    TooManyElements {
        /// Store key.
        name: String,
        /// Elements of the variable.
        max: u64,
        /// Values given.
        got: u64,
    },
    /// A fully defined shape with more elements than a `u64` counts.
    #[error("Variable {name} has shape {shape}, which has more than 2^64 elements.")]
    ShapeTooLarge {
        /// Store key.
        name: String,
        /// The shape.
        shape: Shape,
    },
    /// E10: a negative dimension.
    #[error("Dimension {dim} must be >= 0")]
    NegativeDimension {
        /// The dimension.
        dim: i64,
    },
    /// A constant initializer value that cannot be converted to the variable's dtype.
    #[error("Cannot convert initializer of variable {name} from {from} to {to}.")]
    ConstantConversion {
        /// Store key.
        name: String,
        /// dtype of the value.
        from: DType,
        /// Target dtype.
        to: DType,
    },
    /// Python's `TypeError` for calling a value that is not callable: a custom getter
    /// given as such a value and composed with another one (H8's neighbour).
    #[error("'{type_name}' object is not callable")]
    NotCallable {
        /// The value's type (`int`).
        type_name: String,
    },
    /// H8: the custom getter is not callable.
    #[error("Passed a custom_getter which is not callable: {repr}")]
    GetterNotCallable {
        /// `str()` of the value.
        repr: String,
    },
    /// C10: invalid reuse value.
    #[error("The reuse parameter must be True or False or None.")]
    InvalidReuse {
        /// The value given.
        value: String,
    },
    /// C11: default_name scope with reuse.
    #[error("reuse=True cannot be used without a name_or_scope")]
    ReuseWithoutName,
    /// N3.
    #[error("If default_name is None then name_or_scope is required")]
    NameOrScopeRequired,
    /// N2.
    #[error("VariableScope: name_or_scope must be a string or VariableScope.")]
    InvalidNameOrScope {
        /// The value given.
        value: String,
    },
    /// N4.
    #[error("The auxiliary_name_scope must be `True` or `False`, while get {value}")]
    InvalidAuxiliaryNameScope {
        /// The value given.
        value: String,
    },
    /// N1.
    #[error("Improper nesting of variable_scope.")]
    ImproperNesting {
        /// The scope whose exit was out of order.
        scope: String,
    },
    /// Improper nesting of a name scope guard.
    #[error("Improper nesting of name_scope.")]
    ImproperNameScopeNesting {
        /// The name scope whose exit was out of order.
        scope: String,
    },
    /// N5 at the root.
    #[error("'{name}' is not a valid root scope name. A root scope name has to match the following pattern: ^[A-Za-z0-9.][A-Za-z0-9_.\\\\/>-]*$")]
    InvalidRootScopeName {
        /// The name.
        name: String,
    },
    /// N5 nested.
    #[error(
        "'{name}' is not a valid scope name. A scope name has to match the following pattern: ^[A-Za-z0-9_.\\\\/>-]*$"
    )]
    InvalidScopeName {
        /// The name.
        name: String,
    },
    /// G1 / Partitioner must be callable.
    #[error("Partitioner must be callable, but received: {repr}")]
    PartitionerNotCallable {
        /// `str()` of the value.
        repr: String,
    },
    /// G2 / G12.
    #[error("Shape of a new partitioned variable must be fully defined, but instead was {shape}.")]
    PartitionShapeNotFullyDefined {
        /// The shape.
        shape: Shape,
    },
    /// G8.
    #[error("A partitioned Variable must have rank at least 1, shape: {shape}")]
    PartitionRankZero {
        /// The shape.
        shape: Shape,
    },
    /// G2.
    #[error("Partitioner must return a sequence, but saw: {returned}")]
    PartitionerNotSequence {
        /// `str()` of what it returned.
        returned: String,
    },
    /// G2.
    #[error("Partitioner returned a partition list that does not match the Variable's rank: {partitions} vs. {shape}")]
    PartitionRankMismatch {
        /// The partitions.
        partitions: String,
        /// The shape.
        shape: Shape,
    },
    /// G2.
    #[error("Partitioner returned zero partitions for some axes: {partitions}")]
    PartitionZero {
        /// The partitions.
        partitions: String,
    },
    /// G2.
    #[error("Can only slice a variable along one dimension: shape: {shape}, partitioning: {partitions}")]
    PartitionMultipleAxes {
        /// The shape.
        shape: Shape,
        /// The partitions.
        partitions: String,
    },
    /// G13.
    #[error("Partitioned variable with name {name} already exists. Did you mean to set reuse=True or reuse=tf.AUTO_REUSE in VarScope?")]
    PartitionedAlreadyExists {
        /// Store key.
        name: String,
    },
    /// G17.
    #[error("Trying to reuse partitioned variable {name}, but specified shape {specified} and found shape {found}.")]
    PartitionedShapeMismatch {
        /// Store key.
        name: String,
        /// Asked.
        specified: Shape,
        /// Found.
        found: Shape,
    },
    /// G17.
    #[error("Trying to reuse partitioned variable {name}, but specified dtype {specified} and found dtype {found}.")]
    PartitionedDTypeMismatch {
        /// Store key.
        name: String,
        /// Asked.
        specified: DType,
        /// Found.
        found: DType,
    },
    /// G11.
    #[error("Trying to reuse partitioned variable {name}, but specified partitions {specified} and found partitions {found}.")]
    PartitionsMismatch {
        /// Store key.
        name: String,
        /// Asked.
        specified: String,
        /// Found.
        found: String,
    },
    /// G16.
    #[error("PartitionedVariable {name} does not exist, or was not created with tf.get_variable(). Did you mean to set reuse=False or reuse=tf.AUTO_REUSE in VarScope?")]
    PartitionedDoesNotExist {
        /// Store key.
        name: String,
    },
    /// G14.
    #[error("A partitioner was provided, but an unpartitioned version of the variable was found: {name}.  Perhaps a variable of the same name was already created without partitioning?")]
    UnpartitionedExists {
        /// Store key.
        name: String,
    },
    /// G15.
    #[error("No partitioner was provided, but a partitioned version of the variable was found: {name}/part_0. Perhaps a variable of the same name was already created with partitioning?")]
    PartitionedExists {
        /// Store key.
        name: String,
    },
    /// G18.
    #[error("Partitioner returned a different partitioning than what was already found.  Partitioner returned {num_shards} shards, and shard {name}/part_0 was found, but {name}/part_{missing} was not.")]
    ShardMissing {
        /// Store key.
        name: String,
        /// Shards the partitioner returned.
        num_shards: u64,
        /// The missing shard index.
        missing: u64,
    },
    /// G18.
    #[error("Partitioner returned a different partitioning than what was already found.  Partitioner returned {num_shards} shards, and shard {name}/part_0 was found, but so was the extra shard {name}/part_{num_shards}.")]
    ShardExtra {
        /// Store key.
        name: String,
        /// Shards the partitioner returned.
        num_shards: u64,
    },
    /// G19 and other `_PartitionInfo` checks.
    #[error("{message}")]
    PartitionOffset {
        /// TensorFlow's message.
        message: String,
    },
    /// G6.
    #[error("{message}")]
    PartitionerArgs {
        /// TensorFlow's message.
        message: String,
    },
    /// G7.
    #[error("Cannot partition variable along axis {axis} when shape is only {shape}")]
    PartitionAxis {
        /// The axis.
        axis: usize,
        /// The shape.
        shape: Shape,
    },
    /// I8.
    #[error(
        "collections argument to Variable constructor must be a list, tuple, or set. Got {value} of type <class 'str'>"
    )]
    CollectionsNotAList {
        /// The string given.
        value: String,
    },
    /// L5.
    #[error("Trainable variable created when calling a template after the first time, perhaps you used tf.Variable when you meant tf.get_variable: [{}]", .variables.join(", "))]
    TemplateTrainableCreated {
        /// `repr()` of the new variables.
        variables: Vec<String>,
    },
    /// L7.
    #[error("name cannot be None.")]
    TemplateNameNone,
    /// An error from inside a template call, with the template's creation site appended (L4, L6).
    #[error("{source}\n\noriginally defined at:\n{origin}")]
    InTemplate {
        /// The error raised in the template's function.
        source: Box<Error>,
        /// Where the template was made.
        origin: String,
    },
    /// Eager reuse without an eager variable store.
    #[error("When eager execution is enabled variable reuse is only supported when an `EagerVariableStore` is active. See the documentation of `tf.compat.v1.variable_scope` for more information.")]
    EagerReuseWithoutStore,
    /// `values` from another graph.
    #[error("Tensor {tensor} must be from the same graph as Tensor {other}.")]
    ValuesFromOtherGraph {
        /// The foreign value.
        tensor: String,
        /// A value of this graph (or the scope name).
        other: String,
    },
    /// An initializer that cannot produce values for this shape or dtype (identity on a
    /// non-matrix, a normal initializer on an integer variable, ...).
    #[error("{message}")]
    InitializerShape {
        /// Store key.
        name: String,
        /// TensorFlow's message.
        message: String,
    },
    /// J2 (ref variables): with `use_resource=False` and `validate_shape=True`, the
    /// initial value's static shape must be fully defined.
    #[error("initial_value must have a shape specified: {}", initial_value_str(tensor, shape, *dtype))]
    InitialValueShapeUnspecified {
        /// Store key.
        name: String,
        /// The initial value's graph name (`PlaceholderWithDefault:0`).
        tensor: String,
        /// The value's static shape.
        shape: Shape,
        /// The value's dtype.
        dtype: DType,
    },
    /// Legacy `create_partitioned_variables` inside a scope with a custom getter (derived).
    #[error("Private access to _get_partitioned_variable is not allowed when a custom getter is set.  It is likely that you're using create_partitioned_variables.  If so, consider instead using get_variable with a non-empty partitioner parameter instead.")]
    PartitionedWithCustomGetter {
        /// The partitioned variable's store key.
        name: String,
    },
    /// A typed terminal that returns one variable got something else (a partitioned
    /// variable, or a tensor from a custom getter).
    #[error("get_variable({name}) returned {got} instead of a single variable")]
    NotASingleVariable {
        /// The name asked for.
        name: String,
        /// The tf name of what came back.
        got: String,
    },
    /// A typed terminal that returns a partitioned variable got something else.
    #[error("get_variable({name}) returned {got} instead of a partitioned variable")]
    NotAPartitionedVariable {
        /// The name asked for.
        name: String,
        /// The tf name of what came back.
        got: String,
    },
    /// An optimizer's host reference step got a variable, gradient and slots of
    /// different lengths, or the wrong number of slots.
    #[error("{optimizer}: variable, gradient and slots must have the same length ({len}) and {slots} slots")]
    ReferenceStepLengths {
        /// The optimizer's name.
        optimizer: String,
        /// The variable's length.
        len: usize,
        /// The number of slots the optimizer takes.
        slots: usize,
    },
    /// A device string that is not a TensorFlow device spec.
    #[error("Invalid device spec '{device}': {reason}")]
    InvalidDevice {
        /// The string as given.
        device: String,
        /// What is wrong.
        reason: String,
    },
    /// A `caching_device` string that is not a TensorFlow device spec, reported by the
    /// `get_variable` call that uses it.
    #[error("Invalid caching_device '{device}' for variable {name}: {reason}")]
    InvalidCachingDevice {
        /// Store key of the variable asked for.
        name: String,
        /// The string as given.
        device: String,
        /// What is wrong.
        reason: String,
    },
    /// Waiting for a graph's creation lock would never end: a variable creator or custom
    /// getter of one graph creates variables in another while a thread doing the same
    /// the other way round holds that graph's lock (a cycle of threads, each holding one
    /// graph's lock and waiting for the next's). The call that would close the cycle is
    /// refused and changes nothing; the others go on once it has undone itself.
    #[error("Creating variable {name} in graph {graph} would deadlock: another thread holds the graph's creation lock and waits, directly or through other threads, for a graph's creation lock this thread holds (a variable creator or custom getter creating variables across graphs on two threads)")]
    CreationWouldDeadlock {
        /// Name of the variable asked for.
        name: String,
        /// [`crate::Graph::id`] of the graph whose lock was refused.
        graph: u64,
    },
    /// A user callback (custom getter, creator, template function) failed with its own message.
    #[error("{message}")]
    User {
        /// The message.
        message: String,
    },
}

impl Error {
    /// The Python exception class TensorFlow raises for this error.
    pub fn kind(&self) -> PyErrorKind {
        match self {
            Error::NameOrScopeRequired
            | Error::InvalidNameOrScope { .. }
            | Error::InvalidAuxiliaryNameScope { .. }
            | Error::NotCallable { .. } => PyErrorKind::TypeError,
            Error::ImproperNesting { .. }
            | Error::ImproperNameScopeNesting { .. }
            | Error::EagerReuseWithoutStore
            | Error::CreationWouldDeadlock { .. } => PyErrorKind::RuntimeError,
            Error::InTemplate { source, .. } => source.kind(),
            _ => PyErrorKind::ValueError,
        }
    }

    /// A user error with a message (for custom getters and creators that fail).
    pub fn user(message: impl Into<String>) -> Self {
        Error::User { message: message.into() }
    }
}

/// The suffix of [`Error::AlreadyExists`] for a ref variable (C2).
fn originally_defined_at(traceback: Option<&str>) -> String {
    traceback.map(|tb| format!(" Originally defined at:\n\n{tb}")).unwrap_or_default()
}

/// `str()` of the initial-value tensor TensorFlow prints in
/// [`Error::InitialValueShapeUnspecified`]: `Tensor("PlaceholderWithDefault:0",
/// dtype=float32)`, with `shape=(None, 3)` when the rank is known.
fn initial_value_str(tensor: &str, shape: &Shape, dtype: DType) -> String {
    match shape.rank() {
        None => format!("Tensor(\"{tensor}\", dtype={dtype})"),
        Some(_) => format!("Tensor(\"{tensor}\", shape={shape}, dtype={dtype})"),
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
