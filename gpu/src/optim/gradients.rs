//! [`Gradients`]: varscope-managed gradient storage for a variable list.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use varscope_core::{DType, Variable};

use super::{check_f32, OptimError, OptimResult};
use crate::launch::Launch;
use crate::pool::{Contents, VarBuffer};
use crate::session::{ChunkBuffer, Session, VariableBuffers};
use crate::sync;
use crate::transfer::ReadRange;

pub(super) struct GradChunk {
    pub buf: Arc<VarBuffer>,
    /// Byte offset in `buf`.
    pub offset: u64,
    /// First element.
    pub start: u64,
    /// Elements.
    pub count: u64,
}

pub(super) enum GradStorage {
    Host(Mutex<Vec<f32>>),
    Gpu(Vec<GradChunk>),
}

pub(super) struct GradEntry {
    pub var: Variable,
    pub dev: usize,
    pub storage: GradStorage,
}

/// Gradient storage for a list of float32 variables: host vectors on `/cpu:0`, and on
/// each GPU device ranges of shared storage buffers (one range per variable chunk, at
/// offsets aligned to `min_storage_buffer_offset_alignment`, so each can be bound on its
/// own), allocated through the session's pool and zero at creation. User kernels write
/// them ([`Gradients::buffers`]); [`super::Trainer::apply_gradients`] reads them.
pub struct Gradients {
    session: Session,
    pub(super) entries: Vec<GradEntry>,
    index: HashMap<u64, usize>,
}

impl std::fmt::Debug for Gradients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gradients")
            .field("variables", &self.entries.iter().map(|e| e.var.key()).collect::<Vec<_>>())
            .finish()
    }
}

/// (entry, (first element, elements) of each of its variable's chunks).
type ChunkRanges = (usize, Vec<(u64, u64)>);

/// (entry, byte offset, first element, elements) of one range of a gradient buffer.
type Pending = Vec<(usize, u64, u64, u64)>;

