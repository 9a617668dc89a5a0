//! Unit tests' GPU targets: every adapter opened the way a session opens it, as
//! `varscope-test-support` targets (`for_each_target` applies the
//! `VARSCOPE_REQUIRE_GPU` policy when there is none).

use crate::device::{open_adapters, DeviceInfo, Gpu};
use varscope_test_support::TestTarget;

/// An adapter opened the way a session opens it.
pub(crate) struct Adapter {
    /// Position among the adapters opened.
    pub index: usize,
    pub info: DeviceInfo,
    pub gpu: Gpu,
}

impl TestTarget for Adapter {
    fn label(&self) -> String {
        let backend = self.info.backend.map(|b| format!("{b:?}")).unwrap_or_default();
        format!("{} ({}, {backend})", self.info.name, self.info.adapter_name)
    }
    fn is_gpu(&self) -> bool {
        true
    }
}

/// Every adapter present (of `WGPU_BACKEND`'s backends).
pub(crate) fn adapters() -> Vec<Adapter> {
    let (a, _skipped) = open_adapters(wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all()), u64::MAX);
    a.into_iter().enumerate().map(|(index, (info, gpu))| Adapter { index, info, gpu }).collect()
}
