//! Every registered shader, in every pipeline variant a session builds
//! ([`Shader::variants`]), translates through naga to each language wgpu's backends
//! compile: SPIR-V (Vulkan), MSL (Metal), HLSL (DX12) and GLSL for compute (GL), with
//! the options and capabilities wgpu 30 uses on that backend. No GPU needed.
//!
//! Per backend, the module is validated with the naga capabilities wgpu derives from the
//! device's features (`wgpu_naga_bridge::features_to_naga_capabilities`, the function
//! wgpu-core calls), once with none of the features varscope requests and once with all
//! of those that backend can grant; the overrides are resolved with
//! `naga::back::pipeline_constants::process_overrides`, as wgpu-hal does before writing;
//! then the backend writer runs for each language version that backend may pick (SPIR-V
//! 1.0-1.6 by Vulkan version, MSL 1.2-4.0 by OS, HLSL shader model 5.1 (FXC) and 6.x
//! (DXC), GLSL ES 3.10/3.20 and desktop 4.30/4.50), with the binding layout wgpu-hal
//! builds from the shader's bind group layout ([`Shader::bindings`]).
//!
//! Where the Khronos validators are installed, their verdict counts too: `spirv-val`
//! (Debian `spirv-tools`) on each SPIR-V module for its Vulkan target environment, and
//! `glslangValidator` (Debian `glslang-tools`) on each GLSL compute shader. Absent, they
//! are skipped with a printed note, unless `VARSCOPE_REQUIRE_SHADER_TOOLS=1` (CI), which
//! makes their absence a failure. No validator for MSL or HLSL runs on Linux; the Metal
//! and DX12 jobs of the CI workflow compile every shader on a real device instead
//! (`varscope-gpu`'s kernel-cache test).
//!
//! A failure names the shader, its override values, the backend and the language
//! version. `a_broken_variant_fails` shows that each stage can fail.

use std::path::{Path, PathBuf};
use std::process::Command;

use naga::back::{glsl, hlsl, msl, spv};
use varscope_shaders::{Binding, Shader};

