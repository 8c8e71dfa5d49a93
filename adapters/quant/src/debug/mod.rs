//! Quantization debugging, the two halves of ONNX Runtime's `qdq_loss_debug`
//! (`onnxruntime/python/tools/quantization/qdq_loss_debug.py`), done on qbench's IR:
//!
//! * [`weight_matching`]: every weight stored quantized in a QDQ model, dequantized as its
//!   `DequantizeLinear` does, beside its FP32 original (`create_weight_matching`);
//! * [`activation_matching`]: every activation a QDQ model quantizes
//!   (`QuantizeLinear -> [Clip] -> DequantizeLinear`), with its FP32 counterpart's name and the
//!   pair's parameters (`create_activation_matching`), so that the two models' tensors can be
//!   compared run by run, and the FP32 tensor can be quantized alone with the same parameters;
//! * [`ErrorStats`]: the comparison, streamed over batches: SQNR (ORT's
//!   `compute_signal_to_quantization_noice_ratio`, `20·log10(‖x‖ / ‖x - y‖)` over all batches
//!   concatenated), cosine similarity and the largest absolute error.

mod activation_matching;
mod error_stats;
mod weight_matching;

pub use activation_matching::{activation_matching, ActivationPair};
pub use error_stats::ErrorStats;
pub use weight_matching::{tensor_f32, weight_matching, WeightMatch};
