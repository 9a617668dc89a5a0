//! Checkpoint save and restore throughput (safetensors), per device: (a) an MLP-sized
//! model, 20 variables (784x256, 256, 256x256, 256, 256x10, 10 with Adam's two slots
//! each, and the two beta powers), and (b) 1,000 small variables of 1,024 float32.
//!
//! Prints milliseconds (median of `VARSCOPE_BENCH_RUNS`, default 5) and GB/s of
//! variable bytes. `VARSCOPE_BENCH_DEVICES` (comma-separated device names) picks devices;
//! default: `/cpu:0` and every GPU. No assertions: speed is reported, not tested.

use std::time::{Duration, Instant};

use varscope_core::{Graph, Initializer, Variable};
use varscope_gpu::checkpoint::{restore, save, RestoreOptions, SaveOptions};
use varscope_gpu::{Session, SessionOptions};

fn runs() -> usize {
    std::env::var("VARSCOPE_BENCH_RUNS").ok().and_then(|s| s.parse().ok()).filter(|&n| n > 0).unwrap_or(5)
}

fn wanted(device: &str) -> bool {
    match std::env::var("VARSCOPE_BENCH_DEVICES") {
        Ok(list) => list.split(',').any(|d| d.trim() == device),
        Err(_) => true,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn mlp(g: &Graph) -> Vec<Variable> {
    let mut out = Vec::new();
    let dims: [(&str, &[u64]); 6] = [
        ("mlp/layer1/w", &[784, 256]),
        ("mlp/layer1/b", &[256]),
        ("mlp/layer2/w", &[256, 256]),
        ("mlp/layer2/b", &[256]),
        ("mlp/out/w", &[256, 10]),
        ("mlp/out/b", &[10]),
    ];
    for (name, shape) in dims {
        for suffix in ["", "/Adam", "/Adam_1"] {
            let r = g
                .get_variable(&format!("{name}{suffix}"))
                .shape(shape.to_vec())
                .initializer(Initializer::random_normal(0.0, 0.1))
                .get();
            out.push(r.expect("variable").variable().expect("single").clone());
        }
    }
    for name in ["beta1_power", "beta2_power"] {
        out.push(
            g.get_variable(name)
                .shape(Vec::<u64>::new())
                .initializer(Initializer::ones())
                .get()
                .expect("v")
                .variable()
                .expect("s")
                .clone(),
        );
    }
    out
}

fn small(g: &Graph) -> Vec<Variable> {
    (0..1000)
        .map(|i| {
            let r = g
                .get_variable(&format!("small/v{i}"))
                .shape([1024])
                .initializer(Initializer::random_uniform(-1.0, 1.0))
                .get();
            r.expect("variable").variable().expect("single").clone()
        })
        .collect()
}

fn main() {
    let probe = Graph::new();
    let devices: Vec<String> = match Session::new(&probe) {
        Ok(s) => s.devices().iter().map(|d| format!("{}|{} ({:?})", d.name, d.adapter_name, d.backend)).collect(),
        Err(e) => {
            eprintln!("SKIP checkpoint bench: no session: {e}");
            return;
        }
    };
    let dir = std::env::temp_dir().join(format!("varscope-bench-ckpt-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    println!(
        "{:<10} {:<40} {:<8} {:>10} {:>9} {:>12} {:>9}",
        "workload", "device", "vars", "save ms", "save GB/s", "restore ms", "rest GB/s"
    );
    for d in devices {
        let (name, label) = d.split_once('|').unwrap_or((&d, ""));
        if !wanted(name) {
            continue;
        }
        for (workload, build) in [("mlp", mlp as fn(&Graph) -> Vec<Variable>), ("1000x1024", small)] {
            let g = Graph::new();
            let vars = build(&g);
            let s = match Session::with_options(&g, SessionOptions::default().default_device(name)) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("SKIP {name}: {e}");
                    continue;
                }
            };
            if let Err(e) = s.global_variables_initializer().and_then(|()| s.sync()) {
                eprintln!("SKIP {name}: {e}");
                continue;
            }
            let bytes: u64 = vars.iter().map(|v| v.nbytes().unwrap_or(0)).sum();
            let path = dir.join(format!("{workload}.safetensors"));
            let mut saves = Vec::new();
            let mut restores = Vec::new();
            for _ in 0..runs() {
                let t = Instant::now();
                save(&s, &path, &SaveOptions::default()).expect("save");
                saves.push(t.elapsed());
                let t = Instant::now();
                restore(&s, &path, &RestoreOptions::default()).expect("restore");
                s.sync().expect("sync");
                restores.push(t.elapsed());
            }
            let (sv, rs) = (median(saves), median(restores));
            let gb = |d: Duration| bytes as f64 / d.as_secs_f64() / 1e9;
            println!(
                "{workload:<10} {:<40} {:<8} {:>10.2} {:>9.3} {:>12.2} {:>9.3}",
                format!("{name} {label}"),
                vars.len(),
                sv.as_secs_f64() * 1e3,
                gb(sv),
                rs.as_secs_f64() * 1e3,
                gb(rs)
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
