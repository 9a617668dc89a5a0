//! Hostile inputs on every device: huge shapes, wrong lengths, bad indices and foreign
//! variables are typed errors that change nothing; nothing panics or aborts.
mod common;
use common::*;
use varscope_core::{Graph, Initializer, Partitioner};
use varscope_gpu::{GpuError, HostValues, Session};

#[test]
fn huge_variables_are_refused_before_allocation() {
    for_each_target("huge_variables_are_refused_before_allocation", targets(), |t| {
        let g = Graph::new();
        let shapes: [&[u64]; 3] = [&[1 << 40, 1 << 20], &[u64::MAX / 4], &[1 << 31, 1 << 31]];
        let mut vars = Vec::new();
        for (i, shape) in shapes.iter().enumerate() {
            for init in
                [Initializer::zeros(), Initializer::random_normal(0.0, 1.0), Initializer::constant_list(&[1.0, 2.0])]
            {
                let name = format!("v{i}_{}", init.kind_name());
                vars.push(var(g
                    .get_variable(&name)
                    .shape(shape.to_vec())
                    .initializer(init)
                    .caching_device(t.device.as_str())
                    .get()
                    .unwrap()));
            }
        }
        let p = g
            .get_variable("p")
            .shape([1u64 << 40, 1 << 20])
            .partitioner(Partitioner::fixed_size(3))
            .caching_device(t.device.as_str())
            .get()
            .unwrap();
        let s = Session::new(&g).unwrap();
        let before = s.bytes_in_use(&t.device).unwrap();
        for v in &vars {
            let e = s.variables_initializer(std::slice::from_ref(v)).unwrap_err();
            assert!(
                matches!(e, GpuError::TooLarge { .. } | GpuError::OutOfMemory { .. }),
                "[{}] {}: {e}",
                t.label,
                v.key()
            );
            assert!(e.to_string().contains(v.key()), "[{}] error names the variable: {e}", t.label);
            assert!(s.read(v).is_err());
        }
        assert!(s.read_partitioned(p.partitioned().unwrap()).is_err());
        assert!(s.global_variables_initializer().is_err(), "[{}]", t.label);
        assert_eq!(s.bytes_in_use(&t.device).unwrap(), before, "[{}] nothing allocated", t.label);
        assert_eq!(s.report_uninitialized_variables().len(), vars.len() + 3);
    });
}

#[test]
fn wrong_host_values_change_nothing() {
    for_each_target("wrong_host_values_change_nothing", targets(), |t| {
        let g = Graph::new();
        let v = var(g
            .get_variable("v")
            .shape([3])
            .initializer(Initializer::ones())
            .caching_device(t.device.as_str())
            .get()
            .unwrap());
        let s = Session::new(&g).unwrap();
        s.global_variables_initializer().unwrap();
        assert!(s.assign_f32(&v, &[1.0; 4]).is_err(), "[{}]", t.label);
        assert!(s.assign_f32(&v, &[]).is_err(), "[{}]", t.label);
        assert!(s.assign_bytes(&v, &[0u8; 5]).is_err(), "[{}]", t.label);
        assert!(HostValues::from_bytes(varscope_core::DType::Bool, &[2], vec![0, 7]).is_err());
        assert!(s.scatter_update(&v, &[3], &[9.0]).is_err(), "[{}] index out of range", t.label);
        assert!(s.scatter_add(&v, &[-1], &[9.0]).is_err(), "[{}] negative index", t.label);
        assert!(s.scatter_sub(&v, &[0, 1], &[9.0]).is_err(), "[{}] rows and updates differ", t.label);
        assert_eq!(s.read_f32(&v).unwrap(), vec![1.0; 3], "[{}] nothing written", t.label);
        // A variable of another graph.
        let other = Graph::new();
        let w = var(other.get_variable("v").shape([3]).get().unwrap());
        assert!(s.read(&w).is_err() && s.assign_f32(&w, &[0.0; 3]).is_err(), "[{}]", t.label);
    });
}
