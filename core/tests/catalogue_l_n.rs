//! Catalogue sections L (make_template), M (variable_creator_scope), N (errors), the
//! seed's eager note, concurrency, and failed calls leaving no trace.
mod common;
use common::*;
use std::sync::{Arc, Mutex};
use varscope_core::compat::ScopeArgs;

#[test]
fn l1_template_reuses_and_uniquifies_name_scopes() {
    let g = Graph::new();
    let t = g
        .make_template(
            Some("tmpl"),
            |g: &Graph, _: ()| Ok((g.get_variable("w").shape([1]).variable()?, g.constant("out").name)),
            false,
            None,
            None,
        )
        .unwrap();
    let (w1, o1) = t.call(()).unwrap();
    let (w2, o2) = t.call(()).unwrap();
    assert_eq!(w1, w2);
    assert_eq!(w1.name(), "tmpl/w:0");
    assert_eq!((o1.as_str(), o2.as_str()), ("tmpl/out:0", "tmpl_1/out:0"));
    assert_eq!(t.variable_scope_name().as_deref(), Some("tmpl/"));
}

#[test]
fn l2_two_templates_same_name() {
    let g = Graph::new();
    let f = |g: &Graph, _: ()| g.get_variable("w").shape([1]).variable();
    let a = g.make_template(Some("tmpl"), f, false, None, None).unwrap();
    let b = g.make_template(Some("tmpl"), f, false, None, None).unwrap();
    assert_eq!(a.call(()).unwrap().name(), "tmpl/w:0");
    assert_eq!(b.call(()).unwrap().name(), "tmpl_1/w:0");
}

#[test]
fn l3_create_scope_now() {
    let g = Graph::new();
    let t = vs(&g, "outer", |_| {
        g.make_template(
            Some("tmpl"),
            |g: &Graph, _: ()| Ok((g.get_variable("w").shape([1]).variable()?, g.constant("c").name)),
            true,
            None,
            None,
        )
        .unwrap()
    });
    let scope = t.variable_scope().unwrap();
    assert_eq!(scope.name(), "outer/tmpl");
    assert_eq!(scope.original_name_scope(), "tmpl");
    let (w, c1) = t.call(()).unwrap();
    let (_, c2) = t.call(()).unwrap();
    assert_eq!(w.name(), "outer/tmpl/w:0");
    assert_eq!((c1.as_str(), c2.as_str()), ("tmpl/c:0", "tmpl_1/c:0"));
}

#[test]
fn l4_unique_name_clash_errors_on_first_call() {
    let g = Graph::new();
    vs(&g, "s", |_| var(&g, "w", &[1]));
    let t = g
        .make_template(Some("t"), |g: &Graph, _: ()| g.get_variable("w").shape([1]).variable(), false, Some("s"), None)
        .unwrap();
    let e = t.call(()).unwrap_err().to_string();
    assert!(e.starts_with("Variable s/w already exists"), "{e}");
    assert!(e.contains("\n\noriginally defined at:\n"), "{e}");
}

#[test]
fn l5_trainable_variable_created_on_later_call() {
    let g = Graph::new();
    let n = Arc::new(Mutex::new(0));
    let n2 = n.clone();
    let t = g
        .make_template(
            Some("t"),
            move |g: &Graph, _: ()| {
                let mut k = n2.lock().unwrap();
                *k += 1;
                if *k > 1 {
                    g.variable(HostTensor::py_float(1.0)).name("v").create()?;
                }
                Ok(())
            },
            false,
            None,
            None,
        )
        .unwrap();
    t.call(()).unwrap();
    let e = t.call(()).unwrap_err().to_string();
    assert!(e.starts_with("Trainable variable created when calling a template after the first time, perhaps you used tf.Variable when you meant tf.get_variable: [<tf.Variable 't_1/v:0' shape=() dtype=float32>]"), "{e}");
}

#[test]
fn l6_new_get_variable_on_later_call() {
    let g = Graph::new();
    let n = Arc::new(Mutex::new(0));
    let n2 = n.clone();
    let t = g
        .make_template(
            Some("t"),
            move |g: &Graph, _: ()| {
                let mut k = n2.lock().unwrap();
                *k += 1;
                g.get_variable(&format!("v{k}")).shape([1]).variable()
            },
            false,
            None,
            None,
        )
        .unwrap();
    t.call(()).unwrap();
    let e = t.call(()).unwrap_err().to_string();
    assert!(e.starts_with("Variable t/v2 does not exist"), "{e}");
    assert!(e.contains("originally defined at:"));
}

