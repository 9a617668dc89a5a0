//! Variable scopes: the scope object, its reuse lattice, and entering / exiting with
//! TensorFlow's exact name-scope and counter rules (catalogue 0.3, B, C, D, N).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, RwLock};

use crate::graph::{Graph, GetterArgs, Getter, ValueRef};
use crate::variable::VarRef;
use crate::{CachingDevice, Constraint, DType, Error, HostTensor, Initializer, Partitioner, Regularizer, Result, Shape};

/// The reuse mode of a scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Reuse {
    /// Create only; an existing variable is an error (`reuse=False`, the root's value).
    #[default]
    False,
    /// Reuse only; a missing variable is an error (`reuse=True`).
    True,
    /// Get or create (`tf.compat.v1.AUTO_REUSE`).
    AutoReuse,
}

impl Reuse {
    /// Python truthiness: `True` and `AUTO_REUSE` are truthy.
    pub fn is_truthy(self) -> bool {
        !matches!(self, Reuse::False)
    }

    /// Parses a reuse argument as TensorFlow's constructor checks it (C10): `"True"`,
    /// `"False"`, `"None"`, `"AUTO_REUSE"` (also `tf.AUTO_REUSE`,
    /// `tf.compat.v1.AUTO_REUSE`). `"False"` and `"None"` give `None` (inherit). Anything
    /// else (`"yes"`, `"1"`, `"0"`) is `The reuse parameter must be True or False or None.`
    pub fn parse_arg(value: &str) -> Result<Option<Reuse>> {
        match value {
            "True" => Ok(Some(Reuse::True)),
            "False" | "None" => Ok(None),
            "AUTO_REUSE" | "tf.AUTO_REUSE" | "tf.compat.v1.AUTO_REUSE" => Ok(Some(Reuse::AutoReuse)),
            other => Err(Error::InvalidReuse { value: other.to_string() }),
        }
    }
}

impl fmt::Display for Reuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reuse::False => "False",
            Reuse::True => "True",
            Reuse::AutoReuse => "_ReuseMode.AUTO_REUSE",
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

/// A custom getter: `getter(next, args)`. It may change the arguments, call `next` any
/// number of times, and return what it likes (H7).
pub type GetterFn = Arc<dyn Fn(&Getter<'_>, GetterArgs) -> Result<VarRef> + Send + Sync>;

/// A (possibly composed) custom getter. Nesting scopes wraps the new getter around the
/// parent's (H3); a `get_variable(custom_getter=...)` argument replaces it (H4).
#[derive(Clone)]
pub struct CustomGetter {
    pub(crate) chain: Arc<Vec<GetterFn>>,
}

impl CustomGetter {
    /// A getter from a closure.
    pub fn new(f: impl Fn(&Getter<'_>, GetterArgs) -> Result<VarRef> + Send + Sync + 'static) -> Self {
        CustomGetter { chain: Arc::new(vec![Arc::new(f)]) }
    }

    /// `_maybe_wrap_custom_getter(self, old)`: `self` runs first and its `next` is `old`.
    pub fn wrap(&self, old: Option<&CustomGetter>) -> CustomGetter {
        match old {
            None => self.clone(),
            Some(old) => {
                let mut chain: Vec<GetterFn> = self.chain.iter().cloned().collect();
                chain.extend(old.chain.iter().cloned());
                CustomGetter { chain: Arc::new(chain) }
            }
        }
    }
}

impl fmt::Debug for CustomGetter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CustomGetter(depth={})", self.chain.len())
    }
}

impl PartialEq for CustomGetter {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.chain, &other.chain)
    }
}

/// The mutable fields of a scope object.
#[derive(Clone, Debug)]
pub(crate) struct ScopeFields {
    pub name: String,
    pub name_scope: String,
    pub reuse: Reuse,
    pub initializer: Option<InitArg>,
    pub regularizer: Option<Regularizer>,
    pub caching_device: Option<CachingDevice>,
    pub partitioner: Option<Partitioner>,
    pub custom_getter: Option<CustomGetter>,
    pub dtype: DType,
    pub use_resource: Option<bool>,
    pub constraint: Option<Constraint>,
}

