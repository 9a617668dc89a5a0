//! The `varscope` command, run as a built binary.

use std::process::Command;

fn varscope(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_varscope")).args(args).output().expect("binary runs");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn devices_lists_cpu_and_says_what_is_missing() {
    let (ok, out, _) = varscope(&["devices"]);
    assert!(ok);
    assert!(out.contains("/cpu:0"), "{out}");
    assert!(out.contains("max binding"), "{out}");
    if !out.contains("/gpu:0") {
        assert!(out.contains("no GPU adapter found"), "{out}");
        assert!(std::env::var("VARSCOPE_REQUIRE_GPU").as_deref() != Ok("1"), "VARSCOPE_REQUIRE_GPU=1 but no adapter");
    }
}

#[test]
fn devices_json_one_object_per_device() {
    let (ok, out, _) = varscope(&["devices", "--json"]);
    assert!(ok);
    let objs: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).expect("a JSON object per line")).collect();
    let names: Vec<&str> = objs.iter().filter_map(|o| o["name"].as_str()).collect();
    assert!(names.contains(&"/cpu:0"));
    assert_eq!(objs.iter().filter(|o| o["default"] == true).count(), 1);
}

#[test]
fn bench_scopes_json_figures() {
    let (ok, out, err) = varscope(&["bench", "scopes", "--size", "500", "--json"]);
    assert!(ok, "{err}");
    let figs: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let names: Vec<&str> = figs.iter().filter_map(|o| o["figure"].as_str()).collect();
    for f in ["create_variables", "reuse_lookup_3_deep", "lookup_speedup_all_cores"] {
        assert!(names.contains(&f), "{names:?}");
    }
    assert!(figs.iter().all(|o| o["value"].as_f64().is_some_and(|v| v.is_finite() && v > 0.0)));
}

#[test]
fn errors_are_one_line_and_nonzero() {
    let (ok, out, err) = varscope(&["bench", "init", "--device", "/tpu:7", "--size", "16"]);
    assert!(!ok);
    assert!(out.is_empty() || !out.contains("panicked"));
    // Mesa's EGL prints "error: XDG_RUNTIME_DIR is invalid ..." when that variable is
    // unset; that line is the driver's, not ours.
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:") && !l.contains("XDG_RUNTIME_DIR")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("/tpu:7"), "{err}");
    assert!(!err.contains("panicked") && !err.contains("backtrace"), "{err}");
}

fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("varscope-cli-{}-{name}", std::process::id()))
}

#[test]
fn train_saves_and_inspect_reads_the_checkpoint() {
    let ckpt = temp_path("train.safetensors");
    let path = ckpt.to_str().unwrap();
    let (ok, out, err) = varscope(&["train", "--device", "/cpu:0", "--steps", "150", "--points", "48", "--quiet", "--save", path]);
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("step     0  loss"), "{out}");
    let acc: f32 = out
        .lines()
        .find_map(|l| l.strip_prefix("accuracy: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("an accuracy line");
    assert!(acc >= varscope::train::ACCURACY_TARGET, "{out}");

    let (ok, out, err) = varscope(&["inspect", path, "--verify"]);
    assert!(ok, "{err}");
    assert!(out.contains("checksums verified"), "{out}");
    for needle in ["hidden/", "kernel", "Adam_1", "beta1_power", "(32, 16)", "float32"] {
        assert!(out.contains(needle), "{needle} missing in\n{out}");
    }

    // A corrupt copy: one clear line, non-zero exit, no panic.
    let bytes = std::fs::read(&ckpt).unwrap();
    let bad = temp_path("bad.safetensors");
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    let (ok, _, err) = varscope(&["inspect", bad.to_str().unwrap()]);
    assert!(!ok);
    let ours: Vec<&str> = err.lines().filter(|l| l.starts_with("error:") && !l.contains("XDG_RUNTIME_DIR")).collect();
    assert_eq!(ours.len(), 1, "{err}");
    assert!(ours[0].contains("truncated") || ours[0].contains("corrupt"), "{err}");
    assert!(!err.contains("panicked"));
    let _ = std::fs::remove_file(ckpt);
    let _ = std::fs::remove_file(bad);
}

#[test]
fn bench_init_reports_ratio_to_fill() {
    let (ok, out, err) = varscope(&["bench", "init", "--device", "/cpu:0", "--size", "4096", "--json"]);
    assert!(ok, "{err}");
    let figs: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let fill = figs.iter().find(|f| f["figure"] == "plain_fill").expect("a plain fill figure");
    assert_eq!(fill["ratio_to_fill"], 1.0);
    for name in ["random_uniform", "truncated_normal", "batched_10000x1000"] {
        let f = figs.iter().find(|f| f["figure"] == name).unwrap_or_else(|| panic!("{name} in {out}"));
        assert_eq!(f["device"], "/cpu:0");
        assert!(f["ratio_to_fill"].as_f64().unwrap() > 0.0 && f["value"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn bench_update_on_every_gpu() {
    let (ok, out, err) = varscope(&["bench", "update", "--size", "65536", "--json"]);
    assert!(ok, "{err}");
    let figs: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    if figs.is_empty() {
        eprintln!("SKIP: no GPU adapter for bench update");
        assert!(std::env::var("VARSCOPE_REQUIRE_GPU").as_deref() != Ok("1"), "VARSCOPE_REQUIRE_GPU=1 but no adapter");
        return;
    }
    for case in ["adam_one_large", "adam_1000_small"] {
        assert!(figs.iter().any(|f| f["figure"] == case && f["ratio_to_fill"].as_f64().unwrap() > 0.0), "{out}");
    }
}
