//! The session: devices, placement, materialization, initialization, reads and writes.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

use varscope_core::{DType, DeviceKind, DeviceName, Graph, PartitionedVariable, Variable};

use crate::device::{self, DeviceInfo, Gpu};
use crate::error::{GpuError, Result};
use crate::init::{self, InitJob};
use crate::layout;
use crate::pool::{scoped, Pool, Use, VarBuffer};
use crate::sync;
use crate::values::HostValues;

/// Environment variable that overrides the default device (`/cpu:0`, `/gpu:1`, any TF
/// spelling). [`SessionOptions::default_device`] takes precedence over it.
pub const DEFAULT_DEVICE_ENV: &str = "VARSCOPE_DEFAULT_DEVICE";

/// Options of [`Session::with_options`]. Build with the setters from `default()`.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    backends: wgpu::Backends,
    default_device: Option<String>,
    max_chunk_bytes: Option<u64>,
    memory_limit: Option<u64>,
    pool_cache_bytes: u64,
    devices: device::DeviceOptions,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            backends: wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all()),
            default_device: None,
            max_chunk_bytes: None,
            memory_limit: None,
            pool_cache_bytes: 64 << 20,
            devices: device::DeviceOptions::default(),
        }
    }
}

impl SessionOptions {
    /// The wgpu backends whose adapters become `/gpu:N` (default: wgpu's `WGPU_BACKEND`
    /// environment variable, else all; `wgpu::Backends::empty()` gives a session with
    /// `/cpu:0` only).
    pub fn backends(mut self, backends: wgpu::Backends) -> Self {
        self.backends = backends;
        self
    }
    /// Forces the default device (over [`DEFAULT_DEVICE_ENV`] and the automatic choice).
    pub fn default_device(mut self, device: impl Into<String>) -> Self {
        self.default_device = Some(device.into());
        self
    }
    /// Caps the chunk size of every variable on every GPU device (bytes; rounded to whole
    /// chunks of 64 elements). For tests of chunked variables.
    pub fn max_chunk_bytes(mut self, bytes: u64) -> Self {
        self.max_chunk_bytes = Some(bytes);
        self
    }
    /// Bytes each device may hold in total (default: the host's physical memory, since
    /// wgpu does not report device memory).
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = Some(bytes);
        self
    }
    /// Bytes of staging and parameter buffers the pool keeps for reuse (default 64 MiB).
    pub fn pool_cache_bytes(mut self, bytes: u64) -> Self {
        self.pool_cache_bytes = bytes;
        self
    }
    /// Devices the user already has, and capabilities masked off the adapters the
    /// session opens itself ([`crate::DeviceOptions`]).
    pub fn devices(mut self, devices: device::DeviceOptions) -> Self {
        self.devices = devices;
        self
    }
}

/// One chunk of a variable on a GPU device: `bytes` bytes at `offset` of a buffer.
pub(crate) struct Chunk {
    pub buf: Arc<VarBuffer>,
    /// Byte offset in the buffer (0 unless the buffer is a slab).
    pub offset: u64,
    /// First element.
    pub start: u64,
    /// Elements.
    pub count: u64,
    /// Bytes used (word aligned; the buffer may be larger for empty chunks).
    pub bytes: u64,
}

pub(crate) enum Storage {
    /// `/cpu:0`: canonical host bytes.
    Host(Vec<u8>),
    /// A GPU device: chunk buffers in element order.
    Gpu(Vec<Chunk>),
}

pub(crate) struct Entry {
    pub device: usize,
    pub storage: Storage,
    pub bytes: u64,
    pub initialized: bool,
}

pub(crate) struct State {
    pub vars: HashMap<u64, Entry>,
    pub pool: Pool,
    pub kernels: init::KernelCache,
}

/// A variable's chunk buffer, for user kernels.
#[derive(Clone, Debug)]
pub struct ChunkBuffer {
    /// The buffer (STORAGE | COPY_SRC | COPY_DST), labeled with the variable's name.
    pub buffer: wgpu::Buffer,
    /// The variable's elements it holds (row-major flat indices).
    pub elements: std::ops::Range<u64>,
    /// The bytes of `buffer` that hold them. Small variables share a buffer (a slab):
    /// `bytes.start` is then a multiple of the device's
    /// `min_storage_buffer_offset_alignment`, so it can be a binding offset.
    pub bytes: std::ops::Range<u64>,
}

/// Everything a user kernel needs to bind a variable: its chunk buffers, and the
/// device and queue they live on. The handles are clones; the buffers stay valid until
/// the variable is released or the session dropped.
#[derive(Clone, Debug)]
pub struct VariableBuffers {
    /// `/gpu:N`.
    pub device_name: String,
    /// The variable's dtype (see [`crate::layout`] for its device layout).
    pub dtype: DType,
    /// The wgpu device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// The chunks, in element order (one unless the variable exceeds the binding limit).
    pub chunks: Vec<ChunkBuffer>,
}

