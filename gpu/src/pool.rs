//! The session's one GPU memory pool.
//!
//! Every buffer the session creates comes from here, inside a wgpu error scope, and is
//! accounted per device. Buffers are pooled by use:
//! - variable buffers: a large variable gets its own buffer per chunk, labeled with its
//!   name; small variables materialized together share a *slab* (each at an offset
//!   aligned to `min_storage_buffer_offset_alignment`), labeled with their names, so one
//!   init dispatch covers them all. A buffer is destroyed when its last variable is
//!   released;
//! - small readback staging and descriptor/parameter buffers are cached by
//!   `(device, use, size)` and reused, up to a byte cap;
//! - large transfers go through a staging *ring* per device and direction: at most two
//!   buffers of one staging piece each ([`STAGING_PIECE`] bytes), kept across calls
//!   outside the cap (so a 64 MiB read neither allocates nor page-faults fresh staging),
//!   freed by [`Pool::trim`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::device::{DeviceInfo, Gpu};
use crate::sync::block_on;

/// What a pooled buffer is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Use {
    /// A variable's chunk: STORAGE | COPY_SRC | COPY_DST, labeled with the variable.
    Variable,
    /// Readback staging: MAP_READ | COPY_DST.
    Readback,
    /// Descriptor tables and kernel parameters: STORAGE | UNIFORM | COPY_DST.
    Params,
    /// Upload staging: MAP_WRITE | COPY_SRC.
    Upload,
}

/// Bytes of one staging piece: a transfer is cut into pieces of at most this size, two of
/// which are in flight at a time (one mapped on the host, one copied by the device).
pub(crate) const STAGING_PIECE: u64 = 16 << 20;

/// Staging buffers a ring keeps per device and direction (double buffering).
const RING_SLOTS: usize = 2;

impl Use {
    fn usages(self) -> wgpu::BufferUsages {
        use wgpu::BufferUsages as U;
        match self {
            Use::Variable => U::STORAGE | U::COPY_SRC | U::COPY_DST,
            Use::Readback => U::MAP_READ | U::COPY_DST,
            Use::Params => U::STORAGE | U::UNIFORM | U::COPY_DST,
            Use::Upload => U::MAP_WRITE | U::COPY_SRC,
        }
    }
}

/// What a new variable buffer holds until it is first written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Contents {
    /// Zeros: wgpu's own lazy zero-fill, a `clear_buffer` of the whole buffer before
    /// its first use. For buffers whose readers may see words nobody wrote (gradients,
    /// scratch).
    Zeroed,
    /// Whatever the memory held, with no zero-fill pass: for variable storage. A
    /// variable's words are read only once it is initialized, and every operation that
    /// marks a variable initialized (an initializer kernel, a fill, an assign, a
    /// restore) writes every one of its words first; gaps between the variables of a
    /// slab and past a variable's words are never read. `SessionOptions::debug_fill`
    /// fills these buffers with a byte so tests see any word that was not written.
    ///
    /// Made through wgpu-hal on Vulkan and GL (`unfilled::create`; Metal and DX12
    /// zero-fill as [`Contents::Zeroed`]). The zero-fill it skips is a full write pass
    /// of every new variable, and on lavapipe the pass in which the driver's one queue
    /// thread takes every page fault of the fresh memory: a 4.09 GB model initialized
    /// in 5.4-5.9 s with it, 3.8-4.1 s without (the init kernel's two threads take the
    /// faults). Sizes are within the device's limits: placement checked them.
    Unfilled {
        /// The buffer is one variable's chunk, not a slab shared by small variables. On a
        /// CPU Vulkan device (lavapipe), whose device memory is this process's memory, a
        /// chunk of [`HINT_BYTES`](crate::huge_pages::HINT_BYTES) bytes or more gets
        /// its own allocation, advised for transparent huge pages before its first touch
        /// (`host_memory`): the 4.09 GB model took 4.1M page faults per run, 0.19M
        /// with it (4.2-4.6 -> 3.7-4.3 s). Slabs stay in wgpu's suballocated blocks,
        /// whose memory a session reuses when small variables are released and created
        /// again (2,000 new 64x64 variables were 5-10% slower in fresh memory).
        chunk: bool,
    },
}

/// Writes `byte` to every byte of `b` (queued before the next submission).
fn debug_fill(gpu: &Gpu, b: &wgpu::Buffer, byte: u8) {
    let piece = vec![byte; STAGING_PIECE.min(b.size()) as usize];
    let mut at = 0;
    while at < b.size() {
        let n = (b.size() - at).min(piece.len() as u64);
        gpu.queue.write_buffer(b, at, &piece[..n as usize]);
        at += n;
    }
}

/// Variable buffers without wgpu's zero-fill ([`Contents::Unfilled`]).
mod unfilled {
    use crate::device::Gpu;

