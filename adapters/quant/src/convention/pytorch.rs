//! PyTorch's rules for scale and zero point.
//!
//! Followed: `torch/ao/quantization/observer.py`,
//! `UniformQuantizationObserverBase._calculate_qparams` (per-tensor / per-channel affine and
//! symmetric schemes), and `torch/ao/quantization/utils.py` `calculate_qmin_qmax`.
//!
//! Arithmetic as in PyTorch: min/max are float32 tensors, so every step is `f32`;
//! `torch.round` rounds ties to even; `eps = torch.finfo(torch.float32).eps`.

use crate::error::{check_finite, QuantError, Result};
use crate::params::{QuantParams, Range};
use crate::scheme::QType;

/// `torch.finfo(torch.float32).eps`, PyTorch's default lower bound on the scale.
pub const DEFAULT_EPS: f32 = f32::EPSILON;

/// Configuration of a PyTorch observer as far as parameter computation goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TorchQConfig {
    /// `dtype` (qint8 / quint8 / ...).
    pub qtype: QType,
    /// `per_tensor_symmetric` / `per_channel_symmetric` when true, `*_affine` otherwise.
    pub symmetric: bool,
    /// `reduce_range` (PyTorch applies it to **activations**, fbgemm/x86 default).
    pub reduce_range: bool,
    /// `quant_min` / `quant_max` when both are given.
    pub custom_range: Option<(i32, i32)>,
    /// Lower bound on the scale.
    pub eps: f32,
}

impl TorchQConfig {
    /// `quint8`, `per_tensor_affine` (the default activation observer; x86/fbgemm adds
    /// `reduce_range=True`).
    pub fn quint8_affine(reduce_range: bool) -> Self {
        TorchQConfig {
            qtype: QType::UINT8,
            symmetric: false,
            reduce_range,
            custom_range: None,
            eps: DEFAULT_EPS,
        }
    }

    /// `qint8`, `per_tensor_symmetric` / `per_channel_symmetric` (the default weight observers).
    pub fn qint8_symmetric() -> Self {
        TorchQConfig {
            qtype: QType::INT8,
            symmetric: true,
            reduce_range: false,
            custom_range: None,
            eps: DEFAULT_EPS,
        }
    }

    /// `calculate_qmin_qmax`: the integer range this configuration uses.
    ///
    /// Default ranges: signed `[-2^(b-1), 2^(b-1)-1]`, reduced `[-2^(b-2), 2^(b-2)-1]`
    /// (qint8 `[-64, 63]`); unsigned `[0, 2^b-1]`, reduced `[0, 2^(b-1)-1]` (quint8 `[0, 127]`).
    /// A custom range must contain 0; `reduce_range` then halves both ends with floor division.
    pub fn qrange(&self) -> Result<(i32, i32)> {
        let b = self.qtype.bits();
        if let Some((lo, hi)) = self.custom_range {
            if !(lo <= 0 && 0 <= hi) || lo >= hi {
                return Err(QuantError::InvalidParams(format!(
                    "PyTorch custom quantization range must satisfy quant_min <= 0 <= quant_max and quant_min < quant_max, got [{lo}, {hi}]"
                )));
            }
            let (flo, fhi) = self.qtype.full_range();
            if lo < flo || hi > fhi {
                return Err(QuantError::InvalidParams(format!(
                    "PyTorch custom range [{lo}, {hi}] exceeds {} [{flo}, {fhi}]",
                    self.qtype
                )));
            }
            return Ok(if self.reduce_range {
                (lo.div_euclid(2), hi.div_euclid(2))
            } else {
                (lo, hi)
            });
        }
        Ok(match (self.qtype.is_signed(), self.reduce_range) {
            (true, false) => self.qtype.full_range(),
            (true, true) => (-(1 << (b - 2)), (1 << (b - 2)) - 1),
            (false, false) => self.qtype.full_range(),
            (false, true) => (0, (1 << (b - 1)) - 1),
        })
    }
}

