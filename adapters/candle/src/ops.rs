//! ONNX operators implemented with candle ops, in float32.

use candle_core::{DType, Device, Tensor};
use qbench_onnx::{Attribute, Node, TensorData};

/// Default-domain operators this backend executes.
pub const SUPPORTED_OPS: &[&str] = &[
    "Conv",
    "Relu",
    "Add",
    "Mul",
    "GlobalAveragePool",
    "Flatten",
    "Gemm",
    "MatMul",
    "Identity",
    "QuantizeLinear",
    "DequantizeLinear",
];

type R<T> = Result<T, String>;

fn e(err: candle_core::Error) -> String {
    err.to_string()
}

/// Converts an IR tensor into a candle float32 tensor.
pub fn tensor(t: &TensorData) -> R<Tensor> {
    let dims: Vec<usize> = t.dims.iter().map(|d| *d as usize).collect();
    let values = match t.dtype {
        qbench_onnx::DType::F32 => t.to_f32(),
        qbench_onnx::DType::I8 => t.to_i8().map(|v| v.into_iter().map(f32::from).collect()),
        qbench_onnx::DType::U8 => t.to_u8().map(|v| v.into_iter().map(f32::from).collect()),
        qbench_onnx::DType::I32 => t
            .to_i32()
            .map(|v| v.into_iter().map(|x| x as f32).collect()),
        qbench_onnx::DType::I64 => t
            .to_i64()
            .map(|v| v.into_iter().map(|x| x as f32).collect()),
        other => return Err(format!("tensor {}: {other:?} is not supported", t.name)),
    }
    .map_err(|err| err.to_string())?;
    Tensor::from_vec(values, dims, &Device::Cpu).map_err(e)
}

fn ints(node: &Node, name: &str) -> Option<Vec<usize>> {
    node.attr_ints(name)
        .map(|v| v.iter().map(|x| *x as usize).collect())
}

