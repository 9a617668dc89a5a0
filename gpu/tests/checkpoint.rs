//! Checkpoints (issue 5, runtime.md section 8): round trips on every device, remapping,
//! partial and strict restores, repartitioning, dtype conversion, files from other tools,
//! atomic saves, and one test per failure case checking that the previous state survives.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use common::*;
use half::{bf16, f16};
use varscope_core::{DType, Graph, Initializer, Partitioner, VarRef, Variable};
use varscope_gpu::checkpoint::{self, CheckpointError, FormatError, RestoreOptions, SaveOptions, StoredDType};
use varscope_gpu::{HostValues, Session};

// ----- helpers -------------------------------------------------------------------------

/// Deterministic, non-trivial values for `n` elements of `dtype` (distinct per `salt`).
fn pattern(dtype: DType, shape: &[u64], salt: u64) -> HostValues {
    let n: u64 = shape.iter().product();
    let v: Vec<f64> = (0..n)
        .map(|i| {
            let h = (i.wrapping_mul(2_654_435_761).wrapping_add(salt.wrapping_mul(40_503))) % 1000;
            match dtype {
                DType::Bool => (h % 3 == 0) as u8 as f64,
                DType::UInt32 => h as f64 * 1000.0,
                d if d.is_integer() => h as f64 - 500.0,
                _ => h as f64 / 37.0 - 13.0,
            }
        })
        .collect();
    HostValues::from_f64_as(dtype, shape, &v).unwrap()
}

/// Assigns pattern values to every variable of `r` (each shard its own salt).
fn set_pattern(s: &Session, r: &VarRef, salt: u64) {
    for (i, v) in r.variables().iter().enumerate() {
        let hv = pattern(v.dtype(), &v.dims().unwrap(), salt * 100 + i as u64);
        s.assign(v, &hv).unwrap_or_else(|e| panic!("assign {}: {e}", v.key()));
    }
}

/// The full value of a variable or partitioned variable.
fn full(s: &Session, r: &VarRef) -> HostValues {
    match r {
        VarRef::Variable(v) => s.read(v).unwrap_or_else(|e| panic!("read {}: {e}", v.key())),
        VarRef::Partitioned(p) => s.read_partitioned(p).unwrap_or_else(|e| panic!("read {}: {e}", p.name())),
        VarRef::Tensor(_) => panic!("not a variable"),
    }
}

/// The file-side error inside a restore or save error.
fn format_error(e: &CheckpointError) -> Option<&FormatError> {
    match e {
        CheckpointError::Format(f) => Some(f),
        _ => None,
    }
}

fn snapshot(s: &Session, vars: &[Variable]) -> Vec<Option<Vec<u64>>> {
    vars.iter().map(|v| s.read(v).ok().map(|h| h.to_bits_vec())).collect()
}

/// A small model on `device`: dtypes the device holds, a scalar, a 4-way partitioned
/// embedding, optimizer slots.
struct Model {
    graph: Graph,
    refs: Vec<(String, VarRef)>,
}

fn model(device: &str, f64_ok: bool, i64_ok: bool, partitions: Option<i64>) -> Model {
    let g = Graph::new();
    g.set_seed(77);
    let mut refs = Vec::new();
    let mut dtypes = vec![DType::Float32, DType::Float16, DType::BFloat16, DType::Int32, DType::UInt32, DType::Bool];
    if f64_ok {
        dtypes.push(DType::Float64);
    }
    if i64_ok {
        dtypes.push(DType::Int64);
    }
    g.variable_scope("net")
        .run_plain(|_| {
            for d in &dtypes {
                let init = if d.is_floating() { Initializer::random_uniform(-1.0, 1.0) } else { Initializer::zeros() };
                let r = g
                    .get_variable(&format!("w_{d}"))
                    .shape([3u64, 5])
                    .dtype(*d)
                    .initializer(init)
                    .caching_device(device)
                    .get()
                    .unwrap();
                refs.push((format!("net/w_{d}"), r));
            }
            let r = g.get_variable("scalar").shape(Vec::<u64>::new()).caching_device(device).get().unwrap();
            refs.push(("net/scalar".into(), r));
            // Large enough to span several chunks when chunks are capped (64 elements).
            let r = g.get_variable("big").shape([300u64]).caching_device(device).get().unwrap();
            refs.push(("net/big".into(), r));
            let mut b = g.get_variable("emb").shape([10u64, 3]).caching_device(device);
            if let Some(k) = partitions {
                b = b.partitioner(Partitioner::fixed_size(k));
            }
            refs.push(("net/emb".into(), b.get().unwrap()));
            // Optimizer slots are store variables like any other (runtime.md section 7).
            for slot in ["Adam", "Adam_1", "Momentum"] {
                let r = g
                    .get_variable(&format!("w_float32/{slot}"))
                    .shape([3u64, 5])
                    .trainable(false)
                    .initializer(Initializer::zeros())
                    .caching_device(device)
                    .get()
                    .unwrap();
                refs.push((format!("net/w_float32/{slot}"), r));
            }
        })
        .unwrap();
    Model { graph: g, refs }
}

impl Model {
    fn get(&self, name: &str) -> &VarRef {
        &self.refs.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no {name}")).1
    }
    fn all_vars(&self) -> Vec<Variable> {
        self.refs.iter().flat_map(|(_, r)| r.variables()).collect()
    }
}

/// A session over `m` with every variable initialized and then set to pattern values.
fn trained(m: &Model, salt: u64) -> Session {
    let s = Session::with_options(&m.graph, opts()).unwrap();
    s.global_variables_initializer().unwrap();
    for (_, r) in &m.refs {
        set_pattern(&s, r, salt);
    }
    s
}

fn assert_same(t: &Target, what: &str, a: &HostValues, b: &HostValues) {
    assert_eq!(a.dtype(), b.dtype(), "[{}] {what}: dtype", t.label);
    assert_eq!(a.shape(), b.shape(), "[{}] {what}: shape", t.label);
    assert_eq!(a.to_bits_vec(), b.to_bits_vec(), "[{}] {what}: bits", t.label);
}

// ----- round trips ---------------------------------------------------------------------

