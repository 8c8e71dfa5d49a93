//! The ResNets qbench builds: the CIFAR-style one of the `resnet` scenario (3x3 stem, trained by
//! qbench) and torchvision's ImageNet layout (7x7 stride-2 stem and 3x3 stride-2 max pool; with
//! two blocks per stage of widths 64-128-256-512 it is ResNet-18: 1.8 GMAC at 224x224).

use candle_core::{Module, Result, Tensor, Var};
use rand::{rngs::StdRng, SeedableRng};

use crate::layers::{ConvBn, Dense};

/// Shape of the network.
#[derive(Clone, Debug)]
pub struct ResNetConfig {
    pub in_channels: usize,
    pub classes: usize,
    /// Channels of each stage; every stage after the first halves the resolution.
    pub widths: Vec<usize>,
    /// Basic blocks per stage.
    pub blocks: usize,
    /// Stride of the first stage (1 keeps the input resolution; 2 halves it).
    pub first_stride: usize,
    /// The stem before the first stage.
    pub stem: Stem,
}

/// The layers before the first residual stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Stem {
    /// 3x3 stride-1 convolution + BN + ReLU (small inputs: 28x28, 32x32).
    #[default]
    Cifar,
    /// torchvision's ImageNet stem: 7x7 stride-2 convolution + BN + ReLU, 3x3 stride-2 max pool
    /// (padding 1): 224x224 becomes 56x56.
    ImageNet,
}

/// torchvision's ResNet-18 layout (`torchvision.models.resnet18`): ImageNet stem, stages of two
/// basic blocks with 64, 128, 256 and 512 channels, `classes` outputs.
pub fn resnet18(classes: usize) -> ResNetConfig {
    ResNetConfig {
        in_channels: 3,
        classes,
        widths: vec![64, 128, 256, 512],
        blocks: 2,
        first_stride: 1,
        stem: Stem::ImageNet,
    }
}

/// The stem's max pool (3x3, stride 2, padding 1). Its input follows a ReLU, so zero padding
/// equals ONNX's and PyTorch's -inf padding.
pub(crate) fn stem_pool(x: &Tensor) -> Result<Tensor> {
    x.pad_with_zeros(2, 1, 1)?
        .pad_with_zeros(3, 1, 1)?
        .max_pool2d_with_stride(3, 2)
}

/// A basic residual block: conv-bn-relu, conv-bn, plus a (projected) shortcut, relu.
pub struct Block {
    pub conv1: ConvBn,
    pub conv2: ConvBn,
    pub shortcut: Option<ConvBn>,
}

/// The whole network.
pub struct ResNet {
    pub config: ResNetConfig,
    pub stem: ConvBn,
    pub blocks: Vec<Block>,
    pub fc: Dense,
}

impl ResNet {
    /// A freshly initialised network; the same seed gives the same weights.
    pub fn new(config: ResNetConfig, seed: u64) -> Result<Self> {
        let mut rng = StdRng::seed_from_u64(seed);
        let w0 = config.widths[0];
        let stem = match config.stem {
            Stem::Cifar => ConvBn::new(&mut rng, config.in_channels, w0, 3, 1)?,
            Stem::ImageNet => ConvBn::new(&mut rng, config.in_channels, w0, 7, 2)?,
        };
        let mut blocks = Vec::new();
        let mut c_in = w0;
        for (stage, &w) in config.widths.iter().enumerate() {
            for b in 0..config.blocks {
                let stride = match (stage, b) {
                    (0, 0) => config.first_stride,
                    (_, 0) => 2,
                    _ => 1,
                };
                let shortcut = if stride != 1 || c_in != w {
                    Some(ConvBn::new(&mut rng, c_in, w, 1, stride)?)
                } else {
                    None
                };
                blocks.push(Block {
                    conv1: ConvBn::new(&mut rng, c_in, w, 3, stride)?,
                    conv2: ConvBn::new(&mut rng, w, w, 3, 1)?,
                    shortcut,
                });
                c_in = w;
            }
        }
        let fc = Dense::new(&mut rng, c_in, config.classes)?;
        Ok(ResNet {
            config,
            stem,
            blocks,
            fc,
        })
    }

