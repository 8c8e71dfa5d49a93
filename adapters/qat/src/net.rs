//! A ResNet of `qbench-train` with fake quantization where the exported model quantizes: every
//! conv and dense weight, the model input and the output of every conv (+ReLU), residual
//! add (+ReLU), the pool (where it has a range of its own) and the logits. The activations are
//! named as the tensors of the folded ONNX export ([`qbench_train::ResNet::to_onnx`] with its
//! ReLUs fused), so the observed ranges become the exported model's parameters by name.

use std::collections::BTreeMap;

use candle_core::{Result, Tensor};
use candle_nn::ModuleT;
use qbench_train::{ConvBn, ResNet, Stem, BN_EPS};

use crate::activation_fq::ActivationFq;
use crate::recipe::QatSettings;
use crate::weight_fq::fake_quantize_weight;

/// A ResNet under quantization-aware training.
pub struct QatNet {
    pub model: ResNet,
    pub settings: QatSettings,
    /// Activation fake quantizers by exported tensor name.
    pub activations: BTreeMap<String, ActivationFq>,
    /// Batch norm runs on its running statistics.
    pub bn_frozen: bool,
    /// The activation ranges no longer move.
    pub observers_frozen: bool,
}

impl QatNet {
    /// Wraps a (trained FP32) CIFAR-stem ResNet.
    pub fn new(model: ResNet, settings: QatSettings) -> Result<Self> {
        if model.config.stem != Stem::Cifar {
            candle_core::bail!("QAT supports the CIFAR-stem ResNet of qbench's own scenario");
        }
        Ok(QatNet {
            model,
            settings,
            activations: BTreeMap::new(),
            bn_frozen: false,
            observers_frozen: false,
        })
    }

    fn act(&mut self, name: &str, x: &Tensor, train: bool) -> Result<Tensor> {
        let observe = train && !self.observers_frozen;
        let s = &self.settings;
        self.activations
            .entry(name.to_string())
            .or_insert_with(|| ActivationFq::new(s, name == qbench_train::INPUT))
            .apply(x, observe)
            .map_err(|e| candle_core::Error::Msg(format!("{name}: {e}")))
    }

    /// Convolution + batch norm with the weight fake-quantized: PyTorch's
    /// `_forward_approximate` when batch norm is folded (weight scaled by
    /// `gamma / sqrt(running_var + eps)`, quantized, the output scaled back, then batch norm),
    /// else the raw weight quantized and batch norm after.
    fn conv(&self, c: &ConvBn, x: &Tensor, train: bool) -> Result<Tensor> {
        let bn_train = train && !self.bn_frozen;
        let w = c.weight.as_tensor();
        let scheme = self.settings.weights;
        if !self.settings.fold_bn {
            let wq = fake_quantize_weight(w, scheme, false)?;
            let y = x.conv2d(&wq, c.padding, c.stride, 1, 1)?;
            return c.bn.forward_t(&y, bn_train);
        }
        let std = (c.bn.running_var().detach() + BN_EPS)?.sqrt()?;
        let factor = c.gamma.as_tensor().div(&std)?;
        let folded = w.broadcast_mul(&factor.reshape(((), 1, 1, 1))?)?;
        let wq = fake_quantize_weight(&folded, scheme, false)?;
        let y = x
            .conv2d(&wq, c.padding, c.stride, 1, 1)?
            .broadcast_div(&factor.reshape((1, (), 1, 1))?)?;
        c.bn.forward_t(&y, bn_train)
    }

    /// Logits for an NCHW batch; `train` updates the observers and batch-norm statistics
    /// (unless frozen).
    pub fn forward(&mut self, x: &Tensor, train: bool) -> Result<Tensor> {
        let x = self.act(qbench_train::INPUT, x, train)?;
        let stem = self.conv(&self.model.stem, &x, train)?.relu()?;
        let mut h = self.act("stem.relu.out", &stem, train)?;
        for i in 0..self.model.blocks.len() {
            let b = &self.model.blocks[i];
            let y = self.conv(&b.conv1, &h, train)?.relu()?;
            let y2 = match &b.shortcut {
                Some(sc) => Some(self.conv(sc, &h, train)?),
                None => None,
            };
            let y = self.act(&format!("block{i}.relu1.out"), &y, train)?;
            let y = self.conv(&self.model.blocks[i].conv2, &y, train)?;
            let y = self.act(&format!("block{i}.conv2.out"), &y, train)?;
            let s = match y2 {
                Some(s) => self.act(&format!("block{i}.shortcut.out"), &s, train)?,
                None => h.clone(),
            };
            h = self.act(&format!("block{i}.relu2.out"), &(y + s)?.relu()?, train)?;
        }
        let mut pooled = h.mean((2, 3))?;
        if self.settings.pool_has_own_range {
            pooled = self.act("pool.out", &pooled, train)?;
        }
        let fc = &self.model.fc;
        let wq = fake_quantize_weight(fc.weight.as_tensor(), self.settings.weights, true)?;
        let logits = pooled
            .matmul(&wq.t()?)?
            .broadcast_add(fc.bias.as_tensor())?;
        self.act(qbench_train::OUTPUT, &logits, train)
    }

    /// Every activation's range, by exported tensor name (the flattened pool output shares the
    /// pool's).
    pub fn ranges(&self) -> BTreeMap<String, (f32, f32)> {
        let mut out: BTreeMap<String, (f32, f32)> = self
            .activations
            .iter()
            .filter_map(|(n, a)| Some((n.clone(), a.range()?)))
            .collect();
        if let Some(r) = out.get("pool.out").copied() {
            out.insert("flatten.out".into(), r);
        }
        out
    }
}