/// A backend's output language and version.
#[derive(Clone, Copy, Debug)]
enum Lang {
    /// SPIR-V `(major, minor)`, checked with `spirv-val` for this target environment.
    Spirv((u8, u8), &'static str),
    /// Metal Shading Language `(major, minor)`.
    Msl((u8, u8)),
    /// HLSL shader model.
    Hlsl(hlsl::ShaderModel),
    /// GLSL.
    Glsl(glsl::Version),
}

/// One way a backend may translate a shader.
#[derive(Clone, Debug)]
struct Target {
    backend: wgpu::Backend,
    lang: Lang,
    /// Device features (only those varscope requests matter to the kernels).
    features: wgpu::Features,
    downlevel: wgpu::DownlevelFlags,
}

impl Target {
    fn name(&self) -> String {
        let lang = match self.lang {
            Lang::Spirv((a, b), env) => format!("SPIR-V {a}.{b}, {env}"),
            Lang::Msl((a, b)) => format!("MSL {a}.{b}"),
            Lang::Hlsl(sm) => format!("HLSL SM {}", sm.to_str()),
            Lang::Glsl(v) => format!("GLSL {v}"),
        };
        let mut features: Vec<&str> =
            [(wgpu::Features::SHADER_F64, "SHADER_F64"), (wgpu::Features::SHADER_INT64, "SHADER_INT64")]
                .into_iter()
                .filter(|(f, _)| self.features.contains(*f))
                .map(|(_, n)| n)
                .collect();
        if features.is_empty() {
            features.push("no 64-bit features");
        }
        format!("{:?} ({lang}, {})", self.backend, features.join(" + "))
    }
}

/// The features varscope requests where an adapter has them (`gpu/src/device.rs`)
/// that each backend of wgpu 30 can grant: SHADER_F64 only on Vulkan, SHADER_INT64 on
/// Vulkan, Metal (MSL 2.3+) and DX12 (SM 6.0+), neither on GL.
fn grantable(backend: wgpu::Backend, lang: Lang) -> wgpu::Features {
    use wgpu::Features as F;
    match (backend, lang) {
        (wgpu::Backend::Vulkan, _) => F::SHADER_F64 | F::SHADER_INT64,
        (wgpu::Backend::Metal, Lang::Msl(v)) if v >= (2, 3) => F::SHADER_INT64,
        (wgpu::Backend::Dx12, Lang::Hlsl(sm)) if sm >= hlsl::ShaderModel::V6_0 => F::SHADER_INT64,
        _ => F::empty(),
    }
}

/// Every (backend, language version, feature set) the test translates for.
fn targets() -> Vec<Target> {
    let mut langs: Vec<(wgpu::Backend, Lang)> = Vec::new();
    // Vulkan 1.0 / 1.1 / 1.2 / 1.3+ devices get SPIR-V 1.0 / 1.3 / 1.5 / 1.6.
    for (v, env) in [((1, 0), "vulkan1.0"), ((1, 3), "vulkan1.1"), ((1, 5), "vulkan1.2"), ((1, 6), "vulkan1.3")] {
        langs.push((wgpu::Backend::Vulkan, Lang::Spirv(v, env)));
    }
    for v in [(1, 2), (2, 0), (2, 3), (3, 0), (4, 0)] {
        langs.push((wgpu::Backend::Metal, Lang::Msl(v)));
    }
    for sm in [hlsl::ShaderModel::V5_1, hlsl::ShaderModel::V6_0, hlsl::ShaderModel::V6_6] {
        langs.push((wgpu::Backend::Dx12, Lang::Hlsl(sm)));
    }
    for v in [
        glsl::Version::Embedded { version: 310, is_webgl: false },
        glsl::Version::Embedded { version: 320, is_webgl: false },
        glsl::Version::Desktop(430),
        glsl::Version::Desktop(450),
    ] {
        langs.push((wgpu::Backend::Gl, Lang::Glsl(v)));
    }
    let mut out = Vec::new();
    for (backend, lang) in langs {
        out.push(Target { backend, lang, features: wgpu::Features::empty(), downlevel: wgpu::DownlevelFlags::empty() });
        let most = grantable(backend, lang);
        if !most.is_empty() {
            out.push(Target { backend, lang, features: most, downlevel: wgpu::DownlevelFlags::all() });
        }
    }
    out
}

/// One pipeline: a shader's source and entry point with its overrides set.
struct Pipeline {
    label: String,
    /// Built only on devices with `SHADER_INT64` ([`Shader::needs_int64`]).
    needs_int64: bool,
    source: String,
    entry: String,
    bindings: Vec<Binding>,
    constants: Vec<(String, f64)>,
}

impl Pipeline {
    fn of(shader: Shader, values: &[u32]) -> Pipeline {
        let constants: Vec<(String, f64)> =
            shader.overrides().iter().zip(values).map(|(n, v)| (n.to_string(), f64::from(*v))).collect();
        let set: Vec<String> = constants.iter().map(|(n, v)| format!("{n}={v}")).collect();
        Pipeline {
            label: format!("{}[{}]", shader.label(), set.join(", ")),
            needs_int64: shader.needs_int64(),
            source: shader.source().to_string(),
            entry: shader.entry_point().to_string(),
            bindings: shader.bindings().to_vec(),
            constants,
        }
    }
}

/// A translated shader.
enum Output {
    Words(Vec<u32>),
    Text(String),
}

fn resource(binding: usize) -> naga::ResourceBinding {
    naga::ResourceBinding { group: 0, binding: binding as u32 }
}

/// Parses, validates with the target's capabilities, resolves the overrides and writes
/// the target's language. The error names the pipeline and the target.
fn translate(p: &Pipeline, t: &Target) -> Result<Output, String> {
    let fail = |stage: &str, e: String| format!("{} on {}: {stage}: {e}", p.label, t.name());
    let module = naga::front::wgsl::parse_str(&p.source).map_err(|e| fail("WGSL", e.emit_to_string(&p.source)))?;
    let caps = wgpu_naga_bridge::features_to_naga_capabilities(t.features, t.downlevel);
    let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps)
        .validate(&module)
        .map_err(|e| fail("validation", e.emit_to_string(&p.source)))?;
    let mut constants = naga::back::PipelineConstants::default();
    for (name, value) in &p.constants {
        constants.insert(name.clone(), *value);
    }
    let (module, info) = naga::back::pipeline_constants::process_overrides(
        &module,
        &info,
        Some((naga::ShaderStage::Compute, &p.entry)),
        &constants,
    )
    .map_err(|e| fail("overrides", format!("{e}")))?;
    let stage = naga::ShaderStage::Compute;
    let restrict = naga::proc::BoundsCheckPolicy::Restrict;
    match t.lang {
        Lang::Spirv(lang_version, _) => {
            // wgpu-hal's Vulkan capability list (the ones every device has, plus Int64
            // with SHADER_INT64), its writer flags and, for devices without
            // robustBufferAccess2, restricting bounds checks.
            use spv::Capability as C;
            let mut caps = vec![
                C::Shader,
                C::Matrix,
                C::Sampled1D,
                C::Image1D,
                C::ImageQuery,
                C::DerivativeControl,
                C::StorageImageExtendedFormats,
            ];
            if t.features.contains(wgpu::Features::SHADER_INT64) {
                caps.push(C::Int64);
            }
            let binding_map = p
                .bindings
                .iter()
                .enumerate()
                .map(|(i, _)| {
                    (resource(i), spv::BindingInfo { descriptor_set: 0, binding: i as u32, binding_array_size: None })
                })
                .collect();
            let options = spv::Options {
                lang_version,
                flags: spv::WriterFlags::LABEL_VARYINGS | spv::WriterFlags::FORCE_POINT_SIZE,
                fake_missing_bindings: false,
                binding_map,
                capabilities: Some(caps.into_iter().collect()),
                bounds_check_policies: naga::proc::BoundsCheckPolicies {
                    index: restrict,
                    buffer: restrict,
                    image_load: restrict,
                    binding_array: naga::proc::BoundsCheckPolicy::Unchecked,
                },
                zero_initialize_workgroup_memory: spv::ZeroInitializeWorkgroupMemoryMode::Polyfill,
                force_loop_bounding: true,
                use_storage_input_output_16: false,
                ..Default::default()
            };
            let pipeline = spv::PipelineOptions { entry_point: p.entry.clone(), shader_stage: stage };
            spv::write_vec(&module, &info, &options, Some(&pipeline))
                .map(Output::Words)
                .map_err(|e| fail("SPIR-V writer", format!("{e}")))
        }
        Lang::Msl(lang_version) => {
            // wgpu-hal's Metal layout: buffer slots in binding order, then the sizes
            // buffer (storage buffers are bound, so it is always there).
            let mut resources = msl::BindingMap::default();
            for (i, b) in p.bindings.iter().enumerate() {
                let mutable = matches!(b, Binding::Storage { read_only: false });
                resources.insert(resource(i), msl::BindTarget { buffer: Some(i as u8), mutable, ..Default::default() });
            }
            let ep = msl::EntryPointResources {
                resources,
                immediates_buffer: None,
                sizes_buffer: Some(p.bindings.len() as u8),
            };
            let options = msl::Options {
                lang_version,
                per_entry_point_map: msl::EntryPointResourceMap::from([(p.entry.clone(), ep)]),
                fake_missing_bindings: false,
                bounds_check_policies: naga::proc::BoundsCheckPolicies {
                    index: restrict,
                    buffer: restrict,
                    image_load: restrict,
                    binding_array: naga::proc::BoundsCheckPolicy::Unchecked,
                },
                zero_initialize_workgroup_memory: true,
                force_loop_bounding: true,
                ..Default::default()
            };
            let pipeline = msl::PipelineOptions {
                entry_point: Some((stage, p.entry.clone())),
                allow_and_force_point_size: false,
                vertex_pulling_transform: true,
                ..Default::default()
            };
            msl::write_string(&module, &info, &options, &pipeline)
                .map(|(s, _)| Output::Text(s))
                .map_err(|e| fail("MSL writer", format!("{e:?}")))
        }
        Lang::Hlsl(shader_model) => {
            // wgpu-hal's DX12 root signature: uniforms are CBVs b0.., read-only storage
            // SRVs t0.., read-write storage UAVs u0.., all in space 0; then the special
            // constants (num_workgroups) in the next CBV register.
            let (mut b, mut t_reg, mut u) = (0u32, 0u32, 0u32);
            let mut binding_map = hlsl::BindingMap::default();
            for (i, kind) in p.bindings.iter().enumerate() {
                let counter = match kind {
                    Binding::Uniform => &mut b,
                    Binding::Storage { read_only: true } => &mut t_reg,
                    Binding::Storage { read_only: false } => &mut u,
                };
                binding_map
                    .insert(resource(i), hlsl::BindTarget { space: 0, register: *counter, ..Default::default() });
                *counter += 1;
            }
            let options = hlsl::Options {
                shader_model,
                binding_map,
                fake_missing_bindings: false,
                special_constants_binding: Some(hlsl::BindTarget { space: 0, register: b, ..Default::default() }),
                zero_initialize_workgroup_memory: true,
                restrict_indexing: true,
                force_loop_bounding: true,
                ..Default::default()
            };
            let pipeline = hlsl::PipelineOptions { entry_point: Some((stage, p.entry.clone())) };
            let mut out = String::new();
            hlsl::Writer::new(&mut out, &options, &pipeline)
                .write(&module, &info, None)
                .map_err(|e| fail("HLSL writer", format!("{e:?}")))?;
            Ok(Output::Text(out))
        }
        Lang::Glsl(version) => {
            // wgpu-hal's GL layout: uniform and storage buffers each numbered from 0.
            let (mut ubo, mut ssbo) = (0u8, 0u8);
            let mut binding_map = glsl::BindingMap::default();
            for (i, kind) in p.bindings.iter().enumerate() {
                let counter = if matches!(kind, Binding::Uniform) { &mut ubo } else { &mut ssbo };
                binding_map.insert(resource(i), *counter);
                *counter += 1;
            }
            let options = glsl::Options {
                version,
                writer_flags: glsl::WriterFlags::ADJUST_COORDINATE_SPACE | glsl::WriterFlags::FORCE_POINT_SIZE,
                binding_map,
                zero_initialize_workgroup_memory: true,
            };
            let pipeline = glsl::PipelineOptions { shader_stage: stage, entry_point: p.entry.clone(), multiview: None };
            // wgpu-hal's GL policies: GLSL itself bounds buffer accesses.
            let unchecked = naga::proc::BoundsCheckPolicy::Unchecked;
            let policies = naga::proc::BoundsCheckPolicies {
                index: unchecked,
                buffer: unchecked,
                image_load: unchecked,
                binding_array: unchecked,
            };
            let mut out = String::new();
            glsl::Writer::new(&mut out, &module, &info, &options, &pipeline, policies)
                .and_then(|mut w| w.write())
                .map_err(|e| fail("GLSL writer", format!("{e}")))?;
            Ok(Output::Text(out))
        }
    }
}

