//! `get_variable` (catalogue 0.4): the builder that resolves its arguments against the
//! current variable scope and calls the custom getters and the store; `tf.Variable`;
//! the legacy `create_partitioned_variables`.

use std::panic::Location;

use crate::args::{CreatorArgs, GetterArgs, Hidden, InitArg, ReuseMode, ShapeArg};
use crate::collections::CollectionsArg;
use crate::getter::{call_getters, get_partitioned, true_getter, CustomGetter};
use crate::graph::Graph;
use crate::scope::ScopeFields;
use crate::store::Target;
use crate::variable::{Aggregation, CachingDevice, SeedInfo, Synchronization};
use crate::{
    Constraint, DType, Error, InitialValue, PartitionedVariable, Partitioner, Regularizer, Result, Shape, VarRef,
    Variable,
};

impl Graph {
    /// `get_variable(name, ...)`: set arguments on the builder, then call
    /// [`GetVariable::get`].
    #[track_caller]
    pub fn get_variable(&self, name: &str) -> GetVariable<'_> {
        GetVariable { graph: self, name: name.to_string(), args: GetArgs::at_caller(), local: false }
    }

    /// `get_local_variable(name, ...)`: `trainable=False` forced and `local_variables`
    /// appended to the collections (I5).
    #[track_caller]
    pub fn get_local_variable(&self, name: &str) -> GetVariable<'_> {
        GetVariable { graph: self, name: name.to_string(), args: GetArgs::at_caller(), local: true }
    }

    /// `tf.Variable(initial_value, ...)`: set options on the builder, then
    /// [`NewVariable::create`]. Named by the **name scope**, uniquified, invisible to
    /// the store (A8, A10).
    pub fn variable(&self, initial_value: impl Into<InitArg>) -> NewVariable<'_> {
        NewVariable {
            graph: self,
            initial_value: initial_value.into(),
            shape: None,
            name: None,
            trainable: true,
            collections: None,
        }
    }

    fn create_tf_variable(
        &self,
        initial_value: InitArg,
        shape: Option<&[u64]>,
        name: Option<&str>,
        trainable: bool,
        collections: Option<CollectionsArg>,
    ) -> Result<Variable> {
        let name = name.unwrap_or("Variable").to_string();
        let (initial, dtype, vshape) = match initial_value {
            InitArg::Value(t) => {
                let s = t.static_shape().clone();
                (InitialValue::Constant(t.clone()), t.dtype(), s)
            }
            InitArg::ValueFn(f) => {
                let t = f.call();
                let s = t.static_shape().clone();
                (InitialValue::Constant(t.clone()), t.dtype(), s)
            }
            InitArg::Init(i) => {
                let Some(shape) = shape else {
                    return Err(Error::InvalidInitializer { name, shape: Shape::unknown() });
                };
                let kernel = i.resolve(shape);
                (InitialValue::Initializer { initializer: i, kernel }, DType::Float32, Shape::new(shape))
            }
        };
        let args = CreatorArgs {
            initial_value: initial,
            name: name.clone(),
            trainable,
            collections,
            caching_device: None,
            dtype,
            shape: vshape,
            constraint: None,
            use_resource: true,
            synchronization: Synchronization::Auto,
            aggregation: Aggregation::None,
            validate_shape: true,
            hidden: Hidden {
                key: None,
                scope_stack: true,
                slice: None,
                partition_info: None,
                seed: SeedInfo { graph_seed: self.seed(), op_seed: None, hash_name: name },
                regularizer: None,
                origin: None,
            },
        };
        self.run_creators(args)
    }

    /// Legacy `create_partitioned_variables(shape, slicing, initializer, ...)` (G21):
    /// opens `variable_scope(name, "PartitionedVariable")` and creates a partitioned
    /// variable named after that scope, returning its shards.
    pub fn create_partitioned_variables(
        &self,
        shape: &[u64],
        slicing: &[i64],
        initializer: impl Into<InitArg>,
        dtype: DType,
        name: Option<&str>,
    ) -> Result<Vec<Variable>> {
        if shape.len() != slicing.len() {
            return Err(Error::PartitionRankMismatch {
                partitions: crate::shape::py_list(slicing),
                shape: Shape::new(shape),
            });
        }
        if shape.is_empty() {
            return Err(Error::PartitionRankZero { shape: Shape::scalar() });
        }
        let initializer = initializer.into();
        let slicing = slicing.to_vec();
        let b = match name {
            Some(n) => self.variable_scope(n),
            None => self.variable_scope_default("PartitionedVariable"),
        };
        b.run(|scope| {
            let f = scope.read();
            if f.custom_getter.is_some() {
                return Err(Error::PartitionedWithCustomGetter { name: f.name.clone() });
            }
            let args = GetterArgs {
                name: f.name.clone(),
                shape: Some(ShapeArg::from(shape.to_vec())),
                dtype,
                initializer: Some(initializer.clone()),
                regularizer: None,
                reuse: f.reuse,
                trainable: true,
                collections: None,
                caching_device: f.caching_device.clone(),
                partitioner: Some(Partitioner::custom("slicing", move |_, _| {
                    Ok(crate::Partitions::List(slicing.clone()))
                })),
                validate_shape: true,
                use_resource: f.use_resource,
                constraint: None,
                synchronization: Synchronization::Auto,
                aggregation: Aggregation::None,
                origin: None,
            };
            drop(f);
            let _root = self.name_scope(None)?;
            get_partitioned(self, &self.call_ctx(), args).map(|p| p.shards().to_vec())
        })
    }
}

