//! The `varscope` command: list devices, benchmark, inspect checkpoints, train the
//! example model.
//!
//! Output: results on stdout; progress, the device in use and why, and errors on
//! stderr. Exit status: see [`EXIT_STATUS`].

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use serde_json::json;
use varscope::bench::backend_name;
use varscope::gpu::{DeviceInfo, Session};
use varscope::Graph;

mod cmd {
    pub mod bench;
    pub mod train;
}

/// Exit status of a run that failed: one `error: ...` line on stderr.
const EXIT_ERROR: u8 = 1;
/// Exit status of `varscope train` when training finished below the accuracy target.
const EXIT_BELOW_TARGET: u8 = 3;

/// The exit codes, as `--help` shows them.
const EXIT_STATUS: &str = "Exit status:
  0  success
  1  an error (one line starting with 'error:' on stderr)
  2  invalid command line or argument out of range
  3  train: training finished but the accuracy is below the target (0.95)";

/// The environment variable wgpu reads to pick backends.
const BACKEND_ENV: &str = "WGPU_BACKEND";

mod tf_cli;

#[derive(Parser)]
#[command(
    name = "varscope",
    version,
    about = "TensorFlow 1.x variable scopes over wgpu GPU buffers",
    after_help = EXIT_STATUS
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List every device (/gpu:N per wgpu adapter, and /cpu:0) with its limits.
    #[command(after_help = ENV_HELP)]
    Devices {
        /// One JSON object per device.
        #[arg(long)]
        json: bool,
    },
    /// Run a benchmark and print each figure (GB/s also as a ratio to buffer fill).
    #[command(after_help = ENV_HELP)]
    Bench {
        /// What to measure.
        what: BenchKind,
        /// Device to run on (any TensorFlow spelling); default: every device.
        #[arg(long)]
        device: Option<String>,
        /// Elements per variable (init, update: 1 to 67108864; default 4194304) or
        /// variables to create (scopes: 1 to 1000000; default 100000).
        #[arg(long)]
        size: Option<u64>,
        /// One JSON object per figure.
        #[arg(long)]
        json: bool,
        /// No progress on stderr (figures are still printed).
        #[arg(long)]
        quiet: bool,
    },
    /// Show a checkpoint's variables as a scope tree with shapes, dtypes, bytes and totals.
    Inspect {
        /// The safetensors file, or a TensorFlow checkpoint (prefix, .index, or directory).
        file: std::path::PathBuf,
        /// Also verify every tensor's checksum (CRC32C for a TensorFlow checkpoint).
        #[arg(long)]
        verify: bool,
    },
    /// Convert between a TensorFlow checkpoint and a .safetensors file (by DST's extension).
    Convert {
        /// A TensorFlow checkpoint (prefix, .index, or directory) or a .safetensors file.
        src: std::path::PathBuf,
        /// A .safetensors file, or a TensorFlow checkpoint prefix to write.
        dst: std::path::PathBuf,
    },
    /// Train the example MLP (variables from scopes, WGSL forward/backward, Adam).
    ///
    /// Prints the loss every --log-every steps and the final accuracy on stdout; the
    /// device in use (and why) and a progress bar (only when stderr is a terminal) on
    /// stderr. Exits with status 3 if training finishes below the accuracy target.
    #[command(after_help = EXIT_STATUS)]
    Train {
        /// Device to train on; default: VARSCOPE_DEFAULT_DEVICE, else /gpu:0, else /cpu:0.
        #[arg(long)]
        device: Option<String>,
        /// Optimizer steps (1 to 1000000).
        #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        steps: u64,
        /// Points per class of the synthetic data set (1 to 65535).
        #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u64).range(1..=65_535))]
        points: u64,
        /// Print the loss every this many steps (1 to 1000000).
        #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        log_every: u64,
        /// Write a checkpoint (safetensors) of every global variable to this file after
        /// training. The destination is checked before training starts.
        #[arg(long)]
        save: Option<std::path::PathBuf>,
        /// Print nothing but errors: no progress, device line, loss lines or summary
        /// (the exit status still tells the outcome).
        #[arg(long)]
        quiet: bool,
    },
}

