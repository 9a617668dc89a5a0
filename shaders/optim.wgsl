// Fused multi-tensor optimizer step, one element per invocation (after the prelude
// `shaders/optim_step.wgsl`, which holds the rows, parameters and the update): rows at
// any word offset, and the tails (count % 4 elements) of the rows `optim4.wgsl` takes.
// One dispatch updates every (variable, gradient, slots) row whose buffers are the ones
// bound, and applies the elementwise constraint (non_neg, clip_by_value) of each row
// after the update.

const WORKGROUP_SIZE: u32 = 64u;

alias V = f32;

@compute @workgroup_size(WORKGROUP_SIZE)
fn optim_main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    optim_at(wid, nwg, lid, WORKGROUP_SIZE);
}
