//! Graph rewrites that insert QuantizeLinear/DequantizeLinear pairs (QDQ format).

pub mod ort;

pub use ort::{ort_qdq, OrtQdqConfig};
