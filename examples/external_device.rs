//! varscope variables on a wgpu device the program already owns:
//! `cargo run --release --example external_device` (add `-- <steps>`).
//!
//! The program opens its own adapter, device and queue, as a renderer or another compute
//! library would, and hands them to a varscope [`Session`] ([`ExternalDevice`]: the
//! device becomes `/gpu:0`). varscope creates and initializes a linear model's variables
//! (`linear/w`, `linear/b`) in buffers of that device. The program's own WGSL pipeline
//! ([`SHADER`]) binds those buffers directly, with no copy: one entry point reads the
//! variables to predict, another writes the mean-squared-error gradients straight into
//! varscope's gradient buffers. A varscope [`Trainer`] (momentum) then applies them, in
//! the same queue, after the program's own submission. The fit converges to the weights
//! the data was made from.

use std::num::NonZeroU64;

use varscope::gpu::{
    ChunkBuffer, DeviceOptions, ExternalDevice, Gradients, Session, SessionOptions, Trainer, VariableBuffers,
};
use varscope::{Graph, Initializer, Optimizer};

/// The program's own kernels: `predict_main` (`pred = x . w + b`, one invocation per
/// sample) and `grad_main` (`d(0.5 mean (pred - y)^2)/dw` and `/db`, one invocation per
/// weight plus one for the bias).
pub const SHADER: &str = r#"
struct Dims { n: u32, d: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> pred: array<f32>;
@group(0) @binding(5) var<storage, read_write> gw: array<f32>;
@group(0) @binding(6) var<storage, read_write> gb: array<f32>;
@group(0) @binding(7) var<uniform> dims: Dims;

@compute @workgroup_size(64)
fn predict_main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= dims.n) { return; }
    var s = b[0];
    for (var k = 0u; k < dims.d; k++) { s += x[i * dims.d + k] * w[k]; }
    pred[i] = s;
}

@compute @workgroup_size(64)
fn grad_main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    if (j > dims.d) { return; }
    var s = 0.0;
    for (var i = 0u; i < dims.n; i++) {
        let r = pred[i] - y[i];
        if (j < dims.d) { s += r * x[i * dims.d + j]; } else { s += r; }
    }
    s /= f32(dims.n);
    if (j < dims.d) { gw[j] = s; } else { gb[0] = s; }
}
"#;

/// Samples of the synthetic data set.
pub const SAMPLES: usize = 256;
/// The weights the data is made from (`y = x . W_TRUE + B_TRUE`).
pub const W_TRUE: [f32; 8] = [0.5, -1.0, 2.0, 0.0, 0.25, -0.75, 1.5, -2.0];
/// The bias the data is made from.
pub const B_TRUE: f32 = 0.3;

/// What [`run`] measured.
#[derive(Debug)]
pub struct Report {
    /// The session's name of the program's device (`/gpu:0`).
    pub device: String,
    /// Adapter and backend.
    pub adapter: String,
    /// Whether varscope's buffers live on the program's own `wgpu::Device`.
    pub same_device: bool,
    /// Mean squared error before training and after each step (computed by the
    /// program's `predict_main` from the variables' buffers).
    pub losses: Vec<f32>,
    /// Largest `|w - W_TRUE|`, `|b - B_TRUE|` after training (read through varscope).
    pub max_error: f32,
}

type Error = Box<dyn std::error::Error>;

/// Opens the program's own device on `adapter`, as any wgpu program does.
pub fn open(adapter: &wgpu::Adapter) -> Result<(wgpu::Device, wgpu::Queue), Error> {
    let desc = wgpu::DeviceDescriptor {
        label: Some("my renderer"),
        required_features: wgpu::Features::empty(),
        required_limits: adapter.limits(),
        experimental_features: wgpu::ExperimentalFeatures::disabled(),
        memory_hints: wgpu::MemoryHints::Performance,
        trace: wgpu::Trace::Off,
    };
    Ok(pollster::block_on(adapter.request_device(&desc))?)
}

