// Fused multi-tensor optimizer step, one element per invocation (after the prelude
// `shaders/optim_step.wgsl`, which holds the rows, parameters and the update): rows at
// any word offset, and the tails (count % 4 elements) of the rows `optim4.wgsl` takes.
// One dispatch updates every (variable, gradient, slots) row whose buffers are the ones
// bound, and applies the elementwise constraint (non_neg, clip_by_value) of each row
// after the update.

const WORKGROUP_SIZE: u32 = 64u;

alias V = f32;

@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> w0: array<f32>;
@group(0) @binding(4) var<storage, read_write> w1: array<f32>;
@group(0) @binding(5) var<storage, read_write> w2: array<f32>;
@group(0) @binding(6) var<storage, read_write> w3: array<f32>;
// The row of each workgroup: rows start at multiples of WORKGROUP_SIZE in the dispatch
// (the host pads), so one load replaces a search over the rows.
@group(0) @binding(7) var<storage, read> tile_rows: array<u32>;

fn ld(b: u32, i: u32) -> V {
    if (b == 0u) {
        return w0[i];
    } else if (b == 1u) {
        return w1[i];
    } else if (b == 2u) {
        return w2[i];
    }
    return w3[i];
}

fn st(b: u32, i: u32, x: V) {
    if (b == 0u) {
        w0[i] = x;
    } else if (b == 1u) {
        w1[i] = x;
    } else if (b == 2u) {
        w2[i] = x;
    } else {
        w3[i] = x;
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn optim_main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let tile = wid.y * nwg.x + wid.x;
    let e = tile * WORKGROUP_SIZE + lid;
    if (e >= params.total) {
        return;
    }
    let row = rows[tile_rows[tile]];
    let j = e - row.start;
    if (j >= row.count) {
        return;
    }
    optim_update(row, j);
}
