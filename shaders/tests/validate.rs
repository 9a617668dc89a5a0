//! Every registered shader parses and validates with naga against the capabilities the
//! runtime requests (no SHADER_F16; 64-bit integers only in the shaders that declare
//! they need them), every `.wgsl` file is registered, and a broken shader fails. No GPU
//! needed.

use std::collections::BTreeSet;

use varscope_shaders::{
    init_variants, Binding, Shader, OPT_KINDS, PRELUDES, SUBSTITUTE_PRELUDES, UPDATE_OPS, WIDE_WORKGROUP_SIZE,
    WORKGROUP_SIZE,
};

/// What the session requests from every adapter: WebGPU defaults, nothing more.
fn capabilities() -> naga::valid::Capabilities {
    naga::valid::Capabilities::empty()
}

fn validate(label: &str, source: &str) -> Result<naga::valid::ModuleInfo, String> {
    validate_with(label, source, capabilities())
}

fn validate_with(
    label: &str,
    source: &str,
    caps: naga::valid::Capabilities,
) -> Result<naga::valid::ModuleInfo, String> {
    let module = naga::front::wgsl::parse_str(source).map_err(|e| e.emit_to_string_with_path(source, label))?;
    naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps)
        .validate(&module)
        .map_err(|e| format!("{label}: {e:?}"))
}

/// The capabilities a shader is built with: none, or 64-bit integers for the shaders
/// that need `SHADER_INT64` (the session builds those only on devices that have it).
fn capabilities_of(shader: Shader) -> naga::valid::Capabilities {
    if shader.needs_int64() {
        naga::valid::Capabilities::SHADER_INT64
    } else {
        capabilities()
    }
}

/// The workgroup-size declaration a shader must carry.
fn workgroup_decl(shader: Shader) -> String {
    if shader.wide() {
        format!("override INIT_WG: u32 = {WIDE_WORKGROUP_SIZE}u;")
    } else {
        format!("const WORKGROUP_SIZE: u32 = {WORKGROUP_SIZE}u;")
    }
}

#[test]
fn every_registered_shader_validates() {
    for shader in Shader::ALL {
        let src = shader.source();
        validate_with(shader.label(), src, capabilities_of(shader))
            .unwrap_or_else(|e| panic!("{} failed validation:\n{e}", shader.label()));
        let module = naga::front::wgsl::parse_str(src).expect("parsed above");
        let entry = module
            .entry_points
            .iter()
            .find(|e| e.name == shader.entry_point())
            .unwrap_or_else(|| panic!("{}: no entry point {}", shader.label(), shader.entry_point()));
        assert_eq!(entry.stage, naga::ShaderStage::Compute, "{}", shader.label());
        if shader.wide() {
            assert!(src.contains("@workgroup_size(INIT_WG)"), "{}: workgroup size", shader.label());
        } else {
            assert_eq!(entry.workgroup_size, [WORKGROUP_SIZE, 1, 1], "{}: workgroup size", shader.label());
        }
        assert!(src.contains(&workgroup_decl(shader)), "{}: lacks `{}`", shader.label(), workgroup_decl(shader));
    }
    // Without SHADER_INT64 the 64-bit multiply is refused: the session must never build it
    // on a device that lacks the feature.
    assert!(validate(Shader::InitMul64.label(), Shader::InitMul64.source()).is_err());
    // Every prelude is used by a registered shader (validated above, prelude included),
    // each user's source holds its preludes in the declared order, and the `mulhilo`
    // preludes validate alone.
    for (label, src) in PRELUDES {
        let users: Vec<Shader> = Shader::ALL.into_iter().filter(|s| s.preludes().contains(label)).collect();
        assert!(!users.is_empty(), "prelude {label} is used by no shader");
        for u in users {
            let all: String = u
                .preludes()
                .iter()
                .map(|l| PRELUDES.iter().find(|(p, _)| p == l).expect("registered prelude").1)
                .collect::<Vec<_>>()
                .join("\n");
            assert!(u.source().starts_with(&all), "{} does not start with its preludes", u.label());
        }
        if label.starts_with("shaders/mul") {
            let caps = if label.contains("64") { naga::valid::Capabilities::SHADER_INT64 } else { capabilities() };
            let probe = format!("{src}\n@compute @workgroup_size(1) fn main() {{ _ = mulhilo(3u, 5u); }}");
            validate_with(label, &probe, caps).unwrap_or_else(|e| panic!("prelude {label} failed validation:\n{e}"));
        }
    }
}

