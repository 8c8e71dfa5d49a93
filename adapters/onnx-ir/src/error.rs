use std::path::PathBuf;

/// Errors raised while reading, writing or editing an ONNX model.
#[derive(Debug, thiserror::Error)]
pub enum IrError {
    #[error("cannot read ONNX model {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write ONNX model {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid ONNX protobuf (corrupt or truncated): {reason}")]
    Decode { path: PathBuf, reason: String },
    #[error("ONNX model has no graph")]
    NoGraph,
    #[error("tensor {name}: {reason}")]
    Tensor { name: String, reason: String },
    #[error(
        "unsupported ONNX data type {0} (qbench handles float, float16, (u)int8/16/32, int64)"
    )]
    DType(i32),
    #[error("graph is not a DAG: a cycle runs through node {0}")]
    Cycle(String),
    #[error("node {node}: {reason}")]
    Node { node: String, reason: String },
}
