//! # varscope-shaders
//!
//! The WGSL kernels of varscope as plain `.wgsl` files in this crate's directory, and
//! the closed registry ([`Shader`]) through which every other crate gets them. Each
//! shader's label is its file path; [`Shader::source`] is the file (after the shared
//! Philox prelude `shaders/philox.wgsl` where the shader uses it). Nothing here depends
//! on `varscope-core`: the codes and layouts below are the contract, and the core's
//! `reference::codes` repeat them (a test checks they agree).
//!
//! ## The init kernel (`shaders/init.wgsl`, entry `init_main`)
//!
//! One dispatch initializes any number of variables of one kind living in one output
//! buffer. The kind, the layout class and the pack (how values become words) are
//! pipeline-overridable constants (`INIT_KIND`, `INIT_LAYOUT`, `INIT_PACK`;
//! [`init_constants`]), so a pipeline holds only the code it runs: the float32 pipeline
//! has no float16 rounding, a fill has no Philox. Initializing any set of variables
//! costs at most one dispatch per (output buffer, kind). Every row of a dispatch must have
//! `kind == INIT_KIND` (rows of other kinds are skipped, left unwritten), the pipeline's
//! pack, and [`row_layout`]`(row) <= INIT_LAYOUT` (a row of a lower class is correct in a
//! higher class's pipeline, only slower):
//!
//! | layout | code | rows | Philox calls per 4 elements |
//! | --- | --- | --- | --- |
//! | vec4 | [`LAYOUT_VEC4`] | aligned, one-word dtype, `out_offset` and `count` multiples of 4 (one `vec4` store per item) | 1 |
//! | aligned | [`LAYOUT_ALIGNED`] | consecutive full indices, first one a multiple of 4 | 1 |
//! | contiguous | [`LAYOUT_CONTIGUOUS`] | consecutive full indices | 2 |
//! | general | [`LAYOUT_GENERAL`] | any (a shard row crossing an outer block) | 4 |
//!
//! Unpartitioned variables and axis-0 shards whose first full index is a multiple of 4
//! are aligned; fills and identity ignore the layout (any value works).
//!
//! | binding | type | contents |
//! | --- | --- | --- |
//! | 0 | `uniform` | `array<InitDesc, 256>` ([`INIT_MAX_ROWS`]): one row per contiguous chunk of a variable, sorted by `wg_start` (a uniform table: drivers load it with scalar loads) |
//! | 1 | `storage, read_write` | `array<u32>`: the output words |
//! | 2 | `uniform` | [`InitParams`] |
//! | 3 | `uniform` | `array<vec4<u32>, 1024>`: the row of each workgroup of the dispatch, one byte each ([`assign_workgroups`], [`tile_bytes`]; at most [`INIT_TILE_GROUPS`] workgroups per dispatch) |
//! | 4 | `storage, read_write` | the output words again (binding 1's buffer) in 16-byte items, for [`LAYOUT_VEC4`] stores: `array<vec4<u32>>` (`shaders/store32.wgsl`) or `array<vec2<u64>>` (`shaders/store64.wgsl`, [`Shader::InitMul64`]) |
//! | 5 | `storage, read_write` | [`Shader::InitPair`] only: the output words again in 32-byte pairs of items, `array<vec4<u64>>` |
//!
//! Every kind takes one pass: truncated normal draws by inversion (one word per element,
//! no rejection; `varscope_core::random::truncated_unit`), so no SIMD group runs a
//! redraw under a mask. On `SHADER_INT64` devices a dispatch of a random kind whose rows
//! all start at 8-word offsets runs the second entry point `init_pair_main`
//! ([`Shader::InitPair`], [`pairs_items`]): two items per invocation, one 32-byte store,
//! workgroups assigned in units of [`PAIR_ITEMS`] items.
//!
//! Work is split into *items* of [`ITEM_ELEMENTS`] (4) elements and rows into whole
//! workgroups of `INIT_WG` items ([`WIDE_WORKGROUP_SIZE`], 256, or the device's largest
//! power of two below it; [`wide_workgroup_size`]): row `r` owns workgroups
//! `wg_start[r] ..` ([`assign_workgroups`] fills `wg_start` in and returns the tile
//! table: the row of each workgroup). A workgroup finds its row with one load that
//! depends only on the workgroup id (a one-row dispatch reads its row at a constant
//! index), and each invocation computes one item: one Philox block for 4 consecutive
//! full indices. No invocation returns early (an item past its row or the dispatch is
//! computed and stores nothing). Dispatch [`groups_size`]`(total_groups)` workgroups.

