//! Damaged bundles: each defect is a typed error naming the file and, where one tensor is
//! concerned, the tensor; nothing panics.

mod common;

use std::path::Path;

use common::{copy_fixture, fixture};
use prost::Message;
use varscope_format::tf::proto::{BundleEntryProto, Dim, Extent};
use varscope_format::tf::table::{read_table, TableBuilder};
use varscope_format::tf::{data_path, index_path, parse_index, BundleReader, IndexDefect, SliceDefect, TfError};

fn prefix(dir: &Path) -> std::path::PathBuf {
    dir.join("model.ckpt")
}

/// Rewrites the index of the bundle at `prefix`, letting `edit` change the decoded entry
/// under `key`.
fn edit_entry(prefix: &Path, key: &[u8], edit: impl FnOnce(&mut BundleEntryProto)) {
    let path = index_path(prefix);
    let mut rows = read_table(&std::fs::read(&path).unwrap()).unwrap();
    let row = rows.iter_mut().find(|(k, _)| k == key).expect("key in fixture");
    let mut entry = BundleEntryProto::decode(row.1.as_slice()).unwrap();
    edit(&mut entry);
    row.1 = entry.encode_to_vec();
    let table = TableBuilder::default().build(rows.iter().map(|(k, v)| (k.as_slice(), v.as_slice()))).unwrap();
    std::fs::write(&path, table).unwrap();
}

fn open_err(prefix: &Path) -> TfError {
    match BundleReader::open(prefix) {
        Ok(_) => panic!("{} opened", prefix.display()),
        Err(e) => e,
    }
}

