//! The textbook uniform quantizers: mid-tread and mid-rise.
//!
//! * **Mid-tread** (N bits, step Δ): levels `k·Δ`, `k ∈ [-2^(N-1), 2^(N-1)-1]`. Zero is a level,
//!   so it is an ordinary affine quantizer with `scale = Δ`, `zero_point = 0`.
//! * **Mid-rise** (N bits, step Δ): levels `(k + 1/2)·Δ`, `k ∈ [-2^(N-1), 2^(N-1)-1]`, i.e.
//!   `±Δ/2, ±3Δ/2, …, ±(2^N-1)Δ/2`; there is no zero level. `k = floor(x/Δ)` (saturated).
//!
//! A mid-rise N-bit quantizer is **exactly** an affine quantizer over an (N+1)-bit container:
//! write each level as `m·(Δ/2)` with the odd integer `m = 2k+1 ∈ [-(2^N-1), 2^N-1]`, which fits
//! the signed (N+1)-bit range `[-2^N, 2^N-1]`. So `scale = Δ/2`, `zero_point = 0`, and only odd
//! integers are used: a standard `DequantizeLinear` reproduces the mid-rise levels bit for bit
//! (Δ/2 is exact in binary floating point). [`mid_rise_quantize`] produces those odd integers;
//! [`mid_rise_params`] the matching (N+1)-bit parameters. Ties (`x` an exact multiple of Δ) go to
//! the level above, as the floor-based textbook definition does.

use crate::error::{check_finite, QuantError, Result};
use crate::params::QuantParams;
use crate::quantize::quantize;
use crate::scheme::{check_bits, QType};

fn check_step(step: f32) -> Result<()> {
    if step.is_finite() && step > 0.0 && (step / 2.0) > 0.0 {
        Ok(())
    } else {
        Err(QuantError::InvalidArgument(format!(
            "quantizer step must be finite and > 0 (and step/2 representable), got {step}"
        )))
    }
}

/// Mid-tread N-bit parameters: `scale = step`, `zero_point = 0`, range `[-2^(N-1), 2^(N-1)-1]`.
pub fn mid_tread_params(bits: u32, step: f32) -> Result<QuantParams> {
    check_bits("mid-tread quantizer", bits)?;
    check_step(step)?;
    let (qmin, qmax) = QType::new(bits, true)?.full_range();
    QuantParams::new(step, 0, qmin, qmax)
}

/// Mid-rise N-bit parameters in the (N+1)-bit container: `scale = step/2`, `zero_point = 0`,
/// range `[-(2^N-1), 2^N-1]` (odd integers only are produced by [`mid_rise_quantize`]).
pub fn mid_rise_params(bits: u32, step: f32) -> Result<QuantParams> {
    check_bits("mid-rise quantizer", bits)?;
    check_step(step)?;
    let m = (1i32 << bits) - 1;
    QuantParams::new(step / 2.0, 0, -m, m)
}

/// Mid-tread quantization (ties to even): integers `k` with `x' = k·step`.
pub fn mid_tread_quantize(x: &[f32], bits: u32, step: f32) -> Result<Vec<i32>> {
    quantize(x, &mid_tread_params(bits, step)?)
}

