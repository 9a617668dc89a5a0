//! Lists the session's devices: `cargo run -p varscope-gpu --example devices`.
use varscope_core::Graph;
use varscope_gpu::Session;

fn main() -> Result<(), varscope_gpu::GpuError> {
    let g = Graph::new();
    let s = Session::new(&g)?;
    for d in s.devices() {
        println!(
            "{:7} {:8} {:?} '{}' max_buffer={} max_binding={} f16={} f64={} i64={} bytes_in_use={}{}",
            d.name,
            d.backend.map(|b| format!("{b:?}")).unwrap_or_else(|| "host".into()),
            d.device_type,
            d.adapter_name,
            d.max_buffer_size,
            d.max_storage_buffer_binding_size,
            d.shader_f16,
            d.shader_f64,
            d.shader_i64,
            d.bytes_in_use(),
            if d.name == s.default_device().name { " (default)" } else { "" }
        );
    }
    Ok(())
}
