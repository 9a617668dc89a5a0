//! Variable scope objects (`VariableScope`, catalogue 0.3, C, D): a scope's name, its
//! original name scope, its reuse mode and the defaults it hands to `get_variable`.
//! Entering and exiting scopes is in [`crate::enter`]; the per-thread current scope in
//! [`crate::context`].

use std::fmt;
use std::sync::{Arc, RwLock};

use crate::args::{InitArg, ReuseMode};
use crate::collections::CollectionItem;
use crate::getter::CustomGetter;
use crate::graph::Graph;
use crate::sync::{read, write};
use crate::variable::CachingDevice;
use crate::{Constraint, DType, Partitioner, Regularizer};

/// The mutable fields of a scope object.
#[derive(Clone, Debug)]
pub(crate) struct ScopeFields {
    pub name: String,
    pub name_scope: String,
    pub reuse: ReuseMode,
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
            reuse: ReuseMode::CreateOnly,
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
    /// Copy on write: a `get_variable` call takes the fields with one reference-count
    /// increment (no copy of the name strings), a `set_*` copies them only while a call
    /// still holds the old ones.
    pub fields: RwLock<Arc<ScopeFields>>,
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
            self.update(|f| f.$get = Some(value.into()));
        }
    };
}

impl VariableScope {
    pub(crate) fn from_fields(graph_id: u64, fields: ScopeFields) -> Self {
        VariableScope(Arc::new(ScopeObj { graph_id, fields: RwLock::new(Arc::new(fields)) }))
    }

    pub(crate) fn read(&self) -> std::sync::RwLockReadGuard<'_, Arc<ScopeFields>> {
        read(&self.0.fields)
    }

    /// Changes the fields (copying them first if a snapshot still holds them).
    fn update(&self, f: impl FnOnce(&mut ScopeFields)) {
        f(Arc::make_mut(&mut write(&self.0.fields)));
    }

    /// The fields as they are now (later changes to the scope do not show in it).
    pub(crate) fn snapshot(&self) -> Arc<ScopeFields> {
        Arc::clone(&self.read())
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
    pub fn reuse(&self) -> ReuseMode {
        self.read().reuse
    }
    /// `reuse_variables()`: sets reuse to True on this object.
    pub fn reuse_variables(&self) {
        self.update(|f| f.reuse = ReuseMode::ReuseOnly);
    }
    /// The default dtype (float32 unless set).
    pub fn dtype(&self) -> DType {
        self.read().dtype
    }
    /// `set_dtype`.
    pub fn set_dtype(&self, dtype: DType) {
        self.update(|f| f.dtype = dtype);
    }
    /// `use_resource` (None: runtime default).
    pub fn use_resource(&self) -> Option<bool> {
        self.read().use_resource
    }
    /// `set_use_resource`.
    pub fn set_use_resource(&self, v: bool) {
        self.update(|f| f.use_resource = Some(v));
    }
    getter_setter!(initializer, set_initializer, InitArg, "initializer");
    getter_setter!(regularizer, set_regularizer, Regularizer, "regularizer");
    getter_setter!(caching_device, set_caching_device, CachingDevice, "caching device");
    getter_setter!(partitioner, set_partitioner, Partitioner, "partitioner");
    getter_setter!(custom_getter, set_custom_getter, CustomGetter, "custom getter");
    getter_setter!(constraint, set_constraint, Constraint, "constraint");

    /// `scope.get_collection(key)`: the graph's collection filtered by this scope's name
    /// plus `/`, matched as a prefix regex (I7); everything at the root.
    pub fn get_collection(&self, graph: &Graph, key: &str) -> Vec<CollectionItem> {
        let name = self.name();
        let pattern = if name.is_empty() { String::new() } else { format!("{name}/") };
        graph.get_collection_scoped(key, &pattern)
    }

    /// Id of the graph the scope belongs to.
    pub fn graph_id(&self) -> u64 {
        self.0.graph_id
    }

    pub(crate) fn set_partitioner_opt(&self, p: Option<Partitioner>) {
        self.update(|f| f.partitioner = p);
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
