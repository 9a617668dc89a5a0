//! Entering and exiting variable scopes with TensorFlow's exact name-scope and counter
//! rules (catalogue 0.3, B, C, N): the `variable_scope(...)` builder, its guard, and
//! the enter/exit algorithm over this thread's context.

use std::cell::RefCell;
use std::marker::PhantomData;

use crate::args::{InitArg, Reuse, ReuseMode};
use crate::context::NameScopeGuard;
use crate::getter::CustomGetter;
use crate::graph::Graph;
use crate::scope::{ScopeFields, VariableScope};
use crate::scope_counts::Snapshot;
use crate::variable::{CachingDevice, Tensor, Variable};
use crate::{Constraint, DType, Error, Partitioner, Regularizer, Result};

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

impl Graph {
    /// `variable_scope(name_or_scope, ...)`: a string, a captured [`VariableScope`], or
    /// `None` (then set [`VariableScopeBuilder::default_name`]).
    pub fn variable_scope(&self, name_or_scope: impl Into<ScopeName>) -> VariableScopeBuilder<'_> {
        VariableScopeBuilder::new(self, name_or_scope.into())
    }

    /// `variable_scope(None, default_name=name)`.
    pub fn variable_scope_default(&self, default_name: &str) -> VariableScopeBuilder<'_> {
        VariableScopeBuilder::new(self, ScopeName::None).default_name(default_name)
    }
}

/// `name_or_scope` of `variable_scope`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ScopeName {
    /// A string.
    Str(String),
    /// A captured scope object.
    Scope(VariableScope),
    /// `None` (then `default_name` is required).
    None,
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
    /// A `name_or_scope` of another type, by its `repr` (see [`crate::compat`]).
    invalid_name: Option<String>,
    default_name: Option<String>,
    values: Vec<ValueRef>,
    initializer: Option<InitArg>,
    regularizer: Option<Regularizer>,
    caching_device: Option<CachingDevice>,
    partitioner: Option<Partitioner>,
    custom_getter: Option<CustomGetter>,
    reuse: Reuse,
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
            invalid_name: None,
            default_name: None,
            values: Vec::new(),
            initializer: None,
            regularizer: None,
            caching_device: None,
            partitioner: None,
            custom_getter: None,
            reuse: Reuse::Inherit,
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
    /// `reuse`: `Reuse::True`, `Reuse::AutoReuse`, or `Reuse::Inherit` (the default:
    /// the enclosing scope's reuse; TensorFlow's `reuse=False` is `Inherit` too, as
    /// TensorFlow rewrites it to `None`, C6).
    pub fn reuse(mut self, r: Reuse) -> Self {
        self.reuse = r;
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
    /// Records an invalid `reuse` argument (see [`crate::compat`]): entering fails with it.
    pub(crate) fn set_reuse_arg(mut self, r: Result<Reuse>) -> Self {
        match r {
            Ok(r) => {
                self.reuse = r;
                self.reuse_error = None;
            }
            Err(e) => self.reuse_error = Some(e),
        }
        self
    }
    /// Records a `name_or_scope` of another type than a string or a scope, by its `repr`
    /// (see [`crate::compat`]): entering fails with N2's TypeError.
    pub(crate) fn set_invalid_name(mut self, repr: &str) -> Self {
        self.invalid_name = Some(repr.to_string());
        self
    }
    /// Records an invalid `auxiliary_name_scope` argument (see [`crate::compat`]).
    pub(crate) fn set_aux_error(mut self, e: Error) -> Self {
        self.aux_error = Some(e);
        self
    }
    /// Enters as `_pure_variable_scope` (no name scope at all; used by templates, L3).
    pub fn pure(mut self) -> Self {
        self.pure = true;
        self
    }

    /// Enters the scope, runs `f` inside it, and exits. The result is `f`'s, flattened:
    /// an error from entering or from an improperly nested exit converts into `f`'s
    /// error type, so nested scopes need no `??`.
    ///
    /// ```
    /// # use varscope_core::{Graph, Result, Variable};
    /// let g = Graph::new();
    /// let v: Variable = g.variable_scope("a").run(|_| g.variable_scope("b").run(|_| g.get_variable("v").shape([1]).variable()))?;
    /// assert_eq!(v.name(), "a/b/v:0");
    /// # Ok::<(), varscope_core::Error>(())
    /// ```
    pub fn run<T, E: From<Error>>(
        &self,
        f: impl FnOnce(&VariableScope) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let mut guard = self.enter()?;
        let scope = guard.scope().clone();
        let r = f(&scope);
        let exited = guard.exit();
        let value = r?;
        exited?;
        Ok(value)
    }

    /// [`run`](Self::run) for a closure that returns a plain value (not a `Result`):
    /// the value, or the error from entering or exiting.
    pub fn run_plain<R>(&self, f: impl FnOnce(&VariableScope) -> R) -> Result<R> {
        self.run(|s| Ok(f(s)))
    }

    /// Enters the scope and returns a guard that exits on drop (or with
    /// [`VariableScopeGuard::exit`], which reports improper nesting).
    pub fn enter(&self) -> Result<VariableScopeGuard<'g>> {
        // Constructor checks, in TensorFlow's order.
        if matches!(self.name_or_scope, ScopeName::None) && self.default_name.is_none() && self.invalid_name.is_none() {
            return Err(Error::NameOrScopeRequired);
        }
        if let Some(e) = &self.reuse_error {
            return Err(e.clone());
        }
        if let Some(e) = &self.aux_error {
            return Err(e.clone());
        }
        if let Some(v) = &self.invalid_name {
            return Err(Error::InvalidNameOrScope { value: v.clone() });
        }
        for v in &self.values {
            if v.graph_id != self.graph.id() {
                return Err(Error::ValuesFromOtherGraph {
                    tensor: v.name.clone(),
                    other: format!("graph {}", self.graph.id()),
                });
            }
        }
        if matches!(self.name_or_scope, ScopeName::None) && self.reuse.is_truthy() {
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
    pub reuse: Reuse,
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
                            if last.is_empty() {
                                None
                            } else {
                                Some(NameScopeArg::Open(last))
                            }
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
                            let reuse: ReuseMode = p.reuse.resolve(src.reuse);
                            let mut f = ScopeFields { reuse, constraint: p.constraint.clone(), ..(*src).clone() };
                            apply_args(&mut f, &p, src.custom_getter.as_ref());
                            VariableScope::from_fields(self.id(), f)
                        }
                    };
                    let new_name = obj.name();
                    ts.counts.open(&new_name);
                    let snapshot = ts.counts.snapshot();
                    ts.current = obj.clone();
                    Ok((obj, old, Some(snapshot), new_name, true))
                }
                _ => {
                    let s = match (p.name_or_scope, &pure_name) {
                        (ScopeName::Str(s), _) => s.clone(),
                        (_, Some(u)) => u.clone(),
                        _ => String::new(),
                    };
                    let new_name =
                        if old_fields.name.is_empty() { s.clone() } else { format!("{}/{}", old_fields.name, s) };
                    let reuse: ReuseMode = p.reuse.resolve(old_fields.reuse);
                    let name_scope = old_name_scope.clone().unwrap_or_else(|| s.clone());
                    let mut f = ScopeFields {
                        name: new_name.clone(),
                        name_scope,
                        reuse,
                        constraint: p.constraint.clone(),
                        ..(*old_fields).clone()
                    };
                    apply_args(&mut f, &p, old_fields.custom_getter.as_ref());
                    let obj = VariableScope::from_fields(self.id(), f);
                    ts.counts.open(&new_name);
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
}

