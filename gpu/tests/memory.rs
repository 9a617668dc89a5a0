//! Memory accounting, release, buffers for user kernels, and error-scoped user pipelines.

mod common;

use common::*;
use varscope_core::{DType, Graph, Initializer};
use varscope_gpu::{GpuError, Session, SessionOptions};

#[test]
fn bytes_are_accounted_per_device_and_variable() {
    for_each_target("bytes_are_accounted_per_device_and_variable", targets(), |t| {
        let g = Graph::new();
        let a = var(g.get_variable("a").shape([100u64]).caching_device(t.device.as_str()).get().unwrap());
        let h = var(g
            .get_variable("h")
            .shape([3u64])
            .dtype(DType::Float16)
            .initializer(Initializer::ones())
            .caching_device(t.device.as_str())
            .get()
            .unwrap());
        let s = Session::new(&g).unwrap();
        assert_eq!(s.bytes_in_use(&t.device).unwrap(), 0);
        s.global_variables_initializer().unwrap();
        let (ba, bh) = (s.variable_bytes(&a).unwrap(), s.variable_bytes(&h).unwrap());
        assert_eq!(ba, 400, "[{}]", t.label);
        assert!(bh == 6 || bh == 8, "[{}] float16 bytes {bh}", t.label);
        let used = s.bytes_in_use(&t.device).unwrap();
        assert!(used >= ba + bh, "[{}] {used}", t.label);
        assert_eq!(s.device(&t.device).unwrap().bytes_in_use(), used);
        s.release(&a);
        assert_eq!(s.variable_bytes(&a), None);
        // Small variables may share a slab: its memory goes with the last of them.
        let after = s.bytes_in_use(&t.device).unwrap();
        assert!(after == used - ba || after == used, "[{}] release: {used} -> {after}", t.label);
        assert!(!s.is_variable_initialized(&a));
        s.release(&h);
        assert_eq!(s.bytes_in_use(&t.device).unwrap(), 0, "[{}]", t.label);
    });
}

#[test]
fn device_listing_is_complete_and_ordered() {
    let g = Graph::new();
    let s = Session::new(&g).unwrap();
    let d = s.devices();
    assert_eq!(d[0].name, "/cpu:0");
    for (i, dev) in d[1..].iter().enumerate() {
        assert_eq!(dev.name, format!("/gpu:{i}"));
        assert!(dev.backend.is_some());
        assert!(dev.max_storage_buffer_binding_size > 0 && dev.max_buffer_size > 0);
        eprintln!(
            "{} {:?} {:?} '{}' max_buffer={} max_binding={} f16={} bytes_in_use={}",
            dev.name,
            dev.backend,
            dev.device_type,
            dev.adapter_name,
            dev.max_buffer_size,
            dev.max_storage_buffer_binding_size,
            dev.shader_f16,
            dev.bytes_in_use()
        );
    }
    let rank = |t: wgpu::DeviceType| match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    };
    for w in d[1..].windows(2) {
        assert!(rank(w[0].device_type) <= rank(w[1].device_type), "device order");
    }
    // Default: /gpu:0 when an adapter exists (unless the environment overrides it).
    if std::env::var("VARSCOPE_DEFAULT_DEVICE").is_err() {
        let want = if s.num_gpus() > 0 { "/gpu:0" } else { "/cpu:0" };
        assert_eq!(s.default_device().name, want);
    }
    let s = Session::with_options(&g, SessionOptions::default().backends(wgpu::Backends::empty())).unwrap();
    assert_eq!(s.devices().len(), 1);
    assert_eq!(s.default_device().name, "/cpu:0");
}

