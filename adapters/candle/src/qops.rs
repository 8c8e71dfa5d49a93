//! Quantization operators and `Cast`, emulated exactly with float tensors.
//!
//! Exactness: 8/16-bit integer values are held in f32 (exact below 2^24). Integer
//! convolutions and matrix products (`ConvInteger`, `MatMulInteger`) subtract the zero points
//! (exact: |x - xz| <= 255) and bound every partial sum of a length-K reduction by
//! `K·max|x - xz|·max|w - wz|`: below 2^24 they accumulate in f32, otherwise in **f64**, where
//! every partial sum (|term| <= 255·255 < 2^16, fewer than 2^37 terms) is an integer below 2^53.
//! Either way every addition is exact, in any order, with or without FMA. The int32 results are
//! held in f64 until a `Cast(to=FLOAT)` rounds them to f32 (round to nearest even, as
//! `static_cast<float>(int32_t)`).

use candle_core::{DType, Device, Tensor};
use qbench_onnx::{DType as OnnxType, Node};

use crate::ops_conv::conv;
use crate::tensor_util::{e, resolve_axis, round_half_even, R};
use crate::types::{self, holder};

/// Integer range of a QuantizeLinear output type.
fn q_range(ty: Option<OnnxType>) -> R<(f64, f64)> {
    use OnnxType as D;
    Ok(match ty {
        Some(D::U8) => (0.0, 255.0),
        Some(D::I8) => (-128.0, 127.0),
        Some(D::U16) => (0.0, 65535.0),
        Some(D::I16) => (-32768.0, 32767.0),
        Some(D::I32) => (i32::MIN as f64, i32::MAX as f64),
        Some(other) => return Err(format!("quantized type {other:?} is not supported")),
        None => return Err("the quantized element type is unknown".into()),
    })
}

/// Reshapes a quantization parameter (scale or zero point) so that it broadcasts against `x`:
/// a scalar (per tensor), a 1-D tensor along `axis` (per axis), or with `block_size` > 0
/// (opset 21 blocked quantization) a tensor of x's rank whose `axis` dimension is
/// `ceil(x.dim(axis) / block_size)`, repeated `block_size` times along that axis.
fn param(node: &Node, p: &Tensor, x: &Tensor, what: &str) -> R<Tensor> {
    let block = node.attr_int("block_size", 0);
    if block == 0 && (p.rank() == 0 || p.elem_count() == 1) {
        return p.reshape(()).map_err(e);
    }
    let axis = resolve_axis(node.attr_int("axis", 1), x.rank(), "axis")?;
    let dim = x.dims()[axis];
    if block < 0 {
        return Err(format!("block_size={block} must not be negative"));
    }
    if block == 0 {
        if p.rank() != 1 || p.elem_count() != dim {
            return Err(format!(
                "per-axis {what} has shape {:?}, expected [{dim}] (axis {axis} of {:?})",
                p.dims(),
                x.dims()
            ));
        }
        let mut shape = vec![1usize; x.rank()];
        shape[axis] = dim;
        return p.reshape(shape).map_err(e);
    }
    let block = block as usize;
    let mut want = x.dims().to_vec();
    want[axis] = dim.div_ceil(block);
    if p.dims() != want.as_slice() {
        return Err(format!(
            "blocked {what} has shape {:?}, expected {want:?} (block_size {block} along axis \
             {axis} of {:?})",
            p.dims(),
            x.dims()
        ));
    }
    let mut expanded = want.clone();
    expanded.insert(axis + 1, block);
    let mut merged = want;
    merged[axis] *= block;
    p.unsqueeze(axis + 1)
        .and_then(|p| p.broadcast_as(expanded))
        .and_then(|p| p.reshape(merged))
        .and_then(|p| p.narrow(axis, 0, dim))
        .map_err(e)
}

