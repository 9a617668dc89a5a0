//! Catalogue sections E (initializers), F (regularization), I (collections), J (shapes).
mod common;
use common::*;
use std::sync::{Arc, Mutex};

#[test]
fn e1_default_initializers_by_dtype() {
    let g = Graph::new();
    let f = var(&g, "f", &[3, 4]);
    let lim = (6.0f64 / 7.0).sqrt();
    match f.initial_value().kernel() {
        Some(InitKernel::Uniform { low, high }) => assert!((high - lim).abs() < 1e-12 && (low + lim).abs() < 1e-12),
        k => panic!("{k:?}"),
    }
    for d in [DType::Int32, DType::Int64, DType::UInt32, DType::Bool, DType::String] {
        let v = g.get_variable(&format!("v_{}", d.name())).shape([2]).dtype(d).variable().unwrap();
        assert_eq!(v.initial_value().kernel(), Some(&InitKernel::Fill(0.0)), "{d}");
    }
    let e = g.get_variable("c").shape([2]).dtype(DType::Complex64).get().unwrap_err();
    assert_eq!(e.to_string(), "An initializer for variable c of <dtype: 'complex64'> is required");
    // A partitioned variable looks its default initializer up under its own name, not a
    // shard's (`_get_partitioned_variable`), and creates nothing.
    let e = g.get_variable("p").shape([4]).dtype(DType::Complex64).partitioner(Partitioner::fixed_size(2)).get();
    assert_eq!(e.unwrap_err().to_string(), "An initializer for variable p of <dtype: 'complex64'> is required");
    assert!(g.store_variable("p/part_0").is_none() && !g.name_in_use("p"));
}

#[test]
fn e2_fans_use_full_shape_for_partitions() {
    let g = Graph::new();
    let p = g.get_variable("p").shape([10, 6]).partitioner(Partitioner::fixed_size(2)).get().unwrap();
    let lim = (6.0f64 / 16.0).sqrt();
    for s in p.partitioned().unwrap().shards() {
        match s.initial_value().kernel() {
            Some(InitKernel::Uniform { high, .. }) => assert!((high - lim).abs() < 1e-12),
            k => panic!("{k:?}"),
        }
    }
}

#[test]
fn e3_no_shape_no_initializer() {
    let g = Graph::new();
    let e = g.get_variable("v").get().unwrap_err();
    assert_eq!(e.to_string(), "Variable v did not get an initializer, so its `shape` argument must be specified.");
}

#[test]
fn e4_constant_fixes_shape() {
    let g = Graph::new();
    let e = g.get_variable("v").shape([2]).initializer(HostTensor::py_floats(&[1., 2.])).get().unwrap_err();
    assert_eq!(e.to_string(), "If initializer is a constant, do not specify shape.");
    let v = g.get_variable("w").initializer(HostTensor::py_floats(&[1., 2.])).variable().unwrap();
    assert_eq!(v.dims(), Some(vec![2]));
}

#[test]
fn e5_explicit_dtype_vs_constant() {
    let g = Graph::new();
    let e = g.get_variable("v").dtype(DType::Float64).initializer(HostTensor::py_int(4)).get().unwrap_err();
    assert_eq!(
        e.to_string(),
        "Initializer type '<dtype: 'int32'>' and explicit dtype '<dtype: 'float64'>' don't match."
    );
}

#[test]
fn e6_initializer_forms() {
    let g = Graph::new();
    let v = g.get_variable("a").dtype(DType::Int32).initializer(HostTensor::py_int(4)).variable().unwrap();
    assert_eq!((v.dtype(), v.dims()), (DType::Int32, Some(vec![])));
    let np = HostTensor::int(DType::Int64, &[3], vec![1, 2, 3]).unwrap().python();
    let v = g.get_variable("b").dtype(DType::Int64).initializer(np).variable().unwrap();
    assert_eq!((v.dtype(), v.dims()), (DType::Int64, Some(vec![3])));
    let v = g.get_variable("c").initializer(HostTensor::py_floats(&[1., 2.])).variable().unwrap();
    assert_eq!((v.dtype(), v.dims()), (DType::Float32, Some(vec![2])));
    let v = g.get_variable("d").initializer(ValueFn::new("lambda", || HostTensor::py_ints(&[2]))).variable().unwrap();
    assert_eq!((v.dtype(), v.dims()), (DType::Int32, Some(vec![1])));
}

