//! The init kernel on every adapter wgpu finds, against the host reference
//! (`varscope_core::reference`, the values `/cpu:0` holds).
//!
//! One descriptor table holds every case (each kind; float32, float16, bfloat16, int32,
//! uint32, bool; odd sizes; shards along axis 0 and 1; chunked rows; full indices past
//! 2^32; 2,000 small variables), one dispatch per (kind, layout). Fill, identity and
//! the uniform family must match bit for bit; the normal family must be within
//! [`NORMAL_MAX_ULP`] ulp (of the stored dtype) and the measured maximum is printed.
//! The Philox kernel's raw words are checked against Random123's known answers.
//!
//! Each adapter passes or fails on its own (`varscope-test-support`'s
//! `for_each_target`); no adapter: a loud SKIP, or a failure when
//! `VARSCOPE_REQUIRE_GPU=1`.

use std::collections::BTreeMap;

use varscope_core::init::InitKernel;
use varscope_core::partition::iter_slices;
use varscope_core::random::{fnv1a64, key_from_seeds, philox4x32_10};
use varscope_core::reference::{self, IndexMap};
use varscope_core::DType;
use varscope_gpu::descriptor::{kernel_params_for, KernelParams};
use varscope_shaders::{
    aligned_layout, assign_workgroups, groups_size, init_constants, pack_of, pairs_items, rebase_rows, row_layout,
    split_pair_tails, tile_bytes, wide_workgroup_size, words_for, Binding, InitDesc, InitParams, Shader, DTYPE_F16,
    INIT_LAYOUTS, INIT_MAX_ROWS, INIT_TILE_GROUPS, KIND_FILL, KIND_IDENTITY, LAYOUT_VEC4, PAIR_ITEMS,
};
use varscope_test_support::{adapters, for_each_target, read_buffer, TestTarget};

/// Elements per row of the wide test variables (at workgroups of 256, two items per
/// invocation fill one workgroup of a row of 2,048 and one item per invocation two).
const WIDE_CHUNK: u64 = 2048;

/// The documented bound for the normal family (runtime.md section 3).
const NORMAL_MAX_ULP: u64 = 2;

/// One variable (or shard) of the table.
struct Var {
    name: String,
    kernel: InitKernel,
    dtype: DType,
    own: Vec<u64>,
    map: IndexMap,
    key: [u32; 2],
}