//! Philox's 32x32->64 multiply is `shaders/mul64.wgsl` (one `u64` multiply) on devices
//! with `SHADER_INT64` ([`Shader::InitMul64`]) and `shaders/mul32.wgsl` (16-bit halves)
//! elsewhere ([`Shader::Init`]); both give the same bits. The same split chooses the
//! item store, `shaders/store64.wgsl` (two `u64`s) or `shaders/store32.wgsl` (a
//! `vec4<u32>`): the same bytes.
//!
//! ## Device layout of each dtype in `array<u32>`
//!
//! | dtype | code | layout |
//! | --- | --- | --- |
//! | float32 | [`DTYPE_F32`] | one element per word (IEEE bits) |
//! | float16 | [`DTYPE_F16`] | two per word: element `2j` in bits 0..16, `2j+1` in bits 16..32 (little-endian bytes = the host layout); an odd count's last word has zero high bits |
//! | bfloat16 | [`DTYPE_BF16`] | as float16 |
//! | int32 | [`DTYPE_I32`] | one per word, two's complement |
//! | uint32 | [`DTYPE_U32`] | one per word |
//! | bool | [`DTYPE_BOOL`] | one per word, 0 or 1 |
//!
//! A chunk of a 16-bit variable must start at an even element (every row but a
//! variable's last has an even `count`), so words never hold two rows' elements.
//! f32 values are rounded to float16/bfloat16 to nearest even with integer code (no
//! SHADER_F16 needed).
//!
//! ## Kinds ([`InitDesc::kind`])
//!
//! | kind | code | `p0`, `p1` |
//! | --- | --- | --- |
//! | fill | [`KIND_FILL`] | `p0`: the element's 32-bit device pattern (16-bit dtypes: low half) |
//! | identity | [`KIND_IDENTITY`] | `p0`: the diagonal's pattern; `cols`: own columns; off-diagonal words are 0 |
//! | float uniform | [`KIND_UNIFORM`] | `low`, `range = high - low` (f32 bits) |
//! | integer uniform | [`KIND_UNIFORM_INT`] | `low` (32-bit pattern), `range` (0 means 2^32) |
//! | normal | [`KIND_NORMAL`] | `mean`, `stddev` (f32 bits) |
//! | truncated normal | [`KIND_TRUNCATED_NORMAL`] | `mean`, `stddev` (f32 bits) |
//!
//! The random kinds compute exactly `varscope_core::random`'s math (counter layout,
//! key, bits-to-floats); see that module for the definition.
//!
//! ## Exactness
//!
//! Philox's multiplies give the same bits from either prelude. Box-Muller
//! uses no hardware transcendental: `ln`, `sin` and `cos` are Cephes polynomials with
//! constants given by their bits, and only `sqrt` is a hardware function. Drivers fuse
//! `a * b + c` into fma and reassociate float chains (llvmpipe does both), so every
//! intermediate passes through `fence` (XOR of its bits with [`InitParams::zero`], a
//! runtime 0): each operation then rounds once, in the written order, as on the host.
//! Measured by `tests/gpu_vs_host.rs`: every kind is bit-identical to the host on Vulkan
//! lavapipe and GL llvmpipe (normal family: 0 ulp; the test's bound is 2 ulp).

/// Invocations per workgroup in every shader (`const WORKGROUP_SIZE` in the WGSL).
pub const WORKGROUP_SIZE: u32 = 64;
/// Rows of one init dispatch's descriptor table (a uniform `array<InitDesc, 256>`,
/// 16 KiB: within every device's uniform binding limit); larger tables are split into
/// several dispatches, and the table buffer is always [`INIT_TABLE_BYTES`] long.
pub const INIT_MAX_ROWS: usize = 256;
/// Bytes of the init kernel's descriptor table binding.
pub const INIT_TABLE_BYTES: usize = INIT_MAX_ROWS * std::mem::size_of::<InitDesc>();
/// Most workgroups one init dispatch runs: its tile table (binding 3) is a uniform
/// buffer of one byte (the row) per workgroup, [`INIT_TILE_BYTES`] long ([`tile_bytes`]);
/// a longer table runs in several dispatches ([`InitParams::window`]).
pub const INIT_TILE_GROUPS: u32 = 16_384;
/// Bytes of the init kernel's tile table binding (as many as the descriptor table's, so
/// a one-row dispatch binds its descriptor table there).
pub const INIT_TILE_BYTES: usize = INIT_TILE_GROUPS as usize;
const _: () = assert!(INIT_TILE_BYTES == INIT_TABLE_BYTES && INIT_MAX_ROWS <= 256);
/// Elements per work item of the init kernel.
pub const ITEM_ELEMENTS: u32 = 4;
/// Most workgroups per dispatch dimension (WebGPU's default limit).
pub const MAX_WORKGROUPS_PER_DIMENSION: u32 = 65_535;

/// The name of the init shader's pipeline-overridable kind constant.
pub const INIT_KIND: &str = "INIT_KIND";
/// The name of the init shader's pipeline-overridable layout constant.
pub const INIT_LAYOUT: &str = "INIT_LAYOUT";

/// Layout: [`LAYOUT_ALIGNED`] with one element per word, `out_offset` and `count`
/// multiples of 4 (each item stored as one `vec4`).
pub const LAYOUT_VEC4: u32 = 0;
/// Layout: consecutive full indices starting at a multiple of 4.
pub const LAYOUT_ALIGNED: u32 = 1;
/// Layout: consecutive full indices.
pub const LAYOUT_CONTIGUOUS: u32 = 2;
/// Layout: anything.
pub const LAYOUT_GENERAL: u32 = 3;
/// Every layout, in code order.
pub const INIT_LAYOUTS: [u32; 4] = [LAYOUT_VEC4, LAYOUT_ALIGNED, LAYOUT_CONTIGUOUS, LAYOUT_GENERAL];

