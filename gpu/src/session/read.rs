//! Reading variables to the host: `read`, `read_many`, `read_into`, `read_f32` and
//! `read_partitioned`, all through one path (`read_to`) that checks every variable first,
//! then copies host variables and reads each device's chunks through `transfer`'s staging
//! ring into one `Sink` per variable.

use varscope_core::{DType, PartitionedVariable, Variable};

use super::Session;
use crate::error::{GpuError, Result};
use crate::layout;
use crate::storage::Memory;
use crate::transfer::{self, ReadRange};
use crate::values::HostValues;

/// One device's ranges to read, with (variable index, elements) of each range.
type DeviceReads = (Vec<ReadRange>, Vec<(usize, u64)>);

/// Where a read puts one variable's host bytes, in order: a vector the read grows
/// ([`Session::read_many`]) or the caller's slice ([`Fill`], [`Session::read_into`]).
trait Sink {
    /// Room for `bytes` in all, before the first [`put`](Sink::put).
    fn reserve(&mut self, _bytes: usize) {}
    /// Appends `bytes`.
    fn put(&mut self, bytes: &[u8]);
    /// Appends one byte (0 or 1) per device word of a bool variable.
    fn put_bools(&mut self, words: &[u8]);
}

/// One byte (0 or 1) per 4-byte device word of a bool variable.
fn bools(words: &[u8]) -> impl Iterator<Item = u8> + '_ {
    words.chunks_exact(4).map(|w| u8::from(w != [0, 0, 0, 0]))
}

impl Sink for Vec<u8> {
    /// A new vector gets all its room at once, with the huge-page hint of large
    /// transfers.
    fn reserve(&mut self, bytes: usize) {
        if self.capacity() == 0 {
            *self = transfer::host_buffer(bytes);
        }
    }

    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }

    fn put_bools(&mut self, words: &[u8]) {
        self.extend(bools(words));
    }
}

/// The caller's slice, filled from the given position on (its length was checked
/// against the variable's bytes first).
struct Fill<'a>(&'a mut [u8], usize);

impl Sink for Fill<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let Fill(out, at) = self;
        out[*at..*at + bytes.len()].copy_from_slice(bytes);
        *at += bytes.len();
    }

    fn put_bools(&mut self, words: &[u8]) {
        let Fill(out, at) = self;
        for b in bools(words) {
            out[*at] = b;
            *at += 1;
        }
    }
}

impl Session {
    /// Reads a variable's values to the host.
    pub fn read(&self, v: &Variable) -> Result<HostValues> {
        let mut out = self.read_many(std::slice::from_ref(v))?;
        Ok(out.remove(0))
    }

    /// Reads many variables to the host: on each GPU one copy submission per staging
    /// piece (16 MiB; small variables share one), double-buffered through the pool's
    /// staging ring so memory stays flat, not one per variable. In `vars` order; every
    /// variable must be initialized (checked first).
    pub fn read_many(&self, vars: &[Variable]) -> Result<Vec<HostValues>> {
        let mut sinks: Vec<Vec<u8>> = vec![Vec::new(); vars.len()];
        self.read_to(vars, &mut sinks)?;
        vars.iter()
            .zip(sinks)
            .map(|(v, b)| HostValues::from_bytes(v.dtype(), &v.dims().unwrap_or_default(), b))
            .collect()
    }

    /// Reads a variable's values into `out`, which must be exactly as long as its
    /// canonical host bytes ([`Variable::nbytes`]; the layout of [`HostValues::bytes`]
    /// that [`Session::read`] returns): the same bytes as `read`, into memory the caller
    /// keeps. For reading a large variable again and again: `read` allocates a new
    /// buffer each time, which the operating system zeroes before the first write (on
    /// this project's lavapipe machines, 28-38% of the time of reading 64 MiB with `read`).
    /// The checks (length, graph, initialized) come before anything is written, so their
    /// errors leave `out` as it was; a device failure during the read may leave it
    /// partly written.
    pub fn read_into(&self, v: &Variable, out: &mut [u8]) -> Result<()> {
        let expected = v.nbytes().unwrap_or(0);
        if out.len() as u64 != expected || v.num_elements().is_none() {
            return Err(GpuError::ReadBufferSize {
                variable: v.key().to_string(),
                shape: v.shape().to_string(),
                dtype: v.dtype(),
                expected,
                given: out.len(),
            });
        }
        self.read_to(std::slice::from_ref(v), &mut [Fill(out, 0)])
    }

