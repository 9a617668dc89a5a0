//! The graph: the state shared by every thread (catalogue section 0, K3): the variable
//! store, the case-insensitive names table, collections and the graph seed, with the
//! transaction journal that makes a failed call change nothing.
//!
//! Each thread's scope state over a graph lives in [`crate::context`]; the scope
//! logic in [`crate::scope`] and [`crate::enter`]; `get_variable` in
//! [`crate::get_variable`].

use std::cell::{Cell, RefCell};
use std::fmt;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::collections::{CollectionItem, Collections, GraphKeys, RegularizationLoss};
use crate::creation_lock::{CreationGuard, CreationLock};
use crate::names::{validate_scope_name, NameTable, NameUndo};
use crate::store::VariableStore;
use crate::sync::{lock, read, write, OnDrop};
use crate::variable::next_id;
use crate::{Error, PartitionedVariable, Regularizer, Result, Variable};

#[derive(Default)]
struct GraphState {
    store: VariableStore,
    collections: Collections,
    all_vars: Vec<Variable>,
}

/// Undo log of one store transaction.
#[derive(Default)]
struct Txn {
    /// The graph whose changes it logs ([`Graph::id`]).
    graph: u64,
    names: Vec<NameUndo>,
    vars: Vec<String>,
    parts: Vec<String>,
    /// (list, previous length) of each collection push.
    colls: Vec<(usize, usize)>,
    all_len: Option<usize>,
}

thread_local! {
    /// The open transactions of this thread (innermost last), of any graph (a creator or
    /// getter of one graph may create variables in another). Only touched while the
    /// graph's creation lock is held.
    static TXN: RefCell<Vec<Txn>> = const { RefCell::new(Vec::new()) };
    /// Logs of finished transactions, emptied, kept for their buffers: a transaction
    /// per `get_variable` would otherwise allocate its logs afresh each time.
    static SPARE: RefCell<Vec<Txn>> = const { RefCell::new(Vec::new()) };
}

/// Spare logs kept per thread (one per level of nested transactions in use).
const SPARE_MAX: usize = 8;
/// Entries a spare log may keep room for: the log of a large call (a variable of
/// thousands of shards) is dropped rather than held by the thread for good.
const SPARE_ROOM: usize = 1024;

impl Txn {
    /// Entries its vectors have room for.
    fn room(&self) -> usize {
        self.names.capacity() + self.vars.capacity() + self.parts.capacity() + self.colls.capacity()
    }

    fn clear(&mut self) {
        self.names.clear();
        self.vars.clear();
        self.parts.clear();
        self.colls.clear();
        self.all_len = None;
    }
}

/// Runs `f` on the innermost open transaction of graph `graph` on this thread, if any.
fn journal(graph: u64, f: impl FnOnce(&mut Txn)) {
    TXN.with(|t| {
        if let Some(t) = t.borrow_mut().iter_mut().rev().find(|t| t.graph == graph) {
            f(t);
        }
    });
}

struct GraphInner {
    id: u64,
    eager: bool,
    seed: Mutex<Option<u64>>,
    state: RwLock<GraphState>,
    names: Mutex<NameTable>,
    creation: Arc<CreationLock>,
}

/// A graph: the per-graph state shared by every thread (variable store, names table,
/// collections, seed). A cheap handle: clones share the state (an `Arc`), and it is
/// `Send + Sync`, so a session or another thread can own one. Each thread has its own
/// scope stack over it, starting at the root (K1-K3).
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

impl PartialEq for Graph {
    /// Two handles are equal when they share one graph.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}
impl Eq for Graph {}

impl Graph {
    /// A new, empty graph (graph mode).
    pub fn new() -> Self {
        Self::make(false)
    }

    /// A graph in eager mode: `get_variable` creates a new variable on every call unless an
    /// [`crate::EagerVariableStore`] or a template is active (the seed's eager note).
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
                creation: Arc::default(),
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
        *lock(&self.inner.seed)
    }

    /// Sets the graph seed. Affects variables created afterwards.
    pub fn set_seed(&self, seed: u64) {
        *lock(&self.inner.seed) = Some(seed);
    }