#[test]
fn e8_callable_needs_full_shape() {
    let g = Graph::new();
    let msg = "The initializer passed is not valid. It should be a callable with no arguments and the shape should not be provided or an instance of `tf.keras.initializers.*' and `shape` should be fully defined.";
    assert_eq!(g.get_variable("v").shape([None, Some(3)]).get().unwrap_err().to_string(), msg);
    let e = g
        .get_variable("w")
        .initializer(Initializer::host_fn("lambda x", |_, _, _| HostTensor::py_ints(&[2])))
        .get()
        .unwrap_err();
    assert_eq!(e.to_string(), msg);
}

#[test]
fn e10_shape_forms() {
    let g = Graph::new();
    assert_eq!(g.get_variable("a").shape(5u64).variable().unwrap().dims(), Some(vec![5]));
    assert_eq!(g.get_variable("b").shape(Shape::new(&[2, 3])).variable().unwrap().dims(), Some(vec![2, 3]));
    assert_eq!(g.get_variable("c").shape(ShapeArg::Seq(vec![])).variable().unwrap().dims(), Some(vec![]));
    let e = g.get_variable("d").shape([2i64, -2]).get().unwrap_err();
    assert_eq!(e.to_string(), "Dimension -2 must be >= 0");
    assert!(g.store_variable("d").is_none());
}

#[test]
fn e11_initializer_call_arguments() {
    let g = Graph::new();
    let calls = Arc::new(Mutex::new(vec![]));
    let c2 = calls.clone();
    let init = Initializer::host_fn("rec", move |shape, dtype, info| {
        c2.lock().unwrap().push((shape.to_vec(), dtype, info.is_none()));
        HostTensor::float(dtype, shape, vec![0.0; shape.iter().product::<u64>() as usize]).unwrap()
    });
    let v = g.get_variable("v").shape([2, 3]).initializer(init.clone()).variable().unwrap();
    match v.initial_value() {
        InitialValue::Initializer { kernel: InitKernel::Host(f), .. } => {
            f.call(&[2, 3], v.dtype(), v.partition_info());
        }
        k => panic!("{k:?}"),
    }
    assert_eq!(*calls.lock().unwrap(), vec![(vec![2, 3], DType::Float32, true)]);
}

#[test]
fn e12_constant_initializer_padding() {
    let g = Graph::new();
    let v =
        g.get_variable("v").shape([2, 2]).initializer(Initializer::constant_list(&[1., 2., 3.])).variable().unwrap();
    assert_eq!(v.initial_value().kernel(), Some(&InitKernel::Values(vec![1., 2., 3.])));
    let e = g.get_variable("w").shape([2]).initializer(Initializer::constant_list(&[1., 2., 3.])).get().unwrap_err();
    assert_eq!(e.to_string(), "Too many elements provided. Takes at most 2, but got 3.");
    assert!(g.store_variable("w").is_none());
}

#[test]
fn f1_one_loss_per_new_variable() {
    let g = Graph::new();
    g.variable_scope("s")
        .run_plain(|_| {
            g.get_variable("b")
                .shape([1])
                .regularizer(Regularizer::host_fn("Sum", |v| Some(v.iter().sum())))
                .get()
                .unwrap();
        })
        .unwrap();
    let l = g.regularization_losses();
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].name, "s/b/Regularizer/Sum:0");
    assert_eq!(l[0].variable.key(), "s/b");
}

#[test]
fn f2_partitioned_loss_per_shard() {
    let g = Graph::new();
    g.variable_scope("s")
        .run_plain(|_| {
            g.get_variable("p")
                .shape([6, 2])
                .partitioner(Partitioner::fixed_size(3))
                .regularizer(Regularizer::host_fn("Sum", |v| Some(v.iter().sum())))
                .get()
                .unwrap()
        })
        .unwrap();
    let names: Vec<String> = g.regularization_losses().into_iter().map(|l| l.name).collect();
    assert_eq!(
        names,
        vec!["s/p/part_0/Regularizer/Sum:0", "s/p/part_1/Regularizer/Sum:0", "s/p/part_2/Regularizer/Sum:0"]
    );
}

#[test]
fn f3_regularizer_stray_root_ops() {
    let g = Graph::new();
    vs(&g, "s", |_| {
        g.get_variable("v").shape([1]).regularizer(Regularizer::host_fn("Sum", |v| Some(v.iter().sum()))).get().unwrap()
    });
    assert_eq!(g.constant("Sum").name, "Sum_1:0");
}

