//! A real training loop on varscope variables: `cargo run --release --example train`
//! (add `-- /cpu:0` or `-- /gpu:1` to pick the device; default: the session's default
//! device). The model, data and kernels are described in `varscope::train`; this
//! program prints the loss as it falls and the final accuracy against the target.

use varscope::train::{run, TrainConfig, ACCURACY_TARGET};

fn main() {
    let mut config = TrainConfig::default();
    if let Some(device) = std::env::args().nth(1) {
        config.device = Some(device);
    }
    let report = match run(&config, |step, loss| println!("step {step:4}  loss {loss:.4}")) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("training failed: {e}");
            std::process::exit(1);
        }
    };
    println!("device {} ({})", report.device, report.adapter);
    println!("variables: {}", report.variables.join(", "));
    println!("optimizer dispatches per step: {}", report.optimizer_dispatches);
    println!("regularization loss: {:.6}", report.regularization_loss);
    println!("accuracy {:.3} (target {ACCURACY_TARGET})", report.accuracy);
    if report.accuracy < ACCURACY_TARGET {
        eprintln!("accuracy below target");
        std::process::exit(2);
    }
}