impl ScopeFields {
    pub(crate) fn root() -> Self {
        ScopeFields {
            name: String::new(),
            name_scope: String::new(),
            reuse: Reuse::False,
            initializer: None,
            regularizer: None,
            caching_device: None,
            partitioner: None,
            custom_getter: None,
            dtype: DType::Float32,
            use_resource: None,
            constraint: None,
        }
    }
}

pub(crate) struct ScopeObj {
    pub graph_id: u64,
    pub fields: RwLock<ScopeFields>,
}

/// A variable scope object (`VariableScope`): cheap to clone; clones are the same
/// object. Like TensorFlow's, it is mutable through `reuse_variables()` and the
/// `set_*` methods, which affect later `get_variable` calls in it and scopes opened
/// from it afterwards.
#[derive(Clone)]
pub struct VariableScope(pub(crate) Arc<ScopeObj>);

macro_rules! getter_setter {
    ($get:ident, $set:ident, $ty:ty, $doc:literal) => {
        #[doc = concat!("The scope's default ", $doc, ".")]
        pub fn $get(&self) -> Option<$ty> {
            self.read().$get.clone()
        }
        #[doc = concat!("Sets the scope's default ", $doc, " (`set_", stringify!($get), "`).")]
        pub fn $set(&self, value: impl Into<$ty>) {
            self.write().$get = Some(value.into());
        }
    };
}

impl VariableScope {
    pub(crate) fn from_fields(graph_id: u64, fields: ScopeFields) -> Self {
        VariableScope(Arc::new(ScopeObj { graph_id, fields: RwLock::new(fields) }))
    }

    pub(crate) fn read(&self) -> std::sync::RwLockReadGuard<'_, ScopeFields> {
        self.0.fields.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, ScopeFields> {
        self.0.fields.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn snapshot(&self) -> ScopeFields {
        self.read().clone()
    }

    /// The scope's name (`foo/bar`; `""` at the root).
    pub fn name(&self) -> String {
        self.read().name.clone()
    }
    /// The name scope opened when the scope was first entered (`foo/`).
    pub fn original_name_scope(&self) -> String {
        self.read().name_scope.clone()
    }
    /// The reuse mode.
    pub fn reuse(&self) -> Reuse {
        self.read().reuse
    }
    /// `reuse_variables()`: sets reuse to True on this object.
    pub fn reuse_variables(&self) {
        self.write().reuse = Reuse::True;
    }
    /// The default dtype (float32 unless set).
    pub fn dtype(&self) -> DType {
        self.read().dtype
    }
    /// `set_dtype`.
    pub fn set_dtype(&self, dtype: DType) {
        self.write().dtype = dtype;
    }
    /// `use_resource` (None: runtime default).
    pub fn use_resource(&self) -> Option<bool> {
        self.read().use_resource
    }
    /// `set_use_resource`.
    pub fn set_use_resource(&self, v: bool) {
        self.write().use_resource = Some(v);
    }
    getter_setter!(initializer, set_initializer, InitArg, "initializer");
    getter_setter!(regularizer, set_regularizer, Regularizer, "regularizer");
    getter_setter!(caching_device, set_caching_device, CachingDevice, "caching device");
    getter_setter!(partitioner, set_partitioner, Partitioner, "partitioner");
    getter_setter!(custom_getter, set_custom_getter, CustomGetter, "custom getter");
    getter_setter!(constraint, set_constraint, Constraint, "constraint");

    /// `scope.get_collection(key)`: the graph's collection filtered by this scope's name
    /// plus `/`, matched as a prefix regex (I7); everything at the root.
    pub fn get_collection(&self, graph: &Graph, key: &str) -> Vec<crate::CollectionItem> {
        let name = self.name();
        let pattern = if name.is_empty() { String::new() } else { format!("{name}/") };
        graph.get_collection_scoped(key, &pattern)
    }

    /// Id of the graph the scope belongs to.
    pub fn graph_id(&self) -> u64 {
        self.0.graph_id
    }

    pub(crate) fn set_partitioner_opt(&self, p: Option<Partitioner>) {
        self.write().partitioner = p;
    }

    /// Whether two handles are the same scope object.
    pub fn same(&self, other: &VariableScope) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for VariableScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.read();
        write!(f, "VariableScope(name={:?}, reuse={}, original_name_scope={:?})", s.name, s.reuse, s.name_scope)
    }
}