#[test]
fn f3_regularizer_called_twice_at_creation_once_when_it_returns_none() {
    // TF 2.21: the "is None?" test, then the loss op's build (calls ["s/v:0", "s/v:0"]).
    let g = Graph::new();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let (c, c2) = (calls.clone(), calls.clone());
    vs(&g, "s", |_| {
        let r = Regularizer::host_fn("Sum", move |v| {
            c.lock().unwrap().push(v.to_vec());
            Some(v.iter().sum())
        });
        g.get_variable("v").shape([2]).initializer(Initializer::ones()).regularizer(r).get().unwrap()
    });
    assert_eq!(*calls.lock().unwrap(), vec![vec![1.0, 1.0]; 2], "twice, on the initial values");
    assert_eq!(g.regularization_losses().len(), 1);
    // A regularizer that returns None is not called again, and adds no loss.
    let none = Regularizer::host_fn("Sum", move |_| {
        c2.lock().unwrap().push(Vec::new());
        None
    });
    g.get_variable("w").shape([1]).regularizer(none).get().unwrap();
    assert_eq!(calls.lock().unwrap().len(), 3);
    assert_eq!(g.regularization_losses().len(), 1);
}

#[test]
fn i1_i2_default_collections() {
    let g = Graph::new();
    var(&g, "a", &[1]);
    g.get_variable("b").shape([1]).trainable(false).get().unwrap();
    vs(&g, "s", |_| var(&g, "c", &[1]));
    let names = |k: &str| g.get_collection(k).iter().map(|i| i.name()).collect::<Vec<_>>();
    assert_eq!(names(GraphKeys::GLOBAL_VARIABLES), vec!["a:0", "b:0", "s/c:0"]);
    assert_eq!(names(GraphKeys::TRAINABLE_VARIABLES), vec!["a:0", "s/c:0"]);
}

#[test]
fn i3_explicit_collections() {
    let g = Graph::new();
    let v = g.get_variable("v").shape([1]).collections(Vec::<String>::new()).variable().unwrap();
    assert!(g.global_variables().is_empty());
    assert_eq!(g.trainable_variables(), vec![v.clone()]);
    assert_eq!(g.variable_scope("").reuse(Reuse::True).run_plain(|_| var(&g, "v", &[1])).unwrap(), v);
    g.get_variable("w").shape([1]).collections(["foo"]).get().unwrap();
    assert_eq!(g.get_collection("foo").len(), 1);
}

#[test]
fn i4_local_collection_still_trainable() {
    let g = Graph::new();
    let l =
        vs(&g, "foo", |_| g.get_variable("l").shape([1]).collections([GraphKeys::LOCAL_VARIABLES]).variable().unwrap());
    assert!(l.trainable());
    assert_eq!(g.trainable_variables(), vec![l]);
}

#[test]
fn i5_get_local_variable() {
    let g = Graph::new();
    let v = g.get_local_variable("v").shape([1]).collections(["foo"]).trainable(true).variable().unwrap();
    assert!(!v.trainable());
    assert_eq!(v.collections(), &["foo".to_string(), "local_variables".to_string()]);
    assert_eq!(g.local_variables(), vec![v]);
    assert!(g.trainable_variables().is_empty() && g.global_variables().is_empty());
}

#[test]
fn i6_on_read_not_trainable() {
    let g = Graph::new();
    vs(&g, "s", |_| {
        g.get_variable("a").shape([1]).synchronization(Synchronization::OnRead).get().unwrap();
        var(&g, "b", &[1]);
        g.get_variable("c").shape([1]).trainable(false).get().unwrap();
        g.get_variable("e").shape([1]).synchronization(Synchronization::OnRead).trainable(true).get().unwrap();
        g.get_variable("f").shape([1]).synchronization(Synchronization::OnWrite).get().unwrap();
    });
    let keys: Vec<String> = g.trainable_variables().iter().map(|v| v.key().to_string()).collect();
    assert_eq!(keys, vec!["s/b", "s/e", "s/f"]);
}

