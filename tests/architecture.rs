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

// ----- no import cycles between modules ------------------------------------------------

/// Source of a file with its `#[cfg(test)]` tail removed (test modules sit at the end
/// of a file and may use anything).
fn non_test_source(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).expect("source file is readable");
    let mut out = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("#[cfg(test)]") && !line.starts_with(' ') {
            break;
        }
        // Comments may mention paths without using them.
        let code = line.split("//").next().unwrap_or("");
        out.push_str(code);
        out.push('\n');
    }
    out
}

fn ident_at(s: &str) -> &str {
    let end = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len());
    &s[..end]
}

/// The paths (`a::b::C`) named by one `crate::` occurrence, expanding `{..}` groups.
fn paths_after_crate(rest: &str) -> Vec<Vec<String>> {
    fn expand(s: &str, prefix: &[String], out: &mut Vec<Vec<String>>) -> usize {
        // Parses one path tree starting at s; returns the number of bytes consumed.
        let mut i = 0;
        let mut path = prefix.to_vec();
        loop {
            let t = &s[i..];
            let trimmed = t.trim_start();
            i += t.len() - trimmed.len();
            if trimmed.starts_with('{') {
                i += 1;
                loop {
                    i += expand(&s[i..], &path, out);
                    let t = &s[i..];
                    let trimmed = t.trim_start();
                    i += t.len() - trimmed.len();
                    if trimmed.starts_with(',') {
                        i += 1;
                        continue;
                    }
                    if trimmed.starts_with('}') {
                        i += 1;
                    }
                    return i;
                }
            }
            let id = ident_at(trimmed);
            if id.is_empty() {
                if path.len() > prefix.len() {
                    out.push(path);
                }
                return i;
            }
            path.push(id.to_string());
            i += id.len();
            if s[i..].starts_with("::") {
                i += 2;
            } else {
                out.push(path);
                return i;
            }
        }
    }
    let mut out = Vec::new();
    expand(rest, &[], &mut out);
    out
}

/// Module graph of one crate: module path (`graph`, `tf`, `tf::x`) to the modules its
/// non-test code names through `crate::` paths. Root re-exports (`crate::Graph`) are
/// resolved to the module that defines the item.
fn module_graph(src: &std::path::Path) -> HashMap<String, HashSet<String>> {
    let mut files: Vec<(String, std::path::PathBuf)> = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("src dir is readable") {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(src).expect("under src").with_extension("");
                let mut parts: Vec<String> = rel.iter().map(|c| c.to_string_lossy().into_owned()).collect();
                if parts.last().is_some_and(|l| l == "mod") {
                    parts.pop();
                }
                let name = parts.join("::");
                // lib.rs / main.rs are the crate roots, not modules of the graph.
                if name != "lib" && name != "main" {
                    files.push((name, p));
                }
            }
        }
    }
    let modules: HashSet<String> = files.iter().map(|(n, _)| n.clone()).collect();
    // Root re-exports: `pub use m::{A, B}`, `pub use m::A`, `pub use m::*`.
    let mut reexport: HashMap<String, String> = HashMap::new();
    let mut globs: Vec<String> = Vec::new();
    let lib = src.join("lib.rs");
    if lib.exists() {
        let lib_src = non_test_source(&lib);
        for stmt in lib_src.split(';') {
            let stmt = stmt.trim();
            let Some(rest) = stmt.strip_prefix("pub use ") else { continue };
            let rest = rest.strip_prefix("crate::").unwrap_or(rest);
            for path in paths_after_crate(rest) {
                let m = path[0].clone();
                if !modules.contains(&m) {
                    continue;
                }
                if path.len() == 1 && rest.trim_start().starts_with(&format!("{m}::*")) {
                    globs.push(m.clone());
                }
                if let Some(last) = path.last() {
                    reexport.insert(last.clone(), m.clone());
                }
            }
            if rest.contains("::*") {
                globs.push(ident_at(rest).to_string());
            }
        }
    }
    let sources: HashMap<String, String> = files.iter().map(|(n, p)| (n.clone(), non_test_source(p))).collect();
    let defined_in = |item: &str| -> Option<String> {
        if let Some(m) = reexport.get(item) {
            return Some(m.clone());
        }
        for g in &globs {
            let s = sources.get(g)?;
            for kw in ["struct", "enum", "fn", "type", "trait", "const", "static"] {
                if s.contains(&format!("pub {kw} {item}")) {
                    return Some(g.clone());
                }
            }
        }
        None
    };
    let mut graph: HashMap<String, HashSet<String>> = HashMap::new();
    for (name, text) in &sources {
        let deps = graph.entry(name.clone()).or_default();
        for (pos, _) in text.match_indices("crate::") {
            if pos > 0 {
                let prev = text[..pos].chars().next_back().unwrap_or(' ');
                if prev.is_ascii_alphanumeric() || prev == '_' || prev == '$' {
                    continue; // `varscope_core::`, `$crate::`
                }
            }
            for path in paths_after_crate(&text[pos + "crate::".len()..]) {
                // The longest prefix that is a module, else a root re-export.
                let mut target = None;
                for k in (1..=path.len()).rev() {
                    let p = path[..k].join("::");
                    if modules.contains(&p) {
                        target = Some(p);
                        break;
                    }
                }
                let target = target.or_else(|| defined_in(&path[0]));
                if let Some(t) = target {
                    if &t != name {
                        deps.insert(t);
                    }
                }
            }
        }
    }
    graph
}

