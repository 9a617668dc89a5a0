//! Error cases: each names what it is about, and a failing call changes nothing.

mod common;

use common::*;
use varscope_core::{DType, Graph, HostTensor, Initializer};
use varscope_gpu::{GpuError, HostValues, Session, SessionOptions};

#[test]
fn unknown_device_lists_the_devices_present() {
    for bad in ["/gpu:99", "/tpu:0", "gpu", "/cpu:1", "/job:worker/device:GPU:0"] {
        let g = Graph::new();
        let v = var(g.get_variable("foo").shape([2u64]).caching_device(bad).get().unwrap());
        let s = Session::new(&g).unwrap();
        let e = s.global_variables_initializer().unwrap_err();
        match &e {
            GpuError::UnknownDevice { device, variable, available } => {
                assert_eq!(device, bad);
                assert_eq!(variable.as_deref(), Some("foo"));
                assert!(available.contains(&"/cpu:0".to_string()));
            }
            e => panic!("{bad}: unexpected {e:?}"),
        }
        let msg = e.to_string();
        assert!(msg.contains(bad) && msg.contains("/cpu:0") && msg.contains("foo"), "{msg}");
        for d in s.devices() {
            assert!(msg.contains(&d.name), "{msg} lacks {}", d.name);
        }
        assert!(!s.is_variable_initialized(&v));
        assert_eq!(s.variable_bytes(&v), None);
    }
    let g = Graph::new();
    let e = Session::with_options(&g, SessionOptions::default().default_device("/gpu:42")).unwrap_err();
    assert!(matches!(e, GpuError::UnknownDevice { .. }), "{e:?}");
}

#[test]
fn every_spelling_is_accepted() {
    let g = Graph::new();
    let s = Session::new(&g).unwrap();
    for sp in ["/cpu:0", "/CPU:0", "/device:CPU:0", "cpu:0", "/job:localhost/replica:0/task:0/device:CPU:0"] {
        assert_eq!(s.device(sp).unwrap().name, "/cpu:0", "{sp}");
    }
    if have_gpus("every_spelling_is_accepted", s.num_gpus()) {
        for sp in ["/gpu:0", "/GPU:0", "/device:GPU:0", "gpu:0", "/job:localhost/replica:0/task:0/device:GPU:0"] {
            assert_eq!(s.device(sp).unwrap().name, "/gpu:0", "{sp}");
        }
    }
}

#[test]
fn uninitialized_read_uses_tensorflow_text() {
    for_each_target("uninitialized_read_uses_tensorflow_text", targets(), |t| {
        let g = Graph::new();
        let v = g
            .variable_scope("foo")
            .run_plain(|_| g.get_variable("v").shape([3u64]).caching_device(t.device.as_str()).get())
            .unwrap()
            .unwrap();
        let v = var(v);
        let s = Session::new(&g).unwrap();
        let e = s.read(&v).unwrap_err();
        assert_eq!(e.to_string(), "Attempting to use uninitialized value foo/v", "[{}]", t.label);
        assert_eq!(s.report_uninitialized_variables(), vec!["foo/v".to_string()]);
        s.global_variables_initializer().unwrap();
        assert!(s.report_uninitialized_variables().is_empty());
        s.release(&v);
        assert!(matches!(s.read(&v), Err(GpuError::Uninitialized { .. })), "[{}] read after release", t.label);
    });
}

#[test]
fn unsupported_dtypes_name_variable_dtype_and_device() {
    for_each_target("unsupported_dtypes_name_variable_dtype_and_device", targets(), |t| {
        for dtype in [DType::String, DType::Complex64] {
            let g = Graph::new();
            let r = g
                .get_variable("bad")
                .shape([2u64])
                .dtype(dtype)
                .initializer(Initializer::zeros())
                .caching_device(t.device.as_str())
                .get();
            let Ok(r) = r else { continue }; // the graph may reject it first
            let v = var(r);
            let s = Session::new(&g).unwrap();
            let e = s.global_variables_initializer().unwrap_err();
            assert!(matches!(e, GpuError::UnsupportedDType { .. }), "[{}] {dtype}: {e:?}", t.label);
            let m = e.to_string();
            assert!(m.contains("bad") && m.contains(dtype.name()) && m.contains(&t.device), "{m}");
            assert!(!s.is_variable_initialized(&v));
        }
        if t.device != "/cpu:0" && !t.f64 {
            let g = Graph::new();
            let v = var(g
                .get_variable("d")
                .shape([2u64])
                .dtype(DType::Float64)
                .initializer(Initializer::zeros())
                .caching_device(t.device.as_str())
                .get()
                .unwrap());
            let s = Session::new(&g).unwrap();
            let e = s.global_variables_initializer().unwrap_err();
            let m = e.to_string();
            assert!(m.contains("d") && m.contains("float64") && m.contains(&t.device), "{m}");
            assert!(!s.is_variable_initialized(&v));
        }
    });
}

