//! The variable store (catalogue 0, `_VariableStore`): variables and partitioned
//! variables by full name, and the get-or-create logic of `_true_getter`,
//! `_get_single_variable` and `_get_partitioned_variable`.
//!
//! The store works on full keys and arguments already resolved against a scope
//! ([`GetterArgs`]); it knows nothing of scopes, name scopes or threads. What creating
//! a variable needs from its owner (running the creators, the names table,
//! collections, the transaction that undoes a failed call) comes through [`StoreHost`].

use std::sync::{Arc, RwLock};

use crate::args::{CreatorArgs, GetterArgs, Hidden, InitArg, ReuseMode, ShapeArg};
use crate::partition::{call_partitioner, iter_slices, slice_dim_and_num_slices, PartitionInfo, SliceInfo};
use crate::reference;
use crate::sync::{read, write};
use crate::variable::{PartitionedData, SeedInfo};
use crate::{
    ConstantKind, DType, Error, FastMap, FastSet, InitKernel, InitialValue, Initializer, PartitionedVariable,
    Regularizer, Result, Shape, VarRef, Variable,
};

/// `_vars` and `_partitioned_vars` of one graph, in creation order.
#[derive(Default)]
pub(crate) struct VariableStore {
    vars: FastMap<String, Variable>,
    order: Vec<String>,
    partitioned: FastMap<String, PartitionedVariable>,
    /// Names `n` such that `n/part_0` is in `vars`, so the "partitioned version found"
    /// check needs no allocation on the lookup path.
    part0_owners: FastSet<String>,
}

impl VariableStore {
    /// The variable stored under `key`.
    pub fn get(&self, key: &str) -> Option<&Variable> {
        self.vars.get(key)
    }

    /// Whether `key` holds a variable.
    pub fn contains(&self, key: &str) -> bool {
        self.vars.contains_key(key)
    }

    /// The partitioned variable stored under `key`.
    pub fn get_partitioned(&self, key: &str) -> Option<&PartitionedVariable> {
        self.partitioned.get(key)
    }

    /// Whether `key/part_0` holds a variable.
    pub fn has_part0(&self, key: &str) -> bool {
        self.part0_owners.contains(key)
    }

    /// Stores a new variable under `key`.
    pub fn insert(&mut self, key: &str, v: Variable) {
        if let Some(owner) = key.strip_suffix("/part_0") {
            self.part0_owners.insert(owner.to_string());
        }
        self.vars.insert(key.to_string(), v);
        self.order.push(key.to_string());
    }

    /// Removes a variable (undo of [`insert`](Self::insert)).
    pub fn remove(&mut self, key: &str) {
        if let Some(owner) = key.strip_suffix("/part_0") {
            self.part0_owners.remove(owner);
        }
        self.vars.remove(key);
        if self.order.last().map(String::as_str) == Some(key) {
            self.order.pop();
        } else {
            self.order.retain(|x| x != key);
        }
    }

    /// Stores a new partitioned variable under `key`.
    pub fn insert_partitioned(&mut self, key: &str, pv: PartitionedVariable) {
        self.partitioned.insert(key.to_string(), pv);
    }

    /// Removes a partitioned variable (undo of [`insert_partitioned`](Self::insert_partitioned)).
    pub fn remove_partitioned(&mut self, key: &str) {
        self.partitioned.remove(key);
    }

    /// The variables by key, in creation order.
    pub fn variables(&self) -> Vec<(String, Variable)> {
        self.order.iter().filter_map(|k| self.vars.get(k).map(|v| (k.clone(), v.clone()))).collect()
    }

    /// Every partitioned variable.
    pub fn partitioned_variables(&self) -> Vec<PartitionedVariable> {
        self.partitioned.values().cloned().collect()
    }
}

/// An eager variable store (`EagerVariableStore`): variables made while it is active
/// are kept and reused by name.
#[derive(Clone, Default)]
pub struct EagerVariableStore {
    vars: Arc<RwLock<FastMap<String, Variable>>>,
}

