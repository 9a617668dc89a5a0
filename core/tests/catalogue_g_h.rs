//! Catalogue sections G (partitioned variables) and H (custom getters).
mod common;
use common::*;
use std::sync::{Arc, Mutex};

fn part(g: &Graph, name: &str, shape: &[u64], p: Partitioner) -> Result<VarRef> {
    g.get_variable(name).shape(shape.to_vec()).partitioner(p).get()
}

fn shard_shapes(r: &VarRef) -> Vec<Vec<u64>> {
    r.partitioned().unwrap().shards().iter().map(|v| v.dims().unwrap()).collect()
}

#[test]
fn g1_partitioner_called_with_shape_and_dtype() {
    let g = Graph::new();
    let seen = Arc::new(Mutex::new(vec![]));
    let s2 = seen.clone();
    let p = Partitioner::custom("rec", move |shape, dtype| {
        s2.lock().unwrap().push((shape.to_string(), dtype));
        Ok(Partitions::List(vec![2, 1]))
    });
    part(&g, "p", &[4, 2], p).unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![("(4, 2)".to_string(), DType::Float32)]);
}

#[test]
fn g2_partition_validation_order() {
    let g = Graph::new();
    let cases: Vec<(Partitions, &str)> = vec![
        (Partitions::NotASequence("3".into()), "Partitioner must return a sequence, but saw: 3"),
        (
            Partitions::List(vec![2]),
            "Partitioner returned a partition list that does not match the Variable's rank: [2] vs. (4, 2)",
        ),
        (Partitions::List(vec![0, 1]), "Partitioner returned zero partitions for some axes: [0, 1]"),
        (
            Partitions::Tuple(vec![2, 2]),
            "Can only slice a variable along one dimension: shape: (4, 2), partitioning: (2, 2)",
        ),
    ];
    for (i, (ret, msg)) in cases.into_iter().enumerate() {
        let p = Partitioner::custom("bad", move |_, _| Ok(ret.clone()));
        assert_eq!(part(&g, &format!("p{i}"), &[4, 2], p).unwrap_err().to_string(), msg);
    }
    let e = g.get_variable("u").shape([None, Some(2)]).partitioner(Partitioner::fixed_size(2)).get().unwrap_err();
    assert_eq!(e.to_string(), "Shape of a new partitioned variable must be fully defined, but instead was (None, 2).");
}

#[test]
fn g3_slicing() {
    let g = Graph::new();
    assert_eq!(
        shard_shapes(&part(&g, "a", &[10], Partitioner::fixed_size(4)).unwrap()),
        vec![vec![3], vec![3], vec![2], vec![2]]
    );
    assert_eq!(
        shard_shapes(&part(&g, "b", &[7, 2], Partitioner::fixed_size(3)).unwrap()),
        vec![vec![3, 2], vec![2, 2], vec![2, 2]]
    );
    assert_eq!(
        shard_shapes(&part(&g, "c", &[2, 5], Partitioner::fixed_size_axis(3, 1)).unwrap()),
        vec![vec![2, 2], vec![2, 2], vec![2, 1]]
    );
    let one = part(&g, "d", &[4], Partitioner::custom("ones", |_, _| Ok(Partitions::List(vec![1])))).unwrap();
    assert_eq!(shard_shapes(&one), vec![vec![4]]);
}

#[test]
fn g4_fixed_size_capped_by_dim() {
    let g = Graph::new();
    assert_eq!(shard_shapes(&part(&g, "a", &[3, 2], Partitioner::fixed_size(10)).unwrap()).len(), 3);
}

#[test]
fn g6_variable_axis_size_argument_errors() {
    let e = Partitioner::variable_axis_size(0, 0, 16, None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Both max_shard_bytes and bytes_per_string_element must be positive. Currently, max_shard_bytes is 0 andbytes_per_string_element is 16"
    );
    assert_eq!(
        Partitioner::variable_axis_size(10, 0, 16, Some(-1)).unwrap_err().to_string(),
        "max_shards must be positive."
    );
}