/// A TensorFlow session over one graph: owns the devices and the variables' buffers.
///
/// The API is synchronous and takes `&self`; a session can be shared between threads.
/// Device index 0 is `/cpu:0`, index `n + 1` is `/gpu:n`.
pub struct Session<'g> {
    graph: &'g Graph,
    devices: Vec<DeviceInfo>,
    skipped_adapters: Vec<GpuError>,
    gpus: Vec<Gpu>,
    default_device: usize,
    max_chunk_bytes: Option<u64>,
    state: Mutex<State>,
}

impl std::fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("devices", &self.devices.iter().map(|d| &d.name).collect::<Vec<_>>())
            .field("default_device", &self.devices[self.default_device].name)
            .finish()
    }
}

fn shape_str(v: &Variable) -> String {
    v.shape().to_string()
}

impl<'g> Session<'g> {
    /// A session over `graph` with every adapter wgpu finds, and `/cpu:0`.
    pub fn new(graph: &'g Graph) -> Result<Self> {
        Self::with_options(graph, SessionOptions::default())
    }

    /// A session with options.
    pub fn with_options(graph: &'g Graph, options: SessionOptions) -> Result<Self> {
        let memory_limit = options.memory_limit.unwrap_or_else(device::host_memory);
        let mut devices = vec![device::cpu_info(memory_limit)];
        let mut gpus = Vec::new();
        let (opened, skipped_adapters) = device::open_devices(&options.devices, options.backends, memory_limit)?;
        for (info, gpu) in opened {
            devices.push(info);
            gpus.push(gpu);
        }
        let mut s = Session {
            graph,
            devices,
            gpus,
            skipped_adapters,
            default_device: 0,
            max_chunk_bytes: options.max_chunk_bytes,
            state: Mutex::new(State {
                vars: HashMap::new(),
                pool: Pool::new(options.pool_cache_bytes),
                kernels: init::KernelCache::default(),
            }),
        };
        let forced = options
            .default_device
            .or_else(|| std::env::var(DEFAULT_DEVICE_ENV).ok().filter(|s| !s.trim().is_empty()));
        s.default_device = match forced {
            Some(d) => s.device_index(&d, None)?,
            None if s.devices.len() > 1 => 1,
            None => 0,
        };
        Ok(s)
    }

