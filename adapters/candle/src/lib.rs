//! qbench backend that executes the ONNX IR natively with candle tensor operations
//! (not `candle-onnx`): each supported operator is one function in [`ops`].
//!
//! candle has no integer compute: quantized graphs are emulated exactly in float. Its CPU thread
//! count is fixed at first use from `RAYON_NUM_THREADS`, so the harness sets it per process.

mod backend;
mod ops;
mod session;

pub use backend::{load_session, CandleBackend};
pub use ops::SUPPORTED_OPS;
pub use session::CandleSession;
