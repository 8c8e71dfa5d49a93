use std::path::PathBuf;

/// Errors raised while reading a dataset file.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not an IDX file: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("{path}: truncated: {reason}")]
    Truncated { path: PathBuf, reason: String },
    #[error("{images} and {labels} do not match: {reason}")]
    Mismatch {
        images: PathBuf,
        labels: PathBuf,
        reason: String,
    },
}