    fn state(&self) -> RwLockReadGuard<'_, GraphState> {
        read(&self.inner.state)
    }

    fn state_mut(&self) -> RwLockWriteGuard<'_, GraphState> {
        write(&self.inner.state)
    }

    // ----- the names table -----------------------------------------------------------

    /// Whether a name is in use in the graph's case-insensitive names table.
    pub fn name_in_use(&self, name: &str) -> bool {
        lock(&self.inner.names).is_used(name)
    }

    /// `unique_name(full)` for a name that already carries its name stack; marks it
    /// used. Journaled when a transaction is open, so a failed call gives it back.
    pub(crate) fn reserve_name(&self, full: &str) -> String {
        match self.reserve_suffix(full) {
            0 => full.to_string(),
            i => format!("{full}_{i}"),
        }
    }

    /// [`Graph::reserve_name`] of a name the caller owns: returned as it is when free
    /// (no copy).
    pub(crate) fn reserve_name_owned(&self, full: String) -> String {
        match self.reserve_suffix(&full) {
            0 => full,
            i => format!("{full}_{i}"),
        }
    }

    /// [`Graph::reserve_name`] for an op whose unique name nobody reads (no string built).
    pub(crate) fn reserve_op(&self, full: &str) {
        self.reserve_suffix(full);
    }

    /// [`Graph::reserve_op`] of the name `parts` spell together (the table's key is the
    /// only string built).
    pub(crate) fn reserve_op_parts(&self, parts: &[&str]) {
        self.with_names(|names, undo| names.reserve_parts(parts, undo));
    }

    /// Marks `full` (or its first free `full_i`) used; returns `i` (0: `full` itself).
    fn reserve_suffix(&self, full: &str) -> u64 {
        self.with_names(|names, undo| names.reserve(full, undo))
    }

    /// Runs `f` on the names table, its changes journaled straight into the open
    /// transaction if there is one.
    fn with_names(&self, f: impl Fn(&mut NameTable, Option<&mut Vec<NameUndo>>) -> u64) -> u64 {
        let mut names = lock(&self.inner.names);
        let mut r = None;
        journal(self.id(), |t| r = Some(f(&mut names, Some(&mut t.names))));
        r.unwrap_or_else(|| f(&mut names, None))
    }

    /// `name_scope(name)` (0.2) from the name stack `stack`: validates the name and
    /// returns the new stack and the scope string TensorFlow yields. `None` or `""`
    /// resets to the root; a name ending in `/` re-enters absolutely; otherwise the name
    /// is made unique and marked used.
    pub(crate) fn open_name_scope(&self, stack: &str, name: Option<&str>) -> Result<(String, String)> {
        Ok(match name {
            None | Some("") => (String::new(), String::new()),
            Some(n) => {
                validate_scope_name(n, stack.is_empty())?;
                if let Some(stripped) = n.strip_suffix('/') {
                    (stripped.to_string(), n.to_string())
                } else {
                    let full = if stack.is_empty() { n.to_string() } else { format!("{stack}/{n}") };
                    let u = self.reserve_name(&full);
                    let r = format!("{u}/");
                    (u, r)
                }
            }
        })
    }

    // ----- transactions --------------------------------------------------------------

    /// Takes the graph's (re-entrant) creation lock to create variable `name`; refused
    /// with [`Error::CreationWouldDeadlock`] when waiting for it would never end (this
    /// thread holds another graph's lock, which the lock's owner waits for).
    pub(crate) fn creation_lock(&self, name: &str) -> Result<CreationGuard<'_>> {
        self.inner
            .creation
            .lock()
            .map_err(|_| Error::CreationWouldDeadlock { name: name.to_string(), graph: self.id() })
    }

    /// Runs `f`, and if it fails undoes every change it made to this graph: variables
    /// created (store entries, collections, reserved names) disappear and this thread's
    /// default-name counters (`variable_scope(None, default_name)`) are as they were, as
    /// if `f` had not run. For code that creates several variables and can fail part
    /// way, such as an optimizer creating its slots and then failing to allocate them.
    /// `f` runs under the graph's creation lock: other threads wait to create variables
    /// in this graph meanwhile. A nested call joins the outer one (undone if the outer
    /// one fails).
    pub fn all_or_nothing<R, E: From<Error>>(
        &self,
        f: impl FnOnce() -> std::result::Result<R, E>,
    ) -> std::result::Result<R, E> {
        let lock = self.creation_lock("(all_or_nothing)")?;
        let counters = self.with_thread(|ts| ts.counts.snapshot());
        // The counters go back unless `f` succeeds, also when it panics.
        let ok = Cell::new(false);
        let _counters = OnDrop(|| {
            self.with_thread(|ts| if ok.get() { ts.counts.forget(counters) } else { ts.counts.restore(counters) })
        });
        let r = self.transaction(lock, f);
        ok.set(r.is_ok());
        r
    }

    /// Runs `f` as one transaction under the creation lock `_lock` (taken by the caller,
    /// who names the variable if it is refused): on error every store, names-table and
    /// collection change it made is undone (runtime.md section 9).
    pub(crate) fn transaction<R, E>(
        &self,
        _lock: CreationGuard<'_>,
        f: impl FnOnce() -> std::result::Result<R, E>,
    ) -> std::result::Result<R, E> {
        let mut log = SPARE.with(|s| s.borrow_mut().pop()).unwrap_or_default();
        log.graph = self.id();
        TXN.with(|t| t.borrow_mut().push(log));
        // Closes the transaction as failed if `f` panics (a user's creator or host
        // regularizer): its changes are undone and its log leaves this thread's stack.
        let on_panic = OnDrop(|| self.close_transaction(false));
        let r = f();
        std::mem::forget(on_panic);
        self.close_transaction(r.is_ok());
        r
    }

    /// Pops this thread's innermost transaction: merged into the enclosing one of the
    /// same graph when `ok` (so an outer failure undoes it too; another graph's
    /// transaction does not undo this graph's), else undone.
    fn close_transaction(&self, ok: bool) {
        let mut txn = TXN.with(|t| t.borrow_mut().pop()).unwrap_or_default();
        if ok {
            journal(self.id(), |outer| {
                outer.names.append(&mut txn.names);
                outer.vars.append(&mut txn.vars);
                outer.parts.append(&mut txn.parts);
                outer.colls.append(&mut txn.colls);
                if outer.all_len.is_none() {
                    outer.all_len = txn.all_len;
                }
            });
        } else {
            lock(&self.inner.names).undo(&txn.names);
            let mut st = self.state_mut();
            for k in txn.vars.iter().rev() {
                st.store.remove(k);
            }
            for k in txn.parts.iter().rev() {
                st.store.remove_partitioned(k);
            }
            for &(list, len) in txn.colls.iter().rev() {
                st.collections.truncate(list, len);
            }
            if let Some(n) = txn.all_len {
                st.all_vars.truncate(n);
            }
        }
        txn.clear();
        SPARE.with(|s| {
            let mut s = s.borrow_mut();
            if s.len() < SPARE_MAX && txn.room() <= SPARE_ROOM {
                s.push(txn);
            }
        });
    }

    // ----- journaled changes made while creating -------------------------------------

    /// Runs `f` with the store locked for reading.
    pub(crate) fn with_store<R>(&self, f: impl FnOnce(&VariableStore) -> R) -> R {
        f(&self.state().store)
    }

    /// Stores a new variable under `key`.
    pub(crate) fn store_insert(&self, key: &str, v: &Variable) {
        self.state_mut().store.insert(key, v.clone());
        journal(self.id(), |t| t.vars.push(key.to_string()));
    }

    /// Stores a new partitioned variable under `key`.
    pub(crate) fn store_insert_partitioned(&self, key: &str, pv: &PartitionedVariable) {
        self.state_mut().store.insert_partitioned(key, pv.clone());
        journal(self.id(), |t| t.parts.push(key.to_string()));
    }

    /// Adds a new variable to its collections and to the list of every variable.
    pub(crate) fn record_variable(&self, v: &Variable, collections: &[String]) {
        let mut st = self.state_mut();
        for c in collections {
            let len = st.collections.push(c, CollectionItem::Variable(v.clone()));
            journal(self.id(), |t| t.colls.push(len));
        }
        let len = st.all_vars.len();
        journal(self.id(), |t| {
            if t.all_len.is_none() {
                t.all_len = Some(len);
            }
        });
        st.all_vars.push(v.clone());
    }

    /// Records a new variable's regularization loss: the ops under
    /// `key/Regularizer/` and an entry in REGULARIZATION_LOSSES (F1, F3).
    pub(crate) fn record_loss(&self, key: &str, v: &Variable, r: &Regularizer) {
        // TF 2.21 calls the regularizer twice (F3); the first call's ops land at the root.
        self.reserve_op(r.op_name());
        let loss_op = self.reserve_name(&format!("{key}/Regularizer/{}", r.op_name()));
        let item = CollectionItem::Loss(RegularizationLoss {
            name: format!("{loss_op}:0"),
            variable: v.clone(),
            regularizer: r.clone(),
        });
        let len = self.state_mut().collections.push(GraphKeys::REGULARIZATION_LOSSES, item);
        journal(self.id(), |t| t.colls.push(len));
    }

    // ----- collections ---------------------------------------------------------------

    /// `get_collection(key)`: the items, in insertion order.
    pub fn get_collection(&self, key: &str) -> Vec<CollectionItem> {
        self.state().collections.get(key)
    }

    /// `get_collection(key, scope)`: items whose name matches `scope` as a prefix regex
    /// (`re.match`). The regex syntax a scope name can hold is implemented: `.` and
    /// Python's backslash escapes (`\d`, `\w`, `\.`, ...); other characters are literal,
    /// and a pattern Python rejects (`\q`, `\1`) matches nothing.
    pub fn get_collection_scoped(&self, key: &str, scope: &str) -> Vec<CollectionItem> {
        self.state().collections.get_scoped(key, scope)
    }

    /// `add_to_collection(key, item)`.
    pub fn add_to_collection(&self, key: &str, item: CollectionItem) {
        self.state_mut().collections.push(key, item);
    }

    /// Every collection key in use.
    pub fn collection_keys(&self) -> Vec<String> {
        self.state().collections.keys()
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

    // ----- the store -----------------------------------------------------------------

    /// Every variable the graph made (store or not), in creation order.
    pub fn all_variables(&self) -> Vec<Variable> {
        self.state().all_vars.clone()
    }
    /// The store's variables by key, in creation order.
    pub fn store_variables(&self) -> Vec<(String, Variable)> {
        self.state().store.variables()
    }
    /// A store variable by key.
    pub fn store_variable(&self, key: &str) -> Option<Variable> {
        self.state().store.get(key).cloned()
    }
    /// A partitioned variable by key.
    pub fn partitioned_variable(&self, key: &str) -> Option<PartitionedVariable> {
        self.state().store.get_partitioned(key).cloned()
    }
    /// Every partitioned variable.
    pub fn partitioned_variables(&self) -> Vec<PartitionedVariable> {
        self.state().store.partitioned_variables()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Partitioner;

    fn spare_rooms() -> Vec<usize> {
        SPARE.with(|s| s.borrow().iter().map(Txn::room).collect())
    }

    #[test]
    fn undo_logs_are_reused_but_a_large_one_is_not_kept() {
        let g = Graph::new();
        g.get_variable("a").shape([1]).get().unwrap();
        let rooms = spare_rooms();
        assert!(!rooms.is_empty(), "a finished transaction's log is kept for reuse");
        assert!(rooms.iter().all(|&r| r > 0 && r <= SPARE_ROOM), "{rooms:?}");
        // A variable of 500 shards journals thousands of names: its log is dropped.
        g.get_variable("big").shape([500]).partitioner(Partitioner::fixed_size(500)).get().unwrap();
        let rooms = spare_rooms();
        assert!(rooms.iter().all(|&r| r <= SPARE_ROOM), "{rooms:?}");
        // Logs start empty whatever they logged before.
        g.get_variable("b").shape([1]).get().unwrap();
        assert!(TXN.with(|t| t.borrow().is_empty()), "no transaction left open");
        assert!(SPARE.with(|s| s.borrow().iter().all(|t| t.names.is_empty() && t.colls.is_empty())));
    }
}