impl Gradients {
    /// Allocates zeroed gradients for `vars` (float32, fully defined shapes, no
    /// duplicates) on each variable's device. Materializes the variables that have no
    /// storage yet, all together (so small ones share slabs), without initializing them.
    pub fn new(session: &Session, vars: &[Variable]) -> OptimResult<Self> {
        let mut seen = HashSet::new();
        for v in vars {
            check_f32("gradients", v)?;
            if !seen.insert(v.id()) {
                return Err(OptimError::DuplicateVariable { variable: v.key().to_string() });
            }
        }
        let mut l = session.locked();
        l.materialize(vars)?;
        let mut entries: Vec<GradEntry> = Vec::with_capacity(vars.len());
        // Per GPU device: (entry, element ranges of the variable's chunks).
        let mut by_dev: BTreeMap<usize, Vec<ChunkRanges>> = BTreeMap::new();
        for (i, v) in vars.iter().enumerate() {
            let dev = session.device_index(v)?;
            let storage = match (session.dev(dev), l.storage().chunks(v.id())) {
                (Some(_), Some(chunks)) => {
                    by_dev.entry(dev).or_default().push((i, chunks.iter().map(|c| (c.start, c.count)).collect()));
                    GradStorage::Gpu(Vec::new())
                }
                _ => GradStorage::Host(Mutex::new(vec![0.0; v.num_elements().unwrap_or(0) as usize])),
            };
            entries.push(GradEntry { var: v.clone(), dev, storage });
        }
        for (dev, items) in by_dev {
            let Some(d) = session.dev(dev) else { continue };
            let limits = d.gpu.device.limits();
            let align = u64::from(limits.min_storage_buffer_offset_alignment).max(4);
            let cap = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size).min(256 << 20);
            // Greedy packing of chunk ranges into buffers of at most `cap` bytes.
            let mut pending: Pending = Vec::new();
            let mut size = 0u64;
            let mut flush = |pending: &mut Pending, size: &mut u64, entries: &mut Vec<GradEntry>| -> OptimResult<()> {
                if pending.is_empty() {
                    return Ok(());
                }
                let label =
                    format!("varscope gradients ({} ranges, first {})", pending.len(), entries[pending[0].0].var.key());
                let buf = l
                    .pool()
                    .alloc_variable(d.gpu, d.info, &label, *size, Contents::Zeroed)
                    .map_err(|m| d.error("allocate gradients", m))?;
                for (e, offset, start, count) in pending.drain(..) {
                    if let GradStorage::Gpu(c) = &mut entries[e].storage {
                        c.push(GradChunk { buf: buf.clone(), offset, start, count });
                    }
                }
                *size = 0;
                Ok(())
            };
            for (i, ranges) in items {
                for (start, count) in ranges {
                    let bytes = (count * 4).max(4);
                    let mut off = size.div_ceil(align) * align;
                    if off + bytes > cap && !pending.is_empty() {
                        flush(&mut pending, &mut size, &mut entries)?;
                        off = 0;
                    }
                    pending.push((i, off, start, count));
                    size = off + bytes;
                }
            }
            flush(&mut pending, &mut size, &mut entries)?;
        }
        let index = entries.iter().enumerate().map(|(i, e)| (e.var.id(), i)).collect();
        drop(l);
        Ok(Gradients { session: session.clone(), entries, index })
    }

    /// The session the gradients live on.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The variables, in creation order.
    pub fn variables(&self) -> Vec<Variable> {
        self.entries.iter().map(|e| e.var.clone()).collect()
    }

    pub(super) fn entry(&self, v: &Variable) -> OptimResult<&GradEntry> {
        self.index
            .get(&v.id())
            .map(|&i| &self.entries[i])
            .ok_or_else(|| OptimError::NoGradient { variable: v.key().to_string() })
    }

    /// The gradient buffers of `v` for user kernels: one [`ChunkBuffer`] per chunk of
    /// the variable (same element ranges), with the device and queue. Bind each as
    /// `array<f32>` at `bytes` (an aligned offset). Errors for `/cpu:0` variables.
    pub fn buffers(&self, v: &Variable) -> OptimResult<VariableBuffers> {
        let session = &self.session;
        let e = self.entry(v)?;
        match (&e.storage, session.dev(e.dev)) {
            (GradStorage::Gpu(chunks), Some(d)) => Ok(VariableBuffers {
                device_name: d.info.name.clone(),
                dtype: DType::Float32,
                device: d.gpu.device.clone(),
                queue: d.gpu.queue.clone(),
                chunks: chunks
                    .iter()
                    .map(|c| ChunkBuffer {
                        buffer: c.buf.buffer.clone(),
                        elements: c.start..c.start + c.count,
                        bytes: c.offset..c.offset + c.count * 4,
                    })
                    .collect(),
            }),
            _ => Err(OptimError::NoBuffers {
                op: "gradient buffers",
                variable: v.key().to_string(),
                device: session.devices()[e.dev].name.clone(),
            }),
        }
    }

    /// Writes a gradient from the host (row-major, one value per element).
    pub fn write_f32(&self, v: &Variable, values: &[f32]) -> OptimResult<()> {
        let session = &self.session;
        let e = self.entry(v)?;
        let n = v.num_elements().unwrap_or(0);
        if values.len() as u64 != n {
            return Err(OptimError::SizeMismatch {
                op: "write gradient",
                variable: v.key().to_string(),
                expected: n,
                given: values.len() as u64,
            });
        }
        match &e.storage {
            GradStorage::Host(h) => sync::lock(h).copy_from_slice(values),
            GradStorage::Gpu(chunks) => {
                let Some(d) = session.dev(e.dev) else { return Ok(()) };
                for c in chunks {
                    let part = &values[c.start as usize..(c.start + c.count) as usize];
                    if !part.is_empty() {
                        d.gpu.queue.write_buffer(&c.buf.buffer, c.offset, bytemuck::cast_slice(part));
                    }
                }
            }
        }
        Ok(())
    }

    /// Reads a gradient back to the host.
    pub fn read_f32(&self, v: &Variable) -> OptimResult<Vec<f32>> {
        let session = &self.session;
        let e = self.entry(v)?;
        match (&e.storage, session.dev(e.dev)) {
            (GradStorage::Gpu(chunks), Some(d)) => {
                let ranges: Vec<ReadRange> = chunks
                    .iter()
                    .map(|c| ReadRange { buffer: c.buf.buffer.clone(), offset: c.offset, bytes: c.count * 4 })
                    .collect();
                let mut out: Vec<f32> = Vec::new();
                session.locked().read_ranges(d, &format!("read gradient of {}", v.key()), &ranges, |_, b| {
                    out.extend_from_slice(bytemuck::cast_slice(b))
                })?;
                Ok(out)
            }
            (GradStorage::Host(h), _) => Ok(sync::lock(h).clone()),
            (GradStorage::Gpu(_), None) => Ok(Vec::new()),
        }
    }

    /// Sets every gradient to zero (one `clear_buffer` per range, one submission per
    /// GPU).
    pub fn zero(&self) -> OptimResult<()> {
        let session = &self.session;
        let mut l = session.locked();
        let mut by_dev: BTreeMap<usize, Vec<&GradChunk>> = BTreeMap::new();
        for e in &self.entries {
            match &e.storage {
                GradStorage::Host(h) => sync::lock(h).iter_mut().for_each(|x| *x = 0.0),
                GradStorage::Gpu(chunks) => by_dev.entry(e.dev).or_default().extend(chunks),
            }
        }
        for (dev, chunks) in by_dev {
            let Some(d) = session.dev(dev) else { continue };
            let (mut launch, _): (Launch<'_>, _) = l.launch(d, "zero gradients");
            for c in chunks {
                launch.clear(&c.buf.buffer, c.offset, Some(c.count * 4));
            }
            launch.submit()?;
        }
        Ok(())
    }

    /// A host gradient's values (`None` on a GPU).
    pub(super) fn host(&self, v: &Variable) -> Option<Vec<f32>> {
        match &self.entry(v).ok()?.storage {
            GradStorage::Host(h) => Some(sync::lock(h).clone()),
            GradStorage::Gpu(_) => None,
        }
    }
}
