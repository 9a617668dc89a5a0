//! The numeric suite: written once, run on `/cpu:0` and on every adapter present. Each
//! failure message names the device and adapter.

mod common;

use common::*;
use half::{bf16, f16};
use varscope_core::{
    CachingDevice, DType, Distribution, FanMode, Graph, HostTensor, Initializer, Partitioner, Variable,
};
use varscope_gpu::{AdapterMask, DeviceOptions, HostValues, Session};

/// Bound, in ulp, of the normal family against the host reference (runtime.md section
/// 3: at most 2 ulp where a driver's log/cos prevent bit-identity).
const NORMAL_ULP_BOUND: u64 = 2;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Exact {
    Bits,
    Ulp(u64),
}

fn initializers() -> Vec<(&'static str, Initializer, Exact)> {
    vec![
        ("zeros", Initializer::zeros(), Exact::Bits),
        ("ones", Initializer::ones(), Exact::Bits),
        ("constant", Initializer::constant(2.5), Exact::Bits),
        ("constant_list", Initializer::constant_list(&[1.0, -2.0, 3.5]), Exact::Bits),
        ("random_uniform", Initializer::random_uniform(-1.0, 2.0), Exact::Bits),
        ("random_uniform_seeded", Initializer::random_uniform(0.0, 1.0).with_seed(7), Exact::Bits),
        ("glorot_uniform", Initializer::glorot_uniform(), Exact::Bits),
        ("he_uniform", Initializer::he_uniform(), Exact::Bits),
        ("lecun_uniform", Initializer::lecun_uniform(), Exact::Bits),
        ("identity", Initializer::identity(3.0), Exact::Bits),
        ("random_normal", Initializer::random_normal(0.5, 2.0), Exact::Ulp(NORMAL_ULP_BOUND)),
        ("truncated_normal", Initializer::truncated_normal(0.0, 1.0), Exact::Ulp(NORMAL_ULP_BOUND)),
        ("glorot_normal", Initializer::glorot_normal(), Exact::Ulp(NORMAL_ULP_BOUND)),
        ("he_normal", Initializer::he_normal(), Exact::Ulp(NORMAL_ULP_BOUND)),
        ("lecun_normal", Initializer::lecun_normal(), Exact::Ulp(NORMAL_ULP_BOUND)),
        (
            "variance_scaling_untruncated",
            Initializer::variance_scaling(2.0, FanMode::FanOut, Distribution::UntruncatedNormal),
            Exact::Ulp(NORMAL_ULP_BOUND),
        ),
        ("orthogonal", Initializer::orthogonal(1.0), Exact::Bits),
        (
            "host_fn",
            Initializer::host_fn("iota", |shape, dtype, _| {
                let n: u64 = shape.iter().product();
                HostTensor::float(dtype, shape, (0..n).map(|i| i as f64 * 0.25).collect()).unwrap()
            }),
            Exact::Bits,
        ),
    ]
}

/// A new variable `name` of `shape` and `dtype` initialized by `init` on `device`.
fn typed_var(g: &Graph, name: &str, shape: Vec<u64>, dtype: DType, init: &Initializer, device: &str) -> Variable {
    var(g.get_variable(name).shape(shape).dtype(dtype).initializer(init.clone()).caching_device(device).get().unwrap())
}

/// Compares with the reference; returns the largest ulp distance seen.
fn compare(t: &Target, what: &str, v: &Variable, got: &HostValues, want: &[u8], exact: Exact) -> u64 {
    assert_eq!(got.dtype(), v.dtype(), "[{}] {what}: dtype", t.label);
    let want = HostValues::from_bytes(v.dtype(), got.shape(), want.to_vec()).expect("reference bytes");
    let (g, w) = (got.to_bits_vec(), want.to_bits_vec());
    assert_eq!(g.len(), w.len(), "[{}] {what}: element count", t.label);
    let mut max_ulp = 0;
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        if a != b && v.dtype().is_floating() {
            max_ulp = max_ulp.max(ulp_distance(v.dtype(), *a, *b));
        }
        let ok = match exact {
            Exact::Bits => a == b,
            Exact::Ulp(n) => a == b || (v.dtype().is_floating() && ulp_distance(v.dtype(), *a, *b) <= n),
        };
        assert!(ok, "[{}] {what}: element {i}: got bits {a:#x}, reference {b:#x} ({exact:?})", t.label);
    }
    max_ulp
}

