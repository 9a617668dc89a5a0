//! Hostile inputs: nothing a user can pass makes the host side panic.
mod common;
use common::*;

#[test]
fn huge_shapes_are_errors_or_values_not_panics() {
    let g = Graph::new();
    let big = 1u64 << 40;
    for (i, shape) in [vec![big, big], vec![u64::MAX, 2], vec![big, big, big], vec![u64::MAX]].into_iter().enumerate() {
        for init in [
            Initializer::glorot_uniform(),
            Initializer::constant_list(&[1.0, 2.0]),
            Initializer::identity(1.0),
            Initializer::orthogonal(1.0),
        ] {
            // Must return (Ok or a typed error); a panic fails the test.
            let _ = g.get_variable(&format!("v{i}_{}", init.kind_name())).shape(shape.clone()).initializer(init).get();
        }
        let _ =
            g.get_variable(&format!("p{i}")).shape(shape.clone()).partitioner(Partitioner::min_max(4, 0, 1, 16)).get();
        let _ = Partitioner::variable_axis_size(1, 0, 16, None).unwrap().call(&Shape::new(&shape), DType::Float64);
    }
}

#[test]
fn odd_partitioner_outputs_are_errors() {
    let g = Graph::new();
    for (i, p) in [vec![i64::MAX, 1], vec![-1, 1], vec![1, 1, 1], vec![]].into_iter().enumerate() {
        let pp = p.clone();
        let part = Partitioner::custom("odd", move |_, _| Ok(Partitions::List(pp.clone())));
        let r = g.get_variable(&format!("v{i}")).shape([4, 2]).partitioner(part).get();
        assert!(r.is_err(), "partitions {p:?}: {r:?}");
    }
}