#[test]
fn i7_scope_collection_is_prefix_regex() {
    let g = Graph::new();
    vs(&g, "foo", |_| var(&g, "v", &[1]));
    vs(&g, "foo_", |_| var(&g, "v", &[1]));
    vs(&g, "abc", |_| var(&g, "v", &[1]));
    let names = |scope: &VariableScope| {
        scope.get_collection(&g, GraphKeys::GLOBAL_VARIABLES).iter().map(|i| i.name()).collect::<Vec<_>>()
    };
    assert_eq!(vs(&g, "foo", |s| names(s)), vec!["foo/v:0"]);
    assert_eq!(vs(&g, "a.c", |s| names(s)), vec!["abc/v:0"]);
    assert_eq!(names(&g.get_variable_scope()).len(), 3);
    // A backslash in a scope name is a regex escape: `x\d/` matches `x5/` (a digit), not
    // its own variables' `x\d/` (re.match(r"x\d/", r"x\d/v:0") is None in Python).
    vs(&g, r"x\d", |_| var(&g, "v", &[1]));
    vs(&g, "x5", |_| var(&g, "v", &[1]));
    assert_eq!(vs(&g, r"x\d", |s| names(s)), vec!["x5/v:0"]);
    assert_eq!(vs(&g, r"x\.", |s| names(s)), Vec::<String>::new(), "`\\.` is a literal dot");
    assert_eq!(g.get_collection_scoped(GraphKeys::GLOBAL_VARIABLES, r"\w\w\w/").len(), 2, "foo/ and abc/");
}

#[test]
fn i8_collections_string_rejected() {
    let g = Graph::new();
    let e = g.get_variable("v").shape([1]).collections(compat::collections_str("foo")).get().unwrap_err();
    assert_eq!(
        e.to_string(),
        "collections argument to Variable constructor must be a list, tuple, or set. Got foo of type <class 'str'>"
    );
    assert!(g.store_variable("v").is_none());
    assert!(!g.name_in_use("v"));
}

#[test]
fn i9_helper_views() {
    let g = Graph::new();
    let a = var(&g, "a", &[1]);
    let l = g.get_local_variable("l").shape([1]).variable().unwrap();
    let m = g
        .get_variable("m")
        .shape([1])
        .collections([GraphKeys::MODEL_VARIABLES, GraphKeys::GLOBAL_VARIABLES])
        .variable()
        .unwrap();
    assert_eq!(g.global_variables(), vec![a.clone(), m.clone()]);
    assert_eq!(g.trainable_variables(), vec![a, m.clone()]);
    assert_eq!(g.local_variables(), vec![l]);
    assert_eq!(g.model_variables(), vec![m]);
}

#[test]
fn j1_j2_j3_unknown_shapes() {
    let g = Graph::new();
    let t = HostTensor::f32(&[2], &[1., 2.]).unwrap().with_unknown_static_shape();
    let v = g.get_variable("a").initializer(t.clone()).validate_shape(false).variable().unwrap();
    assert_eq!(v.shape(), &Shape::unknown());
    let v = g.get_variable("b").initializer(t).variable().unwrap();
    assert_eq!(v.shape(), &Shape::unknown());
    let v = g.get_variable("c").shape([2, 3]).validate_shape(false).variable().unwrap();
    assert_eq!(v.dims(), Some(vec![2, 3]));
}

#[test]
fn e9_initializer_classes() {
    // TensorFlow instantiates an initializer class with no arguments; in Rust the unit
    // variants are that instance.
    let g = Graph::new();
    let z = g.get_variable("z").shape([2]).initializer(Initializer::Zeros).variable().unwrap();
    let o = g.get_variable("o").shape([2]).initializer(Initializer::Ones).variable().unwrap();
    assert_eq!(z.initial_value().kernel(), Some(&InitKernel::Fill(0.0)));
    assert_eq!(o.initial_value().kernel(), Some(&InitKernel::Fill(1.0)));
}

#[test]
fn e_initializer_shape_and_dtype_errors() {
    let g = Graph::new();
    let e = g.get_variable("i").shape([2, 2, 2]).initializer(Initializer::identity(1.0)).get().unwrap_err();
    assert_eq!(e.to_string(), "Identity matrix initializer can only be used for 2D matrices.");
    let e = g
        .get_variable("n")
        .shape([2])
        .dtype(DType::Int32)
        .initializer(Initializer::random_normal(0.0, 1.0))
        .get()
        .unwrap_err();
    assert_eq!(e.to_string(), "Expected floating point type, got int32.");
    let e = g.get_variable("q").shape([3]).initializer(Initializer::orthogonal(1.0)).get().unwrap_err();
    assert_eq!(e.to_string(), "The tensor to initialize must be at least two-dimensional");
    assert!(g.all_variables().is_empty());
}