#[test]
fn every_initializer_matches_the_reference_on_every_device() {
    for_each_target("every_initializer_matches_the_reference_on_every_device", targets(), |t| {
        for (dtype, shapes) in [
            (DType::Float32, vec![vec![37u64, 29], vec![4, 5, 6], vec![1]]),
            (DType::Float16, vec![vec![13, 7]]),
            (DType::BFloat16, vec![vec![13, 7]]),
        ] {
            for shape in shapes {
                let g = Graph::new();
                g.set_seed(1234);
                let mut vars = Vec::new();
                for (name, init, exact) in initializers() {
                    if (name == "identity" && shape.len() != 2)
                        || (matches!(name, "constant_list" | "orthogonal") && shape == [1])
                    {
                        continue;
                    }
                    let v = var(g
                        .get_variable(name)
                        .shape(shape.clone())
                        .dtype(dtype)
                        .initializer(init)
                        .caching_device(t.device.as_str())
                        .get()
                        .unwrap_or_else(|e| panic!("[{}] {name}: {e}", t.label)));
                    vars.push((name, v, exact));
                }
                let s = Session::with_options(&g, opts()).unwrap();
                s.global_variables_initializer().unwrap_or_else(|e| panic!("[{}] init: {e}", t.label));
                for (name, v, exact) in &vars {
                    assert_eq!(
                        s.variable_device(v).as_deref(),
                        Some(t.device.as_str()),
                        "[{}] {name}: placement",
                        t.label
                    );
                    let got = s.read(v).unwrap_or_else(|e| panic!("[{}] {name}: {e}", t.label));
                    let ulp = compare(t, &format!("{name} {dtype} {shape:?}"), v, &got, &reference_bytes(v), *exact);
                    if ulp > 0 {
                        eprintln!("[{}] {name} {dtype} {shape:?}: max {ulp} ulp from the reference", t.label);
                    }
                }
            }
        }
    });
}

/// Truncated normals large enough for many workgroups of the init kernel, whole and
/// sharded along each axis (axis 1: rows whose full indices are not consecutive), in
/// float32 and float16, against the host reference.
#[test]
fn large_truncated_normals_match_the_reference() {
    for_each_target("large_truncated_normals_match_the_reference", targets(), |t| {
        let g = Graph::new();
        g.set_seed(99);
        let mut vars = Vec::new();
        for (name, shape, dtype, axis) in [
            ("whole", [600u64, 500], DType::Float32, None),
            ("odd", [997, 311], DType::Float32, None),
            ("rows", [600, 500], DType::Float32, Some(0)),
            ("cols", [600, 500], DType::Float32, Some(1)),
            ("half", [300, 257], DType::Float16, None),
        ] {
            let b = g
                .get_variable(&format!("tn/{name}"))
                .shape(shape)
                .dtype(dtype)
                .initializer(Initializer::truncated_normal(0.25, 3.0))
                .caching_device(t.device.as_str());
            let b = match axis {
                Some(a) => b.partitioner(Partitioner::fixed_size_axis(3, a)),
                None => b,
            };
            let got = b.get().unwrap_or_else(|e| panic!("[{}] {name}: {e}", t.label));
            let shards = got.partitioned().map(|p| p.shards().to_vec());
            match shards {
                Some(shards) => vars.extend(shards.into_iter().map(|v| (name, v))),
                None => vars.push((name, var(got))),
            }
        }
        let s = Session::with_options(&g, opts()).unwrap();
        s.global_variables_initializer().unwrap_or_else(|e| panic!("[{}] init: {e}", t.label));
        for (name, v) in &vars {
            let got = s.read(v).unwrap_or_else(|e| panic!("[{}] {name}: {e}", t.label));
            let within = got.to_f64_vec().iter().all(|x| (x - 0.25).abs() <= 2.0 * 3.0);
            assert!(within, "[{}] {name} {}: a value beyond two standard deviations", t.label, v.key());
            compare(t, &format!("{name} {}", v.key()), v, &got, &reference_bytes(v), Exact::Ulp(NORMAL_ULP_BOUND));
        }
    });
}