/// An external validator, if installed.
struct Tool {
    program: &'static str,
}

impl Tool {
    fn find(program: &'static str) -> Option<Tool> {
        let ok = Command::new(program).arg("--version").output().is_ok_and(|o| o.status.success());
        ok.then_some(Tool { program })
    }
}

/// The validators present; notes (or, under `VARSCOPE_REQUIRE_SHADER_TOOLS=1`, fails)
/// for each missing one.
fn tools() -> (Option<Tool>, Option<Tool>) {
    let require = std::env::var("VARSCOPE_REQUIRE_SHADER_TOOLS").is_ok_and(|v| v == "1");
    let get = |program: &'static str, package: &str| {
        let t = Tool::find(program);
        if t.is_none() {
            assert!(!require, "VARSCOPE_REQUIRE_SHADER_TOOLS=1 but {program} ({package}) is not installed");
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "SKIP: {program} not installed ({package}); its check did not run");
        }
        t
    };
    (get("spirv-val", "spirv-tools"), get("glslangValidator", "glslang-tools"))
}

/// A fresh scratch directory (one per call: tests run in parallel in one process).
fn scratch_dir() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("varscope-translate-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Runs the target's external validator (if present) on `out`, in `dir` as `name`.
fn external_check(
    out: &Output,
    t: &Target,
    spirv_val: Option<&Tool>,
    glslang: Option<&Tool>,
    dir: &Path,
    name: &str,
) -> Result<(), String> {
    let (tool, path, args): (&Tool, PathBuf, Vec<String>) = match (&t.lang, out) {
        (Lang::Spirv(_, env), Output::Words(words)) => {
            let Some(tool) = spirv_val else { return Ok(()) };
            let path = dir.join(format!("{name}.spv"));
            let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            std::fs::write(&path, bytes).map_err(|e| e.to_string())?;
            (tool, path.clone(), vec!["--target-env".into(), env.to_string(), path.display().to_string()])
        }
        (Lang::Glsl(_), Output::Text(text)) => {
            let Some(tool) = glslang else { return Ok(()) };
            let path = dir.join(format!("{name}.comp"));
            std::fs::write(&path, text).map_err(|e| e.to_string())?;
            (tool, path.clone(), vec![path.display().to_string()])
        }
        _ => return Ok(()),
    };
    let o = Command::new(tool.program).args(&args).output().map_err(|e| format!("{}: {e}", tool.program))?;
    let _ = std::fs::remove_file(&path);
    if o.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} rejected the output: {}{}",
            tool.program,
            String::from_utf8_lossy(&o.stdout).trim(),
            String::from_utf8_lossy(&o.stderr).trim()
        ))
    }
}

