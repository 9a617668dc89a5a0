//! Catalogue sections A (naming) and B (name scopes, uniquification).
mod common;
use common::*;

#[test]
fn a1_root_name() {
    let g = Graph::new();
    assert_eq!(var(&g, "v", &[1]).name(), "v:0");
}

#[test]
fn a2_nested_scopes() {
    let g = Graph::new();
    let v = vs(&g, "foo", |_| vs(&g, "bar", |_| var(&g, "v", &[2, 3])));
    assert_eq!(v.name(), "foo/bar/v:0");
    assert_eq!(v.shape(), &Shape::new(&[2, 3]));
}

#[test]
fn a3_name_scope_does_not_affect_get_variable() {
    let g = Graph::new();
    let (v, c) = g.with_name_scope(Some("ns"), |_| (var(&g, "v", &[1]), g.constant("c"))).unwrap();
    assert_eq!(v.name(), "v:0");
    assert_eq!(c.name, "ns/c:0");
    let (w, c2) = vs(&g, "vs", |_| g.with_name_scope(Some("ns"), |_| (var(&g, "w", &[1]), g.constant("c"))).unwrap());
    assert_eq!(w.name(), "vs/w:0");
    assert_eq!(c2.name, "vs/ns/c:0");
}

#[test]
fn a4_variable_scope_inside_name_scope() {
    let g = Graph::new();
    g.with_name_scope(Some("ns"), |_| {
        vs(&g, "vs", |s| {
            assert_eq!(var(&g, "v", &[1]).name(), "vs/v:0");
            assert_eq!(g.constant("c").name, "ns/vs/c:0");
            assert_eq!(s.original_name_scope(), "ns/vs/");
        })
    })
    .unwrap();
}

#[test]
fn a5_reentry_by_string_uniquifies_name_scope() {
    let g = Graph::new();
    let mut out = vec![];
    for name in ["v", "w", ""] {
        vs(&g, "foo", |s| {
            if !name.is_empty() {
                out.push(var(&g, name, &[1]).name());
            }
            out.push(g.constant("c").name);
            out.push(s.original_name_scope());
        });
    }
    assert_eq!(out, vec!["foo/v:0", "foo/c:0", "foo/", "foo/w:0", "foo_1/c:0", "foo_1/", "foo_2/c:0", "foo_2/"]);
}

#[test]
fn a6_slash_in_variable_name() {
    let g = Graph::new();
    let v = var(&g, "a/b", &[1]);
    let v2 = g.variable_scope("a").reuse(Reuse::True).run_plain(|_| g.get_variable("b").variable().unwrap()).unwrap();
    assert_eq!(v, v2);
    assert_eq!(v.name(), "a/b:0");
}

#[test]
fn a7_slash_scope_string() {
    let g = Graph::new();
    let v = vs(&g, "a/b", |s| {
        assert_eq!(s.original_name_scope(), "a/b/");
        var(&g, "v", &[1])
    });
    assert_eq!(v.name(), "a/b/v:0");
    let (v2, ns) = vs(&g, "a", |_| {
        g.variable_scope("b")
            .reuse(Reuse::True)
            .run_plain(|s| (g.get_variable("v").variable().unwrap(), s.original_name_scope()))
            .unwrap()
    });
    assert_eq!(v, v2);
    assert_eq!(ns, "a/b_1/");
}

#[test]
fn a8_tf_variable_uses_name_scope() {
    let g = Graph::new();
    vs(&g, "foo", |_| ());
    let x = vs(&g, "foo", |_| g.variable(HostTensor::py_float(1.0)).name("x").create().unwrap());
    assert_eq!(x.name(), "foo_1/x:0");
    let g = Graph::new();
    let names: Vec<String> = [Some("x"), Some("x"), None, None]
        .iter()
        .map(|n| {
            n.map_or(g.variable(HostTensor::py_float(1.0)), |n| g.variable(HostTensor::py_float(1.0)).name(n))
                .create()
                .unwrap()
                .name()
        })
        .collect();
    assert_eq!(names, vec!["x:0", "x_1:0", "Variable:0", "Variable_1:0"]);
}

