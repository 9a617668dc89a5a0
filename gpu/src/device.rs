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
    /// The device has `SHADER_F16` (the adapter has it and no [`AdapterMask`] hides it;
    /// the session requests it): user kernels may compute in `f16` on its buffers.
    /// varscope's own kernels store float16 packed either way, with the same bits.
    pub shader_f16: bool,
    /// The adapter supports 64-bit floats in shaders (float64 variables allowed).
    pub shader_f64: bool,
    /// The adapter supports 64-bit integers in shaders (int64 and uint64 variables allowed).
    pub shader_i64: bool,
    /// The device is the user's own ([`ExternalDevice`]), not one the session opened.
    pub external: bool,
    /// The kernels whose float operations must round in the written order (init,
    /// Philox) are built from varscope's own SPIR-V, every float operation decorated
    /// NoContraction (`varscope_shaders::exact_spirv`), instead of from WGSL with
    /// fences: a Vulkan device with `PASSTHROUGH_SHADERS` (requested where the adapter
    /// has it and the [`AdapterMask`] does not hide it). Same values either way.
    pub exact_spirv: bool,
    /// Invocations per workgroup of the wide kernels (init, vector fill):
    /// `varscope_shaders::WIDE_WORKGROUP_SIZE` (256) or the largest power of two the
    /// device's limits allow (at least 64).
    pub wide_workgroup: u32,
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
            DType::Int64 | DType::UInt64 if !self.shader_i64 => Err("the adapter lacks SHADER_INT64".into()),
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
        exact_spirv: false,
        external: false,
        wide_workgroup: varscope_shaders::WIDE_WORKGROUP_SIZE,
        in_use: Arc::new(AtomicU64::new(0)),
    }
}

/// A device the user already has: varscope puts variables on it and runs its kernels in
/// its queue, next to the user's own pipelines. Clones of the handles are kept; the
/// device is not reconfigured (its features and limits are whatever the user requested,
/// and its uncaptured-error handler stays the user's: errors of varscope's own calls are
/// caught in error scopes and returned as [`GpuError`]s, so [`crate::Session::sync`]
/// reports no user-kernel errors for it).
#[derive(Clone, Debug)]
pub struct ExternalDevice {
    adapter: wgpu::Adapter,
    device: wgpu::Device,
    queue: wgpu::Queue,
}

impl ExternalDevice {
    /// Wraps a user's adapter, the device opened on it and that device's queue.
    pub fn new(adapter: wgpu::Adapter, device: wgpu::Device, queue: wgpu::Queue) -> Self {
        ExternalDevice { adapter, device, queue }
    }
}

/// Where a session's [`ExternalDevice`]s go among its `/gpu:N` devices.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ExternalPlacement {
    /// The external devices are the session's only GPUs: `/gpu:0`, `/gpu:1`, ... in the
    /// order given; no adapter is enumerated (the default).
    #[default]
    Only,
    /// The external devices first (`/gpu:0`, ...), then every enumerated adapter in its
    /// stable order.
    First,
    /// Every enumerated adapter first, numbered as without external devices, then the
    /// external devices. The user's adapter is then usually also enumerated: the same
    /// hardware as two wgpu devices, whose buffers do not bind into each other.
    Last,
}

/// Capabilities hidden from every adapter the session opens itself, so that it behaves
/// as on an adapter that lacks them: fallback tests on any adapter, or pinning a
/// deployment to a floor. [`ExternalDevice`]s are used as the user opened them.
#[derive(Clone, Debug, Default)]
pub struct AdapterMask {
    features: wgpu::Features,
    limits: Option<wgpu::Limits>,
}

impl AdapterMask {
    /// Hides `features` (for example `SHADER_INT64`, `SHADER_F64`, `SHADER_F16`): they
    /// are not requested and the session reports them absent.
    pub fn without_features(mut self, features: wgpu::Features) -> Self {
        self.features |= features;
        self
    }

    /// Requests at most `limits`: each limit of the device is the worse of the
    /// adapter's and this one's (wgpu then enforces it).
    pub fn at_most(mut self, limits: wgpu::Limits) -> Self {
        self.limits = Some(match self.limits {
            Some(l) => l.or_worse_values_from(&limits),
            None => limits,
        });
        self
    }

    fn limits_of(&self, adapter: &wgpu::Limits) -> wgpu::Limits {
        match &self.limits {
            Some(l) => adapter.clone().or_worse_values_from(l),
            None => adapter.clone(),
        }
    }
}

