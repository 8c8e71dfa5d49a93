//! An activation's fake quantizer: its observer (moving average, or all values for TF-MOT's
//! model input) and the recipe's parameter rule.

use candle_core::{Result, Tensor};
use qbench_quant::convention::onnxruntime;
use qbench_quant::convention::pytorch::{self, TorchQConfig};
use qbench_quant::scheme::QType;
use qbench_quant::{QuantParams, Range, Rounding};

use crate::observer::batch_range;
use crate::recipe::{ActivationScheme, QatSettings};
use crate::{fake_quantize, tf_fake_quant, FakeQuant, MovingAverageMinMax, TfFakeQuant};

/// One activation tensor's fake quantizer.
#[derive(Clone, Debug)]
pub struct ActivationFq {
    scheme: ActivationScheme,
    observer: MovingAverageMinMax,
    includes_zero: bool,
    /// Running min/max of every value instead of a moving average.
    all_values: bool,
}

fn msg(e: impl std::fmt::Display) -> candle_core::Error {
    candle_core::Error::Msg(e.to_string())
}

impl ActivationFq {
    /// The fake quantizer of an activation (`input`: the model's input) under `s`.
    pub fn new(s: &QatSettings, input: bool) -> Self {
        let all_values = input && s.input_all_values;
        let observer = match (s.start_range, all_values) {
            (Some((lo, hi)), false) => {
                MovingAverageMinMax::starting_at(s.averaging_constant, lo, hi)
            }
            _ => MovingAverageMinMax::new(s.averaging_constant),
        };
        ActivationFq {
            scheme: s.activations,
            observer,
            includes_zero: s.range_includes_zero,
            all_values,
        }
    }

    /// The range so far.
    pub fn range(&self) -> Option<(f32, f32)> {
        self.observer.range()
    }

    fn observe(&mut self, x: &Tensor) -> Result<()> {
        let (mut lo, mut hi) = batch_range(x)?;
        if self.includes_zero {
            (lo, hi) = (lo.min(0.0), hi.max(0.0));
        }
        if self.all_values {
            if let Some((min, max)) = self.observer.range() {
                (lo, hi) = (lo.min(min), hi.max(max));
            }
            self.observer = MovingAverageMinMax::starting_at(1.0, lo, hi);
        } else {
            self.observer.observe_range(lo, hi);
        }
        Ok(())
    }

    /// The quantization parameters of the current range under the recipe's rule (PyTorch's
    /// quint8 `reduce_range` or ONNX Runtime's int8; TensorFlow's nudged range has none).
    pub fn params(&self) -> Result<Option<QuantParams>> {
        let Some((lo, hi)) = self.observer.range() else {
            candle_core::bail!("activation fake quantizer used before it observed a batch");
        };
        let r = Range::new(lo, hi).map_err(msg)?;
        Ok(match self.scheme {
            ActivationScheme::TorchQuint8ReduceRange => {
                Some(pytorch::params(r, &TorchQConfig::quint8_affine(true)).map_err(msg)?)
            }
            ActivationScheme::OrtInt8 => {
                Some(onnxruntime::params(r, QType::INT8, false, false).map_err(msg)?)
            }
            ActivationScheme::TfMovingAverage => None,
        })
    }

    /// Observes `x` (when `observe`), then fake-quantizes it with the updated range.
    pub fn apply(&mut self, x: &Tensor, observe: bool) -> Result<Tensor> {
        if observe {
            self.observe(x)?;
        }
        match self.params()? {
            Some(p) => fake_quantize(x, &FakeQuant::per_tensor(p, Rounding::HalfEven)),
            None => {
                let (min, max) = self.range().expect("params() checked the range");
                let q = TfFakeQuant {
                    min,
                    max,
                    num_bits: 8,
                    narrow_range: false,
                };
                tf_fake_quant(x, &q)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipe::QatRecipe;
    use candle_core::Device;

    fn t(v: &[f32]) -> Tensor {
        Tensor::new(v, &Device::Cpu).unwrap()
    }

    #[test]
    fn tf_mot_ranges_start_at_six_include_zero_and_the_input_takes_all_values() {
        let s = QatRecipe::TfliteQat.settings();
        let mut act = ActivationFq::new(&s, false);
        act.apply(&t(&[1.0, 2.0]), true).unwrap();
        // Batch range [0, 2] (extended to zero), EMA 0.999 from [-6, 6].
        assert_eq!(
            act.range(),
            Some((-6.0 + 0.001 * 6.0, 6.0 + 0.001 * (2.0 - 6.0)))
        );
        let mut input = ActivationFq::new(&s, true);
        input.apply(&t(&[0.5, 1.0]), true).unwrap();
        input.apply(&t(&[0.2, 0.7]), true).unwrap();
        assert_eq!(input.range(), Some((0.0, 1.0)));
    }

    #[test]
    fn a_frozen_observer_keeps_its_range() {
        let s = QatRecipe::PytorchQat.settings();
        let mut act = ActivationFq::new(&s, false);
        act.apply(&t(&[0.0, 1.0]), true).unwrap();
        let out: Vec<f32> = act
            .apply(&t(&[5.0, 0.5]), false)
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(act.range(), Some((0.0, 1.0)));
        // quint8 [0, 127] over [0, 1]: 5.0 saturates at 1.0.
        assert!((out[0] - 1.0).abs() < 1e-6, "{out:?}");
        assert!(ActivationFq::new(&s, false)
            .apply(&t(&[1.0]), false)
            .is_err());
    }
}
