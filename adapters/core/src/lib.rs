//! Shared interfaces of qbench's adapters: the [`Backend`] and [`Session`] traits, the
//! [`Artifact`] a backend runs, and the typed [`AdapterError`].
//!
//! Adding a backend means implementing [`Backend`] in one new crate and registering it in the
//! harness's registry.

mod artifact;
mod backend;
mod error;

pub use artifact::{Artifact, Format, InputSpec};
pub use backend::{Backend, Batch, LoadOptions, Output, Session, Support};
pub use error::AdapterError;
