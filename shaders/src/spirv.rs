//! varscope's own SPIR-V for the kernels whose float operations must round in the
//! written order (the init kernels and the Philox known-answer kernel), for Vulkan
//! devices that take SPIR-V as is (wgpu's `PASSTHROUGH_SHADERS`).
//!
//! WGSL has no way to forbid a driver to fuse `a * b + c` or to reassociate a chain of
//! float operations, so the WGSL kernels pass every intermediate result through
//! `fence` (`shaders/fence.wgsl`), an integer XOR with a runtime zero. SPIR-V has the
//! way: the NoContraction decoration, which Vulkan drivers honour (Mesa marks such an
//! instruction exact, which none of its float rewrites touch; it is what GLSL's
//! `precise` compiles to). [`exact_spirv`] translates a shader's
//! [`unfenced_source`](crate::Shader::unfenced_source) (its fences are the identity)
//! with naga, resolves the pipeline's overrides, and decorates the result of every float
//! arithmetic instruction NoContraction ([`decorate_no_contraction`]): the same bits as
//! the fenced WGSL, without the fences' integer work.

use naga::back::spv;

/// SPIR-V opcodes of the float arithmetic instructions whose results are decorated:
/// OpFNegate, OpFAdd, OpFSub, OpFMul, OpFDiv, OpFRem, OpFMod, OpVectorTimesScalar,
/// OpMatrixTimesScalar, OpVectorTimesMatrix, OpMatrixTimesVector, OpMatrixTimesMatrix,
/// OpOuterProduct, OpDot. Each has the result type in word 1 and the result id in
/// word 2.
pub const FLOAT_ARITHMETIC_OPS: [u32; 14] = [127, 129, 131, 133, 136, 140, 141, 142, 143, 144, 145, 146, 147, 148];

/// The SPIR-V decoration NoContraction.
pub const NO_CONTRACTION: u32 = 42;

const MAGIC: u32 = 0x0723_0203;
const OP_DECORATE: u32 = 71;

/// Opcodes that may come before the first type declaration of a module: capabilities,
/// extensions, imports, memory model, entry points, execution modes, debug
/// instructions and annotations (the sections the decorations are appended to).
const PREAMBLE_OPS: [u32; 24] =
    [17, 10, 11, 14, 15, 16, 331, 7, 4, 3, 2, 5, 6, 330, 8, 317, 71, 72, 73, 74, 75, 332, 5632, 5633];

/// The SPIR-V language version of [`exact_spirv`]'s output: 1.0, which every Vulkan
/// version accepts (naga then asks for `SPV_KHR_storage_buffer_storage_class`, part of
/// Vulkan 1.1 and of every Vulkan 1.0 driver wgpu runs on).
pub const EXACT_SPIRV_VERSION: (u8, u8) = (1, 0);

/// SPIR-V for Vulkan of WGSL `source` (a shader's
/// [`unfenced_source`](crate::Shader::unfenced_source)), entry point `entry`, with the
/// pipeline-overridable constants set to `constants`, every float arithmetic result
/// decorated NoContraction. Every array and buffer index is clamped in bounds (naga's
/// `Restrict` policy), whatever robustness the device has. The error names `label` and
/// the stage that failed (parse, validation, overrides, writing, decoration).
pub fn exact_spirv(label: &str, source: &str, entry: &str, constants: &[(&str, f64)]) -> Result<Vec<u32>, String> {
    let fail = |stage: &str, e: String| format!("{label}: {stage}: {e}");
    let module = naga::front::wgsl::parse_str(source).map_err(|e| fail("WGSL", e.emit_to_string(source)))?;
    let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all())
        .validate(&module)
        .map_err(|e| fail("validation", e.emit_to_string(source)))?;
    let mut pc = naga::back::PipelineConstants::default();
    for (name, value) in constants {
        pc.insert((*name).to_string(), *value);
    }
    let (module, info) = naga::back::pipeline_constants::process_overrides(
        &module,
        &info,
        Some((naga::ShaderStage::Compute, entry)),
        &pc,
    )
    .map_err(|e| fail("overrides", e.to_string()))?;
    let restrict = naga::proc::BoundsCheckPolicy::Restrict;
    let options = spv::Options {
        lang_version: EXACT_SPIRV_VERSION,
        flags: spv::WriterFlags::empty(),
        bounds_check_policies: naga::proc::BoundsCheckPolicies {
            index: restrict,
            buffer: restrict,
            image_load: restrict,
            binding_array: restrict,
        },
        zero_initialize_workgroup_memory: spv::ZeroInitializeWorkgroupMemoryMode::Polyfill,
        force_loop_bounding: true,
        ..spv::Options::default()
    };
    let pipeline = spv::PipelineOptions { shader_stage: naga::ShaderStage::Compute, entry_point: entry.to_string() };
    let words = spv::write_vec(&module, &info, &options, Some(&pipeline)).map_err(|e| fail("SPIR-V", e.to_string()))?;
    decorate_no_contraction(&words).map_err(|e| fail("NoContraction", e))
}

