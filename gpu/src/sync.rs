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

/// A pending `map_async` of one buffer range: started right after the submission that
/// fills (or last reads) the buffer, waited for when the host needs the memory, so the
/// device works on the next piece meanwhile.
pub(crate) struct MapTicket {
    result: Arc<Mutex<Option<Result<(), wgpu::BufferAsyncError>>>>,
    /// The submission the mapping waits for (`None`: unknown, wait for all work).
    after: Option<wgpu::SubmissionIndex>,
}

impl MapTicket {
    /// Starts mapping `0..size` of `buffer` for `mode` once `after` has completed.
    pub fn start(buffer: &wgpu::Buffer, mode: wgpu::MapMode, size: u64, after: Option<wgpu::SubmissionIndex>) -> Self {
        let result = Arc::new(Mutex::new(None));
        let r = result.clone();
        buffer.map_async(mode, 0..size, move |res| *lock(&r) = Some(res));
        MapTicket { result, after }
    }

    /// Waits until the mapping is done: one non-blocking poll first (an idle buffer maps
    /// at once), then a wait for the submission it follows.
    pub fn wait(self, device: &wgpu::Device) -> Result<(), String> {
        let taken = |r: &Arc<Mutex<Option<Result<(), wgpu::BufferAsyncError>>>>| lock(r).take();
        device.poll(wgpu::PollType::Poll).map_err(|e| e.to_string())?;
        let mut res = taken(&self.result);
        if res.is_none() {
            device
                .poll(wgpu::PollType::Wait { submission_index: self.after, timeout: None })
                .map_err(|e| e.to_string())?;
            res = taken(&self.result);
        }
        if res.is_none() {
            // The submission index may predate the buffer's last use: wait for all.
            wait_idle(device)?;
            res = taken(&self.result);
        }
        match res {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(e.to_string()),
            None => Err("buffer mapping did not complete".to_string()),
        }
    }
}