#[test]
fn empty_caching_device_means_default() {
    let g = Graph::new();
    let v = var(g.get_variable("v").shape([2u64]).caching_device("").get().unwrap());
    let w = var(g.get_variable("w").shape([2u64]).get().unwrap());
    let s = Session::with_options(&g, SessionOptions::default().default_device("/cpu:0")).unwrap();
    s.global_variables_initializer().unwrap();
    assert_eq!(s.variable_device(&v).unwrap(), "/cpu:0");
    assert_eq!(s.variable_device(&w).unwrap(), "/cpu:0");
    let scoped = g
        .variable_scope("sc")
        .caching_device("/cpu:0")
        .run_plain(|_| g.get_variable("x").shape([2u64]).get())
        .unwrap()
        .unwrap();
    let s = Session::new(&g).unwrap();
    assert_eq!(s.placement(&var(scoped)).unwrap().name, "/cpu:0");
}

const DOUBLE: &str = r#"
@group(0) @binding(0) var<storage, read_write> data: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x < arrayLength(&data)) { data[id.x] = data[id.x] * 2.0; }
}
"#;

#[test]
fn user_kernels_can_bind_variable_buffers() {
    for_each_target("user_kernels_can_bind_variable_buffers", gpu_targets(), |t| {
        let g = Graph::new();
        let v = var(g.get_variable("v").shape([300u64]).caching_device(t.device.as_str()).get().unwrap());
        let s = Session::with_options(&g, SessionOptions::default().max_chunk_bytes(512)).unwrap();
        let vals: Vec<f32> = (0..300).map(|i| i as f32).collect();
        s.assign_f32(&v, &vals).unwrap();
        let b = s.buffers(&v).unwrap();
        assert_eq!(b.device_name, t.device);
        assert!(b.chunks.len() > 1);
        let module = b.device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("double"),
            source: wgpu::ShaderSource::Wgsl(DOUBLE.into()),
        });
        let pipeline = b.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("double"),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
        let mut enc = b.device.create_command_encoder(&Default::default());
        for c in &b.chunks {
            let usage = c.buffer.usage();
            assert!(usage
                .contains(wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST));
            let bg = b.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &pipeline.get_bind_group_layout(0),
                entries: &[wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: &c.buffer,
                        offset: 0,
                        size: std::num::NonZeroU64::new(c.bytes.end),
                    }),
                }],
            });
            let mut pass = enc.begin_compute_pass(&Default::default());
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bg, &[]);
            pass.dispatch_workgroups(((c.elements.end - c.elements.start) as u32).div_ceil(64), 1, 1);
        }
        b.queue.submit([enc.finish()]);
        let got = s.read_f32(&v).unwrap();
        assert_eq!(got, vals.iter().map(|x| x * 2.0).collect::<Vec<_>>(), "[{}]", t.label);
    });
}

#[test]
fn dropping_the_session_frees_everything() {
    for_each_target("dropping_the_session_frees_everything", gpu_targets(), |t| {
        let g = Graph::new();
        let v = var(g.get_variable("v").shape([1000u64]).caching_device(t.device.as_str()).get().unwrap());
        let s = Session::new(&g).unwrap();
        s.global_variables_initializer().unwrap();
        let b = s.buffers(&v).unwrap();
        drop(s);
        // The buffer was destroyed: mapping it for reading is no longer possible.
        assert!(b.chunks[0].buffer.size() >= 4000);
    });
}

#[test]
fn scalars_and_empty_variables_work_everywhere() {
    for_each_target("scalars_and_empty_variables_work_everywhere", targets(), |t| {
        let g = Graph::new();
        let s0 = var(g
            .get_variable("s")
            .shape(Vec::<u64>::new())
            .initializer(Initializer::constant(3.0))
            .caching_device(t.device.as_str())
            .get()
            .unwrap());
        let e0 = var(g
            .get_variable("e")
            .shape([0u64])
            .initializer(Initializer::ones())
            .caching_device(t.device.as_str())
            .get()
            .unwrap());
        let h0 = var(g
            .get_variable("h")
            .shape([3u64, 0])
            .dtype(DType::Float16)
            .initializer(Initializer::random_uniform(0.0, 1.0))
            .caching_device(t.device.as_str())
            .get()
            .unwrap());
        let s = Session::new(&g).unwrap();
        s.global_variables_initializer().unwrap_or_else(|e| panic!("[{}] {e}", t.label));
        assert_eq!(s.read_f32(&s0).unwrap(), vec![3.0], "[{}]", t.label);
        assert!(s.read(&e0).unwrap().is_empty());
        assert_eq!(s.read(&h0).unwrap().shape(), &[3, 0]);
        s.assign_f32(&s0, &[-1.5]).unwrap();
        assert_eq!(s.read_f32(&s0).unwrap(), vec![-1.5]);
        if t.device == "/cpu:0" {
            assert!(matches!(s.buffers(&s0), Err(varscope_gpu::GpuError::NoBuffers { .. })));
        }
    });
}