/// Each (kind, layout, pack) variant of the init shaders, with the overrides made
/// constants as a pipeline would set them.
#[test]
fn every_init_variant_validates() {
    for shader in [Shader::Init, Shader::InitMul64, Shader::InitPair] {
        let src = shader.source();
        let decls = [
            "override INIT_KIND: u32;",
            "override INIT_LAYOUT: u32;",
            "override INIT_PACK: u32;",
            "override INIT_ROWS: u32;",
        ];
        let wg = "override INIT_WG: u32 = 256u;";
        assert!(decls.iter().all(|d| src.contains(d)) && src.contains(wg), "init.wgsl overrides changed");
        for ([kind, layout, pack], one) in init_variants().into_iter().flat_map(|v| [(v, 0), (v, 1)]) {
            let variant = src
                .replace(decls[0], &format!("const INIT_KIND: u32 = {kind}u;"))
                .replace(decls[1], &format!("const INIT_LAYOUT: u32 = {layout}u;"))
                .replace(decls[2], &format!("const INIT_PACK: u32 = {pack}u;"))
                .replace(decls[3], &format!("const INIT_ROWS: u32 = {one}u;"))
                .replace(wg, "const INIT_WG: u32 = 256u;");
            let label = format!("{}[kind {kind}, layout {layout}, pack {pack}, one row {one}]", shader.label());
            validate_with(&label, &variant, capabilities_of(shader))
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
    let registered: BTreeSet<String> = Shader::ALL
        .iter()
        .map(|s| file_of(*s))
        .chain(PRELUDES.iter().map(|(l, _)| l.to_string()))
        .chain(SUBSTITUTE_PRELUDES.iter().map(|(l, _, _)| l.to_string()))
        .collect();
    let missing: Vec<_> = on_disk.difference(&registered).collect();
    assert!(missing.is_empty(), "WGSL files not in the registry: {missing:?}");
    let stale: Vec<_> = registered.difference(&on_disk).collect();
    assert!(stale.is_empty(), "registry labels with no file: {stale:?}");
    // Each shader's source ends with its own file.
    for shader in Shader::ALL {
        let own = std::fs::read_to_string(dir.join(file_of(shader).trim_start_matches("shaders/"))).expect("read");
        assert!(shader.source().ends_with(&own), "{} source is not its file", shader.label());
    }
}

/// The file a shader's label names (`shaders/init.wgsl+mul64` is `shaders/init.wgsl`
/// with another prelude).
fn file_of(shader: Shader) -> String {
    shader.label().split('+').next().unwrap_or_default().to_string()
}

const TRAINING: [Shader; 5] = [Shader::Optim, Shader::Optim4, Shader::Norm, Shader::Reduce, Shader::Update];

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
        if shader.wide() {
            assert!(src.contains("@workgroup_size(INIT_WG)"), "{}: workgroup size", shader.label());
        } else {
            assert_eq!(entry.workgroup_size, [WORKGROUP_SIZE, 1, 1], "{}: workgroup size", shader.label());
        }
        let own = std::fs::read_to_string(dir.join(shader.label().trim_start_matches("shaders/"))).expect("read");
        assert!(shader.source().ends_with(&own), "{} source is not its file", shader.label());
        for name in shader.overrides() {
            assert!(src.contains(&format!("override {name}: u32")), "{}: override {name} missing", shader.label());
        }
    }
}

/// Each optimizer kind and buffer map of `optim.wgsl` and `optim4.wgsl`, and each op of
/// `update.wgsl`, with the overrides made constants as a pipeline would set them.
#[test]
fn every_training_variant_validates() {
    for shader in [Shader::Optim, Shader::Optim4] {
        let optim = shader.source();
        for kind in OPT_KINDS {
            for var_buf in 0..4u32 {
                let slots = [(var_buf + 1) % 4, (var_buf + 2) % 4, 3];
                let mut v = optim.replace("override OPT_KIND: u32;", &format!("const OPT_KIND: u32 = {kind}u;"));
                v = v.replace("override VAR_BUF: u32;", &format!("const VAR_BUF: u32 = {var_buf}u;"));
                for (i, b) in slots.iter().enumerate() {
                    v = v.replace(&format!("override S{i}_BUF: u32 = 0u;"), &format!("const S{i}_BUF: u32 = {b}u;"));
                }
                v = v.replace("override INIT_WG: u32 = 256u;", "const INIT_WG: u32 = 256u;");
                assert!(!v.contains("override"), "{} overrides changed", shader.label());
                let label = format!("{}[kind {kind}, var {var_buf}]", shader.label());
                validate(&label, &v).unwrap_or_else(|e| panic!("{e}"));
            }
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