impl EagerVariableStore {
    /// A new, empty store.
    pub fn new() -> Self {
        Self::default()
    }
    /// The variables it holds, by key.
    pub fn variables(&self) -> Vec<Variable> {
        read(&self.vars).values().cloned().collect()
    }
    pub(crate) fn get(&self, key: &str) -> Option<Variable> {
        read(&self.vars).get(key).cloned()
    }
    pub(crate) fn insert(&self, key: &str, v: Variable) {
        write(&self.vars).insert(key.to_string(), v);
    }
}

/// Where the variables of one call live.
#[derive(Clone)]
pub(crate) enum Target {
    /// The graph's store (graph mode).
    Graph,
    /// An active eager store (get or create by key).
    Eager(EagerVariableStore),
    /// Eager mode with no store: every call creates a new variable.
    EagerTemp,
}

/// What the store needs from its owner.
pub(crate) trait StoreHost {
    /// Where variables are looked up and kept.
    fn target(&self) -> &Target;
    /// Runs `f` with the graph's store locked for reading.
    fn with_store<R>(&self, f: impl FnOnce(&VariableStore) -> R) -> R;
    /// Runs `f` on the call's arguments `a` as one transaction: if it fails, every change
    /// it made is undone. Refused, naming `a.name`, if waiting for the graph's creation
    /// lock would never end ([`Error::CreationWouldDeadlock`]).
    fn transaction<R>(&self, a: GetterArgs, f: impl FnOnce(GetterArgs) -> Result<R>) -> Result<R>;
    /// The graph seed.
    fn seed(&self) -> Option<u64>;
    /// Runs the creator stack on a new variable (names it, adds it to collections).
    fn create(&self, args: CreatorArgs) -> Result<Variable>;
    /// Stores a created variable under `key` in the graph's store (journaled).
    fn store(&self, key: &str, v: &Variable);
    /// Stores a partitioned variable under `key` (journaled).
    fn store_partitioned(&self, key: &str, pv: &PartitionedVariable);
    /// Records the regularization loss of a new variable (F1, F3).
    fn add_loss(&self, key: &str, v: &Variable, r: &Regularizer);
    /// Marks an op name as used in the names table (journaled).
    fn reserve_name(&self, name: &str);
}

impl<H: StoreHost> StoreHost for &H {
    fn target(&self) -> &Target {
        (*self).target()
    }
    fn with_store<R>(&self, f: impl FnOnce(&VariableStore) -> R) -> R {
        (*self).with_store(f)
    }
    fn transaction<R>(&self, a: GetterArgs, f: impl FnOnce(GetterArgs) -> Result<R>) -> Result<R> {
        (*self).transaction(a, f)
    }
    fn seed(&self) -> Option<u64> {
        (*self).seed()
    }
    fn create(&self, args: CreatorArgs) -> Result<Variable> {
        (*self).create(args)
    }
    fn store(&self, key: &str, v: &Variable) {
        (*self).store(key, v)
    }
    fn store_partitioned(&self, key: &str, pv: &PartitionedVariable) {
        (*self).store_partitioned(key, pv)
    }
    fn add_loss(&self, key: &str, v: &Variable, r: &Regularizer) {
        (*self).add_loss(key, v, r)
    }
    fn reserve_name(&self, name: &str) {
        (*self).reserve_name(name)
    }
}

fn lookup(h: &impl StoreHost, key: &str) -> Option<Variable> {
    match h.target() {
        Target::Graph => h.with_store(|s| s.get(key).cloned()),
        Target::Eager(es) => es.get(key),
        Target::EagerTemp => None,
    }
}

/// `_true_getter`: partitioned, partitioned-reuse, or single variable.
pub(crate) fn true_getter(h: &impl StoreHost, a: GetterArgs) -> Result<VarRef> {
    let is_scalar = a.shape.as_ref().is_some_and(ShapeArg::is_scalar_seq);
    if let Some(p) = a.partitioner.as_ref().filter(|_| !is_scalar) {
        if let Some(repr) = p.not_callable() {
            return Err(Error::PartitionerNotCallable { repr: repr.to_string() });
        }
        return h.transaction(a, |a| get_partitioned(h, a)).map(VarRef::Partitioned);
    }
    // One read of the store answers the partitioned-reuse and "partitioned version
    // found" checks and (in graph mode) looks the variable up for the reuse fast path.
    let graph_mode = matches!(h.target(), Target::Graph);
    let (reuse_partitioned, has_part0, found) = h.with_store(|st| {
        (
            a.reuse == ReuseMode::ReuseOnly && a.partitioner.is_none() && st.get_partitioned(&a.name).is_some(),
            st.has_part0(&a.name),
            if graph_mode { st.get(&a.name).cloned() } else { None },
        )
    });
    if reuse_partitioned {
        return h.transaction(a, |a| get_partitioned(h, a)).map(VarRef::Partitioned);
    }
    if has_part0 {
        return Err(Error::PartitionedExists { name: a.name });
    }
    let prefetched = if graph_mode { Some(found) } else { None };
    get_single(h, a, None, None, prefetched).map(VarRef::Variable)
}

