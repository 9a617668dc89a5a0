//! TensorFlow's orthogonal initializer, computed on the host (Householder QR in f64 over
//! a standard normal matrix drawn from the Philox normal stream).

use crate::random;

/// TensorFlow's orthogonal initializer on a shape of rank >= 2 (row-major f64 values).
/// Rank below 2 gives an empty vector (the callers check).
pub fn orthogonal(shape: &[u64], gain: f64, key: [u32; 2]) -> Vec<f64> {
    if shape.len() < 2 {
        return Vec::new();
    }
    let cols = shape[shape.len() - 1] as usize;
    let rows: usize = shape[..shape.len() - 1].iter().product::<u64>() as usize;
    let (m, n) = (rows.max(cols), rows.min(cols));
    if m == 0 || n == 0 {
        return Vec::new();
    }
    // a: m x n row-major, standard normal from the normal stream.
    let mut a: Vec<f64> = (0..(m * n) as u64).map(|i| random::standard_normal_at(key, i) as f64).collect();
    // Householder QR: vectors kept in vs, R's diagonal in rdiag.
    let mut vs: Vec<Vec<f64>> = Vec::with_capacity(n);
    let mut rdiag = vec![0.0f64; n];
    for k in 0..n {
        let norm = (k..m).map(|i| a[i * n + k] * a[i * n + k]).sum::<f64>().sqrt();
        let x0 = a[k * n + k];
        let alpha = if x0 >= 0.0 { -norm } else { norm };
        let mut v: Vec<f64> = (k..m).map(|i| a[i * n + k]).collect();
        v[0] -= alpha;
        let vv: f64 = v.iter().map(|x| x * x).sum();
        if vv > 0.0 {
            for j in k..n {
                let dot: f64 = (k..m).map(|i| v[i - k] * a[i * n + j]).sum();
                let f = 2.0 * dot / vv;
                for i in k..m {
                    a[i * n + j] -= f * v[i - k];
                }
            }
            rdiag[k] = alpha;
        } else {
            rdiag[k] = x0;
        }
        vs.push(if vv > 0.0 { v } else { Vec::new() });
    }
    // Q (m x n) = H_0 ... H_{n-1} applied to the first n columns of I.
    let mut q = vec![0.0f64; m * n];
    for j in 0..n {
        q[j * n + j] = 1.0;
    }
    for k in (0..n).rev() {
        let v = &vs[k];
        if v.is_empty() {
            continue;
        }
        let vv: f64 = v.iter().map(|x| x * x).sum();
        for j in 0..n {
            let dot: f64 = (k..m).map(|i| v[i - k] * q[i * n + j]).sum();
            let f = 2.0 * dot / vv;
            for i in k..m {
                q[i * n + j] -= f * v[i - k];
            }
        }
    }
    let sign: Vec<f64> = rdiag
        .iter()
        .map(|&d| {
            if d > 0.0 {
                1.0
            } else if d < 0.0 {
                -1.0
            } else {
                0.0
            }
        })
        .collect();
    let mut out = vec![0.0f64; rows * cols];
    for i in 0..m {
        for j in 0..n {
            let v = gain * q[i * n + j] * sign[j];
            if rows < cols {
                out[j * cols + i] = v; // transpose: out is (n x m) = (rows x cols)
            } else {
                out[i * cols + j] = v;
            }
        }
    }
    out
}
