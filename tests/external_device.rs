//! The external-device example (`examples/external_device.rs`) on every adapter present:
//! the program's own pipeline binds varscope's buffers on the program's device and the
//! fit converges; and the placement options of a user's device among the enumerated
//! adapters. Each adapter passes or fails on its own; with no adapter the cases skip
//! loudly (and fail under `VARSCOPE_REQUIRE_GPU=1`), through `varscope-test-support`.

#[allow(dead_code)]
#[path = "../examples/external_device.rs"]
mod example;

use varscope::gpu::{DeviceOptions, ExternalDevice, ExternalPlacement, GpuError, Session, SessionOptions};
use varscope::{Graph, Initializer};
use varscope_test_support::{adapters, for_each_target, loud, TestTarget};

#[test]
fn the_example_trains_on_the_programs_own_device_on_every_adapter() {
    for_each_target("the_example_trains_on_the_programs_own_device_on_every_adapter", adapters(), |adapter| {
        let l = adapter.label();
        let r = example::run(adapter, 250).unwrap_or_else(|e| panic!("[{l}] {e}"));
        assert_eq!(r.device, "/gpu:0", "[{l}]");
        assert!(r.same_device, "[{l}] varscope's buffers are not on the program's device");
        let (first, last) = (r.losses[0], r.losses[r.losses.len() - 1]);
        assert!(first > 1.0, "[{l}] initial mse {first}");
        assert!(last < 1e-6 * first, "[{l}] mse {first} -> {last}");
        assert!(r.losses.iter().all(|x| x.is_finite()), "[{l}] {:?}", r.losses);
        assert!(r.losses[75] < 1e-2 * first, "[{l}] mse after 75 steps: {:?}", &r.losses[..76]);
        assert!(r.max_error < 1e-3, "[{l}] weights off by {}", r.max_error);
        loud(&format!("[{l}] {} mse {first:.3} -> {last:.3e}, max weight error {:.2e}", r.device, r.max_error));
    });
}

/// `Only` (default): the user's device is the only GPU; `First`: `/gpu:0`, then the
/// enumerated adapters; `Last`: after them, which keep their names. Variables placed on
/// the user's device live in its buffers.
#[test]
fn a_users_device_is_placed_as_asked() {
    let all = adapters();
    let n = all.len();
    let g = Graph::new();
    let plain = Session::new(&g).unwrap();
    let enumerated = plain.num_gpus();
    assert!(enumerated <= n);
    for_each_target("a_users_device_is_placed_as_asked", all, |adapter| {
        let l = adapter.label();
        let (device, queue) = example::open(adapter).unwrap_or_else(|e| panic!("[{l}] {e}"));
        let user = ExternalDevice::new(adapter.clone(), device.clone(), queue.clone());
        let with = |placement: ExternalPlacement, g: &Graph| {
            let d = DeviceOptions::default().external(user.clone()).placement(placement);
            let s =
                Session::with_options(g, SessionOptions::default().devices(d)).unwrap_or_else(|e| panic!("[{l}] {e}"));
            // Which /gpu:N is the user's device.
            let gpus: Vec<bool> = s.devices()[1..].iter().map(|d| d.external).collect();
            (s.num_gpus(), gpus.iter().position(|&e| e), gpus.iter().filter(|&&e| e).count())
        };
        assert_eq!(with(ExternalPlacement::Only, &g), (1, Some(0), 1), "[{l}] Only");
        assert_eq!(with(ExternalPlacement::First, &g), (enumerated + 1, Some(0), 1), "[{l}] First");
        assert_eq!(with(ExternalPlacement::Last, &g), (enumerated + 1, Some(enumerated), 1), "[{l}] Last");
        // Last keeps the enumerated names: /gpu:0 is the same adapter as without it.
        if enumerated > 0 {
            let d = DeviceOptions::default().external(user.clone()).placement(ExternalPlacement::Last);
            let s = Session::with_options(&g, SessionOptions::default().devices(d)).unwrap();
            assert_eq!(s.devices()[1].adapter_name, plain.devices()[1].adapter_name, "[{l}]");
        }
        // A variable on the user's device: its buffers are the user's device's.
        let g2 = Graph::new();
        let v =
            g2.get_variable("v").shape([5u64]).initializer(Initializer::ones()).caching_device("/gpu:0").get().unwrap();
        let v = v.variable().unwrap().clone();
        let s = Session::with_options(
            &g2,
            SessionOptions::default().devices(DeviceOptions::default().external(user.clone())),
        )
        .unwrap();
        s.global_variables_initializer().unwrap();
        let b = s.buffers(&v).unwrap();
        assert!(b.device == device && b.queue == queue, "[{l}] buffers on another device");
        assert_eq!(s.read_f32(&v).unwrap(), vec![1.0; 5], "[{l}]");
        assert!(s.devices()[1].external && !s.devices()[0].external);
    });
}

/// A user's device opened with fewer storage buffers per stage than varscope's fused
/// optimizer binds fails the session with a typed error (nothing is allocated; an
/// enumerated adapter would be skipped instead).
#[test]
fn a_users_device_below_the_floor_is_a_typed_error() {
    for_each_target("a_users_device_below_the_floor_is_a_typed_error", adapters(), |adapter| {
        let l = adapter.label();
        let desc = wgpu::DeviceDescriptor {
            label: Some("small"),
            required_features: wgpu::Features::empty(),
            required_limits: adapter.limits().or_worse_values_from(&wgpu::Limits::downlevel_defaults()),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&desc)).unwrap_or_else(|e| panic!("[{l}] {e}"));
        let g = Graph::new();
        let d = DeviceOptions::default().external(ExternalDevice::new(adapter.clone(), device, queue));
        let r = Session::with_options(&g, SessionOptions::default().devices(d));
        match r {
            Err(GpuError::BelowRequirements { limit, required, available, shader, .. }) => {
                assert_eq!((limit, required, available), ("max_storage_buffers_per_shader_stage", 6, 4), "[{l}]");
                assert_eq!(shader, Some("shaders/optim.wgsl"), "[{l}]");
            }
            r => panic!("[{l}] {r:?}"),
        }
    });
}
