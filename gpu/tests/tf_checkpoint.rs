//! TensorFlow checkpoints in a session (issue 12): models TensorFlow trained continue in a
//! varscope `Trainer` and their next step equals TensorFlow's (fixtures made by
//! scripts/make_tf_fixtures.py; TensorFlow is not needed here), restores by name, map,
//! partitioning and dtype, and save → TensorFlow bundle → restore round trips. On
//! `/cpu:0` and every adapter.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::*;
use varscope_core::{DType, Graph, Optimizer, Partitioner, VarRef, Variable};
use varscope_format::error::FormatError;
use varscope_format::tf::{BundleReader, BundleWriter, TfDtype, TfError};
use varscope_gpu::checkpoint::{self, CheckpointError, RestoreOptions, SaveOptions};
use varscope_gpu::tf_checkpoint;
use varscope_gpu::{Gradients, HostValues, Session, Trainer};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../format/tests/fixtures/tf").join(name)
}

fn session(g: &Graph, t: &Target) -> Session {
    Session::with_options(g, opts().default_device(t.device.as_str()).max_chunk_bytes(1024))
        .unwrap_or_else(|e| panic!("{}: session: {e}", t.label))
}

fn json(dir: &str, file: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(dir).join(file)).unwrap()).unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn f32s(record: &serde_json::Value) -> Vec<f32> {
    assert_eq!(record["dtype"], "float32");
    hex(record["hex"].as_str().unwrap()).chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// The fixture MLP's variables, created under the same scopes as in TensorFlow
/// (`model/mlp/layer1/kernel`, ...), plus `global_step` (`get_or_create_global_step`, as
/// the fixture script makes it).
fn mlp(g: &Graph) -> (Vec<Variable>, Variable) {
    let mut vars = Vec::new();
    g.variable_scope("model")
        .run_plain(|_| {
            g.variable_scope("mlp")
                .run_plain(|_| {
                    for (layer, fan_in, fan_out) in [("layer1", 4u64, 8u64), ("layer2", 8, 2)] {
                        g.variable_scope(layer)
                            .run_plain(|_| {
                                for (name, shape) in [("kernel", vec![fan_in, fan_out]), ("bias", vec![fan_out])] {
                                    vars.push(var(g.get_variable(name).shape(shape).get().unwrap()));
                                }
                            })
                            .unwrap();
                    }
                })
                .unwrap();
        })
        .unwrap();
    let step = g.get_or_create_global_step().unwrap();
    assert_eq!((step.op_name(), step.dtype()), ("global_step", DType::Int64));
    (vars, step)
}

/// Largest difference in float32 ulps (sign-aware).
fn max_ulps(got: &[f32], want: &[f32]) -> u64 {
    let ord = |x: f32| {
        let b = x.to_bits() as i64;
        if b < 0x8000_0000 {
            b
        } else {
            0x8000_0000 - b
        }
    };
    got.iter().zip(want).map(|(a, b)| (ord(*a) - ord(*b)).unsigned_abs()).max().unwrap_or(0)
}

/// The largest difference, in float32 ulps, between varscope's step and TensorFlow's that
/// each optimizer's continuation test allows, on `/cpu:0` and on llvmpipe (where it was
/// measured). varscope's kernels and host reference use the operation order of
/// TensorFlow's `training_ops` CPU kernels, and Adam's step size is formed from the
/// float32 beta powers as TensorFlow forms it, so Adam, Momentum and RMSProp match bit
/// for bit. Adagrad's TensorFlow kernel multiplies by `accum.rsqrt()`, which Eigen
/// computes with a hardware approximation refined by a Newton step rather than as a
/// correctly rounded `1 / sqrt`; varscope divides by `sqrt(accum)`: 1 ulp apart.
fn continuation_ulps(optimizer: &Optimizer) -> u64 {
    match optimizer {
        Optimizer::Adagrad { .. } => 1,
        _ => 0,
    }
}

/// Other adapters may contract `a * b + c` into a fused multiply-add (WGSL allows it),
/// which changes a slot by an ulp and the variable by at most a few.
const OTHER_ADAPTER_ULPS: u64 = 4;

/// Restores a TensorFlow-trained optimizer checkpoint into a varscope `Trainer` (strict:
/// every tensor, slot and non-slot variable has its varscope counterpart by name),
/// applies TensorFlow's step-6 gradients and compares every variable, slot, beta power
/// and the global step with what TensorFlow computed (tolerances: [`continuation_ulps`];
/// beta powers and the global step exactly). The continued model saved as a bundle holds
/// TensorFlow's step-6 beta powers and `global_step` 6.
#[test]
fn tensorflow_trained_models_continue_in_varscope() {
    let cases: Vec<(&str, Optimizer)> = vec![
        ("mlp_adam", Optimizer::Adam { learning_rate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 }),
        ("mlp_momentum", Optimizer::momentum(0.1, 0.9)),
        ("mlp_adagrad", Optimizer::adagrad(0.1)),
        ("mlp_rmsprop", Optimizer::rmsprop(0.01)),
    ];
    for_each_target("tensorflow_trained_models_continue_in_varscope", targets(), |t| {
        for (dir, opt) in &cases {
            let what = format!("{}: {dir}", t.label);
            let g = Graph::new();
            let (vars, global_step) = mlp(&g);
            let s = session(&g, t);
            s.global_variables_initializer().unwrap();
            let mut trainer = Trainer::new(&s, opt.clone(), &vars)
                .and_then(|tr| tr.with_global_step(&global_step))
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(trainer.global_step_value(), Some(0), "{what}");
            let report = checkpoint::restore(&s, fixture(dir), &RestoreOptions::default().strict(true))
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(report.missing_in_file.is_empty() && report.unexpected_in_file.is_empty(), "{what}");
            trainer.reload_step().unwrap();
            if trainer.beta_powers().is_some() {
                assert_eq!(trainer.step(), 5, "{what}: step recovered from beta1_power");
            }
            assert_eq!(s.read(&global_step).unwrap().to_i64_vec(), vec![5], "{what}");
            assert_eq!(trainer.global_step_value(), Some(5), "{what}");

            let next = json(dir, "next_step.json");
            let grads = Gradients::new(&s, &vars).unwrap();
            for v in &vars {
                grads.write_f32(v, &f32s(&next["gradients"][v.op_name()])).unwrap();
            }
            trainer.apply_gradients(&grads).unwrap_or_else(|e| panic!("{what}: {e}"));
            let after = next["after"].as_object().unwrap();
            let allowed = if t.device == "/cpu:0" || t.label.contains("llvmpipe") {
                continuation_ulps(opt)
            } else {
                OTHER_ADAPTER_ULPS.max(continuation_ulps(opt))
            };
            let mut checked = 0;
            let mut worst = (0u64, String::new());
            for v in vars.iter().chain(vars.iter().flat_map(|v| trainer.slots(v).to_vec()).collect::<Vec<_>>().iter()) {
                let name = v.op_name();
                let want = f32s(&after[name]);
                let got = s.read_f32(v).unwrap();
                let ulps = max_ulps(&got, &want);
                assert!(ulps <= allowed, "{what}: {name}: got {got:?}, TensorFlow {want:?} ({ulps} ulps > {allowed})");
                if ulps > worst.0 || worst.1.is_empty() {
                    worst = (ulps, name.to_string());
                }
                checked += 1;
            }
            if let Some((b1p, b2p)) = trainer.beta_powers() {
                for (p, name) in [(b1p, "beta1_power"), (b2p, "beta2_power")] {
                    let got = s.read(p).unwrap().to_bits_vec();
                    let want = f32s(&after[name]).iter().map(|x| u64::from(x.to_bits())).collect::<Vec<_>>();
                    assert_eq!(got, want, "{what}: {name} differs from TensorFlow's");
                    checked += 1;
                }
            }
            let want_step = i64::from_le_bytes(hex(after["global_step"]["hex"].as_str().unwrap()).try_into().unwrap());
            assert_eq!(want_step, 6, "{what}");
            assert_eq!(s.read(&global_step).unwrap().to_i64_vec(), vec![want_step], "{what}: global_step");
            checked += 1;
            loud(&format!("{what}: next step within {} float32 ulps of TensorFlow's (worst: {})", worst.0, worst.1));
            // Everything TensorFlow has after the step was compared.
            assert_eq!(checked, after.len(), "{what}");

            // Saved as a bundle: global_step 6 and TensorFlow's beta powers.
            let dir = tempfile::tempdir().unwrap();
            let prefix = dir.path().join("model.ckpt-6");
            tf_checkpoint::save(&s, &prefix, &SaveOptions::default()).unwrap_or_else(|e| panic!("{what}: {e}"));
            let reader = BundleReader::open(&prefix).unwrap();
            let saved = reader.read("global_step").unwrap();
            assert_eq!((saved.dtype, saved.shape.as_slice()), (TfDtype::Int64, &[][..]), "{what}");
            assert_eq!(saved.data, 6i64.to_le_bytes(), "{what}: saved global_step");
            for name in ["beta1_power", "beta2_power"].into_iter().filter(|n| after.contains_key(*n)) {
                assert_eq!(
                    reader.read(name).unwrap().data,
                    hex(after[name]["hex"].as_str().unwrap()),
                    "{what}: {name}"
                );
            }
        }
    });
}

/// The shards of a partitioned variable, or the variable.
fn parts(r: &VarRef) -> Vec<Variable> {
    match r.partitioned() {
        Some(p) => p.shards().to_vec(),
        None => vec![r.variable().expect("a variable").clone()],
    }
}

fn model_with_partitions(g: &Graph, device: &str, shards: Option<i64>) -> BTreeMap<String, Vec<Variable>> {
    let mut out = BTreeMap::new();
    g.variable_scope("part")
        .run_plain(|_| {
            let mut b = g.get_variable("emb").shape([10u64, 3]).caching_device(device);
            if let Some(k) = shards {
                b = b.partitioner(Partitioner::fixed_size(k));
            }
            out.insert("part/emb".to_string(), parts(&b.get().unwrap()));
            let mut b = g.get_variable("wide").shape([4u64, 6]).caching_device(device);
            if let Some(k) = shards {
                b = b.partitioner(Partitioner::fixed_size_axis(k, 1));
            }
            out.insert("part/wide".to_string(), parts(&b.get().unwrap()));
            out.insert(
                "part/plain".to_string(),
                vec![var(g.get_variable("plain").shape([5u64]).caching_device(device).get().unwrap())],
            );
        })
        .unwrap();
    out
}

/// The full value of a (possibly partitioned) variable, assembled on the host.
fn full_f32(s: &Session, parts: &[Variable], full_shape: &[u64]) -> Vec<f32> {
    let n: u64 = full_shape.iter().product();
    let mut full = vec![0u8; n as usize * 4];
    let whole: Vec<(u64, u64)> = full_shape.iter().map(|&d| (0, d)).collect();
    for v in parts {
        let (offset, shape) = match v.slice_info() {
            Some(si) => (si.var_offset.clone(), si.var_shape.clone()),
            None => (vec![0; full_shape.len()], full_shape.to_vec()),
        };
        let b: Vec<(u64, u64)> = offset.into_iter().zip(shape).collect();
        varscope_format::tf::copy_region(s.read(v).unwrap().bytes(), &b, &mut full, &whole, 4);
    }
    full.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// TensorFlow's `fixed_size_partitioner(3)` / `(2, axis=1)` variables restore into varscope
/// variables of another partitioning (and none), and a varscope save → bundle → restore
/// into yet another partitioning is bit-exact.
#[test]
fn partitioned_tensorflow_variables_restore_into_any_partitioning() {
    let expected = json("partitioned", "expected.json");
    for_each_target("partitioned_tensorflow_variables_restore_into_any_partitioning", targets(), |t| {
        for shards in [None, Some(2), Some(4)] {
            let what = format!("{}: {shards:?} shards", t.label);
            let g = Graph::new();
            let model = model_with_partitions(&g, &t.device, shards);
            let s = session(&g, t);
            let report = checkpoint::restore(&s, fixture("partitioned"), &RestoreOptions::default().strict(true))
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(report.restored.len(), 3, "{what}");
            let shapes: BTreeMap<&str, Vec<u64>> =
                [("part/emb", vec![10, 3]), ("part/wide", vec![4, 6]), ("part/plain", vec![5])].into_iter().collect();
            for (name, parts) in &model {
                let got = full_f32(&s, parts, &shapes[name.as_str()]);
                assert_eq!(got, f32s(&expected[name]), "{what}: {name}");
            }
            // Save as a TensorFlow bundle, restore into 3 shards.
            let dir = tempfile::tempdir().unwrap();
            let prefix = dir.path().join("ckpt/model");
            let saved = tf_checkpoint::save(&s, &prefix, &SaveOptions::default()).unwrap();
            assert_eq!(saved.tensors.len(), 3, "{what}");
            assert_eq!(saved.tensors.iter().find(|x| x.name == "part/emb").unwrap().is_sliced(), shards.is_some());
            let g2 = Graph::new();
            let model2 = model_with_partitions(&g2, &t.device, Some(3));
            let s2 = session(&g2, t);
            checkpoint::restore(&s2, &prefix, &RestoreOptions::default().strict(true)).unwrap();
            for (name, parts) in &model2 {
                assert_eq!(
                    full_f32(&s2, parts, &shapes[name.as_str()]),
                    f32s(&expected[name]),
                    "{what}: {name} round trip"
                );
            }
        }
    });
}

/// Assignment maps, partial restores and dtype conversion work as for safetensors; a
/// string tensor asked for is a typed error and nothing changes.
#[test]
fn restore_options_and_unsupported_dtypes() {
    let t = targets().remove(0);
    let g = Graph::new();
    let (kernel, bias) = g
        .variable_scope("net")
        .run_plain(|_| {
            let k = var(g.get_variable("mlp/layer1/kernel").shape([4u64, 8]).dtype(DType::Float64).get().unwrap());
            let b = var(g.get_variable("mlp/layer1/bias").shape([8u64]).dtype(DType::Float16).get().unwrap());
            (k, b)
        })
        .unwrap();
    let s = session(&g, &t);
    s.global_variables_initializer().unwrap();
    // (A scope entry "model/mlp/layer1/" -> "net/mlp/layer1/" would also send the Adam
    // slots there, which this graph lacks: an error, as for safetensors.)
    let scoped = RestoreOptions::default().map("model/mlp/layer1/", "net/mlp/layer1/");
    match checkpoint::restore(&s, fixture("mlp_adam"), &scoped) {
        Err(CheckpointError::Format(FormatError::MapTargetNotFound { tensor, .. })) => {
            assert!(tensor.ends_with("/Adam"), "{tensor}")
        }
        other => panic!("{other:?}"),
    }
    let options = RestoreOptions::default()
        .map("model/mlp/layer1/kernel", "net/mlp/layer1/kernel")
        .map("model/mlp/layer1/bias", "net/mlp/layer1/bias");
    let report = checkpoint::restore(&s, fixture("mlp_adam"), &options).unwrap();
    let restored: Vec<&str> = report.restored.iter().map(|r| r.variable.as_str()).collect();
    assert_eq!(restored, ["net/mlp/layer1/bias", "net/mlp/layer1/kernel"]);
    let expected = json("mlp_adam", "expected.json");
    let want: Vec<f64> = f32s(&expected["model/mlp/layer1/kernel"]).into_iter().map(f64::from).collect();
    assert_eq!(s.read(&kernel).unwrap().to_f64_vec(), want, "float32 -> float64 is exact");
    let want16 = HostValues::from_f64_as(
        DType::Float16,
        &[8],
        &f32s(&expected["model/mlp/layer1/bias"]).into_iter().map(f64::from).collect::<Vec<_>>(),
    )
    .unwrap();
    assert_eq!(s.read(&bias).unwrap(), want16, "float32 -> float16 rounds once");

    // A string tensor mapped onto a variable: typed error, variable unchanged.
    let before = s.read(&bias).unwrap();
    let options = RestoreOptions::default().map("dtypes/string", "net/mlp/layer1/bias");
    match checkpoint::restore(&s, fixture("dtypes"), &options) {
        Err(CheckpointError::Tf(e)) => match *e {
            TfError::UnsupportedDtype { tensor, dtype, .. } => {
                assert_eq!((tensor.as_str(), dtype), ("dtypes/string", TfDtype::String))
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    assert_eq!(s.read(&bias).unwrap(), before);
    // Strict restore names both sides.
    match checkpoint::restore(&s, fixture("mlp_adam"), &RestoreOptions::default().strict(true)) {
        Err(CheckpointError::Format(FormatError::Strict { missing_in_file, unexpected_in_file, .. })) => {
            assert_eq!(missing_in_file.len(), 2);
            assert!(unexpected_in_file.contains(&"beta1_power".to_string()));
        }
        other => panic!("{other:?}"),
    }
}

/// A corrupt data file fails the restore before any variable is written.
#[test]
fn corrupt_bundle_changes_nothing() {
    let t = targets().remove(0);
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(fixture("mlp_adam")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
    }
    let prefix = dir.path().join("model.ckpt-5");
    let reader = BundleReader::open(&prefix).unwrap();
    let varscope_format::tf::Layout::Whole(at) = reader.get("model/mlp/layer2/kernel").unwrap().layout.clone() else {
        panic!()
    };
    let data = varscope_format::tf::data_path(&prefix, 0, 1);
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[at.offset as usize + 5] ^= 0x10;
    std::fs::write(&data, bytes).unwrap();
    let g = Graph::new();
    let (vars, _) = mlp(&g);
    let s = session(&g, &t);
    s.global_variables_initializer().unwrap();
    let before: Vec<HostValues> = vars.iter().map(|v| s.read(v).unwrap()).collect();
    match checkpoint::restore(&s, dir.path(), &RestoreOptions::default()) {
        Err(CheckpointError::Tf(e)) => match *e {
            TfError::DataChecksum { tensor, .. } => assert_eq!(tensor, "model/mlp/layer2/kernel"),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    let after: Vec<HostValues> = vars.iter().map(|v| s.read(v).unwrap()).collect();
    assert_eq!(before, after);
}

/// A bool tensor holding a byte other than 0 or 1, under a valid CRC32C (the bundle
/// writer checksums the bytes it is given, so only the value is bad), fails the restore
/// before any variable is written (runtime.md section 8): the error is
/// [`FormatError::InvalidBool`] naming the tensor, the element and the checkpoint, and
/// the float tensor sorted before it has not reached its variable. On `/cpu:0` and every
/// adapter.
#[test]
fn invalid_bool_bytes_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("bad_bool.ckpt");
    let mut writer = BundleWriter::create(&prefix).unwrap();
    let a_bytes: Vec<u8> = [5f32, 6.0].iter().flat_map(|x| x.to_le_bytes()).collect();
    writer.add("a", TfDtype::Float32, &[2], &a_bytes).unwrap();
    writer.add("b", TfDtype::Bool, &[2], &[0, 2]).unwrap();
    writer.finish().unwrap();
    BundleReader::open(&prefix).unwrap().verify().expect("the CRC32C of every tensor is valid");
    // A [4, 3] bool tensor whose element (2, 2) (index 8) is the byte 2.
    let sliced = dir.path().join("bad_bool_4x3.ckpt");
    let mut writer = BundleWriter::create(&sliced).unwrap();
    writer.add("a", TfDtype::Float32, &[2], &a_bytes).unwrap();
    let mut p_bytes = vec![0u8, 1, 0, 1, 1, 0, 0, 1, 2, 1, 0, 0];
    writer.add("p", TfDtype::Bool, &[4, 3], &p_bytes).unwrap();
    writer.finish().unwrap();
    BundleReader::open(&sliced).unwrap().verify().expect("the CRC32C of every tensor is valid");
    p_bytes[8] = 1;
    let good = dir.path().join("good_bool_4x3.ckpt");
    let mut writer = BundleWriter::create(&good).unwrap();
    writer.add("p", TfDtype::Bool, &[4, 3], &p_bytes).unwrap();
    writer.finish().unwrap();
    for_each_target("invalid_bool_bytes_change_nothing", targets(), |t| {
        let g = Graph::new();
        let a = var(g.get_variable("a").shape([2u64]).get().unwrap());
        let b = var(g.get_variable("b").shape([2u64]).dtype(DType::Bool).get().unwrap());
        let s = session(&g, t);
        s.assign(&a, &HostValues::from_f32(&[2], &[1.0, 1.0]).unwrap()).unwrap();
        s.assign(&b, &HostValues::from_bool(&[2], &[false, false]).unwrap()).unwrap();
        let err = checkpoint::restore(&s, &prefix, &RestoreOptions::default())
            .expect_err(&format!("{}: a bool byte of 2 must fail the restore", t.label));
        match &err {
            CheckpointError::Format(FormatError::InvalidBool { path, tensor, index, byte }) => {
                assert_eq!((tensor.as_str(), *index, *byte), ("b", 1, 2), "{}: {err}", t.label);
                assert_eq!(path, &prefix, "{}: {err}", t.label);
            }
            other => panic!("{}: {other:?}", t.label),
        }
        let text = err.to_string();
        assert!(text.contains("Tensor b ") && text.contains(&prefix.display().to_string()), "{}: {text}", t.label);
        assert_eq!(s.read(&a).unwrap().to_f32_vec(), [1.0, 1.0], "{}: a must be unchanged", t.label);
        assert_eq!(s.read(&b).unwrap().to_bool_vec(), [false, false], "{}: b must be unchanged", t.label);

        // Into a bool variable partitioned along axis 1: the bad byte is in the second
        // shard, and the error gives its index in the full tensor.
        let g = Graph::new();
        let a = var(g.get_variable("a").shape([2u64]).get().unwrap());
        let p = parts(
            &g.get_variable("p")
                .shape([4u64, 3])
                .dtype(DType::Bool)
                .partitioner(Partitioner::fixed_size_axis(2, 1))
                .get()
                .unwrap(),
        );
        assert_eq!(p.len(), 2, "{}", t.label);
        let s = session(&g, t);
        s.assign(&a, &HostValues::from_f32(&[2], &[1.0, 1.0]).unwrap()).unwrap();
        for shard in &p {
            let shape = shard.slice_info().expect("a shard").var_shape.clone();
            let n = shape.iter().product::<u64>() as usize;
            s.assign(shard, &HostValues::from_bool(&shape, &vec![false; n]).unwrap()).unwrap();
        }
        let err = checkpoint::restore(&s, &sliced, &RestoreOptions::default())
            .expect_err(&format!("{}: a bool byte of 2 must fail the restore", t.label));
        match &err {
            CheckpointError::Format(FormatError::InvalidBool { tensor, index, byte, .. }) => {
                assert_eq!((tensor.as_str(), *index, *byte), ("p", 8, 2), "{}: {err}", t.label)
            }
            other => panic!("{}: {other:?}", t.label),
        }
        assert_eq!(s.read(&a).unwrap().to_f32_vec(), [1.0, 1.0], "{}: a must be unchanged", t.label);
        for shard in &p {
            assert!(s.read(shard).unwrap().to_bool_vec().iter().all(|&x| !x), "{}: p must be unchanged", t.label);
        }
        // With the byte fixed, the same tensor restores into the shards.
        checkpoint::restore(&s, &good, &RestoreOptions::default()).unwrap_or_else(|e| panic!("{}: {e}", t.label));
        let mut full = vec![9u8; 12];
        for shard in &p {
            let si = shard.slice_info().expect("a shard");
            let b: Vec<(u64, u64)> = si.var_offset.iter().copied().zip(si.var_shape.iter().copied()).collect();
            varscope_format::tf::copy_region(s.read(shard).unwrap().bytes(), &b, &mut full, &[(0, 4), (0, 3)], 1);
        }
        assert_eq!(full, p_bytes, "{}", t.label);
    });
}

/// Writes, for the manual TensorFlow check (`scripts/make_tf_fixtures.py continue`), the
/// mlp_adam fixture continued one step in varscope and saved as a bundle at
/// `$VARSCOPE_TF_EXPORT/model.ckpt-6`:
/// `VARSCOPE_TF_EXPORT=/tmp/vs_export cargo test -p varscope-gpu --test tf_checkpoint -- --ignored`.
#[test]
#[ignore = "writes a bundle for the manual TensorFlow check; needs VARSCOPE_TF_EXPORT"]
fn export_for_tensorflow() {
    let out = PathBuf::from(std::env::var("VARSCOPE_TF_EXPORT").expect("VARSCOPE_TF_EXPORT names a directory"));
    let t = targets().remove(0);
    let g = Graph::new();
    let (vars, global_step) = mlp(&g);
    let s = session(&g, &t);
    s.global_variables_initializer().unwrap();
    let opt = Optimizer::Adam { learning_rate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };
    let mut trainer = Trainer::new(&s, opt, &vars).unwrap().with_global_step(&global_step).unwrap();
    checkpoint::restore(&s, fixture("mlp_adam"), &RestoreOptions::default().strict(true)).unwrap();
    trainer.reload_step().unwrap();
    let next = json("mlp_adam", "next_step.json");
    let grads = Gradients::new(&s, &vars).unwrap();
    for v in &vars {
        grads.write_f32(v, &f32s(&next["gradients"][v.op_name()])).unwrap();
    }
    trainer.apply_gradients(&grads).unwrap();
    assert_eq!(s.read(&global_step).unwrap().to_i64_vec(), vec![6]);
    let report = tf_checkpoint::save(&s, out.join("model.ckpt-6"), &SaveOptions::default()).unwrap();
    assert_eq!(report.tensors.len(), 15);
}

#[test]
fn tensorflow_small_integer_tensors_restore_into_small_integer_variables() {
    // (name, dtype, shape, TensorFlow's bytes as the fixture script dumped them)
    let cases: [(&str, DType, Vec<u64>, Vec<u8>); 4] = [
        ("int8", DType::Int8, vec![5], vec![0x80, 0xff, 0x00, 0x01, 0x7f]),
        ("uint8", DType::UInt8, vec![4], vec![0x00, 0x01, 0x80, 0xff]),
        ("int16", DType::Int16, vec![2, 2], vec![0x00, 0x80, 0xff, 0xff, 0x00, 0x00, 0xff, 0x7f]),
        ("uint16", DType::UInt16, vec![3], vec![0x00, 0x00, 0x01, 0x00, 0xff, 0xff]),
    ];
    for_each_target("tensorflow_small_integer_tensors_restore_into_small_integer_variables", targets(), |t| {
        let g = Graph::new();
        let dtypes = g.scope("dtypes");
        let vars: Vec<Variable> = cases
            .iter()
            .map(|(n, d, shape, _)| {
                dtypes.var(n).shape(shape.clone()).dtype(*d).caching_device(t.device.as_str()).create().unwrap()
            })
            .collect();
        let s = Session::with_options(&g, opts()).unwrap();
        let opts = RestoreOptions::default().variables(vars.clone());
        checkpoint::restore(&s, fixture("dtypes"), &opts).unwrap_or_else(|e| panic!("{}: {e}", t.label));
        for ((n, _, _, bytes), v) in cases.iter().zip(&vars) {
            assert_eq!(s.read(v).unwrap().bytes(), &bytes[..], "{}: {n}", t.label);
        }
        // Saved as a TensorFlow bundle with their TensorFlow dtypes (DT_INT8, ...).
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("small.ckpt");
        tf_checkpoint::save(&s, &prefix, &SaveOptions::default()).unwrap_or_else(|e| panic!("{}: {e}", t.label));
        let reader = BundleReader::open(&prefix).unwrap();
        for (n, d, shape, bytes) in &cases {
            let saved = reader.read(&format!("dtypes/{n}")).unwrap();
            assert_eq!(saved.dtype.name(), d.name(), "{}: {n}", t.label);
            assert_eq!((&saved.shape, &saved.data), (shape, bytes), "{}: {n}", t.label);
        }
    });
}

/// uint64 (issue 12's dtype list): TensorFlow's uint64 tensor restores bit-exactly into a
/// UInt64 variable on `/cpu:0` and every adapter that holds 64-bit integers; saved as a
/// TensorFlow bundle (DT_UINT64) and as safetensors (U64) and restored, the bits survive.
/// Random initializers are refused when the variable is created, as TensorFlow's
/// `random_uniform` refuses uint64.
#[test]
fn tensorflow_uint64_tensors_restore_and_save_bit_exactly() {
    // TensorFlow's bytes as the fixture script dumped them: 0, 1, 2^64 - 1.
    let want = hex("00000000000000000100000000000000ffffffffffffffff");
    assert_eq!(
        json("dtypes", "expected.json")["dtypes/uint64"]["hex"],
        "00000000000000000100000000000000ffffffffffffffff"
    );
    for_each_target("tensorflow_uint64_tensors_restore_and_save_bit_exactly", targets(), |t| {
        if t.device != "/cpu:0" && !t.i64 {
            loud(&format!("SKIP {}: no SHADER_INT64, so no uint64 variables", t.label));
            return;
        }
        let make = |g: &Graph| {
            g.scope("dtypes").var("uint64").shape([3]).dtype(DType::UInt64).caching_device(t.device.as_str()).create()
        };
        let g = Graph::new();
        let v = make(&g).unwrap();
        let s = Session::with_options(&g, opts()).unwrap();
        checkpoint::restore(&s, fixture("dtypes"), &RestoreOptions::default().variables(vec![v.clone()]))
            .unwrap_or_else(|e| panic!("{}: {e}", t.label));
        let got = s.read(&v).unwrap();
        assert_eq!((got.dtype(), got.bytes()), (DType::UInt64, &want[..]), "{}", t.label);
        assert_eq!(got.to_bits_vec(), [0, 1, u64::MAX], "{}", t.label);

        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("u64.ckpt");
        tf_checkpoint::save(&s, &prefix, &SaveOptions::default()).unwrap_or_else(|e| panic!("{}: {e}", t.label));
        let saved = BundleReader::open(&prefix).unwrap().read("dtypes/uint64").unwrap();
        assert_eq!(
            (saved.dtype, saved.shape.as_slice(), &saved.data),
            (TfDtype::UInt64, &[3u64][..], &want),
            "{}",
            t.label
        );
        let file = dir.path().join("u64.safetensors");
        checkpoint::save(&s, &file, &SaveOptions::default()).unwrap_or_else(|e| panic!("{}: {e}", t.label));
        let info = varscope_format::safetensors_file::inspect(&file).unwrap();
        assert_eq!(info.tensors[0].stored_dtype, varscope_format::StoredDType::U64, "{}", t.label);
        for source in [&prefix, &file] {
            let g2 = Graph::new();
            let v2 = make(&g2).unwrap();
            let s2 = Session::with_options(&g2, opts()).unwrap();
            checkpoint::restore(&s2, source, &RestoreOptions::default().strict(true))
                .unwrap_or_else(|e| panic!("{}: {}: {e}", t.label, source.display()));
            assert_eq!(s2.read(&v2).unwrap().bytes(), &want[..], "{}: {}", t.label, source.display());
        }
        // The default initializer (zeros), computed by the host reference and uploaded.
        let g3 = Graph::new();
        let z = make(&g3).unwrap();
        let s3 = Session::with_options(&g3, opts()).unwrap();
        s3.global_variables_initializer().unwrap_or_else(|e| panic!("{}: {e}", t.label));
        assert_eq!(s3.read(&z).unwrap().to_bits_vec(), [0, 0, 0], "{}", t.label);
    });
    // Random initializers: TensorFlow's errors when the variable is created.
    let g = Graph::new();
    for (init, text) in [
        (varscope_core::Initializer::random_uniform(0.0, 10.0), "Invalid dtype uint64"),
        (varscope_core::Initializer::random_normal(0.0, 1.0), "Expected floating point type, got uint64."),
    ] {
        let e = g.get_variable("r").shape([2]).dtype(DType::UInt64).initializer(init).get().unwrap_err();
        assert!(e.to_string().contains(text), "{e}");
    }
}
