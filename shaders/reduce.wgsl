// Regularization losses: partial sums of |w| and w*w over segments of SEGMENT elements
// of each variable (chunk) in the bound buffer. Invocation s (global segment index,
// `seg_base + local`) writes out[2s] = sum |w| and out[2s + 1] = sum w*w of its segment,
// summed in f32 in element order; the host adds the partials in f64 and applies the
// regularizer's scales.

const SEGMENT: u32 = 256u;

struct ReduceRow {
    // Word offset of the row's first element in `values`.
    off: u32,
    // Elements.
    count: u32,
    // First segment of the row in the dispatch (exclusive prefix sum, local).
    start: u32,
    // Global index of the row's first segment in `out`.
    out_seg: u32,
}

@group(0) @binding(0) var<storage, read> rows: array<ReduceRow>;
@group(0) @binding(1) var<uniform> params: RowParams;
@group(0) @binding(2) var<storage, read> values: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// RowParams, invocation_index and find_row come from the shaders/rows.wgsl prelude.

@compute @workgroup_size(WORKGROUP_SIZE)
fn reduce_main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let e = invocation_index(wid, nwg, lid);
    if (e >= params.total) {
        return;
    }
    let row = rows[find_row(e)];
    let s = e - row.start;
    let first = s * SEGMENT;
    if (first >= row.count) {
        return;
    }
    let last = min(first + SEGMENT, row.count);
    var l1 = 0.0;
    var l2 = 0.0;
    for (var i = first; i < last; i = i + 1u) {
        let x = values[row.off + i];
        l1 = l1 + abs(x);
        l2 = l2 + x * x;
    }
    let o = row.out_seg + s;
    out[2u * o] = l1;
    out[2u * o + 1u] = l2;
}
