//! The one way GPU work is recorded and submitted: a [`Launch`] collects queue writes,
//! clears, copies and kernel dispatches for one device, builds each bind group from the
//! registry's binding table ([`Shader::bindings`]: resources are given in binding order,
//! never numbered by hand), takes parameter and staging buffers from the session's pool,
//! submits everything as one command buffer inside wgpu's error scopes, and gives the
//! pooled buffers back whether it was submitted or dropped.

use std::sync::Arc;

use varscope_shaders::{FillParams, Shader};

use crate::device::{DeviceInfo, Gpu};
use crate::error::{GpuError, Result};
use crate::kernels::{Kernel, KernelCache};
use crate::pool::{scoped, Pool, Use};

/// An opened GPU device of a session: its wgpu handles, its description and its index
/// in the session's device list (`/cpu:0` is 0, `/gpu:n` is `n + 1`).
#[derive(Clone, Copy)]
pub(crate) struct Dev<'a> {
    pub gpu: &'a Gpu,
    pub info: &'a DeviceInfo,
    pub index: usize,
}

impl Dev<'_> {
    /// A [`GpuError::Wgpu`] on this device for `operation`.
    pub fn error(&self, operation: &str, message: String) -> GpuError {
        GpuError::Wgpu { device: self.info.name.clone(), operation: operation.to_string(), message }
    }
}

enum Step {
    Write { buffer: wgpu::Buffer, offset: u64, bytes: Vec<u8> },
    Clear { buffer: wgpu::Buffer, offset: u64, size: Option<u64> },
    Copy { src: wgpu::Buffer, src_offset: u64, dst: wgpu::Buffer, dst_offset: u64, size: u64 },
    Dispatch { kernel: Arc<Kernel>, resources: Vec<wgpu::Buffer>, workgroups: [u32; 3] },
}

/// One submission's worth of work on one device (see the module documentation). Steps
/// run in the order recorded, except queue writes, which wgpu performs before the
/// command buffer (so a write always precedes the kernels that read it).
pub(crate) struct Launch<'a> {
    dev: Dev<'a>,
    pool: &'a mut Pool,
    kernels: &'a mut KernelCache,
    operation: String,
    temps: Vec<(Use, wgpu::Buffer)>,
    steps: Vec<Step>,
    dispatches: usize,
}

impl<'a> Launch<'a> {
    /// An empty launch on `dev`; `operation` names it in errors ("initialize variables").
    pub fn new(dev: Dev<'a>, pool: &'a mut Pool, kernels: &'a mut KernelCache, operation: impl Into<String>) -> Self {
        Launch { dev, pool, kernels, operation: operation.into(), temps: Vec::new(), steps: Vec::new(), dispatches: 0 }
    }

