//! Philox4x32-10, the per-variable key derivation, and the exact bits-to-value math of
//! every random initializer (runtime.md section 3).
//!
//! Everything here is the **definition** of varscope's random values: the WGSL kernels
//! in `varscope-shaders` (`shaders/philox.wgsl`, `shaders/init.wgsl`) compute the same
//! functions with the same f32 operations in the same order, and the host reference
//! ([`crate::reference`]) calls these functions. Changing anything below changes every
//! user's initial values: it is a versioned, user-visible guarantee.
//!
//! # Key derivation
//!
//! A variable's Philox key is derived from its [`SeedInfo`]:
//!
//! ```text
//! g   = graph_seed, or DEFAULT_GRAPH_SEED (87654321) when the graph has none
//! o   = op_seed, or fnv1a64(UTF-8 bytes of hash_name) when the initializer has none
//! k64 = mix64(mix64(g + 0x9E3779B97F4A7C15) ^ o)          (wrapping u64 arithmetic)
//! key = [k64 as u32 (low word), (k64 >> 32) as u32 (high word)]
//! ```
//!
//! `mix64` is the SplitMix64 finalizer ([`mix64`]) and `fnv1a64` is 64-bit FNV-1a
//! ([`fnv1a64`]). `hash_name` is the store key of the whole variable (a shard uses its
//! partitioned variable's key), so the key never depends on creation order, on other
//! variables, or on the process (Rust's randomly keyed hasher is never used).
//!
//! # Counter layout
//!
//! Let `i` be the element's row-major index in the variable's **full** (unpartitioned)
//! shape, a `u64`. A shard maps its own element to `i` through its offset, so shards
//! concatenated equal the unpartitioned variable bit for bit. Philox counters are four
//! 32-bit words `[c0, c1, c2, c3]`; `c3` names the stream:
//!
//! | kernel | counter | word used by element `i` |
//! | --- | --- | --- |
//! | float uniform | `[lo(i/4), hi(i/4), 0, 0]` | word `i % 4` |
//! | integer uniform | `[lo(i/4), hi(i/4), 0, 3]` | word `i % 4` |
//! | normal | `[lo(i/4), hi(i/4), 0, 1]` | words (0,1) make the Box-Muller pair of lanes 0 (cos) and 1 (sin); words (2,3) of lanes 2 (cos) and 3 (sin) |
//! | truncated normal | `[lo(i/4), hi(i/4), 0, 2]` | word `i % 4`, through the inverse CDF below |
//!
//! Truncated normal draws by inversion, one word per element, with no rejection: the
//! word's top 24 bits `k` give `s = (2k + 1 - 2^24) / 2^24`, uniform and symmetric in
//! `(-1, 1)`; `x = s * E` with `E = erf(sqrt 2)` (f32 rounded down, `0x3f745a18`) is
//! uniform over the `erf` values of `(-2, 2)` standard deviations, and
//! `z = sqrt 2 * erfinv(x)`. The `erfinv` is evaluated as `z = x * P(y)` with
//! `t = (1 - x) * (1 + x)`, `y = -ln(t) - 1.25` ([`ln_f32`]) and `P` a degree-6
//! polynomial ([`truncated_unit`]; fitted for this range, in which `-ln t` stays below
//! 2.42, so one polynomial covers it). Relative error against `sqrt 2 * erfinv(x)`:
//! below 4e-7 (about 3 f32 ulp, measured over every `k`); `|z| < 2` and `z` is
//! non-decreasing in `k` for all 2^24 inputs (tested exhaustively), and `z(-s) = -z(s)`
//! exactly. A rejection sampler (the normal stream's value, redrawn when `|z| >= 2`;
//! varscope's first design) makes about one SIMD group in four run the redraw, which GPUs
//! and software rasterizers pay for every lane; inversion costs the same for every
//! element (1.2-1.45x a normal on lavapipe, where rejection cost 2.1-2.5x).
//!
//! Orthogonal initialization draws its flat `(rows, cols)` normal matrix from the normal
//! stream with `i` = the index in that flat matrix (see [`crate::reference`]).
//!
//! # Bits to values (all in f32, no fused multiply-add)
//!
//! - uniform `u = f32::from_bits((w >> 9) | 0x3f80_0000) - 1.0`, in `[0, 1 - 2^-23]`
//!   (23 random bits, exact); value `= low + range * u` with `low` and
//!   `range = high - low` rounded to f32 once on the host ([`uniform_params`]): one f32
//!   multiply, then one f32 add. Because `low + range * u` is rounded, the value can equal
//!   `high` in rare cases (as in TensorFlow).
//! - integer uniform: `low + (w % range)` in wrapping 32-bit arithmetic, `range =
//!   high - low` in `1..=2^32` (`range == 2^32` is passed as 0 and means "all words").
//! - Box-Muller: `u1 = f32((w0 >> 8) + 1) * 2^-24` in `(0, 1]` (exact);
//!   `r = sqrt(-2 * ln(u1))` with [`ln_f32`] (Cephes `logf`, + and * only);
//!   the angle `2 * pi * y` with `y = (w1 >> 8) / 2^24` is reduced exactly with integer
//!   arithmetic to a quadrant and `x = f32(r_int) * 2^-22 * (pi/2)`, then [`sincos_2pi`]
//!   evaluates the Cephes `sinf`/`cosf` polynomials (+ and * only);
//!   `z0 = r * cos`, `z1 = r * sin`; value `= mean + stddev * z` (multiply, then add).
//!   Only `sqrt` is a hardware function; it is correctly rounded on the host and on
//!   every adapter measured (see the shaders crate's `gpu_vs_host` test).
//!
//! Every operation above is one IEEE f32 operation rounded to nearest, in the written
//! order; the host never fuses (Rust does not contract `a * b + c`). The WGSL copy stops
//! drivers from fusing or reassociating with an opaque integer `fence` on every
//! intermediate (`shaders/fence.wgsl`), or, in the SPIR-V varscope writes for Vulkan, by
//! decorating every float operation NoContraction (see `shaders/philox.wgsl`). Measured: the normal family is bit-identical
//! to this module on Vulkan lavapipe and GL llvmpipe (0 ulp); runtime.md's documented
//! bound for other drivers (e.g. a `sqrt` that is not correctly rounded) is 2 ulp, and
//! the test asserts it.
//! - float16 / bfloat16 variables round the f32 value to nearest even; float64 widens
//!   the f32 value exactly.

