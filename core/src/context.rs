//! Each thread's scope state over a graph (catalogue section 0, K1, K2): the current
//! variable scope, the default-name counters, the name stack, the creator stack and the
//! active eager stores. Kept in a thread-local map keyed by graph id, so a graph
//! handle is `Send + Sync` while scopes stay per thread.
//!
//! Also the name-scope operations that read or change the name stack.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::args::CreatorArgs;
use crate::creator::{Creator, CreatorFn};
use crate::getter::CallCtx;
use crate::graph::Graph;
use crate::scope::{ScopeFields, VariableScope};
use crate::scope_counts::ScopeCounts;
use crate::store::{EagerVariableStore, Target};
use crate::sync::OnDrop;
use crate::{FastMap, Result, Tensor, Variable};

/// Per graph and per thread: the current scope, default-name counters, name stack,
/// creator stack.
pub(crate) struct ThreadState {
    pub current: VariableScope,
    pub counts: ScopeCounts,
    pub name_stack: String,
    pub creators: Vec<CreatorFn>,
    pub eager_stores: Vec<EagerVariableStore>,
}

thread_local! {
    static THREADS: RefCell<FastMap<u64, ThreadState>> = RefCell::new(FastMap::default());
}

impl Graph {
    /// Runs `f` on this thread's state for this graph (created at the root on first use).
    pub(crate) fn with_thread<R>(&self, f: impl FnOnce(&mut ThreadState) -> R) -> R {
        THREADS.with(|t| {
            let mut map = t.borrow_mut();
            let ts = map.entry(self.id()).or_insert_with(|| ThreadState {
                current: VariableScope::from_fields(self.id(), ScopeFields::root()),
                counts: ScopeCounts::default(),
                name_stack: String::new(),
                creators: Vec::new(),
                eager_stores: Vec::new(),
            });
            f(ts)
        })
    }

    /// What a `get_variable` call made now on this thread needs from it.
    pub(crate) fn call_ctx(&self) -> CallCtx {
        self.with_thread(|ts| CallCtx {
            creators: |g: &Graph| g.with_thread(|ts| ts.creators.clone()),
            target: match (self.is_eager(), ts.eager_stores.last()) {
                (false, _) => Target::Graph,
                (true, Some(es)) => Target::Eager(es.clone()),
                (true, None) => Target::EagerTemp,
            },
        })
    }

    /// Runs this thread's creator stack on `args`, naming a `tf.Variable` in the current
    /// name scope.
    pub(crate) fn run_creators(&self, args: CreatorArgs) -> Result<Variable> {
        let (creators, stack) = self.with_thread(|ts| (ts.creators.clone(), ts.name_stack.clone()));
        let _c = self.creation_lock(&args.name)?;
        Creator::new(self, &creators, &stack).call(args)
    }

    // ----- name scopes and ops -------------------------------------------------------

    /// The current name scope (`get_name_scope()`): `"foo/bar"`, `""` at the root.
    pub fn current_name_scope(&self) -> String {
        self.with_thread(|ts| ts.name_stack.clone())
    }

    /// `Graph.unique_name(name)`: the name under the current name stack, made unique,
    /// and marked used.
    pub fn unique_name(&self, name: &str) -> String {
        let stack = self.current_name_scope();
        let full = if stack.is_empty() { name.to_string() } else { format!("{stack}/{name}") };
        self.reserve_name(&full)
    }

    /// `name_scope(name)` with v1 semantics (0.2, B20): `None` or `""` resets to the root;
    /// a name ending in `/` re-enters absolutely; otherwise a unique name is opened.
    pub fn name_scope(&self, name: Option<&str>) -> Result<NameScopeGuard<'_>> {
        // The guard keeps the old stack itself (moved out, not copied: `get_variable`
        // enters the root name scope on every call); a failed open puts it back.
        let old_stack = self.with_thread(|ts| std::mem::take(&mut ts.name_stack));
        match self.open_name_scope(&old_stack, name) {
            Ok((new_stack, returned)) => {
                self.with_thread(|ts| ts.name_stack = new_stack);
                Ok(NameScopeGuard { graph: self, old_stack, returned, exited: false, _not_send: PhantomData })
            }
            Err(e) => {
                self.with_thread(|ts| ts.name_stack = old_stack);
                Err(e)
            }
        }
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

    /// `get_variable_scope()`: this thread's current scope object.
    pub fn get_variable_scope(&self) -> VariableScope {
        self.with_thread(|ts| ts.current.clone())
    }

    /// This thread's default-name counter for a full scope name (for inspection).
    pub fn variable_scope_count(&self, full_name: &str) -> u64 {
        self.with_thread(|ts| ts.counts.get(full_name))
    }

    /// `_get_unique_variable_scope(prefix)` in this thread.
    pub(crate) fn unique_variable_scope(&self, prefix: &str) -> String {
        self.with_thread(|ts| {
            let cur = ts.current.name();
            let full = if cur.is_empty() { prefix.to_string() } else { format!("{cur}/{prefix}") };
            match ts.counts.free_suffix(&full) {
                None => prefix.to_string(),
                Some(i) => format!("{prefix}_{i}"),
            }
        })
    }

    // ----- creator scopes and eager stores -------------------------------------------

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
        // Popped also when `f` panics, so a caught panic leaves no creator behind.
        let _pop = OnDrop(|| self.with_thread(|ts| ts.creators.truncate(depth - 1)));
        f()
    }

    /// Activates an eager variable store for `f` (eager graphs): inside, `get_variable`
    /// gets or creates (AUTO_REUSE) in that store.
    pub fn with_eager_store<R>(&self, store: &EagerVariableStore, f: impl FnOnce() -> R) -> R {
        let depth = self.with_thread(|ts| {
            ts.eager_stores.push(store.clone());
            ts.eager_stores.len()
        });
        let _pop = OnDrop(|| self.with_thread(|ts| ts.eager_stores.truncate(depth - 1)));
        f()
    }
}

/// An entered name scope; restores the previous name stack on drop.
pub struct NameScopeGuard<'g> {
    graph: &'g Graph,
    old_stack: String,
    returned: String,
    exited: bool,
    _not_send: PhantomData<*const ()>,
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
