//! Fake quantization with the straight-through estimator.
//!
//! Forward: `x' = (clamp(round(x / s) + z, qmin, qmax) - z) * s`, computed by the quantizer's own
//! `fake_quant_with` (so a QDQ pair exported with the same parameters gives the same floats, bit
//! for bit). Backward (PyTorch's `FakeQuantize`, `fake_quantize_per_tensor_affine_cachemask`):
//! the incoming gradient passes where `round(x / s) + z` lies in `[qmin, qmax]` and is zero
//! where the value saturated; the parameters themselves get no gradient.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use qbench_quant::quantize::{fake_quant_with, Rounding};
use qbench_quant::QuantParams;

/// The parameters of one fake-quantization.
#[derive(Clone, Debug, PartialEq)]
pub struct FakeQuant {
    /// One set for the whole tensor, or one per index of its first axis (output channels of a
    /// convolution or dense weight).
    pub params: Vec<QuantParams>,
    pub rounding: Rounding,
}

impl FakeQuant {
    /// One set of parameters for the whole tensor.
    pub fn per_tensor(p: QuantParams, rounding: Rounding) -> Self {
        Self {
            params: vec![p],
            rounding,
        }
    }

    /// One set per output channel (the tensor's first axis).
    pub fn per_channel(params: Vec<QuantParams>, rounding: Rounding) -> Self {
        Self { params, rounding }
    }

    /// Elements per parameter set for a tensor of `dims`.
    fn chunk(&self, dims: &[usize]) -> Result<usize> {
        let n: usize = dims.iter().product();
        match self.params.len() {
            0 => candle_core::bail!("fake_quantize: no quantization parameters"),
            1 => Ok(n.max(1)),
            c if dims.first() == Some(&c) => Ok((n / c).max(1)),
            c => candle_core::bail!(
                "fake_quantize: {c} per-channel parameter sets for a tensor of shape {dims:?} \
                 (first axis must have {c} channels)"
            ),
        }
    }

    /// The parameters of the value at flat index `i` of a tensor cut in chunks of `chunk`.
    fn params_at(&self, i: usize, chunk: usize) -> &QuantParams {
        &self.params[if self.params.len() == 1 { 0 } else { i / chunk }]
    }

    /// Whether `v` lands inside `[qmin, qmax]` before saturation (PyTorch's gradient mask).
    fn passes(&self, v: f32, p: &QuantParams) -> bool {
        let q = self.rounding.round(v / p.scale) as f64 + p.zero_point as f64;
        (p.qmin as f64..=p.qmax as f64).contains(&q)
    }
}

/// The candle operator.
struct Op(FakeQuant);

impl CustomOp1 for Op {
    fn name(&self) -> &'static str {
        "fake-quantize"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let data = crate::ste::f32_input("fake_quantize", storage, layout)?;
        let chunk = self.0.chunk(layout.shape().dims())?;
        let mut out = Vec::with_capacity(data.len());
        for (i, c) in data.chunks(chunk).enumerate() {
            let p = self.0.params_at(i * chunk, chunk);
            out.extend(
                fake_quant_with(c, p, self.0.rounding)
                    .map_err(|e| candle_core::Error::Msg(format!("fake_quantize: {e}")))?,
            );
        }
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let chunk = self.0.chunk(arg.dims())?;
        crate::ste::gradient_through(arg, grad_res, |i, v| {
            self.0.passes(v, self.0.params_at(i, chunk))
        })
    }
}

