//! GGML block formats used by candle's `QMatMul`: Q8_0 and Q4_0 (blocks of 32, fp16 scale).
//!
//! Followed: ggml `ggml-quants.c`, `quantize_row_q8_0_ref`, `quantize_row_q4_0_ref`,
//! `dequantize_row_q8_0`, `dequantize_row_q4_0`:
//!
//! * **Q8_0**: `amax = max|x|`, `d = amax / 127`, `id = d ? 1/d : 0`, `q = roundf(x·id)`
//!   (ties **away from zero**), stored `d` as fp16; `x' = q·d(fp16)`.
//! * **Q4_0**: `max` = the value with the largest magnitude **keeping its sign**,
//!   `d = max / -8`, `id = d ? 1/d : 0`, `q = MIN(15, (int8_t)(x·id + 8.5f))` (truncation, so
//!   effectively `floor(x·id + 8.5)` since the argument is >= 0.5), stored as nibbles;
//!   `x' = (q - 8)·d(fp16)`. The level `-8·d = max` is exact; the opposite extreme saturates at
//!   `7·d`.
//!
//! Quantization uses the `f32` reciprocal; dequantization uses the fp16-rounded scale, as ggml.

use crate::error::{check_finite, QuantError, Result};

/// Elements per block for Q8_0 and Q4_0.
pub const QK: usize = 32;
/// Bytes per Q8_0 block: fp16 scale + 32 int8.
pub const Q8_0_BLOCK_BYTES: usize = 2 + QK;
/// Bytes per Q4_0 block: fp16 scale + 16 bytes of nibbles.
pub const Q4_0_BLOCK_BYTES: usize = 2 + QK / 2;

/// `f32` -> IEEE binary16 bits, round to nearest even (what `GGML_FP32_TO_FP16` does on x86
/// with F16C and in its portable fallback).
pub fn f32_to_f16_bits(x: f32) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32;
    let mant = bits & 0x007f_ffff;
    if exp == 0xff {
        // Inf or NaN (keep a quiet NaN payload bit).
        return sign | 0x7c00 | if mant != 0 { 0x0200 } else { 0 };
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00; // overflow -> Inf
    }
    if e <= 0 {
        // Subnormal half (or zero): shift the full mantissa (with implicit 1) right.
        if e < -10 {
            return sign; // rounds to zero
        }
        let m = mant | 0x0080_0000;
        let shift = (14 - e) as u32; // 13 + (1 - e)
        let half = m >> shift;
        let rem = m & ((1 << shift) - 1);
        let halfway = 1 << (shift - 1);
        let round_up = rem > halfway || (rem == halfway && (half & 1) == 1);
        return sign | (half + round_up as u32) as u16;
    }
    let half_mant = mant >> 13;
    let rem = mant & 0x1fff;
    let mut out = ((e as u32) << 10) | half_mant;
    if rem > 0x1000 || (rem == 0x1000 && (half_mant & 1) == 1) {
        out += 1; // may carry into the exponent, which is the correct rounding (up to Inf)
    }
    sign | out as u16
}

/// IEEE binary16 bits -> `f32` (exact).
pub fn f16_bits_to_f32(h: u16) -> f32 {
    let sign = ((h & 0x8000) as u32) << 16;
    let exp = ((h >> 10) & 0x1f) as u32;
    let mant = (h & 0x3ff) as u32;
    let bits = if exp == 0 {
        // zero or subnormal: value = mant · 2^-24 (exact in f32)
        let v = mant as f32 * 2f32.powi(-24);
        return if sign != 0 { -v } else { v };
    } else if exp == 0x1f {
        sign | 0x7f80_0000 | (mant << 13)
    } else {
        sign | ((exp + 127 - 15) << 23) | (mant << 13)
    };
    f32::from_bits(bits)
}

/// One Q8_0 block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockQ8_0 {
    /// fp16 bits of the scale `d`.
    pub d: u16,
    /// The 32 quantized values.
    pub qs: [i8; QK],
}

/// One Q4_0 block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockQ4_0 {
    /// fp16 bits of the scale `d`.
    pub d: u16,
    /// Nibbles: element `j` in the low nibble of `qs[j]`, element `j + 16` in the high nibble.
    pub qs: [u8; QK / 2],
}

