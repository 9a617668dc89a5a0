// Descriptor-table-driven initializer: one dispatch initializes many variables.
//
// Preludes (prepended by the registry): shaders/mul32.wgsl and shaders/store32.wgsl, or
// shaders/mul64.wgsl and shaders/store64.wgsl (the device's `mulhilo` and `store_vec4`),
// then shaders/fence.wgsl (or, in varscope's own SPIR-V for Vulkan, shaders/unfenced.wgsl)
// and shaders/philox.wgsl.
//
// Pipelines are specialized by overridable constants, none with a default but the
// workgroup size, so a pipeline holds only the code it runs (llvmpipe and lavapipe run
// both sides of a branch under a mask: a runtime switch over kinds made fills 20x
// slower, a per-element dtype switch cost a quarter of the uniform kernel's time):
//   INIT_KIND (KIND_*): the kind; a dispatch's rows all have this kind.
//   INIT_LAYOUT (LAYOUT_*): the most general layout class of the dispatch's rows:
//     LAYOUT_VEC4: aligned, one-word dtype, `out_offset` and `count` multiples of 4
//       (one vec4 store per item);
//     LAYOUT_ALIGNED: the row's full indices are consecutive and the first is a multiple
//       of 4 (one Philox call per item);
//     LAYOUT_CONTIGUOUS: consecutive full indices (two Philox calls per item);
//     LAYOUT_GENERAL: anything (one Philox call per element).
//   INIT_PACK (PACK_*): how values become words: PACK_WORD (one element per word: f32
//     bits, int32/uint32, bool), PACK_F16 / PACK_BF16 (two rounded halves per word).
//   INIT_ROWS: 1 when the dispatch has one row (its descriptor is then read at a
//     constant index), else 0 (the row index comes from the tile table, binding 3).
// Both tables are uniform buffers: drivers load uniform data at an index that is the
// same for the whole workgroup once per SIMD group, where an index loaded from a storage
// buffer made lavapipe load the 64-byte row lane by lane (8M normals in 2,000 rows: 50 ms
// with a storage tile table, 41 ms with the uniform one, 35 ms as one row).
//   INIT_WG: invocations per workgroup, one item (4 elements) each (256 unless the device
//     allows fewer); row `r` owns whole workgroups.
// One item per invocation. Several items per invocation written into this entry point
// behind a constant (a loop over them was slower than one item) made every init pipeline
// slow to build: lavapipe compiles each written-out copy before it folds the constants
// (1.1-1.7 s per pipeline instead of 0.25 s). Two items per invocation therefore live in
// their own entry point, `init_pair_main` (shaders/init_pair.wgsl, SHADER_INT64 devices,
// one-row tables); four items for many-row tables (normals 105 -> 87 ms) are not built.
//
// No invocation returns early: a `return` before the stores made lavapipe run the rest
// of the kernel under a dynamic mask (uniform 16M: 50 -> 38 ms without it). Work past
// the end of a row or of the dispatch is computed and its stores are skipped.
//
// The `vec4` store of LAYOUT_VEC4 rows is the prelude's `store_vec4` (shaders/store32.wgsl:
// `vec4<u32>`; shaders/store64.wgsl on SHADER_INT64 devices: the same 16 bytes as two
// `u64`s, which lavapipe writes in two stores instead of four).
//
// Truncated normal draws by inversion (`truncated_unit`, shaders/philox.wgsl): one word
// per element, like uniform, with no rejection. A rejection sampler (redraw when
// |z| >= 2) made llvmpipe/lavapipe run the redraw for every lane of a SIMD group in which
// one lane needed it (both sides of a divergent branch run; the mask only disables the
// stores): 3.2x the normal kernel in place, 2.1-2.5x as a listing pass plus a redraw
// pass; inversion is 1.2-1.45x.
//
// LAYOUT_VEC4 rows (aligned, one-word dtype, `out_offset` and `count` multiples of 4)
// store each item as one vec4 (`store_vec4` into binding 4, the same buffer as
// `out_words`): llvmpipe writes a lane's vec4 in one pass where four scalar stores cost
// four masked scatters.

