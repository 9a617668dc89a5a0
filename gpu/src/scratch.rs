//! Scratch buffers for user kernels: activations, inputs and statistics that are not
//! variables but live beside them on a device.
//!
//! They come from the session's pool like variable buffers (created inside a wgpu error
//! scope, counted in the device's `bytes_in_use` and checked against its memory limit,
//! destroyed when the last handle drops), so "all GPU memory goes through the session's
//! pool" holds for programs that run their own kernels too. Writes and reads go through
//! the session (one upload path, and the one readback path of the pool's staging
//! buffers), and [`Session::error_scope`] runs a user's own wgpu calls (shader modules,
//! pipelines, bind groups, submissions) inside the session's error scopes.

use std::ops::Range;
use std::sync::Arc;

use crate::error::{GpuError, Result};
use crate::launch::Dev;
use crate::pool::{scoped, Contents, VarBuffer};
use crate::session::Session;
use crate::transfer::ReadRange;

/// Usage of every scratch buffer: the same as a variable's chunk buffers.
pub const SCRATCH_USAGE: wgpu::BufferUsages =
    wgpu::BufferUsages::STORAGE.union(wgpu::BufferUsages::COPY_SRC).union(wgpu::BufferUsages::COPY_DST);

/// A device buffer for a user kernel, from [`Session::scratch_buffer`]. Its usage is
/// [`SCRATCH_USAGE`] (bind it as `var<storage>`); it starts zeroed. Clones share the
/// buffer, which is destroyed (and uncounted) when the last clone drops.
#[derive(Clone)]
pub struct ScratchBuffer {
    buf: Arc<VarBuffer>,
    /// The wgpu device it was made on (tells this session's buffers from others').
    device: wgpu::Device,
    dev: usize,
    device_name: String,
    label: String,
    size: u64,
}

impl std::fmt::Debug for ScratchBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScratchBuffer")
            .field("device", &self.device_name)
            .field("label", &self.label)
            .field("size", &self.size)
            .finish()
    }
}

impl ScratchBuffer {
    /// The wgpu buffer (to bind; it stays valid while this handle lives).
    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.buf.buffer
    }

    /// The whole buffer as a binding resource.
    pub fn as_entire_binding(&self) -> wgpu::BindingResource<'_> {
        self.buf.buffer.as_entire_binding()
    }

    /// Bytes usable (the size asked for, rounded up to a multiple of 4).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The device it lives on (`/gpu:N`).
    pub fn device_name(&self) -> &str {
        &self.device_name
    }

    /// Its label (as wgpu's debug tools show it).
    pub fn label(&self) -> &str {
        &self.label
    }
}

