//! qbench backend that executes the ONNX IR natively with candle tensor operations
//! (not `candle-onnx`): each supported operator is one function in [`ops`] (quantization
//! operators and `Cast` in `qops`).
//!
//! candle has no integer compute: quantized graphs are emulated exactly in float (8/16-bit
//! integers in f32, int32/int64 in f64, see `types`). Nodes whose inputs are all constant are
//! evaluated once at load. Gemm nodes named in the `qbench.ggml` metadata run candle's GGML
//! `QMatMul`. Its CPU thread count is fixed at first use from `RAYON_NUM_THREADS`, so the
//! harness sets it per process.

mod backend;
mod ggml;
mod ops;
mod qops;
mod session;
mod types;

pub use backend::{load_session, CandleBackend};
pub use ggml::METADATA_KEY as GGML_METADATA_KEY;
pub use ops::SUPPORTED_OPS;
pub use session::CandleSession;
