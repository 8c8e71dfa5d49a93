//! Granularity: one set of parameters per tensor, per channel (along an axis) or per block
//! (consecutive elements along the last axis, e.g. 32 for 4-bit weight-only schemes).
//!
//! Tensors are flat row-major (`C` order) slices with explicit `dims`. The parameter rule is a
//! closure `Range -> QuantParams` (typically a [`crate::Convention`] call), so any framework's
//! rule can be applied at any granularity.

use crate::error::{check_finite, QuantError, Result};
use crate::params::{QuantParams, Range};
use crate::quantize::Rounding;

/// How many parameter sets a tensor gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Granularity {
    /// One for the whole tensor.
    PerTensor,
    /// One per index along `axis` (ONNX `axis` attribute of Q/DQ).
    PerChannel {
        /// Channel axis (0 for conv weights `[O, I, kh, kw]`).
        axis: usize,
    },
    /// One per `block_size` consecutive elements of the last axis (last block may be shorter).
    PerBlock {
        /// Elements per block (32 for MatMulNBits with tract, GGML Q4_0/Q8_0).
        block_size: usize,
    },
}

/// Product of `dims` (1 for a scalar), failing on overflow.
pub fn element_count(dims: &[usize]) -> Result<usize> {
    dims.iter().try_fold(1usize, |acc, &d| {
        acc.checked_mul(d)
            .ok_or_else(|| QuantError::Shape(format!("dims {dims:?} overflow usize")))
    })
}

fn check_len(what: &str, len: usize, dims: &[usize]) -> Result<()> {
    let n = element_count(dims)?;
    if n != len {
        return Err(QuantError::Shape(format!(
            "{what}: {len} elements do not match dims {dims:?} ({n} elements)"
        )));
    }
    Ok(())
}

/// `(channels, inner)` for a channel axis: channel of flat index `i` is `(i / inner) % channels`.
fn channel_layout(what: &str, dims: &[usize], axis: usize) -> Result<(usize, usize)> {
    if axis >= dims.len() {
        return Err(QuantError::Shape(format!(
            "{what}: axis {axis} out of bounds for dims {dims:?}"
        )));
    }
    Ok((dims[axis], element_count(&dims[axis + 1..])?))
}

/// `(last, blocks_per_row)` for blocks along the last axis.
fn block_layout(what: &str, dims: &[usize], block_size: usize) -> Result<(usize, usize)> {
    if block_size == 0 {
        return Err(QuantError::Shape(format!("{what}: block size must be > 0")));
    }
    let last = *dims
        .last()
        .ok_or_else(|| QuantError::Shape(format!("{what}: per-block needs at least one dim")))?;
    Ok((last, last.div_ceil(block_size)))
}

fn ranges_from_index(
    what: &str,
    data: &[f32],
    groups: usize,
    group_of: impl Fn(usize) -> usize,
    label: &str,
) -> Result<Vec<Range>> {
    check_finite(what, data)?;
    let mut lo = vec![f32::INFINITY; groups];
    let mut hi = vec![f32::NEG_INFINITY; groups];
    for (i, &v) in data.iter().enumerate() {
        let g = group_of(i);
        lo[g] = lo[g].min(v);
        hi[g] = hi[g].max(v);
    }
    lo.into_iter()
        .zip(hi)
        .enumerate()
        .map(|(g, (a, b))| {
            if a > b {
                Err(QuantError::Shape(format!("{what}: {label} {g} is empty")))
            } else {
                Ok(Range { min: a, max: b })
            }
        })
        .collect()
}

/// Min/max of each channel along `axis`.
pub fn channel_ranges(what: &str, data: &[f32], dims: &[usize], axis: usize) -> Result<Vec<Range>> {
    check_len(what, data.len(), dims)?;
    let (channels, inner) = channel_layout(what, dims, axis)?;
    if inner == 0 {
        return Err(QuantError::Shape(format!(
            "{what}: channels are empty (dims {dims:?})"
        )));
    }
    ranges_from_index(what, data, channels, |i| (i / inner) % channels, "channel")
}