override INIT_KIND: u32;
override INIT_LAYOUT: u32;
override INIT_PACK: u32;
override INIT_ROWS: u32;
override INIT_WG: u32 = 256u;

const PACK_WORD: u32 = 0u;
const PACK_F16: u32 = 1u;
const PACK_BF16: u32 = 2u;

const LAYOUT_VEC4: u32 = 0u;
const LAYOUT_ALIGNED: u32 = 1u;
const LAYOUT_CONTIGUOUS: u32 = 2u;
const LAYOUT_GENERAL: u32 = 3u;

const KIND_FILL: u32 = 0u;
const KIND_IDENTITY: u32 = 1u;
const KIND_UNIFORM: u32 = 2u;
const KIND_UNIFORM_INT: u32 = 3u;
const KIND_NORMAL: u32 = 4u;
const KIND_TRUNCATED_NORMAL: u32 = 5u;

struct InitDesc {
    kind: u32,
    dtype: u32,
    out_offset: u32,
    count: u32,
    first: u32,
    wg_start: u32,
    own_block: u32,
    full_block_lo: u32,
    full_block_hi: u32,
    base_lo: u32,
    base_hi: u32,
    cols: u32,
    key0: u32,
    key1: u32,
    p0: u32,
    p1: u32,
}

struct InitParams {
    num_rows: u32,
    // One past the last workgroup (of the tile table) this dispatch runs.
    total_groups: u32,
    // Always 0: the opaque operand of `fence` (shaders/fence.wgsl) that keeps drivers'
    // fma contraction and reassociation from changing the rounding.
    zero: u32,
    // The first workgroup of the table this dispatch runs: workgroup `w` of the dispatch
    // is `first_group + w` (a table of more than INIT_TILE_GROUPS workgroups takes several
    // dispatches).
    first_group: u32,
}

// A uniform table (at most INIT_MAX_ROWS rows per dispatch): drivers load uniform data
// with scalar loads, where a storage table's rows were loaded lane by lane (lavapipe: 2.8x
// the time of the whole uniform kernel).
const INIT_MAX_ROWS: u32 = 256u;
@group(0) @binding(0) var<uniform> descs: array<InitDesc, INIT_MAX_ROWS>;
@group(0) @binding(1) var<storage, read_write> out_words: array<u32>;
@group(0) @binding(2) var<uniform> params: InitParams;
// The row of each workgroup of the dispatch, one byte each, four to a word
// (`tile_bytes`; INIT_TILE_GROUPS = 16,384 workgroups per dispatch at most). A one-row
// dispatch binds any 16 KiB uniform buffer here (the descriptor table).
@group(0) @binding(3) var<uniform> tiles: array<vec4<u32>, 1024>;
// Binding 4, the output again as 16-byte items (LAYOUT_VEC4 stores; bound to the same
// buffer), is declared by the store prelude.
// (lo, hi) of a + b for 64-bit values as (lo, hi) pairs.
fn add64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let lo = a.x + b.x;
    return vec2<u32>(lo, a.y + b.y + select(0u, 1u, lo < a.x));
}

// Full-shape index of own element `own` (core: reference::IndexMap::full_index).
fn full_index(d: InitDesc, own: u32) -> vec2<u32> {
    let outer = own / d.own_block;
    let rem = own % d.own_block;
    let p = mulhilo(outer, d.full_block_lo);
    let prod = vec2<u32>(p.y, p.x + outer * d.full_block_hi);
    return add64(add64(prod, vec2<u32>(d.base_lo, d.base_hi)), vec2<u32>(rem, 0u));
}

fn affine(low: f32, scale: f32, u: f32) -> f32 {
    return madd(scale, fence(u, params.zero), low, params.zero);
}