#[test]
fn g8_scalar_sequence_skips_partitioning() {
    let g = Graph::new();
    let v = g.get_variable("t").shape(ShapeArg::Seq(vec![])).partitioner(Partitioner::fixed_size(2)).get().unwrap();
    assert_eq!(v.name(), "t:0");
    let e = g.get_variable("u").shape(Shape::scalar()).partitioner(Partitioner::fixed_size(2)).get().unwrap_err();
    assert_eq!(e.to_string(), "A partitioned Variable must have rank at least 1, shape: ()");
}

#[test]
fn g9_constant_initializers_per_shard() {
    let g = Graph::new();
    let t = HostTensor::f32(&[5, 3], &(0..15).map(|x| x as f32).collect::<Vec<_>>()).unwrap();
    let p = g.get_variable("p").initializer(t).partitioner(Partitioner::fixed_size(2)).get().unwrap();
    let vals: Vec<Vec<f64>> = p
        .partitioned()
        .unwrap()
        .shards()
        .iter()
        .map(|s| match s.initial_value() {
            InitialValue::Constant(t) => t.data().to_f64(),
            k => panic!("{k:?}"),
        })
        .collect();
    assert_eq!(vals[0], (0..9).map(|x| x as f64).collect::<Vec<_>>());
    assert_eq!(vals[1], (9..15).map(|x| x as f64).collect::<Vec<_>>());
    let np = HostTensor::f32(&[4], &[1., 2., 3., 4.]).unwrap().python();
    let e = g.get_variable("q").initializer(np.clone()).partitioner(Partitioner::fixed_size(2)).get().unwrap_err();
    assert_eq!(e.to_string(), "Shape of a new partitioned variable must be fully defined, but instead was <unknown>.");
}

#[test]
fn g10_partition_info_offsets() {
    let g = Graph::new();
    let p = part(&g, "p", &[7, 3], Partitioner::fixed_size(3)).unwrap();
    let offs: Vec<u64> = p
        .partitioned()
        .unwrap()
        .shards()
        .iter()
        .map(|s| s.partition_info().unwrap().single_offset(&s.dims().unwrap()))
        .collect();
    assert_eq!(offs, vec![0, 3, 5]);
    assert_eq!(p.partitioned().unwrap().shards()[1].partition_info().unwrap().full_shape(), &[7, 3]);
}

#[test]
fn g11_reuse_partitioned() {
    let g = Graph::new();
    let p = vs(&g, "s", |_| part(&g, "p", &[4, 2], Partitioner::fixed_size(2)).unwrap());
    let again = g.variable_scope("s").reuse(Reuse::True).run_plain(|_| g.get_variable("p").get().unwrap()).unwrap();
    assert_eq!(p, again);
    let tuple = Partitioner::custom("tuple", |_, _| Ok(Partitions::Tuple(vec![2, 1])));
    let e = g.variable_scope("s").reuse(Reuse::True).run_plain(|_| part(&g, "p", &[4, 2], tuple).unwrap_err()).unwrap();
    assert_eq!(
        e.to_string(),
        "Trying to reuse partitioned variable s/p, but specified partitions (2, 1) and found partitions [2, 1]."
    );
}

#[test]
fn g12_reuse_with_partitioner_needs_shape() {
    let g = Graph::new();
    part(&g, "p", &[4, 2], Partitioner::fixed_size(2)).unwrap();
    let e = g
        .variable_scope("")
        .reuse(Reuse::True)
        .run_plain(|_| g.get_variable("p").partitioner(Partitioner::fixed_size(2)).get().unwrap_err())
        .unwrap();
    assert_eq!(e.to_string(), "Shape of a new partitioned variable must be fully defined, but instead was <unknown>.");
}

#[test]
fn g13_create_again_without_reuse() {
    let g = Graph::new();
    vs(&g, "s", |_| part(&g, "p", &[4, 2], Partitioner::fixed_size(2)).unwrap());
    let e = vs(&g, "s", |_| part(&g, "p", &[4, 2], Partitioner::fixed_size(2)).unwrap_err());
    assert_eq!(e.to_string(), "Partitioned variable with name s/p already exists. Did you mean to set reuse=True or reuse=tf.AUTO_REUSE in VarScope?");
}