/// The layout class of a row (its `dtype`, `out_offset`, `count`, `first`, `own_block`,
/// `full_block_*` and `base_*` must be filled in).
pub fn row_layout(row: &InitDesc) -> u32 {
    let ob = u64::from(row.own_block.max(1));
    let first = u64::from(row.first);
    let last = first + u64::from(row.count.max(1)) - 1;
    if first / ob != last / ob {
        return LAYOUT_GENERAL;
    }
    if !row.full_index(first).is_multiple_of(4) {
        LAYOUT_CONTIGUOUS
    } else {
        aligned_layout(row)
    }
}

/// [`LAYOUT_VEC4`] where the row's words allow `vec4` stores (one-word dtype,
/// `out_offset` and `count` multiples of 4), else [`LAYOUT_ALIGNED`]: the layout class of
/// an aligned row, and of any fill or identity row (their values ignore the layout).
pub fn aligned_layout(row: &InitDesc) -> u32 {
    if pack_of(row.dtype) == PACK_WORD && row.out_offset.is_multiple_of(4) && row.count.is_multiple_of(4) {
        LAYOUT_VEC4
    } else {
        LAYOUT_ALIGNED
    }
}

/// Every kind, in code order (one init pipeline each).
pub const INIT_KINDS: [u32; 6] =
    [KIND_FILL, KIND_IDENTITY, KIND_UNIFORM, KIND_UNIFORM_INT, KIND_NORMAL, KIND_TRUNCATED_NORMAL];