/// Compiles many GLSL files in one `glslangValidator` run (it compiles each file on its
/// own and prints each file's name before its messages); returns `(index, messages)` of
/// every file it rejected.
fn glslang_batch(tool: &Tool, files: &[String], dir: &Path, batch: usize) -> Vec<(usize, String)> {
    let paths: Vec<PathBuf> = (0..files.len()).map(|i| dir.join(format!("b{batch}_{i}.comp"))).collect();
    for (path, text) in paths.iter().zip(files) {
        if let Err(e) = std::fs::write(path, text) {
            return vec![(0, format!("cannot write {}: {e}", path.display()))];
        }
    }
    let out = Command::new(tool.program).args(&paths).output();
    for path in &paths {
        let _ = std::fs::remove_file(path);
    }
    let o = match out {
        Ok(o) => o,
        Err(e) => return vec![(0, format!("{}: {e}", tool.program))],
    };
    if o.status.success() {
        return Vec::new();
    }
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    let mut current: Option<usize> = None;
    let mut errors: Vec<(usize, String)> = Vec::new();
    for line in text.lines() {
        if let Some(i) = paths.iter().position(|p| line.trim() == p.display().to_string()) {
            current = Some(i);
        } else if line.contains("ERROR") {
            let i = current.unwrap_or(0);
            match errors.last_mut() {
                Some((j, m)) if *j == i => {
                    m.push('\n');
                    m.push_str(line);
                }
                _ => errors.push((i, line.to_string())),
            }
        }
    }
    if errors.is_empty() {
        errors.push((0, format!("{} failed: {}", tool.program, text.trim())));
    }
    errors
}