#[test]
fn g14_plain_exists_partitioner_given() {
    let g = Graph::new();
    var(&g, "p", &[4]);
    for r in [Reuse::Inherit, Reuse::True, Reuse::AutoReuse] {
        let e = g
            .variable_scope("")
            .reuse(r)
            .run_plain(|_| part(&g, "p", &[4], Partitioner::fixed_size(2)).unwrap_err())
            .unwrap();
        assert_eq!(e.to_string(), "A partitioner was provided, but an unpartitioned version of the variable was found: p.  Perhaps a variable of the same name was already created without partitioning?");
    }
}

#[test]
fn g15_partitioned_exists_no_partitioner() {
    let g = Graph::new();
    let p = part(&g, "p", &[4], Partitioner::fixed_size(2)).unwrap();
    let msg = "No partitioner was provided, but a partitioned version of the variable was found: p/part_0. Perhaps a variable of the same name was already created with partitioning?";
    assert_eq!(var_err(&g, "p", &[4]), msg);
    assert_eq!(g.variable_scope("").reuse(Reuse::AutoReuse).run_plain(|_| var_err(&g, "p", &[4])).unwrap(), msg);
    let got = g.variable_scope("").reuse(Reuse::True).run_plain(|_| g.get_variable("p").get().unwrap()).unwrap();
    assert_eq!(got, p);
    let shard =
        g.variable_scope("").reuse(Reuse::True).run_plain(|_| g.get_variable("p/part_1").variable().unwrap()).unwrap();
    assert_eq!(&shard, &p.partitioned().unwrap().shards()[1]);
}

#[test]
fn g16_reuse_missing_partitioned() {
    let g = Graph::new();
    let e = g
        .variable_scope("s")
        .reuse(Reuse::True)
        .run_plain(|_| part(&g, "p", &[4], Partitioner::fixed_size(2)).unwrap_err())
        .unwrap();
    assert_eq!(e.to_string(), "PartitionedVariable s/p does not exist, or was not created with tf.get_variable(). Did you mean to set reuse=False or reuse=tf.AUTO_REUSE in VarScope?");
}

#[test]
fn g17_reuse_mismatch() {
    let g = Graph::new();
    vs(&g, "s", |_| part(&g, "p", &[5, 3], Partitioner::fixed_size(2)).unwrap());
    g.variable_scope("s")
        .reuse(Reuse::True)
        .run_plain(|_| {
            assert_eq!(
                part(&g, "p", &[4, 3], Partitioner::fixed_size(2)).unwrap_err().to_string(),
                "Trying to reuse partitioned variable s/p, but specified shape (4, 3) and found shape (5, 3)."
            );
            let e = g
                .get_variable("p")
                .shape([5, 3])
                .dtype(DType::Int32)
                .partitioner(Partitioner::fixed_size(2))
                .get()
                .unwrap_err();
            assert_eq!(
                e.to_string(),
                "Trying to reuse partitioned variable s/p, but specified dtype int32 and found dtype float32."
            );
        })
        .unwrap();
}

#[test]
fn g18_hand_made_shards() {
    let g = Graph::new();
    var(&g, "p/part_0", &[2]);
    var(&g, "p/part_1", &[2]);
    assert_eq!(
        part(&g, "p", &[6], Partitioner::fixed_size(3)).unwrap_err().to_string(),
        "Partitioner returned a different partitioning than what was already found.  Partitioner returned 3 shards, and shard p/part_0 was found, but p/part_2 was not."
    );
    var(&g, "p/part_2", &[2]);
    assert_eq!(
        part(&g, "p", &[6], Partitioner::fixed_size(2)).unwrap_err().to_string(),
        "Partitioner returned a different partitioning than what was already found.  Partitioner returned 2 shards, and shard p/part_0 was found, but so was the extra shard p/part_2."
    );
}

#[test]
fn g19_zero_size_shards_create_nothing() {
    let g = Graph::new();
    let p = Partitioner::custom("too_many", |_, _| Ok(Partitions::List(vec![3, 1])));
    let e = part(&g, "p", &[2, 4], p).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Expected 0 <= offset < shape but found offset=2, shape=2 for var_offset=[2, 0], full_shape=[2, 4]"
    );
    // Unlike TensorFlow, varscope validates first: no shard exists.
    assert!(g.store_variable("p/part_0").is_none());
    assert!(g.global_variables().is_empty());
    assert!(!g.name_in_use("p/part_0"));
}

