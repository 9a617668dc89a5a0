//! burn-wgpu timings for the workloads of `varscope bench init` and `varscope bench update`.
//!
//! Prints one line per workload: `peer=burn workload=<name> ms=<median> rounds=<n>`.
//! Every timing ends with a device sync; values are read back once afterwards and checked
//! for plausibility (mean and spread) so a lazy or broken kernel cannot look fast.

use std::time::Instant;

use burn::module::{Module, Param};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::wgpu::WgpuBackend;
use burn::tensor::{Device, Distribution, Tensor};

#[derive(Module, Debug)]
struct Flat {
    w: Param<Tensor<1>>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn sync(device: &Device) {
    let _ = device.sync();
}

fn time<F: FnMut()>(device: &Device, rounds: usize, mut f: F) -> f64 {
    // One warm-up run compiles the kernels and sizes the memory pools.
    f();
    sync(device);
    let mut ms = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        f();
        sync(device);
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    median(ms)
}

fn check(name: &str, t: Tensor<1>, mean: f32, std: f32) {
    let v: Vec<f32> = t.into_data().try_to_vec().unwrap_or_else(|e| {
        eprintln!("peer=burn check FAILED for {name}: values not readable as f32: {e:?}");
        std::process::exit(1)
    });
    let n = v.len().max(1) as f64;
    let m = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    let s = (v.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / n).sqrt();
    let ok = (m - mean as f64).abs() < 0.01 + 0.01 * std as f64 && (s - std as f64).abs() < 0.01 + 0.02 * std as f64;
    if !ok {
        eprintln!("peer=burn check FAILED for {name}: mean {m:.4} std {s:.4}, expected {mean} {std}");
        std::process::exit(1);
    }
}

fn report(workload: &str, ms: f64, rounds: usize) {
    println!("peer=burn workload={workload} ms={ms:.3} rounds={rounds}");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(3);
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(16 << 20);
    // The same adapter varscope's /gpu:0 uses here: Vulkan (lavapipe on the CI machine).
    let device = match Device::wgpu_options().graphics_api(WgpuBackend::Vulkan).init() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("peer=burn: no Vulkan device: {e}");
            std::process::exit(2);
        }
    };
    eprintln!("peer=burn adapter=Vulkan elements={n} rounds={rounds}");

    let mut keep = None;
    let ms = time(&device, rounds, || keep = Some(Tensor::<1>::random([n], Distribution::Uniform(-1.0, 1.0), &device)));
    report("uniform", ms, rounds);
    check("uniform", keep.take().expect("ran"), 0.0, 0.5774);

    let ms = time(&device, rounds, || keep = Some(Tensor::<1>::random([n], Distribution::Normal(0.0, 1.0), &device)));
    report("normal", ms, rounds);
    check("normal", keep.take().expect("ran"), 0.0, 1.0);

    let ms = time(&device, rounds, || keep = Some(Tensor::<1>::full([n], 0.5, &device)));
    report("constant", ms, rounds);
    check("constant", keep.take().expect("ran"), 0.5, 0.0);

    let ms = time(&device, rounds, || keep = Some(Tensor::<1>::zeros([n], &device)));
    report("zeros", ms, rounds);
    check("zeros", keep.take().expect("ran"), 0.0, 0.0);

    // 2,000 new 64x64 variables, normal: time per variable.
    let mut many: Vec<Tensor<2>> = Vec::new();
    let ms = time(&device, rounds, || {
        many = (0..2000).map(|_| Tensor::<2>::random([64, 64], Distribution::Normal(0.0, 1.0), &device)).collect();
    });
    report("small_2000x64x64_per_var_us", ms * 1e3 / 2000.0, rounds);
    drop(many);

    // One Adam step on a flat parameter of 1M and of 16M elements (gradients computed
    // outside the timer).
    let ad = device.clone().autodiff();
    for (label, len) in [("adam_1m", 1usize << 20), ("adam_16m", 16usize << 20)] {
        let mut model = Flat { w: Param::from_tensor(Tensor::random([len], Distribution::Normal(0.0, 1.0), &ad)) };
        let mut optim = AdamConfig::new().init();
        let coef = Tensor::<1>::random([len], Distribution::Normal(0.0, 1.0), &ad);
        let grads_of = |m: &Flat| {
            let loss = (m.w.val() * coef.clone()).sum();
            GradientsParams::from_grads(loss.backward(), m)
        };
        let g = grads_of(&model);
        model = optim.step(1e-3, model, g);
        sync(&ad);
        let mut ms = Vec::new();
        for _ in 0..rounds {
            let g = grads_of(&model);
            sync(&ad);
            let t = Instant::now();
            model = optim.step(1e-3, model, g);
            sync(&ad);
            ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        report(label, median(ms), rounds);
    }
}