fn cases() -> Vec<Var> {
    let kernels = [
        InitKernel::Fill(0.0),
        InitKernel::Fill(-1.5),
        InitKernel::Fill(3.3),
        InitKernel::Identity { gain: 2.5 },
        InitKernel::Uniform { low: -0.7, high: 1.3 },
        InitKernel::Uniform { low: -3.0, high: 1000.0 },
        InitKernel::Uniform { low: 5.0, high: 4_000_000_005.0 },
        InitKernel::Normal { mean: 0.5, stddev: 2.0 },
        InitKernel::TruncatedNormal { mean: -1.0, stddev: 0.3 },
    ];
    let dtypes = [DType::Float32, DType::Float16, DType::BFloat16, DType::Int32, DType::UInt32, DType::Bool];
    let shapes: [&[u64]; 5] = [&[1], &[7], &[13, 5], &[33, 17], &[3, 5, 7]];
    let mut out = Vec::new();
    for (ki, kernel) in kernels.iter().enumerate() {
        for dtype in dtypes {
            let float = dtype.is_floating();
            let ok = match kernel {
                InitKernel::Fill(_) | InitKernel::Identity { .. } => true,
                // -0.7..1.3 floats only; -3..1000 also int32; 5..4e9+5 also uint32.
                InitKernel::Uniform { low, .. } if *low == -3.0 => float || dtype == DType::Int32,
                InitKernel::Uniform { low, .. } if *low == 5.0 => float || dtype == DType::UInt32,
                _ => float,
            };
            if !ok {
                continue;
            }
            for full in shapes {
                if matches!(kernel, InitKernel::Identity { .. }) && full.len() != 2 {
                    continue;
                }
                let base = format!("k{ki}/{}/{full:?}", dtype.name());
                let key = key_from_seeds(1234, fnv1a64(base.as_bytes()));
                // Unpartitioned.
                out.push(Var {
                    name: base.clone(),
                    kernel: kernel.clone(),
                    dtype,
                    own: full.to_vec(),
                    map: IndexMap::identity(full.iter().product()),
                    key,
                });
                // Shards along axis 0 and 1.
                for axis in 0..full.len().min(2) {
                    let parts = full[axis].min(3);
                    if parts < 2 {
                        continue;
                    }
                    for (i, (offset, shape)) in iter_slices(full, parts, axis).into_iter().enumerate() {
                        out.push(Var {
                            name: format!("{base}/axis{axis}/part_{i}"),
                            kernel: kernel.clone(),
                            dtype,
                            map: IndexMap::new(&shape, full, &offset).expect("slice"),
                            own: shape,
                            key,
                        });
                    }
                }
            }
        }
    }
    // Wide variables, split into rows of WIDE_CHUNK elements: rows long enough for the
    // two-item kernel (`pairs_items`), in tables of many rows and of one; the last row's
    // count (10,004 - 4 x 2,048 = 1,812) is not a multiple of 8, so its last item is
    // split off for `init_main` (`split_pair_tails`).
    for (kernel, dtype) in [
        (InitKernel::Uniform { low: -0.7, high: 1.3 }, DType::Float32),
        (InitKernel::Uniform { low: -3.0, high: 1000.0 }, DType::Int32),
        (InitKernel::Normal { mean: 0.5, stddev: 2.0 }, DType::Float32),
        (InitKernel::TruncatedNormal { mean: -1.0, stddev: 0.3 }, DType::Float32),
    ] {
        let full = [61u64, 164];
        out.push(Var {
            name: format!("wide/{kernel:?}/{}", dtype.name()),
            kernel,
            dtype,
            own: full.to_vec(),
            map: IndexMap::identity(full.iter().product()),
            key: key_from_seeds(99, full[1]),
        });
    }
    // Full indices past 2^32 (64-bit index math in WGSL).
    for (kernel, dtype) in [
        (InitKernel::Uniform { low: 0.0, high: 1.0 }, DType::Float32),
        (InitKernel::Normal { mean: 0.0, stddev: 1.0 }, DType::Float32),
        (InitKernel::TruncatedNormal { mean: 0.0, stddev: 1.0 }, DType::BFloat16),
    ] {
        let big: [(&[u64], &[u64], &[u64]); 2] =
            [(&[3, 4], &[1 << 31, 4], &[(1 << 31) - 3, 0]), (&[3, 5], &[3, 1 << 33], &[0, (1 << 33) - 5])];
        for (i, (own, full, offset)) in big.into_iter().enumerate() {
            out.push(Var {
                name: format!("big{i}/{kernel:?}"),
                kernel: kernel.clone(),
                dtype,
                own: own.to_vec(),
                map: IndexMap::new(own, full, offset).expect("slice"),
                key: key_from_seeds(7, i as u64),
            });
        }
    }
    // Many small variables in the same dispatch.
    for i in 0..2000u64 {
        let kernel = match i % 3 {
            0 => InitKernel::Uniform { low: -1.0, high: 1.0 },
            1 => InitKernel::Normal { mean: 0.0, stddev: 1.0 },
            _ => InitKernel::Fill(i as f64),
        };
        let n = 1 + i % 9;
        out.push(Var {
            name: format!("small/v{i}"),
            kernel,
            dtype: if i % 2 == 0 { DType::Float32 } else { DType::Float16 },
            own: vec![n],
            map: IndexMap::identity(n),
            key: key_from_seeds(3, i),
        });
    }
    out
}