fn conv(node: &Node, x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> R<Tensor> {
    let group = node.attr_int("group", 1) as usize;
    let strides = ints(node, "strides").unwrap_or(vec![1, 1]);
    let dil = ints(node, "dilations").unwrap_or(vec![1, 1]);
    let pads = ints(node, "pads").unwrap_or(vec![0, 0, 0, 0]);
    if let Some(Attribute::String(p)) = node.attr("auto_pad") {
        if p != "NOTSET" {
            return Err(format!("Conv auto_pad={p} is not supported"));
        }
    }
    if strides[0] != strides[1] || dil[0] != dil[1] {
        return Err("Conv with different strides or dilations per axis".into());
    }
    let x = if pads[0] == pads[1] && pads[1] == pads[2] && pads[2] == pads[3] {
        x.clone()
    } else {
        x.pad_with_zeros(2, pads[0], pads[2])
            .and_then(|x| x.pad_with_zeros(3, pads[1], pads[3]))
            .map_err(e)?
    };
    let p = if pads.iter().all(|p| *p == pads[0]) {
        pads[0]
    } else {
        0
    };
    let y = x.conv2d(w, p, strides[0], dil[0], group).map_err(e)?;
    match b {
        Some(b) => y
            .broadcast_add(&b.reshape((1, (), 1, 1)).map_err(e)?)
            .map_err(e),
        None => Ok(y),
    }
}

fn gemm(node: &Node, a: &Tensor, b: &Tensor, c: Option<&Tensor>) -> R<Tensor> {
    let a = if node.attr_int("transA", 0) == 1 {
        a.t().map_err(e)?
    } else {
        a.clone()
    };
    let b = if node.attr_int("transB", 0) == 1 {
        b.t().map_err(e)?
    } else {
        b.clone()
    };
    let mut y = a
        .contiguous()
        .map_err(e)?
        .matmul(&b.contiguous().map_err(e)?)
        .map_err(e)?;
    let alpha = node.attr_float("alpha", 1.0) as f64;
    if alpha != 1.0 {
        y = (y * alpha).map_err(e)?;
    }
    if let Some(c) = c {
        let beta = node.attr_float("beta", 1.0) as f64;
        y = y.broadcast_add(&(c * beta).map_err(e)?).map_err(e)?;
    }
    Ok(y)
}

/// Integer range of a QuantizeLinear output, from its zero-point tensor's type (ONNX: uint8
/// when the zero point is omitted).
fn q_range(node: &Node, zp_dtype: Option<qbench_onnx::DType>) -> R<(f32, f32)> {
    use qbench_onnx::DType as D;
    Ok(match zp_dtype.unwrap_or(D::U8) {
        D::U8 => (0.0, 255.0),
        D::I8 => (-128.0, 127.0),
        D::U16 => (0.0, 65535.0),
        D::I16 => (-32768.0, 32767.0),
        D::I32 => (i32::MIN as f32, i32::MAX as f32),
        other => {
            return Err(format!(
                "{}: zero point of type {other:?} is not supported",
                node.name
            ))
        }
    })
}

/// Reshapes a per-axis parameter (scale or zero point) so it broadcasts along `axis` of `x`.
fn along_axis(node: &Node, p: &Tensor, x: &Tensor) -> R<Tensor> {
    if p.rank() == 0 || p.elem_count() == 1 {
        return p.reshape(()).map_err(e);
    }
    let rank = x.rank() as i64;
    let axis = node.attr_int("axis", 1);
    let axis = if axis < 0 { axis + rank } else { axis } as usize;
    let mut shape = vec![1usize; x.rank()];
    shape[axis] = p.elem_count();
    p.reshape(shape).map_err(e)
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

/// QuantizeLinear emulated in float: clamp(round_half_even(x / s) + z, qmin, qmax).
fn quantize_linear(
    node: &Node,
    x: &Tensor,
    s: &Tensor,
    z: Option<&Tensor>,
    range: (f32, f32),
) -> R<Tensor> {
    let s = along_axis(node, s, x)?;
    let q = round_half_even(&x.broadcast_div(&s).map_err(e)?)?;
    let q = match z {
        Some(z) => q.broadcast_add(&along_axis(node, z, x)?).map_err(e)?,
        None => q,
    };
    q.clamp(range.0, range.1).map_err(e)
}

/// DequantizeLinear: (q - z) * s.
fn dequantize_linear(node: &Node, q: &Tensor, s: &Tensor, z: Option<&Tensor>) -> R<Tensor> {
    let q = match z {
        Some(z) => q.broadcast_sub(&along_axis(node, z, q)?).map_err(e)?,
        None => q.clone(),
    };
    let s = along_axis(node, s, &q)?;
    q.broadcast_mul(&s).map_err(e)
}

/// Runs one node on float32 inputs (`None` for omitted optional inputs). `zp_dtype` is the
/// element type of the node's zero-point input, which decides a QuantizeLinear's range.
pub fn run(
    node: &Node,
    inputs: &[Option<&Tensor>],
    zp_dtype: Option<qbench_onnx::DType>,
) -> R<Vec<Tensor>> {
    let arg = |i: usize| -> R<&Tensor> {
        inputs
            .get(i)
            .copied()
            .flatten()
            .ok_or_else(|| format!("input {i} is missing"))
    };
    let out = match node.op_type.as_str() {
        "Conv" => conv(node, arg(0)?, arg(1)?, inputs.get(2).copied().flatten())?,
        "Relu" => arg(0)?.relu().map_err(e)?,
        "Add" => arg(0)?.broadcast_add(arg(1)?).map_err(e)?,
        "Mul" => arg(0)?.broadcast_mul(arg(1)?).map_err(e)?,
        "GlobalAveragePool" => arg(0)?
            .mean_keepdim(3)
            .and_then(|t| t.mean_keepdim(2))
            .map_err(e)?,
        "Flatten" => {
            let axis = node.attr_int("axis", 1) as usize;
            arg(0)?
                .flatten_from(axis.min(arg(0)?.rank().saturating_sub(1)))
                .map_err(e)?
        }
        "Gemm" => gemm(node, arg(0)?, arg(1)?, inputs.get(2).copied().flatten())?,
        "MatMul" => arg(0)?.broadcast_matmul(arg(1)?).map_err(e)?,
        "Identity" => arg(0)?.clone(),
        "QuantizeLinear" => quantize_linear(
            node,
            arg(0)?,
            arg(1)?,
            inputs.get(2).copied().flatten(),
            q_range(node, zp_dtype)?,
        )?,
        "DequantizeLinear" => {
            dequantize_linear(node, arg(0)?, arg(1)?, inputs.get(2).copied().flatten())?
        }
        other => {
            return Err(format!(
                "operator {other} is not implemented by the candle backend"
            ))
        }
    };
    if out.dtype() != DType::F32 {
        return Err(format!("{} produced {:?}", node.op_type, out.dtype()));
    }
    Ok(vec![out])
}

#[cfg(test)]
mod tests {
    use super::*;
    use qbench_onnx::Attribute;

    fn t(v: &[f32], dims: &[usize]) -> Tensor {
        Tensor::from_vec(v.to_vec(), dims, &Device::Cpu).unwrap()
    }

    #[test]
    fn round_half_even_differs_from_candle_round() {
        let x = t(&[0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, 2.6], &[8]);
        let r = round_half_even(&x).unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(r, vec![0.0, 2.0, 2.0, -0.0, -2.0, -2.0, 2.0, 3.0]);
    }

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
            (-128.0, 127.0),
        )
        .unwrap();
        assert_eq!(q.to_vec1::<f32>().unwrap(), vec![2.0, 3.0, -2.0, 127.0]);
        let dq = Node::new("d", "DequantizeLinear", &["q", "s", "z"], &["x"]);
        let back = dequantize_linear(&dq, &q, &t(&[0.5], &[]), Some(&t(&[1.0], &[]))).unwrap();
        assert_eq!(back.to_vec1::<f32>().unwrap(), vec![0.5, 1.0, -1.5, 63.0]);
        // Per-axis along axis 0 of a [2, 2] weight.
        let node = node.with_attr("axis", Attribute::Int(0));
        let w = t(&[1.0, -1.0, 10.0, -10.0], &[2, 2]);
        let q = quantize_linear(
            &node,
            &w,
            &t(&[0.1, 1.0], &[2]),
            Some(&t(&[0.0, 0.0], &[2])),
            (-127.0, 127.0),
        )
        .unwrap();
        assert_eq!(
            q.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            vec![10.0, -10.0, 10.0, -10.0]
        );
    }
}
