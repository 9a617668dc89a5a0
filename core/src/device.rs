//! Device strings (runtime.md section 2). The `caching_device` placement values that
//! hold them live with the variable handles ([`crate::variable::CachingDevice`]).
//!
//! Parsing lives on the host; checking that a device exists is the session's job.

use std::fmt;

use crate::Error;

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

/// A device specification in any of TensorFlow's spellings (`DeviceSpec`), parsed:
/// `/job:worker/replica:0/task:1/device:GPU:0`, `/device:GPU:1`, `/GPU:1`, `/gpu:1`,
/// `gpu:1`, `/cpu:0`, `/job:ps`, or `""` (no device). Two spellings of one device are
/// equal values (`/GPU:1` == `/device:GPU:1`). Whether the device exists is the
/// session's question.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct DeviceSpec {
    /// `job:` name.
    pub job: Option<String>,
    /// `replica:` index.
    pub replica: Option<u32>,
    /// `task:` index.
    pub task: Option<u32>,
    /// Device type, upper case (`CPU`, `GPU`, `TPU`, ...).
    pub device_type: Option<String>,
    /// Device index (`None`: any, `*`, or not given).
    pub device_index: Option<u32>,
}

/// Device types TensorFlow accepts without a `device:` prefix.
const DEVICE_TYPES: [&str; 5] = ["CPU", "GPU", "TPU", "XLA_CPU", "XLA_GPU"];

impl DeviceSpec {
    /// Parses a device string as TensorFlow's `DeviceSpec.from_string` does. A
    /// malformed string is [`Error::InvalidDevice`].
    pub fn parse(spec: &str) -> Result<DeviceSpec, Error> {
        let invalid = |reason: String| Error::InvalidDevice { device: spec.to_string(), reason };
        let index = |s: &str, what: &str| -> Result<u32, Error> {
            s.parse::<u32>().map_err(|_| invalid(format!("invalid {what} '{s}'")))
        };
        let mut d = DeviceSpec::default();
        for part in spec.split('/') {
            // The part's first four `:` fields (no arm takes more than three), without
            // a vector: a variable's caching device is parsed each time one is created.
            let mut fields = [""; 4];
            let mut n = 0;
            for f in part.split(':').take(4) {
                fields[n] = f;
                n += 1;
            }
            let y = &fields[..n];
            match y {
                [""] => {}
                ["job", name] => d.job = Some(name.to_string()),
                ["replica", r] => d.replica = Some(index(r, "replica")?),
                ["task", t] => d.task = Some(index(t, "task")?),
                [t] | [t, _] if DEVICE_TYPES.iter().any(|d| d.eq_ignore_ascii_case(t)) => {
                    if d.device_type.is_some() {
                        return Err(invalid("multiple device types".into()));
                    }
                    d.device_type = Some(t.to_ascii_uppercase());
                    if let [_, i] = y {
                        d.device_index = if *i == "*" { None } else { Some(index(i, "device index")?) };
                    }
                }
                ["device", t, i] => {
                    if d.device_type.is_some() {
                        return Err(invalid("multiple device types".into()));
                    }
                    d.device_type = Some(t.to_ascii_uppercase());
                    d.device_index = if *i == "*" { None } else { Some(index(i, "device index")?) };
                }
                [attr, ..] => return Err(invalid(format!("unknown attribute '{attr}'"))),
                [] => {}
            }
        }
        Ok(d)
    }

    /// Whether it names nothing (`""`: no caching device).
    pub fn is_empty(&self) -> bool {
        *self == DeviceSpec::default()
    }

    /// The device as a [`DeviceName`] when it names a local CPU or GPU with an index
    /// (`job:localhost`, replica 0 and task 0 or unset).
    pub fn local_device(&self) -> Option<DeviceName> {
        if self.job.as_deref().is_some_and(|j| j != "localhost")
            || self.replica.is_some_and(|r| r != 0)
            || self.task.is_some_and(|t| t != 0)
        {
            return None;
        }
        let kind = match self.device_type.as_deref()? {
            "CPU" => DeviceKind::Cpu,
            "GPU" => DeviceKind::Gpu,
            _ => return None,
        };
        Some(DeviceName { kind, index: self.device_index? })
    }
}

impl fmt::Display for DeviceSpec {
    /// TensorFlow's canonical form: `/job:w/replica:0/task:1/device:GPU:0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(j) = &self.job {
            write!(f, "/job:{j}")?;
        }
        if let Some(r) = self.replica {
            write!(f, "/replica:{r}")?;
        }
        if let Some(t) = self.task {
            write!(f, "/task:{t}")?;
        }
        if let Some(t) = &self.device_type {
            match self.device_index {
                Some(i) => write!(f, "/device:{t}:{i}")?,
                None => write!(f, "/device:{t}:*")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_specs_parse_every_tf_spelling() {
        let gpu1 = DeviceSpec::parse("/device:GPU:1").unwrap();
        for s in ["/GPU:1", "/gpu:1", "gpu:1", "/device:gpu:1"] {
            assert_eq!(DeviceSpec::parse(s).unwrap(), gpu1, "{s}");
        }
        assert_eq!(gpu1.to_string(), "/device:GPU:1");
        assert_eq!(gpu1.local_device(), Some(DeviceName::gpu(1)));
        let full = DeviceSpec::parse("/job:worker/replica:0/task:2/device:CPU:0").unwrap();
        assert_eq!(full.to_string(), "/job:worker/replica:0/task:2/device:CPU:0");
        assert_eq!(full.local_device(), None);
        assert_eq!(DeviceSpec::parse("/job:moo").unwrap().job.as_deref(), Some("moo"));
        assert!(DeviceSpec::parse("").unwrap().is_empty());
        assert_eq!(DeviceSpec::parse("/job:localhost/device:CPU:0").unwrap().local_device(), Some(DeviceName::CPU));
        for bad in ["/gpu:x", "/device:GPU:-1", "/foo:1", "/gpu:0/cpu:0", "/task:a", "/device:GPU"] {
            assert!(matches!(DeviceSpec::parse(bad), Err(Error::InvalidDevice { .. })), "{bad}");
        }
    }

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
