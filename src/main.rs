//! The `varscope` command: list devices, benchmark, inspect checkpoints.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;
use varscope::gpu::Session;
use varscope::{Graph, Reuse};

#[derive(Parser)]
#[command(name = "varscope", version, about = "TensorFlow 1.x variable scopes over wgpu GPU buffers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List every device (/gpu:N per wgpu adapter, and /cpu:0) with its limits.
    Devices {
        /// One JSON object per device.
        #[arg(long)]
        json: bool,
    },
    /// Run a benchmark and print each figure (GB/s also as a ratio to buffer fill).
    Bench {
        /// What to measure.
        what: BenchKind,
        /// Device to run on (any TensorFlow spelling); default: the session's default.
        #[arg(long)]
        device: Option<String>,
        /// Elements per variable (init) or variables to create (scopes).
        #[arg(long)]
        size: Option<u64>,
        /// One JSON object per figure.
        #[arg(long)]
        json: bool,
    },
    /// Show a checkpoint's variables as a scope tree with shapes, dtypes, bytes and totals.
    Inspect {
        /// The safetensors file.
        file: std::path::PathBuf,
        /// Also verify every tensor's checksum.
        #[arg(long)]
        verify: bool,
    },
    /// Train the example MLP (variables from scopes, WGSL forward/backward, Adam).
    Train {
        /// Device to train on; default: the session's default.
        #[arg(long)]
        device: Option<String>,
        /// Optimizer steps.
        #[arg(long, default_value_t = 300)]
        steps: usize,
        /// Points per class of the synthetic data set.
        #[arg(long, default_value_t = 128)]
        points: usize,
        /// Write a checkpoint (safetensors) of every global variable here afterwards.
        #[arg(long)]
        save: Option<std::path::PathBuf>,
        /// No progress bar (the loss is still printed).
        #[arg(long)]
        quiet: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum BenchKind {
    /// Initialization throughput per initializer, and batched creation of many variables.
    Init,
    /// One optimizer step (Adam) over one large and over 1,000 small variables.
    Update,
    /// Host-side scope resolution: get_variable create and reuse-lookup latency.
    Scopes,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Devices { json } => devices(json),
        Command::Bench { what: BenchKind::Scopes, size, json, .. } => bench_scopes(size.unwrap_or(100_000), json),
        Command::Bench { what: BenchKind::Init, device, size, json } => {
            bench_init(device.as_deref(), size.unwrap_or(1 << 22), json)
        }
        Command::Bench { what: BenchKind::Update, device, size, json } => {
            varscope::bench::update_figures(device.as_deref(), size.unwrap_or(1 << 22), 5)
                .map(|figs| print_figures(&figs, json))
        }
        Command::Inspect { file, verify } => inspect(&file, verify),
        Command::Train { device, steps, points, save, quiet } => train(device, steps, points, save, quiet),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type CliResult = Result<(), Box<dyn std::error::Error>>;

fn devices(as_json: bool) -> CliResult {
    let g = Graph::new();
    let s = Session::new(&g)?;
    for d in s.devices() {
        let backend = d.backend.map(|b| format!("{b:?}")).unwrap_or_else(|| "host".into());
        if as_json {
            println!(
                "{}",
                json!({
                    "name": d.name, "backend": backend, "adapter": d.adapter_name, "driver": d.driver,
                    "type": format!("{:?}", d.device_type), "max_buffer_size": d.max_buffer_size,
                    "max_storage_buffer_binding_size": d.max_storage_buffer_binding_size,
                    "memory_limit": d.memory_limit, "shader_f16": d.shader_f16, "shader_f64": d.shader_f64,
                    "shader_i64": d.shader_i64, "bytes_in_use": d.bytes_in_use(),
                    "default": d.name == s.default_device().name,
                })
            );
        } else {
            let mark = if d.name == s.default_device().name { " (default)" } else { "" };
            println!("{}{mark}", d.name);
            println!("  backend:      {backend}");
            println!("  adapter:      {} [{:?}]", d.adapter_name, d.device_type);
            if !d.driver.is_empty() {
                println!("  driver:       {}", d.driver);
            }
            println!("  max buffer:   {}", human_bytes(d.max_buffer_size));
            println!("  max binding:  {}", human_bytes(d.max_storage_buffer_binding_size));
            println!("  features:     f16={} f64={} i64={}", d.shader_f16, d.shader_f64, d.shader_i64);
            println!("  bytes in use: {}", human_bytes(d.bytes_in_use()));
        }
    }
    for skipped in s.skipped_adapters() {
        if as_json {
            println!("{}", json!({ "skipped_adapter": skipped.to_string() }));
        } else {
            println!("skipped: {skipped}");
        }
    }
    if s.num_gpus() == 0 {
        let msg = "no GPU adapter found: variables go to /cpu:0. Install a GPU driver, or Mesa's \
                   software Vulkan driver (Debian/Ubuntu: apt-get install mesa-vulkan-drivers).";
        if as_json {
            println!("{}", json!({ "warning": msg }));
        } else {
            println!("\n{msg}");
        }
    }
    Ok(())
}

fn human_bytes(b: u64) -> String {
    if b >= i64::MAX as u64 {
        return "no limit (host memory)".into();
    }
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 { format!("{b} B") } else { format!("{v:.1} {}", U[i]) }
}

fn figure(as_json: bool, bench: &str, name: &str, value: f64, unit: &str, extra: serde_json::Value) {
    if as_json {
        let mut o = json!({ "bench": bench, "figure": name, "value": value, "unit": unit });
        if let (Some(o), Some(e)) = (o.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        println!("{o}");
    } else {
        let extra = extra.as_object().map(|e| {
            e.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
        }).unwrap_or_default();
        println!("{bench:<7} {name:<40} {value:>12.3} {unit:<6} {extra}");
    }
}

/// Host-side scope resolution: creation rate, reuse-lookup latency three scopes deep,
/// and lookup scaling over all cores.
fn bench_scopes(n: u64, as_json: bool) -> CliResult {
    let g = Graph::new();
    let t = Instant::now();
    g.variable_scope("a").run(|_| {
        g.variable_scope("b").run(|_| {
            g.variable_scope("c").run(|_| -> varscope::Result<()> {
                for i in 0..n {
                    g.get_variable(&format!("v{i}")).shape([16]).get()?;
                }
                Ok(())
            })
        })
    })?;
    let create = t.elapsed();
    figure(as_json, "scopes", "create_variables", create.as_secs_f64(), "s", json!({ "count": n }));
    figure(as_json, "scopes", "create_per_variable", create.as_nanos() as f64 / n as f64 / 1000.0, "us", json!({}));

    let lookups: u64 = 400_000;
    let names: Vec<String> = (0..n.min(lookups)).map(|i| format!("v{i}")).collect();
    let one = reuse_lookups(&g, lookups, &names)?;
    figure(as_json, "scopes", "reuse_lookup_3_deep", one.as_nanos() as f64 / lookups as f64, "ns", json!({ "threads": 1 }));

    let threads = std::thread::available_parallelism().map(|p| p.get()).unwrap_or(1);
    let t = Instant::now();
    std::thread::scope(|s| -> CliResult {
        let hs: Vec<_> = (0..threads).map(|_| s.spawn(|| reuse_lookups(&g, lookups, &names))).collect();
        for h in hs {
            h.join().map_err(|_| "lookup thread panicked")??;
        }
        Ok(())
    })?;
    let all = t.elapsed();
    let per_sec_one = lookups as f64 / one.as_secs_f64();
    let per_sec_all = (lookups * threads as u64) as f64 / all.as_secs_f64();
    figure(as_json, "scopes", "reuse_lookups_per_second", per_sec_all, "1/s", json!({ "threads": threads }));
    figure(as_json, "scopes", "lookup_speedup_all_cores", per_sec_all / per_sec_one, "x", json!({ "threads": threads }));
    Ok(())
}

/// `count` reuse lookups three scopes deep, cycling through `names` (made beforehand, so
/// only the lookup is timed).
fn reuse_lookups(g: &Graph, count: u64, names: &[String]) -> Result<Duration, String> {
    let t = Instant::now();
    g.variable_scope("a").reuse(Reuse::True).run(|_| {
        g.variable_scope("b").run(|_| {
            g.variable_scope("c").run(|_| -> varscope::Result<()> {
                for i in 0..count {
                    std::hint::black_box(g.get_variable(&names[(i as usize) % names.len().max(1)]).get()?);
                }
                Ok(())
            })
        })
    })
    .map_err(|e| e.to_string())?;
    Ok(t.elapsed())
}

fn bench_init(device: Option<&str>, size: u64, as_json: bool) -> CliResult {
    print_figures(&varscope::bench::init_figures(device, size, 10_000, 5)?, as_json);
    Ok(())
}

fn print_figures(figures: &[varscope::bench::Figure], as_json: bool) {
    for f in figures {
        figure(
            as_json,
            f.bench,
            &f.name,
            f.gbps,
            "GB/s",
            json!({
                "device": f.device, "adapter": f.adapter, "ratio_to_fill": (f.ratio_to_fill * 1000.0).round() / 1000.0,
                "ms": (f.time.as_secs_f64() * 1e6).round() / 1e3, "bytes": f.bytes,
            }),
        );
    }
}

fn train(device: Option<String>, steps: usize, points: usize, save: Option<std::path::PathBuf>, quiet: bool) -> CliResult {
    use indicatif::{ProgressBar, ProgressStyle};
    use varscope::train::{run, TrainConfig, ACCURACY_TARGET};
    let config = TrainConfig { device, steps, points_per_class: points, save: save.clone(), ..TrainConfig::default() };
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(steps as u64) };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} steps  loss {msg}").unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let report = run(&config, |step, loss| {
        bar.set_position(step as u64);
        bar.set_message(format!("{loss:.4}"));
        let line = format!("step {step:>5}  loss {loss:.4}");
        if quiet {
            println!("{line}");
        } else {
            bar.println(line);
        }
    })?;
    bar.finish_and_clear();
    println!("device:   {} ({})", report.device, report.adapter);
    println!("accuracy: {:.3} (target {ACCURACY_TARGET})", report.accuracy);
    println!("l2 loss:  {:.6}", report.regularization_loss);
    println!("optimizer dispatches per step: {}", report.optimizer_dispatches);
    if let Some(p) = save {
        println!("checkpoint: {}", p.display());
    }
    if report.accuracy < ACCURACY_TARGET {
        return Err(format!("accuracy {:.3} is below the target {ACCURACY_TARGET}", report.accuracy).into());
    }
    Ok(())
}

