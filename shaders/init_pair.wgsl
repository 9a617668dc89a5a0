// Second entry point of the init kernel, on SHADER_INT64 devices: appended after
// shaders/init.wgsl (with the mul64 and store64 preludes), whose functions it uses.
//
// `init_pair_main` computes two adjacent items (8 elements, two Philox blocks) per
// invocation and stores them as one 32-byte `vec4<u64>`, for dispatches of the random
// kinds (uniform, integer uniform, normal, truncated normal) at LAYOUT_VEC4 whose rows'
// output offsets are multiples of 8 words (`varscope_shaders::pairs_items`; a large
// variable's chunk, at offset 0 of its own buffer, and slab rows, at offsets aligned to
// the device's storage offset alignment, are). One row or a table of rows, found as in
// `init_main` (`row_of`), whose workgroups were assigned in units of two items
// (`assign_workgroups(.., PAIR_ITEMS)`). The values are `init_main`'s bit for bit (the
// same `block_values`). Only whole pairs are stored: the last single item of a row whose
// count is not a multiple of 8 is left to `init_main` (`split_pair_tails` makes its row),
// because a second, masked store for it cost every invocation (lavapipe runs both sides
// of the branch: 16M uniform 39 -> 33 ms, normal 62 -> 56 ms in the harness without it).
// Binding 4 is bound but unused here. Workgroups of INIT_WG invocations cover
// 8 * INIT_WG elements.
//
// Its own entry point, not an override of `init_main`: lavapipe compiles all the code of
// an entry point before folding the pipeline constants, so two written-out items inside
// `init_main` slowed the build of every init pipeline (1.1-1.7 s instead of 0.25 s); here
// only this pipeline holds the second copy. Measured on lavapipe, 16M float32 (same bits):
// normal 67-71 -> 55-64 ms, uniform 39-45 -> 37-40 ms.

// The output (binding 1's buffer) in 32-byte pairs of items.
@group(0) @binding(5) var<storage, read_write> out_pair: array<vec4<u64>>;

// The 8 bytes of words (lo, hi) as one u64 (little-endian: `lo` first, as stored).
fn words64(lo: u32, hi: u32) -> u64 {
    return u64(lo) | (u64(hi) << 32u);
}

@compute @workgroup_size(INIT_WG)
fn init_pair_main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let w = wid.y * nwg.x + wid.x;
    let group = params.first_group + w;
    let d = row_of(w);
    let e0 = ((group - d.wg_start) * INIT_WG + lid) * 8u;
    let full0 = add64(vec2<u32>(d.base_lo, d.base_hi), vec2<u32>(e0, 0u));
    let a = block_values(d, block_of(full0));
    let b = block_values(d, block_of(add64(full0, vec2<u32>(4u, 0u))));
    // Stores only whole pairs inside the row and the dispatch (no early return: see
    // init_main; a row's last single item is `init_main`'s, `split_pair_tails`).
    let live = group < params.total_groups && e0 + 8u <= d.count && d.kind == INIT_KIND;
    if (live) {
        out_pair[(d.out_offset + e0) >> 3u] = vec4<u64>(words64(a.x, a.y), words64(a.z, a.w), words64(b.x, b.y), words64(b.z, b.w));
    }
}
