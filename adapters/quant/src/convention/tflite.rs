//! TFLite's rules for scale and zero point (the converter's MLIR quantizer, as called from Python).
//!
//! Followed (tensorflow/compiler/mlir/...):
//! * `quantization/common/quantization_lib/quantization_utils.cc`: `GetQuantizedType`,
//!   `ExtractMinMaxFromAttr` (weights: range widened to include 0, symmetric = absmax),
//!   `DownCastScale` (the `legacy_float_scale=true` path, which `lite/python` always passes:
//!   `scale = (float(max) - float(min)) / (qmax - qmin)` in `f32`, asymmetric zero point
//!   `zero_point_from_min = qmin - min / scale` then clamped and `std::round`ed);
//! * `lite/quantization/ir/FakeQuantSupport.cc` `fakeQuantAttrsToType` /
//!   `getNudgedScaleAndZeroPoint` (zero point of symmetric storage ranges; all-zero ranges);
//! * `ConvertStatsToQDQs`: activation ranges widened to include 0; 16-bit activations made
//!   symmetric;
//! * `lite/tools/optimize/quantization_utils.cc` `SymmetricPerChannelQuantizeValues` and
//!   `SymmetricBiasQuantize` for how values are rounded (`TfLiteRound` = ties away from zero,
//!   multiplication by the reciprocal scale).
//!
//! Conventions (TFLite's 8-bit quantization specification): weights int8 symmetric narrow `[-127, 127]`, z = 0, per channel for
//! convolutions and per tensor for fully connected layers; activations int8 asymmetric
//! `[-128, 127]`; 16x8 mode: int16 symmetric activations; bias int32 with `s_in * s_w`.

use crate::error::{check_finite, QuantError, Result};
use crate::params::{QuantParams, Range};
use crate::scheme::QType;

/// MLIR `getNudgedScaleAndZeroPoint` zero point (in `f64`, ties away from zero): of the two
/// estimates `qmin - rmin/scale` and `qmax - rmax/scale` the one with the smaller error is used.
fn mlir_nudged_zero_point(rmin: f64, rmax: f64, qmin: i32, qmax: i32) -> i32 {
    let (qminf, qmaxf) = (qmin as f64, qmax as f64);
    let scale = (rmax - rmin) / (qmaxf - qminf);
    let zp_from_min = qminf - rmin / scale;
    let zp_from_min_err = qminf.abs() + (rmin / scale).abs();
    let zp_from_max = qmaxf - rmax / scale;
    let zp_from_max_err = qmaxf.abs() + (rmax / scale).abs();
    let zp = if zp_from_min_err < zp_from_max_err {
        zp_from_min
    } else {
        zp_from_max
    };
    if zp < qminf {
        qmin
    } else if zp > qmaxf {
        qmax
    } else {
        zp.round() as i32
    }
}

