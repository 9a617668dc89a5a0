//! Initialization: which variables run on the host (reference kernels) and which on a
//! GPU (the descriptor-table init kernel of `varscope-shaders`), and the one submission
//! per device.
//!
//! - `/cpu:0`: [`varscope_core::reference::initial_bytes`] directly.
//! - GPU devices: every variable whose kernel [`varscope_core::reference::kernel_params`]
//!   describes (fills, identity, uniform, normal, truncated normal; float32, float16,
//!   bfloat16, int32, uint32, bool) becomes one descriptor row per chunk. Rows are
//!   grouped by (output buffer, kind) (a buffer is a slab of small variables, or one
//!   chunk of a large variable): one `init_main` dispatch per group with the pipeline of
//!   that kind (`INIT_KIND`), all in one compute pass of one submission. A fill of a
//!   whole buffer is a `clear_buffer` (zero) or the plain fill kernel (`fill_main`). Everything else (constant lists, orthogonal,
//!   host closures, constants, float64/int64) is computed on the host with the
//!   reference and uploaded in the same submission.

use std::collections::HashMap;
use std::sync::Arc;

use varscope_core::reference::{self, KernelParams};
use varscope_core::{InitKernel, InitialValue, Variable};
use varscope_shaders::{Binding, InitDesc, InitParams, Shader};

use crate::device::{DeviceInfo, Gpu};
use crate::error::{GpuError, Result};
use crate::layout;
use crate::pool::{scoped, Pool, Use};
use crate::session::{State, Storage};

/// How one variable gets its first value.
pub(crate) enum InitJob {
    /// Canonical host bytes computed by the reference.
    Host(Vec<u8>),
    /// A device kernel.
    Kernel(KernelParams),
}

/// A compiled kernel: pipeline and its bind group layout.
pub(crate) struct Kernel {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

/// Compute pipelines and bind group layouts of every registered shader, cached by
/// (device, shader, values of [`Shader::overrides`]): the init shader has one pipeline
/// per (kind, layout), the optimizer one per (kind, buffer map), and so on. One cache per
/// session, shared by initializers, fills, updates and optimizer steps.
#[derive(Default)]
pub(crate) struct KernelCache {
    kernels: HashMap<KernelKey, Arc<Kernel>>,
}

/// (device, shader, override values in [`Shader::overrides`] order).
type KernelKey = (usize, Shader, Vec<u32>);

/// One init dispatch: its descriptor table and parameters (pool buffers), workgroup
/// counts, output buffer and (kind, layout) pipeline.
struct Dispatch {
    table: wgpu::Buffer,
    params: wgpu::Buffer,
    size: [u32; 3],
    out: wgpu::Buffer,
    pipeline: (u32, u32),
}

fn storage_entry(binding: u32, read_only: bool) -> wgpu::BindGroupLayoutEntry {
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

fn uniform_entry(binding: u32) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer { ty: wgpu::BufferBindingType::Uniform, has_dynamic_offset: false, min_binding_size: None },
        count: None,
    }
}

impl KernelCache {
    /// The kernel of `shader` on device `dev` with its overrides set to `values` (in
    /// [`Shader::overrides`] order), built (inside an error scope) on first use.
    pub fn get(&mut self, gpu: &Gpu, info: &DeviceInfo, dev: usize, shader: Shader, values: &[u32]) -> Result<Arc<Kernel>> {
        let key = (dev, shader, values.to_vec());
        if let Some(k) = self.kernels.get(&key) {
            return Ok(k.clone());
        }
        let entries: Vec<wgpu::BindGroupLayoutEntry> = shader
            .bindings()
            .iter()
            .enumerate()
            .map(|(i, b)| match b {
                Binding::Storage { read_only } => storage_entry(i as u32, *read_only),
                Binding::Uniform => uniform_entry(i as u32),
            })
            .collect();
        let constants: Vec<(&str, f64)> =
            shader.overrides().iter().zip(values).map(|(n, v)| (*n, f64::from(*v))).collect();
        let k = Arc::new(compile(gpu, info, shader.label(), shader.source(), shader.entry_point(), &entries, &constants)?);
        self.kernels.insert(key, k.clone());
        Ok(k)
    }
}

