//! Where the time of creating and initializing 2,000 new 64x64 normal variables goes
//! (the `new_2000x64x64_normal` figure of `varscope bench init`), by part: creating them
//! on the host, the initializing call until it returns, the device until it is done,
//! and, for comparison, the same 8.2M normals as one variable. Also the minor page
//! faults the host part took (fresh memory for the growing graph).
//!
//! `cargo run --release -p varscope-gpu --example new_vars_timing [/gpu:0] [rounds]`
use std::time::Instant;
use varscope_core::{Graph, Initializer};
use varscope_gpu::Session;

fn minor_faults() -> i64 {
    // SAFETY: getrusage writes the struct it is given.
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut r) };
    r.ru_minflt
}

fn main() {
    let dev = std::env::args().nth(1).unwrap_or_else(|| "/gpu:0".into());
    let rounds: usize = std::env::args().nth(2).and_then(|r| r.parse().ok()).unwrap_or(10);
    let g = Graph::new();
    g.set_seed(1);
    let s = Session::new(&g).unwrap();
    let one = g
        .get_variable("one")
        .shape([2000u64 * 64 * 64])
        .initializer(Initializer::random_normal(0.0, 1.0))
        .caching_device(dev.as_str())
        .variable()
        .unwrap();
    let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e3;
    for round in 0..rounds {
        let f0 = minor_faults();
        let t0 = Instant::now();
        let vars: Vec<_> = (0..2000)
            .map(|i| {
                g.get_variable(&format!("run{round}/layer{i}/w"))
                    .shape([64u64, 64])
                    .initializer(Initializer::random_normal(0.0, 1.0))
                    .caching_device(dev.as_str())
                    .variable()
                    .unwrap()
            })
            .collect();
        let t1 = Instant::now();
        let faults = minor_faults() - f0;
        s.variables_initializer(&vars).unwrap();
        let t2 = Instant::now();
        s.sync().unwrap();
        let t3 = Instant::now();
        for v in &vars {
            s.release(v);
        }
        s.release(&one);
        s.sync().unwrap();
        let t4 = Instant::now();
        s.variables_initializer(std::slice::from_ref(&one)).unwrap();
        s.sync().unwrap();
        let t5 = Instant::now();
        println!(
            "host {:.2} ms ({faults} page faults), call {:.2} ms, device {:.2} ms: {:.2} us/variable | as one variable {:.2} ms",
            ms(t0, t1),
            ms(t1, t2),
            ms(t2, t3),
            ms(t0, t3) * 1e3 / 2000.0,
            ms(t4, t5)
        );
    }
}
