//! The graph: the shared variable store, the case-insensitive names table, collections,
//! the graph seed, and each thread's scope stack over them (catalogue section 0, K).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::ThreadId;

use crate::names::{validate_scope_name, regex_prefix_match, NameTable, NameUndo};
use crate::partition::{call_partitioner, iter_slices, slice_dim_and_num_slices, PartitionInfo, SliceInfo};
use crate::scope::{
    CustomGetter, InitArg, NameScopeGuard, Reuse, ScopeFields, ScopeName, ShapeArg, VariableScope, VariableScopeBuilder,
};
use crate::variable::{next_id, PartitionedData, VariableData};
use crate::{
    Aggregation, CachingDevice, ConstantKind, Constraint, DType, Error, HostTensor, InitKernel, InitialValue, Initializer,
    PartitionedVariable, Partitioner, Regularizer, Result, SeedInfo, Shape, Synchronization, Tensor, VarRef, Variable,
};

/// Standard collection keys (`tf.GraphKeys`).
pub struct GraphKeys;

impl GraphKeys {
    /// `tf.GraphKeys.GLOBAL_VARIABLES`.
    pub const GLOBAL_VARIABLES: &'static str = "variables";
    /// `tf.GraphKeys.TRAINABLE_VARIABLES`.
    pub const TRAINABLE_VARIABLES: &'static str = "trainable_variables";
    /// `tf.GraphKeys.LOCAL_VARIABLES`.
    pub const LOCAL_VARIABLES: &'static str = "local_variables";
    /// `tf.GraphKeys.MODEL_VARIABLES`.
    pub const MODEL_VARIABLES: &'static str = "model_variables";
    /// `tf.GraphKeys.REGULARIZATION_LOSSES`.
    pub const REGULARIZATION_LOSSES: &'static str = "regularization_losses";
}

/// A regularization loss recorded at variable creation (catalogue F): its tf name
/// (`s/b/Regularizer/mul:0`), the variable and the regularizer. The session computes
/// its value on the variable's device.
#[derive(Clone, Debug, PartialEq)]
pub struct RegularizationLoss {
    /// tf name of the loss tensor.
    pub name: String,
    /// The regularized variable.
    pub variable: Variable,
    /// The regularizer.
    pub regularizer: Regularizer,
}

/// An item of a collection.
#[derive(Clone, Debug, PartialEq)]
pub enum CollectionItem {
    /// A variable.
    Variable(Variable),
    /// A regularization loss.
    Loss(RegularizationLoss),
    /// Any other named value.
    Tensor(Tensor),
}

impl CollectionItem {
    /// The item's tf name.
    pub fn name(&self) -> String {
        match self {
            CollectionItem::Variable(v) => v.name(),
            CollectionItem::Loss(l) => l.name.clone(),
            CollectionItem::Tensor(t) => t.name.clone(),
        }
    }
    /// The variable, if the item is one.
    pub fn variable(&self) -> Option<&Variable> {
        match self {
            CollectionItem::Variable(v) => Some(v),
            _ => None,
        }
    }
}

/// A value passed as `values=` to `variable_scope`: only its name and graph matter.
#[derive(Clone, Debug, PartialEq)]
pub struct ValueRef {
    /// tf name.
    pub name: String,
    /// Owning graph id.
    pub graph_id: u64,
}

impl From<&Tensor> for ValueRef {
    fn from(t: &Tensor) -> Self {
        ValueRef { name: t.name.clone(), graph_id: t.graph_id }
    }
}
impl From<&Variable> for ValueRef {
    fn from(v: &Variable) -> Self {
        ValueRef { name: v.name(), graph_id: v.graph_id() }
    }
}

/// The `collections` argument: a list, or (an error, I8) a bare string.
#[derive(Clone, Debug, PartialEq)]
pub enum CollectionsArg {
    /// A list, tuple or set of keys.
    List(Vec<String>),
    /// A string given where a list belongs.
    Str(String),
}

impl<const N: usize> From<[&str; N]> for CollectionsArg {
    fn from(v: [&str; N]) -> Self {
        CollectionsArg::List(v.iter().map(|s| s.to_string()).collect())
    }
}
impl From<Vec<String>> for CollectionsArg {
    fn from(v: Vec<String>) -> Self {
        CollectionsArg::List(v)
    }
}
impl From<Vec<&str>> for CollectionsArg {
    fn from(v: Vec<&str>) -> Self {
        CollectionsArg::List(v.into_iter().map(String::from).collect())
    }
}
impl From<&str> for CollectionsArg {
    fn from(s: &str) -> Self {
        CollectionsArg::Str(s.to_string())
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
    /// The scope's reuse.
    pub reuse: Reuse,
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
}

/// The `getter` a custom getter receives: calling it runs the next-outer getter, and
/// finally the store's true getter.
pub struct Getter<'a> {
    graph: &'a Graph,
    rest: &'a [crate::scope::GetterFn],
}

impl Getter<'_> {
    /// Calls the next getter with (possibly changed) arguments.
    pub fn call(&self, args: GetterArgs) -> Result<VarRef> {
        match self.rest.split_first() {
            None => self.graph.true_getter(args),
            Some((first, rest)) => first(&Getter { graph: self.graph, rest }, args),
        }
    }

    /// The graph.
    pub fn graph(&self) -> &Graph {
        self.graph
    }
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
    hidden: Hidden,
}

#[derive(Clone, Debug)]
struct Hidden {
    key: Option<String>,
    scope_stack: bool,
    slice: Option<SliceInfo>,
    partition_info: Option<PartitionInfo>,
    seed: SeedInfo,
    regularizer: Option<Regularizer>,
}

