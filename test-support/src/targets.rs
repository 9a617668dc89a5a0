//! Running one test body on every target, with a report per target.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::policy::{gpu_required, loud, verdict};

/// A device a test runs on: `/cpu:0`, a session's `/gpu:N`, or an adapter a test opened.
pub trait TestTarget {
    /// The name in PASS/FAIL lines and failure messages (device, adapter, backend).
    fn label(&self) -> String;
    /// Whether this is a GPU adapter (counted by the `VARSCOPE_REQUIRE_GPU` policy).
    fn is_gpu(&self) -> bool;
}

/// Targets borrowed from a list the test keeps (`all.iter().filter(..)`).
impl<T: TestTarget + ?Sized> TestTarget for &T {
    fn label(&self) -> String {
        (**self).label()
    }
    fn is_gpu(&self) -> bool {
        (**self).is_gpu()
    }
}

/// What [`run_targets`] saw: which targets passed, which failed with what message, and
/// the `VARSCOPE_REQUIRE_GPU` policy's verdict.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The test's name.
    pub test: String,
    /// Labels of the targets whose body returned.
    pub passed: Vec<String>,
    /// Label and panic message of each target whose body panicked, in order.
    pub failed: Vec<(String, String)>,
    /// How many of the targets were GPU adapters.
    pub gpus: usize,
    /// The policy's failure when a GPU was required and none was among the targets.
    pub policy_failure: Option<String>,
}

impl Report {
    /// The test's failure message, naming every failing target with its message (and
    /// the policy's failure), or `None` when the test passed.
    pub fn failure(&self) -> Option<String> {
        if self.failed.is_empty() {
            return self.policy_failure.clone();
        }
        let total = self.passed.len() + self.failed.len();
        let mut msg = format!("{}: {} of {total} targets failed", self.test, self.failed.len());
        for (label, message) in &self.failed {
            // Continuation lines (assert_eq's left/right) indented under their target.
            msg.push_str(&format!("\n  FAIL [{label}]: {}", message.replace('\n', "\n    ")));
        }
        if let Some(p) = &self.policy_failure {
            msg.push_str(&format!("\n  {p}"));
        }
        Some(msg)
    }
}

/// The text of a panic payload (`panic!` gives a `&str` or a `String`).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// Runs `body` on every target, each under `catch_unwind` so that a failure on one
/// target does not hide the others, printing `PASS`/`FAIL <test> [<label>]` per target,
/// and applies the GPU policy with `gpu_required` given (no GPU among the targets: a
/// printed SKIP line, or a policy failure when required). Returns the report; it does
/// not panic. [`for_each_target`] is the form tests use.
pub fn run_targets<T: TestTarget>(
    test: &str,
    targets: impl IntoIterator<Item = T>,
    gpu_required: bool,
    mut body: impl FnMut(&T),
) -> Report {
    let mut report =
        Report { test: test.to_string(), passed: Vec::new(), failed: Vec::new(), gpus: 0, policy_failure: None };
    for target in targets {
        let label = target.label();
        if target.is_gpu() {
            report.gpus += 1;
        }
        match catch_unwind(AssertUnwindSafe(|| body(&target))) {
            Ok(()) => {
                loud(&format!("PASS {test} [{label}]"));
                report.passed.push(label);
            }
            Err(payload) => {
                let message = panic_message(payload.as_ref());
                loud(&format!("FAIL {test} [{label}]: {message}"));
                report.failed.push((label, message));
            }
        }
    }
    match verdict(test, report.gpus, gpu_required) {
        Err(failure) => report.policy_failure = Some(failure),
        Ok(Some(skip)) => loud(&skip),
        Ok(None) => {}
    }
    report
}

