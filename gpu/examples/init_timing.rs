//! Times one initializer on each device, split into host planning and device work.
use std::time::Instant;
use varscope_core::{Graph, Initializer};
use varscope_gpu::Session;

fn main() {
    let n: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(1 << 22);
    let g = Graph::new();
    let dev = std::env::args().nth(2).unwrap_or_else(|| "/gpu:0".into());
    let v = g
        .get_variable("c")
        .shape([n])
        .initializer(Initializer::random_uniform(-1.0, 1.0))
        .caching_device(dev.as_str())
        .get()
        .unwrap();
    let v = v.variable().unwrap().clone();
    let s = Session::new(&g).unwrap();
    s.global_variables_initializer().unwrap();
    s.sync().unwrap();
    for _ in 0..3 {
        let t = Instant::now();
        let p = varscope_gpu::descriptor::kernel_params(&v).unwrap();
        let t1 = t.elapsed();
        s.reinitialize(std::slice::from_ref(&v)).unwrap();
        let t2 = t.elapsed();
        s.sync().unwrap();
        let t3 = t.elapsed();
        s.fill_words(&v, 7).unwrap();
        s.sync().unwrap();
        let t4 = t.elapsed();
        println!(
            "params {:?} ({}), reinit submit {:?}, +sync {:?}, fill {:?}",
            t1,
            p.is_some(),
            t2 - t1,
            t3 - t2,
            t4 - t3
        );
    }
}