/// Which GPU devices a session has: the adapters wgpu enumerates (masked by an
/// [`AdapterMask`]), devices the user already has ([`ExternalDevice`]), or both
/// (`SessionOptions::devices`).
#[derive(Clone, Debug, Default)]
pub struct DeviceOptions {
    external: Vec<ExternalDevice>,
    placement: ExternalPlacement,
    mask: AdapterMask,
}

impl DeviceOptions {
    /// Adds a user's device (see [`ExternalPlacement`] for where it goes; by default it
    /// is `/gpu:0` and the only GPU).
    pub fn external(mut self, device: ExternalDevice) -> Self {
        self.external.push(device);
        self
    }

    /// Where the external devices go among the enumerated adapters.
    pub fn placement(mut self, placement: ExternalPlacement) -> Self {
        self.placement = placement;
        self
    }

    /// Masks capabilities off the adapters the session opens itself.
    pub fn mask(mut self, mask: AdapterMask) -> Self {
        self.mask = mask;
        self
    }
}

/// Checks a device's capabilities against what varscope's registered kernels need
/// (derived from the registry, so a new shader's needs are checked too): compute
/// shaders; a workgroup of `WORKGROUP_SIZE` invocations along x; dispatches of up to
/// `MAX_WORKGROUPS_PER_DIMENSION` workgroups per dimension; one bind group with as many
/// storage and uniform buffers as the largest kernel binds; uniform bindings as large as
/// the largest parameter block; storage bindings of at least one chunk granule of
/// 8-byte elements.
pub(crate) fn check_requirements(
    info: &wgpu::AdapterInfo,
    downlevel: wgpu::DownlevelFlags,
    limits: &wgpu::Limits,
) -> Result<(), GpuError> {
    check_limits(&info.name, info.backend, downlevel, limits)
}

fn check_limits(
    adapter: &str,
    backend: wgpu::Backend,
    downlevel: wgpu::DownlevelFlags,
    limits: &wgpu::Limits,
) -> Result<(), GpuError> {
    use varscope_shaders::{Binding, Shader, MAX_WORKGROUPS_PER_DIMENSION, WORKGROUP_SIZE};
    let count = |s: Shader, f: fn(&Binding) -> bool| s.bindings().iter().filter(|b| f(b)).count() as u64;
    let most = |f: fn(&Binding) -> bool| {
        Shader::ALL.iter().map(|&s| (count(s, f), s.label())).max_by_key(|(n, _)| *n).unwrap_or((0, ""))
    };
    let (storage, storage_by) = most(|b| matches!(b, Binding::Storage { .. }));
    let (uniform, uniform_by) = most(|b| matches!(b, Binding::Uniform));
    let (bindings, bindings_by) = most(|_| true);
    let uniform_bytes = [
        varscope_shaders::INIT_TABLE_BYTES,
        varscope_shaders::OPTIM_TABLE_BYTES,
        std::mem::size_of::<varscope_shaders::InitParams>(),
        std::mem::size_of::<varscope_shaders::FillParams>(),
        std::mem::size_of::<varscope_shaders::OptimParams>(),
        std::mem::size_of::<varscope_shaders::RowParams>(),
    ]
    .into_iter()
    .max()
    .unwrap_or(0) as u64;
    let granule_bytes = crate::layout::CHUNK_GRANULE * 8;
    let wg = u64::from(WORKGROUP_SIZE);
    let checks: [(&'static str, u64, u64, Option<&'static str>); 10] = [
        (
            "DownlevelFlags::COMPUTE_SHADERS",
            1,
            u64::from(downlevel.contains(wgpu::DownlevelFlags::COMPUTE_SHADERS)),
            None,
        ),
        ("max_compute_workgroup_size_x", wg, u64::from(limits.max_compute_workgroup_size_x), None),
        ("max_compute_invocations_per_workgroup", wg, u64::from(limits.max_compute_invocations_per_workgroup), None),
        (
            "max_compute_workgroups_per_dimension",
            u64::from(MAX_WORKGROUPS_PER_DIMENSION),
            u64::from(limits.max_compute_workgroups_per_dimension),
            None,
        ),
        ("max_bind_groups", 1, u64::from(limits.max_bind_groups), None),
        ("max_bindings_per_bind_group", bindings, u64::from(limits.max_bindings_per_bind_group), Some(bindings_by)),
        (
            "max_storage_buffers_per_shader_stage",
            storage,
            u64::from(limits.max_storage_buffers_per_shader_stage),
            Some(storage_by),
        ),
        (
            "max_uniform_buffers_per_shader_stage",
            uniform,
            u64::from(limits.max_uniform_buffers_per_shader_stage),
            Some(uniform_by),
        ),
        ("max_uniform_buffer_binding_size", uniform_bytes, limits.max_uniform_buffer_binding_size, None),
        ("max_storage_buffer_binding_size", granule_bytes, limits.max_storage_buffer_binding_size, None),
    ];
    for (limit, required, available, shader) in checks {
        if available < required {
            return Err(GpuError::BelowRequirements {
                adapter: adapter.to_string(),
                backend: format!("{backend:?}"),
                limit,
                required,
                available,
                shader,
            });
        }
    }
    Ok(())
}