/// The pipeline constants of the init pipeline for `kind`, `layout`, `pack`, a table of
/// `rows` rows and workgroup size `wg` (pass them as
/// `PipelineCompilationOptions::constants`; [`Shader::Init`] and [`Shader::InitMul64`]
/// take the same values).
pub fn init_constants(kind: u32, layout: u32, pack: u32, rows: usize, wg: u32) -> [(&'static str, f64); 5] {
    [
        (INIT_KIND, f64::from(kind)),
        (INIT_LAYOUT, f64::from(layout)),
        (INIT_PACK, f64::from(pack)),
        (INIT_ROWS, f64::from(one_row(rows))),
        (INIT_WG, f64::from(wg)),
    ]
}

/// The `INIT_ROWS` value of a table of `rows` rows: 1 for one row (the row is read at a
/// constant index), else 0.
pub fn one_row(rows: usize) -> u32 {
    u32::from(rows == 1)
}

/// The name of the init shader's one-row constant ([`one_row`]).
pub const INIT_ROWS: &str = "INIT_ROWS";

/// The `(kind, layout, pack)` triples a session builds init pipelines for: fills and
/// identity at [`LAYOUT_VEC4`] and [`LAYOUT_ALIGNED`] (they ignore the layout otherwise);
/// integer uniform with [`PACK_WORD`] at every layout; the float random kinds at every
/// layout; [`LAYOUT_VEC4`] only with [`PACK_WORD`].
pub fn init_variants() -> Vec<[u32; 3]> {
    let mut out = Vec::new();
    for &kind in &INIT_KINDS {
        for &layout in &INIT_LAYOUTS {
            for &pack in &INIT_PACKS {
                let fill_like = kind == KIND_FILL || kind == KIND_IDENTITY;
                if (fill_like && layout > LAYOUT_ALIGNED)
                    || (kind == KIND_UNIFORM_INT && pack != PACK_WORD)
                    || (layout == LAYOUT_VEC4 && pack != PACK_WORD)
                {
                    continue;
                }
                out.push([kind, layout, pack]);
            }
        }
    }
    out
}

/// The pack of a dtype code: [`PACK_F16`], [`PACK_BF16`] or [`PACK_WORD`].
pub fn pack_of(dtype: u32) -> u32 {
    match dtype {
        DTYPE_F16 => PACK_F16,
        DTYPE_BF16 => PACK_BF16,
        _ => PACK_WORD,
    }
}

/// Pack: one element per word (f32 bits, int32, uint32, bool).
pub const PACK_WORD: u32 = 0;
/// Pack: two float16 per word.
pub const PACK_F16: u32 = 1;
/// Pack: two bfloat16 per word.
pub const PACK_BF16: u32 = 2;
/// Every pack, in code order.
pub const INIT_PACKS: [u32; 3] = [PACK_WORD, PACK_F16, PACK_BF16];

/// The name of the init shader's pipeline-overridable pack constant.
pub const INIT_PACK: &str = "INIT_PACK";
/// The name of the workgroup-size constant of the wide shaders ([`Shader::wide`]).
pub const INIT_WG: &str = "INIT_WG";
/// Invocations per workgroup of the wide shaders where the device allows it (a device
/// with a lower `max_compute_invocations_per_workgroup` uses the largest power of two
/// it allows, at least [`WORKGROUP_SIZE`]; [`wide_workgroup_size`]).
pub const WIDE_WORKGROUP_SIZE: u32 = 256;

/// The workgroup size of the wide shaders on a device with these limits.
pub fn wide_workgroup_size(max_invocations: u32, max_size_x: u32) -> u32 {
    let cap = max_invocations.min(max_size_x).clamp(WORKGROUP_SIZE, WIDE_WORKGROUP_SIZE);
    1 << (31 - cap.leading_zeros())
}

/// Kind: every element is `p0`.
pub const KIND_FILL: u32 = 0;
/// Kind: `p0` on the own 2-D diagonal, 0 elsewhere.
pub const KIND_IDENTITY: u32 = 1;
/// Kind: float uniform.
pub const KIND_UNIFORM: u32 = 2;
/// Kind: integer uniform.
pub const KIND_UNIFORM_INT: u32 = 3;
/// Kind: normal.
pub const KIND_NORMAL: u32 = 4;
/// Kind: truncated normal.
pub const KIND_TRUNCATED_NORMAL: u32 = 5;

/// dtype code: float32.
pub const DTYPE_F32: u32 = 0;
/// dtype code: float16 (packed two per word).
pub const DTYPE_F16: u32 = 1;
/// dtype code: bfloat16 (packed two per word).
pub const DTYPE_BF16: u32 = 2;
/// dtype code: int32.
pub const DTYPE_I32: u32 = 3;
/// dtype code: uint32.
pub const DTYPE_U32: u32 = 4;
/// dtype code: bool (one word per element).
pub const DTYPE_BOOL: u32 = 5;

/// The WGSL files named (relative to this crate), joined by newlines in that order: a
/// shader's source is its preludes, then its own file.
macro_rules! wgsl {
    ($first:literal $(, $rest:literal)*) => {
        concat!(include_str!(concat!("../", $first)) $(, "\n", include_str!(concat!("../", $rest)))*)
    };
}

const PHILOX: &str = wgsl!("philox.wgsl");
const FENCE: &str = wgsl!("fence.wgsl");
const UNFENCED: &str = wgsl!("unfenced.wgsl");
const MUL32: &str = wgsl!("mul32.wgsl");
const MUL64: &str = wgsl!("mul64.wgsl");
const STORE32: &str = wgsl!("store32.wgsl");
const STORE64: &str = wgsl!("store64.wgsl");
const ROWS: &str = wgsl!("rows.wgsl");
const OPTIM_STEP: &str = wgsl!("optim_step.wgsl");
const INIT: &str = wgsl!("mul32.wgsl", "store32.wgsl", "fence.wgsl", "philox.wgsl", "init.wgsl");
const INIT_MUL64: &str = wgsl!("mul64.wgsl", "store64.wgsl", "fence.wgsl", "philox.wgsl", "init.wgsl");
const INIT_PAIR: &str = wgsl!("mul64.wgsl", "store64.wgsl", "fence.wgsl", "philox.wgsl", "init.wgsl", "init_pair.wgsl");
const INIT_UNFENCED: &str = wgsl!("mul32.wgsl", "store32.wgsl", "unfenced.wgsl", "philox.wgsl", "init.wgsl");
const INIT_MUL64_UNFENCED: &str = wgsl!("mul64.wgsl", "store64.wgsl", "unfenced.wgsl", "philox.wgsl", "init.wgsl");
const INIT_PAIR_UNFENCED: &str =
    wgsl!("mul64.wgsl", "store64.wgsl", "unfenced.wgsl", "philox.wgsl", "init.wgsl", "init_pair.wgsl");
const FILL_PARAMS: &str = wgsl!("fill_params.wgsl");
const FILL: &str = wgsl!("fill_params.wgsl", "fill.wgsl");
const FILL4: &str = wgsl!("fill_params.wgsl", "fill4.wgsl");
const FILL8: &str = wgsl!("fill_params.wgsl", "fill8.wgsl");
const PHILOX_KAT: &str = wgsl!("mul32.wgsl", "fence.wgsl", "philox.wgsl", "philox_kat.wgsl");
const PHILOX_KAT_UNFENCED: &str = wgsl!("mul32.wgsl", "unfenced.wgsl", "philox.wgsl", "philox_kat.wgsl");
const OPTIM: &str = wgsl!("optim_step.wgsl", "optim.wgsl");
const OPTIM4: &str = wgsl!("optim_step.wgsl", "optim4.wgsl");
const NORM: &str = wgsl!("rows.wgsl", "norm.wgsl");
const REDUCE: &str = wgsl!("rows.wgsl", "reduce.wgsl");
const UPDATE: &str = wgsl!("rows.wgsl", "update.wgsl");

/// Every WGSL file of the crate that is a prelude (no entry point) rather than a shader,
/// as `(label, source)`.
pub const PRELUDES: &[(&str, &str)] = &[
    ("shaders/philox.wgsl", PHILOX),
    ("shaders/fence.wgsl", FENCE),
    ("shaders/mul32.wgsl", MUL32),
    ("shaders/mul64.wgsl", MUL64),
    ("shaders/store32.wgsl", STORE32),
    ("shaders/store64.wgsl", STORE64),
    ("shaders/rows.wgsl", ROWS),
    ("shaders/optim_step.wgsl", OPTIM_STEP),
    ("shaders/fill_params.wgsl", FILL_PARAMS),
];

/// Preludes that take another prelude's place in a second source of the same shaders, as
/// `(label, source, the label it replaces)`: `shaders/unfenced.wgsl` (`fence` is the
/// identity) replaces `shaders/fence.wgsl` in [`Shader::unfenced_source`].
pub const SUBSTITUTE_PRELUDES: &[(&str, &str, &str)] = &[("shaders/unfenced.wgsl", UNFENCED, "shaders/fence.wgsl")];

/// How a shader binds one resource, in binding-index order (plain data: the gpu crate
/// turns it into bind group layout entries).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Binding {
    /// A storage buffer (`var<storage, read>` when `read_only`, else `read_write`).
    Storage {
        /// Read-only access.
        read_only: bool,
    },
    /// A uniform buffer.
    Uniform,
}

