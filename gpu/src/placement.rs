//! A session's devices and where each variable goes: device strings in any TensorFlow
//! spelling, `caching_device` (string or device function), the session default, and the
//! checks that a variable can live on its device (dtype support, known shape, size).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use varscope_core::{CachingDevice, DeviceKind, DeviceName, Variable};

use crate::device::{DeviceInfo, Gpu};
use crate::error::{GpuError, Result};
use crate::launch::Dev;
use crate::layout;
use crate::sync::lock;

/// The devices of a session: `/cpu:0` at index 0, `/gpu:n` at index `n + 1`.
pub(crate) struct Devices {
    pub infos: Vec<DeviceInfo>,
    pub gpus: Vec<Gpu>,
    pub default: usize,
    pub max_chunk_bytes: Option<u64>,
    /// Where each variable placed by a device function went (by variable id), and the
    /// slots pinned to their variable's device: a device function is called once per
    /// variable, so one that keeps state (round-robin) places it once and for all.
    pub fixed: Mutex<HashMap<u64, usize>>,
    /// Whether `fixed` has ever held anything: sessions with no device functions and no
    /// pinned slots place every variable without taking its lock.
    pub any_fixed: AtomicBool,
}

/// Where a validated variable goes: device index, elements and bytes on that device.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Placed {
    pub device: usize,
    pub elements: u64,
    pub bytes: u64,
}

impl Devices {
    /// The GPU at device index `index` (`None` for `/cpu:0`).
    pub fn dev(&self, index: usize) -> Option<Dev<'_>> {
        let gpu = index.checked_sub(1).and_then(|i| self.gpus.get(i))?;
        Some(Dev { gpu, info: &self.infos[index], index })
    }

    fn available(&self) -> Vec<String> {
        self.infos.iter().map(|d| d.name.clone()).collect()
    }

    /// Index of a device string in any TensorFlow spelling.
    pub fn index(&self, s: &str, var: Option<&Variable>) -> Result<usize> {
        // A device's own name (`/cpu:0`, `/gpu:1`), the usual spelling, without parsing
        // (which was a tenth of `variables_initializer`'s host part).
        if let Some(i) = self.infos.iter().position(|d| d.name == s) {
            return Ok(i);
        }
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

    /// The device index of a variable: where it was pinned ([`Devices::pin`]), else its
    /// caching device (string, or function: called the first time only), or the default
    /// when it has none or it is `""`.
    pub fn place(&self, v: &Variable) -> Result<usize> {
        if self.any_fixed.load(Ordering::Acquire) {
            if let Some(&d) = lock(&self.fixed).get(&v.id()) {
                return Ok(d);
            }
        }
        match v.caching_device() {
            None => Ok(self.default),
            Some(cd) => {
                // The user's function runs without the placement table's lock.
                let s = cd.resolve(v);
                let d = if s.trim().is_empty() { self.default } else { self.index(&s, Some(v))? };
                Ok(match cd {
                    CachingDevice::Fn(_) => self.fix(v, d),
                    _ => d,
                })
            }
        }
    }

    /// Places `v` on device `dev` from now on, unless it is placed already (slots go
    /// where their variable is, as TensorFlow colocates them).
    pub fn pin(&self, v: &Variable, dev: usize) {
        self.fix(v, dev);
    }

    /// Records `dev` as `v`'s device unless it has one; returns the one it has.
    fn fix(&self, v: &Variable, dev: usize) -> usize {
        let mut fixed = lock(&self.fixed);
        self.any_fixed.store(true, Ordering::Release);
        *fixed.entry(v.id()).or_insert(dev)
    }

    /// Largest chunk (bytes) of a variable on `dev`.
    pub fn chunk_limit(&self, dev: usize) -> u64 {
        let d = &self.infos[dev];
        let hw = d.max_storage_buffer_binding_size.min(d.max_buffer_size);
        match self.max_chunk_bytes {
            Some(c) => c.min(hw),
            None => hw,
        }
    }

    /// Largest variable (device bytes) packed into a slab on `dev`.
    pub fn slab_limit(&self, dev: usize) -> u64 {
        (1u64 << 20).min(self.chunk_limit(dev))
    }

    /// Most bytes of one slab on `dev`.
    pub fn slab_capacity(&self, dev: usize) -> u64 {
        (64u64 << 20).min(self.chunk_limit(dev))
    }

    /// Checks that `v` (of the graph `graph_id`) can live on its device: same graph,
    /// known shape, supported dtype, fits the device's memory limit.
    pub fn validate(&self, v: &Variable, graph_id: u64) -> Result<Placed> {
        if v.graph_id() != graph_id {
            return Err(GpuError::ForeignVariable { variable: v.key().to_string() });
        }
        let dev = self.place(v)?;
        let info = &self.infos[dev];
        info.supports(v.dtype()).map_err(|reason| GpuError::UnsupportedDType {
            variable: v.key().to_string(),
            dtype: v.dtype(),
            device: info.name.clone(),
            reason,
        })?;
        if !v.shape().is_fully_defined() {
            return Err(GpuError::UnknownShape { variable: v.key().to_string(), shape: v.shape().to_string() });
        }
        // `None`: more elements than a u64 holds.
        let n = v.num_elements();
        let bytes = n.and_then(|n| {
            if info.is_cpu() {
                n.checked_mul(v.dtype().size_bytes() as u64)
            } else {
                layout::device_bytes(v.dtype(), n)
            }
        });
        let too_large = |bytes: Option<u64>, limit: u64| GpuError::TooLarge {
            variable: v.key().to_string(),
            bytes: bytes.unwrap_or(u64::MAX),
            device: info.name.clone(),
            limit,
        };
        let (n, bytes) = match (n, bytes) {
            (Some(n), Some(b)) if b <= info.memory_limit => (n, b),
            _ => return Err(too_large(bytes, info.memory_limit)),
        };
        if info.is_cpu() && bytes > isize::MAX as u64 {
            return Err(too_large(Some(bytes), isize::MAX as u64));
        }
        Ok(Placed { device: dev, elements: n, bytes })
    }
}
