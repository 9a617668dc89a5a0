//! Every registered shader parses and validates with naga against the capabilities the
//! runtime requests (no SHADER_F16, no 64-bit types), every `.wgsl` file is registered,
//! and a broken shader fails. No GPU needed.

use std::collections::BTreeSet;

use varscope_shaders::{Binding, Shader, INIT_KINDS, INIT_LAYOUTS, OPT_KINDS, PRELUDES, UPDATE_OPS, WORKGROUP_SIZE};

/// What the session requests from every adapter: WebGPU defaults, nothing more.
fn capabilities() -> naga::valid::Capabilities {
    naga::valid::Capabilities::empty()
}

fn validate(label: &str, source: &str) -> Result<naga::valid::ModuleInfo, String> {
    let module = naga::front::wgsl::parse_str(source).map_err(|e| e.emit_to_string_with_path(source, label))?;
    naga::valid::Validator::new(naga::valid::ValidationFlags::all(), capabilities())
        .validate(&module)
        .map_err(|e| format!("{label}: {e:?}"))
}

#[test]
fn every_registered_shader_validates() {
    for shader in Shader::ALL {
        let src = shader.source();
        validate(shader.label(), src).unwrap_or_else(|e| panic!("{} failed validation:\n{e}", shader.label()));
        let module = naga::front::wgsl::parse_str(src).expect("parsed above");
        let entry = module
            .entry_points
            .iter()
            .find(|e| e.name == shader.entry_point())
            .unwrap_or_else(|| panic!("{}: no entry point {}", shader.label(), shader.entry_point()));
        assert_eq!(entry.stage, naga::ShaderStage::Compute, "{}", shader.label());
        assert_eq!(entry.workgroup_size, [WORKGROUP_SIZE, 1, 1], "{}: workgroup size", shader.label());
    }
    // Every prelude is used by a registered shader (validated above, prelude included),
    // each user's source starts with it, and a self-contained prelude validates alone.
    for (label, src) in PRELUDES {
        let users: Vec<Shader> = Shader::ALL.into_iter().filter(|s| s.preludes().contains(label)).collect();
        assert!(!users.is_empty(), "prelude {label} is used by no shader");
        for u in users {
            assert!(u.source().starts_with(src), "{} does not start with its prelude {label}", u.label());
        }
        if *label == "shaders/philox.wgsl" {
            validate(label, src).unwrap_or_else(|e| panic!("prelude {label} failed validation:\n{e}"));
        }
    }
}

/// Each (kind, layout) variant of the init shader, with the overrides made constants as
/// a pipeline would set them.
#[test]
fn every_init_variant_validates() {
    let src = Shader::Init.source();
    for kind in INIT_KINDS {
        for layout in INIT_LAYOUTS {
            let decl_kind = "override INIT_KIND: u32;";
            let decl_layout = "override INIT_LAYOUT: u32;";
            assert!(src.contains(decl_kind) && src.contains(decl_layout), "init.wgsl overrides changed");
            let variant = src
                .replace(decl_kind, &format!("const INIT_KIND: u32 = {kind}u;"))
                .replace(decl_layout, &format!("const INIT_LAYOUT: u32 = {layout}u;"));
            validate(&format!("shaders/init.wgsl[kind {kind}, layout {layout}]"), &variant)
                .unwrap_or_else(|e| panic!("init variant failed validation:\n{e}"));
        }
    }
}

#[test]
fn every_wgsl_file_is_registered() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut on_disk = BTreeSet::new();
    for entry in std::fs::read_dir(dir).expect("read shaders/") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "wgsl") {
            let name = path.file_name().expect("file name").to_string_lossy().into_owned();
            on_disk.insert(format!("shaders/{name}"));
        }
    }
    let registered: BTreeSet<String> =
        Shader::ALL.iter().map(|s| s.label().to_string()).chain(PRELUDES.iter().map(|(l, _)| l.to_string())).collect();
    let missing: Vec<_> = on_disk.difference(&registered).collect();
    assert!(missing.is_empty(), "WGSL files not in the registry: {missing:?}");
    let stale: Vec<_> = registered.difference(&on_disk).collect();
    assert!(stale.is_empty(), "registry labels with no file: {stale:?}");
    // Each shader's source ends with its own file.
    for shader in Shader::ALL {
        let own = std::fs::read_to_string(dir.join(shader.label().trim_start_matches("shaders/"))).expect("read");
        assert!(shader.source().ends_with(&own), "{} source is not its file", shader.label());
    }
}

const TRAINING: [Shader; 4] = [Shader::Optim, Shader::Norm, Shader::Reduce, Shader::Update];

#[test]
fn every_training_shader_validates() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for shader in TRAINING {
        let src = shader.source();
        validate(shader.label(), src).unwrap_or_else(|e| panic!("{} failed validation:\n{e}", shader.label()));
        let module = naga::front::wgsl::parse_str(src).expect("parsed above");
        let entry = module
            .entry_points
            .iter()
            .find(|e| e.name == shader.entry_point())
            .unwrap_or_else(|| panic!("{}: no entry point {}", shader.label(), shader.entry_point()));
        assert_eq!(entry.stage, naga::ShaderStage::Compute, "{}", shader.label());
        assert_eq!(entry.workgroup_size, [WORKGROUP_SIZE, 1, 1], "{}: workgroup size", shader.label());
        let own = std::fs::read_to_string(dir.join(shader.label().trim_start_matches("shaders/"))).expect("read");
        assert!(shader.source().ends_with(&own), "{} source is not its file", shader.label());
        for name in shader.overrides() {
            assert!(src.contains(&format!("override {name}: u32")), "{}: override {name} missing", shader.label());
        }
    }
}

