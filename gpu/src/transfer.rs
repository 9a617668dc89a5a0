//! The one readback path: byte ranges of device buffers copied into pooled staging
//! buffers and mapped, many ranges per submission and per wait, in batches bounded by a
//! staging budget so host and device memory stay flat however many bytes are read.

use crate::launch::Dev;
use crate::pool::{Pool, Use};
use crate::sync;

/// Staging bytes one batch may use (a single larger range gets a batch of its own).
pub(crate) const STAGING_BUDGET: u64 = 64 << 20;

/// A byte range of a device buffer (offset and size multiples of 4).
#[derive(Clone, Debug)]
pub(crate) struct ReadRange {
    pub buffer: wgpu::Buffer,
    pub offset: u64,
    pub bytes: u64,
}

/// Staging sizes are rounded up so that the pool can reuse them across reads.
fn staging_size(bytes: u64) -> u64 {
    bytes.max(4096).next_power_of_two()
}

/// Reads `ranges` to the host and hands each range's bytes to `f(index, bytes)` in order:
/// one copy submission and one wait per batch of at most [`STAGING_BUDGET`] bytes. A range
/// larger than the budget is read in budget-sized pieces (so a 1 GB variable needs 64 MiB
/// of staging, not a 1 GB mapping), and `f` is called once per piece, in order: callers
/// append. Returns the number of batches (submissions).
pub(crate) fn read_ranges(
    dev: Dev<'_>,
    pool: &mut Pool,
    operation: &str,
    ranges: &[ReadRange],
    mut f: impl FnMut(usize, &[u8]),
) -> Result<usize, crate::GpuError> {
    let cut = split(ranges.iter().map(|r| (r.offset, r.bytes)), STAGING_BUDGET);
    let pieces: Vec<ReadRange> =
        cut.iter().map(|&(i, offset, bytes)| ReadRange { buffer: ranges[i].buffer.clone(), offset, bytes }).collect();
    read_pieces(dev, pool, operation, &pieces, |k, bytes| f(cut[k].0, bytes))
}

/// `(offset, bytes)` spans cut into pieces of at most `max` bytes (a multiple of 8):
/// `(index of the span, offset, bytes)`, in order; an empty span stays one empty piece.
fn split(spans: impl Iterator<Item = (u64, u64)>, max: u64) -> Vec<(usize, u64, u64)> {
    let mut out = Vec::new();
    for (i, (offset, len)) in spans.enumerate() {
        let mut done = 0;
        loop {
            let bytes = (len - done).min(max);
            out.push((i, offset + done, bytes));
            done += bytes;
            if done >= len {
                break;
            }
        }
    }
    out
}

fn read_pieces(
    dev: Dev<'_>,
    pool: &mut Pool,
    operation: &str,
    ranges: &[ReadRange],
    mut f: impl FnMut(usize, &[u8]),
) -> Result<usize, crate::GpuError> {
    let mut batches = 0;
    let mut i = 0;
    while i < ranges.len() {
        // Ranges [i, end) at 8-byte aligned offsets (map offsets must be multiples of 8).
        let mut end = i;
        let mut total = 0u64;
        let mut offsets = Vec::new();
        while end < ranges.len() {
            let off = total.div_ceil(8) * 8;
            let need = off + ranges[end].bytes;
            if end > i && need > STAGING_BUDGET {
                break;
            }
            offsets.push(off);
            total = need;
            end += 1;
        }
        batches += 1;
        if total == 0 {
            for k in i..end {
                f(k, &[]);
            }
            i = end;
            continue;
        }
        let size = staging_size(total);
        let staging = pool.acquire(dev.gpu, dev.index, Use::Readback, size).map_err(|m| dev.error(operation, m))?;
        let r = crate::pool::scoped(dev.gpu, || {
            let mut enc =
                dev.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(operation) });
            for (r, off) in ranges[i..end].iter().zip(&offsets) {
                if r.bytes > 0 {
                    enc.copy_buffer_to_buffer(&r.buffer, r.offset, &staging, *off, r.bytes);
                }
            }
            dev.gpu.queue.submit([enc.finish()]);
        });
        let res = r.and_then(|_| {
            sync::map_read_all(&dev.gpu.device, &[(&staging, total.div_ceil(4) * 4)], |_, view| {
                for (k, (r, off)) in ranges[i..end].iter().zip(&offsets).enumerate() {
                    f(i + k, &view[*off as usize..(*off + r.bytes) as usize]);
                }
            })
        });
        pool.recycle(dev.index, Use::Readback, staging);
        res.map_err(|m| dev.error(operation, m))?;
        i = end;
    }
    Ok(batches)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_ranges_split_into_budget_pieces_in_order() {
        let cut = split([(0, 0), (16, 40), (64, 8)].into_iter(), 16);
        assert_eq!(cut, vec![(0, 0, 0), (1, 16, 16), (1, 32, 16), (1, 48, 8), (2, 64, 8)]);
    }
}
