//! The session: a facade over placement ([`crate::placement`]), the variable table
//! ([`crate::storage`]), initialization ([`crate::init`]), the kernel-launch layer
//! ([`crate::launch`]) and transfers ([`crate::transfer`]). One lock guards the table,
//! the pool and the kernel cache; each public call takes it once.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use varscope_core::{DType, Graph, Variable};

pub use crate::buffers::{ChunkBuffer, VariableBuffers};
use crate::device::{self, DeviceInfo};
use crate::error::{GpuError, Result};
use crate::init::{self, InitJob};
use crate::kernels::KernelCache;
use crate::launch::{Dev, Launch};
pub use crate::options::{parse_debug_fill, SessionOptions, DEBUG_FILL_ENV, DEFAULT_DEVICE_ENV};
use crate::placement::Devices;
use crate::pool::Pool;
use crate::storage::{Memory, Storage};
use crate::sync;
use crate::transfer::{self, HostLayout, ReadRange, WriteRange};
use crate::values::HostValues;

mod read;

/// What the session's lock guards.
struct State {
    storage: Storage,
    pool: Pool,
    kernels: KernelCache,
}

/// A TensorFlow session over one graph: owns the devices and the variables' buffers.
///
/// The API is synchronous and takes `&self`; a session can be shared between threads.
/// Device index 0 is `/cpu:0`, index `n + 1` is `/gpu:n`.
///
/// A `Session` is a cheap handle (`Clone`, `Send + Sync`): clones share the devices and
/// the variables' buffers, which are freed when the last clone drops. It owns a clone of
/// its graph, so graph, session and trainers can live in one struct.
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

struct Inner {
    graph: Graph,
    devices: Devices,
    skipped_adapters: Vec<GpuError>,
    state: Mutex<State>,
    /// Times the state lock was taken (for tests of lock traffic).
    locks: AtomicU64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("devices", &self.inner.devices.infos.iter().map(|d| &d.name).collect::<Vec<_>>())
            .field("default_device", &self.inner.devices.infos[self.inner.devices.default].name)
            .finish()
    }
}

/// The session's state under its lock, with the devices: what the training, update and
/// checkpoint modules use to do a whole device's work under one lock.
pub(crate) struct Locked<'s> {
    devices: &'s Devices,
    graph_id: u64,
    st: MutexGuard<'s, State>,
}

impl<'s> Locked<'s> {
    /// The variable table.
    pub fn storage(&self) -> &Storage {
        &self.st.storage
    }

    /// A launch on `dev`, with the variable table to look chunks up while recording.
    pub fn launch(&mut self, dev: Dev<'s>, operation: &str) -> (Launch<'_>, &Storage) {
        let State { storage, pool, kernels } = &mut *self.st;
        (Launch::new(dev, pool, kernels, operation), storage)
    }

    /// Reads byte ranges of `dev`'s buffers (see [`transfer::read_ranges`]).
    pub fn read_ranges(
        &mut self,
        dev: Dev<'s>,
        operation: &str,
        ranges: &[ReadRange],
        f: impl FnMut(usize, &[u8]),
    ) -> Result<usize> {
        transfer::read_ranges(dev, &mut self.st.pool, operation, ranges, f)
    }

    /// The memory pool (for buffers the caller keeps, such as gradients).
    pub fn pool(&mut self) -> &mut Pool {
        &mut self.st.pool
    }

    /// Materializes the variables of `vars` without memory (all or nothing); returns the
    /// ids newly allocated.
    pub fn materialize(&mut self, vars: &[Variable]) -> Result<Vec<u64>> {
        let State { storage, pool, .. } = &mut *self.st;
        storage.materialize(self.devices, pool, self.graph_id, vars)
    }

    /// Frees variables by id.
    pub fn free(&mut self, ids: &[u64]) {
        for &id in ids {
            self.st.storage.free(self.devices, id);
        }
    }

    /// Marks a materialized variable initialized.
    pub fn mark_initialized(&mut self, id: u64) {
        self.st.storage.mark_initialized(id);
    }
}

impl Session {
    /// A session over `graph` with every adapter wgpu finds, and `/cpu:0`.
    pub fn new(graph: &Graph) -> Result<Self> {
        Self::with_options(graph, SessionOptions::default())
    }

