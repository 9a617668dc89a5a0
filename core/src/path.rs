//! Scope paths: the value-based way to name and get variables (see [`ScopePath`]).

use std::fmt;
use std::sync::Arc;

use crate::args::{InitArg, Reuse, ReuseMode, ShapeArg};
use crate::collections::CollectionsArg;
use crate::get_variable::{get_args_setters, get_in_scope, GetArgs};
use crate::getter::CustomGetter;
use crate::graph::Graph;
use crate::scope::{ScopeFields, VariableScope};
use crate::variable::{Aggregation, CachingDevice, Synchronization};
use crate::{Constraint, DType, Error, PartitionedVariable, Partitioner, Regularizer, Result, VarRef, Variable};

/// A variable scope as a value: the value-based way to name and get variables.
///
/// A [`ScopePath`] is an immutable, cheap handle (`Clone + Send + Sync`) to a variable
/// scope, built with [`Graph::scope`] and [`ScopePath::sub`] and passed to layer
/// functions. Reuse and scope defaults are methods returning a new path. Variables come
/// from typed terminals on [`ScopePath::var`]:
///
/// - `create`: create only (reuse=False; TensorFlow's "already exists"),
/// - `fetch`: existing only (reuse=True; "does not exist"),
/// - `get_or_create`: AUTO_REUSE,
/// - `partitioned`: a [`PartitionedVariable`], with the path's reuse.
///
/// No closure and no thread-local scope state: a path holds its resolved scope. Names,
/// name-scope counters, collections and errors are exactly TensorFlow's for the same
/// calls: `graph.scope("mlp")` is `variable_scope("mlp")` entered from the root (its
/// name scope is opened, and uniquified, when the path is made); `.sub("layer1")` is
/// `variable_scope("layer1")` entered inside it; a terminal is `get_variable` in that
/// scope. A path does not touch the calling thread's default-name counters.
///
/// ```
/// use varscope_core::{Graph, Initializer, Reuse};
///
/// let g = Graph::new();
/// let mlp = g.scope("mlp");
/// let layer = mlp.sub("layer1");
/// let w = layer.var("w").shape([4, 8]).create()?;
/// let b = layer.var("b").shape([8]).initializer(Initializer::zeros()).create()?;
/// assert_eq!((w.name(), b.name()), ("mlp/layer1/w:0".to_string(), "mlp/layer1/b:0".to_string()));
/// // Later, the same variable again:
/// let again = g.scope("mlp").reuse(Reuse::True).sub("layer1").var("w").fetch()?;
/// assert_eq!(again, w);
/// # Ok::<(), varscope_core::Error>(())
/// ```
#[derive(Clone)]
pub struct ScopePath {
    graph: Graph,
    inner: Arc<PathInner>,
}

#[derive(Clone)]
struct PathInner {
    /// The scope as entered: name, original name scope, reuse, defaults.
    fields: ScopeFields,
    /// The name stack inside the scope (`mlp/layer1`), where `sub` opens name scopes.
    name_stack: String,
    /// The enclosing scope's reuse and custom getter (what `reuse` and
    /// `custom_getter` combine with).
    parent_reuse: ReuseMode,
    parent_getter: Option<CustomGetter>,
    /// An error from making the path (an invalid scope name), reported by every
    /// terminal.
    error: Option<Error>,
}

impl fmt::Debug for ScopePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScopePath(name={:?}, reuse={})", self.inner.fields.name, self.inner.fields.reuse)
    }
}

impl Graph {
    /// The scope path `name` from the root: `variable_scope(name)` entered at the root,
    /// as a value. See [`ScopePath`].
    pub fn scope(&self, name: &str) -> ScopePath {
        let root = PathInner {
            fields: ScopeFields::root(),
            name_stack: String::new(),
            parent_reuse: ReuseMode::CreateOnly,
            parent_getter: None,
            error: None,
        };
        ScopePath { graph: self.clone(), inner: Arc::new(root) }.sub(name)
    }

    /// The root scope as a path (variables named without a prefix).
    pub fn root_scope(&self) -> ScopePath {
        let root = PathInner {
            fields: ScopeFields::root(),
            name_stack: String::new(),
            parent_reuse: ReuseMode::CreateOnly,
            parent_getter: None,
            error: None,
        };
        ScopePath { graph: self.clone(), inner: Arc::new(root) }
    }
}

