//! Where the time of a batched initialization of many small variables goes.
use std::time::Instant;
use varscope_core::{Graph, Initializer};
use varscope_gpu::Session;

fn main() {
    let dev = std::env::args().nth(1).unwrap_or_else(|| "/gpu:0".into());
    let g = Graph::new();
    let vars: Vec<_> = (0..10_000)
        .map(|i| {
            g.get_variable(&format!("v{i}"))
                .shape([1000u64])
                .initializer(Initializer::random_uniform(-1.0, 1.0))
                .caching_device(dev.as_str())
                .get()
                .unwrap()
                .variable()
                .unwrap()
                .clone()
        })
        .collect();
    let s = Session::new(&g).unwrap();
    for _ in 0..3 {
        for v in &vars {
            s.release(v);
        }
        s.sync().unwrap();
        let t = Instant::now();
        for v in &vars {
            let _ = varscope_gpu::descriptor::kernel_params(v).unwrap();
        }
        let tp = t.elapsed();
        let t = Instant::now();
        for v in &vars {
            let _ = s.placement(v).unwrap();
        }
        let tpl = t.elapsed();
        let t = Instant::now();
        s.variables_initializer(&vars).unwrap();
        let ti = t.elapsed();
        s.sync().unwrap();
        let ts = t.elapsed();
        let t = Instant::now();
        s.reinitialize(&vars).unwrap();
        s.sync().unwrap();
        let tr = t.elapsed();
        println!(
            "kernel_params x10k {tp:?}, placement x10k {tpl:?}, init call {ti:?}, +sync {:?}, reinit+sync {tr:?}",
            ts - ti
        );
    }
}