fn check_existing(name: &str, shape: &Shape, dtype: DType, reuse: ReuseMode, found: &Variable) -> Result<()> {
    // A ref variable (`use_resource=False`) says where it was defined (C2) and prints
    // its dtype as `float32_ref` (C14); a resource variable does neither. (Looked at on
    // the errors only: a reuse lookup reads no more of the variable than it needs.)
    let is_ref = || found.use_resource() == Some(false);
    if !reuse.is_truthy() {
        let defined_at = is_ref().then(|| {
            found
                .0
                .origin
                .map(|o| format!("  File \"{}\", line {}, column {}\n", o.file(), o.line(), o.column()))
                .unwrap_or_default()
        });
        return Err(Error::AlreadyExists { name: name.to_string(), defined_at });
    }
    if !shape.is_compatible_with(found.shape()) {
        return Err(Error::ShapeMismatch {
            name: name.to_string(),
            specified: shape.clone(),
            found: found.shape().clone(),
        });
    }
    if dtype != found.dtype() {
        return Err(Error::DTypeMismatch {
            name: name.to_string(),
            specified: dtype,
            found: found.dtype(),
            found_ref: is_ref(),
        });
    }
    Ok(())
}

/// `_get_single_variable`, with the store lookup already done when `prefetched` is
/// `Some` (graph mode).
fn get_single(
    h: &impl StoreHost,
    a: GetterArgs,
    partition_info: Option<PartitionInfo>,
    slice: Option<SliceInfo>,
    prefetched: Option<Option<Variable>>,
) -> Result<Variable> {
    let from_value = matches!(a.initializer, Some(InitArg::Value(_)));
    if a.shape.is_some() && from_value {
        return Err(Error::ConstantWithShape { name: a.name });
    }
    let shape = match &a.shape {
        Some(s) => s.to_shape()?,
        None => Shape::unknown(),
    };
    if shape.overflows() {
        return Err(Error::ShapeTooLarge { name: a.name, shape });
    }
    let temp = matches!(h.target(), Target::EagerTemp);
    // Fast path: an existing variable needs no lock beyond the store's read lock.
    if !temp {
        let found = match prefetched {
            Some(f) => f,
            None => lookup(h, &a.name),
        };
        if let Some(found) = found {
            check_existing(&a.name, &shape, a.dtype, a.reuse, &found)?;
            return Ok(found);
        }
    }
    h.transaction(a, |a| {
        if !temp {
            if let Some(found) = lookup(h, &a.name) {
                check_existing(&a.name, &shape, a.dtype, a.reuse, &found)?;
                return Ok(found);
            }
            if a.reuse == ReuseMode::ReuseOnly {
                return Err(Error::DoesNotExist { name: a.name.clone() });
            }
        }
        create_single(h, a, shape, partition_info, slice)
    })
}

