//! TensorFlow rules that were missing (issue 14): small integer dtypes, retryable exits
//! after improper nesting, regularizers returning no loss, initializer op names, and
//! ref variables with unknown-shape initial values; and the undo of a call that fails
//! part way, also when it used another graph, and creators that create across graphs
//! on two threads at once.
mod common;
use common::*;

use std::sync::{Arc, Mutex};
use varscope_core::reference::{decode_f64, initial_bytes};

// ----- int8 / uint8 / int16 / uint16 -------------------------------------------------

const SMALL_INTS: [(DType, &str, usize); 4] =
    [(DType::Int8, "int8", 1), (DType::UInt8, "uint8", 1), (DType::Int16, "int16", 2), (DType::UInt16, "uint16", 2)];

#[test]
fn small_int_dtypes_have_tf_names_sizes_and_classes() {
    for (d, name, size) in SMALL_INTS {
        assert_eq!(d.name(), name);
        assert_eq!(DType::from_name(name), Some(d));
        assert_eq!(d.size_bytes(), size, "{d}");
        assert!(d.is_integer() && !d.is_floating(), "{d}");
        assert_eq!(d.is_unsigned(), name.starts_with('u'), "{d}");
        assert!(DType::ALL.contains(&d), "{d}");
        assert_eq!(d.repr(), format!("<dtype: '{name}'>"));
    }
}

#[test]
fn small_int_variables_default_to_zeros_and_take_tf_initializers() {
    let g = Graph::new();
    for (d, name, size) in SMALL_INTS {
        // E1: integer dtypes default to zeros.
        let z = g.get_variable(&format!("z_{name}")).shape([3]).dtype(d).variable().unwrap();
        assert_eq!(z.dtype(), d);
        assert_eq!(z.initial_value().kernel(), Some(&InitKernel::Fill(0.0)));
        let bytes = initial_bytes(&z).unwrap();
        assert_eq!(bytes.len(), 3 * size, "{d} is packed at its own width on the host");
        assert_eq!(decode_f64(d, &bytes), vec![0.0; 3]);

        let o = g
            .get_variable(&format!("o_{name}"))
            .shape([2])
            .dtype(d)
            .initializer(Initializer::ones())
            .variable()
            .unwrap();
        assert_eq!(decode_f64(d, &initial_bytes(&o).unwrap()), vec![1.0; 2]);

        let c = g
            .get_variable(&format!("c_{name}"))
            .shape([2, 2])
            .dtype(d)
            .initializer(Initializer::constant_list(&[1.0, 2.0, 7.0]))
            .variable()
            .unwrap();
        assert_eq!(decode_f64(d, &initial_bytes(&c).unwrap()), vec![1.0, 2.0, 7.0, 7.0]);

        // A constant value of that dtype fixes the shape (E4).
        let t = HostTensor::int(d, &[2], vec![5, 6]).unwrap();
        let v = g.get_variable(&format!("t_{name}")).initializer(t).variable().unwrap();
        assert_eq!((v.dtype(), v.dims()), (d, Some(vec![2])));
        assert_eq!(decode_f64(d, &initial_bytes(&v).unwrap()), vec![5.0, 6.0]);
    }
}

#[test]
fn small_int_extremes_round_trip_through_the_host_layout() {
    let g = Graph::new();
    for (d, lo, hi) in [
        (DType::Int8, -128i64, 127i64),
        (DType::UInt8, 0, 255),
        (DType::Int16, -32768, 32767),
        (DType::UInt16, 0, 65535),
    ] {
        let t = HostTensor::int(d, &[2], vec![lo, hi]).unwrap();
        let v = g.get_variable(&format!("x_{}", d.name())).initializer(t).variable().unwrap();
        assert_eq!(decode_f64(d, &initial_bytes(&v).unwrap()), vec![lo as f64, hi as f64], "{d}");
    }
}

