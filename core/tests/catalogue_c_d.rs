//! Catalogue sections C (reuse) and D (inheritance of scope defaults).
mod common;
use common::*;
use std::sync::{Arc, Mutex};
use varscope_core::compat::ScopeArgs;

const EXISTS: &str =
    "Variable v already exists, disallowed. Did you mean to set reuse=True or reuse=tf.AUTO_REUSE in VarScope?";

fn reuse_of(g: &Graph, b: VariableScopeBuilder<'_>) -> ReuseMode {
    let _ = g;
    b.run_plain(|s| s.reuse()).unwrap()
}

#[test]
fn c1_default_forbids_recreation() {
    let g = Graph::new();
    var(&g, "v", &[1]);
    assert_eq!(var_err(&g, "v", &[1]), EXISTS);
    let e = g.get_variable("v").shape([1]).get().unwrap_err();
    assert_eq!(e.kind(), PyErrorKind::ValueError);
    assert!(matches!(e, Error::AlreadyExists { .. }));
}

#[test]
fn c3_reuse_true_missing() {
    let g = Graph::new();
    let e = g.variable_scope("foo").reuse(Reuse::True).run_plain(|_| var_err(&g, "u", &[1])).unwrap();
    assert_eq!(e, "Variable foo/u does not exist, or was not created with tf.get_variable(). Did you mean to set reuse=tf.AUTO_REUSE in VarScope?");
    let e = g
        .variable_scope("tower_a")
        .reuse(Reuse::True)
        .run_plain(|_| vs(&g, "baz", |_| var_err(&g, "v", &[1])))
        .unwrap();
    assert!(e.starts_with("Variable tower_a/baz/v does not exist"));
}

#[test]
fn c4_reuse_returns_identical_object() {
    let g = Graph::new();
    let v = vs(&g, "foo", |_| var(&g, "v", &[1]));
    let v2 = g.variable_scope("foo").reuse(Reuse::True).run_plain(|_| g.get_variable("v").variable().unwrap()).unwrap();
    assert_eq!(v, v2);
}

#[test]
fn c5_auto_reuse_inherited() {
    let g = Graph::new();
    let f = || {
        g.variable_scope("foo").reuse(Reuse::AutoReuse).run_plain(|_| vs(&g, "bar", |_| var(&g, "v", &[1]))).unwrap()
    };
    let (a, b) = (f(), f());
    assert_eq!(a, b);
    assert_eq!(a.name(), "foo/bar/v:0");
}

#[test]
fn c6_reuse_lattice() {
    let g = Graph::new();
    assert_eq!(g.get_variable_scope().reuse(), ReuseMode::CreateOnly);
    vs(&g, "a", |a| {
        assert_eq!(a.reuse(), ReuseMode::CreateOnly);
        g.variable_scope("b")
            .reuse(Reuse::True)
            .run_plain(|b| {
                assert_eq!(b.reuse(), ReuseMode::ReuseOnly);
                assert_eq!(vs(&g, "c", |c| c.reuse()), ReuseMode::ReuseOnly);
                assert_eq!(reuse_of(&g, g.variable_scope("d").reuse(Reuse::Inherit)), ReuseMode::ReuseOnly);
                assert_eq!(reuse_of(&g, g.variable_scope("e").reuse(Reuse::AutoReuse)), ReuseMode::AutoReuse);
            })
            .unwrap();
        g.variable_scope("f")
            .reuse(Reuse::AutoReuse)
            .run_plain(|_| {
                assert_eq!(vs(&g, "g", |c| c.reuse()), ReuseMode::AutoReuse);
                assert_eq!(reuse_of(&g, g.variable_scope("h").reuse(Reuse::True)), ReuseMode::ReuseOnly);
                assert_eq!(reuse_of(&g, g.variable_scope("i").reuse(Reuse::Inherit)), ReuseMode::AutoReuse);
            })
            .unwrap();
        assert_eq!(reuse_of(&g, g.variable_scope("j").reuse(Reuse::Inherit)), ReuseMode::CreateOnly);
        assert_eq!(reuse_of(&g, g.variable_scope("k")), ReuseMode::CreateOnly);
    });
}