    /// A session with options.
    pub fn with_options(graph: &Graph, options: SessionOptions) -> Result<Self> {
        let memory_limit = options.memory_limit.unwrap_or_else(device::host_memory);
        let mut infos = vec![device::cpu_info(memory_limit)];
        let mut gpus = Vec::new();
        let (opened, skipped_adapters) = device::open_devices(&options.devices, options.backends, memory_limit)?;
        for (info, gpu) in opened {
            infos.push(info);
            gpus.push(gpu);
        }
        let mut devices = Devices {
            infos,
            gpus,
            default: 0,
            max_chunk_bytes: options.max_chunk_bytes,
            fixed: Default::default(),
            any_fixed: Default::default(),
        };
        let forced =
            options.default_device.or_else(|| std::env::var(DEFAULT_DEVICE_ENV).ok().filter(|s| !s.trim().is_empty()));
        devices.default = match forced {
            Some(d) => devices.index(&d, None)?,
            None if devices.infos.len() > 1 => 1,
            None => 0,
        };
        Ok(Session {
            inner: Arc::new(Inner {
                graph: graph.clone(),
                devices,
                skipped_adapters,
                locks: AtomicU64::new(0),
                state: Mutex::new(State {
                    storage: Storage::default(),
                    pool: Pool::new(options.pool_cache_bytes).with_debug_fill(options.debug_fill),
                    kernels: KernelCache::default(),
                }),
            }),
        })
    }

    /// The graph this session runs.
    pub fn graph(&self) -> &Graph {
        &self.inner.graph
    }

    /// Whether `other` is a handle of this same session.
    pub fn same_session(&self, other: &Session) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The devices: `/cpu:0` first, then `/gpu:0`, `/gpu:1`, ... in the stable order of
    /// runtime.md section 2.
    pub fn devices(&self) -> &[DeviceInfo] {
        &self.inner.devices.infos
    }

    /// The device variables without a caching device go to.
    pub fn default_device(&self) -> &DeviceInfo {
        &self.inner.devices.infos[self.inner.devices.default]
    }

    /// Number of GPU devices.
    pub fn num_gpus(&self) -> usize {
        self.inner.devices.gpus.len()
    }

    /// Adapters that were found but whose device could not be opened
    /// ([`GpuError::RequestDevice`] with the driver's reason). They are not devices of
    /// this session; the others still are.
    pub fn skipped_adapters(&self) -> &[GpuError] {
        &self.inner.skipped_adapters
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.locks.fetch_add(1, Ordering::Relaxed);
        sync::lock(&self.inner.state)
    }

    /// How many times the session's lock has been taken so far.
    #[cfg(test)]
    pub(crate) fn lock_count(&self) -> u64 {
        self.inner.locks.load(Ordering::Relaxed)
    }

    /// Sets the staging piece size of every transfer (tests cross many piece boundaries
    /// with small pieces).
    #[cfg(test)]
    pub(crate) fn set_staging_piece(&self, bytes: u64) {
        self.lock().pool.set_piece(bytes);
    }

