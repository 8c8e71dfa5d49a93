//! Graph rewrites that insert QuantizeLinear/DequantizeLinear pairs (QDQ format).

pub mod op_rules;
pub mod ort;
pub mod ort_ops;
pub mod torch_ops;
pub mod writer;

pub use ort::{ort_qdq, OrtQdqConfig};
pub use writer::{write_qdq, ActQuant, BiasMode, QdqPlan, WeightLayout, WeightQuant};