#[test]
fn integer_and_bool_fills_match_the_reference() {
    for_each_target("integer_and_bool_fills_match_the_reference", targets(), |t| {
        let g = Graph::new();
        let mut vars = Vec::new();
        for dtype in [DType::Int32, DType::UInt32, DType::Bool] {
            for (name, init) in [("zeros", Initializer::zeros()), ("ones", Initializer::ones())] {
                let v = var(g
                    .get_variable(&format!("{name}_{dtype}"))
                    .shape([5u64, 13])
                    .dtype(dtype)
                    .initializer(init)
                    .caching_device(t.device.as_str())
                    .get()
                    .unwrap());
                vars.push(v);
            }
        }
        let s = Session::with_options(&g, opts()).unwrap();
        s.global_variables_initializer().unwrap_or_else(|e| panic!("[{}] init: {e}", t.label));
        for v in &vars {
            let got = s.read(v).unwrap();
            compare(t, v.key(), v, &got, &reference_bytes(v), Exact::Bits);
        }
    });
}

fn stats(x: &[f32]) -> (f64, f64, f32, f32) {
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    let lo = x.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    (mean, var.sqrt(), lo, hi)
}

#[test]
fn random_initializers_have_the_right_statistics() {
    for_each_target("random_initializers_have_the_right_statistics", targets(), |t| {
        let g = Graph::new();
        g.set_seed(42);
        let n = 1u64 << 16;
        let mk = |name: &str, init: Initializer| {
            var(g.get_variable(name).shape([n]).initializer(init).caching_device(t.device.as_str()).get().unwrap())
        };
        let u = mk("u", Initializer::random_uniform(-1.0, 2.0));
        let nr = mk("n", Initializer::random_normal(0.5, 2.0));
        let tn = mk("tn", Initializer::truncated_normal(0.0, 1.0));
        let s = Session::with_options(&g, opts()).unwrap();
        s.global_variables_initializer().unwrap();

        let (mean, std, lo, hi) = stats(&s.read_f32(&u).unwrap());
        assert!((mean - 0.5).abs() < 0.02, "[{}] uniform mean {mean}", t.label);
        assert!((std - 3.0 / 12f64.sqrt()).abs() < 0.02, "[{}] uniform std {std}", t.label);
        assert!(lo >= -1.0 && hi < 2.0, "[{}] uniform bounds [{lo}, {hi}]", t.label);

        let (mean, std, _, _) = stats(&s.read_f32(&nr).unwrap());
        assert!((mean - 0.5).abs() < 0.05, "[{}] normal mean {mean}", t.label);
        assert!((std - 2.0).abs() < 0.05, "[{}] normal std {std}", t.label);

        let (mean, std, lo, hi) = stats(&s.read_f32(&tn).unwrap());
        assert!(mean.abs() < 0.02, "[{}] truncated normal mean {mean}", t.label);
        assert!((std - 0.8796).abs() < 0.02, "[{}] truncated normal std {std}", t.label);
        assert!(lo >= -2.0 && hi <= 2.0, "[{}] truncated normal bounds [{lo}, {hi}]", t.label);
    });
}

#[test]
fn same_seed_same_values_on_every_device() {
    let targets = targets();
    let read_on = |t: &Target| {
        let g = Graph::new();
        g.set_seed(99);
        let v = var(g
            .get_variable("w")
            .shape([31u64, 17])
            .initializer(Initializer::glorot_uniform())
            .caching_device(t.device.as_str())
            .get()
            .unwrap());
        let s = Session::with_options(&g, opts()).unwrap();
        s.global_variables_initializer().unwrap();
        s.read(&v).unwrap()
    };
    let host = read_on(&targets[0]);
    for_each_target("same_seed_same_values_on_every_device", &targets[1..], |t| {
        assert_eq!(read_on(t).to_bits_vec(), host.to_bits_vec(), "[{}] differs from /cpu:0", t.label);
    });
}