    /// A buffer like `desc` that wgpu treats as initialized, created through the
    /// device's wgpu-hal device (Vulkan or GL; a variable chunk of a CPU Vulkan device,
    /// `host_chunk`, in its own memory advised for huge pages when it is large); `None` on other backends (and targets
    /// without these two), `Some(Err)` with the driver's message when the allocation
    /// failed.
    #[cfg(any(target_os = "linux", target_os = "windows", target_os = "android"))]
    pub(super) fn create(
        gpu: &Gpu,
        desc: &wgpu::BufferDescriptor<'_>,
        host_chunk: bool,
    ) -> Option<Result<wgpu::Buffer, String>> {
        use wgpu::hal::api::{Gles, Vulkan};
        #[cfg(target_os = "linux")]
        if host_chunk && desc.size >= crate::huge_pages::HINT_BYTES as u64 {
            if let Some(b) = super::host_memory::create(gpu, desc) {
                return Some(Ok(b));
            }
        }
        with::<Vulkan>(gpu, desc).or_else(|| with::<Gles>(gpu, desc))
    }

    /// No wgpu-hal backend handled on this target: every buffer is zero-filled by wgpu.
    #[cfg(not(any(target_os = "linux", target_os = "windows", target_os = "android")))]
    pub(super) fn create(_: &Gpu, _: &wgpu::BufferDescriptor<'_>, _: bool) -> Option<Result<wgpu::Buffer, String>> {
        None
    }

    /// [`create`] through backend `A` (`None` when `gpu` is not an `A` device).
    #[cfg(any(target_os = "linux", target_os = "windows", target_os = "android"))]
    fn with<A: wgpu::hal::Api>(gpu: &Gpu, desc: &wgpu::BufferDescriptor<'_>) -> Option<Result<wgpu::Buffer, String>> {
        use wgpu::hal::{self, Device as _};
        use wgpu::wgt::BufferUses as U;
        // SAFETY: the guard is only used to create one buffer on this device, and is
        // dropped before the device is used through wgpu again.
        let raw = unsafe { gpu.device.as_hal::<A>() }?;
        // wgpu-core's own descriptor for these usages (its `map_buffer_usage`, COPY_DST
        // included): STORAGE | COPY_SRC | COPY_DST, 4-byte aligned size, no memory flags.
        debug_assert!(desc.size.is_multiple_of(4) && desc.size > 0 && !desc.mapped_at_creation);
        let hal_desc = hal::BufferDescriptor {
            label: desc.label,
            size: desc.size,
            usage: U::STORAGE_READ_ONLY | U::STORAGE_READ_WRITE | U::COPY_SRC | U::COPY_DST,
            memory_flags: hal::MemoryFlags::empty(),
        };
        // SAFETY: a valid descriptor for this device.
        let made = unsafe { raw.create_buffer(&hal_desc) };
        drop(raw);
        Some(match made {
            // SAFETY: created by this device's wgpu-hal device, from `desc`'s usages and
            // size, nonzero. wgpu asks for initialized memory; this buffer's contents are
            // defined before they are read by the rule of `Contents::Unfilled`.
            Ok(hb) => Ok(unsafe { gpu.device.create_buffer_from_hal::<A>(hb, desc) }),
            Err(e) => Err(format!("cannot allocate {} bytes: {e}", desc.size)),
        })
    }
}

/// Variable chunks of a CPU Vulkan device (lavapipe), whose device memory is this
/// process's own memory, with transparent huge pages asked for before the first touch
/// ([`Contents::Unfilled`]'s `chunk`).
#[cfg(target_os = "linux")]
mod host_memory {
    use crate::device::Gpu;
    use ash::vk;
    use wgpu::hal::api::Vulkan;