#[test]
fn g20_shards_in_collections() {
    let g = Graph::new();
    g.with_name_scope(Some("ns"), |_| {
        g.get_variable("p").shape([4]).partitioner(Partitioner::fixed_size(2)).trainable(false).get().unwrap();
    })
    .unwrap();
    let names: Vec<String> = g.global_variables().iter().map(|v| v.name()).collect();
    assert_eq!(names, vec!["p/part_0:0", "p/part_1:0"]);
    assert!(g.trainable_variables().is_empty());
    g.get_local_variable("l").shape([4]).partitioner(Partitioner::fixed_size(2)).get().unwrap();
    assert_eq!(g.local_variables().len(), 2);
}

#[test]
fn g22_scope_settings_not_stored_by_name() {
    let g = Graph::new();
    g.variable_scope("b").partitioner(Partitioner::fixed_size(2)).run_plain(|_| ()).unwrap();
    let v = vs(&g, "b", |_| var(&g, "v", &[4]));
    assert_eq!(v.name(), "b/v:0");
}

fn tagged(log: &Arc<Mutex<Vec<String>>>, tag: &'static str, rename: bool) -> CustomGetter {
    let log = log.clone();
    CustomGetter::new(move |next, mut args| {
        log.lock().unwrap().push(tag.to_string());
        if rename {
            args.name = format!("{}/{}", args.name, tag);
        }
        next.call(args)
    })
}

#[test]
fn h1_getter_runs_on_every_call() {
    let g = Graph::new();
    let log = Arc::new(Mutex::new(vec![]));
    g.variable_scope("s")
        .custom_getter(tagged(&log, "id", false))
        .run_plain(|_| {
            var(&g, "v", &[1]);
            assert!(var_err(&g, "v", &[1]).contains("already exists"));
        })
        .unwrap();
    g.variable_scope("s")
        .reuse(Reuse::True)
        .custom_getter(tagged(&log, "id", false))
        .run_plain(|_| var(&g, "v", &[1]))
        .unwrap();
    var(&g, "other", &[1]);
    assert_eq!(log.lock().unwrap().len(), 3);
}

#[test]
fn h3_nesting_order() {
    let g = Graph::new();
    let log = Arc::new(Mutex::new(vec![]));
    let v = g
        .variable_scope("a")
        .custom_getter(tagged(&log, "A", true))
        .run_plain(|_| {
            g.variable_scope("b")
                .custom_getter(tagged(&log, "B", true))
                .run_plain(|_| {
                    g.variable_scope("c")
                        .custom_getter(tagged(&log, "C", true))
                        .run_plain(|_| var(&g, "v", &[1]))
                        .unwrap()
                })
                .unwrap()
        })
        .unwrap();
    assert_eq!(*log.lock().unwrap(), vec!["C", "B", "A"]);
    assert_eq!(v.name(), "a/b/c/v/C/B/A:0");
}

#[test]
fn h8_non_callable_getter_fails_at_get_variable() {
    let g = Graph::new();
    let three = || compat::custom_getter_value("3", "int");
    // Accepted at scope entry, refused by get_variable, which creates nothing.
    let e = g.variable_scope("s").custom_getter(three()).run_plain(|_| var_err(&g, "v", &[1])).unwrap();
    assert_eq!(e, "Passed a custom_getter which is not callable: 3");
    assert!(g.store_variable("s/v").is_none() && !g.name_in_use("s/v"));
    // As get_variable's argument (which replaces the scope's getters, H4).
    let e = g.get_variable("w").shape([1]).custom_getter(three()).get().unwrap_err();
    assert_eq!(e, Error::GetterNotCallable { repr: "3".into() });
    assert_eq!(e.kind(), PyErrorKind::ValueError);
    // Composed with a callable getter by a nested scope, the pair is callable; Python
    // fails when the chain calls the int.
    let log = Arc::new(Mutex::new(vec![]));
    let e = g
        .variable_scope("outer")
        .custom_getter(three())
        .run_plain(|_| {
            g.variable_scope("inner").custom_getter(tagged(&log, "inner", false)).run_plain(|_| var_err(&g, "v", &[1]))
        })
        .unwrap()
        .unwrap();
    assert_eq!(e, "'int' object is not callable");
    assert_eq!(*log.lock().unwrap(), vec!["inner"], "the callable getter ran first");
    assert!(g.store_variable("outer/inner/v").is_none());
}