use crate::variable::SeedInfo;

/// The graph seed used when the graph has none (TensorFlow's `DEFAULT_GRAPH_SEED`).
pub const DEFAULT_GRAPH_SEED: u64 = 87_654_321;

/// Truncation bound of truncated normal, in standard deviations (exclusive).
pub const TRUNCATION_BOUND: f32 = 2.0;

/// Counter word 3 of the float uniform stream.
pub const STREAM_UNIFORM: u32 = 0;
/// Counter word 3 of the normal stream.
pub const STREAM_NORMAL: u32 = 1;
/// Counter word 3 of the truncated normal stream (one word per element, like uniform).
pub const STREAM_TRUNCATED: u32 = 2;
/// Counter word 3 of the integer uniform stream.
pub const STREAM_UNIFORM_INT: u32 = 3;

const PHILOX_M0: u32 = 0xD251_1F53;
const PHILOX_M1: u32 = 0xCD9E_8D57;
const PHILOX_W0: u32 = 0x9E37_79B9;
const PHILOX_W1: u32 = 0xBB67_AE85;

#[inline(always)]
fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = u64::from(a) * u64::from(b);
    ((p >> 32) as u32, p as u32)
}

/// Philox4x32 with 10 rounds (Salmon et al., Random123): a bijection of the 128-bit
/// counter for each 64-bit key.
#[inline]
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(PHILOX_W0);
            k[1] = k[1].wrapping_add(PHILOX_W1);
        }
        let (hi0, lo0) = mulhilo(PHILOX_M0, c[0]);
        let (hi1, lo1) = mulhilo(PHILOX_M1, c[2]);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