/// Translates every pipeline for every target on all cores, validates each distinct
/// SPIR-V module with `spirv-val` and all GLSL in batches with `glslangValidator`
/// (where installed); returns the failures and the number of translations.
fn check_all(pipelines: &[Pipeline], targets: &[Target]) -> (Vec<String>, usize) {
    use std::sync::Mutex;
    let (spirv_val, glslang) = tools();
    let dir = scratch_dir();
    // A 64-bit pipeline only where the target grants SHADER_INT64 (the session builds it
    // nowhere else).
    let jobs: Vec<(usize, usize)> = (0..pipelines.len())
        .flat_map(|p| (0..targets.len()).map(move |t| (p, t)))
        .filter(|&(p, t)| !pipelines[p].needs_int64 || targets[t].features.contains(wgpu::Features::SHADER_INT64))
        .collect();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    // Distinct outputs (by target environment and content) still to check externally:
    // the translations with and without the 64-bit features are usually the same.
    let seen = Mutex::new(std::collections::HashSet::new());
    let glsl: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&(pi, ti)) = jobs.get(i) else { break };
                let (p, t) = (&pipelines[pi], &targets[ti]);
                let r = translate(p, t).and_then(|out| {
                    let key = {
                        use std::hash::{Hash, Hasher};
                        let mut h = std::collections::hash_map::DefaultHasher::new();
                        format!("{:?}", t.lang).hash(&mut h);
                        match &out {
                            Output::Words(w) => w.hash(&mut h),
                            Output::Text(s) => s.hash(&mut h),
                        }
                        h.finish()
                    };
                    if !seen.lock().unwrap_or_else(|p| p.into_inner()).insert(key) {
                        return Ok(());
                    }
                    match (&t.lang, out) {
                        (Lang::Glsl(_), Output::Text(text)) if glslang.is_some() => {
                            let what = format!("{} on {}", p.label, t.name());
                            glsl.lock().unwrap_or_else(|p| p.into_inner()).push((what, text));
                            Ok(())
                        }
                        (_, out) => external_check(&out, t, spirv_val.as_ref(), None, &dir, &format!("job{i}"))
                            .map_err(|e| format!("{} on {}: {e}", p.label, t.name())),
                    }
                });
                if let Err(e) = r {
                    failures.lock().unwrap_or_else(|p| p.into_inner()).push(e);
                }
            });
        }
    });
    if let Some(tool) = &glslang {
        let glsl = glsl.into_inner().unwrap_or_else(|p| p.into_inner());
        let batches: Vec<&[(String, String)]> = glsl.chunks(64).collect();
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| loop {
                    let b = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(batch) = batches.get(b) else { break };
                    let texts: Vec<String> = batch.iter().map(|(_, t)| t.clone()).collect();
                    for (i, e) in glslang_batch(tool, &texts, &dir, b) {
                        let what = &batch[i.min(batch.len() - 1)].0;
                        failures
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(format!("{what}: {} rejected the output:\n{e}", tool.program));
                    }
                });
            }
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
    (failures.into_inner().unwrap_or_else(|p| p.into_inner()), jobs.len())
}