/// The initial value, dtype and static shape of a new variable (E1-E12).
fn initial_value(
    a: &GetterArgs,
    shape: &Shape,
    partition_info: Option<&PartitionInfo>,
    is_shard: bool,
) -> Result<(InitialValue, DType, Shape)> {
    // The name is cloned only for an error (this runs once per variable created).
    let name = || a.name.clone();
    let init = match a.initializer.clone() {
        Some(i) => i,
        None => {
            if a.shape.is_none() {
                return Err(Error::NoInitializerNoShape { name: name() });
            }
            if !a.dtype.has_default_initializer() {
                return Err(Error::InitializerRequired { name: name(), dtype: a.dtype });
            }
            if a.dtype.is_floating() {
                InitArg::Init(Initializer::glorot_uniform())
            } else {
                InitArg::Init(Initializer::zeros())
            }
        }
    };
    let (initial, dtype, static_shape) = match init {
        InitArg::Value(t) => {
            let t = if t.dtype() != a.dtype && is_shard && t.kind() == ConstantKind::Python {
                t.cast_to(a.dtype).ok_or_else(|| Error::ConstantConversion {
                    name: name(),
                    from: t.dtype(),
                    to: a.dtype,
                })?
            } else {
                t
            };
            let s = t.static_shape().clone();
            (InitialValue::Constant(t.clone()), t.dtype(), s)
        }
        InitArg::ValueFn(f) => {
            let t = f.call();
            if shape.is_fully_defined() && t.static_shape() != shape {
                return Err(Error::InvalidInitializer { name: name(), shape: shape.clone() });
            }
            let s = t.static_shape().clone();
            (InitialValue::Constant(t.clone()), t.dtype(), s)
        }
        InitArg::Init(i) => {
            let Some(dims) = shape.as_list() else {
                return Err(Error::InvalidInitializer { name: name(), shape: shape.clone() });
            };
            let full = partition_info.map(|p| p.full_shape().to_vec()).unwrap_or_else(|| dims.clone());
            let kernel = i.resolve(&full);
            validate_kernel(&a.name, &kernel, &dims, a.dtype)?;
            (InitialValue::Initializer { initializer: i, kernel }, a.dtype, shape.clone())
        }
    };
    // Ref variables (`use_resource=False`) need a fully defined initial value shape when
    // `validate_shape` is set (J2); resource variables accept a partial one.
    if a.use_resource == Some(false) && a.validate_shape && !static_shape.is_fully_defined() {
        // Only a placeholder-like value has a partial static shape: TensorFlow prints
        // that tensor (the user's `placeholder_with_default`).
        let op = match &initial {
            InitialValue::Constant(t) => t.op_name(),
            InitialValue::Initializer { .. } => None,
        };
        let tensor = format!("{}:0", op.unwrap_or("PlaceholderWithDefault"));
        return Err(Error::InitialValueShapeUnspecified { name: a.name.clone(), tensor, shape: static_shape, dtype });
    }
    Ok((initial, dtype, static_shape))
}

fn create_single(
    h: &impl StoreHost,
    a: GetterArgs,
    shape: Shape,
    partition_info: Option<PartitionInfo>,
    slice: Option<SliceInfo>,
) -> Result<Variable> {
    let (initial, dtype, vshape) = initial_value(&a, &shape, partition_info.as_ref(), slice.is_some())?;
    // Fields moved out of `a` rather than cloned: each clone is an allocation, and this
    // runs once per variable created.
    let name = a.name;
    let op_seed = match &initial {
        InitialValue::Initializer { initializer, .. } => initializer.seed(),
        _ => None,
    };
    let hash_name = slice.as_ref().map(|s| s.full_name.clone()).unwrap_or_else(|| name.clone());
    let creator_args = CreatorArgs {
        initial_value: initial,
        name: name.clone(),
        trainable: a.trainable,
        collections: a.collections,
        caching_device: a.caching_device,
        dtype,
        shape: vshape,
        constraint: a.constraint,
        use_resource: a.use_resource.unwrap_or(true),
        synchronization: a.synchronization,
        aggregation: a.aggregation,
        validate_shape: a.validate_shape,
        hidden: Hidden {
            key: Some(name.clone()),
            scope_stack: false,
            slice,
            partition_info,
            seed: SeedInfo { graph_seed: h.seed(), op_seed, hash_name },
            regularizer: a.regularizer.clone().filter(Regularizer::produces_loss),
            origin: a.origin,
        },
    };
    let v = h.create(creator_args)?;
    match h.target() {
        Target::EagerTemp => return Ok(v),
        Target::Eager(es) => {
            es.insert(&name, v.clone());
            return Ok(v);
        }
        Target::Graph => h.store(&name, &v),
    }
    if let Some(r) = &a.regularizer {
        if returns_loss(r, &v) {
            h.add_loss(&name, &v, r);
        }
    }
    Ok(v)
}