/// 64-bit FNV-1a of `bytes` (offset basis 0xcbf29ce484222325, prime 0x100000001b3).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The SplitMix64 finalizer (a bijection of `u64`).
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The op seed actually used: the initializer's, or FNV-1a of the hashed name.
pub fn effective_op_seed(seed: &SeedInfo) -> u64 {
    seed.op_seed.unwrap_or_else(|| fnv1a64(seed.hash_name.as_bytes()))
}

/// The Philox key of a variable (module docs, "Key derivation").
pub fn philox_key(seed: &SeedInfo) -> [u32; 2] {
    key_from_seeds(seed.graph_seed.unwrap_or(DEFAULT_GRAPH_SEED), effective_op_seed(seed))
}

/// The Philox key from an effective graph seed and op seed.
pub fn key_from_seeds(graph_seed: u64, op_seed: u64) -> [u32; 2] {
    let k = mix64(mix64(graph_seed.wrapping_add(0x9E37_79B9_7F4A_7C15)) ^ op_seed);
    [k as u32, (k >> 32) as u32]
}

/// The counter of the Philox call that serves full index `index` in a "four per call"
/// stream (all of them: `STREAM_UNIFORM`, `STREAM_NORMAL`, `STREAM_TRUNCATED`,
/// `STREAM_UNIFORM_INT`).
#[inline]
pub fn block_counter(index: u64, stream: u32) -> [u32; 4] {
    let b = index >> 2;
    [b as u32, (b >> 32) as u32, 0, stream]
}

/// `[0, 1)` from the top 23 bits of a word, exactly: `[1, 2) - 1`.
#[inline]
pub fn uniform_unit_f32(w: u32) -> f32 {
    f32::from_bits((w >> 9) | 0x3f80_0000) - 1.0
}

/// `low` and `range = high - low` as the f32 parameters of the uniform kernel.
pub fn uniform_params(low: f64, high: f64) -> (f32, f32) {
    (low as f32, (high - low) as f32)
}

/// `low + range * u` in f32: one multiply, one add (never fused).
#[inline]
pub fn affine_f32(low: f32, scale: f32, u: f32) -> f32 {
    let t = scale * u;
    low + t
}

// Polynomial coefficients, given by their bits so the WGSL copy (shaders/philox.wgsl)
// is the same f32 value without relying on decimal parsing.
/// Cephes `logf` polynomial, highest degree first.
const LN_P: [f32; 9] = [
    f32::from_bits(0x3d90_21bb), // 7.0376836e-2
    f32::from_bits(0xbdeb_d1b8), // -1.1514610e-1
    f32::from_bits(0x3def_251b), // 1.1676999e-1
    f32::from_bits(0xbdfe_5d4f), // -1.2420141e-1
    f32::from_bits(0x3e11_e9bf), // 1.4249323e-1
    f32::from_bits(0xbe2a_ae50), // -1.6668057e-1
    f32::from_bits(0x3e4c_ceac), // 2.0000714e-1
    f32::from_bits(0xbe7f_fffc), // -2.4999994e-1
    f32::from_bits(0x3eaa_aaaa), // 3.3333331e-1
];
const LN2_LO: f32 = f32::from_bits(0xb95e_8083); // -2.1219444e-4
const LN2_HI: f32 = f32::from_bits(0x3f31_8000); // 0.693359375
const SQRT_HALF: f32 = f32::from_bits(0x3f35_04f3);
/// Cephes `sinf` polynomial, highest degree first.
const SIN_P: [f32; 3] = [f32::from_bits(0xb94c_a1f9), f32::from_bits(0x3c08_839e), f32::from_bits(0xbe2a_aaa3)];
/// Cephes `cosf` polynomial, highest degree first.
const COS_P: [f32; 3] = [f32::from_bits(0x37cc_f5ce), f32::from_bits(0xbab6_061a), f32::from_bits(0x3d2a_aaa5)];
const FRAC_PI_2_F32: f32 = f32::from_bits(0x3fc9_0fdb);
const TWO_POW_M22: f32 = f32::from_bits(0x3480_0000);
const TWO_POW_M24: f32 = f32::from_bits(0x3380_0000);