#[test]
fn random_initializers_reject_small_ints_as_tf_does() {
    // TensorFlow's random_uniform takes int32/int64 only; normal kernels floats only.
    let g = Graph::new();
    for (d, name, _) in SMALL_INTS {
        let e = g
            .get_variable(&format!("u_{name}"))
            .shape([2])
            .dtype(d)
            .initializer(Initializer::random_uniform(0.0, 10.0))
            .get()
            .unwrap_err();
        assert_eq!(e.to_string(), format!("Invalid dtype {name}"), "{d}");
        let e = g
            .get_variable(&format!("n_{name}"))
            .shape([2])
            .dtype(d)
            .initializer(Initializer::random_normal(0.0, 1.0))
            .get();
        assert!(e.is_err(), "{d}");
        assert!(g.store_variable(&format!("u_{name}")).is_none(), "a failed call stores nothing");
    }
    // The int uniform that TensorFlow allows still works.
    let v = g
        .get_variable("ok")
        .shape([4])
        .dtype(DType::Int32)
        .initializer(Initializer::random_uniform(0.0, 10.0))
        .variable();
    assert!(v.is_ok());
}

// ----- improper nesting --------------------------------------------------------------

#[test]
fn exit_after_improper_nesting_is_retryable_and_consistent() {
    let g = Graph::new();
    let a = g.variable_scope("a");
    let b = g.variable_scope("b");
    let mut ga = a.enter().unwrap();
    let mut gb = b.enter().unwrap();
    assert_eq!((g.get_variable_scope().name(), g.current_name_scope()), ("a/b".to_string(), "a/b".to_string()));

    let e = ga.exit().unwrap_err();
    assert_eq!(e.to_string(), "Improper nesting of variable_scope.");
    // The failed exit changed nothing: still in a/b, variable scope and name scope alike.
    assert_eq!((g.get_variable_scope().name(), g.current_name_scope()), ("a/b".to_string(), "a/b".to_string()));
    assert_eq!(var(&g, "v", &[1]).name(), "a/b/v:0");

    // Exit the inner scope, then retry the outer one.
    gb.exit().unwrap();
    assert_eq!((g.get_variable_scope().name(), g.current_name_scope()), ("a".to_string(), "a".to_string()));
    ga.exit().unwrap();
    assert_eq!((g.get_variable_scope().name(), g.current_name_scope()), (String::new(), String::new()));
    assert_eq!(var(&g, "w", &[1]).name(), "w:0");
    // Exiting again is a no-op.
    ga.exit().unwrap();
    assert_eq!(g.get_variable_scope().name(), "");
}

#[test]
fn dropping_guards_in_order_after_a_failed_exit_returns_to_the_root() {
    let g = Graph::new();
    {
        let mut ga = g.variable_scope("a").enter().unwrap();
        let _gb = g.variable_scope("b").enter().unwrap();
        assert!(ga.exit().is_err());
        // `_gb` drops first, then `ga` retries its exit on drop.
    }
    assert_eq!((g.get_variable_scope().name(), g.current_name_scope()), (String::new(), String::new()));
    // Counters were restored as on a normal exit: a later default_name scope in "a" is "d".
    g.variable_scope("a")
        .run_plain(|_| g.variable_scope_default("d").run_plain(|s| assert_eq!(s.name(), "a/d")).unwrap())
        .unwrap();
}

#[test]
fn object_scope_exits_restore_the_counters_even_after_a_guard_dropped_out_of_order() {
    let g = Graph::new();
    let o = g.variable_scope("o").run_plain(|s| s.clone()).unwrap();
    let p = g.variable_scope("p").run_plain(|s| s.clone()).unwrap();
    let default_in = |g: &Graph| g.variable_scope_default("d").run_plain(|s| s.name()).unwrap();
    {
        let _go = g.variable_scope(&o).enter().unwrap();
        assert_eq!(g.variable_scope_count("o"), 2, "re-entering counts again");
        assert_eq!(default_in(&g), "o/d");
        assert_eq!(default_in(&g), "o/d_1");
    }
    // Leaving the object scope gave the counters of its entry back: o/d is free again.
    assert_eq!((g.variable_scope_count("o"), g.variable_scope_count("o/d")), (2, 0));
    {
        let go = g.variable_scope(&o).enter().unwrap();
        assert_eq!(default_in(&g), "o/d");
        let gp = g.variable_scope(&p).enter().unwrap();
        assert_eq!(default_in(&g), "p/d");
        // `go` drops first: its exit fails (p is open) and it is abandoned.
        drop(go);
        assert_eq!(g.get_variable_scope().name(), "p");
        drop(gp);
        // p's exit restored p's entry counters; o, never exited, keeps its changes.
        assert_eq!(g.get_variable_scope().name(), "o");
        assert_eq!((g.variable_scope_count("p/d"), g.variable_scope_count("o/d")), (0, 1));
        assert_eq!(default_in(&g), "o/d_1");
    }
    // Still in o (its guard was abandoned); scopes opened by name close their subscopes.
    assert_eq!(g.variable_scope("n").run_plain(|_| default_in(&g)).unwrap(), "o/n/d");
    assert_eq!((g.variable_scope_count("o/n"), g.variable_scope_count("o/n/d")), (1, 0));
}