#[test]
fn a9_store_key_differs_from_tf_name() {
    let g = Graph::new();
    g.with_name_scope(Some("foo"), |_| g.constant("v")).unwrap();
    let v = vs(&g, "foo", |_| var(&g, "v", &[1]));
    assert_eq!(v.name(), "foo/v_1:0");
    assert_eq!(v.key(), "foo/v");
    let v2 = g.variable_scope("foo").reuse(Reuse::True).run_plain(|_| g.get_variable("v").variable().unwrap()).unwrap();
    assert_eq!(v, v2);
    // N47: case-insensitive.
    let g = Graph::new();
    assert_eq!(var(&g, "W", &[1]).name(), "W:0");
    assert_eq!(var(&g, "w", &[1]).name(), "w_1:0");
}

#[test]
fn a10_tf_variable_invisible_to_store() {
    let g = Graph::new();
    g.variable(HostTensor::py_float(1.0)).name("x").create().unwrap();
    let e = g
        .variable_scope("")
        .reuse(Reuse::True)
        .run_plain(|_| g.get_variable("x").shape([0u64; 0]).get().unwrap_err())
        .unwrap();
    assert_eq!(e.to_string(), "Variable x does not exist, or was not created with tf.get_variable(). Did you mean to set reuse=tf.AUTO_REUSE in VarScope?");
    let v = g.get_variable("x").shape(ShapeArg::Seq(vec![])).variable().unwrap();
    assert_eq!(v.key(), "x");
    assert_eq!(v.name(), "x_1:0");
}

#[test]
fn a11_variable_op_reserves_name() {
    let g = Graph::new();
    var(&g, "v", &[1]);
    let ns = g.with_name_scope(Some("v"), |s| s.to_string()).unwrap();
    assert_eq!(ns, "v_1/");
    let (name, ons, w) = vs(&g, "v", |s| (s.name(), s.original_name_scope(), var(&g, "w", &[1])));
    assert_eq!((name.as_str(), ons.as_str()), ("v", "v_2/"));
    assert_eq!(w.name(), "v/w:0");
}

#[test]
fn a12_empty_variable_name() {
    let g = Graph::new();
    let v = var(&g, "", &[1]);
    assert_eq!(v.name(), ":0");
    assert_eq!(v.key(), "");
    let q = vs(&g, "q", |_| var(&g, "", &[1]));
    assert_eq!(q.name(), "q:0");
    assert_eq!(q.key(), "q/");
}

#[test]
fn a13_partitioned_names() {
    let g = Graph::new();
    let p = vs(&g, "scope0", |_| {
        g.get_variable("name0").shape([5, 3]).partitioner(Partitioner::fixed_size(2)).get().unwrap()
    });
    assert_eq!(p.name(), "scope0/name0");
    let p = p.partitioned().unwrap().clone();
    assert_eq!(p.tensor_name(), "scope0/name0:0");
    let shards: Vec<_> = p.shards().iter().map(|v| (v.name(), v.dims().unwrap())).collect();
    assert_eq!(
        shards,
        vec![("scope0/name0/part_0:0".into(), vec![3, 3]), ("scope0/name0/part_1:0".into(), vec![2, 3])]
    );
}

#[test]
fn a14_creation_ops_reserve_names() {
    let g = Graph::new();
    g.get_variable("v").shape([2]).initializer(Initializer::constant(1.0)).get().unwrap();
    for n in ["v", "v/Initializer", "v/IsInitialized/VarIsInitializedOp", "v/Assign", "v/Read/ReadVariableOp"] {
        assert!(g.name_in_use(n), "{n}");
    }
    assert_eq!(g.with_name_scope(Some("v"), |s| s.to_string()).unwrap(), "v_1/");
}

#[test]
fn b1_variable_scope_opens_name_scope() {
    let g = Graph::new();
    vs(&g, "foo", |s| {
        assert_eq!(g.with_name_scope(Some("inner"), |n| n.to_string()).unwrap(), "foo/inner/");
        assert_eq!(s.original_name_scope(), "foo/");
    });
}

#[test]
fn b2_reentry_uses_last_component() {
    let g = Graph::new();
    let tower = vs(&g, "tower4", |s| s.clone());
    let (ns, name) = vs(&g, "tower6", |_| {
        g.variable_scope(&tower)
            .run_plain(|s| (g.with_name_scope(Some("scope"), |n| n.to_string()).unwrap(), s.name()))
            .unwrap()
    });
    assert_eq!(ns, "tower6/tower4/scope/");
    assert_eq!(name, "tower4");
}

