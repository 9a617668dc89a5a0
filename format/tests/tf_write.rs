//! Bundles varscope writes read back bit-exactly; for TensorFlow's own layout choices the
//! written files are byte-identical to TensorFlow's.

mod common;

use common::{fixture, json, records};
use varscope_format::tf::table::{read_table, Compression, TableBuilder};
use varscope_format::tf::{
    data_path, index_path, BundleReader, BundleWriter, SliceDefect, TensorSlice, TfDtype, TfError,
};

#[test]
fn every_dtype_round_trips() {
    let expected = records(&json("dtypes", "expected.json"));
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("sub/model.ckpt");
    let mut w = BundleWriter::create(&prefix).unwrap();
    for (name, t) in &expected {
        w.add(name, t.dtype, &t.shape, &t.data).unwrap();
    }
    w.finish().unwrap();
    let r = BundleReader::open(&prefix).unwrap();
    assert_eq!(r.tensors().count(), expected.len());
    for (name, t) in &expected {
        let got = r.read(name).unwrap();
        assert_eq!((got.dtype, &got.shape, &got.data), (t.dtype, &t.shape, &t.data), "{name}");
    }
    r.verify().unwrap();
    // Nothing but the bundle is left in the directory.
    let mut files: Vec<String> = std::fs::read_dir(dir.path().join("sub"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, ["model.ckpt.data-00000-of-00001", "model.ckpt.index"]);
}

#[test]
fn multi_block_index_is_byte_identical_to_tensorflow() {
    // TensorFlow's SaveV2 wrote the 4200 scalars in name order; writing the same tensors in
    // the same order reproduces both files byte for byte (block cuts, restart points,
    // shortened index keys, footer).
    let tf_prefix = fixture("many").join("model.ckpt");
    let r = BundleReader::open(&tf_prefix).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("many");
    let mut w = BundleWriter::create(&prefix).unwrap();
    for t in r.tensors() {
        let v = r.read(&t.name).unwrap();
        w.add(&t.name, v.dtype, &v.shape, &v.data).unwrap();
    }
    w.finish().unwrap();
    let ours = std::fs::read(index_path(&prefix)).unwrap();
    let theirs = std::fs::read(index_path(&tf_prefix)).unwrap();
    assert!(ours == theirs, "index differs ({} vs {} bytes)", ours.len(), theirs.len());
    assert_eq!(std::fs::read(data_path(&prefix, 0, 1)).unwrap(), std::fs::read(data_path(&tf_prefix, 0, 1)).unwrap());
}

#[test]
fn small_blocks_and_snappy_round_trip() {
    let expected = records(&json("mlp_adam", "expected.json"));
    for compression in [Compression::None, Compression::Snappy] {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("m");
        let table = TableBuilder { block_size: 64, restart_interval: 2, compression };
        let mut w = BundleWriter::create(&prefix).unwrap().with_table(table);
        for (name, t) in &expected {
            w.add(name, t.dtype, &t.shape, &t.data).unwrap();
        }
        w.finish().unwrap();
        let index = std::fs::read(index_path(&prefix)).unwrap();
        if compression == Compression::Snappy {
            // At least one block really is compressed: its trailer's type byte is 1.
            let plain = TableBuilder {
                compression: Compression::None,
                ..TableBuilder { block_size: 64, restart_interval: 2, compression }
            };
            let rows = read_table(&index).unwrap();
            let uncompressed = plain.build(rows.iter().map(|(k, v)| (k.as_slice(), v.as_slice()))).unwrap();
            assert!(index.len() < uncompressed.len(), "snappy saved nothing");
        }
        let r = BundleReader::open(&prefix).unwrap();
        for (name, t) in &expected {
            assert_eq!(r.read(name).unwrap().data, t.data, "{name} {compression:?}");
        }
    }
}

#[test]
fn partitioned_write_reads_whole_and_in_other_partitionings() {
    let expected = records(&json("partitioned", "expected.json"));
    let emb = &expected["part/emb"];
    let row = 3 * 4;
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("p");
    let mut w = BundleWriter::create(&prefix).unwrap();
    // Two shards of rows 0..6 and 6..10, as a fixed_size_partitioner(2) variable.
    for (start, len) in [(0u64, 6u64), (6, 4)] {
        let bytes = &emb.data[start as usize * row..(start + len) as usize * row];
        let slice = TensorSlice::from_ranges(&[start, 0], &[len, 3]);
        w.add_slice("part/emb", TfDtype::Float32, &[10, 3], &slice, bytes).unwrap();
    }
    // A slice covering the whole tensor is stored as a plain entry.
    let plain = &expected["part/plain"];
    w.add_slice("part/plain", TfDtype::Float32, &[5], &TensorSlice::from_ranges(&[0], &[5]), &plain.data).unwrap();
    w.finish().unwrap();
    let r = BundleReader::open(&prefix).unwrap();
    assert!(r.get("part/emb").unwrap().is_sliced());
    assert!(!r.get("part/plain").unwrap().is_sliced());
    assert_eq!(r.read("part/emb").unwrap().data, emb.data);
    assert_eq!(r.read("part/plain").unwrap().data, plain.data);
    // Into three shards of 4, 3, 3 rows (TensorFlow's fixed_size_partitioner(3)).
    let mut joined = Vec::new();
    for (start, len) in [(0u64, 4u64), (4, 3), (7, 3)] {
        joined.extend(r.read_region("part/emb", &[start, 0], &[len, 3]).unwrap().data);
    }
    assert_eq!(joined, emb.data);
}

#[test]
fn writer_rejects_bad_tensors_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("w");
    let mut w = BundleWriter::create(&prefix).unwrap();
    let four = [0u8; 16];
    w.add("a", TfDtype::Float32, &[4], &four).unwrap();
    let cases: Vec<(TfError, &str)> = vec![
        (w.add("a", TfDtype::Float32, &[4], &four).unwrap_err(), "DuplicateTensor"),
        (w.add("b", TfDtype::Float32, &[5], &four).unwrap_err(), "DataLength"),
        (w.add("", TfDtype::Float32, &[4], &four).unwrap_err(), "InvalidName"),
        (w.add("s", TfDtype::String, &[1], &four).unwrap_err(), "UnsupportedDtype"),
        (
            w.add_slice("p", TfDtype::Float32, &[4], &TensorSlice::from_ranges(&[2], &[4]), &four).unwrap_err(),
            "BadSlice",
        ),
        (
            w.add_slice("p", TfDtype::Float32, &[4, 1], &TensorSlice::from_ranges(&[0], &[4]), &four).unwrap_err(),
            "BadSlice",
        ),
    ];
    for (err, want) in cases {
        assert!(format!("{err:?}").starts_with(want), "{err:?} is not {want}");
    }
    w.add_slice("p", TfDtype::Float32, &[8], &TensorSlice::from_ranges(&[0], &[4]), &four).unwrap();
    let conflict = w.add_slice("p", TfDtype::Int32, &[8], &TensorSlice::from_ranges(&[4], &[4]), &four).unwrap_err();
    assert!(matches!(conflict, TfError::SliceConflict { .. }), "{conflict:?}");
    let overlap = w.add_slice("p", TfDtype::Float32, &[8], &TensorSlice::from_ranges(&[0], &[4]), &four).unwrap_err();
    assert!(matches!(overlap, TfError::BadSlice { defect: SliceDefect::Overlap, .. }), "{overlap:?}");
    // Half of "p" is missing: finish refuses, and leaves no files at all behind.
    match w.finish().unwrap_err() {
        TfError::BadSlice { tensor, defect, .. } => assert_eq!((tensor.as_str(), defect), ("p", SliceDefect::Gap)),
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    // A dropped writer cleans up too.
    let w = BundleWriter::create(&prefix).unwrap();
    drop(w);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn rewriting_replaces_the_bundle_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("x");
    for value in [1.0f32, 2.0] {
        let mut w = BundleWriter::create(&prefix).unwrap();
        w.add("v", TfDtype::Float32, &[], &value.to_le_bytes()).unwrap();
        // Until finish, the previous bundle (if any) is what a reader sees.
        if value == 2.0 {
            let r = BundleReader::open(&prefix).unwrap();
            assert_eq!(r.read("v").unwrap().data, 1.0f32.to_le_bytes());
        }
        w.finish().unwrap();
    }
    let r = BundleReader::open(&prefix).unwrap();
    assert_eq!(r.read("v").unwrap().data, 2.0f32.to_le_bytes());
}