/// The session's description of an opened device.
fn describe(info: &wgpu::AdapterInfo, device: &wgpu::Device, memory_limit: u64, external: bool) -> DeviceInfo {
    let dl = device.limits();
    let features = device.features();
    DeviceInfo {
        name: String::new(),
        backend: Some(info.backend),
        adapter_name: info.name.clone(),
        driver: format!("{} {}", info.driver, info.driver_info).trim().to_string(),
        device_type: info.device_type,
        max_buffer_size: dl.max_buffer_size,
        max_storage_buffer_binding_size: dl.max_storage_buffer_binding_size,
        memory_limit,
        shader_f16: features.contains(wgpu::Features::SHADER_F16),
        shader_f64: features.contains(wgpu::Features::SHADER_F64),
        shader_i64: features.contains(wgpu::Features::SHADER_INT64),
        exact_spirv: info.backend == wgpu::Backend::Vulkan && features.contains(wgpu::Features::PASSTHROUGH_SHADERS),
        external,
        wide_workgroup: varscope_shaders::wide_workgroup_size(
            dl.max_compute_invocations_per_workgroup,
            dl.max_compute_workgroup_size_x,
        ),
        in_use: Arc::new(AtomicU64::new(0)),
    }
}

fn gpu_of(device: wgpu::Device, queue: wgpu::Queue, uncaptured: Arc<Mutex<Vec<String>>>) -> Gpu {
    let align = u64::from(device.limits().min_storage_buffer_offset_alignment).max(4);
    Gpu { device, queue, uncaptured, align }
}

/// Enumerates adapters of `backends`, sorts them (device type, backend, name) and opens a
/// device on each. An adapter that is below varscope's requirements
/// ([`check_requirements`], after the mask) or whose device cannot be opened is skipped
/// and returned in the second list with the reason, so one broken driver does not take
/// the others down.
///
/// Requested features: `SHADER_F64` and `SHADER_INT64` where the adapter has them and
/// the mask does not hide them (so user kernels can bind 64-bit variables), and on Vulkan
/// `PASSTHROUGH_SHADERS` likewise (for [`DeviceInfo::exact_spirv`]); nothing else
/// (float16 is stored packed, so `SHADER_F16` is not needed). Requested limits: the
/// adapter's own limits (or the mask's, where worse), in particular its
/// `max_storage_buffer_binding_size` (the chunk size of large variables) and
/// `max_buffer_size`.
fn open_masked(backends: wgpu::Backends, mask: &AdapterMask, memory_limit: u64) -> Opened {
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
        let features = adapter.features() - mask.features;
        // SHADER_F16 for the users' own kernels over float16 buffers (runtime.md section
        // 5); varscope's kernels keep float16 packed in words on every device, so its
        // values are the same bits with or without it.
        let mut wanted =
            features & (wgpu::Features::SHADER_F64 | wgpu::Features::SHADER_INT64 | wgpu::Features::SHADER_F16);
        if info.backend == wgpu::Backend::Vulkan {
            wanted |= features & wgpu::Features::PASSTHROUGH_SHADERS;
        }
        let limits = mask.limits_of(&adapter.limits());
        if let Err(e) = check_requirements(&info, adapter.get_downlevel_capabilities().flags, &limits) {
            skipped.push(e);
            continue;
        }
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
            crate::sync::lock(&sink).push(e.to_string());
        }));
        let di = describe(&info, &device, memory_limit, false);
        out.push((di, gpu_of(device, queue, uncaptured)));
    }
    (out, skipped)
}

/// Opened devices in `/gpu:N` order, and the adapters skipped with the reason.
pub(crate) type Opened = (Vec<(DeviceInfo, Gpu)>, Vec<GpuError>);