/// The environment variables that choose devices, as `--help` shows them.
const ENV_HELP: &str = "Environment:
  WGPU_BACKEND             backends to use, comma-separated: vulkan, metal, dx12, gl
  VARSCOPE_DEFAULT_DEVICE  the default device (/cpu:0, /gpu:1, ...)
  VARSCOPE_DEBUG_FILL      a byte (0xff) written into new variable memory before use";

#[derive(Clone, Copy, ValueEnum)]
enum BenchKind {
    /// Initialization throughput per initializer, and batched creation of many variables.
    Init,
    /// One optimizer step (Adam) over one large and over 1,000 small variables.
    Update,
    /// Host-side scope resolution: get_variable create and reuse-lookup latency.
    Scopes,
    /// Checkpoint save and restore (safetensors): an MLP-sized model and 1,000 small
    /// variables.
    Checkpoint,
    /// Initialization of a 1.02-billion-parameter model (154 variables, 4.09 GB) on each GPU.
    Model,
}

/// The result of a command: `Ok(code)` for an exit status other than an error's.
type CliResult = Result<u8, Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(message) = check_arguments(&cli.command) {
        let mut app = Cli::command();
        app.build();
        let kind = clap::error::ErrorKind::ValueValidation;
        match app.find_subcommand_mut("bench") {
            Some(bench) => bench.error(kind, message).exit(),
            None => app.error(kind, message).exit(),
        }
    }
    let result = if matches!(cli.command, Command::Inspect { .. } | Command::Convert { .. }) {
        Ok(())
    } else {
        check_backend_env().and_then(|()| check_debug_fill_env()).map_err(Into::into)
    }
    .and_then(|()| run(cli.command));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn run(command: Command) -> CliResult {
    match command {
        Command::Devices { json } => devices(json).map(|()| 0),
        Command::Bench { what, device, size, json, quiet } => {
            cmd::bench::run(what, device.as_deref(), size, json, quiet).map(|()| 0)
        }
        Command::Inspect { file, verify } => inspect(&file, verify).map(|()| 0),
        Command::Convert { src, dst } => tf_cli::convert(&src, &dst).map(|()| 0),
        Command::Train { device, steps, points, log_every, save, quiet } => {
            let below = cmd::train::run(cmd::train::Args {
                device,
                steps: steps as usize,
                points: points as usize,
                log_every: log_every as usize,
                save,
                quiet,
            })?;
            Ok(if below { EXIT_BELOW_TARGET } else { 0 })
        }
    }
}

/// Checks the numeric arguments clap's value parsers cannot (ranges that depend on
/// another argument); `Err` is the message for a usage error (exit status 2, as clap's).
fn check_arguments(command: &Command) -> Result<(), String> {
    if let Command::Bench { what, size: Some(size), .. } = command {
        let (allowed, what) = match what {
            BenchKind::Scopes => (cmd::bench::SCOPES, "variables to create"),
            BenchKind::Init | BenchKind::Update => (varscope::bench::ELEMENTS, "elements per variable"),
            BenchKind::Checkpoint => return Err("bench checkpoint takes no --size".into()),
            BenchKind::Model => return Err("bench model takes no --size".into()),
        };
        if !allowed.contains(size) {
            return Err(format!(
                "invalid value '{size}' for '--size': {what} must be {} to {}",
                allowed.start(),
                allowed.end()
            ));
        }
    }
    Ok(())
}

/// Checks `WGPU_BACKEND`: wgpu skips names it does not know without a word, so a typo
/// would silently leave only `/cpu:0`. Every comma-separated name must be one wgpu knows.
fn check_backend_env() -> Result<(), String> {
    match std::env::var(BACKEND_ENV) {
        Err(std::env::VarError::NotPresent) => Ok(()),
        Err(std::env::VarError::NotUnicode(v)) => Err(format!("{BACKEND_ENV}={v:?} is not valid UTF-8")),
        Ok(v) => parse_backends(&v).map(|_| ()),
    }
}