#[test]
fn too_large_is_refused_before_allocating() {
    for_each_target("too_large_is_refused_before_allocating", targets(), |t| {
        let g = Graph::new();
        let small = var(g.get_variable("small").shape([16u64]).caching_device(t.device.as_str()).get().unwrap());
        let _huge = var(g
            .get_variable("huge")
            .shape([1u64 << 40])
            .initializer(Initializer::zeros())
            .caching_device(t.device.as_str())
            .get()
            .unwrap());
        let s = Session::new(&g).unwrap();
        let before = s.bytes_in_use(&t.device).unwrap();
        let e = s.global_variables_initializer().unwrap_err();
        match &e {
            GpuError::TooLarge { variable, bytes, device, limit } => {
                assert_eq!(variable, "huge");
                assert_eq!(*bytes, 4u64 << 40);
                assert_eq!(device, &t.device);
                assert!(limit < bytes);
            }
            e => panic!("[{}] unexpected {e:?}", t.label),
        }
        // Nothing changed: not even the small variable was allocated.
        assert_eq!(s.bytes_in_use(&t.device).unwrap(), before, "[{}]", t.label);
        assert_eq!(s.variable_bytes(&small), None);
        assert!(!s.is_variable_initialized(&small));
        // Within an explicit memory limit.
        let s = Session::with_options(&g, SessionOptions::default().memory_limit(32)).unwrap();
        let e = s.variables_initializer(std::slice::from_ref(&small)).unwrap_err();
        assert!(matches!(e, GpuError::TooLarge { limit: 32, bytes: 64, .. }), "[{}] {e:?}", t.label);
    });
}

#[test]
fn a_failing_initializer_changes_nothing() {
    for_each_target("a_failing_initializer_changes_nothing", targets(), |t| {
        let g = Graph::new();
        let ok = var(g
            .get_variable("ok")
            .shape([8u64])
            .initializer(Initializer::ones())
            .caching_device(t.device.as_str())
            .get()
            .unwrap());
        let bad = var(g
            .get_variable("bad")
            .shape([8u64])
            .initializer(Initializer::host_fn("wrong_shape", |_, dtype, _| {
                HostTensor::float(dtype, &[3], vec![1.0, 2.0, 3.0]).unwrap()
            }))
            .caching_device(t.device.as_str())
            .get()
            .unwrap());
        let s = Session::new(&g).unwrap();
        let before = s.bytes_in_use(&t.device).unwrap();
        let e = s.global_variables_initializer();
        if let Err(e) = e {
            assert!(e.to_string().contains("bad"), "[{}] {e}", t.label);
            assert!(!s.is_variable_initialized(&ok), "[{}]", t.label);
            assert!(!s.is_variable_initialized(&bad));
            assert_eq!(s.bytes_in_use(&t.device).unwrap(), before);
        } else {
            // The reference may accept a host closure's value by broadcasting; then both are set.
            assert!(s.is_variable_initialized(&ok) && s.is_variable_initialized(&bad));
        }
    });
}

