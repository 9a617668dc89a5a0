//! Device strings (runtime.md section 2). The `caching_device` placement values that
//! hold them live with the variable handles ([`crate::variable::CachingDevice`]).
//!
//! Parsing lives on the host; checking that a device exists is the session's job.

use std::fmt;

/// The kind of a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceKind {
    /// The host device, `/cpu:0`.
    Cpu,
    /// A wgpu adapter, `/gpu:N`.
    Gpu,
}

/// A parsed device name: `/cpu:0` or `/gpu:N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceName {
    /// CPU or GPU.
    pub kind: DeviceKind,
    /// Index among devices of that kind.
    pub index: u32,
}

impl DeviceName {
    /// `/cpu:0`.
    pub const CPU: DeviceName = DeviceName { kind: DeviceKind::Cpu, index: 0 };

    /// `/gpu:index`.
    pub fn gpu(index: u32) -> Self {
        DeviceName { kind: DeviceKind::Gpu, index }
    }

    /// Parses any of TensorFlow's spellings: `/gpu:1`, `/GPU:1`, `/device:GPU:1`,
    /// `gpu:1`, `/job:localhost/replica:0/task:0/device:GPU:1`, `/cpu:0`. Returns `None`
    /// for anything else (the session turns that into an error listing its devices).
    pub fn parse(s: &str) -> Option<DeviceName> {
        let s = s.trim();
        let mut kind_index: Option<(DeviceKind, u32)> = None;
        let mut any = false;
        for part in s.split('/').filter(|p| !p.is_empty()) {
            any = true;
            let lower = part.to_ascii_lowercase();
            if let Some(rest) = lower.strip_prefix("job:") {
                if rest != "localhost" {
                    return None;
                }
            } else if let Some(rest) = lower.strip_prefix("replica:") {
                if rest != "0" {
                    return None;
                }
            } else if let Some(rest) = lower.strip_prefix("task:") {
                if rest != "0" {
                    return None;
                }
            } else {
                if kind_index.is_some() {
                    return None;
                }
                let dev = lower.strip_prefix("device:").unwrap_or(&lower);
                let (k, idx) = dev.split_once(':')?;
                let kind = match k {
                    "gpu" => DeviceKind::Gpu,
                    "cpu" => DeviceKind::Cpu,
                    _ => return None,
                };
                if idx.is_empty() || !idx.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let index: u32 = idx.parse().ok()?;
                kind_index = Some((kind, index));
            }
        }
        if !any {
            return None;
        }
        let (kind, index) = kind_index?;
        Some(DeviceName { kind, index })
    }
}

impl fmt::Display for DeviceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            DeviceKind::Cpu => write!(f, "/cpu:{}", self.index),
            DeviceKind::Gpu => write!(f, "/gpu:{}", self.index),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings() {
        for s in ["/gpu:1", "/GPU:1", "/device:GPU:1", "gpu:1", "/job:localhost/replica:0/task:0/device:GPU:1"] {
            assert_eq!(DeviceName::parse(s), Some(DeviceName::gpu(1)), "{s}");
        }
        assert_eq!(DeviceName::parse("/cpu:0"), Some(DeviceName::CPU));
        for s in ["", "/tpu:0", "/gpu:", "/gpu:x", "/job:moo", "/gpu:0/gpu:1", "/gpu:-1"] {
            assert_eq!(DeviceName::parse(s), None, "{s}");
        }
    }
}