#[test]
fn b3_reentry_at_top_level() {
    let g = Graph::new();
    let outer = vs(&g, "outer", |s| {
        var(&g, "w", &[1]);
        s.clone()
    });
    let mut got = vec![];
    for _ in 0..2 {
        g.variable_scope(&outer)
            .reuse(Reuse::True)
            .run_plain(|_| {
                got.push(g.with_name_scope(Some("scope2"), |n| n.to_string()).unwrap());
                got.push(g.get_variable("w").variable().unwrap().name());
            })
            .unwrap();
    }
    assert_eq!(got, vec!["outer_1/scope2/", "outer/w:0", "outer_2/scope2/", "outer/w:0"]);
}

#[test]
fn b4_scope_reentered_inside_itself() {
    let g = Graph::new();
    let mut got = vec![];
    vs(&g, "outer", |outer| {
        g.variable_scope(outer)
            .run_plain(|_| got.push(g.with_name_scope(Some("scope2"), |n| n.to_string()).unwrap()))
            .unwrap();
        g.variable_scope(outer)
            .run_plain(|_| got.push(g.with_name_scope(Some("scope2"), |n| n.to_string()).unwrap()))
            .unwrap();
        vs(&g, "default", |_| ());
        vs(&g, "default", |s| got.push(s.original_name_scope()));
    });
    assert_eq!(got, vec!["outer/outer/scope2/", "outer/outer_1/scope2/", "outer/default_1/"]);
}

#[test]
fn b5_original_name_scope_preserved() {
    let g = Graph::new();
    let tower = vs(&g, "scope1", |_| vs(&g, "tower", |s| s.clone()));
    assert_eq!(tower.original_name_scope(), "scope1/tower/");
    vs(&g, "scope2", |_| {
        g.variable_scope(&tower)
            .run_plain(|t| {
                assert_eq!(g.with_name_scope(Some("foo"), |n| n.to_string()).unwrap(), "scope2/tower/foo/");
                let ons = t.original_name_scope();
                g.with_name_scope(Some(&ons), |_| {
                    assert_eq!(g.with_name_scope(Some("bar"), |n| n.to_string()).unwrap(), "scope1/tower/bar/");
                })
                .unwrap();
                g.with_name_scope(Some(&ons), |_| {
                    assert_eq!(g.with_name_scope(Some("bar"), |n| n.to_string()).unwrap(), "scope1/tower/bar_1/");
                })
                .unwrap();
            })
            .unwrap();
    });
}

#[test]
fn b6_reentering_root_opens_no_name_scope() {
    let g = Graph::new();
    let root = g.get_variable_scope();
    g.with_name_scope(Some("ns3"), |_| {
        g.variable_scope(&root)
            .run_plain(|_| {
                assert_eq!(g.with_name_scope(Some("scope2"), |n| n.to_string()).unwrap(), "ns3/scope2/");
                assert_eq!(var(&g, "w", &[1]).name(), "w:0");
            })
            .unwrap();
    })
    .unwrap();
    assert_eq!(root.original_name_scope(), "");
}

#[test]
fn b7_default_name_uniquified() {
    let g = Graph::new();
    let mut got = vec![];
    g.with_name_scope(Some("ns2"), |_| {
        for _ in 0..2 {
            g.variable_scope_default("default")
                .run_plain(|s| {
                    got.push(s.name());
                    got.push(var(&g, "w", &[1]).name());
                    got.push(s.original_name_scope());
                })
                .unwrap();
        }
    })
    .unwrap();
    assert_eq!(got, vec!["default", "default/w:0", "ns2/default/", "default_1", "default_1/w:0", "ns2/default_1/"]);
}

fn scope_with_layer(g: &Graph, default: &str) -> String {
    g.variable_scope_default(default)
        .run_plain(|_| g.variable_scope_default("layer").run_plain(|s| s.name()).unwrap())
        .unwrap()
}