fn encode_f32(v: f32) -> u32 {
    if (INIT_PACK == PACK_F16) {
        return f32_to_f16_bits(v);
    }
    if (INIT_PACK == PACK_BF16) {
        return f32_to_bf16_bits(v);
    }
    return bitcast<u32>(v);
}

// select(f, t, c) component by component, as four scalar selects: naga writes a vector
// select as an integer mix(), which desktop GLSL before 4.50 only has with
// GL_EXT_shader_integer_mix (naga 30 does not enable it; tests/translate.rs checks).
fn select4(f: vec4<u32>, t: vec4<u32>, c: vec4<bool>) -> vec4<u32> {
    return vec4<u32>(select(f.x, t.x, c.x), select(f.y, t.y, c.y), select(f.z, t.z, c.z), select(f.w, t.w, c.w));
}

// Component `lane` (0..3) of v without dynamic indexing (which some drivers spill).
fn pick(v: vec4<u32>, lane: u32) -> u32 {
    return select(select(v.x, v.y, lane == 1u), select(v.z, v.w, lane == 3u), lane >= 2u);
}

// The encoded values of the 4 full indices of Philox block `block` (all random kinds).
fn block_values(d: InitDesc, block: vec2<u32>) -> vec4<u32> {
    let key = vec2<u32>(d.key0, d.key1);
    let low = bitcast<f32>(d.p0);
    let scale = bitcast<f32>(d.p1);
    if (INIT_KIND == KIND_NORMAL) {
        let z = normals4(philox4x32_10(vec4<u32>(block.x, block.y, 0u, STREAM_NORMAL), key), params.zero);
        return vec4<u32>(
            encode_f32(affine(low, scale, z.x)),
            encode_f32(affine(low, scale, z.y)),
            encode_f32(affine(low, scale, z.z)),
            encode_f32(affine(low, scale, z.w)),
        );
    }
    if (INIT_KIND == KIND_TRUNCATED_NORMAL) {
        let w = philox4x32_10(vec4<u32>(block.x, block.y, 0u, STREAM_TRUNCATED), key);
        return vec4<u32>(
            encode_f32(affine(low, scale, truncated_unit(w.x, params.zero))),
            encode_f32(affine(low, scale, truncated_unit(w.y, params.zero))),
            encode_f32(affine(low, scale, truncated_unit(w.z, params.zero))),
            encode_f32(affine(low, scale, truncated_unit(w.w, params.zero))),
        );
    }
    if (INIT_KIND == KIND_UNIFORM_INT) {
        var w = philox4x32_10(vec4<u32>(block.x, block.y, 0u, STREAM_UNIFORM_INT), key);
        if (d.p1 != 0u) {
            w = w % vec4<u32>(d.p1);
        }
        return w + vec4<u32>(d.p0);
    }
    let w = philox4x32_10(vec4<u32>(block.x, block.y, 0u, STREAM_UNIFORM), key);
    return vec4<u32>(
        encode_f32(affine(low, scale, uniform_unit(w.x))),
        encode_f32(affine(low, scale, uniform_unit(w.y))),
        encode_f32(affine(low, scale, uniform_unit(w.z))),
        encode_f32(affine(low, scale, uniform_unit(w.w))),
    );
}

fn block_of(full: vec2<u32>) -> vec2<u32> {
    return vec2<u32>((full.x >> 2u) | (full.y << 30u), full.y >> 2u);
}

// The encoded value of one element by its full index (slow path: one Philox call each).
fn value_at(d: InitDesc, full: vec2<u32>) -> u32 {
    return pick(block_values(d, block_of(full)), full.x & 3u);
}

// The row of workgroup `w` of the dispatch: row 0 of a one-row dispatch (a constant
// index), else the tile table's byte for `w`.
fn row_of(w: u32) -> InitDesc {
    if (INIT_ROWS == 1u) {
        return descs[0];
    }
    let word = tiles[w >> 4u][(w >> 2u) & 3u];
    return descs[(word >> ((w & 3u) << 3u)) & 0xffu];
}

