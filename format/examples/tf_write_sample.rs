//! Writes a sample bundle with varscope's writer for checking in TensorFlow:
//!
//! ```text
//! cargo run -p varscope-format --example tf_write_sample -- /tmp/vs/sample
//! /tmp/tfvenv/bin/python scripts/make_tf_fixtures.py check /tmp/vs/sample /tmp/vs/sample.expected.json
//! ```
//!
//! The bundle holds every dtype of the `dtypes` fixture, the `mlp_adam` checkpoint's
//! tensors, and `part/emb` of the `partitioned` fixture saved as two slices (rows 0..6 and
//! 6..10; TensorFlow's fixture has three).

use std::path::PathBuf;

use varscope_format::tf::{BundleReader, BundleWriter, TensorSlice};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(std::env::args().nth(1).ok_or("usage: tf_write_sample PREFIX")?);
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tf");
    let mut writer = BundleWriter::create(&out)?;
    let mut expected = serde_json::Map::new();
    let mut record = |name: &str, t: &varscope_format::tf::Tensor| {
        expected.insert(
            name.to_owned(),
            serde_json::json!({"dtype": t.dtype.name(), "shape": t.shape, "hex": hex(&t.data)}),
        );
    };
    for dir in ["dtypes", "mlp_adam"] {
        let r = BundleReader::open(fixtures.join(dir))?;
        for info in r.tensors() {
            if info.dtype.size().is_none() {
                continue;
            }
            let t = r.read(&info.name)?;
            writer.add(&info.name, t.dtype, &t.shape, &t.data)?;
            record(&info.name, &t);
        }
    }
    let r = BundleReader::open(fixtures.join("partitioned"))?;
    let emb = r.read("part/emb")?;
    for (start, len) in [(0u64, 6u64), (6, 4)] {
        let part = r.read_region("part/emb", &[start, 0], &[len, 3])?;
        let slice = TensorSlice::from_ranges(&[start, 0], &[len, 3]);
        writer.add_slice("part/emb", emb.dtype, &emb.shape, &slice, &part.data)?;
    }
    record("part/emb", &emb);
    writer.finish()?;
    let mut json_path = out.into_os_string();
    json_path.push(".expected.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&expected)?)?;
    println!("wrote {}", PathBuf::from(json_path).display());
    Ok(())
}
