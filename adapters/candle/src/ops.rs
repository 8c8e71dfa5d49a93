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

/// Runs one node on float32 inputs (`None` for omitted optional inputs).
pub fn run(node: &Node, inputs: &[Option<&Tensor>]) -> R<Vec<Tensor>> {
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