#[test]
fn c7_reuse_variables_mutates_object() {
    let g = Graph::new();
    vs(&g, "foo", |s| {
        var(&g, "v", &[1]);
        s.reuse_variables();
        assert_eq!(s.reuse(), ReuseMode::ReuseOnly);
        assert!(var_err(&g, "new", &[1]).contains("does not exist"));
        assert_eq!(vs(&g, "child", |c| c.reuse()), ReuseMode::ReuseOnly);
    });
    assert_eq!(vs(&g, "foo", |s| s.reuse()), ReuseMode::CreateOnly);
}

#[test]
fn c8_root_reuse_variables_sticky_per_thread() {
    let g = Graph::new();
    var(&g, "v", &[1]);
    g.get_variable_scope().reuse_variables();
    assert!(var_err(&g, "w", &[1]).contains("does not exist"));
    assert_eq!(vs(&g, "s", |s| s.reuse()), ReuseMode::ReuseOnly);
    let g2 = g.clone();
    let other = std::thread::spawn(move || g2.get_variable("w").shape([1]).get().is_ok()).join().unwrap();
    assert!(other);
}

#[test]
fn c9_captured_object_reuse() {
    let g = Graph::new();
    let cap = g.variable_scope("cap").reuse(Reuse::True).run_plain(|s| s.clone()).unwrap();
    let r: Vec<ReuseMode> = vec![
        reuse_of(&g, g.variable_scope(&cap)),
        reuse_of(&g, g.variable_scope(&cap).reuse(Reuse::True)),
        reuse_of(&g, g.variable_scope(&cap).reuse(Reuse::Inherit)),
    ];
    assert_eq!(r, vec![ReuseMode::ReuseOnly; 3]);
    let cap = g.variable_scope("cap2").run_plain(|s| s.clone()).unwrap();
    let r: Vec<ReuseMode> = vec![
        reuse_of(&g, g.variable_scope(&cap)),
        reuse_of(&g, g.variable_scope(&cap).reuse(Reuse::True)),
        reuse_of(&g, g.variable_scope(&cap).reuse(Reuse::Inherit)),
    ];
    assert_eq!(r, vec![ReuseMode::CreateOnly, ReuseMode::ReuseOnly, ReuseMode::CreateOnly]);
    let inside = g.variable_scope("p").reuse(Reuse::True).run_plain(|_| reuse_of(&g, g.variable_scope(&cap))).unwrap();
    assert_eq!(inside, ReuseMode::CreateOnly);
}

#[test]
fn c10_invalid_reuse_values() {
    let g = Graph::new();
    for v in ["yes", "1", "0"] {
        let e = g.variable_scope("s").reuse_arg(v).run_plain(|_| ()).unwrap_err();
        assert_eq!(e.to_string(), "The reuse parameter must be True or False or None.");
        assert_eq!(e.kind(), PyErrorKind::ValueError);
    }
    assert_eq!(g.variable_scope("s").reuse_arg("False").run_plain(|s| s.reuse()).unwrap(), ReuseMode::CreateOnly);
    assert_eq!(g.variable_scope("s").reuse_arg("AUTO_REUSE").run_plain(|s| s.reuse()).unwrap(), ReuseMode::AutoReuse);
}

#[test]
fn c11_default_name_cannot_reuse() {
    let g = Graph::new();
    for r in [Reuse::True, Reuse::AutoReuse] {
        let e = g.variable_scope_default("default").reuse(r).run_plain(|_| ()).unwrap_err();
        assert_eq!(e.to_string(), "reuse=True cannot be used without a name_or_scope");
    }
    let r = g
        .variable_scope("p")
        .reuse(Reuse::True)
        .run_plain(|_| g.variable_scope_default("default").run_plain(|s| s.reuse()).unwrap())
        .unwrap();
    assert_eq!(r, ReuseMode::ReuseOnly);
}

#[test]
fn c12_shape_check_on_reuse() {
    let g = Graph::new();
    vs(&g, "s", |_| var(&g, "v", &[1]));
    let e = g.variable_scope("s").reuse(Reuse::True).run_plain(|_| var_err(&g, "v", &[2])).unwrap();
    assert_eq!(e, "Trying to share variable s/v, but specified shape (2,) and found shape (1,).");
    let e = g.variable_scope("s").reuse(Reuse::AutoReuse).run_plain(|_| var_err(&g, "v", &[2, 3, 1])).unwrap();
    assert_eq!(e, "Trying to share variable s/v, but specified shape (2, 3, 1) and found shape (1,).");
    let e = g
        .variable_scope("s")
        .reuse(Reuse::True)
        .run_plain(|_| g.get_variable("v").shape(ShapeArg::Seq(vec![])).get().unwrap_err())
        .unwrap();
    assert_eq!(e.to_string(), "Trying to share variable s/v, but specified shape () and found shape (1,).");
}

