//! Encoding of the fused optimizer step for one group of rows that share their buffers:
//! each row split between the vector kernel (`shaders/optim4.wgsl`: whole groups of 4
//! elements, one `vec4` load and store per buffer per invocation, the device's wide
//! workgroups) and the scalar kernel (`shaders/optim.wgsl`: a row's tail of `count % 4`
//! elements, and rows whose offsets are not all multiples of 4 words), then tables of at
//! most [`OPTIM_MAX_ROWS`] rows, one dispatch each.
//!
//! Variables share slabs at `min_storage_buffer_offset_alignment` (at least 4 bytes,
//! often 16 or more), so rows are usually aligned; a tail still ends mid-`vec4`, and the
//! next word may be padding or a neighbour's. Neither kernel writes a word its row does
//! not own: the vector kernel only sees whole groups of 4 of its rows, the scalar kernel
//! one element per invocation.

use varscope_shaders::{OptimParams, OptimRow, Shader, OPTIM_MAX_ROWS, WORKGROUP_SIZE};

use crate::error::Result;
use crate::launch::Launch;

/// Elements of one unit of the vector kernel.
const LANES: u32 = 4;

/// Splits rows in elements and word offsets (as the trainer builds them) into rows of the
/// vector kernel (offsets and counts in groups of 4 elements) and rows of the scalar
/// kernel (elements and words). A row goes to the vector kernel when its variable,
/// gradient and slot offsets are all multiples of 4 words (unused slot offsets are 0); its
/// tail of `count % 4` elements, and every other row whole, go to the scalar kernel.
/// Empty rows are dropped.
pub(crate) fn split_rows(rows: &[OptimRow]) -> (Vec<OptimRow>, Vec<OptimRow>) {
    let mut vec4 = Vec::new();
    let mut scalar = Vec::new();
    for r in rows.iter().filter(|r| r.count > 0) {
        let offs = [r.var_off, r.grad_off, r.s0_off, r.s1_off, r.s2_off];
        if !offs.iter().all(|o| o % LANES == 0) {
            scalar.push(*r);
            continue;
        }
        let groups = r.count / LANES;
        if groups > 0 {
            let [var_off, grad_off, s0_off, s1_off, s2_off] = offs.map(|o| o / LANES);
            vec4.push(OptimRow { var_off, grad_off, s0_off, s1_off, s2_off, count: groups, ..*r });
        }
        let tail = r.count % LANES;
        if tail > 0 {
            let [var_off, grad_off, s0_off, s1_off, s2_off] = offs.map(|o| o + groups * LANES);
            scalar.push(OptimRow { var_off, grad_off, s0_off, s1_off, s2_off, count: tail, ..*r });
        }
    }
    (vec4, scalar)
}

/// The workgroup size of one vector-kernel table: the device's `wide` size unless it pads
/// the rows to more than 5/4 of the invocations [`WORKGROUP_SIZE`] would (small rows:
/// lavapipe and llvmpipe run every invocation of a workgroup, active or not), else
/// [`WORKGROUP_SIZE`].
pub(crate) fn vector_workgroup(rows: &[OptimRow], wide: u32) -> u32 {
    let padded = |w: u32| rows.iter().map(|r| u64::from(r.count.div_ceil(w)) * u64::from(w)).sum::<u64>();
    if wide > WORKGROUP_SIZE && padded(wide) * 4 <= padded(WORKGROUP_SIZE) * 5 {
        wide
    } else {
        WORKGROUP_SIZE.min(wide)
    }
}

/// The buffers of one fused group: the gradient buffer and the distinct read-write
/// buffers (the variable's first), with `map[j]`, the index in `rw` of slot `j`'s buffer.
pub(crate) struct GroupBuffers<'a> {
    pub grad: &'a wgpu::Buffer,
    pub rw: &'a [wgpu::Buffer],
    pub map: [u32; 3],
}

