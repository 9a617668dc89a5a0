//! [`SessionOptions`]: how a session opens its devices and sizes its memory.

use crate::device;

/// Environment variable that overrides the default device (`/cpu:0`, `/gpu:1`, any TF
/// spelling). [`SessionOptions::default_device`] takes precedence over it.
pub const DEFAULT_DEVICE_ENV: &str = "VARSCOPE_DEFAULT_DEVICE";

/// Environment variable that sets [`SessionOptions::debug_fill`] for sessions built from
/// `SessionOptions::default()`: a byte, decimal or `0x` hexadecimal (`0xff`).
pub const DEBUG_FILL_ENV: &str = "VARSCOPE_DEBUG_FILL";

/// Options of [`crate::Session::with_options`]. Build with the setters from `default()`.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    pub(crate) backends: wgpu::Backends,
    pub(crate) default_device: Option<String>,
    pub(crate) max_chunk_bytes: Option<u64>,
    pub(crate) memory_limit: Option<u64>,
    pub(crate) pool_cache_bytes: u64,
    pub(crate) devices: device::DeviceOptions,
    pub(crate) debug_fill: Option<u8>,
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
            debug_fill: std::env::var(DEBUG_FILL_ENV).ok().and_then(|v| parse_debug_fill(&v)),
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
    /// A debugging aid: fills the memory of every new variable with `byte` (`Some`)
    /// before its first write, at the cost of one upload of its bytes. A variable's
    /// memory on a GPU is not zeroed when it is allocated (its initializer, assign or
    /// restore writes all of it before anything can read it, so a zero-fill would be a
    /// wasted pass over it); with a fill byte such as `0xff` (a NaN in every float
    /// dtype), a value that no write reached shows up. Default: [`DEBUG_FILL_ENV`], else
    /// `None`.
    pub fn debug_fill(mut self, byte: Option<u8>) -> Self {
        self.debug_fill = byte;
        self
    }
}

/// A [`DEBUG_FILL_ENV`] value: a byte written in decimal or as `0x` hexadecimal (`None`
/// otherwise; `SessionOptions::default()` then fills nothing).
pub fn parse_debug_fill(s: &str) -> Option<u8> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u8::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_debug_fill;

    #[test]
    fn fill_bytes_parse_in_decimal_and_hex() {
        assert_eq!(parse_debug_fill("255"), Some(255));
        assert_eq!(parse_debug_fill(" 0xff "), Some(255));
        assert_eq!(parse_debug_fill("0X7f"), Some(127));
        assert_eq!(parse_debug_fill("256"), None);
        assert_eq!(parse_debug_fill("ff"), None);
        assert_eq!(parse_debug_fill(""), None);
    }
}
