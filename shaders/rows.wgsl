// Prelude of the row-table kernels (norm, reduce, update): a dispatch covers many rows
// (one per variable chunk), each owning the invocations from its `start`. The shader
// that includes this prelude declares `rows: array<Row>` whose element has a `start: u32`
// field, sorted by `start`, and `params: RowParams` (uniform).

// Invocations per workgroup (Rust: `varscope_shaders::WORKGROUP_SIZE`).
const WORKGROUP_SIZE: u32 = 64u;

// The dispatch parameters (Rust: `varscope_shaders::RowParams`).
struct RowParams {
    num_rows: u32,
    // Invocations of the dispatch.
    total: u32,
    _pad0: u32,
    _pad1: u32,
}

// The flat invocation index of a 2-D grid of 1-D workgroups.
fn invocation_index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.y * nwg.x + wid.x) * WORKGROUP_SIZE + lid;
}

// The row that owns invocation `e`: the last row whose `start` is <= e.
fn find_row(e: u32) -> u32 {
    var lo = 0u;
    var hi = params.num_rows;
    while (hi - lo > 1u) {
        let mid = (lo + hi) / 2u;
        if (rows[mid].start <= e) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}