#[test]
fn local_and_global_initializers_are_separate() {
    let g = Graph::new();
    let gv = var(g.get_variable("gv").shape([3u64]).initializer(Initializer::ones()).get().unwrap());
    let lv = var(g.get_local_variable("lv").shape([3u64]).initializer(Initializer::constant(2.0)).get().unwrap());
    let s = Session::new(&g).unwrap();
    s.global_variables_initializer().unwrap();
    assert!(s.is_variable_initialized(&gv));
    assert!(!s.is_variable_initialized(&lv));
    assert_eq!(s.report_uninitialized_variables(), vec!["lv".to_string()]);
    s.local_variables_initializer().unwrap();
    assert_eq!(s.read_f32(&lv).unwrap(), vec![2.0; 3]);
    assert!(s.report_uninitialized_variables().is_empty());
}

#[test]
fn a_session_is_shared_between_threads() {
    let g = Graph::new();
    g.set_seed(4);
    let vars: Vec<_> = (0..16)
        .map(|i| {
            var(g
                .get_variable(&format!("t{i}"))
                .shape([257u64])
                .initializer(Initializer::random_uniform(0.0, 1.0))
                .get()
                .unwrap())
        })
        .collect();
    let s = Session::new(&g).unwrap();
    crossbeam::scope(|sc| {
        for chunk in vars.chunks(4) {
            let s = &s;
            sc.spawn(move |_| {
                s.variables_initializer(chunk).unwrap();
                for v in chunk {
                    assert_eq!(s.read(v).unwrap().bytes(), &reference_bytes(v)[..]);
                }
            });
        }
    })
    .unwrap();
    assert!(s.report_uninitialized_variables().is_empty());
}

/// The bytes `range` of `buffer`, read back.
fn buffer_bytes(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    buffer: &wgpu::Buffer,
    range: std::ops::Range<u64>,
) -> Vec<u8> {
    varscope_test_support::read_buffer(device, queue, buffer, range).expect("read back")
}

/// Asserts that no device word of `v` (its chunks rounded up to whole words) still holds
/// the debug fill byte `fill` everywhere: every word was written (a random word equal to
/// the fill pattern has odds of 2^-32 each).
fn assert_every_word_written(s: &Session, v: &varscope_core::Variable, fill: u8, label: &str) {
    let b = s.buffers(v).unwrap();
    for c in &b.chunks {
        let words = c.bytes.start..c.bytes.start + (c.bytes.end - c.bytes.start).div_ceil(4) * 4;
        let raw = buffer_bytes(&b.device, &b.queue, &c.buffer, words);
        assert!(!raw.chunks(4).any(|w| w == [fill; 4]), "[{label}] {} has a word no write reached", v.key());
    }
}