/// On Vulkan devices the init kernels are varscope's own SPIR-V (every float operation
/// NoContraction, no fences); with `PASSTHROUGH_SHADERS` masked off they are the fenced
/// WGSL that every other backend runs. Both give the same bits, within the reference's
/// bound, for every kind that has fences, in float32 and the packed halves, in a
/// one-row dispatch (large variable) and in a table of rows (many small ones).
#[test]
fn exact_spirv_and_fenced_wgsl_kernels_give_the_same_bits() {
    let targets = targets();
    for_each_target("exact_spirv_and_fenced_wgsl_kernels_give_the_same_bits", &targets[1..], |t| {
        let g = Graph::new();
        g.set_seed(5);
        let mut vars = Vec::new();
        for (name, init, exact) in initializers() {
            if !matches!(name, "random_uniform" | "random_normal" | "truncated_normal" | "glorot_normal") {
                continue;
            }
            for (i, (dtype, shape)) in
                [(DType::Float32, vec![100_003u64]), (DType::Float32, vec![9, 7]), (DType::BFloat16, vec![333u64])]
                    .into_iter()
                    .enumerate()
            {
                vars.push((name, typed_var(&g, &format!("{name}_{i}"), shape, dtype, &init, &t.device), exact));
            }
        }
        let masked = AdapterMask::default().without_features(wgpu::Features::PASSTHROUGH_SHADERS);
        let fenced = Session::with_options(&g, opts().devices(DeviceOptions::default().mask(masked))).unwrap();
        let exact = Session::with_options(&g, opts()).unwrap();
        let info = |s: &Session| {
            let d = s.devices().iter().find(|d| d.name == t.device).expect("the target's device");
            (d.exact_spirv, d.backend)
        };
        let ((e, backend), (f, _)) = (info(&exact), info(&fenced));
        assert!(!f, "[{}] masked, yet exact SPIR-V", t.label);
        // Every Vulkan driver wgpu 30 runs on grants PASSTHROUGH_SHADERS.
        assert_eq!(e, backend == Some(wgpu::Backend::Vulkan), "[{}] exact SPIR-V", t.label);
        let list: Vec<Variable> = vars.iter().map(|(_, v, _)| v.clone()).collect();
        for s in [&exact, &fenced] {
            s.variables_initializer(&list).unwrap_or_else(|e| panic!("[{}] init: {e}", t.label));
        }
        for (name, v, bound) in &vars {
            let (a, b) = (exact.read(v).unwrap(), fenced.read(v).unwrap());
            assert_eq!(
                a.to_bits_vec(),
                b.to_bits_vec(),
                "[{}] {}: exact SPIR-V and fenced WGSL differ",
                t.label,
                v.name()
            );
            compare(t, &format!("{name} {}", v.name()), v, &a, &reference_bytes(v), *bound);
        }
    });
}

#[test]
fn partitioned_equals_unpartitioned() {
    for_each_target("partitioned_equals_unpartitioned", targets(), |t| {
        for (init, axis) in [
            (Initializer::random_uniform(-1.0, 1.0), 0),
            (Initializer::random_normal(0.0, 1.0), 1),
            (Initializer::glorot_normal(), 0),
            (Initializer::truncated_normal(1.0, 0.5), 1),
            (Initializer::ones(), 1),
        ] {
            let g1 = Graph::new();
            g1.set_seed(5);
            let whole = var(g1
                .variable_scope("s")
                .run_plain(|_| {
                    g1.get_variable("p")
                        .shape([10u64, 7])
                        .initializer(init.clone())
                        .caching_device(t.device.as_str())
                        .get()
                })
                .unwrap()
                .unwrap());
            let g2 = Graph::new();
            g2.set_seed(5);
            let parts = g2
                .variable_scope("s")
                .run_plain(|_| {
                    g2.get_variable("p")
                        .shape([10u64, 7])
                        .initializer(init.clone())
                        .partitioner(Partitioner::fixed_size_axis(3, axis))
                        .caching_device(t.device.as_str())
                        .get()
                })
                .unwrap()
                .unwrap();
            let parts = parts.partitioned().expect("partitioned").clone();
            assert_eq!(parts.shards().len(), 3);
            let s1 = Session::with_options(&g1, opts()).unwrap();
            s1.global_variables_initializer().unwrap();
            let s2 = Session::with_options(&g2, opts()).unwrap();
            s2.global_variables_initializer().unwrap();
            let a = s1.read(&whole).unwrap();
            let b = s2.read_partitioned(&parts).unwrap();
            assert_eq!(b.shape(), &[10, 7]);
            assert_eq!(a.to_bits_vec(), b.to_bits_vec(), "[{}] {} axis {axis}", t.label, init.kind_name());
        }
    });
}