fn registered_pipelines() -> Vec<Pipeline> {
    Shader::ALL.iter().flat_map(|&s| s.variants().into_iter().map(move |v| Pipeline::of(s, &v))).collect()
}

#[test]
fn every_shader_and_variant_translates_on_every_backend() {
    let pipelines = registered_pipelines();
    let targets = targets();
    for b in [wgpu::Backend::Vulkan, wgpu::Backend::Metal, wgpu::Backend::Dx12, wgpu::Backend::Gl] {
        assert!(targets.iter().any(|t| t.backend == b), "no target for {b:?}");
    }
    let (failures, n) = check_all(&pipelines, &targets);
    assert!(
        failures.is_empty(),
        "{} of {n} translations failed:\n{}",
        failures.len(),
        failures.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{} pipelines x {} targets = {n} translations", pipelines.len(), targets.len());
}

/// The variants are what the registry says a session builds: every override set, each
/// value list complete, no duplicates, and the optimizer's buffer maps are exactly the
/// 15 a fused step can produce.
#[test]
fn variants_cover_every_override() {
    for shader in Shader::ALL {
        let variants = shader.variants();
        assert!(!variants.is_empty(), "{}", shader.label());
        let mut seen = std::collections::HashSet::new();
        for v in &variants {
            assert_eq!(v.len(), shader.overrides().len(), "{}: {v:?}", shader.label());
            assert!(seen.insert(v.clone()), "{}: duplicate variant {v:?}", shader.label());
        }
    }
    let n = |s: Shader| s.variants().len();
    // Fills and identity at the vec4 layout (one-word pack) and the aligned one (3 packs)
    // (8), integer uniform at 4 layouts (4), the 3 float random kinds at 4 layouts with
    // 3 packs but the vec4 layout with one (30); each for one-row tables and others.
    assert_eq!(n(Shader::Init), 2 * 42);
    assert_eq!(n(Shader::InitMul64), n(Shader::Init));
    // Two items per invocation: the four random kinds, one-row vec4 tables only.
    assert_eq!(n(Shader::InitPair), 4);
    assert_eq!(n(Shader::Fill4), 1);
    assert_eq!(n(Shader::Fill8), 1);
    assert_eq!(n(Shader::Update), varscope_shaders::UPDATE_OPS.len());
    assert_eq!(n(Shader::Optim), varscope_shaders::OPT_KINDS.len() * 15);
    assert_eq!(n(Shader::Optim4), n(Shader::Optim));
    // The vector kernel's variants are the scalar kernel's at the wide workgroup size.
    for (a, b) in Shader::Optim.variants().iter().zip(Shader::Optim4.variants()) {
        assert_eq!((&b[..5], b[5]), (&a[..], varscope_shaders::WIDE_WORKGROUP_SIZE));
    }
    // A fused step with all three slots in distinct buffers, and all in the variable's.
    let optim = Shader::Optim.variants();
    assert!(optim.contains(&vec![varscope_shaders::OPT_RMSPROP_CENTERED, 0, 1, 2, 3]));
    assert!(optim.contains(&vec![varscope_shaders::OPT_ADAM, 0, 0, 0, 0]));
    assert!(!optim.iter().any(|v| v[3] > 2 || v[4] > 3 || v[1] != 0));
}

/// Each stage of the check fails on a broken variant, naming it and the backend: a
/// WGSL error, an override value the shader's type cannot hold, a missing override, a
/// capability the backend does not grant, and (where installed) an external validator
/// rejecting bad output.
#[test]
fn a_broken_variant_fails() {
    let targets = targets();
    let expect_fail = |p: &Pipeline, what: &str| {
        for t in &targets {
            match translate(p, t) {
                Ok(_) => panic!("{what}: {} translated on {}", p.label, t.name()),
                Err(e) => {
                    assert!(e.contains(&p.label), "{what}: error does not name the shader: {e}");
                    assert!(e.contains(&format!("{:?}", t.backend)), "{what}: error does not name the backend: {e}");
                }
            }
        }
    };
    // Not WGSL: a type error in the update kernel's text.
    let mut p = Pipeline::of(Shader::Update, &[0]);
    p.source = p.source.replace("override UPDATE_OP: u32;", "override UPDATE_OP: u32;\nconst BROKEN: u32 = 1.5;");
    p.label = "broken/update.wgsl".into();
    expect_fail(&p, "type error");
    // UPDATE_OP = -1 is no u32.
    let mut p = Pipeline::of(Shader::Update, &[0]);
    p.constants[0].1 = -1.0;
    expect_fail(&p, "negative u32 override");
    // INIT_LAYOUT has no default and is not set.
    let mut p = Pipeline::of(Shader::Init, &[0, 0, 0, 256]);
    p.constants.truncate(1);
    expect_fail(&p, "missing override");
    // 64-bit integers where no backend feature was granted.
    let i64_src = "@group(0) @binding(0) var<storage, read_write> o: array<i64>;\n\
                   @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) { o[g.x] = i64(g.x); }";
    let p = Pipeline {
        label: "broken/int64.wgsl".into(),
        needs_int64: false,
        source: i64_src.into(),
        entry: "main".into(),
        bindings: vec![Binding::Storage { read_only: false }],
        constants: vec![],
    };
    for t in targets.iter().filter(|t| !t.features.contains(wgpu::Features::SHADER_INT64)) {
        let e = translate(&p, t).err().unwrap_or_else(|| panic!("int64 translated on {}", t.name()));
        assert!(e.contains("broken/int64.wgsl") && e.contains("validation"), "{e}");
    }
    // ... and it translates where the backend grants SHADER_INT64 (positive control).
    for t in targets.iter().filter(|t| t.features.contains(wgpu::Features::SHADER_INT64)) {
        assert!(translate(&p, t).is_ok(), "int64 failed on {}: {:?}", t.name(), translate(&p, t).err());
    }
    // External validators: corrupted SPIR-V and bad GLSL are rejected.
    let (spirv_val, glslang) = tools();
    let dir = scratch_dir();
    let ok = Pipeline::of(Shader::Fill, &[]);
    for t in &targets {
        let out = translate(&ok, t).unwrap_or_else(|e| panic!("{e}"));
        let bad = match (&t.lang, out) {
            (Lang::Spirv(..), Output::Words(mut w)) if spirv_val.is_some() => {
                // Drop the last instruction word: the module is truncated.
                w.truncate(w.len() - 1);
                Output::Words(w)
            }
            (Lang::Glsl(_), Output::Text(s)) if glslang.is_some() => Output::Text(s.replace("uint", "unit")),
            _ => continue,
        };
        let r = external_check(&bad, t, spirv_val.as_ref(), glslang.as_ref(), &dir, "broken");
        assert!(r.is_err(), "the external validator accepted broken output for {}", t.name());
        // The batched run blames exactly the broken file.
        if let (Some(tool), Output::Text(bad)) = (&glslang, &bad) {
            let Ok(Output::Text(good)) = translate(&ok, t) else { panic!("{}", t.name()) };
            let errors = glslang_batch(tool, &[good.clone(), bad.clone(), good], &dir, 0);
            assert_eq!(errors.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![1], "{}: {errors:?}", t.name());
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// varscope's own SPIR-V of the kernels with fences (`exact_spirv`: what Vulkan devices
/// with `PASSTHROUGH_SHADERS` run), for every variant a session builds, passes
/// `spirv-val` for Vulkan 1.0, the oldest environment it may meet (where installed; CI
/// requires it). A corrupted module is rejected (the check can fail).
#[test]
fn exact_spirv_passes_spirv_val_in_every_variant() {
    let (spirv_val, _) = tools();
    let Some(tool) = spirv_val else { return };
    let dir = scratch_dir();
    let val = |words: &[u32], name: &str| -> Result<(), String> {
        let path = dir.join(format!("{name}.spv"));
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        std::fs::write(&path, bytes).map_err(|e| e.to_string())?;
        let o = Command::new(tool.program)
            .args(["--target-env", "vulkan1.0"])
            .arg(&path)
            .output()
            .map_err(|e| e.to_string())?;
        let _ = std::fs::remove_file(&path);
        o.status.success().then_some(()).ok_or_else(|| String::from_utf8_lossy(&o.stderr).trim().to_string())
    };
    let mut failures = Vec::new();
    let mut checked = 0;
    for shader in Shader::ALL {
        let Some(src) = shader.unfenced_source() else { continue };
        let variants = if shader.overrides().is_empty() { vec![vec![]] } else { shader.variants() };
        for values in variants {
            let p = Pipeline::of(shader, &values);
            let constants: Vec<(&str, f64)> = p.constants.iter().map(|(n, v)| (n.as_str(), *v)).collect();
            let words =
                varscope_shaders::exact_spirv(&p.label, src, &p.entry, &constants).unwrap_or_else(|e| panic!("{e}"));
            if let Err(e) = val(&words, &format!("exact{checked}")) {
                failures.push(format!("{}: {e}", p.label));
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{} of {checked} modules rejected:\n{}", failures.len(), failures.join("\n"));
    assert!(checked > 20, "{checked} modules");
    // Positive control: a module whose first decoration targets an undefined id.
    let mut words = varscope_shaders::exact_spirv(
        "init",
        Shader::Init.unfenced_source().expect("init has fences"),
        Shader::Init.entry_point(),
        &Pipeline::of(Shader::Init, &Shader::Init.variants()[0])
            .constants
            .iter()
            .map(|(n, v)| (n.as_str(), *v))
            .collect::<Vec<_>>(),
    )
    .expect("init translates");
    let at = (5..words.len() - 2)
        .find(|&i| words[i] == (3 << 16) | 71 && words[i + 2] == varscope_shaders::NO_CONTRACTION)
        .expect("a NoContraction decoration");
    words[at + 1] = words[3] + 7;
    assert!(val(&words, "broken").is_err(), "spirv-val accepted a decoration of an undefined id");
    let _ = std::fs::remove_dir_all(&dir);
}