/// Fake-quantizes `x` (f32) with `fq`; differentiable by the straight-through estimator.
pub fn fake_quantize(x: &Tensor, fq: &FakeQuant) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Op(fq.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};
    use qbench_quant::quantize::fake_quant;

    fn p(scale: f32, zero_point: i32, qmin: i32, qmax: i32) -> QuantParams {
        QuantParams::new(scale, zero_point, qmin, qmax).unwrap()
    }

    /// Values on both sides of every tie, far outside the range, zero and tiny magnitudes.
    fn values() -> Vec<f32> {
        let mut v = vec![0.0, -0.0, 1e-9, -1e-9, 1000.0, -1000.0];
        for k in -300..300 {
            let t = k as f32 * 0.05;
            v.extend([t, t + 0.025, t - 0.025, t + 0.0250001, t - 0.0249999]);
        }
        v
    }

    #[test]
    fn the_forward_pass_is_the_quantizers_quantize_dequantize_bit_for_bit() {
        let x = values();
        let dev = Device::Cpu;
        for params in [
            p(0.05, 0, -128, 127),
            p(0.0371, 131, 0, 255),
            p(0.5, 3, -8, 7),
        ] {
            for rounding in [Rounding::HalfEven, Rounding::HalfAwayFromZero] {
                let t = Tensor::from_vec(x.clone(), x.len(), &dev).unwrap();
                let got: Vec<f32> = fake_quantize(&t, &FakeQuant::per_tensor(params, rounding))
                    .unwrap()
                    .to_vec1()
                    .unwrap();
                let want = fake_quant_with(&x, &params, rounding).unwrap();
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "{params:?} {rounding:?}");
            }
        }
    }

    #[test]
    fn per_channel_uses_each_channels_parameters() {
        let dev = Device::Cpu;
        let x: Vec<f32> = (0..24).map(|i| (i as f32 - 11.5) * 0.37).collect();
        let ps = vec![p(0.1, 0, -127, 127), p(0.7, 0, -127, 127), p(2.0, 0, -7, 7)];
        let t = Tensor::from_vec(x.clone(), (3, 2, 4), &dev).unwrap();
        let got: Vec<f32> =
            fake_quantize(&t, &FakeQuant::per_channel(ps.clone(), Rounding::HalfEven))
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
        let want: Vec<f32> = x
            .chunks(8)
            .zip(&ps)
            .flat_map(|(c, p)| fake_quant(c, p).unwrap())
            .collect();
        assert_eq!(got, want);
        let wrong = FakeQuant::per_channel(ps[..2].to_vec(), Rounding::HalfEven);
        let err = fake_quantize(&t, &wrong).unwrap_err().to_string();
        assert!(err.contains("first axis must have 2 channels"), "{err}");
    }

    #[test]
    fn the_gradient_is_the_identity_inside_the_range_and_zero_outside() {
        // int8 with scale 0.1: representable [-12.8, 12.7]; round(x/s) decides, as PyTorch's mask.
        let params = p(0.1, 0, -128, 127);
        let x = [-20.0f32, -12.86, -12.84, -3.0, 0.0, 5.0, 12.74, 12.76, 30.0];
        let want = [0.0f32, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0];
        let v = Var::new(&x[..], &Device::Cpu).unwrap();
        let y = fake_quantize(
            v.as_tensor(),
            &FakeQuant::per_tensor(params, Rounding::HalfEven),
        )
        .unwrap();
        // d(sum(w * y))/dx = w * mask: a non-uniform upstream gradient is passed or cut per value.
        let w = Tensor::new(
            &[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
            &Device::Cpu,
        )
        .unwrap();
        let grads = y.mul(&w).unwrap().sum_all().unwrap().backward().unwrap();
        let g: Vec<f32> = grads.get(v.as_tensor()).unwrap().to_vec1().unwrap();
        let expected: Vec<f32> = want.iter().zip(1..).map(|(m, k)| m * k as f32).collect();
        assert_eq!(g, expected);
    }

    #[test]
    fn nan_is_an_error_not_a_silent_value() {
        let t = Tensor::new(&[1.0f32, f32::NAN], &Device::Cpu).unwrap();
        let fq = FakeQuant::per_tensor(p(0.1, 0, -128, 127), Rounding::HalfEven);
        assert!(fake_quantize(&t, &fq).is_err());
    }
}