// ----- regularizers returning None ---------------------------------------------------

#[test]
fn a_regularizer_returning_none_adds_no_loss() {
    let g = Graph::new();
    g.get_variable("none").shape([2]).regularizer(Regularizer::host_fn("Sum", |_| None)).get().unwrap();
    assert!(g.regularization_losses().is_empty(), "{:?}", g.regularization_losses());
    assert!(g.get_collection(GraphKeys::REGULARIZATION_LOSSES).is_empty());
    // Its loss ops are not built either.
    assert!(!g.name_in_use("none/Regularizer/Sum"));
    // A closure that returns a loss still adds one, under the variable's name.
    g.get_variable("some").shape([2]).regularizer(Regularizer::host_fn("Sum", |v| Some(v.iter().sum()))).get().unwrap();
    let names: Vec<String> = g.regularization_losses().iter().map(|l| l.name.clone()).collect();
    assert_eq!(names, vec!["some/Regularizer/Sum:0".to_string()]);
    // As a scope default too.
    g.variable_scope("s")
        .regularizer(Regularizer::host_fn("Sum", |_| None))
        .run_plain(|_| g.get_variable("v").shape([3]).get().unwrap())
        .unwrap();
    assert_eq!(g.regularization_losses().len(), 1);
}

#[test]
fn a_regularizer_returning_none_per_shard_adds_nothing() {
    let g = Graph::new();
    g.get_variable("p")
        .shape([4, 2])
        .partitioner(Partitioner::fixed_size(2))
        .regularizer(Regularizer::host_fn("Sum", |_| None))
        .get()
        .unwrap();
    assert!(g.regularization_losses().is_empty());
}

// ----- initializer op names ----------------------------------------------------------

fn next_name(g: &Graph, name: &str) -> String {
    g.unique_name(name)
}

#[test]
fn initializer_ops_reserve_their_names() {
    let g = Graph::new();
    let cases: [(&str, Initializer, &str); 7] = [
        ("c", Initializer::constant(1.0), "Const"),
        ("l", Initializer::constant_list(&[1.0, 2.0]), "Const"),
        ("z", Initializer::zeros(), "zeros"),
        ("o", Initializer::ones(), "ones"),
        ("u", Initializer::random_uniform(0.0, 1.0), "random_uniform"),
        ("n", Initializer::random_normal(0.0, 1.0), "random_normal"),
        ("t", Initializer::truncated_normal(0.0, 1.0), "truncated_normal"),
    ];
    for (var_name, init, op) in cases {
        g.get_variable(var_name).shape([2]).initializer(init).get().unwrap();
        // An op later created under the same name is uniquified as in TensorFlow.
        let full = format!("{var_name}/Initializer/{op}");
        assert!(g.name_in_use(&full), "{full}");
        assert_eq!(next_name(&g, &full), format!("{full}_1"));
    }
    // The default initializer of a float variable is glorot_uniform: random_uniform ops.
    g.get_variable("d").shape([2, 2]).get().unwrap();
    assert_eq!(next_name(&g, "d/Initializer/random_uniform"), "d/Initializer/random_uniform_1");
    assert_eq!(
        next_name(&g, "d/Initializer/random_uniform/RandomUniform"),
        "d/Initializer/random_uniform/RandomUniform_1"
    );
    // Integer defaults are zeros.
    g.get_variable("i").shape([2]).dtype(DType::Int32).get().unwrap();
    assert!(g.name_in_use("i/Initializer/zeros"));
}

#[test]
fn failed_creation_gives_initializer_names_back() {
    let g = Graph::new();
    let e = g.get_variable("c").shape([1]).initializer(Initializer::constant_list(&[1.0, 2.0])).get();
    assert!(e.is_err());
    assert!(!g.name_in_use("c/Initializer/Const"));
}

