//! Each capability fallback of `docs/platforms.md`, tested by asking every adapter
//! present for a device without the capability ([`AdapterMask`]): float16 without
//! SHADER_F16 gives the same bits; int64/float64 without SHADER_INT64/SHADER_F64 are
//! typed errors before anything is allocated; small storage-binding and buffer limits and
//! the coarsest offset alignment give the same values through more chunks and slabs;
//! WebGPU's default limits suffice; adapters below the kernels' floor (downlevel limits,
//! small workgroups) are skipped with a typed error. With no adapter the cases skip
//! loudly (and fail under `VARSCOPE_REQUIRE_GPU=1`).

mod common;

use common::*;
use varscope_core::{DType, Graph, Initializer, Optimizer, Variable};
use varscope_gpu::{AdapterMask, DeviceOptions, GpuError, Gradients, Session, SessionOptions, Trainer};

fn masked(g: &Graph, mask: AdapterMask) -> Session {
    Session::with_options(g, SessionOptions::default().devices(DeviceOptions::default().mask(mask))).expect("session")
}

fn gpu_names(s: &Session) -> Vec<String> {
    s.devices().iter().filter(|d| !d.is_cpu()).map(|d| d.name.clone()).collect()
}

/// Adapters present (fails under `VARSCOPE_REQUIRE_GPU=1` when there are none).
fn adapters(test: &str) -> usize {
    let n = gpu_targets().len();
    have_gpus(test, n);
    n
}

/// Every variable's bytes after initialization.
fn init_bytes(s: &Session, vars: &[Variable]) -> Vec<Vec<u8>> {
    s.variables_initializer(vars).expect("initialize");
    vars.iter().map(|v| s.read(v).expect("read").into_bytes()).collect()
}

/// float16 and bfloat16 are stored packed in 32-bit words and computed with integer
/// rounding, so an adapter without SHADER_F16 gives the same bits as one with it, and
/// as the host reference where the reference is exact.
#[test]
fn float16_without_shader_f16_gives_the_same_bits() {
    let hide = AdapterMask::default().without_features(wgpu::Features::SHADER_F16);
    for_each_target("float16_without_shader_f16_gives_the_same_bits", gpu_targets(), |t| {
        let g = Graph::new();
        let mut vars = Vec::new();
        for dtype in [DType::Float16, DType::BFloat16] {
            for init in
                [Initializer::ones(), Initializer::random_uniform(-2.0, 3.0), Initializer::random_normal(0.5, 2.0)]
            {
                let name = format!("v{}", vars.len());
                let b = g.get_variable(&name).shape([1001u64]).dtype(dtype).initializer(init);
                vars.push(var(b.caching_device(t.device.as_str()).get().unwrap()));
            }
        }
        let with = init_bytes(&Session::new(&g).unwrap(), &vars);
        let s = masked(&g, hide.clone());
        assert!(!s.device(&t.device).unwrap().shader_f16, "[{}] SHADER_F16 is masked off", t.label);
        let without = init_bytes(&s, &vars);
        for (k, v) in vars.iter().enumerate() {
            assert_eq!(with[k], without[k], "[{}] {} differs without SHADER_F16", t.label, v.key());
        }
        // The exact kind (fill) equals the host reference bit for bit.
        assert_eq!(without[0], reference_bytes(&vars[0]), "[{}] float16 ones", t.label);
        assert_eq!(without[3], reference_bytes(&vars[3]), "[{}] bfloat16 ones", t.label);
    });
}

