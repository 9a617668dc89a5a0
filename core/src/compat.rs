//! Python-emulation hooks: arguments that TensorFlow receives as arbitrary Python
//! values and checks at run time. Rust's types rule most of them out; these hooks
//! exist so the conformance tests can reproduce TensorFlow's errors for such values
//! (catalogue C10, H8, I8, N2, N4, and the non-callable partitioner of section P).
//! Application code does not need them.

use crate::args::Reuse;
use crate::collections::CollectionsArg;
use crate::enter::{ScopeName, VariableScopeBuilder};
use crate::getter::CustomGetter;
use crate::graph::Graph;
use crate::partition::{Partitioner, PartitionerFn};
use crate::{Error, Result};

/// Parses a reuse argument as TensorFlow's constructor checks it (C10): `"True"`,
/// `"False"`, `"None"`, `"AUTO_REUSE"` (also `tf.AUTO_REUSE`,
/// `tf.compat.v1.AUTO_REUSE`). `"False"` and `"None"` give [`Reuse::Inherit`], as
/// TensorFlow rewrites `reuse=False` to `None`. Anything else (`"yes"`, `"1"`, `"0"`)
/// is `The reuse parameter must be True or False or None.`
pub fn parse_reuse(value: &str) -> Result<Reuse> {
    match value {
        "True" => Ok(Reuse::True),
        "False" | "None" => Ok(Reuse::Inherit),
        "AUTO_REUSE" | "tf.AUTO_REUSE" | "tf.compat.v1.AUTO_REUSE" => Ok(Reuse::AutoReuse),
        other => Err(Error::InvalidReuse { value: other.to_string() }),
    }
}

/// `variable_scope(name_or_scope)` with a value of a type other than a string or a
/// scope, given by its `repr` (`"123"`): entering the returned builder fails with N2's
/// `TypeError` (`VariableScope: name_or_scope must be a string or VariableScope.`),
/// after the checks TensorFlow's constructor makes first.
pub fn variable_scope_value<'g>(graph: &'g Graph, repr: &str) -> VariableScopeBuilder<'g> {
    VariableScopeBuilder::new(graph, ScopeName::Str(String::new())).set_invalid_name(repr)
}

/// A `collections` argument given as a bare string (I8): creating the variable fails
/// with `collections argument to Variable constructor must be a list, tuple, or set.`
/// (fetching an existing one does not look at it, as in TensorFlow).
pub fn collections_str(value: &str) -> CollectionsArg {
    CollectionsArg::not_a_list(value)
}

/// A `custom_getter` given as a Python value that is not callable (`3`: `repr` is its
/// `str()`, `type_name` its type, `int`). A scope accepts it; `get_variable` then fails
/// with H8's `Passed a custom_getter which is not callable: 3`, or, when a scope
/// composed it with another getter, with Python's `TypeError` (`'int' object is not
/// callable`) when the chain reaches it.
pub fn custom_getter_value(repr: &str, type_name: &str) -> CustomGetter {
    CustomGetter::not_callable(repr, type_name)
}

/// A `partitioner` given as a Python value that is not callable (`repr` its `str()`):
/// accepted by a scope; `get_variable` of a variable that is not a scalar fails with
/// `Partitioner must be callable, but received: 3`.
pub fn partitioner_value(repr: &str) -> Partitioner {
    Partitioner::Custom(PartitionerFn::not_callable(repr))
}

/// Python-valued arguments of `variable_scope`.
pub trait ScopeArgs: Sized {
    /// `reuse` given as TensorFlow source text (see [`parse_reuse`]); an invalid value
    /// makes entering fail with C10's error.
    fn reuse_arg(self, value: &str) -> Self;
    /// `auxiliary_name_scope` given as TensorFlow source text: `"True"`/`"False"`;
    /// anything else makes entering fail with N4's TypeError.
    fn auxiliary_name_scope_arg(self, value: &str) -> Self;
}

impl ScopeArgs for VariableScopeBuilder<'_> {
    fn reuse_arg(self, value: &str) -> Self {
        self.set_reuse_arg(parse_reuse(value))
    }

    fn auxiliary_name_scope_arg(self, value: &str) -> Self {
        match value {
            "True" => self.auxiliary_name_scope(true),
            "False" => self.auxiliary_name_scope(false),
            other => self.set_aux_error(Error::InvalidAuxiliaryNameScope { value: other.to_string() }),
        }
    }
}
