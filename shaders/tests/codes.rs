//! The kind and dtype codes and the parameter block agree between the shaders crate
//! (the WGSL contract) and varscope-core's reference (which fills the parameters), and
//! the WGSL constants equal the Rust ones. No GPU needed.

use varscope_core::reference::codes;
use varscope_shaders as s;

#[test]
fn core_codes_equal_shader_codes() {
    let pairs = [
        (codes::KIND_FILL, s::KIND_FILL, "KIND_FILL"),
        (codes::KIND_IDENTITY, s::KIND_IDENTITY, "KIND_IDENTITY"),
        (codes::KIND_UNIFORM, s::KIND_UNIFORM, "KIND_UNIFORM"),
        (codes::KIND_UNIFORM_INT, s::KIND_UNIFORM_INT, "KIND_UNIFORM_INT"),
        (codes::KIND_NORMAL, s::KIND_NORMAL, "KIND_NORMAL"),
        (codes::KIND_TRUNCATED_NORMAL, s::KIND_TRUNCATED_NORMAL, "KIND_TRUNCATED_NORMAL"),
        (codes::DTYPE_F32, s::DTYPE_F32, "DTYPE_F32"),
        (codes::DTYPE_F16, s::DTYPE_F16, "DTYPE_F16"),
        (codes::DTYPE_BF16, s::DTYPE_BF16, "DTYPE_BF16"),
        (codes::DTYPE_I32, s::DTYPE_I32, "DTYPE_I32"),
        (codes::DTYPE_U32, s::DTYPE_U32, "DTYPE_U32"),
        (codes::DTYPE_BOOL, s::DTYPE_BOOL, "DTYPE_BOOL"),
    ];
    let init = s::Shader::Init.source();
    for (core, shaders, name) in pairs {
        assert_eq!(core, shaders, "{name}");
        let decl = format!("const {name}: u32 = {shaders}u;");
        assert!(init.contains(&decl), "shaders/init.wgsl lacks `{decl}`");
    }
    let philox = s::PRELUDES[0].1;
    for (name, v) in [
        ("STREAM_UNIFORM", varscope_core::random::STREAM_UNIFORM),
        ("STREAM_NORMAL", varscope_core::random::STREAM_NORMAL),
        ("STREAM_TRUNCATED", varscope_core::random::STREAM_TRUNCATED),
        ("STREAM_UNIFORM_INT", varscope_core::random::STREAM_UNIFORM_INT),
        ("TRUNCATED_MAX_ATTEMPTS", varscope_core::random::TRUNCATED_MAX_ATTEMPTS),
    ] {
        let decl = format!("const {name}: u32 = {v}u;");
        assert!(philox.contains(&decl), "shaders/philox.wgsl lacks `{decl}`");
    }
    for shader in s::Shader::ALL {
        let decl = format!("const WORKGROUP_SIZE: u32 = {}u;", s::WORKGROUP_SIZE);
        assert!(shader.source().contains(&decl), "{} lacks `{decl}`", shader.label());
    }
}