#[test]
fn b8_counts_match_exact_names() {
    let g = Graph::new();
    let got: Vec<String> = ["defaultScope1", "defaultScope1", "defaultScope", "defaultScope1"]
        .iter()
        .map(|d| scope_with_layer(&g, d))
        .collect();
    assert_eq!(
        got,
        vec!["defaultScope1/layer", "defaultScope1_1/layer", "defaultScope/layer", "defaultScope1_2/layer"]
    );
}

#[test]
fn b9_explicit_name_counts() {
    let g = Graph::new();
    let mut got = vec![];
    got.push(vs(&g, "layer", |s| (s.name(), s.original_name_scope())));
    for _ in 0..2 {
        got.push(g.variable_scope_default("layer").run_plain(|s| (s.name(), s.original_name_scope())).unwrap());
    }
    got.push(vs(&g, "layer", |s| (s.name(), s.original_name_scope())));
    let names: Vec<_> = got.iter().map(|(a, b)| format!("{a}|{b}")).collect();
    assert_eq!(names, vec!["layer|layer/", "layer_1|layer_1/", "layer_2|layer_2/", "layer|layer_3/"]);
}

#[test]
fn b10_default_name_ignores_name_scopes() {
    let g = Graph::new();
    g.with_name_scope(Some("layer"), |_| g.constant("c")).unwrap();
    let (n, w, c) = g
        .variable_scope_default("layer")
        .run_plain(|s| (s.name(), var(&g, "w", &[1]).name(), g.constant("c").name))
        .unwrap();
    assert_eq!((n.as_str(), w.as_str(), c.as_str()), ("layer", "layer/w:0", "layer_1/c:0"));
}

#[test]
fn b11_subscope_counters_reset_on_exit() {
    let g = Graph::new();
    let mut got = vec![];
    vs(&g, "a", |_| {
        for _ in 0..2 {
            got.push(g.variable_scope_default("d").run_plain(|s| s.name()).unwrap());
        }
    });
    vs(&g, "a", |_| {
        got.push(
            g.variable_scope_default("d").run_plain(|s| format!("{}|{}", s.name(), s.original_name_scope())).unwrap(),
        )
    });
    assert_eq!(got, vec!["a/d", "a/d_1", "a/d|a_1/d/"]);
}

#[test]
fn b12_root_counters_never_reset() {
    let g = Graph::new();
    let mut got = vec![];
    got.push(g.variable_scope_default("d").run_plain(|s| s.name()).unwrap());
    got.push(g.variable_scope_default("d").run_plain(|s| s.name()).unwrap());
    vs(&g, "x", |_| ());
    got.push(g.variable_scope_default("d").run_plain(|s| s.name()).unwrap());
    assert_eq!(got, vec!["d", "d_1", "d_2"]);
}

#[test]
fn b13_jump_into_captured_scope_keeps_parent_counters() {
    let g = Graph::new();
    let mut got = vec![];
    let default = g.variable_scope_default("default").run_plain(|s| s.clone()).unwrap();
    g.variable_scope(&default)
        .run_plain(|_| {
            got.push(g.variable_scope_default("layer").run_plain(|s| s.name()).unwrap());
            got.push(g.variable_scope_default("layer").run_plain(|s| s.name()).unwrap());
            g.variable_scope(&default).run_plain(|_| ()).unwrap();
            got.push(g.variable_scope_default("layer").run_plain(|s| s.name()).unwrap());
        })
        .unwrap();
    assert_eq!(got, vec!["default/layer", "default/layer_1", "default/layer_2"]);
}

#[test]
fn b14_reentry_from_outside_starts_fresh() {
    let g = Graph::new();
    let foo = vs(&g, "foo", |s| {
        g.variable_scope_default("bar").run_plain(|_| ()).unwrap();
        g.variable_scope_default("bar").run_plain(|_| ()).unwrap();
        s.clone()
    });
    let (c, ns) = g
        .variable_scope(&foo)
        .run_plain(|_| {
            g.variable_scope_default("bar").run_plain(|s| (g.constant("c").name, s.original_name_scope())).unwrap()
        })
        .unwrap();
    assert_eq!(c, "foo_1/bar/c:0");
    assert_eq!(ns, "foo_1/bar/");
    let name =
        g.variable_scope(&foo).run_plain(|_| g.variable_scope_default("bar").run_plain(|s| s.name()).unwrap()).unwrap();
    assert_eq!(name, "foo/bar");
}

