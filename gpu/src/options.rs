//! [`SessionOptions`]: how a session opens its devices and sizes its memory.

use crate::device;

/// Environment variable that overrides the default device (`/cpu:0`, `/gpu:1`, any TF
/// spelling). [`SessionOptions::default_device`] takes precedence over it.
pub const DEFAULT_DEVICE_ENV: &str = "VARSCOPE_DEFAULT_DEVICE";

/// Options of [`crate::Session::with_options`]. Build with the setters from `default()`.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    pub(crate) backends: wgpu::Backends,
    pub(crate) default_device: Option<String>,
    pub(crate) max_chunk_bytes: Option<u64>,
    pub(crate) memory_limit: Option<u64>,
    pub(crate) pool_cache_bytes: u64,
    pub(crate) devices: device::DeviceOptions,
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
