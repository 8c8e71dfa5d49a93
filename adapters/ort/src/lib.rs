//! qbench backend for ONNX Runtime, through the `ort` crate with the runtime loaded dynamically.
//!
//! [`OrtBackend`] implements [`qbench_core::Backend`]. The ONNX Runtime shared library (1.31, which
//! matches `ort` 2.0.0-rc.15's `api-31`) is found at run time by [`locate`] and, if nowhere to be
//! found, fetched once from the Python package index by [`provision`]. The library is loaded once per
//! process ([`runtime`]); every failure is reported as an [`qbench_core::AdapterError`], never a panic.

mod backend;
mod elf;
mod locate;
mod provision;
mod python;
mod runtime;
mod session;
mod tap;
mod version;

pub use backend::OrtBackend;
pub use locate::{cache_dir, locate, locate_library, Located, Origin};
pub use provision::{cached_library, provision};
pub use python::{parse_version, python_onnxruntime, PythonOrt, Version};
pub use runtime::{runtime, Runtime};
pub use session::OrtSession;
pub use tap::TapSession;

/// Name of the backend in tables and on the command line.
pub const BACKEND: &str = "ort";

/// The ONNX Runtime release this crate provisions (the one `ort`'s `api-31` is built for).
pub const ORT_VERSION: &str = "1.31.1";

/// Oldest ONNX Runtime accepted from other sources (`ort` needs API version 31).
pub const MIN_VERSION: Version = Version {
    major: 1,
    minor: 31,
    patch: 0,
};

/// File name of the library inside the provisioned cache directory and the wheel.
pub const LIB_FILE: &str = "libonnxruntime.so.1.31.1";
