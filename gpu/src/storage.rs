//! The variable table of a session: which variables have memory, where, in which chunks
//! and slabs, and whether they are initialized.
//!
//! A large variable gets one buffer per chunk (at most the device's binding limit, whole
//! 64-element granules), labeled `name` or `name[start..end]`; small variables (up to
//! 1 MiB) materialized together share slab buffers at offsets aligned to
//! `min_storage_buffer_offset_alignment`. `/cpu:0` variables are host vectors. All GPU
//! memory comes from the session's [`Pool`].

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use varscope_core::Variable;

use crate::error::{GpuError, Result};
use crate::layout;
use crate::placement::{Devices, Placed};
use crate::pool::{Contents, Pool, VarBuffer};

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

impl Chunk {
    /// Whether the chunk alone fills its whole buffer (not a slab share).
    pub fn is_whole_buffer(&self) -> bool {
        self.offset == 0 && self.bytes == self.buf.buffer.size() && Arc::strong_count(&self.buf) == 1
    }
}

/// Where a variable's values live.
pub(crate) enum Memory {
    /// `/cpu:0`: canonical host bytes.
    Host(Vec<u8>),
    /// A GPU device: chunk buffers in element order.
    Gpu(Vec<Chunk>),
}

/// One materialized variable.
pub(crate) struct Entry {
    pub device: usize,
    pub memory: Memory,
    pub bytes: u64,
    pub initialized: bool,
}

/// Maps keyed by variable ids and device indexes (the program's own numbers), hashed with
/// foldhash: std's SipHash showed in profiles of initializing 10,000 variables.
type IdMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;
/// [`IdMap`]'s set.
type IdSet<K> = HashSet<K, foldhash::fast::FixedState>;

/// The variable table, by variable id.
#[derive(Default)]
pub(crate) struct Storage {
    vars: IdMap<u64, Entry>,
}

impl Storage {
    /// The entry of variable `id`, if materialized.
    pub fn get(&self, id: u64) -> Option<&Entry> {
        self.vars.get(&id)
    }

    /// The entry of variable `id`, mutably.
    pub fn get_mut(&mut self, id: u64) -> Option<&mut Entry> {
        self.vars.get_mut(&id)
    }

    /// Whether variable `id` holds initialized values.
    pub fn is_initialized(&self, id: u64) -> bool {
        self.vars.get(&id).is_some_and(|e| e.initialized)
    }

    /// Marks variable `id` initialized (no-op when not materialized).
    pub fn mark_initialized(&mut self, id: u64) {
        if let Some(e) = self.vars.get_mut(&id) {
            e.initialized = true;
        }
    }

    /// The GPU chunks of variable `id` (`None` when not materialized or on `/cpu:0`).
    pub fn chunks(&self, id: u64) -> Option<&[Chunk]> {
        match &self.vars.get(&id)?.memory {
            Memory::Gpu(c) => Some(c),
            Memory::Host(_) => None,
        }
    }

    /// Ids of every materialized variable.
    pub fn ids(&self) -> Vec<u64> {
        self.vars.keys().copied().collect()
    }

    /// Allocates every variable of `vars` that has no memory yet: validates all first
    /// (placement, dtype, size, device memory), then allocates; on failure frees what
    /// this call allocated. Returns the ids newly materialized.
    pub fn materialize(
        &mut self,
        devices: &Devices,
        pool: &mut Pool,
        graph_id: u64,
        vars: &[Variable],
    ) -> Result<Vec<u64>> {
        let mut todo = Vec::new();
        let mut seen: IdSet<u64> = IdSet::default();
        let mut per_dev: IdMap<usize, u64> = IdMap::default();
        for v in vars {
            if self.vars.contains_key(&v.id()) || !seen.insert(v.id()) {
                continue;
            }
            let placed = devices.validate(v, graph_id)?;
            let info = &devices.infos[placed.device];
            let total = per_dev.entry(placed.device).or_default();
            *total += placed.bytes;
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
            todo.push((v.clone(), placed));
        }
        let mut made = Vec::new();
        match self.allocate(devices, pool, todo, &mut made) {
            Ok(()) => Ok(made),
            Err(e) => {
                for id in made {
                    self.free(devices, id);
                }
                Err(e)
            }
        }
    }