#[test]
fn round_trip_is_bit_exact_on_every_device() {
    let dir = TempDir::new("round_trip");
    for_each_target("round_trip_is_bit_exact_on_every_device", targets(), |t| {
        let m = model(&t.device, t.f64, t.i64, Some(4));
        let s1 = trained(&m, 1);
        let path = dir.path("model.safetensors");
        let report =
            checkpoint::save(&s1, &path, &SaveOptions::default()).unwrap_or_else(|e| panic!("[{}] save: {e}", t.label));
        let names: Vec<&str> = report.tensors.iter().map(|t| t.name.as_str()).collect();
        let expected: Vec<&str> = m.refs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, expected, "[{}] tensor names are store keys, partitioned saved whole", t.label);

        // The header says what the issue asks for.
        let verified = checkpoint::verify(&path).unwrap();
        assert_eq!(verified.checksums, checkpoint::ChecksumStatus::Verified { tensors: m.refs.len() });
        let info = verified.info;
        assert_eq!(info.format_version, Some(1));
        assert_eq!(info.graph_seed, Some(77));
        let emb = info.tensor("net/emb").unwrap();
        assert_eq!(emb.shape, vec![10, 3]);
        assert_eq!(emb.partitioning.as_ref().map(|p| (p.axis, p.offsets.clone())), Some((0, vec![0, 3, 6, 8])));
        assert_eq!(info.tensor("net/w_bfloat16").unwrap().stored_dtype, StoredDType::BF16);
        assert!(info.tensors.iter().all(|t| t.checksum.is_some()));
        assert!(info.metadata.iter().any(|(k, v)| k == "dtype:net/w_float16" && v == "float16"));
        assert_eq!(report.tensors, info.tensors, "save report matches the file");

        // Restore into a fresh session of the same graph: bit-exact, initialized.
        let s2 = Session::with_options(&m.graph, opts()).unwrap();
        let r = checkpoint::restore(&s2, &path, &RestoreOptions::default().strict(true))
            .unwrap_or_else(|e| panic!("[{}] restore: {e}", t.label));
        assert!(r.missing_in_file.is_empty() && r.unexpected_in_file.is_empty(), "[{}] {r:?}", t.label);
        assert_eq!(r.restored.len(), m.refs.len());
        assert_eq!(r.saved_graph_seed, Some(77));
        assert_eq!(r.restored.iter().find(|x| x.variable == "net/emb").unwrap().shards, 4);
        for v in m.all_vars() {
            assert!(s2.is_variable_initialized(&v), "[{}] {} restored counts as initialized", t.label, v.key());
            assert_eq!(
                s2.variable_device(&v).as_deref(),
                Some(t.device.as_str()),
                "[{}] {} placement",
                t.label,
                v.key()
            );
        }
        assert!(s2.report_uninitialized_variables().is_empty());
        // The initializer skips restored variables.
        s2.global_variables_initializer().unwrap();
        for (name, r) in &m.refs {
            assert_same(t, name, &full(&s2, r), &full(&s1, r));
        }

        // Chunked variables (tiny chunks) restore and save the same bytes.
        if t.device != "/cpu:0" {
            let s3 = Session::with_options(&m.graph, opts().max_chunk_bytes(16)).unwrap();
            checkpoint::restore(&s3, &path, &RestoreOptions::default()).unwrap();
            let big = m.get("net/big").variables().remove(0);
            assert!(s3.buffers(&big).unwrap().chunks.len() > 1, "[{}] net/big is chunked", t.label);
            for (name, r) in &m.refs {
                assert_same(t, &format!("{name} chunked"), &full(&s3, r), &full(&s1, r));
            }
            let p2 = dir.path("chunked.safetensors");
            checkpoint::save(&s3, &p2, &SaveOptions::default()).unwrap();
            assert_eq!(
                std::fs::read(&p2).unwrap(),
                std::fs::read(&path).unwrap(),
                "[{}] same file from chunked buffers",
                t.label
            );
        }
    });
    assert!(dir.entries().iter().all(|n| !n.starts_with('.')), "no temporary files left: {:?}", dir.entries());
}

#[test]
fn a_checkpoint_moves_between_devices() {
    let dir = TempDir::new("between_devices");
    let all = targets();
    let f64_ok = all.iter().all(|t| t.f64);
    let i64_ok = all.iter().all(|t| t.i64);
    let path = dir.path("cpu.safetensors");
    let cpu = model("/cpu:0", f64_ok, i64_ok, Some(4));
    let s_cpu = trained(&cpu, 9);
    checkpoint::save(&s_cpu, &path, &SaveOptions::default()).unwrap();
    for_each_target("a_checkpoint_moves_between_devices", all.iter().filter(|t| t.is_gpu()), |t| {
        let m = model(&t.device, f64_ok, i64_ok, Some(3));
        let s = Session::with_options(&m.graph, opts()).unwrap();
        checkpoint::restore(&s, &path, &RestoreOptions::default().strict(true))
            .unwrap_or_else(|e| panic!("[{}] {e}", t.label));
        for (name, r) in &m.refs {
            assert_same(t, name, &full(&s, r), &full(&s_cpu, cpu.get(name)));
        }
        // And back: the GPU's save is the CPU's file, byte for byte, up to partitioning
        // metadata (3 shards here), so compare by restoring into the CPU model.
        let back = dir.path("gpu.safetensors");
        checkpoint::save(&s, &back, &SaveOptions::default()).unwrap();
        let s_back = Session::with_options(&cpu.graph, opts()).unwrap();
        checkpoint::restore(&s_back, &back, &RestoreOptions::default().strict(true)).unwrap();
        for (name, r) in &cpu.refs {
            assert_same(t, &format!("{name} back"), &full(&s_back, r), &full(&s_cpu, r));
        }
    });
}

#[test]
fn restores_into_other_partitionings() {
    let dir = TempDir::new("repartition");
    for_each_target("restores_into_other_partitionings", targets(), |t| {
        let make = |parts: Option<(i64, usize)>| {
            let g = Graph::new();
            let mut b = g.get_variable("emb").shape([10u64, 6]).caching_device(t.device.as_str());
            if let Some((k, axis)) = parts {
                b = b.partitioner(Partitioner::fixed_size_axis(k, axis));
            }
            let r = b.get().unwrap();
            (g, r)
        };
        let (g4, r4) = make(Some((4, 0)));
        let s4 = Session::with_options(&g4, opts()).unwrap();
        set_pattern(&s4, &r4, 5);
        let want = full(&s4, &r4);
        let path = dir.path("four.safetensors");
        checkpoint::save(&s4, &path, &SaveOptions::default()).unwrap();
        for parts in [Some((3, 0)), None, Some((4, 1)), Some((6, 1)), Some((1, 0)), Some((10, 0))] {
            let (g, r) = make(parts);
            let s = Session::with_options(&g, opts()).unwrap();
            let rep = checkpoint::restore(&s, &path, &RestoreOptions::default().strict(true)).unwrap();
            assert_eq!(rep.restored[0].shards, r.variables().len());
            assert_same(t, &format!("4 shards -> {parts:?}"), &full(&s, &r), &want);
            // Saved again from this partitioning, the tensor is the same.
            let p2 = dir.path("again.safetensors");
            checkpoint::save(&s, &p2, &SaveOptions::default()).unwrap();
            let s_back = Session::with_options(&g4, opts()).unwrap();
            checkpoint::restore(&s_back, &p2, &RestoreOptions::default()).unwrap();
            assert_same(t, &format!("{parts:?} -> 4 shards"), &full(&s_back, &r4), &want);
        }
        // Only some shards selected: each takes its slice.
        let (g3, r3) = make(Some((3, 0)));
        let s3 = Session::with_options(&g3, opts()).unwrap();
        let shards = r3.variables();
        let rep =
            checkpoint::restore(&s3, &path, &RestoreOptions::default().variables(vec![shards[1].clone()])).unwrap();
        assert_eq!(rep.restored[0].shards, 1);
        assert!(!s3.is_variable_initialized(&shards[0]) && !s3.is_variable_initialized(&shards[2]));
        let si = shards[1].slice_info().unwrap();
        let w = want.bytes();
        let row = 6 * 4;
        let expect = &w[si.var_offset[0] as usize * row..(si.var_offset[0] + si.var_shape[0]) as usize * row];
        assert_eq!(s3.read(&shards[1]).unwrap().bytes(), expect, "[{}] single shard slice", t.label);
    });
}