#[test]
fn assign_checks_dtype_and_size() {
    for_each_target("assign_checks_dtype_and_size", targets(), |t| {
        let g = Graph::new();
        let v = var(g.get_variable("w").shape([2u64, 2]).caching_device(t.device.as_str()).get().unwrap());
        let s = Session::new(&g).unwrap();
        let e = s.assign(&v, &HostValues::from_i32(&[4], &[1, 2, 3, 4]).unwrap()).unwrap_err();
        assert!(matches!(e, GpuError::DTypeMismatch { .. }), "{e:?}");
        let e = s.assign_f32(&v, &[1.0, 2.0, 3.0]).unwrap_err();
        assert!(matches!(e, GpuError::SizeMismatch { expected: 4, given: 3, .. }), "{e:?}");
        assert!(!s.is_variable_initialized(&v));
        assert_eq!(s.variable_bytes(&v), None, "[{}] failed assign allocated", t.label);
        s.assign_f32(&v, &[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(s.read_f32(&v).unwrap(), vec![1.0, 2.0, 3.0, 4.0]);
        // Assigned variables count as initialized: the initializer skips them.
        s.global_variables_initializer().unwrap();
        assert_eq!(
            s.read_f32(&v).unwrap(),
            vec![1.0, 2.0, 3.0, 4.0],
            "[{}] initializer overwrote an assigned value",
            t.label
        );
    });
}

#[test]
fn variables_of_another_graph_are_refused() {
    let g1 = Graph::new();
    let g2 = Graph::new();
    let v = var(g2.get_variable("v").shape([1u64]).get().unwrap());
    let s = Session::new(&g1).unwrap();
    assert!(matches!(s.variables_initializer(std::slice::from_ref(&v)), Err(GpuError::ForeignVariable { .. })));
    assert!(matches!(s.read(&v), Err(GpuError::ForeignVariable { .. })));
}

#[test]
fn a_batch_over_the_memory_limit_allocates_nothing() {
    for_each_target("a_batch_over_the_memory_limit_allocates_nothing", targets(), |t| {
        let g = Graph::new();
        let a = var(g.get_variable("a").shape([200u64]).caching_device(t.device.as_str()).get().unwrap());
        let b = var(g.get_variable("b").shape([200u64]).caching_device(t.device.as_str()).get().unwrap());
        let s = Session::with_options(&g, SessionOptions::default().memory_limit(1000)).unwrap();
        let e = s.global_variables_initializer().unwrap_err();
        match &e {
            GpuError::OutOfMemory { variable, device, limit, .. } => {
                assert_eq!(variable, "b");
                assert_eq!(device, &t.device);
                assert_eq!(*limit, 1000);
            }
            e => panic!("[{}] unexpected {e:?}", t.label),
        }
        assert_eq!(s.bytes_in_use(&t.device).unwrap(), 0, "[{}]", t.label);
        assert_eq!(s.variable_bytes(&a), None);
        // One at a time fits.
        s.variables_initializer(std::slice::from_ref(&a)).unwrap();
        assert!(s.is_variable_initialized(&a) && !s.is_variable_initialized(&b));
        assert!(matches!(s.variables_initializer(std::slice::from_ref(&b)), Err(GpuError::OutOfMemory { .. })));
        s.release(&a);
        s.variables_initializer(std::slice::from_ref(&b)).unwrap();
    });
}

#[test]
fn refused_buffer_and_fill_calls_allocate_nothing() {
    for_each_target("refused_buffer_and_fill_calls_allocate_nothing", targets(), |t| {
        let g = Graph::new();
        let f = var(g.get_variable("f").shape([1000u64]).caching_device(t.device.as_str()).get().unwrap());
        let b =
            var(g.get_variable("b").shape([4u64]).dtype(DType::Bool).caching_device(t.device.as_str()).get().unwrap());
        let s = Session::with_options(&g, opts()).unwrap();
        let before = s.bytes_in_use(&t.device).unwrap();
        // fill_words writes 32-bit words: a bool variable is refused on every device
        // (on /cpu:0 it used to write raw word bytes into 1-byte bools).
        let e = s.fill_words(&b, 0x3f80_0000).unwrap_err();
        assert!(
            matches!(&e, GpuError::UnsupportedDType { variable, dtype: DType::Bool, .. } if variable == "b"),
            "{e:?}"
        );
        assert_eq!(s.variable_bytes(&b), None, "{}", t.label);
        if t.device == "/cpu:0" {
            // /cpu:0 has no buffers: refused before allocating.
            let e = s.buffers(&f).unwrap_err();
            assert!(matches!(e, GpuError::NoBuffers { .. }), "{e:?}");
            assert_eq!(s.variable_bytes(&f), None);
        }
        assert_eq!(s.bytes_in_use(&t.device).unwrap(), before, "{}", t.label);
    });
}

#[test]
fn an_assign_from_another_devices_buffer_allocates_nothing() {
    // The source buffer lives on another adapter's device. (Another session's device on
    // the same adapter is not refused by wgpu here: the assign goes through.)
    let names: Vec<String> = gpu_targets().into_iter().map(|t| t.device).collect();
    if !have_gpus("an_assign_from_another_devices_buffer_allocates_nothing", names.len()) {
        return;
    }
    if names.len() < 2 {
        loud(&format!("SKIP: fewer than two GPU adapters ({} found)", names.len()));
        return;
    }
    let g = Graph::new();
    let v = var(g.get_variable("v").shape([100u64]).caching_device(names[0].as_str()).get().unwrap());
    let w = var(g.get_variable("w").shape([100u64]).caching_device(names[1].as_str()).get().unwrap());
    let s = Session::with_options(&g, opts()).unwrap();
    let src = s.buffers(&w).unwrap().chunks[0].buffer.clone();
    let before = s.bytes_in_use(&names[0]).unwrap();
    assert!(s.update_from_buffer(&v, varscope_gpu::UpdateOp::Assign, &src, 0).is_err());
    assert_eq!(s.variable_bytes(&v), None, "the failed assign's allocation is undone");
    assert_eq!(s.bytes_in_use(&names[0]).unwrap(), before);
}
