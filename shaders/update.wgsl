// Variable updates from a source buffer: assign, assign_add, assign_sub, and the row ops
// scatter_update / scatter_add / scatter_sub. Each row copies or combines `count`
// consecutive source words into `count` consecutive destination words; rows never
// overlap in the destination (the host merges duplicate scatter indices first), so
// there are no races. UPDATE_OP (one of UPDATE_*) is a pipeline-overridable constant.

override UPDATE_OP: u32;

const UPDATE_ASSIGN: u32 = 0u;
const UPDATE_ADD: u32 = 1u;
const UPDATE_SUB: u32 = 2u;

struct UpdateRow {
    // Word offset in `dst`.
    dst_off: u32,
    // Word offset in `src`.
    src_off: u32,
    // Elements.
    count: u32,
    // First element of the row in the dispatch (exclusive prefix sum of `count`).
    start: u32,
}

@group(0) @binding(0) var<storage, read> rows: array<UpdateRow>;
@group(0) @binding(1) var<uniform> params: RowParams;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

// RowParams, invocation_index and find_row come from the shaders/rows.wgsl prelude.

@compute @workgroup_size(WORKGROUP_SIZE)
fn update_main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let e = invocation_index(wid, nwg, lid);
    if (e >= params.total) {
        return;
    }
    let row = rows[find_row(e)];
    let j = e - row.start;
    if (j >= row.count) {
        return;
    }
    let s = src[row.src_off + j];
    let d = row.dst_off + j;
    if (UPDATE_OP == UPDATE_ADD) {
        dst[d] = dst[d] + s;
    } else if (UPDATE_OP == UPDATE_SUB) {
        dst[d] = dst[d] - s;
    } else {
        dst[d] = s;
    }
}
