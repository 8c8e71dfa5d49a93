//! The moving-average min/max observer of QAT's activation fake-quantizers: each training batch
//! moves the range toward its own by a fixed fraction, `min += c * (batch_min - min)` (the same
//! for max), so the range follows the activations as the weights change without jumping with
//! every batch. PyTorch's `MovingAverageMinMaxObserver` takes the first batch's range as is;
//! TF-MOT's `MovingAverageQuantizer` starts from a fixed range instead
//! ([`MovingAverageMinMax::starting_at`]).

use candle_core::{Result, Tensor};

/// The `(min, max)` of a batch; a NaN or infinite value is an error.
pub fn batch_range(x: &Tensor) -> Result<(f32, f32)> {
    let flat = x.detach().flatten_all()?;
    let lo: f32 = flat.min(0)?.to_scalar()?;
    let hi: f32 = flat.max(0)?.to_scalar()?;
    // min/max may skip a NaN; the sum does not.
    let sum: f32 = flat.sum_all()?.to_scalar()?;
    if !(lo.is_finite() && hi.is_finite() && sum.is_finite()) {
        candle_core::bail!("observer: the batch holds NaN or infinite values ({lo}, {hi})");
    }
    Ok((lo, hi))
}

/// A moving-average min/max observer.
#[derive(Clone, Debug, PartialEq)]
pub struct MovingAverageMinMax {
    /// Fraction of the way the range moves toward each batch's (PyTorch's
    /// `averaging_constant`; 1 - TF's EMA decay).
    pub averaging_constant: f32,
    range: Option<(f32, f32)>,
}

impl MovingAverageMinMax {
    /// An observer whose first batch sets the range.
    pub fn new(averaging_constant: f32) -> Self {
        Self {
            averaging_constant,
            range: None,
        }
    }

    /// An observer whose range starts at `[min, max]`, moved by every batch including the first.
    pub fn starting_at(averaging_constant: f32, min: f32, max: f32) -> Self {
        Self {
            averaging_constant,
            range: Some((min, max)),
        }
    }

    /// Moves the range toward `x`'s; a batch with a NaN or infinite value is an error.
    pub fn observe(&mut self, x: &Tensor) -> Result<()> {
        let (lo, hi) = batch_range(x)?;
        self.observe_range(lo, hi);
        Ok(())
    }

    /// Moves the range toward a batch's `[lo, hi]` (finite).
    pub fn observe_range(&mut self, lo: f32, hi: f32) {
        let c = self.averaging_constant;
        self.range = Some(match self.range {
            None => (lo, hi),
            Some((min, max)) => (min + c * (lo - min), max + c * (hi - max)),
        });
    }

    /// The range so far (`None` before the first batch of an observer made with `new`).
    pub fn range(&self) -> Option<(f32, f32)> {
        self.range
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn t(v: &[f32]) -> Tensor {
        Tensor::new(v, &Device::Cpu).unwrap()
    }

    #[test]
    fn the_first_batch_sets_the_range_then_each_moves_it_by_the_constant() {
        let mut o = MovingAverageMinMax::new(0.01);
        assert_eq!(o.range(), None);
        o.observe(&t(&[-1.0, 0.5, 2.0])).unwrap();
        assert_eq!(o.range(), Some((-1.0, 2.0)));
        o.observe(&t(&[-3.0, 4.0])).unwrap();
        let (lo, hi) = o.range().unwrap();
        assert_eq!(
            (lo, hi),
            (-1.0 + 0.01 * (-3.0 - -1.0), 2.0 + 0.01 * (4.0 - 2.0))
        );
    }

    #[test]
    fn a_fixed_start_is_moved_by_the_first_batch_too() {
        let mut o = MovingAverageMinMax::starting_at(0.001, -6.0, 6.0);
        o.observe(&t(&[0.0, 1.0])).unwrap();
        let (lo, hi) = o.range().unwrap();
        assert_eq!((lo, hi), (-6.0 + 0.001 * 6.0, 6.0 + 0.001 * (1.0 - 6.0)));
    }

    #[test]
    fn a_nan_batch_is_refused() {
        let mut o = MovingAverageMinMax::new(0.01);
        assert!(o.observe(&t(&[1.0, f32::NAN])).is_err());
        assert_eq!(o.range(), None);
    }
}
