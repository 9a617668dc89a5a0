//! Constraint specs: projections applied after every optimizer update (catalogue D8;
//! runtime.md section 7). The reference implementation lives here, on the host.

/// A constraint, as plain data. Norm constraints reduce over `axes` (Keras' default is
/// axis 0: each column of a 2-D kernel is normalized).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Constraint {
    /// `max(w, 0)`.
    NonNeg,
    /// `clip_by_value(w, min, max)`.
    ClipByValue {
        /// Lower bound.
        min: f64,
        /// Upper bound.
        max: f64,
    },
    /// Rescale slices whose L2 norm exceeds `max_value`.
    MaxNorm {
        /// Largest allowed norm.
        max_value: f64,
        /// Reduction axes.
        axes: Vec<usize>,
    },
    /// Rescale slices to unit L2 norm.
    UnitNorm {
        /// Reduction axes.
        axes: Vec<usize>,
    },
    /// Rescale slice norms into `[min_value, max_value]`, moving by `rate`.
    MinMaxNorm {
        /// Lower norm bound.
        min_value: f64,
        /// Upper norm bound.
        max_value: f64,
        /// 1.0 = strict; smaller moves part way.
        rate: f64,
        /// Reduction axes.
        axes: Vec<usize>,
    },
}

/// Keras' epsilon, used by the norm constraints.
pub const EPSILON: f64 = 1e-7;

impl Constraint {
    /// `non_neg()`.
    pub fn non_neg() -> Self {
        Constraint::NonNeg
    }
    /// `clip_by_value(min, max)`.
    pub fn clip_by_value(min: f64, max: f64) -> Self {
        Constraint::ClipByValue { min, max }
    }
    /// `max_norm(max_value, axis=0)`.
    pub fn max_norm(max_value: f64) -> Self {
        Constraint::MaxNorm { max_value, axes: vec![0] }
    }
    /// `unit_norm(axis=0)`.
    pub fn unit_norm() -> Self {
        Constraint::UnitNorm { axes: vec![0] }
    }
    /// `min_max_norm(min_value, max_value, rate, axis=0)`.
    pub fn min_max_norm(min_value: f64, max_value: f64, rate: f64) -> Self {
        Constraint::MinMaxNorm { min_value, max_value, rate, axes: vec![0] }
    }

    /// Whether the constraint is elementwise (fusable into an update kernel).
    pub fn is_elementwise(&self) -> bool {
        matches!(self, Constraint::NonNeg | Constraint::ClipByValue { .. })
    }

    /// The reduction axes of a norm constraint.
    pub fn axes(&self) -> &[usize] {
        match self {
            Constraint::MaxNorm { axes, .. } | Constraint::UnitNorm { axes } | Constraint::MinMaxNorm { axes, .. } => {
                axes
            }
            _ => &[],
        }
    }

    /// Applies the constraint to row-major `values` of `shape` on the host, in f64 (the
    /// reference for the device kernels). Axes beyond the rank are ignored.
    pub fn apply_reference(&self, shape: &[u64], values: &mut [f64]) {
        match self {
            Constraint::NonNeg => values.iter_mut().for_each(|x| *x = x.max(0.0)),
            Constraint::ClipByValue { min, max } => values.iter_mut().for_each(|x| *x = x.clamp(*min, *max)),
            _ => {
                let groups = norm_groups(shape, self.axes());
                for g in groups {
                    let norm = g.iter().map(|&i| values[i] * values[i]).sum::<f64>().sqrt();
                    let desired = match self {
                        Constraint::MaxNorm { max_value, .. } => norm.clamp(0.0, *max_value),
                        Constraint::UnitNorm { .. } => 1.0,
                        Constraint::MinMaxNorm { min_value, max_value, rate, .. } => {
                            rate * norm.clamp(*min_value, *max_value) + (1.0 - rate) * norm
                        }
                        // The outer match sent NonNeg and ClipByValue elsewhere; every
                        // other constraint is one of the three norms above.
                        _ => unreachable!(),
                    };
                    let factor = desired / (EPSILON + norm);
                    for i in g {
                        values[i] *= factor;
                    }
                }
            }
        }
    }
}

/// Groups element indices of a row-major `shape` that share every coordinate outside
/// `axes` (the slices a norm constraint normalizes together).
pub fn norm_groups(shape: &[u64], axes: &[usize]) -> Vec<Vec<usize>> {
    let n: u64 = shape.iter().product();
    let rank = shape.len();
    let mut map: std::collections::BTreeMap<Vec<u64>, Vec<usize>> = std::collections::BTreeMap::new();
    let mut pos = vec![0u64; rank];
    for i in 0..n as usize {
        let key: Vec<u64> = (0..rank).filter(|d| !axes.contains(d)).map(|d| pos[d]).collect();
        map.entry(key).or_default().push(i);
        for d in (0..rank).rev() {
            pos[d] += 1;
            if pos[d] < shape[d] {
                break;
            }
            pos[d] = 0;
        }
    }
    map.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_norm_columns() {
        let mut v = vec![3.0, 0.0, 4.0, 1.0];
        Constraint::max_norm(1.0).apply_reference(&[2, 2], &mut v);
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[2] - 0.8).abs() < 1e-6);
        assert!((v[3] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn elementwise() {
        let mut v = vec![-1.0, 2.0, 5.0];
        Constraint::clip_by_value(0.0, 3.0).apply_reference(&[3], &mut v);
        assert_eq!(v, vec![0.0, 2.0, 3.0]);
    }
}
