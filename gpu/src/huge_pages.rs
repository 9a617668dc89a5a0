//! Transparent huge pages for large host memory that nothing has touched yet: transfer
//! buffers (`transfer::host_buffer`) and, on a CPU Vulkan device, large variable chunks
//! (`pool`'s `host_memory`). A fresh 64 MiB region then takes 32 page faults instead of
//! 16,384. Linux only; a kernel without THP (or with it set to `never`) keeps ordinary
//! pages.

/// Regions from this size on get the hint.
pub(crate) const HINT_BYTES: usize = 4 << 20;

/// Asks Linux for transparent huge pages for the whole 2 MiB pages inside the `len` bytes
/// at `start`, memory of the caller's own allocation that nothing has touched yet.
pub(crate) fn advise(start: usize, len: usize) {
    const HUGE: usize = 2 << 20;
    let end = start + len;
    let (a, b) = (start.div_ceil(HUGE) * HUGE, end / HUGE * HUGE);
    if b > a {
        // SAFETY: `a..b` lies inside the caller's allocation (rounded inward to whole huge
        // pages); MADV_HUGEPAGE only changes how the kernel backs the range, never its
        // contents or validity. A failure (kernels without THP) leaves ordinary pages, so
        // the result is ignored.
        unsafe {
            libc::madvise(a as *mut libc::c_void, b - a, libc::MADV_HUGEPAGE);
        }
    }
}
