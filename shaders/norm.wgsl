// Norm constraints (max_norm, unit_norm, min_max_norm) after an optimizer step: one
// invocation per norm group (the elements that share every coordinate outside the
// constraint's axes). It sums the squares of its group in f32, then rescales the group
// by desired / (EPSILON + norm) exactly as Keras' constraints do.
//
// The host collapses a variable's shape into at most three "kept" dimensions (which
// enumerate groups, last one fastest) and three "reduced" dimensions (which enumerate a
// group's members), each with its element stride; unused dimensions have size 1.

const EPSILON: f32 = 1e-7;

const NORM_MAX: u32 = 0u;
const NORM_UNIT: u32 = 1u;
const NORM_MIN_MAX: u32 = 2u;

struct NormRow {
    // Word offset of the variable (chunk) in the bound buffer.
    var_off: u32,
    // Groups of the row.
    groups: u32,
    // First group of the row in the dispatch (exclusive prefix sum of `groups`).
    start: u32,
    // NORM_*.
    kind: u32,
    kept_dims: vec4<u32>,
    kept_strides: vec4<u32>,
    red_dims: vec4<u32>,
    red_strides: vec4<u32>,
    // max_value, min_value, rate (f32).
    max_value: f32,
    min_value: f32,
    rate: f32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> rows: array<NormRow>;
@group(0) @binding(1) var<uniform> params: RowParams;
@group(0) @binding(2) var<storage, read_write> values: array<f32>;

// RowParams, invocation_index and find_row come from the shaders/rows.wgsl prelude.

@compute @workgroup_size(WORKGROUP_SIZE)
fn norm_main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let e = invocation_index(wid, nwg, lid);
    if (e >= params.total) {
        return;
    }
    let row = rows[find_row(e)];
    var g = e - row.start;
    if (g >= row.groups) {
        return;
    }
    // Base element of the group: kept coordinates, last dimension fastest.
    var base = row.var_off;
    for (var d = 2; d >= 0; d = d - 1) {
        let n = row.kept_dims[d];
        base = base + (g % n) * row.kept_strides[d];
        g = g / n;
    }
    var sum = 0.0;
    for (var a = 0u; a < row.red_dims[0]; a = a + 1u) {
        for (var b = 0u; b < row.red_dims[1]; b = b + 1u) {
            for (var c = 0u; c < row.red_dims[2]; c = c + 1u) {
                let x = values[base + a * row.red_strides[0] + b * row.red_strides[1] + c * row.red_strides[2]];
                sum = sum + x * x;
            }
        }
    }
    let norm = sqrt(sum);
    var desired = 1.0;
    if (row.kind == NORM_MAX) {
        desired = clamp(norm, 0.0, row.max_value);
    } else if (row.kind == NORM_MIN_MAX) {
        desired = row.rate * clamp(norm, row.min_value, row.max_value) + (1.0 - row.rate) * norm;
    }
    let factor = desired / (EPSILON + norm);
    for (var a = 0u; a < row.red_dims[0]; a = a + 1u) {
        for (var b = 0u; b < row.red_dims[1]; b = b + 1u) {
            for (var c = 0u; c < row.red_dims[2]; c = c + 1u) {
                let i = base + a * row.red_strides[0] + b * row.red_strides[1] + c * row.red_strides[2];
                values[i] = values[i] * factor;
            }
        }
    }
}
