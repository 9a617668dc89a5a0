//! Every wgpu adapter present, for tests that open devices themselves.

use crate::targets::TestTarget;

/// The backends to enumerate: `WGPU_BACKEND` when set, else all.
fn backends() -> wgpu::Backends {
    wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all())
}

/// Every adapter wgpu finds on the backends `WGPU_BACKEND` names (all when unset), in
/// wgpu's order. Pass them to [`crate::for_each_target`], which applies the
/// `VARSCOPE_REQUIRE_GPU` policy when there are none.
pub fn adapters() -> Vec<wgpu::Adapter> {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backends();
    let instance = wgpu::Instance::new(desc);
    pollster::block_on(instance.enumerate_adapters(backends()))
}

impl TestTarget for wgpu::Adapter {
    /// The adapter's name, backend and device type.
    fn label(&self) -> String {
        let i = self.get_info();
        format!("{} ({:?}, {:?})", i.name, i.backend, i.device_type)
    }

    fn is_gpu(&self) -> bool {
        true
    }
}