/// `name_or_scope` of `variable_scope`.
#[derive(Clone, Debug)]
pub enum ScopeName {
    /// A string.
    Str(String),
    /// A captured scope object.
    Scope(VariableScope),
    /// `None` (then `default_name` is required).
    None,
    /// A value of another type, by its `repr` (for N2's TypeError).
    Invalid(String),
}

impl From<&str> for ScopeName {
    fn from(s: &str) -> Self {
        ScopeName::Str(s.to_string())
    }
}
impl From<String> for ScopeName {
    fn from(s: String) -> Self {
        ScopeName::Str(s)
    }
}
impl From<&VariableScope> for ScopeName {
    fn from(s: &VariableScope) -> Self {
        ScopeName::Scope(s.clone())
    }
}
impl From<VariableScope> for ScopeName {
    fn from(s: VariableScope) -> Self {
        ScopeName::Scope(s)
    }
}
impl From<Option<&str>> for ScopeName {
    fn from(s: Option<&str>) -> Self {
        match s {
            Some(s) => ScopeName::Str(s.to_string()),
            None => ScopeName::None,
        }
    }
}

/// What a successful enter cached, so entering the same builder again behaves like
/// re-entering a Python `variable_scope` object (B27).
#[derive(Clone)]
struct Cached {
    /// `old_name_scope` of the pure scope (string and default-name cases).
    old_name_scope: Option<String>,
    /// Pure-scope name for default_name (the uniquified name).
    pure_name: Option<String>,
    /// The scope object built at first entry for object scopes.
    object_scope: Option<VariableScope>,
    /// Whether the first entry opened a name scope, and which name.
    name_scope_arg: Option<NameScopeArg>,
}

#[derive(Clone, Debug)]
enum NameScopeArg {
    /// Re-enter the then-current name scope (`aux=False`).
    Reenter(String),
    /// Open `name_scope(name)`.
    Open(String),
}

/// A `variable_scope(...)` call with its arguments. Enter it with [`run`](Self::run)
/// (a closure) or [`enter`](Self::enter) (a guard). Entering the same builder twice
/// re-enters it as TensorFlow re-enters a context-manager object (B27).
pub struct VariableScopeBuilder<'g> {
    graph: &'g Graph,
    name_or_scope: ScopeName,
    default_name: Option<String>,
    values: Vec<ValueRef>,
    initializer: Option<InitArg>,
    regularizer: Option<Regularizer>,
    caching_device: Option<CachingDevice>,
    partitioner: Option<Partitioner>,
    custom_getter: Option<CustomGetter>,
    reuse: Option<Reuse>,
    reuse_error: Option<Error>,
    dtype: Option<DType>,
    use_resource: Option<bool>,
    constraint: Option<Constraint>,
    auxiliary_name_scope: bool,
    aux_error: Option<Error>,
    pure: bool,
    cached: RefCell<Option<Cached>>,
}

impl<'g> VariableScopeBuilder<'g> {
    pub(crate) fn new(graph: &'g Graph, name_or_scope: ScopeName) -> Self {
        VariableScopeBuilder {
            graph,
            name_or_scope,
            default_name: None,
            values: Vec::new(),
            initializer: None,
            regularizer: None,
            caching_device: None,
            partitioner: None,
            custom_getter: None,
            reuse: None,
            reuse_error: None,
            dtype: None,
            use_resource: None,
            constraint: None,
            auxiliary_name_scope: true,
            aux_error: None,
            pure: false,
            cached: RefCell::new(None),
        }
    }

