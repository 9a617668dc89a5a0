//! The scope path API (issue 10): the same model built with scope paths and with the
//! TensorFlow-shaped path gives the same store, names, collections and errors.
mod common;
use common::*;
use varscope_core::compat::ScopeArgs;

/// Everything observable about a graph's variables and names.
#[derive(Debug, PartialEq)]
struct Snapshot {
    store: Vec<(String, String, Shape, DType, bool)>,
    partitioned: Vec<(String, Shape, usize)>,
    collections: Vec<(String, Vec<String>)>,
    losses: Vec<String>,
    /// What the names table gives next for these names (its counters).
    next_names: Vec<String>,
}

const PROBES: [&str; 10] = [
    "mlp",
    "mlp/layer1",
    "mlp/layer2",
    "mlp/layer1/w",
    "mlp/layer1/w/Initializer/random_uniform",
    "mlp/layer2/b/Initializer/zeros",
    "head",
    "head/emb/part_0",
    "mlp_1/layer1",
    "reg/v/Regularizer/mul",
];

fn snapshot(g: &Graph) -> Snapshot {
    let mut partitioned: Vec<(String, Shape, usize)> =
        g.partitioned_variables().iter().map(|p| (p.name().to_string(), p.shape().clone(), p.shards().len())).collect();
    partitioned.sort_by(|a, b| a.0.cmp(&b.0));
    Snapshot {
        store: g
            .store_variables()
            .into_iter()
            .map(|(k, v)| (k, v.name(), v.shape().clone(), v.dtype(), v.trainable()))
            .collect(),
        partitioned,
        collections: g
            .collection_keys()
            .into_iter()
            .map(|k| (k.clone(), g.get_collection(&k).iter().map(|i| i.name()).collect()))
            .collect(),
        losses: g.regularization_losses().iter().map(|l| l.name.clone()).collect(),
        next_names: PROBES.iter().map(|p| g.unique_name(p)).collect(),
    }
}

/// The model, the TensorFlow way: scopes entered with closures.
fn tf_way(g: &Graph) -> Vec<String> {
    let mut errors = Vec::new();
    g.variable_scope("mlp")
        .run(|_| -> Result<()> {
            g.variable_scope("layer1").run(|_| {
                g.get_variable("w").shape([4, 8]).get()?;
                g.get_variable("b").shape([8]).initializer(Initializer::zeros()).get()
            })?;
            g.variable_scope("layer2").initializer(Initializer::ones()).run(|_| {
                g.get_variable("w").shape([8, 2]).get()?;
                g.get_variable("b").shape([2]).initializer(Initializer::zeros()).get()
            })?;
            Ok(())
        })
        .unwrap();
    g.variable_scope("reg").regularizer(Regularizer::l2(0.1)).run(|_| g.get_variable("v").shape([3]).get()).unwrap();
    g.variable_scope("head")
        .run(|_| {
            g.get_variable("emb").shape([10, 4]).partitioner(Partitioner::fixed_size(3)).get()?;
            g.get_local_variable("count").shape([1]).dtype(DType::Int32).get()
        })
        .unwrap();
    // Reuse: fetch, get-or-create, and the errors.
    g.variable_scope("mlp")
        .reuse(Reuse::True)
        .run(|_| g.variable_scope("layer1").run(|_| g.get_variable("w").get()))
        .unwrap();
    g.variable_scope("mlp")
        .reuse(Reuse::AutoReuse)
        .run(|_| {
            g.variable_scope("layer1").run(|_| {
                g.get_variable("w").shape([4, 8]).get()?;
                g.get_variable("extra").shape([2]).get()
            })
        })
        .unwrap();
    let r =
        g.variable_scope("mlp").run(|_| g.variable_scope("layer1").run(|_| g.get_variable("w").shape([4, 8]).get()));
    errors.push(r.unwrap_err().to_string());
    let r = g
        .variable_scope("mlp")
        .reuse(Reuse::True)
        .run(|_| g.variable_scope("layer1").run(|_| g.get_variable("missing").get()));
    errors.push(r.unwrap_err().to_string());
    let r = g
        .variable_scope("mlp")
        .reuse(Reuse::True)
        .run(|_| g.variable_scope("layer1").run(|_| g.get_variable("w").shape([5, 8]).get()));
    errors.push(r.unwrap_err().to_string());
    errors
}

