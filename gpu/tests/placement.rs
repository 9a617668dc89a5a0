//! Placement by device functions, slots next to their variables, and a trainer that
//! fails part way (runtime.md sections 2, 7 and 9), on `/cpu:0` and every adapter.
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{for_each_target, gpu_targets, opts, targets, var};
use varscope_core::{CachingDevice, Graph, Initializer, Optimizer, Variable};
use varscope_gpu::{OptimError, Session, Trainer};

/// Every device a default session has, by name.
fn device_names() -> Vec<String> {
    let g = Graph::new();
    Session::new(&g).expect("session").devices().iter().map(|d| d.name.clone()).collect()
}

#[test]
fn a_device_function_is_called_once_per_variable() {
    // A round-robin function keeps state: called again, it would answer another device
    // (before: the initializer ran on one device, the storage lived on another, and the
    // variable read unwritten memory).
    for_each_target("a_device_function_is_called_once_per_variable", gpu_targets(), |t| {
        let names = device_names();
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let ring = names.clone();
        let rr = CachingDevice::func("round_robin", move |_: &Variable| {
            ring[c.fetch_add(1, Ordering::SeqCst) % ring.len()].clone()
        });
        let g = Graph::new();
        let vars: Vec<Variable> = (0..2 * names.len())
            .map(|i| {
                let v = g.get_variable(&format!("v{i}")).shape([4]).initializer(Initializer::ones());
                var(v.caching_device(rr.clone()).get().unwrap())
            })
            .collect();
        let s = Session::with_options(&g, opts()).unwrap();
        s.global_variables_initializer().unwrap();
        for (i, v) in vars.iter().enumerate() {
            assert_eq!(s.read_f32(v).unwrap(), [1.0; 4], "{} ({})", v.key(), t.label);
            let placed = s.placement(v).unwrap().name.clone();
            assert_eq!(Some(placed.clone()), s.variable_device(v), "{}", v.key());
            assert_eq!(placed, names[i % names.len()], "{}: first come, first placed", v.key());
        }
        assert_eq!(calls.load(Ordering::SeqCst), vars.len(), "once per variable");
    });
}

#[test]
fn slots_live_on_their_variables_device() {
    // A device function that answers by name would put `foo/v/Momentum` elsewhere than
    // `foo/v`; TensorFlow colocates a slot with its variable.
    for_each_target("slots_live_on_their_variables_device", gpu_targets(), |t| {
        let gpu = t.device.clone();
        let by_name =
            CachingDevice::func(
                "by_name",
                move |v: &Variable| {
                    if v.key() == "foo/v" {
                        "/cpu:0".to_string()
                    } else {
                        gpu.clone()
                    }
                },
            );
        let g = Graph::new();
        let v = var(g.get_variable("foo/v").shape([3]).caching_device(by_name).get().unwrap());
        let s = Session::with_options(&g, opts()).unwrap();
        s.global_variables_initializer().unwrap();
        let tr = Trainer::new(&s, Optimizer::momentum(0.1, 0.9), std::slice::from_ref(&v)).unwrap();
        let slot = &tr.slots(&v)[0];
        assert_eq!(slot.op_name(), "foo/v/Momentum");
        assert_eq!(s.variable_device(&v).as_deref(), Some("/cpu:0"));
        assert_eq!(s.variable_device(slot).as_deref(), Some("/cpu:0"), "{}", t.label);
        assert_eq!(s.placement(slot).unwrap().name, "/cpu:0");
    });
}

#[test]
fn a_trainer_that_fails_changes_nothing() {
    // Adam's slots do not fit in the memory left: the call fails, and the graph and the
    // devices are as before it (before: the slots and beta powers stayed in the graph,
    // uninitialized, and every later save failed on them).
    for_each_target("a_trainer_that_fails_changes_nothing", targets(), |t| {
        let g = Graph::new();
        let v = var(g.get_variable("v").shape([100]).initializer(Initializer::ones()).get().unwrap());
        let s = Session::with_options(&g, opts().default_device(&t.device).memory_limit(600)).unwrap();
        s.global_variables_initializer().unwrap();
        let before = s.bytes_in_use(&t.device).unwrap();
        let e = Trainer::new(&s, Optimizer::adam(), std::slice::from_ref(&v)).unwrap_err();
        assert!(matches!(e, OptimError::Gpu(_)), "{e:?} ({})", t.label);
        assert_eq!(g.global_variables(), std::slice::from_ref(&v), "{}", t.label);
        assert!(!g.name_in_use("v/Adam") && !g.name_in_use("beta1_power"), "{}", t.label);
        assert_eq!(s.bytes_in_use(&t.device).unwrap(), before, "{}", t.label);
        let dir = common::TempDir::new("failed_trainer");
        s.save(dir.dir().join("ok.safetensors")).expect("the session saves as before");
        // With room, the same call names everything as TensorFlow would the first time.
        let s2 = Session::with_options(&g, opts().default_device(&t.device)).unwrap();
        s2.global_variables_initializer().unwrap();
        let tr = Trainer::new(&s2, Optimizer::adam(), std::slice::from_ref(&v)).unwrap();
        let names: Vec<&str> = tr.slots(&v).iter().map(|x| x.op_name()).collect();
        assert_eq!(names, ["v/Adam", "v/Adam_1"], "{}", t.label);
        assert!(g.name_in_use("beta1_power") && !g.name_in_use("beta1_power_1"));
    });
}
