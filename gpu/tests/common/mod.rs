//! The session-typed part of the GPU test suites' harness: the list of targets
//! (`/cpu:0` and every adapter, named as a session names them) and small helpers. The
//! `VARSCOPE_REQUIRE_GPU` policy, per-target reports and temporary directories come from
//! `varscope-test-support`.
#![allow(dead_code)]

use varscope_core::{Graph, VarRef, Variable};
use varscope_gpu::{Session, SessionOptions};
#[allow(unused_imports)] // each test file uses some of them
pub use varscope_test_support::{for_each_target, have_gpus, loud, TempDir, TestTarget};

/// A device the suite runs on.
#[derive(Clone, Debug)]
pub struct Target {
    /// `/cpu:0`, `/gpu:N`.
    pub device: String,
    /// Device plus adapter and backend, for failure messages.
    pub label: String,
    /// Adapter supports 64-bit floats.
    pub f64: bool,
    /// Adapter supports 64-bit ints.
    pub i64: bool,
}

/// Every device of a default session: `/cpu:0` first, then the adapters.
pub fn targets() -> Vec<Target> {
    let g = Graph::new();
    let s = Session::new(&g).expect("session");
    s.devices()
        .iter()
        .map(|d| Target {
            device: d.name.clone(),
            label: format!(
                "{} ({}, {})",
                d.name,
                d.adapter_name,
                d.backend.map(|b| format!("{b:?}")).unwrap_or_else(|| "host".into())
            ),
            f64: d.shader_f64,
            i64: d.shader_i64,
        })
        .collect()
}

impl TestTarget for Target {
    fn label(&self) -> String {
        self.label.clone()
    }
    fn is_gpu(&self) -> bool {
        self.device != "/cpu:0"
    }
}

/// The GPU targets (an empty list when there is no adapter: [`for_each_target`] then
/// applies the `VARSCOPE_REQUIRE_GPU` policy).
pub fn gpu_targets() -> Vec<Target> {
    targets().into_iter().filter(|t| t.device != "/cpu:0").collect()
}

/// Session options for tests: new variable memory filled with 0xff bytes (a NaN in
/// every float dtype), so a value no initializer, assign or restore wrote shows up.
pub fn opts() -> SessionOptions {
    SessionOptions::default().debug_fill(Some(0xff))
}

/// The single variable of a `get_variable` result.
pub fn var(r: VarRef) -> Variable {
    r.variable().expect("a single variable").clone()
}

/// The host reference values of a variable (canonical bytes).
pub fn reference_bytes(v: &Variable) -> Vec<u8> {
    varscope_core::reference::initial_bytes(v).expect("reference initial bytes")
}

/// Distance in units in the last place between two floats of the same width (bit
/// patterns given widened to u64), for float16/bfloat16/float32/float64.
pub fn ulp_distance(dtype: varscope_core::DType, a: u64, b: u64) -> u64 {
    use varscope_core::DType;
    let bits = match dtype {
        DType::Float16 | DType::BFloat16 => 16,
        DType::Float32 => 32,
        _ => 64,
    };
    let sign = 1u64 << (bits - 1);
    let key = |x: u64| -> i128 {
        if x & sign != 0 {
            -((x & !sign) as i128)
        } else {
            x as i128
        }
    };
    (key(a) - key(b)).unsigned_abs() as u64
}
