//! Custom getters (catalogue H) and the call into the store they end in.
//!
//! A `get_variable` call carries its context ([`CallCtx`]: the creator stack and the
//! active eager store, read once from the thread by the caller) down to the store, so
//! nothing below this module reads thread-local scope state.

use std::fmt;
use std::sync::Arc;

use crate::args::{CreatorArgs, GetterArgs};
use crate::creator::{Creator, CreatorFn};
use crate::graph::Graph;
use crate::store::{self, StoreHost, Target, VariableStore};
use crate::{Error, PartitionedVariable, Regularizer, Result, VarRef, Variable};

/// What one `get_variable` call needs from the calling thread.
#[derive(Clone)]
pub(crate) struct CallCtx {
    /// Reads the thread's creator stack (innermost last) when a variable is created:
    /// a custom getter may open a creator scope before calling on.
    pub creators: fn(&Graph) -> Vec<CreatorFn>,
    /// Where variables are looked up and kept.
    pub target: Target,
}

/// The store's view of a graph during one call.
struct StoreCall<'a> {
    graph: &'a Graph,
    ctx: &'a CallCtx,
}

impl StoreHost for StoreCall<'_> {
    fn target(&self) -> &Target {
        &self.ctx.target
    }
    fn with_store<R>(&self, f: impl FnOnce(&VariableStore) -> R) -> R {
        self.graph.with_store(f)
    }
    fn transaction<R>(&self, a: GetterArgs, f: impl FnOnce(GetterArgs) -> Result<R>) -> Result<R> {
        let lock = self.graph.creation_lock(&a.name)?;
        self.graph.transaction(lock, || f(a))
    }
    fn seed(&self) -> Option<u64> {
        self.graph.seed()
    }
    fn create(&self, args: CreatorArgs) -> Result<Variable> {
        // Store variables are named at the root name scope.
        let creators = (self.ctx.creators)(self.graph);
        Creator::new(self.graph, &creators, "").call(args)
    }
    fn store(&self, key: &str, v: &Variable) {
        self.graph.store_insert(key, v);
    }
    fn store_partitioned(&self, key: &str, pv: &PartitionedVariable) {
        self.graph.store_insert_partitioned(key, pv);
    }
    fn add_loss(&self, key: &str, v: &Variable, r: &Regularizer) {
        self.graph.record_loss(key, v, r);
    }
    fn reserve_name(&self, name: &str) {
        self.graph.reserve_op(name);
    }
}

/// `_true_getter` on `graph`'s store.
pub(crate) fn true_getter(graph: &Graph, ctx: &CallCtx, args: GetterArgs) -> Result<VarRef> {
    store::true_getter(&StoreCall { graph, ctx }, args)
}

/// `_get_partitioned_variable` on `graph`'s store, as one transaction.
pub(crate) fn get_partitioned(graph: &Graph, ctx: &CallCtx, args: GetterArgs) -> Result<PartitionedVariable> {
    let h = StoreCall { graph, ctx };
    h.transaction(args, |a| store::get_partitioned(&h, a))
}

/// Runs the custom getter chain `getters` (outermost first), ending in the true getter.
pub(crate) fn call_getters(graph: &Graph, ctx: &CallCtx, getters: &[GetterFn], args: GetterArgs) -> Result<VarRef> {
    Getter { graph, rest: getters, ctx }.call(args)
}

/// The `getter` a custom getter receives: calling it runs the next-outer getter, and
/// finally the store's true getter.
pub struct Getter<'a> {
    graph: &'a Graph,
    rest: &'a [GetterFn],
    ctx: &'a CallCtx,
}

impl Getter<'_> {
    /// Calls the next getter with (possibly changed) arguments.
    pub fn call(&self, args: GetterArgs) -> Result<VarRef> {
        match self.rest.split_first() {
            None => true_getter(self.graph, self.ctx, args),
            Some((first, rest)) => first(&Getter { graph: self.graph, rest, ctx: self.ctx }, args),
        }
    }

    /// The graph.
    pub fn graph(&self) -> &Graph {
        self.graph
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
    /// `str()` of a Python value that is not callable, given as the getter itself
    /// ([`crate::compat::custom_getter_value`]): `get_variable` refuses it (H8).
    pub(crate) not_callable: Option<Arc<str>>,
}

impl CustomGetter {
    /// A getter from a closure.
    pub fn new(f: impl Fn(&Getter<'_>, GetterArgs) -> Result<VarRef> + Send + Sync + 'static) -> Self {
        CustomGetter { chain: Arc::new(vec![Arc::new(f)]), not_callable: None }
    }

    /// A getter that is a Python value other than a callable (`repr` its `str()`,
    /// `type_name` its type's name). On its own, `get_variable` refuses it before
    /// anything else (H8); composed with another getter (`_maybe_wrap_custom_getter`
    /// makes a callable of the two), calling it fails with Python's `TypeError`.
    pub(crate) fn not_callable(repr: &str, type_name: &str) -> Self {
        let type_name = type_name.to_string();
        let call = move |_: &Getter<'_>, _: GetterArgs| Err(Error::NotCallable { type_name: type_name.clone() });
        CustomGetter { chain: Arc::new(vec![Arc::new(call)]), not_callable: Some(repr.into()) }
    }

    /// `_maybe_wrap_custom_getter(self, old)`: `self` runs first and its `next` is `old`.
    pub fn wrap(&self, old: Option<&CustomGetter>) -> CustomGetter {
        match old {
            None => self.clone(),
            Some(old) => {
                let mut chain: Vec<GetterFn> = self.chain.iter().cloned().collect();
                chain.extend(old.chain.iter().cloned());
                CustomGetter { chain: Arc::new(chain), not_callable: None }
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
