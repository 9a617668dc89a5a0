//! Fuzz target for the safetensors checkpoint reader of `varscope-format` (no wgpu):
//! arbitrary bytes through the header parser, checksum verification, restore planning
//! (by name, with an assignment map, strict) and value extraction with dtype conversion
//! and repartitioning. None of it may panic.
//!
//! Run: `scripts/fuzz.sh` (nightly), or `cargo +nightly fuzz run checkpoint_reader` in
//! `fuzz/` (seed corpus: `seeds/`).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use varscope_core::{DType, Graph, Partitioner, Variable};
use varscope_format::safetensors_file::{fuzz_restore_plan, CheckpointInfo};

struct Fixture {
    graph: Graph,
    vars: Vec<Variable>,
}

// Graph is shared read-only between fuzzing iterations.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let graph = Graph::new();
        let mut vars = Vec::new();
        for (name, shape, dtype) in [
            ("v", vec![2u64, 3], DType::Float32),
            ("s/h", vec![4], DType::Float16),
            ("s/b", vec![3], DType::Bool),
            ("s/i", vec![], DType::Int32),
        ] {
            let r = graph.get_variable(name).shape(shape).dtype(dtype).get().expect("fixture variable");
            vars.extend(r.variables());
        }
        let p = graph
            .get_variable("p")
            .shape([5u64, 2])
            .partitioner(Partitioner::fixed_size(3))
            .get()
            .expect("fixture partitioned variable");
        vars.extend(p.variables());
        Fixture { graph, vars }
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = CheckpointInfo::parse(data) {
        let _ = info.verify(data);
    }
    let f = fixture();
    let _ = fuzz_restore_plan(data, &f.graph, &f.vars, &[], false);
    let _ = fuzz_restore_plan(data, &f.graph, &f.vars, &[], true);
    let map = [
        ("old/".to_string(), "s/".to_string()),
        ("w".to_string(), "v".to_string()),
        ("/".to_string(), "/".to_string()),
    ];
    let _ = fuzz_restore_plan(data, &f.graph, &f.vars, &map, false);
});
