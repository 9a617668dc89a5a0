//! Shared helpers of the TensorFlow bundle tests: fixture paths and the value dumps
//! `scripts/make_tf_fixtures.py` writes next to each fixture.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use varscope_format::tf::TfDtype;

/// `format/tests/fixtures/tf/<name>`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tf").join(name)
}

/// One dumped tensor: dtype, shape and raw little-endian bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Dumped {
    pub dtype: TfDtype,
    pub shape: Vec<u64>,
    pub data: Vec<u8>,
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("fixture hex")).collect()
}

/// Parses one `{"dtype", "shape", "hex"}` record.
pub fn record(v: &serde_json::Value) -> Dumped {
    Dumped {
        dtype: TfDtype::from_name(v["dtype"].as_str().expect("dtype")).expect("known dtype"),
        shape: v["shape"].as_array().expect("shape").iter().map(|d| d.as_u64().expect("dim")).collect(),
        data: hex(v["hex"].as_str().expect("hex")),
    }
}

/// Parses a map of records.
pub fn records(v: &serde_json::Value) -> BTreeMap<String, Dumped> {
    v.as_object().expect("object").iter().map(|(k, v)| (k.clone(), record(v))).collect()
}

/// Loads a JSON file of the fixture directory.
pub fn json(dir: &str, file: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(fixture(dir).join(file)).expect("fixture json");
    serde_json::from_str(&text).expect("valid json")
}

/// Copies a fixture directory into a temporary one (for tests that damage files).
pub fn copy_fixture(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(fixture(name)).expect("fixture dir") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copy");
    }
    dir
}