#[derive(Default, Clone)]
pub(crate) struct GetArgs {
    pub(crate) shape: Option<ShapeArg>,
    pub(crate) dtype: Option<DType>,
    pub(crate) initializer: Option<InitArg>,
    pub(crate) regularizer: Option<Regularizer>,
    pub(crate) trainable: Option<bool>,
    pub(crate) collections: Option<CollectionsArg>,
    pub(crate) caching_device: Option<CachingDevice>,
    pub(crate) partitioner: Option<Partitioner>,
    pub(crate) validate_shape: Option<bool>,
    pub(crate) use_resource: Option<bool>,
    pub(crate) custom_getter: Option<CustomGetter>,
    pub(crate) constraint: Option<Constraint>,
    pub(crate) synchronization: Option<Synchronization>,
    pub(crate) aggregation: Option<Aggregation>,
    /// Where the user's code asked for the variable (the builder's constructor).
    pub(crate) origin: Option<&'static Location<'static>>,
}

impl GetArgs {
    /// Empty arguments, recording the caller of the (`#[track_caller]`) builder
    /// constructor as the call's origin.
    #[track_caller]
    pub(crate) fn at_caller() -> Self {
        GetArgs { origin: Some(Location::caller()), ..GetArgs::default() }
    }
}

/// The setters of `get_variable`'s arguments other than `collections` (whose form differs),
/// written once for the two builders that carry a [`GetArgs`]: [`GetVariable`] and
/// [`crate::VarRequest`].
macro_rules! get_args_setters {
    () => {
        /// `shape`: `[2, 3]`, `5u64` (means `[5]`), a [`crate::Shape`], `[None, 3]`.
        pub fn shape(mut self, s: impl Into<ShapeArg>) -> Self {
            self.args.shape = Some(s.into());
            self
        }
        /// `dtype` (default: the scope's).
        pub fn dtype(mut self, d: DType) -> Self {
            self.args.dtype = Some(d);
            self
        }
        /// `initializer`: an [`crate::Initializer`], a constant [`crate::HostTensor`], or a
        /// [`crate::ValueFn`].
        pub fn initializer(mut self, i: impl Into<InitArg>) -> Self {
            self.args.initializer = Some(i.into());
            self
        }
        /// `regularizer`.
        pub fn regularizer(mut self, r: Regularizer) -> Self {
            self.args.regularizer = Some(r);
            self
        }
        /// `trainable`.
        pub fn trainable(mut self, t: bool) -> Self {
            self.args.trainable = Some(t);
            self
        }
        /// `caching_device`: a device string or a device function.
        pub fn caching_device(mut self, d: impl Into<CachingDevice>) -> Self {
            self.args.caching_device = Some(d.into());
            self
        }
        /// `partitioner`.
        pub fn partitioner(mut self, p: Partitioner) -> Self {
            self.args.partitioner = Some(p);
            self
        }
        /// `validate_shape` (default true).
        pub fn validate_shape(mut self, v: bool) -> Self {
            self.args.validate_shape = Some(v);
            self
        }
        /// `use_resource`.
        pub fn use_resource(mut self, v: bool) -> Self {
            self.args.use_resource = Some(v);
            self
        }
        /// `custom_getter`: replaces the scope's getter (H4).
        pub fn custom_getter(mut self, g: CustomGetter) -> Self {
            self.args.custom_getter = Some(g);
            self
        }
        /// `constraint`.
        pub fn constraint(mut self, c: Constraint) -> Self {
            self.args.constraint = Some(c);
            self
        }
        /// `synchronization`.
        pub fn synchronization(mut self, s: Synchronization) -> Self {
            self.args.synchronization = Some(s);
            self
        }
        /// `aggregation`.
        pub fn aggregation(mut self, a: Aggregation) -> Self {
            self.args.aggregation = Some(a);
            self
        }
    };
}
pub(crate) use get_args_setters;