/// `_calculate_qparams(min_val, max_val)` for one tensor or one channel.
///
/// * symmetric: `scale = max(-min_neg, max_pos) / ((qmax - qmin) / 2)` (qint8: absmax/127.5),
///   `zero_point = 0`, or 128 for 8-bit unsigned (`(qmin + qmax) // 2` with a custom range);
/// * affine: `scale = (max_pos - min_neg) / (qmax - qmin)`,
///   `zero_point = clamp(qmin - round(min_neg / scale), qmin, qmax)`;
/// * in both, `scale = max(scale, eps)`: an all-zero tensor gives `scale = eps`, not 1.0.
///
/// Like PyTorch, symmetric + `reduce_range` + unsigned is refused ("Cannot reduce range for
/// symmetric quantization for quint8").
pub fn calculate_qparams(min_val: f32, max_val: f32, cfg: &TorchQConfig) -> Result<QuantParams> {
    check_finite(
        "pytorch _calculate_qparams: min_val/max_val",
        &[min_val, max_val],
    )?;
    if min_val > max_val {
        return Err(QuantError::InvalidRange {
            what: "pytorch _calculate_qparams".into(),
            min: min_val as f64,
            max: max_val as f64,
            reason: "min_val should be less than max_val".into(),
        });
    }
    if !(cfg.eps.is_finite() && cfg.eps > 0.0) {
        return Err(QuantError::InvalidArgument(format!(
            "PyTorch eps must be finite and > 0, got {}",
            cfg.eps
        )));
    }
    if cfg.symmetric && cfg.reduce_range && !cfg.qtype.is_signed() {
        return Err(QuantError::Unsupported {
            framework: "PyTorch",
            what: "reduce_range with symmetric quantization for unsigned types".into(),
        });
    }
    let (qmin, qmax) = cfg.qrange()?;
    let min_neg = min_val.min(0.0);
    let max_pos = max_val.max(0.0);
    if cfg.symmetric {
        let m = (-min_neg).max(max_pos);
        let half = ((qmax - qmin) as f64 / 2.0) as f32;
        let scale = (m / half).max(cfg.eps);
        let zero_point = if cfg.qtype.is_signed() {
            0
        } else if cfg.qtype.bits() == 8 {
            match cfg.custom_range {
                Some(_) => (qmin + qmax).div_euclid(2),
                None => 128,
            }
        } else {
            return Err(QuantError::Unsupported {
                framework: "PyTorch",
                what: format!("a symmetric zero point for {}", cfg.qtype),
            });
        };
        QuantParams::new(scale, zero_point, qmin, qmax)
    } else {
        let scale = ((max_pos - min_neg) / (qmax - qmin) as f32).max(cfg.eps);
        if !scale.is_finite() {
            return Err(QuantError::InvalidRange {
                what: "pytorch _calculate_qparams".into(),
                min: min_val as f64,
                max: max_val as f64,
                reason: "max - min overflows float32".into(),
            });
        }
        let zp = qmin as f64 - (min_neg / scale).round_ties_even() as f64;
        let zero_point = zp.clamp(qmin as f64, qmax as f64) as i32;
        QuantParams::new(scale, zero_point, qmin, qmax)
    }
}

/// Convenience over [`calculate_qparams`] with a [`Range`].
pub fn params(range: Range, cfg: &TorchQConfig) -> Result<QuantParams> {
    calculate_qparams(range.min, range.max, cfg)
}

