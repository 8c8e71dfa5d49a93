//! The CIFAR-style ResNet of the `resnet` scenario.

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
        let stem = ConvBn::new(&mut rng, config.in_channels, w0, 3, 1)?;
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
