//! Collections (catalogue I): the standard keys, the items a collection holds, the
//! `collections` argument, and the per-graph table of collections.

use crate::scope_match::ScopePattern;
use crate::variable::{Tensor, Variable};
use crate::{Error, FastMap, Regularizer, Result};

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

/// The `collections` argument: the keys of the collections a new variable joins (a
/// list, tuple or set in TensorFlow). Made from an array or a `Vec` of keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CollectionsArg(Keys);

/// The argument's value: keys, or (Python emulation, [`crate::compat::collections_str`])
/// a bare string, which creating the variable rejects (I8).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Keys {
    List(Vec<String>),
    NotAList(String),
}

impl CollectionsArg {
    /// The collections `keys`.
    pub fn new<S: Into<String>>(keys: impl IntoIterator<Item = S>) -> Self {
        CollectionsArg(Keys::List(keys.into_iter().map(Into::into).collect()))
    }

    /// The keys (none for a value TensorFlow rejects, see
    /// [`crate::compat::collections_str`]).
    pub fn keys(&self) -> &[String] {
        match &self.0 {
            Keys::List(l) => l,
            Keys::NotAList(_) => &[],
        }
    }

    /// A bare string where a list belongs.
    pub(crate) fn not_a_list(value: &str) -> Self {
        CollectionsArg(Keys::NotAList(value.to_string()))
    }

    /// The keys, or TensorFlow's error for a bare string (I8).
    pub(crate) fn checked_keys(&self) -> Result<&[String]> {
        match &self.0 {
            Keys::List(l) => Ok(l),
            Keys::NotAList(s) => Err(Error::CollectionsNotAList { value: s.clone() }),
        }
    }

    /// `get_local_variable`'s collections: the keys given (if any) plus
    /// `local_variables`; a bare string stays as it is (creating rejects it).
    pub(crate) fn with_local(arg: Option<CollectionsArg>) -> CollectionsArg {
        match arg {
            Some(CollectionsArg(Keys::List(mut l))) if !l.is_empty() => {
                l.push(GraphKeys::LOCAL_VARIABLES.to_string());
                CollectionsArg(Keys::List(l))
            }
            Some(bad @ CollectionsArg(Keys::NotAList(_))) => bad,
            _ => CollectionsArg::new([GraphKeys::LOCAL_VARIABLES]),
        }
    }
}

impl<const N: usize> From<[&str; N]> for CollectionsArg {
    fn from(v: [&str; N]) -> Self {
        CollectionsArg::new(v)
    }
}
impl From<Vec<String>> for CollectionsArg {
    fn from(v: Vec<String>) -> Self {
        CollectionsArg::new(v)
    }
}
impl From<Vec<&str>> for CollectionsArg {
    fn from(v: Vec<&str>) -> Self {
        CollectionsArg::new(v)
    }
}

/// The graph's collections: key to items in insertion order. Every change is a push,
/// undone by truncating back to a recorded length. Each key names a list by its index
/// (lists are never removed), so the journal of a push is two numbers, not the key.
#[derive(Default, Debug)]
pub(crate) struct Collections {
    index: FastMap<String, usize>,
    lists: Vec<Vec<CollectionItem>>,
}

impl Collections {
    /// Appends an item; returns the list's index and its previous length (for the
    /// journal).
    pub fn push(&mut self, key: &str, item: CollectionItem) -> (usize, usize) {
        let list = match self.index.get(key) {
            Some(&i) => i,
            None => {
                self.lists.push(Vec::new());
                self.index.insert(key.to_string(), self.lists.len() - 1);
                self.lists.len() - 1
            }
        };
        let l = &mut self.lists[list];
        l.push(item);
        (list, l.len() - 1)
    }

    /// Undoes pushes: truncates list `list` (as [`Collections::push`] returned it) back
    /// to `len` items.
    pub fn truncate(&mut self, list: usize, len: usize) {
        if let Some(l) = self.lists.get_mut(list) {
            l.truncate(len);
        }
    }

    fn list(&self, key: &str) -> Option<&Vec<CollectionItem>> {
        self.index.get(key).map(|&i| &self.lists[i])
    }

    /// The items of `key`, in insertion order.
    pub fn get(&self, key: &str) -> Vec<CollectionItem> {
        self.list(key).cloned().unwrap_or_default()
    }

    /// The items of `key` whose name matches `scope` as a prefix regex (I7).
    pub fn get_scoped(&self, key: &str, scope: &str) -> Vec<CollectionItem> {
        let pattern = ScopePattern::new(scope);
        self.list(key).map(|l| l.iter().filter(|i| pattern.matches(&i.name())).cloned().collect()).unwrap_or_default()
    }

    /// Every key in use, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut k: Vec<String> = self.index.keys().cloned().collect();
        k.sort();
        k
    }
}
