//! Shared helpers for the catalogue tests.
#![allow(dead_code)]

pub use varscope_core::*;

/// `get_variable(name, shape)` and its tf name.
pub fn var(g: &Graph, name: &str, shape: &[u64]) -> Variable {
    g.get_variable(name).shape(shape.to_vec()).variable().unwrap()
}

/// `get_variable(name, shape)` expecting an error; returns its message.
pub fn var_err(g: &Graph, name: &str, shape: &[u64]) -> String {
    g.get_variable(name).shape(shape.to_vec()).get().unwrap_err().to_string()
}

/// Enters a scope by string and runs `f`.
pub fn vs<R>(g: &Graph, name: &str, f: impl FnOnce(&VariableScope) -> R) -> R {
    g.variable_scope(name).run_plain(f).unwrap()
}