/// Host bytes → the device words a correct kernel writes (f16/bf16 packed, bool per word).
fn expected_words(dtype: DType, bytes: &[u8]) -> Vec<u32> {
    match dtype {
        DType::Bool => bytes.iter().map(|&b| u32::from(b)).collect(),
        _ => {
            let mut b = bytes.to_vec();
            b.resize(b.len().div_ceil(4) * 4, 0);
            b.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
        }
    }
}

fn ordered(bits: u32, width: u32) -> i64 {
    let sign = 1u32 << (width - 1);
    let mag = i64::from(bits & (sign - 1));
    if bits & sign != 0 {
        -mag
    } else {
        mag
    }
}

/// ulp distance per element of two word arrays of `dtype`.
fn ulp_diffs(dtype: DType, got: &[u32], want: &[u32], count: usize) -> Vec<u64> {
    (0..count)
        .map(|i| match dtype {
            DType::Float16 | DType::BFloat16 => {
                let g = (got[i / 2] >> (16 * (i % 2))) & 0xffff;
                let w = (want[i / 2] >> (16 * (i % 2))) & 0xffff;
                ordered(g, 16).abs_diff(ordered(w, 16))
            }
            _ => ordered(got[i], 32).abs_diff(ordered(want[i], 32)),
        })
        .collect()
}

fn desc_of(p: &KernelParams, out_offset: u32, first: u32, count: u32) -> InitDesc {
    InitDesc {
        kind: p.kind,
        dtype: p.dtype,
        out_offset,
        count,
        first,
        wg_start: 0,
        own_block: p.own_block,
        full_block_lo: p.full_block as u32,
        full_block_hi: (p.full_block >> 32) as u32,
        base_lo: p.base as u32,
        base_hi: (p.base >> 32) as u32,
        cols: p.cols,
        key0: p.key[0],
        key1: p.key[1],
        p0: p.p0,
        p1: p.p1,
    }
}

struct Gpu {
    name: String,
    device: wgpu::Device,
    queue: wgpu::Queue,
    int64: bool,
}

/// Opens a device on `adapter` with the adapter's own limits and, where it has them,
/// 64-bit integers (so both multiply preludes run).
fn open(adapter: &wgpu::Adapter) -> Gpu {
    let name = adapter.label();
    let int64 = adapter.features().contains(wgpu::Features::SHADER_INT64);
    let desc = wgpu::DeviceDescriptor {
        label: Some("varscope-shaders test"),
        required_limits: adapter.limits(),
        required_features: adapter.features() & wgpu::Features::SHADER_INT64,
        ..Default::default()
    };
    let (device, queue) = pollster::block_on(adapter.request_device(&desc))
        .unwrap_or_else(|e| panic!("adapter {name}: request_device failed: {e}"));
    Gpu { name, device, queue, int64 }
}

/// `pipeline`, built once per (shader, constants) in `built`.
fn cached(
    built: &mut BTreeMap<String, wgpu::ComputePipeline>,
    gpu: &Gpu,
    shader: Shader,
    constants: &[(&str, f64)],
) -> Result<wgpu::ComputePipeline, String> {
    let key = format!("{}{constants:?}", shader.label());
    if let Some(p) = built.get(&key) {
        return Ok(p.clone());
    }
    let p = pipeline(gpu, shader, constants)?;
    built.insert(key, p.clone());
    Ok(p)
}

