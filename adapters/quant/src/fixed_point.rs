//! Caffe/Ristretto dynamic fixed point: power-of-two scales chosen per layer from max |x|.
//!
//! Followed: Ristretto (`pmgysel/caffe`, `tools/ristretto` `quantization.cpp`
//! `Quantization::Quantize2DynamicFixedPoint` and `base_ristretto_layer.cpp`
//! `Trim2FixedPoint_cpu`):
//!
//! * parameters (weights and biases): `il = (int)ceil(log2(max_abs) + 1)`, the `+1` being the
//!   sign bit;
//! * layer inputs/outputs (activations): `il = (int)ceil(log2(max_abs))`, i.e. one bit less
//!   ("for layer activations, we reduce the integer length by one bit");
//! * `fl = bits - il`, values are `q · 2^-fl` with `q` in the **signed** range of `bits`
//!   (`[-2^(bits-1), 2^(bits-1)-1]`), saturated first, then rounded with C `round`
//!   (ties away from zero).
//!
//! Consequence kept on purpose (it is Ristretto's behaviour): an activation whose max lies in
//! `(2^(il-1), 2^il]` saturates at about `2^(il-1)`, and a weight whose max is an exact power of
//! two saturates one step below it. Our choice for `max_abs == 0` (where Ristretto would
//! compute `log2(0) = -inf`): `il = 1`, so `fl = bits - 1`.
//!
//! When exported to ONNX the layer becomes a QDQ pair with `scale = 2^-fl`, `zero_point = 0`;
//! runtimes then round ties to even. [`DynamicFixedPoint::trim`] reproduces Caffe's own rounding.

use crate::error::{check_finite, QuantError, Result};
use crate::params::QuantParams;
use crate::scheme::{check_bits, QType};

/// Which of Ristretto's integer-length rules applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FixedPointRole {
    /// Weights and biases: `il = ceil(log2(max_abs) + 1)`.
    Parameters,
    /// Layer inputs and outputs: `il = ceil(log2(max_abs))`.
    Activations,
}

/// A dynamic fixed point format: `bits` total, `fl` fractional bits (may be negative or exceed
/// `bits` for very large or very small ranges).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DynamicFixedPoint {
    /// Total bit width (2..=16), sign included.
    pub bits: u32,
    /// Fractional length; the scale is `2^-fl`.
    pub fl: i32,
}

impl DynamicFixedPoint {
    /// Chooses `fl` from the largest magnitude seen (Ristretto's rule for `role`).
    pub fn from_max_abs(max_abs: f32, bits: u32, role: FixedPointRole) -> Result<Self> {
        check_bits("dynamic fixed point", bits)?;
        check_finite("dynamic fixed point max_abs", &[max_abs])?;
        if max_abs < 0.0 {
            return Err(QuantError::InvalidArgument(format!(
                "max_abs must be >= 0, got {max_abs}"
            )));
        }
        let il = if max_abs == 0.0 {
            1
        } else {
            let l = (max_abs as f64).log2();
            match role {
                FixedPointRole::Parameters => (l + 1.0).ceil() as i32,
                FixedPointRole::Activations => l.ceil() as i32,
            }
        };
        let fp = DynamicFixedPoint {
            bits,
            fl: bits as i32 - il,
        };
        fp.params()?;
        Ok(fp)
    }

    /// Chooses `fl` from a tensor (max |x|).
    pub fn from_tensor(x: &[f32], bits: u32, role: FixedPointRole) -> Result<Self> {
        check_finite("dynamic fixed point tensor", x)?;
        let m = x.iter().fold(0.0f32, |a, &v| a.max(v.abs()));
        Self::from_max_abs(m, bits, role)
    }

    /// Integer length `bits - fl`.
    pub fn il(&self) -> i32 {
        self.bits as i32 - self.fl
    }

    /// The power-of-two scale `2^-fl` (exact in `f32`).
    pub fn scale(&self) -> f32 {
        (2.0f64).powi(-self.fl) as f32
    }

    /// Equivalent affine parameters: `scale = 2^-fl`, `zero_point = 0`, signed `bits` range.
    pub fn params(&self) -> Result<QuantParams> {
        let s = self.scale();
        if !(s > 0.0 && s.is_finite()) || (2.0f64).powi(-self.fl) != s as f64 {
            return Err(QuantError::InvalidParams(format!(
                "fixed point scale 2^{} is not representable in float32",
                -self.fl
            )));
        }
        let (qmin, qmax) = QType::new(self.bits, true)?.full_range();
        QuantParams::new(s, 0, qmin, qmax)
    }

    /// Integers as Ristretto computes them: saturate, divide by `2^-fl`, C `round`
    /// (ties away from zero).
    pub fn quantize(&self, x: &[f32]) -> Result<Vec<i32>> {
        let p = self.params()?;
        check_finite("tensor to quantize (fixed point)", x)?;
        Ok(x.iter()
            .map(|&v| {
                let r = (v / p.scale).round() as f64;
                r.clamp(p.qmin as f64, p.qmax as f64) as i32
            })
            .collect())
    }