impl ScopePath {
    fn with(&self, f: impl FnOnce(&mut PathInner)) -> ScopePath {
        let mut inner = (*self.inner).clone();
        f(&mut inner);
        ScopePath { graph: self.graph.clone(), inner: Arc::new(inner) }
    }

    /// The sub-scope `name`: `variable_scope(name)` entered inside this scope. Its name
    /// scope is opened (and uniquified) now, so each call is one more entry, as in
    /// TensorFlow: keep the path and pass it on rather than calling `sub` per
    /// variable. Reuse and defaults are inherited (except the constraint, which is
    /// never inherited, D8).
    pub fn sub(&self, name: &str) -> ScopePath {
        let parent = &self.inner;
        if parent.error.is_some() {
            return self.clone();
        }
        let f = &parent.fields;
        let new_name = if f.name.is_empty() { name.to_string() } else { format!("{}/{name}", f.name) };
        // The auxiliary name scope: `name_scope(name)` in this scope's name stack, unless
        // the name is empty (B25).
        let opened = if name.is_empty() {
            Ok(None)
        } else {
            self.graph.open_name_scope(&parent.name_stack, Some(name)).map(Some)
        };
        let (name_stack, original) = match opened {
            Ok(Some((stack, returned))) => (stack, returned),
            Ok(None) => (parent.name_stack.clone(), String::new()),
            Err(e) => return self.with(|p| p.error = Some(e)),
        };
        let fields = ScopeFields { name: new_name, name_scope: original, constraint: None, ..f.clone() };
        let inner = PathInner {
            fields,
            name_stack,
            parent_reuse: f.reuse,
            parent_getter: f.custom_getter.clone(),
            error: None,
        };
        ScopePath { graph: self.graph.clone(), inner: Arc::new(inner) }
    }

    /// The graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The scope's name (`mlp/layer1`; `""` at the root).
    pub fn name(&self) -> &str {
        &self.inner.fields.name
    }

    /// The name scope opened for it (`mlp/layer1/`, or `mlp_1/layer1/` when `mlp` was
    /// opened before).
    pub fn original_name_scope(&self) -> &str {
        &self.inner.fields.name_scope
    }

    /// The scope's reuse mode.
    pub fn reuse_mode(&self) -> ReuseMode {
        self.inner.fields.reuse
    }

    /// `reuse`: `Reuse::True` or `Reuse::AutoReuse` set it; `Reuse::Inherit` takes the
    /// enclosing scope's, as `variable_scope(reuse=None)` (and TensorFlow's
    /// `reuse=False`) does: an inherited reuse cannot be cleared (C6). Sub-scopes
    /// inherit it.
    pub fn reuse(&self, r: Reuse) -> ScopePath {
        let parent = self.inner.parent_reuse;
        self.with(|p| p.fields.reuse = r.resolve(parent))
    }

    /// Default initializer for variables in this scope and its sub-scopes.
    pub fn initializer(&self, init: impl Into<InitArg>) -> ScopePath {
        let init = init.into();
        self.with(|p| p.fields.initializer = Some(init))
    }

    /// Default regularizer.
    pub fn regularizer(&self, r: Regularizer) -> ScopePath {
        self.with(|p| p.fields.regularizer = Some(r))
    }

    /// Default caching device (any TensorFlow spelling, or a device function).
    pub fn caching_device(&self, d: impl Into<CachingDevice>) -> ScopePath {
        let d = d.into();
        self.with(|p| p.fields.caching_device = Some(d))
    }

    /// Default partitioner.
    pub fn partitioner(&self, part: Partitioner) -> ScopePath {
        self.with(|p| p.fields.partitioner = Some(part))
    }

    /// Default dtype.
    pub fn dtype(&self, d: DType) -> ScopePath {
        self.with(|p| p.fields.dtype = d)
    }

    /// Default `use_resource`.
    pub fn use_resource(&self, v: bool) -> ScopePath {
        self.with(|p| p.fields.use_resource = Some(v))
    }