/// The same model with scope paths.
fn path_way(g: &Graph) -> Vec<String> {
    let mut errors = Vec::new();
    let mlp = g.scope("mlp");
    let l1 = mlp.sub("layer1");
    l1.var("w").shape([4, 8]).create().unwrap();
    l1.var("b").shape([8]).initializer(Initializer::zeros()).create().unwrap();
    let l2 = mlp.sub("layer2").initializer(Initializer::ones());
    l2.var("w").shape([8, 2]).create().unwrap();
    l2.var("b").shape([2]).initializer(Initializer::zeros()).create().unwrap();
    g.scope("reg").regularizer(Regularizer::l2(0.1)).var("v").shape([3]).create().unwrap();
    let head = g.scope("head");
    let emb = head.var("emb").shape([10, 4]).partitioner(Partitioner::fixed_size(3)).partitioned().unwrap();
    assert_eq!(emb.shards().len(), 3);
    head.local_var("count").shape([1]).dtype(DType::Int32).create().unwrap();
    // Reuse.
    let w = g.scope("mlp").reuse(Reuse::True).sub("layer1").var("w").fetch().unwrap();
    assert_eq!(w.name(), "mlp/layer1/w:0");
    let l1 = g.scope("mlp").reuse(Reuse::AutoReuse).sub("layer1");
    assert_eq!(l1.var("w").shape([4, 8]).get_or_create().unwrap(), w);
    l1.var("extra").shape([2]).get_or_create().unwrap();
    errors.push(g.scope("mlp").sub("layer1").var("w").shape([4, 8]).create().unwrap_err().to_string());
    errors.push(g.scope("mlp").reuse(Reuse::True).sub("layer1").var("missing").fetch().unwrap_err().to_string());
    errors
        .push(g.scope("mlp").reuse(Reuse::True).sub("layer1").var("w").shape([5, 8]).fetch().unwrap_err().to_string());
    errors
}

#[test]
fn the_same_model_both_ways_gives_the_same_graph() {
    let (a, b) = (Graph::new(), Graph::new());
    let ea = tf_way(&a);
    let eb = path_way(&b);
    assert_eq!(ea, eb);
    assert_eq!(
        ea,
        vec![
            "Variable mlp/layer1/w already exists, disallowed. Did you mean to set reuse=True or reuse=tf.AUTO_REUSE in VarScope?",
            "Variable mlp/layer1/missing does not exist, or was not created with tf.get_variable(). Did you mean to set reuse=tf.AUTO_REUSE in VarScope?",
            "Trying to share variable mlp/layer1/w, but specified shape (5, 8) and found shape (4, 8).",
        ]
    );
    let (sa, sb) = (snapshot(&a), snapshot(&b));
    assert_eq!(sa, sb);
    // The snapshot is not trivially equal: it holds the model.
    assert_eq!(sa.store.len(), 10, "{:?}", sa.store);
    assert_eq!(sa.losses, vec!["reg/v/Regularizer/mul:0".to_string()]);
    // "mlp" was entered six times each way.
    assert_eq!(sa.next_names[0], "mlp_6");
}

#[test]
fn a_path_is_a_value_and_paths_are_send_and_sync() {
    fn send_sync_clone<T: Send + Sync + Clone>() {}
    send_sync_clone::<ScopePath>();
    send_sync_clone::<Graph>();
    let g = Graph::new();
    let p = g.scope("a");
    // Another thread uses the same path; its scopes are not involved.
    let q = p.clone();
    std::thread::spawn(move || q.sub("t").var("v").shape([1]).create().unwrap()).join().unwrap();
    assert_eq!(g.store_variable("a/t/v").unwrap().name(), "a/t/v:0");
    // The thread that made the path is still at the root.
    assert_eq!(g.get_variable_scope().name(), "");
    assert_eq!(g.current_name_scope(), "");
}

