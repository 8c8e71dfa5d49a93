//! The process-wide ONNX Runtime: located, loaded and given its one environment exactly once.

use std::path::PathBuf;
use std::sync::OnceLock;

use ort::environment::Environment;
use qbench_core::AdapterError;

use crate::locate::{is_cached, locate, Origin};
use crate::version::runtime_version;
use crate::{BACKEND, MIN_VERSION, ORT_VERSION};

/// The loaded runtime. There is at most one per process (ONNX Runtime allows one environment).
#[derive(Debug)]
pub struct Runtime {
    /// The shared library that was loaded.
    pub path: PathBuf,
    pub origin: Origin,
    /// Version of the loaded library (as it reports itself, else from where it was found).
    pub version: String,
    /// What was noticed while locating it.
    pub notes: Vec<String>,
    pub(crate) env: Environment,
}

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// Locates, loads and initializes ONNX Runtime on first call; later calls return the same result.
///
/// Loading is probed through `ort::init_from`, so a missing or unusable library is an
/// [`AdapterError::Unavailable`] here rather than a panic on first use of `ort`.
pub fn runtime() -> Result<&'static Runtime, AdapterError> {
    RUNTIME
        .get_or_init(init)
        .as_ref()
        .map_err(|reason| AdapterError::Unavailable {
            backend: BACKEND,
            reason: reason.clone(),
        })
}

fn init() -> Result<Runtime, String> {
    let found = locate().map_err(|e| match e {
        AdapterError::Unavailable { reason, .. } => reason,
        other => other.to_string(),
    })?;
    let path = found.path;
    let hint = if is_cached(&path) {
        format!("; delete {} to download it again", path.display())
    } else {
        format!("; it must be ONNX Runtime >= {MIN_VERSION} (e.g. `pip install onnxruntime=={ORT_VERSION}`)")
    };
    // A truncated library would be mapped and then kill the process with SIGBUS.
    crate::elf::check_complete(&path).map_err(|e| format!("{e}{hint}"))?;
    let builder = ort::init_from(&path).map_err(|e| {
        format!(
            "cannot load {} (from {}): {e}{hint}",
            path.display(),
            found.origin
        )
    })?;
    let env = builder
        .with_name("qbench")
        .with_telemetry(false)
        .build()
        .map_err(|e| {
            format!(
                "cannot create the ONNX Runtime environment from {}: {e}",
                path.display()
            )
        })?;
    let version = runtime_version(&path, found.version);
    Ok(Runtime {
        path,
        origin: found.origin,
        version,
        notes: found.notes,
        env,
    })
}
