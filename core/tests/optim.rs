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

#[test]
fn beta_powers_are_tensorflows_float32_accumulators() {
    use varscope_core::optim::{adam_lr, BetaPowers};
    // beta1_power / beta2_power of the mlp_adam fixture (TensorFlow 2.21, 5 steps of
    // AdamOptimizer(0.01)) and after its 6th step: the betas multiplied in float32.
    let p = BetaPowers::at_step(0.9, 0.999, 6);
    assert_eq!((p.beta1_power.to_bits(), p.beta2_power.to_bits()), (0x3f08_0c83, 0x3f7e_77c6));
    let q = p.advance(0.9, 0.999);
    assert_eq!((q.beta1_power.to_bits(), q.beta2_power.to_bits()), (0x3ef4_e352, 0x3f7e_36a1));
    assert_eq!(BetaPowers::at_step(0.9, 0.999, 7), q);
    assert_eq!(BetaPowers::at_step(0.9, 0.999, 1), BetaPowers::initial(0.9, 0.999));
    assert_eq!(BetaPowers::at_step(0.9, 0.999, 0), BetaPowers::initial(0.9, 0.999));
    // The chain differs from the correctly rounded power somewhere in the first steps:
    // it is not beta^t rounded once.
    let differs = (1..200).any(|t| BetaPowers::at_step(0.9, 0.999, t).beta1_power != 0.9f64.powi(t as i32) as f32);
    assert!(differs);
    // The step size in float32, TensorFlow's order: lr * sqrt(1 - b2p) / (1 - b1p).
    let lr = 0.01f32;
    assert_eq!(q.lr(lr).to_bits(), (lr * (1.0f32 - q.beta2_power).sqrt() / (1.0f32 - q.beta1_power)).to_bits());
    assert_eq!(adam_lr(lr, 0.9, 0.999, 7), q.lr(lr));
    // The reference step uses them: step 7 from the powers equals step 7 by count.
    let opt = Optimizer::Adam { learning_rate: lr, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };
    let (mut a, mut b) = (vec![0.3f32, -0.2], vec![0.3f32, -0.2]);
    let mut sa = vec![vec![0.01f32, 0.02], vec![0.001f32, 0.002]];
    let mut sb = sa.clone();
    opt.reference_step(7, &mut a, &[0.5, -0.25], &mut sa).unwrap();
    opt.reference_step_with_powers(q, &mut b, &[0.5, -0.25], &mut sb).unwrap();
    assert_eq!((a, sa), (b, sb));
    // Underflowed powers stop the walk early (a huge step count returns at once).
    assert_eq!(BetaPowers::at_step(0.5, 0.5, u64::MAX), BetaPowers { beta1_power: 0.0, beta2_power: 0.0 });
}

#[test]
fn get_or_create_global_step_makes_tensorflows_variable() {
    let g = Graph::new();
    assert!(g.global_step().is_none());
    let gs = g.variable_scope("outer").run(|_| g.get_or_create_global_step()).unwrap();
    // In the current variable scope, as TensorFlow's create_global_step.
    assert_eq!(gs.op_name(), "outer/global_step");
    assert_eq!((gs.dtype(), gs.dims(), gs.trainable()), (DType::Int64, Some(vec![]), false));
    assert_eq!(g.get_or_create_global_step().unwrap().id(), gs.id());
    let in_collection: Vec<String> =
        g.get_collection(varscope_core::optim::GLOBAL_STEP).iter().map(|i| i.name()).collect();
    assert_eq!(in_collection, ["outer/global_step:0"]);
    assert!(g.global_variables().iter().any(|v| v.id() == gs.id()));
    assert!(g.trainable_variables().is_empty());
    // Without the collection, a global variable named global_step is found.
    let g2 = Graph::new();
    let v = g2
        .get_variable("global_step")
        .shape(Vec::<u64>::new())
        .dtype(DType::Int64)
        .trainable(false)
        .variable()
        .unwrap();
    assert_eq!(g2.global_step().map(|x| x.id()), Some(v.id()));
}