const RO: Binding = Binding::Storage { read_only: true };
const RW: Binding = Binding::Storage { read_only: false };
const UNIFORM: Binding = Binding::Uniform;

/// The closed registry of varscope's compute shaders: the initializers and roofline
/// fill of the session, and the training kernels of `varscope-gpu`'s `optim` module.
///
/// | shader | entry | bindings |
/// | --- | --- | --- |
/// | `shaders/init.wgsl` | `init_main` | 0 `array<InitDesc, 256>` (uniform), 1 output `array<u32>` (read_write), 2 [`InitParams`] (uniform), 3 row of each workgroup, a byte each, `array<vec4<u32>, 1024>` (uniform), 4 the output as 16-byte items (read_write, the prelude's type) |
/// | `shaders/init_pair.wgsl` (after `init.wgsl`) | `init_pair_main` | as `init_main`, and 5 the output as `array<vec4<u64>>` (read_write) |
/// | `shaders/fill.wgsl` (after `shaders/fill_params.wgsl`) | `fill_main` | 0 output (read_write), 1 [`FillParams`] (uniform) |
/// | `shaders/fill4.wgsl`, `shaders/fill8.wgsl` | `fill4_main`, `fill8_main` | as `fill.wgsl`, the output as `array<vec4<u32>>` / `array<vec4<u64>>` |
/// | `shaders/philox_kat.wgsl` | `kat_main` | 0 counters (read), 1 outputs (read_write) |
/// | `shaders/optim.wgsl` | `optim_main` | 0 `array<OptimRow, 256>` (uniform), 1 [`OptimParams`] (uniform), 2 gradients `array<f32>` (read), 3..=6 `w0..w3` `array<f32>` (read_write), 7 `array<u32>` row of each workgroup (read) |
/// | `shaders/optim4.wgsl` | `optim4_main` | as `optim.wgsl`, with gradients and `w0..w3` as `array<vec4<f32>>` |
/// | `shaders/norm.wgsl` | `norm_main` | 0 `array<NormRow>` (read), 1 [`RowParams`] (uniform), 2 values `array<f32>` (read_write) |
/// | `shaders/reduce.wgsl` | `reduce_main` | 0 `array<ReduceRow>` (read), 1 [`RowParams`] (uniform), 2 values (read), 3 partial sums (read_write) |
/// | `shaders/update.wgsl` | `update_main` | 0 `array<UpdateRow>` (read), 1 [`RowParams`] (uniform), 2 source (read), 3 destination (read_write) |
///
/// Pipeline-overridable constants ([`Shader::overrides`], set in that order):
/// `init.wgsl` has `INIT_KIND`, `INIT_LAYOUT`, `INIT_PACK`, `INIT_ROWS` and `INIT_WG`
/// ([`init_constants`]); `optim.wgsl` has
/// `OPT_KIND` (an `OPT_*` code) and the buffer map `VAR_BUF`, `S0_BUF`, `S1_BUF`,
/// `S2_BUF` (which of `w0..w3` holds the variable and each slot; [`optim_constants`]),
/// `optim4.wgsl` the same and `INIT_WG`;
/// `update.wgsl` has `UPDATE_OP` (an `UPDATE_*` code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shader {
    /// The descriptor-table init kernel (`shaders/init.wgsl` after the Philox prelude),
    /// with `mulhilo` from 16-bit halves (`shaders/mul32.wgsl`): every device.
    Init,
    /// The same kernel with `mulhilo` as one 64-bit multiply (`shaders/mul64.wgsl`):
    /// devices with `SHADER_INT64` ([`Shader::needs_int64`]). Same bits as [`Shader::Init`].
    InitMul64,
    /// Two items per invocation stored as one 32-byte `vec4<u64>` (`shaders/init_pair.wgsl`,
    /// appended to [`Shader::InitMul64`]'s source; entry `init_pair_main`): one-row
    /// dispatches of the random kinds on `SHADER_INT64` devices ([`pairs_items`]). Same
    /// bits as [`Shader::InitMul64`].
    InitPair,
    /// The plain fill kernel, one word per invocation (`shaders/fill.wgsl`): tails.
    Fill,
    /// The vector fill kernel, four words per invocation as one `vec4` store
    /// (`shaders/fill4.wgsl`): fills of whole buffers.
    Fill4,
    /// The 32-byte vector fill, eight words per invocation as one `vec4<u64>` store
    /// (`shaders/fill8.wgsl`): fills of whole buffers on devices with `SHADER_INT64`
    /// ([`Shader::needs_int64`]). Same bytes as [`Shader::Fill4`].
    Fill8,
    /// Philox and Box-Muller outputs for given counters, for tests (`shaders/philox_kat.wgsl`).
    PhiloxKat,
    /// The fused multi-tensor optimizer step, one element per invocation
    /// (`shaders/optim.wgsl` after `shaders/optim_step.wgsl`): rows at any word offset
    /// and the tails of the rows [`Shader::Optim4`] takes.
    Optim,
    /// The same step, four elements per invocation with `vec4` loads and stores
    /// (`shaders/optim4.wgsl` after `shaders/optim_step.wgsl`): whole groups of 4
    /// elements of rows whose offsets are multiples of 4 words. Wide workgroups.
    Optim4,
    /// Norm constraints (`shaders/norm.wgsl`).
    Norm,
    /// Regularization-loss partial sums (`shaders/reduce.wgsl`).
    Reduce,
    /// assign / assign_add / assign_sub / scatter_* (`shaders/update.wgsl`).
    Update,
}

