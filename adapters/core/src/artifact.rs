//! A model file produced by a technique, with what a backend needs to know to run it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How an ONNX artifact represents its arithmetic; decides which backends can run it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// Plain float32 ONNX.
    Fp32,
    /// Standard QuantizeLinear/DequantizeLinear pairs around float operators.
    Qdq,
    /// QLinearConv/QLinearMatMul/ConvInteger/MatMulInteger with float glue ops.
    QOperator,
    /// DynamicQuantizeLinear + ConvInteger/MatMulInteger.
    Dynamic,
    /// Uses ONNX Runtime contrib operators (com.microsoft domain).
    OrtContrib,
    /// float16 weights cast to float32 at run time.
    Fp16,
    /// QDQ with 16-bit integer activations (opset 21 QuantizeLinear/DequantizeLinear).
    Qdq16,
    /// Weights stored as integers and dequantized by constant operators; float compute.
    WeightOnly,
}

impl Format {
    /// Short lowercase name used in tables.
    pub fn name(self) -> &'static str {
        match self {
            Format::Fp32 => "fp32",
            Format::Qdq => "qdq",
            Format::QOperator => "qoperator",
            Format::Dynamic => "dynamic",
            Format::OrtContrib => "ort-contrib",
            Format::Fp16 => "fp16",
            Format::Qdq16 => "qdq-int16",
            Format::WeightOnly => "weight-only",
        }
    }
}

/// The float32 input of a model: its name and the shape of one sample (every dimension but
/// the leading batch dimension, e.g. `[3, 224, 224]` for NCHW images).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputSpec {
    pub name: String,
    pub shape: Vec<usize>,
}

impl InputSpec {
    /// An NCHW image input of `channels x height x width` per sample.
    pub fn image(name: impl Into<String>, channels: usize, height: usize, width: usize) -> Self {
        InputSpec {
            name: name.into(),
            shape: vec![channels, height, width],
        }
    }

    /// Values per sample.
    pub fn sample_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// The full input dimensions for a batch of `n` samples.
    pub fn dims(&self, n: usize) -> Vec<usize> {
        std::iter::once(n)
            .chain(self.shape.iter().copied())
            .collect()
    }
}

/// A runnable model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    /// Technique that produced it (e.g. `fp32`).
    pub technique: String,
    pub format: Format,
    pub path: PathBuf,
    pub input: InputSpec,
    pub output: String,
}
