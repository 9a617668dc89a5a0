//! The WGSL constants equal the Rust ones of the registry (kinds, packs, Philox streams,
//! workgroup sizes). No GPU needed.

use varscope_shaders as s;

#[test]
fn wgsl_constants_equal_the_registry() {
    let init = s::Shader::Init.source();
    for (v, name) in [
        (s::KIND_FILL, "KIND_FILL"),
        (s::KIND_IDENTITY, "KIND_IDENTITY"),
        (s::KIND_UNIFORM, "KIND_UNIFORM"),
        (s::KIND_UNIFORM_INT, "KIND_UNIFORM_INT"),
        (s::KIND_NORMAL, "KIND_NORMAL"),
        (s::KIND_TRUNCATED_NORMAL, "KIND_TRUNCATED_NORMAL"),
        (s::PACK_WORD, "PACK_WORD"),
        (s::PACK_F16, "PACK_F16"),
        (s::PACK_BF16, "PACK_BF16"),
        (s::LAYOUT_ALIGNED, "LAYOUT_ALIGNED"),
        (s::LAYOUT_CONTIGUOUS, "LAYOUT_CONTIGUOUS"),
        (s::LAYOUT_GENERAL, "LAYOUT_GENERAL"),
    ] {
        let decl = format!("const {name}: u32 = {v}u;");
        assert!(init.contains(&decl), "shaders/init.wgsl lacks `{decl}`");
    }
    let philox = s::PRELUDES[0].1;
    for (name, v) in [
        ("STREAM_UNIFORM", varscope_core::random::STREAM_UNIFORM),
        ("STREAM_NORMAL", varscope_core::random::STREAM_NORMAL),
        ("STREAM_TRUNCATED", varscope_core::random::STREAM_TRUNCATED),
        ("STREAM_UNIFORM_INT", varscope_core::random::STREAM_UNIFORM_INT),
    ] {
        let decl = format!("const {name}: u32 = {v}u;");
        assert!(philox.contains(&decl), "shaders/philox.wgsl lacks `{decl}`");
    }
    for shader in s::Shader::ALL {
        let decl = if shader.wide() {
            format!("override INIT_WG: u32 = {}u;", s::WIDE_WORKGROUP_SIZE)
        } else {
            format!("const WORKGROUP_SIZE: u32 = {}u;", s::WORKGROUP_SIZE)
        };
        assert!(shader.source().contains(&decl), "{} lacks `{decl}`", shader.label());
    }
}

#[test]
fn wide_workgroup_size_is_a_power_of_two_within_the_limits() {
    assert_eq!(s::wide_workgroup_size(1024, 1024), 256);
    assert_eq!(s::wide_workgroup_size(256, 256), 256);
    assert_eq!(s::wide_workgroup_size(192, 1024), 128);
    assert_eq!(s::wide_workgroup_size(128, 1024), 128);
    assert_eq!(s::wide_workgroup_size(1024, 64), 64);
    // Below varscope's floor (refused by the requirement check anyway): the floor.
    assert_eq!(s::wide_workgroup_size(32, 32), 64);
}
