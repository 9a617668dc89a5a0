//! Shapes as TensorFlow's `TensorShape`: unknown rank, unknown dims, and the exact
//! `str()` forms used in error messages.

use std::fmt;

/// A possibly partially known shape (`TensorShape`).
///
/// `Shape::unknown()` has unknown rank and prints `<unknown>`; a `None` dim prints
/// `None`; known shapes print as Python tuples: `()`, `(2,)`, `(2, 3)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Shape {
    dims: Option<Vec<Option<u64>>>,
}

impl Shape {
    /// A shape of unknown rank.
    pub fn unknown() -> Self {
        Shape { dims: None }
    }

    /// The scalar shape `()`.
    pub fn scalar() -> Self {
        Shape { dims: Some(Vec::new()) }
    }

    /// A fully known shape.
    pub fn new(dims: &[u64]) -> Self {
        Shape { dims: Some(dims.iter().map(|&d| Some(d)).collect()) }
    }

    /// A shape of known rank whose dims may be unknown (`None`).
    pub fn partial(dims: Vec<Option<u64>>) -> Self {
        Shape { dims: Some(dims) }
    }

    /// The dims, or `None` for unknown rank.
    pub fn dims(&self) -> Option<&[Option<u64>]> {
        self.dims.as_deref()
    }

    /// The rank, or `None` when unknown.
    pub fn rank(&self) -> Option<usize> {
        self.dims.as_ref().map(Vec::len)
    }

    /// Whether the rank and every dim are known.
    pub fn is_fully_defined(&self) -> bool {
        matches!(&self.dims, Some(d) if d.iter().all(Option::is_some))
    }

    /// The dims as plain numbers, if fully defined.
    pub fn as_list(&self) -> Option<Vec<u64>> {
        self.dims.as_ref()?.iter().copied().collect()
    }

    /// Product of the dims, if fully defined (1 for a scalar) and representable in a
    /// `u64`.
    pub fn num_elements(&self) -> Option<u64> {
        self.dims.as_ref()?.iter().try_fold(1u64, |a, d| a.checked_mul((*d)?))
    }

    /// Whether the shape is fully defined but has more than `u64::MAX` elements.
    pub fn overflows(&self) -> bool {
        self.is_fully_defined() && self.num_elements().is_none()
    }

    /// TensorShape compatibility: unknown rank is compatible with anything; otherwise the
    /// ranks must agree and each pair of known dims must be equal.
    pub fn is_compatible_with(&self, other: &Shape) -> bool {
        match (&self.dims, &other.dims) {
            (Some(a), Some(b)) => {
                a.len() == b.len()
                    && a.iter().zip(b).all(|(x, y)| match (x, y) {
                        (Some(x), Some(y)) => x == y,
                        _ => true,
                    })
            }
            _ => true,
        }
    }

    /// `TensorShape.merge_with`: the most specific shape compatible with both, or `None`
    /// if they are incompatible.
    pub fn merge_with(&self, other: &Shape) -> Option<Shape> {
        match (&self.dims, &other.dims) {
            (None, _) => Some(other.clone()),
            (_, None) => Some(self.clone()),
            (Some(a), Some(b)) => {
                if a.len() != b.len() {
                    return None;
                }
                let mut out = Vec::with_capacity(a.len());
                for (x, y) in a.iter().zip(b) {
                    out.push(match (x, y) {
                        (Some(x), Some(y)) if x != y => return None,
                        (Some(x), _) => Some(*x),
                        (None, y) => *y,
                    });
                }
                Some(Shape { dims: Some(out) })
            }
        }
    }
}

impl From<&[u64]> for Shape {
    fn from(d: &[u64]) -> Self {
        Shape::new(d)
    }
}

impl<const N: usize> From<[u64; N]> for Shape {
    fn from(d: [u64; N]) -> Self {
        Shape::new(&d)
    }
}

impl From<Vec<u64>> for Shape {
    fn from(d: Vec<u64>) -> Self {
        Shape::new(&d)
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.dims {
            None => f.write_str("<unknown>"),
            Some(d) => {
                f.write_str("(")?;
                for (i, x) in d.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    match x {
                        Some(x) => write!(f, "{x}")?,
                        None => f.write_str("None")?,
                    }
                }
                if d.len() == 1 {
                    f.write_str(",")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// Formats a list of integers as Python prints a list: `[2, 0]`.
pub fn py_list<T: fmt::Display>(items: &[T]) -> String {
    let inner: Vec<String> = items.iter().map(|x| x.to_string()).collect();
    format!("[{}]", inner.join(", "))
}

/// Formats a list of integers as Python prints a tuple: `(3,)`, `(1, 2)`.
pub fn py_tuple<T: fmt::Display>(items: &[T]) -> String {
    let inner: Vec<String> = items.iter().map(|x| x.to_string()).collect();
    if inner.len() == 1 {
        format!("({},)", inner[0])
    } else {
        format!("({})", inner.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn num_elements_is_the_checked_product_of_known_dims() {
        assert_eq!(Shape::scalar().num_elements(), Some(1));
        assert_eq!(Shape::new(&[3, 4, 5]).num_elements(), Some(60));
        assert_eq!(Shape::new(&[3, 0, 5]).num_elements(), Some(0));
        assert_eq!(Shape::unknown().num_elements(), None);
        assert_eq!(Shape::partial(vec![Some(3), None]).num_elements(), None);
        assert_eq!(Shape::partial(vec![None, Some(0)]).num_elements(), None);
        let huge = Shape::new(&[1 << 40, 1 << 40]);
        assert_eq!(huge.num_elements(), None);
        assert!(huge.overflows());
        assert!(!Shape::partial(vec![Some(1 << 40), Some(1 << 40), None]).overflows());
    }

    #[test]
    fn display_matches_tensorshape_str() {
        assert_eq!(Shape::scalar().to_string(), "()");
        assert_eq!(Shape::new(&[2]).to_string(), "(2,)");
        assert_eq!(Shape::new(&[2, 3, 1]).to_string(), "(2, 3, 1)");
        assert_eq!(Shape::unknown().to_string(), "<unknown>");
        assert_eq!(Shape::partial(vec![None, Some(3)]).to_string(), "(None, 3)");
    }

    #[test]
    fn compatibility() {
        let a = Shape::new(&[2, 3]);
        assert!(a.is_compatible_with(&Shape::unknown()));
        assert!(a.is_compatible_with(&Shape::partial(vec![None, Some(3)])));
        assert!(!a.is_compatible_with(&Shape::new(&[2])));
        assert!(!a.is_compatible_with(&Shape::new(&[2, 4])));
        assert_eq!(a.merge_with(&Shape::unknown()), Some(a.clone()));
        assert_eq!(Shape::partial(vec![None, Some(3)]).merge_with(&a), Some(a.clone()));
        assert_eq!(a.merge_with(&Shape::new(&[3, 3])), None);
    }
}
