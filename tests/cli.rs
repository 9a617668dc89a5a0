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
    assert!(figs.iter().all(|o| o["value"].as_f64().map_or(false, |v| v.is_finite() && v > 0.0)));
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