#[test]
fn b15_counters_roll_back_after_object_reentry() {
    let g = Graph::new();
    let foo = vs(&g, "foo", |s| s.clone());
    g.variable_scope(&foo)
        .run_plain(|_| {
            assert_eq!(g.variable_scope_default("bar").run_plain(|s| s.name()).unwrap(), "foo/bar");
            assert_eq!(g.variable_scope_default("bar").run_plain(|s| s.name()).unwrap(), "foo/bar_1");
        })
        .unwrap();
    let third =
        g.variable_scope(&foo).run_plain(|_| g.variable_scope_default("bar").run_plain(|s| s.name()).unwrap()).unwrap();
    assert_eq!(third, "foo/bar");
    assert_eq!(vs(&g, "foo", |_| g.variable_scope_default("bar").run_plain(|s| s.name()).unwrap()), "foo/bar");
}

#[test]
fn b16_reentering_nested_scope_from_root_leaks_count() {
    let g = Graph::new();
    let b = vs(&g, "a", |_| vs(&g, "b", |s| s.clone()));
    let ns = g.variable_scope(&b).run_plain(|_| g.with_name_scope(Some("x"), |n| n.to_string()).unwrap()).unwrap();
    assert_eq!(ns, "b/x/");
    assert_eq!(vs(&g, "a", |_| g.variable_scope_default("b").run_plain(|s| s.name()).unwrap()), "a/b_1");
    assert_eq!(vs(&g, "a", |_| g.variable_scope_default("b").run_plain(|s| s.name()).unwrap()), "a/b");
}

#[test]
fn b17_case_sensitivity() {
    let g = Graph::new();
    assert_eq!(g.with_name_scope(Some("Foo"), |n| n.to_string()).unwrap(), "Foo/");
    let (ns, v) = vs(&g, "foo", |s| (s.original_name_scope(), var(&g, "v", &[1]).name()));
    assert_eq!((ns.as_str(), v.as_str()), ("foo_1/", "foo/v:0"));
    let (n, ns) = g.variable_scope_default("FOO").run_plain(|s| (s.name(), s.original_name_scope())).unwrap();
    assert_eq!((n.as_str(), ns.as_str()), ("FOO", "FOO_2/"));
}

#[test]
fn b18_ops_and_name_scopes_share_namespace() {
    let g = Graph::new();
    g.constant("foo");
    let (ns, v) = vs(&g, "foo", |s| (s.original_name_scope(), var(&g, "v", &[1]).name()));
    assert_eq!((ns.as_str(), v.as_str()), ("foo_1/", "foo/v:0"));
}

#[test]
fn b19_explicit_suffix_names() {
    let g = Graph::new();
    let got: Vec<String> =
        ["x", "x", "x", "x_1", "x"].iter().map(|n| g.with_name_scope(Some(n), |s| s.to_string()).unwrap()).collect();
    assert_eq!(got, vec!["x/", "x_1/", "x_2/", "x_1_1/", "x_3/"]);
}

#[test]
fn b20_name_scope_reentry_rules() {
    let g = Graph::new();
    let a = g.with_name_scope(Some("a"), |s| {
        assert_eq!(g.constant("c").name, "a/c:0");
        s.to_string()
    });
    let a = a.unwrap();
    g.with_name_scope(Some("a"), |_| {
        assert_eq!(g.with_name_scope(None, |_| g.constant("c").name).unwrap(), "c:0");
        assert_eq!(g.with_name_scope(Some(""), |_| g.constant("c").name).unwrap(), "c_1:0");
        assert_eq!(g.with_name_scope(Some(&a), |_| g.constant("c").name).unwrap(), "a/c_1:0");
    })
    .unwrap();
}

