//! Regularization losses on each variable's device.

use std::collections::{BTreeMap, HashMap};

use varscope_core::{Regularizer, Variable};
use varscope_shaders::{ReduceRow, RowParams, Shader, REDUCE_SEGMENT};

use super::{check_f32, ensure_initialized, OptimResult};
use crate::pool::Use;
use crate::session::Session;
use crate::transfer::ReadRange;

/// The value of one REGULARIZATION_LOSSES entry.
#[derive(Clone, Debug, PartialEq)]
pub struct LossValue {
    /// TensorFlow's tensor name (`s/b/Regularizer/mul:0`).
    pub name: String,
    /// The regularized variable.
    pub variable: Variable,
    /// The loss.
    pub value: f64,
}

impl Session {
    /// Every REGULARIZATION_LOSSES entry of the graph with its value, computed on each
    /// variable's device: l1, l2 and l1_l2 of GPU variables by `shaders/reduce.wgsl`
    /// (one dispatch per buffer, one submission and one readback per device), of
    /// `/cpu:0` variables and host-closure regularizers on the host. In graph order.
    pub fn regularization_losses(&self) -> OptimResult<Vec<LossValue>> {
        let losses = self.graph().regularization_losses();
        let mut out: Vec<Option<f64>> = vec![None; losses.len()];
        // GPU losses per device: (loss index, variable).
        let mut per_dev: BTreeMap<usize, Vec<(usize, Variable)>> = BTreeMap::new();
        let mut host: Vec<(usize, Variable)> = Vec::new();
        for (li, l) in losses.iter().enumerate() {
            let v = &l.variable;
            ensure_initialized(self, v)?;
            let dev = self.device_index(v)?;
            let gpu_kind =
                matches!(l.regularizer, Regularizer::L1 { .. } | Regularizer::L2 { .. } | Regularizer::L1L2 { .. });
            if gpu_kind && self.dev(dev).is_some() {
                check_f32("regularization loss", v)?;
                per_dev.entry(dev).or_default().push((li, v.clone()));
            } else {
                host.push((li, v.clone()));
            }
        }
        let host_vars: Vec<Variable> = host.iter().map(|(_, v)| v.clone()).collect();
        for ((li, _), x) in host.iter().zip(self.read_many(&host_vars)?) {
            out[*li] = losses[*li].regularizer.reference_loss(&x.to_f64_vec());
        }
        for (dev, items) in per_dev {
            let Some(d) = self.dev(dev) else { continue };
            let mut l = self.locked();
            // Segments per chunk, grouped by buffer.
            let mut groups: Vec<(wgpu::Buffer, Vec<ReduceRow>)> = Vec::new();
            let mut owners: Vec<usize> = Vec::new(); // loss index per segment
            for (li, v) in &items {
                for c in l.storage().chunks(v.id()).unwrap_or(&[]) {
                    let count = c.count as u32;
                    let segs = count.div_ceil(REDUCE_SEGMENT);
                    if segs == 0 {
                        continue;
                    }
                    let row = ReduceRow { off: (c.offset / 4) as u32, count, start: 0, out_seg: owners.len() as u32 };
                    owners.extend(std::iter::repeat_n(*li, segs as usize));
                    match groups.iter_mut().find(|(b, _)| *b == c.buf.buffer) {
                        Some((_, rows)) => rows.push(row),
                        None => groups.push((c.buf.buffer.clone(), vec![row])),
                    }
                }
            }
            let out_bytes = (owners.len() as u64 * 8).max(8);
            let sums = l
                .pool()
                .acquire(d.gpu, dev, Use::Variable, out_bytes)
                .map_err(|m| d.error("regularization losses", m))?;
            let (mut launch, _) = l.launch(d, "regularization losses");
            for (buf, rows) in &mut groups {
                let mut total = 0u32;
                for r in rows.iter_mut() {
                    r.start = total;
                    total += r.count.div_ceil(REDUCE_SEGMENT);
                }
                let rows_b = launch.params(bytemuck::cast_slice(rows))?;
                let params_b = launch.params(bytemuck::bytes_of(&RowParams {
                    num_rows: rows.len() as u32,
                    total,
                    _pad: [0; 2],
                }))?;
                launch.dispatch(Shader::Reduce, &[], &[&rows_b, &params_b, buf, &sums], total)?;
            }
            let submitted = launch.submit();
            if let Err(e) = submitted {
                l.pool().recycle(dev, Use::Variable, sums);
                return Err(e.into());
            }
            let mut partials: Vec<f32> = Vec::new();
            let range = ReadRange { buffer: sums.clone(), offset: 0, bytes: owners.len() as u64 * 8 };
            let res = l.read_ranges(d, "regularization losses", &[range], |_, b| {
                partials.extend_from_slice(bytemuck::cast_slice(b))
            });
            l.pool().recycle(dev, Use::Variable, sums);
            res?;
            let mut acc: HashMap<usize, (f64, f64)> = HashMap::new();
            for (seg, li) in owners.iter().enumerate() {
                let e = acc.entry(*li).or_default();
                e.0 += f64::from(partials[2 * seg]);
                e.1 += f64::from(partials[2 * seg + 1]);
            }
            for (li, _) in &items {
                let (l1, l2) = acc.get(li).copied().unwrap_or_default();
                out[*li] = match losses[*li].regularizer {
                    Regularizer::L1 { scale } => Some(scale * l1),
                    Regularizer::L2 { scale } => Some(scale * l2),
                    Regularizer::L1L2 { l1: a, l2: b } => Some(a * l1 + b * l2),
                    _ => None,
                };
            }
        }
        Ok(losses
            .into_iter()
            .zip(out)
            .filter_map(|(l, v)| v.map(|value| LossValue { name: l.name, variable: l.variable, value }))
            .collect())
    }

    /// `tf.losses.get_regularization_loss()`, run: the sum of every
    /// REGULARIZATION_LOSSES value (0 when there are none).
    pub fn total_regularization_loss(&self) -> OptimResult<f64> {
        Ok(self.regularization_losses()?.iter().map(|l| l.value).sum())
    }
}