    /// Allocates validated variables (pushing each id to `made` as it is inserted):
    /// `/cpu:0` host vectors; on a GPU, chunked buffers for large variables and shared
    /// slabs for small ones.
    fn allocate(
        &mut self,
        devices: &Devices,
        pool: &mut Pool,
        todo: Vec<(Variable, Placed)>,
        made: &mut Vec<u64>,
    ) -> Result<()> {
        let fail = |dev: usize, v: &Variable, message: String| GpuError::Wgpu {
            device: devices.infos[dev].name.clone(),
            operation: format!("allocate {}", v.key()),
            message,
        };
        // Small variables per device, packed into slabs after the large ones.
        let mut small: Vec<Vec<(Variable, u64, u64)>> = vec![Vec::new(); devices.infos.len()];
        for (v, p) in todo {
            let info = &devices.infos[p.device];
            let memory = match devices.dev(p.device) {
                None => {
                    info.in_use.fetch_add(p.bytes, Ordering::Relaxed);
                    Memory::Host(vec![0u8; p.bytes as usize])
                }
                Some(_) if p.bytes <= devices.slab_limit(p.device) => {
                    small[p.device].push((v, p.elements, p.bytes));
                    continue;
                }
                Some(d) => {
                    let mut chunks = Vec::new();
                    for (start, count) in layout::plan_chunks(v.dtype(), p.elements, devices.chunk_limit(p.device)) {
                        let cb = layout::device_bytes(v.dtype(), count).unwrap_or(0);
                        let label = if start == 0 && count == p.elements {
                            v.key().to_string()
                        } else {
                            format!("{}[{}..{}]", v.key(), start, start + count)
                        };
                        let buf = pool
                            .alloc_variable(d.gpu, info, &label, cb, Contents::Unfilled { chunk: true })
                            .map_err(|m| fail(p.device, &v, m))?;
                        chunks.push(Chunk { buf, offset: 0, start, count, bytes: cb });
                    }
                    Memory::Gpu(chunks)
                }
            };
            self.vars.insert(v.id(), Entry { device: p.device, memory, bytes: p.bytes, initialized: false });
            made.push(v.id());
        }
        for (dev, vars) in small.into_iter().enumerate() {
            let Some(d) = devices.dev(dev) else { continue };
            let align = d.gpu.align;
            let cap = devices.slab_capacity(dev);
            let mut i = 0;
            while i < vars.len() {
                // Greedy: as many consecutive variables as fit in one slab.
                let mut end = i;
                let mut size = 0u64;
                while end < vars.len() {
                    let off = size.div_ceil(align) * align;
                    let need = off + vars[end].2.max(4);
                    if end > i && need > cap {
                        break;
                    }
                    size = need;
                    end += 1;
                }
                let group = &vars[i..end];
                let label = slab_label(group.iter().map(|(v, _, _)| v.key()));
                let buf = pool
                    .alloc_variable(d.gpu, d.info, &label, size, Contents::Unfilled { chunk: false })
                    .map_err(|m| fail(dev, &group[0].0, m))?;
                let mut off = 0u64;
                for (v, n, bytes) in group {
                    off = off.div_ceil(align) * align;
                    let chunk = Chunk { buf: buf.clone(), offset: off, start: 0, count: *n, bytes: *bytes };
                    off += (*bytes).max(4);
                    let entry =
                        Entry { device: dev, memory: Memory::Gpu(vec![chunk]), bytes: *bytes, initialized: false };
                    self.vars.insert(v.id(), entry);
                    made.push(v.id());
                }
                i = end;
            }
        }
        Ok(())
    }

    /// Frees variable `id`'s memory (a GPU buffer is destroyed with its last variable).
    pub fn free(&mut self, devices: &Devices, id: u64) {
        if let Some(e) = self.vars.remove(&id) {
            if let Memory::Host(b) = e.memory {
                devices.infos[e.device].in_use.fetch_sub(b.len() as u64, Ordering::Relaxed);
            }
        }
    }
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
