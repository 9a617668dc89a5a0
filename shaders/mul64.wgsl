// Prelude: `mulhilo` as one 64-bit multiply, for devices with SHADER_INT64 (wgpu's
// `Features::SHADER_INT64`, naga's `u64`). Same bits as shaders/mul32.wgsl, from one
// 64-bit multiply for the high word and the 32-bit product for the low word, instead of
// four 16x16 products and their carries.

// (hi, lo) of the 64-bit product a * b. The low word is the 32-bit product (the same
// bits): lavapipe then narrows only the high halves of the 64-bit products (16M on
// lavapipe, CPU time: uniform 22.7-23.2 -> 20.8-21.8 ms, normal 35.1-35.6 -> 33.0-33.8).
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
    return vec2<u32>(u32((u64(a) * u64(b)) >> 32u), a * b);
}
