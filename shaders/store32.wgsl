// Prelude of shaders/init.wgsl: its 16-byte item store, for devices without SHADER_INT64.
// Same bytes as shaders/store64.wgsl.

// Binding 4: the init kernel's output (the same buffer as `out_words`) in 16-byte items.
@group(0) @binding(4) var<storage, read_write> out_vec4: array<vec4<u32>>;

// Stores the four words `v` as item `i` (words 4i..4i+3) of the output.
fn store_vec4(i: u32, v: vec4<u32>) {
    out_vec4[i] = v;
}
