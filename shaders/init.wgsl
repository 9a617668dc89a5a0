// Descriptor-table-driven initializer: one dispatch initializes many variables.
//
// Preludes (prepended by the registry): shaders/mul32.wgsl and shaders/store32.wgsl, or
// shaders/mul64.wgsl and shaders/store64.wgsl (the device's `mulhilo` and `store_vec4`),
// then shaders/philox.wgsl.
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
//     constant index: drivers load it once per SIMD group, where an index loaded from
//     `tiles` made lavapipe load the 64-byte row lane by lane), else 0.
//   INIT_WG: invocations per workgroup, one item (4 elements) each (256 unless the device
//     allows fewer); row `r` owns whole workgroups.
// One item per invocation. Several items per invocation (written out: a loop over them
// was slower than one item) or two adjacent items stored as one 32-byte `vec4<u64>` ran
// faster on lavapipe (16M uniform 42 -> 31 ms with pairs; a many-row table's normals 105
// -> 87 ms with 4 items), but each written-out copy of the item code is compiled before
// the driver folds the constants: a pipeline took 1.1-1.7 s to build instead of 0.25 s,
// more than the kernel saves in a session that initializes its variables once.
//
// No invocation returns early: a `return` before the stores made lavapipe run the rest
// of the kernel under a dynamic mask (uniform 16M: 50 -> 38 ms without it). Work past
// the end of a row or of the dispatch is computed and its stores are skipped.
//
// The `vec4` store of LAYOUT_VEC4 rows is the prelude's `store_vec4` (shaders/store32.wgsl:
// `vec4<u32>`; shaders/store64.wgsl on SHADER_INT64 devices: the same 16 bytes as two
// `u64`s, which lavapipe writes in two stores instead of four).
//
// Truncated normal in two passes (one-word dtypes): `init_main` writes the normal-stream
// value of every element and lists each rejected one (|z| >= 2, about 4.6%) by its index
// within the workgroup in the workgroup's part of `redraw_list` (4 * INIT_WG slots, so
// it never overflows; `redraw_counts` counts them, cleared by the host first); then
// `redraw_main`, one 64-wide workgroup per first-pass workgroup, redraws the listed
// elements. The redraw depends only on the element's full index, so this gives the bits
// of a redraw in place. llvmpipe/lavapipe execute every side of a branch whose condition
// differs between lanes (the mask only disables the stores), so a redraw written in
// place runs for every element (3.2x the normal kernel's time); listed, it runs for
// about one element in 16. 16-bit dtypes still redraw in place (two elements share a
// word, so a second pass would race on it).
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
// Invocations per workgroup of `redraw_main`.
const WORKGROUP_SIZE: u32 = 64u;

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
    // Always 0: the opaque operand of `fence` (shaders/philox.wgsl) that keeps drivers'
    // fma contraction and reassociation from changing the rounding.
    zero: u32,
    // The first workgroup (of the tile table) this dispatch runs: workgroup `w` of the
    // dispatch is `first_group + w`.
    first_group: u32,
}

// A uniform table (at most INIT_MAX_ROWS rows per dispatch): drivers load uniform data
// with scalar loads, where a storage table's rows were loaded lane by lane (lavapipe: 2.8x
// the time of the whole uniform kernel).
const INIT_MAX_ROWS: u32 = 256u;
@group(0) @binding(0) var<uniform> descs: array<InitDesc, INIT_MAX_ROWS>;
@group(0) @binding(1) var<storage, read_write> out_words: array<u32>;
@group(0) @binding(2) var<uniform> params: InitParams;
// The row of each workgroup (`assign_workgroups`' tile table).
@group(0) @binding(3) var<storage, read> tiles: array<u32>;
// Binding 4, the output again as 16-byte items (LAYOUT_VEC4 stores; bound to the same
// buffer), is declared by the store prelude.
// Truncated normal, two passes: 4 * INIT_WG slots per workgroup of the dispatch, each
// the index (within its workgroup) of an element to redraw, and how many are listed per
// workgroup. Other pipelines bind any small buffers.
@group(0) @binding(5) var<storage, read_write> redraw_list: array<u32>;
@group(0) @binding(6) var<storage, read_write> redraw_counts: array<atomic<u32>>;