/// Runs `f` inside a validation error scope of `device`.
fn checked<T>(device: &wgpu::Device, what: &str, f: impl FnOnce() -> T) -> Result<T, Error> {
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let t = f();
    match pollster::block_on(scope.pop()) {
        Some(e) => Err(format!("{what}: {e}").into()),
        None => Ok(t),
    }
}

/// The one chunk of a small variable's buffers, as a binding of its byte range.
fn binding(b: &VariableBuffers) -> Result<wgpu::BindingResource<'_>, Error> {
    let [ChunkBuffer { buffer, bytes, .. }] = b.chunks.as_slice() else {
        return Err(format!("expected one chunk, got {}", b.chunks.len()).into());
    };
    Ok(wgpu::BindingResource::Buffer(wgpu::BufferBinding {
        buffer,
        offset: bytes.start,
        size: NonZeroU64::new(bytes.end - bytes.start),
    }))
}

fn storage(binding: u32, read_only: bool) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

/// The data set: `x` uniform in [-1, 1) from a fixed linear congruential generator.
fn data() -> (Vec<f32>, Vec<f32>) {
    let mut state = 0x2545_f491_u32;
    let mut next = || {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (state >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
    };
    let x: Vec<f32> = (0..SAMPLES * W_TRUE.len()).map(|_| next()).collect();
    let y = x.chunks(W_TRUE.len()).map(|r| r.iter().zip(W_TRUE).map(|(a, w)| a * w).sum::<f32>() + B_TRUE).collect();
    (x, y)
}

/// Trains the linear model for `steps` steps on the program's own device on `adapter`.
pub fn run(adapter: &wgpu::Adapter, steps: usize) -> Result<Report, Error> {
    let (device, queue) = open(adapter)?;
    let info = adapter.get_info();

    // varscope's side: the model's variables, on the program's device.
    let graph = Graph::new();
    let linear = graph.scope("linear");
    let w = linear.var("w").shape([W_TRUE.len() as u64]).initializer(Initializer::random_normal(0.0, 0.1)).create()?;
    let b = linear.var("b").shape([1u64]).initializer(Initializer::zeros()).create()?;
    let user = ExternalDevice::new(adapter.clone(), device.clone(), queue.clone());
    let session =
        Session::with_options(&graph, SessionOptions::default().devices(DeviceOptions::default().external(user)))?;
    let mut trainer = Trainer::new(&session, Optimizer::momentum(0.3, 0.9), &[w.clone(), b.clone()])?;
    session.global_variables_initializer()?;
    let grads = Gradients::new(&session, &[w.clone(), b.clone()])?;
    let (wb, bb) = (session.buffers(&w)?, session.buffers(&b)?);
    let (gwb, gbb) = (grads.buffers(&w)?, grads.buffers(&b)?);
    let same_device = wb.device == device && gwb.device == device && wb.queue == queue;

    // The program's side: its own data buffers and pipeline, binding varscope's buffers.
    use wgpu::util::DeviceExt;
    let (x, y) = data();
    let init = |label: &str, contents: &[u8], usage: wgpu::BufferUsages| {
        device.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: Some(label), contents, usage })
    };
    let (pipelines, group, pred, readback) = checked(&device, "pipeline", || {
        let xs = init("x", bytemuck::cast_slice(&x), wgpu::BufferUsages::STORAGE);
        let ys = init("y", bytemuck::cast_slice(&y), wgpu::BufferUsages::STORAGE);
        let dims =
            init("dims", bytemuck::cast_slice(&[SAMPLES as u32, W_TRUE.len() as u32]), wgpu::BufferUsages::UNIFORM);
        let pred = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("pred"),
            size: (SAMPLES * 4) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let readback = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("pred readback"),
            size: (SAMPLES * 4) as u64,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("linear.wgsl"),
            source: wgpu::ShaderSource::Wgsl(SHADER.into()),
        });
        let mut entries: Vec<wgpu::BindGroupLayoutEntry> = (0..7).map(|i| storage(i, i < 4)).collect();
        entries.push(wgpu::BindGroupLayoutEntry {
            binding: 7,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        });
        let layout = device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some("linear"), entries: &entries });
        let pl = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("linear"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = |entry: &str| {
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: Some(&pl),
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            })
        };
        let group = (|| -> Result<wgpu::BindGroup, Error> {
            let resources = [
                xs.as_entire_binding(),
                ys.as_entire_binding(),
                binding(&wb)?,
                binding(&bb)?,
                pred.as_entire_binding(),
                binding(&gwb)?,
                binding(&gbb)?,
                dims.as_entire_binding(),
            ];
            let entries: Vec<wgpu::BindGroupEntry> = resources
                .into_iter()
                .enumerate()
                .map(|(i, resource)| wgpu::BindGroupEntry { binding: i as u32, resource })
                .collect();
            Ok(device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("linear"),
                layout: &layout,
                entries: &entries,
            }))
        })();
        ([pipeline("predict_main"), pipeline("grad_main")], group, pred, readback)
    })?;
    let group = group?;

    // One step: the program's pass (predict, gradients into varscope's buffers), then
    // varscope's optimizer step, both in the program's queue.
    let mut losses = Vec::with_capacity(steps + 1);
    for step in 0..=steps {
        checked(&device, "own pass", || {
            let mut enc = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("linear") });
            {
                let mut pass = enc
                    .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("linear"), timestamp_writes: None });
                pass.set_bind_group(0, &group, &[]);
                pass.set_pipeline(&pipelines[0]);
                pass.dispatch_workgroups(SAMPLES.div_ceil(64) as u32, 1, 1);
                pass.set_pipeline(&pipelines[1]);
                pass.dispatch_workgroups(1, 1, 1);
            }
            enc.copy_buffer_to_buffer(&pred, 0, &readback, 0, (SAMPLES * 4) as u64);
            queue.submit([enc.finish()]);
        })?;
        losses.push(mse(&device, &readback, &y)?);
        if step < steps {
            trainer.apply_gradients(&grads)?;
        }
    }
    let (wv, bv) = (session.read_f32(&w)?, session.read_f32(&b)?);
    let max_error = wv.iter().zip(W_TRUE).map(|(a, t)| (a - t).abs()).fold((bv[0] - B_TRUE).abs(), f32::max);
    Ok(Report {
        device: wb.device_name.clone(),
        adapter: format!("{} ({:?})", info.name, info.backend),
        same_device,
        losses,
        max_error,
    })
}