/// Min/max of each block of `block_size` along the last axis, in row-major block order.
pub fn block_ranges(
    what: &str,
    data: &[f32],
    dims: &[usize],
    block_size: usize,
) -> Result<Vec<Range>> {
    check_len(what, data.len(), dims)?;
    let (last, bpr) = block_layout(what, dims, block_size)?;
    let rows = data.len().checked_div(last).unwrap_or(0);
    ranges_from_index(
        what,
        data,
        rows * bpr,
        |i| (i / last) * bpr + (i % last) / block_size,
        "block",
    )
}

/// Parameters for each group, wrapping errors with the group index.
fn params_for(
    what: &str,
    label: &str,
    ranges: Vec<Range>,
    mut rule: impl FnMut(Range) -> Result<QuantParams>,
) -> Result<Vec<QuantParams>> {
    ranges
        .into_iter()
        .enumerate()
        .map(|(g, r)| rule(r).map_err(|e| e.context(format!("{what} {label} {g}"))))
        .collect()
}

/// One parameter set for the whole tensor.
pub fn params_per_tensor(
    what: &str,
    data: &[f32],
    rule: impl FnOnce(Range) -> Result<QuantParams>,
) -> Result<QuantParams> {
    rule(Range::of(what, data)?).map_err(|e| e.context(what.to_string()))
}

/// One parameter set per channel along `axis`.
pub fn params_per_channel(
    what: &str,
    data: &[f32],
    dims: &[usize],
    axis: usize,
    rule: impl FnMut(Range) -> Result<QuantParams>,
) -> Result<Vec<QuantParams>> {
    params_for(
        what,
        "channel",
        channel_ranges(what, data, dims, axis)?,
        rule,
    )
}

/// One parameter set per block along the last axis.
pub fn params_per_block(
    what: &str,
    data: &[f32],
    dims: &[usize],
    block_size: usize,
    rule: impl FnMut(Range) -> Result<QuantParams>,
) -> Result<Vec<QuantParams>> {
    params_for(
        what,
        "block",
        block_ranges(what, data, dims, block_size)?,
        rule,
    )
}

fn quantize_grouped(
    what: &str,
    data: &[f32],
    params: &[QuantParams],
    group_of: impl Fn(usize) -> usize,
    rounding: Rounding,
) -> Result<Vec<i32>> {
    check_finite(what, data)?;
    for p in params {
        p.validate()?;
    }
    Ok(data
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let p = &params[group_of(i)];
            let r = rounding.round(v / p.scale) as f64 + p.zero_point as f64;
            r.clamp(p.qmin as f64, p.qmax as f64) as i32
        })
        .collect())
}

fn dequantize_grouped(
    q: &[i32],
    params: &[QuantParams],
    group_of: impl Fn(usize) -> usize,
) -> Vec<f32> {
    q.iter()
        .enumerate()
        .map(|(i, &v)| {
            let p = &params[group_of(i)];
            (v as i64 - p.zero_point as i64) as f32 * p.scale
        })
        .collect()
}

fn check_count(what: &str, got: usize, want: usize, label: &str) -> Result<()> {
    if got != want {
        return Err(QuantError::Shape(format!(
            "{what}: {got} parameter sets for {want} {label}s"
        )));
    }
    Ok(())
}

/// Quantizes with one parameter set per channel along `axis`.
pub fn quantize_per_channel(
    what: &str,
    data: &[f32],
    dims: &[usize],
    axis: usize,
    params: &[QuantParams],
    rounding: Rounding,
) -> Result<Vec<i32>> {
    check_len(what, data.len(), dims)?;
    let (channels, inner) = channel_layout(what, dims, axis)?;
    check_count(what, params.len(), channels, "channel")?;
    quantize_grouped(
        what,
        data,
        params,
        |i| (i / inner.max(1)) % channels.max(1),
        rounding,
    )
}