#[test]
fn missing_data_shard() {
    let dir = copy_fixture("sharded");
    let gone = data_path(&prefix(dir.path()), 1, 2);
    std::fs::remove_file(&gone).unwrap();
    match open_err(dir.path()) {
        TfError::MissingShard { path, tensor, .. } => {
            assert_eq!(path, gone);
            assert!(tensor.starts_with("s/"), "{tensor}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn truncated_index() {
    let dir = copy_fixture("mlp_adam");
    let p = dir.path().join("model.ckpt-5");
    let path = index_path(&p);
    let bytes = std::fs::read(&path).unwrap();
    for len in [0, 1, 47, 48, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&path, &bytes[..len]).unwrap();
        match open_err(&p) {
            TfError::CorruptIndex { path: named, defect, .. } => {
                assert_eq!(named, path);
                if len < 48 {
                    assert_eq!(defect, IndexDefect::TooShort);
                }
            }
            other => panic!("{len}: {other:?}"),
        }
    }
}

#[test]
fn corrupt_index_block_and_footer() {
    let dir = copy_fixture("mlp_adam");
    let p = dir.path().join("model.ckpt-5");
    let path = index_path(&p);
    let good = std::fs::read(&path).unwrap();
    let mut bad = good.clone();
    bad[20] ^= 0x40; // inside the first data block
    std::fs::write(&path, &bad).unwrap();
    match open_err(&p) {
        TfError::BlockChecksum { path: named, offset, stored, computed } => {
            assert_eq!((named, offset), (path.clone(), 0));
            assert_ne!(stored, computed);
        }
        other => panic!("{other:?}"),
    }
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    std::fs::write(&path, &bad).unwrap();
    assert!(matches!(open_err(&p), TfError::CorruptIndex { defect: IndexDefect::BadMagic, .. }));
}

#[test]
fn data_checksum_mismatch() {
    let dir = copy_fixture("mlp_adam");
    let p = dir.path().join("model.ckpt-5");
    let r = BundleReader::open(&p).unwrap();
    let info = r.get("model/mlp/layer2/bias").unwrap().clone();
    let varscope_format::tf::Layout::Whole(at) = info.layout else { panic!() };
    let data = data_path(&p, 0, 1);
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[at.offset as usize] ^= 0x01;
    std::fs::write(&data, &bytes).unwrap();
    for err in [r.read("model/mlp/layer2/bias").unwrap_err(), r.verify().unwrap_err()] {
        match err {
            TfError::DataChecksum { path, tensor, .. } => {
                assert_eq!((path, tensor.as_str()), (data.clone(), "model/mlp/layer2/bias"))
            }
            other => panic!("{other:?}"),
        }
    }
    // Other tensors still read.
    r.read("model/mlp/layer1/bias").unwrap();
}

#[test]
fn entry_past_its_shard() {
    // On open: the shard is shorter than the index says.
    let dir = copy_fixture("mlp_adam");
    let p = dir.path().join("model.ckpt-5");
    let data = data_path(&p, 0, 1);
    let len = std::fs::metadata(&data).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&data).unwrap().set_len(len - 4).unwrap();
    match open_err(&p) {
        TfError::PastShardEnd { path, tensor, len: shard_len, .. } => {
            assert_eq!((path, shard_len), (data.clone(), len - 4));
            assert!(!tensor.is_empty());
        }
        other => panic!("{other:?}"),
    }
    // After open: the file shrinks underneath a reader (a positioned read, no SIGBUS).
    let dir = copy_fixture("mlp_adam");
    let p = dir.path().join("model.ckpt-5");
    let r = BundleReader::open(&p).unwrap();
    let data = data_path(&p, 0, 1);
    std::fs::OpenOptions::new().write(true).open(&data).unwrap().set_len(0).unwrap();
    assert!(matches!(r.read("global_step").unwrap_err(), TfError::PastShardEnd { .. }));
    // An entry whose offset runs past the shard.
    let dir = copy_fixture("mlp_adam");
    let p = dir.path().join("model.ckpt-5");
    edit_entry(&p, b"global_step", |e| e.offset = 1 << 40);
    match open_err(&p) {
        TfError::PastShardEnd { tensor, offset, .. } => assert_eq!((tensor.as_str(), offset), ("global_step", 1 << 40)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn size_not_matching_shape() {
    let dir = copy_fixture("mlp_adam");
    let p = dir.path().join("model.ckpt-5");
    edit_entry(&p, b"model/mlp/layer1/kernel", |e| {
        e.shape.as_mut().unwrap().dim[1] = Dim { size: 9, name: String::new() }
    });
    match open_err(&p) {
        TfError::SizeMismatch { tensor, shape, expected, size, .. } => {
            assert_eq!(tensor, "model/mlp/layer1/kernel");
            assert_eq!((shape, expected, size), (vec![4, 9], 144, 128));
        }
        other => panic!("{other:?}"),
    }
    let dir = copy_fixture("mlp_adam");
    let p = dir.path().join("model.ckpt-5");
    edit_entry(&p, b"beta1_power", |e| e.shape = Some(Default::default()));
    edit_entry(&p, b"beta2_power", |e| {
        e.shape = Some(varscope_format::tf::proto::TensorShapeProto {
            dim: vec![Dim { size: -3, name: String::new() }],
            unknown_rank: false,
        })
    });
    match open_err(&p) {
        TfError::InvalidShape { tensor, shape, .. } => assert_eq!((tensor.as_str(), shape), ("beta2_power", vec![-3])),
        other => panic!("{other:?}"),
    }
    // Huge shapes are errors, not allocations.
    let dir = copy_fixture("mlp_adam");
    let p = dir.path().join("model.ckpt-5");
    edit_entry(&p, b"beta1_power", |e| {
        e.shape = Some(varscope_format::tf::proto::TensorShapeProto {
            dim: vec![Dim { size: 1 << 40, name: String::new() }; 2],
            unknown_rank: false,
        })
    });
    assert!(matches!(open_err(&p), TfError::InvalidShape { .. }));
}

#[test]
fn unknown_dtype_and_bad_shard_id() {
    let dir = copy_fixture("mlp_adam");
    let p = dir.path().join("model.ckpt-5");
    edit_entry(&p, b"global_step", |e| e.dtype = 109);
    match open_err(&p) {
        TfError::UnknownDtype { path, tensor, code } => {
            assert_eq!((path, tensor.as_str(), code), (index_path(&p), "global_step", 109))
        }
        other => panic!("{other:?}"),
    }
    let dir = copy_fixture("mlp_adam");
    let p = dir.path().join("model.ckpt-5");
    edit_entry(&p, b"global_step", |e| e.shard_id = 3);
    assert!(matches!(open_err(&p), TfError::BadShardId { shard: 3, num_shards: 1, .. }));
}

#[test]
fn broken_slices() {
    let slice_key = |p: &Path| -> Vec<u8> {
        let rows = read_table(&std::fs::read(index_path(p)).unwrap()).unwrap();
        rows.into_iter().find(|(k, _)| k.first() == Some(&0)).unwrap().0
    };
    // A slice whose own entry is missing.
    let dir = copy_fixture("partitioned");
    let p = prefix(dir.path());
    let key = slice_key(&p);
    {
        let path = index_path(&p);
        let rows: Vec<_> =
            read_table(&std::fs::read(&path).unwrap()).unwrap().into_iter().filter(|(k, _)| *k != key).collect();
        let t = TableBuilder::default().build(rows.iter().map(|(k, v)| (k.as_slice(), v.as_slice()))).unwrap();
        std::fs::write(&path, t).unwrap();
    }
    match open_err(&p) {
        TfError::BadSlice { tensor, defect, .. } => {
            assert_eq!(defect, SliceDefect::MissingEntry);
            assert!(tensor.starts_with("part/"), "{tensor}");
        }
        other => panic!("{other:?}"),
    }
    // Slices that overlap, leave a gap, or reach outside the tensor.
    for (edit, want) in [((1, 2), SliceDefect::Overlap), ((4, 2), SliceDefect::Gap), ((8, 3), SliceDefect::OutOfRange)]
    {
        let dir = copy_fixture("partitioned");
        let p = prefix(dir.path());
        edit_entry(&p, b"part/emb", |e| {
            e.slices[1].extent[0] = Extent { start: edit.0, length: Some(edit.1) };
        });
        match open_err(&p) {
            TfError::BadSlice { tensor, defect, .. } => {
                assert_eq!(tensor, "part/emb");
                // A moved slice also loses its entry (its key changes); either is reported.
                assert!(defect == want || defect == SliceDefect::MissingEntry, "{defect:?} for {edit:?}");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn missing_checkpoint_state_and_tensor() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(open_err(dir.path()), TfError::NoCheckpointState { .. }));
    let r = BundleReader::open(fixture("mlp_adam")).unwrap();
    assert!(matches!(r.read("nope").unwrap_err(), TfError::NotFound { .. }));
    let missing = dir.path().join("nothing");
    assert!(matches!(open_err(&missing), TfError::Io { .. }));
}

/// Deterministic mutations of real index files never panic the parser.
#[test]
fn mutated_indexes_never_panic() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for dir in ["mlp_adam", "partitioned", "sharded", "dtypes"] {
        let path = index_path(&prefix(&fixture(dir)));
        let path = if dir == "mlp_adam" { index_path(&fixture(dir).join("model.ckpt-5")) } else { path };
        let good = std::fs::read(&path).unwrap();
        for _ in 0..2000 {
            let mut bytes = good.clone();
            for _ in 0..(next() % 4 + 1) {
                let at = (next() % bytes.len() as u64) as usize;
                bytes[at] = next() as u8;
            }
            if next() % 8 == 0 {
                bytes.truncate((next() % bytes.len() as u64) as usize);
            }
            let _ = parse_index(&path, &bytes);
        }
        // Past the checksums: mutate entries and keys, then rebuild valid blocks.
        let rows = read_table(&good).unwrap();
        for _ in 0..2000 {
            let mut rows = rows.clone();
            for _ in 0..(next() % 3 + 1) {
                let row = (next() % rows.len() as u64) as usize;
                let field = if next() % 4 == 0 { &mut rows[row].0 } else { &mut rows[row].1 };
                if !field.is_empty() {
                    let at = (next() % field.len() as u64) as usize;
                    field[at] = next() as u8;
                }
            }
            rows.sort();
            rows.dedup_by(|a, b| a.0 == b.0);
            let table = TableBuilder::default().build(rows.iter().map(|(k, v)| (k.as_slice(), v.as_slice()))).unwrap();
            let _ = parse_index(&path, &table);
        }
    }
}