impl BlockQ4_0 {
    /// The unsigned 4-bit code (0..=15) of element `j` of the block.
    pub fn code(&self, j: usize) -> u8 {
        if j < QK / 2 {
            self.qs[j] & 0x0f
        } else {
            self.qs[j - QK / 2] >> 4
        }
    }
}

fn check_row(what: &str, x: &[f32]) -> Result<()> {
    check_finite(what, x)?;
    if x.len() % QK != 0 {
        return Err(QuantError::Shape(format!(
            "{what}: length {} is not a multiple of the GGML block size {QK}",
            x.len()
        )));
    }
    Ok(())
}

/// `quantize_row_q8_0_ref`.
pub fn quantize_q8_0(x: &[f32]) -> Result<Vec<BlockQ8_0>> {
    check_row("Q8_0 input", x)?;
    Ok(x.chunks_exact(QK)
        .map(|b| {
            let amax = b.iter().fold(0.0f32, |a, &v| a.max(v.abs()));
            let d = amax / 127.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            let mut qs = [0i8; QK];
            for (q, &v) in qs.iter_mut().zip(b) {
                *q = (v * id).round() as i8;
            }
            BlockQ8_0 {
                d: f32_to_f16_bits(d),
                qs,
            }
        })
        .collect())
}

/// `dequantize_row_q8_0`.
pub fn dequantize_q8_0(blocks: &[BlockQ8_0]) -> Vec<f32> {
    blocks
        .iter()
        .flat_map(|b| {
            let d = f16_bits_to_f32(b.d);
            b.qs.iter().map(move |&q| q as f32 * d)
        })
        .collect()
}

/// `quantize_row_q4_0_ref`.
pub fn quantize_q4_0(x: &[f32]) -> Result<Vec<BlockQ4_0>> {
    check_row("Q4_0 input", x)?;
    Ok(x.chunks_exact(QK)
        .map(|b| {
            let (mut amax, mut max) = (0.0f32, 0.0f32);
            for &v in b {
                if amax < v.abs() {
                    amax = v.abs();
                    max = v;
                }
            }
            let d = max / -8.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            let code = |v: f32| -> u8 { ((v * id + 8.5) as i8).min(15) as u8 };
            let mut qs = [0u8; QK / 2];
            for (j, q) in qs.iter_mut().enumerate() {
                *q = code(b[j]) | (code(b[j + QK / 2]) << 4);
            }
            BlockQ4_0 {
                d: f32_to_f16_bits(d),
                qs,
            }
        })
        .collect())
}