/// A variable creator (`variable_creator_scope`): `creator(next, args)`.
pub type CreatorFn = Arc<dyn Fn(&Creator<'_>, CreatorArgs) -> Result<Variable> + Send + Sync>;

/// The `next_creator` a creator receives.
pub struct Creator<'a> {
    graph: &'a Graph,
    rest: &'a [CreatorFn],
}

impl Creator<'_> {
    /// Calls the next creator (finally the default one).
    pub fn call(&self, args: CreatorArgs) -> Result<Variable> {
        match self.rest.split_last() {
            None => self.graph.default_creator(args),
            Some((last, rest)) => last(&Creator { graph: self.graph, rest }, args),
        }
    }
}

#[derive(Default)]
pub(crate) struct Store {
    pub vars: HashMap<String, Variable>,
    pub partitioned: HashMap<String, PartitionedVariable>,
    /// Names `n` such that `n/part_0` is in `vars`, so the "partitioned version found"
    /// check needs no allocation on the lookup path.
    pub part0_owners: std::collections::HashSet<String>,
}

impl Store {
    fn insert_var(&mut self, key: &str, v: Variable) {
        if let Some(owner) = key.strip_suffix("/part_0") {
            self.part0_owners.insert(owner.to_string());
        }
        self.vars.insert(key.to_string(), v);
    }

    fn remove_var(&mut self, key: &str) {
        if let Some(owner) = key.strip_suffix("/part_0") {
            self.part0_owners.remove(owner);
        }
        self.vars.remove(key);
    }
}

#[derive(Default)]
pub(crate) struct GraphState {
    pub store: Store,
    pub var_order: Vec<String>,
    pub collections: HashMap<String, Vec<CollectionItem>>,
    pub all_vars: Vec<Variable>,
}

/// Undo log of one store transaction.
#[derive(Default)]
struct Txn {
    names: Vec<NameUndo>,
    vars: Vec<String>,
    parts: Vec<String>,
    colls: Vec<(String, usize)>,
    all_len: Option<usize>,
}

struct CreationLock {
    owner: Mutex<(Option<ThreadId>, usize)>,
    cv: Condvar,
}

impl CreationLock {
    fn lock(&self) -> CreationGuard<'_> {
        let me = std::thread::current().id();
        let mut g = self.owner.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            match g.0 {
                None => {
                    *g = (Some(me), 1);
                    break;
                }
                Some(t) if t == me => {
                    g.1 += 1;
                    break;
                }
                _ => g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner()),
            }
        }
        CreationGuard { lock: self }
    }
}

struct CreationGuard<'a> {
    lock: &'a CreationLock,
}

impl Drop for CreationGuard<'_> {
    fn drop(&mut self) {
        let mut g = self.lock.owner.lock().unwrap_or_else(|e| e.into_inner());
        g.1 -= 1;
        if g.1 == 0 {
            g.0 = None;
            self.lock.cv.notify_one();
        }
    }
}

pub(crate) struct GraphInner {
    id: u64,
    eager: bool,
    seed: Mutex<Option<u64>>,
    state: RwLock<GraphState>,
    names: Mutex<NameTable>,
    creation: CreationLock,
}

/// Per graph and per thread: the current scope, default-name counters, name stack,
/// creator stack.
pub(crate) struct ThreadState {
    pub current: VariableScope,
    pub counts: HashMap<String, u64>,
    pub name_stack: String,
    pub creators: Vec<CreatorFn>,
    pub eager_stores: Vec<EagerVariableStore>,
}

thread_local! {
    static THREADS: RefCell<HashMap<u64, ThreadState>> = RefCell::new(HashMap::new());
}

/// A graph: the per-graph state shared by every thread (variable store, names table,
/// collections, seed). Cheap to clone (clones share state); `Send + Sync`. Each thread
/// has its own scope stack over it, starting at the root (K1-K3).
#[derive(Clone)]
pub struct Graph {
    inner: Arc<GraphInner>,
}

impl fmt::Debug for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Graph(id={})", self.inner.id)
    }
}

impl Default for Graph {
    fn default() -> Self {
        Graph::new()
    }
}

impl Graph {
    /// A new, empty graph (graph mode).
    pub fn new() -> Self {
        Self::make(false)
    }

    /// A graph in eager mode: `get_variable` creates a new variable on every call unless an
    /// [`EagerVariableStore`] or a template is active (the seed's eager note).
    pub fn new_eager() -> Self {
        Self::make(true)
    }

    fn make(eager: bool) -> Self {
        Graph {
            inner: Arc::new(GraphInner {
                id: next_id(),
                eager,
                seed: Mutex::new(None),
                state: RwLock::new(GraphState::default()),
                names: Mutex::new(NameTable::default()),
                creation: CreationLock { owner: Mutex::new((None, 0)), cv: Condvar::new() },
            }),
        }
    }

    /// A unique id of this graph.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// Whether the graph runs eagerly.
    pub fn is_eager(&self) -> bool {
        self.inner.eager
    }

    /// The graph seed (`tf.compat.v1.set_random_seed`), if set.
    pub fn seed(&self) -> Option<u64> {
        *self.inner.seed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the graph seed. Affects variables created afterwards.
    pub fn set_seed(&self, seed: u64) {
        *self.inner.seed.lock().unwrap_or_else(|e| e.into_inner()) = Some(seed);
    }

    pub(crate) fn with_thread<R>(&self, f: impl FnOnce(&mut ThreadState) -> R) -> R {
        THREADS.with(|t| {
            let mut map = t.borrow_mut();
            let ts = map.entry(self.inner.id).or_insert_with(|| ThreadState {
                current: VariableScope::from_fields(self.inner.id, ScopeFields::root()),
                counts: HashMap::new(),
                name_stack: String::new(),
                creators: Vec::new(),
                eager_stores: Vec::new(),
            });
            f(ts)
        })
    }

    fn state(&self) -> std::sync::RwLockReadGuard<'_, GraphState> {
        self.inner.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn state_mut(&self) -> std::sync::RwLockWriteGuard<'_, GraphState> {
        self.inner.state.write().unwrap_or_else(|e| e.into_inner())
    }