    /// The graph this session runs.
    pub fn graph(&self) -> &'g Graph {
        self.graph
    }

    /// The devices: `/cpu:0` first, then `/gpu:0`, `/gpu:1`, ... in the stable order of
    /// runtime.md section 2.
    pub fn devices(&self) -> &[DeviceInfo] {
        &self.devices
    }

    /// The device variables without a caching device go to.
    pub fn default_device(&self) -> &DeviceInfo {
        &self.devices[self.default_device]
    }

    /// Number of GPU devices.
    pub fn num_gpus(&self) -> usize {
        self.gpus.len()
    }

    /// Adapters that were found but whose device could not be opened
    /// ([`GpuError::RequestDevice`] with the driver's reason). They are not devices of
    /// this session; the others still are.
    pub fn skipped_adapters(&self) -> &[GpuError] {
        &self.skipped_adapters
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn available(&self) -> Vec<String> {
        self.devices.iter().map(|d| d.name.clone()).collect()
    }

    /// Index into `devices` of a device string in any TensorFlow spelling.
    fn device_index(&self, s: &str, var: Option<&Variable>) -> Result<usize> {
        let unknown = || GpuError::UnknownDevice {
            device: s.to_string(),
            variable: var.map(|v| v.key().to_string()),
            available: self.available(),
        };
        let d = DeviceName::parse(s).ok_or_else(unknown)?;
        match d.kind {
            DeviceKind::Cpu if d.index == 0 => Ok(0),
            DeviceKind::Gpu if (d.index as usize) < self.gpus.len() => Ok(d.index as usize + 1),
            _ => Err(unknown()),
        }
    }

    /// Looks a device up by name (any TensorFlow spelling).
    pub fn device(&self, name: &str) -> Result<&DeviceInfo> {
        Ok(&self.devices[self.device_index(name, None)?])
    }

    /// The device a variable is placed on: its caching device (string or function), or
    /// the session default when it has none or it is `""`.
    pub fn placement(&self, v: &Variable) -> Result<&DeviceInfo> {
        Ok(&self.devices[self.place(v)?])
    }

    fn place(&self, v: &Variable) -> Result<usize> {
        match v.caching_device() {
            None => Ok(self.default_device),
            Some(cd) => {
                let s = cd.resolve(v);
                if s.trim().is_empty() {
                    Ok(self.default_device)
                } else {
                    self.device_index(&s, Some(v))
                }
            }
        }
    }

    fn gpu(&self, dev: usize) -> Option<&Gpu> {
        dev.checked_sub(1).and_then(|i| self.gpus.get(i))
    }

    fn chunk_limit(&self, dev: usize) -> u64 {
        let d = &self.devices[dev];
        let hw = d.max_storage_buffer_binding_size.min(d.max_buffer_size);
        match self.max_chunk_bytes {
            Some(c) => c.min(hw),
            None => hw,
        }
    }

    /// Checks that `v` can live on its device: same graph, known shape, supported dtype,
    /// fits. Returns (device, elements, device bytes).
    fn validate(&self, v: &Variable) -> Result<(usize, u64, u64)> {
        if v.graph_id() != self.graph.id() {
            return Err(GpuError::ForeignVariable { variable: v.key().to_string() });
        }
        let dev = self.place(v)?;
        let info = &self.devices[dev];
        info.supports(v.dtype()).map_err(|reason| GpuError::UnsupportedDType {
            variable: v.key().to_string(),
            dtype: v.dtype(),
            device: info.name.clone(),
            reason,
        })?;
        let dims = v
            .dims()
            .ok_or_else(|| GpuError::UnknownShape { variable: v.key().to_string(), shape: shape_str(v) })?;
        let n = dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
        let bytes = n.and_then(|n| {
            if info.is_cpu() {
                n.checked_mul(v.dtype().size_bytes() as u64)
            } else {
                layout::device_bytes(v.dtype(), n)
            }
        });
        let (n, bytes) = match (n, bytes) {
            (Some(n), Some(b)) if b <= info.memory_limit => (n, b),
            _ => {
                return Err(GpuError::TooLarge {
                    variable: v.key().to_string(),
                    bytes: bytes.unwrap_or(u64::MAX),
                    device: info.name.clone(),
                    limit: info.memory_limit,
                })
            }
        };
        if info.is_cpu() && bytes > isize::MAX as u64 {
            return Err(GpuError::TooLarge {
                variable: v.key().to_string(),
                bytes,
                device: info.name.clone(),
                limit: isize::MAX as u64,
            });
        }
        Ok((dev, n, bytes))
    }

    /// Allocates every variable of `vars` that has no storage yet: validates all first
    /// (placement, dtype, size, device memory), then allocates; on failure frees what this
    /// call allocated. Returns the ids newly materialized.
    fn materialize(&self, st: &mut State, vars: &[Variable]) -> Result<Vec<u64>> {
        let mut todo = Vec::new();
        let mut seen = HashSet::new();
        let mut per_dev: HashMap<usize, u64> = HashMap::new();
        for v in vars {
            if st.vars.contains_key(&v.id()) || !seen.insert(v.id()) {
                continue;
            }
            let (dev, n, bytes) = self.validate(v)?;
            let info = &self.devices[dev];
            let total = per_dev.entry(dev).or_default();
            *total += bytes;
            let in_use = info.bytes_in_use();
            if in_use.saturating_add(*total) > info.memory_limit {
                return Err(GpuError::OutOfMemory {
                    variable: v.key().to_string(),
                    device: info.name.clone(),
                    bytes: *total,
                    in_use,
                    limit: info.memory_limit,
                });
            }
            todo.push((v.clone(), dev, n, bytes));
        }
        self.allocate(st, todo)
    }

    /// Allocates validated variables: `/cpu:0` host vectors; on a GPU, chunked buffers
    /// for large variables and shared slabs for small ones. All or nothing.
    fn allocate(&self, st: &mut State, todo: Vec<(Variable, usize, u64, u64)>) -> Result<Vec<u64>> {
        let mut made: Vec<u64> = Vec::new();
        let fail = |st: &mut State, made: Vec<u64>, dev: usize, v: &Variable, message: String| {
            for id in made {
                self.free_entry(st, id);
            }
            GpuError::Wgpu { device: self.devices[dev].name.clone(), operation: format!("allocate {}", v.key()), message }
        };
        // Small variables per device, packed into slabs after the large ones.
        let mut small: Vec<Vec<(Variable, u64, u64)>> = vec![Vec::new(); self.devices.len()];
        for (v, dev, n, bytes) in todo {
            let info = &self.devices[dev];
            let storage = match self.gpu(dev) {
                None => {
                    info.in_use.fetch_add(bytes, Ordering::Relaxed);
                    Storage::Host(vec![0u8; bytes as usize])
                }
                Some(_) if bytes <= self.slab_limit(dev) => {
                    small[dev].push((v, n, bytes));
                    continue;
                }
                Some(gpu) => {
                    let mut chunks = Vec::new();
                    for (start, count) in layout::plan_chunks(v.dtype(), n, self.chunk_limit(dev)) {
                        let cb = layout::device_bytes(v.dtype(), count).unwrap_or(0);
                        let label = if start == 0 && count == n {
                            v.key().to_string()
                        } else {
                            format!("{}[{}..{}]", v.key(), start, start + count)
                        };
                        match st.pool.alloc_variable(gpu, info, &label, cb) {
                            Ok(buf) => chunks.push(Chunk { buf, offset: 0, start, count, bytes: cb }),
                            Err(m) => {
                                drop(chunks);
                                return Err(fail(st, made, dev, &v, m));
                            }
                        }
                    }
                    Storage::Gpu(chunks)
                }
            };
            st.vars.insert(v.id(), Entry { device: dev, storage, bytes, initialized: false });
            made.push(v.id());
        }
        for (dev, vars) in small.into_iter().enumerate() {
            let Some(gpu) = self.gpu(dev) else { continue };
            let info = &self.devices[dev];
            let cap = self.slab_capacity(dev);
            let mut i = 0;
            while i < vars.len() {
                // Greedy: as many consecutive variables as fit in one slab.
                let mut end = i;
                let mut size = 0u64;
                while end < vars.len() {
                    let off = size.div_ceil(gpu.align) * gpu.align;
                    let need = off + vars[end].2.max(4);
                    if end > i && need > cap {
                        break;
                    }
                    size = need;
                    end += 1;
                }
                let group = &vars[i..end];
                let label = slab_label(group.iter().map(|(v, _, _)| v.key()));
                let buf = match st.pool.alloc_variable(gpu, info, &label, size) {
                    Ok(b) => b,
                    Err(m) => return Err(fail(st, made, dev, &group[0].0, m)),
                };
                let mut off = 0u64;
                for (v, n, bytes) in group {
                    off = off.div_ceil(gpu.align) * gpu.align;
                    let chunk = Chunk { buf: buf.clone(), offset: off, start: 0, count: *n, bytes: *bytes };
                    off += (*bytes).max(4);
                    st.vars.insert(v.id(), Entry { device: dev, storage: Storage::Gpu(vec![chunk]), bytes: *bytes, initialized: false });
                    made.push(v.id());
                }
                i = end;
            }
        }
        Ok(made)
    }

    /// Largest variable (device bytes) packed into a slab on `dev`.
    fn slab_limit(&self, dev: usize) -> u64 {
        (1u64 << 20).min(self.chunk_limit(dev))
    }

    /// Most bytes of one slab on `dev`.
    fn slab_capacity(&self, dev: usize) -> u64 {
        (64u64 << 20).min(self.chunk_limit(dev))
    }

    fn free_entry(&self, st: &mut State, id: u64) {
        if let Some(e) = st.vars.remove(&id) {
            let info = &self.devices[e.device];
            if let Storage::Host(b) = e.storage {
                info.in_use.fetch_sub(b.len() as u64, Ordering::Relaxed);
            }
            // GPU chunks drop here; a buffer is destroyed with its last variable.
        }
    }

    /// `tf.global_variables_initializer()`, run: initializes every global variable of
    /// the graph that is not initialized yet (variables restored or assigned are skipped).
    /// Each device gets one submission driven by a descriptor table.
    pub fn global_variables_initializer(&self) -> Result<()> {
        self.variables_initializer(&self.graph.global_variables())
    }

    /// `tf.local_variables_initializer()`, run.
    pub fn local_variables_initializer(&self) -> Result<()> {
        self.variables_initializer(&self.graph.local_variables())
    }

    /// `tf.variables_initializer(var_list)`, run: materializes and initializes the
    /// variables of `vars` that are not initialized yet. All or nothing: on error no
    /// variable changes.
    pub fn variables_initializer(&self, vars: &[Variable]) -> Result<()> {
        self.run_initializers(vars, true)
    }

    /// Runs the initializers of `vars` again, initialized or not (what running a
    /// TensorFlow initializer op a second time does; also how benchmarks time kernels
    /// without allocation). Same one-submission-per-device path, same all-or-nothing rule.
    pub fn reinitialize(&self, vars: &[Variable]) -> Result<()> {
        self.run_initializers(vars, false)
    }

    fn run_initializers(&self, vars: &[Variable], only_pending: bool) -> Result<()> {
        let mut st = self.lock();
        let mut pending: Vec<Variable> = Vec::new();
        let mut seen = HashSet::new();
        for v in vars {
            if seen.insert(v.id()) && !(only_pending && st.vars.get(&v.id()).is_some_and(|e| e.initialized)) {
                pending.push(v.clone());
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        // Validate everything before touching anything.
        let mut by_dev: Vec<Vec<Variable>> = vec![Vec::new(); self.devices.len()];
        for v in &pending {
            let (dev, _, _) = self.validate(v)?;
            by_dev[dev].push(v.clone());
        }
        // Host-computed values (the /cpu:0 path and host kernels on GPUs), before allocating.
        let mut jobs: Vec<Vec<InitJob>> = Vec::new();
        for (dev, vs) in by_dev.iter().enumerate() {
            jobs.push(init::plan_all(vs, self.gpu(dev).is_some())?);
        }
        let made = self.materialize(&mut st, &pending)?;
        let mut done: Vec<u64> = Vec::new();
        for (dev, dj) in jobs.into_iter().enumerate() {
            if dj.is_empty() {
                continue;
            }
            let res = match self.gpu(dev) {
                None => {
                    for (v, job) in by_dev[dev].iter().zip(dj) {
                        if let (Some(e), InitJob::Host(bytes)) = (st.vars.get_mut(&v.id()), job) {
                            if let Storage::Host(b) = &mut e.storage {
                                *b = bytes;
                            }
                        }
                    }
                    Ok(())
                }
                Some(gpu) => init::run_gpu(gpu, &self.devices[dev], dev, &mut st, &by_dev[dev], dj),
            };
            if let Err(e) = res {
                for id in &made {
                    self.free_entry(&mut st, *id);
                }
                return Err(e);
            }
            done.extend(by_dev[dev].iter().map(|v| v.id()));
        }
        for id in done {
            if let Some(e) = st.vars.get_mut(&id) {
                e.initialized = true;
            }
        }
        Ok(())
    }

    /// `tf.is_variable_initialized(v)`, run.
    pub fn is_variable_initialized(&self, v: &Variable) -> bool {
        self.lock().vars.get(&v.id()).is_some_and(|e| e.initialized)
    }

    /// `tf.report_uninitialized_variables()`, run: store keys of the global and local
    /// variables not initialized, in graph order.
    pub fn report_uninitialized_variables(&self) -> Vec<String> {
        let st = self.lock();
        let mut seen = HashSet::new();
        self.graph
            .global_variables()
            .into_iter()
            .chain(self.graph.local_variables())
            .filter(|v| seen.insert(v.id()))
            .filter(|v| !st.vars.get(&v.id()).is_some_and(|e| e.initialized))
            .map(|v| v.key().to_string())
            .collect()
    }

    /// Marks a variable initialized without running its initializer (the hook a
    /// checkpoint restore uses after writing the values). Materializes it if needed.
    pub(crate) fn mark_initialized(&self, st: &mut State, v: &Variable) -> Result<()> {
        self.materialize(st, std::slice::from_ref(v))?;
        if let Some(e) = st.vars.get_mut(&v.id()) {
            e.initialized = true;
        }
        Ok(())
    }

    /// Reads a variable's values to the host.
    pub fn read(&self, v: &Variable) -> Result<HostValues> {
        let mut st = self.lock();
        self.read_locked(&mut st, v)
    }

    fn read_locked(&self, st: &mut State, v: &Variable) -> Result<HostValues> {
        if v.graph_id() != self.graph.id() {
            return Err(GpuError::ForeignVariable { variable: v.key().to_string() });
        }
        let e = match st.vars.get(&v.id()) {
            Some(e) if e.initialized => e,
            _ => return Err(GpuError::Uninitialized { variable: v.op_name().to_string() }),
        };
        let dims = v.dims().unwrap_or_default();
        let dev = e.device;
        let host = match &e.storage {
            Storage::Host(b) => b.clone(),
            Storage::Gpu(chunks) => {
                let gpu = self.gpu(dev).expect("gpu storage on a gpu device");
                let chunks: Vec<(wgpu::Buffer, u64, u64, u64)> =
                    chunks.iter().map(|c| (c.buf.buffer.clone(), c.offset, c.count, c.bytes)).collect();
                read_chunks(gpu, &self.devices[dev], &mut st.pool, dev, v, &chunks)?
            }
        };
        HostValues::from_bytes(v.dtype(), &dims, host)
    }

    /// Reads a float32 variable as `f32` values (other dtypes are converted).
    pub fn read_f32(&self, v: &Variable) -> Result<Vec<f32>> {
        Ok(self.read(v)?.to_f32_vec())
    }

    /// Reads a partitioned variable: its shards concatenated along the slice axis (by
    /// their `slice_info` offsets) into the full shape.
    pub fn read_partitioned(&self, p: &PartitionedVariable) -> Result<HostValues> {
        let full: Vec<u64> = p.shape().as_list().unwrap_or_default();
        let eb = p.dtype().size_bytes() as u64;
        let mut st = self.lock();
        // Every shard must be readable before the whole is allocated on the host.
        for shard in p.shards() {
            if !st.vars.get(&shard.id()).is_some_and(|e| e.initialized) {
                return Err(GpuError::Uninitialized { variable: shard.op_name().to_string() });
            }
        }
        let total = full.iter().try_fold(eb, |a, &d| a.checked_mul(d)).filter(|&t| usize::try_from(t).is_ok());
        let too_large = || GpuError::TooLarge {
            variable: p.name().to_string(),
            bytes: total.unwrap_or(u64::MAX),
            device: "/cpu:0 (host copy)".into(),
            limit: isize::MAX as u64,
        };
        let total = total.ok_or_else(too_large)? as usize;
        let mut out = Vec::new();
        out.try_reserve_exact(total).map_err(|_| too_large())?;
        out.resize(total, 0u8);
        for shard in p.shards() {
            let vals = self.read_locked(&mut st, shard)?;
            let shape = shard.dims().unwrap_or_default();
            let offset = shard.var_offset();
            let axis = shape.iter().zip(&full).position(|(a, b)| a != b).unwrap_or(0);
            if full.is_empty() {
                out.copy_from_slice(vals.bytes());
                continue;
            }
            let outer: u64 = full[..axis].iter().product();
            let inner: u64 = full[axis + 1..].iter().product::<u64>() * eb;
            let len = shape[axis];
            let off = offset.get(axis).copied().unwrap_or(0);
            for o in 0..outer {
                let src = (o * len * inner) as usize;
                let dst = ((o * full[axis] + off) * inner) as usize;
                let n = (len * inner) as usize;
                out[dst..dst + n].copy_from_slice(&vals.bytes()[src..src + n]);
            }
        }
        HostValues::from_bytes(p.dtype(), &full, out)
    }

    /// `v.assign(values)`, run: writes host values (same dtype, same number of elements)
    /// and marks the variable initialized. Materializes it if needed.
    pub fn assign(&self, v: &Variable, values: &HostValues) -> Result<()> {
        if values.dtype() != v.dtype() {
            return Err(GpuError::DTypeMismatch { variable: v.key().to_string(), dtype: v.dtype(), given: values.dtype() });
        }
        let (_, n, _) = self.validate(v)?;
        if values.len() as u64 != n {
            return Err(GpuError::SizeMismatch {
                variable: v.key().to_string(),
                shape: shape_str(v),
                expected: n,
                given: values.len() as u64,
            });
        }
        let mut st = self.lock();
        let made = self.materialize(&mut st, std::slice::from_ref(v))?;
        let e = st.vars.get_mut(&v.id()).expect("materialized");
        let dev = e.device;
        let res = match &mut e.storage {
            Storage::Host(b) => {
                b.copy_from_slice(values.bytes());
                Ok(())
            }
            Storage::Gpu(chunks) => {
                let gpu = self.gpu(dev).expect("gpu storage on a gpu device");
                let eb = values.bytes().len() / n.max(1) as usize;
                let r = scoped(gpu, || {
                    for c in chunks.iter() {
                        let host = &values.bytes()[c.start as usize * eb..(c.start + c.count) as usize * eb];
                        let dev_bytes = layout::host_to_device(v.dtype(), host);
                        if !dev_bytes.is_empty() {
                            gpu.queue.write_buffer(&c.buf.buffer, c.offset, &dev_bytes);
                        }
                    }
                    gpu.queue.submit([]);
                });
                r.map_err(|message| GpuError::Wgpu {
                    device: self.devices[dev].name.clone(),
                    operation: format!("assign {}", v.key()),
                    message,
                })
            }
        };
        if let Err(e) = res {
            for id in made {
                self.free_entry(&mut st, id);
            }
            return Err(e);
        }
        self.mark_initialized(&mut st, v)
    }

    /// Assigns `f32` values to a float32 variable.
    pub fn assign_f32(&self, v: &Variable, values: &[f32]) -> Result<()> {
        let dims = v.dims().unwrap_or_default();
        let hv = if v.dtype() == DType::Float32 && values.len() as u64 == dims.iter().product::<u64>() {
            HostValues::from_f32(&dims, values)?
        } else {
            HostValues::from_f32(&[values.len() as u64], values)?
        };
        self.assign(v, &hv)
    }

    /// Assigns canonical host bytes of the variable's own dtype.
    pub fn assign_bytes(&self, v: &Variable, bytes: &[u8]) -> Result<()> {
        let dims = v.dims().unwrap_or_default();
        let hv = HostValues::from_bytes(v.dtype(), &dims, bytes.to_vec())?;
        self.assign(v, &hv)
    }

    /// Frees a variable's buffers; it becomes uninitialized. Nothing happens for a
    /// variable that has none.
    pub fn release(&self, v: &Variable) {
        let mut st = self.lock();
        self.free_entry(&mut st, v.id());
    }

    /// Bytes of variable buffers live on a device (any TensorFlow spelling).
    pub fn bytes_in_use(&self, device: &str) -> Result<u64> {
        Ok(self.device(device)?.bytes_in_use())
    }

    /// Bytes a variable occupies on its device (`None`: not materialized).
    pub fn variable_bytes(&self, v: &Variable) -> Option<u64> {
        self.lock().vars.get(&v.id()).map(|e| e.bytes)
    }

    /// The device a variable's storage lives on, if materialized.
    pub fn variable_device(&self, v: &Variable) -> Option<String> {
        self.lock().vars.get(&v.id()).map(|e| self.devices[e.device].name.clone())
    }

    /// A variable's chunk buffers with their device and queue, for user kernels.
    /// Materializes the variable if needed (uninitialized). Errors for `/cpu:0`.
    pub fn buffers(&self, v: &Variable) -> Result<VariableBuffers> {
        let mut st = self.lock();
        self.materialize(&mut st, std::slice::from_ref(v))?;
        let e = st.vars.get(&v.id()).expect("materialized");
        let info = &self.devices[e.device];
        match (&e.storage, self.gpu(e.device)) {
            (Storage::Gpu(chunks), Some(gpu)) => Ok(VariableBuffers {
                device_name: info.name.clone(),
                dtype: v.dtype(),
                device: gpu.device.clone(),
                queue: gpu.queue.clone(),
                chunks: chunks
                    .iter()
                    .map(|c| ChunkBuffer {
                        buffer: c.buf.buffer.clone(),
                        elements: c.start..c.start + c.count,
                        bytes: c.offset..c.offset + c.bytes,
                    })
                    .collect(),
            }),
            _ => Err(GpuError::NoBuffers { variable: v.key().to_string(), device: info.name.clone() }),
        }
    }

    /// Waits until every device has finished the work submitted so far. Reports errors
    /// that wgpu raised outside the session's error scopes (for example from user
    /// kernels) since the last call.
    pub fn sync(&self) -> Result<()> {
        for (i, gpu) in self.gpus.iter().enumerate() {
            let err = |message: String| GpuError::Wgpu { device: self.devices[i + 1].name.clone(), operation: "sync".into(), message };
            sync::wait_idle(&gpu.device).map_err(err)?;
            let pending: Vec<String> = gpu.uncaptured.lock().map(|mut u| u.drain(..).collect()).unwrap_or_default();
            if !pending.is_empty() {
                return Err(err(pending.join("; ")));
            }
        }
        Ok(())
    }

    /// Writes the 32-bit word `word` to every word of a GPU variable's buffers with the
    /// plain fill kernel (`shaders/fill.wgsl`), in one submission, without waiting: the
    /// roofline benchmarks compare initializers against. Marks the variable initialized.
    pub fn fill_words(&self, v: &Variable, word: u32) -> Result<()> {
        let mut st = self.lock();
        let made = self.materialize(&mut st, std::slice::from_ref(v))?;
        let e = st.vars.get(&v.id()).expect("materialized");
        let dev = e.device;
        let info = &self.devices[dev];
        let Some(gpu) = self.gpu(dev) else {
            if let Some(Storage::Host(b)) = st.vars.get_mut(&v.id()).map(|e| &mut e.storage) {
                let w = word.to_le_bytes();
                for (i, x) in b.iter_mut().enumerate() {
                    *x = w[i % 4];
                }
            }
            return self.mark_initialized(&mut st, v);
        };
        let chunks: Vec<(wgpu::Buffer, u64, u64)> = match &e.storage {
            Storage::Gpu(c) => c.iter().map(|c| (c.buf.buffer.clone(), c.offset, c.bytes)).collect(),
            Storage::Host(_) => Vec::new(),
        };
        let res = (|| -> Result<()> {
            let k = st.kernels.get(gpu, info, dev, varscope_shaders::Shader::Fill, &[])?;
            let mut params = Vec::new();
            for (_, offset, bytes) in &chunks {
                let p = st.pool.acquire(gpu, dev, Use::Params, 16).map_err(|m| GpuError::Wgpu {
                    device: info.name.clone(),
                    operation: format!("fill {}", v.key()),
                    message: m,
                })?;
                let fp = varscope_shaders::FillParams { offset: (*offset / 4) as u32, count: (*bytes / 4) as u32, value: word, _pad: 0 };
                gpu.queue.write_buffer(&p, 0, bytemuck::bytes_of(&fp));
                params.push(p);
            }
            let r = scoped(gpu, || {
                let mut enc = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("varscope fill") });
                {
                    let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("varscope fill"), timestamp_writes: None });
                    pass.set_pipeline(&k.pipeline);
                    for ((buf, _, bytes), p) in chunks.iter().zip(&params) {
                        let bg = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
                            label: Some("varscope fill"),
                            layout: &k.layout,
                            entries: &[
                                wgpu::BindGroupEntry { binding: 0, resource: buf.as_entire_binding() },
                                wgpu::BindGroupEntry { binding: 1, resource: p.as_entire_binding() },
                            ],
                        });
                        pass.set_bind_group(0, &bg, &[]);
                        let [x, y, z] = varscope_shaders::dispatch_size((*bytes / 4) as u32);
                        if x > 0 {
                            pass.dispatch_workgroups(x, y, z);
                        }
                    }
                }
                gpu.queue.submit([enc.finish()]);
            });
            for p in params {
                st.pool.recycle(dev, Use::Params, p);
            }
            r.map_err(|m| GpuError::Wgpu { device: info.name.clone(), operation: format!("fill {}", v.key()), message: m })
        })();
        if let Err(e) = res {
            for id in made {
                self.free_entry(&mut st, id);
            }
            return Err(e);
        }
        self.mark_initialized(&mut st, v)
    }

    /// Frees the pool's cached staging and parameter buffers.
    pub fn trim(&self) {
        self.lock().pool.trim();
    }

}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let mut st = self.lock();
        let ids: Vec<u64> = st.vars.keys().copied().collect();
        for id in ids {
            self.free_entry(&mut st, id);
        }
        st.pool.trim();
    }
}

