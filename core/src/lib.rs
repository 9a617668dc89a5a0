//! # varscope-core
//!
//! Everything that happens on the host when a program opens scopes and asks for
//! variables, with TensorFlow 1.x's `variable_scope` / `get_variable` / `name_scope`
//! semantics reproduced exactly: hierarchical names, reuse (True / None / AUTO_REUSE),
//! scope defaults, partitioned variables, custom getters, creator scopes, templates,
//! collections, and thread-local scopes over one shared store.
//!
//! This crate is pure host code: no wgpu, no I/O. `get_variable` returns a handle at
//! once; a session (crate `varscope-gpu`) materializes handles as device buffers.
//!
//! Two ways to write a model, with the same names, reuse rules, collections and errors:
//!
//! ```
//! use varscope_core::{Graph, Initializer, Reuse};
//!
//! let g = Graph::new();
//! // Scope paths: values you pass around; the terminal says what it does.
//! let layer = g.scope("mlp").sub("layer1");
//! let w = layer.var("w").shape([784, 256]).create()?;
//! let b = layer.var("b").shape([256]).initializer(Initializer::zeros()).create()?;
//! assert_eq!(w.name(), "mlp/layer1/w:0");
//! assert_eq!(g.scope("mlp").reuse(Reuse::True).sub("layer1").var("b").fetch()?, b);
//!
//! // The TensorFlow-shaped path: variable_scope(..).run(..) and get_variable.
//! let v = g.variable_scope("foo").run(|_| g.variable_scope("bar").run(|_| g.get_variable("v").shape([1]).variable()))?;
//! assert_eq!(v.name(), "foo/bar/v:0");
//! # Ok::<(), varscope_core::Error>(())
//! ```

#![warn(missing_docs)]

mod args;
mod collections;
pub mod compat;
pub mod constraint;
mod context;
mod creation_lock;
mod creator;
pub mod device;
pub mod dtype;
mod enter;
pub mod error;
mod get_variable;
mod getter;
mod graph;
pub mod init;
mod names;
pub mod optim;
mod orthogonal;
pub mod partition;
mod path;
pub mod random;
pub mod reference;
pub mod regularizer;
mod scope;
mod scope_counts;
mod scope_match;
pub mod shape;
mod store;
mod sync;
mod template;
pub mod tensor;
pub mod variable;

/// A hash map keyed by names the program chose (not untrusted input), hashed with
/// foldhash rather than std's SipHash, which showed in profiles of creating and looking up
/// variables.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;
/// [`FastMap`]'s set.
pub(crate) type FastSet<K> = std::collections::HashSet<K, foldhash::fast::FixedState>;

pub use args::{CreatorArgs, GetterArgs, InitArg, Reuse, ReuseMode, ShapeArg, ValueFn};
pub use collections::{CollectionItem, CollectionsArg, GraphKeys, RegularizationLoss};
pub use constraint::Constraint;
pub use context::NameScopeGuard;
pub use creator::{Creator, CreatorFn};
pub use device::{DeviceKind, DeviceName, DeviceSpec};
pub use dtype::DType;
pub use enter::{ScopeName, ValueRef, VariableScopeBuilder, VariableScopeGuard};
pub use error::{Error, PyErrorKind, Result};
pub use get_variable::{GetVariable, NewVariable};
pub use getter::{CustomGetter, Getter, GetterFn};
pub use graph::Graph;
pub use init::{Distribution, FanMode, HostInitFn, InitKernel, Initializer};
pub use optim::Optimizer;
pub use partition::{PartitionInfo, Partitioner, Partitions, SliceInfo};
pub use path::{ScopePath, VarRequest};
pub use regularizer::Regularizer;
pub use scope::VariableScope;
pub use shape::Shape;
pub use store::EagerVariableStore;
pub use template::Template;
pub use tensor::{ConstantKind, HostTensor, TensorData};
pub use variable::{
    Aggregation, CachingDevice, DeviceFn, InitialValue, PartitionedVariable, SeedInfo, Synchronization, Tensor, VarRef,
    Variable,
};
