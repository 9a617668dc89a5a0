//! The example's small version (`TrainConfig::small()`) on `/cpu:0` and on every GPU
//! adapter: the loss falls, the accuracy target is met, the GPU run follows the host
//! run, and one optimizer step is one fused dispatch plus one norm-constraint dispatch.
//! Each adapter passes or fails on its own; with no adapter the GPU cases skip loudly (and
//! fail under `VARSCOPE_REQUIRE_GPU=1`), through `varscope-test-support`.

use varscope_core::Graph;
use varscope_example_mlp::{run, Progress, TrainConfig, TrainReport, ACCURACY_TARGET};
use varscope_gpu::Session;
use varscope_test_support::{for_each_target, loud, TestTarget};

/// A device of a default session: its name and a label with adapter and backend.
struct Device {
    name: String,
    label: String,
}

impl TestTarget for Device {
    fn label(&self) -> String {
        self.label.clone()
    }
    fn is_gpu(&self) -> bool {
        self.name != "/cpu:0"
    }
}

/// Every device of a default session, `/cpu:0` first.
fn devices() -> Vec<Device> {
    let g = Graph::new();
    let s = Session::new(&g).expect("session");
    s.devices()
        .iter()
        .map(|d| {
            let backend = d.backend.map(|b| format!("{b:?}")).unwrap_or_else(|| "host".into());
            Device { name: d.name.clone(), label: format!("{} ({}, {backend})", d.name, d.adapter_name) }
        })
        .collect()
}

fn check(label: &str, r: &TrainReport) {
    let first = r.losses.first().expect("losses").1;
    let last = r.losses.last().expect("losses").1;
    assert!(first.is_finite() && last.is_finite(), "{label}: loss not finite: {:?}", r.losses);
    assert!(last < 0.25 * first, "{label}: loss did not fall enough: {first} -> {last} ({:?})", r.losses);
    assert!(r.accuracy >= ACCURACY_TARGET, "{label}: accuracy {} below the target {ACCURACY_TARGET}", r.accuracy);
    assert!(r.regularization_loss > 0.0, "{label}: no regularization loss");
    assert_eq!(r.variables.len(), 7, "{label}: {:?}", r.variables);
    assert!(r.variables.contains(&"hidden/kernel/part_1".to_string()), "{label}: {:?}", r.variables);
}

#[test]
fn small_training_run_meets_the_accuracy_target_on_every_device() {
    let devs = devices();
    let mut events = Vec::new();
    let host = run(&TrainConfig { device: Some("/cpu:0".into()), ..TrainConfig::small() }, |p| events.push(p))
        .expect("/cpu:0 run");
    check("/cpu:0 (host)", &host);
    // Progress: the device first, every measured loss as reported, every step once.
    assert_eq!(
        events.first(),
        Some(&Progress::Device { name: "/cpu:0".into(), adapter: "host".into(), backend: None })
    );
    let losses: Vec<(usize, f32)> = events
        .iter()
        .filter_map(|p| if let Progress::Loss { step, loss } = p { Some((*step, *loss)) } else { None })
        .collect();
    assert_eq!(losses, host.losses);
    let steps = events.iter().filter(|p| matches!(p, Progress::Step { .. })).count();
    assert_eq!(steps, TrainConfig::small().steps);
    assert_eq!(host.optimizer_dispatches, 0);
    let gpus = devs.into_iter().filter(|d| d.is_gpu());
    for_each_target("small_training_run_meets_the_accuracy_target_on_every_device", gpus, |d| {
        let label = &d.label;
        let r = run(&TrainConfig { device: Some(d.name.clone()), ..TrainConfig::small() }, |_| {})
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        check(label, &r);
        assert_eq!(r.optimizer_dispatches, 2, "{label}: one fused update dispatch + one norm dispatch");
        // Same data, same initial values, same math: the GPU curve follows the host's
        // (f32 sums in another order; tolerance 2% of the loss + 1e-3).
        assert_eq!(r.losses.len(), host.losses.len(), "{label}");
        for ((s, g), (_, h)) in r.losses.iter().zip(&host.losses) {
            assert!((g - h).abs() <= 0.02 * h.abs() + 1e-3, "{label}: loss at step {s}: {g}, host {h}");
        }
        loud(&format!(
            "{label}: accuracy {:.3}, loss {:.4} -> {:.4}",
            r.accuracy,
            r.losses[0].1,
            r.losses.last().unwrap().1
        ));
    });
}
