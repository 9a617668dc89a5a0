// Prelude of shaders/init.wgsl: its 16-byte item store, for devices with SHADER_INT64.
// Same bytes as shaders/store32.wgsl (little-endian: the low word of each `u64` first),
// written as two 64-bit components: lavapipe stores a vector lane by lane and component
// by component, so two components cost about half of four (16M words: 13 vs 17 ms).

// Binding 4: the init kernel's output (the same buffer as `out_words`) in 16-byte items.
@group(0) @binding(4) var<storage, read_write> out_vec4: array<vec2<u64>>;

// Stores the four words `v` as item `i` (words 4i..4i+3) of the output.
fn store_vec4(i: u32, v: vec4<u32>) {
    out_vec4[i] = vec2<u64>(u64(v.x) | (u64(v.y) << 32u), u64(v.z) | (u64(v.w) << 32u));
}
