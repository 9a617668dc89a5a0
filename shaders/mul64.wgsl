// Prelude: `mulhilo` as one 64-bit multiply, for devices with SHADER_INT64 (wgpu's
// `Features::SHADER_INT64`, naga's `u64`). Same bits as shaders/mul32.wgsl, in one
// multiply instead of four 16x16 products and their carries.

// (hi, lo) of the 64-bit product a * b.
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
    let p = u64(a) * u64(b);
    return vec2<u32>(u32(p >> 32u), u32(p));
}