    /// The device.
    pub fn dev(&self) -> Dev<'a> {
        self.dev
    }

    fn err(&self, message: String) -> GpuError {
        self.dev.error(&self.operation, message)
    }

    /// A pooled buffer of `use_` with at least `size` bytes, given back to the pool after
    /// the launch.
    pub fn temp(&mut self, use_: Use, size: u64) -> Result<wgpu::Buffer> {
        let b = self.pool.acquire(self.dev.gpu, self.dev.index, use_, size).map_err(|m| self.err(m))?;
        self.temps.push((use_, b.clone()));
        Ok(b)
    }

    /// A pooled parameter buffer (STORAGE | UNIFORM) holding `bytes`.
    pub fn params(&mut self, bytes: &[u8]) -> Result<wgpu::Buffer> {
        let b = self.temp(Use::Params, bytes.len() as u64)?;
        self.write(&b, 0, bytes);
        Ok(b)
    }

    /// Writes host bytes to a buffer (before the launch's commands run).
    pub fn write(&mut self, buffer: &wgpu::Buffer, offset: u64, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.steps.push(Step::Write { buffer: buffer.clone(), offset, bytes: bytes.to_vec() });
        }
    }

    /// [`Launch::write`] of an owned vector (no copy).
    pub fn write_vec(&mut self, buffer: &wgpu::Buffer, offset: u64, bytes: Vec<u8>) {
        if !bytes.is_empty() {
            self.steps.push(Step::Write { buffer: buffer.clone(), offset, bytes });
        }
    }

    /// Zeroes `size` bytes of `buffer` from `offset` (`None`: to the end).
    pub fn clear(&mut self, buffer: &wgpu::Buffer, offset: u64, size: Option<u64>) {
        if size != Some(0) {
            self.steps.push(Step::Clear { buffer: buffer.clone(), offset, size });
        }
    }

    /// Copies `size` bytes between buffers.
    pub fn copy(&mut self, src: &wgpu::Buffer, src_offset: u64, dst: &wgpu::Buffer, dst_offset: u64, size: u64) {
        if size > 0 {
            self.steps.push(Step::Copy { src: src.clone(), src_offset, dst: dst.clone(), dst_offset, size });
        }
    }

    /// Dispatches `shader` (pipeline of override values `overrides`, in
    /// [`Shader::overrides`] order) over `invocations` invocations, with `resources`
    /// bound at bindings `0..` in the order of [`Shader::bindings`]. Nothing is recorded
    /// for zero invocations.
    pub fn dispatch(
        &mut self,
        shader: Shader,
        overrides: &[u32],
        resources: &[&wgpu::Buffer],
        invocations: u32,
    ) -> Result<()> {
        let kernel = self.kernels.get(self.dev.gpu, self.dev.info, self.dev.index, shader, overrides)?;
        if resources.len() != kernel.bindings {
            return Err(self.err(format!(
                "{} declares {} bindings, {} resources given",
                shader.label(),
                kernel.bindings,
                resources.len()
            )));
        }
        // Wide shaders take their workgroup size as the last override (`INIT_WG`).
        let wg = match (shader.wide(), overrides.last()) {
            (true, Some(&wg)) if wg > 0 => wg,
            _ => varscope_shaders::WORKGROUP_SIZE,
        };
        let workgroups = varscope_shaders::groups_size(invocations.div_ceil(wg));
        if workgroups[0] > 0 {
            self.steps.push(Step::Dispatch {
                kernel,
                resources: resources.iter().map(|b| (*b).clone()).collect(),
                workgroups,
            });
            self.dispatches += 1;
        }
        Ok(())
    }

    /// Writes `word` to `words` words of `buffer` from byte `offset` (a multiple of 4):
    /// zero with `clear_buffer`; any other word with the widest fill kernel the device
    /// has and the position allows, from the start: whole 32-byte groups with
    /// [`Shader::Fill8`] (`SHADER_INT64` devices, 32-byte aligned), then whole `vec4`s with
    /// [`Shader::Fill4`] (16-byte aligned), the rest (a few words, or everything at an
    /// unaligned offset) with the plain fill ([`Shader::Fill`]).
    pub fn fill(&mut self, buffer: &wgpu::Buffer, offset: u64, words: u64, word: u32) -> Result<()> {
        if word == 0 {
            self.clear(buffer, offset, Some(words * 4));
            return Ok(());
        }
        let dev = self.dev;
        let too_big = || dev.error("fill", format!("a fill of {words} words exceeds 2^32 invocations"));
        let wide = [dev.info.wide_workgroup];
        // (shader, words per invocation), widest first; the 32-byte kernel needs 64-bit
        // integers.
        let kernels = [(Shader::Fill8, 8u64), (Shader::Fill4, 4), (Shader::Fill, 1)];
        let (mut at, mut left) = (offset / 4, words);
        for (shader, unit) in kernels {
            let n = if at.is_multiple_of(unit) { left / unit } else { 0 };
            if n == 0 || (shader.needs_int64() && !dev.info.shader_i64) {
                continue;
            }
            let fp = FillParams {
                offset: u32::try_from(at / unit).map_err(|_| too_big())?,
                count: u32::try_from(n).map_err(|_| too_big())?,
                value: word,
                _pad: 0,
            };
            let params = self.params(bytemuck::bytes_of(&fp))?;
            let overrides: &[u32] = if shader.wide() { &wide } else { &[] };
            self.dispatch(shader, overrides, &[buffer, &params], fp.count)?;
            at += n * unit;
            left -= n * unit;
        }
        Ok(())
    }

    /// Kernel dispatches recorded so far.
    pub fn dispatches(&self) -> usize {
        self.dispatches
    }

    /// Records everything into one command buffer and submits it inside wgpu's error
    /// scopes, without waiting for the device. Returns the number of dispatches.
    pub fn submit(mut self) -> Result<usize> {
        let dev = self.dev;
        let steps = std::mem::take(&mut self.steps);
        let label = self.operation.clone();
        let r = scoped(dev.gpu, || {
            let mut enc =
                dev.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(&label) });
            let mut i = 0;
            while i < steps.len() {
                match &steps[i] {
                    Step::Write { buffer, offset, bytes } => dev.gpu.queue.write_buffer(buffer, *offset, bytes),
                    Step::Clear { buffer, offset, size } => enc.clear_buffer(buffer, *offset, *size),
                    Step::Copy { src, src_offset, dst, dst_offset, size } => {
                        enc.copy_buffer_to_buffer(src, *src_offset, dst, *dst_offset, *size)
                    }
                    Step::Dispatch { .. } => {
                        // Consecutive dispatches share one compute pass.
                        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                            label: Some(&label),
                            timestamp_writes: None,
                        });
                        while let Some(Step::Dispatch { kernel, resources, workgroups }) = steps.get(i) {
                            let entries: Vec<wgpu::BindGroupEntry> = resources
                                .iter()
                                .enumerate()
                                .map(|(b, buf)| wgpu::BindGroupEntry {
                                    binding: b as u32,
                                    resource: buf.as_entire_binding(),
                                })
                                .collect();
                            let bg = dev.gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
                                label: Some(&label),
                                layout: &kernel.layout,
                                entries: &entries,
                            });
                            pass.set_pipeline(&kernel.pipeline);
                            pass.set_bind_group(0, &bg, &[]);
                            pass.dispatch_workgroups(workgroups[0], workgroups[1], workgroups[2]);
                            i += 1;
                        }
                        continue;
                    }
                }
                i += 1;
            }
            dev.gpu.queue.submit([enc.finish()]);
        });
        r.map_err(|m| self.err(m))?;
        Ok(self.dispatches)
    }
}