/// `words`, a SPIR-V module, with `OpDecorate %r NoContraction` added for the result
/// `%r` of every instruction in [`FLOAT_ARITHMETIC_OPS`] not decorated so already,
/// placed after the module's annotations (before its first type declaration). An error
/// for words that are not a whole SPIR-V module.
pub fn decorate_no_contraction(words: &[u32]) -> Result<Vec<u32>, String> {
    if words.len() < 5 || words[0] != MAGIC {
        return Err("not a SPIR-V module (no magic number)".into());
    }
    let mut results = Vec::new();
    let mut decorated = std::collections::HashSet::new();
    let mut insert_at = None;
    let mut i = 5;
    while i < words.len() {
        let count = (words[i] >> 16) as usize;
        let op = words[i] & 0xffff;
        if count == 0 || i + count > words.len() {
            return Err(format!("instruction at word {i} (opcode {op}) has a bad word count {count}"));
        }
        if insert_at.is_none() && !PREAMBLE_OPS.contains(&op) {
            insert_at = Some(i);
        }
        if op == OP_DECORATE && count >= 3 && words[i + 2] == NO_CONTRACTION {
            decorated.insert(words[i + 1]);
        }
        if FLOAT_ARITHMETIC_OPS.contains(&op) {
            if count < 3 {
                return Err(format!("arithmetic instruction at word {i} (opcode {op}) has no result id"));
            }
            results.push(words[i + 2]);
        }
        i += count;
    }
    let at = insert_at.unwrap_or(words.len());
    let mut out = Vec::with_capacity(words.len() + 3 * results.len());
    out.extend_from_slice(&words[..at]);
    for id in results.into_iter().filter(|id| !decorated.contains(id)) {
        out.extend([(3 << 16) | OP_DECORATE, id, NO_CONTRACTION]);
    }
    out.extend_from_slice(&words[at..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Shader, PRELUDES, SUBSTITUTE_PRELUDES};

    /// (opcode, operand words) of each instruction after the header.
    fn instructions(words: &[u32]) -> Vec<(u32, Vec<u32>)> {
        let mut out = Vec::new();
        let mut i = 5;
        while i < words.len() {
            let n = (words[i] >> 16) as usize;
            out.push((words[i] & 0xffff, words[i + 1..i + n].to_vec()));
            i += n;
        }
        out
    }

    /// Result ids of the float arithmetic instructions, and ids decorated NoContraction
    /// (with the index of each decoration and of the first type declaration).
    fn census(words: &[u32]) -> (Vec<u32>, Vec<(usize, u32)>, usize) {
        let ins = instructions(words);
        let ops = ins.iter().filter(|(op, _)| FLOAT_ARITHMETIC_OPS.contains(op)).map(|(_, w)| w[1]).collect();
        let decos = ins
            .iter()
            .enumerate()
            .filter(|(_, (op, w))| *op == OP_DECORATE && w.get(1) == Some(&NO_CONTRACTION))
            .map(|(k, (_, w))| (k, w[0]))
            .collect();
        let first_type = ins.iter().position(|(op, _)| (19..=39).contains(op)).expect("a type");
        (ops, decos, first_type)
    }

    const PROBE: &str = "
        @group(0) @binding(0) var<storage, read_write> out: array<f32>;
        fn f(a: f32, b: f32, c: f32) -> f32 { return -(a * b + c) / (a - c); }
        @compute @workgroup_size(1) fn main() { out[0] = f(out[1], out[2], out[3]) + dot(vec2(out[4]), vec2(2.0)); }";

    #[test]
    fn every_float_operation_is_decorated_once_among_the_annotations() {
        let words = exact_spirv("probe", PROBE, "main", &[]).unwrap();
        let (ops, decos, first_type) = census(&words);
        // *, +, negate, -, /, the call's +, dot: at least seven float operations.
        assert!(ops.len() >= 7, "{ops:?}");
        let mut got: Vec<u32> = decos.iter().map(|d| d.1).collect();
        let mut want = ops.clone();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want, "each float result decorated exactly once");
        assert!(decos.iter().all(|&(k, _)| k < first_type), "decorations before the first type");
        // Idempotent: a second pass adds nothing.
        assert_eq!(decorate_no_contraction(&words).unwrap(), words);
    }

    #[test]
    fn words_that_are_not_a_module_are_refused() {
        assert!(decorate_no_contraction(&[]).unwrap_err().contains("magic"));
        assert!(decorate_no_contraction(&[1, 2, 3, 4, 5, 6]).unwrap_err().contains("magic"));
        let mut words = exact_spirv("probe", PROBE, "main", &[]).unwrap();
        // The last instruction claims more words than there are.
        let last = words.len() - 1;
        words[last] = (5 << 16) | (words[last] & 0xffff);
        assert!(decorate_no_contraction(&words).unwrap_err().contains("word count"));
        let err = exact_spirv("probe", "fn broken(", "main", &[]).unwrap_err();
        assert!(err.starts_with("probe: WGSL:"), "{err}");
        let err = exact_spirv("probe", PROBE, "main", &[("NO_SUCH", 1.0)]).unwrap_err();
        assert!(err.starts_with("probe: overrides:"), "{err}");
    }

    /// The unfenced sources are the fenced ones with one prelude swapped, and every
    /// variant a session builds translates, with its float operations decorated.
    #[test]
    fn every_unfenced_variant_translates_and_is_decorated() {
        let mut built = 0;
        for shader in Shader::ALL {
            let Some(src) = shader.unfenced_source() else {
                assert!(!shader.source().contains("fn fence("), "{} has fences", shader.label());
                continue;
            };
            let [(_, unfenced, replaced)] = SUBSTITUTE_PRELUDES else { panic!("one substitute prelude") };
            assert!(shader.preludes().contains(replaced), "{}", shader.label());
            let fence = PRELUDES.iter().find(|(l, _)| l == replaced).expect("the replaced prelude").1;
            assert_eq!(src, shader.source().replacen(fence, unfenced, 1), "{}", shader.label());
            assert!(!src.contains("^ zero"), "{}: a fence left", shader.label());
            let variants = if shader.overrides().is_empty() { vec![vec![]] } else { shader.variants() };
            for values in variants {
                let constants: Vec<(&str, f64)> =
                    shader.overrides().iter().zip(&values).map(|(n, v)| (*n, f64::from(*v))).collect();
                let words = exact_spirv(shader.label(), src, shader.entry_point(), &constants)
                    .unwrap_or_else(|e| panic!("{values:?}: {e}"));
                let (ops, decos, _) = census(&words);
                assert_eq!(ops.len(), decos.len(), "{} {values:?}", shader.label());
                built += 1;
            }
        }
        assert!(built > 20, "{built} variants");
    }
}
