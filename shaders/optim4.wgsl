// Fused multi-tensor optimizer step, four consecutive elements per invocation with
// `vec4` loads and stores (after the prelude `shaders/optim_step.wgsl`, which holds the
// rows, parameters and the update). Rows hold whole groups of 4 elements whose variable,
// gradient and slot offsets are all multiples of 4 words: offsets and counts are in
// groups of 4 (the host sends each row's tail of count % 4 elements, and rows at other
// offsets, to `optim.wgsl`), so no invocation touches a word its row does not own.
// The workgroup size is the pipeline constant INIT_WG (the device's wide size).

override INIT_WG: u32 = 256u;

alias V = vec4<f32>;

@group(0) @binding(2) var<storage, read> grad: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> w0: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> w1: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> w2: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> w3: array<vec4<f32>>;
// The row of each workgroup: rows start at multiples of INIT_WG in the dispatch (the
// host pads), so one load replaces a search over the rows.
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

@compute @workgroup_size(INIT_WG)
fn optim4_main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let tile = wid.y * nwg.x + wid.x;
    let e = tile * INIT_WG + lid;
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
