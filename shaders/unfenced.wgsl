// `fence` for the SPIR-V that varscope writes itself (`varscope_shaders::exact_spirv`,
// Vulkan): the identity. That SPIR-V decorates the result of every float operation
// NoContraction, which forbids the driver to fuse or reassociate it, so no fence is
// needed; the same bits as shaders/fence.wgsl's kernels, without its integer operations.
fn fence(x: f32, zero: u32) -> f32 {
    return x;
}
