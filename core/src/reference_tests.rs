//! Unit tests of `reference`.

use super::*;
use crate::partition::iter_slices;
use crate::random::key_from_seeds;
use crate::Initializer;

const KEY: [u32; 2] = [0x1234_5678, 0x9abc_def0];

fn gen(kernel: &InitKernel, dtype: DType, own: &[u64], full: &[u64], offset: &[u64]) -> Vec<u8> {
    let map = IndexMap::new(own, full, offset).expect("single-axis slice");
    let n = own.iter().product();
    kernel_bytes("v", kernel, dtype, own, &map, KEY, None, 0, n).expect("values")
}

fn whole(kernel: &InitKernel, dtype: DType, shape: &[u64]) -> Vec<u8> {
    gen(kernel, dtype, shape, shape, &vec![0; shape.len()])
}

fn random_kernels() -> Vec<(InitKernel, DType)> {
    vec![
        (InitKernel::Uniform { low: -0.5, high: 2.0 }, DType::Float32),
        (InitKernel::Uniform { low: -0.5, high: 2.0 }, DType::BFloat16),
        (InitKernel::Normal { mean: 1.0, stddev: 0.5 }, DType::Float32),
        (InitKernel::Normal { mean: 1.0, stddev: 0.5 }, DType::Float16),
        (InitKernel::TruncatedNormal { mean: 0.0, stddev: 2.0 }, DType::Float32),
        (InitKernel::TruncatedNormal { mean: 0.0, stddev: 2.0 }, DType::Float64),
        (InitKernel::Uniform { low: -7.0, high: 100.0 }, DType::Int32),
        (InitKernel::Uniform { low: 3.0, high: 9.0 }, DType::UInt32),
        (InitKernel::Uniform { low: -5.0, high: 5.0 }, DType::Int64),
    ]
}

/// Shards along axis 0 and 1 of a 3-D variable, concatenated, equal the whole.
#[test]
fn shards_concatenate_to_the_unpartitioned_variable() {
    let full = [7u64, 5, 3];
    for (kernel, dtype) in random_kernels() {
        let want = whole(&kernel, dtype, &full);
        let esz = dtype.size_bytes();
        for (axis, parts) in [(0usize, 3u64), (1, 2), (2, 3), (0, 7)] {
            let mut got = vec![0u8; want.len()];
            for (offset, shape) in iter_slices(&full, parts, axis) {
                let bytes = gen(&kernel, dtype, &shape, &full, &offset);
                // Scatter the shard back into the full layout.
                let inner: u64 = full[axis + 1..].iter().product();
                let outer: u64 = full[..axis].iter().product();
                let own_block = shape[axis] * inner;
                for o in 0..outer {
                    let dst = (o * full[axis] * inner + offset[axis] * inner) as usize * esz;
                    let src = (o * own_block) as usize * esz;
                    let len = own_block as usize * esz;
                    got[dst..dst + len].copy_from_slice(&bytes[src..src + len]);
                }
            }
            assert_eq!(got, want, "{kernel:?} {dtype} axis {axis} parts {parts}");
        }
    }
}

#[test]
fn ranges_are_slices_of_the_whole() {
    let shape = [11u64, 13];
    let map = IndexMap::identity(143);
    for (kernel, dtype) in random_kernels() {
        let all = whole(&kernel, dtype, &shape);
        let esz = dtype.size_bytes();
        let part = kernel_bytes("v", &kernel, dtype, &shape, &map, KEY, None, 37, 50).unwrap();
        assert_eq!(part, all[37 * esz..87 * esz], "{kernel:?}");
    }
    let e = kernel_bytes("v", &InitKernel::Fill(0.0), DType::Float32, &shape, &map, KEY, None, 140, 4);
    assert!(matches!(e, Err(ReferenceError::Range { .. })));
}