/// Copies chunks into readback buffers in one submission, maps them once, and returns
/// canonical host bytes.
fn read_chunks(
    gpu: &Gpu,
    info: &DeviceInfo,
    pool: &mut Pool,
    dev: usize,
    v: &Variable,
    chunks: &[(wgpu::Buffer, u64, u64, u64)],
) -> Result<Vec<u8>> {
    let err = |message: String| GpuError::Wgpu { device: info.name.clone(), operation: format!("read {}", v.key()), message };
    let mut staging = Vec::with_capacity(chunks.len());
    for (_, _, _, bytes) in chunks {
        match pool.acquire(gpu, dev, Use::Readback, *bytes) {
            Ok(b) => staging.push(b),
            Err(m) => {
                for b in staging {
                    pool.recycle(dev, Use::Readback, b);
                }
                return Err(err(m));
            }
        }
    }
    let r = scoped(gpu, || {
        let mut enc = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("varscope read") });
        for ((src, offset, _, bytes), dst) in chunks.iter().zip(&staging) {
            if *bytes > 0 {
                enc.copy_buffer_to_buffer(src, *offset, dst, 0, *bytes);
            }
        }
        gpu.queue.submit([enc.finish()]);
    });
    let mut out = Vec::new();
    let res = r.and_then(|_| {
        let views: Vec<(&wgpu::Buffer, u64)> =
            staging.iter().zip(chunks).filter(|(_, c)| c.3 > 0).map(|(b, c)| (b, c.3)).collect();
        let counts: Vec<u64> = chunks.iter().filter(|c| c.3 > 0).map(|c| c.2).collect();
        sync::map_read_all(&gpu.device, &views, |i, bytes| {
            out.extend_from_slice(&layout::device_to_host(v.dtype(), counts[i], bytes));
        })
    });
    for b in staging {
        pool.recycle(dev, Use::Readback, b);
    }
    res.map_err(err)?;
    Ok(out)
}

