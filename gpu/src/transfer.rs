//! The one readback path and the one bulk upload path between host memory and device
//! buffers.
//!
//! Both cut their byte ranges into *pieces* of at most one staging piece
//! ([`crate::pool::STAGING_PIECE`]), pack small ranges together into one piece, and move
//! the pieces through two staging buffers of the pool's ring, double-buffered: while the
//! host copies one piece out of (or into) mapped staging memory, the device copies the
//! next one. Host and device memory stay flat however many bytes move (a 1.2 GB variable
//! needs two pieces of staging), the ring's buffers are reused across calls (no fresh
//! allocation, no page faults), and bytes whose host and device layouts agree are copied
//! once, straight between the caller's memory and the mapped staging memory.

use crate::launch::Dev;
use crate::pool::{Pool, Use};
use crate::sync::MapTicket;

/// A byte range of a device buffer (offset and size multiples of 4).
#[derive(Clone, Debug)]
pub(crate) struct ReadRange {
    pub buffer: wgpu::Buffer,
    pub offset: u64,
    pub bytes: u64,
}

/// How host bytes become device bytes on upload (see [`crate::layout`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HostLayout {
    /// The same bytes, the last word padded with zeros.
    Plain,
    /// One host byte per element (0 or 1) to one `u32` word per element.
    Bool,
}

/// Host bytes to write to a device buffer at a byte offset (a multiple of 4).
pub(crate) struct WriteRange<'a> {
    pub buffer: wgpu::Buffer,
    pub offset: u64,
    pub host: &'a [u8],
    pub layout: HostLayout,
}

impl WriteRange<'_> {
    /// Device bytes the range covers.
    fn device_bytes(&self) -> u64 {
        let n = self.host.len() as u64;
        match self.layout {
            HostLayout::Plain => n.div_ceil(4) * 4,
            HostLayout::Bool => n * 4,
        }
    }
}

/// One piece of a range in a batch: `(range index, offset within the range, bytes,
/// offset in the staging buffer)`.
type Item = (usize, u64, u64, u64);

/// One staging buffer's worth of pieces.
#[derive(Debug, PartialEq)]
struct Batch {
    items: Vec<Item>,
    /// Staging bytes used (a multiple of 4).
    total: u64,
}

/// Cuts spans of `len` bytes (multiples of 4) into pieces of at most `piece` bytes (a
/// multiple of 8) and packs consecutive pieces into batches of at most `piece` bytes, each
/// piece at an 8-byte aligned staging offset (map offsets must be multiples of 8). An
/// empty span stays one empty piece, in order.
fn plan(spans: impl Iterator<Item = u64>, piece: u64) -> Vec<Batch> {
    let mut out: Vec<Batch> = Vec::new();
    let mut cur = Batch { items: Vec::new(), total: 0 };
    for (i, len) in spans.enumerate() {
        let mut done = 0;
        loop {
            let bytes = (len - done).min(piece);
            let off = cur.total.div_ceil(8) * 8;
            if !cur.items.is_empty() && off + bytes > piece {
                out.push(std::mem::replace(&mut cur, Batch { items: Vec::new(), total: 0 }));
            }
            let off = cur.total.div_ceil(8) * 8;
            cur.items.push((i, done, bytes, off));
            cur.total = if bytes > 0 { off + bytes } else { cur.total };
            done += bytes;
            if done >= len {
                break;
            }
        }
    }
    if !cur.items.is_empty() {
        out.push(cur);
    }
    out
}

/// The staging buffers of one transfer, at most two (double buffering). Each slot's flag
/// says a mapping was started and not yet undone by `unmap`; however the transfer ends,
/// clean buffers go back to the pool and the others (their map state unknown after an
/// error) are destroyed.
struct Ring<'p> {
    pool: &'p mut Pool,
    dev: usize,
    use_: Use,
    slots: [Option<(wgpu::Buffer, bool)>; 2],
}

impl Ring<'_> {
    fn new(pool: &mut Pool, dev: usize, use_: Use) -> Ring<'_> {
        Ring { pool, dev, use_, slots: [None, None] }
    }

    /// Slot `s`'s buffer (taken from the pool on first use, for batches of at most
    /// `need` bytes), marked as about to be mapped.
    fn take(&mut self, gpu: &crate::device::Gpu, s: usize, need: u64) -> Result<wgpu::Buffer, String> {
        if self.slots[s].is_none() {
            self.slots[s] = Some((self.pool.staging(gpu, self.dev, self.use_, need)?, false));
        }
        match &mut self.slots[s] {
            Some((b, dirty)) => {
                *dirty = true;
                Ok(b.clone())
            }
            None => Err("staging slot missing".to_string()),
        }
    }

    /// Unmaps slot `s` (mapped by the caller), which is clean again.
    fn unmap(&mut self, s: usize) {
        if let Some((b, dirty)) = &mut self.slots[s] {
            b.unmap();
            *dirty = false;
        }
    }
}

