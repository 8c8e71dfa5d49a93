//! Fake quantization of a weight tensor (output channels on axis 0), per recipe.

use candle_core::{Result, Tensor};
use qbench_quant::midrise::mid_tread_params;
use qbench_quant::{QuantParams, Rounding};

use crate::recipe::WeightScheme;
use crate::{fake_quantize, tf_fake_quant, FakeQuant, TfFakeQuant};

/// Per output channel `(min, max)` of `w` (detached).
fn channel_ranges(w: &Tensor) -> Result<Vec<(f32, f32)>> {
    let flat = w.detach().flatten_from(1)?;
    let lo: Vec<f32> = flat.min(1)?.to_vec1()?;
    let hi: Vec<f32> = flat.max(1)?.to_vec1()?;
    // min/max may skip a NaN; the sum does not.
    let sum: f32 = flat.sum_all()?.to_scalar()?;
    if let Some(bad) = lo.iter().chain(&hi).chain([&sum]).find(|v| !v.is_finite()) {
        candle_core::bail!("weight fake quantization: a weight is {bad}");
    }
    Ok(lo.into_iter().zip(hi).collect())
}

fn qp(scale: f32, qmin: i32, qmax: i32) -> Result<QuantParams> {
    QuantParams::new(scale, 0, qmin, qmax).map_err(|e| candle_core::Error::Msg(e.to_string()))
}

/// PyTorch's fused QAT kernel (FBGEMM `ChooseQuantizationParams`, symmetric qint8): the range
/// extended to 0, `scale = max(|min| / 128, max / 127)`, floored at f32 epsilon.
fn torch_training_scale(min: f32, max: f32) -> f32 {
    let (min, max) = (min.min(0.0), max.max(0.0));
    (-min / 128.0).max(max / 127.0).max(f32::EPSILON)
}

/// `w` fake-quantized per output channel with the scheme's training-time rule; `dense` says
/// the weight is a fully connected layer's (TF-MOT quantizes those per tensor).
pub fn fake_quantize_weight(w: &Tensor, scheme: WeightScheme, dense: bool) -> Result<Tensor> {
    let ranges = channel_ranges(w)?;
    match scheme {
        WeightScheme::TorchPerChannelInt8 => {
            let params = ranges
                .iter()
                .map(|&(lo, hi)| qp(torch_training_scale(lo, hi), -128, 127))
                .collect::<Result<Vec<_>>>()?;
            fake_quantize(w, &FakeQuant::per_channel(params, Rounding::HalfEven))
        }
        WeightScheme::MidTread4 => {
            let params = ranges
                .iter()
                .map(|&(lo, hi)| {
                    let amax = lo.abs().max(hi.abs());
                    let step = if amax > 0.0 { 2.0 * amax / 16.0 } else { 1.0 };
                    mid_tread_params(4, step).map_err(|e| candle_core::Error::Msg(e.to_string()))
                })
                .collect::<Result<Vec<_>>>()?;
            fake_quantize(w, &FakeQuant::per_channel(params, Rounding::HalfEven))
        }
        WeightScheme::TfNarrowInt8 => {
            let tf = |amax: f32| TfFakeQuant {
                min: -amax,
                max: amax,
                num_bits: 8,
                narrow_range: true,
            };
            if dense {
                let amax = ranges
                    .iter()
                    .fold(0.0f32, |a, &(lo, hi)| a.max(lo.abs()).max(hi.abs()));
                return tf_fake_quant(w, &tf(amax));
            }
            let parts = ranges
                .iter()
                .enumerate()
                .map(|(c, &(lo, hi))| {
                    tf_fake_quant(&w.narrow(0, c, 1)?, &tf(lo.abs().max(hi.abs())))
                })
                .collect::<Result<Vec<_>>>()?;
            Tensor::cat(&parts, 0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn every_scheme_puts_each_channel_on_its_own_grid() {
        let w = Tensor::new(
            &[[1.0f32, -0.5, 0.25, 0.1], [8.0, -3.0, 2.0, 0.0]],
            &Device::Cpu,
        )
        .unwrap();
        for (scheme, levels) in [
            (WeightScheme::TorchPerChannelInt8, 127.0),
            (WeightScheme::TfNarrowInt8, 127.0),
            (WeightScheme::MidTread4, 8.0),
        ] {
            let q: Vec<Vec<f32>> = fake_quantize_weight(&w, scheme, false)
                .unwrap()
                .to_vec2()
                .unwrap();
            for (row, amax) in q.iter().zip([1.0f32, 8.0]) {
                // The channel's largest weight is (nearly) kept; the others sit on its grid.
                let step = amax / levels;
                for v in row {
                    let k = v / step;
                    assert!(
                        (k - k.round()).abs() < 1e-3,
                        "{scheme:?}: {v} off the grid {step}"
                    );
                }
                assert!((row[0] - amax).abs() <= step, "{scheme:?}: {row:?}");
            }
        }
    }

    #[test]
    fn a_nan_weight_is_an_error() {
        let w = Tensor::new(&[[1.0f32, f32::NAN]], &Device::Cpu).unwrap();
        assert!(fake_quantize_weight(&w, WeightScheme::TfNarrowInt8, false).is_err());
    }
}