/// PyTorch's `quantize_val` (ATen `affine_quantizer_base.cpp`): `z + nearbyint(x * inv)` with
/// `inv = 1.0f / s` in float, clamped to `[qmin, qmax]`. Multiplying by the rounded inverse
/// differs from dividing where `x / s` is an exact tie: a weight equal to `-absmax` under a
/// symmetric scale `absmax / 127.5` becomes -127 in PyTorch where a division rounds it to -128.
pub fn quantize_val(x: &[f32], p: &QuantParams) -> Result<Vec<i32>> {
    p.validate()?;
    check_finite("tensor to quantize", x)?;
    let inv = 1.0f32 / p.scale;
    Ok(x.iter()
        .map(|&v| {
            let q = i64::from(p.zero_point) + (v * inv).round_ties_even() as i64;
            q.clamp(i64::from(p.qmin), i64::from(p.qmax)) as i32
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_val_multiplies_by_the_float_inverse() {
        // absmax / 127.5 for absmax = 0.1: -absmax lands at -127.49999 in PyTorch.
        let p = QuantParams::new(0.1f32 / 127.5, 0, -128, 127).unwrap();
        let x = [-0.1f32, 0.1];
        let by_division = crate::quantize::quantize(&x, &p).unwrap();
        let torch = quantize_val(&x, &p).unwrap();
        assert_eq!(torch[1], 127);
        assert!(
            torch[0] == -127 || by_division[0] == torch[0],
            "{torch:?} {by_division:?}"
        );
    }

    fn cfg(qtype: QType, symmetric: bool, reduce_range: bool) -> TorchQConfig {
        TorchQConfig {
            qtype,
            symmetric,
            reduce_range,
            custom_range: None,
            eps: DEFAULT_EPS,
        }
    }

    #[test]
    fn qranges() {
        assert_eq!(
            cfg(QType::INT8, false, false).qrange().unwrap(),
            (-128, 127)
        );
        assert_eq!(cfg(QType::INT8, false, true).qrange().unwrap(), (-64, 63));
        assert_eq!(cfg(QType::UINT8, false, false).qrange().unwrap(), (0, 255));
        assert_eq!(cfg(QType::UINT8, false, true).qrange().unwrap(), (0, 127));
        let mut c = cfg(QType::INT8, false, true);
        c.custom_range = Some((-127, 127));
        // floor division: -127 // 2 = -64, 127 // 2 = 63
        assert_eq!(c.qrange().unwrap(), (-64, 63));
        c.custom_range = Some((1, 127));
        assert!(c.qrange().is_err());
        c.custom_range = Some((-200, 127));
        assert!(c.qrange().is_err());
    }

    #[test]
    fn symmetric_qint8_is_absmax_over_127_5() {
        // max(-(-1), 0.5) = 1; scale = 1 / ((127 - (-128)) / 2) = 1/127.5; z = 0.
        let p = calculate_qparams(-1.0, 0.5, &TorchQConfig::qint8_symmetric()).unwrap();
        assert_eq!(p.scale, 1.0f32 / 127.5);
        assert_eq!((p.zero_point, p.qmin, p.qmax), (0, -128, 127));
    }

    #[test]
    fn symmetric_quint8_zero_point() {
        // quint8 symmetric: scale = 2/255 for absmax 1, z = 128.
        let p = calculate_qparams(-1.0, 1.0, &cfg(QType::UINT8, true, false)).unwrap();
        assert_eq!((p.scale, p.zero_point), (1.0f32 / 127.5, 128));
        // Custom range [0, 15]: z = (0 + 15) // 2 = 7; scale = 1 / 7.5.
        let mut c = cfg(QType::UINT8, true, false);
        c.custom_range = Some((0, 15));
        let p = calculate_qparams(-1.0, 1.0, &c).unwrap();
        assert_eq!((p.scale, p.zero_point, p.qmax), (1.0f32 / 7.5, 7, 15));
        // symmetric + reduce_range + quint8 is refused, as in PyTorch.
        assert!(matches!(
            calculate_qparams(-1.0, 1.0, &cfg(QType::UINT8, true, true)),
            Err(QuantError::Unsupported { .. })
        ));
    }

    #[test]
    fn affine_by_hand() {
        // quint8 [0,255], range [-1, 2.984375]: scale = 3.984375/255 = 1/64; z = 0 - round(-64) = 64.
        let p = calculate_qparams(-1.0, 2.984375, &TorchQConfig::quint8_affine(false)).unwrap();
        assert_eq!((p.scale, p.zero_point), (0.015625, 64));
        // reduce_range [0,127] on the same range: scale = 3.984375/127, z = -round(-1/scale).
        let p = calculate_qparams(-1.0, 2.984375, &TorchQConfig::quint8_affine(true)).unwrap();
        let s = 3.984375f32 / 127.0;
        assert_eq!(p.scale, s);
        assert_eq!(p.zero_point, -((-1.0f32 / s).round_ties_even() as i32));
        assert_eq!(p.zero_point, 32); // 1/s = 31.87... -> 32
                                      // qint8 with rmin = -3.5/64: z = -128 - round(-3.5) = -128 + 4 = -124 (ties to even).
        let p = calculate_qparams(-0.0546875, 3.9296875, &cfg(QType::INT8, false, false)).unwrap();
        assert_eq!((p.scale, p.zero_point), (0.015625, -124));
    }

    #[test]
    fn all_zero_gives_eps_scale_not_one() {
        // scale = max(0/255, eps) = eps; z = 0 - round(0/eps) = 0.
        let p = calculate_qparams(0.0, 0.0, &TorchQConfig::quint8_affine(true)).unwrap();
        assert_eq!((p.scale, p.zero_point), (f32::EPSILON, 0));
        let p = calculate_qparams(0.0, 0.0, &TorchQConfig::qint8_symmetric()).unwrap();
        assert_eq!((p.scale, p.zero_point), (f32::EPSILON, 0));
    }

    #[test]
    fn one_sided_and_single_value() {
        // Negative only [-2, -1] -> [-2, 0]: quint8 scale = 2/255, z = -round(-2/(2/255)) = 255.
        let p = calculate_qparams(-2.0, -1.0, &TorchQConfig::quint8_affine(false)).unwrap();
        assert_eq!((p.scale, p.zero_point), (2.0f32 / 255.0, 255));
        // Positive only [1, 3] -> [0, 3]: scale = 3/255, z = 0.
        let p = calculate_qparams(1.0, 3.0, &TorchQConfig::quint8_affine(false)).unwrap();
        assert_eq!((p.scale, p.zero_point), (3.0f32 / 255.0, 0));
        // Single value 5 (min = max = 5) -> [0, 5].
        let p = calculate_qparams(5.0, 5.0, &TorchQConfig::quint8_affine(false)).unwrap();
        assert_eq!(p.scale, 5.0f32 / 255.0);
    }

    #[test]
    fn invalid_inputs() {
        let c = TorchQConfig::quint8_affine(false);
        assert!(calculate_qparams(f32::NAN, 1.0, &c).is_err());
        assert!(calculate_qparams(0.0, f32::INFINITY, &c).is_err());
        assert!(calculate_qparams(2.0, 1.0, &c).is_err());
    }
}
