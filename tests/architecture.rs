//! Architecture invariants (ARCHITECTURE.md), checked with `cargo metadata`.

use std::collections::{HashMap, HashSet};
use std::process::Command;

fn metadata() -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let vv = Command::new(rustc).arg("-vV").output().expect("rustc -vV runs");
    let host = String::from_utf8_lossy(&vv.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .expect("rustc reports its host");
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--filter-platform", &host])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("metadata is JSON")
}

/// Names of every package `root` depends on through normal (non-dev, non-build) edges.
fn normal_closure(meta: &serde_json::Value, root: &str) -> HashSet<String> {
    let packages = meta["packages"].as_array().unwrap();
    let name_of: HashMap<&str, &str> =
        packages.iter().map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap())).collect();
    let nodes = meta["resolve"]["nodes"].as_array().unwrap();
    let by_id: HashMap<&str, &serde_json::Value> = nodes.iter().map(|n| (n["id"].as_str().unwrap(), n)).collect();
    let root_id = packages.iter().find(|p| p["name"] == root).expect("package exists")["id"].as_str().unwrap();
    let mut seen = HashSet::new();
    let mut stack = vec![root_id];
    while let Some(id) = stack.pop() {
        for dep in by_id[id]["deps"].as_array().unwrap() {
            let normal = dep["dep_kinds"].as_array().unwrap().iter().any(|k| k["kind"].is_null());
            let pkg = dep["pkg"].as_str().unwrap();
            if normal && seen.insert(name_of[pkg].to_string()) {
                stack.push(pkg);
            }
        }
    }
    seen
}

#[test]
fn core_never_depends_on_wgpu() {
    let meta = metadata();
    let deps = normal_closure(&meta, "varscope-core");
    for forbidden in ["wgpu", "wgpu-core", "wgpu-hal", "naga", "varscope-gpu", "varscope-shaders"] {
        assert!(!deps.contains(forbidden), "varscope-core depends on {forbidden}: {deps:?}");
    }
}

#[test]
fn format_never_depends_on_wgpu() {
    let deps = normal_closure(&metadata(), "varscope-format");
    assert!(deps.contains("varscope-core"), "positive control: {deps:?}");
    for forbidden in ["wgpu", "wgpu-core", "wgpu-hal", "naga", "varscope-gpu", "varscope-shaders"] {
        assert!(!deps.contains(forbidden), "varscope-format depends on {forbidden}: {deps:?}");
    }
}

#[test]
fn shaders_crate_is_wgpu_free_and_gpu_uses_one_wgpu() {
    let meta = metadata();
    assert!(!normal_closure(&meta, "varscope-shaders").contains("wgpu"));
    // Positive control: the walker does see wgpu where it is.
    assert!(normal_closure(&meta, "varscope-gpu").contains("wgpu"));
    let wgpus: Vec<&str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == "wgpu")
        .map(|p| p["version"].as_str().unwrap())
        .collect();
    assert_eq!(wgpus.len(), 1, "exactly one wgpu version: {wgpus:?}");
    assert!(wgpus[0].starts_with("30."), "wgpu 30.x: {wgpus:?}");
}

#[test]
fn no_package_is_named_core() {
    let meta = metadata();
    for p in meta["packages"].as_array().unwrap() {
        if p["source"].is_null() {
            assert_ne!(p["name"], "core", "a workspace package named core shadows the built-in crate");
        }
    }
}
