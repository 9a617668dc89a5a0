//! Collections (catalogue I): the standard keys, the items a collection holds, the
//! `collections` argument, and the per-graph table of collections.

use std::collections::HashMap;

use crate::names::regex_prefix_match;
use crate::variable::{Tensor, Variable};
use crate::Regularizer;

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

/// The `collections` argument: a list, or (an error, I8) a bare string.
#[derive(Clone, Debug, PartialEq)]
pub enum CollectionsArg {
    /// A list, tuple or set of keys.
    List(Vec<String>),
    /// A string given where a list belongs (an error, I8); made by
    /// [`crate::compat::collections_str`].
    #[doc(hidden)]
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

/// The graph's collections: key to items in insertion order. Every change is a push,
/// undone by truncating back to a recorded length.
#[derive(Default, Debug)]
pub(crate) struct Collections {
    map: HashMap<String, Vec<CollectionItem>>,
}

impl Collections {
    /// Appends an item and returns the collection's previous length (for the journal).
    pub fn push(&mut self, key: &str, item: CollectionItem) -> usize {
        let list = self.map.entry(key.to_string()).or_default();
        let len = list.len();
        list.push(item);
        len
    }

    /// Undoes pushes: truncates `key` back to `len` items.
    pub fn truncate(&mut self, key: &str, len: usize) {
        if let Some(l) = self.map.get_mut(key) {
            l.truncate(len);
        }
    }

    /// The items of `key`, in insertion order.
    pub fn get(&self, key: &str) -> Vec<CollectionItem> {
        self.map.get(key).cloned().unwrap_or_default()
    }

    /// The items of `key` whose name matches `scope` as a prefix regex (I7).
    pub fn get_scoped(&self, key: &str, scope: &str) -> Vec<CollectionItem> {
        self.map
            .get(key)
            .map(|l| l.iter().filter(|i| regex_prefix_match(scope, &i.name())).cloned().collect())
            .unwrap_or_default()
    }

    /// Every key in use, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut k: Vec<String> = self.map.keys().cloned().collect();
        k.sort();
        k
    }
}
