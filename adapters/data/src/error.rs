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
    /// A file that was read but whose content is unusable (bad npy dtype, corrupt image, image
    /// too small to crop, malformed labels or classes file, empty folder, ...).
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    /// An invalid configuration value (preprocessing, synthetic parameters, split, source keys).
    #[error("invalid data configuration: {0}")]
    Config(String),
    /// A split that does not fit the dataset it is applied to.
    #[error("cannot split {dataset}: {reason}")]
    Split { dataset: String, reason: String },
    /// A sample index past the end of a dataset.
    #[error("{dataset}: sample {index} out of range ({len} samples)")]
    OutOfRange {
        dataset: String,
        index: usize,
        len: usize,
    },
    /// An output buffer whose length is not the sample length.
    #[error("{dataset}: output buffer holds {got} values, a sample has {expected}")]
    OutputLen {
        dataset: String,
        expected: usize,
        got: usize,
    },
}

impl DataError {
    pub(crate) fn invalid(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        DataError::Invalid {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }
}
