// The vector fill: writes one 32-bit value to every word of a range of whole vec4s, one
// `vec4` store per invocation (the plain fill, shaders/fill.wgsl, writes the tail of
// fewer than 4 words). The bandwidth roofline of a kernel that writes its output.
// 2-D dispatch (x up to 65535 workgroups, then y) of INIT_WG-wide workgroups.
// `fill: FillParams` (binding 1) comes from the shaders/fill_params.wgsl prelude.

override INIT_WG: u32 = 256u;

@group(0) @binding(0) var<storage, read_write> out_vecs: array<vec4<u32>>;

@compute @workgroup_size(INIT_WG)
fn fill4_main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = (wid.y * nwg.x + wid.x) * INIT_WG + lid;
    if (i < fill.count) {
        out_vecs[fill.offset + i] = vec4<u32>(fill.value);
    }
}
