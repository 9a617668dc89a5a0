//! The passes on a GPU: the example's WGSL kernels (`mlp.wgsl`), bound to the variables'
//! buffers, the gradient buffers and scratch buffers from the session's pool. Every wgpu
//! call runs inside the session's error scopes ([`Session::error_scope`]); the loss
//! statistics come back through the session's readback ([`Session::read_scratch`]).

use std::num::NonZeroU64;

use varscope_gpu::{GpuError, Gradients, ScratchBuffer, Session, VariableBuffers};

use crate::{Data, Model, Passes, TrainConfig, TrainError, CLASSES};

const SHADER_LABEL: &str = "examples/mlp/src/mlp.wgsl";
const SHADER: &str = include_str!("mlp.wgsl");

/// Workgroup width of every entry point (`WORKGROUP_SIZE` in the shader).
const WORKGROUP_SIZE: u32 = 64;

/// An entry point and the bindings it uses in groups 0 (scratch buffers: data and
/// activations), 1 (variables, in [`Model::vars`] order) and 2 (their gradients).
struct Entry {
    name: &'static str,
    groups: [&'static [u32]; 3],
}

/// The passes, in dispatch order.
const ENTRIES: [Entry; 8] = [
    Entry { name: "fwd_tower", groups: [&[1, 2, 4, 5], &[0, 1], &[]] },
    Entry { name: "fwd_hidden", groups: [&[4, 5, 6], &[2, 3, 4], &[]] },
    Entry { name: "fwd_output", groups: [&[3, 6, 7, 8], &[5, 6], &[]] },
    Entry { name: "bwd_output", groups: [&[6, 7], &[], &[5, 6]] },
    Entry { name: "bwd_hidden_act", groups: [&[6, 7, 9], &[5], &[]] },
    Entry { name: "bwd_hidden", groups: [&[4, 5, 9], &[2, 3], &[2, 3, 4]] },
    Entry { name: "bwd_tower_act", groups: [&[4, 5, 9, 10, 11], &[2, 3], &[]] },
    Entry { name: "bwd_tower", groups: [&[1, 2, 10, 11], &[], &[0, 1]] },
];

/// Binding of the per-point statistics (loss, correct) in group 0.
const STATS_BINDING: u32 = 8;

/// The built pipelines and bind groups, and the scratch buffers they bind.
pub(crate) struct GpuPasses {
    device_name: String,
    /// (pipeline, bind groups, invocations) per entry, in order.
    steps: Vec<(wgpu::ComputePipeline, Vec<wgpu::BindGroup>, u32)>,
    /// Group 0's buffers by binding number (index 0 unused); kept alive for the bind groups.
    scratch: Vec<Option<ScratchBuffer>>,
    n: usize,
}

/// A binding of one single-chunk varscope buffer range.
fn range_binding<'a>(b: &'a VariableBuffers, variable: &str) -> Result<wgpu::BufferBinding<'a>, TrainError> {
    match b.chunks.as_slice() {
        [c] => Ok(wgpu::BufferBinding {
            buffer: &c.buffer,
            offset: c.bytes.start,
            size: NonZeroU64::new(c.bytes.end - c.bytes.start),
        }),
        _ => Err(TrainError::Chunked {
            variable: variable.to_string(),
            chunks: b.chunks.len(),
            device: b.device_name.clone(),
        }),
    }
}

/// Turns a wgpu error caught while building the shader into [`TrainError::Shader`].
fn shader_error(entry: &str) -> impl Fn(GpuError) -> TrainError + '_ {
    move |e| match e {
        GpuError::Wgpu { device, message, .. } => {
            TrainError::Shader { label: SHADER_LABEL.into(), entry: entry.into(), device, message }
        }
        other => TrainError::Gpu(other),
    }
}