#[test]
fn non_callable_partitioner_fails_at_get_variable_of_a_non_scalar() {
    let g = Graph::new();
    let e = g
        .variable_scope("s")
        .partitioner(compat::partitioner_value("3"))
        .run_plain(|_| {
            // A scalar never consults the partitioner.
            assert_eq!(g.get_variable("c").shape(Vec::<u64>::new()).variable().unwrap().name(), "s/c:0");
            g.get_variable("p").shape([4]).get().unwrap_err()
        })
        .unwrap();
    assert_eq!(e.to_string(), "Partitioner must be callable, but received: 3");
    assert!(g.store_variable("s/p/part_0").is_none() && !g.name_in_use("s/p"));
}

#[test]
fn h4_argument_replaces_scope_getter() {
    let g = Graph::new();
    let log = Arc::new(Mutex::new(vec![]));
    g.variable_scope("a")
        .custom_getter(tagged(&log, "scope", false))
        .run_plain(|_| g.get_variable("v").shape([1]).custom_getter(tagged(&log, "arg", false)).get().unwrap())
        .unwrap();
    assert_eq!(*log.lock().unwrap(), vec!["arg"]);
}

#[test]
fn h5_reentry_wraps_captured_getter() {
    let g = Graph::new();
    let log = Arc::new(Mutex::new(vec![]));
    let cap = g.variable_scope("cap").custom_getter(tagged(&log, "captured", false)).run_plain(|s| s.clone()).unwrap();
    g.variable_scope("parent")
        .custom_getter(tagged(&log, "parent", false))
        .run_plain(|_| {
            g.variable_scope(&cap).custom_getter(tagged(&log, "new", false)).run_plain(|_| var(&g, "v", &[1])).unwrap()
        })
        .unwrap();
    assert_eq!(*log.lock().unwrap(), vec!["new", "captured"]);
}

#[test]
fn h6_getter_sees_resolved_arguments() {
    let g = Graph::new();
    let seen = Arc::new(Mutex::new(None));
    let s2 = seen.clone();
    let getter = CustomGetter::new(move |next, args| {
        *s2.lock().unwrap() = Some((args.name.clone(), args.dtype, args.reuse, args.trainable, args.use_resource));
        next.call(args)
    });
    g.variable_scope("s")
        .dtype(DType::Float64)
        .reuse(Reuse::AutoReuse)
        .custom_getter(getter)
        .run_plain(|_| var(&g, "v", &[1]))
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), Some(("s/v".to_string(), DType::Float64, ReuseMode::AutoReuse, true, None)));
}

#[test]
fn h7_getters_rename_drop_partitioner_multiply_or_return_tensors() {
    let g = Graph::new();
    let suffix = CustomGetter::new(|next, mut a| {
        a.name = format!("{}_suffix", a.name);
        next.call(a)
    });
    assert_eq!(
        g.variable_scope("s").custom_getter(suffix).run_plain(|_| var(&g, "v", &[1]).name()).unwrap(),
        "s/v_suffix:0"
    );
    let drop_p = CustomGetter::new(|next, mut a| {
        a.partitioner = None;
        next.call(a)
    });
    let r = g
        .variable_scope("t")
        .partitioner(Partitioner::fixed_size(2))
        .custom_getter(drop_p)
        .run_plain(|_| g.get_variable("v").shape([4]).get().unwrap())
        .unwrap();
    assert_eq!(r.name(), "t/v:0");
    let multi = CustomGetter::new(|next, a| {
        let g = next.graph();
        for i in 0..2 {
            next.call(GetterArgs { name: format!("{}/{i}", a.name), ..a.clone() })?;
        }
        Ok(VarRef::Tensor(g.with_name_scope(Some("custom_getter"), |_| g.op("add")).unwrap()))
    });
    let r = g
        .variable_scope("scope")
        .custom_getter(multi)
        .run_plain(|_| g.get_variable("v").shape([1]).get().unwrap())
        .unwrap();
    assert_eq!(r.name(), "custom_getter/add:0");
    assert!(g.store_variable("scope/v/0").is_some() && g.store_variable("scope/v/1").is_some());
}