/// The "`regularizer(v)` is not None" test of `_get_single_variable` (F1) and, when it
/// passes, the loss op's build: TensorFlow 2.21 calls the regularizer a second time then
/// (F3). A host closure is called on the new variable's initial values, computed on the
/// host once (no values when they cannot be computed there, e.g. an unknown shape).
fn returns_loss(r: &Regularizer, v: &Variable) -> bool {
    match r {
        Regularizer::Fn(f) => {
            let values = reference::initial_f64(v).unwrap_or_default();
            let loss = f.eval(&values).is_some();
            if loss {
                f.eval(&values);
            }
            loss
        }
        other => other.produces_loss(),
    }
}

/// `_get_partitioned_variable`, validating every shard before creating any (G19 is
/// raised before anything exists, unlike TensorFlow).
pub(crate) fn get_partitioned(h: &impl StoreHost, a: GetterArgs) -> Result<PartitionedVariable> {
    let name = a.name.clone();
    let tensor_init = match &a.initializer {
        Some(InitArg::Value(t)) if t.kind() == ConstantKind::Tensor => Some(t.clone()),
        _ => None,
    };
    if h.with_store(|s| s.contains(&name)) {
        return Err(Error::UnpartitionedExists { name });
    }
    let mut shape = match &a.shape {
        Some(s) => s.to_shape()?,
        None => Shape::unknown(),
    };
    if let Some(t) = &tensor_init {
        shape = shape.merge_with(t.static_shape()).ok_or_else(|| Error::ShapeMismatch {
            name: name.clone(),
            specified: shape.clone(),
            found: t.static_shape().clone(),
        })?;
    }
    if shape.overflows() {
        return Err(Error::ShapeTooLarge { name, shape });
    }
    // The partitioner runs whenever one is given, and always when creating.
    let partitions = match &a.partitioner {
        Some(p) => Some(call_partitioner(p, &shape, a.dtype)?),
        None => None,
    };
    let existing = h.with_store(|s| s.get_partitioned(&name).cloned());
    if let Some(ex) = existing {
        if !a.reuse.is_truthy() {
            return Err(Error::PartitionedAlreadyExists { name });
        }
        if !shape.is_compatible_with(ex.shape()) {
            return Err(Error::PartitionedShapeMismatch { name, specified: shape, found: ex.shape().clone() });
        }
        if a.dtype != ex.dtype() {
            return Err(Error::PartitionedDTypeMismatch { name, specified: a.dtype, found: ex.dtype() });
        }
        if let Some(p) = &partitions {
            if p != ex.partitions() {
                return Err(Error::PartitionsMismatch {
                    name,
                    specified: p.to_string(),
                    found: ex.partitions().to_string(),
                });
            }
        }
        return Ok(ex);
    }
    if a.reuse == ReuseMode::ReuseOnly {
        return Err(Error::PartitionedDoesNotExist { name });
    }
    // Creating: `true_getter` only comes here without a partitioner to reuse, so one ran
    // above; without one there is nothing to create.
    let Some(partitions) = partitions else { return Err(Error::PartitionedDoesNotExist { name }) };
    let values = partitions.values().unwrap_or(&[]).to_vec();
    let (slice_dim, num_slices) = slice_dim_and_num_slices(&values);
    let shard_conflict = h.with_store(|st| {
        if !st.has_part0(&name) {
            return None;
        }
        if !st.contains(&format!("{name}/part_{}", num_slices - 1)) {
            return Some(Error::ShardMissing { name: name.clone(), num_shards: num_slices, missing: num_slices - 1 });
        }
        if st.contains(&format!("{name}/part_{num_slices}")) {
            return Some(Error::ShardExtra { name: name.clone(), num_shards: num_slices });
        }
        None
    });
    if let Some(e) = shard_conflict {
        return Err(e);
    }
    // `call_partitioner` accepted the shape, so it is fully defined.
    let Some(full) = shape.as_list() else { return Err(Error::PartitionShapeNotFullyDefined { shape }) };
    if num_slices > full[slice_dim] {
        // More shards than slices: the first empty shard starts at the end of the
        // axis, which `_PartitionInfo` rejects (G19). Report it before allocating.
        let mut off = vec![0u64; full.len()];
        off[slice_dim] = full[slice_dim];
        PartitionInfo::new(&full, &off)?;
    }
    let slices = iter_slices(&full, num_slices, slice_dim);
    // Validate every shard first: varscope creates nothing when one would fail.
    let infos: Vec<PartitionInfo> =
        slices.iter().map(|(off, _)| PartitionInfo::new(&full, off)).collect::<Result<_>>()?;
    let mut dtype = a.dtype;
    let mut shards = Vec::with_capacity(slices.len());
    for (i, ((off, vshape), info)) in slices.iter().zip(infos).enumerate() {
        let shard_name = format!("{name}/part_{i}");
        h.reserve_name(&format!("{shard_name}/PartitionedInitializer"));
        let (init, init_shape) = match &a.initializer {
            // The default initializer is looked up under the whole variable's name (E1).
            None if !dtype.has_default_initializer() => {
                return Err(Error::InitializerRequired { name: name.clone(), dtype });
            }
            None => (None, Some(ShapeArg::from(vshape.clone()))),
            Some(InitArg::Init(i)) => (Some(InitArg::Init(i.clone())), Some(ShapeArg::from(vshape.clone()))),
            Some(InitArg::ValueFn(f)) => (Some(InitArg::ValueFn(f.clone())), Some(ShapeArg::from(vshape.clone()))),
            Some(InitArg::Value(t)) if t.kind() == ConstantKind::Tensor => {
                let s = t.slice(off, vshape).ok_or_else(|| Error::ShapeMismatch {
                    name: name.clone(),
                    specified: shape.clone(),
                    found: Shape::new(t.shape()),
                })?;
                dtype = s.dtype();
                (Some(InitArg::Value(s)), None)
            }
            Some(InitArg::Value(t)) => {
                let c = t.cast_to(dtype).ok_or(Error::ConstantConversion {
                    name: name.clone(),
                    from: t.dtype(),
                    to: dtype,
                })?;
                let s = c.slice(off, vshape).ok_or_else(|| Error::ShapeMismatch {
                    name: name.clone(),
                    specified: shape.clone(),
                    found: Shape::new(t.shape()),
                })?;
                (Some(InitArg::Value(s)), None)
            }
        };
        let si = SliceInfo {
            full_name: name.clone(),
            full_shape: full.clone(),
            var_offset: off.clone(),
            var_shape: vshape.clone(),
        };
        let sa = GetterArgs {
            name: shard_name.clone(),
            shape: init_shape,
            dtype,
            initializer: init,
            partitioner: None,
            ..a.clone()
        };
        let v = get_single(h, sa, Some(info), Some(si), None)?;
        shards.push(v);
    }
    let pv = PartitionedVariable(Arc::new(PartitionedData { name: name.clone(), shape, dtype, shards, partitions }));
    if matches!(h.target(), Target::Graph) {
        h.store_partitioned(&name, &pv);
    }
    Ok(pv)
}