/// Scale and zero point for `[rmin, rmax]` on the integer range `[qmin, qmax]`, as the TFLite
/// converter writes them into the flatbuffer.
///
/// The range is widened to include 0 (and made `[-absmax, absmax]` when `symmetric`). A range
/// narrower than `f64::EPSILON` (all zeros) gets `scale = 1.0` as MLIR assigns, with
/// `zero_point = 0` if symmetric and `qmin` otherwise (MLIR's choice; the legacy float down-cast
/// would turn that scale into 0, which no runtime accepts, so it is not reproduced).
pub fn nudged_params(
    rmin: f32,
    rmax: f32,
    qmin: i32,
    qmax: i32,
    symmetric: bool,
) -> Result<QuantParams> {
    check_finite("tflite quantization range", &[rmin, rmax])?;
    if qmin > 0 || qmax < 0 || qmin >= qmax {
        return Err(QuantError::InvalidParams(format!(
            "TFLite needs qmin <= 0 <= qmax and qmin < qmax, got [{qmin}, {qmax}]"
        )));
    }
    let mut lo = (rmin as f64).min(0.0);
    let mut hi = (rmax as f64).max(0.0);
    if symmetric {
        let a = lo.abs().max(hi.abs());
        lo = -a;
        hi = a;
    }
    if (hi - lo).abs() < f64::EPSILON {
        let zp = if symmetric { 0 } else { qmin };
        return QuantParams::new(1.0, zp, qmin, qmax);
    }
    // DownCastScale (legacy_float_scale): float(max) - float(min), divided by the int range in f32.
    let scale = (hi as f32 - lo as f32) / (qmax - qmin) as f32;
    if !(scale.is_finite() && scale > 0.0) {
        return Err(QuantError::InvalidRange {
            what: "tflite quantization range".into(),
            min: lo,
            max: hi,
            reason: "scale is not a positive finite float32".into(),
        });
    }
    let zero_point = if qmax == -qmin {
        // Symmetric storage range: DownCastScale keeps the nudged MLIR zero point.
        mlir_nudged_zero_point(lo, hi, qmin, qmax)
    } else {
        let zp_from_min = (qmin as f64 - lo / scale as f64) as f32;
        if zp_from_min < qmin as f32 {
            qmin
        } else if zp_from_min > qmax as f32 {
            qmax
        } else {
            zp_from_min.round() as i32
        }
    };
    QuantParams::new(scale, zero_point, qmin, qmax)
}

/// Weight parameters: symmetric narrow range `[-(2^(b-1)-1), 2^(b-1)-1]`, z = 0
/// (`GetUniformQuantizedTypeForWeight` / `...PerAxisTypeForWeight` with `symmetric=true,
/// narrow_range=true`). Call once per tensor (fully connected) or per channel (convolution).
pub fn weight_params(range: Range, bits: u32) -> Result<QuantParams> {
    let (qmin, qmax) = QType::new(bits, true)?.narrow_range();
    nudged_params(range.min, range.max, qmin, qmax, true)
}

/// Activation parameters: int8 asymmetric on `[-128, 127]`; int16 (16x8 mode) symmetric on
/// `[-32767, 32767]` with z = 0. Other types use the full range, asymmetric.
pub fn activation_params(range: Range, qtype: QType) -> Result<QuantParams> {
    if qtype.bits() == 16 && qtype.is_signed() {
        let (qmin, qmax) = qtype.narrow_range();
        nudged_params(range.min, range.max, qmin, qmax, true)
    } else {
        let (qmin, qmax) = qtype.full_range();
        nudged_params(range.min, range.max, qmin, qmax, false)
    }
}

/// Dispatch used by [`crate::Convention::TfLite`]: symmetric means the narrow signed range.
pub fn params(range: Range, qtype: QType, symmetric: bool) -> Result<QuantParams> {
    if symmetric {
        if !qtype.is_signed() {
            return Err(QuantError::Unsupported {
                framework: "TFLite",
                what: format!("symmetric quantization of unsigned {qtype}"),
            });
        }
        let (qmin, qmax) = qtype.narrow_range();
        nudged_params(range.min, range.max, qmin, qmax, true)
    } else {
        activation_params(range, qtype)
    }
}