#[test]
fn new_variable_memory_is_written_before_it_is_read() {
    // A variable's GPU memory is not zero-filled when allocated (the initializer writes
    // all of it). With a debug fill byte, the fresh memory holds that byte, and every
    // initializer, fill and assign overwrites every word of it: slab variables and
    // chunked ones, float16 with an odd count, and a variable assigned, not initialized.
    for_each_target("new_variable_memory_is_written_before_it_is_read", gpu_targets(), |t| {
        let g = Graph::new();
        g.set_seed(5);
        let on = |b: varscope_core::GetVariable<'_>| var(b.caching_device(t.device.as_str()).get().unwrap());
        let fresh = on(g.get_variable("fresh").shape([37u64]));
        let vars = [
            on(g.get_variable("u").shape([1004u64]).initializer(Initializer::random_uniform(-1.0, 1.0))),
            on(g.get_variable("n").shape([6u64, 67]).initializer(Initializer::truncated_normal(0.0, 1.0))),
            on(g.get_variable("h")
                .shape([13u64])
                .dtype(DType::Float16)
                .initializer(Initializer::random_normal(0.0, 1.0))),
            on(g.get_variable("c").shape([3u64, 5]).dtype(DType::BFloat16).initializer(Initializer::constant(0.5))),
            on(g.get_variable("i").shape([7u64]).dtype(DType::Int32).initializer(Initializer::ones())),
            on(g.get_variable("z").shape([9u64]).initializer(Initializer::zeros())),
            on(g.get_variable("big").shape([16380u64]).initializer(Initializer::glorot_uniform())),
        ];
        let assigned = on(g.get_variable("assigned").shape([3u64]));
        let opts = SessionOptions::default().max_chunk_bytes(16384).debug_fill(Some(0xa5));
        let s = Session::with_options(&g, opts).unwrap();
        let b = s.buffers(&fresh).unwrap();
        let c = &b.chunks[0];
        let raw = buffer_bytes(&b.device, &b.queue, &c.buffer, c.bytes.clone());
        assert_eq!(raw.len(), 37 * 4);
        assert!(raw.iter().all(|&x| x == 0xa5), "[{}] fresh memory holds the fill byte", t.label);
        assert!(s.buffers(&vars[6]).unwrap().chunks.len() > 1, "[{}] big is chunked", t.label);
        s.global_variables_initializer().unwrap();
        s.assign_f32(&assigned, &[1.0, 2.0, 3.0]).unwrap();
        assert_eq!(s.read_f32(&assigned).unwrap(), [1.0, 2.0, 3.0], "[{}]", t.label);
        for v in vars.iter().chain([&assigned]) {
            assert_every_word_written(&s, v, 0xa5, &t.label);
        }
        // The values themselves: bit for bit where the family is exact.
        for v in vars.iter().filter(|v| !matches!(v.key(), "n" | "h")) {
            assert_eq!(s.read(v).unwrap().bytes(), reference_bytes(v).as_slice(), "[{}] {}", t.label, v.key());
        }
    });
}

#[test]
fn large_chunks_hold_their_values_through_release_and_reuse() {
    // Chunks of 4 MiB or more get their own allocation on a CPU Vulkan device (with a
    // huge-page hint); smaller chunks and slabs do not. Either way every word is written
    // by the initializer, the values are the host reference's, an upload fills a whole
    // chunk, and release returns every byte.
    for_each_target("large_chunks_hold_their_values_through_release_and_reuse", gpu_targets(), |t| {
        let g = Graph::new();
        g.set_seed(9);
        let on = |b: varscope_core::GetVariable<'_>| var(b.caching_device(t.device.as_str()).get().unwrap());
        // 5 MiB in one chunk; 12 MiB in three chunks of 4 MiB; 8 MiB of int32 in two
        // chunks; a 1,000-element slab variable beside them.
        let one = on(g.get_variable("one").shape([1280u64, 1024]).initializer(Initializer::random_uniform(-2.0, 2.0)));
        let cut = on(g.get_variable("cut").shape([3u64 << 20]).initializer(Initializer::glorot_uniform()));
        let ints = on(g
            .get_variable("ints")
            .shape([1u64 << 20, 2])
            .dtype(DType::Int32)
            .initializer(Initializer::random_uniform(-7.0, 9.0)));
        let small = on(g.get_variable("small").shape([1000u64]).initializer(Initializer::random_uniform(0.0, 1.0)));
        let opts = SessionOptions::default().max_chunk_bytes(4 << 20).debug_fill(Some(0xa5));
        let s = Session::with_options(&g, opts).unwrap();
        assert!(s.buffers(&cut).unwrap().chunks.len() == 3, "[{}] cut has three chunks", t.label);
        for round in 0..2 {
            s.global_variables_initializer().unwrap();
            for v in [&one, &cut, &ints, &small] {
                assert_every_word_written(&s, v, 0xa5, &format!("{} round {round}", t.label));
                assert_eq!(
                    s.read(v).unwrap().bytes(),
                    reference_bytes(v).as_slice(),
                    "[{}] round {round}: {}",
                    t.label,
                    v.key()
                );
            }
            let up: Vec<f32> = (0..3u32 << 20).map(|i| i as f32 * 0.25).collect();
            s.assign_f32(&cut, &up).unwrap();
            assert_eq!(s.read_f32(&cut).unwrap(), up, "[{}] round {round}: upload", t.label);
            for v in [&one, &cut, &ints, &small] {
                s.release(v);
            }
            assert_eq!(s.bytes_in_use(&t.device).unwrap(), 0, "[{}] round {round}: released", t.label);
        }
    });
}