/// Without SHADER_INT64 / SHADER_F64 an int64 / float64 variable cannot live on the
/// GPU: initializing it is `UnsupportedDType` naming the variable, dtype, device and
/// missing feature, raised before anything is allocated (the other variables of the same
/// call are not materialized either). With the feature (where the adapter has it) the
/// same variable initializes to the host reference.
#[test]
fn int64_and_float64_without_the_feature_are_typed_errors_before_allocation() {
    let hide = AdapterMask::default().without_features(wgpu::Features::SHADER_INT64 | wgpu::Features::SHADER_F64);
    for_each_target("int64_and_float64_without_the_feature_are_typed_errors_before_allocation", gpu_targets(), |t| {
        for (dtype, feature, has) in [(DType::Int64, "SHADER_INT64", t.i64), (DType::Float64, "SHADER_F64", t.f64)] {
            let g = Graph::new();
            let wide = var(g
                .get_variable("wide")
                .shape([10u64])
                .dtype(dtype)
                .initializer(Initializer::constant(7.0))
                .caching_device(t.device.as_str())
                .get()
                .unwrap());
            let other = var(g.get_variable("other").shape([10u64]).caching_device(t.device.as_str()).get().unwrap());
            let s = masked(&g, hide.clone());
            let info = s.device(&t.device).unwrap();
            assert!(!info.shader_i64 && !info.shader_f64, "[{}] masked", t.label);
            match s.global_variables_initializer() {
                Err(GpuError::UnsupportedDType { variable, dtype: d, device, reason }) => {
                    assert_eq!(variable, "wide");
                    assert_eq!(d, dtype);
                    assert_eq!(device, t.device);
                    assert!(reason.contains(feature), "[{}] reason names {feature}: {reason}", t.label);
                }
                r => panic!("[{}] {dtype:?} without {feature}: {r:?}", t.label),
            }
            assert_eq!(s.bytes_in_use(&t.device).unwrap(), 0, "[{}] something was allocated", t.label);
            assert_eq!(s.variable_bytes(&other), None, "[{}] the failed call materialized a variable", t.label);
            assert!(!s.is_variable_initialized(&other));
            // The same variable on /cpu:0 is fine in the same session.
            let g2 = Graph::new();
            let host = var(g2
                .get_variable("wide")
                .shape([10u64])
                .dtype(dtype)
                .initializer(Initializer::constant(7.0))
                .caching_device("/cpu:0")
                .get()
                .unwrap());
            let s2 = masked(&g2, hide.clone());
            s2.global_variables_initializer().unwrap();
            assert_eq!(s2.read(&host).unwrap().into_bytes(), reference_bytes(&host));
            // Positive control: with the feature, on the GPU.
            if has {
                let s = Session::new(&g).unwrap();
                s.global_variables_initializer().unwrap_or_else(|e| panic!("[{}] with {feature}: {e}", t.label));
                assert_eq!(s.read(&wide).unwrap().into_bytes(), reference_bytes(&wide), "[{}]", t.label);
            }
        }
    });
}

/// The limits that only change how variables are cut into buffers: a 4 KiB storage
/// binding and 64 KiB buffers (large variables in many chunks, slabs of at most 4 KiB)
/// and the coarsest storage offset alignment (256) give the same values bit for bit
/// after initialization, an assign and two Adam steps, as the adapter's own limits. wgpu
/// enforces the masked limits, so any binding past them would fail.
#[test]
fn small_binding_limits_give_the_same_values_through_more_chunks() {
    let floor = wgpu::Limits {
        max_storage_buffer_binding_size: 4096,
        max_buffer_size: 64 << 10,
        min_storage_buffer_offset_alignment: 256,
        ..wgpu::Limits::default()
    };
    for_each_target("small_binding_limits_give_the_same_values_through_more_chunks", gpu_targets(), |t| {
        let plain = run_small(t, None);
        let small = run_small(t, Some(floor.clone()));
        assert_eq!(plain.len(), small.len());
        for (k, (name, bytes)) in plain.iter().enumerate() {
            assert_eq!(&small[k].1, bytes, "[{}] {name} differs under small limits", t.label);
        }
    });
}

