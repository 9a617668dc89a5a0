//! Plain-data rows and parameters of the training kernels: optimizer codes and
//! parameter blocks, elementwise constraint codes, norm-constraint rows.

use varscope_core::optim::BetaPowers;
use varscope_core::{Constraint, Optimizer};
use varscope_shaders::{NormRow, OptimParams, CONSTRAINT_CLAMP, CONSTRAINT_NONE, NORM_MAX, NORM_MIN_MAX, NORM_UNIT};

pub(crate) fn opt_code(o: &Optimizer) -> Option<u32> {
    use varscope_shaders as s;
    Some(match o {
        Optimizer::Sgd { .. } => s::OPT_SGD,
        Optimizer::Momentum { use_nesterov: false, .. } => s::OPT_MOMENTUM,
        Optimizer::Momentum { use_nesterov: true, .. } => s::OPT_NESTEROV,
        Optimizer::Adagrad { .. } => s::OPT_ADAGRAD,
        Optimizer::RmsProp { centered: false, .. } => s::OPT_RMSPROP,
        Optimizer::RmsProp { centered: true, .. } => s::OPT_RMSPROP_CENTERED,
        Optimizer::Adam { .. } => s::OPT_ADAM,
        Optimizer::AdamW { .. } => s::OPT_ADAMW,
        #[allow(unreachable_patterns)]
        _ => return None,
    })
}

/// The kernel parameters of one step; Adam's step size is formed from `powers`, the beta
/// powers before the step ([`BetaPowers::lr`]: float32, TensorFlow's order).
pub(crate) fn opt_params(o: &Optimizer, powers: BetaPowers) -> OptimParams {
    let mut p = OptimParams::default();
    match *o {
        Optimizer::Sgd { learning_rate } => p.lr = learning_rate,
        Optimizer::Momentum { learning_rate, momentum, .. } => {
            p.lr = learning_rate;
            p.momentum = momentum;
        }
        Optimizer::Adagrad { learning_rate, .. } => p.lr = learning_rate,
        Optimizer::RmsProp { learning_rate, decay, momentum, epsilon, .. } => {
            p.lr = learning_rate;
            p.momentum = momentum;
            p.one_minus_a = 1.0 - decay;
            p.epsilon = epsilon;
        }
        Optimizer::Adam { learning_rate, beta1, beta2, epsilon } => {
            p.lr = powers.lr(learning_rate);
            p.one_minus_a = 1.0 - beta1;
            p.one_minus_b = 1.0 - beta2;
            p.epsilon = epsilon;
        }
        Optimizer::AdamW { weight_decay, learning_rate, beta1, beta2, epsilon } => {
            p.lr = powers.lr(learning_rate);
            p.one_minus_a = 1.0 - beta1;
            p.one_minus_b = 1.0 - beta2;
            p.epsilon = epsilon;
            p.weight_decay = weight_decay;
        }
        #[allow(unreachable_patterns)]
        _ => {}
    }
    p
}

pub(crate) fn betas(o: &Optimizer) -> Option<(f32, f32)> {
    match *o {
        Optimizer::Adam { beta1, beta2, .. } | Optimizer::AdamW { beta1, beta2, .. } => Some((beta1, beta2)),
        _ => None,
    }
}

/// `(constraint code, lo, hi)` of an elementwise constraint for the fused kernel.
pub(crate) fn clamp_of(c: Option<&Constraint>) -> (u32, f32, f32) {
    match c {
        Some(Constraint::NonNeg) => (CONSTRAINT_CLAMP, 0.0, f32::MAX),
        Some(Constraint::ClipByValue { min, max }) => (CONSTRAINT_CLAMP, *min as f32, *max as f32),
        _ => (CONSTRAINT_NONE, 0.0, 0.0),
    }
}

/// A norm constraint as a [`NormRow`] template (offsets and starts left 0), or `None`
/// when the shape does not collapse into 3 kept and 3 reduced dimensions.
pub(crate) fn norm_row(c: &Constraint, shape: &[u64]) -> Option<NormRow> {
    let (kind, max_value, min_value, rate) = match c {
        Constraint::MaxNorm { max_value, .. } => (NORM_MAX, *max_value, 0.0, 1.0),
        Constraint::UnitNorm { .. } => (NORM_UNIT, 1.0, 0.0, 1.0),
        Constraint::MinMaxNorm { min_value, max_value, rate, .. } => (NORM_MIN_MAX, *max_value, *min_value, *rate),
        _ => return None,
    };
    let axes = c.axes();
    // (size, stride, reduced) per dimension, size-1 dimensions dropped, neighbours of
    // the same class merged.
    let mut dims: Vec<(u64, u64, bool)> = Vec::new();
    let mut stride = 1u64;
    let mut rev: Vec<(u64, u64, bool)> = Vec::new();
    for (d, &n) in shape.iter().enumerate().rev() {
        rev.push((n, stride, axes.contains(&d)));
        stride *= n;
    }
    for (n, st, red) in rev.into_iter().rev() {
        if n == 1 {
            continue;
        }
        match dims.last_mut() {
            Some(last) if last.2 == red && last.1 == st * n => {
                last.0 *= n;
                last.1 = st;
            }
            _ => dims.push((n, st, red)),
        }
    }
    let kept: Vec<_> = dims.iter().filter(|d| !d.2).collect();
    let red: Vec<_> = dims.iter().filter(|d| d.2).collect();
    if kept.len() > 3 || red.len() > 3 || stride > u64::from(u32::MAX) {
        return None;
    }
    let mut row = NormRow {
        kind,
        max_value: max_value as f32,
        min_value: min_value as f32,
        rate: rate as f32,
        kept_dims: [1; 4],
        red_dims: [1; 4],
        ..Default::default()
    };
    let pad = 3 - kept.len();
    for (i, d) in kept.iter().enumerate() {
        row.kept_dims[pad + i] = d.0 as u32;
        row.kept_strides[pad + i] = d.1 as u32;
    }
    for (i, d) in red.iter().enumerate() {
        row.red_dims[i] = d.0 as u32;
        row.red_strides[i] = d.1 as u32;
    }
    row.groups = kept.iter().map(|d| d.0 as u32).product();
    Some(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn norm_rows_collapse_shapes() {
        let r = norm_row(&Constraint::max_norm(2.0), &[3, 4]).unwrap();
        assert_eq!(r.groups, 4);
        assert_eq!(&r.kept_dims[..3], &[1, 1, 4]);
        assert_eq!(&r.kept_strides[2..3], &[1]);
        assert_eq!(&r.red_dims[..3], &[3, 1, 1]);
        assert_eq!(r.red_strides[0], 4);
        let r = norm_row(&Constraint::UnitNorm { axes: vec![0, 1] }, &[2, 3, 5]).unwrap();
        assert_eq!(r.groups, 5);
        assert_eq!((r.red_dims[0], r.red_strides[0]), (6, 5));
        let r = norm_row(&Constraint::UnitNorm { axes: vec![] }, &[2, 3]).unwrap();
        assert_eq!((r.groups, r.red_dims[0]), (6, 1));
    }
}