#[test]
fn device_function_spreads_shards_over_devices() {
    let all = targets();
    // Runs on /cpu:0 alone too; the policy still fails it under VARSCOPE_REQUIRE_GPU=1.
    have_gpus("device_function_spreads_shards_over_devices", all.iter().filter(|t| t.is_gpu()).count());
    let names: Vec<String> = all.iter().map(|t| t.device.clone()).collect();
    let n = names.len();
    let g1 = Graph::new();
    g1.set_seed(3);
    let whole =
        var(g1.get_variable("e").shape([12u64, 4]).initializer(Initializer::random_uniform(0.0, 1.0)).get().unwrap());
    let g2 = Graph::new();
    g2.set_seed(3);
    let names2 = names.clone();
    let rr = CachingDevice::func("round_robin", move |v: &Variable| {
        let i: usize = v.key().rsplit("part_").next().and_then(|s| s.parse().ok()).unwrap_or(0);
        names2[i % n].clone()
    });
    let p = g2
        .get_variable("e")
        .shape([12u64, 4])
        .initializer(Initializer::random_uniform(0.0, 1.0))
        .partitioner(Partitioner::fixed_size(4))
        .caching_device(rr)
        .get()
        .unwrap();
    let p = p.partitioned().unwrap().clone();
    let s1 = Session::with_options(&g1, opts()).unwrap();
    s1.global_variables_initializer().unwrap();
    let s2 = Session::with_options(&g2, opts()).unwrap();
    s2.global_variables_initializer().unwrap();
    for (i, shard) in p.shards().iter().enumerate() {
        assert_eq!(s2.variable_device(shard).unwrap(), names[i % n], "shard {i}");
    }
    assert_eq!(s1.read(&whole).unwrap().to_bits_vec(), s2.read_partitioned(&p).unwrap().to_bits_vec());
}

#[test]
fn creation_order_does_not_change_values() {
    for_each_target("creation_order_does_not_change_values", targets(), |t| {
        let build = |order: &[&str]| {
            let g = Graph::new();
            g.set_seed(11);
            let mut out = Vec::new();
            for name in order {
                let v = var(g
                    .get_variable(name)
                    .shape([9u64, 8])
                    .initializer(Initializer::truncated_normal(0.0, 1.0))
                    .caching_device(t.device.as_str())
                    .get()
                    .unwrap());
                out.push((name.to_string(), v));
            }
            let s = Session::with_options(&g, opts()).unwrap();
            s.global_variables_initializer().unwrap();
            let mut vals: Vec<(String, Vec<u64>)> = out
                .iter()
                .filter(|(n, _)| !n.starts_with('x'))
                .map(|(n, v)| (n.clone(), s.read(v).unwrap().to_bits_vec()))
                .collect();
            vals.sort();
            vals
        };
        assert_eq!(build(&["a", "b", "c"]), build(&["x1", "c", "x2", "b", "a"]), "[{}]", t.label);
    });
}

#[test]
fn chunked_equals_unchunked() {
    for_each_target("chunked_equals_unchunked", gpu_targets(), |t| {
        let g = Graph::new();
        g.set_seed(8);
        let specs = [
            ("u", DType::Float32, Initializer::random_uniform(-3.0, 3.0), 1000u64),
            ("n", DType::Float32, Initializer::random_normal(0.0, 1.0), 777),
            ("h", DType::Float16, Initializer::glorot_uniform(), 999),
            ("b", DType::BFloat16, Initializer::ones(), 301),
            ("z", DType::Bool, Initializer::ones(), 300),
            ("i", DType::Int32, Initializer::zeros(), 513),
            ("o", DType::Float32, Initializer::orthogonal(1.0), 64),
        ];
        let vars: Vec<Variable> = specs
            .iter()
            .map(|(n, d, i, len)| {
                let shape = if *n == "o" { vec![8u64, 8] } else { vec![*len] };
                var(g
                    .get_variable(n)
                    .shape(shape)
                    .dtype(*d)
                    .initializer(i.clone())
                    .caching_device(t.device.as_str())
                    .get()
                    .unwrap())
            })
            .collect();
        let plain = Session::with_options(&g, opts()).unwrap();
        let chunked = Session::with_options(&g, opts().max_chunk_bytes(256)).unwrap();
        plain.global_variables_initializer().unwrap();
        chunked.global_variables_initializer().unwrap();
        for v in &vars {
            let a = plain.read(v).unwrap();
            let b = chunked.read(v).unwrap();
            assert_eq!(a, b, "[{}] {}: chunked != unchunked", t.label, v.key());
            let bufs = chunked.buffers(v).unwrap();
            let total: u64 = bufs.chunks.iter().map(|c| c.elements.end - c.elements.start).sum();
            assert_eq!(total, v.num_elements().unwrap(), "[{}] {}", t.label, v.key());
            if v.num_elements().unwrap() >= 128 && v.dtype() != DType::Float64 {
                assert!(bufs.chunks.len() > 1, "[{}] {} is not chunked", t.label, v.key());
            }
        }
        // Writes and reads across chunk boundaries.
        let vals: Vec<f32> = (0..1000).map(|i| i as f32 * 0.5 - 7.0).collect();
        chunked.assign_f32(&vars[0], &vals).unwrap();
        assert_eq!(chunked.read_f32(&vars[0]).unwrap(), vals, "[{}] chunked assign", t.label);
    });
}

