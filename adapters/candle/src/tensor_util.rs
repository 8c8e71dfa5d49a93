//! Helpers every operator module shares: the error type, conversions between IR and candle
//! tensors, axis and argument checks, ONNX rounding. The dispatcher ([`crate::ops`]) and the
//! operator modules import from here, so that calls flow one way: dispatcher -> operators ->
//! helpers.

use candle_core::{DType, Device, Tensor};
use qbench_onnx::{Node, TensorData};

pub(crate) type R<T> = Result<T, String>;

pub(crate) fn e(err: candle_core::Error) -> String {
    err.to_string()
}

/// Converts an IR tensor into a candle tensor held as its ONNX type dictates: float32, float16
/// (converted exactly) and 8/16-bit integers as f32; int32/int64 as f64.
pub fn tensor(t: &TensorData) -> R<Tensor> {
    use qbench_onnx::DType as D;
    t.validate().map_err(|err| err.to_string())?;
    let dims: Vec<usize> = t.dims.iter().map(|d| *d as usize).collect();
    let err = |err: qbench_onnx::IrError| err.to_string();
    let f32s = |v: Vec<f32>| Tensor::from_vec(v, dims.as_slice(), &Device::Cpu).map_err(e);
    let f64s = |v: Vec<f64>| Tensor::from_vec(v, dims.as_slice(), &Device::Cpu).map_err(e);
    match t.dtype {
        D::F32 => f32s(t.to_f32().map_err(err)?),
        D::F16 => {
            // validate() checked that raw holds exactly len() f16 values; f16 -> f32 is exact.
            Tensor::from_raw_buffer(&t.raw, DType::F16, &dims, &Device::Cpu)
                .and_then(|x| x.to_dtype(DType::F32))
                .map_err(e)
        }
        D::I8 => f32s(t.to_i8().map_err(err)?.into_iter().map(f32::from).collect()),
        D::U8 => f32s(t.to_u8().map_err(err)?.into_iter().map(f32::from).collect()),
        D::I16 => f32s(
            t.to_i16()
                .map_err(err)?
                .into_iter()
                .map(f32::from)
                .collect(),
        ),
        D::U16 => f32s(
            t.to_u16()
                .map_err(err)?
                .into_iter()
                .map(f32::from)
                .collect(),
        ),
        D::I32 => f64s(
            t.to_i32()
                .map_err(err)?
                .into_iter()
                .map(f64::from)
                .collect(),
        ),
        D::I64 => f64s(
            t.to_i64()
                .map_err(err)?
                .into_iter()
                .map(|x| x as f64)
                .collect(),
        ),
    }
    .map_err(|r| format!("tensor {}: {r}", t.name))
}

/// Reads a small tensor (shape, starts, a scalar) as integers. Values are held exactly in f32
/// or f64 (|v| <= 2^53), so the conversion back is exact; larger values saturate.
pub(crate) fn int_values(t: &Tensor) -> R<Vec<i64>> {
    Ok(t.flatten_all()
        .and_then(|t| t.to_dtype(DType::F64))
        .and_then(|t| t.to_vec1::<f64>())
        .map_err(e)?
        .into_iter()
        .map(|v| v as i64)
        .collect())
}

/// Reads a one-element tensor as f64.
pub(crate) fn scalar(t: &Tensor, what: &str) -> R<f64> {
    if t.elem_count() != 1 {
        return Err(format!("{what} must be a scalar, got shape {:?}", t.dims()));
    }
    t.flatten_all()
        .and_then(|t| t.to_dtype(DType::F64))
        .and_then(|t| t.to_vec1::<f64>())
        .map(|v| v[0])
        .map_err(e)
}

/// Resolves a possibly negative axis against a rank.
pub(crate) fn resolve_axis(axis: i64, rank: usize, what: &str) -> R<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        return Err(format!("{what} {axis} is out of range for rank {rank}"));
    }
    Ok(a as usize)
}

/// Resolves a list of possibly negative axes against a rank; a repeated axis is an error.
pub(crate) fn resolve_axes(axes: &[i64], rank: usize, what: &str) -> R<Vec<usize>> {
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let r = resolve_axis(a, rank, what)?;
        if out.contains(&r) {
            return Err(format!("{what} {a} is repeated in {axes:?}"));
        }
        out.push(r);
    }
    Ok(out)
}