/// Records the dispatches of one group's rows (elements and word offsets, as
/// [`split_rows`] takes them) on `launch`: the vector kernel's tables (at
/// [`vector_workgroup`]'s size), then the scalar kernel's. Unused read-write bindings are bound
/// to `dummy` (at least 16 bytes).
pub(crate) fn encode_group(
    launch: &mut Launch<'_>,
    kind: u32,
    params: OptimParams,
    bufs: &GroupBuffers<'_>,
    rows: &[OptimRow],
    dummy: &wgpu::Buffer,
) -> Result<()> {
    let dev = launch.dev();
    let (vec4, scalar) = split_rows(rows);
    let map = bufs.map;
    for (shader, rows) in [(Shader::Optim4, vec4), (Shader::Optim, scalar)] {
        // Tables of at most OPTIM_MAX_ROWS rows (a uniform binding), one dispatch each.
        for chunk in rows.chunks(OPTIM_MAX_ROWS) {
            let mut rows = chunk.to_vec();
            let (wg, overrides) = match shader {
                Shader::Optim4 => {
                    let wg = vector_workgroup(&rows, dev.info.wide_workgroup);
                    (wg, vec![kind, 0, map[0], map[1], map[2], wg])
                }
                _ => (WORKGROUP_SIZE, vec![kind, 0, map[0], map[1], map[2]]),
            };
            let (total, tiles) = varscope_shaders::optim_tiles(&mut rows, wg)
                .ok_or_else(|| dev.error("apply_gradients", "more than 2^32 invocations in one dispatch".into()))?;
            let mut p = params;
            p.num_rows = rows.len() as u32;
            p.total = total;
            let mut table = vec![0u8; varscope_shaders::OPTIM_TABLE_BYTES];
            let used: &[u8] = bytemuck::cast_slice(&rows);
            table[..used.len()].copy_from_slice(used);
            let rows_b = launch.params(&table)?;
            let params_b = launch.params(bytemuck::bytes_of(&p))?;
            let tiles_b = launch.params(bytemuck::cast_slice(&tiles))?;
            let rw_at = |b: usize| bufs.rw.get(b).unwrap_or(dummy);
            let resources = [&rows_b, &params_b, bufs.grad, rw_at(0), rw_at(1), rw_at(2), rw_at(3), &tiles_b];
            launch.dispatch(shader, &overrides, &resources, total)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(offs: [u32; 5], count: u32) -> OptimRow {
        let [var_off, grad_off, s0_off, s1_off, s2_off] = offs;
        OptimRow {
            var_off,
            grad_off,
            s0_off,
            s1_off,
            s2_off,
            count,
            constraint: 1,
            lo: -1.0,
            hi: 2.0,
            ..Default::default()
        }
    }

    #[test]
    fn aligned_rows_split_into_groups_of_four_and_a_tail() {
        let (v, s) = split_rows(&[row([8, 4, 16, 0, 0], 11), row([12, 0, 0, 0, 0], 4), row([0, 0, 0, 0, 0], 3)]);
        assert_eq!(v, vec![row([2, 1, 4, 0, 0], 2), row([3, 0, 0, 0, 0], 1)]);
        assert_eq!(s, vec![row([16, 12, 24, 8, 8], 3), row([0, 0, 0, 0, 0], 3)]);
    }

    #[test]
    fn a_row_with_any_unaligned_offset_stays_scalar_and_empty_rows_vanish() {
        for bad in 0..5 {
            let mut offs = [4u32; 5];
            offs[bad] = 6;
            let (v, s) = split_rows(&[row(offs, 9), row([0; 5], 0)]);
            assert!(v.is_empty(), "offset {bad}");
            assert_eq!(s, vec![row(offs, 9)], "offset {bad}");
        }
    }

    #[test]
    fn large_rows_take_wide_workgroups_and_small_ones_narrow() {
        assert_eq!(vector_workgroup(&[row([0; 5], 1 << 18)], 256), 256);
        assert_eq!(vector_workgroup(&vec![row([0; 5], 256); 1000], 256), 256);
        assert_eq!(vector_workgroup(&vec![row([0; 5], 2); 1000], 256), WORKGROUP_SIZE);
        assert_eq!(vector_workgroup(&[row([0; 5], 300)], 256), WORKGROUP_SIZE);
        assert_eq!(vector_workgroup(&[row([0; 5], 1 << 18)], 64), 64);
    }

    #[test]
    fn every_element_is_covered_once() {
        for count in 0..40u32 {
            for off in 0..8u32 {
                let (v, s) = split_rows(&[row([off, 2 * off, 0, 4, off], count)]);
                let mut seen = vec![0u32; count as usize];
                for r in &v {
                    for k in 0..r.count * 4 {
                        seen[(r.var_off * 4 + k - off) as usize] += 1;
                        assert_eq!(r.grad_off * 4 + k - 2 * off, r.var_off * 4 + k - off);
                    }
                }
                for r in &s {
                    for k in 0..r.count {
                        seen[(r.var_off + k - off) as usize] += 1;
                        assert_eq!(r.grad_off + k - 2 * off, r.var_off + k - off);
                        assert_eq!(r.s1_off + k - 4, r.var_off + k - off);
                    }
                }
                assert!(seen.iter().all(|&n| n == 1), "count {count} offset {off}: {seen:?}");
            }
        }
    }

    /// GPU: rows of every optimizer kind placed next to each other at any word offset
    /// (back to back, 4-word aligned, aligned after guard words) in one variable-and-slot
    /// buffer, a second slot buffer and a gradient buffer; counts 1..=9 (every tail),
    /// larger rows spanning several wide workgroups, more rows than one table holds, some
    /// clamped. Every row matches the host reference; every word no row owns is unchanged,
    /// bit for bit.
    mod on_gpu {
        use super::*;
        use crate::device::Gpu;
        use crate::kernels::KernelCache;
        use crate::launch::Dev;
        use crate::optim::rows::{opt_code, opt_params};
        use crate::pool::Pool;
        use crate::test_adapters::adapters;
        use varscope_core::optim::BetaPowers;
        use varscope_core::Optimizer;
        use varscope_shaders::CONSTRAINT_CLAMP;
        use varscope_test_support::{for_each_target, TestTarget};

        fn optimizers() -> Vec<Optimizer> {
            vec![
                Optimizer::sgd(0.1),
                Optimizer::momentum(0.05, 0.9),
                Optimizer::nesterov(0.05, 0.9),
                Optimizer::adagrad(0.1),
                Optimizer::rmsprop(0.01),
                Optimizer::RmsProp { learning_rate: 0.01, decay: 0.9, momentum: 0.5, epsilon: 1e-6, centered: true },
                Optimizer::Adam { learning_rate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 },
                Optimizer::AdamW { weight_decay: 0.01, learning_rate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 },
            ]
        }

        /// A word no row owns: a NaN payload no update produces.
        const GUARD: u32 = 0x7fc0_1234;

        /// Places `count` words in a buffer of `len` words: back to back (`mode % 3 == 0`),
        /// at the next multiple of 4 (1), or after 4 guard words at a multiple of 4 (2).
        fn place(len: &mut u32, count: u32, mode: u32) -> u32 {
            let off = match mode % 3 {
                0 => *len,
                1 => len.next_multiple_of(4),
                _ => len.next_multiple_of(4) + 4,
            };
            *len = off + count;
            off
        }

        fn value(i: u32, salt: u32) -> f32 {
            ((i as f32 * 0.37 + salt as f32 * 1.7).sin() * 0.5).abs() * 0.5 + 0.1
        }

        fn new_buffer(gpu: &Gpu, words: &[u32]) -> wgpu::Buffer {
            let b = gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("fused test"),
                size: (words.len().max(4) * 4) as u64,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            gpu.queue.write_buffer(&b, 0, bytemuck::cast_slice(words));
            b
        }

        fn read(gpu: &Gpu, b: &wgpu::Buffer, words: usize) -> Vec<u32> {
            let size = (words * 4) as u64;
            let rb = gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("fused test readback"),
                size,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let mut enc = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
            enc.copy_buffer_to_buffer(b, 0, &rb, 0, size);
            let after = gpu.queue.submit([enc.finish()]);
            crate::sync::MapTicket::start(&rb, wgpu::MapMode::Read, size, Some(after))
                .wait(&gpu.device)
                .unwrap_or_else(|e| panic!("readback: {e}"));
            let view = rb.get_mapped_range(..).unwrap_or_else(|e| panic!("mapped range: {e:?}"));
            let out = bytemuck::cast_slice::<u8, u32>(&view).to_vec();
            drop(view);
            rb.unmap();
            out
        }

        #[test]
        fn rows_at_any_offset_match_the_reference_and_leave_other_words_alone() {
            for_each_target("rows_at_any_offset_match_the_reference_and_leave_other_words_alone", adapters(), |a| {
                let dev = Dev { gpu: &a.gpu, info: &a.info, index: a.index + 1 };
                // Many small rows (narrow vector workgroups), and a few large ones (wide).
                let mut small: Vec<u32> = (1..=9).cycle().take(290).collect();
                small.extend([4, 8, 1021, 5000, 4096 + 3]);
                let large = vec![4 * 4096 + 3, 4 * 1021, 7, 4 * 3000 + 2];
                for (opt, counts) in optimizers().into_iter().flat_map(|o| [(o.clone(), &small), (o, &large)]) {
                    let label = format!("{} {} ({} rows)", a.label(), opt.name(), counts.len());
                    let nslots = opt.slot_specs().len();
                    // Buffer 0: variables and slots 0 and 2; buffer 1: slot 1; gradients.
                    let (mut len, mut len1, mut glen) = (0u32, 0u32, 0u32);
                    let mut rows = Vec::new();
                    for (i, &count) in counts.iter().enumerate() {
                        let i = i as u32;
                        let mut r = OptimRow { count, ..Default::default() };
                        r.var_off = place(&mut len, count, i);
                        // Every buffer of a row placed the same way: rows placed back to back
                        // land at any offset (mixed alignment between buffers too).
                        r.grad_off = place(&mut glen, count, i);
                        for j in 0..nslots {
                            match j {
                                0 => r.s0_off = place(&mut len, count, i),
                                1 => r.s1_off = place(&mut len1, count, i),
                                _ => r.s2_off = place(&mut len, count, i),
                            }
                        }
                        if i % 5 == 2 {
                            (r.constraint, r.lo, r.hi) = (CONSTRAINT_CLAMP, 0.0, 0.35);
                        }
                        rows.push(r);
                    }
                    let mut w0 = vec![GUARD; len as usize + 3];
                    let mut w1 = vec![GUARD; len1 as usize + 3];
                    let mut g = vec![GUARD; glen as usize + 3];
                    for (k, r) in rows.iter().enumerate() {
                        let k = k as u32;
                        for e in 0..r.count {
                            w0[(r.var_off + e) as usize] = (value(e, k) * 2.0 - 0.6).to_bits();
                            g[(r.grad_off + e) as usize] = (value(e, k + 7) - 0.3).to_bits();
                            for (j, off) in [r.s0_off, r.s1_off, r.s2_off].iter().enumerate().take(nslots) {
                                let w = if j == 1 { &mut w1 } else { &mut w0 };
                                w[(off + e) as usize] = value(e, k + 11 * j as u32 + 3).to_bits();
                            }
                        }
                    }
                    // The host reference, on copies.
                    let powers = match opt {
                        Optimizer::Adam { beta1, beta2, .. } | Optimizer::AdamW { beta1, beta2, .. } => {
                            BetaPowers::at_step(beta1, beta2, 1)
                        }
                        _ => BetaPowers::default(),
                    };
                    let (mut want0, mut want1) = (w0.clone(), w1.clone());
                    for r in &rows {
                        let f = |w: &[u32], off: u32| -> Vec<f32> {
                            (0..r.count).map(|e| f32::from_bits(w[(off + e) as usize])).collect()
                        };
                        let mut x = f(&w0, r.var_off);
                        let gv = f(&g, r.grad_off);
                        let offs = [r.s0_off, r.s1_off, r.s2_off];
                        let mut slots: Vec<Vec<f32>> =
                            (0..nslots).map(|j| f(if j == 1 { &w1 } else { &w0 }, offs[j])).collect();
                        opt.reference_step_with_powers(powers, &mut x, &gv, &mut slots).unwrap();
                        if r.constraint == CONSTRAINT_CLAMP {
                            x.iter_mut().for_each(|v| *v = v.clamp(r.lo, r.hi));
                        }
                        let put = |w: &mut Vec<u32>, off: u32, vals: &[f32]| {
                            for (e, v) in vals.iter().enumerate() {
                                w[off as usize + e] = v.to_bits();
                            }
                        };
                        put(&mut want0, r.var_off, &x);
                        for (j, s) in slots.iter().enumerate() {
                            put(if j == 1 { &mut want1 } else { &mut want0 }, offs[j], s);
                        }
                    }
                    let (b0, b1, bg) = (new_buffer(&a.gpu, &w0), new_buffer(&a.gpu, &w1), new_buffer(&a.gpu, &g));
                    let rw = if nslots >= 2 { vec![b0.clone(), b1.clone()] } else { vec![b0.clone()] };
                    let bufs = GroupBuffers { grad: &bg, rw: &rw, map: [0, 1, 0] };
                    let (mut pool, mut kernels) = (Pool::new(1 << 20), KernelCache::default());
                    let mut launch = Launch::new(dev, &mut pool, &mut kernels, "fused test");
                    let dummy = launch.params(&[0u8; 16]).unwrap();
                    let kind = opt_code(&opt).unwrap();
                    encode_group(&mut launch, kind, opt_params(&opt, powers), &bufs, &rows, &dummy)
                        .unwrap_or_else(|e| panic!("{label}: {e}"));
                    let (v, sc) = split_rows(&rows);
                    if counts.len() > OPTIM_MAX_ROWS {
                        assert!(v.len() > 40 && sc.len() > OPTIM_MAX_ROWS, "{label}: {} / {}", v.len(), sc.len());
                        assert_eq!(
                            vector_workgroup(&v[..v.len().min(OPTIM_MAX_ROWS)], a.info.wide_workgroup),
                            WORKGROUP_SIZE
                        );
                    } else {
                        assert_eq!(vector_workgroup(&v, a.info.wide_workgroup), a.info.wide_workgroup, "{label}");
                    }
                    let tables = v.len().div_ceil(OPTIM_MAX_ROWS) + sc.len().div_ceil(OPTIM_MAX_ROWS);
                    assert_eq!(launch.dispatches(), tables, "{label}");
                    launch.submit().unwrap_or_else(|e| panic!("{label}: {e}"));
                    let got0 = read(&a.gpu, &b0, w0.len());
                    let got1 = read(&a.gpu, &b1, w1.len());
                    assert_eq!(read(&a.gpu, &bg, g.len()), g, "{label}: gradients changed");
                    for (name, got, want) in [("buffer 0", &got0, &want0), ("buffer 1", &got1, &want1)] {
                        for (i, (x, y)) in got.iter().zip(want.iter()).enumerate() {
                            if *y == GUARD || *x == GUARD {
                                assert_eq!(x, y, "{label}: {name} word {i} (not owned by any row) changed");
                                continue;
                            }
                            let (x, y) = (f32::from_bits(*x), f32::from_bits(*y));
                            assert!(
                                (x - y).abs() <= 1e-6 + 1e-5 * y.abs(),
                                "{label}: {name} word {i} = {x}, reference {y}"
                            );
                        }
                    }
                }
            });
        }
    }
}