impl Shader {
    /// Every shader.
    pub const ALL: [Shader; 12] = [
        Shader::Init,
        Shader::InitMul64,
        Shader::InitPair,
        Shader::Fill,
        Shader::Fill4,
        Shader::Fill8,
        Shader::PhiloxKat,
        // Before `Optim`: where both bind the most storage buffers, a limit check names
        // the last such shader, `shaders/optim.wgsl`.
        Shader::Optim4,
        Shader::Optim,
        Shader::Norm,
        Shader::Reduce,
        Shader::Update,
    ];

    /// Whether the shader uses 64-bit integers (needs `Features::SHADER_INT64`).
    pub fn needs_int64(self) -> bool {
        matches!(self, Shader::InitMul64 | Shader::InitPair | Shader::Fill8)
    }

    /// Whether the workgroup size is the pipeline constant `INIT_WG` (the last override,
    /// [`WIDE_WORKGROUP_SIZE`] unless the device allows fewer invocations) rather than
    /// the fixed [`WORKGROUP_SIZE`].
    pub fn wide(self) -> bool {
        matches!(
            self,
            Shader::Init | Shader::InitMul64 | Shader::InitPair | Shader::Fill4 | Shader::Fill8 | Shader::Optim4
        )
    }

    /// The file path, used as the wgpu label.
    pub fn label(self) -> &'static str {
        match self {
            Shader::Init => "shaders/init.wgsl",
            Shader::InitMul64 => "shaders/init.wgsl+mul64",
            Shader::InitPair => "shaders/init_pair.wgsl",
            Shader::Fill => "shaders/fill.wgsl",
            Shader::Fill4 => "shaders/fill4.wgsl",
            Shader::Fill8 => "shaders/fill8.wgsl",
            Shader::PhiloxKat => "shaders/philox_kat.wgsl",
            Shader::Optim => "shaders/optim.wgsl",
            Shader::Optim4 => "shaders/optim4.wgsl",
            Shader::Norm => "shaders/norm.wgsl",
            Shader::Reduce => "shaders/reduce.wgsl",
            Shader::Update => "shaders/update.wgsl",
        }
    }

    /// The complete WGSL source (prelude included).
    pub fn source(self) -> &'static str {
        match self {
            Shader::Init => INIT,
            Shader::InitMul64 => INIT_MUL64,
            Shader::InitPair => INIT_PAIR,
            Shader::Fill => FILL,
            Shader::Fill4 => FILL4,
            Shader::Fill8 => FILL8,
            Shader::PhiloxKat => PHILOX_KAT,
            Shader::Optim => OPTIM,
            Shader::Optim4 => OPTIM4,
            Shader::Norm => NORM,
            Shader::Reduce => REDUCE,
            Shader::Update => UPDATE,
        }
    }

    /// The source for [`exact_spirv`], for the shaders whose float operations must round
    /// in the written order (the Philox prelude's users): [`source`](Self::source) with
    /// `shaders/unfenced.wgsl` (`fence` is the identity; [`SUBSTITUTE_PRELUDES`]) in
    /// place of `shaders/fence.wgsl`. `None` for the shaders without fences. Only for SPIR-V that
    /// decorates every float operation NoContraction; compiled by any other path, its
    /// normals may differ from the host's by a few ulp.
    pub fn unfenced_source(self) -> Option<&'static str> {
        match self {
            Shader::Init => Some(INIT_UNFENCED),
            Shader::InitMul64 => Some(INIT_MUL64_UNFENCED),
            Shader::InitPair => Some(INIT_PAIR_UNFENCED),
            Shader::PhiloxKat => Some(PHILOX_KAT_UNFENCED),
            _ => None,
        }
    }

    /// The compute entry point.
    pub fn entry_point(self) -> &'static str {
        match self {
            Shader::Init | Shader::InitMul64 => "init_main",
            Shader::InitPair => "init_pair_main",
            Shader::Fill => "fill_main",
            Shader::Fill4 => "fill4_main",
            Shader::Fill8 => "fill8_main",
            Shader::PhiloxKat => "kat_main",
            Shader::Optim => "optim_main",
            Shader::Optim4 => "optim4_main",
            Shader::Norm => "norm_main",
            Shader::Reduce => "reduce_main",
            Shader::Update => "update_main",
        }
    }

    /// The preludes prepended to this shader's file, by label.
    pub fn preludes(self) -> &'static [&'static str] {
        match self {
            Shader::Init => {
                &["shaders/mul32.wgsl", "shaders/store32.wgsl", "shaders/fence.wgsl", "shaders/philox.wgsl"]
            }
            Shader::PhiloxKat => &["shaders/mul32.wgsl", "shaders/fence.wgsl", "shaders/philox.wgsl"],
            Shader::InitMul64 | Shader::InitPair => {
                &["shaders/mul64.wgsl", "shaders/store64.wgsl", "shaders/fence.wgsl", "shaders/philox.wgsl"]
            }
            Shader::Norm | Shader::Reduce | Shader::Update => &["shaders/rows.wgsl"],
            Shader::Optim | Shader::Optim4 => &["shaders/optim_step.wgsl"],
            Shader::Fill | Shader::Fill4 | Shader::Fill8 => &["shaders/fill_params.wgsl"],
        }
    }

    /// The bindings of group 0, by binding index.
    pub fn bindings(self) -> &'static [Binding] {
        match self {
            Shader::Init | Shader::InitMul64 => &[UNIFORM, RW, UNIFORM, UNIFORM, RW],
            Shader::InitPair => &[UNIFORM, RW, UNIFORM, UNIFORM, RW, RW],
            Shader::Fill | Shader::Fill4 | Shader::Fill8 => &[RW, UNIFORM],
            Shader::PhiloxKat => &[RO, RW],
            Shader::Optim | Shader::Optim4 => &[UNIFORM, UNIFORM, RO, RW, RW, RW, RW, RO],
            Shader::Norm => &[RO, UNIFORM, RW],
            Shader::Reduce | Shader::Update => &[RO, UNIFORM, RO, RW],
        }
    }

    /// The pipeline-overridable constants every pipeline of this shader sets, in the
    /// order a kernel cache keys them by.
    pub fn overrides(self) -> &'static [&'static str] {
        match self {
            Shader::Init | Shader::InitMul64 | Shader::InitPair => {
                &[INIT_KIND, INIT_LAYOUT, INIT_PACK, INIT_ROWS, INIT_WG]
            }
            Shader::Fill4 | Shader::Fill8 => &[INIT_WG],
            Shader::Optim => &["OPT_KIND", "VAR_BUF", "S0_BUF", "S1_BUF", "S2_BUF"],
            Shader::Optim4 => &["OPT_KIND", "VAR_BUF", "S0_BUF", "S1_BUF", "S2_BUF", INIT_WG],
            Shader::Update => &["UPDATE_OP"],
            Shader::Fill | Shader::PhiloxKat | Shader::Norm | Shader::Reduce => &[],
        }
    }

    /// Every pipeline variant a session can build of this shader: the values of
    /// [`Shader::overrides`], in that order (one empty list for a shader without
    /// overrides). `init.wgsl`: every (kind, layout, pack) the session dispatches
    /// ([`init_variants`]) at [`WIDE_WORKGROUP_SIZE`]; `fill4.wgsl` and `fill8.wgsl`: that size (a device
    /// with a lower invocation limit builds the same code with a smaller `INIT_WG`).
    /// `update.wgsl`: every op.
    /// `optim.wgsl`: every kind with every buffer map the fused step can produce: the
    /// variable is `w0` (`VAR_BUF = 0`) and each slot in turn is either a buffer already
    /// bound or the next new one (`S{j}_BUF <= 1 + max(earlier)`; unused slots are 0), 15
    /// maps per kind. `optim4.wgsl`: the same, each at [`WIDE_WORKGROUP_SIZE`].
    pub fn variants(self) -> Vec<Vec<u32>> {
        match self {
            Shader::Init | Shader::InitMul64 => init_variants()
                .into_iter()
                .flat_map(|[k, l, p]| [0, 1].map(|one| vec![k, l, p, one, WIDE_WORKGROUP_SIZE]))
                .collect(),
            Shader::InitPair => {
                PAIR_KINDS.iter().map(|&k| vec![k, LAYOUT_VEC4, PACK_WORD, 1, WIDE_WORKGROUP_SIZE]).collect()
            }
            Shader::Fill4 | Shader::Fill8 => vec![vec![WIDE_WORKGROUP_SIZE]],
            Shader::Update => UPDATE_OPS.iter().map(|&op| vec![op]).collect(),
            Shader::Optim | Shader::Optim4 => {
                let mut maps = Vec::new();
                for s0 in 0..=1u32 {
                    for s1 in 0..=s0 + 1 {
                        for s2 in 0..=s0.max(s1) + 1 {
                            maps.push([s0, s1, s2]);
                        }
                    }
                }
                let wide = (self == Shader::Optim4).then_some(WIDE_WORKGROUP_SIZE);
                OPT_KINDS
                    .iter()
                    .flat_map(|&k| maps.iter().map(move |m| [k, 0, m[0], m[1], m[2]].into_iter().chain(wide).collect()))
                    .collect()
            }
            Shader::Fill | Shader::PhiloxKat | Shader::Norm | Shader::Reduce => vec![Vec::new()],
        }
    }
}