    fn names(&self) -> std::sync::MutexGuard<'_, NameTable> {
        self.inner.names.lock().unwrap_or_else(|e| e.into_inner())
    }

    // ----- name scopes and ops -------------------------------------------------------

    /// The current name scope (`get_name_scope()`): `"foo/bar"`, `""` at the root.
    pub fn current_name_scope(&self) -> String {
        self.with_thread(|ts| ts.name_stack.clone())
    }

    /// Whether a name is in use in the graph's case-insensitive names table.
    pub fn name_in_use(&self, name: &str) -> bool {
        self.names().is_used(name)
    }

    /// `Graph.unique_name(name)`: the name under the current name stack, made unique,
    /// and marked used.
    pub fn unique_name(&self, name: &str) -> String {
        let stack = self.current_name_scope();
        let full = if stack.is_empty() { name.to_string() } else { format!("{stack}/{name}") };
        let mut undo = Vec::new();
        self.names().unique_name(&full, &mut undo)
    }

    /// `name_scope(name)` with v1 semantics (0.2, B20): `None` or `""` resets to the root;
    /// a name ending in `/` re-enters absolutely; otherwise a unique name is opened.
    pub fn name_scope(&self, name: Option<&str>) -> Result<NameScopeGuard<'_>> {
        let old_stack = self.current_name_scope();
        let (new_stack, returned) = match name {
            None | Some("") => (String::new(), String::new()),
            Some(n) => {
                validate_scope_name(n, old_stack.is_empty())?;
                if let Some(stripped) = n.strip_suffix('/') {
                    (stripped.to_string(), n.to_string())
                } else {
                    let full = if old_stack.is_empty() { n.to_string() } else { format!("{old_stack}/{n}") };
                    let mut undo = Vec::new();
                    let u = self.names().unique_name(&full, &mut undo);
                    let r = format!("{u}/");
                    (u, r)
                }
            }
        };
        self.with_thread(|ts| ts.name_stack = new_stack);
        Ok(NameScopeGuard { graph: self, old_stack, returned, exited: false, _not_send: PhantomData })
    }

    /// Runs `f` inside `name_scope(name)`; `f` receives the scope string.
    pub fn with_name_scope<R>(&self, name: Option<&str>, f: impl FnOnce(&str) -> R) -> Result<R> {
        let g = self.name_scope(name)?;
        let s = g.scope_name().to_string();
        let r = f(&s);
        g.exit();
        Ok(r)
    }

    /// Creates a named op (a constant, say) in the current name scope: `foo_1/c:0`.
    pub fn constant(&self, name: &str) -> Tensor {
        let n = self.unique_name(name);
        Tensor { name: format!("{n}:0"), graph_id: self.id() }
    }

    /// Same as [`Graph::constant`]: any op that is not a variable.
    pub fn op(&self, name: &str) -> Tensor {
        self.constant(name)
    }

    // ----- variable scopes -----------------------------------------------------------

    /// `variable_scope(name_or_scope, ...)`: a string, a captured [`VariableScope`], or
    /// `None` (then set [`VariableScopeBuilder::default_name`]).
    pub fn variable_scope(&self, name_or_scope: impl Into<ScopeName>) -> VariableScopeBuilder<'_> {
        VariableScopeBuilder::new(self, name_or_scope.into())
    }

    /// `variable_scope(None, default_name=name)`.
    pub fn variable_scope_default(&self, default_name: &str) -> VariableScopeBuilder<'_> {
        VariableScopeBuilder::new(self, ScopeName::None).default_name(default_name)
    }

    /// `get_variable_scope()`: this thread's current scope object.
    pub fn get_variable_scope(&self) -> VariableScope {
        self.with_thread(|ts| ts.current.clone())
    }

    /// This thread's default-name counter for a full scope name (for inspection).
    pub fn variable_scope_count(&self, full_name: &str) -> u64 {
        self.with_thread(|ts| ts.counts.get(full_name).copied().unwrap_or(0))
    }

    // ----- variables -----------------------------------------------------------------

    /// `get_variable(name, ...)`: set arguments on the builder, then call
    /// [`GetVariable::get`].
    pub fn get_variable(&self, name: &str) -> GetVariable<'_> {
        GetVariable { graph: self, name: name.to_string(), args: GetArgs::default(), local: false }
    }

    /// `get_local_variable(name, ...)`: `trainable=False` forced and `local_variables`
    /// appended to the collections (I5).
    pub fn get_local_variable(&self, name: &str) -> GetVariable<'_> {
        GetVariable { graph: self, name: name.to_string(), args: GetArgs::default(), local: true }
    }

    /// `tf.Variable(initial_value, name=...)`: named by the **name scope**, uniquified,
    /// invisible to the store (A8, A10). `name` defaults to `Variable`.
    pub fn variable(&self, initial_value: impl Into<InitArg>, shape: Option<&[u64]>, name: Option<&str>) -> Result<Variable> {
        self.variable_with(initial_value.into(), shape, name, true, None)
    }

    /// [`Graph::variable`] with `trainable` and `collections`.
    pub fn variable_with(
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
            },
        };
        let _c = self.inner.creation.lock();
        self.run_creators(args)
    }

    fn run_creators(&self, args: CreatorArgs) -> Result<Variable> {
        let creators = self.with_thread(|ts| ts.creators.clone());
        Creator { graph: self, rest: &creators }.call(args)
    }

    /// `variable_creator_scope(creator)`: creators run when a variable is actually
    /// created (not on reuse); the innermost runs first (M1).
    pub fn variable_creator_scope<R>(
        &self,
        creator: impl Fn(&Creator<'_>, CreatorArgs) -> Result<Variable> + Send + Sync + 'static,
        f: impl FnOnce() -> R,
    ) -> R {
        let creator: CreatorFn = Arc::new(creator);
        let depth = self.with_thread(|ts| {
            ts.creators.push(creator);
            ts.creators.len()
        });
        let r = f();
        self.with_thread(|ts| ts.creators.truncate(depth - 1));
        r
    }

    /// The default creator: names the variable by the name scope, adds it to its
    /// collections, and records it.
    fn default_creator(&self, a: CreatorArgs) -> Result<Variable> {
        let collections = match &a.collections {
            None => vec![GraphKeys::GLOBAL_VARIABLES.to_string()],
            Some(CollectionsArg::List(l)) => l.clone(),
            Some(CollectionsArg::Str(s)) => return Err(Error::CollectionsNotAList { value: s.clone() }),
        };
        let mut collections = collections;
        if a.trainable && !collections.iter().any(|c| c == GraphKeys::TRAINABLE_VARIABLES) {
            collections.push(GraphKeys::TRAINABLE_VARIABLES.to_string());
        }
        // name_scope(name, "Variable"): at the root for store variables, in the current
        // name stack for tf.Variable.
        let stack = if a.hidden.scope_stack { self.current_name_scope() } else { String::new() };
        let op_name = if a.name.is_empty() {
            String::new()
        } else {
            validate_scope_name(&a.name, stack.is_empty())?;
            if let Some(stripped) = a.name.strip_suffix('/') {
                stripped.to_string()
            } else {
                let full = if stack.is_empty() { a.name.clone() } else { format!("{stack}/{}", a.name) };
                let mut undo = Vec::new();
                let u = self.names().unique_name(&full, &mut undo);
                self.journal_names(undo);
                u
            }
        };
        // Ops the variable creates live under its name (A14).
        {
            let mut undo = Vec::new();
            let mut names = self.names();
            let sub: &[&str] = match &a.initial_value {
                InitialValue::Constant(_) => &["Initializer", "Initializer/Const"],
                _ => &["Initializer"],
            };
            for s in sub.iter().chain(["IsInitialized", "IsInitialized/VarIsInitializedOp", "Assign", "Read", "Read/ReadVariableOp"].iter()) {
                let full = if op_name.is_empty() { s.to_string() } else { format!("{op_name}/{s}") };
                names.unique_name(&full, &mut undo);
            }
            drop(names);
            self.journal_names(undo);
        }
        let in_store = a.hidden.key.is_some();
        let key = a.hidden.key.clone().unwrap_or_else(|| op_name.clone());
        let mut seed = a.hidden.seed.clone();
        if !in_store {
            seed.hash_name = op_name.clone();
        }
        let mut dedup: Vec<String> = Vec::new();
        for c in &collections {
            if !dedup.contains(c) {
                dedup.push(c.clone());
            }
        }
        let v = Variable(Arc::new(VariableData {
            id: next_id(),
            graph_id: self.id(),
            key,
            op_name,
            shape: a.shape,
            dtype: a.dtype,
            initial: a.initial_value,
            trainable: a.trainable,
            collections: dedup.clone(),
            caching_device: a.caching_device,
            constraint: a.constraint,
            regularizer: a.hidden.regularizer,
            use_resource: Some(a.use_resource),
            synchronization: a.synchronization,
            aggregation: a.aggregation,
            validate_shape: a.validate_shape,
            slice: a.hidden.slice,
            late_slice: std::sync::OnceLock::new(),
            partition_info: a.hidden.partition_info,
            seed,
            in_store,
        }));
        let mut st = self.state_mut();
        for c in &dedup {
            let list = st.collections.entry(c.clone()).or_default();
            self.journal_coll(c, list.len());
            list.push(CollectionItem::Variable(v.clone()));
        }
        self.journal_all(st.all_vars.len());
        st.all_vars.push(v.clone());
        Ok(v)
    }

    // ----- the transaction journal (only touched under the creation lock) ------------

    fn journal_names(&self, undo: Vec<NameUndo>) {
        TXN.with(|t| {
            if let Some(t) = t.borrow_mut().last_mut() {
                t.names.extend(undo);
            }
        });
    }
    fn journal_coll(&self, key: &str, len: usize) {
        TXN.with(|t| {
            if let Some(t) = t.borrow_mut().last_mut() {
                t.colls.push((key.to_string(), len));
            }
        });
    }
    fn journal_all(&self, len: usize) {
        TXN.with(|t| {
            if let Some(t) = t.borrow_mut().last_mut() {
                if t.all_len.is_none() {
                    t.all_len = Some(len);
                }
            }
        });
    }
    fn journal_var(&self, key: &str, partitioned: bool) {
        TXN.with(|t| {
            if let Some(t) = t.borrow_mut().last_mut() {
                if partitioned {
                    t.parts.push(key.to_string());
                } else {
                    t.vars.push(key.to_string());
                }
            }
        });
    }

    /// Runs `f` as one transaction: on error every store, names-table and collection
    /// change it made is undone (runtime.md section 9).
    fn transaction<R>(&self, f: impl FnOnce() -> Result<R>) -> Result<R> {
        let _c = self.inner.creation.lock();
        TXN.with(|t| t.borrow_mut().push(Txn::default()));
        let r = f();
        let txn = TXN.with(|t| t.borrow_mut().pop()).unwrap_or_default();
        match r {
            Ok(v) => {
                // Merge into an enclosing transaction so an outer failure undoes it too.
                TXN.with(|t| {
                    if let Some(outer) = t.borrow_mut().last_mut() {
                        outer.names.extend(txn.names);
                        outer.vars.extend(txn.vars);
                        outer.parts.extend(txn.parts);
                        outer.colls.extend(txn.colls);
                        if outer.all_len.is_none() {
                            outer.all_len = txn.all_len;
                        }
                    }
                });
                Ok(v)
            }
            Err(e) => {
                self.names().undo(txn.names);
                let mut st = self.state_mut();
                for k in txn.vars.iter().rev() {
                    st.store.remove_var(k);
                    if st.var_order.last() == Some(k) {
                        st.var_order.pop();
                    } else {
                        st.var_order.retain(|x| x != k);
                    }
                }
                for k in txn.parts.iter().rev() {
                    st.store.partitioned.remove(k);
                }
                for (c, len) in txn.colls.iter().rev() {
                    if let Some(l) = st.collections.get_mut(c) {
                        l.truncate(*len);
                    }
                }
                if let Some(n) = txn.all_len {
                    st.all_vars.truncate(n);
                }
                Err(e)
            }
        }
    }

    // ----- the store -----------------------------------------------------------------

    /// `_true_getter`: partitioned, partitioned-reuse, or single variable.
    pub(crate) fn true_getter(&self, a: GetterArgs) -> Result<VarRef> {
        let is_scalar = a.shape.as_ref().is_some_and(ShapeArg::is_scalar_seq);
        if a.partitioner.is_some() && !is_scalar {
            return self.transaction(|| self.get_partitioned(a)).map(VarRef::Partitioned);
        }
        // One read of the store answers the partitioned-reuse and "partitioned version
        // found" checks and (in graph mode) looks the variable up for the reuse fast path.
        let (reuse_partitioned, has_part0, found) = {
            let st = self.state();
            (
                a.reuse == Reuse::True && a.partitioner.is_none() && st.store.partitioned.contains_key(&a.name),
                st.store.part0_owners.contains(&a.name),
                if self.inner.eager { None } else { st.store.vars.get(&a.name).cloned() },
            )
        };
        if reuse_partitioned {
            return self.transaction(|| self.get_partitioned(a)).map(VarRef::Partitioned);
        }
        if has_part0 {
            return Err(Error::PartitionedExists { name: a.name });
        }
        let prefetched = if self.inner.eager { None } else { Some(found) };
        self.get_single_with(a, None, None, prefetched).map(VarRef::Variable)
    }

    fn store_get(&self, key: &str) -> Option<Variable> {
        if let Some(es) = self.active_eager_store() {
            return es.vars.read().unwrap_or_else(|e| e.into_inner()).get(key).cloned();
        }
        self.state().store.vars.get(key).cloned()
    }

    fn active_eager_store(&self) -> Option<EagerVariableStore> {
        if !self.inner.eager {
            return None;
        }
        self.with_thread(|ts| ts.eager_stores.last().cloned())
    }

    fn check_existing(&self, name: &str, shape: &Shape, dtype: DType, reuse: Reuse, found: &Variable) -> Result<()> {
        if reuse == Reuse::False {
            return Err(Error::AlreadyExists { name: name.to_string() });
        }
        if !shape.is_compatible_with(found.shape()) {
            return Err(Error::ShapeMismatch { name: name.to_string(), specified: shape.clone(), found: found.shape().clone() });
        }
        if dtype != found.dtype() {
            return Err(Error::DTypeMismatch { name: name.to_string(), specified: dtype, found: found.dtype() });
        }
        Ok(())
    }

    /// `_get_single_variable`.
    fn get_single(&self, a: GetterArgs, partition_info: Option<PartitionInfo>, slice: Option<(SliceInfo, String)>) -> Result<Variable> {
        self.get_single_with(a, partition_info, slice, None)
    }

    /// `_get_single_variable`, with the store lookup already done when `prefetched` is
    /// `Some` (graph mode).
    fn get_single_with(
        &self,
        a: GetterArgs,
        partition_info: Option<PartitionInfo>,
        slice: Option<(SliceInfo, String)>,
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
        let eager_tmp = self.inner.eager && self.active_eager_store().is_none();
        // Fast path: an existing variable needs no lock beyond the store's read lock.
        if !eager_tmp {
            let found = match prefetched {
                Some(f) => f,
                None => self.store_get(&a.name),
            };
            if let Some(found) = found {
                self.check_existing(&a.name, &shape, a.dtype, a.reuse, &found)?;
                return Ok(found);
            }
        }
        self.transaction(|| {
            if !eager_tmp {
                if let Some(found) = self.store_get(&a.name) {
                    self.check_existing(&a.name, &shape, a.dtype, a.reuse, &found)?;
                    return Ok(found);
                }
                if a.reuse == Reuse::True {
                    return Err(Error::DoesNotExist { name: a.name.clone() });
                }
            }
            self.create_single(a, shape, partition_info, slice, eager_tmp)
        })
    }

    fn create_single(
        &self,
        a: GetterArgs,
        shape: Shape,
        partition_info: Option<PartitionInfo>,
        slice: Option<(SliceInfo, String)>,
        eager_tmp: bool,
    ) -> Result<Variable> {
        let name = a.name.clone();
        let init = match a.initializer.clone() {
            Some(i) => i,
            None => {
                if a.shape.is_none() {
                    return Err(Error::NoInitializerNoShape { name });
                }
                if !a.dtype.has_default_initializer() {
                    return Err(Error::InitializerRequired { name, dtype: a.dtype });
                }
                if a.dtype.is_floating() {
                    InitArg::Init(Initializer::glorot_uniform())
                } else {
                    InitArg::Init(Initializer::zeros())
                }
            }
        };
        let (initial, dtype, vshape) = match init {
            InitArg::Value(t) => {
                let t = if t.dtype() != a.dtype && slice.is_some() && t.kind() == ConstantKind::Python {
                    t.cast_to(a.dtype).ok_or(Error::ConstantConversion { name: name.clone(), from: t.dtype(), to: a.dtype })?
                } else {
                    t
                };
                let s = t.static_shape().clone();
                if a.validate_shape && !s.is_fully_defined() && s.rank().is_some() {
                    // Resource variables accept a partially known shape (J2).
                }
                (InitialValue::Constant(t.clone()), t.dtype(), s)
            }
            InitArg::ValueFn(f) => {
                let t = f.call();
                if shape.is_fully_defined() && t.static_shape() != &shape {
                    return Err(Error::InvalidInitializer { name, shape });
                }
                let s = t.static_shape().clone();
                (InitialValue::Constant(t.clone()), t.dtype(), s)
            }
            InitArg::Init(i) => {
                let Some(dims) = shape.as_list() else {
                    return Err(Error::InvalidInitializer { name, shape });
                };
                let full = partition_info.as_ref().map(|p| p.full_shape().to_vec()).unwrap_or_else(|| dims.clone());
                let kernel = i.resolve(&full);
                validate_kernel(&name, &kernel, &dims, a.dtype)?;
                (InitialValue::Initializer { initializer: i, kernel }, a.dtype, shape.clone())
            }
        };
        let op_seed = match &initial {
            InitialValue::Initializer { initializer, .. } => initializer.seed(),
            _ => None,
        };
        let hash_name = slice.as_ref().map(|(s, _)| s.full_name.clone()).unwrap_or_else(|| name.clone());
        let creator_args = CreatorArgs {
            initial_value: initial,
            name: name.clone(),
            trainable: a.trainable,
            collections: a.collections.clone(),
            caching_device: a.caching_device.clone(),
            dtype,
            shape: vshape,
            constraint: a.constraint.clone(),
            use_resource: a.use_resource.unwrap_or(true),
            synchronization: a.synchronization,
            aggregation: a.aggregation,
            validate_shape: a.validate_shape,
            hidden: Hidden {
                key: Some(name.clone()),
                scope_stack: false,
                slice: slice.map(|(s, _)| s),
                partition_info,
                seed: SeedInfo { graph_seed: self.seed(), op_seed, hash_name },
                regularizer: a.regularizer.clone().filter(Regularizer::produces_loss),
            },
        };
        let v = self.run_creators(creator_args)?;
        if eager_tmp {
            return Ok(v);
        }
        if let Some(es) = self.active_eager_store() {
            es.vars.write().unwrap_or_else(|e| e.into_inner()).insert(name.clone(), v.clone());
            return Ok(v);
        }
        {
            let mut st = self.state_mut();
            st.store.insert_var(&name, v.clone());
            st.var_order.push(name.clone());
        }
        self.journal_var(&name, false);
        if let Some(r) = &a.regularizer {
            if r.produces_loss() {
                let mut undo = Vec::new();
                let mut names = self.names();
                // TF 2.21 calls the regularizer twice (F3); the first call's ops land at the root.
                names.unique_name(r.op_name(), &mut undo);
                let loss_op = names.unique_name(&format!("{name}/Regularizer/{}", r.op_name()), &mut undo);
                drop(names);
                self.journal_names(undo);
                let mut st = self.state_mut();
                let list = st.collections.entry(GraphKeys::REGULARIZATION_LOSSES.to_string()).or_default();
                let len = list.len();
                list.push(CollectionItem::Loss(RegularizationLoss {
                    name: format!("{loss_op}:0"),
                    variable: v.clone(),
                    regularizer: r.clone(),
                }));
                drop(st);
                self.journal_coll(GraphKeys::REGULARIZATION_LOSSES, len);
            }
        }
        Ok(v)
    }

    /// `_get_partitioned_variable`, validating every shard before creating any (G19 is
    /// raised before anything exists, unlike TensorFlow).
    fn get_partitioned(&self, a: GetterArgs) -> Result<PartitionedVariable> {
        let name = a.name.clone();
        let tensor_init = match &a.initializer {
            Some(InitArg::Value(t)) if t.kind() == ConstantKind::Tensor => Some(t.clone()),
            _ => None,
        };
        if self.state().store.vars.contains_key(&name) {
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
        let mut partitions = None;
        if a.reuse == Reuse::False || a.partitioner.is_some() {
            let p = a.partitioner.as_ref().expect("partitioner is set unless reusing");
            partitions = Some(call_partitioner(p, &shape, a.dtype)?);
        }
        let existing = self.state().store.partitioned.get(&name).cloned();
        if let Some(ex) = existing {
            if a.reuse == Reuse::False {
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
                    return Err(Error::PartitionsMismatch { name, specified: p.to_string(), found: ex.partitions().to_string() });
                }
            }
            return Ok(ex);
        }
        if a.reuse == Reuse::True {
            return Err(Error::PartitionedDoesNotExist { name });
        }
        // Only reached when not reusing, where the partitioner ran above.
        let Some(partitions) = partitions else { return Err(Error::PartitionedDoesNotExist { name }) };
        let values = partitions.values().unwrap_or(&[]).to_vec();
        let (slice_dim, num_slices) = slice_dim_and_num_slices(&values);
        {
            let st = self.state();
            if st.store.part0_owners.contains(&name) {
                if !st.store.vars.contains_key(&format!("{name}/part_{}", num_slices - 1)) {
                    return Err(Error::ShardMissing { name, num_shards: num_slices, missing: num_slices - 1 });
                }
                if st.store.vars.contains_key(&format!("{name}/part_{num_slices}")) {
                    return Err(Error::ShardExtra { name, num_shards: num_slices });
                }
            }
        }
        let full = shape.as_list().expect("fully defined after call_partitioner");
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
            {
                let mut undo = Vec::new();
                self.names().unique_name(&format!("{shard_name}/PartitionedInitializer"), &mut undo);
                self.journal_names(undo);
            }
            let (init, init_shape) = match &a.initializer {
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
                    let c = t.cast_to(dtype).ok_or(Error::ConstantConversion { name: name.clone(), from: t.dtype(), to: dtype })?;
                    let s = c.slice(off, vshape).ok_or_else(|| Error::ShapeMismatch {
                        name: name.clone(),
                        specified: shape.clone(),
                        found: Shape::new(t.shape()),
                    })?;
                    (Some(InitArg::Value(s)), None)
                }
            };
            let si = SliceInfo { full_name: name.clone(), full_shape: full.clone(), var_offset: off.clone(), var_shape: vshape.clone() };
            let sa = GetterArgs {
                name: shard_name.clone(),
                shape: init_shape,
                dtype,
                initializer: init,
                partitioner: None,
                ..a.clone()
            };
            let v = self.get_single(sa, Some(info), Some((si, name.clone())))?;
            shards.push(v);
        }
        let pv = PartitionedVariable(Arc::new(PartitionedData { name: name.clone(), shape, dtype, shards, partitions }));
        if !self.inner.eager {
            self.state_mut().store.partitioned.insert(name.clone(), pv.clone());
            self.journal_var(&name, true);
        }
        Ok(pv)
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
                return Err(Error::user(
                    "Private access to _get_partitioned_variable is not allowed when a custom getter is set.  It is likely that you're using create_partitioned_variables.  If so, consider instead using get_variable with a non-empty partitioner parameter instead.",
                ));
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
                partitioner: Some(Partitioner::custom("slicing", move |_, _| Ok(crate::Partitions::List(slicing.clone())))),
                validate_shape: true,
                use_resource: f.use_resource,
                constraint: None,
                synchronization: Synchronization::Auto,
                aggregation: Aggregation::None,
            };
            drop(f);
            let _root = self.name_scope(None)?;
            self.transaction(|| self.get_partitioned(args)).map(|p| p.shards().to_vec())
        })?
    }

    // ----- collections ---------------------------------------------------------------

    /// `get_collection(key)`: the items, in insertion order.
    pub fn get_collection(&self, key: &str) -> Vec<CollectionItem> {
        self.state().collections.get(key).cloned().unwrap_or_default()
    }

    /// `get_collection(key, scope)`: items whose name matches `scope` as a prefix regex.
    pub fn get_collection_scoped(&self, key: &str, scope: &str) -> Vec<CollectionItem> {
        self.get_collection(key).into_iter().filter(|i| regex_prefix_match(scope, &i.name())).collect()
    }

    /// `add_to_collection(key, item)`.
    pub fn add_to_collection(&self, key: &str, item: CollectionItem) {
        self.state_mut().collections.entry(key.to_string()).or_default().push(item);
    }

    /// Every collection key in use.
    pub fn collection_keys(&self) -> Vec<String> {
        let mut k: Vec<String> = self.state().collections.keys().cloned().collect();
        k.sort();
        k
    }

    fn vars_in(&self, key: &str) -> Vec<Variable> {
        self.get_collection(key).into_iter().filter_map(|i| i.variable().cloned()).collect()
    }

    /// `global_variables()`.
    pub fn global_variables(&self) -> Vec<Variable> {
        self.vars_in(GraphKeys::GLOBAL_VARIABLES)
    }
    /// `trainable_variables()`.
    pub fn trainable_variables(&self) -> Vec<Variable> {
        self.vars_in(GraphKeys::TRAINABLE_VARIABLES)
    }
    /// `local_variables()`.
    pub fn local_variables(&self) -> Vec<Variable> {
        self.vars_in(GraphKeys::LOCAL_VARIABLES)
    }
    /// `model_variables()`.
    pub fn model_variables(&self) -> Vec<Variable> {
        self.vars_in(GraphKeys::MODEL_VARIABLES)
    }
    /// The regularization losses, in creation order.
    pub fn regularization_losses(&self) -> Vec<RegularizationLoss> {
        self.get_collection(GraphKeys::REGULARIZATION_LOSSES)
            .into_iter()
            .filter_map(|i| match i {
                CollectionItem::Loss(l) => Some(l),
                _ => None,
            })
            .collect()
    }
    /// Every variable the graph made (store or not), in creation order.
    pub fn all_variables(&self) -> Vec<Variable> {
        self.state().all_vars.clone()
    }
    /// The store's variables by key, in creation order.
    pub fn store_variables(&self) -> Vec<(String, Variable)> {
        let st = self.state();
        st.var_order.iter().filter_map(|k| st.store.vars.get(k).map(|v| (k.clone(), v.clone()))).collect()
    }
    /// A store variable by key.
    pub fn store_variable(&self, key: &str) -> Option<Variable> {
        self.state().store.vars.get(key).cloned()
    }
    /// A partitioned variable by key.
    pub fn partitioned_variable(&self, key: &str) -> Option<PartitionedVariable> {
        self.state().store.partitioned.get(key).cloned()
    }
    /// Every partitioned variable.
    pub fn partitioned_variables(&self) -> Vec<PartitionedVariable> {
        self.state().store.partitioned.values().cloned().collect()
    }

    // ----- eager -----------------------------------------------------------------------

    /// Activates an eager variable store for `f` (eager graphs): inside, `get_variable`
    /// gets or creates (AUTO_REUSE) in that store.
    pub fn with_eager_store<R>(&self, store: &EagerVariableStore, f: impl FnOnce() -> R) -> R {
        let depth = self.with_thread(|ts| {
            ts.eager_stores.push(store.clone());
            ts.eager_stores.len()
        });
        let r = f();
        self.with_thread(|ts| ts.eager_stores.truncate(depth - 1));
        r
    }
}

