//! What both fake-quantization operators share: reading their f32 input, and the
//! straight-through estimator's backward pass (the gradient times a 0/1 mask).

use candle_core::{CpuStorage, Layout, Result, Tensor};

/// The contiguous f32 values of an operator's input.
pub(crate) fn f32_input<'a>(
    op: &str,
    storage: &'a CpuStorage,
    layout: &Layout,
) -> Result<&'a [f32]> {
    let CpuStorage::F32(data) = storage else {
        candle_core::bail!("{op} takes f32 tensors")
    };
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("{op} takes a contiguous tensor")
    };
    Ok(&data[start..end])
}

/// `grad` where `passes` holds for the input value (with its index), zero elsewhere.
pub(crate) fn gradient_through(
    arg: &Tensor,
    grad: &Tensor,
    passes: impl Fn(usize, f32) -> bool,
) -> Result<Option<Tensor>> {
    let x: Vec<f32> = arg.flatten_all()?.to_vec1()?;
    let mask: Vec<f32> = x
        .iter()
        .enumerate()
        .map(|(i, &v)| if passes(i, v) { 1.0 } else { 0.0 })
        .collect();
    let mask = Tensor::from_vec(mask, arg.shape(), arg.device())?;
    Ok(Some(grad.mul(&mask)?))
}
