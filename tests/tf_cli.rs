//! `varscope inspect` and `varscope convert` on TensorFlow checkpoints (issue 12), run as
//! the built binary on the fixtures TensorFlow made.

use std::path::PathBuf;
use std::process::Command;

use varscope_format::tf::{BundleReader, TfDtype};

fn varscope(args: &[&std::ffi::OsStr]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_varscope")).args(args).output().expect("binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("format/tests/fixtures/tf").join(name)
}

#[test]
fn inspect_shows_the_scope_tree_of_a_tensorflow_checkpoint() {
    let dir = fixture("mlp_adam");
    let (ok, out, err) = varscope(&["inspect".as_ref(), dir.as_os_str(), "--verify".as_ref()]);
    assert!(ok, "{err}");
    assert!(out.contains("TensorFlow checkpoint") && out.contains("15 tensors"), "{out}");
    assert!(out.contains("CRC32C verified"), "{out}");
    for line in ["model/", "mlp/", "layer1/", "kernel", "Adam_1", "beta1_power", "global_step"] {
        assert!(out.contains(line), "{line} missing:\n{out}");
    }
    // Partitioned variables show their slices; string tensors are listed.
    let (ok, out, _) = varscope(&["inspect".as_ref(), fixture("partitioned").as_os_str()]);
    assert!(ok);
    assert!(out.contains("in 3 slices"), "{out}");
    let (ok, out, _) = varscope(&["inspect".as_ref(), fixture("dtypes").as_os_str()]);
    assert!(ok);
    assert!(out.contains("string") && out.contains("bfloat16") && out.contains("uint64"), "{out}");
}

#[test]
fn inspect_verify_reports_a_crc_mismatch() {
    let tmp = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(fixture("mlp_adam")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), tmp.path().join(e.file_name())).unwrap();
    }
    let data = tmp.path().join("model.ckpt-5.data-00000-of-00001");
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&data, bytes).unwrap();
    let (ok, _, _) = varscope(&["inspect".as_ref(), tmp.path().as_os_str()]);
    assert!(ok, "without --verify only the index is read");
    let (ok, _, err) = varscope(&["inspect".as_ref(), tmp.path().as_os_str(), "--verify".as_ref()]);
    assert!(!ok);
    assert!(err.contains("fails its checksum"), "{err}");
}

#[test]
fn convert_round_trips_bit_identically() {
    let tmp = tempfile::tempdir().unwrap();
    for dir in ["dtypes", "partitioned", "sharded", "mlp_adam"] {
        let st = tmp.path().join(format!("{dir}.safetensors"));
        let back = tmp.path().join(format!("{dir}_back/model.ckpt"));
        let (ok, _, err) = varscope(&["convert".as_ref(), fixture(dir).as_os_str(), st.as_os_str()]);
        if dir == "dtypes" {
            // A string tensor has no safetensors form.
            assert!(!ok && err.contains("dtypes/string"), "{err}");
            assert!(!st.exists(), "a failed convert leaves no file");
            continue;
        }
        assert!(ok, "{dir}: {err}");
        let (ok, _, err) = varscope(&["convert".as_ref(), st.as_os_str(), back.as_os_str()]);
        assert!(ok, "{dir}: {err}");
        let original = BundleReader::open(fixture(dir)).unwrap();
        let converted = BundleReader::open(&back).unwrap();
        let names: Vec<&str> = original.tensors().map(|t| t.name.as_str()).collect();
        let back_names: Vec<&str> = converted.tensors().map(|t| t.name.as_str()).collect();
        assert_eq!(names, back_names, "{dir}");
        for t in original.tensors() {
            let (a, b) = (original.read(&t.name).unwrap(), converted.read(&t.name).unwrap());
            assert_eq!(a, b, "{dir}: {}", t.name);
            // Partitioned variables went through safetensors as one full tensor.
            assert!(!converted.get(&t.name).unwrap().is_sliced());
        }
        // The safetensors file holds the same bytes under the same names.
        let bytes = std::fs::read(&st).unwrap();
        let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        for t in original.tensors() {
            assert_eq!(file.tensor(&t.name).unwrap().data(), original.read(&t.name).unwrap().data.as_slice());
        }
    }
    let info = BundleReader::open(tmp.path().join("mlp_adam_back/model.ckpt")).unwrap();
    assert_eq!(info.get("global_step").unwrap().dtype, TfDtype::Int64);
    let (ok, _, err) =
        varscope(&["convert".as_ref(), fixture("mlp_adam").as_os_str(), tmp.path().join("x").as_os_str()]);
    assert!(!ok && err.contains(".safetensors"), "{err}");
}