    /// `default_name`: used (and uniquified) when `name_or_scope` is `None`.
    pub fn default_name(mut self, name: &str) -> Self {
        self.default_name = Some(name.to_string());
        self
    }
    /// `values`: tensors or variables the scope's ops use; all must be from this graph.
    pub fn values(mut self, values: impl IntoIterator<Item = ValueRef>) -> Self {
        self.values = values.into_iter().collect();
        self
    }
    /// Default initializer.
    pub fn initializer(mut self, init: impl Into<InitArg>) -> Self {
        self.initializer = Some(init.into());
        self
    }
    /// Default regularizer.
    pub fn regularizer(mut self, r: Regularizer) -> Self {
        self.regularizer = Some(r);
        self
    }
    /// Default caching device (a device string or a device function).
    pub fn caching_device(mut self, d: impl Into<CachingDevice>) -> Self {
        self.caching_device = Some(d.into());
        self
    }
    /// Default partitioner.
    pub fn partitioner(mut self, p: Partitioner) -> Self {
        self.partitioner = Some(p);
        self
    }
    /// A custom getter, wrapped around the parent's.
    pub fn custom_getter(mut self, g: CustomGetter) -> Self {
        self.custom_getter = Some(g);
        self
    }
    /// `reuse`: `Reuse::True`, `Reuse::AutoReuse`, or `Reuse::False` (same as None: inherit).
    pub fn reuse(mut self, r: Reuse) -> Self {
        self.reuse = if r == Reuse::False { None } else { Some(r) };
        self
    }
    /// `reuse` given as TensorFlow source text (`"True"`, `"None"`, `"AUTO_REUSE"`, ...);
    /// an invalid value makes entering fail with C10's error.
    pub fn reuse_arg(mut self, value: &str) -> Self {
        match Reuse::parse_arg(value) {
            Ok(r) => {
                self.reuse = r;
                self.reuse_error = None;
            }
            Err(e) => self.reuse_error = Some(e),
        }
        self
    }
    /// Default dtype.
    pub fn dtype(mut self, d: DType) -> Self {
        self.dtype = Some(d);
        self
    }
    /// `use_resource` (accepted, inherited and reported; varscope variables are resource variables).
    pub fn use_resource(mut self, v: bool) -> Self {
        self.use_resource = Some(v);
        self
    }
    /// Constraint for variables created directly in this scope (not inherited, D8).
    pub fn constraint(mut self, c: Constraint) -> Self {
        self.constraint = Some(c);
        self
    }
    /// `auxiliary_name_scope` (default true): whether to open a name scope.
    pub fn auxiliary_name_scope(mut self, v: bool) -> Self {
        self.auxiliary_name_scope = v;
        self.aux_error = None;
        self
    }
    /// `auxiliary_name_scope` given as TensorFlow source text: `"True"`/`"False"`;
    /// anything else fails with N4's TypeError.
    pub fn auxiliary_name_scope_arg(mut self, value: &str) -> Self {
        match value {
            "True" => self.auxiliary_name_scope(true),
            "False" => self.auxiliary_name_scope(false),
            other => {
                self.aux_error = Some(Error::InvalidAuxiliaryNameScope { value: other.to_string() });
                self
            }
        }
    }
    /// Enters as `_pure_variable_scope` (no name scope at all; used by templates, L3).
    pub fn pure(mut self) -> Self {
        self.pure = true;
        self
    }

    /// Enters the scope, runs `f` inside it, and exits. Returns `f`'s result, or the
    /// error from entering or from an improperly nested exit.
    pub fn run<R>(&self, f: impl FnOnce(&VariableScope) -> R) -> Result<R> {
        let guard = self.enter()?;
        let scope = guard.scope().clone();
        let r = f(&scope);
        guard.exit()?;
        Ok(r)
    }

