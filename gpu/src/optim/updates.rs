//! Variable updates on the session: `assign*` from the host or a device buffer, and the
//! row ops `scatter_*`, on the variable's device (`shaders/update.wgsl`) or the host.

use std::collections::HashMap;

use varscope_core::Variable;
use varscope_shaders::{RowParams, Shader, UpdateRow};

use super::{check_f32, ensure_initialized, OptimError, OptimResult};
use crate::pool::Use;
use crate::session::Session;

/// The update of [`Session::update_f32`] and friends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UpdateOp {
    /// `assign` / `scatter_update`.
    Assign,
    /// `assign_add` / `scatter_add`.
    Add,
    /// `assign_sub` / `scatter_sub`.
    Sub,
}

impl UpdateOp {
    fn code(self) -> u32 {
        match self {
            UpdateOp::Assign => varscope_shaders::UPDATE_ASSIGN,
            UpdateOp::Add => varscope_shaders::UPDATE_ADD,
            UpdateOp::Sub => varscope_shaders::UPDATE_SUB,
        }
    }

    fn dense_name(self) -> &'static str {
        match self {
            UpdateOp::Assign => "assign",
            UpdateOp::Add => "assign_add",
            UpdateOp::Sub => "assign_sub",
        }
    }

    fn scatter_name(self) -> &'static str {
        match self {
            UpdateOp::Assign => "scatter_update",
            UpdateOp::Add => "scatter_add",
            UpdateOp::Sub => "scatter_sub",
        }
    }

    fn apply(self, d: &mut f32, s: f32) {
        match self {
            UpdateOp::Assign => *d = s,
            UpdateOp::Add => *d += s,
            UpdateOp::Sub => *d -= s,
        }
    }
}

