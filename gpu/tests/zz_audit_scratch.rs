// Throwaway audit probes. Delete after use.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use varscope_core::{CachingDevice, DType, Graph, Initializer, Optimizer, VarRef, Variable};
use varscope_gpu::{HostValues, Session, SessionOptions, Trainer};

fn var(r: VarRef) -> Variable {
    r.variable().unwrap().clone()
}

#[test]
fn a_hostvalues_overflow() {
    let r = HostValues::from_bytes(DType::Float32, &[u64::MAX, 2], vec![]);
    eprintln!("A from_bytes overflow -> {r:?}");
}

#[test]
fn b_assign_f32_huge_shape() {
    let g = Graph::new();
    let v = g.get_variable("h").shape([1u64 << 40, 1u64 << 40]).caching_device("/cpu:0").get();
    eprintln!("B get_variable -> ok? {}", v.is_ok());
    let v = var(v.unwrap());
    let s = Session::new(&g).unwrap();
    let r = s.assign_f32(&v, &[1.0]);
    eprintln!("B assign_f32 -> {r:?}");
    let r = s.assign_bytes(&v, &[0u8; 4]);
    eprintln!("B assign_bytes -> {r:?}");
}

#[test]
fn c_spellings() {
    let g = Graph::new();
    let s = Session::new(&g).unwrap();
    for sp in [
        " /gpu:0 ",
        "/gpu:00",
        "//gpu:0",
        "/gpu:0/",
        "/replica:0/gpu:0",
        "/job:localhost/gpu:0",
        "/task:0",
        "/device:gpu:0",
        "/cpu:000",
        "/Gpu:0",
    ] {
        eprintln!("C {sp:?} -> {:?}", s.device(sp).map(|d| d.name.clone()));
    }
}

#[test]
fn d_slab_release() {
    let g = Graph::new();
    let a = var(g.get_variable("a").shape([100u64]).caching_device("/gpu:0").get().unwrap());
    let b = var(g.get_variable("b").shape([100u64]).caching_device("/gpu:0").get().unwrap());
    let s = Session::new(&g).unwrap();
    s.global_variables_initializer().unwrap();
    let before = s.bytes_in_use("/gpu:0").unwrap();
    s.release(&a);
    let after = s.bytes_in_use("/gpu:0").unwrap();
    eprintln!("D bytes_in_use before release(a) {before}, after {after}; variable_bytes(b) {:?}", s.variable_bytes(&b));
    // Release and re-init a repeatedly
    for _ in 0..5 {
        s.variables_initializer(std::slice::from_ref(&a)).unwrap();
        s.release(&a);
    }
    eprintln!("D after 5 cycles: {}", s.bytes_in_use("/gpu:0").unwrap());
}

#[test]
fn e_slot_device_with_device_fn() {
    let g = Graph::new();
    let f = CachingDevice::func("by_name", |v: &Variable| {
        if v.op_name() == "foo/v" {
            "/cpu:0".to_string()
        } else {
            "/gpu:0".to_string()
        }
    });
    let v =
        var(g.get_variable("foo/v").shape([4u64]).initializer(Initializer::ones()).caching_device(f).get().unwrap());
    let s = Session::new(&g).unwrap();
    s.global_variables_initializer().unwrap();
    let t = Trainer::new(&s, Optimizer::momentum(0.1, 0.9), std::slice::from_ref(&v)).unwrap();
    eprintln!("E var on {:?}", s.variable_device(&v));
    for sl in t.slots(&v) {
        eprintln!("E slot {} on {:?}", sl.key(), s.variable_device(sl));
    }
}