/// Checks `VARSCOPE_DEBUG_FILL`: sessions ignore a value that is not a byte, so the
/// command says so instead of running without the fill that was asked for.
fn check_debug_fill_env() -> Result<(), String> {
    let name = varscope::gpu::DEBUG_FILL_ENV;
    match std::env::var(name) {
        Err(std::env::VarError::NotPresent) => Ok(()),
        Err(std::env::VarError::NotUnicode(v)) => Err(format!("{name}={v:?} is not valid UTF-8")),
        Ok(v) if varscope::gpu::parse_debug_fill(&v).is_some() => Ok(()),
        Ok(v) => Err(format!("{name}={v:?} is not a byte: give 0 to 255, or 0x00 to 0xff")),
    }
}

/// Parses a `WGPU_BACKEND` value strictly (the names of `wgpu::Backends::from_comma_list`).
fn parse_backends(value: &str) -> Result<wgpu::Backends, String> {
    const KNOWN: &str = "vulkan (vk), metal (mtl), dx12 (d3d12), gl (gles, opengl), webgpu, noop";
    let mut backends = wgpu::Backends::empty();
    for name in value.split(',') {
        backends |= match name.trim().to_lowercase().as_str() {
            "vulkan" | "vk" => wgpu::Backends::VULKAN,
            "metal" | "mtl" => wgpu::Backends::METAL,
            "dx12" | "d3d12" => wgpu::Backends::DX12,
            "gl" | "gles" | "opengl" => wgpu::Backends::GL,
            "webgpu" => wgpu::Backends::BROWSER_WEBGPU,
            "noop" => wgpu::Backends::NOOP,
            "" if value.trim().is_empty() => {
                return Err(format!("{BACKEND_ENV} is set but empty; unset it, or name backends: {KNOWN}"))
            }
            other => {
                return Err(format!("{BACKEND_ENV}={value:?}: unknown backend {other:?}; known backends: {KNOWN}"))
            }
        };
    }
    Ok(backends)
}

/// A device as printed everywhere: `/gpu:0 (llvmpipe (LLVM 15.0.6, 256 bits), Vulkan)`.
fn device_label(d: &DeviceInfo) -> String {
    if d.is_cpu() {
        format!("{} (host)", d.name)
    } else {
        format!("{} ({}, {})", d.name, d.adapter_name, backend_name(d.backend))
    }
}

