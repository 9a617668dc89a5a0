//! Optimizer specs, slot naming (TensorFlow's slot_creator) and the host reference step.
mod common;
use common::*;

#[test]
fn slot_names_follow_slot_creator() {
    let g = Graph::new();
    let v = vs(&g, "foo", |_| var(&g, "v", &[3]));
    let slots = g.create_slots(&v, &Optimizer::adam()).unwrap();
    let names: Vec<String> = slots.iter().map(|s| s.name()).collect();
    assert_eq!(names, vec!["foo/v/Adam:0", "foo/v/Adam_1:0"]);
    assert!(slots.iter().all(|s| !s.trainable() && s.dims() == Some(vec![3])));
    assert!(g.global_variables().contains(&slots[1]));
    assert!(!g.trainable_variables().contains(&slots[0]));
    let m = g.create_slots(&v, &Optimizer::momentum(0.1, 0.9)).unwrap();
    assert_eq!(m[0].name(), "foo/v/Momentum:0");
    let r = g
        .create_slots(
            &v,
            &Optimizer::RmsProp { learning_rate: 0.1, decay: 0.9, momentum: 0.0, epsilon: 1e-10, centered: true },
        )
        .unwrap();
    let names: Vec<String> = r.iter().map(|s| s.name()).collect();
    assert_eq!(names, vec!["foo/v/RMSProp:0", "foo/v/RMSProp_1:0", "foo/v/RMSProp_2:0"]);
    assert_eq!(r[0].initial_value().kernel(), Some(&InitKernel::Fill(1.0)));
}

#[test]
fn slots_follow_primary_device_dtype_and_partitioning() {
    let g = Graph::new();
    let p = g
        .variable_scope("s")
        .caching_device("/gpu:1")
        .partitioner(Partitioner::fixed_size(2))
        .run_plain(|_| g.get_variable("p").shape([4, 2]).dtype(DType::Float16).get().unwrap())
        .unwrap();
    let shard = &p.partitioned().unwrap().shards()[1];
    let slots = g.create_slots(shard, &Optimizer::adam()).unwrap();
    assert_eq!(slots[0].name(), "s/p/part_1/Adam:0");
    assert_eq!(slots[0].caching_device(), Some(&CachingDevice::from("/gpu:1")));
    assert_eq!(slots[0].dtype(), DType::Float16);
    let si = slots[0].slice_info().unwrap();
    assert_eq!((si.full_name.as_str(), si.var_offset.as_slice()), ("s/p/Adam", &[2u64, 0][..]));
    assert_eq!(slots[1].slice_info().unwrap().full_name, "s/p/Adam_1");
}

#[test]
fn reference_steps_match_tensorflow_formulas() {
    // One step from var=1, grad=0.5, written out by hand from TF's training_ops.
    let g = 0.5f32;
    let check = |opt: Optimizer, expect: f32| {
        let mut v = vec![1.0f32];
        let mut slots: Vec<Vec<f32>> = opt
            .slot_specs()
            .iter()
            .map(|(_, i)| {
                vec![match i.resolve(&[1]) {
                    InitKernel::Fill(x) => x as f32,
                    _ => 0.0,
                }]
            })
            .collect();
        opt.reference_step(1, &mut v, &[g], &mut slots).unwrap();
        assert!((v[0] - expect).abs() < 1e-6, "{}: {} vs {expect}", opt.name(), v[0]);
    };
    check(Optimizer::sgd(0.1), 1.0 - 0.05);
    check(Optimizer::momentum(0.1, 0.9), 1.0 - 0.05);
    check(Optimizer::nesterov(0.1, 0.9), 1.0 - (0.05 + 0.5 * 0.9 * 0.1));
    check(Optimizer::adagrad(0.1), 1.0 - 0.1 * 0.5 / (0.1f32 + 0.25).sqrt());
    let ms = 1.0 + (0.25 - 1.0) * 0.1;
    check(Optimizer::rmsprop(0.1), 1.0 - 0.1 * 0.5 / (ms + 1e-10f32).sqrt());
    // Adam's first step moves by ~lr regardless of the gradient's scale.
    check(Optimizer::adam(), 1.0 - 0.001);
    check(Optimizer::adamw(0.01), 1.0 - 0.01 - 0.001);
}

#[test]
fn reference_step_rejects_mismatched_lengths() {
    let mut v = vec![0.0f32; 3];
    assert!(Optimizer::sgd(0.1).reference_step(1, &mut v, &[1.0], &mut []).is_err());
    assert!(Optimizer::adam().reference_step(1, &mut v, &[1.0; 3], &mut [vec![0.0; 3]]).is_err());
}