#[test]
fn read_into_gives_the_bytes_of_read_and_checks_its_buffer() {
    // `read_into` fills the caller's buffer with exactly `read`'s bytes: a float32
    // variable in six chunks, bool (one byte per device word), float16 with an odd count, int32; a buffer of the wrong length, an
    // uninitialized variable and another graph's variable are typed errors.
    for_each_target("read_into_gives_the_bytes_of_read_and_checks_its_buffer", targets(), |t| {
        let g = Graph::new();
        g.set_seed(3);
        let on = |b: varscope_core::GetVariable<'_>| var(b.caching_device(t.device.as_str()).get().unwrap());
        let vars = [
            on(g.get_variable("f").shape([300u64, 70]).initializer(Initializer::random_uniform(-3.0, 3.0))),
            on(g.get_variable("b").shape([13u64]).dtype(DType::Bool).initializer(Initializer::ones())),
            on(g.get_variable("h").shape([7u64]).dtype(DType::Float16).initializer(Initializer::constant(1.5))),
            on(g.get_variable("i")
                .shape([5u64, 3])
                .dtype(DType::Int32)
                .initializer(Initializer::random_uniform(-9.0, 9.0))),
        ];
        let idle = on(g.get_variable("idle").shape([4u64]));
        let opts = opts().max_chunk_bytes(16384);
        let s = Session::with_options(&g, opts).unwrap();
        s.variables_initializer(&vars).unwrap();
        for v in &vars {
            let want = s.read(v).unwrap();
            let mut out = vec![0xeeu8; v.nbytes().unwrap() as usize];
            s.read_into(v, &mut out).unwrap();
            assert_eq!(out, want.bytes(), "[{}] {}", t.label, v.key());
            // Reading into the same buffer again gives the same bytes.
            s.read_into(v, &mut out).unwrap();
            assert_eq!(out, want.bytes(), "[{}] {} again", t.label, v.key());
        }
        let n = vars[0].nbytes().unwrap() as usize;
        for len in [n - 1, n + 4, 0] {
            let mut out = vec![0u8; len];
            match s.read_into(&vars[0], &mut out) {
                Err(GpuError::ReadBufferSize { variable, expected, given, .. }) => {
                    assert_eq!((variable.as_str(), expected, given), ("f", n as u64, len), "[{}]", t.label);
                }
                other => panic!("[{}] length {len}: {other:?}", t.label),
            }
        }
        // A failed check writes nothing.
        let mut untouched = [0x77u8; 16];
        let e = s.read_into(&idle, &mut untouched).unwrap_err();
        assert!(matches!(e, GpuError::Uninitialized { .. }), "[{}] {e}", t.label);
        assert_eq!(untouched, [0x77u8; 16], "[{}]", t.label);
        let other = Graph::new();
        let foreign = var(other.get_variable("f").shape([300u64, 70]).get().unwrap());
        let e = s.read_into(&foreign, &mut vec![0u8; n]).unwrap_err();
        assert!(matches!(e, GpuError::ForeignVariable { .. }), "[{}] {e}", t.label);
    });
}