fn devices(as_json: bool) -> Result<(), Box<dyn std::error::Error>> {
    let g = Graph::new();
    let s = Session::new(&g)?;
    for d in s.devices() {
        let backend = backend_name(d.backend);
        if as_json {
            println!(
                "{}",
                json!({
                    "name": d.name, "backend": backend, "adapter": d.adapter_name, "driver": d.driver,
                    "type": format!("{:?}", d.device_type), "max_buffer_size": d.max_buffer_size,
                    "max_storage_buffer_binding_size": d.max_storage_buffer_binding_size,
                    "memory_limit": d.memory_limit, "shader_f16": d.shader_f16, "shader_f64": d.shader_f64,
                    "shader_i64": d.shader_i64, "exact_spirv": d.exact_spirv, "bytes_in_use": d.bytes_in_use(),
                    "default": d.name == s.default_device().name,
                })
            );
        } else {
            let mark = if d.name == s.default_device().name { " (default)" } else { "" };
            println!("{}{mark}", device_label(d));
            println!("  backend:      {backend}");
            println!("  adapter:      {} [{:?}, {backend}]", d.adapter_name, d.device_type);
            if !d.driver.is_empty() {
                println!("  driver:       {}", d.driver);
            }
            println!("  max buffer:   {}", human_bytes(d.max_buffer_size));
            println!("  max binding:  {}", human_bytes(d.max_storage_buffer_binding_size));
            println!("  features:     f16={} f64={} i64={}", d.shader_f16, d.shader_f64, d.shader_i64);
            if d.backend.is_some() {
                let how = if d.exact_spirv { "SPIR-V with NoContraction" } else { "WGSL with fences" };
                println!("  exact math:   {how}");
            }
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
        let msg = no_gpu_message();
        if as_json {
            println!("{}", json!({ "warning": msg }));
        } else {
            println!("\n{msg}");
        }
    }
    Ok(())
}

/// What to say when no adapter was found (naming `WGPU_BACKEND` when it narrowed the search).
fn no_gpu_message() -> String {
    let narrowed = std::env::var(BACKEND_ENV).map(|v| format!(" with {BACKEND_ENV}={v}")).unwrap_or_default();
    format!(
        "no GPU adapter found{narrowed}: variables go to /cpu:0. Install a GPU driver, or Mesa's \
         software Vulkan driver (Debian/Ubuntu: apt-get install mesa-vulkan-drivers)."
    )
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
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
}

/// A node of the scope tree: its tensors' bytes and count, including sub-scopes.
#[derive(Default)]
struct ScopeNode {
    bytes: u64,
    tensors: usize,
    children: std::collections::BTreeMap<String, ScopeNode>,
    leaf: Option<(String, String, u64)>,
}

fn inspect(file: &std::path::Path, verify: bool) -> Result<(), Box<dyn std::error::Error>> {
    if varscope_format::tf::is_tf_checkpoint(file) {
        return tf_cli::inspect(file, verify);
    }
    use varscope::gpu::checkpoint::{self, ChecksumStatus};
    let (info, verified) = if verify {
        let report = checkpoint::verify(file)?;
        let verified = match report.checksums {
            ChecksumStatus::Verified { tensors } => format!(", {tensors} checksums verified"),
            ChecksumStatus::NotRecorded => {
                ", no checksums to verify (the file has none; sizes and bool values checked)".to_string()
            }
        };
        (report.info, verified)
    } else {
        (checkpoint::inspect(file)?, String::new())
    };
    let mut root = ScopeNode::default();
    for t in &info.tensors {
        let dtype = t.dtype().map(|d| d.name().to_string()).unwrap_or_else(|| t.stored_dtype.code().to_string());
        let shape = varscope::Shape::new(&t.shape).to_string();
        let mut node = &mut root;
        node.bytes += t.bytes;
        node.tensors += 1;
        // Names are printed with control characters escaped (a name may hold a newline).
        for part in t.name.split('/') {
            node = node.children.entry(part.to_string()).or_default();
            node.bytes += t.bytes;
            node.tensors += 1;
        }
        node.leaf = Some((dtype, shape, t.bytes));
    }
    println!(
        "{}: {} tensors, {} ({} on disk){}{verified}",
        printable(&file.display().to_string()),
        root.tensors,
        human_bytes(root.bytes),
        human_bytes(info.file_bytes),
        info.graph_seed.map(|s| format!(", graph seed {s}")).unwrap_or_default(),
    );
    print_scope(&root, 0);
    Ok(())
}

/// `text` with control characters escaped (`\n`, `\u{1b}`), so a tensor or file name
/// cannot break the listing's lines or drive the terminal.
fn printable(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { c.escape_debug().to_string() } else { c.to_string() }).collect()
}

fn print_scope(node: &ScopeNode, depth: usize) {
    for (name, child) in &node.children {
        let indent = "  ".repeat(depth);
        let name = printable(name);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names_parse_strictly() {
        assert_eq!(parse_backends("vulkan"), Ok(wgpu::Backends::VULKAN));
        assert_eq!(parse_backends(" GL , vk"), Ok(wgpu::Backends::GL | wgpu::Backends::VULKAN));
        for bad in ["bogus", "vulkan,bogus", "", "  ", "vulkan,"] {
            assert!(parse_backends(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse_backends("bogus").unwrap_err().contains("unknown backend \"bogus\""));
    }

    #[test]
    fn control_characters_print_escaped() {
        assert_eq!(printable("a/b c"), "a/b c");
        assert_eq!(printable("a\nb\u{1b}[2J\t"), "a\\nb\\u{1b}[2J\\t");
    }
}
