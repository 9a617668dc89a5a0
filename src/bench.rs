//! Measurement helpers shared by the `varscope bench` command and the criterion
//! benchmarks (`benches/`): timing with a device sync inside the timed region, GB/s, and
//! every throughput expressed as a ratio to the device's `clear_buffer` of the same bytes
//! measured in the same run (the fastest way the device can write memory; so figures from
//! noisy machines compare).
//!
//! [`init_figures`] and [`update_figures`] check their sizes first
//! ([`BenchError::OutOfRange`]: the ranges are [`ELEMENTS`] and [`BATCH`]) and report
//! each figure to a callback as soon as it is measured.

use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use varscope_core::Optimizer;
use varscope_core::{Graph, Initializer, Variable};
use varscope_gpu::{DeviceInfo, GpuError, Gradients, OptimError, Session, SessionOptions, Trainer};

/// Allowed elements per variable of [`init_figures`] and [`update_figures`] (up to
/// 64 Mi float32 = 256 MiB per variable; init makes 8 such variables, update 5).
pub const ELEMENTS: RangeInclusive<u64> = 1..=1 << 26;

/// Allowed number of small variables of [`init_figures`]'s batched figure.
pub const BATCH: RangeInclusive<u64> = 1..=1_000_000;

/// Errors of the measurements.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// A size outside its allowed range.
    #[error("{what} = {value} is out of range; allowed: {} to {}", .allowed.start(), .allowed.end())]
    OutOfRange {
        /// What the size counts.
        what: &'static str,
        /// The value given.
        value: u64,
        /// The allowed range.
        allowed: RangeInclusive<u64>,
    },
    /// Session, device or kernel error.
    #[error(transparent)]
    Gpu(#[from] GpuError),
    /// Optimizer error.
    #[error(transparent)]
    Optim(#[from] OptimError),
    /// Graph / variable store error.
    #[error(transparent)]
    Core(#[from] varscope_core::Error),
    /// Checkpoint save or restore error.
    #[error(transparent)]
    Checkpoint(#[from] varscope_gpu::CheckpointError),
    /// The benchmark's temporary directory could not be made.
    #[error("cannot create {path}: {source}")]
    TempDir {
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

fn check(what: &'static str, value: u64, allowed: RangeInclusive<u64>) -> Result<(), BenchError> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(BenchError::OutOfRange { what, value, allowed })
    }
}

/// A device's backend as users know it (`Vulkan`, `GL`, ...; `host` for `/cpu:0`, whose
/// [`DeviceInfo::backend`] is `None`).
pub fn backend_name(backend: Option<wgpu::Backend>) -> &'static str {
    match backend {
        None => "host",
        Some(wgpu::Backend::Vulkan) => "Vulkan",
        Some(wgpu::Backend::Metal) => "Metal",
        Some(wgpu::Backend::Dx12) => "DX12",
        Some(wgpu::Backend::Gl) => "GL",
        Some(wgpu::Backend::BrowserWebGpu) => "WebGPU",
        Some(_) => "other",
    }
}

/// Where a run's figures come from: the benchmark, the device with its adapter and
/// backend, and the device's `clear_buffer` throughput measured in the same run (the
/// denominator of every [`Figure::ratio_to_clear`]).
struct Site {
    bench: &'static str,
    device: String,
    adapter: String,
    backend: &'static str,
    clear_gbps: f64,
}

impl Site {
    fn new(bench: &'static str, info: &DeviceInfo, clear_gbps: f64) -> Self {
        let (adapter, backend) = (info.adapter_name.clone(), backend_name(info.backend));
        Site { bench, device: info.name.clone(), adapter, backend, clear_gbps }
    }

    /// The figure of `bytes` written in `time` by `variables` variables.
    fn figure(&self, name: impl Into<String>, time: Duration, bytes: u64, variables: u64) -> Figure {
        let gbps = gbps(bytes, time);
        Figure {
            bench: self.bench,
            name: name.into(),
            device: self.device.clone(),
            adapter: self.adapter.clone(),
            backend: self.backend,
            gbps,
            ratio_to_clear: gbps / self.clear_gbps,
            time,
            bytes,
            variables,
        }
    }
}

/// Tells `on` of figure `f` and keeps it.
fn report(out: &mut Vec<Figure>, on: &mut dyn FnMut(Event<'_>), f: Figure) {
    on(Event::Figure(&f));
    out.push(f);
}

/// The median time of `runs` clears of `roof` (`fill_words` with word 0 is the device's
/// `clear_buffer`), each synced.
fn clear_time(s: &Session, roof: &Variable, runs: usize) -> Result<Duration, GpuError> {
    time_n(runs, || {
        s.fill_words(roof, 0)?;
        s.sync()
    })
}

/// What a measurement tells its caller while it runs.
#[derive(Clone, Debug, PartialEq)]
pub enum Event<'a> {
    /// About to measure figure `name` on `device`.
    Measuring {
        /// The figure.
        name: &'a str,
        /// The device.
        device: &'a str,
    },
    /// A figure was measured.
    Figure(&'a Figure),
}

/// One benchmark figure.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    /// The benchmark (`init`).
    pub bench: &'static str,
    /// What was measured (`random_normal`, `clear_buffer`, ...).
    pub name: String,
    /// Device name (`/gpu:0`).
    pub device: String,
    /// Adapter name.
    pub adapter: String,
    /// Its backend ([`backend_name`]).
    pub backend: &'static str,
    /// Throughput in GB/s (10^9 bytes per second).
    pub gbps: f64,
    /// Throughput as a fraction of `clear_buffer`'s on the same device in the same run
    /// (1.0 = as fast as clearing the same bytes).
    pub ratio_to_clear: f64,
    /// Median wall time of one run, sync included.
    pub time: Duration,
    /// Bytes written per run.
    pub bytes: u64,
    /// Variables per run (1 except for the many-variables figures).
    pub variables: u64,
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

/// The devices to measure: `device`, or every device that `keep` accepts.
fn devices(device: Option<&str>, keep: impl Fn(&DeviceInfo) -> bool) -> Result<Vec<String>, GpuError> {
    let probe = Graph::new();
    let session = Session::new(&probe)?;
    Ok(match device {
        Some(d) => vec![session.device(d)?.name.clone()],
        None => session.devices().iter().filter(|d| keep(d)).map(|d| d.name.clone()).collect(),
    })
}

/// Initialization throughput of every initializer kind for one float32 variable of
/// `elements` on `device` (or on every device when `None`), the vector fill, read back
/// (into a new buffer, and into one kept across runs) and upload of that variable,
/// batched initialization of `batch` variables of 1,000 elements, and creation plus
/// initialization of 2,000 new 64x64 normal variables; each
/// as GB/s and as a ratio to `clear_buffer` of the same bytes on the same device. `on`
/// hears of each figure before and after it is measured.
pub fn init_figures(
    device: Option<&str>,
    elements: u64,
    batch: u64,
    runs: usize,
    mut on: impl FnMut(Event<'_>),
) -> Result<Vec<Figure>, BenchError> {
    check("elements per variable", elements, ELEMENTS)?;
    check("batched variables", batch, BATCH)?;
    let mut out = Vec::new();
    for dev in devices(device, |_| true)? {
        let g = Graph::new();
        g.set_seed(1);
        let mk = |g: &Graph, name: &str, init: Initializer, shape: &[u64]| -> Result<Variable, BenchError> {
            Ok(g.get_variable(name).shape(shape.to_vec()).initializer(init).caching_device(dev.as_str()).variable()?)
        };
        let roof = mk(&g, "roofline", Initializer::zeros(), &[elements])?;
        let vars: Vec<(&str, Variable)> = init_kinds()
            .into_iter()
            .map(|(n, i)| mk(&g, n, i, &[elements]).map(|v| (n, v)))
            .collect::<Result<_, _>>()?;
        let s = Session::new(&g)?;
        s.global_variables_initializer()?;
        let bytes = elements * 4;
        on(Event::Measuring { name: "clear_buffer", device: &dev });
        let clear = clear_time(&s, &roof, runs)?;
        let site = Site::new("init", s.device(&dev)?, gbps(bytes, clear));
        report(&mut out, &mut on, site.figure("clear_buffer", clear, bytes, 1));
        on(Event::Measuring { name: "vector_fill", device: &dev });
        let t = time_n(runs, || {
            s.fill_words(&roof, 0x3f00_0000)?;
            s.sync()
        })?;
        report(&mut out, &mut on, site.figure("vector_fill", t, bytes, 1));
        for (name, v) in &vars {
            on(Event::Measuring { name, device: &dev });
            let one = std::slice::from_ref(v);
            let t = time_n(runs, || {
                s.reinitialize(one)?;
                s.sync()
            })?;
            report(&mut out, &mut on, site.figure(*name, t, bytes, 1));
        }
        on(Event::Measuring { name: "read_back", device: &dev });
        let mut host = None;
        let t = time_n(runs, || -> Result<(), BenchError> {
            host = Some(s.read(&roof)?);
            Ok(())
        })?;
        report(&mut out, &mut on, site.figure("read_back", t, bytes, 1));
        // The same read into one buffer kept across runs (`read_into`): no fresh memory
        // for the operating system to zero each time.
        on(Event::Measuring { name: "read_back_into", device: &dev });
        let mut kept = vec![0u8; bytes as usize];
        let t = time_n(runs, || s.read_into(&roof, &mut kept))?;
        report(&mut out, &mut on, site.figure("read_back_into", t, bytes, 1));
        if let Some(values) = host {
            on(Event::Measuring { name: "upload", device: &dev });
            let t = time_n(runs, || {
                s.assign(&roof, &values)?;
                s.sync()
            })?;
            report(&mut out, &mut on, site.figure("upload", t, bytes, 1));
        }
        drop(s);

        let name = format!("batched_{batch}x1000");
        on(Event::Measuring { name: &name, device: &dev });
        let gb = Graph::new();
        let small: Vec<Variable> = (0..batch)
            .map(|i| mk(&gb, &format!("v{i}"), Initializer::random_uniform(-1.0, 1.0), &[1000]))
            .collect::<Result<_, _>>()?;
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
        report(&mut out, &mut on, site.figure(&name, median(times), batch * 1000 * 4, batch));
        drop(sb);

        // New variables: each run creates 2,000 variables the graph has never seen (scope
        // resolution included), then places, allocates and initializes them on the device
        // of an open session (as a framework's `Tensor::random` calls would).
        let name = "new_2000x64x64_normal";
        on(Event::Measuring { name, device: &dev });
        let gn = Graph::new();
        let sn = Session::new(&gn)?;
        let mut round = 0;
        let t = time_n(runs, || -> Result<(), BenchError> {
            round += 1;
            let fresh: Vec<Variable> = (0..2000)
                .map(|i| mk(&gn, &format!("run{round}/layer{i}/w"), Initializer::random_normal(0.0, 1.0), &[64, 64]))
                .collect::<Result<_, _>>()?;
            sn.variables_initializer(&fresh)?;
            sn.sync()?;
            for v in &fresh {
                sn.release(v);
            }
            Ok(())
        })?;
        report(&mut out, &mut on, site.figure(name, t, 2000 * 64 * 64 * 4, 2000));
    }
    Ok(out)
}

/// The 1.02-billion-parameter model of [`model_figures`]: a 32000x2048 embedding
/// (`random_normal(0, 0.02)`), 19 blocks of a 2048-wide transformer (kernels 2048x6144,
/// 2048x2048, 2048x8192 and 8192x2048 with TensorFlow's default `glorot_uniform`, two
/// zero biases, two layer-norm gains of ones) and a final gain: 154 variables,
/// 1,022,189,568 float32 (4.09 GB).
pub fn model_1b() -> Vec<(String, Vec<u64>, Initializer)> {
    let mut out = vec![("model/embedding".to_string(), vec![32_000, 2048], Initializer::random_normal(0.0, 0.02))];
    for b in 0..19 {
        let p = format!("model/block{b}");
        for (name, shape) in
            [("qkv", [2048u64, 6144]), ("proj", [2048, 2048]), ("mlp_in", [2048, 8192]), ("mlp_out", [8192, 2048])]
        {
            out.push((format!("{p}/{name}/kernel"), shape.to_vec(), Initializer::glorot_uniform()));
        }
        out.push((format!("{p}/qkv/bias"), vec![6144], Initializer::zeros()));
        out.push((format!("{p}/mlp_in/bias"), vec![8192], Initializer::zeros()));
        out.push((format!("{p}/ln1/gamma"), vec![2048], Initializer::ones()));
        out.push((format!("{p}/ln2/gamma"), vec![2048], Initializer::ones()));
    }
    out.push(("model/final_ln/gamma".to_string(), vec![2048], Initializer::ones()));
    out
}

/// Initialization of the [`model_1b`] model on `device` (or every GPU when `None`;
/// nothing for `/cpu:0`):
/// a session opened, every variable allocated and initialized, synced (scope
/// resolution excluded: the graph is built once); the median of `runs` runs after a
/// warm-up, as GB/s and as a ratio to `clear_buffer` of 256 MiB on the same device.
pub fn model_figures(
    device: Option<&str>,
    runs: usize,
    mut on: impl FnMut(Event<'_>),
) -> Result<Vec<Figure>, BenchError> {
    let mut out = Vec::new();
    // GPUs only, also when /cpu:0 is named (4 GB of host values say nothing of a device).
    for dev in devices(device, |d| !d.is_cpu())?.into_iter().filter(|d| d != "/cpu:0") {
        let g = Graph::new();
        g.set_seed(1);
        let spec = model_1b();
        for (name, shape, init) in &spec {
            g.get_variable(name)
                .shape(shape.clone())
                .initializer(init.clone())
                .caching_device(dev.as_str())
                .variable()?;
        }
        let bytes: u64 = spec.iter().map(|(_, s, _)| s.iter().product::<u64>() * 4).sum();
        let gr = Graph::new();
        let roof = gr
            .get_variable("roofline")
            .shape([1u64 << 26])
            .initializer(Initializer::zeros())
            .caching_device(dev.as_str())
            .variable()?;
        let sr = Session::new(&gr)?;
        sr.global_variables_initializer()?;
        on(Event::Measuring { name: "clear_buffer", device: &dev });
        let clear = clear_time(&sr, &roof, runs)?;
        let site = Site::new("model", sr.device(&dev)?, gbps(1 << 28, clear));
        drop(sr);
        let name = "model_1b_154_variables";
        on(Event::Measuring { name, device: &dev });
        let mut times = Vec::new();
        for run in 0..=runs.max(1) {
            let t = Instant::now();
            let s = Session::new(&g)?;
            s.global_variables_initializer()?;
            s.sync()?;
            if run > 0 {
                times.push(t.elapsed());
            }
            drop(s);
        }
        report(&mut out, &mut on, site.figure(name, median(times), bytes, spec.len() as u64));
    }
    Ok(out)
}

/// The shapes of the MLP-sized checkpoint figure: three 784-256-256-10 layers (kernel and
/// bias) each with Adam's two slots, and the two beta powers: 20 variables.
fn mlp_shapes() -> Vec<Vec<u64>> {
    let layers: [&[u64]; 6] = [&[784, 256], &[256], &[256, 256], &[256], &[256, 10], &[10]];
    let mut out: Vec<Vec<u64>> = layers.iter().flat_map(|s| std::iter::repeat_n(s.to_vec(), 3)).collect();
    out.extend([vec![], vec![]]);
    out
}

/// Checkpoint save and restore (safetensors, `Session::save` / `Session::restore`) on
/// `device` (or every device when `None`) of (a) an MLP-sized model of 20 variables and
/// (b) 1,000 variables of 1,024 float32: milliseconds and GB/s of variable bytes (file
/// write or read, checksums and device transfers included), and the ratio to
/// `clear_buffer` of the same bytes. The files go to a temporary directory, removed after.
pub fn checkpoint_figures(
    device: Option<&str>,
    runs: usize,
    mut on: impl FnMut(Event<'_>),
) -> Result<Vec<Figure>, BenchError> {
    let dir = std::env::temp_dir().join(format!("varscope-bench-{}", std::process::id()));
    let mut out = Vec::new();
    let r = (|| -> Result<(), BenchError> {
        std::fs::create_dir_all(&dir)
            .map_err(|source| BenchError::TempDir { path: dir.display().to_string(), source })?;
        for dev in devices(device, |_| true)? {
            for (case, shapes) in [("mlp_20", mlp_shapes()), ("1000x1024", vec![vec![1024u64]; 1000])] {
                let g = Graph::new();
                let vars: Vec<Variable> = shapes
                    .iter()
                    .enumerate()
                    .map(|(i, shape)| {
                        g.get_variable(&format!("{case}/v{i}"))
                            .shape(shape.clone())
                            .initializer(Initializer::random_normal(0.0, 0.1))
                            .caching_device(dev.as_str())
                            .variable()
                    })
                    .collect::<Result<_, _>>()?;
                let bytes: u64 = vars.iter().map(|v| v.nbytes().unwrap_or(0)).sum();
                let s = Session::new(&g)?;
                s.global_variables_initializer()?;
                // clear_buffer of the same bytes, in a session of its own (not saved).
                let gr = Graph::new();
                let roof = gr
                    .get_variable("roofline")
                    .shape([bytes.div_ceil(4).max(1)])
                    .initializer(Initializer::zeros())
                    .caching_device(dev.as_str())
                    .variable()?;
                let sr = Session::new(&gr)?;
                sr.global_variables_initializer()?;
                let site = Site::new("checkpoint", s.device(&dev)?, gbps(bytes, clear_time(&sr, &roof, runs)?));
                let path = dir.join(format!("{case}.safetensors"));
                for (op, name) in [("save", format!("save_{case}")), ("restore", format!("restore_{case}"))] {
                    on(Event::Measuring { name: &name, device: &dev });
                    let t = time_n(runs, || -> Result<(), BenchError> {
                        if op == "save" {
                            s.save(&path)?;
                        } else {
                            s.restore(&path)?;
                        }
                        Ok(())
                    })?;
                    report(&mut out, &mut on, site.figure(name, t, bytes, vars.len() as u64));
                }
            }
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    r.map(|_| out)
}

/// Bytes one Adam step moves per float32 element: variable, m and v read and written,
/// gradient read.
pub const ADAM_BYTES_PER_ELEMENT: u64 = 28;

/// One Adam step (`Trainer::apply_gradients`) over (a) one variable of `elements` and
/// (b) 1,000 variables of 1,024 elements, on `device` (or every GPU device when `None`),
/// as GB/s of the bytes the step moves and as a ratio to `clear_buffer`'s GB/s. `on`
/// hears of each figure before and after it is measured.
pub fn update_figures(
    device: Option<&str>,
    elements: u64,
    runs: usize,
    mut on: impl FnMut(Event<'_>),
) -> Result<Vec<Figure>, BenchError> {
    check("elements per variable", elements, ELEMENTS)?;
    let mut out = Vec::new();
    for dev in devices(device, |d| !d.is_cpu())? {
        for (case, count, len) in [("adam_one_large", 1usize, elements), ("adam_1000_small", 1000, 1024)] {
            on(Event::Measuring { name: case, device: &dev });
            let g = Graph::new();
            let vars: Vec<Variable> = (0..count)
                .map(|i| {
                    let name = format!("{case}/v{i}");
                    g.get_variable(&name).shape([len]).initializer(Initializer::zeros()).variable()
                })
                .collect::<Result<_, _>>()?;
            let total = len * count as u64;
            let roof = g.get_variable("roofline").shape([total]).initializer(Initializer::zeros()).variable()?;
            let s = Session::with_options(&g, SessionOptions::default().default_device(dev.as_str()))?;
            s.global_variables_initializer()?;
            let mut trainer = Trainer::new(&s, Optimizer::adam(), &vars)?;
            let grads = Gradients::new(&s, &vars)?;
            let site = Site::new("update", s.device(&dev)?, gbps(total * 4, clear_time(&s, &roof, runs)?));
            let step = time_n(runs, || -> Result<(), BenchError> {
                trainer.apply_gradients(&grads)?;
                s.sync()?;
                Ok(())
            })?;
            let bytes = total * ADAM_BYTES_PER_ELEMENT;
            report(&mut out, &mut on, site.figure(case, step, bytes, count as u64));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_out_of_range_are_typed_errors_before_any_device_work() {
        let none = |_: Event<'_>| panic!("no figure may be measured");
        for (r, what, value) in [
            (init_figures(Some("/cpu:0"), 0, 10, 1, none), "elements per variable", 0),
            (init_figures(Some("/cpu:0"), 1 << 27, 10, 1, none), "elements per variable", 1 << 27),
            (init_figures(Some("/cpu:0"), 16, 0, 1, none), "batched variables", 0),
            (update_figures(Some("/cpu:0"), 0, 1, none), "elements per variable", 0),
        ] {
            match r {
                Err(BenchError::OutOfRange { what: w, value: v, .. }) => assert_eq!((w, v), (what, value)),
                other => panic!("{what}: expected OutOfRange, got {other:?}"),
            }
        }
        let e = init_figures(None, 0, 1, 1, none).unwrap_err().to_string();
        assert_eq!(e, "elements per variable = 0 is out of range; allowed: 1 to 67108864");
    }

    #[test]
    fn the_1b_model_has_154_variables_of_1_02_billion_parameters() {
        let m = model_1b();
        assert_eq!(m.len(), 154);
        let params: u64 = m.iter().map(|(_, s, _)| s.iter().product::<u64>()).sum();
        assert_eq!(params, 1_022_189_568);
        assert_eq!(m[0].1, [32_000, 2048]);
        let names: std::collections::HashSet<&str> = m.iter().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(names.len(), 154, "names are unique");
        // /cpu:0 is not measured (a 4 GB host model says nothing about a device).
        assert!(model_figures(Some("/cpu:0"), 1, |_| panic!("no figure")).unwrap().is_empty());
    }

    #[test]
    fn figures_are_reported_as_they_are_measured() {
        let mut events = Vec::new();
        let figs = init_figures(Some("/cpu:0"), 64, 2, 1, |e| {
            events.push(match e {
                Event::Measuring { name, .. } => format!("measuring {name}"),
                Event::Figure(f) => format!("figure {}", f.name),
            })
        })
        .expect("host figures");
        assert_eq!(events.len(), 2 * figs.len());
        assert_eq!(events[0], "measuring clear_buffer");
        assert_eq!(events[1], "figure clear_buffer");
        for name in ["vector_fill", "read_back", "read_back_into", "upload", "batched_2x1000", "new_2000x64x64_normal"]
        {
            assert!(figs.iter().any(|f| f.name == name && f.gbps > 0.0), "{name}");
        }
        // Every figure names its run's device and backend, and its ratio is to the clear of
        // the same run.
        let clear = &figs[0];
        assert_eq!((clear.name.as_str(), clear.ratio_to_clear), ("clear_buffer", 1.0));
        for f in &figs {
            assert_eq!((f.bench, f.device.as_str(), f.backend), ("init", "/cpu:0", "host"), "{}", f.name);
            let want = f.gbps / clear.gbps;
            assert!((f.ratio_to_clear - want).abs() <= 1e-9 * want, "{}: {} vs {want}", f.name, f.ratio_to_clear);
        }
    }

    #[test]
    fn checkpoint_figures_save_and_restore_both_workloads() {
        let figs = checkpoint_figures(Some("/cpu:0"), 1, |_| {}).expect("host figures");
        let names: Vec<&str> = figs.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["save_mlp_20", "restore_mlp_20", "save_1000x1024", "restore_1000x1024"]);
        assert_eq!(figs[0].variables, 20);
        assert_eq!(figs[2].bytes, 1000 * 1024 * 4);
        assert!(figs.iter().all(|f| f.gbps > 0.0 && f.ratio_to_clear > 0.0));
        assert!(figs.iter().all(|f| f.backend == "host" && f.device == "/cpu:0"));
    }
}
