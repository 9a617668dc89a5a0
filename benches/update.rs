//! One optimizer step (Adam, `Trainer::apply_gradients`) over (a) one large variable and
//! (b) 1,000 small ones, per GPU device (runtime.md section 7).
//!
//! Every figure has a device sync inside the timed region and `Throughput::Bytes` (the
//! bytes an Adam step moves: variable, m and v read and written, gradient read = 28
//! bytes per element), and is printed as GB/s and as a ratio to a plain buffer fill of
//! the same number of elements (`Session::fill_words`) measured in the same run on the
//! same device.
//!
//! Environment: `VARSCOPE_BENCH_ELEMENTS` (large variable, default 4,194,304),
//! `VARSCOPE_BENCH_DEVICES` (comma-separated device names; default every GPU).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use varscope::bench::{gbps, time_n};
use varscope_core::{Graph, Initializer, Optimizer, Variable};
use varscope_gpu::{Gradients, Session, SessionOptions, Trainer};

/// Bytes an Adam step moves per element.
const ADAM_BYTES: u64 = 28;
const SMALL_VARS: usize = 1000;
const SMALL_ELEMENTS: u64 = 1024;

fn elements() -> u64 {
    std::env::var("VARSCOPE_BENCH_ELEMENTS").ok().and_then(|s| s.parse().ok()).unwrap_or(1 << 22)
}

fn wanted(device: &str) -> bool {
    match std::env::var("VARSCOPE_BENCH_DEVICES") {
        Ok(list) => list.split(',').any(|d| d.trim() == device),
        Err(_) => device != "/cpu:0",
    }
}

fn bench_update(c: &mut Criterion) {
    let probe = Graph::new();
    let devices: Vec<String> = match Session::new(&probe) {
        Ok(s) => s.devices().iter().map(|d| d.name.clone()).filter(|d| wanted(d)).collect(),
        Err(e) => {
            eprintln!("SKIP update bench: no session: {e}");
            return;
        }
    };
    if devices.is_empty() {
        eprintln!("SKIP update bench: no GPU device");
    }
    let mut group = c.benchmark_group("optimizer_step");
    group.sample_size(10);
    for dev in devices {
        for (case, count, len) in [("one_large", 1usize, elements()), ("1000_small", SMALL_VARS, SMALL_ELEMENTS)] {
            let g = Graph::new();
            let vars: Vec<Variable> = (0..count)
                .map(|i| {
                    g.get_variable(&format!("{case}/v{i}"))
                        .shape([len])
                        .initializer(Initializer::zeros())
                        .get()
                        .unwrap()
                        .variable()
                        .unwrap()
                        .clone()
                })
                .collect();
            let roof = g
                .get_variable("roofline")
                .shape([len * count as u64])
                .initializer(Initializer::zeros())
                .get()
                .unwrap()
                .variable()
                .unwrap()
                .clone();
            let s = Session::with_options(&g, SessionOptions::default().default_device(dev.as_str())).unwrap();
            s.global_variables_initializer().unwrap();
            let mut trainer = Trainer::new(&s, Optimizer::adam(), &vars).unwrap();
            let grads = Gradients::new(&s, &vars).unwrap();
            let total = len * count as u64;
            let bytes = total * ADAM_BYTES;
            let adapter = s.device(&dev).unwrap().adapter_name.clone();
            // The same run's roofline and step, for the printed ratio.
            let fill = time_n(5, || {
                s.fill_words(&roof, 0)?;
                s.sync()
            })
            .unwrap();
            let mut dispatches = 0;
            let step = time_n(5, || {
                dispatches = trainer.apply_gradients(&grads).map_err(|e| e.to_string())?.update_dispatches;
                s.sync().map_err(|e| e.to_string())
            })
            .unwrap();
            let fill_gbps = gbps(total * 4, fill);
            let step_gbps = gbps(bytes, step);
            eprintln!(
                "{dev} ({adapter}) adam {case}: {total} elements, {dispatches} dispatch(es), {:.3} ms, {step_gbps:.2} GB/s; \
                 plain fill {fill_gbps:.2} GB/s; ratio to fill {:.3}",
                step.as_secs_f64() * 1e3,
                step_gbps / fill_gbps
            );
            group.throughput(Throughput::Bytes(bytes));
            group.bench_function(BenchmarkId::new(format!("adam_{case}"), &dev), |b| {
                b.iter(|| {
                    trainer.apply_gradients(&grads).unwrap();
                    s.sync().unwrap();
                })
            });
            group.throughput(Throughput::Bytes(total * 4));
            group.bench_function(BenchmarkId::new(format!("plain_fill_{case}"), &dev), |b| {
                b.iter(|| {
                    s.fill_words(&roof, 0).unwrap();
                    s.sync().unwrap();
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_update);
criterion_main!(benches);
