//! Every wgpu adapter present, for tests that open devices themselves, and reading a
//! buffer's bytes back.

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

/// The bytes `range` of `buffer` (a COPY_SRC buffer of `device`), copied into a mappable
/// buffer after everything already submitted to `queue`, and read back. The range's
/// length is rounded up to whole words for the copy; the bytes returned are the range's.
pub fn read_buffer(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    buffer: &wgpu::Buffer,
    range: std::ops::Range<u64>,
) -> Result<Vec<u8>, String> {
    let len = range.end - range.start;
    let n = len.div_ceil(4) * 4;
    let staging = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("test readback"),
        size: n.max(4),
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut enc = device.create_command_encoder(&Default::default());
    enc.copy_buffer_to_buffer(buffer, range.start, &staging, 0, n);
    queue.submit([enc.finish()]);
    let (tx, rx) = std::sync::mpsc::channel();
    staging.map_async(wgpu::MapMode::Read, .., move |r| {
        let _ = tx.send(r);
    });
    device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| format!("poll: {e}"))?;
    rx.recv().map_err(|e| format!("map callback: {e}"))?.map_err(|e| format!("map: {e}"))?;
    let bytes = staging.get_mapped_range(..).map_err(|e| format!("mapped range: {e:?}"))?[..len as usize].to_vec();
    staging.unmap();
    Ok(bytes)
}
