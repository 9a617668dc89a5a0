//! The session's kernel cache: compute pipelines and bind group layouts of every
//! registered shader, built inside wgpu error scopes on first use and cached by
//! (device, shader, override values). Bind group layouts come from the registry's
//! binding table ([`Shader::bindings`]), so no caller numbers bindings by hand.

use std::collections::HashMap;
use std::sync::Arc;

use varscope_shaders::{Binding, Shader};

use crate::device::{DeviceInfo, Gpu};
use crate::error::{GpuError, Result};
use crate::pool::scoped;

/// A compiled kernel: pipeline and its bind group layout.
pub(crate) struct Kernel {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
    /// Number of bindings of group 0 (bindings `0..bindings`).
    pub bindings: usize,
}

/// What a kernel is built from.
#[derive(Clone, Copy)]
pub(crate) enum KernelSource<'a> {
    /// WGSL, translated by wgpu for the device's backend (pipeline constants set by wgpu).
    Wgsl(&'a str),
    /// The unfenced WGSL of a shader whose float operations must round in the written
    /// order, written to SPIR-V by `varscope_shaders::exact_spirv` (overrides resolved,
    /// every float operation NoContraction) and passed to the Vulkan driver as is:
    /// devices with [`DeviceInfo::exact_spirv`].
    ExactSpirv(&'a str),
}

/// What the driver gets: WGSL, or SPIR-V already written ([`KernelSource::ExactSpirv`]).
enum ModuleSource<'a> {
    Wgsl(&'a str),
    Spirv(Vec<u32>),
}

/// Compute pipelines and bind group layouts of every registered shader, cached by
/// (device, shader, values of [`Shader::overrides`]): the init shader has one pipeline
/// per (kind, layout), the optimizer one per (kind, buffer map), and so on. One cache per
/// session, shared by initializers, fills, updates and optimizer steps.
#[derive(Default)]
pub(crate) struct KernelCache {
    kernels: HashMap<KernelKey, Arc<Kernel>>,
}

/// (device, shader, override values in [`Shader::overrides`] order).
type KernelKey = (usize, Shader, Vec<u32>);

fn storage_entry(binding: u32, read_only: bool) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

fn uniform_entry(binding: u32) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

impl KernelCache {
    /// The kernel of `shader` on device `dev` with its overrides set to `values` (in
    /// [`Shader::overrides`] order), built (inside an error scope) on first use.
    pub fn get(
        &mut self,
        gpu: &Gpu,
        info: &DeviceInfo,
        dev: usize,
        shader: Shader,
        values: &[u32],
    ) -> Result<Arc<Kernel>> {
        let key = (dev, shader, values.to_vec());
        if let Some(k) = self.kernels.get(&key) {
            return Ok(k.clone());
        }
        let entries: Vec<wgpu::BindGroupLayoutEntry> = shader
            .bindings()
            .iter()
            .enumerate()
            .map(|(i, b)| match b {
                Binding::Storage { read_only } => storage_entry(i as u32, *read_only),
                Binding::Uniform => uniform_entry(i as u32),
            })
            .collect();
        let constants: Vec<(&str, f64)> =
            shader.overrides().iter().zip(values).map(|(n, v)| (*n, f64::from(*v))).collect();
        let source = match shader.unfenced_source() {
            Some(src) if info.exact_spirv => KernelSource::ExactSpirv(src),
            _ => KernelSource::Wgsl(shader.source()),
        };
        let k = Arc::new(compile(gpu, info, shader.label(), source, shader.entry_point(), &entries, &constants)?);
        self.kernels.insert(key, k.clone());
        Ok(k)
    }
}

/// Builds a shader module, bind group layout and compute pipeline inside wgpu error
/// scopes; any translation, validation, out-of-memory or internal error becomes
/// [`GpuError::Shader`] naming `label`.
pub(crate) fn compile(
    gpu: &Gpu,
    info: &DeviceInfo,
    label: &str,
    source: KernelSource<'_>,
    entry: &str,
    entries: &[wgpu::BindGroupLayoutEntry],
    constants: &[(&str, f64)],
) -> Result<Kernel> {
    let shader_error = |message| GpuError::Shader { label: label.to_string(), device: info.name.clone(), message };
    // The exact SPIR-V is written before the error scope (a translation error is the
    // same typed error) and has its overrides resolved: no constants for wgpu.
    let (module_source, constants) = match source {
        KernelSource::Wgsl(src) => (ModuleSource::Wgsl(src), constants),
        KernelSource::ExactSpirv(src) => (
            ModuleSource::Spirv(varscope_shaders::exact_spirv(label, src, entry, constants).map_err(shader_error)?),
            &[][..],
        ),
    };
    scoped(gpu, || {
        let module = match module_source {
            ModuleSource::Wgsl(src) => gpu.device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(src.into()),
            }),
            ModuleSource::Spirv(words) => {
                // The workgroup size is only read by Metal; the SPIR-V declares its own.
                let entry_point = wgpu::PassthroughShaderEntryPoint { name: entry.into(), workgroup_size: (0, 0, 0) };
                // SAFETY: SPIR-V that naga wrote from WGSL it validated, with every index
                // clamped in bounds (`Restrict`, as wgpu's own translation guarantees),
                // plus NoContraction decorations; the device has PASSTHROUGH_SHADERS
                // (`DeviceInfo::exact_spirv`), and the pipeline below gets the layout of
                // the shader's registered bindings.
                unsafe {
                    gpu.device.create_shader_module_passthrough(wgpu::ShaderModuleDescriptorPassthrough {
                        label: Some(label),
                        entry_points: vec![entry_point].into(),
                        spirv: Some(words.into()),
                        ..Default::default()
                    })
                }
            }
        };
        let layout =
            gpu.device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some(label), entries });
        let pl = gpu.device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(label),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = gpu.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(label),
            layout: Some(&pl),
            module: &module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions { constants, ..Default::default() },
            cache: None,
        });
        Kernel { pipeline, layout, bindings: entries.len() }
    })
    .map_err(shader_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_adapters::adapters;
    use varscope_test_support::for_each_target;

    #[test]
    fn every_registered_shader_builds_on_every_adapter() {
        for_each_target("every_registered_shader_builds_on_every_adapter", adapters(), |a| {
            let (i, info, gpu) = (a.index, &a.info, &a.gpu);
            let mut cache = KernelCache::default();
            // Every shader of the one registry, with each override variant a session
            // builds (64-bit ones where the device has SHADER_INT64), at this device's
            // wide workgroup size.
            let all: Vec<(Shader, Vec<u32>)> = Shader::ALL
                .iter()
                .filter(|s| info.shader_i64 || !s.needs_int64())
                .flat_map(|&s| {
                    s.variants().into_iter().map(move |mut v| {
                        if s.wide() {
                            if let Some(last) = v.last_mut() {
                                *last = info.wide_workgroup;
                            }
                        }
                        (s, v)
                    })
                })
                .collect();
            assert!(
                Shader::ALL.iter().all(|s| s.needs_int64() || all.iter().any(|(t, _)| t == s)),
                "a registered shader is not built here"
            );
            for (shader, kind) in all {
                cache.get(gpu, info, i + 1, shader, &kind).unwrap_or_else(|e| {
                    panic!("[{} {}] {} {kind:?}: {e}", info.name, info.adapter_name, shader.label())
                });
            }
        });
    }

    #[test]
    fn a_broken_shader_is_a_typed_error_naming_it() {
        for_each_target("a_broken_shader_is_a_typed_error_naming_it", adapters(), |a| {
            let (info, gpu) = (&a.info, &a.gpu);
            let broken = "@compute @workgroup_size(64) fn main() { let x: u32 = 1.5; }";
            match compile(gpu, info, "test/broken.wgsl", KernelSource::Wgsl(broken), "main", &[], &[]) {
                Err(GpuError::Shader { label, device, message }) => {
                    assert_eq!(label, "test/broken.wgsl");
                    assert_eq!(device, info.name);
                    assert!(!message.is_empty());
                }
                Err(e) => panic!("[{} {}] unexpected {e:?}", info.name, info.adapter_name),
                Ok(_) => panic!("[{} {}] a broken shader compiled", info.name, info.adapter_name),
            }
            // A wrong entry point fails at pipeline creation, also inside the scope.
            let ok = "@compute @workgroup_size(64) fn main() {}";
            assert!(matches!(
                compile(gpu, info, "test/entry.wgsl", KernelSource::Wgsl(ok), "nope", &[], &[]),
                Err(GpuError::Shader { .. })
            ));
            assert!(
                compile(gpu, info, "test/ok.wgsl", KernelSource::Wgsl(ok), "main", &[], &[]).is_ok(),
                "[{}]",
                info.name
            );
            // The exact SPIR-V path (Vulkan): a source naga rejects is the same typed
            // error, naming the stage; a good one builds.
            if info.exact_spirv {
                match compile(gpu, info, "test/broken.wgsl", KernelSource::ExactSpirv(broken), "main", &[], &[]) {
                    Err(GpuError::Shader { label, message, .. }) => {
                        assert_eq!(label, "test/broken.wgsl");
                        assert!(message.contains("test/broken.wgsl: WGSL"), "[{}] {message}", info.name);
                    }
                    Err(other) => panic!("[{}] wrong error: {other}", info.name),
                    Ok(_) => panic!("[{}] a broken exact shader compiled", info.name),
                }
                let good = compile(gpu, info, "test/ok.wgsl", KernelSource::ExactSpirv(ok), "main", &[], &[]);
                assert!(good.is_ok(), "[{}] exact SPIR-V", info.name);
            }
        });
    }
}
