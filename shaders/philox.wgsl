// Philox4x32-10 and the bits-to-value math of varscope's random initializers.
//
// This is a prelude: it has no entry point and is prepended to shaders/init.wgsl (and
// shaders/philox_kat.wgsl) by the registry in src/lib.rs, after one of the two
// definitions of `mulhilo`: shaders/mul32.wgsl (16-bit halves, every device) or
// shaders/mul64.wgsl (one 64-bit multiply, devices with SHADER_INT64); both give the
// same bits. Every function mirrors one in
// varscope-core's `random` module operation for operation (same f32 constants, given
// by their bits; same order of + and *), so the host and every adapter agree. Only
// `sqrt` is a hardware function.
//
// Exactness on every driver: compilers may contract `a * b + c` into one fma and may
// reassociate chains of + and * (measured on llvmpipe: both, up to 3 ulp off the host).
// Every intermediate float result that feeds another float operation is therefore passed
// through `fence`, defined by the prelude before this one: shaders/fence.wgsl (an integer
// XOR with a runtime 0 that no float optimization looks through) for WGSL compiled by
// the driver's path, or shaders/unfenced.wgsl (the identity) for the SPIR-V varscope
// writes itself on Vulkan with every float operation decorated NoContraction. Either
// way each operation rounds exactly once, in the written order, as on the host.

const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;

const STREAM_UNIFORM: u32 = 0u;
const STREAM_NORMAL: u32 = 1u;
const STREAM_TRUNCATED: u32 = 2u;
const STREAM_UNIFORM_INT: u32 = 3u;

fn philox4x32_10(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key;
    for (var round = 0u; round < 10u; round = round + 1u) {
        if (round > 0u) {
            k = k + vec2<u32>(PHILOX_W0, PHILOX_W1);
        }
        let p0 = mulhilo(PHILOX_M0, c.x);
        let p1 = mulhilo(PHILOX_M1, c.z);
        c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
    }
    return c;
}

// a * b + c with two roundings, whatever the driver fuses or reassociates.
fn madd(a: f32, b: f32, c: f32, zero: u32) -> f32 {
    return fence(fence(a * b, zero) + c, zero);
}

// One Horner step, a * b + c, whose result is only ever multiplied by a variable (the
// next step's `a`, or a fenced product): the product is fenced (no fma contraction); the
// sum needs no fence, because nothing follows it that a compiler could reassociate it
// with: a product of a sum and a variable is not a chain of one operation (the
// distributing rewrites we know of, in LLVM's fast-math folds, need a constant
// multiplier; gpu_vs_host shows the bits unchanged on llvmpipe, which contracts and
// reassociates). Same bits as `madd`, one fence fewer: the polynomials of `ln_f32`, `sincos_2pi` and `truncated_unit` use it for every
// step but the last (normal 16M on lavapipe, two-item kernel: 63-72 -> 57-65 ms).
fn horner(a: f32, b: f32, c: f32, zero: u32) -> f32 {
    return fence(a * b, zero) + c;
}

// [0, 1) from the top 23 bits: [1, 2) - 1, exact (fence the result before using it).
fn uniform_unit(w: u32) -> f32 {
    return bitcast<f32>((w >> 9u) | 0x3f800000u) - 1.0;
}

// Cephes logf for positive normal x (core: random::ln_f32).
fn ln_f32(x: f32, zero: u32) -> f32 {
    let bits = bitcast<u32>(x);
    // m in [sqrt(1/2), sqrt(2)) - 1 without a branch: the doubling is exact, so every
    // lane computes it and a select takes the host's branch (an if/else here cost the
    // truncated normal, four logs per block: 51.7-52.7 -> 49.4-50.0 ms of CPU time per
    // 16M on lavapipe; same bits).
    let f = bitcast<f32>((bits & 0x007fffffu) | 0x3f000000u);
    let small = f < bitcast<f32>(0x3f3504f3u);
    let e = i32((bits >> 23u) & 0xffu) - 126 - select(0, 1, small);
    let m = fence(select(f, fence(f + f, zero), small) - 1.0, zero);
    let z = fence(m * m, zero);
    var p = bitcast<f32>(0x3d9021bbu);
    p = horner(p, m, bitcast<f32>(0xbdebd1b8u), zero);
    p = horner(p, m, bitcast<f32>(0x3def251bu), zero);
    p = horner(p, m, bitcast<f32>(0xbdfe5d4fu), zero);
    p = horner(p, m, bitcast<f32>(0x3e11e9bfu), zero);
    p = horner(p, m, bitcast<f32>(0xbe2aae50u), zero);
    p = horner(p, m, bitcast<f32>(0x3e4cceacu), zero);
    p = horner(p, m, bitcast<f32>(0xbe7ffffcu), zero);
    p = horner(p, m, bitcast<f32>(0x3eaaaaaau), zero);
    var y = fence(fence(p * m, zero) * z, zero);
    let fe = f32(e);
    y = madd(fe, bitcast<f32>(0xb95e8083u), y, zero);
    y = madd(-0.5, z, y, zero);
    let r = fence(m + y, zero);
    return madd(fe, bitcast<f32>(0x3f318000u), r, zero);
}

