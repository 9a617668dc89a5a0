//! Initialization throughput per initializer and device (runtime.md section 6).
//!
//! Every figure has a device sync inside the timed region and `Throughput::Bytes`, and
//! is printed as a ratio to the device's plain buffer fill (`shaders/fill.wgsl` through
//! `Session::fill_words`; a host memset-like fill on `/cpu:0`) measured in the same run.
//! Also: batched materialization + initialization of 10,000 variables of 1,000 float32.
//!
//! Environment: `VARSCOPE_BENCH_ELEMENTS` (default 4,194,304 = 16 MiB of float32),
//! `VARSCOPE_BENCH_DEVICES` (comma-separated device names; default all).

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use varscope::bench::{gbps, init_kinds, median, time_n};
use varscope_core::{Graph, Initializer, Variable};
use varscope_gpu::Session;

fn elements() -> u64 {
    std::env::var("VARSCOPE_BENCH_ELEMENTS").ok().and_then(|s| s.parse().ok()).unwrap_or(1 << 22)
}

fn wanted(device: &str) -> bool {
    match std::env::var("VARSCOPE_BENCH_DEVICES") {
        Ok(list) => list.split(',').any(|d| d.trim() == device),
        Err(_) => true,
    }
}

fn bench_init(c: &mut Criterion) {
    let n = elements();
    let probe_graph = Graph::new();
    let devices: Vec<String> = Session::new(&probe_graph)
        .expect("session")
        .devices()
        .iter()
        .map(|d| d.name.clone())
        .filter(|d| wanted(d))
        .collect();
    for dev in &devices {
        let g = Graph::new();
        g.set_seed(1);
        let mut vars: Vec<(&str, Variable)> = Vec::new();
        for (name, init) in init_kinds() {
            let v =
                g.get_variable(name).shape([n]).initializer(init).caching_device(dev.as_str()).get().expect("variable");
            vars.push((name, v.variable().expect("single").clone()));
        }
        let roof_var = g.get_variable("fill").shape([n]).caching_device(dev.as_str()).get().expect("variable");
        let roof_var = roof_var.variable().expect("single").clone();
        let s = Session::new(&g).expect("session");
        s.global_variables_initializer().expect("init");
        let info = s.device(dev).expect("device");
        let bytes = n * 4;
        let label = format!("{dev} ({})", info.adapter_name);

        // The roofline, in the same run on the same device.
        let fill = time_n(10, || {
            s.fill_words(&roof_var, 0x3f80_0000)?;
            s.sync()
        })
        .expect("fill");
        println!("[{label}] plain fill: {:.2} GB/s ({:?} for {bytes} bytes)", gbps(bytes, fill), fill);

        let mut group = c.benchmark_group(format!("init/{dev}"));
        group.throughput(Throughput::Bytes(bytes));
        group.bench_function("plain_fill", |b| {
            b.iter(|| {
                s.fill_words(&roof_var, 0x3f80_0000).expect("fill");
                s.sync().expect("sync");
            })
        });
        for (name, v) in &vars {
            let one = std::slice::from_ref(v);
            group.bench_with_input(BenchmarkId::from_parameter(name), name, |b, _| {
                b.iter(|| {
                    s.reinitialize(one).expect("init");
                    s.sync().expect("sync");
                })
            });
            let t = time_n(5, || {
                s.reinitialize(one)?;
                s.sync()
            })
            .expect("init");
            println!(
                "[{label}] {name}: {:.2} GB/s = {:.0}% of plain fill ({:?} for {n} float32)",
                gbps(bytes, t),
                100.0 * fill.as_secs_f64() / t.as_secs_f64(),
                t
            );
        }
        group.finish();

        // Batched: 10,000 variables of 1,000 float32, materialized and initialized at once.
        let gb = Graph::new();
        gb.set_seed(2);
        let small: Vec<Variable> = (0..10_000)
            .map(|i| {
                gb.get_variable(&format!("v{i}"))
                    .shape([1000u64])
                    .initializer(Initializer::random_uniform(-1.0, 1.0))
                    .caching_device(dev.as_str())
                    .get()
                    .expect("variable")
                    .variable()
                    .expect("single")
                    .clone()
            })
            .collect();
        let sb = Session::new(&gb).expect("session");
        let batch_bytes = 10_000u64 * 1000 * 4;
        let mut times = Vec::new();
        let mut group = c.benchmark_group(format!("batched/{dev}"));
        group.throughput(Throughput::Bytes(batch_bytes));
        group.bench_function("create_init_10000x1000", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    for v in &small {
                        sb.release(v);
                    }
                    sb.sync().expect("sync");
                    let t = Instant::now();
                    sb.variables_initializer(&small).expect("init");
                    sb.sync().expect("sync");
                    let e = t.elapsed();
                    times.push(e);
                    total += e;
                }
                total
            })
        });
        group.finish();
        let t = median(times);
        println!(
            "[{label}] batched 10,000 x 1,000 float32: {:?} ({:.2} us per variable), {:.2} GB/s = {:.0}% of plain fill",
            t,
            t.as_secs_f64() * 1e6 / 10_000.0,
            gbps(batch_bytes, t),
            100.0 * gbps(batch_bytes, t) / gbps(bytes, fill)
        );
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(800))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_init
}
criterion_main!(benches);
