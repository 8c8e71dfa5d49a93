//! Folding an inference-mode batch norm into the preceding convolution.
//!
//! Followed: `torch/nn/utils/fusion.py` `fuse_conv_bn_weights` (same order of `f32` operations):
//! `r = 1 / sqrt(var + eps)`, `w' = w · (gamma · r)` per output channel,
//! `b' = (b - mean) · r · gamma + beta` (a missing bias is zero).
//!
//! The weight layout is `[O, ...]` with the output channel first (ONNX/PyTorch `Conv`,
//! including grouped and depthwise convolutions, and `Gemm` weights `[O, I]`);
//! `ConvTranspose` (output channel on axis 1) is not handled here.

use crate::error::{check_finite, QuantError, Result};

/// Batch-norm parameters in inference mode (running statistics).
#[derive(Debug, Clone, Copy)]
pub struct BatchNorm<'a> {
    /// Scale (`weight`), one per channel.
    pub gamma: &'a [f32],
    /// Shift (`bias`), one per channel.
    pub beta: &'a [f32],
    /// Running mean, one per channel.
    pub mean: &'a [f32],
    /// Running variance, one per channel.
    pub var: &'a [f32],
    /// Epsilon added to the variance.
    pub eps: f32,
}

/// Folded convolution parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Folded {
    /// Weight with the same layout as the input weight.
    pub weight: Vec<f32>,
    /// One bias per output channel.
    pub bias: Vec<f32>,
}

