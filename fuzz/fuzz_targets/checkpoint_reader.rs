//! Fuzz target for the safetensors checkpoint reader of `varscope-format` (no wgpu):
//! arbitrary bytes through the header parser, checksum verification, restore planning
//! (by name, with an assignment map, strict) and value extraction with dtype conversion
//! and repartitioning. None of it may panic.
//!
//! Run: `scripts/fuzz.sh` (nightly), or `cargo +nightly fuzz run checkpoint_reader` in
//! `fuzz/` (seed corpus: `seeds/checkpoint_reader/`).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use varscope_core::{Graph, Variable};
use varscope_format::safetensors_file::{fuzz_fixture, fuzz_restore_plan, CheckpointInfo};

// The graph is shared read-only between fuzzing iterations.
fn fixture() -> &'static (Graph, Vec<Variable>) {
    static F: OnceLock<(Graph, Vec<Variable>)> = OnceLock::new();
    F.get_or_init(|| fuzz_fixture().expect("the fixture graph builds"))
}

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = CheckpointInfo::parse(data) {
        let _ = info.verify(data);
    }
    let (graph, vars) = fixture();
    let _ = fuzz_restore_plan(data, graph, vars, &[], false);
    let _ = fuzz_restore_plan(data, graph, vars, &[], true);
    let map = [
        ("old/".to_string(), "s/".to_string()),
        ("w".to_string(), "v".to_string()),
        ("/".to_string(), "/".to_string()),
    ];
    let _ = fuzz_restore_plan(data, graph, vars, &map, false);
});
