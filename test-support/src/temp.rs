//! A fresh directory for one test.

use std::path::{Path, PathBuf};

/// A fresh directory for one test, named `varscope-<test>-…` under the system's temporary
/// directory and removed when dropped.
pub struct TempDir(tempfile::TempDir);

impl TempDir {
    /// Creates the directory (panics if it cannot: a test precondition).
    pub fn new(test: &str) -> Self {
        let dir = tempfile::Builder::new().prefix(&format!("varscope-{test}-")).tempdir();
        TempDir(dir.unwrap_or_else(|e| panic!("temporary directory for {test}: {e}")))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        self.0.path()
    }

    /// `name` inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }

    /// The names in the directory, sorted.
    pub fn entries(&self) -> Vec<String> {
        let read = std::fs::read_dir(self.dir()).unwrap_or_else(|e| panic!("{}: {e}", self.dir().display()));
        let mut v: Vec<String> = read
            .map(|e| e.unwrap_or_else(|e| panic!("{}: {e}", self.dir().display())))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temp_dir_is_named_lists_its_entries_and_is_removed() {
        let t = TempDir::new("support");
        let dir = t.dir().to_path_buf();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("varscope-support-"), "{name}");
        std::fs::write(t.path("b"), b"").unwrap();
        std::fs::write(t.path("a"), b"").unwrap();
        assert_eq!(t.entries(), ["a", "b"]);
        drop(t);
        assert!(!dir.exists());
    }
}