impl Drop for Ring<'_> {
    fn drop(&mut self) {
        for (b, dirty) in self.slots.iter_mut().filter_map(Option::take) {
            if dirty {
                b.destroy();
            } else {
                self.pool.give_staging(self.dev, self.use_, b);
            }
        }
    }
}

/// Reads `ranges` to the host and hands each range's bytes to `f(index, bytes)` in order.
/// A range larger than a staging piece is read in pieces (so a 1 GB variable needs two
/// pieces of staging, not a 1 GB mapping), and `f` is called once per piece, in order:
/// callers append. Small ranges share a piece. Returns the number of copy submissions.
pub(crate) fn read_ranges(
    dev: Dev<'_>,
    pool: &mut Pool,
    operation: &str,
    ranges: &[ReadRange],
    mut f: impl FnMut(usize, &[u8]),
) -> Result<usize, crate::GpuError> {
    let err = |m: String| dev.error(operation, m);
    let batches = plan(ranges.iter().map(|r| r.bytes), pool.piece());
    // The batches with bytes to copy, in order; the `j`-th uses slot `j % 2`.
    let work: Vec<&Batch> = batches.iter().filter(|b| b.total > 0).collect();
    let largest = work.iter().map(|b| b.total).max().unwrap_or(0);
    let mut ring = Ring::new(pool, dev.index, Use::Readback);
    let mut tickets: [Option<MapTicket>; 2] = [None, None];
    // Copies work batch `j` into its slot and starts mapping it.
    let submit = |ring: &mut Ring<'_>, j: usize| -> Result<MapTicket, String> {
        let batch = work[j];
        let staging = ring.take(dev.gpu, j % 2, largest)?;
        let copies = batch.items.iter().map(|&(i, within, bytes, off)| {
            let r = &ranges[i];
            (&r.buffer, r.offset + within, &staging, off, bytes)
        });
        let idx = submit_copies(dev, operation, copies)?;
        Ok(MapTicket::start(&staging, wgpu::MapMode::Read, batch.total, Some(idx)))
    };
    let (mut submitted, mut j) = (0, 0);
    for batch in &batches {
        if batch.total == 0 {
            for &(i, ..) in &batch.items {
                f(i, &[]);
            }
            continue;
        }
        // Batch `j` and the next one in flight: the device copies `j + 1` while the host
        // copies `j` out.
        while submitted < (j + 2).min(work.len()) {
            tickets[submitted % 2] = Some(submit(&mut ring, submitted).map_err(err)?);
            submitted += 1;
        }
        let s = j % 2;
        let ticket = tickets[s].take().ok_or_else(|| err("staging slot not mapped".to_string()))?;
        ticket.wait(&dev.gpu.device).map_err(err)?;
        let Some((staging, _)) = &ring.slots[s] else { return Err(err("staging slot missing".to_string())) };
        let view = staging.get_mapped_range(0..batch.total).map_err(|e| err(e.to_string()))?;
        for &(i, _, bytes, off) in &batch.items {
            f(i, &view[off as usize..(off + bytes) as usize]);
        }
        drop(view);
        ring.unmap(s);
        j += 1;
    }
    Ok(work.len())
}

/// Writes `writes` from host memory to device buffers, converting bool bytes to words and
/// padding other ranges to a whole word with zeros: pieces through the pool's upload ring,
/// each filled straight from the caller's slices into mapped staging memory while the
/// device copies the previous piece. Returns the number of copy submissions; the copies
/// are submitted, not waited for.
pub(crate) fn write_ranges(
    dev: Dev<'_>,
    pool: &mut Pool,
    operation: &str,
    writes: &[WriteRange<'_>],
) -> Result<usize, crate::GpuError> {
    let err = |m: String| dev.error(operation, m);
    let batches: Vec<Batch> =
        plan(writes.iter().map(WriteRange::device_bytes), pool.piece()).into_iter().filter(|b| b.total > 0).collect();
    let largest = batches.iter().map(|b| b.total).max().unwrap_or(0);
    let mut ring = Ring::new(pool, dev.index, Use::Upload);
    // The submission that last read each slot.
    let mut last: [Option<wgpu::SubmissionIndex>; 2] = [None, None];
    for (k, batch) in batches.iter().enumerate() {
        let s = k % 2;
        let staging = ring.take(dev.gpu, s, largest).map_err(err)?;
        // Waits for the device to have copied this slot's previous piece out.
        MapTicket::start(&staging, wgpu::MapMode::Write, batch.total, last[s].take())
            .wait(&dev.gpu.device)
            .map_err(err)?;
        let mut view = staging.get_mapped_range_mut(0..batch.total).map_err(|e| err(e.to_string()))?;
        for &(i, within, bytes, off) in &batch.items {
            fill(&writes[i], within, view.slice(off as usize..(off + bytes) as usize));
        }
        drop(view);
        ring.unmap(s);
        let copies = batch.items.iter().map(|&(i, within, bytes, off)| {
            let w = &writes[i];
            (&staging, off, &w.buffer, w.offset + within, bytes)
        });
        let idx = submit_copies(dev, operation, copies).map_err(err)?;
        last[s] = Some(idx);
    }
    Ok(batches.len())
}

/// Records `copies` (source, source offset, destination, destination offset, bytes; empty
/// ones skipped) into one command buffer and submits it inside wgpu's error scopes: one
/// staging piece's transfer in either direction.
fn submit_copies<'b>(
    dev: Dev<'_>,
    operation: &str,
    copies: impl Iterator<Item = (&'b wgpu::Buffer, u64, &'b wgpu::Buffer, u64, u64)>,
) -> Result<wgpu::SubmissionIndex, String> {
    crate::pool::scoped(dev.gpu, || {
        let mut enc = dev.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(operation) });
        for (src, src_offset, dst, dst_offset, bytes) in copies.filter(|c| c.4 > 0) {
            enc.copy_buffer_to_buffer(src, src_offset, dst, dst_offset, bytes);
        }
        dev.gpu.queue.submit([enc.finish()])
    })
}

