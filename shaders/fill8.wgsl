// The 32-byte vector fill, for devices with SHADER_INT64: writes one 32-bit value to
// every word of a range of whole 32-byte groups (8 words), one `vec4<u64>` store per
// invocation. Same bytes as shaders/fill4.wgsl (little-endian: the value in both halves
// of each `u64`); lavapipe stores a vector lane by lane and component by component, so
// four 8-byte components per 32 bytes cost about half of eight 4-byte ones (16M words:
// 7.1-11.8 -> 4.0-6.0 ms, alternately). The rest of a range (fewer than 8 words, or a
// start that is not 32-byte aligned) is shaders/fill4.wgsl's and shaders/fill.wgsl's.
// 2-D dispatch (x up to 65535 workgroups, then y) of INIT_WG-wide workgroups.
// `fill: FillParams` (binding 1) comes from the shaders/fill_params.wgsl prelude.

override INIT_WG: u32 = 256u;

@group(0) @binding(0) var<storage, read_write> out_groups: array<vec4<u64>>;

@compute @workgroup_size(INIT_WG)
fn fill8_main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = (wid.y * nwg.x + wid.x) * INIT_WG + lid;
    if (i < fill.count) {
        let pair = u64(fill.value) | (u64(fill.value) << 32u);
        out_groups[fill.offset + i] = vec4<u64>(pair);
    }
}
