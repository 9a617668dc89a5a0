// Fused multi-tensor optimizer step, four consecutive elements per invocation with
// `vec4` loads and stores (after the prelude `shaders/optim_step.wgsl`, which holds the
// rows, parameters and the update). Rows hold whole groups of 4 elements whose variable,
// gradient and slot offsets are all multiples of 4 words: offsets and counts are in
// groups of 4 (the host sends each row's tail of count % 4 elements, and rows at other
// offsets, to `optim.wgsl`), so no invocation touches a word its row does not own.
// The workgroup size is the pipeline constant INIT_WG (the device's wide size).

override INIT_WG: u32 = 256u;

alias V = vec4<f32>;

@compute @workgroup_size(INIT_WG)
fn optim4_main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    optim_at(wid, nwg, lid, INIT_WG);
}
