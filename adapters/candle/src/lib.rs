//! qbench backend that executes the ONNX IR natively with candle tensor operations
//! (not `candle-onnx`): each supported operator is one arm of the dispatch in `ops::run`,
//! implemented in `ops` or in one file per operator family (`ops_conv`, `ops_conv_transpose`,
//! `ops_pool`, `ops_norm`, `ops_activation`, `ops_math`, `ops_reduce`, `ops_shape`,
//! `ops_index`, `ops_pad`, `ops_resize`; quantization operators and `Cast` in `qops`).
//! [`check_model`] reports, before anything runs, the first node this backend cannot run.
//!
//! candle has no integer compute: quantized graphs are emulated exactly in float (8/16-bit
//! integers in f32, int32/int64 in f64, see `types`). Nodes whose inputs are all constant are
//! evaluated once at load. Gemm nodes named in the `qbench.ggml` metadata run candle's GGML
//! `QMatMul`. A session runs in a rayon pool of the thread count it is loaded with (convolutions
//! and matmuls split their work in the current pool); the barrier pool of candle's quantized
//! matmuls is process-wide and sized once from `CANDLE_NUM_THREADS`/`RAYON_NUM_THREADS`, which
//! the backend declares in `process_env` for the harness to set per cell process.

mod backend;
mod ggml;
#[cfg(test)]
mod model_tests;
mod ops;
mod ops_activation;
mod ops_conv;
mod ops_conv_transpose;
mod ops_index;
mod ops_math;
mod ops_norm;
mod ops_pad;
mod ops_pool;
mod ops_reduce;
mod ops_resize;
mod ops_shape;
mod qops;
mod session;
mod spatial;
mod support;
mod tensor_util;
mod threaded;
mod types;

pub use backend::{load_session, CandleBackend};
pub use ggml::METADATA_KEY as GGML_METADATA_KEY;
pub use ops::SUPPORTED_OPS;
pub use session::CandleSession;
pub use support::check_model;
