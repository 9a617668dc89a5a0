//! Throwaway A/B timing of init kernels (not committed).
use std::time::Instant;
use varscope_shaders as s;

fn main() {
    let n: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1 << 24);
    let kind: u32 = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(s::KIND_UNIFORM);
    let inst = wgpu::Instance::new(wgpu::InstanceDescriptor { backends: wgpu::Backends::VULKAN, ..wgpu::InstanceDescriptor::new_without_display_handle() });
    let adapter = pollster::block_on(inst.enumerate_adapters(wgpu::Backends::VULKAN)).into_iter().next().unwrap();
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        required_features: adapter.features() & wgpu::Features::SHADER_INT64,
        required_limits: adapter.limits(),
        ..Default::default()
    })).unwrap();
    let out = device.create_buffer(&wgpu::BufferDescriptor { label: None, size: n as u64 * 4, usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST, mapped_at_creation: false });
    let mk = |src: &str, consts: &[(&str, f64)]| {
        let m = device.create_shader_module(wgpu::ShaderModuleDescriptor { label: None, source: wgpu::ShaderSource::Wgsl(src.into()) });
        device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor { label: None, layout: None, module: &m, entry_point: Some("init_main"), compilation_options: wgpu::PipelineCompilationOptions { constants: consts, ..Default::default() }, cache: None })
    };
    let old_src = std::fs::read_to_string("/tmp/old_init_full.wgsl").unwrap();
    let old = mk(&old_src, &[("INIT_KIND", kind as f64), ("INIT_LAYOUT", 0.0)]);
    let c = s::init_constants(kind, 0, 0, 256);
    let new32 = mk(s::Shader::Init.source(), &c);
    let new64 = mk(s::Shader::InitMul64.source(), &c);
    let (p0, p1) = if kind == s::KIND_UNIFORM || kind >= s::KIND_NORMAL { ((-1f32).to_bits(), 2f32.to_bits()) } else { (0, 0) };
    let mut d = s::InitDesc { kind, dtype: 0, out_offset: 0, count: n, first: 0, wg_start: 0, own_block: n, full_block_lo: n, full_block_hi: 0, base_lo: 0, base_hi: 0, cols: 0, key0: 1, key1: 2, p0, p1 };
    let buf = |bytes: &[u8], usage| { let b = device.create_buffer(&wgpu::BufferDescriptor { label: None, size: bytes.len() as u64, usage: usage | wgpu::BufferUsages::COPY_DST, mapped_at_creation: false }); queue.write_buffer(&b, 0, bytes); b };
    let desc_new = buf(bytemuck::bytes_of(&d), wgpu::BufferUsages::STORAGE);
    d.wg_start = 0; // old: item_start at the same position
    let desc_old = buf(bytemuck::bytes_of(&d), wgpu::BufferUsages::STORAGE);
    let items = n.div_ceil(4);
    let par_old = buf(bytemuck::bytes_of(&s::InitParams::new(1, items)), wgpu::BufferUsages::UNIFORM);
    let groups = items.div_ceil(256);
    let par_new = buf(bytemuck::bytes_of(&s::InitParams::new(1, groups)), wgpu::BufferUsages::UNIFORM);
    let run = |p: Option<&wgpu::ComputePipeline>, desc: &wgpu::Buffer, par: &wgpu::Buffer, g: [u32; 3]| -> f64 {
        let t = Instant::now();
        let mut enc = device.create_command_encoder(&Default::default());
        if let Some(p) = p {
            let bg = device.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout: &p.get_bind_group_layout(0), entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: desc.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: out.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 2, resource: par.as_entire_binding() }] });
            let mut pass = enc.begin_compute_pass(&Default::default());
            pass.set_pipeline(p);
            pass.set_bind_group(0, &bg, &[]);
            pass.dispatch_workgroups(g[0], g[1], g[2]);
        } else {
            enc.clear_buffer(&out, 0, None);
        }
        queue.submit([enc.finish()]);
        device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
        t.elapsed().as_secs_f64() * 1e3
    };
    let med = |mut v: Vec<f64>| { v.sort_by(|a, b| a.total_cmp(b)); v[v.len() / 2] };
    let (mut a, mut b, mut c2, mut z) = (vec![], vec![], vec![], vec![]);
    for i in 0..6 {
        let x = run(Some(&old), &desc_old, &par_old, s::dispatch_size(items));
        let y = run(Some(&new32), &desc_new, &par_new, s::groups_size(groups));
        let w = run(Some(&new64), &desc_new, &par_new, s::groups_size(groups));
        let q = run(None, &desc_new, &par_new, [0, 0, 0]);
        if i > 0 { a.push(x); b.push(y); c2.push(w); z.push(q); }
    }
    println!("kind {kind} n {n}: old {:.1} ms, new mul32 {:.1} ms, new mul64 {:.1} ms, clear {:.1} ms", med(a), med(b), med(c2), med(z));
}
