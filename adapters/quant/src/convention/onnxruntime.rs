//! ONNX Runtime's rules for scale and zero point.
//!
//! Followed: `onnxruntime/python/tools/quantization/quant_utils.py`, functions
//! `compute_scale_zp` (the version with the `symmetric -> round((qmin + qmax) / 2)` zero point,
//! ORT >= 1.17) and `get_qmin_qmax_for_qType` (tables `ONNX_INT_TYPE_RANGE`,
//! `ONNX_INT_TYPE_SYMMETRIC_RANGE`, `ONNX_INT_TYPE_REDUCED_RANGE`); and
//! `onnxruntime/core/util/qmath.h` `GetQuantizationParameter` for `DynamicQuantizeLinear`.
//!
//! Arithmetic as in the Python tool: `rmin`/`rmax` are float32 numpy scalars, so `rmax - rmin`
//! is computed in `f32`; the division by `qmax - qmin` is done in `f64`; the zero point is
//! `numpy.round` (ties to even) in `f64`; the scale is finally cast to `f32`.

use crate::error::{check_finite, QuantError, Result};
use crate::params::{QuantParams, Range};
use crate::scheme::QType;

/// `get_qmin_qmax_for_qType(qType, reduce_range, symmetric)`.
///
/// * `reduce_range` (ORT applies it to **weights**): signed `[-2^(b-2), 2^(b-2)]`
///   (int8 `[-64, 64]`), unsigned `[0, 2^(b-1)-1]` (uint8 `[0, 127]`);
/// * else `symmetric` and signed: `[-(2^(b-1)-1), 2^(b-1)-1]` (int8 `[-127, 127]`);
/// * else the full range of the type.
pub fn qrange(qtype: QType, reduce_range: bool, symmetric: bool) -> (i32, i32) {
    let b = qtype.bits();
    if reduce_range {
        if qtype.is_signed() {
            let h = 1i32 << (b - 2);
            (-h, h)
        } else {
            (0, (1i32 << (b - 1)) - 1)
        }
    } else if symmetric && qtype.is_signed() {
        qtype.narrow_range()
    } else {
        qtype.full_range()
    }
}

/// `compute_scale_zp(rmin, rmax, qmin, qmax, symmetric, min_real_range)`.
///
/// The range is first widened to contain 0; `symmetric` makes it `[-absmax, absmax]` and sets
/// `zero_point = round((qmin + qmax) / 2)` (0 for int8, 128 for uint8); otherwise
/// `zero_point = round(qmin - rmin / scale)`. A scale below `f32::MIN_POSITIVE` (e.g. an
/// all-zero tensor) gives `scale = 1.0, zero_point = 0`, as ORT does.
pub fn compute_scale_zp(
    rmin: f32,
    rmax: f32,
    qmin: i32,
    qmax: i32,
    symmetric: bool,
    min_real_range: Option<f32>,
) -> Result<QuantParams> {
    check_finite("onnxruntime compute_scale_zp: rmin/rmax", &[rmin, rmax])?;
    if qmin > 0 || qmax < 0 || qmin >= qmax {
        return Err(QuantError::InvalidParams(format!(
            "onnxruntime compute_scale_zp needs qmin <= 0 <= qmax and qmin < qmax, got [{qmin}, {qmax}]"
        )));
    }
    let mut rmin = rmin.min(0.0);
    let mut rmax = rmax.max(0.0);
    if let Some(m) = min_real_range {
        check_finite("onnxruntime compute_scale_zp: min_real_range", &[m])?;
        rmax = rmax.max(rmin + m);
    }
    if symmetric {
        let absmax = rmin.abs().max(rmax.abs());
        rmin = -absmax;
        rmax = absmax;
    }
    // numpy.array(rmax - rmin, dtype=float64): the subtraction happens in float32.
    let dr = (rmax - rmin) as f64;
    if !dr.is_finite() {
        return Err(QuantError::InvalidRange {
            what: "onnxruntime compute_scale_zp".into(),
            min: rmin as f64,
            max: rmax as f64,
            reason: "rmax - rmin overflows float32".into(),
        });
    }
    let dq = qmax as f64 - qmin as f64;
    let scale = dr / dq;
    if scale < f32::MIN_POSITIVE as f64 {
        return QuantParams::new(1.0, 0, qmin, qmax);
    }
    let zp = if symmetric {
        ((qmin as f64 + qmax as f64) / 2.0).round_ties_even()
    } else {
        (qmin as f64 - rmin as f64 / scale).round_ties_even()
    };
    let zero_point = zp.clamp(qmin as f64, qmax as f64) as i32;
    QuantParams::new(scale as f32, zero_point, qmin, qmax)
}

