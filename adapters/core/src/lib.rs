//! Shared interfaces of qbench's adapters: the [`Backend`] and [`Session`] traits, the
//! [`Artifact`] a backend runs, and the typed [`AdapterError`].
//!
//! Adding a backend means implementing [`Backend`] in one new crate and registering it in the
//! harness's registry.

mod artifact;
mod backend;
mod error;

pub use artifact::{Artifact, Format, InputSpec};
pub use backend::{
    Backend, Batch, LoadOptions, Output, Session, Support, TappedSession, TensorPicker,
};
pub use error::AdapterError;

/// The `tract-onnx` version in the workspace's `Cargo.lock` (tract has no version constant).
pub const TRACT_ONNX_VERSION: &str = env!("QBENCH_TRACT_ONNX_VERSION");

/// The `candle-core` version in the workspace's `Cargo.lock`.
pub const CANDLE_CORE_VERSION: &str = env!("QBENCH_CANDLE_CORE_VERSION");