/// One cycle of the graph, if it has any (depth-first search).
fn find_cycle(graph: &HashMap<String, HashSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        graph: &HashMap<String, HashSet<String>>,
        state: &mut HashMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        path.push(n.to_string());
        let mut next: Vec<&String> = graph.get(n).map(|s| s.iter().collect()).unwrap_or_default();
        next.sort();
        for m in next {
            match state.get(m.as_str()) {
                Some(1) => {
                    let start = path.iter().position(|p| p == m).unwrap_or(0);
                    let mut c = path[start..].to_vec();
                    c.push(m.clone());
                    return Some(c);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(m, graph, state, path) {
                        return Some(c);
                    }
                }
            }
        }
        path.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = HashMap::new();
    let mut nodes: Vec<&String> = graph.keys().collect();
    nodes.sort();
    for n in nodes {
        if !state.contains_key(n.as_str()) {
            let mut path = Vec::new();
            if let Some(c) = visit(n, graph, &mut state, &mut path) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn cycle_finder_sees_a_cycle() {
    // Positive control for the checker below, on a throwaway crate.
    let dir = std::env::temp_dir().join(format!("varscope-arch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("lib.rs"), "mod a;\nmod b;\nmod c;\npub use c::Thing;\n").expect("write");
    std::fs::write(dir.join("a.rs"), "use crate::{b::X, c};\n").expect("write");
    std::fs::write(dir.join("b.rs"), "pub struct X;\nuse crate::Thing; // via the root\n").expect("write");
    std::fs::write(
        dir.join("c.rs"),
        "pub struct Thing;\nfn f() { crate::a::g() }\n#[cfg(test)]\nmod tests { use crate::b::X; }\n",
    )
    .expect("write");
    let g = module_graph(&dir);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(g["a"], HashSet::from(["b".to_string(), "c".to_string()]));
    assert_eq!(g["b"], HashSet::from(["c".to_string()]));
    assert_eq!(g["c"], HashSet::from(["a".to_string()]), "test modules are ignored");
    let cycle = find_cycle(&g).expect("a -> b -> c -> a is a cycle");
    assert_eq!(cycle.first(), cycle.last());
    assert!(cycle.len() >= 3, "{cycle:?}");
}

#[test]
fn no_import_cycles_between_modules() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let meta = metadata();
    let mut failures = Vec::new();
    for p in meta["packages"].as_array().expect("packages") {
        if !p["source"].is_null() {
            continue;
        }
        let manifest = std::path::Path::new(p["manifest_path"].as_str().expect("manifest path"));
        let src = manifest.parent().expect("package dir").join("src");
        if !src.starts_with(root) || !src.exists() {
            continue;
        }
        let g = module_graph(&src);
        if let Some(c) = find_cycle(&g) {
            failures.push(format!("{}: {}", p["name"], c.join(" -> ")));
        }
    }
    assert!(failures.is_empty(), "import cycles between modules:\n{}", failures.join("\n"));
}

// ----- GPU tests go through varscope-test-support --------------------------------------

/// Every `.rs` file of the workspace under `dir`, skipping build output and hidden folders.
fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("workspace dir is readable") {
        let p = e.expect("dir entry").path();
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if p.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn only_test_support_reads_the_require_gpu_variable() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    // The variable's name as a string literal: reading it anywhere else bypasses the
    // shared policy (and its per-target reports).
    let literal = format!("\"{}\"", varscope_test_support::REQUIRE_GPU);
    let mut files = Vec::new();
    rust_files(root, &mut files);
    let support = root.join("test-support");
    let mut readers = Vec::new();
    let mut in_support = false;
    for f in &files {
        let text = std::fs::read_to_string(f).expect("source file is readable");
        if text.contains(&literal) {
            if f.starts_with(&support) {
                in_support = true;
            } else {
                readers.push(f.strip_prefix(root).unwrap_or(f).display().to_string());
            }
        }
    }
    assert!(in_support, "positive control: test-support names {literal}");
    assert!(files.len() > 50, "positive control: the walk sees the workspace ({} files)", files.len());
    assert!(
        readers.is_empty(),
        "read {literal} through varscope-test-support (for_each_target, have_gpus), not directly: {readers:?}"
    );
}