impl Drop for Launch<'_> {
    fn drop(&mut self) {
        // Safe to reuse at once: a later write to a recycled buffer is queued after this
        // launch's submission, so the device has read it by then.
        for (use_, b) in self.temps.drain(..) {
            self.pool.recycle(self.dev.index, use_, b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_adapters::adapters;
    use varscope_test_support::{for_each_target, read_buffer};

    /// Fills split between the 32-byte, 16-byte and one-word kernels: ranges starting at
    /// every word offset modulo 8, of lengths around each kernel's unit, write the word to
    /// exactly their words and leave the guard words around them as they were.
    #[test]
    fn fills_write_exactly_their_words_at_any_offset_and_length() {
        for_each_target("fills_write_exactly_their_words_at_any_offset_and_length", adapters(), |a| {
            let dev = Dev { gpu: &a.gpu, info: &a.info, index: a.index + 1 };
            const WORDS: usize = 4200;
            const GUARD: u32 = 0xdead_beef;
            let buf = a.gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("fill test"),
                size: (WORDS * 4) as u64,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let (mut pool, mut kernels) = (Pool::new(1 << 20), KernelCache::default());
            for start in 0..9usize {
                for len in [1usize, 3, 4, 7, 8, 9, 12, 15, 16, 17, 1000, 4096 + 7 - start] {
                    let label = format!("{} words {start}..{}", a.info.name, start + len);
                    a.gpu.queue.write_buffer(&buf, 0, bytemuck::cast_slice(&vec![GUARD; WORDS]));
                    let word = 0x3f80_0000 + (start * 100 + len) as u32;
                    let mut launch = Launch::new(dev, &mut pool, &mut kernels, "fill test");
                    launch.fill(&buf, start as u64 * 4, len as u64, word).unwrap_or_else(|e| panic!("{label}: {e}"));
                    if start == 0 && len == 12 {
                        // 8 + 4 words on SHADER_INT64 devices (the 32-byte kernel, then the
                        // 16-byte one); 3 x 4 words elsewhere.
                        assert_eq!(launch.dispatches(), if a.info.shader_i64 { 2 } else { 1 }, "{label}");
                    }
                    launch.submit().unwrap_or_else(|e| panic!("{label}: {e}"));
                    let bytes = read_buffer(&a.gpu.device, &a.gpu.queue, &buf, 0..(WORDS * 4) as u64)
                        .unwrap_or_else(|e| panic!("{label}: {e}"));
                    for (i, w) in bytes.chunks_exact(4).enumerate() {
                        let got = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
                        let want = if (start..start + len).contains(&i) { word } else { GUARD };
                        assert_eq!(got, want, "{label}: word {i}");
                    }
                }
            }
        });
    }
}