fn pipeline(gpu: &Gpu, shader: Shader, constants: &[(&str, f64)]) -> Result<wgpu::ComputePipeline, String> {
    let scope = gpu.device.push_error_scope(wgpu::ErrorFilter::Validation);
    let module = gpu.device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(shader.label()),
        source: wgpu::ShaderSource::Wgsl(shader.source().into()),
    });
    // The registry's bindings, as the session lays them out (an automatic layout would
    // drop the bindings an entry point does not use).
    let entries: Vec<wgpu::BindGroupLayoutEntry> = shader
        .bindings()
        .iter()
        .enumerate()
        .map(|(i, b)| wgpu::BindGroupLayoutEntry {
            binding: i as u32,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: match b {
                    Binding::Storage { read_only } => wgpu::BufferBindingType::Storage { read_only: *read_only },
                    Binding::Uniform => wgpu::BufferBindingType::Uniform,
                },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        })
        .collect();
    let bgl = gpu.device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: None, entries: &entries });
    let pl = gpu.device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: None,
        bind_group_layouts: &[Some(&bgl)],
        immediate_size: 0,
    });
    let pipeline = gpu.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(shader.label()),
        layout: Some(&pl),
        module: &module,
        entry_point: Some(shader.entry_point()),
        compilation_options: wgpu::PipelineCompilationOptions { constants, ..Default::default() },
        cache: None,
    });
    match pollster::block_on(scope.pop()) {
        Some(e) => Err(format!("{}: {} {constants:?} failed to compile: {e}", gpu.name, shader.label())),
        None => Ok(pipeline),
    }
}

fn storage(gpu: &Gpu, label: &str, bytes: &[u8], writable: bool) -> wgpu::Buffer {
    let size = (bytes.len().max(4) as u64).div_ceil(4) * 4;
    let usage = wgpu::BufferUsages::STORAGE
        | wgpu::BufferUsages::COPY_DST
        | if writable { wgpu::BufferUsages::COPY_SRC } else { wgpu::BufferUsages::empty() };
    let buf = gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size,
        usage,
        mapped_at_creation: false,
    });
    if !bytes.is_empty() {
        gpu.queue.write_buffer(&buf, 0, bytes);
    }
    buf
}

fn uniform(gpu: &Gpu, bytes: &[u8]) -> wgpu::Buffer {
    let buf = gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("params"),
        size: bytes.len() as u64,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    gpu.queue.write_buffer(&buf, 0, bytes);
    buf
}