// ----- dtype conversion ----------------------------------------------------------------

#[test]
fn converts_between_float_dtypes() {
    let dir = TempDir::new("dtype");
    let values: Vec<f32> = vec![
        0.0,
        -0.0,
        1.0,
        1.000_976_6,
        1.000_488_3,
        std::f32::consts::PI,
        -65504.0,
        65520.0,
        1e-8,
        6.1e-5,
        1e30,
        f32::INFINITY,
        f32::NAN,
        -2.5,
    ];
    let shape = [values.len() as u64];
    for_each_target("converts_between_float_dtypes", targets(), |t| {
        let g = Graph::new();
        let mk = |name: &str, d: DType| {
            var(g.get_variable(name).shape(shape).dtype(d).caching_device(t.device.as_str()).get().unwrap())
        };
        let (a, h, b) = (mk("a", DType::Float32), mk("h", DType::Float16), mk("b", DType::BFloat16));
        let s = Session::with_options(&g, opts()).unwrap();
        s.assign(&a, &HostValues::from_f32(&shape, &values).unwrap()).unwrap();
        let path = dir.path("f32.safetensors");
        checkpoint::save(&s, &path, &SaveOptions::default().variables(vec![a.clone()])).unwrap();

        // float32 -> float16 and bfloat16, rounded to nearest even like `half`.
        let g2 = Graph::new();
        let h2 = var(g2
            .get_variable("a")
            .shape(shape)
            .dtype(DType::Float16)
            .caching_device(t.device.as_str())
            .get()
            .unwrap());
        let s2 = Session::with_options(&g2, opts()).unwrap();
        let rep = checkpoint::restore(&s2, &path, &RestoreOptions::default().strict(true)).unwrap();
        assert_eq!((rep.restored[0].file_dtype, rep.restored[0].dtype), (StoredDType::F32, DType::Float16));
        let want: Vec<u64> = values.iter().map(|&x| f16::from_f32(x).to_bits() as u64).collect();
        assert_eq!(s2.read(&h2).unwrap().to_bits_vec(), want, "[{}] f32 -> f16", t.label);

        let g3 = Graph::new();
        let b3 = var(g3
            .get_variable("a")
            .shape(shape)
            .dtype(DType::BFloat16)
            .caching_device(t.device.as_str())
            .get()
            .unwrap());
        let s3 = Session::with_options(&g3, opts()).unwrap();
        checkpoint::restore(&s3, &path, &RestoreOptions::default()).unwrap();
        let want: Vec<u64> = values.iter().map(|&x| bf16::from_f32(x).to_bits() as u64).collect();
        assert_eq!(s3.read(&b3).unwrap().to_bits_vec(), want, "[{}] f32 -> bf16", t.label);

        // float16 -> float32 is exact; bfloat16 -> float16 rounds once.
        s.assign(&h, &s2.read(&h2).unwrap()).unwrap();
        s.assign(&b, &s3.read(&b3).unwrap()).unwrap();
        let p16 = dir.path("halves.safetensors");
        checkpoint::save(&s, &p16, &SaveOptions::default().variables(vec![h.clone(), b.clone()])).unwrap();
        let g4 = Graph::new();
        let h4 = var(g4
            .get_variable("h")
            .shape(shape)
            .dtype(DType::Float32)
            .caching_device(t.device.as_str())
            .get()
            .unwrap());
        let b4 = var(g4
            .get_variable("b")
            .shape(shape)
            .dtype(DType::Float16)
            .caching_device(t.device.as_str())
            .get()
            .unwrap());
        let s4 = Session::with_options(&g4, opts()).unwrap();
        checkpoint::restore(&s4, &p16, &RestoreOptions::default().strict(true)).unwrap();
        let want: Vec<u64> = values.iter().map(|&x| f16::from_f32(x).to_f32().to_bits() as u64).collect();
        assert_eq!(s4.read(&h4).unwrap().to_bits_vec(), want, "[{}] f16 -> f32", t.label);
        let want: Vec<u64> =
            values.iter().map(|&x| f16::from_f32(bf16::from_f32(x).to_f32()).to_bits() as u64).collect();
        assert_eq!(s4.read(&b4).unwrap().to_bits_vec(), want, "[{}] bf16 -> f16", t.label);
    });
}

// ----- names: remapping, partial, strict -----------------------------------------------

fn scoped_graph(device: &str, names: &[&str]) -> (Graph, HashMap<String, Variable>) {
    let g = Graph::new();
    let mut m = HashMap::new();
    for n in names {
        let v = var(g.get_variable(n).shape([2u64, 2]).caching_device(device).get().unwrap());
        m.insert(n.to_string(), v);
    }
    (g, m)
}