/// Every adapter of `backends`, unmasked, named `/gpu:N` in order (for tests that need
/// the devices without a session).
#[allow(dead_code)]
pub(crate) fn open_adapters(backends: wgpu::Backends, memory_limit: u64) -> Opened {
    let (mut all, skipped) = open_masked(backends, &AdapterMask::default(), memory_limit);
    for (i, (di, _)) in all.iter_mut().enumerate() {
        di.name = format!("/gpu:{i}");
    }
    (all, skipped)
}

/// The session's GPU devices, named `/gpu:0`, `/gpu:1`, ... in order: the external
/// devices and the enumerated adapters of `backends` (none if `backends` is empty) as
/// [`DeviceOptions`] places them; and the adapters skipped. An external device below
/// varscope's requirements is an error (the user asked for it), not a skip.
pub(crate) fn open_devices(
    options: &DeviceOptions,
    backends: wgpu::Backends,
    memory_limit: u64,
) -> Result<Opened, GpuError> {
    let mut external = Vec::with_capacity(options.external.len());
    for x in &options.external {
        let info = x.adapter.get_info();
        check_requirements(&info, x.adapter.get_downlevel_capabilities().flags, &x.device.limits())?;
        let di = describe(&info, &x.device, memory_limit, true);
        external.push((di, gpu_of(x.device.clone(), x.queue.clone(), Arc::new(Mutex::new(Vec::new())))));
    }
    let enumerate = !backends.is_empty() && (external.is_empty() || options.placement != ExternalPlacement::Only);
    let (enumerated, skipped) =
        if enumerate { open_masked(backends, &options.mask, memory_limit) } else { (Vec::new(), Vec::new()) };
    let mut all = match options.placement {
        ExternalPlacement::Only | ExternalPlacement::First => {
            external.extend(enumerated);
            external
        }
        ExternalPlacement::Last => {
            let mut e = enumerated;
            e.extend(external);
            e
        }
    };
    for (i, (di, _)) in all.iter_mut().enumerate() {
        di.name = format!("/gpu:{i}");
    }
    Ok((all, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// WebGPU's default limits meet every requirement; each shortfall is named, with the
    /// shader that needs it; no compute shaders (GL ES 3.0, WebGL2) is one.
    #[test]
    fn requirements_name_the_missing_capability() {
        let ok = wgpu::DownlevelFlags::all();
        let check = |d, l: &wgpu::Limits| check_limits("test adapter", wgpu::Backend::Gl, d, l);
        assert!(check(ok, &wgpu::Limits::default()).is_ok());
        match check(wgpu::DownlevelFlags::empty(), &wgpu::Limits::default()) {
            Err(GpuError::BelowRequirements { adapter, backend, limit, required: 1, available: 0, shader: None }) => {
                assert_eq!(
                    (adapter.as_str(), backend.as_str(), limit),
                    ("test adapter", "Gl", "DownlevelFlags::COMPUTE_SHADERS")
                );
            }
            r => panic!("{r:?}"),
        }
        let storage = wgpu::Limits { max_storage_buffers_per_shader_stage: 5, ..wgpu::Limits::default() };
        let e = check(ok, &storage).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Adapter test adapter (Gl) cannot run varscope's kernels: max_storage_buffers_per_shader_stage is 5, 6 needed (by shaders/optim.wgsl)"
        );
        let groups = wgpu::Limits { max_compute_workgroups_per_dimension: 1024, ..wgpu::Limits::default() };
        assert!(matches!(
            check(ok, &groups),
            Err(GpuError::BelowRequirements { limit: "max_compute_workgroups_per_dimension", required: 65_535, .. })
        ));
        let binding = wgpu::Limits { max_storage_buffer_binding_size: 256, ..wgpu::Limits::default() };
        assert!(matches!(
            check(ok, &binding),
            Err(GpuError::BelowRequirements { limit: "max_storage_buffer_binding_size", required: 512, .. })
        ));
    }

    /// A mask takes the worse of the adapter's and its own limits, field by field.
    #[test]
    fn masks_take_the_worse_limit() {
        let adapter = wgpu::Limits { max_storage_buffer_binding_size: 1 << 30, ..wgpu::Limits::default() };
        let mask = AdapterMask::default()
            .at_most(wgpu::Limits { max_storage_buffer_binding_size: 4096, ..wgpu::Limits::default() })
            .at_most(wgpu::Limits { min_storage_buffer_offset_alignment: 256, ..wgpu::Limits::default() });
        let l = mask.limits_of(&adapter);
        assert_eq!(l.max_storage_buffer_binding_size, 4096);
        assert_eq!(l.min_storage_buffer_offset_alignment, 256);
        assert_eq!(AdapterMask::default().limits_of(&adapter), adapter);
    }
}