#[test]
fn c13_shape_compatibility() {
    let g = Graph::new();
    let v = vs(&g, "s", |_| var(&g, "v", &[2, 3]));
    g.variable_scope("s")
        .reuse(Reuse::True)
        .run_plain(|_| {
            assert_eq!(g.get_variable("v").variable().unwrap(), v);
            assert_eq!(g.get_variable("v").shape([None, Some(3)]).variable().unwrap(), v);
            assert_eq!(g.get_variable("v").shape(Shape::unknown()).variable().unwrap(), v);
            assert!(g.get_variable("v").shape([None, Some(4)]).get().is_err());
            assert!(g.get_variable("v").shape([None]).get().is_err());
        })
        .unwrap();
}

#[test]
fn c14_dtype_check_on_reuse() {
    let g = Graph::new();
    vs(&g, "s", |_| var(&g, "v", &[1]));
    let e = g
        .variable_scope("s")
        .reuse(Reuse::True)
        .run_plain(|_| g.get_variable("v").shape([1]).dtype(DType::Int32).get().unwrap_err().to_string())
        .unwrap();
    assert_eq!(e, "Trying to share variable s/v, but specified dtype int32 and found dtype float32.");
}

#[test]
fn c15_reuse_uses_scope_dtype() {
    let g = Graph::new();
    vs(&g, "s", |_| g.get_variable("i").shape([2]).dtype(DType::Int32).get().unwrap());
    g.variable_scope("s")
        .reuse(Reuse::True)
        .run_plain(|_| {
            assert_eq!(
                var_err(&g, "i", &[2]),
                "Trying to share variable s/i, but specified dtype float32 and found dtype int32."
            );
            assert!(g.get_variable("i").shape([2]).dtype(DType::Int32).get().is_ok());
        })
        .unwrap();
    let ok = g
        .variable_scope("s")
        .reuse(Reuse::True)
        .dtype(DType::Int32)
        .run_plain(|_| g.get_variable("i").get().is_ok())
        .unwrap();
    assert!(ok);
}

#[test]
fn c16_reuse_ignores_initializer_and_collections() {
    let g = Graph::new();
    let v = vs(&g, "s", |_| g.get_variable("v").shape([1]).regularizer(Regularizer::l2(0.1)).variable().unwrap());
    let before = (g.global_variables().len(), g.regularization_losses().len());
    let v2 = g
        .variable_scope("s")
        .reuse(Reuse::True)
        .run_plain(|_| {
            g.get_variable("v")
                .initializer(Initializer::ones())
                .trainable(false)
                .collections(["mine"])
                .regularizer(Regularizer::l1(1.0))
                .variable()
                .unwrap()
        })
        .unwrap();
    assert_eq!(v, v2);
    assert_eq!((g.global_variables().len(), g.regularization_losses().len()), before);
    assert!(g.get_collection("mine").is_empty());
}

#[test]
fn c17_cross_scope_reuse_through_captured_scope() {
    let g = Graph::new();
    let (tower_a, v) = vs(&g, "root", |_| vs(&g, "towerA", |s| (s.clone(), var(&g, "v", &[1]))));
    let v2 = vs(&g, "root", |_| {
        vs(&g, "foo", |_| {
            vs(&g, "bar", |_| g.variable_scope(&tower_a).reuse(Reuse::True).run_plain(|_| var(&g, "v", &[1])).unwrap())
        })
    });
    assert_eq!(v, v2);
    assert_eq!(v.name(), "root/towerA/v:0");
}

#[test]
fn c18_reuse_does_not_change_op_naming() {
    let g = Graph::new();
    let model = |r: Reuse| {
        g.variable_scope("model")
            .reuse(r)
            .run_plain(|_| vs(&g, "layer2", |_| g.with_name_scope(Some("op"), |s| s.to_string()).unwrap()))
            .unwrap()
    };
    assert_eq!(model(Reuse::Inherit), "model/layer2/op/");
    assert_eq!(model(Reuse::True), "model_1/layer2/op/");
}

