//! Streaming error statistics between a reference tensor and its quantized counterpart.

use crate::error::{check_finite, QuantError, Result};

/// Sums over every element seen so far of `x` (reference) and `y` (quantized), in `f64`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ErrorStats {
    /// Elements compared.
    pub count: u64,
    sum_xx: f64,
    sum_yy: f64,
    sum_xy: f64,
    sum_ee: f64,
    /// Largest `|x - y|`.
    pub max_abs: f64,
}

impl ErrorStats {
    /// Adds one batch; the slices must be equally long and finite.
    pub fn add(&mut self, x: &[f32], y: &[f32]) -> Result<()> {
        if x.len() != y.len() {
            return Err(QuantError::Shape(format!(
                "cannot compare {} reference values with {} quantized values",
                x.len(),
                y.len()
            )));
        }
        check_finite("reference tensor", x)?;
        check_finite("quantized tensor", y)?;
        for (&a, &b) in x.iter().zip(y) {
            let (a, b) = (a as f64, b as f64);
            let e = a - b;
            self.sum_xx += a * a;
            self.sum_yy += b * b;
            self.sum_xy += a * b;
            self.sum_ee += e * e;
            self.max_abs = self.max_abs.max(e.abs());
        }
        self.count += x.len() as u64;
        Ok(())
    }

    /// Merges another accumulator (e.g. one channel's into the tensor's).
    pub fn merge(&mut self, o: &ErrorStats) {
        self.count += o.count;
        self.sum_xx += o.sum_xx;
        self.sum_yy += o.sum_yy;
        self.sum_xy += o.sum_xy;
        self.sum_ee += o.sum_ee;
        self.max_abs = self.max_abs.max(o.max_abs);
    }

    /// Signal-to-quantization-noise ratio in dB, `10·log10(Σx² / Σ(x-y)²)`; `None` when the
    /// values are identical (no noise). ORT clamps both norms to `f32::EPSILON` instead, which
    /// turns "identical" into a large finite number.
    pub fn sqnr_db(&self) -> Option<f64> {
        (self.sum_ee > 0.0)
            .then(|| 10.0 * (self.sum_xx.max(f64::MIN_POSITIVE) / self.sum_ee).log10())
    }

    /// Cosine similarity of the two tensors (1 when both are zero).
    pub fn cosine(&self) -> f64 {
        let d = (self.sum_xx * self.sum_yy).sqrt();
        if d > 0.0 {
            self.sum_xy / d
        } else if self.sum_xx == self.sum_yy {
            1.0
        } else {
            0.0
        }
    }

    /// Root-mean-square error.
    pub fn rmse(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            (self.sum_ee / self.count as f64).sqrt()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_noise_gives_known_sqnr() {
        // Signal power 1 per element, noise 0.01 per element: 20 dB.
        let x = [1.0f32, -1.0, 1.0, -1.0];
        let y = [1.1f32, -1.1, 0.9, -0.9];
        let mut s = ErrorStats::default();
        s.add(&x, &y).unwrap();
        assert!(
            (s.sqnr_db().unwrap() - 20.0).abs() < 1e-5,
            "{:?}",
            s.sqnr_db()
        );
        assert!((s.max_abs - 0.1).abs() < 1e-6);
        assert!((s.rmse() - 0.1).abs() < 1e-6);
        assert!(s.cosine() > 0.99 && s.cosine() < 1.0);
        // Streaming two halves is the same as one pass (ORT concatenates the batches).
        let mut h = ErrorStats::default();
        h.add(&x[..2], &y[..2]).unwrap();
        h.add(&x[2..], &y[2..]).unwrap();
        assert_eq!(h.count, 4);
        assert!((h.sqnr_db().unwrap() - s.sqnr_db().unwrap()).abs() < 1e-12);
    }

    #[test]
    fn identical_values_have_no_noise_and_bad_input_is_refused() {
        let mut s = ErrorStats::default();
        s.add(&[0.5, 2.0], &[0.5, 2.0]).unwrap();
        assert_eq!(s.sqnr_db(), None);
        assert_eq!(s.cosine(), 1.0);
        assert!(s.add(&[1.0], &[1.0, 2.0]).is_err());
        assert!(matches!(
            s.add(&[f32::NAN], &[1.0]),
            Err(QuantError::NonFinite { .. })
        ));
        // A sign flip is the worst cosine.
        let mut f = ErrorStats::default();
        f.add(&[1.0, 2.0], &[-1.0, -2.0]).unwrap();
        assert!((f.cosine() + 1.0).abs() < 1e-12);
    }
}