/// A `tf.Variable(...)` call being built (see [`Graph::variable`]).
#[must_use = "nothing is created until `create` is called"]
pub struct NewVariable<'g> {
    graph: &'g Graph,
    initial_value: InitArg,
    shape: Option<Vec<u64>>,
    name: Option<String>,
    trainable: bool,
    collections: Option<CollectionsArg>,
}

impl NewVariable<'_> {
    /// The shape (needed with a callable initializer).
    pub fn shape(mut self, dims: &[u64]) -> Self {
        self.shape = Some(dims.to_vec());
        self
    }
    /// The name (default `Variable`), uniquified in the current name scope.
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }
    /// `trainable` (default true).
    pub fn trainable(mut self, t: bool) -> Self {
        self.trainable = t;
        self
    }
    /// `collections` (default `[variables]`; `trainable_variables` is added when
    /// trainable).
    pub fn collections(mut self, c: impl Into<CollectionsArg>) -> Self {
        self.collections = Some(c.into());
        self
    }
    /// Creates the variable.
    pub fn create(self) -> Result<Variable> {
        self.graph.create_tf_variable(
            self.initial_value,
            self.shape.as_deref(),
            self.name.as_deref(),
            self.trainable,
            self.collections,
        )
    }
}

/// A `get_variable(...)` call being built. Finish with a terminal:
/// [`variable`](GetVariable::variable) (one variable),
/// [`partitioned`](GetVariable::partitioned), or [`get`](GetVariable::get) (whatever
/// the custom getters return).
pub struct GetVariable<'g> {
    graph: &'g Graph,
    name: String,
    args: GetArgs,
    local: bool,
}

impl GetVariable<'_> {
    get_args_setters!();
    /// `collections`.
    pub fn collections(mut self, c: impl Into<CollectionsArg>) -> Self {
        self.args.collections = Some(c.into());
        self
    }

    /// Resolves the arguments against the current scope (0.4) and gets or creates.
    pub fn get(self) -> Result<VarRef> {
        self.call().1
    }

    /// [`get`](Self::get), with the call's name given back for the terminals' errors
    /// (no copy made on the way).
    fn call(self) -> (String, Result<VarRef>) {
        let scope = self.graph.get_variable_scope();
        let fields = scope.snapshot();
        let r = get_in_scope(self.graph, &fields, &self.name, self.args, self.local, None);
        (self.name, r)
    }

    /// [`get`](Self::get), expecting a single variable: anything else (a partitioned
    /// variable, or a tensor from a custom getter) is [`Error::NotASingleVariable`].
    pub fn variable(self) -> Result<Variable> {
        let (name, r) = self.call();
        match r? {
            VarRef::Variable(v) => Ok(v),
            other => Err(Error::NotASingleVariable { name, got: other.name() }),
        }
    }

    /// [`get`](Self::get), expecting a partitioned variable (a partitioner is given or
    /// the scope has one): anything else is [`Error::NotAPartitionedVariable`].
    pub fn partitioned(self) -> Result<PartitionedVariable> {
        let (name, r) = self.call();
        match r? {
            VarRef::Partitioned(p) => Ok(p),
            other => Err(Error::NotAPartitionedVariable { name, got: other.name() }),
        }
    }
}