/// Dequantizes with one parameter set per channel along `axis`.
pub fn dequantize_per_channel(
    q: &[i32],
    dims: &[usize],
    axis: usize,
    params: &[QuantParams],
) -> Result<Vec<f32>> {
    check_len("quantized tensor", q.len(), dims)?;
    let (channels, inner) = channel_layout("quantized tensor", dims, axis)?;
    check_count("quantized tensor", params.len(), channels, "channel")?;
    Ok(dequantize_grouped(q, params, |i| {
        (i / inner.max(1)) % channels.max(1)
    }))
}

/// Quantizes with one parameter set per block along the last axis.
pub fn quantize_per_block(
    what: &str,
    data: &[f32],
    dims: &[usize],
    block_size: usize,
    params: &[QuantParams],
    rounding: Rounding,
) -> Result<Vec<i32>> {
    check_len(what, data.len(), dims)?;
    let (last, bpr) = block_layout(what, dims, block_size)?;
    let rows = data.len().checked_div(last).unwrap_or(0);
    check_count(what, params.len(), rows * bpr, "block")?;
    quantize_grouped(
        what,
        data,
        params,
        |i| (i / last) * bpr + (i % last) / block_size,
        rounding,
    )
}

/// Dequantizes with one parameter set per block along the last axis.
pub fn dequantize_per_block(
    q: &[i32],
    dims: &[usize],
    block_size: usize,
    params: &[QuantParams],
) -> Result<Vec<f32>> {
    check_len("quantized tensor", q.len(), dims)?;
    let (last, bpr) = block_layout("quantized tensor", dims, block_size)?;
    let rows = q.len().checked_div(last).unwrap_or(0);
    check_count("quantized tensor", params.len(), rows * bpr, "block")?;
    Ok(dequantize_grouped(q, params, |i| {
        (i / last) * bpr + (i % last) / block_size
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convention::onnxruntime;
    use crate::scheme::QType;

    fn ort_sym(qtype: QType) -> impl FnMut(Range) -> Result<QuantParams> {
        move |r| onnxruntime::params(r, qtype, true, false)
    }

    #[test]
    fn per_channel_axis0_by_hand() {
        // dims [2, 3], axis 0: channel 0 = [-1, 0.3, 0.25], channel 1 = [0, 2, 4].
        let w = [-1.0f32, 0.3, 0.25, 0.0, 2.0, 4.0];
        let r = channel_ranges("w", &w, &[2, 3], 0).unwrap();
        assert_eq!(
            r,
            vec![
                Range {
                    min: -1.0,
                    max: 0.3
                },
                Range { min: 0.0, max: 4.0 }
            ]
        );
        // ORT int8 symmetric: scales 1/127 and 4/127, z = 0.
        let p = params_per_channel("w", &w, &[2, 3], 0, ort_sym(QType::INT8)).unwrap();
        assert_eq!(p[0].scale, 1.0 / 127.0);
        assert_eq!(p[1].scale, ((8.0f64) / 254.0) as f32);
        // q: ch0: -127, 0.3·127 = 38.1 -> 38, 0.25·127 = 31.75 -> 32; ch1: 0 -> 0, 4 -> 127
        // (2 -> 63.5 in exact arithmetic is a tie decided by f32 rounding of the scale: not asserted).
        let q = quantize_per_channel("w", &w, &[2, 3], 0, &p, Rounding::HalfEven).unwrap();
        assert_eq!(&q[..3], &[-127, 38, 32]);
        assert_eq!(q[3], 0);
        assert_eq!(q[5], 127);
        let back = dequantize_per_channel(&q, &[2, 3], 0, &p).unwrap();
        assert_eq!(back[0], -1.0);
        assert_eq!(back[5], 4.0);
    }

    #[test]
    fn per_channel_inner_axis() {
        // dims [2, 2], axis 1: channel 0 = elements 0, 2; channel 1 = elements 1, 3.
        let x = [1.0f32, -5.0, -2.0, 3.0];
        let r = channel_ranges("x", &x, &[2, 2], 1).unwrap();
        assert_eq!(
            r,
            vec![
                Range {
                    min: -2.0,
                    max: 1.0
                },
                Range {
                    min: -5.0,
                    max: 3.0
                }
            ]
        );
    }

    #[test]
    fn per_block_by_hand() {
        // dims [1, 5], block 2: blocks [1, -3], [0.5, 0.2], [7] (last block shorter).
        let x = [1.0f32, -3.0, 0.5, 0.2, 7.0];
        let r = block_ranges("x", &x, &[1, 5], 2).unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(
            r[0],
            Range {
                min: -3.0,
                max: 1.0
            }
        );
        assert_eq!(r[2], Range { min: 7.0, max: 7.0 });
        // ORT int4 symmetric [-7, 7]: block 0 scale 6/14 = 3/7: 1/(3/7) = 2.33 -> 2, -3 -> -7;
        // block 1 scale 1/14: 0.5 -> 7, 0.2·14 = 2.8 -> 3; block 2 scale 1: 7 -> 7.
        let p = params_per_block("x", &x, &[1, 5], 2, ort_sym(QType::INT4)).unwrap();
        assert_eq!((p[0].qmin, p[0].qmax), (-7, 7));
        let q = quantize_per_block("x", &x, &[1, 5], 2, &p, Rounding::HalfEven).unwrap();
        assert_eq!(q, vec![2, -7, 7, 3, 7]);
        let back = dequantize_per_block(&q, &[1, 5], 2, &p).unwrap();
        assert_eq!(back[1], -3.0);
        assert_eq!(back[4], 7.0);
    }

    #[test]
    fn per_block_two_rows() {
        // dims [2, 3], block 2 -> 2 blocks per row: [a0 a1] [a2] [b0 b1] [b2].
        let x = [1.0f32, 2.0, 3.0, -1.0, -2.0, -3.0];
        let r = block_ranges("x", &x, &[2, 3], 2).unwrap();
        assert_eq!(
            r,
            vec![
                Range { min: 1.0, max: 2.0 },
                Range { min: 3.0, max: 3.0 },
                Range {
                    min: -2.0,
                    max: -1.0
                },
                Range {
                    min: -3.0,
                    max: -3.0
                }
            ]
        );
    }

    #[test]
    fn per_tensor_and_edge_cases() {
        let p = params_per_tensor("t", &[0.0, 0.0], ort_sym(QType::INT8)).unwrap();
        assert_eq!((p.scale, p.zero_point), (1.0, 0));
        // Errors: NaN (names the tensor), shape mismatch, bad axis, zero block, wrong param count.
        let err = params_per_tensor("fc.weight", &[f32::NAN], ort_sym(QType::INT8)).unwrap_err();
        assert!(err.to_string().contains("fc.weight"));
        assert!(channel_ranges("w", &[1.0, 2.0], &[3], 0).is_err());
        assert!(channel_ranges("w", &[1.0, 2.0], &[2], 1).is_err());
        assert!(channel_ranges("w", &[], &[2, 0], 0).is_err());
        assert!(block_ranges("w", &[1.0, 2.0], &[2], 0).is_err());
        let p1 = QuantParams::new(1.0, 0, -127, 127).unwrap();
        assert!(
            quantize_per_channel("w", &[1.0, 2.0], &[2], 0, &[p1], Rounding::HalfEven).is_err()
        );
        assert!(quantize_per_block("w", &[1.0, 2.0], &[2], 1, &[p1], Rounding::HalfEven).is_err());
        assert!(quantize_per_channel(
            "w",
            &[1.0, f32::INFINITY],
            &[2],
            0,
            &[p1, p1],
            Rounding::HalfEven
        )
        .is_err());
        // A failing rule is reported with the channel index.
        let err = params_per_channel("w", &[1.0, 2.0], &[2], 0, |_| {
            Err(QuantError::InvalidArgument("boom".into()))
        })
        .unwrap_err();
        assert!(err.to_string().starts_with("w channel 0"), "{err}");
        assert_eq!(element_count(&[]).unwrap(), 1);
    }
}
