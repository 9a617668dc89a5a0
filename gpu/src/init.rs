//! Initialization: which variables run on the host (reference kernels) and which on a
//! GPU (the descriptor-table init kernel of `varscope-shaders`), and the one submission
//! per device.
//!
//! - `/cpu:0`: [`varscope_core::reference::initial_bytes`] directly.
//! - GPU devices: every variable whose kernel [`crate::descriptor::kernel_params`]
//!   describes (fills, identity, uniform, normal, truncated normal; float32, float16,
//!   bfloat16, int32, uint32, bool) becomes one descriptor row per chunk. Rows are
//!   grouped by (output buffer, kind) (a buffer is a slab of small variables, or one
//!   chunk of a large variable): one `init_main` dispatch per group with the pipeline of
//!   that kind (`INIT_KIND`), all in one compute pass of one submission (truncated
//!   normal too: it draws by inversion, no redraw pass). A fill of a whole buffer is a
//!   `clear_buffer`
//!   (zero) or the vector fill (`Launch::fill`). Everything else (constant lists,
//!   orthogonal, host closures, constants, float64/int64) is computed on the host with
//!   the reference and uploaded in the same submission.

use std::collections::HashMap;
use std::sync::Arc;

use varscope_core::reference;
use varscope_core::{InitKernel, InitialValue, Variable};
use varscope_shaders::{InitDesc, InitParams, Shader};

use crate::descriptor::{self, KernelParams};
use crate::error::{GpuError, Result};
use crate::launch::Launch;
use crate::layout;
use crate::pool::Use;
use crate::storage::Storage;

/// How one variable gets its first value.
pub(crate) enum InitJob {
    /// Canonical host bytes computed by the reference.
    Host(Vec<u8>),
    /// A device kernel.
    Kernel(KernelParams),
}

fn init_name(v: &Variable) -> String {
    match v.initial_value() {
        InitialValue::Initializer { initializer, .. } => initializer.kind_name(),
        InitialValue::Constant(_) => "constant".into(),
    }
}

fn init_err(v: &Variable, message: String) -> GpuError {
    GpuError::Initializer { variable: v.key().to_string(), initializer: init_name(v), message }
}

/// The reference values of a variable (canonical host bytes).
pub(crate) fn host_bytes(v: &Variable) -> Result<Vec<u8>> {
    let bytes = parallel_initial_bytes(v)?;
    let want = v.nbytes().unwrap_or(0);
    if bytes.len() as u64 != want {
        return Err(init_err(v, format!("produced {} bytes, the variable holds {want}", bytes.len())));
    }
    Ok(bytes)
}

/// [`reference::initial_bytes`], split over the host's cores for large variables
/// (elementwise kernels only: every element depends only on its index, so ranges
/// computed apart concatenate to the same bytes).
fn parallel_initial_bytes(v: &Variable) -> Result<Vec<u8>> {
    let n = v.num_elements().unwrap_or(0);
    // Checked first: `available_parallelism` reads cgroup files (tens of microseconds).
    if n < (1 << 18) {
        return reference::initial_bytes(v).map_err(|e| init_err(v, e.to_string()));
    }
    let threads = host_threads();
    let elementwise = matches!(
        v.initial_value().kernel(),
        Some(
            InitKernel::Fill(_)
                | InitKernel::Uniform { .. }
                | InitKernel::Normal { .. }
                | InitKernel::TruncatedNormal { .. }
        )
    );
    if threads < 2 || n < (1 << 18) || !elementwise {
        return reference::initial_bytes(v).map_err(|e| init_err(v, e.to_string()));
    }
    let per = n.div_ceil(threads).div_ceil(4) * 4;
    let parts: Vec<std::result::Result<Vec<u8>, reference::ReferenceError>> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..threads)
            .map(|i| (i * per, per.min(n.saturating_sub(i * per))))
            .filter(|(_, c)| *c > 0)
            .map(|(start, count)| sc.spawn(move || reference::initial_bytes_range(v, start, count)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Ok(Vec::new()))).collect()
    });
    let mut out = Vec::with_capacity(v.nbytes().unwrap_or(0) as usize);
    for p in parts {
        out.extend(p.map_err(|e| init_err(v, e.to_string()))?);
    }
    Ok(out)
}

/// Decides how `v` is initialized on a GPU (`gpu`) or the host, computing host values now
/// (so failures happen before anything is allocated).
pub(crate) fn plan(v: &Variable, gpu: bool) -> Result<InitJob> {
    if gpu {
        if let Some(p) = descriptor::kernel_params(v).map_err(|e| init_err(v, e.to_string()))? {
            return Ok(InitJob::Kernel(p));
        }
    }
    Ok(InitJob::Host(host_bytes(v)?))
}