/// Runs `body` on every target (`/cpu:0` and every adapter, or whatever list the test
/// gives): a failure on one target does not stop the others; one PASS/FAIL line is
/// printed per target; at the end the test panics naming every failing target with its
/// message. With no GPU among the targets the test fails under `VARSCOPE_REQUIRE_GPU=1`
/// and otherwise prints why its GPU part was skipped.
pub fn for_each_target<T: TestTarget>(test: &str, targets: impl IntoIterator<Item = T>, body: impl FnMut(&T)) {
    let report = run_targets(test, targets, gpu_required(), body);
    if let Some(failure) = report.failure() {
        panic!("{failure}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A target that is only a name.
    struct Fake(&'static str, bool);

    impl TestTarget for Fake {
        fn label(&self) -> String {
            self.0.to_string()
        }
        fn is_gpu(&self) -> bool {
            self.1
        }
    }

    fn fakes() -> Vec<Fake> {
        vec![Fake("/cpu:0", false), Fake("/gpu:0 (a)", true), Fake("/gpu:1 (b)", true), Fake("/gpu:2 (c)", true)]
    }

    #[test]
    fn a_failure_on_the_first_target_still_runs_the_later_ones() {
        let mut ran = Vec::new();
        let report = run_targets("t", fakes(), true, |f| {
            ran.push(f.0);
            match f.0 {
                "/cpu:0" => panic!("first broke"),
                "/gpu:1 (b)" => panic!("{} broke too", f.0),
                _ => {}
            }
        });
        assert_eq!(ran, ["/cpu:0", "/gpu:0 (a)", "/gpu:1 (b)", "/gpu:2 (c)"]);
        assert_eq!(report.passed, ["/gpu:0 (a)", "/gpu:2 (c)"]);
        assert_eq!(
            report.failed,
            [("/cpu:0".to_string(), "first broke".to_string()), ("/gpu:1 (b)".into(), "/gpu:1 (b) broke too".into())]
        );
        assert_eq!(report.gpus, 3);
        let msg = report.failure().expect("the test fails");
        assert!(msg.starts_with("t: 2 of 4 targets failed"), "{msg}");
        assert!(msg.contains("FAIL [/cpu:0]: first broke"), "{msg}");
        assert!(msg.contains("FAIL [/gpu:1 (b)]: /gpu:1 (b) broke too"), "{msg}");
        assert!(!msg.contains("(a)") && !msg.contains("(c)"), "only failing targets are named: {msg}");
    }

    #[test]
    fn for_each_target_panics_naming_every_failing_target() {
        let mut ran = 0;
        let payload = catch_unwind(AssertUnwindSafe(|| {
            for_each_target("u", fakes(), |f| {
                ran += 1;
                assert!(f.is_gpu(), "the host is not a GPU");
                assert_ne!(f.0, "/gpu:2 (c)", "c is wrong");
            })
        }))
        .expect_err("two targets failed");
        assert_eq!(ran, 4);
        let msg = panic_message(payload.as_ref());
        assert!(msg.starts_with("u: 2 of 4 targets failed"), "{msg}");
        assert!(msg.contains("[/cpu:0]: the host is not a GPU"), "{msg}");
        assert!(msg.contains("[/gpu:2 (c)]: assertion `left != right` failed: c is wrong"), "{msg}");
        assert!(msg.contains("c is wrong\n      left: \"/gpu:2 (c)\""), "continuation lines indented: {msg}");
    }

    #[test]
    fn all_passing_is_no_failure() {
        let report = run_targets("t", fakes(), true, |_| {});
        assert_eq!(report.passed.len(), 4);
        assert_eq!(report.failure(), None);
    }

    #[test]
    fn no_gpu_target_fails_only_when_a_gpu_is_required() {
        let host = || vec![Fake("/cpu:0", false)];
        let report = run_targets("t", host(), false, |_| {});
        assert_eq!((report.gpus, report.failure()), (0, None));
        let report = run_targets("t", host(), true, |_| {});
        let msg = report.failure().expect("required GPU missing");
        assert!(msg.contains("VARSCOPE_REQUIRE_GPU=1 but no GPU adapter"), "{msg}");
        // No targets at all (a GPU-only list on a machine without adapters).
        let report = run_targets("t", Vec::<Fake>::new(), true, |_| unreachable!());
        assert_eq!(report.failure(), Some(msg));
        // Failures and the policy together: both are reported.
        let report = run_targets("t", host(), true, |_| panic!("broken"));
        let msg = report.failure().expect("fails");
        assert!(
            msg.starts_with("t: 1 of 1 targets failed\n  FAIL [/cpu:0]: broken\n  t: VARSCOPE_REQUIRE_GPU=1"),
            "{msg}"
        );
    }

    #[test]
    fn non_string_payloads_are_reported() {
        let report = run_targets("t", vec![Fake("x", true)], false, |_| std::panic::panic_any(7u8));
        assert_eq!(report.failed, [("x".to_string(), "a panic without a message".to_string())]);
    }
}