/// `VariableScope.get_variable` in scope `f` (0.4): resolves the arguments against the
/// scope's defaults and calls the custom getters and the store at the root name scope.
/// `reuse` overrides the scope's reuse (the typed terminals of a scope path).
pub(crate) fn get_in_scope(
    g: &Graph,
    f: &ScopeFields,
    name: &str,
    mut args: GetArgs,
    local: bool,
    reuse: Option<ReuseMode>,
) -> Result<VarRef> {
    if local {
        args.trainable = Some(false);
        args.collections = Some(CollectionsArg::with_local(args.collections.take()));
    }
    let regularizer = args.regularizer.or_else(|| f.regularizer.clone());
    let caching_device = args.caching_device.or_else(|| f.caching_device.clone());
    let full_name = if f.name.is_empty() { name.to_string() } else { format!("{}/{}", f.name, name) };
    // A device string is parsed now, so a typo fails at this call.
    let caching_device = match caching_device.map(|c| c.parsed()).transpose() {
        Ok(c) => c,
        Err(Error::InvalidDevice { device, reason }) => {
            return Err(Error::InvalidCachingDevice { name: full_name, device, reason })
        }
        Err(e) => return Err(e),
    };
    let partitioner = args.partitioner.or_else(|| f.partitioner.clone());
    let custom_getter = args.custom_getter.or_else(|| f.custom_getter.clone());
    let ctx = g.call_ctx();
    let (reuse, use_resource) = match &ctx.target {
        Target::Graph => (reuse.unwrap_or(f.reuse), args.use_resource.or(f.use_resource)),
        // An active eager store gets or creates; without one every call creates.
        Target::Eager(_) => (ReuseMode::AutoReuse, Some(true)),
        Target::EagerTemp => (ReuseMode::CreateOnly, Some(true)),
    };
    if let (Some(dt), Some(InitArg::Value(t))) = (args.dtype, &args.initializer) {
        if t.dtype() != dt {
            return Err(Error::InitializerDTypeMismatch { name: full_name, init: t.dtype(), explicit: dt });
        }
    }
    let initializer = args.initializer.or_else(|| f.initializer.clone());
    let constraint = args.constraint.or_else(|| f.constraint.clone());
    let dtype = args.dtype.unwrap_or(f.dtype);
    let synchronization = args.synchronization.unwrap_or_default();
    let aggregation = args.aggregation.unwrap_or_default();
    let trainable = args.trainable.unwrap_or(synchronization != Synchronization::OnRead);
    let ga = GetterArgs {
        name: full_name,
        shape: args.shape,
        dtype,
        initializer,
        regularizer,
        reuse,
        trainable,
        collections: args.collections,
        caching_device,
        partitioner,
        validate_shape: args.validate_shape.unwrap_or(true),
        use_resource,
        constraint,
        synchronization,
        aggregation,
        origin: args.origin,
    };
    // Everything below runs at the root name scope (`name_scope(None)`), custom
    // getters included.
    let _root = g.name_scope(None)?;
    match custom_getter {
        Some(CustomGetter { not_callable: Some(repr), .. }) => Err(Error::GetterNotCallable { repr: repr.to_string() }),
        Some(cg) => call_getters(g, &ctx, &cg.chain, ga),
        None => true_getter(g, &ctx, ga),
    }
}
