// The roofline: writes one 32-bit value to a range of words. Benchmarks compare every
// init kernel against it; it is also usable as a plain fill of a fill-type variable.
// One invocation per word; 2-D dispatch (x up to 65535 workgroups, then y).
// `fill: FillParams` (binding 1) comes from the shaders/fill_params.wgsl prelude.

const WORKGROUP_SIZE: u32 = 64u;

@group(0) @binding(0) var<storage, read_write> out_words: array<u32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn fill_main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = (wid.y * nwg.x + wid.x) * WORKGROUP_SIZE + lid;
    if (i < fill.count) {
        out_words[fill.offset + i] = fill.value;
    }
}