/// Label of a slab: the names of the variables in it (the first eight, then a count).
fn slab_label<'a>(keys: impl Iterator<Item = &'a str>) -> String {
    let keys: Vec<&str> = keys.collect();
    if keys.len() == 1 {
        return keys[0].to_string();
    }
    let mut s = format!("varscope slab ({} variables): ", keys.len());
    s.push_str(&keys.iter().take(8).copied().collect::<Vec<_>>().join(", "));
    if keys.len() > 8 {
        s.push_str(&format!(", +{} more", keys.len() - 8));
    }
    s
}

// ----- Checkpoint hooks (used by `crate::checkpoint`; kept apart from the session code) ----

impl Session<'_> {
    /// Materializes every variable of `vars` that has no storage yet without writing or
    /// initializing anything: validates placement, dtype support, size and device memory
    /// of all of them first, then allocates, all or nothing. Returns the ids newly
    /// allocated, for [`Session::checkpoint_release`] if a later step fails.
    pub(crate) fn checkpoint_materialize(&self, vars: &[Variable]) -> Result<Vec<u64>> {
        let mut st = self.lock();
        self.materialize(&mut st, vars)
    }

    /// Frees variables by id (those a failed restore materialized: they had no storage
    /// before it, so they return to exactly that state).
    pub(crate) fn checkpoint_release(&self, ids: &[u64]) {
        let mut st = self.lock();
        for &id in ids {
            self.free_entry(&mut st, id);
        }
    }
}

