// Prelude of shaders/init.wgsl: its 16-byte item store and 32-byte pair store, for
// devices without SHADER_INT64.
// Same bytes as shaders/store64.wgsl.

// Binding 4: the init kernel's output (the same buffer as `out_words`) in 16-byte items.
@group(0) @binding(4) var<storage, read_write> out_vec4: array<vec4<u32>>;

// Stores the four words `v` as item `i` (words 4i..4i+3) of the output.
fn store_vec4(i: u32, v: vec4<u32>) {
    out_vec4[i] = v;
}

// Binding 7: the same output in 32-byte pairs of items (never bound on devices without
// SHADER_INT64 in pair mode; declared so both preludes bind the same slots).
@group(0) @binding(7) var<storage, read_write> out_vec8: array<vec4<u32>>;

// Stores items `a` and `b` as pair `i` (words 8i..8i+7) of the output.
fn store_vec8(i: u32, a: vec4<u32>, b: vec4<u32>) {
    out_vec8[2u * i] = a;
    out_vec8[2u * i + 1u] = b;
}
