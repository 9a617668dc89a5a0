//! Measurement helpers shared by the `varscope bench` command and the criterion
//! benchmarks: timing with a device sync inside the timed region, GB/s, and every
//! throughput expressed as a ratio to a plain buffer fill measured in the same run on
//! the same device (so figures from noisy machines compare).

use std::time::{Duration, Instant};

use varscope_core::{Graph, Initializer, Variable};
use varscope_core::Optimizer;
use varscope_gpu::{Gradients, GpuError, Session, SessionOptions, Trainer};

/// One benchmark figure.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    /// The benchmark (`init`).
    pub bench: &'static str,
    /// What was measured (`random_normal`, `plain_fill`, ...).
    pub name: String,
    /// Device name (`/gpu:0`).
    pub device: String,
    /// Adapter name.
    pub adapter: String,
    /// Throughput in GB/s (10^9 bytes per second).
    pub gbps: f64,
    /// Throughput as a fraction of the plain fill's (1.0 = as fast as the fill).
    pub ratio_to_fill: f64,
    /// Median wall time of one run, sync included.
    pub time: Duration,
    /// Bytes written per run.
    pub bytes: u64,
}

/// Median of the durations (zero for none).
pub fn median(mut v: Vec<Duration>) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    v[v.len() / 2]
}

/// Runs `f` once to warm up, then `n` times; returns the median time.
pub fn time_n<E>(n: usize, mut f: impl FnMut() -> Result<(), E>) -> Result<Duration, E> {
    f()?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f()?;
        v.push(t.elapsed());
    }
    Ok(median(v))
}

/// GB/s for `bytes` in `d`.
pub fn gbps(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64().max(1e-12) / 1e9
}

/// The initializers the init benchmark measures, by TensorFlow name.
pub fn init_kinds() -> Vec<(&'static str, Initializer)> {
    vec![
        ("zeros", Initializer::zeros()),
        ("constant", Initializer::constant(0.5)),
        ("random_uniform", Initializer::random_uniform(-1.0, 1.0)),
        ("glorot_uniform", Initializer::glorot_uniform()),
        ("random_normal", Initializer::random_normal(0.0, 1.0)),
        ("truncated_normal", Initializer::truncated_normal(0.0, 1.0)),
        ("glorot_normal", Initializer::glorot_normal()),
    ]
}

/// Initialization throughput of every initializer kind for one float32 variable of
/// `elements` on `device` (or on every device when `None`), then batched creation and
/// initialization of `batch` variables of 1,000 elements, each as GB/s and as a ratio
/// to a plain fill of the same bytes on the same device.
pub fn init_figures(device: Option<&str>, elements: u64, batch: u64, runs: usize) -> Result<Vec<Figure>, GpuError> {
    let probe = Graph::new();
    let session = Session::new(&probe)?;
    let devices: Vec<String> = match device {
        Some(d) => vec![session.device(d)?.name.clone()],
        None => session.devices().iter().map(|d| d.name.clone()).collect(),
    };
    drop(session);
    let mut out = Vec::new();
    for dev in devices {
        let g = Graph::new();
        g.set_seed(1);
        let mk = |name: &str, init: Initializer, n: u64| -> Result<Variable, GpuError> {
            let r = g.get_variable(name).shape([n]).initializer(init).caching_device(dev.as_str()).get()?;
            Ok(r.variable().expect("no partitioner").clone())
        };
        let roof = mk("plain_fill", Initializer::zeros(), elements)?;
        let vars: Vec<(&str, Variable)> =
            init_kinds().into_iter().map(|(n, i)| mk(n, i, elements).map(|v| (n, v))).collect::<Result<_, _>>()?;
        let s = Session::new(&g)?;
        s.global_variables_initializer()?;
        let info = s.device(&dev)?;
        let adapter = info.adapter_name.clone();
        let bytes = elements * 4;
        let fill = time_n(runs, || {
            s.fill_words(&roof, 0)?;
            s.sync()
        })?;
        let fill_gbps = gbps(bytes, fill);
        let fig = |name: &str, t: Duration, bytes: u64| Figure {
            bench: "init",
            name: name.to_string(),
            device: dev.clone(),
            adapter: adapter.clone(),
            gbps: gbps(bytes, t),
            ratio_to_fill: gbps(bytes, t) / fill_gbps,
            time: t,
            bytes,
        };
        out.push(fig("plain_fill", fill, bytes));
        for (name, v) in &vars {
            let one = std::slice::from_ref(v);
            let t = time_n(runs, || {
                s.reinitialize(one)?;
                s.sync()
            })?;
            out.push(fig(name, t, bytes));
        }
        drop(s);

        let gb = Graph::new();
        let small: Vec<Variable> = (0..batch)
            .map(|i| {
                let r = gb
                    .get_variable(&format!("v{i}"))
                    .shape([1000u64])
                    .initializer(Initializer::random_uniform(-1.0, 1.0))
                    .caching_device(dev.as_str())
                    .get()?;
                Ok(r.variable().expect("no partitioner").clone())
            })
            .collect::<Result<_, GpuError>>()?;
        let sb = Session::new(&gb)?;
        let mut times = Vec::new();
        for _ in 0..runs.max(1) {
            for v in &small {
                sb.release(v);
            }
            sb.sync()?;
            let t = Instant::now();
            sb.variables_initializer(&small)?;
            sb.sync()?;
            times.push(t.elapsed());
        }
        out.push(fig(&format!("batched_{batch}x1000"), median(times), batch * 1000 * 4));
    }
    Ok(out)
}

