//! Every tensor of the TensorFlow-made fixtures (scripts/make_tf_fixtures.py) reads back
//! bit-exactly, whole and by region.

mod common;

use common::{fixture, json, records, Dumped};
use varscope_format::tf::{BundleReader, Layout, TfDtype, TfError};

/// Opens a fixture directory (through its `checkpoint` state file) and checks every dumped
/// tensor against the reader, and that the checkpoint holds no other (non-string) tensor.
fn check_fixture(dir: &str) -> BundleReader {
    let reader = BundleReader::open(fixture(dir)).unwrap_or_else(|e| panic!("{dir}: {e}"));
    let expected = records(&json(dir, "expected.json"));
    assert!(!expected.is_empty(), "{dir}: empty dump");
    for (name, want) in &expected {
        let got = reader.read(name).unwrap_or_else(|e| panic!("{dir}: {e}"));
        let got = Dumped { dtype: got.dtype, shape: got.shape, data: got.data };
        assert_eq!(&got, want, "{dir}: tensor {name}");
    }
    let listed: Vec<&str> = reader.tensors().filter(|t| t.dtype != TfDtype::String).map(|t| t.name.as_str()).collect();
    let dumped: Vec<&str> = expected.keys().map(String::as_str).collect();
    assert_eq!(listed, dumped, "{dir}: tensor list");
    reader.verify().unwrap_or_else(|e| panic!("{dir}: {e}"));
    reader
}

#[test]
fn optimizer_checkpoints_read_bit_exactly() {
    for dir in ["mlp_adam", "mlp_momentum", "mlp_adagrad", "mlp_rmsprop"] {
        let reader = check_fixture(dir);
        assert!(reader.prefix().ends_with("model.ckpt-5"), "{dir}: latest from state file");
        let step = reader.read("global_step").unwrap();
        assert_eq!((step.dtype, step.data), (TfDtype::Int64, 5i64.to_le_bytes().to_vec()));
        // The step-6 dump names the same variables as the checkpoint.
        let next = json(dir, "next_step.json");
        for name in next["after"].as_object().unwrap().keys() {
            assert!(reader.get(name).is_some(), "{dir}: {name} missing");
        }
    }
    let adam = BundleReader::open(fixture("mlp_adam")).unwrap();
    for name in ["beta1_power", "beta2_power", "model/mlp/layer1/kernel/Adam", "model/mlp/layer1/kernel/Adam_1"] {
        assert!(adam.get(name).is_some(), "{name}");
    }
}

#[test]
fn every_dtype_reads_bit_exactly() {
    let reader = check_fixture("dtypes");
    let seen: Vec<TfDtype> = reader.tensors().map(|t| t.dtype).collect();
    for dtype in [
        TfDtype::Float16,
        TfDtype::Float32,
        TfDtype::Float64,
        TfDtype::BFloat16,
        TfDtype::Int8,
        TfDtype::Int16,
        TfDtype::Int32,
        TfDtype::Int64,
        TfDtype::UInt8,
        TfDtype::UInt16,
        TfDtype::UInt32,
        TfDtype::UInt64,
        TfDtype::Bool,
        TfDtype::String,
    ] {
        assert!(seen.contains(&dtype), "{dtype} not in the fixture");
    }
    // A string tensor is listed with its dtype; reading its values is a typed error.
    let s = reader.get("dtypes/string").unwrap();
    assert_eq!((s.dtype, s.shape.as_slice()), (TfDtype::String, &[3u64][..]));
    match reader.read("dtypes/string") {
        Err(TfError::UnsupportedDtype { tensor, dtype, .. }) => {
            assert_eq!((tensor.as_str(), dtype), ("dtypes/string", TfDtype::String))
        }
        other => panic!("{other:?}"),
    }
}

/// Cuts `full` (row-major, `shape`) to the box `start + len`.
fn cut(full: &Dumped, start: &[u64], len: &[u64]) -> Vec<u8> {
    let elem = full.dtype.size().unwrap();
    let mut out = vec![0u8; len.iter().product::<u64>() as usize * elem];
    let src_box: Vec<(u64, u64)> = full.shape.iter().map(|&d| (0, d)).collect();
    let dst_box: Vec<(u64, u64)> = start.iter().copied().zip(len.iter().copied()).collect();
    varscope_format::tf::copy_region(&full.data, &src_box, &mut out, &dst_box, elem);
    out
}

#[test]
fn partitioned_variables_reassemble_and_repartition() {
    let reader = check_fixture("partitioned");
    let expected = records(&json("partitioned", "expected.json"));
    let emb = reader.get("part/emb").unwrap();
    let Layout::Sliced(slices) = &emb.layout else { panic!("part/emb is not sliced: {:?}", emb.layout) };
    let boxes: Vec<_> = slices.iter().map(|(b, _)| b.clone()).collect();
    assert_eq!(
        boxes,
        vec![vec![(0, 4), (0, 3)], vec![(4, 3), (0, 3)], vec![(7, 3), (0, 3)]],
        "fixed_size_partitioner(3) of 10 rows"
    );
    let wide = reader.get("part/wide").unwrap();
    assert!(wide.is_sliced());
    assert!(!reader.get("part/plain").unwrap().is_sliced());
    // Any other partitioning reads from the overlapping slices.
    for (name, start, len) in [
        ("part/emb", vec![0, 0], vec![5, 3]),
        ("part/emb", vec![5, 0], vec![5, 3]),
        ("part/emb", vec![3, 1], vec![5, 2]),
        ("part/wide", vec![0, 0], vec![2, 6]),
        ("part/wide", vec![1, 2], vec![3, 2]),
        ("part/plain", vec![1], vec![3]),
    ] {
        let got = reader.read_region(name, &start, &len).unwrap();
        assert_eq!(got.shape, len);
        assert_eq!(got.data, cut(&expected[name], &start, &len), "{name} {start:?}+{len:?}");
    }
    let err = reader.read_region("part/emb", &[8, 0], &[3, 3]).unwrap_err();
    assert!(matches!(err, TfError::RegionOutOfRange { .. }), "{err}");
}

#[test]
fn sharded_saves_merge_two_data_files() {
    let reader = check_fixture("sharded");
    assert_eq!(reader.num_shards(), 2);
    let Layout::Sliced(slices) = &reader.get("s/p").unwrap().layout else { panic!("s/p is not sliced") };
    let shards: Vec<usize> = slices.iter().map(|(_, at)| at.shard).collect();
    assert!(shards.contains(&0) && shards.contains(&1), "{shards:?}");
}

#[test]
fn index_spanning_several_blocks_reads_every_entry() {
    let reader = BundleReader::open(fixture("many").join("model.ckpt")).unwrap();
    let index_len = std::fs::metadata(reader.index_path()).unwrap().len();
    // TensorFlow cuts data blocks at 256 KiB: more than two blocks' worth means three.
    assert!(index_len > 2 * 262_144, "{index_len}");
    let names: Vec<String> = reader.tensors().map(|t| t.name.clone()).collect();
    assert_eq!(names.len(), 4200);
    for (i, name) in names.iter().enumerate() {
        assert!(name.starts_with(&format!("many/scope_{i:05}/")), "{name}");
        let t = reader.read(name).unwrap();
        assert_eq!((t.dtype, t.data), (TfDtype::Int8, vec![(i % 128) as u8]), "{name}");
    }
}