#[test]
fn c19_captured_scope_with_auto_reuse() {
    let g = Graph::new();
    let (cap, v) = vs(&g, "cap", |s| (s.clone(), var(&g, "v", &[1])));
    g.variable_scope(&cap)
        .reuse(Reuse::AutoReuse)
        .run_plain(|s| {
            assert_eq!(s.reuse(), ReuseMode::AutoReuse);
            assert_eq!(var(&g, "v", &[1]), v);
            assert_eq!(var(&g, "w", &[1]).name(), "cap/w:0");
        })
        .unwrap();
}

#[test]
fn c20_store_shared_reuse_per_thread() {
    let g = Graph::new();
    vs(&g, "foo", |_| var(&g, "v", &[1]));
    let g2 = g.clone();
    let e = std::thread::spawn(move || vs(&g2, "foo", |_| var_err(&g2, "v", &[1]))).join().unwrap();
    assert_eq!(
        e,
        "Variable foo/v already exists, disallowed. Did you mean to set reuse=True or reuse=tf.AUTO_REUSE in VarScope?"
    );
}

fn init_fill(v: &Variable) -> f64 {
    match v.initial_value() {
        InitialValue::Initializer { kernel: InitKernel::Fill(x), .. } => *x,
        other => panic!("not a fill: {other:?}"),
    }
}

#[test]
fn d1_initializer_inheritance() {
    let g = Graph::new();
    let tower = g
        .variable_scope("tower")
        .initializer(Initializer::constant(0.3))
        .run_plain(|s| {
            assert_eq!(init_fill(&var(&g, "v", &[1])), 0.3);
            assert_eq!(vs(&g, "foo", |_| init_fill(&var(&g, "v", &[1]))), 0.3);
            let w = g.get_variable("w").shape([1]).initializer(Initializer::constant(0.7)).variable().unwrap();
            assert_eq!(init_fill(&w), 0.7);
            s.clone()
        })
        .unwrap();
    g.variable_scope(&tower)
        .run_plain(|s| {
            assert_eq!(init_fill(&var(&g, "x", &[1])), 0.3);
            s.set_initializer(Initializer::constant(2.0));
            assert_eq!(init_fill(&var(&g, "y", &[1])), 2.0);
        })
        .unwrap();
    assert_eq!(g.get_variable_scope().initializer(), None);
}

#[test]
fn d2_regularizer_inheritance() {
    let g = Graph::new();
    g.variable_scope("tower3")
        .regularizer(Regularizer::l2(0.1))
        .run_plain(|s| {
            vs(&g, "foo", |_| var(&g, "v", &[1]));
            var(&g, "u", &[1]);
            g.get_variable("n").shape([1]).regularizer(Regularizer::NoRegularizer).get().unwrap();
            s.set_regularizer(Regularizer::l1(0.5));
            var(&g, "w", &[1]);
        })
        .unwrap();
    let names: Vec<String> = g.regularization_losses().iter().map(|l| l.name.clone()).collect();
    assert_eq!(
        names,
        vec!["tower3/foo/v/Regularizer/mul:0", "tower3/u/Regularizer/mul:0", "tower3/w/Regularizer/mul:0"]
    );
    g.variable_scope("tower3").reuse(Reuse::True).run_plain(|_| var(&g, "u", &[1])).unwrap();
    assert_eq!(g.regularization_losses().len(), 3);
    let g = Graph::new();
    g.variable_scope("s").regularizer(Regularizer::NoRegularizer).run_plain(|_| var(&g, "v", &[1])).unwrap();
    assert!(g.regularization_losses().is_empty());
}

#[test]
fn d3_dtype_inheritance() {
    let g = Graph::new();
    g.variable_scope("tower2")
        .dtype(DType::Float16)
        .run_plain(|s| {
            assert_eq!(vs(&g, "foo", |_| var(&g, "v", &[1]).dtype()), DType::Float16);
            assert_eq!(var(&g, "c", &[1]).dtype(), DType::Float16);
            assert_eq!(
                g.get_variable("a").shape([1]).dtype(DType::Float64).get().unwrap().dtype(),
                Some(DType::Float64)
            );
            s.set_dtype(DType::Int32);
            let z = var(&g, "z", &[1]);
            assert_eq!(z.dtype(), DType::Int32);
            assert_eq!(z.initial_value().kernel(), Some(&InitKernel::Fill(0.0)));
        })
        .unwrap();
}

