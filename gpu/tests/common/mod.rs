//! Shared harness of the GPU test suites: one list of targets (`/cpu:0` and every
//! adapter), loud skips, and `VARSCOPE_REQUIRE_GPU=1` enforcement.
#![allow(dead_code)]

use varscope_core::{Graph, VarRef, Variable};
use varscope_gpu::{Session, SessionOptions};

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

/// Whether `VARSCOPE_REQUIRE_GPU=1`.
pub fn require_gpu() -> bool {
    std::env::var("VARSCOPE_REQUIRE_GPU").is_ok_and(|v| v == "1")
}

/// Prints past libtest's output capture (which only intercepts the print macros), so
/// a skip is visible even when the test passes.
pub fn loud(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// Every device of a default session: `/cpu:0` first, then the adapters.
pub fn all_targets() -> Vec<Target> {
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

/// The GPU targets. With none: prints `SKIP: no GPU adapter` (and fails under
/// `VARSCOPE_REQUIRE_GPU=1`).
pub fn gpu_targets(test: &str) -> Vec<Target> {
    let t: Vec<Target> = all_targets().into_iter().filter(|t| t.device != "/cpu:0").collect();
    if t.is_empty() {
        assert!(!require_gpu(), "{test}: VARSCOPE_REQUIRE_GPU=1 but no GPU adapter was found: zero GPU cases ran");
        loud(&format!("SKIP: no GPU adapter ({test} ran on /cpu:0 only)"));
    }
    t
}

/// `/cpu:0` and every GPU target (skips loudly / fails as [`gpu_targets`]).
pub fn targets(test: &str) -> Vec<Target> {
    let mut t = vec![all_targets().remove(0)];
    t.extend(gpu_targets(test));
    t
}

/// Session options for tests.
pub fn opts() -> SessionOptions {
    SessionOptions::default()
}

/// The single variable of a `get_variable` result.
pub fn var(r: VarRef) -> Variable {
    r.variable().expect("a single variable").clone()
}

/// Counts GPU cases run, and fails at the end under `VARSCOPE_REQUIRE_GPU=1` if none did.
pub struct GpuCases {
    test: &'static str,
    n: usize,
}

impl GpuCases {
    /// Starts counting.
    pub fn new(test: &'static str) -> Self {
        GpuCases { test, n: 0 }
    }
    /// Records a case on `t` (counts only GPU targets).
    pub fn ran(&mut self, t: &Target) {
        if t.device != "/cpu:0" {
            self.n += 1;
        }
    }
    /// Asserts that a GPU case ran when required.
    pub fn finish(self) {
        if require_gpu() {
            assert!(self.n > 0, "{}: VARSCOPE_REQUIRE_GPU=1 but zero GPU cases ran", self.test);
        } else if self.n == 0 {
            loud(&format!("SKIP: no GPU adapter ({}: zero GPU cases)", self.test));
        }
    }
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
