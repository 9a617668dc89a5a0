//! Regularizer specs (catalogue F, D2). The loss values are computed by the session on
//! the variable's device; the graph records which variables contribute and the loss names.

use std::fmt;
use std::sync::Arc;

/// A host closure regularizer: `f(values) -> loss`, or `None` to contribute no loss
/// (like a Python regularizer returning `None`). `op` names the loss op
/// (`<var>/Regularizer/<op>:0`).
#[derive(Clone)]
pub struct RegularizerFn {
    op: String,
    #[allow(clippy::type_complexity)]
    f: Arc<dyn Fn(&[f64]) -> Option<f64> + Send + Sync>,
}

impl RegularizerFn {
    /// Wraps a closure whose loss op is named `op`.
    pub fn new(op: impl Into<String>, f: impl Fn(&[f64]) -> Option<f64> + Send + Sync + 'static) -> Self {
        RegularizerFn { op: op.into(), f: Arc::new(f) }
    }

    /// The loss op name.
    pub fn op(&self) -> &str {
        &self.op
    }

    /// Evaluates the closure on a variable's values.
    pub fn eval(&self, values: &[f64]) -> Option<f64> {
        (self.f)(values)
    }
}

impl fmt::Debug for RegularizerFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RegularizerFn({})", self.op)
    }
}

impl PartialEq for RegularizerFn {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.f, &other.f)
    }
}

/// A regularizer, as plain data.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Regularizer {
    /// `scale * sum(|w|)`.
    L1 {
        /// Scale.
        scale: f64,
    },
    /// `scale * sum(w²)`.
    L2 {
        /// Scale.
        scale: f64,
    },
    /// `l1 * sum(|w|) + l2 * sum(w²)`.
    L1L2 {
        /// L1 scale.
        l1: f64,
        /// L2 scale.
        l2: f64,
    },
    /// `tf.no_regularizer`: returns None, so no loss is added (it also disables a scope's
    /// regularizer when given as an argument).
    NoRegularizer,
    /// A host closure.
    Fn(RegularizerFn),
}

impl Regularizer {
    /// `l1_regularizer(scale)`.
    pub fn l1(scale: f64) -> Self {
        Regularizer::L1 { scale }
    }
    /// `l2_regularizer(scale)`.
    pub fn l2(scale: f64) -> Self {
        Regularizer::L2 { scale }
    }
    /// `l1_l2_regularizer(l1, l2)`.
    pub fn l1_l2(l1: f64, l2: f64) -> Self {
        Regularizer::L1L2 { l1, l2 }
    }
    /// A host closure regularizer. As TensorFlow calls a regularizer when it creates a
    /// variable and adds a loss only if it returns one, varscope calls the closure at
    /// creation on the variable's initial values (computed on the host): if it returns
    /// `None`, no loss is recorded (nothing in REGULARIZATION_LOSSES, no loss ops);
    /// otherwise it is called a second time, as TensorFlow 2.21 calls it again to build
    /// the loss op (catalogue F3). The session calls it again for the loss's value.
    pub fn host_fn(op: impl Into<String>, f: impl Fn(&[f64]) -> Option<f64> + Send + Sync + 'static) -> Self {
        Regularizer::Fn(RegularizerFn::new(op, f))
    }

    /// Whether calling it yields a loss (the "is not None" test of `_get_single_variable`).
    pub fn produces_loss(&self) -> bool {
        !matches!(self, Regularizer::NoRegularizer)
    }

    /// The name of the op that holds the loss, under `<var>/Regularizer/`.
    pub fn op_name(&self) -> &str {
        match self {
            Regularizer::L1 { .. } | Regularizer::L2 { .. } => "mul",
            Regularizer::L1L2 { .. } => "add_1",
            Regularizer::NoRegularizer => "",
            Regularizer::Fn(f) => f.op(),
        }
    }

    /// The loss of a set of values, computed on the host in f64 (the reference the
    /// device kernels are checked against). `None` for `NoRegularizer` or a closure that
    /// returns `None`.
    pub fn reference_loss(&self, values: &[f64]) -> Option<f64> {
        let l1 = || values.iter().map(|x| x.abs()).sum::<f64>();
        let l2 = || values.iter().map(|x| x * x).sum::<f64>();
        match self {
            Regularizer::L1 { scale } => Some(scale * l1()),
            Regularizer::L2 { scale } => Some(scale * l2()),
            Regularizer::L1L2 { l1: a, l2: b } => Some(a * l1() + b * l2()),
            Regularizer::NoRegularizer => None,
            Regularizer::Fn(f) => f.eval(values),
        }
    }
}