thread_local! {
    static TXN: RefCell<Vec<Txn>> = const { RefCell::new(Vec::new()) };
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
        InitKernel::Uniform { .. } if !(dtype.is_floating() || dtype.is_integer()) => {
            err(format!("Invalid dtype {}", dtype.name()))
        }
        _ => Ok(()),
    }
}

/// An eager variable store (`EagerVariableStore`): variables made while it is active
/// are kept and reused by name.
#[derive(Clone, Default)]
pub struct EagerVariableStore {
    vars: Arc<RwLock<HashMap<String, Variable>>>,
}

impl EagerVariableStore {
    /// A new, empty store.
    pub fn new() -> Self {
        Self::default()
    }
    /// The variables it holds, by key.
    pub fn variables(&self) -> Vec<Variable> {
        self.vars.read().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }
}

#[derive(Default, Clone)]
struct GetArgs {
    shape: Option<ShapeArg>,
    dtype: Option<DType>,
    initializer: Option<InitArg>,
    regularizer: Option<Regularizer>,
    trainable: Option<bool>,
    collections: Option<CollectionsArg>,
    caching_device: Option<CachingDevice>,
    partitioner: Option<Partitioner>,
    validate_shape: Option<bool>,
    use_resource: Option<bool>,
    custom_getter: Option<CustomGetter>,
    constraint: Option<Constraint>,
    synchronization: Option<Synchronization>,
    aggregation: Option<Aggregation>,
}

