//! Network-specific precision (Ristretto's idea; ONNX Runtime's `nodes_to_exclude` and
//! per-node `TensorQuantOverrides`): after a recipe has written its QDQ model, chosen nodes get
//! another precision than the recipe's.
//!
//! An override is `SELECTOR=PRECISION`. The selector is a node name, a name pattern with `*`
//! (`block0.*`), or `op:TYPE` (`op:Gemm`). The precision is one of:
//!
//! * `float`: the node computes in float with its FP32 weight and bias, on its inputs as they
//!   are before their Q/DQ pair (a ReLU the recipe folded into that pair is put back for it);
//! * `int16`: the same inputs and weight fake-quantized at 16 bits (activations with ONNX
//!   Runtime's asymmetric rule over the range the recipe's pair covers, the weight with its
//!   symmetric rule at the recipe's granularity), written as the arithmetic of
//!   QuantizeLinear/DequantizeLinear in standard operators (`Div`, `Round`, `Add`, `Clip`, `Sub`,
//!   `Mul`; the int16 weight through `Cast` and `Mul`), because tract implements only 8-bit
//!   QuantizeLinear;
//! * `int8`, `int4`: the node's weight requantized at that width (symmetric, narrow range, the
//!   recipe's granularity; 4-bit values in an int8 container); its activations keep the recipe's;
//! * `per-channel`, `per-tensor`: the node's weight requantized with that granularity at the
//!   recipe's width.
//!
//! The bias of a node whose weight changes stays float (its int32 scale was the old weight's).
//! Later overrides win over earlier ones for the same aspect (width or granularity). The model
//! records what was applied in its metadata (`qbench.overrides`).

mod apply;
mod spec;

pub use apply::apply_overrides;
pub use spec::{Override, Precision, Selector};

/// The metadata key under which an overridden model lists its overrides.
pub const METADATA_KEY: &str = "qbench.overrides";
