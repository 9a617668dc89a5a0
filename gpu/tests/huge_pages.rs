//! On a CPU Vulkan device (lavapipe), whose device memory is the process's own memory,
//! a large variable's chunk is backed by transparent huge pages (`pool::host_memory`).
//! Alone in its test binary: it reads the whole process's `AnonHugePages`, which no
//! other test may change meanwhile.

mod common;

use common::*;
use varscope_core::{Graph, Initializer};
use varscope_gpu::Session;

/// Kilobytes of anonymous memory backed by huge pages in this process.
#[cfg(target_os = "linux")]
fn anon_huge_kb() -> u64 {
    let smaps = std::fs::read_to_string("/proc/self/smaps").expect("/proc/self/smaps");
    smaps
        .lines()
        .filter_map(|l| l.strip_prefix("AnonHugePages:"))
        .map(|l| l.trim().trim_end_matches("kB").trim().parse::<u64>().expect("a size in kB"))
        .sum()
}

#[cfg(target_os = "linux")]
#[test]
fn a_large_chunk_on_a_cpu_vulkan_device_gets_huge_pages() {
    let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").unwrap_or_default();
    if thp.contains("[never]") || thp.is_empty() {
        loud(
            "a_large_chunk_on_a_cpu_vulkan_device_gets_huge_pages: transparent huge pages are off here; not applicable",
        );
        return;
    }
    let g = Graph::new();
    let probe = Session::new(&g).unwrap();
    // No adapter at all fails under VARSCOPE_REQUIRE_GPU (CI installs lavapipe); a machine
    // whose adapters are all real GPUs has nothing to check here.
    if !have_gpus("a_large_chunk_on_a_cpu_vulkan_device_gets_huge_pages", probe.devices().len() - 1) {
        return;
    }
    let cpu_vulkan: Vec<String> = probe
        .devices()
        .iter()
        .filter(|d| d.device_type == wgpu::DeviceType::Cpu && d.backend == Some(wgpu::Backend::Vulkan))
        .map(|d| d.name.clone())
        .collect();
    drop(probe);
    if cpu_vulkan.is_empty() {
        loud("a_large_chunk_on_a_cpu_vulkan_device_gets_huge_pages: no CPU Vulkan adapter; not applicable");
        return;
    }
    for dev in cpu_vulkan {
        let g = Graph::new();
        // 64 MiB: 32 huge pages.
        let v = var(g
            .get_variable("w")
            .shape([1u64 << 24])
            .initializer(Initializer::random_uniform(-1.0, 1.0))
            .caching_device(dev.as_str())
            .get()
            .unwrap());
        let s = Session::new(&g).unwrap();
        let before = anon_huge_kb();
        s.global_variables_initializer().unwrap();
        s.sync().unwrap();
        let grown = anon_huge_kb().saturating_sub(before);
        // At least half of it (the kernel may back some of it with small pages when it
        // finds no free huge page).
        assert!(grown >= 32 << 10, "{dev}: AnonHugePages grew by {grown} kB for a 64 MiB variable");
        assert_eq!(s.read(&v).unwrap().bytes(), reference_bytes(&v).as_slice(), "{dev}");
    }
}