/// Rejects initializers that cannot fill this shape/dtype, as TensorFlow does when it
/// builds the initializer op.
fn validate_kernel(name: &str, kernel: &InitKernel, dims: &[u64], dtype: DType) -> Result<()> {
    let n: u64 = dims.iter().product();
    let err = |m: String| Err(Error::InitializerShape { name: name.to_string(), message: m });
    match kernel {
        InitKernel::Values(v) if v.len() as u64 > n => {
            Err(Error::TooManyElements { name: name.to_string(), max: n, got: v.len() as u64 })
        }
        InitKernel::Identity { .. } if dims.len() != 2 => {
            err("Identity matrix initializer can only be used for 2D matrices.".into())
        }
        InitKernel::Orthogonal { .. } if dims.len() < 2 => {
            err("The tensor to initialize must be at least two-dimensional".into())
        }
        InitKernel::Normal { .. } | InitKernel::TruncatedNormal { .. } | InitKernel::Orthogonal { .. }
            if !dtype.is_floating() =>
        {
            err(format!("Expected floating point type, got {}.", dtype.name()))
        }
        InitKernel::Uniform { .. } if !(dtype.is_floating() || dtype.has_uniform_int()) => {
            err(format!("Invalid dtype {}", dtype.name()))
        }
        _ => Ok(()),
    }
}