#[test]
fn k1_threads_start_at_root() {
    let g = Graph::new();
    let main = vs(&g, "main", |s| s.clone());
    let g2 = g.clone();
    let (a, b) = std::thread::spawn(move || {
        let a = g2.variable_scope(&main).run_plain(|_| vs(&g2, "foo", |_| var(&g2, "v", &[1]).name())).unwrap();
        let b = vs(&g2, "bar", |_| var(&g2, "v", &[1]).name());
        (a, b)
    })
    .join()
    .unwrap();
    assert_eq!((a.as_str(), b.as_str()), ("main/foo/v:0", "bar/v:0"));
}

#[test]
fn k2_counters_per_thread_names_per_graph() {
    let g = Graph::new();
    g.variable_scope_default("d").run_plain(|_| ()).unwrap();
    let g2 = g.clone();
    let (n, ns) = std::thread::spawn(move || {
        g2.variable_scope_default("d").run_plain(|s| (s.name(), s.original_name_scope())).unwrap()
    })
    .join()
    .unwrap();
    assert_eq!((n.as_str(), ns.as_str()), ("d", "d_1/"));
}

#[test]
fn k3_store_shared_between_threads() {
    let g = Graph::new();
    var(&g, "v", &[1]);
    let g2 = g.clone();
    let e = std::thread::spawn(move || var_err(&g2, "v", &[1])).join().unwrap();
    assert!(e.contains("already exists"));
}

#[test]
fn g21_legacy_create_partitioned_variables() {
    let g = Graph::new();
    let names = |v: Vec<Variable>| v.iter().map(|x| x.name()).collect::<Vec<_>>();
    let a = g.create_partitioned_variables(&[4, 2], &[2, 1], Initializer::zeros(), DType::Float32, None).unwrap();
    assert_eq!(names(a), vec!["PartitionedVariable/part_0:0", "PartitionedVariable/part_1:0"]);
    let b = g.create_partitioned_variables(&[4, 2], &[2, 1], Initializer::zeros(), DType::Float32, None).unwrap();
    assert_eq!(names(b)[0], "PartitionedVariable_1/part_0:0");
    let c = g.create_partitioned_variables(&[4], &[2], Initializer::zeros(), DType::Float32, Some("named")).unwrap();
    assert_eq!(names(c)[0], "named/part_0:0");
}

#[test]
fn g5_variable_axis_size_through_get_variable() {
    let g = Graph::new();
    let p = Partitioner::variable_axis_size(1000, 0, 16, None).unwrap();
    assert_eq!(shard_shapes(&part(&g, "a", &[100, 10], p).unwrap()), vec![vec![25, 10]; 4]);
    let p = Partitioner::variable_axis_size(1000, 0, 16, Some(3)).unwrap();
    assert_eq!(shard_shapes(&part(&g, "b", &[100, 10], p).unwrap()), vec![vec![34, 10], vec![33, 10], vec![33, 10]]);
    let p = Partitioner::variable_axis_size(128, 0, 16, None).unwrap();
    let s = g.get_variable("c").shape([10, 4]).dtype(DType::String).partitioner(p).get().unwrap();
    assert_eq!(shard_shapes(&s), vec![vec![2, 4]; 5]);
    let p = Partitioner::variable_axis_size(50, 1, 16, None).unwrap();
    let s = g.get_variable("d").shape([7, 3]).dtype(DType::Float64).partitioner(p).get().unwrap();
    assert_eq!(shard_shapes(&s).len(), 3);
}

#[test]
fn g7_min_max_through_get_variable() {
    let g = Graph::new();
    let s = part(&g, "a", &[4, 50], Partitioner::min_max(100, 1, 64, 16)).unwrap();
    assert_eq!(shard_shapes(&s), [vec![vec![4, 4]; 11], vec![vec![4, 3]; 2]].concat());
    let e = part(&g, "b", &[4, 4], Partitioner::min_max(2, 2, 64, 16)).unwrap_err();
    assert_eq!(e.to_string(), "Cannot partition variable along axis 2 when shape is only (4, 4)");
}
