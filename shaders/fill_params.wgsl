// Prelude of the fill kernels (shaders/fill.wgsl, shaders/fill4.wgsl, shaders/fill8.wgsl):
// their parameters, binding 1 (Rust: `varscope_shaders::FillParams`). Each kernel writes
// `count` units of its own width (a word, a `vec4` of words, a 32-byte group of 8 words)
// from unit `offset` of its output, binding 0.

struct FillParams {
    // First unit written.
    offset: u32,
    // Number of units written.
    count: u32,
    // The word.
    value: u32,
    _pad: u32,
}

@group(0) @binding(1) var<uniform> fill: FillParams;