/// A node of the scope tree: its tensors' bytes and count, including sub-scopes.
#[derive(Default)]
struct ScopeNode {
    bytes: u64,
    tensors: usize,
    children: std::collections::BTreeMap<String, ScopeNode>,
    leaf: Option<(String, String, u64)>,
}

fn inspect(file: &std::path::Path, verify: bool) -> CliResult {
    use varscope::gpu::checkpoint;
    let info = if verify { checkpoint::verify(file)? } else { checkpoint::inspect(file)? };
    let mut root = ScopeNode::default();
    for t in &info.tensors {
        let dtype = t.dtype().map(|d| d.name().to_string()).unwrap_or_else(|| format!("{:?}", t.stored_dtype));
        let shape = varscope::Shape::new(&t.shape).to_string();
        let mut node = &mut root;
        node.bytes += t.bytes;
        node.tensors += 1;
        for part in t.name.split('/') {
            node = node.children.entry(part.to_string()).or_default();
            node.bytes += t.bytes;
            node.tensors += 1;
        }
        node.leaf = Some((dtype, shape, t.bytes));
    }
    println!(
        "{}: {} tensors, {} ({} on disk){}{}",
        file.display(),
        root.tensors,
        human_bytes(root.bytes),
        human_bytes(info.file_bytes),
        info.graph_seed.map(|s| format!(", graph seed {s}")).unwrap_or_default(),
        if verify { ", checksums verified" } else { "" }
    );
    print_scope(&root, 0);
    Ok(())
}

fn print_scope(node: &ScopeNode, depth: usize) {
    for (name, child) in &node.children {
        let indent = "  ".repeat(depth);
        if let Some((dtype, shape, bytes)) = &child.leaf {
            println!("{indent}{name:<32} {dtype:<9} {shape:<16} {}", human_bytes(*bytes));
        }
        if !child.children.is_empty() {
            let label = format!("{name}/");
            println!("{indent}{label:<32} {:<26} {}  ({} tensors)", "", human_bytes(child.bytes), child.tensors);
            print_scope(child, depth + 1);
        }
    }
}
