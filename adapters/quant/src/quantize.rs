//! Uniform quantize / dequantize / fake-quant with explicit rounding.
//!
//! `q = clamp(round(x / s) + z, qmin, qmax)`, `x' = (q - z) * s`, computed in `f32` like ONNX
//! Runtime's `QuantizeLinear` (division in `f32`, then rounding, then saturation).

use crate::error::{check_finite, QuantError, Result};
use crate::params::QuantParams;

/// Round half to even (banker's rounding), as ONNX `QuantizeLinear`, numpy `round` and
/// `torch.round` do. `f32::round` rounds half away from zero and must not be used for ONNX.
pub fn round_half_even(x: f32) -> f32 {
    x.round_ties_even()
}

/// Tie-breaking rule used when rounding `x / scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Rounding {
    /// Ties to even: ONNX, ONNX Runtime, numpy, PyTorch.
    #[default]
    HalfEven,
    /// Ties away from zero (C `round`/`roundf`): TFLite (`TfLiteRound`), GGML Q8_0, Caffe/Ristretto.
    HalfAwayFromZero,
}

impl Rounding {
    /// Rounds `x` to an integer-valued float with this rule.
    pub fn round(self, x: f32) -> f32 {
        match self {
            Rounding::HalfEven => x.round_ties_even(),
            Rounding::HalfAwayFromZero => x.round(),
        }
    }
}

/// Quantizes one finite value (NaN is the caller's responsibility: use [`quantize`]).
fn quantize_one(x: f32, p: &QuantParams, rounding: Rounding) -> i32 {
    let r = rounding.round(x / p.scale) as f64 + p.zero_point as f64;
    r.clamp(p.qmin as f64, p.qmax as f64) as i32
}

/// Quantizes one scalar with ties to even; fails on NaN/Inf or invalid parameters.
pub fn quantize_scalar(x: f32, p: &QuantParams) -> Result<i32> {
    p.validate()?;
    check_finite("scalar", &[x])?;
    Ok(quantize_one(x, p, Rounding::HalfEven))
}

/// Quantizes a tensor with ties to even (ONNX semantics).
pub fn quantize(x: &[f32], p: &QuantParams) -> Result<Vec<i32>> {
    quantize_with(x, p, Rounding::HalfEven)
}

/// Quantizes a tensor with the given tie-breaking rule.
pub fn quantize_with(x: &[f32], p: &QuantParams, rounding: Rounding) -> Result<Vec<i32>> {
    p.validate()?;
    check_finite("tensor to quantize", x)?;
    Ok(x.iter().map(|&v| quantize_one(v, p, rounding)).collect())
}

/// Dequantizes: `(q - z) * s` in `f32`, as ONNX `DequantizeLinear`.
pub fn dequantize(q: &[i32], p: &QuantParams) -> Vec<f32> {
    let z = p.zero_point as i64;
    q.iter().map(|&v| (v as i64 - z) as f32 * p.scale).collect()
}

/// Quantize then dequantize (ties to even): the float value a QDQ pair produces.
pub fn fake_quant(x: &[f32], p: &QuantParams) -> Result<Vec<f32>> {
    Ok(dequantize(&quantize(x, p)?, p))
}

/// Quantize then dequantize with the given rounding.
pub fn fake_quant_with(x: &[f32], p: &QuantParams, rounding: Rounding) -> Result<Vec<f32>> {
    Ok(dequantize(&quantize_with(x, p, rounding)?, p))
}