// ----- ref variables: unknown shapes -------------------------------------------------

#[test]
fn ref_variable_with_unknown_shape_value_and_validate_shape_is_an_error() {
    let g = Graph::new();
    let t = HostTensor::f32(&[2], &[1., 2.]).unwrap().with_unknown_static_shape();
    let e = g.get_variable("r").initializer(t.clone()).use_resource(false).get().unwrap_err();
    // TensorFlow prints the user's placeholder (J2).
    assert_eq!(
        e.to_string(),
        "initial_value must have a shape specified: Tensor(\"PlaceholderWithDefault:0\", dtype=float32)"
    );
    assert_eq!(e.kind(), PyErrorKind::ValueError);
    // A named placeholder prints under its name.
    let named = HostTensor::f32(&[2], &[1., 2.]).unwrap().with_unknown_static_shape().named("PlaceholderWithDefault_1");
    let e = g.get_variable("r").initializer(named).use_resource(false).get().unwrap_err();
    assert!(e.to_string().ends_with("Tensor(\"PlaceholderWithDefault_1:0\", dtype=float32)"), "{e}");
    assert!(g.store_variable("r").is_none());
    assert!(g.global_variables().is_empty());
    // A scope's use_resource=False is the same.
    let e = g
        .variable_scope("s")
        .use_resource(false)
        .run_plain(|_| g.get_variable("r").initializer(t.clone()).get())
        .unwrap();
    assert!(e.is_err());
    // validate_shape=False gives a variable of unknown shape (J1); resource variables
    // accept the unknown shape (J2).
    let v = g.get_variable("r").initializer(t.clone()).use_resource(false).validate_shape(false).variable().unwrap();
    assert_eq!(v.shape(), &Shape::unknown());
    let v = g.get_variable("q").initializer(t).variable().unwrap();
    assert_eq!(v.shape(), &Shape::unknown());
}

// ----- transactions: a failed call changes nothing ----------------------------------

/// `get_variable("p")` of 4 elements in two shards, in `variables` and the new `mine`.
fn two_shards_in_mine(g: &Graph) -> Result<VarRef> {
    g.get_variable("p").shape([4]).partitioner(Partitioner::fixed_size(2)).collections(["variables", "mine"]).get()
}

/// Nothing of `two_shards_in_mine`'s call is left: no shard or partitioned variable in
/// the store, no names, nothing in `mine`.
fn assert_no_trace_of_p(g: &Graph) {
    assert!(g.store_variable("p/part_0").is_none() && g.partitioned_variable("p").is_none());
    assert!(!g.name_in_use("p/part_0") && !g.name_in_use("p/part_0/Initializer"));
    assert!(g.get_collection("mine").is_empty());
}

#[test]
fn a_creator_failing_on_the_second_shard_undoes_the_first() {
    let g = Graph::new();
    let calls = Arc::new(Mutex::new(0));
    let seen = calls.clone();
    // The first shard is created (names, store entry, its collections, one of them new),
    // then the creator fails on the second: the whole call is undone.
    let e = g.variable_creator_scope(
        move |next, a| {
            let mut n = seen.lock().unwrap();
            *n += 1;
            if *n == 2 {
                return Err(Error::user("second shard refused"));
            }
            next.call(a)
        },
        || two_shards_in_mine(&g).unwrap_err(),
    );
    assert_eq!(e.to_string(), "second shard refused");
    assert_eq!(*calls.lock().unwrap(), 2);
    assert_no_trace_of_p(&g);
    assert!(g.global_variables().is_empty() && g.trainable_variables().is_empty());
    assert!(g.all_variables().is_empty());
    // Later calls (whose undo logs reuse the failed call's, emptied) record only
    // themselves, and a later failure undoes only its own changes.
    let w = g.get_variable("w").shape([1]).collections(["mine"]).variable().unwrap();
    let x = g.get_variable("x").shape([1]).variable().unwrap();
    assert!(g.get_variable("w").shape([1]).get().is_err(), "w exists");
    let names: Vec<String> = g.get_collection("mine").iter().map(|i| i.name()).collect();
    assert_eq!(names, ["w:0"]);
    assert_eq!(g.global_variables(), std::slice::from_ref(&x));
    assert_eq!(g.trainable_variables(), [w, x]);
    // The failed call's names are free again: the shards get TensorFlow's names.
    let p = g.get_variable("p").shape([4]).partitioner(Partitioner::fixed_size(2)).get().unwrap();
    assert_eq!(p.partitioned().unwrap().shards()[1].name(), "p/part_1:0");
}