/// QuantizeLinear: `saturate(round_half_even(x / s) + z)` to the range of the output type
/// (the zero point's type; uint8 when it is omitted). The division is in f32 as in ONNX Runtime.
pub fn quantize_linear(
    node: &Node,
    x: &Tensor,
    s: &Tensor,
    z: Option<&Tensor>,
    out: Option<OnnxType>,
) -> R<Tensor> {
    let (lo, hi) = q_range(out)?;
    let x = x.to_dtype(DType::F32).map_err(e)?;
    let s = param(node, &s.to_dtype(DType::F32).map_err(e)?, &x, "scale")?;
    let q = round_half_even(&x.broadcast_div(&s).map_err(e)?)?;
    // int32 outputs are held in f64 (exact); 8/16-bit ones in f32.
    let q = q.to_dtype(holder(out.unwrap_or(OnnxType::U8))).map_err(e)?;
    let q = match z {
        Some(z) => {
            let z = param(node, &z.to_dtype(q.dtype()).map_err(e)?, &q, "zero point")?;
            q.broadcast_add(&z).map_err(e)?
        }
        None => q,
    };
    q.clamp(lo, hi).map_err(e)
}

/// DequantizeLinear: `float(q - z) * s`. The difference is exact (in f64 when either side is an
/// int32), converted to f32 once, then multiplied by the f32 scale, as ONNX Runtime does.
pub fn dequantize_linear(node: &Node, q: &Tensor, s: &Tensor, z: Option<&Tensor>) -> R<Tensor> {
    let d = match z {
        Some(z) => {
            let wide = if q.dtype() == DType::F64 || z.dtype() == DType::F64 {
                DType::F64
            } else {
                DType::F32
            };
            let q = q.to_dtype(wide).map_err(e)?;
            let z = param(node, &z.to_dtype(wide).map_err(e)?, &q, "zero point")?;
            q.broadcast_sub(&z).map_err(e)?
        }
        None => q.clone(),
    };
    let d = d.to_dtype(DType::F32).map_err(e)?;
    let s = param(node, &s.to_dtype(DType::F32).map_err(e)?, &d, "scale")?;
    d.broadcast_mul(&s).map_err(e)
}

/// DynamicQuantizeLinear (uint8), as ONNX Runtime's `GetQuantizationParameter` (qmath.h): the
/// range of the whole tensor widened to contain 0, `scale = (max - min) / 255` in f32 — or 1.0
/// when `max == min` (e.g. an all-zero tensor), so no division by zero ever happens —,
/// `zp = round_half_even(clamp(0 - min / scale, 0, 255))`,
/// `y = clamp(round_half_even(x / scale) + zp, 0, 255)`. Returns `(y, scale, zp)`.
pub fn dynamic_quantize_linear(x: &Tensor) -> R<(Tensor, Tensor, Tensor)> {
    let dims = x.dims().to_vec();
    let v: Vec<f32> = x
        .flatten_all()
        .and_then(|t| t.to_dtype(DType::F32))
        .and_then(|t| t.to_vec1::<f32>())
        .map_err(e)?;
    let (mut min, mut max) = (0.0f32, 0.0f32);
    for &a in &v {
        min = min.min(a);
        max = max.max(a);
    }
    let scale = if max == min { 1.0 } else { (max - min) / 255.0 };
    if !(scale.is_finite() && scale > 0.0) {
        return Err(format!(
            "input range [{min}, {max}] gives scale {scale} (overflows float32)"
        ));
    }
    let zp = (0.0 - min / scale).clamp(0.0, 255.0).round_ties_even();
    let y: Vec<f32> = v
        .iter()
        .map(|&a| ((a / scale).round_ties_even() + zp).clamp(0.0, 255.0))
        .collect();
    let dev = &Device::Cpu;
    Ok((
        Tensor::from_vec(y, dims, dev).map_err(e)?,
        Tensor::new(scale, dev).map_err(e)?,
        Tensor::new(zp, dev).map_err(e)?,
    ))
}

/// `t - z` (exact in f32: 8-bit operands give |t - z| <= 255), with `z` a scalar or (when `per`
/// is given) a 1-D tensor reshaped to `per`.
fn centered(
    t: &Tensor,
    z: Option<&Tensor>,
    per: Option<(usize, Vec<usize>)>,
    what: &str,
) -> R<Tensor> {
    let t = t.to_dtype(DType::F32).map_err(e)?;
    let Some(z) = z else { return Ok(t) };
    let z = z.to_dtype(DType::F32).map_err(e)?;
    if z.elem_count() == 1 {
        return t.broadcast_sub(&z.reshape(()).map_err(e)?).map_err(e);
    }
    match per {
        Some((len, shape)) if z.rank() == 1 && z.elem_count() == len => {
            t.broadcast_sub(&z.reshape(shape).map_err(e)?).map_err(e)
        }
        _ => Err(format!(
            "{what} has shape {:?}, which is neither a scalar nor a 1-D tensor matching {:?}",
            z.dims(),
            t.dims()
        )),
    }
}