/// Natural logarithm for positive normal f32 (Cephes `logf`, + and * only, about 1 ulp).
/// Not defined for zero, subnormals, negatives, infinities or NaN (the kernels only
/// call it on `(0, 1]` at or above `2^-24`).
#[inline]
pub fn ln_f32(x: f32) -> f32 {
    let bits = x.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - 126;
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000);
    if m < SQRT_HALF {
        e -= 1;
        m = m + m - 1.0;
    } else {
        m -= 1.0;
    }
    let z = m * m;
    let mut p = LN_P[0];
    for &c in &LN_P[1..] {
        p = p * m + c;
    }
    let mut y = p * m * z;
    let fe = e as f32;
    y += fe * LN2_LO;
    y -= 0.5 * z;
    let r = m + y;
    r + fe * LN2_HI
}

/// `erf(sqrt 2)`, rounded down to f32: `x = s * E` stays inside `(-erf(sqrt 2), erf(sqrt 2))`.
const TRUNCATED_ERF_BOUND: f32 = f32::from_bits(0x3f74_5a18);
/// The centre subtracted from `-ln t` before the polynomial ([`truncated_unit`]).
const TRUNCATED_CENTER: f32 = 1.25;
/// `sqrt 2 * erfinv(x) / x` as a polynomial in `y = -ln(1 - x^2) - 1.25`, highest degree
/// first (a weighted least-squares fit of relative error over `-ln(1 - x^2)` in
/// `[0, 2.42]`, rounded to f32; `scripts/fit_truncated_normal.py` derives and checks it).
const TRUNCATED_P: [f32; 7] = [
    f32::from_bits(0xb6d5_6739), // -6.3599114e-6
    f32::from_bits(0x3834_3e22), // 4.2973210e-5
    f32::from_bits(0x3953_e4eb), // 2.0207807e-4
    f32::from_bits(0xbb50_d5b6), // -3.1865663e-3
    f32::from_bits(0x3b68_d047), // 3.5524534e-3
    f32::from_bits(0x3eb4_abe4), // 0.35287392
    f32::from_bits(0x3fd7_556a), // 1.6822941
];

/// `(cos(2 pi y), sin(2 pi y))` for `y = m / 2^24`, `m` the top 24 bits of `w`:
/// exact integer quadrant reduction, then the Cephes `cosf`/`sinf` polynomials.
#[inline]
pub fn sincos_2pi(w: u32) -> (f32, f32) {
    let m = w >> 8;
    let q = (m + 0x0020_0000) >> 22; // nearest quadrant, 0..=4
    let r_int = m as i32 - (q << 22) as i32; // in [-2^21, 2^21)
    let x = (r_int as f32 * TWO_POW_M22) * FRAC_PI_2_F32;
    let z = x * x;
    let mut s = SIN_P[0] * z + SIN_P[1];
    s = s * z + SIN_P[2];
    s = s * z * x + x;
    let mut c = COS_P[0] * z + COS_P[1];
    c = c * z + COS_P[2];
    c = c * z * z;
    c -= 0.5 * z;
    c += 1.0;
    match q & 3 {
        0 => (c, s),
        1 => (-s, c),
        2 => (-c, -s),
        _ => (s, -c),
    }
}

/// One Box-Muller pair `(r cos, r sin)` from two words.
#[inline]
pub fn box_muller(w0: u32, w1: u32) -> (f32, f32) {
    let u1 = ((w0 >> 8) + 1) as f32 * TWO_POW_M24;
    let r = (-2.0 * ln_f32(u1)).sqrt();
    let (c, s) = sincos_2pi(w1);
    (r * c, r * s)
}

/// The four standard normals of one Philox output.
#[inline]
pub fn normals4(w: [u32; 4]) -> [f32; 4] {
    let (a, b) = box_muller(w[0], w[1]);
    let (c, d) = box_muller(w[2], w[3]);
    [a, b, c, d]
}