/// Mean squared error between two equally long tensors, accumulated in `f64`.
pub fn mean_squared_error(a: &[f32], b: &[f32]) -> Result<f64> {
    if a.len() != b.len() {
        return Err(QuantError::Shape(format!(
            "mean_squared_error: lengths differ ({} vs {})",
            a.len(),
            b.len()
        )));
    }
    if a.is_empty() {
        return Err(QuantError::Shape(
            "mean_squared_error: empty tensors".into(),
        ));
    }
    check_finite("mse lhs", a)?;
    check_finite("mse rhs", b)?;
    let sum: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = x as f64 - y as f64;
            d * d
        })
        .sum();
    Ok(sum / a.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int8_sym(scale: f32) -> QuantParams {
        QuantParams::new(scale, 0, -127, 127).unwrap()
    }

    #[test]
    fn ties_go_to_even_not_away_from_zero() {
        // 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> -0, -2.5 -> -2 (f32::round would give 1, 2, 3, -1, -3).
        let x = [0.5f32, 1.5, 2.5, -0.5, -2.5, 3.5];
        let e = [0.0f32, 2.0, 2.0, -0.0, -2.0, 4.0];
        for (v, want) in x.iter().zip(e) {
            assert_eq!(round_half_even(*v), want, "{v}");
        }
        assert_eq!(Rounding::HalfAwayFromZero.round(2.5), 3.0);
        assert_eq!(Rounding::HalfAwayFromZero.round(-2.5), -3.0);
    }

    #[test]
    fn quantize_by_hand() {
        // scale 0.5, z = 0, int8 narrow: x/s = [0, 2, 5, -3, 1.25, 0.75] -> [0, 2, 5, -3, 1, 1].
        let p = int8_sym(0.5);
        let q = quantize(&[0.0, 1.0, 2.5, -1.5, 0.625, 0.375], &p).unwrap();
        assert_eq!(q, vec![0, 2, 5, -3, 1, 1]);
        // Ties: x/s = 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -2.5 -> -2 (half to even).
        let q = quantize(&[0.25, 0.75, 1.25, -1.25], &p).unwrap();
        assert_eq!(q, vec![0, 2, 2, -2]);
        // With ties away from zero: 1, 2, 3, -3.
        let q = quantize_with(&[0.25, 0.75, 1.25, -1.25], &p, Rounding::HalfAwayFromZero).unwrap();
        assert_eq!(q, vec![1, 2, 3, -3]);
    }

    #[test]
    fn saturation_and_zero_point() {
        // uint8, s = 0.1, z = 128: x = 100 -> 1000 + 128 -> 255; x = -100 -> 0; x = 0 -> 128.
        let p = QuantParams::new(0.1, 128, 0, 255).unwrap();
        assert_eq!(
            quantize(&[100.0, -100.0, 0.0], &p).unwrap(),
            vec![255, 0, 128]
        );
        // The largest finite f32 still saturates instead of overflowing.
        assert_eq!(quantize(&[f32::MAX, -f32::MAX], &p).unwrap(), vec![255, 0]);
    }

    #[test]
    fn dequantize_and_fake_quant_by_hand() {
        // (q - z) * s with z = 3, s = 0.25: q = [3, 7, 0] -> [0, 1, -0.75].
        let p = QuantParams::new(0.25, 3, 0, 15).unwrap();
        assert_eq!(dequantize(&[3, 7, 0], &p), vec![0.0, 1.0, -0.75]);
        // fake_quant(0.3): 0.3/0.25 = 1.2 -> 1, + 3 = 4 -> (4-3)*0.25 = 0.25.
        // fake_quant(5.0): 20 + 3 = 23 -> clamp 15 -> 3.0.
        assert_eq!(fake_quant(&[0.3, 5.0], &p).unwrap(), vec![0.25, 3.0]);
    }

    #[test]
    fn edge_cases() {
        let p = int8_sym(1.0);
        // All zeros stay zero; a single value works; empty input gives empty output.
        assert_eq!(quantize(&[0.0; 4], &p).unwrap(), vec![0; 4]);
        assert_eq!(quantize(&[-3.0], &p).unwrap(), vec![-3]);
        assert!(quantize(&[], &p).unwrap().is_empty());
        // Negative-only and positive-only tensors.
        assert_eq!(quantize(&[-1.0, -2.0], &p).unwrap(), vec![-1, -2]);
        assert_eq!(quantize(&[1.0, 200.0], &p).unwrap(), vec![1, 127]);
        // NaN / Inf are rejected.
        let err = quantize(&[1.0, f32::NAN], &p).unwrap_err();
        assert!(matches!(err, QuantError::NonFinite { index: 1, .. }));
        assert!(quantize(&[f32::INFINITY], &p).is_err());
        assert!(quantize_scalar(f32::NAN, &p).is_err());
        assert_eq!(quantize_scalar(2.4, &p).unwrap(), 2);
        // Invalid parameters are rejected.
        let bad = QuantParams {
            scale: 0.0,
            zero_point: 0,
            qmin: -1,
            qmax: 1,
        };
        assert!(quantize(&[1.0], &bad).is_err());
    }

    #[test]
    fn mse_by_hand() {
        // diffs 1, -2 -> (1 + 4) / 2 = 2.5
        assert_eq!(mean_squared_error(&[1.0, 0.0], &[0.0, 2.0]).unwrap(), 2.5);
        assert!(mean_squared_error(&[1.0], &[1.0, 2.0]).is_err());
        assert!(mean_squared_error(&[], &[]).is_err());
    }
}