// ----- Training hooks (used by `crate::optim`; kept apart from the session code) ----

impl Session<'_> {
    /// The wgpu handles and info of device index `dev` (`None` for `/cpu:0`).
    pub(crate) fn optim_gpu(&self, dev: usize) -> Option<(&Gpu, &DeviceInfo)> {
        self.gpu(dev).map(|g| (g, &self.devices[dev]))
    }

    /// Runs `f` on the session's pool (under the session lock: `f` must not call the
    /// session).
    pub(crate) fn optim_pool<T>(&self, f: impl FnOnce(&mut Pool) -> T) -> T {
        f(&mut self.lock().pool)
    }

    /// The session's kernel of `shader` on device `dev` with overrides `values` (built
    /// on first use, under the session lock).
    pub(crate) fn kernel(
        &self,
        gpu: &Gpu,
        info: &DeviceInfo,
        dev: usize,
        shader: varscope_shaders::Shader,
        values: &[u32],
    ) -> Result<Arc<crate::init::Kernel>> {
        self.lock().kernels.get(gpu, info, dev, shader, values)
    }

    /// Marks a materialized variable initialized (after a kernel wrote all of it).
    pub(crate) fn optim_mark_initialized(&self, v: &Variable) -> Result<()> {
        let mut st = self.lock();
        self.mark_initialized(&mut st, v)
    }
}
