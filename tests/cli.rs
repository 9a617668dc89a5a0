//! The `varscope` command, run as a built binary.

use std::collections::HashSet;
use std::process::Command;

use varscope_test_support::have_gpus;

fn varscope(args: &[&str]) -> (bool, String, String) {
    let (code, out, err) = varscope_env(args, &[]);
    (code == Some(0), out, err)
}

/// Runs the command with environment changes (`None` removes the variable); returns
/// the exit code, stdout and stderr.
fn varscope_env(args: &[&str], env: &[(&str, Option<&str>)]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_varscope"));
    cmd.args(args);
    for (k, v) in env {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let out = cmd.output().expect("binary runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// No panic text and no Rust debug formatting on stderr.
fn no_panic(err: &str) {
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{err}");
}

#[test]
fn devices_lists_cpu_and_says_what_is_missing() {
    let (ok, out, _) = varscope(&["devices"]);
    assert!(ok);
    assert!(out.contains("/cpu:0"), "{out}");
    assert!(out.contains("max binding"), "{out}");
    let gpus = out.lines().filter(|l| l.starts_with("/gpu:")).count();
    if !have_gpus("devices_lists_cpu_and_says_what_is_missing", gpus) {
        assert!(out.contains("no GPU adapter found"), "{out}");
    }
}

#[test]
fn devices_json_one_object_per_device() {
    let (ok, out, _) = varscope(&["devices", "--json"]);
    assert!(ok);
    let objs: Vec<serde_json::Value> =
        out.lines().map(|l| serde_json::from_str(l).expect("a JSON object per line")).collect();
    let names: Vec<&str> = objs.iter().filter_map(|o| o["name"].as_str()).collect();
    assert!(names.contains(&"/cpu:0"));
    assert_eq!(objs.iter().filter(|o| o["default"] == true).count(), 1);
    // The init kernels are varscope's own SPIR-V exactly on the Vulkan devices.
    for o in &objs {
        assert_eq!(o["exact_spirv"].as_bool(), Some(o["backend"] == "Vulkan"), "{o}");
    }
}

#[test]
fn bench_scopes_json_figures() {
    let (ok, out, err) = varscope(&["bench", "scopes", "--size", "500", "--json"]);
    assert!(ok, "{err}");
    let figs: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let names: Vec<&str> = figs.iter().filter_map(|o| o["figure"].as_str()).collect();
    for f in [
        "create_variables",
        "open_layer_scope",
        "reenter_layer_scope",
        "open_default_named_scope",
        "reuse_lookup_3_deep",
        "lookup_speedup_all_cores",
    ] {
        assert!(names.contains(&f), "{names:?}");
    }
    assert!(figs.iter().all(|o| o["value"].as_f64().is_some_and(|v| v.is_finite() && v > 0.0)));
}

#[test]
fn errors_are_one_line_and_nonzero() {
    let (ok, out, err) = varscope(&["bench", "init", "--device", "/tpu:7", "--size", "16"]);
    assert!(!ok);
    assert!(out.is_empty() || !out.contains("panicked"));
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
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
    // Piped (not a terminal): the loss lines and the summary still reach stdout, the
    // device and the reason for it reach stderr.
    let (ok, out, err) = varscope(&["train", "--device", "/cpu:0", "--steps", "150", "--points", "48", "--save", path]);
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("step     0  loss"), "{out}");
    assert!(out.contains("step   150  loss"), "{out}");
    assert!(err.contains("training on /cpu:0 (host): chosen with --device"), "{err}");
    let acc: f32 = out
        .lines()
        .find_map(|l| l.strip_prefix("accuracy: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("an accuracy line");
    assert!(acc >= varscope_example_mlp::ACCURACY_TARGET, "{out}");

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
    let ours: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(ours.len(), 1, "{err}");
    assert!(ours[0].contains("truncated") || ours[0].contains("corrupt"), "{err}");
    assert!(!err.contains("panicked"));
    let _ = std::fs::remove_file(ckpt);
    let _ = std::fs::remove_file(bad);
}

#[test]
fn bench_init_reports_ratio_to_clear_buffer() {
    let (ok, out, err) = varscope(&["bench", "init", "--device", "/cpu:0", "--size", "4096", "--json"]);
    assert!(ok, "{err}");
    let figs: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let clear = figs.iter().find(|f| f["figure"] == "clear_buffer").expect("a clear_buffer figure");
    assert_eq!(clear["ratio_to_clear"], 1.0);
    for name in ["random_uniform", "truncated_normal", "batched_10000x1000", "read_back", "new_2000x64x64_normal"] {
        let f = figs.iter().find(|f| f["figure"] == name).unwrap_or_else(|| panic!("{name} in {out}"));
        assert_eq!(f["device"], "/cpu:0");
        assert!(f["ratio_to_clear"].as_f64().unwrap() > 0.0 && f["value"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn bench_checkpoint_reports_save_and_restore() {
    let (ok, out, err) = varscope(&["bench", "checkpoint", "--device", "/cpu:0", "--json"]);
    assert!(ok, "{err}");
    let figs: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    for name in ["save_mlp_20", "restore_mlp_20", "save_1000x1024", "restore_1000x1024"] {
        let f = figs.iter().find(|f| f["figure"] == name).unwrap_or_else(|| panic!("{name} in {out}"));
        assert_eq!((f["bench"].as_str(), f["device"].as_str()), (Some("checkpoint"), Some("/cpu:0")));
        assert!(f["ms"].as_f64().unwrap() > 0.0 && f["ratio_to_clear"].as_f64().unwrap() > 0.0, "{f}");
    }
    let (ok, _, err) = varscope(&["bench", "checkpoint", "--size", "3"]);
    assert!(!ok && err.contains("takes no --size"), "{err}");
    let (ok, _, err) = varscope(&["bench", "model", "--size", "3"]);
    assert!(!ok && err.contains("bench model takes no --size"), "{err}");
}

#[test]
fn bench_update_on_every_gpu() {
    let (ok, out, err) = varscope(&["bench", "update", "--size", "65536", "--json"]);
    assert!(ok, "{err}");
    let figs: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let gpus: HashSet<&str> = figs.iter().filter_map(|f| f["device"].as_str()).collect();
    if !have_gpus("bench_update_on_every_gpu", gpus.len()) {
        return;
    }
    for case in ["adam_one_large", "adam_1000_small"] {
        assert!(figs.iter().any(|f| f["figure"] == case && f["ratio_to_clear"].as_f64().unwrap() > 0.0), "{out}");
    }
}

#[test]
fn zero_and_huge_sizes_are_usage_errors_that_name_the_range() {
    for (args, range) in [
        (&["bench", "scopes", "--size", "0"][..], "1 to 1000000"),
        (&["bench", "init", "--size", "0"][..], "1 to 67108864"),
        (&["bench", "update", "--size", "0"][..], "1 to 67108864"),
        (&["bench", "init", "--size", "99999999999"][..], "1 to 67108864"),
        (&["train", "--points", "0"][..], "1..=65535"),
        (&["train", "--points", "65536"][..], "1..=65535"),
        (&["train", "--steps", "0"][..], "1..=1000000"),
        (&["train", "--log-every", "0"][..], "1..=1000000"),
    ] {
        let (code, out, err) = varscope_env(args, &[]);
        assert_eq!(code, Some(2), "{args:?}: {out}\n{err}");
        assert!(err.contains(range), "{args:?}: {err}");
        assert!(!out.contains("GB/s") && !out.contains("step"), "{args:?} ran: {out}");
        no_panic(&err);
    }
}

#[test]
fn train_checks_the_save_destination_before_training() {
    let dir = temp_path("dest-dir");
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("no/such/dir/model.safetensors");
    let cases: Vec<(String, &str)> = vec![
        (missing.to_string_lossy().into_owned(), "does not exist"),
        (dir.to_string_lossy().into_owned(), "is a directory"),
        (".".into(), "names a directory"),
        // Not writable, even for root.
        ("/proc/varscope-test.safetensors".into(), "does not accept new files"),
    ];
    for (dest, words) in cases {
        let (code, out, err) = varscope_env(&["train", "--device", "/cpu:0", "--steps", "5", "--save", &dest], &[]);
        assert_eq!(code, Some(1), "{dest}: {out}\n{err}");
        assert!(!out.contains("step") && !err.contains("training on"), "{dest}: trained first:\n{out}\n{err}");
        let line = err.lines().find(|l| l.starts_with("error:")).unwrap_or_else(|| panic!("{dest}: {err}"));
        assert!(line.contains(words) && line.contains("cannot save to"), "{dest}: {line}");
        assert!(!line.contains("os error") && !line.contains("Some("), "{dest}: {line}");
        no_panic(&err);
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn train_quiet_prints_nothing_and_below_target_is_exit_status_3() {
    let (code, out, err) =
        varscope_env(&["train", "--device", "/cpu:0", "--steps", "1", "--points", "8", "--quiet"], &[]);
    // One step cannot reach the target: status 3, one error line, nothing on stdout.
    assert_eq!(code, Some(3), "{out}\n{err}");
    assert!(out.is_empty(), "--quiet printed: {out}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(errors[0].contains("below the target"), "{err}");
    assert!(!err.contains("training on"), "{err}");
    // The status is documented.
    let (ok, help, _) = varscope(&["train", "--help"]);
    assert!(ok);
    assert!(help.contains("3  train: training finished but the accuracy is below the target"), "{help}");
    let (ok, help, _) = varscope(&["--help"]);
    assert!(ok && help.contains("Exit status:"), "{help}");
}

#[test]
fn bench_shows_progress_per_figure_on_stderr() {
    let (ok, out, err) = varscope(&["bench", "scopes", "--size", "50"]);
    assert!(ok, "{err}");
    for f in ["create_variables", "reuse_lookup_3_deep"] {
        assert!(err.contains(&format!("bench: measuring {f}")), "{err}");
        assert!(out.contains(f), "{out}");
    }
    let (ok, _, err) = varscope(&["bench", "scopes", "--size", "50", "--quiet"]);
    assert!(ok && !err.contains("bench: measuring"), "{err}");
    let (ok, out, err) = varscope(&["bench", "init", "--device", "/cpu:0", "--size", "64"]);
    assert!(ok, "{err}");
    assert!(err.contains("bench: measuring random_normal on /cpu:0"), "{err}");
    assert!(out.contains("backend=\"host\""), "{out}");
}

#[test]
fn an_unknown_backend_variable_is_an_error() {
    for value in ["bogus", "vulkan,bogus", ""] {
        let (code, out, err) = varscope_env(&["devices"], &[("WGPU_BACKEND", Some(value))]);
        assert_eq!(code, Some(1), "WGPU_BACKEND={value:?}: {out}\n{err}");
        let line = err.lines().find(|l| l.starts_with("error:")).unwrap_or_else(|| panic!("{err}"));
        assert!(line.contains("WGPU_BACKEND"), "{line}");
        no_panic(&err);
    }
    let (code, _, err) = varscope_env(&["devices"], &[("WGPU_BACKEND", Some("vulkan,gl"))]);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn a_debug_fill_that_is_not_a_byte_is_an_error() {
    for value in ["256", "0xfff", "yes", ""] {
        let (code, out, err) = varscope_env(&["devices"], &[("VARSCOPE_DEBUG_FILL", Some(value))]);
        assert_eq!(code, Some(1), "VARSCOPE_DEBUG_FILL={value:?}: {out}\n{err}");
        let line = err.lines().find(|l| l.starts_with("error:")).unwrap_or_else(|| panic!("{err}"));
        assert!(line.contains("VARSCOPE_DEBUG_FILL") && line.contains("not a byte"), "{line}");
        no_panic(&err);
    }
    for value in ["255", "0xA5"] {
        let (code, _, err) = varscope_env(&["devices"], &[("VARSCOPE_DEBUG_FILL", Some(value))]);
        assert_eq!(code, Some(0), "VARSCOPE_DEBUG_FILL={value:?}: {err}");
    }
}

#[test]
fn without_an_adapter_train_says_it_runs_on_the_host_and_why() {
    // No adapter of this backend on Linux: the fallback to /cpu:0 must be announced.
    let backend = if cfg!(target_os = "macos") { "dx12" } else { "metal" };
    let (code, out, err) = varscope_env(
        &["train", "--steps", "20", "--points", "16"],
        &[("WGPU_BACKEND", Some(backend)), ("VARSCOPE_DEFAULT_DEVICE", None)],
    );
    assert!(code == Some(0) || code == Some(3), "{out}\n{err}");
    let line = err.lines().find(|l| l.contains("training on")).unwrap_or_else(|| panic!("no device line: {err}"));
    assert!(line.contains("/cpu:0 (host)") && line.contains("no GPU adapter found"), "{line}");
    assert!(line.contains(&format!("WGPU_BACKEND={backend}")), "{line}");
}

#[test]
fn devices_show_the_backend_next_to_the_adapter() {
    let (ok, out, _) = varscope(&["devices"]);
    assert!(ok);
    for line in out.lines().filter(|l| l.starts_with("/gpu:")) {
        assert!(["Vulkan)", "GL)", "Metal)", "DX12)"].iter().any(|b| line.contains(b)), "{line}");
    }
    assert!(out.lines().any(|l| l.starts_with("/cpu:0 (host)")), "{out}");
}

#[test]
fn mesa_runtime_dir_complaint_never_reaches_the_user() {
    // With XDG_RUNTIME_DIR unset, Mesa's EGL (wgpu's GL backend) prints
    // "XDG_RUNTIME_DIR is invalid or not set" on every device open unless varscope
    // provides a private runtime directory first.
    for args in [&["devices"][..], &["bench", "init", "--device", "/cpu:0", "--size", "16"][..]] {
        let (code, out, err) = varscope_env(args, &[("XDG_RUNTIME_DIR", None)]);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        assert!(!err.contains("XDG_RUNTIME_DIR") && !out.contains("XDG_RUNTIME_DIR"), "{args:?}: {err}");
    }
}

/// A safetensors file written by hand: one float32 tensor per name, no varscope metadata
/// (so no checksums).
fn plain_safetensors(path: &std::path::Path, names: &[&str]) {
    let entries: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            format!(
                "{}:{{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[{},{}]}}",
                serde_json::to_string(n).unwrap(),
                4 * i,
                4 * i + 4
            )
        })
        .collect();
    let mut header = format!("{{{}}}", entries.join(","));
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend(std::iter::repeat_n(0u8, 4 * names.len()));
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn inspect_says_when_there_are_no_checksums_and_escapes_names() {
    let file = temp_path("plain.safetensors");
    plain_safetensors(&file, &["scope/w", "evil\nname\u{1b}[2J"]);
    let (ok, out, err) = varscope(&["inspect", "--verify", file.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("no checksums to verify"), "{out}");
    assert!(!out.contains("checksums verified"), "{out}");
    assert!(out.contains("evil\\nname\\u{1b}[2J"), "{out}");
    assert!(!out.contains('\u{1b}') && !out.lines().any(|l| l.starts_with("name")), "{out}");
    let _ = std::fs::remove_file(file);
}