#[test]
fn a_failed_call_in_one_graph_leaves_another_graphs_changes_alone() {
    let a = Graph::new();
    let b = Graph::new();
    let kept: Vec<Variable> = (0..3).map(|i| a.get_variable(&format!("k{i}")).shape([1]).variable().unwrap()).collect();
    let b2 = b.clone();
    // A creator of graph `a` creates a variable in graph `b`, then fails: `a`'s call is
    // undone, `b`'s (which succeeded) is not, and neither graph's undo touches the other.
    let e = a.variable_creator_scope(
        move |_next, _args| {
            b2.get_variable("x").shape([1]).variable()?;
            Err(Error::user("creator failed after using another graph"))
        },
        || a.get_variable("v").shape([1]).get().unwrap_err(),
    );
    assert_eq!(e.to_string(), "creator failed after using another graph");
    assert_eq!(a.global_variables(), kept);
    assert!(a.store_variable("v").is_none() && !a.name_in_use("v"));
    for i in 0..3 {
        assert!(a.name_in_use(&format!("k{i}")) && a.name_in_use(&format!("k{i}/Read/ReadVariableOp")));
    }
    let x = b.store_variable("x").expect("b's variable stays");
    assert_eq!(b.global_variables(), [x]);
    assert!(b.name_in_use("x") && b.name_in_use("x/Initializer"));
    // Both graphs go on naming as TensorFlow would.
    assert_eq!(a.get_variable("v").shape([1]).variable().unwrap().name(), "v:0");
    assert_eq!(b.get_variable("y").shape([1]).variable().unwrap().name(), "y:0");
}

#[test]
fn creators_creating_across_graphs_on_two_threads_do_not_deadlock() {
    // Each thread's creator of its own graph (run under that graph's creation lock)
    // creates a variable in the other graph, both at once: the thread that would close
    // the cycle is refused, its call undone, and the other then finishes.
    let graphs = [Graph::new(), Graph::new()];
    let barrier = Arc::new(std::sync::Barrier::new(2));
    let (tx, rx) = std::sync::mpsc::channel();
    for i in 0..2 {
        let (own, other) = (graphs[i].clone(), graphs[1 - i].clone());
        let (barrier, tx) = (barrier.clone(), tx.clone());
        std::thread::spawn(move || {
            let r = own.variable_creator_scope(
                move |next, args| {
                    let v = next.call(args)?;
                    barrier.wait();
                    other.get_variable(&format!("from_{i}")).shape([1]).variable()?;
                    Ok(v)
                },
                || own.get_variable("v").shape([1]).variable(),
            );
            tx.send((i, r)).unwrap();
        });
    }
    let wait = || rx.recv_timeout(std::time::Duration::from_secs(60)).expect("neither thread waits for ever");
    let mut results = [wait(), wait()];
    results.sort_by_key(|(i, _)| *i);
    let refused: Vec<usize> = (0..2).filter(|&i| results[i].1.is_err()).collect();
    assert_eq!(refused.len(), 1, "exactly one thread is refused");
    let (r, ok) = (refused[0], 1 - refused[0]);
    let e = results[r].1.clone().unwrap_err();
    assert_eq!(e, Error::CreationWouldDeadlock { name: format!("from_{r}"), graph: graphs[ok].id() });
    assert_eq!(e.kind(), PyErrorKind::RuntimeError);
    assert!(e
        .to_string()
        .starts_with(&format!("Creating variable from_{r} in graph {} would deadlock", graphs[ok].id())));
    // The refused thread's call changed nothing in its graph; the other's went through.
    assert!(graphs[r].store_variable("v").is_none() && !graphs[r].name_in_use("v"));
    assert!(graphs[ok].store_variable(&format!("from_{r}")).is_none());
    assert_eq!(results[ok].1.as_ref().unwrap().name(), "v:0");
    let from_ok = graphs[r].store_variable(&format!("from_{ok}")).expect("created once the lock was free");
    assert_eq!(graphs[r].global_variables(), [from_ok]);
    // Both graphs take new variables, from either thread's side, as before.
    assert_eq!(graphs[r].get_variable("v").shape([1]).variable().unwrap().name(), "v:0");
    assert_eq!(
        graphs[ok].get_variable(&format!("from_{r}")).shape([1]).variable().unwrap().name(),
        format!("from_{r}:0")
    );
}

