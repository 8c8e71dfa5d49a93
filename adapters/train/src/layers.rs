//! Trainable building blocks: convolution + batch norm, and the classifier.

use candle_core::{Module, ModuleT, Result, Tensor, Var};

use candle_nn::BatchNorm;
use rand::rngs::StdRng;

use crate::init::{constant, kaiming};

/// Batch-norm epsilon used in training and folding.
pub const BN_EPS: f64 = 1e-5;

/// A bias-free square convolution followed by batch norm.
pub struct ConvBn {
    pub weight: Var,
    pub gamma: Var,
    pub beta: Var,
    pub bn: BatchNorm,
    pub stride: usize,
    pub padding: usize,
}

impl ConvBn {
    pub fn new(
        rng: &mut StdRng,
        c_in: usize,
        c_out: usize,
        k: usize,
        stride: usize,
    ) -> Result<Self> {
        let weight = kaiming(rng, &[c_out, c_in, k, k], c_in * k * k)?;
        let gamma = constant(c_out, 1.0)?;
        let beta = constant(c_out, 0.0)?;
        let bn = BatchNorm::new_with_momentum(
            c_out,
            Tensor::zeros(c_out, candle_core::DType::F32, &candle_core::Device::Cpu)?,
            Tensor::ones(c_out, candle_core::DType::F32, &candle_core::Device::Cpu)?,
            gamma.as_tensor().clone(),
            beta.as_tensor().clone(),
            BN_EPS,
            0.1,
        )?;
        Ok(ConvBn {
            weight,
            gamma,
            beta,
            bn,
            stride,
            padding: k / 2,
        })
    }

    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let y = x.conv2d(&self.weight, self.padding, self.stride, 1, 1)?;
        self.bn.forward_t(&y, train)
    }

    pub fn vars(&self) -> Vec<Var> {
        vec![self.weight.clone(), self.gamma.clone(), self.beta.clone()]
    }

    /// Sets the running mean and (biased) variance to those of the convolution of `x` per
    /// channel, and returns the normalized output (inference mode).
    pub fn set_statistics(&mut self, x: &Tensor) -> Result<Tensor> {
        let y = x.conv2d(&self.weight, self.padding, self.stride, 1, 1)?;
        let c = y.dim(1)?;
        let per_channel = y.transpose(0, 1)?.contiguous()?.flatten_from(1)?;
        let mean = per_channel.mean(1)?;
        let var = per_channel
            .broadcast_sub(&mean.unsqueeze(1)?)?
            .sqr()?
            .mean(1)?;
        debug_assert_eq!(mean.dim(0)?, c);
        self.set_running_statistics(mean, var)?;
        self.bn.forward_t(&y, false)
    }

    /// Replaces the running mean and (biased) variance.
    pub fn set_running_statistics(&mut self, mean: Tensor, var: Tensor) -> Result<()> {
        self.bn = BatchNorm::new_with_momentum(
            mean.dim(0)?,
            mean,
            var,
            self.gamma.as_tensor().clone(),
            self.beta.as_tensor().clone(),
            BN_EPS,
            0.1,
        )?;
        Ok(())
    }

    /// Batch norm folded into the convolution: (weight, bias).
    pub fn folded(&self) -> Result<(Tensor, Tensor)> {
        let var = self.bn.running_var();
        let mean = self.bn.running_mean();
        let scale = self.gamma.as_tensor().div(&(var + BN_EPS)?.sqrt()?)?;
        let w = self
            .weight
            .as_tensor()
            .broadcast_mul(&scale.reshape(((), 1, 1, 1))?)?;
        let b = self.beta.as_tensor().sub(&mean.mul(&scale)?)?;
        Ok((w, b))
    }
}

/// A fully connected layer `y = x W^T + b`.
pub struct Dense {
    pub weight: Var,
    pub bias: Var,
}

impl Dense {
    pub fn new(rng: &mut StdRng, c_in: usize, c_out: usize) -> Result<Self> {
        Ok(Dense {
            weight: kaiming(rng, &[c_out, c_in], c_in)?,
            bias: constant(c_out, 0.0)?,
        })
    }

    pub fn vars(&self) -> Vec<Var> {
        vec![self.weight.clone(), self.bias.clone()]
    }
}

impl Module for Dense {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.matmul(&self.weight.as_tensor().t()?)?
            .broadcast_add(self.bias.as_tensor())
    }
}
