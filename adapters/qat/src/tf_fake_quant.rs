//! TensorFlow's `fake_quant_with_min_max_vars`, which TF-MOT's QAT applies to weights and
//! activations (`quant_ops.py`), reproduced in f32 as its kernel computes it
//! (`tensorflow/core/kernels/fake_quant_ops_functor.h`, checked against TensorFlow 2.21 by
//! `scripts/tf_fake_quant_reference.py`):
//!
//! * `Nudge`: `scale = (max - min) / (qmax - qmin)`, the zero point `qmin - min / scale` clamped
//!   to `[qmin, qmax]` or rounded half away from zero, then `nudged_min = (qmin - zp) * scale`,
//!   `nudged_max = (qmax - zp) * scale`, so that real zero is a grid point;
//! * output: `scale * floor((clamp(x, nudged_min, nudged_max) - nudged_min) / scale -
//!   quant_zero + 0.5)` with `quant_zero = floor(-nudged_min * inv_scale + 0.5)` and
//!   `inv_scale = (qmax - qmin) / (max - min)` (ties round up); multiplying by `inv_scale`
//!   instead of dividing, as some versions of the source read, differs from TensorFlow 2.21 on
//!   18 of the fixture's 4,566 values: the division is what it runs;
//! * gradient: passed where `nudged_min <= x <= nudged_max`, zero outside;
//! * `qmin = 1` with `narrow_range`, else 0; `qmax = 2^bits - 1`; `min == max == 0` gives zeros.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};

/// A TensorFlow fake-quantization range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TfFakeQuant {
    pub min: f32,
    pub max: f32,
    pub num_bits: u32,
    pub narrow_range: bool,
}

/// The nudged range and its step.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Nudged {
    min: f32,
    max: f32,
    scale: f32,
    inv_scale: f32,
    /// `min == max == 0`: every output is zero.
    zero: bool,
}

impl TfFakeQuant {
    fn levels(&self) -> (f32, f32) {
        let qmin = if self.narrow_range { 1.0 } else { 0.0 };
        (qmin, ((1u32 << self.num_bits) - 1) as f32)
    }

    fn nudge(&self) -> Nudged {
        let (qmin, qmax) = self.levels();
        let scale = (self.max - self.min) / (qmax - qmin);
        let inv_scale = (qmax - qmin) / (self.max - self.min);
        let zp_from_min = qmin - self.min / scale;
        let zp = if zp_from_min < qmin {
            qmin
        } else if zp_from_min > qmax {
            qmax
        } else {
            zp_from_min.round() // std::round: half away from zero
        };
        Nudged {
            min: (qmin - zp) * scale,
            max: (qmax - zp) * scale,
            scale,
            inv_scale,
            zero: self.min == 0.0 && self.max == 0.0,
        }
    }

    /// Fake-quantizes one value.
    pub fn apply(&self, x: f32) -> f32 {
        self.nudge().apply(x)
    }

    /// Whether the gradient passes at `x`.
    pub fn passes(&self, x: f32) -> bool {
        self.nudge().passes(x)
    }
}

impl Nudged {
    /// The fake-quantized value of `x` (`None` range: `min == max == 0` gives zeros).
    fn apply(&self, x: f32) -> f32 {
        if self.zero {
            return 0.0;
        }
        let quant_zero = (-self.min * self.inv_scale + 0.5).floor();
        let clamped = x.min(self.max).max(self.min);
        ((clamped - self.min) / self.scale - quant_zero + 0.5).floor() * self.scale
    }

    fn passes(&self, x: f32) -> bool {
        self.min <= x && x <= self.max
    }
}

struct Op(TfFakeQuant);

impl CustomOp1 for Op {
    fn name(&self) -> &'static str {
        "tf-fake-quant"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let data = crate::ste::f32_input("tf_fake_quant", storage, layout)?;
        let n = self.0.nudge();
        let out = data.iter().map(|&x| n.apply(x)).collect();
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let n = self.0.nudge();
        crate::ste::gradient_through(arg, grad_res, |_, v| n.passes(v))
    }
}

/// TensorFlow's fake quantization of `x` (f32) over `q`'s range; differentiable by the
/// straight-through estimator.
pub fn tf_fake_quant(x: &Tensor, q: &TfFakeQuant) -> Result<Tensor> {
    if !(q.min.is_finite() && q.max.is_finite() && q.min <= q.max && (2..=16).contains(&q.num_bits))
    {
        candle_core::bail!("tf_fake_quant: invalid range or bit width {q:?}");
    }
    x.contiguous()?.apply_op1(Op(*q))
}