/// Runs `passes` (pipeline, workgroups) in order, each with `buffers` bound at bindings
/// `0..`, and reads `out` back.
fn run(
    gpu: &Gpu,
    passes: &[(&wgpu::ComputePipeline, [u32; 3])],
    buffers: &[&wgpu::Buffer],
    out: &wgpu::Buffer,
) -> Result<Vec<u32>, String> {
    let scope = gpu.device.push_error_scope(wgpu::ErrorFilter::Validation);
    let entries: Vec<_> = buffers
        .iter()
        .enumerate()
        .map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() })
        .collect();
    let mut enc = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
    for (pipeline, groups) in passes {
        let layout = pipeline.get_bind_group_layout(0);
        let bind = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &layout,
            entries: &entries,
        });
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: None });
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, &bind, &[]);
        pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
    }
    gpu.queue.submit([enc.finish()]);
    let bytes = read_buffer(&gpu.device, &gpu.queue, out, 0..out.size()).map_err(|e| format!("{}: {e}", gpu.name))?;
    if let Some(e) = pollster::block_on(scope.pop()) {
        return Err(format!("{}: dispatch failed: {e}", gpu.name));
    }
    Ok(bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

fn is_normal_family(k: &InitKernel) -> bool {
    matches!(k, InitKernel::Normal { .. } | InitKernel::TruncatedNormal { .. })
}

/// Runs the whole table on one adapter with `shader` (`Init` or `InitMul64`; with
/// `InitMul64`, the tables `pairs_items` accepts run `InitPair`), each table in
/// dispatches of at most `window` workgroups ([`InitParams::window`]). Returns the failures, the largest normal-family ulp distance, and the coverage of the
/// two-item kernel: one-row tables, many-row tables, rows split off for `init_main`.
fn check_init(gpu: &Gpu, shader: Shader, vars: &[Var], window: u32) -> (Vec<String>, u64, [usize; 3]) {
    let mut failures = Vec::new();
    // Rows: each variable at a word offset; variables over 64 elements are split into
    // chunks of 40 elements (even, so 16-bit chunks start at even elements). One table
    // and one dispatch per (kind, layout, pack), all writing the same output buffer.
    let mut rows: BTreeMap<[u32; 3], Vec<InitDesc>> = BTreeMap::new();
    let mut spans = Vec::new(); // (var index, word offset, words)
    let mut next_word = 0u32;
    for (vi, v) in vars.iter().enumerate() {
        // Every other variable, and every wide one, starts at a multiple of 8 words (vec4
        // stores where its counts allow, and 32-byte ones), the others wherever the
        // previous one ended.
        let n: u64 = v.own.iter().product();
        if vi % 2 == 0 || n >= WIDE_CHUNK {
            next_word = next_word.div_ceil(8) * 8;
        }
        let p = kernel_params_for(&v.name, &v.kernel, v.dtype, &v.own, &v.map, v.key)
            .expect("params")
            .expect("a device kernel");
        let code = p.dtype;
        let words = words_for(code, n) as u32;
        let chunk = if n >= WIDE_CHUNK {
            WIDE_CHUNK
        } else if n > 64 {
            40
        } else {
            n
        };
        let mut first = 0u64;
        while first < n {
            let count = chunk.min(n - first);
            let off = next_word + words_for(code, first) as u32;
            let row = desc_of(&p, off, first as u32, count as u32);
            let fill_like = p.kind == KIND_FILL || p.kind == KIND_IDENTITY;
            let layout = if fill_like { aligned_layout(&row) } else { row_layout(&row) };
            rows.entry([p.kind, layout, pack_of(code)]).or_default().push(row);
            first += count;
        }
        spans.push((vi, next_word, words));
        next_word += words;
    }
    for layout in INIT_LAYOUTS {
        let used = rows.keys().any(|k| k[1] == layout);
        assert!(used, "the case table has no row of layout {layout}");
    }
    // Poison the output so unwritten words show.
    let poison = vec![0xdead_beefu32; next_word as usize];
    let out = storage(gpu, "out", bytemuck::cast_slice(&poison), true);
    let mut words = Vec::new();
    let limits = gpu.device.limits();
    let wg = wide_workgroup_size(limits.max_compute_invocations_per_workgroup, limits.max_compute_workgroup_size_x);
    // Pipelines by shader and constants (many one-row tables share a few).
    let mut built = BTreeMap::new();
    // One-row and many-row tables run by the two-item kernel (`pairs_items`), which must
    // both be covered.
    let mut pair_tables = [0, 0, 0];
    for (&[kind, layout, pack], table) in rows.iter_mut() {
        rebase_rows(table, layout);
        // Tables of up to INIT_MAX_ROWS rows. At a vec4 layout, the rows the two-item
        // kernel takes on their own first, then the others; of each, half in tables of
        // many rows and half one row per table (a row at a constant index, INIT_ROWS = 1).
        let n = table.len();
        let pairable = |r: &InitDesc| {
            layout == LAYOUT_VEC4 && pairs_items(true, [kind, layout, pack, wg], std::slice::from_ref(r), u64::MAX)
        };
        table.sort_by_key(|r| !pairable(r));
        let q = table.iter().filter(|r| pairable(r)).count();
        let mut ranges = Vec::new();
        for (start, end) in [(0, q), (q, n)] {
            let half = if layout == LAYOUT_VEC4 { start + (end - start) / 2 } else { end };
            ranges.extend((start..half).step_by(INIT_MAX_ROWS).map(|s| s..(s + INIT_MAX_ROWS).min(half)));
            ranges.extend((half..end).map(|i| i..i + 1));
        }
        for range in ranges {
            let table = &mut table[range];
            let pair = shader == Shader::InitMul64
                && pairs_items(true, [kind, layout, pack, wg], table, u64::from(next_word) * 4);
            // A two-item table runs its whole pairs with `init_pair_main` and the single
            // items left over with `init_main`, as the session does.
            let runs = if pair {
                pair_tables[usize::from(table.len() > 1)] += 1;
                let (pairs, tails) = split_pair_tails(table);
                pair_tables[2] += tails.len();
                vec![(Shader::InitPair, PAIR_ITEMS, pairs), (shader, 1, tails)]
            } else {
                vec![(shader, 1, table.to_vec())]
            };
            for (run_shader, items, mut table) in runs {
                if table.is_empty() {
                    continue;
                }
                let constants = init_constants(kind, layout, pack, table.len(), wg);
                let pipe = match cached(&mut built, gpu, run_shader, &constants) {
                    Ok(p) => p,
                    Err(e) => return (vec![e], 0, [0; 3]),
                };
                let tiles = assign_workgroups(&mut table, wg, items).expect("invocations fit u32");
                let total = tiles.len() as u32;
                let mut padded = table.clone();
                padded.resize(INIT_MAX_ROWS, InitDesc::default());
                let descs = uniform(gpu, bytemuck::cast_slice(&padded));
                // Windows of the tile table (at most INIT_TILE_GROUPS workgroups each).
                let mut first = 0;
                while first < total {
                    let end = total.min(first.saturating_add(window.min(INIT_TILE_GROUPS)));
                    let tiles = match tile_bytes(&tiles[first as usize..end as usize]) {
                        Some(b) if table.len() > 1 => uniform(gpu, &b),
                        // A one-row table reads no tile: its descriptor table stands in.
                        Some(_) => descs.clone(),
                        None => {
                            return (vec![format!("{}: tile window {first}..{end} does not fit", gpu.name)], 0, [0; 3])
                        }
                    };
                    let params = uniform(gpu, bytemuck::bytes_of(&InitParams::window(table.len() as u32, first..end)));
                    let passes = [(&pipe, groups_size(end - first))];
                    let bound: &[&wgpu::Buffer] = if run_shader == Shader::InitPair {
                        &[&descs, &out, &params, &tiles, &out, &out]
                    } else {
                        &[&descs, &out, &params, &tiles, &out]
                    };
                    words = match run(gpu, &passes, bound, &out) {
                        Ok(w) => w,
                        Err(e) => return (vec![e], 0, [0; 3]),
                    };
                    first = end;
                }
            }
        }
    }
    let mut max_ulp = 0u64;
    for (vi, off, nwords) in spans {
        let v = &vars[vi];
        let n: u64 = v.own.iter().product();
        let host = reference::kernel_bytes(&v.name, &v.kernel, v.dtype, &v.own, &v.map, v.key, None, 0, n)
            .expect("host reference");
        let want = expected_words(v.dtype, &host);
        let got = &words[off as usize..(off + nwords) as usize];
        if is_normal_family(&v.kernel) {
            let d = ulp_diffs(v.dtype, got, &want, n as usize);
            let (i, worst) = d.iter().copied().enumerate().max_by_key(|&(_, x)| x).unwrap_or((0, 0));
            max_ulp = max_ulp.max(worst);
            if worst > NORMAL_MAX_ULP {
                failures.push(format!(
                    "{}: {} ({:?}, {}, own {:?}): element {i} is {worst} ulp from the host (bound {NORMAL_MAX_ULP}): device {:08x} host {:08x}",
                    gpu.name, v.name, v.kernel, v.dtype, v.own, got[i.min(got.len() - 1)], want[i.min(want.len() - 1)]
                ));
            }
        } else if got != want.as_slice() {
            let i = got.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(0);
            failures.push(format!(
                "{}: {} ({:?}, {}, own {:?}): word {i} differs: device {:08x} host {:08x}",
                gpu.name, v.name, v.kernel, v.dtype, v.own, got[i], want[i]
            ));
        }
        if v.dtype == DType::Float16 && n % 2 == 1 && got.last().map(|w| w >> 16) != Some(0) {
            failures.push(format!(
                "{}: {}: odd f16 count must leave the high half zero (DTYPE_F16 = {DTYPE_F16})",
                gpu.name, v.name
            ));
        }
    }
    (failures, max_ulp, pair_tables)
}

/// Raw Philox words (Random123 known answers and random counters) and normals4 on the device.
fn check_philox(gpu: &Gpu) -> (Vec<String>, u64) {
    let pipe = match pipeline(gpu, Shader::PhiloxKat, &[]) {
        Ok(p) => p,
        Err(e) => return (vec![e], 0),
    };
    const ZERO: u32 = 0; // the opaque `zero` of `fence`
    let mut input: Vec<u32> = vec![
        0, 0, 0, 0, 0, 0, ZERO, 0, //
        !0, !0, !0, !0, !0, !0, ZERO, 0, //
        0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, ZERO, 0,
    ];
    for i in 0..4093u32 {
        let w = philox4x32_10([i, 17, 3, 5], [99, 100]);
        input.extend_from_slice(&[w[0], w[1], w[2], w[3], i, 7, ZERO, 0]);
    }
    let inb = storage(gpu, "kat_in", bytemuck::cast_slice(&input), false);
    let out = storage(gpu, "kat_out", bytemuck::cast_slice(&vec![0u32; input.len()]), true);
    let rows = (input.len() / 8) as u32;
    let words = match run(gpu, &[(&pipe, [rows.div_ceil(64), 1, 1])], &[&inb, &out], &out) {
        Ok(w) => w,
        Err(e) => return (vec![e], 0),
    };
    let known = [
        [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8],
        [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
        [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
    ];
    let mut failures = Vec::new();
    let mut max_ulp = 0;
    for r in 0..rows as usize {
        let b = r * 8;
        let c = [input[b], input[b + 1], input[b + 2], input[b + 3]];
        let want = philox4x32_10(c, [input[b + 4], input[b + 5]]);
        if r < known.len() && want != known[r] {
            failures.push(format!("host philox KAT {r} wrong: {want:08x?}"));
        }
        if words[b..b + 4] != want {
            failures.push(format!("{}: philox({c:08x?}) = {:08x?}, host {want:08x?}", gpu.name, &words[b..b + 4]));
        }
        let z = varscope_core::random::normals4(want).map(f32::to_bits);
        let d = ulp_diffs(DType::Float32, &words[b + 4..b + 8], &z, 4);
        let worst = d.into_iter().max().unwrap_or(0);
        max_ulp = max_ulp.max(worst);
        if worst > NORMAL_MAX_ULP {
            failures.push(format!("{}: normals4({want:08x?}) {worst} ulp from the host", gpu.name));
        }
    }
    (failures, max_ulp)
}

#[test]
fn init_kernel_matches_host_on_every_adapter() {
    let vars = cases();
    for_each_target("init_kernel_matches_host_on_every_adapter", adapters(), |adapter| {
        let gpu = open(adapter);
        let (mut failures, kat_ulp) = check_philox(&gpu);
        // Both multiply preludes where the device has 64-bit integers: same bits.
        let shaders: &[Shader] = if gpu.int64 { &[Shader::Init, Shader::InitMul64] } else { &[Shader::Init] };
        // Tables run in windows of 3 workgroups (`first_group`): the same bits.
        let truncated: Vec<Var> =
            cases().into_iter().filter(|v| matches!(v.kernel, InitKernel::TruncatedNormal { .. })).collect();
        for &shader in shaders {
            let (f, ulp, pairs) = check_init(&gpu, shader, &vars, u32::MAX);
            if shader == Shader::InitMul64 && pairs.contains(&0) {
                failures.push(format!(
                    "{}: two-item coverage (one-row tables, many-row tables, tail rows): {pairs:?}",
                    gpu.name
                ));
            }
            failures.extend(f);
            failures.extend(check_init(&gpu, shader, &truncated, 3).0);
            eprintln!(
                "gpu_vs_host: {} [{:?}]: {} variables in one dispatch per (kind, layout, pack); uniform family bit-exact checked; normal family max {} ulp (normals4 {} ulp); two-item tables (one-row, many-row) and tail rows {:?}",
                gpu.name,
                shader,
                vars.len(),
                ulp,
                kat_ulp,
                pairs
            );
        }
        assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    });
}