#[test]
fn assignment_map_remaps_scopes_and_names() {
    let dir = TempDir::new("map");
    for_each_target("assignment_map_remaps_scopes_and_names", targets(), |t| {
        let (g, src) = scoped_graph(&t.device, &["old/a", "old/b", "old/inner/c", "old/v", "other/x"]);
        let s = Session::with_options(&g, opts()).unwrap();
        for (i, v) in src.values().enumerate() {
            s.assign(v, &pattern(DType::Float32, &[2, 2], i as u64 + 1)).unwrap();
        }
        let path = dir.path("old.safetensors");
        checkpoint::save(&s, &path, &SaveOptions::default()).unwrap();
        let val = |n: &str| s.read(&src[n]).unwrap().to_bits_vec();

        let (g2, dst) = scoped_graph(&t.device, &["new/a", "new/b", "deep/c", "new/w", "untouched"]);
        let s2 = Session::with_options(&g2, opts()).unwrap();
        let ropts = RestoreOptions::default()
            .map("old/", "new/")
            .map("old/inner/", "deep/") // longer prefix wins over old/
            .map("old/v", "new/w"); // an exact name beats both scopes
        let rep = checkpoint::restore(&s2, &path, &ropts).unwrap_or_else(|e| panic!("[{}] {e}", t.label));
        let mut pairs: Vec<(String, String)> =
            rep.restored.iter().map(|r| (r.tensor.clone(), r.variable.clone())).collect();
        pairs.sort();
        assert_eq!(
            pairs,
            vec![
                ("old/a".into(), "new/a".into()),
                ("old/b".into(), "new/b".into()),
                ("old/inner/c".into(), "deep/c".into()),
                ("old/v".into(), "new/w".into())
            ]
        );
        assert_eq!(rep.unexpected_in_file, vec!["other/x".to_string()], "unmapped tensors are not restored");
        assert_eq!(rep.missing_in_file, vec!["untouched".to_string()]);
        for (from, to) in [("old/a", "new/a"), ("old/b", "new/b"), ("old/inner/c", "deep/c"), ("old/v", "new/w")] {
            assert_eq!(s2.read(&dst[to]).unwrap().to_bits_vec(), val(from), "[{}] {from} -> {to}", t.label);
        }
        assert!(!s2.is_variable_initialized(&dst["untouched"]));

        // The root scope: "/" -> "moved/".
        let (g3, dst3) = scoped_graph(&t.device, &["moved/old/a", "moved/other/x"]);
        let s3 = Session::with_options(&g3, opts()).unwrap();
        let rep = checkpoint::restore(&s3, &path, &RestoreOptions::default().map("/", "moved/")).unwrap_err();
        assert!(
            matches!(format_error(&rep), Some(FormatError::MapTargetNotFound { target, .. }) if target.starts_with("moved/old/")),
            "{rep}"
        );
        assert!(dst3.values().all(|v| !s3.is_variable_initialized(v)), "[{}] failed map restored nothing", t.label);
        let ok = checkpoint::restore(
            &s3,
            &path,
            &RestoreOptions::default().map("old/a", "moved/old/a").map("other/", "moved/other/"),
        )
        .unwrap();
        assert_eq!(ok.restored.len(), 2);
        assert_eq!(s3.read(&dst3["moved/other/x"]).unwrap().to_bits_vec(), val("other/x"));
    });
}

#[test]
fn partial_restore_reports_and_strict_restore_refuses() {
    let dir = TempDir::new("partial");
    let (g, src) = scoped_graph("/cpu:0", &["a", "b", "only_in_file"]);
    let s = Session::with_options(&g, opts()).unwrap();
    for (i, v) in src.values().enumerate() {
        s.assign(v, &pattern(DType::Float32, &[2, 2], i as u64)).unwrap();
    }
    let path = dir.path("ckpt.safetensors");
    checkpoint::save(&s, &path, &SaveOptions::default()).unwrap();

    let (g2, dst) = scoped_graph("/cpu:0", &["a", "b", "only_in_graph"]);
    let s2 = Session::with_options(&g2, opts()).unwrap();
    s2.global_variables_initializer().unwrap();
    let before = snapshot(&s2, &[dst["a"].clone(), dst["b"].clone(), dst["only_in_graph"].clone()]);

    let err = checkpoint::restore(&s2, &path, &RestoreOptions::default().strict(true)).unwrap_err();
    match format_error(&err) {
        Some(FormatError::Strict { missing_in_file, unexpected_in_file, .. }) => {
            assert_eq!(missing_in_file, &vec!["only_in_graph".to_string()]);
            assert_eq!(unexpected_in_file, &vec!["only_in_file".to_string()]);
        }
        _ => panic!("expected Strict, got {err}"),
    }
    assert!(err.to_string().contains("only_in_graph") && err.to_string().contains("only_in_file"), "{err}");
    assert_eq!(
        snapshot(&s2, &[dst["a"].clone(), dst["b"].clone(), dst["only_in_graph"].clone()]),
        before,
        "strict failure changed nothing"
    );

    let rep = checkpoint::restore(&s2, &path, &RestoreOptions::default()).unwrap();
    assert_eq!(rep.missing_in_file, vec!["only_in_graph".to_string()]);
    assert_eq!(rep.unexpected_in_file, vec!["only_in_file".to_string()]);
    assert_eq!(s2.read(&dst["a"]).unwrap().to_bits_vec(), s.read(&src["a"]).unwrap().to_bits_vec());
    assert_eq!(
        s2.read(&dst["only_in_graph"]).unwrap().to_bits_vec(),
        before[2].clone().unwrap(),
        "not in the file: untouched"
    );

    // Strict over a selection that matches exactly: fine.
    let rep =
        checkpoint::restore(&s2, &path, &RestoreOptions::default().variables(vec![dst["a"].clone()]).map("a", "a"))
            .unwrap();
    assert_eq!(rep.restored.len(), 1);
    assert!(rep.missing_in_file.is_empty());

    // An uninitialized graph: restore, then the initializer only runs for the rest.
    let (g3, dst3) = scoped_graph("/cpu:0", &["a", "fresh"]);
    let s3 = Session::with_options(&g3, opts()).unwrap();
    checkpoint::restore(&s3, &path, &RestoreOptions::default()).unwrap();
    assert_eq!(s3.report_uninitialized_variables(), vec!["fresh".to_string()]);
    s3.global_variables_initializer().unwrap();
    assert_eq!(
        s3.read(&dst3["a"]).unwrap().to_bits_vec(),
        s.read(&src["a"]).unwrap().to_bits_vec(),
        "initializer skipped the restored variable"
    );
}

// ----- files from other tools ----------------------------------------------------------

#[test]
fn files_written_by_other_tools_load_by_name() {
    use safetensors::tensor::{Dtype, TensorView};
    let dir = TempDir::new("foreign");
    let path = dir.path("pytorch.safetensors");
    let w: Vec<f32> = (0..6).map(|i| i as f32 * 0.5 - 1.0).collect();
    let b: Vec<f16> = [0.25f32, -3.0, 7.5].iter().map(|&x| f16::from_f32(x)).collect();
    let steps: i64 = 1234;
    let wb: Vec<u8> = bytemuck::cast_slice(&w).to_vec();
    let bb: Vec<u8> = bytemuck::cast_slice(&b).to_vec();
    let sb = steps.to_le_bytes().to_vec();
    let tensors = vec![
        ("layer/w", TensorView::new(Dtype::F32, vec![2, 3], &wb).unwrap()),
        ("layer/b", TensorView::new(Dtype::F16, vec![3], &bb).unwrap()),
        ("num_batches_tracked", TensorView::new(Dtype::I64, vec![], &sb).unwrap()),
    ];
    let meta: HashMap<String, String> = [("format".to_string(), "pt".to_string())].into();
    safetensors::serialize_to_file(tensors, &Some(meta), &path).unwrap();

    let info = checkpoint::inspect(&path).unwrap();
    assert_eq!(info.format_version, None);
    assert_eq!(
        checkpoint::verify(&path).unwrap().checksums,
        checkpoint::ChecksumStatus::NotRecorded,
        "no checksums to verify"
    );
    assert!(info.tensors.iter().all(|t| t.checksum.is_none()));
    assert_eq!(info.tensor("layer/b").unwrap().stored_dtype, StoredDType::F16);

    for_each_target("files_written_by_other_tools_load_by_name", targets(), |t| {
        let g = Graph::new();
        let lw = var(g.get_variable("layer/w").shape([2u64, 3]).caching_device(t.device.as_str()).get().unwrap());
        let lb = var(g.get_variable("layer/b").shape([3u64]).caching_device(t.device.as_str()).get().unwrap());
        let s = Session::with_options(&g, opts()).unwrap();
        let rep = checkpoint::restore(&s, &path, &RestoreOptions::default()).unwrap();
        assert_eq!(rep.unexpected_in_file, vec!["num_batches_tracked".to_string()]);
        assert_eq!(s.read_f32(&lw).unwrap(), w, "[{}]", t.label);
        assert_eq!(s.read_f32(&lb).unwrap(), vec![0.25, -3.0, 7.5], "[{}] f16 -> f32", t.label);
    });

    // And the safetensors crate reads what varscope writes.
    let g = Graph::new();
    let v = var(g.get_variable("x/y").shape([2u64, 2]).dtype(DType::BFloat16).get().unwrap());
    let s = Session::with_options(&g, opts().default_device("/cpu:0")).unwrap();
    s.assign(&v, &pattern(DType::BFloat16, &[2, 2], 3)).unwrap();
    let ours = dir.path("ours.safetensors");
    checkpoint::save(&s, &ours, &SaveOptions::default()).unwrap();
    let bytes = std::fs::read(&ours).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let tv = st.tensor("x/y").unwrap();
    assert_eq!(tv.dtype(), Dtype::BF16);
    assert_eq!(tv.shape(), &[2, 2]);
    assert_eq!(tv.data(), s.read(&v).unwrap().bytes());
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!(meta.metadata().as_ref().unwrap().get("varscope.format_version").map(String::as_str), Some("1"));
}