#[test]
fn path_defaults_and_reuse_follow_scope_rules() {
    let g = Graph::new();
    let p = g.scope("p").dtype(DType::Float64).constraint(Constraint::NonNeg).caching_device("/gpu:0");
    let v = p.var("v").shape([1]).create().unwrap();
    assert_eq!(v.dtype(), DType::Float64);
    assert!(v.constraint().is_some());
    // Sub-scopes inherit the dtype and device, not the constraint (D8).
    let c = p.sub("c").var("v").shape([1]).create().unwrap();
    assert_eq!((c.dtype(), c.constraint()), (DType::Float64, None));
    assert_eq!(c.caching_device(), Some(&CachingDevice::from("/device:GPU:0")));
    // reuse=Inherit cannot clear an inherited True (C6).
    let r = g.scope("p").reuse(Reuse::True);
    let rc = r.sub("c");
    assert_eq!(rc.reuse(Reuse::Inherit).reuse_mode(), ReuseMode::ReuseOnly);
    assert_eq!(rc.var("v").dtype(DType::Float64).fetch().unwrap(), c);
    // Making a path enters the scope once: its name scope is opened then, uniquified
    // like variable_scope's; a second `sub("c")` is a second entry.
    assert_eq!(p.original_name_scope(), "p/");
    assert_eq!(r.original_name_scope(), "p_1/");
    assert_eq!(rc.original_name_scope(), "p_1/c/");
    assert_eq!(r.sub("c").original_name_scope(), "p_1/c_1/");
}

#[test]
fn invalid_names_and_wrong_kinds_are_typed_errors() {
    let g = Graph::new();
    let e = g.scope("_bad").var("v").shape([1]).create().unwrap_err();
    assert!(matches!(e, Error::InvalidRootScopeName { .. }), "{e}");
    assert!(g.store_variables().is_empty());
    let p = g.scope("s").partitioner(Partitioner::fixed_size(2));
    let e = p.var("w").shape([4]).create().unwrap_err();
    assert!(matches!(e, Error::NotASingleVariable { .. }), "{e}");
    let e = g.scope("t").var("w").shape([4]).partitioned().unwrap_err();
    assert!(matches!(e, Error::NotAPartitionedVariable { .. }), "{e}");
}

#[test]
fn a_path_re_enters_on_the_tf_path() {
    let g = Graph::new();
    let p = g.scope("outer").sub("inner");
    let v = p.var("w").shape([2]).create().unwrap();
    let again = g.variable_scope(p.to_variable_scope()).reuse(Reuse::True).run(|_| g.get_variable("w").get()).unwrap();
    assert_eq!(again.variable(), Some(&v));
    // Or directly from the path.
    let v2 = g.variable_scope(&p).reuse(Reuse::True).run(|_| g.get_variable("w").variable()).unwrap();
    assert_eq!(v2, v);
}

// ----- the TensorFlow-shaped path: flat results, typed terminals, typed devices ---------

#[test]
fn run_flattens_the_closures_result() {
    let g = Graph::new();
    // No `??`: entering/exiting errors convert into the closure's error type.
    let v: Result<Variable> =
        g.variable_scope("a").run(|_| g.variable_scope("b").run(|_| g.get_variable("v").shape([1]).variable()));
    assert_eq!(v.unwrap().name(), "a/b/v:0");
    // A closure error comes back as is.
    let e = g.variable_scope("a").run(|_| g.variable_scope("b").run(|_| g.get_variable("v").shape([1]).variable()));
    assert!(matches!(e, Err(Error::AlreadyExists { .. })), "{e:?}");
    // A user error type that wraps varscope's.
    #[derive(Debug)]
    enum AppError {
        Scope(Error),
        Mine,
    }
    impl From<Error> for AppError {
        fn from(e: Error) -> Self {
            AppError::Scope(e)
        }
    }
    let r: std::result::Result<(), AppError> = g.variable_scope("c").run(|_| Err(AppError::Mine));
    assert!(matches!(r, Err(AppError::Mine)));
    let r: std::result::Result<(), AppError> = g.variable_scope("_bad").run(|_| Ok(()));
    assert!(matches!(r, Err(AppError::Scope(Error::InvalidRootScopeName { .. }))), "{r:?}");
    // Scopes are exited after a failing closure.
    assert_eq!((g.get_variable_scope().name(), g.current_name_scope()), (String::new(), String::new()));
}