/// Where the values of an update come from on the device.
enum Source<'a> {
    Host(&'a [f32]),
    Buffer(&'a wgpu::Buffer, u64),
}

impl Session {
    /// `assign` / `assign_add` / `assign_sub` of host values (one per element,
    /// row-major) to a float32 variable. `Assign` initializes an uninitialized variable;
    /// `Add` and `Sub` need an initialized one.
    pub fn update_f32(&self, v: &Variable, op: UpdateOp, values: &[f32]) -> OptimResult<()> {
        let n = check_f32(op.dense_name(), v)?;
        if values.len() as u64 != n {
            return Err(OptimError::SizeMismatch {
                op: op.dense_name(),
                variable: v.key().to_string(),
                expected: n,
                given: values.len() as u64,
            });
        }
        if op == UpdateOp::Assign {
            return Ok(self.assign_f32(v, values)?);
        }
        ensure_initialized(self, v)?;
        let dev = self.device_index(v)?;
        if self.dev(dev).is_none() {
            let apply = |x: &mut [f32]| x.iter_mut().zip(values).for_each(|(d, s)| op.apply(d, *s));
            return Ok(self.update_host_f32(v, apply)?);
        }
        let rows = self.dense_rows(v)?;
        self.run_update(v, op, op.dense_name(), Source::Host(values), rows)
    }

    /// `assign` / `assign_add` / `assign_sub` from another buffer on the variable's
    /// device: `n` f32 values (the variable's element count) starting at byte
    /// `src_offset` of `src`, which needs `COPY_SRC` usage (every variable and gradient
    /// buffer has it). The source is copied first, so it may be the variable's own slab.
    pub fn update_from_buffer(
        &self,
        v: &Variable,
        op: UpdateOp,
        src: &wgpu::Buffer,
        src_offset: u64,
    ) -> OptimResult<()> {
        let name = op.dense_name();
        let n = check_f32(name, v)?;
        let dev = self.device_index(v)?;
        if self.dev(dev).is_none() {
            return Err(OptimError::NoBuffers {
                op: name,
                variable: v.key().to_string(),
                device: self.devices()[dev].name.clone(),
            });
        }
        let end = src_offset.saturating_add(n * 4);
        if end > src.size() || !src_offset.is_multiple_of(4) || !src.usage().contains(wgpu::BufferUsages::COPY_SRC) {
            return Err(OptimError::SourceRange {
                op: name,
                variable: v.key().to_string(),
                start: src_offset,
                end,
                size: src.size(),
                usage: format!("{:?}", src.usage()),
            });
        }
        if op != UpdateOp::Assign {
            ensure_initialized(self, v)?;
        }
        // An assign may allocate the variable; if it then fails (a source buffer of
        // another device, say), the allocation is undone with it.
        let had_storage = self.variable_bytes(v).is_some();
        let r = self.dense_rows(v).and_then(|rows| self.run_update(v, op, name, Source::Buffer(src, src_offset), rows));
        if r.is_err() && !had_storage && !self.is_variable_initialized(v) {
            self.release(v);
        }
        r?;
        if op == UpdateOp::Assign {
            self.locked().mark_initialized(v.id());
        }
        Ok(())
    }

    /// `scatter_update` / `scatter_add` / `scatter_sub`: for each `indices[k]`, combines
    /// row `k` of `updates` (`updates.len() == indices.len() * row_len`, where a row is
    /// the variable's shape without its first dimension) into row `indices[k]` of `v`.
    /// Out-of-range indices are errors and nothing is written. Duplicate indices: for
    /// `Add`/`Sub` their updates are summed (in index-list order) before being applied;
    /// for `Assign` the last one wins.
    pub fn scatter_f32(&self, v: &Variable, op: UpdateOp, indices: &[i64], updates: &[f32]) -> OptimResult<()> {
        let name = op.scatter_name();
        let n = check_f32(name, v)?;
        let dims = v.dims().unwrap_or_default();
        if dims.is_empty() {
            return Err(OptimError::BadShape { op: name, variable: v.key().to_string(), shape: v.shape().to_string() });
        }
        let rows_n = dims[0];
        let row_len = n.checked_div(rows_n).unwrap_or(0);
        let expected = indices.len() as u64 * row_len;
        if updates.len() as u64 != expected {
            return Err(OptimError::SizeMismatch {
                op: name,
                variable: v.key().to_string(),
                expected,
                given: updates.len() as u64,
            });
        }
        for (position, &index) in indices.iter().enumerate() {
            if index < 0 || index as u64 >= rows_n {
                return Err(OptimError::IndexOutOfRange {
                    op: name,
                    variable: v.key().to_string(),
                    index,
                    position,
                    rows: rows_n,
                });
            }
        }
        ensure_initialized(self, v)?;
        // Merge duplicates: unique rows in first-seen order.
        let rl = row_len as usize;
        let mut uniq: Vec<u64> = Vec::new();
        let mut pos: HashMap<u64, usize> = HashMap::new();
        let mut merged: Vec<f32> = Vec::new();
        for (k, &index) in indices.iter().enumerate() {
            let src = &updates[k * rl..(k + 1) * rl];
            match pos.get(&(index as u64)) {
                Some(&p) => {
                    let dst = &mut merged[p * rl..(p + 1) * rl];
                    for (d, s) in dst.iter_mut().zip(src) {
                        if op == UpdateOp::Assign {
                            *d = *s;
                        } else {
                            *d += *s;
                        }
                    }
                }
                None => {
                    pos.insert(index as u64, uniq.len());
                    uniq.push(index as u64);
                    merged.extend_from_slice(src);
                }
            }
        }
        let dev = self.device_index(v)?;
        if self.dev(dev).is_none() {
            let apply = |x: &mut [f32]| {
                for (p, &index) in uniq.iter().enumerate() {
                    let dst = &mut x[index as usize * rl..(index as usize + 1) * rl];
                    dst.iter_mut().zip(&merged[p * rl..(p + 1) * rl]).for_each(|(d, s)| op.apply(d, *s));
                }
            };
            return Ok(self.update_host_f32(v, apply)?);
        }
        // One row per (index, chunk) intersection: element range [index*rl, (index+1)*rl).
        let chunks = self.buffers(v)?.chunks;
        let mut rows: Vec<(usize, UpdateRow)> = Vec::new();
        for (p, &index) in uniq.iter().enumerate() {
            let (a, b) = (index * row_len, (index + 1) * row_len);
            for (ci, c) in chunks.iter().enumerate() {
                let lo = a.max(c.elements.start);
                let hi = b.min(c.elements.end);
                if lo < hi {
                    rows.push((
                        ci,
                        UpdateRow {
                            dst_off: (c.bytes.start / 4 + (lo - c.elements.start)) as u32,
                            src_off: (p as u64 * row_len + (lo - a)) as u32,
                            count: (hi - lo) as u32,
                            start: 0,
                        },
                    ));
                }
            }
        }
        let op2 = if op == UpdateOp::Assign { UpdateOp::Assign } else { op };
        self.run_update(v, op2, name, Source::Host(&merged), rows)
    }

    /// Rows of a dense update: one per chunk, source offset = the chunk's first element.
    fn dense_rows(&self, v: &Variable) -> OptimResult<Vec<(usize, UpdateRow)>> {
        let chunks = self.buffers(v)?.chunks;
        Ok(chunks
            .iter()
            .enumerate()
            .map(|(ci, c)| {
                (
                    ci,
                    UpdateRow {
                        dst_off: (c.bytes.start / 4) as u32,
                        src_off: c.elements.start as u32,
                        count: (c.elements.end - c.elements.start) as u32,
                        start: 0,
                    },
                )
            })
            .collect())
    }

    /// Runs update rows (chunk index, row) of `v` on its GPU under one session lock: the
    /// source values go to pooled buffers (uploaded, or copied from the source buffer;
    /// one per chunk for dense updates, whose row `src_off` is the element index), then
    /// one dispatch of `update_main` per chunk buffer, one submission.
    fn run_update(
        &self,
        v: &Variable,
        op: UpdateOp,
        name: &'static str,
        src: Source<'_>,
        rows: Vec<(usize, UpdateRow)>,
    ) -> OptimResult<()> {
        let dev = self.device_index(v)?;
        let d = self.dev(dev).ok_or_else(|| OptimError::NoBuffers {
            op: name,
            variable: v.key().to_string(),
            device: self.devices()[dev].name.clone(),
        })?;
        let what = format!("{name} {}", v.key());
        let mut l = self.locked();
        let (mut launch, storage) = l.launch(d, &what);
        let chunks: Vec<(wgpu::Buffer, u64, u64, u64)> = storage
            .chunks(v.id())
            .unwrap_or(&[])
            .iter()
            .map(|c| (c.buf.buffer.clone(), c.offset, c.start, c.start + c.count))
            .collect();
        // Source values: dense updates get one buffer per chunk (the chunk's elements, so
        // no binding exceeds the chunk size); scatters share one buffer of the merged rows.
        let n = v.num_elements().unwrap_or(0);
        let dense = match src {
            Source::Host(h) => h.len() as u64 == n && rows.iter().all(|(ci, r)| u64::from(r.src_off) == chunks[*ci].2),
            Source::Buffer(..) => true,
        };
        let mut srcs: Vec<wgpu::Buffer> = Vec::with_capacity(chunks.len());
        for (_, _, a, b) in &chunks {
            if !dense {
                if let Some(shared) = srcs.first() {
                    srcs.push(shared.clone());
                    continue;
                }
            }
            let words = match src {
                _ if dense => b - a,
                Source::Host(h) => h.len() as u64,
                Source::Buffer(..) => 0,
            };
            let sb = launch.temp(Use::Params, words * 4)?;
            match src {
                Source::Host(h) => {
                    let part = if dense { &h[*a as usize..*b as usize] } else { h };
                    launch.write(&sb, 0, bytemuck::cast_slice(part));
                }
                Source::Buffer(buf, off) => launch.copy(buf, off + a * 4, &sb, 0, words * 4),
            }
            srcs.push(sb);
        }
        for (ci, (buf, _, start, _)) in chunks.iter().enumerate() {
            let mut rs: Vec<UpdateRow> = rows.iter().filter(|(i, _)| *i == ci).map(|(_, r)| *r).collect();
            let mut total = 0u32;
            for r in &mut rs {
                r.start = total;
                total += r.count;
                if dense {
                    r.src_off -= *start as u32;
                }
            }
            if total == 0 {
                continue;
            }
            let rows_b = launch.params(bytemuck::cast_slice(&rs))?;
            let params_b =
                launch.params(bytemuck::bytes_of(&RowParams { num_rows: rs.len() as u32, total, _pad: [0; 2] }))?;
            launch.dispatch(Shader::Update, &[op.code()], &[&rows_b, &params_b, &srcs[ci], buf], total)?;
        }
        launch.submit()?;
        Ok(())
    }

    /// `v.assign_add(values)`, run (float32).
    pub fn assign_add(&self, v: &Variable, values: &[f32]) -> OptimResult<()> {
        self.update_f32(v, UpdateOp::Add, values)
    }

    /// `v.assign_sub(values)`, run (float32).
    pub fn assign_sub(&self, v: &Variable, values: &[f32]) -> OptimResult<()> {
        self.update_f32(v, UpdateOp::Sub, values)
    }

    /// `tf.scatter_update(v, indices, updates)`, run (float32).
    pub fn scatter_update(&self, v: &Variable, indices: &[i64], updates: &[f32]) -> OptimResult<()> {
        self.scatter_f32(v, UpdateOp::Assign, indices, updates)
    }

    /// `tf.scatter_add(v, indices, updates)`, run (float32).
    pub fn scatter_add(&self, v: &Variable, indices: &[i64], updates: &[f32]) -> OptimResult<()> {
        self.scatter_f32(v, UpdateOp::Add, indices, updates)
    }

    /// `tf.scatter_sub(v, indices, updates)`, run (float32).
    pub fn scatter_sub(&self, v: &Variable, indices: &[i64], updates: &[f32]) -> OptimResult<()> {
        self.scatter_f32(v, UpdateOp::Sub, indices, updates)
    }
}