    /// Enters the scope and returns a guard that exits on drop (or with
    /// [`VariableScopeGuard::exit`], which reports improper nesting).
    pub fn enter(&self) -> Result<VariableScopeGuard<'g>> {
        // Constructor checks, in TensorFlow's order.
        if matches!(self.name_or_scope, ScopeName::None) && self.default_name.is_none() {
            return Err(Error::NameOrScopeRequired);
        }
        if let Some(e) = &self.reuse_error {
            return Err(e.clone());
        }
        if let Some(e) = &self.aux_error {
            return Err(e.clone());
        }
        if let ScopeName::Invalid(v) = &self.name_or_scope {
            return Err(Error::InvalidNameOrScope { value: v.clone() });
        }
        for v in &self.values {
            if v.graph_id != self.graph.id() {
                return Err(Error::ValuesFromOtherGraph { tensor: v.name.clone(), other: format!("graph {}", self.graph.id()) });
            }
        }
        if matches!(self.name_or_scope, ScopeName::None) && self.reuse.is_some_and(Reuse::is_truthy) {
            return Err(Error::ReuseWithoutName);
        }
        let cached = self.cached.borrow().clone();
        self.graph.enter_variable_scope(self, cached)
    }

    pub(crate) fn parts(&self) -> EnterParts<'_> {
        EnterParts {
            name_or_scope: &self.name_or_scope,
            default_name: self.default_name.as_deref(),
            initializer: &self.initializer,
            regularizer: &self.regularizer,
            caching_device: &self.caching_device,
            partitioner: &self.partitioner,
            custom_getter: &self.custom_getter,
            reuse: self.reuse,
            dtype: self.dtype,
            use_resource: self.use_resource,
            constraint: &self.constraint,
            aux: self.auxiliary_name_scope,
            pure: self.pure,
        }
    }
}

pub(crate) struct EnterParts<'a> {
    pub name_or_scope: &'a ScopeName,
    pub default_name: Option<&'a str>,
    pub initializer: &'a Option<InitArg>,
    pub regularizer: &'a Option<Regularizer>,
    pub caching_device: &'a Option<CachingDevice>,
    pub partitioner: &'a Option<Partitioner>,
    pub custom_getter: &'a Option<CustomGetter>,
    pub reuse: Option<Reuse>,
    pub dtype: Option<DType>,
    pub use_resource: Option<bool>,
    pub constraint: &'a Option<Constraint>,
    pub aux: bool,
    pub pure: bool,
}