    /// Reads `vars` into `sinks` (one each, in order): checks every variable first, then
    /// copies host variables and reads each device's chunks through the staging ring.
    fn read_to(&self, vars: &[Variable], sinks: &mut [impl Sink]) -> Result<()> {
        let mut l = self.locked();
        for v in vars {
            if v.graph_id() != self.inner.graph.id() {
                return Err(GpuError::ForeignVariable { variable: v.key().to_string() });
            }
            if !l.storage().is_initialized(v.id()) {
                return Err(GpuError::Uninitialized { variable: v.op_name().to_string() });
            }
        }
        // GPU ranges per device: (variable index, chunk element count) per range.
        let mut per_dev: Vec<DeviceReads> = Vec::new();
        per_dev.resize_with(self.inner.devices.infos.len(), Default::default);
        for (i, v) in vars.iter().enumerate() {
            let Some(e) = l.storage().get(v.id()) else { continue };
            match &e.memory {
                Memory::Host(b) => sinks[i].put(b),
                Memory::Gpu(chunks) => {
                    let (ranges, owners) = &mut per_dev[e.device];
                    for c in chunks {
                        ranges.push(ReadRange { buffer: c.buf.buffer.clone(), offset: c.offset, bytes: c.bytes });
                        owners.push((i, c.count));
                    }
                }
            }
        }
        for (dev, (ranges, owners)) in per_dev.into_iter().enumerate() {
            let Some(d) = self.dev(dev) else { continue };
            if ranges.is_empty() {
                continue;
            }
            for &(i, _) in owners.iter() {
                sinks[i].reserve(vars[i].nbytes().unwrap_or(0) as usize);
            }
            // Pieces arrive in order (several per chunk past a staging piece); each
            // chunk's device bytes end in word padding that the host layout drops.
            let mut taken = vec![0u64; ranges.len()];
            l.read_ranges(d, "read variables", &ranges, |k, bytes| {
                let (i, count) = owners[k];
                let dtype = vars[i].dtype();
                if dtype == DType::Bool {
                    sinks[i].put_bools(bytes);
                } else {
                    let want = count * layout::device_elem_bytes(dtype).unwrap_or(1);
                    let n = (want.saturating_sub(taken[k]) as usize).min(bytes.len());
                    sinks[i].put(&bytes[..n]);
                    taken[k] += n as u64;
                }
            })?;
        }
        Ok(())
    }

    /// Reads a float32 variable as `f32` values (other dtypes are converted).
    pub fn read_f32(&self, v: &Variable) -> Result<Vec<f32>> {
        Ok(self.read(v)?.to_f32_vec())
    }

    /// Reads a partitioned variable: its shards concatenated along the slice axis (by
    /// their `slice_info` offsets) into the full shape.
    pub fn read_partitioned(&self, p: &PartitionedVariable) -> Result<HostValues> {
        let full: Vec<u64> = p.shape().as_list().unwrap_or_default();
        let eb = p.dtype().size_bytes() as u64;
        // Every shard must be readable before the whole is allocated on the host.
        for shard in p.shards() {
            if !self.is_variable_initialized(shard) {
                return Err(GpuError::Uninitialized { variable: shard.op_name().to_string() });
            }
        }
        let total = full.iter().try_fold(eb, |a, &d| a.checked_mul(d)).filter(|&t| usize::try_from(t).is_ok());
        let too_large = || GpuError::TooLarge {
            variable: p.name().to_string(),
            bytes: total.unwrap_or(u64::MAX),
            device: "/cpu:0 (host copy)".into(),
            limit: isize::MAX as u64,
        };
        let total = total.ok_or_else(too_large)? as usize;
        let mut out = Vec::new();
        out.try_reserve_exact(total).map_err(|_| too_large())?;
        out.resize(total, 0u8);
        let shards = self.read_many(p.shards())?;
        for (shard, vals) in p.shards().iter().zip(shards) {
            if full.is_empty() {
                out.copy_from_slice(vals.bytes());
                continue;
            }
            let shape = shard.dims().unwrap_or_default();
            let offset = shard.var_offset();
            let axis = shape.iter().zip(&full).position(|(a, b)| a != b).unwrap_or(0);
            let outer: u64 = full[..axis].iter().product();
            let inner: u64 = full[axis + 1..].iter().product::<u64>() * eb;
            let len = shape[axis];
            let off = offset.get(axis).copied().unwrap_or(0);
            for o in 0..outer {
                let src = (o * len * inner) as usize;
                let dst = ((o * full[axis] + off) * inner) as usize;
                let n = (len * inner) as usize;
                out[dst..dst + n].copy_from_slice(&vals.bytes()[src..src + n]);
            }
        }
        HostValues::from_bytes(p.dtype(), &full, out)
    }
}