/// Folds `bn` into a convolution with weight `weight` of shape `dims = [O, ...]` and optional
/// `bias` of length `O`.
pub fn fold_batch_norm(
    weight: &[f32],
    dims: &[usize],
    bias: Option<&[f32]>,
    bn: &BatchNorm<'_>,
) -> Result<Folded> {
    let out_ch = *dims
        .first()
        .ok_or_else(|| QuantError::Shape("bn fold: weight dims are empty".into()))?;
    let n = crate::granularity::element_count(dims)?;
    if n != weight.len() {
        return Err(QuantError::Shape(format!(
            "bn fold: weight has {} elements, dims {dims:?} need {n}",
            weight.len()
        )));
    }
    for (name, v) in [
        ("gamma", bn.gamma),
        ("beta", bn.beta),
        ("mean", bn.mean),
        ("var", bn.var),
    ]
    .into_iter()
    .chain(bias.map(|b| ("conv bias", b)))
    {
        if v.len() != out_ch {
            return Err(QuantError::Shape(format!(
                "bn fold: {name} has {} values for {out_ch} output channels",
                v.len()
            )));
        }
        check_finite(&format!("bn fold {name}"), v)?;
    }
    check_finite("bn fold conv weight", weight)?;
    check_finite("bn fold eps", &[bn.eps])?;
    let mut rsqrt = Vec::with_capacity(out_ch);
    for (c, &v) in bn.var.iter().enumerate() {
        let d = v + bn.eps;
        if d.is_nan() || d <= 0.0 {
            return Err(QuantError::InvalidArgument(format!(
                "bn fold: var + eps = {d} <= 0 for channel {c}"
            )));
        }
        rsqrt.push(1.0 / d.sqrt());
    }
    let inner = n.checked_div(out_ch).unwrap_or(0);
    let mut w = weight.to_vec();
    for c in 0..out_ch {
        let k = bn.gamma[c] * rsqrt[c];
        for x in &mut w[c * inner..(c + 1) * inner] {
            *x *= k;
        }
    }
    let b = (0..out_ch)
        .map(|c| {
            let b0 = bias.map_or(0.0, |b| b[c]);
            (b0 - bn.mean[c]) * rsqrt[c] * bn.gamma[c] + bn.beta[c]
        })
        .collect::<Vec<_>>();
    check_finite("bn fold result weight", &w)?;
    check_finite("bn fold result bias", &b)?;
    Ok(Folded { weight: w, bias: b })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_by_hand_1x1() {
        // O = 2, [2, 1, 1, 1]: w = [2, -1], b = [0.5, 0]; gamma [1, 2], beta [0.1, -0.2],
        // mean [0.5, 1], var [3, 0], eps 1 -> sqrt(var + eps) = [2, 1], r = [0.5, 1].
        // w' = [2·1·0.5, -1·2·1] = [1, -2]; b' = [(0.5-0.5)·0.5·1 + 0.1, (0-1)·1·2 - 0.2] = [0.1, -2.2]
        let bn = BatchNorm {
            gamma: &[1.0, 2.0],
            beta: &[0.1, -0.2],
            mean: &[0.5, 1.0],
            var: &[3.0, 0.0],
            eps: 1.0,
        };
        let f = fold_batch_norm(&[2.0, -1.0], &[2, 1, 1, 1], Some(&[0.5, 0.0]), &bn).unwrap();
        assert_eq!(f.weight, vec![1.0, -2.0]);
        assert_eq!(f.bias, vec![0.1, -2.2]);
    }

    #[test]
    fn fold_by_hand_kernel_without_bias() {
        // O = 1, I = 1, 2x2 kernel [1, 2, 3, 4]; gamma 3, beta 1, mean 2, var 8, eps 1 -> r = 1/3.
        // w' = w·(3·1/3) = w (up to f32 rounding of 1/3·3 = 1); b' = (0-2)·(1/3)·3 + 1 = -1.
        let bn = BatchNorm {
            gamma: &[3.0],
            beta: &[1.0],
            mean: &[2.0],
            var: &[8.0],
            eps: 1.0,
        };
        let f = fold_batch_norm(&[1.0, 2.0, 3.0, 4.0], &[1, 1, 2, 2], None, &bn).unwrap();
        for (a, b) in f.weight.iter().zip([1.0f32, 2.0, 3.0, 4.0]) {
            assert!((a - b).abs() <= 1e-6, "{a} vs {b}");
        }
        assert!((f.bias[0] + 1.0).abs() <= 1e-6, "{}", f.bias[0]);
    }

    #[test]
    fn folded_conv_equals_conv_then_bn_on_a_pixel() {
        // 1x1 conv with 2 input channels, one output; input pixel (x0, x1) = (0.5, -1.5).
        let w = [0.3f32, -0.7];
        let b = 0.2f32;
        let (g, be, m, v, e) = (1.5f32, -0.4f32, 0.1f32, 0.8f32, 1e-5f32);
        let conv = w[0] * 0.5 + w[1] * -1.5 + b;
        let reference = (conv - m) / (v + e).sqrt() * g + be;
        let bn = BatchNorm {
            gamma: &[g],
            beta: &[be],
            mean: &[m],
            var: &[v],
            eps: e,
        };
        let f = fold_batch_norm(&w, &[1, 2, 1, 1], Some(&[b]), &bn).unwrap();
        let folded = f.weight[0] * 0.5 + f.weight[1] * -1.5 + f.bias[0];
        assert!((folded - reference).abs() < 1e-6, "{folded} vs {reference}");
    }

    #[test]
    fn errors() {
        let bn = BatchNorm {
            gamma: &[1.0],
            beta: &[0.0],
            mean: &[0.0],
            var: &[-1.0],
            eps: 0.5,
        };
        // var + eps <= 0
        assert!(fold_batch_norm(&[1.0], &[1], None, &bn).is_err());
        let ok = BatchNorm { var: &[1.0], ..bn };
        // length mismatches and NaN
        assert!(fold_batch_norm(&[1.0, 2.0], &[1], None, &ok).is_err());
        assert!(fold_batch_norm(&[1.0, 2.0], &[2, 1], None, &ok).is_err());
        assert!(fold_batch_norm(&[f32::NAN], &[1], None, &ok).is_err());
        assert!(fold_batch_norm(&[1.0], &[1], Some(&[f32::INFINITY]), &ok).is_err());
        assert!(fold_batch_norm(&[1.0], &[], None, &ok).is_err());
    }
}