impl Session {
    /// The handles of a GPU device by name (any TensorFlow spelling); the host device
    /// has no wgpu buffers (`what` names the object asked for, in the error).
    fn scratch_device(&self, device: &str, what: &str) -> Result<Dev<'_>> {
        let info = self.device(device)?;
        let index = self.devices().iter().position(|d| std::ptr::eq(d, info));
        match index.and_then(|i| self.dev(i)) {
            Some(dev) => Ok(dev),
            None => Err(GpuError::NoBuffers { variable: what.to_string(), device: info.name.clone() }),
        }
    }

    /// A zeroed scratch buffer of `bytes` bytes (rounded up to a multiple of 4) on a GPU
    /// `device`, labeled `label`, from the session's pool: counted in the device's
    /// `bytes_in_use` until the last handle drops, and refused with
    /// [`GpuError::TooLarge`] / [`GpuError::OutOfMemory`] like a variable that does not
    /// fit. `/cpu:0` has no wgpu buffers ([`GpuError::NoBuffers`]).
    pub fn scratch_buffer(&self, device: &str, label: &str, bytes: u64) -> Result<ScratchBuffer> {
        let what = format!("scratch buffer {label}");
        let dev = self.scratch_device(device, &what)?;
        let info = dev.info;
        let size = bytes.max(4).checked_next_multiple_of(4).unwrap_or(u64::MAX);
        let limit = info.max_buffer_size.min(info.memory_limit);
        if size > limit {
            return Err(GpuError::TooLarge { variable: what, bytes: size, device: info.name.clone(), limit });
        }
        // Checked and allocated under one hold of the session lock, as variables are: two
        // threads cannot both pass the check and then both allocate.
        let mut l = self.locked();
        let in_use = info.bytes_in_use();
        if in_use.saturating_add(size) > info.memory_limit {
            return Err(GpuError::OutOfMemory {
                variable: what,
                device: info.name.clone(),
                bytes: size,
                in_use,
                limit: info.memory_limit,
            });
        }
        let buf = l
            .pool()
            .alloc_variable(dev.gpu, info, label, size, Contents::Zeroed)
            .map_err(|message| dev.error(&format!("allocate {what}"), message))?;
        drop(l);
        Ok(ScratchBuffer {
            buf,
            device: dev.gpu.device.clone(),
            dev: dev.index,
            device_name: info.name.clone(),
            label: label.to_string(),
            size,
        })
    }

    /// Writes `data` into `b` at byte `offset` (both multiples of 4, inside the buffer),
    /// queued before the next submission; nothing is written if the call fails.
    pub fn write_scratch(&self, b: &ScratchBuffer, offset: u64, data: &[u8]) -> Result<()> {
        let dev = self.scratch_handles(b)?;
        let operation = format!("write scratch buffer {}", b.label);
        let end = offset.checked_add(data.len() as u64);
        if end.is_none_or(|e| e > b.size) || !offset.is_multiple_of(4) || !data.len().is_multiple_of(4) {
            let why = format!(
                "{} bytes at offset {offset} do not fit its {} bytes as whole 4-byte words",
                data.len(),
                b.size
            );
            return Err(dev.error(&operation, why));
        }
        scoped(dev.gpu, || dev.gpu.queue.write_buffer(&b.buf.buffer, offset, data))
            .map_err(|m| dev.error(&operation, m))
    }

    /// Reads `range` of `b` (multiples of 4, inside the buffer) after every submission
    /// so far has finished, through the session's one readback path (pooled staging,
    /// one copy, one wait).
    pub fn read_scratch(&self, b: &ScratchBuffer, range: Range<u64>) -> Result<Vec<u8>> {
        let dev = self.scratch_handles(b)?;
        let operation = format!("read scratch buffer {}", b.label);
        if range.start > range.end
            || range.end > b.size
            || !range.start.is_multiple_of(4)
            || !range.end.is_multiple_of(4)
        {
            let why = format!("bytes {range:?} are not whole 4-byte words inside its {} bytes", b.size);
            return Err(dev.error(&operation, why));
        }
        let len = range.end - range.start;
        let mut out = Vec::with_capacity(len as usize);
        let ranges = [ReadRange { buffer: b.buf.buffer.clone(), offset: range.start, bytes: len }];
        self.locked().read_ranges(dev, &operation, &ranges, |_, bytes| out.extend_from_slice(bytes))?;
        Ok(out)
    }

    /// Runs `f` with `device`'s wgpu device and queue inside the session's validation,
    /// out-of-memory and internal error scopes. An error wgpu raises in them is
    /// [`GpuError::Wgpu`] naming the device, `operation` and wgpu's whole message chain,
    /// instead of reaching the uncaptured-error handler.
    pub fn error_scope<T>(
        &self,
        device: &str,
        operation: &str,
        f: impl FnOnce(&wgpu::Device, &wgpu::Queue) -> T,
    ) -> Result<T> {
        let dev = self.scratch_device(device, operation)?;
        scoped(dev.gpu, || f(&dev.gpu.device, &dev.gpu.queue)).map_err(|m| dev.error(operation, m))
    }

    /// The handles of the device `b` lives on (it must be this session's).
    fn scratch_handles(&self, b: &ScratchBuffer) -> Result<Dev<'_>> {
        match self.dev(b.dev) {
            Some(dev) if dev.info.name == b.device_name && dev.gpu.device == b.device => Ok(dev),
            _ => Err(GpuError::UnknownDevice {
                device: b.device_name.clone(),
                variable: Some(format!("scratch buffer {}", b.label)),
                available: self.devices().iter().map(|d| d.name.clone()).collect(),
            }),
        }
    }
}