/// The standard truncated normal of one word (module docs): `sqrt 2 * erfinv(x)` for
/// `x = s * erf(sqrt 2)`, `s = (2 (w >> 8) + 1 - 2^24) / 2^24`; always in `(-2, 2)`.
#[inline]
pub fn truncated_unit(w: u32) -> f32 {
    // |2k + 1 - 2^24| < 2^24: exact in f32, and so is the scaling by 2^-24.
    let s = (2 * (w >> 8) as i32 - 0x00ff_ffff) as f32 * TWO_POW_M24;
    let x = s * TRUNCATED_ERF_BOUND;
    let t = (1.0 - x) * (1.0 + x);
    let y = -ln_f32(t) - TRUNCATED_CENTER;
    let mut p = TRUNCATED_P[0];
    for &c in &TRUNCATED_P[1..] {
        p = p * y + c;
    }
    p * x
}

/// The standard truncated normal of full index `index` (module docs).
pub fn truncated_standard(key: [u32; 2], index: u64) -> f32 {
    truncated_unit(philox4x32_10(block_counter(index, STREAM_TRUNCATED), key)[(index & 3) as usize])
}

/// Integer uniform: `low + (w % range)` wrapping, `range == 0` meaning `2^32`.
#[inline]
pub fn uniform_int_bits(low: u32, range: u32, w: u32) -> u32 {
    if range == 0 {
        low.wrapping_add(w)
    } else {
        low.wrapping_add(w % range)
    }
}

/// Which random distribution a [`RandomStream`] draws.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RandomKind {
    /// `low + range * u`.
    Uniform {
        /// f32 lower bound.
        low: f32,
        /// f32 `high - low`.
        range: f32,
    },
    /// `low + w % range` on 32-bit words (`range == 0`: `2^32`).
    UniformInt {
        /// Lower bound as the 32-bit pattern.
        low: u32,
        /// `high - low` (0 means 2^32).
        range: u32,
    },
    /// `mean + stddev * z`.
    Normal {
        /// f32 mean.
        mean: f32,
        /// f32 standard deviation.
        stddev: f32,
    },
    /// `mean + stddev * z`, `|z| < 2`.
    TruncatedNormal {
        /// f32 mean.
        mean: f32,
        /// f32 standard deviation.
        stddev: f32,
    },
}

/// Draws the value of any full index, caching the last Philox block so consecutive
/// indices cost one Philox call per four elements.
#[derive(Clone, Debug)]
pub struct RandomStream {
    key: [u32; 2],
    kind: RandomKind,
    block: u64,
    words: [u32; 4],
    normals: [f32; 4],
    valid: bool,
}

impl RandomStream {
    /// A stream of `kind` under `key`.
    pub fn new(key: [u32; 2], kind: RandomKind) -> Self {
        RandomStream { key, kind, block: 0, words: [0; 4], normals: [0.0; 4], valid: false }
    }

    fn load(&mut self, index: u64, stream: u32) {
        let b = index >> 2;
        if !self.valid || self.block != b {
            self.words = philox4x32_10(block_counter(index, stream), self.key);
            if stream == STREAM_NORMAL {
                self.normals = normals4(self.words);
            }
            self.block = b;
            self.valid = true;
        }
    }

    /// The f32 value at full index `index` (`UniformInt`: the word's bits as f32 bits;
    /// use [`RandomStream::bits`] for integers).
    pub fn f32_at(&mut self, index: u64) -> f32 {
        match self.kind {
            RandomKind::Uniform { low, range } => {
                self.load(index, STREAM_UNIFORM);
                affine_f32(low, range, uniform_unit_f32(self.words[(index & 3) as usize]))
            }
            RandomKind::Normal { mean, stddev } => {
                self.load(index, STREAM_NORMAL);
                affine_f32(mean, stddev, self.normals[(index & 3) as usize])
            }
            RandomKind::TruncatedNormal { mean, stddev } => {
                self.load(index, STREAM_TRUNCATED);
                affine_f32(mean, stddev, truncated_unit(self.words[(index & 3) as usize]))
            }
            RandomKind::UniformInt { .. } => f32::from_bits(self.bits(index)),
        }
    }

