//! Conversion of tract's (anyhow-style) errors into [`AdapterError`]s.

use std::path::Path;

use qbench_core::AdapterError;
use tract_onnx::prelude::TractError;

/// Backend name used in every error.
pub(crate) const BACKEND: &str = "tract";

/// A load-time failure at `stage`, with tract's full error chain.
pub(crate) fn load(path: &Path, stage: &str, err: &TractError) -> AdapterError {
    load_msg(path, format!("{stage}: {err:#}"))
}

/// A load-time failure described by `reason`.
pub(crate) fn load_msg(path: &Path, reason: String) -> AdapterError {
    AdapterError::Load {
        backend: BACKEND,
        path: path.to_path_buf(),
        reason,
    }
}

/// A run-time failure described by `reason`.
pub(crate) fn run_msg(reason: String) -> AdapterError {
    AdapterError::Run {
        backend: BACKEND,
        reason,
    }
}

/// A run-time failure at `stage`, with tract's full error chain.
pub(crate) fn run(stage: &str, err: &TractError) -> AdapterError {
    run_msg(format!("{stage}: {err:#}"))
}
