// Test kernel: raw Philox4x32-10 outputs and Box-Muller normals on the device, so tests
// can check the Random123 known answers and the transcendental-free math per adapter.
//
// Preludes: shaders/mul32.wgsl, shaders/fence.wgsl (or shaders/unfenced.wgsl) and
// shaders/philox.wgsl (prepended by the registry).
// Input row i: counter (4 words), key (2 words), 0 (the opaque `zero` of `fence`), a pad
// word: 8 words per row.
// Output row i: the 4 Philox words, then the 4 normals4() of those words as f32 bits.

const WORKGROUP_SIZE: u32 = 64u;

@group(0) @binding(0) var<storage, read> kat_in: array<u32>;
@group(0) @binding(1) var<storage, read_write> kat_out: array<u32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn kat_main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= arrayLength(&kat_in) / 8u) {
        return;
    }
    let b = i * 8u;
    let c = vec4<u32>(kat_in[b], kat_in[b + 1u], kat_in[b + 2u], kat_in[b + 3u]);
    let k = vec2<u32>(kat_in[b + 4u], kat_in[b + 5u]);
    let w = philox4x32_10(c, k);
    let z = normals4(w, kat_in[b + 6u]);
    kat_out[b] = w.x;
    kat_out[b + 1u] = w.y;
    kat_out[b + 2u] = w.z;
    kat_out[b + 3u] = w.w;
    kat_out[b + 4u] = bitcast<u32>(z.x);
    kat_out[b + 5u] = bitcast<u32>(z.y);
    kat_out[b + 6u] = bitcast<u32>(z.z);
    kat_out[b + 7u] = bitcast<u32>(z.w);
}
