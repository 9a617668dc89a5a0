//! int8, uint8, int16 and uint16 variables on every device: packed on GPUs like the
//! 16-bit floats (four or two per 32-bit word), initialized, read and assigned.

mod common;

use common::*;
use varscope_core::{DType, Graph, HostTensor, Initializer};
use varscope_gpu::layout::{device_bytes, device_to_host, host_to_device};
use varscope_gpu::{HostValues, Session};

const DTYPES: [(DType, i64, i64); 4] =
    [(DType::Int8, -128, 127), (DType::UInt8, 0, 255), (DType::Int16, -32768, 32767), (DType::UInt16, 0, 65535)];

#[test]
fn small_ints_pack_into_words() {
    assert_eq!(device_bytes(DType::Int8, 5), Some(8));
    assert_eq!(device_bytes(DType::UInt8, 4), Some(4));
    assert_eq!(device_bytes(DType::Int16, 3), Some(8));
    assert_eq!(device_bytes(DType::UInt16, 2), Some(4));
    let h = vec![1u8, 2, 3, 4, 5];
    let d = host_to_device(DType::UInt8, &h);
    assert_eq!(d, vec![1, 2, 3, 4, 5, 0, 0, 0]);
    assert_eq!(device_to_host(DType::UInt8, 5, &d), h);
    let h = vec![1u8, 2, 3, 4, 5, 6];
    let d = host_to_device(DType::Int16, &h);
    assert_eq!(d.len(), 8);
    assert_eq!(device_to_host(DType::Int16, 3, &d), h);
}

#[test]
fn host_values_of_small_ints() {
    for (d, lo, hi) in DTYPES {
        let v = HostValues::from_f64_as(d, &[3], &[lo as f64, 0.0, hi as f64]).unwrap();
        assert_eq!(v.bytes().len(), 3 * d.size_bytes(), "{d}");
        assert_eq!(v.to_i64_vec(), vec![lo, 0, hi], "{d}");
        assert_eq!(v.to_f64_vec(), vec![lo as f64, 0.0, hi as f64], "{d}");
    }
    assert_eq!(HostValues::from_i8(&[2], &[-1, 7]).unwrap().to_i64_vec(), vec![-1, 7]);
    assert_eq!(HostValues::from_u8(&[2], &[255, 7]).unwrap().to_i64_vec(), vec![255, 7]);
    assert_eq!(HostValues::from_i16(&[2], &[-300, 7]).unwrap().to_i64_vec(), vec![-300, 7]);
    assert_eq!(HostValues::from_u16(&[2], &[65535, 7]).unwrap().to_i64_vec(), vec![65535, 7]);
}

#[test]
fn small_int_variables_initialize_read_and_assign_on_every_device() {
    for_each_target("small_int_variables_initialize_read_and_assign_on_every_device", targets(), |t| {
        let g = Graph::new();
        let mut vars = Vec::new();
        for (d, lo, hi) in DTYPES {
            let n = d.name();
            // Odd lengths, so the last word is partly padding.
            let z = var(g
                .get_variable(&format!("z_{n}"))
                .shape([5])
                .dtype(d)
                .caching_device(t.device.as_str())
                .get()
                .unwrap());
            let o = var(g
                .get_variable(&format!("o_{n}"))
                .shape([3])
                .dtype(d)
                .initializer(Initializer::ones())
                .caching_device(t.device.as_str())
                .get()
                .unwrap());
            let c = var(g
                .get_variable(&format!("c_{n}"))
                .initializer(HostTensor::int(d, &[3], vec![lo, 1, hi]).unwrap())
                .caching_device(t.device.as_str())
                .get()
                .unwrap());
            vars.push((d, lo, hi, z, o, c));
        }
        let s = Session::with_options(&g, opts()).unwrap();
        s.global_variables_initializer().unwrap_or_else(|e| panic!("[{}] init: {e}", t.label));
        for (d, lo, hi, z, o, c) in &vars {
            let read = |v| s.read(v).unwrap_or_else(|e| panic!("[{}] read {d}: {e}", t.label));
            assert_eq!(read(z).to_i64_vec(), vec![0; 5], "[{}] {d} zeros", t.label);
            assert_eq!(read(o).to_i64_vec(), vec![1; 3], "[{}] {d} ones", t.label);
            assert_eq!(read(c).to_i64_vec(), vec![*lo, 1, *hi], "[{}] {d} constant", t.label);
            assert_eq!(read(c).dtype(), *d);
            // Assign and read back: neighbours in a packed word are untouched by padding.
            let vals = HostValues::from_f64_as(*d, &[5], &[*lo as f64, 2.0, 3.0, 4.0, *hi as f64]).unwrap();
            s.assign(z, &vals).unwrap_or_else(|e| panic!("[{}] assign {d}: {e}", t.label));
            assert_eq!(read(z).to_i64_vec(), vec![*lo, 2, 3, 4, *hi], "[{}] {d} assign", t.label);
        }
    });
}

#[test]
fn small_int_variables_survive_a_checkpoint_on_every_device() {
    for_each_target("small_int_variables_survive_a_checkpoint_on_every_device", targets(), |t| {
        let dir = std::env::temp_dir().join(format!(
            "varscope-small-int-ckpt-{}-{}",
            std::process::id(),
            t.device.replace(['/', ':'], "_")
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("small.safetensors");
        let build = |g: &Graph| -> Vec<varscope_core::Variable> {
            DTYPES
                .iter()
                .map(|(d, _, _)| {
                    var(g
                        .get_variable(&format!("v_{}", d.name()))
                        .shape([5])
                        .dtype(*d)
                        .caching_device(t.device.as_str())
                        .get()
                        .unwrap())
                })
                .collect()
        };
        let g = Graph::new();
        let vars = build(&g);
        let s = Session::with_options(&g, opts()).unwrap();
        for ((d, lo, hi), v) in DTYPES.iter().zip(&vars) {
            let vals = HostValues::from_f64_as(*d, &[5], &[*lo as f64, -1.0f64.max(*lo as f64), 0.0, 1.0, *hi as f64])
                .unwrap();
            s.assign(v, &vals).unwrap();
        }
        s.save(&path).unwrap_or_else(|e| panic!("{}: save: {e}", t.label));
        let g2 = Graph::new();
        let vars2 = build(&g2);
        let s2 = Session::with_options(&g2, opts()).unwrap();
        s2.restore(&path).unwrap_or_else(|e| panic!("{}: restore: {e}", t.label));
        for (a, b) in vars.iter().zip(&vars2) {
            assert_eq!(s.read(a).unwrap().bytes(), s2.read(b).unwrap().bytes(), "{}: {}", t.label, a.key());
        }
        let _ = std::fs::remove_dir_all(&dir);
    });
}