/// Initializes a few large and small variables on `t`, assigns, runs two Adam steps and
/// returns every variable's bytes (slots included), in a session masked at `floor`;
/// under a floor, also checks the chunks and slab offsets.
fn run_small(t: &common::Target, floor: Option<wgpu::Limits>) -> Vec<(String, Vec<u8>)> {
    let g = Graph::new();
    let on = |name: &str, shape: Vec<u64>, dtype: DType, init: Initializer| {
        let b = g.get_variable(name).shape(shape).dtype(dtype).initializer(init);
        var(b.caching_device(t.device.as_str()).get().unwrap())
    };
    let big = on("big", vec![50, 61], DType::Float32, Initializer::random_normal(0.0, 1.0));
    let half = on("half", vec![5001], DType::Float16, Initializer::truncated_normal(0.0, 1.0));
    let smalls: Vec<Variable> = (0..6)
        .map(|i| on(&format!("small{i}"), vec![3 + i * 17], DType::Float32, Initializer::random_uniform(-1.0, 1.0)))
        .collect();
    let trained: Vec<Variable> = std::iter::once(big.clone()).chain(smalls.iter().cloned()).collect();
    let s = match &floor {
        Some(l) => masked(&g, AdapterMask::default().at_most(l.clone())),
        None => Session::new(&g).unwrap(),
    };
    s.global_variables_initializer().unwrap_or_else(|e| panic!("[{}] init: {e}", t.label));
    s.assign_f32(&smalls[0], &[0.0, 0.25, 0.5]).unwrap();
    let mut tr = Trainer::new(&s, Optimizer::adam(), &trained).unwrap_or_else(|e| panic!("[{}] trainer: {e}", t.label));
    s.global_variables_initializer().unwrap();
    let grads = Gradients::new(&s, &trained).unwrap();
    for step in 0..2 {
        for v in &trained {
            let n = v.dims().unwrap().iter().product::<u64>() as usize;
            let gv: Vec<f32> = (0..n).map(|i| ((i * 7 + step) % 13) as f32 * 0.1 - 0.6).collect();
            grads.write_f32(v, &gv).unwrap();
        }
        tr.apply_gradients(&grads).unwrap_or_else(|e| panic!("[{}] step: {e}", t.label));
    }
    if let Some(l) = &floor {
        let info = s.device(&t.device).unwrap();
        assert_eq!(info.max_storage_buffer_binding_size, l.max_storage_buffer_binding_size, "[{}] mask", t.label);
        let chunks = s.buffers(&big).unwrap().chunks;
        assert_eq!(chunks.len(), (50 * 61usize).div_ceil(1024), "[{}] big in 4 KiB chunks", t.label);
        assert!(chunks.iter().all(|c| c.bytes.end - c.bytes.start <= 4096));
        assert_eq!(s.buffers(&half).unwrap().chunks.len(), 5001usize.div_ceil(2048), "[{}] float16 chunks", t.label);
        for v in &smalls {
            let c = &s.buffers(v).unwrap().chunks[0];
            assert_eq!(c.bytes.start % 256, 0, "[{}] {} at offset {} in its slab", t.label, v.key(), c.bytes.start);
        }
    }
    let mut all: Vec<Variable> = g.global_variables();
    all.sort_by(|a, b| a.key().cmp(b.key()));
    all.iter().map(|v| (v.key().to_string(), s.read(v).unwrap().into_bytes())).collect()
}

