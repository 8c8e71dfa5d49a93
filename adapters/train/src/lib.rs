//! Trains qbench's scenario models with candle and exports them to ONNX through the IR.
//!
//! The `resnet` scenario's model is a CIFAR-style ResNet ([`ResNet`]): a 3x3 stem, one basic
//! residual block per stage, global average pooling and a fully connected classifier. Batch norm
//! is folded into the convolutions on export ([`ResNet::to_onnx`]).
//!
//! The ImageNet-scale scenario's model is torchvision's ResNet-18 layout ([`resnet18`]) with
//! seeded Kaiming weights and batch-norm statistics measured on real images
//! ([`ResNet::set_batch_norm_statistics`]), exported with batch norm unfused as
//! `torch.onnx.export` writes it ([`ResNet::to_onnx_unfolded`]).

mod error;
mod export;
mod init;
mod layers;
mod resnet;
mod trainer;

pub use error::TrainError;
pub use export::{INPUT, OUTPUT};
pub use layers::{ConvBn, Dense, BN_EPS};
pub use resnet::{resnet18, Block, ResNet, ResNetConfig, Stem};
pub use trainer::{
    evaluate, hits, top1, train, training_batch, EpochReport, Progress, TrainConfig, Trained,
};