// ----- atomic saves --------------------------------------------------------------------

#[test]
fn a_failed_save_leaves_the_previous_checkpoint_intact() {
    let dir = TempDir::new("atomic");
    let m = model("/cpu:0", true, true, Some(4));
    let s = trained(&m, 2);
    let path = dir.path("ckpt.safetensors");
    checkpoint::save(&s, &path, &SaveOptions::default()).unwrap();
    let good = std::fs::read(&path).unwrap();
    let len = good.len() as u64;
    let header = u64::from_le_bytes(good[..8].try_into().unwrap()) + 8;

    // New values, then saves that fail: before the header, half-way through the data,
    // and while rewriting the header at the very end.
    for (_, r) in &m.refs {
        set_pattern(&s, r, 3);
    }
    for budget in [0, 5, header / 2, header + (len - header) / 2, len - 1, len, len + header - 9] {
        let err = checkpoint::save(&s, &path, &SaveOptions::default().fail_after_bytes(budget)).unwrap_err();
        assert!(
            matches!(format_error(&err), Some(FormatError::Io { operation, .. }) if *operation == "write"),
            "budget {budget}: {err}"
        );
        assert!(err.to_string().contains("injected failure"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), good, "budget {budget}: previous checkpoint intact");
        assert_eq!(dir.entries(), vec!["ckpt.safetensors".to_string()], "budget {budget}: temporary file removed");
    }
    // A large enough budget succeeds, and the new values are there.
    checkpoint::save(&s, &path, &SaveOptions::default().fail_after_bytes(len + header)).unwrap();
    assert_ne!(std::fs::read(&path).unwrap(), good);

    // A crash leaves a stale temporary file behind. The next save to the same path
    // removes those of dead processes and leaves those of running ones (this one) alone.
    let mut child = std::process::Command::new("true").spawn().expect("spawn true");
    let dead_pid = child.id();
    child.wait().unwrap();
    let dead = dir.path(&format!(".ckpt.safetensors.varscope-tmp.{dead_pid}.0"));
    let live = dir.path(&format!(".ckpt.safetensors.varscope-tmp.{}.999999", std::process::id()));
    for p in [&dead, &live] {
        std::fs::write(p, &good[..good.len() / 2]).unwrap();
    }
    checkpoint::save(&s, &path, &SaveOptions::default()).unwrap();
    checkpoint::verify(&path).unwrap();
    assert!(!dead.exists(), "a dead process's temporary file is removed");
    assert_eq!(std::fs::read(&live).unwrap(), &good[..good.len() / 2], "a running process's temporary file is kept");
}

/// Issue 14: saves behave like a careful tool: through symlinks to their target,
/// refusing special files and impossible destinations before writing, with legal long
/// names.
#[test]
#[cfg(unix)]
fn saves_write_through_symlinks_and_refuse_special_destinations() {
    use checkpoint::{DestinationProblem, FileKind};
    let dir = TempDir::new("destinations");
    let (g, vars) = scoped_graph("/cpu:0", &["a", "b"]);
    let s = Session::with_options(&g, opts()).unwrap();
    for (i, v) in vars.values().enumerate() {
        s.assign(v, &pattern(DType::Float32, &[2, 2], i as u64)).unwrap();
    }
    std::fs::create_dir(dir.path("real")).unwrap();
    std::fs::write(dir.path("real/ckpt.safetensors"), b"old").unwrap();
    let link = dir.path("link.safetensors");
    std::os::unix::fs::symlink("real/ckpt.safetensors", &link).unwrap();
    checkpoint::save(&s, &link, &SaveOptions::default()).unwrap();
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link stays a link");
    assert_eq!(
        checkpoint::verify(dir.path("real/ckpt.safetensors")).unwrap().info.tensors.len(),
        2,
        "its target has the checkpoint"
    );

    let fifo = dir.path("fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let refused = |p: &Path| match checkpoint::save(&s, p, &SaveOptions::default()) {
        Err(CheckpointError::Format(FormatError::SaveDestination { problem, .. })) => problem,
        other => panic!("{}: expected a destination error, got {other:?}", p.display()),
    };
    assert_eq!(refused(&fifo), DestinationProblem::SpecialFile(FileKind::Fifo));
    assert_eq!(refused(Path::new("/dev/null")), DestinationProblem::SpecialFile(FileKind::CharDevice));
    assert_eq!(refused(dir.dir()), DestinationProblem::IsDirectory);
    assert_eq!(refused(Path::new(".")), DestinationProblem::NoFileName);
    assert_eq!(refused(&dir.path("missing/x.safetensors")), DestinationProblem::MissingDirectory(dir.path("missing")));
    let fifo_md = std::fs::symlink_metadata(&fifo).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&fifo_md.file_type()), "the FIFO is not replaced");
    assert_eq!(checkpoint::check_save_destination(&link).unwrap(), dir.path("real/ckpt.safetensors"));

    // A legal 252-byte name (the temporary name is shortened to fit NAME_MAX).
    let long = dir.path(&format!("{}.safetensors", "x".repeat(252 - ".safetensors".len())));
    checkpoint::save(&s, &long, &SaveOptions::default()).unwrap_or_else(|e| panic!("252-byte name: {e}"));
    checkpoint::verify(&long).unwrap();
    let mut names = dir.entries();
    names.retain(|n| n.starts_with('.'));
    assert!(names.is_empty(), "no temporary files left: {names:?}");
}

