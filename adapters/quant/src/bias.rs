//! int32 bias quantization with `scale = s_in · s_w[c]`, zero point 0.
//!
//! * ONNX Runtime (`onnx_quantizer.py` / `base_quantizer.py` `quantize_bias_static_impl`):
//!   `bias_scale = input_scale · weight_scale` (float32 product), `q = round(b / bias_scale)`
//!   in `f64` with numpy's ties to even, clipped to `[i32::MIN, i32::MAX]`.
//! * TFLite (`lite/tools/optimize/quantization_utils.cc` `SymmetricBiasQuantize`):
//!   `q = TfLiteRound(b · (1 / scale))` (reciprocal in `f32`, ties away from zero), clamped to
//!   `[-(2^31-1), 2^31-1]`; a zero scale gives `q = 0`.

use crate::error::{check_finite, QuantError, Result};
use crate::quantize::Rounding;

/// Bias scales `s_in · s_w[c]` (one per channel, or one if `weight_scales` has one entry).
pub fn bias_scales(input_scale: f32, weight_scales: &[f32]) -> Vec<f32> {
    weight_scales.iter().map(|&s| input_scale * s).collect()
}

fn checked_scales(bias: &[f32], input_scale: f32, weight_scales: &[f32]) -> Result<Vec<f32>> {
    check_finite("bias", bias)?;
    check_finite("bias input scale", &[input_scale])?;
    check_finite("bias weight scales", weight_scales)?;
    if weight_scales.len() != 1 && weight_scales.len() != bias.len() {
        return Err(QuantError::Shape(format!(
            "bias has {} values but {} weight scales (need 1 or one per channel)",
            bias.len(),
            weight_scales.len()
        )));
    }
    Ok(bias_scales(input_scale, weight_scales))
}

fn scale_for(scales: &[f32], c: usize) -> f32 {
    if scales.len() == 1 {
        scales[0]
    } else {
        scales[c]
    }
}

/// ONNX Runtime's int32 bias: `clip(round_half_even(b / (s_in · s_w[c])), i32::MIN, i32::MAX)`.
/// A zero or negative bias scale is an error.
pub fn quantize_bias_i32(
    bias: &[f32],
    input_scale: f32,
    weight_scales: &[f32],
) -> Result<Vec<i32>> {
    let scales = checked_scales(bias, input_scale, weight_scales)?;
    bias.iter()
        .enumerate()
        .map(|(c, &b)| {
            let s = scale_for(&scales, c);
            if !(s > 0.0 && s.is_finite()) {
                return Err(QuantError::InvalidParams(format!(
                    "bias channel {c}: scale s_in·s_w = {s} must be finite and > 0"
                )));
            }
            let q = (b as f64 / s as f64).round_ties_even();
            Ok(q.clamp(i32::MIN as f64, i32::MAX as f64) as i32)
        })
        .collect()
}

/// TFLite's int32 bias (`SymmetricBiasQuantize`).
pub fn quantize_bias_i32_tflite(
    bias: &[f32],
    input_scale: f32,
    weight_scales: &[f32],
) -> Result<Vec<i32>> {
    let scales = checked_scales(bias, input_scale, weight_scales)?;
    let k = i32::MAX as i64;
    Ok(bias
        .iter()
        .enumerate()
        .map(|(c, &b)| {
            let s = scale_for(&scales, c);
            let inv = if s == 0.0 {
                0.0
            } else {
                (1.0f64 / s as f64) as f32
            };
            let r = Rounding::HalfAwayFromZero.round(b * inv) as f64;
            let q = if r.is_finite() {
                r.clamp(-(k as f64), k as f64) as i64
            } else {
                0
            };
            q.clamp(-k, k) as i32
        })
        .collect())
}

/// Dequantizes an int32 bias: `q · s_in · s_w[c]`.
pub fn dequantize_bias(q: &[i32], input_scale: f32, weight_scales: &[f32]) -> Result<Vec<f32>> {
    if weight_scales.len() != 1 && weight_scales.len() != q.len() {
        return Err(QuantError::Shape(format!(
            "bias has {} values but {} weight scales",
            q.len(),
            weight_scales.len()
        )));
    }
    let scales = bias_scales(input_scale, weight_scales);
    Ok(q.iter()
        .enumerate()
        .map(|(c, &v)| v as f32 * scale_for(&scales, c))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_channel_by_hand() {
        // s_in = 0.5, s_w = [0.25, 0.1] -> scales [0.125, 0.05].
        // ch0: 0.3125 / 0.125 = 2.5 -> ties to even -> 2 (TFLite: away from zero -> 3).
        // ch1: -1.0 / 0.05 = -20.
        let b = [0.3125f32, -1.0];
        assert_eq!(bias_scales(0.5, &[0.25, 0.1]), vec![0.125, 0.5f32 * 0.1]);
        assert_eq!(
            quantize_bias_i32(&b, 0.5, &[0.25, 0.1]).unwrap(),
            vec![2, -20]
        );
        assert_eq!(
            quantize_bias_i32_tflite(&b, 0.5, &[0.25, 0.1]).unwrap(),
            vec![3, -20]
        );
        let back = dequantize_bias(&[2, -20], 0.5, &[0.25, 0.1]).unwrap();
        assert_eq!(back[0], 0.25);
    }

    #[test]
    fn per_tensor_scale_broadcasts() {
        // s = 0.5·0.5 = 0.25: [1, -1, 0.3] -> [4, -4, 1.2 -> 1]
        assert_eq!(
            quantize_bias_i32(&[1.0, -1.0, 0.3], 0.5, &[0.5]).unwrap(),
            vec![4, -4, 1]
        );
    }

    #[test]
    fn clamping_to_int32() {
        // 1e9 / 0.125 = 8e9 > 2^31-1; -1e10 / 0.125 < -2^31.
        let q = quantize_bias_i32(&[1e9, -1e10], 0.5, &[0.25]).unwrap();
        assert_eq!(q, vec![i32::MAX, i32::MIN]);
        // TFLite clamps symmetrically to ±(2^31-1).
        let q = quantize_bias_i32_tflite(&[1e9, -1e10], 0.5, &[0.25]).unwrap();
        assert_eq!(q, vec![i32::MAX, -i32::MAX]);
    }

    #[test]
    fn edge_cases() {
        // All-zero bias.
        assert_eq!(
            quantize_bias_i32(&[0.0, 0.0], 1.0, &[1.0]).unwrap(),
            vec![0, 0]
        );
        // Zero scale: error for ORT, q = 0 for TFLite.
        assert!(quantize_bias_i32(&[1.0], 0.0, &[1.0]).is_err());
        assert_eq!(
            quantize_bias_i32_tflite(&[1.0], 0.0, &[1.0]).unwrap(),
            vec![0]
        );
        // Shape and NaN errors.
        assert!(quantize_bias_i32(&[1.0, 2.0, 3.0], 1.0, &[1.0, 2.0]).is_err());
        assert!(quantize_bias_i32(&[f32::NAN], 1.0, &[1.0]).is_err());
        assert!(quantize_bias_i32(&[1.0], f32::INFINITY, &[1.0]).is_err());
        assert!(dequantize_bias(&[1, 2], 1.0, &[1.0, 2.0, 3.0]).is_err());
    }
}
