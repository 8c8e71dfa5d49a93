//! Trains qbench's scenario models with candle and exports them to ONNX through the IR.
//!
//! The `resnet` scenario's model is a CIFAR-style ResNet ([`ResNet`]): a 3x3 stem, one basic
//! residual block per stage, global average pooling and a fully connected classifier. Batch norm
//! is folded into the convolutions on export ([`ResNet::to_onnx`]).

mod error;
mod export;
mod init;
mod layers;
mod resnet;
mod trainer;

pub use error::TrainError;
pub use export::{INPUT, OUTPUT};
pub use resnet::{ResNet, ResNetConfig};
pub use trainer::{evaluate, train, EpochReport, Progress, TrainConfig, Trained};