/// `dequantize_row_q4_0`.
pub fn dequantize_q4_0(blocks: &[BlockQ4_0]) -> Vec<f32> {
    blocks
        .iter()
        .flat_map(|b| {
            let d = f16_bits_to_f32(b.d);
            (0..QK).map(move |j| (b.code(j) as i32 - 8) as f32 * d)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_conversion_by_hand() {
        // 1.0 = 0x3c00, -2.0 = 0xc000, 0.5 = 0x3800, 65504 = 0x7bff (max), 65520 -> Inf (ties
        // to even rounds up), 2^-24 = 0x0001 (smallest subnormal), 1 + 2^-11 -> 1.0 (tie to even).
        assert_eq!(f32_to_f16_bits(1.0), 0x3c00);
        assert_eq!(f32_to_f16_bits(-2.0), 0xc000);
        assert_eq!(f32_to_f16_bits(0.5), 0x3800);
        assert_eq!(f32_to_f16_bits(65504.0), 0x7bff);
        assert_eq!(f32_to_f16_bits(65520.0), 0x7c00);
        assert_eq!(f32_to_f16_bits(2f32.powi(-24)), 0x0001);
        assert_eq!(f32_to_f16_bits(1.0 + 2f32.powi(-11)), 0x3c00);
        assert_eq!(f32_to_f16_bits(1.0 + 3.0 * 2f32.powi(-11)), 0x3c02);
        assert_eq!(f32_to_f16_bits(0.0), 0);
        assert_eq!(f32_to_f16_bits(-0.0), 0x8000);
        // 1/3 -> 0x3555 (0.333251953125)
        assert_eq!(f32_to_f16_bits(1.0 / 3.0), 0x3555);
        assert_eq!(f16_bits_to_f32(0x3555), 0.333_251_95);
        assert_eq!(f16_bits_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_bits_to_f32(0x8001), -(2f32.powi(-24)));
        assert_eq!(f16_bits_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_bits_to_f32(0x7c00), f32::INFINITY);
        // Round trip of every finite half.
        for h in 0u16..0x7c00 {
            assert_eq!(f32_to_f16_bits(f16_bits_to_f32(h)), h, "{h:#x}");
        }
    }

    fn block(vals: &[f32]) -> Vec<f32> {
        let mut b = vec![0.0f32; QK];
        b[..vals.len()].copy_from_slice(vals);
        b
    }

    #[test]
    fn q8_0_by_hand_ties_away_from_zero() {
        // amax 127 -> d = 1, id = 1: roundf: 0.5 -> 1, 1.5 -> 2, 2.5 -> 3, -0.5 -> -1,
        // -2.5 -> -3, 3.4 -> 3 (ties to even would give 0, 2, 2, 0, -2).
        let x = block(&[127.0, 0.5, 1.5, 2.5, -0.5, -2.5, 3.4, -127.0]);
        let b = quantize_q8_0(&x).unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].d, 0x3c00);
        assert_eq!(&b[0].qs[..8], &[127, 1, 2, 3, -1, -3, 3, -127]);
        let y = dequantize_q8_0(&b);
        assert_eq!(&y[..3], &[127.0, 1.0, 2.0]);
    }

    #[test]
    fn q4_0_by_hand_signed_max() {
        // Largest magnitude is -8 (negative): d = -8 / -8 = 1, id = 1, q = min(15, trunc(x + 8.5)):
        // -8 -> 0, 7 -> 15, 0 -> 8, -0.5 -> 8, 0.5 -> 9, 2.4 -> 10, -3.7 -> 4.
        let x = block(&[-8.0, 7.0, 0.0, -0.5, 0.5, 2.4, -3.7]);
        let b = quantize_q4_0(&x).unwrap();
        assert_eq!(b[0].d, 0x3c00);
        let codes: Vec<u8> = (0..7).map(|j| b[0].code(j)).collect();
        assert_eq!(codes, vec![0, 15, 8, 8, 9, 10, 4]);
        let y = dequantize_q4_0(&b);
        assert_eq!(&y[..7], &[-8.0, 7.0, 0.0, 0.0, 1.0, 2.0, -4.0]);
        // Padding zeros (elements 7..32) have code 8 -> 0.
        assert!(y[7..].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn q4_0_positive_max_saturates_the_other_side() {
        // Largest magnitude +8: d = -1, id = -1. x = 8 -> -8 + 8.5 = 0.5 -> 0 -> (0-8)·(-1) = 8;
        // x = -8 -> 16.5 -> 16 -> MIN 15 -> (15-8)·(-1) = -7 (saturated).
        let mut x = block(&[8.0, -8.0, 3.0]);
        x[20] = -1.0; // high nibble of qs[4]: -1·(-1) + 8.5 = 9.5 -> 9 -> (9-8)·(-1) = -1
        let b = quantize_q4_0(&x).unwrap();
        assert_eq!(b[0].d, f32_to_f16_bits(-1.0));
        let y = dequantize_q4_0(&b);
        assert_eq!(&y[..3], &[8.0, -7.0, 3.0]);
        assert_eq!(y[20], -1.0);
        assert_eq!(b[0].qs[4] >> 4, 9);
    }

    #[test]
    fn all_zero_blocks_and_errors() {
        let z = vec![0.0f32; 64];
        let b8 = quantize_q8_0(&z).unwrap();
        assert_eq!(b8.len(), 2);
        assert_eq!(b8[0].d, 0);
        assert!(dequantize_q8_0(&b8).iter().all(|&v| v == 0.0));
        // Q4_0 all zero: d = 0, id = 0, code = trunc(8.5) = 8 -> 0.
        let b4 = quantize_q4_0(&z).unwrap();
        assert!(b4.iter().all(|b| b.qs.iter().all(|&q| q == 0x88)));
        assert!(dequantize_q4_0(&b4).iter().all(|&v| v == 0.0));
        assert!(quantize_q8_0(&[1.0; 31]).is_err());
        let mut bad = vec![0.0f32; 32];
        bad[3] = f32::NAN;
        assert!(quantize_q4_0(&bad).is_err());
        assert_eq!((Q8_0_BLOCK_BYTES, Q4_0_BLOCK_BYTES), (34, 18));
    }
}