/// Quantizes weights the way the TFLite converter does
/// (`SymmetricPerChannelQuantizeValues`): `q = clamp(TfLiteRound(x * (1/scale)), qmin, qmax)`,
/// the reciprocal computed in `f64` and stored as `f32`, ties away from zero, z = 0.
pub fn quantize_weights(x: &[f32], p: &QuantParams) -> Result<Vec<i32>> {
    p.validate()?;
    check_finite("tflite weights", x)?;
    let inv = (1.0f64 / p.scale as f64) as f32;
    Ok(x.iter()
        .map(|&v| {
            let r = (v * inv).round() as f64 + p.zero_point as f64;
            r.clamp(p.qmin as f64, p.qmax as f64) as i32
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_symmetric_narrow_by_hand() {
        // absmax 1 -> [-1, 1]; scale = (1 - (-1)) / 254 = 1/127 in f32; z = 0.
        let p = weight_params(Range::new(-0.5, 1.0).unwrap(), 8).unwrap();
        assert_eq!(p.scale, 2.0f32 / 254.0);
        assert_eq!(p.scale, 1.0f32 / 127.0);
        assert_eq!((p.zero_point, p.qmin, p.qmax), (0, -127, 127));
        // 4-bit weights: [-7, 7], scale = 2·0.7/14 = 0.1 (f32 arithmetic).
        let p = weight_params(Range::new(-0.7, 0.2).unwrap(), 4).unwrap();
        assert_eq!(p.scale, (0.7f32 - (-0.7f32)) / 14.0);
        assert_eq!((p.zero_point, p.qmin, p.qmax), (0, -7, 7));
    }

    #[test]
    fn activations_int8_asymmetric_ties_away_from_zero() {
        // rmin = -3.5/64, rmax = 255/64 - 3.5/64: scale = 1/64; z_from_min = -128 + 3.5 = -124.5
        // -> std::round -> -125 (ONNX Runtime and PyTorch give -124).
        let p = activation_params(Range::new(-0.0546875, 3.9296875).unwrap(), QType::INT8).unwrap();
        assert_eq!(
            (p.scale, p.zero_point, p.qmin, p.qmax),
            (0.015625, -125, -128, 127)
        );
        // rmin = -1, rmax = 2.984375: z = -128 + 64 = -64.
        let p = activation_params(Range::new(-1.0, 2.984375).unwrap(), QType::INT8).unwrap();
        assert_eq!((p.scale, p.zero_point), (0.015625, -64));
    }

    #[test]
    fn activations_int16_are_symmetric() {
        // 16x8: absmax 2 -> scale = 4 / 65534, z = 0 on [-32767, 32767].
        let p = activation_params(Range::new(-2.0, 1.0).unwrap(), QType::INT16).unwrap();
        assert_eq!(p.scale, 4.0f32 / 65534.0);
        assert_eq!((p.zero_point, p.qmin, p.qmax), (0, -32767, 32767));
    }

    #[test]
    fn edge_ranges() {
        // All zeros: scale 1.0; z = qmin for asymmetric (MLIR), 0 for symmetric.
        let p = activation_params(Range::new(0.0, 0.0).unwrap(), QType::INT8).unwrap();
        assert_eq!((p.scale, p.zero_point), (1.0, -128));
        let p = weight_params(Range::new(0.0, 0.0).unwrap(), 8).unwrap();
        assert_eq!((p.scale, p.zero_point), (1.0, 0));
        // Positive only [1, 2.55] -> [0, 2.55]: z_from_min = -128 - 0 = -128.
        let p = activation_params(Range::new(1.0, 2.55).unwrap(), QType::INT8).unwrap();
        assert_eq!(p.zero_point, -128);
        assert_eq!(p.scale, 2.55f32 / 255.0);
        // Negative only [-2.55, -1] -> [-2.55, 0]: z_from_min = -128 + 255 = 127 (clamped/rounded).
        let p = activation_params(Range::new(-2.55, -1.0).unwrap(), QType::INT8).unwrap();
        assert_eq!(p.zero_point, 127);
        // Errors.
        assert!(nudged_params(f32::NAN, 1.0, -128, 127, false).is_err());
        assert!(nudged_params(0.0, 1.0, 1, 127, false).is_err());
        assert!(params(Range::new(-1.0, 1.0).unwrap(), QType::UINT8, true).is_err());
    }

    #[test]
    fn weight_values_round_ties_away_from_zero() {
        // scale 0.5: x·2 = [2.5, -2.5, 1.2, 400] -> round away [3, -3, 1, 400 -> 127].
        let p = QuantParams::new(0.5, 0, -127, 127).unwrap();
        assert_eq!(
            quantize_weights(&[1.25, -1.25, 0.6, 200.0], &p).unwrap(),
            vec![3, -3, 1, 127]
        );
        assert!(quantize_weights(&[f32::NAN], &p).is_err());
    }
}
