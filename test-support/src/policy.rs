//! The `VARSCOPE_REQUIRE_GPU` policy: the one place that reads the variable.

use std::io::Write;

/// The environment variable that makes a missing GPU adapter a test failure (CI sets it
/// to `1` after installing Mesa's lavapipe).
pub const REQUIRE_GPU: &str = "VARSCOPE_REQUIRE_GPU";

/// Whether `VARSCOPE_REQUIRE_GPU=1`.
pub fn gpu_required() -> bool {
    std::env::var(REQUIRE_GPU).is_ok_and(|v| v == "1")
}

/// Prints past libtest's output capture (which only intercepts the print macros), so a
/// skip or a per-target line is visible even when the test passes.
pub fn loud(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// The policy's verdict on `gpus` GPU targets found by `test`, as a message: `Ok(None)`
/// when there are some, `Ok(Some(skip line))` when there are none and none is required,
/// `Err(failure)` when there are none and one is required.
pub(crate) fn verdict(test: &str, gpus: usize, required: bool) -> Result<Option<String>, String> {
    match (gpus, required) {
        (0, true) => Err(format!("{test}: {REQUIRE_GPU}=1 but no GPU adapter was found: zero GPU cases ran")),
        (0, false) => Ok(Some(format!("SKIP: no GPU adapter ({test}: GPU cases not run)"))),
        _ => Ok(None),
    }
}

/// Applies the policy to `gpus` GPU targets found by `test`: returns whether there are
/// any. With none it panics under `VARSCOPE_REQUIRE_GPU=1`, and otherwise prints a SKIP
/// line naming the test (so the caller skips its GPU part).
pub fn have_gpus(test: &str, gpus: usize) -> bool {
    match verdict(test, gpus, gpu_required()) {
        Err(failure) => panic!("{failure}"),
        Ok(Some(skip)) => {
            loud(&skip);
            false
        }
        Ok(None) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_gpu_fails_only_when_required() {
        let e = verdict("t", 0, true).unwrap_err();
        assert!(e.contains("t: VARSCOPE_REQUIRE_GPU=1") && e.contains("no GPU adapter"), "{e}");
        let skip = verdict("t", 0, false).unwrap().expect("a skip line");
        assert!(skip.starts_with("SKIP") && skip.contains("(t:"), "{skip}");
        assert_eq!(verdict("t", 2, true), Ok(None));
        assert_eq!(verdict("t", 1, false), Ok(None));
    }

    #[test]
    fn have_gpus_is_true_with_gpus_whatever_the_environment() {
        assert!(have_gpus("t", 1));
    }
}