/// Each optimizer kind and buffer map of `optim.wgsl`, and each op of `update.wgsl`, with
/// the overrides made constants as a pipeline would set them.
#[test]
fn every_training_variant_validates() {
    let optim = Shader::Optim.source();
    for kind in OPT_KINDS {
        for var_buf in 0..4u32 {
            let slots = [(var_buf + 1) % 4, (var_buf + 2) % 4, 3];
            let mut v = optim.replace("override OPT_KIND: u32;", &format!("const OPT_KIND: u32 = {kind}u;"));
            v = v.replace("override VAR_BUF: u32;", &format!("const VAR_BUF: u32 = {var_buf}u;"));
            for (i, b) in slots.iter().enumerate() {
                v = v.replace(&format!("override S{i}_BUF: u32 = 0u;"), &format!("const S{i}_BUF: u32 = {b}u;"));
            }
            assert!(!v.contains("override"), "optim.wgsl overrides changed");
            validate(&format!("shaders/optim.wgsl[kind {kind}, var {var_buf}]"), &v).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    let update = Shader::Update.source();
    for op in UPDATE_OPS {
        let v = update.replace("override UPDATE_OP: u32;", &format!("const UPDATE_OP: u32 = {op}u;"));
        assert!(!v.contains("override"), "update.wgsl overrides changed");
        validate(&format!("shaders/update.wgsl[op {op}]"), &v).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// User-side WGSL of the repository's examples (not varscope kernels, so not in the
/// registry) is validated the same way: `examples/mlp/src/mlp.wgsl`.
#[test]
fn example_shaders_validate() {
    let label = "examples/mlp/src/mlp.wgsl";
    let src = include_str!("../../examples/mlp/src/mlp.wgsl");
    validate(label, src).unwrap_or_else(|e| panic!("{label} failed validation:\n{e}"));
    let module = naga::front::wgsl::parse_str(src).expect("parsed above");
    let names: Vec<&str> = module.entry_points.iter().map(|e| e.name.as_str()).collect();
    for want in [
        "fwd_tower",
        "fwd_hidden",
        "fwd_output",
        "bwd_output",
        "bwd_hidden_act",
        "bwd_hidden",
        "bwd_tower_act",
        "bwd_tower",
    ] {
        assert!(names.contains(&want), "{label}: no entry point {want} in {names:?}");
    }
    assert!(module.entry_points.iter().all(|e| e.workgroup_size == [WORKGROUP_SIZE, 1, 1]), "{label}: workgroup size");
}

#[test]
fn a_broken_shader_fails() {
    // Type error: f32 stored into array<u32>.
    let broken = "@group(0) @binding(0) var<storage, read_write> o: array<u32>;\n\
                  @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) { o[g.x] = 1.5; }";
    assert!(validate("broken.wgsl", broken).is_err());
    // f16 without the SHADER_F16 capability the runtime does not request.
    let f16 = "enable f16;\n@group(0) @binding(0) var<storage, read_write> o: array<f16>;\n\
               @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) { o[g.x] = 1.0h; }";
    assert!(validate("f16.wgsl", f16).is_err());
    // Syntax error.
    assert!(validate("syntax.wgsl", "fn main( {").is_err());
}

/// `Shader::bindings` (what the gpu crate builds bind group layouts from) matches the
/// bindings each shader declares: index, storage access, uniform; and every declared
/// override is one `Shader::overrides` names.
#[test]
fn declared_bindings_and_overrides_match_the_registry() {
    for shader in Shader::ALL {
        let module = naga::front::wgsl::parse_str(shader.source()).expect("parses");
        let mut declared: Vec<(u32, Binding)> = module
            .global_variables
            .iter()
            .filter_map(|(_, g)| {
                let b = g.binding.as_ref()?;
                assert_eq!(b.group, 0, "{}: only group 0 is used", shader.label());
                let kind = match g.space {
                    naga::AddressSpace::Uniform => Binding::Uniform,
                    naga::AddressSpace::Storage { access } => {
                        Binding::Storage { read_only: !access.contains(naga::StorageAccess::STORE) }
                    }
                    other => panic!("{}: unexpected address space {other:?}", shader.label()),
                };
                Some((b.binding, kind))
            })
            .collect();
        declared.sort_by_key(|(i, _)| *i);
        let expected: Vec<(u32, Binding)> = shader.bindings().iter().enumerate().map(|(i, b)| (i as u32, *b)).collect();
        assert_eq!(declared, expected, "{}: bindings differ from Shader::bindings()", shader.label());
        let mut overrides: Vec<String> = module.overrides.iter().filter_map(|(_, o)| o.name.clone()).collect();
        overrides.sort();
        let mut named: Vec<String> = shader.overrides().iter().map(|s| s.to_string()).collect();
        named.sort();
        assert_eq!(overrides, named, "{}: overrides differ from Shader::overrides()", shader.label());
    }
}