#[test]
fn all_or_nothing_undoes_a_failed_block_and_keeps_a_good_one() {
    let g = Graph::new();
    let kept = g.get_variable("k").shape([1]).variable().unwrap();
    // A block that creates variables (in a default-named scope, as slot creation does)
    // and then fails: its variables, names and counters are gone.
    let e: Result<(), Error> = g.all_or_nothing(|| {
        g.variable_scope_default("slot").run(|_| g.get_variable("").shape([1]).variable())?;
        g.variable(Initializer::zeros()).shape(&[1]).name("power").create()?;
        Err(Error::user("could not allocate"))
    });
    assert_eq!(e.unwrap_err().to_string(), "could not allocate");
    assert_eq!(g.global_variables(), std::slice::from_ref(&kept));
    assert!(!g.name_in_use("slot") && !g.name_in_use("power"));
    // The same block succeeding names everything as the first time, and stays.
    let (a, b) = g
        .all_or_nothing(|| -> Result<_, Error> {
            let a = g.variable_scope_default("slot").run(|_| g.get_variable("").shape([1]).variable())?;
            let b = g.variable(Initializer::zeros()).shape(&[1]).name("power").create()?;
            Ok((a, b))
        })
        .unwrap();
    assert_eq!((a.name().as_str(), b.name().as_str()), ("slot:0", "power:0"));
    assert_eq!(g.global_variables(), [kept, a, b]);
}

#[test]
fn a_creator_that_panics_is_undone_like_one_that_fails() {
    let g = Graph::new();
    let kept = g.get_variable("k").shape([1]).variable().unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        g.variable_creator_scope(
            |next, args| {
                let _v = next.call(args)?;
                panic!("a creator's bug");
            },
            || two_shards_in_mine(&g),
        )
    }));
    assert!(r.is_err(), "the panic reaches the caller");
    assert_no_trace_of_p(&g);
    assert_eq!(g.global_variables(), std::slice::from_ref(&kept));
    // The graph is usable, on this thread and on others, and a later failure undoes only
    // its own changes.
    let p = g.get_variable("p").shape([4]).partitioner(Partitioner::fixed_size(2)).get().unwrap();
    assert_eq!(p.partitioned().unwrap().shards()[0].name(), "p/part_0:0");
    assert!(g.get_variable("k").shape([1]).get().is_err(), "k exists");
    assert_eq!(g.global_variables().len(), 3);
    let g2 = g.clone();
    let w = std::thread::spawn(move || g2.get_variable("w").shape([1]).variable().unwrap().name()).join().unwrap();
    assert_eq!(w, "w:0");
}

#[test]
fn scopes_pushed_for_a_closure_are_popped_when_it_panics() {
    // An eager store: after a panic inside `with_eager_store`, the store is no longer
    // active (each call creates again, as outside any store).
    let g = Graph::new_eager();
    let store = EagerVariableStore::new();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        g.with_eager_store(&store, || {
            g.get_variable("w").shape([1]).variable().unwrap();
            panic!("a bug inside the store's scope");
        })
    }));
    assert!(r.is_err());
    let a = g.get_variable("w").shape([1]).variable().unwrap();
    let b = g.get_variable("w").shape([1]).variable().unwrap();
    assert_ne!(a, b, "no store is active any more");
    assert_eq!(store.variables().len(), 1);
    // A creator scope: the creator is gone after the panic.
    let g = Graph::new();
    let calls = Arc::new(Mutex::new(0));
    let seen = calls.clone();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        g.variable_creator_scope(
            move |next, args| {
                *seen.lock().unwrap() += 1;
                next.call(args)
            },
            || -> () { panic!("a bug inside the creator's scope") },
        )
    }));
    assert!(r.is_err());
    g.get_variable("v").shape([1]).variable().unwrap();
    assert_eq!(*calls.lock().unwrap(), 0, "the creator no longer runs");
}