/// Issue 14: special files are refused up front (a FIFO would block an open forever).
#[test]
#[cfg(unix)]
fn inspect_verify_and_restore_refuse_special_files() {
    let dir = TempDir::new("special");
    let fifo = dir.path("fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let (g, _) = scoped_graph("/cpu:0", &["a"]);
    let s = Session::with_options(&g, opts()).unwrap();
    for p in [fifo.as_path(), dir.dir(), Path::new("/dev/null")] {
        assert!(matches!(checkpoint::inspect(p), Err(FormatError::NotAFile { .. })), "{}", p.display());
        assert!(matches!(checkpoint::verify(p), Err(FormatError::NotAFile { .. })), "{}", p.display());
        let err = checkpoint::restore(&s, p, &RestoreOptions::default()).unwrap_err();
        assert!(matches!(format_error(&err), Some(FormatError::NotAFile { .. })), "{}: {err}", p.display());
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }
}

#[test]
fn saving_an_uninitialized_variable_fails_before_writing() {
    let dir = TempDir::new("uninit_save");
    let (g, vars) = scoped_graph("/cpu:0", &["a", "b"]);
    let s = Session::with_options(&g, opts()).unwrap();
    s.assign(&vars["a"], &pattern(DType::Float32, &[2, 2], 1)).unwrap();
    let path = dir.path("ckpt.safetensors");
    std::fs::write(&path, b"previous").unwrap();
    let err = checkpoint::save(&s, &path, &SaveOptions::default()).unwrap_err();
    assert!(
        matches!(&err, CheckpointError::Gpu(varscope_gpu::GpuError::Uninitialized { variable }) if variable == "b"),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"previous");
    assert_eq!(dir.entries(), vec!["ckpt.safetensors".to_string()]);
}

#[test]
fn saving_some_shards_of_a_partitioned_variable_is_an_error() {
    let dir = TempDir::new("some_shards");
    let g = Graph::new();
    let p = g
        .get_variable("p")
        .shape([8u64, 2])
        .partitioner(Partitioner::fixed_size(4))
        .caching_device("/cpu:0")
        .get()
        .unwrap();
    let s = Session::with_options(&g, opts()).unwrap();
    s.global_variables_initializer().unwrap();
    let shards = p.variables();
    let err = checkpoint::save(&s, dir.path("x"), &SaveOptions::default().variables(shards[..2].to_vec())).unwrap_err();
    match err {
        CheckpointError::Format(FormatError::IncompleteShards { variable, missing }) => {
            assert_eq!(variable, "p");
            assert_eq!(missing, vec!["p/part_2".to_string(), "p/part_3".to_string()]);
        }
        e => panic!("expected IncompleteShards, got {e}"),
    }
    assert!(dir.entries().is_empty());
}

// ----- failure cases: typed errors, nothing changes -------------------------------------

/// A saved checkpoint and a second session over the same graph whose variables hold
/// other values (one left uninitialized). `check` runs a failing restore and asserts
/// that every variable is as it was.
struct Failing {
    _dir: TempDir,
    path: PathBuf,
    good: Vec<u8>,
}

fn failing_fixture(test: &str) -> (Failing, Model) {
    let dir = TempDir::new(test);
    let m = model("/cpu:0", true, true, Some(4));
    let path = dir.path("ckpt.safetensors");
    {
        let s = trained(&m, 4);
        checkpoint::save(&s, &path, &SaveOptions::default()).unwrap();
    }
    let good = std::fs::read(&path).unwrap();
    (Failing { _dir: dir, path, good }, m)
}

/// Runs `restore` on every device: previous values and initialization state survive.
fn assert_restore_fails_cleanly(
    test: &'static str,
    m_for: impl Fn(&str, bool, bool) -> Model,
    path: &Path,
    restore_opts: impl Fn(&Model) -> RestoreOptions,
    check: impl Fn(&CheckpointError) -> bool,
) {
    for_each_target("assert_restore_fails_cleanly", targets(), |t| {
        let m = m_for(&t.device, t.f64, t.i64);
        let s = Session::with_options(&m.graph, opts()).unwrap();
        s.global_variables_initializer().unwrap();
        let vars = m.all_vars();
        // One variable uninitialized: it must stay so.
        s.release(&vars[0]);
        for (_, r) in m.refs.iter().skip(1) {
            set_pattern(&s, r, 8);
        }
        let before = snapshot(&s, &vars);
        let bytes_before = s.bytes_in_use(&t.device).unwrap();
        let err = checkpoint::restore(&s, path, &restore_opts(&m)).expect_err("restore must fail");
        assert!(check(&err), "[{}] {test}: unexpected error {err:?}", t.label);
        let msg = err.to_string();
        assert!(!msg.is_empty());
        assert_eq!(snapshot(&s, &vars), before, "[{}] {test}: a variable changed ({msg})", t.label);
        assert!(
            !s.is_variable_initialized(&vars[0]),
            "[{}] {test}: uninitialized variable became initialized",
            t.label
        );
        assert_eq!(s.bytes_in_use(&t.device).unwrap(), bytes_before, "[{}] {test}: device memory changed", t.label);
    });
}

fn same_model(device: &str, f64_ok: bool, i64_ok: bool) -> Model {
    model(device, f64_ok, i64_ok, Some(3))
}

fn write_variant(f: &Failing, name: &str, bytes: &[u8]) -> PathBuf {
    let p = f.path.with_file_name(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn truncated_file_is_an_error_and_changes_nothing() {
    let (f, _) = failing_fixture("truncated");
    let header = u64::from_le_bytes(f.good[..8].try_into().unwrap()) as usize + 8;
    for cut in [0usize, 3, 8, header / 2, header, f.good.len() - 1] {
        let p = write_variant(&f, &format!("cut{cut}.safetensors"), &f.good[..cut]);
        assert_restore_fails_cleanly(
            "truncated file",
            same_model,
            &p,
            |_| RestoreOptions::default(),
            |e| matches!(format_error(e), Some(FormatError::Truncated { actual, .. }) if *actual == cut as u64),
        );
    }
    let err = checkpoint::inspect(f.path.with_file_name(format!("cut{}.safetensors", f.good.len() - 1))).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
}

/// Issue 14: a file truncated by another process after the restore validated it is an
/// error when its data is read (no SIGBUS: nothing is memory-mapped), and no variable
/// changes.
#[test]
fn a_file_truncated_during_a_restore_is_an_error_and_changes_nothing() {
    let (f, _) = failing_fixture("truncated_during");
    let p = f.path.with_file_name("shrinks.safetensors");
    fn truncate(p: &Path) {
        std::fs::OpenOptions::new().write(true).open(p).unwrap().set_len(100).unwrap();
    }
    assert_restore_fails_cleanly(
        "truncated during restore",
        same_model,
        &p,
        |_| {
            std::fs::write(&p, &f.good).unwrap();
            RestoreOptions::default().after_validation(truncate)
        },
        |e| matches!(format_error(e), Some(FormatError::ChangedWhileReading { actual: 100, .. })),
    );
}

#[test]
fn corrupt_header_is_an_error_and_changes_nothing() {
    let (f, _) = failing_fixture("corrupt_header");
    let header = u64::from_le_bytes(f.good[..8].try_into().unwrap()) as usize + 8;
    let text = std::str::from_utf8(&f.good[8..header]).unwrap().to_string();
    let mutate = |from: &str, to: &str| -> Vec<u8> {
        assert!(text.contains(from), "fixture header lacks {from}");
        let t = text.replacen(from, to, 1);
        let mut out = (t.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(t.as_bytes());
        out.extend_from_slice(&f.good[header..]);
        out
    };
    let mut bad_json = f.good.clone();
    bad_json[8] = b'[';
    let mut huge = f.good.clone();
    huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not json", bad_json),
        ("header length", huge),
        ("unknown dtype", mutate("\"dtype\":\"F32\"", "\"dtype\":\"F33\"")),
        ("bad offsets", mutate("\"data_offsets\":[0,", "\"data_offsets\":[1,")),
        ("bad shape", mutate("\"shape\":[3,5]", "\"shape\":[3,6]")),
        ("metadata dtype", mutate("\"dtype:net/w_float32\":\"float32\"", "\"dtype:net/w_float32\":\"int32\"")),
        ("checksum format", mutate("\"checksum:net/w_float32\":\"xxh64:", "\"checksum:net/w_float32\":\"crc32:")),
        ("partitioning", mutate("axis:0;shards:4", "axis:5;shards:4")),
    ];
    for (what, bytes) in cases {
        let p = write_variant(&f, "bad.safetensors", &bytes);
        assert_restore_fails_cleanly(
            "corrupt header",
            same_model,
            &p,
            |_| RestoreOptions::default(),
            |e| {
                matches!(format_error(e), Some(FormatError::CorruptHeader { .. } | FormatError::CorruptMetadata { .. }))
            },
        );
        let err = checkpoint::inspect(&p).unwrap_err();
        eprintln!("{what}: {err}");
    }
    let p = write_variant(
        &f,
        "v2.safetensors",
        &mutate("\"varscope.format_version\":\"1\"", "\"varscope.format_version\":\"2\""),
    );
    assert!(
        matches!(checkpoint::inspect(&p), Err(FormatError::UnsupportedVersion { ref version, .. }) if version == "2")
    );
}

#[test]
fn checksum_mismatch_is_an_error_and_changes_nothing() {
    let (f, _) = failing_fixture("checksum");
    // Flip one bit in the last tensor's data: every tensor before it is fine, and still
    // none may be written.
    let mut bad = f.good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x10;
    let p = write_variant(&f, "flipped.safetensors", &bad);
    let info = checkpoint::inspect(&p).unwrap();
    let last_name = info.tensors.last().unwrap().name.clone();
    assert_restore_fails_cleanly(
        "checksum mismatch",
        same_model,
        &p,
        |_| RestoreOptions::default(),
        |e| matches!(format_error(e), Some(FormatError::ChecksumMismatch { tensor, expected, actual, .. }) if *tensor == last_name && expected != actual),
    );
    assert!(matches!(checkpoint::verify(&p), Err(FormatError::ChecksumMismatch { .. })));
    // Restoring only tensors whose bytes are fine works.
    let g = Graph::new();
    let v = var(g.get_variable("net/w_float32").shape([3u64, 5]).caching_device("/cpu:0").get().unwrap());
    let s = Session::with_options(&g, opts()).unwrap();
    checkpoint::restore(&s, &p, &RestoreOptions::default()).unwrap();
    assert!(s.is_variable_initialized(&v));
}

#[test]
fn shape_that_does_not_fit_is_an_error_and_changes_nothing() {
    let (f, _) = failing_fixture("shape");
    // Graph where net/emb is [10, 4].
    let m_for = |device: &str, _f: bool, _i: bool| {
        let g = Graph::new();
        let mut refs = Vec::new();
        let r = g.get_variable("net/w_float32").shape([3u64, 5]).caching_device(device).get().unwrap();
        refs.push(("net/w_float32".to_string(), r));
        let r = g
            .get_variable("net/emb")
            .shape([10u64, 4])
            .partitioner(Partitioner::fixed_size(2))
            .caching_device(device)
            .get()
            .unwrap();
        refs.push(("net/emb".to_string(), r));
        Model { graph: g, refs }
    };
    assert_restore_fails_cleanly(
        "shape mismatch",
        m_for,
        &f.path,
        |_| RestoreOptions::default(),
        |e| {
            matches!(format_error(e), Some(FormatError::ShapeMismatch { variable, file_shape, graph_shape, .. })
            if variable == "net/emb" && *file_shape == vec![10, 3] && *graph_shape == vec![10, 4])
        },
    );
}

#[test]
fn dtype_that_does_not_fit_is_an_error_and_changes_nothing() {
    let (f, _) = failing_fixture("dtype");
    let m_for = |device: &str, _f: bool, _i: bool| {
        let g = Graph::new();
        let mut refs = Vec::new();
        let r = g.get_variable("net/w_float16").shape([3u64, 5]).caching_device(device).get().unwrap();
        refs.push(("net/w_float16".to_string(), r));
        // A float tensor into an int32 variable: no conversion exists.
        let r =
            g.get_variable("net/w_float32").shape([3u64, 5]).dtype(DType::Int32).caching_device(device).get().unwrap();
        refs.push(("net/w_float32".to_string(), r));
        Model { graph: g, refs }
    };
    assert_restore_fails_cleanly(
        "dtype mismatch",
        m_for,
        &f.path,
        |_| RestoreOptions::default(),
        |e| matches!(format_error(e), Some(FormatError::DTypeMismatch { variable, file_dtype: StoredDType::F32, dtype: DType::Int32, .. }) if variable == "net/w_float32"),
    );
}

#[test]
fn a_name_the_map_sends_nowhere_is_an_error_and_changes_nothing() {
    let (f, _) = failing_fixture("map_nowhere");
    assert_restore_fails_cleanly(
        "map target not found",
        same_model,
        &f.path,
        |_| RestoreOptions::default().map("net/", "nowhere/"),
        |e| matches!(format_error(e), Some(FormatError::MapTargetNotFound { target, .. }) if target.starts_with("nowhere/")),
    );
    assert_restore_fails_cleanly(
        "map source not found",
        same_model,
        &f.path,
        |_| RestoreOptions::default().map("gone/v", "net/w_float32"),
        |e| matches!(format_error(e), Some(FormatError::MapSourceNotFound { from, .. }) if from == "gone/v"),
    );
    assert_restore_fails_cleanly(
        "invalid map entry",
        same_model,
        &f.path,
        |_| RestoreOptions::default().map("net/", "net/w_float32"),
        |e| matches!(format_error(e), Some(FormatError::InvalidMapEntry { .. })),
    );
    assert_restore_fails_cleanly(
        "duplicate target",
        same_model,
        &f.path,
        |_| RestoreOptions::default().map("net/w_float32", "net/scalar").map("net/w_float16", "net/scalar"),
        |e| matches!(format_error(e), Some(FormatError::DuplicateTarget { variable, .. }) if variable == "net/scalar"),
    );
}

#[test]
fn bad_bool_bytes_are_an_error_in_foreign_files() {
    use safetensors::tensor::{Dtype, TensorView};
    let dir = TempDir::new("bool");
    let path = dir.path("b.safetensors");
    let data = [0u8, 1, 2];
    safetensors::serialize_to_file(
        vec![("flags", TensorView::new(Dtype::BOOL, vec![3], &data).unwrap())],
        &None,
        &path,
    )
    .unwrap();
    let g = Graph::new();
    let v = var(g.get_variable("flags").shape([3u64]).dtype(DType::Bool).caching_device("/cpu:0").get().unwrap());
    let s = Session::with_options(&g, opts()).unwrap();
    let err = checkpoint::restore(&s, &path, &RestoreOptions::default()).unwrap_err();
    assert!(matches!(format_error(&err), Some(FormatError::InvalidBool { index: 2, byte: 2, .. })), "{err}");
    assert!(!s.is_variable_initialized(&v));
}

#[test]
fn missing_file_is_an_io_error() {
    let g = Graph::new();
    let s = Session::with_options(&g, opts().backends(wgpu_none())).unwrap();
    let err = checkpoint::restore(&s, "/nonexistent/dir/ckpt.safetensors", &RestoreOptions::default()).unwrap_err();
    assert!(matches!(format_error(&err), Some(FormatError::Io { operation, .. }) if *operation == "open"), "{err}");
    assert!(err.to_string().contains("/nonexistent/dir/ckpt.safetensors"));
}

fn wgpu_none() -> wgpu::Backends {
    wgpu::Backends::empty()
}

#[test]
fn device_memory_shortage_is_found_before_writing() {
    let dir = TempDir::new("oom");
    let path = dir.path("ckpt.safetensors");
    let build = || {
        let g = Graph::new();
        let mk = |n: &str, len: u64| var(g.get_variable(n).shape([len]).caching_device("/cpu:0").get().unwrap());
        let vars = vec![mk("a", 4), mk("b", 1000), mk("c", 300)];
        (g, vars)
    };
    let (g, vars) = build();
    {
        let s = Session::with_options(&g, opts()).unwrap();
        for (i, v) in vars.iter().enumerate() {
            s.assign(v, &pattern(DType::Float32, &v.dims().unwrap(), i as u64)).unwrap();
        }
        checkpoint::save(&s, &path, &SaveOptions::default()).unwrap();
    }
    // 5000 bytes of /cpu:0: `a` (16 bytes) is there; `b` (4000) and `c` (1200) each fit,
    // both together do not.
    let (g2, vars2) = build();
    let s2 = Session::with_options(&g2, opts().memory_limit(5000)).unwrap();
    s2.assign(&vars2[0], &pattern(DType::Float32, &[4], 7)).unwrap();
    let before = s2.read(&vars2[0]).unwrap();
    let err = checkpoint::restore(&s2, &path, &RestoreOptions::default()).unwrap_err();
    assert!(matches!(&err, CheckpointError::Gpu(varscope_gpu::GpuError::OutOfMemory { .. })), "{err}");
    assert_eq!(s2.read(&vars2[0]).unwrap(), before, "a changed although b and c could not be restored");
    assert!(!s2.is_variable_initialized(&vars2[1]) && !s2.is_variable_initialized(&vars2[2]));
    assert_eq!(s2.bytes_in_use("/cpu:0").unwrap(), 16);
}

/// Optimizer slots and Adam's beta powers are store/global variables: saved and restored
/// like any other, so training resumes where it stopped (same slots, same step).
#[test]
fn optimizer_slots_round_trip_and_training_resumes() {
    use varscope_core::Optimizer;
    use varscope_gpu::{Gradients, Trainer};
    let dir = TempDir::new("slots");
    for_each_target("optimizer_slots_round_trip_and_training_resumes", targets(), |t| {
        let build = || {
            let g = Graph::new();
            g.set_seed(5);
            let w = var(g.get_variable("net/w").shape([4u64, 3]).caching_device(t.device.as_str()).get().unwrap());
            (g, w)
        };
        let grad = |step: u32| -> Vec<f32> { (0..12).map(|i| ((i * 7 + step * 3) % 11) as f32 * 0.1 - 0.5).collect() };
        let (g1, w1) = build();
        let s1 = Session::with_options(&g1, opts()).unwrap();
        s1.global_variables_initializer().unwrap();
        let mut tr1 = Trainer::new(&s1, Optimizer::adam(), std::slice::from_ref(&w1)).unwrap();
        let grads = Gradients::new(&s1, std::slice::from_ref(&w1)).unwrap();
        for step in 0..3 {
            grads.write_f32(&w1, &grad(step)).unwrap();
            tr1.apply_gradients(&grads).unwrap();
        }
        let path = dir.path("train.safetensors");
        let rep = checkpoint::save(&s1, &path, &SaveOptions::default()).unwrap();
        let names: Vec<&str> = rep.tensors.iter().map(|t| t.name.as_str()).collect();
        for n in ["net/w", "net/w/Adam", "net/w/Adam_1", "beta1_power", "beta2_power"] {
            assert!(names.contains(&n), "[{}] {n} saved: {names:?}", t.label);
        }

        // A new process: same graph code, optimizer built, then restore.
        let (g2, w2) = build();
        let s2 = Session::with_options(&g2, opts()).unwrap();
        s2.global_variables_initializer().unwrap();
        let mut tr2 = Trainer::new(&s2, Optimizer::adam(), std::slice::from_ref(&w2)).unwrap();
        checkpoint::restore(&s2, &path, &RestoreOptions::default().strict(true))
            .unwrap_or_else(|e| panic!("[{}] {e}", t.label));
        tr2.reload_step().unwrap();
        assert_eq!(tr2.step(), 3, "[{}] step count restored", t.label);
        for (a, b) in tr1.slots(&w1).iter().zip(tr2.slots(&w2)) {
            assert_eq!(
                s1.read(a).unwrap().to_bits_vec(),
                s2.read(b).unwrap().to_bits_vec(),
                "[{}] slot {}",
                t.label,
                a.key()
            );
        }
        // One more step on each gives the same weights.
        let grads2 = Gradients::new(&s2, std::slice::from_ref(&w2)).unwrap();
        grads.write_f32(&w1, &grad(3)).unwrap();
        grads2.write_f32(&w2, &grad(3)).unwrap();
        tr1.apply_gradients(&grads).unwrap();
        tr2.apply_gradients(&grads2).unwrap();
        assert_eq!(
            s1.read(&w1).unwrap().to_bits_vec(),
            s2.read(&w2).unwrap().to_bits_vec(),
            "[{}] resumed step",
            t.label
        );
    });
}