    /// The state under the session's lock (held until the returned value drops: it
    /// must not call back into the session's public API).
    pub(crate) fn locked(&self) -> Locked<'_> {
        Locked { devices: &self.inner.devices, graph_id: self.inner.graph.id(), st: self.lock() }
    }

    /// The GPU at device index `index` (`None` for `/cpu:0`).
    pub(crate) fn dev(&self, index: usize) -> Option<Dev<'_>> {
        self.inner.devices.dev(index)
    }

    /// Looks a device up by name (any TensorFlow spelling).
    pub fn device(&self, name: &str) -> Result<&DeviceInfo> {
        Ok(&self.inner.devices.infos[self.inner.devices.index(name, None)?])
    }

    /// The device a variable is placed on: its caching device (string or function), or
    /// the session default when it has none or it is `""`.
    pub fn placement(&self, v: &Variable) -> Result<&DeviceInfo> {
        Ok(&self.inner.devices.infos[self.inner.devices.place(v)?])
    }

    /// The device index of a variable (see [`Session::placement`]).
    pub(crate) fn device_index(&self, v: &Variable) -> Result<usize> {
        self.inner.devices.place(v)
    }

    /// Places `slot` where `primary` is, unless `slot` has storage already: a slot
    /// lives on its variable's device (TensorFlow colocates them), also when the
    /// variable's device function would answer otherwise for the slot's name.
    pub(crate) fn colocate(&self, slot: &Variable, primary: &Variable) -> Result<()> {
        let dev = self.device_index(primary)?;
        if self.variable_device(slot).is_none() {
            self.inner.devices.pin(slot, dev);
        }
        Ok(())
    }

    /// Materializes every variable of `vars` that has no storage yet without writing or
    /// initializing anything: validates placement, dtype support, size and device memory
    /// of all of them first, then allocates, all or nothing. Returns the ids newly
    /// allocated (for [`Session::free`] if a later step fails).
    pub(crate) fn materialize(&self, vars: &[Variable]) -> Result<Vec<u64>> {
        self.locked().materialize(vars)
    }

    /// Frees variables by id (those a failed call materialized: they had no storage
    /// before it, so they return to exactly that state).
    pub(crate) fn free(&self, ids: &[u64]) {
        self.locked().free(ids);
    }

    /// `tf.global_variables_initializer()`, run: initializes every global variable of
    /// the graph that is not initialized yet (variables restored or assigned are skipped).
    /// Each device gets one submission driven by a descriptor table.
    pub fn global_variables_initializer(&self) -> Result<()> {
        self.variables_initializer(&self.inner.graph.global_variables())
    }

    /// `tf.local_variables_initializer()`, run.
    pub fn local_variables_initializer(&self) -> Result<()> {
        self.variables_initializer(&self.inner.graph.local_variables())
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
        let mut l = self.locked();
        let mut pending: Vec<Variable> = Vec::new();
        let mut seen = HashSet::new();
        for v in vars {
            if seen.insert(v.id()) && !(only_pending && l.storage().is_initialized(v.id())) {
                pending.push(v.clone());
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        // Validate everything before touching anything.
        let mut by_dev: Vec<Vec<Variable>> = vec![Vec::new(); self.inner.devices.infos.len()];
        for v in &pending {
            by_dev[self.inner.devices.validate(v, self.inner.graph.id())?.device].push(v.clone());
        }
        // Host-computed values (the /cpu:0 path and host kernels on GPUs), before allocating.
        let mut jobs: Vec<Vec<InitJob>> = Vec::new();
        for (dev, vs) in by_dev.iter().enumerate() {
            jobs.push(init::plan_all(vs, self.dev(dev).is_some())?);
        }
        let made = l.materialize(&pending)?;
        let mut done: Vec<u64> = Vec::new();
        for (dev, dj) in jobs.into_iter().enumerate() {
            if dj.is_empty() {
                continue;
            }
            let res = match self.dev(dev) {
                None => {
                    for (v, job) in by_dev[dev].iter().zip(dj) {
                        if let (Some(e), InitJob::Host(bytes)) = (l.st.storage.get_mut(v.id()), job) {
                            if let Memory::Host(b) = &mut e.memory {
                                *b = bytes;
                            }
                        }
                    }
                    Ok(())
                }
                Some(d) => {
                    let (mut launch, storage) = l.launch(d, "initialize variables");
                    init::record(&mut launch, storage, &by_dev[dev], dj).and_then(|()| launch.submit().map(|_| ()))
                }
            };
            if let Err(e) = res {
                l.free(&made);
                return Err(e);
            }
            done.extend(by_dev[dev].iter().map(|v| v.id()));
        }
        for id in done {
            l.mark_initialized(id);
        }
        Ok(())
    }

    /// `tf.is_variable_initialized(v)`, run.
    pub fn is_variable_initialized(&self, v: &Variable) -> bool {
        self.lock().storage.is_initialized(v.id())
    }

    /// The first variable of `vars` that is not initialized (one lock for all).
    pub(crate) fn first_uninitialized<'v>(&self, vars: &'v [Variable]) -> Option<&'v Variable> {
        let st = self.lock();
        vars.iter().find(|v| !st.storage.is_initialized(v.id()))
    }

    /// `tf.report_uninitialized_variables()`, run: store keys of the global and local
    /// variables not initialized, in graph order.
    pub fn report_uninitialized_variables(&self) -> Vec<String> {
        let st = self.lock();
        let mut seen = HashSet::new();
        self.inner
            .graph
            .global_variables()
            .into_iter()
            .chain(self.inner.graph.local_variables())
            .filter(|v| seen.insert(v.id()))
            .filter(|v| !st.storage.is_initialized(v.id()))
            .map(|v| v.key().to_string())
            .collect()
    }

    /// `v.assign(values)`, run: writes host values (same dtype, same number of elements)
    /// and marks the variable initialized. Materializes it if needed.
    pub fn assign(&self, v: &Variable, values: &HostValues) -> Result<()> {
        self.assign_many(&[(v.clone(), values)])
    }

    /// Assigns many variables at once: every pair is checked first (dtype, element count,
    /// placement, memory) and nothing is written if one fails; then each GPU's writes go
    /// through its upload staging ring, one copy submission per 16 MiB piece (small
    /// variables share one), straight from the values' bytes. Marks every variable
    /// initialized.
    pub fn assign_many(&self, items: &[(Variable, &HostValues)]) -> Result<()> {
        for (v, values) in items {
            if values.dtype() != v.dtype() {
                return Err(GpuError::DTypeMismatch {
                    variable: v.key().to_string(),
                    dtype: v.dtype(),
                    given: values.dtype(),
                });
            }
            let placed = self.inner.devices.validate(v, self.inner.graph.id())?;
            if values.len() as u64 != placed.elements {
                return Err(GpuError::SizeMismatch {
                    variable: v.key().to_string(),
                    shape: v.shape().to_string(),
                    expected: placed.elements,
                    given: values.len() as u64,
                });
            }
        }
        let vars: Vec<Variable> = items.iter().map(|(v, _)| v.clone()).collect();
        let mut l = self.locked();
        let made = l.materialize(&vars)?;
        let res = (|| -> Result<()> {
            let State { storage, pool, .. } = &mut *l.st;
            // Host values first (cannot fail), then each GPU's writes through its upload
            // staging, straight from the caller's bytes.
            let mut writes: Vec<Vec<WriteRange<'_>>> = Vec::new();
            writes.resize_with(self.inner.devices.infos.len(), Vec::new);
            for (v, values) in items {
                let Some(e) = storage.get_mut(v.id()) else { continue };
                match &mut e.memory {
                    Memory::Host(b) => b.copy_from_slice(values.bytes()),
                    Memory::Gpu(chunks) => {
                        let eb = v.dtype().size_bytes();
                        let layout = if v.dtype() == DType::Bool { HostLayout::Bool } else { HostLayout::Plain };
                        for c in chunks.iter() {
                            writes[e.device].push(WriteRange {
                                buffer: c.buf.buffer.clone(),
                                offset: c.offset,
                                host: &values.bytes()[c.start as usize * eb..(c.start + c.count) as usize * eb],
                                layout,
                            });
                        }
                    }
                }
            }
            for (dev, w) in writes.into_iter().enumerate() {
                let Some(d) = self.dev(dev) else { continue };
                if !w.is_empty() {
                    transfer::write_ranges(d, pool, "assign variables", &w)?;
                }
            }
            Ok(())
        })();
        if let Err(e) = res {
            l.free(&made);
            return Err(e);
        }
        for v in &vars {
            l.mark_initialized(v.id());
        }
        Ok(())
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
        self.free(&[v.id()]);
    }

    /// Bytes of variable buffers live on a device (any TensorFlow spelling).
    pub fn bytes_in_use(&self, device: &str) -> Result<u64> {
        Ok(self.device(device)?.bytes_in_use())
    }

    /// Bytes a variable occupies on its device (`None`: not materialized).
    pub fn variable_bytes(&self, v: &Variable) -> Option<u64> {
        self.lock().storage.get(v.id()).map(|e| e.bytes)
    }

    /// The device a variable's storage lives on, if materialized.
    pub fn variable_device(&self, v: &Variable) -> Option<String> {
        self.lock().storage.get(v.id()).map(|e| self.inner.devices.infos[e.device].name.clone())
    }

    /// A variable's chunk buffers with their device and queue, for user kernels.
    /// Materializes the variable if needed (uninitialized: its memory then holds
    /// unspecified bytes, not zeros, until something writes it; see
    /// [`SessionOptions::debug_fill`]). Errors for `/cpu:0`.
    pub fn buffers(&self, v: &Variable) -> Result<VariableBuffers> {
        let dev = self.inner.devices.place(v)?;
        let info = &self.inner.devices.infos[dev];
        // `/cpu:0` has no buffers: refused before anything is allocated.
        if self.dev(dev).is_none() {
            return Err(GpuError::NoBuffers { variable: v.key().to_string(), device: info.name.clone() });
        }
        let mut l = self.locked();
        l.materialize(std::slice::from_ref(v))?;
        match (l.storage().chunks(v.id()), self.dev(dev)) {
            (Some(chunks), Some(d)) => Ok(VariableBuffers {
                device_name: info.name.clone(),
                dtype: v.dtype(),
                device: d.gpu.device.clone(),
                queue: d.gpu.queue.clone(),
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
        for dev in 1..self.inner.devices.infos.len() {
            let Some(d) = self.dev(dev) else { continue };
            sync::wait_idle(&d.gpu.device).map_err(|m| d.error("sync", m))?;
            let pending: Vec<String> = sync::lock(&d.gpu.uncaptured).drain(..).collect();
            if !pending.is_empty() {
                return Err(d.error("sync", pending.join("; ")));
            }
        }
        Ok(())
    }

    /// Writes the 32-bit word `word` to every word of a variable's buffers in one
    /// submission, without waiting: word 0 with the device's `clear_buffer` (the roofline
    /// benchmarks compare against), any other word with the vector fill kernels
    /// (`shaders/fill8.wgsl` on `SHADER_INT64` devices, `shaders/fill4.wgsl`, tails
    /// `shaders/fill.wgsl`). Marks the variable initialized. Only for 4-byte dtypes
    /// (float32, int32, uint32), whose elements are the words on every device; other
    /// dtypes are [`GpuError::UnsupportedDType`].
    pub fn fill_words(&self, v: &Variable, word: u32) -> Result<()> {
        if v.dtype().size_bytes() != 4 {
            let dev = self.inner.devices.place(v)?;
            return Err(GpuError::UnsupportedDType {
                variable: v.key().to_string(),
                dtype: v.dtype(),
                device: self.inner.devices.infos[dev].name.clone(),
                reason: "fill_words writes 32-bit words, so it takes 4-byte dtypes only (float32, int32, uint32)"
                    .to_string(),
            });
        }
        let mut l = self.locked();
        let made = l.materialize(std::slice::from_ref(v))?;
        let dev = self.inner.devices.place(v)?;
        let res = match self.dev(dev) {
            None => {
                if let Some(Memory::Host(b)) = l.st.storage.get_mut(v.id()).map(|e| &mut e.memory) {
                    let w = word.to_le_bytes();
                    for (i, x) in b.iter_mut().enumerate() {
                        *x = w[i % 4];
                    }
                }
                Ok(())
            }
            Some(d) => {
                let (mut launch, storage) = l.launch(d, "fill");
                let chunks: Vec<(wgpu::Buffer, u64, u64)> = storage
                    .chunks(v.id())
                    .unwrap_or(&[])
                    .iter()
                    .map(|c| (c.buf.buffer.clone(), c.offset, c.bytes))
                    .collect();
                (|| -> Result<()> {
                    for (buf, offset, bytes) in &chunks {
                        launch.fill(buf, *offset, *bytes / 4, word)?;
                    }
                    launch.submit().map(|_| ())
                })()
            }
        };
        if let Err(e) = res {
            l.free(&made);
            return Err(e);
        }
        l.mark_initialized(v.id());
        Ok(())
    }

    /// Changes a float32 `/cpu:0` variable's values in place under one hold of the
    /// session lock, so that two threads' read-modify-write updates (`assign_add`) do not
    /// lose each other's. [`GpuError::Uninitialized`] if it has no initialized value.
    pub(crate) fn update_host_f32(&self, v: &Variable, f: impl FnOnce(&mut [f32])) -> Result<()> {
        let mut l = self.locked();
        let host = match l.st.storage.get_mut(v.id()) {
            Some(e) if e.initialized => match &mut e.memory {
                Memory::Host(b) => Some(b),
                Memory::Gpu(_) => None,
            },
            _ => None,
        };
        let Some(b) = host else {
            return Err(GpuError::Uninitialized { variable: v.op_name().to_string() });
        };
        let mut x: Vec<f32> = b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        f(&mut x);
        for (dst, src) in b.chunks_exact_mut(4).zip(&x) {
            dst.copy_from_slice(&src.to_le_bytes());
        }
        Ok(())
    }

    /// Frees the pool's cached staging and parameter buffers.
    pub fn trim(&self) {
        self.lock().pool.trim();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
        for id in st.storage.ids() {
            st.storage.free(&self.devices, id);
        }
        st.pool.trim();
    }
}
