//! The passes on `/cpu:0`: the same forward and backward math as the WGSL kernels, on
//! the host, reading the variables through the session and writing the gradients.

use varscope_gpu::{Gradients, Session};

use crate::{Data, Model, Passes, TrainConfig, TrainError, CLASSES};

/// The host passes: sizes, the L2 scale and the data set.
pub(crate) struct HostPasses {
    n: usize,
    h: usize,
    h2: usize,
    l2: f32,
    data: Data,
}

impl HostPasses {
    pub fn new(c: &TrainConfig, data: Data) -> Self {
        HostPasses { n: data.labels.len(), h: c.tower_units, h2: c.hidden_units, l2: c.l2 as f32, data }
    }
}

impl Passes for HostPasses {
    fn forward_backward(
        &mut self,
        s: &Session,
        m: &Model,
        grads: &Gradients,
        want: bool,
    ) -> Result<Option<(f32, f32)>, TrainError> {
        let (n, h, h2, c) = (self.n, self.h, self.h2, CLASSES);
        let [w1, b1, w2a, w2b, b2, w3, b3] = [&m.w1, &m.b1, &m.w2a, &m.w2b, &m.b2, &m.w3, &m.b3].map(|v| s.read_f32(v));
        let (w1, b1, w2a, w2b, b2, w3, b3) = (w1?, b1?, w2a?, w2b?, b2?, w3?, b3?);
        let (xa, xb, y) = (&self.data.xa, &self.data.xb, &self.data.labels);
        let tower = |x: &[f32]| -> Vec<f32> {
            let mut o = vec![0.0; n * h];
            for p in 0..n {
                for j in 0..h {
                    o[p * h + j] = (x[2 * p] * w1[j] + x[2 * p + 1] * w1[h + j] + b1[j]).max(0.0);
                }
            }
            o
        };
        let (ha, hb) = (tower(xa), tower(xb));
        let mut z = vec![0.0f32; n * h2];
        for p in 0..n {
            for k in 0..h2 {
                let mut acc = b2[k];
                for j in 0..h {
                    acc += ha[p * h + j] * w2a[j * h2 + k] + hb[p * h + j] * w2b[j * h2 + k];
                }
                z[p * h2 + k] = acc.max(0.0);
            }
        }
        let inv_n = 1.0 / n as f32;
        let mut dlog = vec![0.0f32; n * c];
        let (mut loss, mut correct) = (0.0f64, 0usize);
        for p in 0..n {
            let logits: Vec<f32> =
                (0..c).map(|cc| b3[cc] + (0..h2).map(|k| z[p * h2 + k] * w3[k * c + cc]).sum::<f32>()).collect();
            let best = (0..c).fold(0, |b, cc| if logits[cc] > logits[b] { cc } else { b });
            let mx = logits[best];
            let sum: f32 = logits.iter().map(|l| (l - mx).exp()).sum();
            for cc in 0..c {
                let mut pr = (logits[cc] - mx).exp() / sum;
                if cc == y[p] as usize {
                    pr -= 1.0;
                }
                dlog[p * c + cc] = pr * inv_n;
            }
            loss += f64::from(sum.ln() - (logits[y[p] as usize] - mx));
            correct += usize::from(best == y[p] as usize);
        }
        let mut gw3 = vec![0.0f32; h2 * c];
        let mut gb3 = vec![0.0f32; c];
        let mut dz = vec![0.0f32; n * h2];
        for p in 0..n {
            for cc in 0..c {
                let d = dlog[p * c + cc];
                gb3[cc] += d;
                for k in 0..h2 {
                    gw3[k * c + cc] += z[p * h2 + k] * d;
                    if z[p * h2 + k] > 0.0 {
                        dz[p * h2 + k] += d * w3[k * c + cc];
                    }
                }
            }
        }
        let mut gw2a: Vec<f32> = w2a.iter().map(|w| 2.0 * self.l2 * w).collect();
        let mut gw2b: Vec<f32> = w2b.iter().map(|w| 2.0 * self.l2 * w).collect();
        let mut gb2 = vec![0.0f32; h2];
        let mut dha = vec![0.0f32; n * h];
        let mut dhb = vec![0.0f32; n * h];
        for p in 0..n {
            for k in 0..h2 {
                let d = dz[p * h2 + k];
                gb2[k] += d;
                for j in 0..h {
                    gw2a[j * h2 + k] += ha[p * h + j] * d;
                    gw2b[j * h2 + k] += hb[p * h + j] * d;
                    if ha[p * h + j] > 0.0 {
                        dha[p * h + j] += d * w2a[j * h2 + k];
                    }
                    if hb[p * h + j] > 0.0 {
                        dhb[p * h + j] += d * w2b[j * h2 + k];
                    }
                }
            }
        }
        let mut gw1 = vec![0.0f32; 2 * h];
        let mut gb1 = vec![0.0f32; h];
        for p in 0..n {
            for j in 0..h {
                let (da, db) = (dha[p * h + j], dhb[p * h + j]);
                gb1[j] += da + db;
                for r in 0..2 {
                    gw1[r * h + j] += xa[2 * p + r] * da + xb[2 * p + r] * db;
                }
            }
        }
        for (v, gv) in
            [(&m.w1, gw1), (&m.b1, gb1), (&m.w2a, gw2a), (&m.w2b, gw2b), (&m.b2, gb2), (&m.w3, gw3), (&m.b3, gb3)]
        {
            grads.write_f32(v, &gv)?;
        }
        Ok(want.then(|| ((loss / n as f64) as f32, correct as f32 / n as f32)))
    }
}