/// [`plan`] for many variables, over the host's cores when there is enough host work
/// (many small variables on `/cpu:0`, or host-computed kernels). The first error in
/// `vars` order wins.
pub(crate) fn plan_all(vars: &[Variable], gpu: bool) -> Result<Vec<InitJob>> {
    let threads = host_threads();
    let elements: u64 = vars.iter().map(|v| v.num_elements().unwrap_or(0)).sum();
    if threads < 2 || vars.len() < 2 || elements < (1 << 18) {
        return vars.iter().map(|v| plan(v, gpu)).collect();
    }
    let per = vars.len().div_ceil(threads as usize);
    let parts: Vec<Result<Vec<InitJob>>> = std::thread::scope(|sc| {
        let handles: Vec<_> =
            vars.chunks(per).map(|part| sc.spawn(move || part.iter().map(|v| plan(v, gpu)).collect())).collect();
        handles
            .into_iter()
            .zip(vars.chunks(per))
            .map(|(h, part)| h.join().unwrap_or_else(|_| Err(init_err(&part[0], "host initializer panicked".into()))))
            .collect()
    });
    let mut out = Vec::with_capacity(vars.len());
    for p in parts {
        out.extend(p?);
    }
    Ok(out)
}

/// Cores for host-side kernels (cached: `available_parallelism` reads cgroup files).
fn host_threads() -> u64 {
    static THREADS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |t| t.get()) as u64)
}

fn lo(x: u64) -> u32 {
    x as u32
}
fn hi(x: u64) -> u32 {
    (x >> 32) as u32
}

/// Records the initialization of `vars` (already materialized on the launch's device)
/// into `launch`: host uploads, `clear_buffer` for zero fills of whole buffers, the plain
/// fill kernel for other whole-buffer fills, and one descriptor-table dispatch per
/// (output buffer, kind) group, sorted by pipeline. The caller submits.
pub(crate) fn record(launch: &mut Launch<'_>, storage: &Storage, vars: &[Variable], jobs: Vec<InitJob>) -> Result<()> {
    // Rows grouped by output buffer and kind, in first-seen order.
    let mut groups: Vec<(wgpu::Buffer, [u32; 2], Vec<InitDesc>)> = Vec::new();
    let mut group_of: HashMap<(*const wgpu::Buffer, u32, u32), usize> = HashMap::new();
    for (v, job) in vars.iter().zip(jobs) {
        let Some(chunks) = storage.chunks(v.id()) else { continue };
        match job {
            InitJob::Host(bytes) => {
                let eb = v.dtype().size_bytes();
                for c in chunks {
                    let host = &bytes[c.start as usize * eb..(c.start + c.count) as usize * eb];
                    launch.write_vec(&c.buf.buffer, c.offset, layout::host_to_device(v.dtype(), host));
                }
            }
            InitJob::Kernel(p) => {
                for c in chunks {
                    if c.count == 0 {
                        continue;
                    }
                    // A fill of a whole buffer: clear_buffer for zero, else the vector fill
                    // (16-bit dtypes write both halves of every word: an even count, or zero).
                    let packed = varscope_shaders::is_packed16(p.dtype);
                    let whole_words = !packed || c.count % 2 == 0 || p.p0 == 0;
                    if p.kind == varscope_shaders::KIND_FILL && c.is_whole_buffer() && whole_words {
                        let word = if packed { (p.p0 & 0xffff) | (p.p0 << 16) } else { p.p0 };
                        launch.fill(&c.buf.buffer, 0, c.bytes / 4, word)?;
                        continue;
                    }
                    let pack = varscope_shaders::pack_of(p.dtype);
                    let key = (Arc::as_ptr(&c.buf) as *const wgpu::Buffer, p.kind, pack);
                    let g = *group_of.entry(key).or_insert_with(|| {
                        groups.push((c.buf.buffer.clone(), [p.kind, pack], Vec::new()));
                        groups.len() - 1
                    });
                    groups[g].2.push(InitDesc {
                        kind: p.kind,
                        dtype: p.dtype,
                        out_offset: (c.offset / 4) as u32,
                        count: c.count as u32,
                        first: c.start as u32,
                        wg_start: 0,
                        own_block: p.own_block,
                        full_block_lo: lo(p.full_block),
                        full_block_hi: hi(p.full_block),
                        base_lo: lo(p.base),
                        base_hi: hi(p.base),
                        cols: p.cols,
                        key0: p.key[0],
                        key1: p.key[1],
                        p0: p.p0,
                        p1: p.p1,
                    });
                }
            }
        }
    }
    // One pipeline per (kind, layout, pack) present; dispatches sorted by it. A group's
    // layout class is the most general of its rows' (fills and identity: vec4 stores or
    // not, their values ignore the rest).
    let dev = launch.dev();
    let wg = dev.info.wide_workgroup;
    let shader = if dev.info.shader_i64 { Shader::InitMul64 } else { Shader::Init };
    let mut groups: Vec<(wgpu::Buffer, [u32; 4], Vec<InitDesc>)> = groups
        .into_iter()
        .map(|(out, [kind, pack], rows)| {
            let fill_like = kind == varscope_shaders::KIND_FILL || kind == varscope_shaders::KIND_IDENTITY;
            let layout_of = if fill_like { varscope_shaders::aligned_layout } else { varscope_shaders::row_layout };
            let layout = rows.iter().map(layout_of).max().unwrap_or(varscope_shaders::LAYOUT_GENERAL);
            (out, [kind, layout, pack, wg], rows)
        })
        .collect();
    groups.sort_by_key(|g| g.1);
    for (out, pipeline, rows) in &mut groups {
        check_rows(dev, out, rows)?;
        varscope_shaders::rebase_rows(rows, pipeline[1]);
        // Tables of at most INIT_MAX_ROWS rows (a uniform binding), one dispatch each.
        for rows in rows.chunks_mut(varscope_shaders::INIT_MAX_ROWS) {
            // Rows of a random kind at 8-word offsets: two items per invocation, 32-byte
            // stores (`init_pair_main`) for their whole pairs, `init_main` for the single
            // items left over.
            if varscope_shaders::pairs_items(dev.info.shader_i64, *pipeline, rows, out.size()) {
                let (mut pairs, mut tails) = varscope_shaders::split_pair_tails(rows);
                let pair = (Shader::InitPair, varscope_shaders::PAIR_ITEMS);
                dispatch_table(launch, out, &mut pairs, pair, *pipeline)?;
                dispatch_table(launch, out, &mut tails, (shader, 1), *pipeline)?;
            } else {
                dispatch_table(launch, out, rows, (shader, 1), *pipeline)?;
            }
        }
    }
    Ok(())
}