/// Optimizer code: SGD.
pub const OPT_SGD: u32 = 0;
/// Optimizer code: momentum.
pub const OPT_MOMENTUM: u32 = 1;
/// Optimizer code: Nesterov momentum.
pub const OPT_NESTEROV: u32 = 2;
/// Optimizer code: Adagrad.
pub const OPT_ADAGRAD: u32 = 3;
/// Optimizer code: RMSProp.
pub const OPT_RMSPROP: u32 = 4;
/// Optimizer code: centered RMSProp.
pub const OPT_RMSPROP_CENTERED: u32 = 5;
/// Optimizer code: Adam.
pub const OPT_ADAM: u32 = 6;
/// Optimizer code: AdamW.
pub const OPT_ADAMW: u32 = 7;
/// Every optimizer code.
pub const OPT_KINDS: [u32; 8] =
    [OPT_SGD, OPT_MOMENTUM, OPT_NESTEROV, OPT_ADAGRAD, OPT_RMSPROP, OPT_RMSPROP_CENTERED, OPT_ADAM, OPT_ADAMW];
/// Rows of one optimizer dispatch's table (a uniform `array<OptimRow, 256>`, 12 KiB);
/// larger groups are split into several dispatches, and the table buffer is always
/// [`OPTIM_TABLE_BYTES`] long.
pub const OPTIM_MAX_ROWS: usize = 256;
/// Bytes of the optimizer kernel's row table binding.
pub const OPTIM_TABLE_BYTES: usize = OPTIM_MAX_ROWS * std::mem::size_of::<OptimRow>();
/// Read-write buffers of an optimizer dispatch (`w0..w3`).
pub const OPTIM_RW_BINDINGS: usize = 4;