/// Mid-rise quantization: odd integers `m = 2·floor(x/step) + 1` (saturated to N bits), with
/// `x' = m·step/2`. Dequantize with [`mid_rise_params`].
pub fn mid_rise_quantize(x: &[f32], bits: u32, step: f32) -> Result<Vec<i32>> {
    check_bits("mid-rise quantizer", bits)?;
    check_step(step)?;
    check_finite("tensor to quantize (mid-rise)", x)?;
    let kmin = -(1i64 << (bits - 1));
    let kmax = (1i64 << (bits - 1)) - 1;
    Ok(x.iter()
        .map(|&v| {
            let k = ((v / step).floor() as f64).clamp(kmin as f64, kmax as f64) as i64;
            (2 * k + 1) as i32
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantize::{dequantize, mean_squared_error};

    #[test]
    fn params_by_hand() {
        // 2-bit mid-tread, step 0.5: levels k·0.5 for k in [-2, 1] -> {-1, -0.5, 0, 0.5}.
        let t = mid_tread_params(2, 0.5).unwrap();
        assert_eq!((t.scale, t.zero_point, t.qmin, t.qmax), (0.5, 0, -2, 1));
        // 2-bit mid-rise, step 0.5: odd m in [-(2^2-1), 2^2-1] = [-3, 3] with scale 0.25;
        // that is a 3-bit signed container ([-4, 3]).
        let r = mid_rise_params(2, 0.5).unwrap();
        assert_eq!((r.scale, r.zero_point, r.qmin, r.qmax), (0.25, 0, -3, 3));
        let container = QType::new(3, true).unwrap().full_range();
        assert!(container.0 <= r.qmin && r.qmax <= container.1);
        // 16-bit mid-rise needs the 17-bit range [-65535, 65535].
        let r16 = mid_rise_params(16, 1.0).unwrap();
        assert_eq!((r16.qmin, r16.qmax), (-65535, 65535));
    }

    #[test]
    fn mid_rise_levels_are_exact_odd_multiples_of_half_step() {
        // 3-bit, step 0.25: k = floor(x/0.25) in [-4, 3], level (k + 0.5)·0.25.
        let x = [-5.0f32, -0.3, -0.0, 0.0, 0.1, 0.25, 0.6, 9.0];
        let m = mid_rise_quantize(&x, 3, 0.25).unwrap();
        // floor(x/0.25): -20 -> -4 (sat), -1.2 -> -2, -0 -> 0, 0 -> 0, 0.4 -> 0, 1 -> 1, 2.4 -> 2, 36 -> 3 (sat)
        assert_eq!(m, vec![-7, -3, 1, 1, 1, 3, 5, 7]);
        assert!(m.iter().all(|v| v % 2 != 0), "only odd integers");
        let p = mid_rise_params(3, 0.25).unwrap();
        let xr = dequantize(&m, &p);
        let direct: Vec<f32> = [-4i32, -2, 0, 0, 0, 1, 2, 3]
            .iter()
            .map(|&k| (k as f32 + 0.5) * 0.25)
            .collect();
        assert_eq!(
            xr, direct,
            "DequantizeLinear(m, step/2, 0) == (k + 1/2)·step exactly"
        );
        assert!(!xr.contains(&0.0), "mid-rise has no zero level");
    }

    #[test]
    fn error_difference_on_a_simple_tensor() {
        // 2-bit, step 0.5, x = [0, 0.1, -0.1, 0.3, -0.6, 0.9, -2.0]
        let x = [0.0f32, 0.1, -0.1, 0.3, -0.6, 0.9, -2.0];
        // Mid-tread: x/0.5 = [0, .2, -.2, .6, -1.2, 1.8, -4] -> round [0,0,0,1,-1,2,-4]
        //   -> clamp to [-2,1]: [0,0,0,1,-1,1,-2] -> x' = [0,0,0,.5,-.5,.5,-1]
        //   squared errors: 0, .01, .01, .04, .01, .16, 1.0 -> sum 1.23, mse = 1.23/7
        let tq = mid_tread_quantize(&x, 2, 0.5).unwrap();
        assert_eq!(tq, vec![0, 0, 0, 1, -1, 1, -2]);
        let tx = dequantize(&tq, &mid_tread_params(2, 0.5).unwrap());
        let mse_tread = mean_squared_error(&x, &tx).unwrap();
        assert!((mse_tread - 1.23 / 7.0).abs() < 1e-6, "{mse_tread}");
        // Mid-rise: floor(x/0.5) = [0,0,-1,0,-2,1,-4] -> clamp [-2,1]: [0,0,-1,0,-2,1,-2]
        //   m = 2k+1 = [1,1,-1,1,-3,3,-3] -> x' = m·0.25 = [.25,.25,-.25,.25,-.75,.75,-.75]
        //   squared errors: .0625, .0225, .0225, .0025, .0225, .0225, 1.5625 -> sum 1.7175
        let rq = mid_rise_quantize(&x, 2, 0.5).unwrap();
        assert_eq!(rq, vec![1, 1, -1, 1, -3, 3, -3]);
        let rx = dequantize(&rq, &mid_rise_params(2, 0.5).unwrap());
        assert_eq!(rx, vec![0.25, 0.25, -0.25, 0.25, -0.75, 0.75, -0.75]);
        let mse_rise = mean_squared_error(&x, &rx).unwrap();
        assert!((mse_rise - 1.7175 / 7.0).abs() < 1e-6, "{mse_rise}");
        // Difference: (1.7175 - 1.23) / 7 = 0.4875 / 7: mid-tread wins on this near-zero data.
        assert!((mse_rise - mse_tread - 0.4875 / 7.0).abs() < 1e-6);
    }

    #[test]
    fn edge_cases() {
        // All zeros: mid-tread keeps 0, mid-rise maps to +step/2 (m = 1).
        assert_eq!(mid_tread_quantize(&[0.0; 3], 4, 1.0).unwrap(), vec![0; 3]);
        assert_eq!(mid_rise_quantize(&[0.0; 3], 4, 1.0).unwrap(), vec![1; 3]);
        // Negative-only saturates at the lowest level m = -(2^N - 1).
        assert_eq!(mid_rise_quantize(&[-100.0], 4, 1.0).unwrap(), vec![-15]);
        // Errors.
        assert!(mid_rise_quantize(&[f32::NAN], 4, 1.0).is_err());
        assert!(mid_rise_params(1, 1.0).is_err());
        assert!(mid_tread_params(17, 1.0).is_err());
        assert!(mid_rise_params(8, 0.0).is_err());
        assert!(mid_rise_params(8, f32::INFINITY).is_err());
    }
}