#[test]
fn d4_tensor_initializer_overrides_scope_dtype() {
    let g = Graph::new();
    let v = g
        .variable_scope("s")
        .dtype(DType::Float16)
        .run_plain(|_| {
            g.get_variable("v").initializer(HostTensor::int(DType::Int32, &[], vec![1]).unwrap()).variable().unwrap()
        })
        .unwrap();
    assert_eq!(v.dtype(), DType::Int32);
}

#[test]
fn d5_caching_device() {
    let g = Graph::new();
    g.variable_scope("caching")
        .caching_device("/job:moo")
        .run_plain(|_| {
            assert_eq!(var(&g, "v", &[1]).caching_device(), Some(&CachingDevice::from("/job:moo")));
            assert_eq!(vs(&g, "child", |_| var(&g, "v", &[1]).caching_device().cloned()), Some("/job:moo".into()));
            g.variable_scope("not_cached")
                .caching_device("")
                .run_plain(|_| {
                    assert_eq!(vs(&g, "gc", |_| var(&g, "v", &[1]).caching_device().cloned()), Some("".into()))
                })
                .unwrap();
            let live = g.get_variable("live").shape([1]).caching_device("/job:live").variable().unwrap();
            assert_eq!(live.caching_device(), Some(&"/job:live".into()));
        })
        .unwrap();
    assert_eq!(vs(&g, "sibling", |_| var(&g, "v", &[1]).caching_device().cloned()), None);
}

#[test]
fn d6_partitioner_inheritance() {
    let g = Graph::new();
    let a = g
        .variable_scope("a")
        .partitioner(Partitioner::fixed_size(2))
        .run_plain(|s| {
            let p = g.get_variable("v").shape([6, 2]).get().unwrap();
            assert_eq!(p.partitioned().unwrap().shards().len(), 2);
            let q = g.get_variable("q").shape([6, 2]).partitioner(Partitioner::fixed_size(3)).get().unwrap();
            assert_eq!(q.partitioned().unwrap().shards().len(), 3);
            s.clone()
        })
        .unwrap();
    let n = g
        .variable_scope(&a)
        .run_plain(|_| g.get_variable("w").shape([6, 2]).get().unwrap().partitioned().unwrap().shards().len())
        .unwrap();
    assert_eq!(n, 2);
    a.set_partitioner(Partitioner::fixed_size(3));
    let n = g
        .variable_scope(&a)
        .run_plain(|_| g.get_variable("x").shape([6, 2]).get().unwrap().partitioned().unwrap().shards().len())
        .unwrap();
    assert_eq!(n, 3);
}

fn recording_getter(log: &Arc<Mutex<Vec<String>>>, tag: Option<&'static str>) -> CustomGetter {
    let log = log.clone();
    CustomGetter::new(move |next, args| {
        log.lock().unwrap().push(tag.map(String::from).unwrap_or_else(|| args.name.clone()));
        next.call(args)
    })
}

#[test]
fn d7_custom_getter_inheritance() {
    let g = Graph::new();
    let log = Arc::new(Mutex::new(vec![]));
    g.variable_scope("a")
        .custom_getter(recording_getter(&log, None))
        .run_plain(|_| {
            var(&g, "v", &[1]);
            vs(&g, "b", |_| var(&g, "w", &[1]));
        })
        .unwrap();
    assert_eq!(*log.lock().unwrap(), vec!["a/v", "a/b/w"]);
}

#[test]
fn d8_constraint_not_inherited() {
    let g = Graph::new();
    let c = Constraint::non_neg();
    let cap = g
        .variable_scope("s")
        .constraint(c.clone())
        .run_plain(|s| {
            assert_eq!(var(&g, "v", &[1]).constraint(), Some(&c));
            assert_eq!(vs(&g, "child", |_| var(&g, "v", &[1]).constraint().cloned()), None);
            s.clone()
        })
        .unwrap();
    assert_eq!(g.variable_scope(&cap).run_plain(|_| var(&g, "w", &[1]).constraint().cloned()).unwrap(), None);
    let got =
        g.variable_scope(&cap).constraint(c.clone()).run_plain(|_| var(&g, "x", &[1]).constraint().cloned()).unwrap();
    assert_eq!(got, Some(c));
}