#[test]
fn reuse_inherit_is_the_builder_default_and_cannot_clear_reuse() {
    let g = Graph::new();
    g.variable_scope("r")
        .reuse(Reuse::True)
        .run_plain(|_| {
            // TensorFlow's reuse=False is Inherit, as is the default.
            for r in [Reuse::Inherit, Reuse::default(), compat::parse_reuse("False").unwrap()] {
                assert_eq!(g.variable_scope("c").reuse(r).run_plain(|s| s.reuse()).unwrap(), ReuseMode::ReuseOnly);
            }
        })
        .unwrap();
    assert_eq!(g.variable_scope("n").reuse(Reuse::Inherit).run_plain(|s| s.reuse()).unwrap(), ReuseMode::CreateOnly);
}

#[test]
fn typed_terminals_of_get_variable() {
    let g = Graph::new();
    let v = g.get_variable("v").shape([2]).variable().unwrap();
    assert_eq!(v.name(), "v:0");
    let p = g.get_variable("p").shape([4]).partitioner(Partitioner::fixed_size(2)).partitioned().unwrap();
    assert_eq!(p.shards().len(), 2);
    let e = g.get_variable("q").shape([4]).partitioner(Partitioner::fixed_size(2)).variable().unwrap_err();
    assert!(matches!(e, Error::NotASingleVariable { .. }), "{e}");
    let e = g.get_variable("w").shape([4]).partitioned().unwrap_err();
    assert!(matches!(e, Error::NotAPartitionedVariable { .. }), "{e}");
}

#[test]
fn tf_variable_options_builder() {
    let g = Graph::new();
    let a = g.variable(HostTensor::py_float(1.0)).create().unwrap();
    let b = g.variable(Initializer::zeros()).shape(&[2]).name("b").trainable(false).create().unwrap();
    assert_eq!((a.name(), b.name()), ("Variable:0".to_string(), "b:0".to_string()));
    assert!(!b.trainable() && !a.in_store());
    assert_eq!(g.trainable_variables(), vec![a]);
    let c = g.variable(HostTensor::py_float(2.0)).name("c").collections(["mine"]).create().unwrap();
    assert_eq!(c.collections(), &["mine".to_string(), "trainable_variables".to_string()]);
}

#[test]
fn caching_device_is_parsed_when_the_variable_is_requested() {
    let g = Graph::new();
    // Any TensorFlow spelling; equal values for one device.
    let a = g.get_variable("a").shape([1]).caching_device("/GPU:1").variable().unwrap();
    let b = g.get_variable("b").shape([1]).caching_device("/device:GPU:1").variable().unwrap();
    assert_eq!(a.caching_device(), b.caching_device());
    assert_eq!(a.caching_device(), Some(&CachingDevice::from("gpu:1")));
    assert_ne!(a.caching_device(), Some(&CachingDevice::from("/gpu:0")));
    match a.caching_device() {
        Some(CachingDevice::Device { spec, given }) => {
            assert_eq!(spec.local_device(), Some(DeviceName::gpu(1)));
            assert_eq!(given, "/GPU:1");
        }
        other => panic!("{other:?}"),
    }
    // A malformed string fails at the call that uses it, naming the variable.
    let e = g.get_variable("c").shape([1]).caching_device("/gpu:one").variable().unwrap_err();
    assert!(
        matches!(&e, Error::InvalidCachingDevice { name, device, .. } if name == "c" && device == "/gpu:one"),
        "{e}"
    );
    assert!(g.store_variable("c").is_none());
    // A scope default is checked by each get_variable in it.
    let e = g
        .variable_scope("s")
        .caching_device("/bogus:0")
        .run(|_| g.get_variable("v").shape([1]).variable())
        .unwrap_err();
    assert!(matches!(&e, Error::InvalidCachingDevice { name, .. } if name == "s/v"), "{e}");
    // A well-formed device that may not exist is accepted here (the session reports it).
    assert!(g.get_variable("d").shape([1]).caching_device("/job:ps/task:3/device:GPU:7").variable().is_ok());
    // "" stops caching (D5).
    let e = g.get_variable("e").shape([1]).caching_device("").variable().unwrap();
    assert_eq!(e.caching_device(), Some(&CachingDevice::from("")));
}