    /// Constraint for variables made directly in this scope (not inherited, D8).
    pub fn constraint(&self, c: Constraint) -> ScopePath {
        self.with(|p| p.fields.constraint = Some(c))
    }

    /// A custom getter, wrapped around the enclosing scope's (H3).
    pub fn custom_getter(&self, g: CustomGetter) -> ScopePath {
        let wrapped = g.wrap(self.inner.parent_getter.as_ref());
        self.with(|p| p.fields.custom_getter = Some(wrapped))
    }

    /// The scope as a [`VariableScope`] object, to re-enter it on the TensorFlow-shaped
    /// path (`graph.variable_scope(&path.to_variable_scope())`).
    pub fn to_variable_scope(&self) -> VariableScope {
        VariableScope::from_fields(self.graph.id(), self.inner.fields.clone())
    }

    /// A variable request in this scope: set arguments, then call a terminal.
    #[track_caller]
    pub fn var(&self, name: &str) -> VarRequest {
        VarRequest { path: self.clone(), name: name.to_string(), args: GetArgs::at_caller(), local: false }
    }

    /// A local variable request (`get_local_variable`: not trainable, in
    /// `local_variables`, I5).
    #[track_caller]
    pub fn local_var(&self, name: &str) -> VarRequest {
        VarRequest { path: self.clone(), name: name.to_string(), args: GetArgs::at_caller(), local: true }
    }
}

impl From<&ScopePath> for crate::ScopeName {
    /// Re-enters the path's scope on the TensorFlow-shaped path
    /// (`graph.variable_scope(&path)`), as a captured scope object.
    fn from(p: &ScopePath) -> Self {
        crate::ScopeName::Scope(p.to_variable_scope())
    }
}

/// A variable request on a [`ScopePath`]. The setters are `get_variable`'s arguments;
/// the terminals say what happens.
#[derive(Clone)]
#[must_use = "a request does nothing until a terminal (create, fetch, get_or_create, partitioned) is called"]
pub struct VarRequest {
    path: ScopePath,
    name: String,
    args: GetArgs,
    local: bool,
}

impl VarRequest {
    get_args_setters!();
    /// `collections`.
    pub fn collections(mut self, c: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.args.collections = Some(CollectionsArg::new(c));
        self
    }

    /// Runs the request; its name comes back with the result, for the terminals'
    /// errors (no copy made on the way).
    fn call(self, reuse: Option<ReuseMode>) -> (String, Result<VarRef>) {
        let p = &self.path.inner;
        if let Some(e) = &p.error {
            return (self.name, Err(e.clone()));
        }
        let r = get_in_scope(&self.path.graph, &p.fields, &self.name, self.args, self.local, reuse);
        (self.name, r)
    }

    fn single(self, reuse: ReuseMode) -> Result<Variable> {
        let (name, r) = self.call(Some(reuse));
        match r? {
            VarRef::Variable(v) => Ok(v),
            other => Err(Error::NotASingleVariable { name, got: other.name() }),
        }
    }

    /// Creates the variable; an existing one is TensorFlow's "already exists" error
    /// (`reuse=False`, C1), whatever the scope's reuse.
    pub fn create(self) -> Result<Variable> {
        self.single(ReuseMode::CreateOnly)
    }

    /// Fetches the existing variable; a missing one is TensorFlow's "does not exist"
    /// error (`reuse=True`, C3). The shape may be omitted (C4); a given shape or dtype
    /// is checked (C12, C14).
    pub fn fetch(self) -> Result<Variable> {
        self.single(ReuseMode::ReuseOnly)
    }

    /// Returns the existing variable or creates it (`AUTO_REUSE`, C5).
    pub fn get_or_create(self) -> Result<Variable> {
        self.single(ReuseMode::AutoReuse)
    }

    /// The partitioned variable (the request's or the scope's partitioner), created or
    /// fetched as the scope's reuse says (G11-G17).
    pub fn partitioned(self) -> Result<PartitionedVariable> {
        let (name, r) = self.call(None);
        match r? {
            VarRef::Partitioned(p) => Ok(p),
            other => Err(Error::NotAPartitionedVariable { name, got: other.name() }),
        }
    }
}