// Item `lid` (0..INIT_WG) of workgroup `group` of the tile table (row `d`): its up to 4
// elements.
fn init_item(group: u32, d: InitDesc, lid: u32) {
    let e0 = ((group - d.wg_start) * INIT_WG + lid) * 4u;
    // Stores only for an item of the dispatch inside its row (no early return).
    let live = group < params.total_groups && e0 < d.count && d.kind == INIT_KIND;
    let n = min(4u, d.count - e0);
    let own0 = d.first + e0;
    var vals = vec4<u32>(d.p0);
    if (INIT_KIND == KIND_IDENTITY) {
        let own = vec4<u32>(own0) + vec4<u32>(0u, 1u, 2u, 3u);
        vals = select4(vec4<u32>(0u), vals, own / vec4<u32>(d.cols) == own % vec4<u32>(d.cols));
    } else if (INIT_KIND != KIND_FILL) {
        // Full index of the first element; in the aligned and contiguous layouts the
        // next three follow it, and `base` is the full index of the row's first element
        // (`rebase_rows`): no division (drivers without vector integer division, such as
        // lavapipe, divided lane by lane: 6x the cost of the Philox rounds).
        if (INIT_LAYOUT == LAYOUT_GENERAL) {
            for (var k = 0u; k < 4u; k = k + 1u) {
                if (k < n) {
                    let v = value_at(d, full_index(d, own0 + k));
                    vals = select4(vals, vec4<u32>(v), vec4<u32>(k) == vec4<u32>(0u, 1u, 2u, 3u));
                }
            }
        } else {
            let full0 = add64(vec2<u32>(d.base_lo, d.base_hi), vec2<u32>(e0, 0u));
            let a = block_values(d, block_of(full0));
            if (INIT_LAYOUT <= LAYOUT_ALIGNED) {
                vals = a;
            } else {
                // Lanes lane..3 of this block, then 0..lane-1 of the next.
                let lane = full0.x & 3u;
                let b = block_values(d, block_of(add64(full0, vec2<u32>(4u, 0u))));
                let l = vec4<u32>(lane) + vec4<u32>(0u, 1u, 2u, 3u);
                vals = vec4<u32>(
                    select(pick(b, l.x - 4u), pick(a, l.x), l.x < 4u),
                    select(pick(b, l.y - 4u), pick(a, l.y), l.y < 4u),
                    select(pick(b, l.z - 4u), pick(a, l.z), l.z < 4u),
                    select(pick(b, l.w - 4u), pick(a, l.w), l.w < 4u),
                );
            }
        }
    }
    if (live) {
        store_item(d, e0, n, vals);
    }
}

// Stores item values `vals` (its first `n` elements) of row `d` at row element `e0`.
fn store_item(d: InitDesc, e0: u32, n: u32, vals: vec4<u32>) {
    if (INIT_LAYOUT == LAYOUT_VEC4) {
        store_vec4((d.out_offset + e0) >> 2u, vals);
    } else if (INIT_PACK != PACK_WORD) {
        let o = d.out_offset + e0 / 2u;
        let hi1 = select(0u, vals.y & 0xffffu, n > 1u);
        out_words[o] = (vals.x & 0xffffu) | (hi1 << 16u);
        if (n > 2u) {
            let hi3 = select(0u, vals.w & 0xffffu, n > 3u);
            out_words[o + 1u] = (vals.z & 0xffffu) | (hi3 << 16u);
        }
    } else {
        let o = d.out_offset + e0;
        out_words[o] = vals.x;
        if (n > 1u) {
            out_words[o + 1u] = vals.y;
        }
        if (n > 2u) {
            out_words[o + 2u] = vals.z;
        }
        if (n > 3u) {
            out_words[o + 3u] = vals.w;
        }
    }
}

@compute @workgroup_size(INIT_WG)
fn init_main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let w = wid.y * nwg.x + wid.x;
    let group = params.first_group + w;
    // The workgroup's row, one load (a group past the dispatch reads a clamped entry and
    // stores nothing).
    init_item(group, row_of(w), lid);
}