#[test]
fn f_stateful_round_robin() {
    let g = Graph::new();
    let c = Arc::new(AtomicUsize::new(0));
    let c2 = c.clone();
    let names = ["/cpu:0", "/gpu:0"];
    let f = CachingDevice::func("rr", move |_v: &Variable| names[c2.fetch_add(1, Ordering::SeqCst) % 2].to_string());
    let v = var(g
        .get_variable("v")
        .shape([4u64])
        .initializer(Initializer::ones())
        .caching_device(f.clone())
        .get()
        .unwrap());
    let s = Session::new(&g).unwrap();
    let r = s.global_variables_initializer();
    eprintln!("F init -> {r:?}; device {:?}; calls {}", s.variable_device(&v), c.load(Ordering::SeqCst));
    let r = s.read_f32(&v);
    eprintln!("F read -> {r:?}");
    eprintln!("F placement -> {:?}", s.placement(&v).map(|d| d.name.clone()));
    let r = s.buffers(&v).map(|b| b.device_name);
    eprintln!("F buffers -> {r:?}; storage device {:?}", s.variable_device(&v));
}

#[test]
fn f2_stateful_round_robin_gpu_gpu() {
    let g = Graph::new();
    let c = Arc::new(AtomicUsize::new(0));
    let c2 = c.clone();
    let names = ["/gpu:0", "/gpu:1"];
    let f = CachingDevice::func("rr", move |_v: &Variable| names[c2.fetch_add(1, Ordering::SeqCst) % 2].to_string());
    let vs: Vec<Variable> = (0..3)
        .map(|i| {
            var(g
                .get_variable(&format!("v{i}"))
                .shape([4u64])
                .initializer(Initializer::ones())
                .caching_device(f.clone())
                .get()
                .unwrap())
        })
        .collect();
    let s = Session::new(&g).unwrap();
    let r = s.global_variables_initializer();
    eprintln!("F2 init -> {r:?}");
    for v in &vs {
        eprintln!("F2 {} on {:?} read {:?}", v.key(), s.variable_device(v), s.read_f32(v));
    }
}

#[test]
fn g_trainer_failure_leaves_store() {
    let g = Graph::new();
    let v = var(g
        .get_variable("v")
        .shape([100u64])
        .initializer(Initializer::ones())
        .caching_device("/cpu:0")
        .get()
        .unwrap());
    let s = Session::with_options(&g, SessionOptions::default().memory_limit(500)).unwrap();
    s.global_variables_initializer().unwrap();
    let before: Vec<String> = g.global_variables().iter().map(|x| x.key().to_string()).collect();
    let r = Trainer::new(&s, Optimizer::adam(), std::slice::from_ref(&v));
    eprintln!("G trainer -> {:?}", r.as_ref().err());
    let after: Vec<String> = g.global_variables().iter().map(|x| x.key().to_string()).collect();
    eprintln!("G globals before {before:?}\nG globals after {after:?}");
    let s2 = Session::new(&g).unwrap();
    let _ = s2;
}

#[test]
fn h_user_f16_kernel() {
    let g = Graph::new();
    let v = var(g
        .get_variable("h")
        .shape([8u64])
        .dtype(DType::Float16)
        .initializer(Initializer::ones())
        .caching_device("/gpu:0")
        .get()
        .unwrap());
    let s = Session::new(&g).unwrap();
    s.global_variables_initializer().unwrap();
    eprintln!("H gpu:0 shader_f16 = {}", s.device("/gpu:0").unwrap().shader_f16);
    let b = s.buffers(&v).unwrap();
    eprintln!("H device features has SHADER_F16: {}", b.device.features().contains(wgpu::Features::SHADER_F16));
    let scope = b.device.push_error_scope(wgpu::ErrorFilter::Validation);
    let _m = b.device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("f16"),
        source: wgpu::ShaderSource::Wgsl(
            "enable f16;\n@group(0) @binding(0) var<storage, read_write> d: array<f16>;\n@compute @workgroup_size(1) fn main() { d[0] = d[0] * 2.0h; }"
                .into(),
        ),
    });
    let e = pollster::block_on(scope.pop());
    eprintln!("H user f16 shader error: {:?}", e.map(|e| e.to_string()));
}