/// Builds a shader module, bind group layout and compute pipeline inside wgpu error
/// scopes; any validation, out-of-memory or internal error becomes
/// [`GpuError::Shader`] naming `label`.
pub(crate) fn compile(
    gpu: &Gpu,
    info: &DeviceInfo,
    label: &str,
    source: &str,
    entry: &str,
    entries: &[wgpu::BindGroupLayoutEntry],
    constants: &[(&str, f64)],
) -> Result<Kernel> {
    scoped(gpu, || {
        let module = gpu.device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(label),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let layout = gpu.device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some(label), entries });
        let pl = gpu.device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(label),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = gpu.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(label),
            layout: Some(&pl),
            module: &module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions { constants, ..Default::default() },
            cache: None,
        });
        Kernel { pipeline, layout }
    })
    .map_err(|message| GpuError::Shader { label: label.to_string(), device: info.name.clone(), message })
}

fn init_name(v: &Variable) -> String {
    match v.initial_value() {
        InitialValue::Initializer { initializer, .. } => initializer.kind_name(),
        InitialValue::Constant(_) => "constant".into(),
    }
}

fn init_err(v: &Variable, message: String) -> GpuError {
    GpuError::Initializer { variable: v.key().to_string(), initializer: init_name(v), message }
}

/// The reference values of a variable (canonical host bytes).
pub(crate) fn host_bytes(v: &Variable) -> Result<Vec<u8>> {
    let bytes = parallel_initial_bytes(v)?;
    let want = v.nbytes().unwrap_or(0);
    if bytes.len() as u64 != want {
        return Err(init_err(v, format!("produced {} bytes, the variable holds {want}", bytes.len())));
    }
    Ok(bytes)
}

/// [`reference::initial_bytes`], split over the host's cores for large variables
/// (elementwise kernels only: every element depends only on its index, so ranges
/// computed apart concatenate to the same bytes).
fn parallel_initial_bytes(v: &Variable) -> Result<Vec<u8>> {
    let n = v.num_elements().unwrap_or(0);
    // Checked first: `available_parallelism` reads cgroup files (tens of microseconds).
    if n < (1 << 18) {
        return reference::initial_bytes(v).map_err(|e| init_err(v, e.to_string()));
    }
    let threads = host_threads();
    let elementwise = matches!(
        v.initial_value().kernel(),
        Some(InitKernel::Fill(_) | InitKernel::Uniform { .. } | InitKernel::Normal { .. } | InitKernel::TruncatedNormal { .. })
    );
    if threads < 2 || n < (1 << 18) || !elementwise {
        return reference::initial_bytes(v).map_err(|e| init_err(v, e.to_string()));
    }
    let per = n.div_ceil(threads).div_ceil(4) * 4;
    let parts: Vec<std::result::Result<Vec<u8>, reference::ReferenceError>> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..threads)
            .map(|i| (i * per, per.min(n.saturating_sub(i * per))))
            .filter(|(_, c)| *c > 0)
            .map(|(start, count)| sc.spawn(move || reference::initial_bytes_range(v, start, count)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Ok(Vec::new()))).collect()
    });
    let mut out = Vec::with_capacity(v.nbytes().unwrap_or(0) as usize);
    for p in parts {
        out.extend(p.map_err(|e| init_err(v, e.to_string()))?);
    }
    Ok(out)
}

/// Decides how `v` is initialized on a GPU (`gpu`) or the host, computing host values now
/// (so failures happen before anything is allocated).
pub(crate) fn plan(v: &Variable, gpu: bool) -> Result<InitJob> {
    if gpu {
        if let Some(p) = reference::kernel_params(v).map_err(|e| init_err(v, e.to_string()))? {
            return Ok(InitJob::Kernel(p));
        }
    }
    Ok(InitJob::Host(host_bytes(v)?))
}

/// [`plan`] for many variables, over the host's cores when there is enough host work
/// (many small variables on `/cpu:0`, or host-computed kernels). The first error in
/// `vars` order wins.
pub(crate) fn plan_all(vars: &[Variable], gpu: bool) -> Result<Vec<InitJob>> {
    let threads = host_threads();
    let elements: u64 = vars.iter().map(|v| v.num_elements().unwrap_or(0)).sum();
    if threads < 2 || vars.len() < 2 || elements < (1 << 18) {
        return vars.iter().map(|v| plan(v, gpu)).collect();
    }
    let per = vars.len().div_ceil(threads as usize);
    let parts: Vec<Result<Vec<InitJob>>> = std::thread::scope(|sc| {
        let handles: Vec<_> =
            vars.chunks(per).map(|part| sc.spawn(move || part.iter().map(|v| plan(v, gpu)).collect())).collect();
        handles
            .into_iter()
            .zip(vars.chunks(per))
            .map(|(h, part)| h.join().unwrap_or_else(|_| Err(init_err(&part[0], "host initializer panicked".into()))))
            .collect()
    });
    let mut out = Vec::with_capacity(vars.len());
    for p in parts {
        out.extend(p?);
    }
    Ok(out)
}