fn max_abs(t: &Tensor) -> R<f64> {
    if t.elem_count() == 0 {
        return Ok(0.0);
    }
    t.abs()
        .and_then(|t| t.max_all())
        .and_then(|t| t.to_dtype(DType::F64))
        .and_then(|t| t.to_scalar::<f64>())
        .map_err(e)
}

/// The accumulation type for integer dot products of length `k` with factors bounded by
/// `ma` and `mb`: every partial sum is an integer of magnitude <= `k·ma·mb`, so f32 is exact in
/// any summation order when that is below 2^24; otherwise f64 (exact below 2^53).
fn accumulator(k: usize, ma: f64, mb: f64) -> DType {
    if (k as f64) * ma * mb < 16_777_216.0 {
        DType::F32
    } else {
        DType::F64
    }
}

/// Converts both operands to the exact accumulation type for a reduction of length `k`.
fn exact_operands(k: usize, a: Tensor, b: Tensor) -> R<(Tensor, Tensor)> {
    let acc = accumulator(k, max_abs(&a)?, max_abs(&b)?);
    Ok((a.to_dtype(acc).map_err(e)?, b.to_dtype(acc).map_err(e)?))
}

/// ConvInteger: `conv(x - x_zero_point, w - w_zero_point)` with Conv's attributes, exact (see
/// [`accumulator`]). Padding after subtracting the zero point contributes 0, like ONNX Runtime,
/// which pads with the input zero point. `w_zero_point` may be per output channel.
pub fn conv_integer(
    node: &Node,
    x: &Tensor,
    w: &Tensor,
    xz: Option<&Tensor>,
    wz: Option<&Tensor>,
) -> R<Tensor> {
    let x = centered(x, xz, None, "x_zero_point")?;
    let m = w.dims().first().copied().unwrap_or(0);
    let w = centered(w, wz, Some((m, vec![m, 1, 1, 1])), "w_zero_point")?;
    let k = w.dims().iter().skip(1).product();
    let (x, w) = exact_operands(k, x, w)?;
    conv(node, &x, &w, None)
}

/// QLinearConv as ONNX Runtime computes it: the exact integer convolution plus the int32 bias,
/// converted to f32, times the per-channel multiplier `x_scale·w_scale[c] / y_scale` (f32), rounded
/// half to even, plus `y_zero_point`, saturated to the output type.
#[allow(clippy::too_many_arguments)]
pub fn qlinear_conv(
    node: &Node,
    x: &Tensor,
    xs: &Tensor,
    xz: &Tensor,
    w: &Tensor,
    ws: &Tensor,
    wz: &Tensor,
    ys: &Tensor,
    yz: &Tensor,
    bias: Option<&Tensor>,
    out: Option<OnnxType>,
) -> R<Tensor> {
    let (lo, hi) = q_range(out)?;
    let acc = conv_integer(node, x, w, Some(xz), Some(wz))?;
    let c = acc.dims().get(1).copied().unwrap_or(0);
    let per_channel = |t: &Tensor, what: &str| -> R<Tensor> {
        let t = t.to_dtype(DType::F32).map_err(e)?;
        match t.elem_count() {
            1 => t.reshape((1, 1, 1, 1)).map_err(e),
            n if n == c => t.reshape((1, c, 1, 1)).map_err(e),
            n => Err(format!("{what} has {n} values for {c} output channels")),
        }
    };
    let acc = match bias {
        Some(b) => {
            let b = b.to_dtype(DType::F64).map_err(e)?;
            if b.elem_count() != c {
                return Err(format!(
                    "bias has {} values for {c} channels",
                    b.elem_count()
                ));
            }
            acc.to_dtype(DType::F64)
                .and_then(|a| a.broadcast_add(&b.reshape((1, c, 1, 1))?))
                .map_err(e)?
        }
        None => acc,
    };
    // int32 -> float (one rounding), then the f32 multiplier.
    let acc = acc.to_dtype(DType::F32).map_err(e)?;
    let xs = xs
        .to_dtype(DType::F32)
        .map_err(e)?
        .reshape((1, 1, 1, 1))
        .map_err(e)?;
    let ys = ys
        .to_dtype(DType::F32)
        .map_err(e)?
        .reshape((1, 1, 1, 1))
        .map_err(e)?;
    let m = per_channel(ws, "w_scale")?
        .broadcast_mul(&xs)
        .and_then(|m| m.broadcast_div(&ys))
        .map_err(e)?;
    let y = round_half_even(&acc.broadcast_mul(&m).map_err(e)?)?;
    let yz = yz
        .to_dtype(DType::F32)
        .map_err(e)?
        .reshape((1, 1, 1, 1))
        .map_err(e)?;
    y.broadcast_add(&yz)
        .and_then(|y| y.clamp(lo, hi))
        .map_err(e)
}