/// Convenience: [`qrange`] then [`compute_scale_zp`] for a calibrated range.
pub fn params(
    range: Range,
    qtype: QType,
    symmetric: bool,
    reduce_range: bool,
) -> Result<QuantParams> {
    let (qmin, qmax) = qrange(qtype, reduce_range, symmetric);
    compute_scale_zp(range.min, range.max, qmin, qmax, symmetric, None)
}

/// Parameters `DynamicQuantizeLinear` computes at run time for a uint8 tensor
/// (`qmath.h GetQuantizationParameter`): range widened to contain 0,
/// `scale = (max - min) / 255` in `f32` (1.0 if max == min), `zero_point` = round-half-even of
/// the clamped `0 - min / scale`. The whole tensor (batch included) is one range.
pub fn dynamic_quantize_linear_params(x: &[f32]) -> Result<QuantParams> {
    check_finite("DynamicQuantizeLinear input", x)?;
    let (mut min, mut max) = (f32::INFINITY, f32::NEG_INFINITY);
    for &v in x {
        min = min.min(v);
        max = max.max(v);
    }
    if x.is_empty() {
        min = 0.0;
        max = 0.0;
    }
    let min = min.min(0.0);
    let max = max.max(0.0);
    let scale = if max == min { 1.0 } else { (max - min) / 255.0 };
    if !(scale.is_finite() && scale > 0.0) {
        return Err(QuantError::InvalidRange {
            what: "DynamicQuantizeLinear input".into(),
            min: min as f64,
            max: max as f64,
            reason: "range overflows float32".into(),
        });
    }
    let initial = 0.0 - min / scale;
    let zp = initial.clamp(0.0, 255.0).round_ties_even() as i32;
    QuantParams::new(scale, zp, 0, 255)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qranges_match_ort_tables() {
        // ONNX_INT_TYPE_RANGE / SYMMETRIC_RANGE / REDUCED_RANGE
        assert_eq!(qrange(QType::INT8, false, false), (-128, 127));
        assert_eq!(qrange(QType::INT8, false, true), (-127, 127));
        assert_eq!(qrange(QType::INT8, true, true), (-64, 64));
        assert_eq!(qrange(QType::INT8, true, false), (-64, 64));
        assert_eq!(qrange(QType::UINT8, false, true), (0, 255));
        assert_eq!(qrange(QType::UINT8, true, false), (0, 127));
        assert_eq!(qrange(QType::INT16, false, true), (-32767, 32767));
        assert_eq!(qrange(QType::INT16, true, false), (-16384, 16384));
        assert_eq!(qrange(QType::UINT16, true, false), (0, 32767));
    }

    #[test]
    fn symmetric_int8_by_hand() {
        // absmax = max(|-1|, |0.5|) = 1 -> rmin=-1, rmax=1; scale = 2/254 = 1/127; z = round(0/2) = 0.
        let p = params(Range::new(-1.0, 0.5).unwrap(), QType::INT8, true, false).unwrap();
        assert_eq!(p.scale, (2.0f64 / 254.0) as f32);
        assert_eq!(p.scale, 1.0f32 / 127.0);
        assert_eq!((p.zero_point, p.qmin, p.qmax), (0, -127, 127));
    }

    #[test]
    fn symmetric_uint8_zero_point_is_128() {
        // absmax 1 -> scale 2/255; z = round((0 + 255) / 2) = round(127.5) = 128 (ties to even).
        let p = params(Range::new(-0.25, 1.0).unwrap(), QType::UINT8, true, false).unwrap();
        assert_eq!(p.scale, (2.0f64 / 255.0) as f32);
        assert_eq!((p.zero_point, p.qmin, p.qmax), (128, 0, 255));
        // reduce_range uint8 symmetric: [0, 127] -> z = round(63.5) = 64.
        let p = params(Range::new(-1.0, 1.0).unwrap(), QType::UINT8, true, true).unwrap();
        assert_eq!((p.zero_point, p.qmin, p.qmax), (64, 0, 127));
    }

    #[test]
    fn reduce_range_int8_weights() {
        // [-64, 64]: scale = 2·1/128 = 0.015625 exactly, z = 0.
        let p = params(Range::new(-1.0, 0.3).unwrap(), QType::INT8, true, true).unwrap();
        assert_eq!(
            (p.scale, p.zero_point, p.qmin, p.qmax),
            (0.015625, 0, -64, 64)
        );
    }

    #[test]
    fn asymmetric_by_hand_with_exact_scale() {
        // rmin = -1, rmax = 2.984375: rmax - rmin = 3.984375 = 255/64 -> scale = 1/64 exactly.
        // uint8: z = round(0 - (-1)/(1/64)) = 64.
        let p = params(
            Range::new(-1.0, 2.984375).unwrap(),
            QType::UINT8,
            false,
            false,
        )
        .unwrap();
        assert_eq!((p.scale, p.zero_point), (0.015625, 64));
    }

    #[test]
    fn asymmetric_zero_point_ties_to_even() {
        // rmin = -3.5/64, rmax = 255/64 - 3.5/64: scale = 1/64, int8:
        // z = round(-128 - (-3.5)) = round(-124.5) = -124 (numpy ties to even; C round gives -125).
        let rmin = -0.0546875f32;
        let rmax = 3.9296875f32;
        let p = params(Range::new(rmin, rmax).unwrap(), QType::INT8, false, false).unwrap();
        assert_eq!(
            (p.scale, p.zero_point, p.qmin, p.qmax),
            (0.015625, -124, -128, 127)
        );
        // uint8 with rmin = -2.5/64: z = round(2.5) = 2.
        let p = params(
            Range::new(-0.0390625, 3.9453125).unwrap(),
            QType::UINT8,
            false,
            false,
        )
        .unwrap();
        assert_eq!((p.scale, p.zero_point), (0.015625, 2));
    }

    #[test]
    fn all_zero_single_value_and_one_sided_ranges() {
        // All zeros: scale 1.0, z = 0 (ORT's "scale < tiny" branch), symmetric or not.
        for sym in [false, true] {
            let p = params(Range::new(0.0, 0.0).unwrap(), QType::UINT8, sym, false).unwrap();
            assert_eq!((p.scale, p.zero_point), (1.0, 0));
        }
        // A single value 5: range [0, 5] -> uint8 scale = 5/255, z = 0.
        let p = params(Range::new(5.0, 5.0).unwrap(), QType::UINT8, false, false).unwrap();
        assert_eq!((p.scale, p.zero_point), ((5.0f64 / 255.0) as f32, 0));
        // Negative-only [-2, -1] -> [-2, 0]: scale 2/255, z = round(2/(2/255)) = 255.
        let p = params(Range::new(-2.0, -1.0).unwrap(), QType::UINT8, false, false).unwrap();
        assert_eq!((p.scale, p.zero_point), ((2.0f64 / 255.0) as f32, 255));
        // Positive-only [1, 3] -> [0, 3]: int8 z = round(-128 - 0) = -128.
        let p = params(Range::new(1.0, 3.0).unwrap(), QType::INT8, false, false).unwrap();
        assert_eq!((p.scale, p.zero_point), ((3.0f64 / 255.0) as f32, -128));
    }

    #[test]
    fn min_real_range_and_errors() {
        // rmin = 0, rmax = 0 with min_real_range 2.55 -> rmax = 2.55, uint8 scale = 0.01.
        let p = compute_scale_zp(0.0, 0.0, 0, 255, false, Some(2.55)).unwrap();
        assert_eq!(p.scale, ((2.55f32) as f64 / 255.0) as f32);
        assert!(compute_scale_zp(f32::NAN, 1.0, 0, 255, false, None).is_err());
        assert!(compute_scale_zp(0.0, 1.0, 1, 255, false, None).is_err());
        assert!(compute_scale_zp(-f32::MAX, f32::MAX, 0, 255, false, None).is_err());
    }

    #[test]
    fn dynamic_quantize_linear_by_hand() {
        // x = [-1, 2.984375]: scale = 3.984375/255 = 1/64, z = round(1·64) = 64.
        let p = dynamic_quantize_linear_params(&[-1.0, 0.5, 2.984375]).unwrap();
        assert_eq!(
            (p.scale, p.zero_point, p.qmin, p.qmax),
            (0.015625, 64, 0, 255)
        );
        // All zeros: max == min -> scale 1, z = 0.
        let p = dynamic_quantize_linear_params(&[0.0, 0.0]).unwrap();
        assert_eq!((p.scale, p.zero_point), (1.0, 0));
        // Negative only: [-2.55, -1] -> [-2.55, 0], z = clamp(2.55/0.01) -> 255.
        let p = dynamic_quantize_linear_params(&[-2.55, -1.0]).unwrap();
        assert_eq!(p.zero_point, 255);
        assert!(dynamic_quantize_linear_params(&[f32::NAN]).is_err());
    }
}
