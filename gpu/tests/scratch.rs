//! Scratch buffers for user kernels (`Session::scratch_buffer`): from the session's pool
//! (counted in `bytes_in_use`, refused past the memory limit, freed with the last
//! handle), written and read back through the session, and user wgpu calls inside the
//! session's error scopes. On every adapter; `/cpu:0` has no wgpu buffers.

mod common;

use common::*;
use varscope_core::Graph;
use varscope_gpu::{GpuError, Session, SessionOptions, SCRATCH_USAGE};

#[test]
fn scratch_buffers_come_from_the_pool_and_round_trip() {
    for_each_target("scratch_buffers_come_from_the_pool_and_round_trip", gpu_targets(), |t| {
        let g = Graph::new();
        let s = Session::new(&g).expect("session");
        let before = s.bytes_in_use(&t.device).expect("device");
        let b = s.scratch_buffer(&t.device, "test scratch", 10).unwrap_or_else(|e| panic!("{}: {e}", t.label));
        assert_eq!(b.size(), 12, "{}: rounded up to whole words", t.label);
        assert_eq!(b.buffer().usage(), SCRATCH_USAGE, "{}", t.label);
        assert_eq!(s.bytes_in_use(&t.device).unwrap(), before + 12, "{}: counted", t.label);
        // Starts zeroed; writes land where asked; reads return exactly the range.
        assert_eq!(s.read_scratch(&b, 0..12).unwrap(), vec![0u8; 12], "{}", t.label);
        s.write_scratch(&b, 4, &[1, 2, 3, 4, 5, 6, 7, 8]).unwrap_or_else(|e| panic!("{}: {e}", t.label));
        assert_eq!(s.read_scratch(&b, 0..12).unwrap(), vec![0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8], "{}", t.label);
        assert_eq!(s.read_scratch(&b, 8..12).unwrap(), vec![5, 6, 7, 8], "{}", t.label);
        assert_eq!(s.read_scratch(&b, 4..4).unwrap(), Vec::<u8>::new(), "{}", t.label);
        // Out of range or misaligned: errors naming the buffer, and nothing written.
        for (offset, data) in [(12u64, &[0u8; 4][..]), (8, &[9u8; 8][..]), (2, &[9u8; 4][..]), (0, &[9u8; 3][..])] {
            match s.write_scratch(&b, offset, data) {
                Err(GpuError::Wgpu { operation, .. }) => assert!(operation.contains("test scratch"), "{operation}"),
                other => panic!("{}: write of {} bytes at {offset}: {other:?}", t.label, data.len()),
            }
        }
        assert_eq!(s.read_scratch(&b, 0..12).unwrap(), vec![0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8], "{}", t.label);
        // Past the end, misaligned, and reversed (start after end).
        #[allow(clippy::reversed_empty_ranges)]
        let bad = [0..16u64, 2..8, 8..4];
        for range in bad {
            assert!(matches!(s.read_scratch(&b, range.clone()), Err(GpuError::Wgpu { .. })), "{}: {range:?}", t.label);
        }
        // Clones share the buffer; the last one frees it.
        let c = b.clone();
        drop(b);
        assert_eq!(s.bytes_in_use(&t.device).unwrap(), before + 12, "{}", t.label);
        drop(c);
        assert_eq!(s.bytes_in_use(&t.device).unwrap(), before, "{}: freed with the last handle", t.label);
    });
}

#[test]
fn scratch_buffers_respect_the_memory_limit_and_need_a_gpu() {
    let g = Graph::new();
    let s = Session::with_options(&g, SessionOptions::default().memory_limit(1 << 20)).expect("session");
    match s.scratch_buffer("/cpu:0", "host scratch", 16) {
        Err(GpuError::NoBuffers { variable, device }) => {
            assert!(variable.contains("host scratch"), "{variable}");
            assert_eq!(device, "/cpu:0");
        }
        other => panic!("/cpu:0: {other:?}"),
    }
    assert!(matches!(s.scratch_buffer("/tpu:3", "x", 16), Err(GpuError::UnknownDevice { .. })));
    for_each_target("scratch_buffers_respect_the_memory_limit_and_need_a_gpu", gpu_targets(), |t| {
        match s.scratch_buffer(&t.device, "too big", 2 << 20) {
            Err(GpuError::TooLarge { variable, limit, .. }) => {
                assert!(variable.contains("too big"), "{variable}");
                assert_eq!(limit, 1 << 20, "{}", t.label);
            }
            other => panic!("{}: {other:?}", t.label),
        }
        let a = s.scratch_buffer(&t.device, "first", 768 << 10).unwrap_or_else(|e| panic!("{}: {e}", t.label));
        match s.scratch_buffer(&t.device, "second", 512 << 10) {
            Err(GpuError::OutOfMemory { variable, in_use, .. }) => {
                assert!(variable.contains("second"), "{variable}");
                assert_eq!(in_use, 768 << 10, "{}", t.label);
            }
            other => panic!("{}: {other:?}", t.label),
        }
        drop(a);
        assert!(s.scratch_buffer(&t.device, "second", 512 << 10).is_ok(), "{}: room again after drop", t.label);
    });
}

#[test]
fn error_scope_turns_wgpu_errors_into_typed_errors() {
    for_each_target("error_scope_turns_wgpu_errors_into_typed_errors", gpu_targets(), |t| {
        let g = Graph::new();
        let s = Session::new(&g).expect("session");
        let ok = s.error_scope(&t.device, "a valid module", |d, _| {
            d.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some("ok"),
                source: wgpu::ShaderSource::Wgsl("@compute @workgroup_size(1) fn main() {}".into()),
            })
        });
        assert!(ok.is_ok(), "{}: {ok:?}", t.label);
        let bad = s.error_scope(&t.device, "a broken module", |d, _| {
            d.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some("broken"),
                source: wgpu::ShaderSource::Wgsl("fn main( {".into()),
            })
        });
        match bad {
            Err(GpuError::Wgpu { device, operation, message }) => {
                assert_eq!(device, t.device);
                assert_eq!(operation, "a broken module");
                assert!(!message.is_empty());
            }
            other => panic!("{}: {:?}", t.label, other.map(|_| ())),
        }
        // Nothing reached the uncaptured-error handler.
        s.sync().unwrap_or_else(|e| panic!("{}: {e}", t.label));
    });
    let g = Graph::new();
    let s = Session::new(&g).expect("session");
    assert!(matches!(s.error_scope("/cpu:0", "host", |_, _| ()), Err(GpuError::NoBuffers { .. })));
}