// Whether rejected truncated-normal elements are left to `redraw_main`.
fn compact_redraw() -> bool {
    return INIT_KIND == KIND_TRUNCATED_NORMAL && INIT_PACK == PACK_WORD;
}

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
    if (INIT_KIND == KIND_NORMAL || INIT_KIND == KIND_TRUNCATED_NORMAL) {
        var z = normals4(philox4x32_10(vec4<u32>(block.x, block.y, 0u, STREAM_NORMAL), key), params.zero);
        if (compact_redraw()) {
            // The raw normals: `settle_truncated` picks and encodes them.
            return bitcast<vec4<u32>>(z);
        }
        if (INIT_KIND == KIND_TRUNCATED_NORMAL) {
            // Full index of lane 0 is 4 * block; rejected lanes are redrawn alone.
            let i0 = vec2<u32>(block.x << 2u, (block.y << 2u) | (block.x >> 30u));
            if (abs(z.x) >= 2.0) {
                z.x = truncated_redraw(key, i0, params.zero);
            }
            if (abs(z.y) >= 2.0) {
                z.y = truncated_redraw(key, vec2<u32>(i0.x | 1u, i0.y), params.zero);
            }
            if (abs(z.z) >= 2.0) {
                z.z = truncated_redraw(key, vec2<u32>(i0.x | 2u, i0.y), params.zero);
            }
            if (abs(z.w) >= 2.0) {
                z.w = truncated_redraw(key, vec2<u32>(i0.x | 3u, i0.y), params.zero);
            }
        }
        return vec4<u32>(
            encode_f32(affine(low, scale, z.x)),
            encode_f32(affine(low, scale, z.y)),
            encode_f32(affine(low, scale, z.z)),
            encode_f32(affine(low, scale, z.w)),
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

// The row of workgroup `group`: row 0 of a one-row dispatch (a constant index), else
// the tile table's entry.
fn row_of(group: u32) -> InitDesc {
    if (INIT_ROWS == 1u) {
        return descs[0];
    }
    return descs[tiles[group]];
}

// Full index of row element `e` (own element `first + e`).
fn full_of(d: InitDesc, e: u32) -> vec2<u32> {
    if (INIT_LAYOUT == LAYOUT_GENERAL) {
        return full_index(d, d.first + e);
    }
    return add64(vec2<u32>(d.base_lo, d.base_hi), vec2<u32>(e, 0u));
}

// The encoded truncated-normal value of an element whose raw normal is `z`, listed for
// `redraw_main` (which overwrites the value) when rejected; `slot` is the next slot of
// workgroup `w` of the dispatch.
fn settle_one(d: InitDesc, w: u32, local: u32, z: f32, slot: ptr<function, u32>) -> u32 {
    if (abs(z) >= 2.0) {
        redraw_list[w * 4u * INIT_WG + *slot] = local;
        *slot = *slot + 1u;
    }
    return encode_f32(affine(bitcast<f32>(d.p0), bitcast<f32>(d.p1), z));
}

// First pass of a truncated normal: the `n` (0..4; 0 past the row or the dispatch) raw
// normals `raw` of item `lid` of workgroup `w` of the dispatch, rejected ones listed.
fn settle_truncated(d: InitDesc, w: u32, lid: u32, n: u32, raw: vec4<u32>) -> vec4<u32> {
    let z = bitcast<vec4<f32>>(raw);
    // Scalar selects (see select4): lanes below `n` whose normal is rejected.
    let r = select4(vec4<u32>(0u), vec4<u32>(1u), abs(z) >= vec4<f32>(2.0));
    let wanted = select(0u, r.x, n > 0u) + select(0u, r.y, n > 1u) + select(0u, r.z, n > 2u) + select(0u, r.w, n > 3u);
    var slot = 0u;
    if (wanted > 0u) {
        slot = atomicAdd(&redraw_counts[w], wanted);
    }
    let local = lid * 4u;
    var out = vec4<u32>(0u);
    if (n > 0u) {
        out.x = settle_one(d, w, local, z.x, &slot);
    }
    if (n > 1u) {
        out.y = settle_one(d, w, local + 1u, z.y, &slot);
    }
    if (n > 2u) {
        out.z = settle_one(d, w, local + 2u, z.z, &slot);
    }
    if (n > 3u) {
        out.w = settle_one(d, w, local + 3u, z.w, &slot);
    }
    return out;
}

// Item `lid` (0..INIT_WG) of workgroup `w` of the dispatch (`group` of the tile table,
// row `d`): its up to 4 elements.
fn init_item(w: u32, group: u32, d: InitDesc, lid: u32) {
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
    if (compact_redraw()) {
        vals = settle_truncated(d, w, lid, select(0u, n, live), vals);
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
    init_item(w, group, row_of(group), lid);
}

// Second pass of a truncated normal: workgroup `w` of the dispatch redraws the elements
// workgroup `w` of the first pass listed (dispatch as many workgroups, same bindings,
// rows and parameters).
@compute @workgroup_size(WORKGROUP_SIZE)
fn redraw_main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let w = wid.y * nwg.x + wid.x;
    let group = params.first_group + w;
    let d = row_of(group);
    let first = (group - d.wg_start) * INIT_WG * 4u;
    // Nothing listed past the dispatch (no early return: see init_main).
    let listed = select(0u, atomicLoad(&redraw_counts[w]), group < params.total_groups);
    let key = vec2<u32>(d.key0, d.key1);
    for (var s = lid; s < listed; s = s + WORKGROUP_SIZE) {
        let e = first + redraw_list[w * 4u * INIT_WG + s];
        let z = truncated_redraw(key, full_of(d, e), params.zero);
        out_words[d.out_offset + e] = encode_f32(affine(bitcast<f32>(d.p0), bitcast<f32>(d.p1), z));
    }
}