impl Graph {
    fn enter_variable_scope<'g>(
        &'g self,
        b: &VariableScopeBuilder<'g>,
        cached: Option<Cached>,
    ) -> Result<VariableScopeGuard<'g>> {
        let p = b.parts();
        // The auxiliary name scope.
        let ns_arg: Option<NameScopeArg> = match &cached {
            Some(c) => c.name_scope_arg.clone(),
            None if p.pure => None,
            None => {
                if !p.aux {
                    Some(NameScopeArg::Reenter(self.current_name_scope()))
                } else {
                    match p.name_or_scope {
                        ScopeName::Str(s) if !s.is_empty() => Some(NameScopeArg::Open(s.clone())),
                        ScopeName::Scope(vs) => {
                            let n = vs.name();
                            let last = n.rsplit('/').next().unwrap_or("").to_string();
                            if last.is_empty() { None } else { Some(NameScopeArg::Open(last)) }
                        }
                        ScopeName::None => Some(NameScopeArg::Open(p.default_name.unwrap_or("").to_string())),
                        _ => None,
                    }
                }
            }
        };
        let ns_guard = match &ns_arg {
            None => None,
            Some(NameScopeArg::Reenter(cur)) => {
                let arg = if cur.is_empty() { String::new() } else { format!("{cur}/") };
                Some(self.name_scope(Some(&arg))?)
            }
            Some(NameScopeArg::Open(n)) => Some(self.name_scope(Some(n))?),
        };
        let ns_string = ns_guard.as_ref().map(|g| g.scope_name().to_string());

        let (old_name_scope, pure_name) = match &cached {
            Some(c) => (c.old_name_scope.clone(), c.pure_name.clone()),
            None => match p.name_or_scope {
                ScopeName::Str(_) => (ns_string.clone(), None),
                ScopeName::Scope(vs) => (Some(vs.original_name_scope()), None),
                _ => {
                    let unique = self.unique_variable_scope(p.default_name.unwrap_or(""));
                    (ns_string.clone(), Some(unique))
                }
            },
        };

        let result = self.with_thread(|ts| -> Result<Entered> {
            let old = ts.current.clone();
            let old_fields = old.snapshot();
            match p.name_or_scope {
                ScopeName::Scope(vs) => {
                    let obj = match cached.as_ref().and_then(|c| c.object_scope.clone()) {
                        Some(o) => o,
                        None => {
                            let src = vs.snapshot();
                            let reuse = match p.reuse {
                                Some(r) if r.is_truthy() => r,
                                _ => src.reuse,
                            };
                            let mut f = ScopeFields { reuse, constraint: p.constraint.clone(), ..src.clone() };
                            apply_args(&mut f, &p, src.custom_getter.as_ref());
                            VariableScope::from_fields(self.id(), f)
                        }
                    };
                    let new_name = obj.name();
                    *ts.counts.entry(new_name.clone()).or_insert(0) += 1;
                    let snapshot = ts.counts.clone();
                    ts.current = obj.clone();
                    Ok((obj, old, Some(snapshot), new_name, true))
                }
                _ => {
                    let s = match (p.name_or_scope, &pure_name) {
                        (ScopeName::Str(s), _) => s.clone(),
                        (_, Some(u)) => u.clone(),
                        _ => String::new(),
                    };
                    let new_name = if old_fields.name.is_empty() { s.clone() } else { format!("{}/{}", old_fields.name, s) };
                    let reuse = match p.reuse {
                        Some(r) if r.is_truthy() => r,
                        _ => old_fields.reuse,
                    };
                    let name_scope = old_name_scope.clone().unwrap_or_else(|| s.clone());
                    let mut f = ScopeFields {
                        name: new_name.clone(),
                        name_scope,
                        reuse,
                        constraint: p.constraint.clone(),
                        ..old_fields.clone()
                    };
                    apply_args(&mut f, &p, old_fields.custom_getter.as_ref());
                    let obj = VariableScope::from_fields(self.id(), f);
                    *ts.counts.entry(new_name.clone()).or_insert(0) += 1;
                    ts.current = obj.clone();
                    Ok((obj, old, None, new_name, false))
                }
            }
        });
        let (obj, old, snapshot, new_name, is_object) = result?;

        if cached.is_none() {
            *b.cached.borrow_mut() = Some(Cached {
                old_name_scope,
                pure_name,
                object_scope: if is_object { Some(obj.clone()) } else { None },
                name_scope_arg: ns_arg,
            });
        }
        Ok(VariableScopeGuard {
            graph: self,
            scope: obj,
            old,
            snapshot,
            new_name,
            name_scope: ns_guard,
            exited: false,
            _not_send: PhantomData,
        })
    }

    /// `_get_unique_variable_scope(prefix)` in this thread.
    pub(crate) fn unique_variable_scope(&self, prefix: &str) -> String {
        self.with_thread(|ts| {
            let cur = ts.current.name();
            let full = if cur.is_empty() { prefix.to_string() } else { format!("{cur}/{prefix}") };
            if ts.counts.get(&full).copied().unwrap_or(0) == 0 {
                return prefix.to_string();
            }
            let mut i = 1;
            while ts.counts.get(&format!("{full}_{i}")).copied().unwrap_or(0) > 0 {
                i += 1;
            }
            format!("{prefix}_{i}")
        })
    }
}