    /// Logits for an NCHW batch.
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut h = self.stem.forward(x, train)?.relu()?;
        if self.config.stem == Stem::ImageNet {
            h = stem_pool(&h)?;
        }
        for b in &self.blocks {
            let y = b.conv1.forward(&h, train)?.relu()?;
            let y = b.conv2.forward(&y, train)?;
            let s = match &b.shortcut {
                Some(sc) => sc.forward(&h, train)?,
                None => h.clone(),
            };
            h = (y + s)?.relu()?;
        }
        let pooled = h.mean((2, 3))?;
        self.fc.forward(&pooled)
    }

    /// Data-dependent batch-norm statistics for an untrained network: every BN layer's running
    /// mean and variance become those of its input on the batch `x`, layer by layer in order
    /// (each layer sees the outputs of the layers already set), so activations keep unit scale
    /// through the depth as they would in a trained network. Weights are left as they are.
    pub fn set_batch_norm_statistics(&mut self, x: &Tensor) -> Result<()> {
        let mut h = self.stem.set_statistics(x)?.relu()?;
        if self.config.stem == Stem::ImageNet {
            h = stem_pool(&h)?;
        }
        for b in &mut self.blocks {
            let y = b.conv1.set_statistics(&h)?.relu()?;
            let y = b.conv2.set_statistics(&y)?;
            let s = match &mut b.shortcut {
                Some(sc) => sc.set_statistics(&h)?,
                None => h.clone(),
            };
            h = (y + s)?.relu()?;
        }
        Ok(())
    }

    /// All trainable variables.
    pub fn vars(&self) -> Vec<Var> {
        let mut v = self.stem.vars();
        for b in &self.blocks {
            v.extend(b.conv1.vars());
            v.extend(b.conv2.vars());
            if let Some(s) = &b.shortcut {
                v.extend(s.vars());
            }
        }
        v.extend(self.fc.vars());
        v
    }

    /// Named tensors of the trained (unfolded) weights and batch-norm statistics.
    pub fn named_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        let mut conv = |name: String, c: &ConvBn| {
            out.push((format!("{name}.weight"), c.weight.as_tensor().clone()));
            out.push((format!("{name}.bn.weight"), c.gamma.as_tensor().clone()));
            out.push((format!("{name}.bn.bias"), c.beta.as_tensor().clone()));
            out.push((
                format!("{name}.bn.running_mean"),
                c.bn.running_mean().clone(),
            ));
            out.push((format!("{name}.bn.running_var"), c.bn.running_var().clone()));
        };
        conv("stem".into(), &self.stem);
        for (i, b) in self.blocks.iter().enumerate() {
            conv(format!("block{i}.conv1"), &b.conv1);
            conv(format!("block{i}.conv2"), &b.conv2);
            if let Some(s) = &b.shortcut {
                conv(format!("block{i}.shortcut"), s);
            }
        }
        out.push(("fc.weight".into(), self.fc.weight.as_tensor().clone()));
        out.push(("fc.bias".into(), self.fc.bias.as_tensor().clone()));
        out
    }
}

impl ResNet {
    /// The network of `config` with the weights and batch-norm statistics of `tensors` (as
    /// [`ResNet::named_tensors`] names them: a checkpoint written by `qbench train`). A missing
    /// tensor, a shape that does not fit or a non-finite value is an error naming the tensor.
    pub fn from_named(
        config: ResNetConfig,
        tensors: &std::collections::HashMap<String, Tensor>,
    ) -> std::result::Result<Self, crate::TrainError> {
        let mut net = ResNet::new(config, 0)?;
        let get = |name: &str, like: &Tensor| -> std::result::Result<Tensor, crate::TrainError> {
            let t = tensors.get(name).ok_or_else(|| {
                crate::TrainError::Invalid(format!("checkpoint has no tensor {name:?}"))
            })?;
            if t.dims() != like.dims() {
                return Err(crate::TrainError::Invalid(format!(
                    "checkpoint tensor {name:?} is {:?}, the model needs {:?}",
                    t.dims(),
                    like.dims()
                )));
            }
            let t = t.to_dtype(candle_core::DType::F32)?;
            let sum: f32 = t.abs()?.sum_all()?.to_scalar()?;
            if !sum.is_finite() {
                return Err(crate::TrainError::Invalid(format!(
                    "checkpoint tensor {name:?} holds NaN or infinite values"
                )));
            }
            Ok(t)
        };
        let load = |name: String, c: &mut ConvBn| -> std::result::Result<(), crate::TrainError> {
            c.weight
                .set(&get(&format!("{name}.weight"), c.weight.as_tensor())?)?;
            c.gamma
                .set(&get(&format!("{name}.bn.weight"), c.gamma.as_tensor())?)?;
            c.beta
                .set(&get(&format!("{name}.bn.bias"), c.beta.as_tensor())?)?;
            let mean = get(&format!("{name}.bn.running_mean"), c.bn.running_mean())?;
            let var = get(&format!("{name}.bn.running_var"), c.bn.running_var())?;
            c.set_running_statistics(mean, var)?;
            Ok(())
        };
        load("stem".into(), &mut net.stem)?;
        for (i, b) in net.blocks.iter_mut().enumerate() {
            load(format!("block{i}.conv1"), &mut b.conv1)?;
            load(format!("block{i}.conv2"), &mut b.conv2)?;
            if let Some(s) = &mut b.shortcut {
                load(format!("block{i}.shortcut"), s)?;
            }
        }
        net.fc
            .weight
            .set(&get("fc.weight", net.fc.weight.as_tensor())?)?;
        net.fc.bias.set(&get("fc.bias", net.fc.bias.as_tensor())?)?;
        Ok(net)
    }
}