    /// A buffer like `desc` (a variable's usages) in its own allocation of host-visible
    /// device memory, advised for huge pages, on `gpu`, a CPU Vulkan device; `None`, with
    /// nothing left allocated, when a step fails (the caller then takes the ordinary path,
    /// which reports an allocation failure as usual).
    pub(super) fn create(gpu: &Gpu, desc: &wgpu::BufferDescriptor<'_>) -> Option<wgpu::Buffer> {
        // SAFETY: the guard is used only for the Vulkan calls below, on objects this
        // function creates, and is dropped before the device is used through wgpu again.
        let raw = unsafe { gpu.device.as_hal::<Vulkan>() }?;
        let (dev, pd) = (raw.raw_device(), raw.raw_physical_device());
        let inst = raw.shared_instance().raw_instance();
        // SAFETY: `pd` is the physical device of this device, of this instance.
        let types = unsafe { inst.get_physical_device_memory_properties(pd) };
        use vk::BufferUsageFlags as B;
        let info = vk::BufferCreateInfo::default()
            .size(desc.size)
            .usage(B::STORAGE_BUFFER | B::TRANSFER_SRC | B::TRANSFER_DST)
            .sharing_mode(vk::SharingMode::EXCLUSIVE);
        // SAFETY: a valid create info (a nonzero size within the device's limits,
        // checked by placement).
        let buf = unsafe { dev.create_buffer(&info, None) }.ok()?;
        // SAFETY: `buf` is a live buffer of `dev`.
        let req = unsafe { dev.get_buffer_memory_requirements(buf) };
        let want = vk::MemoryPropertyFlags::DEVICE_LOCAL | vk::MemoryPropertyFlags::HOST_VISIBLE;
        let ty = (0..types.memory_type_count).find(|&i| {
            req.memory_type_bits & (1 << i) != 0 && types.memory_types[i as usize].property_flags.contains(want)
        });
        let mem = ty.and_then(|t| {
            let alloc = vk::MemoryAllocateInfo::default().allocation_size(req.size).memory_type_index(t);
            // SAFETY: a valid allocate info: a type the buffer accepts, its required size.
            unsafe { dev.allocate_memory(&alloc, None) }.ok()
        });
        // SAFETY: `mem` is new, host-visible and not mapped; the pointer is used only to
        // advise the kernel (never to read or write), and unmapped at once; `buf` and
        // `mem` are unused by anything else and freed here on failure, else handed to
        // wgpu-hal, which destroys the buffer and frees the memory with the wgpu buffer.
        unsafe {
            let bound = mem.filter(|&m| {
                let advised = dev.map_memory(m, 0, vk::WHOLE_SIZE, vk::MemoryMapFlags::empty()).map(|p| {
                    crate::huge_pages::advise(p as usize, req.size as usize);
                    dev.unmap_memory(m);
                });
                advised.is_ok() && dev.bind_buffer_memory(buf, m, 0).is_ok()
            });
            let Some(mem) = bound else {
                dev.destroy_buffer(buf, None);
                if let Some(m) = mem {
                    dev.free_memory(m, None);
                }
                return None;
            };
            let hb = wgpu::hal::vulkan::Buffer::from_raw_managed(buf, mem, 0, req.size);
            drop(raw);
            // wgpu treats the buffer as initialized: see `Contents::Unfilled`.
            Some(gpu.device.create_buffer_from_hal::<Vulkan>(hb, desc))
        }
    }
}

/// Runs `f` inside validation, out-of-memory and internal error scopes of `gpu`;
/// returns wgpu's message if any of them caught an error.
pub(crate) fn scoped<T>(gpu: &Gpu, f: impl FnOnce() -> T) -> Result<T, String> {
    let internal = gpu.device.push_error_scope(wgpu::ErrorFilter::Internal);
    let oom = gpu.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
    let validation = gpu.device.push_error_scope(wgpu::ErrorFilter::Validation);
    let t = f();
    let v = block_on(validation.pop());
    let o = block_on(oom.pop());
    let i = block_on(internal.pop());
    match v.or(o).or(i) {
        Some(e) => Err(describe(&e)),
        None => Ok(t),
    }
}

/// A wgpu error with its whole source chain (wgpu's `Display` alone often says only
/// "Validation Error").
pub(crate) fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(": ");
        s.push_str(&x.to_string());
        src = x.source();
    }
    s
}

/// A variable buffer: one variable's chunk, or a slab holding several small variables.
/// Destroyed (and uncounted) when the last chunk using it is dropped.
pub(crate) struct VarBuffer {
    pub buffer: wgpu::Buffer,
    in_use: Arc<AtomicU64>,
}

impl Drop for VarBuffer {
    fn drop(&mut self) {
        self.in_use.fetch_sub(self.buffer.size(), Ordering::Relaxed);
        self.buffer.destroy();
    }
}

/// The pool. Lives in the session's state, behind its lock.
pub(crate) struct Pool {
    free: HashMap<(usize, Use, u64), Vec<wgpu::Buffer>>,
    cached_bytes: u64,
    cache_cap: u64,
    /// Staging rings: `(device, Readback | Upload)` -> idle buffers of `piece` bytes.
    rings: HashMap<(usize, Use), Vec<wgpu::Buffer>>,
    piece: u64,
    /// The byte every new unfilled buffer is filled with (a debugging aid), if any.
    debug_fill: Option<u8>,
}

impl Pool {
    pub fn new(cache_cap: u64) -> Self {
        Pool {
            free: HashMap::new(),
            cached_bytes: 0,
            cache_cap,
            rings: HashMap::new(),
            piece: STAGING_PIECE,
            debug_fill: None,
        }
    }

    /// Bytes of one staging piece ([`STAGING_PIECE`] unless a test set it).
    pub fn piece(&self) -> u64 {
        self.piece
    }