/// A `get_variable(...)` call being built. Finish with [`GetVariable::get`].
pub struct GetVariable<'g> {
    graph: &'g Graph,
    name: String,
    args: GetArgs,
    local: bool,
}

impl GetVariable<'_> {
    /// `shape`: `[2, 3]`, `5u64` (means `[5]`), `Shape` (a TensorShape), `[None, 3]`.
    pub fn shape(mut self, s: impl Into<ShapeArg>) -> Self {
        self.args.shape = Some(s.into());
        self
    }
    /// `dtype`.
    pub fn dtype(mut self, d: DType) -> Self {
        self.args.dtype = Some(d);
        self
    }
    /// `initializer`: an [`Initializer`], a constant [`HostTensor`], or a [`crate::ValueFn`].
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
    /// `collections`.
    pub fn collections(mut self, c: impl Into<CollectionsArg>) -> Self {
        self.args.collections = Some(c.into());
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

    /// Resolves the arguments against the current scope (0.4) and gets or creates.
    pub fn get(self) -> Result<VarRef> {
        let g = self.graph;
        let mut args = self.args;
        if self.local {
            args.trainable = Some(false);
            args.collections = Some(match args.collections.take() {
                Some(CollectionsArg::List(mut l)) if !l.is_empty() => {
                    l.push(GraphKeys::LOCAL_VARIABLES.to_string());
                    CollectionsArg::List(l)
                }
                Some(CollectionsArg::Str(s)) => CollectionsArg::Str(s),
                _ => CollectionsArg::List(vec![GraphKeys::LOCAL_VARIABLES.to_string()]),
            });
        }
        let sc = g.get_variable_scope();
        let f = sc.read();
        let regularizer = args.regularizer.or_else(|| f.regularizer.clone());
        let caching_device = args.caching_device.or_else(|| f.caching_device.clone());
        let partitioner = args.partitioner.or_else(|| f.partitioner.clone());
        let custom_getter = args.custom_getter.or_else(|| f.custom_getter.clone());
        let (reuse, use_resource) = if g.is_eager() {
            (Reuse::False, Some(true))
        } else {
            (f.reuse, args.use_resource.or(f.use_resource))
        };
        let full_name = if f.name.is_empty() { self.name.clone() } else { format!("{}/{}", f.name, self.name) };
        if let (Some(dt), Some(InitArg::Value(t))) = (args.dtype, &args.initializer) {
            if t.dtype() != dt {
                return Err(Error::InitializerDTypeMismatch { name: full_name, init: t.dtype(), explicit: dt });
            }
        }
        let initializer = args.initializer.or_else(|| f.initializer.clone());
        let constraint = args.constraint.or_else(|| f.constraint.clone());
        let dtype = args.dtype.unwrap_or(f.dtype);
        drop(f);
        // The store.
        let mut reuse = reuse;
        if g.is_eager()
            && g.active_eager_store().is_some() {
                reuse = Reuse::AutoReuse;
            }
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
        };
        // Everything below runs at the root name scope (`name_scope(None)`), custom
        // getters included.
        let _root = g.name_scope(None)?;
        match custom_getter {
            Some(cg) => Getter { graph: g, rest: &cg.chain }.call(ga),
            None => g.true_getter(ga),
        }
    }

    /// [`get`](Self::get), expecting a single variable (errors otherwise are reported
    /// as the store would; a partitioned result yields its first shard's error-free
    /// handle only through [`VarRef`]).
    pub fn get_variable(self) -> Result<Variable> {
        let name = self.name.clone();
        match self.get()? {
            VarRef::Variable(v) => Ok(v),
            other => Err(Error::user(format!("get_variable({name}) returned {} instead of a single variable", other.name()))),
        }
    }
}

/// Convenience: `HostTensor` constants as initializers.
impl From<&HostTensor> for InitArg {
    fn from(t: &HostTensor) -> Self {
        InitArg::Value(t.clone())
    }
}
