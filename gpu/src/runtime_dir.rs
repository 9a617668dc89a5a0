//! A private `XDG_RUNTIME_DIR` for processes that have none.
//!
//! Mesa's EGL (wgpu's GL backend) probes the Wayland platform on every device open, and
//! libwayland prints `error: XDG_RUNTIME_DIR is invalid or not set in the environment.`
//! to stderr each time the variable is unset or not an absolute path: in CI, cron jobs,
//! containers and `sudo` shells, users saw that line once per session or test. Before
//! the first adapter is enumerated, [`ensure`] points the variable at a directory only
//! this user can enter, so the driver finds a valid (empty) runtime directory and says
//! nothing. A variable that is already set to an absolute path is left alone.

use std::path::{Path, PathBuf};
use std::sync::Once;

const VAR: &str = "XDG_RUNTIME_DIR";

/// Sets `XDG_RUNTIME_DIR` to a private directory if it is unset or not absolute. Runs
/// once per process; later calls return at once.
///
/// Setting an environment variable races with C code reading the environment on other
/// threads. Every path that opens a wgpu adapter in this crate calls this first, and
/// the [`Once`] makes those callers wait until the write is done, so no driver thread of
/// ours reads the environment during it; it happens before the first instance exists.
pub(crate) fn ensure() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os(VAR).is_some_and(|v| Path::new(&v).is_absolute()) {
            return;
        }
        if let Some(dir) = private_dir() {
            std::env::set_var(VAR, dir);
        }
    });
}

/// `<tmp>/varscope-runtime-<uid>` (mode 0700, owned by this user, not a symlink), or a
/// per-process directory if that name is taken by something else; `None` if neither
/// can be made (the driver's message then remains, nothing else changes).
#[cfg(unix)]
fn private_dir() -> Option<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    // The owner of /proc/self is the process's effective user (Linux, the BSDs with
    // procfs); without procfs the per-process name below is used.
    let uid = std::fs::metadata("/proc/self").ok().map(|m| m.uid());
    let tmp = std::env::temp_dir();
    let ours = |p: &Path| {
        std::fs::symlink_metadata(p)
            .is_ok_and(|m| m.file_type().is_dir() && Some(m.uid()) == uid && m.permissions().mode() & 0o077 == 0)
    };
    let candidates = uid
        .map(|u| tmp.join(format!("varscope-runtime-{u}")))
        .into_iter()
        .chain(std::iter::once(tmp.join(format!("varscope-runtime-pid{}", std::process::id()))));
    for dir in candidates {
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Some(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && ours(&dir) => return Some(dir),
            Err(_) => continue,
        }
    }
    None
}

/// Only Mesa's EGL on Unix needs the variable.
#[cfg(not(unix))]
fn private_dir() -> Option<PathBuf> {
    None
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn private_dir_is_ours_and_closed_to_others() {
        use std::os::unix::fs::PermissionsExt;
        let dir = private_dir().expect("a private runtime dir can be made in the temp dir");
        assert!(dir.is_absolute(), "{}", dir.display());
        let m = std::fs::symlink_metadata(&dir).expect("it exists");
        assert!(m.is_dir());
        assert_eq!(m.permissions().mode() & 0o077, 0, "{}: open to others", dir.display());
        // Idempotent: the same directory the second time.
        assert_eq!(private_dir(), Some(dir));
    }
}