// (cos, sin) of 2 pi (w >> 8) / 2^24 (core: random::sincos_2pi).
fn sincos_2pi(w: u32, zero: u32) -> vec2<f32> {
    let m = w >> 8u;
    let q = (m + 0x00200000u) >> 22u;
    let r_int = i32(m) - i32(q << 22u);
    let x = fence(fence(f32(r_int) * bitcast<f32>(0x34800000u), zero) * bitcast<f32>(0x3fc90fdbu), zero);
    let z = fence(x * x, zero);
    var s = horner(bitcast<f32>(0xb94ca1f9u), z, bitcast<f32>(0x3c08839eu), zero);
    s = horner(s, z, bitcast<f32>(0xbe2aaaa3u), zero);
    s = madd(fence(s * z, zero), x, x, zero);
    var c = horner(bitcast<f32>(0x37ccf5ceu), z, bitcast<f32>(0xbab6061au), zero);
    c = horner(c, z, bitcast<f32>(0x3d2aaaa5u), zero);
    c = fence(fence(c * z, zero) * z, zero);
    c = madd(-0.5, z, c, zero);
    c = fence(c + 1.0, zero);
    // Quadrant q & 3 gives (c, s), (-s, c), (-c, -s), (s, -c): a swap when q is odd and
    // a flip of the sign bit (negation, exactly) for cos when q is 1 or 2 and for sin
    // when q is 2 or 3. Written as selects, not a four-way switch of returns (16M
    // normals on lavapipe: 38.3-38.4 -> 37.3-38.7 ms of CPU time, same bits).
    let odd = (q & 1u) != 0u;
    let cos_bits = bitcast<u32>(select(c, s, odd)) ^ (((q + 1u) & 2u) << 30u);
    let sin_bits = bitcast<u32>(select(s, c, odd)) ^ ((q & 2u) << 30u);
    return vec2<f32>(bitcast<f32>(cos_bits), bitcast<f32>(sin_bits));
}

// One Box-Muller pair (r cos, r sin) from two words (core: random::box_muller).
fn box_muller(w0: u32, w1: u32, zero: u32) -> vec2<f32> {
    let u1 = fence(f32((w0 >> 8u) + 1u) * bitcast<f32>(0x33800000u), zero);
    let r = fence(sqrt(fence(-2.0 * ln_f32(u1, zero), zero)), zero);
    let cs = sincos_2pi(w1, zero);
    return vec2<f32>(fence(r * cs.x, zero), fence(r * cs.y, zero));
}

fn normals4(w: vec4<u32>, zero: u32) -> vec4<f32> {
    let a = box_muller(w.x, w.y, zero);
    let b = box_muller(w.z, w.w, zero);
    return vec4<f32>(a.x, a.y, b.x, b.y);
}

// The standard truncated normal of one word, in (-2, 2), by inversion: sqrt 2 erfinv(x)
// for x = s erf(sqrt 2), s = (2 (w >> 8) + 1 - 2^24) / 2^24 (core: random::truncated_unit).
fn truncated_unit(w: u32, zero: u32) -> f32 {
    let s = fence(f32(2 * i32(w >> 8u) - 0x00ffffff) * bitcast<f32>(0x33800000u), zero);
    let x = fence(s * bitcast<f32>(0x3f745a18u), zero);
    let t = fence(fence(1.0 - x, zero) * fence(1.0 + x, zero), zero);
    let y = fence(-ln_f32(t, zero) - 1.25, zero);
    var p = bitcast<f32>(0xb6d56739u);
    p = horner(p, y, bitcast<f32>(0x38343e22u), zero);
    p = horner(p, y, bitcast<f32>(0x3953e4ebu), zero);
    p = horner(p, y, bitcast<f32>(0xbb50d5b6u), zero);
    p = horner(p, y, bitcast<f32>(0x3b68d047u), zero);
    p = horner(p, y, bitcast<f32>(0x3eb4abe4u), zero);
    p = horner(p, y, bitcast<f32>(0x3fd7556au), zero);
    return fence(p * x, zero);
}

// f32 -> binary16 bits, round to nearest even (the `half` crate's algorithm).
fn f32_to_f16_bits(v: f32) -> u32 {
    let x = bitcast<u32>(v);
    let sign = (x >> 16u) & 0x8000u;
    let exp = x & 0x7f800000u;
    let man = x & 0x007fffffu;
    if (exp == 0x7f800000u) {
        var nan_bit = 0u;
        if (man != 0u) {
            nan_bit = 0x0200u;
        }
        return sign | 0x7c00u | nan_bit | (man >> 13u);
    }
    let half_exp = i32(exp >> 23u) - 127 + 15;
    if (half_exp >= 0x1f) {
        return sign | 0x7c00u;
    }
    if (half_exp <= 0) {
        if (14 - half_exp > 24) {
            return sign;
        }
        let mm = man | 0x00800000u;
        var half_man = mm >> u32(14 - half_exp);
        let round_bit = 1u << u32(13 - half_exp);
        if ((mm & round_bit) != 0u && (mm & (3u * round_bit - 1u)) != 0u) {
            half_man = half_man + 1u;
        }
        return sign | half_man;
    }
    let half_man = man >> 13u;
    let bits = sign | (u32(half_exp) << 10u) | half_man;
    if ((man & 0x1000u) != 0u && (man & 0x2fffu) != 0u) {
        return bits + 1u;
    }
    return bits;
}

// f32 -> bfloat16 bits, round to nearest even (the `half` crate's algorithm).
fn f32_to_bf16_bits(v: f32) -> u32 {
    let x = bitcast<u32>(v);
    if ((x & 0x7fffffffu) > 0x7f800000u) {
        return (x >> 16u) | 0x0040u;
    }
    if ((x & 0x8000u) != 0u && (x & 0x17fffu) != 0u) {
        return ((x >> 16u) + 1u) & 0xffffu;
    }
    return x >> 16u;
}
