//! Finding the ONNX Runtime shared library, in a fixed order of sources.

use std::env;
use std::fmt;
use std::path::{Path, PathBuf};

use qbench_core::AdapterError;

use crate::provision::{cached_library, provision};
use crate::python::{parse_version, python_onnxruntime};
use crate::{BACKEND, MIN_VERSION, ORT_VERSION};

/// Where a library was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The `ORT_DYLIB_PATH` environment variable.
    EnvVar,
    /// An installed Python `onnxruntime` package.
    Python,
    /// The user cache, provisioned earlier.
    Cache,
    /// The user cache, provisioned just now from the Python package index.
    Provisioned,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::EnvVar => "ORT_DYLIB_PATH",
            Origin::Python => "Python onnxruntime package",
            Origin::Cache => "qbench cache",
            Origin::Provisioned => "qbench cache (downloaded now)",
        })
    }
}

/// A located library plus what was noticed on the way (e.g. a skipped old Python package).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    pub path: PathBuf,
    pub origin: Origin,
    /// Version known from the source (Python metadata or the provisioned release), if any.
    pub version: Option<String>,
    pub notes: Vec<String>,
}

/// The user cache directory (qbench-provision's: `$QBENCH_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/qbench`, else `~/.cache/qbench`). `None` if none of these variables is set.
pub fn cache_dir() -> Option<PathBuf> {
    qbench_provision::cache_dir().ok()
}

/// Path of the ONNX Runtime library to load; see [`locate`].
pub fn locate_library() -> Result<PathBuf, AdapterError> {
    locate().map(|found| found.path)
}

/// Finds ONNX Runtime >= 1.31, trying in order:
/// 1. `ORT_DYLIB_PATH` (if set, it must name an existing file: no fallback);
/// 2. an installed Python `onnxruntime` >= 1.31 (`<package>/capi/libonnxruntime.so.<version>`);
/// 3. `<cache>/packages/onnxruntime-1.31.1/onnxruntime/capi/libonnxruntime.so.1.31.1` (see
///    [`cache_dir`]), verified against its pinned SHA-256, provisioned there with [`provision`]
///    (`pip download` of the pinned wheel from the Python package index) when missing or altered.
///
/// Fails with [`AdapterError::Unavailable`] listing every source tried and how to fix it.
pub fn locate() -> Result<Located, AdapterError> {
    let unavailable = |reason: String| AdapterError::Unavailable {
        backend: BACKEND,
        reason,
    };
    if let Some(value) = env::var_os("ORT_DYLIB_PATH").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(value);
        if path.is_file() {
            // Absolute, so the loader does not search its own paths for a bare file name.
            let path = std::fs::canonicalize(&path).unwrap_or(path);
            return Ok(Located {
                path,
                origin: Origin::EnvVar,
                version: None,
                notes: Vec::new(),
            });
        }
        return Err(unavailable(format!(
            "ORT_DYLIB_PATH is set to {} but no such file exists; point it at libonnxruntime.so \
             (ONNX Runtime >= {MIN_VERSION}) or unset it",
            path.display()
        )));
    }

    let mut notes = vec!["ORT_DYLIB_PATH is not set".to_string()];
    match python_onnxruntime() {
        Ok(Some(pkg)) => match parse_version(&pkg.version) {
            Some(v) if v >= MIN_VERSION => match pkg.library() {
                Some(path) => {
                    return Ok(Located {
                        path,
                        origin: Origin::Python,
                        version: Some(pkg.version),
                        notes,
                    });
                }
                None => notes.push(format!(
                    "Python onnxruntime {} at {} has no capi/libonnxruntime.so.*",
                    pkg.version,
                    pkg.dir.display()
                )),
            },
            _ => notes.push(format!(
                "Python onnxruntime {} at {} is older than {MIN_VERSION} (or unparsable); skipped",
                pkg.version,
                pkg.dir.display()
            )),
        },
        Ok(None) => notes.push("no Python onnxruntime package is installed".to_string()),
        Err(e) => notes.push(e),
    }

    let Some(cache) = cache_dir() else {
        notes.push("no cache directory (set QBENCH_CACHE_DIR, XDG_CACHE_HOME or HOME)".to_string());
        return Err(unavailable(with_fix(&notes)));
    };
    let Some(cached) = cached_library(&cache) else {
        notes.push(format!(
            "qbench has no pinned onnxruntime wheel for {}",
            std::env::consts::ARCH
        ));
        return Err(unavailable(with_fix(&notes)));
    };
    // Verified against its pinned SHA-256 (extracted again if it does not match).
    let existed = cached.is_file();
    if !existed {
        notes.push(format!("{} does not exist yet", cached.display()));
        eprintln!(
            "qbench-ort: downloading onnxruntime {ORT_VERSION} from PyPI into {} (once)",
            cache.display()
        );
    }
    match provision(&cache) {
        Ok(path) => Ok(Located {
            path,
            origin: if existed {
                Origin::Cache
            } else {
                Origin::Provisioned
            },
            version: Some(ORT_VERSION.into()),
            notes,
        }),
        Err(e) => {
            notes.push(format!("provisioning into {} failed: {e}", cache.display()));
            Err(unavailable(with_fix(&notes)))
        }
    }
}

/// Joins the notes and appends how to fix a missing runtime.
fn with_fix(notes: &[String]) -> String {
    format!(
        "ONNX Runtime {ORT_VERSION} not found ({}). Fix: set ORT_DYLIB_PATH to a libonnxruntime.so \
         (>= {MIN_VERSION}), or `pip install onnxruntime=={ORT_VERSION}`",
        notes.join("; ")
    )
}

/// Whether a path names the provisioned file (used to suggest deleting a corrupt cache entry).
pub(crate) fn is_cached(path: &Path) -> bool {
    cache_dir().is_some_and(|c| path.starts_with(c))
}
