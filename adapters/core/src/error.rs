use std::path::PathBuf;

/// Errors raised by a backend adapter.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// The runtime cannot be used on this machine (e.g. a missing shared library).
    #[error("{backend} unavailable: {reason}")]
    Unavailable {
        backend: &'static str,
        reason: String,
    },
    /// The artifact could not be loaded or compiled.
    #[error("{backend} cannot load {path}: {reason}")]
    Load {
        backend: &'static str,
        path: PathBuf,
        reason: String,
    },
    /// The artifact uses something this backend does not implement.
    #[error("{backend}: unsupported: {reason}")]
    Unsupported {
        backend: &'static str,
        reason: String,
    },
    /// A run failed.
    #[error("{backend} run failed: {reason}")]
    Run {
        backend: &'static str,
        reason: String,
    },
}