/// Bytes one Adam step moves per float32 element: variable, m and v read and written,
/// gradient read.
pub const ADAM_BYTES_PER_ELEMENT: u64 = 28;

/// One Adam step (`Trainer::apply_gradients`) over (a) one variable of `elements` and
/// (b) 1,000 variables of 1,024 elements, on `device` (or every GPU device when `None`),
/// as GB/s of the bytes the step moves and as a ratio to a plain fill's GB/s.
pub fn update_figures(device: Option<&str>, elements: u64, runs: usize) -> Result<Vec<Figure>, Box<dyn std::error::Error>> {
    let probe = Graph::new();
    let session = Session::new(&probe)?;
    let devices: Vec<String> = match device {
        Some(d) => vec![session.device(d)?.name.clone()],
        None => session.devices().iter().filter(|d| !d.is_cpu()).map(|d| d.name.clone()).collect(),
    };
    drop(session);
    let mut out = Vec::new();
    for dev in devices {
        for (case, count, len) in [("adam_one_large", 1usize, elements), ("adam_1000_small", 1000, 1024)] {
            let g = Graph::new();
            let vars: Vec<Variable> = (0..count)
                .map(|i| {
                    let r = g.get_variable(&format!("{case}/v{i}")).shape([len]).initializer(Initializer::zeros()).get()?;
                    Ok(r.variable().expect("no partitioner").clone())
                })
                .collect::<Result<_, varscope_core::Error>>()?;
            let total = len * count as u64;
            let roof = g.get_variable("roofline").shape([total]).initializer(Initializer::zeros()).get()?;
            let roof = roof.variable().expect("no partitioner").clone();
            let s = Session::with_options(&g, SessionOptions::default().default_device(dev.as_str()))?;
            s.global_variables_initializer()?;
            let mut trainer = Trainer::new(&s, Optimizer::adam(), &vars)?;
            let grads = Gradients::new(&s, &vars)?;
            let adapter = s.device(&dev)?.adapter_name.clone();
            let fill = time_n(runs, || {
                s.fill_words(&roof, 0)?;
                s.sync()
            })?;
            let step = time_n(runs, || -> Result<(), Box<dyn std::error::Error>> {
                trainer.apply_gradients(&grads)?;
                s.sync()?;
                Ok(())
            })?;
            let bytes = total * ADAM_BYTES_PER_ELEMENT;
            let fill_gbps = gbps(total * 4, fill);
            out.push(Figure {
                bench: "update",
                name: case.to_string(),
                device: dev.clone(),
                adapter,
                gbps: gbps(bytes, step),
                ratio_to_fill: gbps(bytes, step) / fill_gbps,
                time: step,
                bytes,
            });
        }
    }
    Ok(out)
}
