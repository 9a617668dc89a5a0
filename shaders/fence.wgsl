// `fence` for WGSL that the driver's compiler translates (every backend but varscope's
// own SPIR-V): x, unchanged, but opaque to float optimizations. `zero` is a runtime 0
// the compiler cannot see (InitParams.zero), so the XOR is an integer operation no
// contraction or reassociation looks through. Each fenced result is rounded on its own,
// at the cost of one integer operation (22-30% of the normal kernels' time on lavapipe).
fn fence(x: f32, zero: u32) -> f32 {
    return bitcast<f32>(bitcast<u32>(x) ^ zero);
}