/// An integer list given as the attribute `attr` (older opsets) or, when the attribute is
/// absent, as the optional input `i` (newer opsets). `None` when neither is given.
pub(crate) fn ints_arg(
    node: &Node,
    inputs: &[Option<&Tensor>],
    i: usize,
    attr: &str,
) -> R<Option<Vec<i64>>> {
    if let Some(v) = node.attr_ints(attr) {
        return Ok(Some(v.to_vec()));
    }
    match inputs.get(i).copied().flatten() {
        Some(t) => int_values(t).map(Some),
        None => Ok(None),
    }
}

/// The message for an operator or attribute combination this backend cannot run; `what` names
/// the operator and the limiting attribute, e.g. `Resize with mode cubic`.
pub(crate) fn unsupported(what: impl std::fmt::Display) -> String {
    format!("unsupported: {what}")
}

/// Whether an ONNX element type is an integer type (held exactly in f32 or f64).
pub(crate) fn is_integer(ty: Option<qbench_onnx::DType>) -> bool {
    use qbench_onnx::DType as D;
    matches!(ty, Some(D::I8 | D::U8 | D::I16 | D::U16 | D::I32 | D::I64))
}

/// Converts tensors to a common holder dtype (f64 if any is f64, else f32) so that binary
/// candle operations accept them.
pub(crate) fn promote(ts: &[&Tensor]) -> R<Vec<Tensor>> {
    let dt = if ts.iter().any(|t| t.dtype() == DType::F64) {
        DType::F64
    } else {
        DType::F32
    };
    ts.iter().map(|t| t.to_dtype(dt).map_err(e)).collect()
}

/// A 1-D `u32` index tensor for `index_select`.
pub(crate) fn index_tensor(idx: &[usize], what: &str) -> R<Tensor> {
    let v: Vec<u32> = idx
        .iter()
        .map(|&i| u32::try_from(i).map_err(|_| format!("{what}: index {i} is too large")))
        .collect::<R<_>>()?;
    Tensor::from_vec(v, idx.len(), &Device::Cpu).map_err(e)
}

/// `index_select` of the positions `idx` along `axis` (made contiguous first, as candle's
/// `index_select` requires).
pub(crate) fn select(t: &Tensor, idx: &[usize], axis: usize, what: &str) -> R<Tensor> {
    let i = index_tensor(idx, what)?;
    t.contiguous()
        .and_then(|t| t.index_select(&i, axis))
        .map_err(e)
}

/// A tensor of `dims` filled with `value`, in the dtype `like` has.
pub(crate) fn filled(value: f64, dims: &[usize], like: &Tensor) -> R<Tensor> {
    Tensor::full(value, dims, &Device::Cpu)
        .and_then(|t| t.to_dtype(like.dtype()))
        .map_err(e)
}

/// A 1-D f64 tensor (the holder of int64 values such as shapes).
pub(crate) fn i64_tensor(v: &[i64]) -> R<Tensor> {
    let n = v.len();
    let v: Vec<f64> = v.iter().map(|x| *x as f64).collect();
    Tensor::from_vec(v, n, &Device::Cpu).map_err(e)
}

/// Rounds half to even, as ONNX does (candle's `round` rounds half away from zero).
pub fn round_half_even(t: &Tensor) -> R<Tensor> {
    let dims = t.dims().to_vec();
    let v: Vec<f32> = t
        .flatten_all()
        .and_then(|t| t.to_vec1::<f32>())
        .map_err(e)?;
    let r: Vec<f32> = v.into_iter().map(f32::round_ties_even).collect();
    Tensor::from_vec(r, dims, &Device::Cpu).map_err(e)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn t(v: &[f32], dims: &[usize]) -> Tensor {
        Tensor::from_vec(v.to_vec(), dims, &Device::Cpu).unwrap()
    }

    pub fn flat(x: &Tensor) -> Vec<f32> {
        x.flatten_all()
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    }

    #[test]
    fn round_half_even_differs_from_candle_round() {
        let x = t(&[0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, 2.6], &[8]);
        let r = round_half_even(&x).unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(r, vec![0.0, 2.0, 2.0, -0.0, -2.0, -2.0, 2.0, 3.0]);
    }
}