#[test]
fn same_key_same_bits_other_key_other_bits() {
    let k = InitKernel::Normal { mean: 0.0, stddev: 1.0 };
    let map = IndexMap::identity(64);
    let a = kernel_bytes("a", &k, DType::Float32, &[64], &map, key_from_seeds(1, 2), None, 0, 64).unwrap();
    let b = kernel_bytes("b", &k, DType::Float32, &[64], &map, key_from_seeds(1, 2), None, 0, 64).unwrap();
    let c = kernel_bytes("c", &k, DType::Float32, &[64], &map, key_from_seeds(1, 3), None, 0, 64).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn glorot_uniform_stays_within_the_fan_limit() {
    let shape = [60u64, 100];
    let kernel = Initializer::glorot_uniform().resolve(&shape);
    let v = decode_f64(DType::Float32, &whole(&kernel, DType::Float32, &shape));
    let limit = (6.0f64 / 160.0).sqrt();
    assert!(v.iter().all(|x| x.abs() <= limit * (1.0 + 1e-6)));
    let max = v.iter().fold(0f64, |a, &b| a.max(b.abs()));
    assert!(max > 0.99 * limit, "values should fill the range: {max} vs {limit}");
    let kernel = Initializer::he_normal().resolve(&shape);
    let v = decode_f64(DType::Float32, &whole(&kernel, DType::Float32, &shape));
    let stddev = (2.0f64 / 60.0).sqrt() / crate::init::TRUNCATED_NORMAL_STD_CORRECTION;
    assert!(v.iter().all(|x| x.abs() < 2.0 * stddev * (1.0 + 1e-6)));
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let sd = (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / v.len() as f64).sqrt();
    assert!((sd / (2.0f64 / 60.0).sqrt() - 1.0).abs() < 0.05, "he_normal std {sd}");
}

#[test]
fn half_types_round_the_f32_value_to_nearest_even() {
    let k = InitKernel::Normal { mean: 0.0, stddev: 3.0 };
    let f = decode_f64(DType::Float32, &whole(&k, DType::Float32, &[257]));
    let h = whole(&k, DType::Float16, &[257]);
    let b = whole(&k, DType::BFloat16, &[257]);
    for (i, &x) in f.iter().enumerate() {
        assert_eq!(h[2 * i..2 * i + 2], f16::from_f32(x as f32).to_le_bytes());
        assert_eq!(b[2 * i..2 * i + 2], bf16::from_f32(x as f32).to_le_bytes());
    }
}

#[test]
fn constant_list_fills_and_pads_the_own_shape() {
    let k = InitKernel::Values(vec![1.0, 2.0, 3.0]);
    assert_eq!(decode_f64(DType::Int32, &whole(&k, DType::Int32, &[2, 3])), vec![1., 2., 3., 3., 3., 3.]);
    assert_eq!(whole(&k, DType::Bool, &[4]), vec![1, 1, 1, 1]);
    let map = IndexMap::identity(2);
    let e = kernel_bytes("foo/v", &k, DType::Float32, &[2], &map, KEY, None, 0, 2).unwrap_err();
    assert_eq!(e.to_string(), "Too many elements provided. Takes at most 2, but got 3.");
}

#[test]
fn identity_is_two_dimensional_only() {
    let k = InitKernel::Identity { gain: 2.0 };
    assert_eq!(decode_f64(DType::Float32, &whole(&k, DType::Float32, &[2, 3])), vec![2., 0., 0., 0., 2., 0.]);
    let map = IndexMap::identity(8);
    let e = kernel_bytes("v", &k, DType::Float32, &[2, 2, 2], &map, KEY, None, 0, 8).unwrap_err();
    assert!(matches!(e, ReferenceError::IdentityNot2D { .. }));
}

#[test]
fn orthogonal_is_orthonormal_times_gain() {
    for shape in [[6u64, 4], [4, 6], [5, 5]] {
        let gain = 1.5;
        let v = orthogonal(&shape, gain, KEY);
        let (r, c) = (shape[0] as usize, shape[1] as usize);
        // The smaller Gram matrix is gain^2 * I.
        let small = r.min(c);
        for a in 0..small {
            for b in 0..small {
                let dot: f64 = if r >= c {
                    (0..r).map(|i| v[i * c + a] * v[i * c + b]).sum()
                } else {
                    (0..c).map(|j| v[a * c + j] * v[b * c + j]).sum()
                };
                let want = if a == b { gain * gain } else { 0.0 };
                assert!((dot - want).abs() < 1e-9, "{shape:?} ({a},{b}) {dot}");
            }
        }
    }
    let map = IndexMap::identity(4);
    let e = kernel_bytes("v", &InitKernel::Orthogonal { gain: 1.0 }, DType::Float32, &[4], &map, KEY, None, 0, 4);
    assert!(matches!(e, Err(ReferenceError::OrthogonalRank { .. })));
}

#[test]
fn integer_uniform_bounds() {
    let v = decode_f64(DType::Int32, &whole(&InitKernel::Uniform { low: -3.0, high: 4.0 }, DType::Int32, &[1000]));
    assert!(v.iter().all(|&x| (-3.0..4.0).contains(&x)));
    assert!(v.contains(&-3.0) && v.contains(&3.0));
    let map = IndexMap::identity(4);
    let e = kernel_bytes("v", &InitKernel::Uniform { low: 2.0, high: 2.0 }, DType::Int32, &[4], &map, KEY, None, 0, 4);
    assert!(matches!(e, Err(ReferenceError::IntUniformBounds { .. })));
    let e =
        kernel_bytes("v", &InitKernel::Normal { mean: 0.0, stddev: 1.0 }, DType::Int32, &[4], &map, KEY, None, 0, 4);
    assert!(matches!(e, Err(ReferenceError::KernelDType { .. })));
    let e = kernel_bytes("v", &InitKernel::Fill(0.0), DType::String, &[4], &map, KEY, None, 0, 4);
    assert!(matches!(e, Err(ReferenceError::UnsupportedDType { .. })));
}

#[test]
fn element_plans_of_elementwise_kernels() {
    let map = IndexMap::new(&[3, 4], &[10, 4], &[6, 0]).unwrap();
    assert_eq!(map, IndexMap { own_block: 12, full_block: 40, base: 24 });
    let p = element_plan_for("v", &InitKernel::Uniform { low: -1.0, high: 1.0 }, DType::Float16, &[3, 4], &map, KEY)
        .unwrap()
        .unwrap();
    assert_eq!(p.kernel, ElementKernel::Random(RandomKind::Uniform { low: -1.0, range: 2.0 }));
    assert_eq!((p.dtype, p.elements, p.map, p.key), (DType::Float16, 12, map, KEY));
    let p = element_plan_for("v", &InitKernel::Fill(1.0), DType::BFloat16, &[3, 4], &map, KEY).unwrap().unwrap();
    assert_eq!((p.kernel, p.key), (ElementKernel::Fill(1.0), [0, 0]));
    let p = element_plan_for("v", &InitKernel::Identity { gain: 2.0 }, DType::Float32, &[3, 4], &map, KEY);
    assert_eq!(p.unwrap().unwrap().kernel, ElementKernel::Identity { gain: 2.0, cols: 4 });
    assert!(element_plan_for("v", &InitKernel::Values(vec![1.0, 2.0]), DType::Float32, &[3, 4], &map, KEY)
        .unwrap()
        .is_none());
    // Every dtype with a host layout has a plan; which ones a device computes is the
    // device's business.
    assert!(element_plan_for("v", &InitKernel::Fill(1.0), DType::Float64, &[3, 4], &map, KEY).unwrap().is_some());
    assert!(matches!(
        element_plan_for("v", &InitKernel::Normal { mean: 0.0, stddev: 1.0 }, DType::Int32, &[3, 4], &map, KEY),
        Err(ReferenceError::KernelDType { .. })
    ));
}

#[test]
fn index_map_rejects_multi_axis_slices() {
    assert!(IndexMap::new(&[2, 2], &[4, 4], &[0, 0]).is_none());
    assert!(IndexMap::new(&[2, 4], &[4, 4], &[3, 0]).is_none());
    assert_eq!(IndexMap::new(&[], &[], &[]), Some(IndexMap::identity(1)));
}

#[test]
fn constants_convert_to_the_variable_dtype() {
    let t = HostTensor::int(DType::Int32, &[3], vec![1, -2, 3]).unwrap();
    assert_eq!(decode_f64(DType::Float16, &tensor_bytes("v", &t, DType::Float16, 3, 0, 3).unwrap()), vec![1., -2., 3.]);
    assert!(matches!(tensor_bytes("v", &t, DType::Float32, 4, 0, 4), Err(ReferenceError::ValueSize { .. })));
}