/// Pipeline constants of the optimizer pipeline: `kind`, and for the variable and each
/// slot the index (0..4) of the read-write binding that holds it.
pub fn optim_constants(kind: u32, var_buf: u32, slot_bufs: [u32; 3]) -> [(&'static str, f64); 5] {
    [
        ("OPT_KIND", f64::from(kind)),
        ("VAR_BUF", f64::from(var_buf)),
        ("S0_BUF", f64::from(slot_bufs[0])),
        ("S1_BUF", f64::from(slot_bufs[1])),
        ("S2_BUF", f64::from(slot_bufs[2])),
    ]
}

/// Lays out optimizer rows for one dispatch of workgroups of `wg` invocations
/// ([`WORKGROUP_SIZE`] for `optim.wgsl`, the wide size for `optim4.wgsl`): fills in each
/// row's `start` (rows begin at multiples of `wg`) and returns `(invocations, row of each
/// workgroup)` (binding 7 of `optim_main` / `optim4_main`), or `None` if the dispatch
/// would exceed `u32` invocations.
pub fn optim_tiles(rows: &mut [OptimRow], wg: u32) -> Option<(u32, Vec<u32>)> {
    let wg = wg.max(1);
    let mut total: u32 = 0;
    let mut tiles = Vec::new();
    for (i, r) in rows.iter_mut().enumerate() {
        r.start = total;
        let n = r.count.div_ceil(wg);
        total = total.checked_add(n.checked_mul(wg)?)?;
        tiles.extend(std::iter::repeat_n(i as u32, n as usize));
    }
    Some((total, tiles))
}

/// Row constraint code of [`OptimRow`]: none.
pub const CONSTRAINT_NONE: u32 = 0;
/// Row constraint code of [`OptimRow`]: clamp to `[lo, hi]`.
pub const CONSTRAINT_CLAMP: u32 = 1;

/// Norm kind: max_norm.
pub const NORM_MAX: u32 = 0;
/// Norm kind: unit_norm.
pub const NORM_UNIT: u32 = 1;
/// Norm kind: min_max_norm.
pub const NORM_MIN_MAX: u32 = 2;

/// Update code: assign.
pub const UPDATE_ASSIGN: u32 = 0;
/// Update code: add.
pub const UPDATE_ADD: u32 = 1;
/// Update code: subtract.
pub const UPDATE_SUB: u32 = 2;
/// Every update code.
pub const UPDATE_OPS: [u32; 3] = [UPDATE_ASSIGN, UPDATE_ADD, UPDATE_SUB];

/// Elements per partial sum of `reduce.wgsl`.
pub const REDUCE_SEGMENT: u32 = 256;

mod pairs;
mod spirv;
mod tables;
pub use pairs::*;
pub use spirv::*;
pub use tables::*;

#[cfg(test)]
#[path = "lib_tests.rs"]
mod tests;