    /// `Trim2FixedPoint_cpu` with round-to-nearest: the float values Caffe computes with.
    pub fn trim(&self, x: &[f32]) -> Result<Vec<f32>> {
        let s = self.scale();
        Ok(self
            .quantize(x)?
            .into_iter()
            .map(|q| q as f32 * s)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_by_hand() {
        // max 0.75: log2(0.75) = -0.415, +1 = 0.585 -> il = 1, fl = 8 - 1 = 7, scale 1/128.
        let fp = DynamicFixedPoint::from_max_abs(0.75, 8, FixedPointRole::Parameters).unwrap();
        assert_eq!((fp.il(), fp.fl, fp.scale()), (1, 7, 0.0078125));
        // 0.75·128 = 96, -0.5·128 = -64, 0.3·128 = 38.4 -> 38.
        assert_eq!(fp.quantize(&[0.75, -0.5, 0.3]).unwrap(), vec![96, -64, 38]);
        let p = fp.params().unwrap();
        assert_eq!((p.zero_point, p.qmin, p.qmax), (0, -128, 127));
    }

    #[test]
    fn activations_use_one_bit_less_and_saturate_like_ristretto() {
        // max 5: log2(5) = 2.32 -> il = 3 (no sign bit), fl = 5, scale 1/32.
        // Largest level 127/32 = 3.96875, so 5.0 saturates there.
        let fp = DynamicFixedPoint::from_tensor(&[0.0, 5.0, 1.0], 8, FixedPointRole::Activations)
            .unwrap();
        assert_eq!((fp.il(), fp.fl), (3, 5));
        assert_eq!(fp.trim(&[5.0, 1.0]).unwrap(), vec![3.96875, 1.0]);
        // The same max as a parameter: il = ceil(3.32) = 4, fl = 4 -> 5.0·16 = 80, no saturation.
        let w = DynamicFixedPoint::from_max_abs(5.0, 8, FixedPointRole::Parameters).unwrap();
        assert_eq!((w.il(), w.fl), (4, 4));
        assert_eq!(w.quantize(&[5.0]).unwrap(), vec![80]);
    }

    #[test]
    fn power_of_two_max_saturates_one_step_below() {
        // max 4 (weights): log2(4) + 1 = 3 -> il = 3, fl = 5: 4·32 = 128 -> saturated to 127.
        let fp = DynamicFixedPoint::from_max_abs(4.0, 8, FixedPointRole::Parameters).unwrap();
        assert_eq!((fp.il(), fp.fl), (3, 5));
        assert_eq!(fp.quantize(&[4.0, -4.0]).unwrap(), vec![127, -128]);
    }

    #[test]
    fn ties_away_from_zero_like_c_round() {
        // fl = 7: 2.5/128 -> 2.5 -> 3 (ties to even would give 2); -2.5/128 -> -3.
        let fp = DynamicFixedPoint { bits: 8, fl: 7 };
        assert_eq!(
            fp.quantize(&[2.5 / 128.0, -2.5 / 128.0]).unwrap(),
            vec![3, -3]
        );
    }

    #[test]
    fn large_small_and_zero_ranges() {
        // All zeros: il = 1 by our rule -> fl = bits - 1.
        let z =
            DynamicFixedPoint::from_tensor(&[0.0, -0.0], 16, FixedPointRole::Parameters).unwrap();
        assert_eq!(z.fl, 15);
        assert_eq!(z.quantize(&[0.0]).unwrap(), vec![0]);
        // Large range: max 1000 -> log2 = 9.97, +1 -> il = 11, fl = 8 - 11 = -3, scale 8.
        let big = DynamicFixedPoint::from_max_abs(1000.0, 8, FixedPointRole::Parameters).unwrap();
        assert_eq!((big.fl, big.scale()), (-3, 8.0));
        assert_eq!(big.quantize(&[1000.0, -12.0]).unwrap(), vec![125, -2]); // -1.5 -> -2
                                                                            // Tiny range: max 2^-20 -> log2 = -20, +1 -> il = -19, fl = 4 + 19 = 23.
        let tiny =
            DynamicFixedPoint::from_max_abs(2f32.powi(-20), 4, FixedPointRole::Parameters).unwrap();
        assert_eq!(tiny.fl, 23);
        // Negative-only tensor.
        let neg =
            DynamicFixedPoint::from_tensor(&[-0.75, -0.1], 8, FixedPointRole::Parameters).unwrap();
        assert_eq!(neg.fl, 7);
        // Errors.
        assert!(
            DynamicFixedPoint::from_tensor(&[f32::NAN], 8, FixedPointRole::Parameters).is_err()
        );
        assert!(DynamicFixedPoint::from_max_abs(-1.0, 8, FixedPointRole::Parameters).is_err());
        assert!(DynamicFixedPoint::from_max_abs(1.0, 1, FixedPointRole::Parameters).is_err());
        assert!(DynamicFixedPoint { bits: 8, fl: 200 }.params().is_err());
    }
}
