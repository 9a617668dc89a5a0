//! Fuzz target for the TensorFlow bundle index reader: arbitrary bytes through the table
//! reader (footer, block handles, trailers and masked CRC32C, Snappy, restart arrays,
//! shared-prefix keys), the header and entry protos, dtype/shape/size/shard validation,
//! slice keys and slice tiling. None of it may panic or allocate without bound.
//!
//! Run in `fuzz/` (seed corpus: the small `.index` fixtures in `seeds_tf/`):
//! `cargo +nightly fuzz run -O tf_index corpus/tf_index seeds_tf -- -max_len=8192`
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use varscope_format::tf::{parse_index, slice, table};

fuzz_target!(|data: &[u8]| {
    let _ = slice::decode_slice_key(data);
    if let Ok(rows) = table::read_table(data) {
        // Whatever reads as a table must survive a rebuild and re-read unchanged.
        if rows.windows(2).all(|w| w[0].0 < w[1].0) {
            let rebuilt = table::TableBuilder::default()
                .build(rows.iter().map(|(k, v)| (k.as_slice(), v.as_slice())))
                .expect("sorted rows build");
            assert_eq!(table::read_table(&rebuilt).as_ref(), Ok(&rows));
        }
    }
    if let Ok(index) = parse_index(Path::new("fuzz.index"), data) {
        for info in index.tensors.values() {
            let _ = info.num_elements();
        }
    }
});