/// What entering pushed: the new scope, the previous one, the counter snapshot (object
/// scopes), the new scope's name, and whether it was an object scope.
type Entered = (VariableScope, VariableScope, Option<HashMap<String, u64>>, String, bool);

fn apply_args(f: &mut ScopeFields, p: &EnterParts<'_>, old_getter: Option<&CustomGetter>) {
    if let Some(i) = p.initializer {
        f.initializer = Some(i.clone());
    }
    if let Some(r) = p.regularizer {
        f.regularizer = Some(r.clone());
    }
    if let Some(c) = p.caching_device {
        f.caching_device = Some(c.clone());
    }
    if let Some(pt) = p.partitioner {
        f.partitioner = Some(pt.clone());
    }
    if let Some(g) = p.custom_getter {
        f.custom_getter = Some(g.wrap(old_getter));
    }
    if let Some(d) = p.dtype {
        f.dtype = d;
    }
    if let Some(u) = p.use_resource {
        f.use_resource = Some(u);
    }
}

/// An entered variable scope. Dropping it exits; [`exit`](Self::exit) exits and reports
/// improper nesting (`Improper nesting of variable_scope.`), as TensorFlow's `__exit__`.
pub struct VariableScopeGuard<'g> {
    graph: &'g Graph,
    scope: VariableScope,
    old: VariableScope,
    snapshot: Option<HashMap<String, u64>>,
    new_name: String,
    name_scope: Option<NameScopeGuard<'g>>,
    exited: bool,
    _not_send: PhantomData<*const ()>,
}

impl<'g> VariableScopeGuard<'g> {
    /// The scope object that was entered (the `as scope` value).
    pub fn scope(&self) -> &VariableScope {
        &self.scope
    }

    /// Exits the scope. Fails with `Improper nesting of variable_scope.` if another
    /// scope entered later is still open; the name scope is left either way.
    pub fn exit(mut self) -> Result<()> {
        self.do_exit()
    }

    fn do_exit(&mut self) -> Result<()> {
        if self.exited {
            return Ok(());
        }
        self.exited = true;
        let res = self.graph.with_thread(|ts| {
            if !ts.current.same(&self.scope) {
                return Err(Error::ImproperNesting { scope: self.new_name.clone() });
            }
            match self.snapshot.take() {
                Some(s) => ts.counts = s,
                None => {
                    let prefix = format!("{}/", self.new_name);
                    for (k, v) in ts.counts.iter_mut() {
                        if k.starts_with(&prefix) {
                            *v = 0;
                        }
                    }
                }
            }
            ts.current = self.old.clone();
            Ok(())
        });
        if let Some(ns) = self.name_scope.take() {
            ns.exit();
        }
        res
    }
}

impl Drop for VariableScopeGuard<'_> {
    fn drop(&mut self) {
        let _ = self.do_exit();
    }
}

/// An entered name scope; restores the previous name stack on drop.
pub struct NameScopeGuard<'g> {
    pub(crate) graph: &'g Graph,
    pub(crate) old_stack: String,
    pub(crate) returned: String,
    pub(crate) exited: bool,
    pub(crate) _not_send: PhantomData<*const ()>,
}

impl NameScopeGuard<'_> {
    /// The scope string TensorFlow's `name_scope` yields: `foo/`, `foo_1/`, or `""`.
    pub fn scope_name(&self) -> &str {
        &self.returned
    }

    /// Leaves the name scope.
    pub fn exit(mut self) {
        self.restore();
    }

    fn restore(&mut self) {
        if !self.exited {
            self.exited = true;
            let old = std::mem::take(&mut self.old_stack);
            self.graph.with_thread(|ts| ts.name_stack = old);
        }
    }
}

impl Drop for NameScopeGuard<'_> {
    fn drop(&mut self) {
        self.restore();
    }
}
