//! The two places where the synchronous API meets wgpu's asynchronous one: one
//! `block_on` (pollster) and one poll/map helper.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

/// Locks `m`, recovering the data if a thread panicked while holding it.
///
/// The crate's one poisoned-lock policy: everything behind a varscope lock is changed
/// only by operations that complete or roll back before they return (a failed call
/// changes nothing), so a panic elsewhere cannot leave the data half-made; the lock's
/// contents stay valid and later calls go on.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs a future to completion on the calling thread.
pub(crate) fn block_on<F: Future>(f: F) -> F::Output {
    pollster::block_on(f)
}

/// Waits until every submission on `device` has completed (and callbacks have run).
pub(crate) fn wait_idle(device: &wgpu::Device) -> Result<(), String> {
    device.poll(wgpu::PollType::wait_indefinitely()).map(|_| ()).map_err(|e| e.to_string())
}

/// Maps every buffer (whole, for reading), waits once, and hands each mapped view to
/// `f` in order. The buffers are unmapped afterwards.
pub(crate) fn map_read_all(
    device: &wgpu::Device,
    buffers: &[(&wgpu::Buffer, u64)],
    mut f: impl FnMut(usize, &[u8]),
) -> Result<(), String> {
    type MapResults = Arc<Mutex<Vec<Option<Result<(), wgpu::BufferAsyncError>>>>>;
    let results: MapResults = Arc::new(Mutex::new(vec![None; buffers.len()]));
    for (i, (b, size)) in buffers.iter().enumerate() {
        let r = results.clone();
        b.map_async(wgpu::MapMode::Read, 0..*size, move |res| {
            lock(&r)[i] = Some(res);
        });
    }
    wait_idle(device)?;
    let res = lock(&results).clone();
    let mut err = None;
    for (i, (b, size)) in buffers.iter().enumerate() {
        match &res[i] {
            Some(Ok(())) => {
                if err.is_none() {
                    match b.get_mapped_range(0..*size) {
                        Ok(view) => f(i, &view),
                        Err(e) => err = Some(e.to_string()),
                    }
                }
                b.unmap();
            }
            Some(Err(e)) => err = err.or(Some(e.to_string())),
            None => err = err.or(Some("buffer mapping did not complete".to_string())),
        }
    }
    match err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