#[test]
fn compat_values_give_tensorflows_errors_at_tensorflows_moment() {
    let g = Graph::new();
    // A bare string for `collections` (I8) is only looked at when creating: fetching an
    // existing variable with it succeeds, creating with it fails and changes nothing.
    let v = g.scope("c").var("v").shape([1]).create().unwrap();
    let fetched = g
        .variable_scope("c")
        .reuse(Reuse::True)
        .run(|_| g.get_variable("v").collections(compat::collections_str("foo")).variable())
        .unwrap();
    assert_eq!(fetched, v);
    let e = g.get_local_variable("l").shape([1]).collections(compat::collections_str("foo")).variable().unwrap_err();
    assert!(matches!(e, Error::CollectionsNotAList { .. }), "{e}");
    assert!(g.store_variable("l").is_none());
    // The argument itself is opaque: keys, or none for the rejected string.
    assert_eq!(CollectionsArg::from(["a", "b"]).keys(), ["a".to_string(), "b".to_string()]);
    assert!(compat::collections_str("foo").keys().is_empty());
    // A `name_or_scope` of another type fails after TensorFlow's earlier checks (reuse)
    // and changes nothing.
    let e = compat::variable_scope_value(&g, "123").reuse_arg("yes").run_plain(|_| ()).unwrap_err();
    assert!(matches!(e, Error::InvalidReuse { .. }), "{e}");
    let e = compat::variable_scope_value(&g, "123").run_plain(|_| ()).unwrap_err();
    assert!(matches!(e, Error::InvalidNameOrScope { .. }), "{e}");
    assert_eq!((g.get_variable_scope().name(), g.current_name_scope()), (String::new(), String::new()));
}

#[test]
fn reuse_argument_resolves_against_the_enclosing_mode_and_prints_as_python() {
    assert_eq!((Reuse::default(), ReuseMode::default()), (Reuse::Inherit, ReuseMode::CreateOnly));
    for (arg, parent, want) in [
        (Reuse::Inherit, ReuseMode::CreateOnly, ReuseMode::CreateOnly),
        (Reuse::Inherit, ReuseMode::ReuseOnly, ReuseMode::ReuseOnly),
        (Reuse::Inherit, ReuseMode::AutoReuse, ReuseMode::AutoReuse),
        (Reuse::True, ReuseMode::AutoReuse, ReuseMode::ReuseOnly),
        (Reuse::AutoReuse, ReuseMode::ReuseOnly, ReuseMode::AutoReuse),
    ] {
        assert_eq!(arg.resolve(parent), want, "{arg} in a scope with reuse={parent}");
    }
    assert_eq!(
        [Reuse::Inherit, Reuse::True, Reuse::AutoReuse].map(|r| r.to_string()),
        ["None", "True", "_ReuseMode.AUTO_REUSE"]
    );
    assert_eq!(
        [ReuseMode::CreateOnly, ReuseMode::ReuseOnly, ReuseMode::AutoReuse].map(|r| r.to_string()),
        ["False", "True", "_ReuseMode.AUTO_REUSE"]
    );
}
