//! Entry points for the fuzz targets in `fuzz/` and this crate's tests. Not public API:
//! compiled only with the `fuzzing` feature.

use std::path::Path;

use varscope_core::{DType, Graph, Partitioner, Variable};

use super::{part_bytes, plan_restore, units_of, CheckpointReader};
use crate::error::Result;

/// Fuzzing entry (`fuzz/fuzz_targets/checkpoint_reader.rs`): the whole host side of a
/// restore on arbitrary bytes: parse, verify, plan against `vars` (of `graph`) through
/// the assignment map `map`, check the paired tensors, and produce every part's bytes.
/// Returns those bytes, in plan order. Never panics.
///
/// Not public API: only with the `fuzzing` feature, which the fuzz crate and this
/// crate's tests enable.
pub fn fuzz_restore_plan(
    file: &[u8],
    graph: &Graph,
    vars: &[Variable],
    map: &[(String, String)],
    strict: bool,
) -> Result<Vec<Vec<u8>>> {
    let reader = CheckpointReader::from_bytes(file)?;
    let _ = reader.verify();
    let units = units_of(graph, vars)?;
    let info = reader.info();
    let plan = plan_restore(info, &units, map, strict, Path::new("<memory>"))?;
    for p in &plan.pairs {
        reader.check_tensor(&info.tensors[p.tensor])?;
    }
    let mut out = Vec::new();
    for p in &plan.pairs {
        let (t, u) = (&info.tensors[p.tensor], &units[p.unit]);
        let data = reader.read_tensor(t)?;
        for i in 0..u.parts.len() {
            out.extend(part_bytes(&data, t, u, i));
        }
    }
    Ok(out)
}

/// The graph the fuzz target plans against, which its seed corpus (`fuzz/seeds/`) matches:
/// `v` [2, 3] float32, `s/h` [4] float16, `s/b` [3] bool, `s/i` [] int32, and `p` [5, 2]
/// float32 in 3 shards. Not public API: only with the `fuzzing` feature.
pub fn fuzz_fixture() -> varscope_core::Result<(Graph, Vec<Variable>)> {
    let graph = Graph::new();
    let mut vars = Vec::new();
    for (name, shape, dtype) in [
        ("v", vec![2u64, 3], DType::Float32),
        ("s/h", vec![4], DType::Float16),
        ("s/b", vec![3], DType::Bool),
        ("s/i", vec![], DType::Int32),
    ] {
        vars.extend(graph.get_variable(name).shape(shape).dtype(dtype).get()?.variables());
    }
    vars.extend(graph.get_variable("p").shape([5u64, 2]).partitioner(Partitioner::fixed_size(3)).get()?.variables());
    Ok((graph, vars))
}