    /// The 32-bit result at `index`: for `UniformInt` the integer, otherwise the f32 bits.
    pub fn bits(&mut self, index: u64) -> u32 {
        match self.kind {
            RandomKind::UniformInt { low, range } => {
                self.load(index, STREAM_UNIFORM_INT);
                uniform_int_bits(low, range, self.words[(index & 3) as usize])
            }
            _ => self.f32_at(index).to_bits(),
        }
    }
}

/// The standard normal of the normal stream at `index` (used by orthogonal init).
pub fn standard_normal_at(key: [u32; 2], index: u64) -> f32 {
    normals4(philox4x32_10(block_counter(index, STREAM_NORMAL), key))[(index & 3) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn philox_known_answers() {
        // Random123 kat_vectors, philox4x32 with 10 rounds.
        let cases: [([u32; 4], [u32; 2], [u32; 4]); 3] = [
            ([0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]),
            ([0xffffffff; 4], [0xffffffff; 2], [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]),
            (
                [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
                [0xa4093822, 0x299f31d0],
                [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
            ),
        ];
        for (ctr, key, want) in cases {
            assert_eq!(philox4x32_10(ctr, key), want, "counter {ctr:08x?} key {key:08x?}");
        }
    }

    #[test]
    fn fnv_known_answers() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn key_uses_name_only_without_op_seed() {
        let s = |g, o, n: &str| SeedInfo { graph_seed: g, op_seed: o, hash_name: n.into() };
        assert_eq!(philox_key(&s(None, None, "foo/v")), philox_key(&s(Some(DEFAULT_GRAPH_SEED), None, "foo/v")));
        assert_ne!(philox_key(&s(None, None, "foo/v")), philox_key(&s(None, None, "foo/w")));
        assert_eq!(philox_key(&s(Some(1), Some(7), "a")), philox_key(&s(Some(1), Some(7), "b")));
        assert_ne!(philox_key(&s(Some(1), Some(7), "a")), philox_key(&s(Some(2), Some(7), "a")));
        assert_eq!(philox_key(&s(Some(3), None, "x")), key_from_seeds(3, fnv1a64(b"x")));
    }

    #[test]
    fn ln_and_sincos_are_accurate() {
        let mut max_ln = 0f64;
        for m in (0u32..(1 << 24)).step_by(997).chain([(1 << 24) - 1]) {
            let u = (m + 1) as f32 * TWO_POW_M24;
            let err = (ln_f32(u) as f64 - (u as f64).ln()).abs();
            max_ln = max_ln.max(err / (u as f64).ln().abs().max(1e-30));
        }
        assert!(max_ln < 1e-6, "ln relative error {max_ln}");
        let mut max_sc = 0f64;
        for m in (0u32..(1 << 24)).step_by(1009) {
            let (c, s) = sincos_2pi(m << 8);
            let t = m as f64 / 16_777_216.0 * std::f64::consts::TAU;
            max_sc = max_sc.max((c as f64 - t.cos()).abs()).max((s as f64 - t.sin()).abs());
        }
        assert!(max_sc < 3e-7, "sincos abs error {max_sc}");
    }

    #[test]
    fn truncated_unit_matches_erfinv() {
        // (top 24 bits k, sqrt 2 * erfinv(x) for the f32 x = s * E of k, to 16 digits
        // with mpmath at 40 digits).
        let cases: [(u32, f64); 13] = [
            (0x0, -1.9999993130227094),
            (0x1, -1.9999982090510464),
            (0x3e8, -1.998946679527407),
            (0x100000, -1.389065599306573),
            (0x600000, -0.3036754947393347),
            (0x7fffff, -7.130432099423547e-08),
            (0x800000, 7.130432099423547e-08),
            (0x803039, 0.0017605759074183613),
            (0xa00000, 0.3036756511963741),
            (0xe00000, 1.0710984852321639),
            (0xfffc18, 1.9989477811803997),
            (0xfffffe, 1.9999982090510464),
            (0xffffff, 1.9999993130227094),
        ];
        for (k, want) in cases {
            // The low 8 bits of the word are not used.
            for low in [0, 0xff] {
                let z = f64::from(truncated_unit((k << 8) | low));
                assert!(((z - want) / want).abs() < 4e-7, "k {k:#x}: {z} vs {want}");
            }
        }
    }

    #[test]
    fn truncated_unit_is_bounded_monotone_and_odd_for_every_input() {
        let mut prev = f32::NEG_INFINITY;
        for k in 0u32..(1 << 24) {
            let z = truncated_unit(k << 8);
            assert!(z.abs() < TRUNCATION_BOUND, "k {k:#x}: {z}");
            assert!(z >= prev, "k {k:#x}: {z} after {prev}");
            assert_eq!(z, -truncated_unit(((1 << 24) - 1 - k) << 8), "k {k:#x}");
            prev = z;
        }
    }

    #[test]
    fn uniform_unit_range() {
        assert_eq!(uniform_unit_f32(0), 0.0);
        assert_eq!(uniform_unit_f32(u32::MAX), 1.0 - f32::EPSILON);
        assert_eq!(uniform_int_bits(5, 0, 7), 12);
        assert_eq!(uniform_int_bits((-3i32) as u32, 4, 6), (-1i32) as u32);
    }

    fn stats(v: &[f64]) -> (f64, f64) {
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
        (mean, var.sqrt())
    }

    #[test]
    fn distributions_have_expected_moments() {
        let n = 200_000u64;
        let key = key_from_seeds(1, 2);
        let mut s = RandomStream::new(key, RandomKind::Uniform { low: -1.0, range: 3.0 });
        let v: Vec<f64> = (0..n).map(|i| s.f32_at(i) as f64).collect();
        let (m, sd) = stats(&v);
        assert!((m - 0.5).abs() < 0.01 && (sd - 3.0 / 12f64.sqrt()).abs() < 0.01, "uniform {m} {sd}");
        assert!(v.iter().all(|&x| (-1.0..=2.0).contains(&x)));

        let mut s = RandomStream::new(key, RandomKind::Normal { mean: 1.0, stddev: 2.0 });
        let v: Vec<f64> = (0..n).map(|i| s.f32_at(i) as f64).collect();
        let (m, sd) = stats(&v);
        assert!((m - 1.0).abs() < 0.02 && (sd - 2.0).abs() < 0.02, "normal {m} {sd}");

        let mut s = RandomStream::new(key, RandomKind::TruncatedNormal { mean: 0.0, stddev: 1.0 });
        let v: Vec<f64> = (0..n).map(|i| s.f32_at(i) as f64).collect();
        let (m, sd) = stats(&v);
        assert!(v.iter().all(|x| x.abs() < 2.0), "truncation bound");
        let want = crate::init::TRUNCATED_NORMAL_STD_CORRECTION;
        assert!(m.abs() < 0.01 && (sd - want).abs() < 0.01, "truncated {m} {sd}");
        // The share inside one stddev: (Phi(1) - Phi(-1)) / (Phi(2) - Phi(-2)).
        let inside = v.iter().filter(|x| x.abs() < 1.0).count() as f64 / n as f64;
        assert!((inside - 0.715_24).abs() < 0.005, "truncated share inside 1 stddev {inside}");
        assert_eq!(v[7] as f32, truncated_standard(key, 7));
    }

    #[test]
    fn streams_are_deterministic_and_random_access() {
        let key = key_from_seeds(42, 7);
        for kind in [
            RandomKind::Uniform { low: 0.0, range: 1.0 },
            RandomKind::Normal { mean: 0.0, stddev: 1.0 },
            RandomKind::TruncatedNormal { mean: 0.0, stddev: 1.0 },
            RandomKind::UniformInt { low: 0, range: 10 },
        ] {
            let mut a = RandomStream::new(key, kind);
            let mut b = RandomStream::new(key, kind);
            let fwd: Vec<u32> = (0..103).map(|i| a.bits(i)).collect();
            let back: Vec<u32> = (0..103).rev().map(|i| b.bits(i)).collect();
            assert!(fwd.iter().eq(back.iter().rev()), "{kind:?}");
        }
        assert_eq!(
            standard_normal_at(key, 5),
            RandomStream::new(key, RandomKind::Normal { mean: 0.0, stddev: 1.0 }).f32_at(5)
        );
    }
}