#[test]
fn variables_on_two_adapters_in_one_session() {
    let gpus = gpu_targets();
    if !have_gpus("variables_on_two_adapters_in_one_session", gpus.len()) {
        return;
    }
    if gpus.len() < 2 {
        loud(&format!("SKIP: fewer than two GPU adapters ({} found)", gpus.len()));
        return;
    }
    let g = Graph::new();
    g.set_seed(21);
    let a = var(g
        .get_variable("a")
        .shape([100u64])
        .initializer(Initializer::random_uniform(0.0, 1.0))
        .caching_device("/gpu:0")
        .get()
        .unwrap());
    let b = var(g
        .get_variable("b")
        .shape([100u64])
        .initializer(Initializer::random_uniform(0.0, 1.0))
        .caching_device("/device:GPU:1")
        .get()
        .unwrap());
    let c = var(g
        .get_variable("c")
        .shape([100u64])
        .initializer(Initializer::random_uniform(0.0, 1.0))
        .caching_device("/cpu:0")
        .get()
        .unwrap());
    let s = Session::with_options(&g, opts()).unwrap();
    s.global_variables_initializer().unwrap();
    assert_eq!(s.variable_device(&a).unwrap(), "/gpu:0");
    assert_eq!(s.variable_device(&b).unwrap(), "/gpu:1");
    assert_eq!(s.variable_device(&c).unwrap(), "/cpu:0");
    for v in [&a, &b, &c] {
        let got = s.read(v).unwrap();
        assert_eq!(got.bytes(), &reference_bytes(v)[..], "{} on {}", v.key(), s.variable_device(v).unwrap());
    }
    assert!(s.bytes_in_use("/gpu:0").unwrap() >= 400 && s.bytes_in_use("/gpu:1").unwrap() >= 400);
}

fn round_trip_values(dtype: DType, shape: &[u64]) -> HostValues {
    let n: u64 = shape.iter().product();
    let f: Vec<f64> = (0..n).map(|i| (i as f64 - 20.0) * 0.375).collect();
    match dtype {
        DType::Float32 => HostValues::from_f32(shape, &f.iter().map(|&x| x as f32).collect::<Vec<_>>()),
        DType::Float64 => HostValues::from_f64(shape, &f.iter().map(|&x| x + 1e-12).collect::<Vec<_>>()),
        DType::Float16 => HostValues::from_f16(shape, &f.iter().map(|&x| f16::from_f64(x)).collect::<Vec<_>>()),
        DType::BFloat16 => HostValues::from_bf16(shape, &f.iter().map(|&x| bf16::from_f64(x)).collect::<Vec<_>>()),
        DType::Int32 => HostValues::from_i32(shape, &(0..n as i32).map(|i| i * 7919 - 100_000).collect::<Vec<_>>()),
        DType::Int64 => HostValues::from_i64(shape, &(0..n as i64).map(|i| i << 40).collect::<Vec<_>>()),
        DType::UInt32 => {
            HostValues::from_u32(shape, &(0..n as u32).map(|i| i.wrapping_mul(2_654_435_761)).collect::<Vec<_>>())
        }
        DType::Bool => HostValues::from_bool(shape, &(0..n).map(|i| i % 3 == 0).collect::<Vec<_>>()),
        _ => unreachable!(),
    }
    .unwrap()
}