/// Writes the device bytes `within..within + dst.len()` of `w` into `dst`.
fn fill(w: &WriteRange<'_>, within: u64, mut dst: wgpu::WriteOnly<'_, [u8]>) {
    let within = within as usize;
    match w.layout {
        HostLayout::Plain => {
            let n = w.host.len().saturating_sub(within).min(dst.len());
            dst.slice(..n).copy_from_slice(&w.host[within..within + n]);
            dst.slice(n..).fill(0);
        }
        HostLayout::Bool => {
            let (words, _) = dst.into_chunks::<4>();
            let first = within / 4;
            let host = &w.host[first..first + words.len()];
            words.write_iter(host.iter().map(|&b| u32::from(b != 0).to_le_bytes()));
        }
    }
}

/// An empty vector with room for exactly `bytes` bytes, for a transfer's host side to
/// fill. Large ones ask Linux for transparent huge pages first: a fresh 64 MiB buffer then
/// takes 32 page faults instead of 16,384, which otherwise cost more than the copy itself.
pub(crate) fn host_buffer(bytes: usize) -> Vec<u8> {
    let mut v = Vec::new();
    if v.try_reserve_exact(bytes).is_err() {
        // Left to the caller's `extend`, which reports the allocation failure as Rust does.
        return v;
    }
    #[cfg(target_os = "linux")]
    if bytes >= crate::huge_pages::HINT_BYTES {
        crate::huge_pages::advise(v.as_mut_ptr() as usize, v.capacity());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_spans_split_into_pieces_and_small_ones_share_a_batch() {
        let b = plan([0, 40, 8, 4].into_iter(), 16);
        let items: Vec<Vec<Item>> = b.iter().map(|b| b.items.clone()).collect();
        assert_eq!(
            items,
            vec![
                vec![(0, 0, 0, 0), (1, 0, 16, 0)],
                vec![(1, 16, 16, 0)],
                vec![(1, 32, 8, 0), (2, 0, 8, 8)],
                vec![(3, 0, 4, 0)],
            ]
        );
        assert_eq!(b.iter().map(|b| b.total).collect::<Vec<_>>(), vec![16, 16, 16, 4]);
    }

    use crate::{HostValues, Session, SessionOptions};
    use half::f16;
    use varscope_core::{DType, Graph, Initializer, Variable};

    fn var(g: &Graph, name: &str, dtype: DType, n: u64) -> Variable {
        g.get_variable(name).shape(vec![n]).dtype(dtype).initializer(Initializer::zeros()).variable().unwrap()
    }

    /// A session on the default GPU with staging pieces of `piece` bytes (`None`: skipped
    /// where the test policy allows running without a GPU).
    fn session(test: &str, g: &Graph, options: SessionOptions, piece: u64) -> Option<Session> {
        let s = Session::with_options(g, options).unwrap();
        if !varscope_test_support::have_gpus(test, s.num_gpus()) {
            return None;
        }
        s.set_staging_piece(piece);
        Some(s)
    }

    /// Distinct f32 values (no two equal, so a piece copied to the wrong place shows).
    fn distinct(n: usize, salt: f32) -> Vec<f32> {
        (0..n).map(|i| i as f32 * 0.5 + salt).collect()
    }

    #[test]
    fn reads_and_assigns_spanning_many_staging_pieces_round_trip() {
        let g = Graph::new();
        // 1001 f32 = 4004 device bytes: 16 pieces of 256 bytes, the last one short, so
        // both ring slots turn over several times.
        let v = var(&g, "big", DType::Float32, 1001);
        let Some(s) =
            session("reads_and_assigns_spanning_many_staging_pieces_round_trip", &g, SessionOptions::default(), 256)
        else {
            return;
        };
        for salt in [1.0f32, -7.25] {
            let want = distinct(1001, salt);
            s.assign_f32(&v, &want).unwrap();
            assert_eq!(s.read_f32(&v).unwrap(), want, "salt {salt}");
        }
        // A read through small pieces agrees with one through a single default piece.
        s.set_staging_piece(crate::pool::STAGING_PIECE);
        assert_eq!(s.read_f32(&v).unwrap(), distinct(1001, -7.25));
    }

    #[test]
    fn bool_and_half_values_cross_piece_boundaries_intact() {
        let g = Graph::new();
        let b = var(&g, "flags", DType::Bool, 301);
        let h = var(&g, "halves", DType::Float16, 333);
        let Some(s) = session("bool_and_half_values_cross_piece_boundaries_intact", &g, SessionOptions::default(), 64)
        else {
            return;
        };
        let flags: Vec<bool> = (0..301).map(|i| (i * 7) % 3 == 0).collect();
        let halves: Vec<f16> = (0..333).map(|i| f16::from_f32(i as f32 - 100.5)).collect();
        let bv = HostValues::from_bool(&[301], &flags).unwrap();
        let hv = HostValues::from_f16(&[333], &halves).unwrap();
        s.assign_many(&[(b.clone(), &bv), (h.clone(), &hv)]).unwrap();
        let back = s.read_many(&[b.clone(), h.clone()]).unwrap();
        assert_eq!(back[0].to_bool_vec(), flags);
        assert_eq!(back[1], hv);
        // The inverse pattern replaces every word (no stale `true` survives a piece edge).
        let inverse: Vec<bool> = flags.iter().map(|f| !f).collect();
        s.assign(&b, &HostValues::from_bool(&[301], &inverse).unwrap()).unwrap();
        assert_eq!(s.read(&b).unwrap().to_bool_vec(), inverse);
    }

    #[test]
    fn chunked_variables_and_small_ones_share_pieces_in_one_call() {
        let g = Graph::new();
        // Chunks of 1 KiB, pieces of 512 bytes: a variable of 5 chunks, each read and
        // written in two pieces, next to small variables packed into shared pieces and an
        // empty one.
        let big = var(&g, "chunked", DType::Float32, 1280);
        let small: Vec<Variable> = (0..5).map(|i| var(&g, &format!("s{i}"), DType::Int32, 3 + i)).collect();
        let empty = var(&g, "empty", DType::Float32, 0);
        let options = SessionOptions::default().max_chunk_bytes(1024);
        let Some(s) = session("chunked_variables_and_small_ones_share_pieces_in_one_call", &g, options, 512) else {
            return;
        };
        let big_vals = HostValues::from_f32(&[1280], &distinct(1280, 3.0)).unwrap();
        let small_vals: Vec<HostValues> = (0..5u64)
            .map(|i| {
                let v: Vec<i32> = (0..3 + i as i32).map(|k| k * 1000 + i as i32).collect();
                HostValues::from_i32(&[3 + i], &v).unwrap()
            })
            .collect();
        let empty_vals = HostValues::from_f32(&[0], &[]).unwrap();
        let mut items: Vec<(Variable, &HostValues)> = vec![(big.clone(), &big_vals), (empty.clone(), &empty_vals)];
        items.extend(small.iter().cloned().zip(small_vals.iter()));
        s.assign_many(&items).unwrap();
        let all: Vec<Variable> = items.iter().map(|(v, _)| v.clone()).collect();
        let back = s.read_many(&all).unwrap();
        for ((v, want), got) in items.iter().zip(&back) {
            assert_eq!(got, *want, "{}", v.key());
        }
    }

    #[test]
    fn a_variable_larger_than_the_staging_budget_reads_what_the_kernel_wrote() {
        let g = Graph::new();
        let v = g
            .get_variable("u")
            .shape(vec![4096u64])
            .initializer(Initializer::random_uniform(-1.0, 1.0))
            .variable()
            .unwrap();
        let Some(s) = session(
            "a_variable_larger_than_the_staging_budget_reads_what_the_kernel_wrote",
            &g,
            SessionOptions::default(),
            1 << 20,
        ) else {
            return;
        };
        s.global_variables_initializer().unwrap();
        let whole = s.read(&v).unwrap();
        // 16 KiB through 1 KiB pieces, then through 4 KiB pieces.
        for piece in [1024, 4096] {
            s.set_staging_piece(piece);
            assert_eq!(s.read(&v).unwrap(), whole, "piece {piece}");
        }
        assert!(whole.to_f32_vec().iter().any(|&x| x != 0.0));
    }
}