/// Records the dispatches of one descriptor table (at most INIT_MAX_ROWS rows; none: no
/// dispatch) with `run`'s kernel at `items` items per invocation and the pipeline
/// constants `[kind, layout, pack, wg]`.
fn dispatch_table(
    launch: &mut Launch<'_>,
    out: &wgpu::Buffer,
    rows: &mut [InitDesc],
    (run, items): (Shader, u32),
    [kind, layout, pack, wg]: [u32; 4],
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let dev = launch.dev();
    let Some(tiles) = varscope_shaders::assign_workgroups(rows, wg, items) else {
        return Err(dev.error("initialize variables", format!("{} rows need more than 2^32 invocations", rows.len())));
    };
    let total = tiles.len() as u32;
    let mut table = vec![0u8; varscope_shaders::INIT_TABLE_BYTES];
    let used: &[u8] = bytemuck::cast_slice(rows);
    table[..used.len()].copy_from_slice(used);
    let table = launch.params(&table)?;
    // The output as vec4s (binding 4): the output itself, or a stand-in where it is
    // shorter than one vec4 (its rows then cannot be LAYOUT_VEC4).
    let out4 = if out.size() >= 16 { out.clone() } else { launch.temp(Use::Params, 16)? };
    let one = varscope_shaders::one_row(rows.len());
    let consts = [kind, layout, pack, one, wg];
    // Windows of at most INIT_TILE_GROUPS workgroups (the tile table's reach).
    let mut first = 0;
    while first < total {
        let end = total.min(first.saturating_add(varscope_shaders::INIT_TILE_GROUPS));
        let params = launch.params(bytemuck::bytes_of(&InitParams::window(rows.len() as u32, first..end)))?;
        // A one-row dispatch reads no tile: its descriptor table stands in.
        let tiles = if one == 1 {
            table.clone()
        } else {
            let bytes = varscope_shaders::tile_bytes(&tiles[first as usize..end as usize])
                .ok_or_else(|| dev.error("initialize variables", format!("a tile window of {} rows", rows.len())))?;
            launch.params(&bytes)?
        };
        let mut bound = vec![&table, out, &params, &tiles, &out4];
        if run == Shader::InitPair {
            bound.push(out);
        }
        launch.dispatch(run, &consts, &bound, (end - first) * wg)?;
        first = end;
    }
    Ok(())
}

/// Checks that every row's words lie inside its output buffer: the init kernel indexes
/// the output with the rows' offsets and counts (an error here is a bug in the planning,
/// reported instead of a write outside the variable).
fn check_rows(dev: crate::launch::Dev<'_>, out: &wgpu::Buffer, rows: &[InitDesc]) -> Result<()> {
    for r in rows {
        let words = varscope_shaders::words_for(r.dtype, u64::from(r.count));
        let end = (u64::from(r.out_offset) + words) * 4;
        if end > out.size() {
            return Err(dev.error(
                "initialize variables",
                format!(
                    "a row of {} elements at word {} ends past its {}-byte buffer",
                    r.count,
                    r.out_offset,
                    out.size()
                ),
            ));
        }
    }
    Ok(())
}