impl GpuPasses {
    pub fn new(
        s: &Session,
        device: &str,
        m: &Model,
        grads: &Gradients,
        c: &TrainConfig,
        data: Data,
    ) -> Result<Self, TrainError> {
        let vars = m.vars();
        let vb: Vec<VariableBuffers> = vars.iter().map(|v| s.buffers(v)).collect::<Result<_, _>>()?;
        let gb: Vec<VariableBuffers> = vars.iter().map(|v| grads.buffers(v)).collect::<Result<_, _>>()?;
        let n = data.labels.len();
        let (h, h2) = (c.tower_units, c.hidden_units);
        let upload = |label: &str, bytes: &[u8]| -> Result<ScratchBuffer, GpuError> {
            let b = s.scratch_buffer(device, label, bytes.len() as u64)?;
            s.write_scratch(&b, 0, bytes)?;
            Ok(b)
        };
        let zeroed = |label: &str, floats: usize| s.scratch_buffer(device, label, (floats * 4) as u64);
        let scratch = vec![
            None,
            Some(upload("mlp xa", bytemuck::cast_slice(&data.xa))?),
            Some(upload("mlp xb", bytemuck::cast_slice(&data.xb))?),
            Some(upload("mlp labels", bytemuck::cast_slice(&data.labels))?),
            Some(zeroed("mlp ha", n * h)?),
            Some(zeroed("mlp hb", n * h)?),
            Some(zeroed("mlp z", n * h2)?),
            Some(zeroed("mlp dlog", n * CLASSES)?),
            Some(zeroed("mlp stats", n * 2)?),
            Some(zeroed("mlp dz", n * h2)?),
            Some(zeroed("mlp dha", n * h)?),
            Some(zeroed("mlp dhb", n * h)?),
        ];
        let module = s
            .error_scope(device, "create the MLP shader module", |d, _| {
                d.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(SHADER_LABEL),
                    source: wgpu::ShaderSource::Wgsl(SHADER.into()),
                })
            })
            .map_err(shader_error("(module)"))?;
        // Sizes and scalars as the shader's override constants (f32 values exactly
        // representable, so the device sees the host's bits).
        let constants: [(&str, f64); 6] = [
            ("DIM_N", n as f64),
            ("DIM_H", h as f64),
            ("DIM_H2", h2 as f64),
            ("DIM_C", CLASSES as f64),
            ("L2", f64::from(c.l2 as f32)),
            ("INV_N", f64::from(1.0 / n as f32)),
        ];
        let invocations = |name: &str| -> u32 {
            (match name {
                "fwd_tower" | "bwd_tower_act" => n * h,
                "fwd_hidden" | "bwd_hidden_act" => n * h2,
                "fwd_output" => n,
                "bwd_output" => h2 * CLASSES + CLASSES,
                "bwd_hidden" => h * h2 + h2,
                _ => 2 * h + h,
            }) as u32
        };
        let mut steps = Vec::new();
        for e in &ENTRIES {
            let pipeline = s
                .error_scope(device, e.name, |d, _| {
                    d.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                        label: Some(e.name),
                        layout: None,
                        module: &module,
                        entry_point: Some(e.name),
                        compilation_options: wgpu::PipelineCompilationOptions {
                            constants: &constants,
                            zero_initialize_workgroup_memory: true,
                        },
                        cache: None,
                    })
                })
                .map_err(shader_error(e.name))?;
            let last = e.groups.iter().rposition(|g| !g.is_empty()).unwrap_or(0);
            let mut groups = Vec::new();
            for (gi, bindings) in e.groups.iter().enumerate().take(last + 1) {
                let mut entries = Vec::new();
                for &b in bindings.iter() {
                    let i = b as usize;
                    let resource = match gi {
                        0 => match scratch.get(i).and_then(Option::as_ref) {
                            Some(buf) => buf.as_entire_binding(),
                            None => {
                                return Err(TrainError::Model {
                                    variable: format!("binding {b}"),
                                    expected: "a scratch buffer",
                                })
                            }
                        },
                        1 => wgpu::BindingResource::Buffer(range_binding(&vb[i], vars[i].key())?),
                        _ => wgpu::BindingResource::Buffer(range_binding(&gb[i], vars[i].key())?),
                    };
                    entries.push(wgpu::BindGroupEntry { binding: b, resource });
                }
                let bg = s.error_scope(device, &format!("bind group {gi} of {}", e.name), |d, _| {
                    d.create_bind_group(&wgpu::BindGroupDescriptor {
                        label: Some(e.name),
                        layout: &pipeline.get_bind_group_layout(gi as u32),
                        entries: &entries,
                    })
                })?;
                groups.push(bg);
            }
            steps.push((pipeline, groups, invocations(e.name)));
        }
        Ok(GpuPasses { device_name: device.to_string(), steps, scratch, n })
    }
}

impl Passes for GpuPasses {
    fn forward_backward(
        &mut self,
        s: &Session,
        _m: &Model,
        _g: &Gradients,
        want: bool,
    ) -> Result<Option<(f32, f32)>, TrainError> {
        s.error_scope(&self.device_name, "MLP forward/backward", |device, queue| {
            let mut enc = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("mlp step") });
            {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("mlp step"),
                    timestamp_writes: None,
                });
                for (p, groups, inv) in &self.steps {
                    pass.set_pipeline(p);
                    for (i, g) in groups.iter().enumerate() {
                        pass.set_bind_group(i as u32, g, &[]);
                    }
                    pass.dispatch_workgroups(inv.div_ceil(WORKGROUP_SIZE), 1, 1);
                }
            }
            queue.submit([enc.finish()]);
        })?;
        if !want {
            return Ok(None);
        }
        let Some(stats) = self.scratch.get(STATS_BINDING as usize).and_then(Option::as_ref) else {
            return Err(TrainError::Model { variable: "mlp stats".into(), expected: "a scratch buffer" });
        };
        let bytes = s.read_scratch(stats, 0..(self.n * 8) as u64)?;
        let v: Vec<f32> = bytes.chunks_exact(4).map(|w| f32::from_le_bytes([w[0], w[1], w[2], w[3]])).collect();
        let (mut loss, mut correct) = (0.0f64, 0.0f64);
        for p in v.chunks_exact(2) {
            loss += f64::from(p[0]);
            correct += f64::from(p[1]);
        }
        Ok(Some(((loss / self.n as f64) as f32, (correct / self.n as f64) as f32)))
    }
}
