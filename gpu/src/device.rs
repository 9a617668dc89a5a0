//! Devices: the host device `/cpu:0` and one `/gpu:N` per wgpu adapter, in a stable order.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use varscope_core::DType;

use crate::error::GpuError;
use crate::sync::block_on;

/// Kind of a device as wgpu reports it (`Cpu` for `/cpu:0` and software adapters).
pub type DeviceType = wgpu::DeviceType;

/// What the session knows about one device. `bytes_in_use` is live.
#[derive(Debug)]
pub struct DeviceInfo {
    /// `/cpu:0` or `/gpu:N`.
    pub name: String,
    /// The wgpu backend (`None` for `/cpu:0`).
    pub backend: Option<wgpu::Backend>,
    /// The adapter's name (`"host"` for `/cpu:0`).
    pub adapter_name: String,
    /// The driver and its version, as the adapter reports them.
    pub driver: String,
    /// Discrete, integrated, virtual, CPU (software), other.
    pub device_type: DeviceType,
    /// Largest buffer the device accepts, in bytes.
    pub max_buffer_size: u64,
    /// Largest storage binding, in bytes: the chunk size of large variables.
    pub max_storage_buffer_binding_size: u64,
    /// Bytes the session lets this device hold in total (see `SessionOptions::memory_limit`).
    pub memory_limit: u64,
    /// The adapter has `SHADER_F16` (float16 is stored packed either way).
    pub shader_f16: bool,
    /// The adapter supports 64-bit floats in shaders (float64 variables allowed).
    pub shader_f64: bool,
    /// The adapter supports 64-bit integers in shaders (int64 variables allowed).
    pub shader_i64: bool,
    pub(crate) in_use: Arc<AtomicU64>,
}

impl DeviceInfo {
    /// Bytes of variable buffers live on this device now.
    pub fn bytes_in_use(&self) -> u64 {
        self.in_use.load(Ordering::Relaxed)
    }

    /// Whether this is the host device.
    pub fn is_cpu(&self) -> bool {
        self.backend.is_none()
    }

    /// Whether a variable of `dtype` may live here; `Err(reason)` otherwise.
    pub(crate) fn supports(&self, dtype: DType) -> std::result::Result<(), String> {
        match dtype {
            DType::String | DType::Complex64 | DType::Complex128 => {
                Err(format!("{dtype} variables have no device representation"))
            }
            _ if self.is_cpu() => Ok(()),
            DType::Float64 if !self.shader_f64 => Err("the adapter lacks SHADER_F64".into()),
            DType::Int64 if !self.shader_i64 => Err("the adapter lacks SHADER_INT64".into()),
            _ => Ok(()),
        }
    }
}

/// An opened wgpu adapter.
pub(crate) struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    /// Errors no error scope caught (the default handler would panic).
    pub uncaptured: Arc<Mutex<Vec<String>>>,
    /// `min_storage_buffer_offset_alignment` (slab offsets are multiples of it).
    pub align: u64,
}

fn type_rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

fn backend_rank(b: wgpu::Backend) -> u8 {
    match b {
        wgpu::Backend::Vulkan => 0,
        wgpu::Backend::Metal => 1,
        wgpu::Backend::Dx12 => 2,
        wgpu::Backend::Gl => 3,
        _ => 4,
    }
}

/// Total host memory (`MemTotal` of /proc/meminfo), the default memory limit.
pub(crate) fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(u64::MAX)
}

/// The host device's description.
pub(crate) fn cpu_info(memory_limit: u64) -> DeviceInfo {
    DeviceInfo {
        name: "/cpu:0".into(),
        backend: None,
        adapter_name: "host".into(),
        driver: "varscope reference kernels".into(),
        device_type: wgpu::DeviceType::Cpu,
        max_buffer_size: isize::MAX as u64,
        max_storage_buffer_binding_size: isize::MAX as u64,
        memory_limit,
        shader_f16: true,
        shader_f64: true,
        shader_i64: true,
        in_use: Arc::new(AtomicU64::new(0)),
    }
}

/// Enumerates adapters of `backends`, sorts them (device type, backend, name) and opens a
/// device on each. An adapter whose device cannot be opened is skipped and returned in
/// the second list with the reason, so one broken driver does not take the others down.
///
/// Requested features: `SHADER_F64` and `SHADER_INT64` where the adapter has them (so
/// user kernels can bind 64-bit variables); nothing else (float16 is stored packed, so
/// `SHADER_F16` is not needed). Requested limits: the adapter's own limits, in particular
/// its `max_storage_buffer_binding_size` (the chunk size of large variables) and
/// `max_buffer_size`.
pub(crate) fn open_adapters(backends: wgpu::Backends, memory_limit: u64) -> (Vec<(DeviceInfo, Gpu)>, Vec<GpuError>) {
    crate::runtime_dir::ensure();
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backends;
    let instance = wgpu::Instance::new(desc);
    let mut adapters: Vec<wgpu::Adapter> = block_on(instance.enumerate_adapters(backends));
    adapters.sort_by(|a, b| {
        let (ia, ib) = (a.get_info(), b.get_info());
        (type_rank(ia.device_type), backend_rank(ia.backend), ia.name.clone(), ia.driver.clone()).cmp(&(
            type_rank(ib.device_type),
            backend_rank(ib.backend),
            ib.name.clone(),
            ib.driver.clone(),
        ))
    });
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for adapter in adapters {
        let info = adapter.get_info();
        let alimits = adapter.limits();
        let features = adapter.features();
        let wanted = features & (wgpu::Features::SHADER_F64 | wgpu::Features::SHADER_INT64);
        // The adapter's own limits: always satisfiable, and they carry the two that
        // matter (max_storage_buffer_binding_size = chunk size, max_buffer_size).
        let limits = alimits.clone();
        let ddesc = wgpu::DeviceDescriptor {
            label: Some("varscope"),
            required_features: wanted,
            required_limits: limits,
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        };
        let (device, queue) = match block_on(adapter.request_device(&ddesc)) {
            Ok(dq) => dq,
            Err(e) => {
                skipped.push(GpuError::RequestDevice {
                    adapter: info.name.clone(),
                    backend: format!("{:?}", info.backend),
                    message: e.to_string(),
                });
                continue;
            }
        };
        let uncaptured = Arc::new(Mutex::new(Vec::new()));
        let sink = uncaptured.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut s) = sink.lock() {
                s.push(e.to_string());
            }
        }));
        let dl = device.limits();
        let di = DeviceInfo {
            name: format!("/gpu:{}", out.len()),
            backend: Some(info.backend),
            adapter_name: info.name.clone(),
            driver: format!("{} {}", info.driver, info.driver_info).trim().to_string(),
            device_type: info.device_type,
            max_buffer_size: dl.max_buffer_size,
            max_storage_buffer_binding_size: dl.max_storage_buffer_binding_size,
            memory_limit,
            shader_f16: features.contains(wgpu::Features::SHADER_F16),
            shader_f64: device.features().contains(wgpu::Features::SHADER_F64),
            shader_i64: device.features().contains(wgpu::Features::SHADER_INT64),
            in_use: Arc::new(AtomicU64::new(0)),
        };
        out.push((di, Gpu { device, queue, uncaptured, align: u64::from(dl.min_storage_buffer_offset_alignment).max(4) }));
    }
    (out, skipped)
}