/// What entering pushed: the new scope, the previous one, the counter snapshot (object
/// scopes), the new scope's name, and whether it was an object scope.
type Entered = (VariableScope, VariableScope, Option<Snapshot>, String, bool);

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
    snapshot: Option<Snapshot>,
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
    /// scope entered later is still open. A failed exit changes nothing (variable scope,
    /// counters and name scope stay as they were), so it can be retried once the inner
    /// scope has exited, as TensorFlow's `__exit__` can. Exiting an exited guard is a
    /// no-op.
    pub fn exit(&mut self) -> Result<()> {
        if self.exited {
            return Ok(());
        }
        self.graph.with_thread(|ts| {
            if !ts.current.same(&self.scope) {
                return Err(Error::ImproperNesting { scope: self.new_name.clone() });
            }
            match self.snapshot.take() {
                Some(s) => ts.counts.restore(s),
                None => ts.counts.close_subscopes(&self.new_name),
            }
            ts.current = self.old.clone();
            Ok(())
        })?;
        self.exited = true;
        if let Some(ns) = self.name_scope.take() {
            ns.exit();
        }
        Ok(())
    }
}

impl Drop for VariableScopeGuard<'_> {
    /// Exits if still open. If a scope entered later is still open (guards dropped out
    /// of order), nothing changes and the error is not reported: call
    /// [`exit`](VariableScopeGuard::exit) to see it.
    fn drop(&mut self) {
        if self.exit().is_err() {
            // This scope can no longer be exited: its snapshot is not needed.
            if let Some(s) = self.snapshot.take() {
                self.graph.with_thread(|ts| ts.counts.forget(s));
            }
        }
    }
}