/// Mean squared error of the predictions in `readback` (mapped by the program).
fn mse(device: &wgpu::Device, readback: &wgpu::Buffer, y: &[f32]) -> Result<f32, Error> {
    let slice = readback.slice(..);
    let (tx, rx) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    device.poll(wgpu::PollType::wait_indefinitely())?;
    let mapped = rx.recv()?;
    mapped?;
    let loss = {
        let view = slice.get_mapped_range()?;
        let pred: &[f32] = bytemuck::cast_slice(&view);
        pred.iter().zip(y).map(|(p, t)| (p - t) * (p - t)).sum::<f32>() / y.len() as f32
    };
    readback.unmap();
    Ok(loss)
}

#[allow(dead_code)]
fn main() {
    let steps = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(300);
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all());
    let instance = wgpu::Instance::new(desc);
    let Ok(adapter) = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default())) else {
        eprintln!("no wgpu adapter");
        std::process::exit(1);
    };
    match run(&adapter, steps) {
        Ok(r) => {
            println!("{} = the program's device on {}; varscope buffers on it: {}", r.device, r.adapter, r.same_device);
            for (i, l) in r.losses.iter().enumerate().filter(|(i, _)| i % 50 == 0) {
                println!("step {i:4}  mse {l:.3e}");
            }
            println!("final mse {:.3e}, max |weight error| {:.3e}", r.losses[r.losses.len() - 1], r.max_error);
        }
        Err(e) => {
            eprintln!("failed: {e}");
            std::process::exit(1);
        }
    }
}