#[test]
fn l7_scope_captured_at_first_call_and_name_required() {
    let g = Graph::new();
    let t = g
        .make_template(Some("tmpl"), |g: &Graph, x: u64| g.get_variable("w").shape([x]).variable(), false, None, None)
        .unwrap();
    let w = vs(&g, "outer", |_| t.call(2).unwrap());
    assert_eq!(w.name(), "outer/tmpl/w:0");
    assert_eq!(t.call(2).unwrap(), w);
    let e = g.make_template(None, |_: &Graph, _: ()| Ok(()), false, None, None).err().unwrap();
    assert_eq!(e.to_string(), "name cannot be None.");
}

#[test]
fn m1_creators_run_on_creation_only_innermost_first() {
    let g = Graph::new();
    let log = Arc::new(Mutex::new(vec![]));
    let (la, lb) = (log.clone(), log.clone());
    g.variable_creator_scope(
        move |next, mut a| {
            la.lock().unwrap().push(("a", a.name.clone()));
            a.name = "forced_name".into();
            next.call(a)
        },
        || {
            g.variable_creator_scope(
                move |next, a| {
                    lb.lock().unwrap().push(("b", a.name.clone()));
                    next.call(GetterArgsLike::rename(a, "one_name"))
                },
                || {
                    var(&g, "v", &[1]);
                    g.variable_scope("").reuse(Reuse::True).run_plain(|_| var(&g, "v", &[1])).unwrap();
                },
            )
        },
    );
    assert_eq!(*log.lock().unwrap(), vec![("b", "v".to_string()), ("a", "one_name".to_string())]);
}

struct GetterArgsLike;
impl GetterArgsLike {
    fn rename(mut a: CreatorArgs, n: &str) -> CreatorArgs {
        a.name = n.into();
        a
    }
}

#[test]
fn m2_creator_rename_keeps_store_key() {
    let g = Graph::new();
    let v = g.variable_creator_scope(
        |next, mut a| {
            a.name = "forced".into();
            next.call(a)
        },
        || vs(&g, "s", |_| var(&g, "v", &[1])),
    );
    assert_eq!((v.name().as_str(), v.key()), ("forced:0", "s/v"));
    let again = g.variable_scope("s").reuse(Reuse::True).run_plain(|_| var(&g, "v", &[1])).unwrap();
    assert_eq!(again, v);
}

#[test]
fn m3_creator_arguments() {
    let g = Graph::new();
    let seen = Arc::new(Mutex::new(None));
    let s2 = seen.clone();
    g.variable_creator_scope(
        move |next, a| {
            *s2.lock().unwrap() = Some((
                a.name.clone(),
                a.trainable,
                a.collections.is_none(),
                a.use_resource,
                a.initial_value.kernel().is_some(),
            ));
            next.call(a)
        },
        || vs(&g, "s", |_| var(&g, "v", &[2])),
    );
    assert_eq!(*seen.lock().unwrap(), Some(("s/v".to_string(), true, true, true, true)));
}

#[test]
fn n1_improper_nesting() {
    let g = Graph::new();
    let a = g.variable_scope("a");
    let b = g.variable_scope("b");
    let mut ga = a.enter().unwrap();
    let mut gb = b.enter().unwrap();
    let e = ga.exit().unwrap_err();
    assert_eq!(e.to_string(), "Improper nesting of variable_scope.");
    assert_eq!(e.kind(), PyErrorKind::RuntimeError);
    gb.exit().unwrap();
}

#[test]
fn n2_n3_n4_argument_type_errors() {
    let g = Graph::new();
    let e = compat::variable_scope_value(&g, "123").run_plain(|_| ()).unwrap_err();
    assert_eq!(
        (e.to_string().as_str(), e.kind()),
        ("VariableScope: name_or_scope must be a string or VariableScope.", PyErrorKind::TypeError)
    );
    let e = g.variable_scope(ScopeName::None).run_plain(|_| ()).unwrap_err();
    assert_eq!(
        (e.to_string().as_str(), e.kind()),
        ("If default_name is None then name_or_scope is required", PyErrorKind::TypeError)
    );
    let e = g.variable_scope("s").auxiliary_name_scope_arg("invalid").run_plain(|_| ()).unwrap_err();
    assert_eq!(e.to_string(), "The auxiliary_name_scope must be `True` or `False`, while get invalid");
    assert_eq!(e.kind(), PyErrorKind::TypeError);
}

