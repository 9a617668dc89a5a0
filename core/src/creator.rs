//! Variable creators (`variable_creator_scope`, catalogue M) and the default creator,
//! which names a new variable, reserves the names of the ops it builds and adds it to
//! its collections.

use std::sync::{Arc, OnceLock};

use crate::args::CreatorArgs;
use crate::collections::GraphKeys;
use crate::graph::Graph;
use crate::names::validate_scope_name;
use crate::variable::{next_id, VariableData};
use crate::{InitialValue, Result, Variable};

/// A variable creator (`variable_creator_scope`): `creator(next, args)`.
pub type CreatorFn = Arc<dyn Fn(&Creator<'_>, CreatorArgs) -> Result<Variable> + Send + Sync>;

/// The `next_creator` a creator receives.
pub struct Creator<'a> {
    graph: &'a Graph,
    rest: &'a [CreatorFn],
    name_stack: &'a str,
}

impl<'a> Creator<'a> {
    /// The chain `creators` (innermost last) ending in the default creator. `name_stack`
    /// is the name scope a `tf.Variable` is named in.
    pub(crate) fn new(graph: &'a Graph, creators: &'a [CreatorFn], name_stack: &'a str) -> Self {
        Creator { graph, rest: creators, name_stack }
    }

    /// Calls the next creator (finally the default one).
    pub fn call(&self, args: CreatorArgs) -> Result<Variable> {
        match self.rest.split_last() {
            None => default_creator(self.graph, self.name_stack, args),
            Some((last, rest)) => last(&Creator { graph: self.graph, rest, name_stack: self.name_stack }, args),
        }
    }
}

/// The names of the ops that build the initial value, under the variable's op name
/// (A14): `Initializer`, then `Initializer/Const` for a constant value or the ops of
/// the initializer (`Initializer/zeros`, `Initializer/random_uniform/...`).
fn initializer_ops(v: &InitialValue) -> &'static [&'static str] {
    match v {
        InitialValue::Constant(_) => &["Const"],
        InitialValue::Initializer { initializer, .. } => initializer.op_names(),
    }
}

/// The collections of a variable created without a `collections` argument:
/// `[variables]`, and `trainable_variables` when trainable (I1, I2), one shared list each.
fn default_collections(trainable: bool) -> Arc<[String]> {
    static LISTS: OnceLock<[Arc<[String]>; 2]> = OnceLock::new();
    let [global, both] = LISTS.get_or_init(|| {
        let g = GraphKeys::GLOBAL_VARIABLES.to_string();
        [Arc::from([g.clone()]), Arc::from([g, GraphKeys::TRAINABLE_VARIABLES.to_string()])]
    });
    Arc::clone(if trainable { both } else { global })
}

/// The default creator: names the variable by the name scope (the root for store
/// variables), reserves its ops' names, adds it to its collections, and records it.
fn default_creator(graph: &Graph, name_stack: &str, mut a: CreatorArgs) -> Result<Variable> {
    let collections = match &a.collections {
        // The default lists, shared by every variable that has them.
        None => default_collections(a.trainable),
        Some(c) => {
            let mut collections = c.checked_keys()?.to_vec();
            if a.trainable && !collections.iter().any(|c| c == GraphKeys::TRAINABLE_VARIABLES) {
                collections.push(GraphKeys::TRAINABLE_VARIABLES.to_string());
            }
            // Each collection once, first occurrence first.
            let mut i = 0;
            while i < collections.len() {
                if collections[..i].contains(&collections[i]) {
                    collections.remove(i);
                } else {
                    i += 1;
                }
            }
            Arc::from(collections)
        }
    };
    // name_scope(name, "Variable"): at the root for store variables, in the current
    // name stack for tf.Variable.
    let stack = if a.hidden.scope_stack { name_stack } else { "" };
    let op_name = if a.name.is_empty() {
        String::new()
    } else {
        validate_scope_name(&a.name, stack.is_empty())?;
        if let Some(stripped) = a.name.strip_suffix('/') {
            stripped.to_string()
        } else {
            if stack.is_empty() {
                graph.reserve_name_owned(std::mem::take(&mut a.name))
            } else {
                graph.reserve_name(&format!("{stack}/{}", a.name))
            }
        }
    };
    // Ops the variable creates live under its name (A14): `Initializer`, its inner ops
    // `Initializer/...`, then the variable's own.
    let (prefix, sep) = if op_name.is_empty() { ("", "") } else { (op_name.as_str(), "/") };
    graph.reserve_op_parts(&[prefix, sep, "Initializer"]);
    for s in initializer_ops(&a.initial_value) {
        graph.reserve_op_parts(&[prefix, sep, "Initializer/", s]);
    }
    // A resource variable's ops, or a ref variable's (`use_resource=False`, A14).
    let own: &[&str] = if a.use_resource {
        &["IsInitialized", "IsInitialized/VarIsInitializedOp", "Assign", "Read", "Read/ReadVariableOp"]
    } else {
        &["Assign", "read"]
    };
    for s in own {
        graph.reserve_op_parts(&[prefix, sep, s]);
    }
    let in_store = a.hidden.key.is_some();
    let mut seed = a.hidden.seed;
    // The op name is kept only where it differs from the store key (A9's renames).
    let (key, op_name) = match a.hidden.key {
        Some(key) if key == op_name => (key, None),
        Some(key) => (key, Some(op_name)),
        None => {
            seed.hash_name = op_name.clone();
            (op_name, None)
        }
    };
    let v = Variable(Arc::new(VariableData {
        id: next_id(),
        graph_id: graph.id(),
        key,
        op_name,
        shape: a.shape,
        dtype: a.dtype,
        initial: a.initial_value,
        trainable: a.trainable,
        collections,
        caching_device: a.caching_device.map(Box::new),
        constraint: a.constraint.map(Box::new),
        regularizer: a.hidden.regularizer.map(Box::new),
        use_resource: Some(a.use_resource),
        synchronization: a.synchronization,
        aggregation: a.aggregation,
        validate_shape: a.validate_shape,
        slice: a.hidden.slice.map(Box::new),
        late_slice: std::sync::OnceLock::new(),
        partition_info: a.hidden.partition_info.map(Box::new),
        seed,
        in_store,
        origin: a.hidden.origin,
    }));
    graph.record_variable(&v, v.collections());
    Ok(v)
}