    /// Sets the staging piece size (a multiple of 8; tests use small ones to cross many
    /// piece boundaries quickly). Drops the rings' buffers of the old size.
    #[cfg(test)]
    pub fn set_piece(&mut self, bytes: u64) {
        self.trim();
        self.piece = bytes.max(8).div_ceil(8) * 8;
    }

    /// A staging buffer of `use_` (Readback or Upload) for `need` bytes: one of the ring's
    /// piece-sized buffers when `need` is more than a quarter piece (created on first
    /// use), else a size-cached one. Give it back with [`Pool::give_staging`].
    pub fn staging(&mut self, gpu: &Gpu, dev: usize, use_: Use, need: u64) -> Result<wgpu::Buffer, String> {
        if need.saturating_mul(4) <= self.piece {
            return self.acquire(gpu, dev, use_, need.max(4096).next_power_of_two());
        }
        if let Some(b) = self.rings.get_mut(&(dev, use_)).and_then(Vec::pop) {
            return Ok(b);
        }
        self.acquire(gpu, dev, use_, self.piece)
    }

    /// Gives a buffer from [`Pool::staging`] back: piece-sized ones to the ring (up to
    /// two per device and direction), others to the size cache.
    pub fn give_staging(&mut self, dev: usize, use_: Use, b: wgpu::Buffer) {
        if b.size() == self.piece {
            let ring = self.rings.entry((dev, use_)).or_default();
            if ring.len() < RING_SLOTS {
                ring.push(b);
            } else {
                b.destroy();
            }
            return;
        }
        self.recycle(dev, use_, b);
    }

    /// The pool, filling every [`Contents::Unfilled`] buffer it makes with `byte`
    /// ([`crate::SessionOptions::debug_fill`]).
    pub fn with_debug_fill(mut self, byte: Option<u8>) -> Self {
        self.debug_fill = byte;
        self
    }

    /// A new variable buffer of `size` bytes labeled `label`, holding `contents` until
    /// first written, counted in `info`'s bytes in use until the returned guard (shared
    /// by every chunk living in it) drops.
    pub fn alloc_variable(
        &mut self,
        gpu: &Gpu,
        info: &DeviceInfo,
        label: &str,
        size: u64,
        contents: Contents,
    ) -> Result<Arc<VarBuffer>, String> {
        let size = size.max(4).div_ceil(4) * 4;
        let desc = wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage: Use::Variable.usages(),
            mapped_at_creation: false,
        };
        let b = match contents {
            Contents::Zeroed => scoped(gpu, || gpu.device.create_buffer(&desc))?,
            Contents::Unfilled { chunk } => {
                let host = info.device_type == wgpu::DeviceType::Cpu && info.backend == Some(wgpu::Backend::Vulkan);
                match unfilled::create(gpu, &desc, chunk && host) {
                    Some(made) => made?,
                    None => scoped(gpu, || gpu.device.create_buffer(&desc))?,
                }
            }
        };
        if let (Contents::Unfilled { .. }, Some(byte)) = (contents, self.debug_fill) {
            debug_fill(gpu, &b, byte);
        }
        info.in_use.fetch_add(size, Ordering::Relaxed);
        Ok(Arc::new(VarBuffer { buffer: b, in_use: info.in_use.clone() }))
    }

    /// A cached or new buffer of `use_` with at least... exactly `size` bytes.
    pub fn acquire(&mut self, gpu: &Gpu, dev: usize, use_: Use, size: u64) -> Result<wgpu::Buffer, String> {
        let size = size.max(4).div_ceil(4) * 4;
        if let Some(b) = self.free.get_mut(&(dev, use_, size)).and_then(Vec::pop) {
            self.cached_bytes -= size;
            return Ok(b);
        }
        let label = match use_ {
            Use::Variable => "varscope variable",
            Use::Readback => "varscope readback",
            Use::Params => "varscope params",
            Use::Upload => "varscope upload",
        };
        scoped(gpu, || {
            gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage: use_.usages(),
                mapped_at_creation: false,
            })
        })
    }

    /// Gives a buffer from [`Pool::acquire`] back; cached if under the cap, else destroyed.
    pub fn recycle(&mut self, dev: usize, use_: Use, b: wgpu::Buffer) {
        let size = b.size();
        if self.cached_bytes + size <= self.cache_cap {
            self.cached_bytes += size;
            self.free.entry((dev, use_, size)).or_default().push(b);
        } else {
            b.destroy();
        }
    }

    /// Destroys every cached buffer and the staging rings.
    pub fn trim(&mut self) {
        for (_, v) in self.free.drain().chain(self.rings.drain().map(|((d, u), v)| ((d, u, 0), v))) {
            for b in v {
                b.destroy();
            }
        }
        self.cached_bytes = 0;
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.trim();
    }
}
