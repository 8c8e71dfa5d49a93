//! A small ONNX graph IR that a quantizer can rewrite and every backend can consume.
//!
//! The protobuf types ([`pb`]) are prost's output for ONNX's `onnx.proto3`, checked in, so
//! neither `protoc` nor a runtime is needed to read or write a model.
//! [`Model::load`] / [`Model::save`] convert between the protobuf and the IR.

mod elem_types;
mod error;
mod graph;
mod io;
pub mod pb;
mod tensor;
mod topo;

pub use elem_types::{code as elem_code, elem_types, float_values};
pub use error::IrError;
pub use graph::{Attribute, Dim, Graph, Model, Node, ValueInfo};
pub use tensor::{DType, TensorData};