#[test]
fn assign_read_round_trip_per_dtype() {
    for_each_target("assign_read_round_trip_per_dtype", targets(), |t| {
        for dtype in [
            DType::Float32,
            DType::Float16,
            DType::BFloat16,
            DType::Int32,
            DType::UInt32,
            DType::Bool,
            DType::Float64,
            DType::Int64,
        ] {
            let g = Graph::new();
            let shape = [3u64, 67];
            let v = var(g
                .get_variable("v")
                .shape(shape)
                .dtype(dtype)
                .initializer(Initializer::zeros())
                .caching_device(t.device.as_str())
                .get()
                .unwrap());
            for chunk in [None, Some(256u64)] {
                let o = chunk.map_or(opts(), |c| opts().max_chunk_bytes(c));
                let s = Session::with_options(&g, o).unwrap();
                let vals = round_trip_values(dtype, &shape);
                let supported = t.device == "/cpu:0"
                    || !matches!(dtype, DType::Float64 | DType::Int64)
                    || (dtype == DType::Float64 && t.f64)
                    || (dtype == DType::Int64 && t.i64);
                match s.assign(&v, &vals) {
                    Ok(()) => {
                        assert!(supported, "[{}] {dtype} should be rejected", t.label);
                        assert_eq!(s.read(&v).unwrap(), vals, "[{}] {dtype} chunk {chunk:?}", t.label);
                        assert!(s.is_variable_initialized(&v));
                    }
                    Err(e) => {
                        assert!(!supported, "[{}] {dtype}: {e}", t.label);
                        let msg = e.to_string();
                        assert!(msg.contains("v") && msg.contains(dtype.name()) && msg.contains(&t.device), "{msg}");
                    }
                }
            }
        }
    });
}

#[test]
fn thousands_of_small_variables_in_one_call_match_the_reference() {
    for_each_target("thousands_of_small_variables_in_one_call_match_the_reference", targets(), |t| {
        let g = Graph::new();
        g.set_seed(77);
        let inits = initializers();
        let vars: Vec<(usize, Variable)> = (0..2000)
            .map(|i| {
                let k = i % inits.len();
                let (name, init, _) = &inits[k];
                let shape =
                    if matches!(*name, "identity" | "orthogonal") { vec![5u64, 7] } else { vec![(i % 37 + 3) as u64] };
                let dtype = [DType::Float32, DType::Float16, DType::BFloat16][i % 3];
                (k, typed_var(&g, &format!("v{i}"), shape, dtype, init, &t.device))
            })
            .collect();
        let s = Session::with_options(&g, opts()).unwrap();
        s.global_variables_initializer().unwrap();
        assert!(s.report_uninitialized_variables().is_empty());
        for (k, v) in &vars {
            let got = s.read(v).unwrap();
            compare(t, &format!("{} ({})", v.key(), inits[*k].0), v, &got, &reference_bytes(v), inits[*k].2);
        }
    });
}

#[test]
fn large_variables_match_the_reference() {
    for_each_target("large_variables_match_the_reference", targets(), |t| {
        let g = Graph::new();
        g.set_seed(5);
        let specs = [
            ("u", DType::Float32, Initializer::random_uniform(-2.0, 2.0), Exact::Bits),
            ("tn", DType::Float32, Initializer::truncated_normal(0.0, 1.0), Exact::Ulp(NORMAL_ULP_BOUND)),
            ("h", DType::Float16, Initializer::random_normal(1.0, 0.5), Exact::Ulp(NORMAL_ULP_BOUND)),
            ("c", DType::BFloat16, Initializer::constant(0.25), Exact::Bits),
        ];
        let vars: Vec<(Variable, Exact)> = specs
            .iter()
            .map(|(n, d, i, e)| {
                let v = var(g
                    .get_variable(n)
                    .shape([(1u64 << 19) + 3])
                    .dtype(*d)
                    .initializer(i.clone())
                    .caching_device(t.device.as_str())
                    .get()
                    .unwrap());
                (v, *e)
            })
            .collect();
        let s = Session::with_options(&g, opts().max_chunk_bytes(1 << 20)).unwrap();
        s.global_variables_initializer().unwrap();
        for (v, e) in &vars {
            let got = s.read(v).unwrap();
            let ulp = compare(t, v.key(), v, &got, &reference_bytes(v), *e);
            if ulp > 0 {
                eprintln!("[{}] {}: max {ulp} ulp from the reference", t.label, v.key());
            }
        }
    });
}
