//! A real training loop on varscope variables: `cargo run --release --example train`
//! (add `-- /cpu:0` or `-- /gpu:1` to pick the device; default: the session's default
//! device). The model, data and kernels are the example crate `varscope-example-mlp`
//! (`examples/mlp/`); this program prints the loss as it falls and the final accuracy
//! against the target. Exit status: 0 when the target is met, 1 on an error, 3 when
//! training finished below the target (the same codes as `varscope train`).

use varscope_example_mlp::{run, Progress, TrainConfig, ACCURACY_TARGET};

fn main() -> std::process::ExitCode {
    let mut config = TrainConfig::default();
    if let Some(device) = std::env::args().nth(1) {
        config.device = Some(device);
    }
    let report = match run(&config, |p| match p {
        Progress::Device { name, adapter, backend } => {
            let backend = backend.map(|b| format!("{b:?}")).unwrap_or_else(|| "host".into());
            println!("training on {name} ({adapter}, {backend})");
        }
        Progress::Loss { step, loss } => println!("step {step:4}  loss {loss:.4}"),
        Progress::Step { .. } => {}
    }) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("training failed: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("variables: {}", report.variables.join(", "));
    println!("optimizer dispatches per step: {}", report.optimizer_dispatches);
    println!("regularization loss: {:.6}", report.regularization_loss);
    println!("accuracy {:.3} (target {ACCURACY_TARGET})", report.accuracy);
    if report.accuracy < ACCURACY_TARGET {
        eprintln!("accuracy below target");
        return std::process::ExitCode::from(3);
    }
    std::process::ExitCode::SUCCESS
}