#[test]
fn n5_invalid_names() {
    let g = Graph::new();
    let e = g.variable_scope("_foo").run_plain(|_| ()).unwrap_err();
    assert_eq!(e.to_string(), "'_foo' is not a valid root scope name. A root scope name has to match the following pattern: ^[A-Za-z0-9.][A-Za-z0-9_.\\\\/>-]*$");
    let e = vs(&g, "s", |_| g.variable_scope("a b").run_plain(|_| ()).unwrap_err());
    assert_eq!(
        e.to_string(),
        "'a b' is not a valid scope name. A scope name has to match the following pattern: ^[A-Za-z0-9_.\\\\/>-]*$"
    );
    assert!(var_err(&g, "_a", &[1]).starts_with("'_a' is not a valid root scope name"));
    assert_eq!(vs(&g, "s", |_| var(&g, "_a", &[1]).name()), "s/_a:0");
    // A failed enter leaves the thread at the root.
    assert_eq!(g.get_variable_scope().name(), "");
    assert_eq!(g.current_name_scope(), "");
    // A failed name scope inside another leaves the outer one current.
    g.with_name_scope(Some("outer"), |_| {
        assert!(g.name_scope(Some("a b")).is_err());
        assert_eq!(g.current_name_scope(), "outer");
        assert_eq!(g.constant("c").name, "outer/c:0");
    })
    .unwrap();
    assert_eq!(g.current_name_scope(), "");
}

#[test]
fn eager_creates_every_time_unless_store_active() {
    let g = Graph::new_eager();
    let a = var(&g, "v", &[1]);
    let b = var(&g, "v", &[1]);
    assert_ne!(a, b);
    let store = EagerVariableStore::new();
    let c = g.with_eager_store(&store, || var(&g, "w", &[1]));
    let d = g.with_eager_store(&store, || var(&g, "w", &[1]));
    assert_eq!(c, d);
    assert_eq!(store.variables().len(), 1);
}

#[test]
fn failed_calls_leave_no_trace() {
    let g = Graph::new();
    let before = (g.all_variables().len(), g.name_in_use("p"));
    // A creator that fails after the name was taken.
    let e = g.variable_creator_scope(
        |next, a| {
            let _v = next.call(a)?;
            Err(Error::user("creator failed"))
        },
        || g.get_variable("p").shape([4]).partitioner(Partitioner::fixed_size(2)).get().unwrap_err(),
    );
    assert_eq!(e.to_string(), "creator failed");
    assert_eq!((g.all_variables().len(), g.name_in_use("p/part_0")), (before.0, false));
    assert!(g.store_variable("p/part_0").is_none() && g.partitioned_variable("p").is_none());
    assert!(g.global_variables().is_empty());
    // The same call then succeeds with the names TensorFlow would give.
    let p = g.get_variable("p").shape([4]).partitioner(Partitioner::fixed_size(2)).get().unwrap();
    assert_eq!(p.partitioned().unwrap().shards()[0].name(), "p/part_0:0");
}

#[test]
fn concurrent_creation_exactly_one_wins() {
    let g = Graph::new();
    let threads = 8;
    let names = 50;
    let results: Vec<Vec<std::result::Result<Variable, String>>> = crossbeam::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|_| {
                let g = &g;
                s.spawn(move |_| {
                    (0..names)
                        .map(|i| g.get_variable(&format!("v{i}")).shape([4]).variable().map_err(|e| e.to_string()))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    })
    .unwrap();
    for i in 0..names {
        let oks: Vec<&Variable> = results.iter().filter_map(|r| r[i].as_ref().ok()).collect();
        assert_eq!(oks.len(), 1, "exactly one creation of v{i}");
        for r in &results {
            if let Err(e) = &r[i] {
                assert_eq!(e, &format!("Variable v{i} already exists, disallowed. Did you mean to set reuse=True or reuse=tf.AUTO_REUSE in VarScope?"));
            }
        }
    }
    assert_eq!(g.global_variables().len(), names);
    // AUTO_REUSE: everyone gets the same object.
    let got: Vec<Vec<Variable>> = crossbeam::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|_| {
                let g = &g;
                s.spawn(move |_| {
                    g.variable_scope("auto")
                        .reuse(Reuse::AutoReuse)
                        .run_plain(|_| (0..names).map(|i| var(g, &format!("w{i}"), &[2])).collect::<Vec<_>>())
                        .unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    })
    .unwrap();
    for r in &got[1..] {
        assert_eq!(r, &got[0]);
    }
    assert_eq!(g.global_variables().len(), 2 * names);
}