#[test]
fn b21_no_auxiliary_name_scope() {
    let g = Graph::new();
    let (w, c, ons) = g
        .variable_scope("scope")
        .auxiliary_name_scope(false)
        .run_plain(|s| (var(&g, "w", &[1]).name(), g.constant("c").name, s.original_name_scope()))
        .unwrap();
    assert_eq!((w.as_str(), c.as_str(), ons.as_str()), ("scope/w:0", "c:0", ""));
    vs(&g, "outer", |_| {
        let (w, c, ons) = g
            .variable_scope("inner")
            .auxiliary_name_scope(false)
            .run_plain(|s| (var(&g, "w", &[1]).name(), g.constant("c").name, s.original_name_scope()))
            .unwrap();
        assert_eq!((w.as_str(), c.as_str(), ons.as_str()), ("outer/inner/w:0", "outer/c:0", "outer/"));
    });
    assert_eq!(g.with_name_scope(Some("scope"), |s| s.to_string()).unwrap(), "scope/");
}

#[test]
fn b22_no_auxiliary_name_scope_default_name() {
    let g = Graph::new();
    let (w, c) = g
        .variable_scope_default("default")
        .auxiliary_name_scope(false)
        .run_plain(|_| (var(&g, "w", &[1]).name(), g.constant("c").name))
        .unwrap();
    assert_eq!((w.as_str(), c.as_str()), ("default/w:0", "c:0"));
    assert_eq!(g.with_name_scope(Some("default"), |_| g.constant("c").name).unwrap(), "default/c:0");
}

#[test]
fn b23_no_auxiliary_name_scope_root() {
    let g = Graph::new();
    let root = g.get_variable_scope();
    vs(&g, "outer", |_| {
        let (w, c) = g
            .variable_scope(&root)
            .auxiliary_name_scope(false)
            .run_plain(|_| (var(&g, "w1", &[1]).name(), g.constant("c1").name))
            .unwrap();
        assert_eq!((w.as_str(), c.as_str()), ("w1:0", "outer/c1:0"));
    });
}

#[test]
fn b24_recommended_reentry_idiom() {
    let g = Graph::new();
    let inner = vs(&g, "outer", |_| vs(&g, "inner", |s| s.clone()));
    let (w, c) = g
        .variable_scope(&inner)
        .auxiliary_name_scope(false)
        .run_plain(|s| {
            g.with_name_scope(Some(&s.original_name_scope()), |_| (var(&g, "w", &[1]).name(), g.constant("c").name))
                .unwrap()
        })
        .unwrap();
    assert_eq!((w.as_str(), c.as_str()), ("outer/inner/w:0", "outer/inner/c:0"));
    assert_eq!(g.with_name_scope(Some("inner"), |_| g.constant("c").name).unwrap(), "inner/c:0");
}

#[test]
fn b25_empty_scope_string() {
    let g = Graph::new();
    let (n, v) = vs(&g, "", |s| (s.name(), var(&g, "v", &[1]).name()));
    assert_eq!((n.as_str(), v.as_str()), ("", "v:0"));
    vs(&g, "foo", |_| {
        let (n, ons, w, c) =
            vs(&g, "", |s| (s.name(), s.original_name_scope(), var(&g, "w", &[1]).name(), g.constant("c").name));
        assert_eq!((n.as_str(), ons.as_str(), w.as_str(), c.as_str()), ("foo/", "", "foo//w:0", "foo/c:0"));
    });
}

#[test]
fn b26_trailing_slash_scope() {
    let g = Graph::new();
    let mut got = vec![];
    vs(&g, "foo/", |s| {
        got.push(s.name());
        got.push(var(&g, "v", &[1]).name());
        got.push(g.constant("c").name);
    });
    vs(&g, "foo/", |_| got.push(g.constant("c").name));
    vs(&g, "foo", |s| {
        got.push(s.original_name_scope());
        got.push(var(&g, "w", &[1]).name());
    });
    assert_eq!(got, vec!["foo/", "foo//v:0", "foo/c:0", "foo/c_1:0", "foo/", "foo/w:0"]);
}

#[test]
fn b27_context_manager_entered_twice() {
    let g = Graph::new();
    let cm = g.variable_scope("foo");
    let first = cm.run_plain(|s| (s.clone(), g.constant("c").name)).unwrap();
    let second = cm.run_plain(|s| (s.clone(), g.constant("c").name, s.original_name_scope())).unwrap();
    assert_eq!(first.1, "foo/c:0");
    assert!(!first.0.same(&second.0));
    assert_eq!(second.1, "foo_1/c:0");
    assert_eq!(second.2, "foo/");
}