/// MatMulInteger: `(a - a_zero_point) @ (b - b_zero_point)`, exact (see [`accumulator`]);
/// `a_zero_point` may be per row (`[M]`), `b_zero_point` per column (`[N]`).
pub fn matmul_integer(
    a: &Tensor,
    b: &Tensor,
    az: Option<&Tensor>,
    bz: Option<&Tensor>,
) -> R<Tensor> {
    if a.rank() < 2 || b.rank() < 2 {
        return Err(format!(
            "MatMulInteger needs inputs of rank >= 2, got {:?} and {:?}",
            a.dims(),
            b.dims()
        ));
    }
    let rows = a.dims()[a.rank() - 2];
    let cols = b.dims()[b.rank() - 1];
    let k = a.dims()[a.rank() - 1];
    let a = centered(a, az, Some((rows, vec![rows, 1])), "a_zero_point")?;
    let b = centered(b, bz, Some((cols, vec![cols])), "b_zero_point")?;
    let (a, b) = exact_operands(k, a, b)?;
    a.broadcast_matmul(&b).map_err(e)
}

/// Cast between the supported ONNX types. Float to integer truncates toward zero; out-of-range
/// integers wrap around (two's complement), which is ONNX's rule between integer types (ONNX
/// leaves float -> integer overflow undefined). To FLOAT16 rounds to nearest even.
pub fn cast(node: &Node, x: &Tensor, from: Option<OnnxType>) -> R<Tensor> {
    use OnnxType as D;
    let to = types::cast_target(node)?;
    let bits = match to {
        D::F32 => return x.to_dtype(DType::F32).map_err(e),
        // f64 -> f16 rounds once, directly (no double rounding through f32).
        D::F16 => {
            return x
                .to_dtype(DType::F16)
                .and_then(|x| x.to_dtype(DType::F32))
                .map_err(e)
        }
        D::U8 | D::I8 => 8,
        D::U16 | D::I16 => 16,
        D::I32 => 32,
        D::I64 => 64,
    };
    let signed = matches!(to, D::I8 | D::I16 | D::I32 | D::I64);
    if from == Some(to) {
        return x.to_dtype(holder(to)).map_err(e);
    }
    let dims = x.dims().to_vec();
    let v: Vec<f64> = x
        .flatten_all()
        .and_then(|t| t.to_dtype(DType::F64))
        .and_then(|t| t.to_vec1::<f64>())
        .map_err(e)?;
    let w: Vec<f64> = v
        .into_iter()
        .map(|a| {
            let i = a.trunc() as i64; // saturating; NaN -> 0
            if bits == 64 {
                return i as f64;
            }
            let m = 1i64 << bits;
            let r = i.rem_euclid(m);
            (if signed && r >= m / 2 { r - m } else { r }) as f64
        })
        .collect();
    Tensor::from_vec(w, dims, &Device::Cpu)
        .and_then(|t| t.to_dtype(holder(to)))
        .map_err(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor_util::tests::{flat, t};
    use qbench_onnx::Attribute;

    #[test]
    fn quantize_dequantize_per_tensor_and_per_axis() {
        let node = Node::new("q", "QuantizeLinear", &["x", "s", "z"], &["y"]);
        // x / 0.5 = [1, 2.5, -3, 300]; round half even -> [1, 2, -3, 300]; + 1 -> clamp int8.
        let x = t(&[0.5, 1.25, -1.5, 150.0], &[4]);
        let q = quantize_linear(
            &node,
            &x,
            &t(&[0.5], &[]),
            Some(&t(&[1.0], &[])),
            Some(OnnxType::I8),
        )
        .unwrap();
        assert_eq!(flat(&q), vec![2.0, 3.0, -2.0, 127.0]);
        let dq = Node::new("d", "DequantizeLinear", &["q", "s", "z"], &["x"]);
        let back = dequantize_linear(&dq, &q, &t(&[0.5], &[]), Some(&t(&[1.0], &[]))).unwrap();
        assert_eq!(flat(&back), vec![0.5, 1.0, -1.5, 63.0]);
        // Per-axis along axis 0 of a [2, 2] weight.
        let node = node.with_attr("axis", Attribute::Int(0));
        let w = t(&[1.0, -1.0, 10.0, -10.0], &[2, 2]);
        let q = quantize_linear(
            &node,
            &w,
            &t(&[0.1, 1.0], &[2]),
            Some(&t(&[0.0, 0.0], &[2])),
            Some(OnnxType::I8),
        )
        .unwrap();
        assert_eq!(flat(&q), vec![10.0, -10.0, 10.0, -10.0]);
        // A per-axis scale for a scalar input is an error, not a panic.
        let err = quantize_linear(
            &node,
            &t(&[1.0], &[]),
            &t(&[0.1, 1.0], &[2]),
            None,
            Some(OnnxType::U8),
        )
        .unwrap_err();
        assert!(err.contains("out of range for rank 0"), "{err}");
        // A per-axis scale of the wrong length is an error.
        let err = quantize_linear(
            &node,
            &w,
            &t(&[0.1, 1.0, 2.0], &[3]),
            None,
            Some(OnnxType::U8),
        )
        .unwrap_err();
        assert!(err.contains("per-axis scale"), "{err}");
    }

    #[test]
    fn int16_and_uint16_saturate_at_their_limits_with_ties_to_even() {
        let node = Node::new("q", "QuantizeLinear", &["x", "s", "z"], &["y"]);
        // s = 1, z = 0: -32768.5 -> -32768 (tie to even), 32766.5 -> 32766, 32767.5 -> 32768 ->
        // 32767 (saturated), -40000 -> -32768, 0.5 -> 0, 1.5 -> 2.
        let x = t(&[-32768.5, 32766.5, 32767.5, -40000.0, 0.5, 1.5], &[6]);
        let q = quantize_linear(
            &node,
            &x,
            &t(&[1.0], &[]),
            Some(&t(&[0.0], &[])),
            Some(OnnxType::I16),
        )
        .unwrap();
        assert_eq!(
            flat(&q),
            vec![-32768.0, 32766.0, 32767.0, -32768.0, 0.0, 2.0]
        );
        // uint16 with z = 32768 (per axis on axis 1 of [1, 2]): 2.5 -> 2 + 32768,
        // 40000 -> 72768 -> 65535, -40000 -> 0.
        let node = node.with_attr("axis", Attribute::Int(1));
        let x = t(&[2.5, 40000.0, -40000.0, 3.5], &[2, 2]);
        let z = t(&[32768.0, 32768.0], &[2]);
        let q = quantize_linear(
            &node,
            &x,
            &t(&[1.0, 1.0], &[2]),
            Some(&z),
            Some(OnnxType::U16),
        )
        .unwrap();
        assert_eq!(flat(&q), vec![32770.0, 65535.0, 0.0, 32772.0]);
        let dq = Node::new("d", "DequantizeLinear", &["q", "s", "z"], &["x"])
            .with_attr("axis", Attribute::Int(1));
        let back = dequantize_linear(&dq, &q, &t(&[0.5, 2.0], &[2]), Some(&z)).unwrap();
        assert_eq!(flat(&back), vec![1.0, 65534.0, -16384.0, 8.0]);
        // int32 dequantization is exact above 2^24 before the one rounding to f32:
        // (16777217 - 1) * 1 = 16777216.
        let q32 = Tensor::new(&[16_777_217f64], &Device::Cpu).unwrap();
        let z32 = Tensor::new(1f64, &Device::Cpu).unwrap();
        let back = dequantize_linear(&dq, &q32, &t(&[1.0], &[]), Some(&z32)).unwrap();
        assert_eq!(flat(&back), vec![16_777_216.0]);
    }

    #[test]
    fn blocked_dequantize_repeats_scales_along_the_axis() {
        // x [2, 5], block_size 2 along axis 1 -> scales [2, 3]; the last block is partial.
        let dq = Node::new("d", "DequantizeLinear", &["q", "s"], &["x"])
            .with_attr("axis", Attribute::Int(1))
            .with_attr("block_size", Attribute::Int(2));
        let q = t(&[1.0; 10], &[2, 5]);
        let s = t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
        let y = dequantize_linear(&dq, &q, &s, None).unwrap();
        assert_eq!(
            flat(&y),
            vec![1.0, 1.0, 2.0, 2.0, 3.0, 4.0, 4.0, 5.0, 5.0, 6.0]
        );
        let err = dequantize_linear(&dq, &q, &t(&[1.0; 4], &[2, 2]), None).unwrap_err();
        assert!(err.contains("blocked scale"), "{err}");
    }

    #[test]
    fn dynamic_quantize_linear_by_hand() {
        // min -1, max 2: scale = 3/255 (f32), zp = round(1 / scale) = 85 (f32 gives 85.0 exactly);
        // 2 -> 170 + 85 = 255, -1 -> -85 + 85 = 0, 0 -> 85, 1 -> 85 + 85 = 170.
        let (y, s, z) = dynamic_quantize_linear(&t(&[-1.0, 0.0, 2.0, 1.0], &[2, 2])).unwrap();
        assert_eq!(s.to_scalar::<f32>().unwrap(), 3.0f32 / 255.0);
        assert_eq!(z.to_scalar::<f32>().unwrap(), 85.0);
        assert_eq!(y.dims(), &[2, 2]);
        assert_eq!(flat(&y), vec![0.0, 85.0, 255.0, 170.0]);
        // All negative: max is widened to 0; min -255 -> scale 1, zp = 255.
        // -255 -> 0; -1.5 -> -2 (tie to even) + 255 = 253; -0.5 -> -0 + 255 = 255;
        // -2.5 -> -2 + 255 = 253; -300 would saturate at 0 but cannot occur (it is the min).
        let (y, s, z) = dynamic_quantize_linear(&t(&[-255.0, -1.5, -0.5, -2.5], &[4])).unwrap();
        assert_eq!(s.to_scalar::<f32>().unwrap(), 1.0);
        assert_eq!(z.to_scalar::<f32>().unwrap(), 255.0);
        assert_eq!(flat(&y), vec![0.0, 253.0, 255.0, 253.0]);
        // All negative with a non-trivial scale: min -5.1 -> scale 0.02, zp = 255; the whole
        // tensor (both batch rows) is one range.
        let (y, s, z) = dynamic_quantize_linear(&t(&[-5.1, -0.02, -1.0, -2.55], &[2, 2])).unwrap();
        assert_eq!(s.to_scalar::<f32>().unwrap(), 5.1f32 / 255.0);
        assert_eq!(z.to_scalar::<f32>().unwrap(), 255.0);
        assert_eq!(flat(&y), vec![0.0, 254.0, 205.0, 127.0]);
        // All zero: ONNX Runtime uses scale 1 (not 0), zp 0, so no NaN anywhere.
        let (y, s, z) = dynamic_quantize_linear(&t(&[0.0; 6], &[1, 6])).unwrap();
        assert_eq!(s.to_scalar::<f32>().unwrap(), 1.0);
        assert_eq!(z.to_scalar::<f32>().unwrap(), 0.0);
        assert_eq!(flat(&y), vec![0.0; 6]);
        // Ties to even in the data: range [0, 255] -> scale 1; 0.5 -> 0, 1.5 -> 2, 2.5 -> 2.
        let (y, _, z) = dynamic_quantize_linear(&t(&[0.5, 1.5, 2.5, 255.0], &[4])).unwrap();
        assert_eq!(z.to_scalar::<f32>().unwrap(), 0.0);
        assert_eq!(flat(&y), vec![0.0, 2.0, 2.0, 255.0]);
    }

    #[test]
    fn conv_integer_is_exact_above_two_to_the_24() {
        // A 1x1 convolution over 600 input channels, two output channels:
        // channel 0: w = -128 with zp 127 -> w - wz = -255 (one weight 3 -> -124);
        // channel 1: w = 127 with per-channel zp -128 -> w - wz = 255.
        // x = 255 except x[0] = 1 (x zp 0). |sums| ~ 3.9e7 > 2^25, where f32 keeps only
        // multiples of 4, and the exact sums are not such multiples.
        let c = 600usize;
        let mut xv = vec![255.0f32; c];
        xv[0] = 1.0;
        let x = t(&xv, &[1, c, 1, 1]);
        let mut wv = vec![-128.0f32; c];
        wv.extend(vec![127.0f32; c]);
        wv[1] = 3.0;
        let w = t(&wv, &[2, c, 1, 1]);
        let node = Node::new("ci", "ConvInteger", &["x", "w", "xz", "wz"], &["y"]);
        let xz = t(&[0.0], &[]);
        let wz = t(&[127.0, -128.0], &[2]);
        let y = conv_integer(&node, &x, &w, Some(&xz), Some(&wz)).unwrap();
        assert_eq!(y.dtype(), DType::F64); // 600·255·255 >= 2^24: accumulated in f64
        let exact: Vec<i64> = (0..2)
            .map(|m| {
                (0..c)
                    .map(|k| xv[k] as i64 * (wv[m * c + k] as i64 - [127, -128][m]))
                    .sum()
            })
            .collect();
        assert!(exact.iter().all(|v| v.abs() > 1 << 24), "{exact:?}");
        assert!(exact.iter().any(|v| (*v as f32) as i64 != *v), "{exact:?}");
        let got: Vec<f64> = y.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(got, exact.iter().map(|v| *v as f64).collect::<Vec<_>>());
        // Cast(to=FLOAT) then rounds once, like static_cast<float>(int32_t).
        let castn = Node::new("c", "Cast", &["y"], &["f"]).with_attr("to", Attribute::Int(1));
        let f = cast(&castn, &y, Some(OnnxType::I32)).unwrap();
        assert_eq!(
            flat(&f),
            exact.iter().map(|v| *v as f32).collect::<Vec<_>>()
        );
    }

    #[test]
    fn f32_accumulation_only_below_two_to_the_24() {
        // 258·255·255 = 16_776_450 < 2^24 = 16_777_216 <= 259·255·255.
        assert_eq!(accumulator(258, 255.0, 255.0), DType::F32);
        assert_eq!(accumulator(259, 255.0, 255.0), DType::F64);
        assert_eq!(accumulator(600, 255.0, 100.0), DType::F32);
        // Small sums stay in f32 and are exact; the session holds the int32 result in f64.
        let a = t(&[255.0; 8], &[1, 8]);
        let b = t(&[-128.0; 8], &[8, 1]);
        let y = matmul_integer(&a, &b, None, Some(&t(&[127.0], &[]))).unwrap();
        assert_eq!(y.dtype(), DType::F32);
        assert_eq!(flat(&y), vec![8.0 * 255.0 * -255.0]);
    }

    #[test]
    fn conv_integer_padding_and_matmul_integer_zero_points() {
        // 3x3 input of 10 with x zero point 10: all centered values are 0, and so is the padding.
        let node = Node::new("ci", "ConvInteger", &["x", "w", "xz"], &["y"])
            .with_attr("pads", Attribute::Ints(vec![1, 1, 1, 1]));
        let x = t(&[10.0; 9], &[1, 1, 3, 3]);
        let w = t(&[1.0; 9], &[1, 1, 3, 3]);
        let y = conv_integer(&node, &x, &w, Some(&t(&[10.0], &[])), None).unwrap();
        assert_eq!(flat(&y), vec![0.0; 9]);
        // Without a zero point the zero padding is real zeros: corner sums 4 * 10.
        let y = conv_integer(&node, &x, &w, None, None).unwrap();
        assert_eq!(flat(&y)[0], 40.0);
        // MatMulInteger, a [2, 3] with per-row zp [1, 2], b [3, 2] with per-column zp [0, 1].
        let a = t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
        let b = t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]);
        let y = matmul_integer(
            &a,
            &b,
            Some(&t(&[1.0, 2.0], &[2])),
            Some(&t(&[0.0, 1.0], &[2])),
        )
        .unwrap();
        // a - za = [[0,1,2],[2,3,4]]; b - zb = [[1,1],[3,3],[5,5]]
        assert_eq!(flat(&y), vec![13.0, 13.0, 31.0, 31.0]);
        let err = matmul_integer(&a, &b, None, Some(&t(&[0.0, 1.0, 2.0], &[3]))).unwrap_err();
        assert!(err.contains("b_zero_point"), "{err}");
    }

    #[test]
    fn qlinear_conv_requantizes_per_channel_by_hand() {
        // 1x1 conv, x = [130, 126] (zp 128, scale 0.5), w = [3], [-2] (zp 0, scales 0.25, 0.5),
        // bias [4, -1], y zp 0 (int8), y scale as given.
        let node = Node::new("qc", "QLinearConv", &["x"], &["y"]);
        let x = t(&[130.0, 126.0], &[1, 1, 1, 2]);
        let w = t(&[3.0, -2.0], &[2, 1, 1, 1]);
        let run = |y_scale: f32, bias: Option<&Tensor>| {
            qlinear_conv(
                &node,
                &x,
                &t(&[0.5], &[]),
                &t(&[128.0], &[]),
                &w,
                &t(&[0.25, 0.5], &[2]),
                &t(&[0.0], &[]),
                &t(&[y_scale], &[]),
                &t(&[0.0], &[]),
                bias,
                Some(OnnxType::I8),
            )
            .unwrap()
        };
        // acc: c0 = [10, -2] x 0.625 -> [6.25, -1.25]; c1 = [-5, 3] x 1.25 -> [-6.25, 3.75].
        let y = run(0.2, Some(&t(&[4.0, -1.0], &[2])));
        assert_eq!(flat(&y), vec![6.0, -1.0, -6.0, 4.0]);
        // Saturation at the int8 limits.
        let y = run(0.001, None);
        assert_eq!(flat(&y), vec![127.0, -128.0, -128.0, 127.0]);
    }

    #[test]
    fn cast_rounds_truncates_and_wraps() {
        let node =
            |to: i64| Node::new("c", "Cast", &["x"], &["y"]).with_attr("to", Attribute::Int(to));
        // To FLOAT16 and back: 1 + 2^-11 is a tie -> 1.0 (even); 1 + 3·2^-11 -> 1 + 2^-9;
        // 65520 -> inf; 1/3 -> 0.333251953125.
        let x = t(
            &[
                1.0 + 2f32.powi(-11),
                1.0 + 3.0 * 2f32.powi(-11),
                65520.0,
                1.0 / 3.0,
            ],
            &[4],
        );
        let y = cast(&node(10), &x, Some(OnnxType::F32)).unwrap();
        assert_eq!(
            flat(&y),
            vec![1.0, 1.0 + 2f32.powi(-9), f32::INFINITY, 0.333_251_95]
        );
        // Float -> int8 truncates toward zero; int32 300 -> int8 wraps to 44; uint8 of -1 -> 255.
        let y = cast(&node(3), &t(&[2.7, -2.7, 300.0], &[3]), Some(OnnxType::F32)).unwrap();
        assert_eq!(flat(&y), vec![2.0, -2.0, 44.0]);
        let y = cast(&node(2), &t(&[-1.0], &[1]), Some(OnnxType::I8)).unwrap();
        assert_eq!(flat(&y), vec![255.0]);
        // To INT32 is held in f64.
        let y = cast(&node(6), &t(&[-3.9], &[1]), Some(OnnxType::F32)).unwrap();
        assert_eq!(y.dtype(), DType::F64);
        assert_eq!(flat(&y), vec![-3.0]);
        // An unsupported target is an error.
        assert!(cast(&node(11), &x, None)
            .unwrap_err()
            .contains("Cast to ONNX type 11"));
    }
}
