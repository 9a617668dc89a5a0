//! The facade's one error type: every crate's error enum, with `#[from]`, so one `?`
//! works across graph, session, training and checkpoint calls.

use varscope_core::PyErrorKind;
use varscope_gpu::checkpoint::CheckpointError;
use varscope_gpu::{GpuError, OptimError};

/// Any error varscope returns. `Display` is the wrapped error's own text (TensorFlow's
/// message where the catalogue gives one).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Scopes, names, the variable store (`varscope-core`).
    #[error(transparent)]
    Graph(#[from] varscope_core::Error),
    /// Devices, memory, reads and writes, kernels (`varscope-gpu`).
    #[error(transparent)]
    Gpu(#[from] GpuError),
    /// Training and updates.
    #[error(transparent)]
    Optim(#[from] OptimError),
    /// Checkpoint files.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

impl Error {
    /// TensorFlow's exception class for errors of the graph (`ValueError`, `TypeError`,
    /// `RuntimeError`), wherever they were raised; `None` for errors TensorFlow has no
    /// Python class for (device, file and kernel errors).
    pub fn kind(&self) -> Option<PyErrorKind> {
        let graph = |e: &GpuError| match e {
            GpuError::Core(c) => Some(c.kind()),
            _ => None,
        };
        match self {
            Error::Graph(e) => Some(e.kind()),
            Error::Gpu(e) => graph(e),
            Error::Optim(OptimError::Core(e)) => Some(e.kind()),
            Error::Optim(OptimError::Gpu(e)) => graph(e),
            Error::Checkpoint(CheckpointError::Gpu(e)) => graph(e),
            _ => None,
        }
    }
}

/// `Result` with the facade's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_crate_error_converts_and_keeps_its_text_and_kind() {
        let core = varscope_core::Error::AlreadyExists { name: "v".into(), defined_at: None };
        let text = core.to_string();
        let e: Error = core.clone().into();
        assert_eq!(e.to_string(), text);
        assert_eq!(e.kind(), Some(core.kind()));
        let e: Error = GpuError::Core(core.clone()).into();
        assert_eq!((e.to_string(), e.kind()), (text.clone(), Some(core.kind())));
        let e: Error = OptimError::Core(core.clone()).into();
        assert_eq!(e.kind(), Some(core.kind()));
        let e: Error = GpuError::Uninitialized { variable: "v".into() }.into();
        assert!(e.to_string().contains("uninitialized value v"), "{e}");
        assert_eq!(e.kind(), None);
    }
}