#[test]
fn d9_use_resource() {
    let g = Graph::new();
    assert_eq!(var(&g, "d", &[1]).use_resource(), Some(true));
    g.variable_scope("s")
        .use_resource(false)
        .run_plain(|_| {
            assert_eq!(var(&g, "v", &[1]).use_resource(), Some(false));
            assert_eq!(vs(&g, "c", |_| var(&g, "v", &[1]).use_resource()), Some(false));
            assert_eq!(
                g.get_variable("r").shape([1]).use_resource(true).variable().unwrap().use_resource(),
                Some(true)
            );
        })
        .unwrap();
}

#[test]
fn d10_object_reentry_copies_defaults() {
    let g = Graph::new();
    let base = g
        .variable_scope("base")
        .initializer(Initializer::constant(5.0))
        .dtype(DType::Float64)
        .run_plain(|s| s.clone())
        .unwrap();
    let v = g.variable_scope(&base).initializer(Initializer::constant(7.0)).run_plain(|_| var(&g, "a", &[1])).unwrap();
    assert_eq!((init_fill(&v), v.dtype()), (7.0, DType::Float64));
    let w = g.variable_scope(&base).run_plain(|_| var(&g, "b", &[1])).unwrap();
    assert_eq!(init_fill(&w), 5.0);
    assert_eq!(base.initializer(), Some(InitArg::Init(Initializer::constant(5.0))));
}

#[test]
fn d11_object_reentry_ignores_parent() {
    let g = Graph::new();
    let log = Arc::new(Mutex::new(vec![]));
    let cap = vs(&g, "cap", |s| s.clone());
    g.variable_scope("parent")
        .initializer(Initializer::constant(3.0))
        .dtype(DType::Float64)
        .custom_getter(recording_getter(&log, None))
        .regularizer(Regularizer::l2(1.0))
        .run_plain(|_| {
            let v = g.variable_scope(&cap).run_plain(|_| var(&g, "v", &[1])).unwrap();
            assert_eq!(v.dtype(), DType::Float32);
            assert!(log.lock().unwrap().is_empty());
            assert!(g.regularization_losses().is_empty());
            let w = vs(&g, "child", |_| var(&g, "w", &[1]));
            assert_eq!((w.key(), w.dtype(), init_fill(&w)), ("parent/child/w", DType::Float64, 3.0));
        })
        .unwrap();
    assert_eq!(*log.lock().unwrap(), vec!["parent/child/w"]);
    assert_eq!(g.regularization_losses().len(), 1);
}

#[test]
fn c2_ref_variables_say_where_they_were_defined() {
    // A ref variable (`use_resource=False`) appends where it was created: the line of
    // the `get_variable` call, as a traceback line.
    let g = Graph::new();
    let line = line!() + 1;
    g.get_variable("v").shape([1]).use_resource(false).get().unwrap();
    let e = g.get_variable("v").shape([1]).get().unwrap_err();
    let want = format!("{EXISTS} Originally defined at:\n\n  File \"{}\", line {line}, column 7\n", file!());
    assert_eq!(e.to_string(), want, "the column of `get_variable`");
    assert!(matches!(&e, Error::AlreadyExists { defined_at: Some(_), .. }));
    // The same through a scope path, whose `var` call is the origin.
    let path = g.scope("p").use_resource(false);
    let line = line!() + 1;
    path.var("w").shape([1]).create().unwrap();
    let e = path.var("w").shape([1]).create().unwrap_err().to_string();
    assert!(e.ends_with(&format!("Originally defined at:\n\n  File \"{}\", line {line}, column 10\n", file!())), "{e}");
    // Resource variables (the default, TF 2.21's kind) have no traceback (C1).
    var(&g, "r", &[1]);
    let e = g.get_variable("r").shape([1]).get().unwrap_err();
    assert_eq!(e, Error::AlreadyExists { name: "r".into(), defined_at: None });
}

#[test]
fn c14_ref_variables_print_their_dtype_with_ref() {
    let g = Graph::new();
    g.get_variable("v").shape([1]).use_resource(false).get().unwrap();
    let e = g
        .variable_scope("")
        .reuse(Reuse::True)
        .run_plain(|_| g.get_variable("v").shape([1]).dtype(DType::Int32).get().unwrap_err().to_string());
    assert_eq!(e.unwrap(), "Trying to share variable v, but specified dtype int32 and found dtype float32_ref.");
}

#[test]
fn graph_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Graph>();
    assert_send_sync::<Variable>();
    assert_send_sync::<VariableScope>();
    assert_send_sync::<PartitionedVariable>();
}
