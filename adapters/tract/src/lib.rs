//! qbench backend for [tract](https://github.com/sonos/tract) (`tract-onnx`), a pure-Rust
//! ONNX inference engine.
//!
//! [`TractBackend`] loads an ONNX artifact with a fixed input shape `[batch, C, H, W]`,
//! optimizes it and compiles it into a [`TractSession`].
//!
//! Threading: tract runs single-threaded unless `tract-linalg` is built with `multithread-mm`
//! (this crate enables it) *and* an executor is given. Each session gets its own rayon pool of
//! `LoadOptions::threads` workers, installed through tract's `RunOptions::executor`; see
//! [`threads`](crate::threads) for the details.

mod backend;
mod error;
mod model;
mod session;
pub mod threads;

pub use backend::{TractBackend, TRACT_VERSION};
pub use model::activation_bytes_per_sample;
pub use session::TractSession;