/// Cores for host-side kernels (cached: `available_parallelism` reads cgroup files).
fn host_threads() -> u64 {
    static THREADS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |t| t.get()) as u64)
}

fn lo(x: u64) -> u32 {
    x as u32
}
fn hi(x: u64) -> u32 {
    (x >> 32) as u32
}

/// Initializes the variables `vars` (already materialized on `gpu`) in one submission.
pub(crate) fn run_gpu(
    gpu: &Gpu,
    info: &DeviceInfo,
    dev: usize,
    st: &mut State,
    vars: &[Variable],
    jobs: Vec<InitJob>,
) -> Result<()> {
    let wgpu_err = |message: String| GpuError::Wgpu { device: info.name.clone(), operation: "initialize variables".into(), message };
    // Rows grouped by output buffer, in first-seen order.
    let mut groups: Vec<(wgpu::Buffer, u32, Vec<InitDesc>)> = Vec::new();
    let mut group_of: HashMap<(*const wgpu::Buffer, u32), usize> = HashMap::new();
    let mut clears: Vec<wgpu::Buffer> = Vec::new();
    let mut fills: Vec<(wgpu::Buffer, u32, u32)> = Vec::new();
    let mut uploads: Vec<(wgpu::Buffer, u64, Vec<u8>)> = Vec::new();
    for (v, job) in vars.iter().zip(jobs) {
        let Some(e) = st.vars.get(&v.id()) else { continue };
        let Storage::Gpu(chunks) = &e.storage else { continue };
        match job {
            InitJob::Host(bytes) => {
                let eb = v.dtype().size_bytes();
                for c in chunks {
                    let host = &bytes[c.start as usize * eb..(c.start + c.count) as usize * eb];
                    let d = layout::host_to_device(v.dtype(), host);
                    if !d.is_empty() {
                        uploads.push((c.buf.buffer.clone(), c.offset, d));
                    }
                }
            }
            InitJob::Kernel(p) => {
                for c in chunks {
                    if c.count == 0 {
                        continue;
                    }
                    let whole = c.offset == 0 && c.bytes == c.buf.buffer.size() && Arc::strong_count(&c.buf) == 1;
                    if p.kind == reference::codes::KIND_FILL && whole {
                        let packed = varscope_shaders::is_packed16(p.dtype);
                        if p.p0 == 0 {
                            clears.push(c.buf.buffer.clone());
                            continue;
                        }
                        if !packed || c.count % 2 == 0 {
                            // The plain fill kernel: the roofline itself.
                            let word = if packed { (p.p0 & 0xffff) | (p.p0 << 16) } else { p.p0 };
                            fills.push((c.buf.buffer.clone(), (c.bytes / 4) as u32, word));
                            continue;
                        }
                    }
                    let key = (Arc::as_ptr(&c.buf) as *const wgpu::Buffer, p.kind);
                    let g = *group_of.entry(key).or_insert_with(|| {
                        groups.push((c.buf.buffer.clone(), p.kind, Vec::new()));
                        groups.len() - 1
                    });
                    groups[g].2.push(InitDesc {
                        kind: p.kind,
                        dtype: p.dtype,
                        out_offset: (c.offset / 4) as u32,
                        count: c.count as u32,
                        first: c.start as u32,
                        item_start: 0,
                        own_block: p.own_block,
                        full_block_lo: lo(p.full_block),
                        full_block_hi: hi(p.full_block),
                        base_lo: lo(p.base),
                        base_hi: hi(p.base),
                        cols: p.cols,
                        key0: p.key[0],
                        key1: p.key[1],
                        p0: p.p0,
                        p1: p.p1,
                    });
                }
            }
        }
    }
    // One pipeline per (kind, layout) present; dispatches sorted by it. A group's layout
    // class is the most general of its rows' (fills and identity ignore it).
    let mut groups: Vec<(wgpu::Buffer, (u32, u32), Vec<InitDesc>)> = groups
        .into_iter()
        .map(|(out, kind, rows)| {
            let layout = if kind == reference::codes::KIND_FILL || kind == reference::codes::KIND_IDENTITY {
                varscope_shaders::LAYOUT_ALIGNED
            } else {
                rows.iter().map(varscope_shaders::row_layout).max().unwrap_or(varscope_shaders::LAYOUT_GENERAL)
            };
            (out, (kind, layout), rows)
        })
        .collect();
    groups.sort_by_key(|g| g.1);
    let mut kernels: HashMap<(u32, u32), Arc<Kernel>> = HashMap::new();
    for (_, kl, _) in &groups {
        if !kernels.contains_key(kl) {
            kernels.insert(*kl, st.kernels.get(gpu, info, dev, Shader::Init, &[kl.0, kl.1])?);
        }
    }
    let fill_kernel = if fills.is_empty() { None } else { Some(st.kernels.get(gpu, info, dev, Shader::Fill, &[])?) };
    let mut fill_params: Vec<wgpu::Buffer> = Vec::new();
    for (_, words, value) in &fills {
        match st.pool.acquire(gpu, dev, Use::Params, 16) {
            Ok(b) => {
                let fp = varscope_shaders::FillParams { offset: 0, count: *words, value: *value, _pad: 0 };
                gpu.queue.write_buffer(&b, 0, bytemuck::bytes_of(&fp));
                fill_params.push(b);
            }
            Err(m) => {
                for b in fill_params {
                    st.pool.recycle(dev, Use::Params, b);
                }
                return Err(wgpu_err(m));
            }
        }
    }
    // Per dispatch: a descriptor table and a parameter block from the pool.
    let mut tables: Vec<Dispatch> = Vec::new();
    let pool: &mut Pool = &mut st.pool;
    let mut failed = None;
    for (out, kind, rows) in &mut groups {
        let Some(total) = varscope_shaders::assign_item_starts(rows) else {
            failed = Some(format!("{} rows need more than 2^32 work items", rows.len()));
            break;
        };
        let table_bytes: &[u8] = bytemuck::cast_slice(rows);
        let table = match pool.acquire(gpu, dev, Use::Params, table_bytes.len() as u64) {
            Ok(b) => b,
            Err(m) => {
                failed = Some(m);
                break;
            }
        };
        let params = match pool.acquire(gpu, dev, Use::Params, std::mem::size_of::<InitParams>() as u64) {
            Ok(b) => b,
            Err(m) => {
                pool.recycle(dev, Use::Params, table);
                failed = Some(m);
                break;
            }
        };
        gpu.queue.write_buffer(&table, 0, table_bytes);
        gpu.queue.write_buffer(&params, 0, bytemuck::bytes_of(&InitParams::new(rows.len() as u32, total)));
        tables.push(Dispatch { table, params, size: varscope_shaders::dispatch_size(total), out: out.clone(), pipeline: *kind });
    }
    let recycle = |pool: &mut Pool, tables: Vec<Dispatch>| {
        for d in tables {
            pool.recycle(dev, Use::Params, d.table);
            pool.recycle(dev, Use::Params, d.params);
        }
    };
    if let Some(m) = failed {
        recycle(pool, tables);
        for b in fill_params {
            pool.recycle(dev, Use::Params, b);
        }
        return Err(wgpu_err(m));
    }
    let r = scoped(gpu, || {
        for (buf, offset, bytes) in &uploads {
            gpu.queue.write_buffer(buf, *offset, bytes);
        }
        let mut enc = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("varscope init") });
        for b in &clears {
            enc.clear_buffer(b, 0, None);
        }
        if let Some(k) = &fill_kernel {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("varscope fill"), timestamp_writes: None });
            pass.set_pipeline(&k.pipeline);
            for ((out, words, _), params) in fills.iter().zip(&fill_params) {
                let bg = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("varscope fill"),
                    layout: &k.layout,
                    entries: &[
                        wgpu::BindGroupEntry { binding: 0, resource: out.as_entire_binding() },
                        wgpu::BindGroupEntry { binding: 1, resource: params.as_entire_binding() },
                    ],
                });
                pass.set_bind_group(0, &bg, &[]);
                let [x, y, z] = varscope_shaders::dispatch_size(*words);
                if x > 0 {
                    pass.dispatch_workgroups(x, y, z);
                }
            }
        }
        if !tables.is_empty() {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("varscope init"), timestamp_writes: None });
            let mut current = None;
            for Dispatch { table, params, size, out, pipeline } in &tables {
                if size[0] == 0 {
                    continue;
                }
                let k = &kernels[pipeline];
                if current != Some(*pipeline) {
                    pass.set_pipeline(&k.pipeline);
                    current = Some(*pipeline);
                }
                let bg = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("varscope init"),
                    layout: &k.layout,
                    entries: &[
                        wgpu::BindGroupEntry { binding: 0, resource: table.as_entire_binding() },
                        wgpu::BindGroupEntry { binding: 1, resource: out.as_entire_binding() },
                        wgpu::BindGroupEntry { binding: 2, resource: params.as_entire_binding() },
                    ],
                });
                pass.set_bind_group(0, &bg, &[]);
                pass.dispatch_workgroups(size[0], size[1], size[2]);
            }
        }
        gpu.queue.submit([enc.finish()]);
    });
    recycle(&mut st.pool, tables);
    for b in fill_params {
        st.pool.recycle(dev, Use::Params, b);
    }
    r.map_err(wgpu_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::open_adapters;

    fn adapters() -> Vec<(DeviceInfo, Gpu)> {
        let (a, _skipped) = open_adapters(wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all()), u64::MAX);
        if a.is_empty() {
            assert!(std::env::var("VARSCOPE_REQUIRE_GPU").as_deref() != Ok("1"), "VARSCOPE_REQUIRE_GPU=1 but no adapter");
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "SKIP: no GPU adapter");
        }
        a
    }

    #[test]
    fn every_registered_shader_builds_on_every_adapter() {
        for (i, (info, gpu)) in adapters().iter().enumerate() {
            let mut cache = KernelCache::default();
            // Every shader of the one registry, with each override variant a session uses.
            let mut all: Vec<(Shader, Vec<u32>)> = varscope_shaders::INIT_KINDS
                .iter()
                .flat_map(|&k| varscope_shaders::INIT_LAYOUTS.iter().map(move |&l| (Shader::Init, vec![k, l])))
                .collect();
            all.extend([Shader::Fill, Shader::PhiloxKat, Shader::Norm, Shader::Reduce].map(|s| (s, vec![])));
            all.extend(varscope_shaders::OPT_KINDS.iter().map(|&k| (Shader::Optim, vec![k, 0, 1, 2, 3])));
            all.extend(varscope_shaders::UPDATE_OPS.iter().map(|&op| (Shader::Update, vec![op])));
            assert!(Shader::ALL.iter().all(|s| all.iter().any(|(t, _)| t == s)), "a registered shader is not built here");
            for (shader, kind) in all {
                cache
                    .get(gpu, info, i + 1, shader, &kind)
                    .unwrap_or_else(|e| panic!("[{} {}] {} {kind:?}: {e}", info.name, info.adapter_name, shader.label()));
            }
        }
    }

    #[test]
    fn a_broken_shader_is_a_typed_error_naming_it() {
        for (info, gpu) in adapters() {
            let broken = "@compute @workgroup_size(64) fn main() { let x: u32 = 1.5; }";
            match compile(&gpu, &info, "test/broken.wgsl", broken, "main", &[], &[]) {
                Err(GpuError::Shader { label, device, message }) => {
                    assert_eq!(label, "test/broken.wgsl");
                    assert_eq!(device, info.name);
                    assert!(!message.is_empty());
                }
                Err(e) => panic!("[{} {}] unexpected {e:?}", info.name, info.adapter_name),
                Ok(_) => panic!("[{} {}] a broken shader compiled", info.name, info.adapter_name),
            }
            // A wrong entry point fails at pipeline creation, also inside the scope.
            let ok = "@compute @workgroup_size(64) fn main() {}";
            assert!(matches!(compile(&gpu, &info, "test/entry.wgsl", ok, "nope", &[], &[]), Err(GpuError::Shader { .. })));
            assert!(compile(&gpu, &info, "test/ok.wgsl", ok, "main", &[], &[]).is_ok(), "[{}]", info.name);
        }
    }
}