/// WebGPU's default limits are all varscope needs: every adapter opens under them.
/// Below the kernels' floor (wgpu's downlevel limits have 4 storage buffers per stage,
/// `optim.wgsl` binds 6; or a 32-invocation workgroup) the adapter is skipped with
/// `BelowRequirements` naming the limit and the shader that needs it, before any device
/// is opened on it, and a variable placed there is an unknown device.
#[test]
fn webgpu_defaults_suffice_and_adapters_below_the_floor_are_skipped() {
    let n = adapters("webgpu_defaults_suffice_and_adapters_below_the_floor_are_skipped");
    let g = Graph::new();
    let v = var(g
        .get_variable("v")
        .shape([100u64])
        .initializer(Initializer::ones())
        .caching_device("/gpu:0")
        .get()
        .unwrap());
    let s = masked(&g, AdapterMask::default().at_most(wgpu::Limits::default()));
    assert_eq!(s.num_gpus(), n, "skipped under WebGPU defaults: {:?}", s.skipped_adapters());
    if n > 0 {
        s.global_variables_initializer().unwrap();
        assert_eq!(s.read_f32(&v).unwrap(), vec![1.0; 100]);
    }
    let below = |mask: AdapterMask, limit: &str, required: u64, available: u64, shader: Option<&str>| {
        let s = masked(&g, mask);
        assert_eq!(s.num_gpus(), 0, "{limit}: {:?}", gpu_names(&s));
        let hits = s
            .skipped_adapters()
            .iter()
            .filter(|e| {
                matches!(e, GpuError::BelowRequirements { limit: l, required: r, available: a, shader: sh, .. }
                    if *l == limit && *r == required && *a == available && *sh == shader)
            })
            .count();
        assert_eq!(hits, n, "{limit}: {:?}", s.skipped_adapters());
        if n > 0 {
            let msg = s.skipped_adapters()[0].to_string();
            assert!(msg.contains(limit) && msg.contains("cannot run varscope's kernels"), "{msg}");
            assert!(matches!(s.global_variables_initializer(), Err(GpuError::UnknownDevice { .. })));
        }
    };
    below(
        AdapterMask::default().at_most(wgpu::Limits::downlevel_defaults()),
        "max_storage_buffers_per_shader_stage",
        6,
        4,
        Some("shaders/optim.wgsl"),
    );
    below(
        AdapterMask::default()
            .at_most(wgpu::Limits { max_compute_invocations_per_workgroup: 32, ..wgpu::Limits::default() }),
        "max_compute_invocations_per_workgroup",
        64,
        32,
        None,
    );
}

/// Where the adapter has SHADER_F16 the session opens its device with it, so a user's
/// kernel over a float16 buffer may compute in `f16` (runtime.md section 5); where it is
/// masked off, the device and its description say so.
#[test]
fn user_kernels_may_use_f16_where_the_adapter_has_it() {
    const F16: &str = "enable f16;\n@group(0) @binding(0) var<storage, read_write> x: array<u32>;\n\
        @compute @workgroup_size(1) fn main() { let h = vec2<f16>(1.0h, 2.0h); x[0] = pack2x16float(vec2<f32>(h)); }";
    for_each_target("user_kernels_may_use_f16_where_the_adapter_has_it", gpu_targets(), |t| {
        let g = Graph::new();
        let v = var(g
            .get_variable("h")
            .shape([4u64])
            .dtype(DType::Float16)
            .caching_device(t.device.as_str())
            .get()
            .unwrap());
        let s = Session::new(&g).unwrap();
        let b = s.buffers(&v).unwrap();
        let has = s.device(&t.device).unwrap().shader_f16;
        assert_eq!(b.device.features().contains(wgpu::Features::SHADER_F16), has, "[{}]", t.label);
        if has {
            let scope = b.device.push_error_scope(wgpu::ErrorFilter::Validation);
            let _module = b.device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some("user f16 kernel"),
                source: wgpu::ShaderSource::Wgsl(F16.into()),
            });
            let err = pollster::block_on(scope.pop());
            assert!(err.is_none(), "[{}] {err:?}", t.label);
        }
        let hidden = masked(&g, AdapterMask::default().without_features(wgpu::Features::SHADER_F16));
        let b = hidden.buffers(&v).unwrap();
        assert!(!b.device.features().contains(wgpu::Features::SHADER_F16), "[{}]", t.label);
        assert!(!hidden.device(&t.device).unwrap().shader_f16);
    });
}
