//! qbench's own quantizer: the numeric core.
//!
//! It reproduces, one framework at a time, the exact math each toolchain uses, so that a result
//! row can say which rule produced its numbers (each module cites its framework's source):
//!
//! * [`mod@quantize`]: `q = clamp(round_half_even(x / s) + z, qmin, qmax)`, `x' = (q - z)·s`
//!   (ONNX semantics), with explicit [`Rounding`] for frameworks that round ties away from zero;
//! * [`midrise`]: mid-tread vs mid-rise quantizers (mid-rise N-bit = odd integers in N+1 bits);
//! * [`convention`]: scale / zero point rules of ONNX Runtime, PyTorch and TFLite;
//! * [`fixed_point`]: Caffe/Ristretto dynamic fixed point (power-of-two scales);
//! * [`granularity`]: per-tensor, per-channel and per-block parameters; [`ggml`]: Q8_0 / Q4_0;
//! * [`observer`]: streaming calibration (MinMax, moving average, histograms, Entropy,
//!   Percentile, PyTorch's L2 histogram search, MaxAbs);
//! * [`bn_fold`] and [`bias`]: batch-norm folding and int32 bias quantization;
//! * [`size`]: packed sizes (`bits x elements` + scales).
//!
//! Every entry point rejects NaN/Inf with [`QuantError::NonFinite`] naming the tensor.

pub mod bias;
pub mod bn_fold;
pub mod convention;
pub mod debug;
pub mod dynamic;
pub mod error;
pub mod fixed_point;
pub mod ggml;
pub mod granularity;
pub mod midrise;
pub mod observer;
pub mod overrides;
pub mod params;
pub mod prepare;
pub mod qdq;
pub mod qoperator;
pub mod quantize;
pub mod recipe;
pub mod scheme;
pub mod size;

pub use convention::{Convention, QuantSpec};
pub use error::{QuantError, Result};
pub use fixed_point::{DynamicFixedPoint, FixedPointRole};
pub use granularity::Granularity;
pub use observer::Observer;
pub use params::{QuantParams, Range};
pub use quantize::{dequantize, fake_quant, quantize, round_half_even, Rounding};
pub use scheme::QType;
