//! ONNX operators implemented with candle ops.
//!
//! Values are held as float tensors (see [`crate::types`]): f32 for float and 8/16-bit integer
//! types, f64 for int32/int64. The quantization operators and `Cast` are in [`crate::qops`].

use candle_core::{DType, Device, Tensor};
use qbench_onnx::{Attribute, Node};

use crate::ops_reduce::Reduce;
use crate::tensor_util::{e, int_values, is_integer, resolve_axes, scalar, select, tensor, R};
use crate::types::{self, NodeTypes};
use crate::{
    ops_activation as act, ops_conv, ops_conv_transpose, ops_index, ops_math, ops_norm, ops_pad,
    ops_pool, ops_reduce, ops_resize, ops_shape, qops,
};

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
    "Constant",
    "Cast",
    "Clip",
    "Reshape",
    "Slice",
    "QuantizeLinear",
    "DequantizeLinear",
    "DynamicQuantizeLinear",
    "ConvInteger",
    "MatMulInteger",
    "QLinearConv",
    // ops_norm
    "BatchNormalization",
    // ops_activation (and candle unary ops)
    "Sigmoid",
    "HardSigmoid",
    "HardSwish",
    "Tanh",
    "LeakyRelu",
    "Elu",
    "Erf",
    "Exp",
    "Log",
    "Sqrt",
    "Neg",
    "Abs",
    "Round",
    "Reciprocal",
    "Softmax",
    "Dropout",
    // ops_math
    "Sub",
    "Div",
    "Pow",
    "Max",
    "Min",
    // ops_pool
    "MaxPool",
    "AveragePool",
    "GlobalMaxPool",
    // ops_reduce
    "ReduceMean",
    "ReduceMax",
    "ReduceMin",
    "ReduceSum",
    // ops_index
    "Concat",
    "Split",
    "Gather",
    "Tile",
    // ops_shape
    "Transpose",
    "Squeeze",
    "Unsqueeze",
    "Shape",
    "Expand",
    // ops_pad
    "Pad",
    // ops_resize
    "Resize",
    "Upsample",
    // ops_conv_transpose
    "ConvTranspose",
];

fn gemm(node: &Node, a: &Tensor, b: &Tensor, c: Option<&Tensor>) -> R<Tensor> {
    if a.rank() != 2 || b.rank() != 2 {
        return Err(format!(
            "Gemm needs 2-D A and B, got {:?} and {:?}",
            a.dims(),
            b.dims()
        ));
    }
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
        let c = if beta != 1.0 {
            (c * beta).map_err(e)?
        } else {
            c.clone()
        };
        y = y.broadcast_add(&c).map_err(e)?;
    }
    Ok(y)
}

/// Clip: `min(max(x, lo), hi)` with lo/hi from the optional inputs 1 and 2 (opset >= 11) or the
/// `min`/`max` attributes (opset 6); a missing bound does not clip.
fn clip(node: &Node, x: &Tensor, lo: Option<&Tensor>, hi: Option<&Tensor>) -> R<Tensor> {
    let bound = |t: Option<&Tensor>, attr: &str| -> R<Option<f64>> {
        match (t, node.attr(attr)) {
            (Some(t), _) => scalar(t, &format!("Clip {attr}")).map(Some),
            (None, Some(Attribute::Float(v))) => Ok(Some(*v as f64)),
            _ => Ok(None),
        }
    };
    let mut y = x.clone();
    if let Some(lo) = bound(lo, "min")? {
        y = y.maximum(lo).map_err(e)?;
    }
    if let Some(hi) = bound(hi, "max")? {
        y = y.minimum(hi).map_err(e)?;
    }
    Ok(y)
}

/// Reshape with ONNX semantics: 0 copies the input dimension (unless `allowzero=1`), one -1 is
/// inferred.
fn reshape(node: &Node, x: &Tensor, shape: &Tensor) -> R<Tensor> {
    let spec = int_values(shape)?;
    let allowzero = node.attr_int("allowzero", 0) == 1;
    let mut dims = Vec::with_capacity(spec.len());
    let mut hole = None;
    for (i, &d) in spec.iter().enumerate() {
        dims.push(match d {
            -1 if hole.is_none() => {
                hole = Some(i);
                1
            }
            -1 => return Err(format!("shape {spec:?} has more than one -1")),
            0 if !allowzero => *x.dims().get(i).ok_or_else(|| {
                format!(
                    "shape {spec:?}: 0 at index {i} but the input {:?} has no such dimension",
                    x.dims()
                )
            })?,
            d if d >= 0 => d as usize,
            d => return Err(format!("shape {spec:?} has invalid dimension {d}")),
        });
    }
    let known = dims
        .iter()
        .try_fold(1usize, |p, d| p.checked_mul(*d))
        .ok_or_else(|| format!("shape {spec:?} overflows"))?;
    if let Some(i) = hole {
        if x.elem_count().checked_rem(known) != Some(0) {
            return Err(format!(
                "cannot reshape {:?} to {spec:?}: -1 cannot be inferred",
                x.dims()
            ));
        }
        dims[i] = x.elem_count() / known;
    }
    if dims.iter().try_fold(1usize, |p, d| p.checked_mul(*d)) != Some(x.elem_count()) {
        return Err(format!(
            "cannot reshape {:?} ({} elements) to {spec:?}",
            x.dims(),
            x.elem_count()
        ));
    }
    x.reshape(dims).map_err(e)
}

/// Slice along the given axes (starts/ends/axes/steps from inputs, opset >= 10, or attributes,
/// opset 1). Step 1 narrows (a view); other steps, negative included, select indices. Bounds
/// are clamped as the specification says: to `[0, dim]` for positive steps and to
/// `[0, dim - 1]` (start) and `[-1, dim - 1]` (end) for negative steps.
fn slice(node: &Node, x: &Tensor, inputs: &[Option<&Tensor>]) -> R<Tensor> {
    let get = |i: usize, attr: &str| -> R<Option<Vec<i64>>> {
        match inputs.get(i).copied().flatten() {
            Some(t) => int_values(t).map(Some),
            None => Ok(node.attr_ints(attr).map(<[i64]>::to_vec)),
        }
    };
    let starts = get(1, "starts")?.ok_or("Slice has no starts")?;
    let ends = get(2, "ends")?.ok_or("Slice has no ends")?;
    let axes = get(3, "axes")?.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = get(4, "steps")?.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err(format!(
            "starts {starts:?}, ends {ends:?}, axes {axes:?} and steps {steps:?} differ in length"
        ));
    }
    if steps.contains(&0) {
        return Err(format!("Slice step 0 is invalid, steps {steps:?}"));
    }
    let axes_r = resolve_axes(&axes, x.rank(), "Slice axis")?;
    let mut y = x.clone();
    for (((&s, &en), &axis), &step) in starts.iter().zip(&ends).zip(&axes_r).zip(&steps) {
        let dim = x.dims()[axis] as i64;
        if dim == 0 {
            continue; // nothing to select from an empty axis
        }
        let wrap = |v: i64| if v < 0 { v.saturating_add(dim) } else { v };
        if step > 0 {
            let (s, en) = (wrap(s).clamp(0, dim), wrap(en).clamp(0, dim));
            let len = (en - s).max(0);
            if step == 1 {
                y = y.narrow(axis, s as usize, len as usize).map_err(e)?;
                continue;
            }
            let count = if len == 0 { 0 } else { (len - 1) / step + 1 };
            let idx: Vec<usize> = (0..count).map(|k| (s + k * step) as usize).collect();
            y = select(&y, &idx, axis, "Slice")?;
        } else {
            let (s, en) = (wrap(s).clamp(0, dim - 1), wrap(en).clamp(-1, dim - 1));
            let len = (s - en).max(0);
            let st = step.unsigned_abs().min(i64::MAX as u64) as i64;
            let count = if len == 0 { 0 } else { (len - 1) / st + 1 };
            let idx: Vec<usize> = (0..count).map(|k| (s + k * step) as usize).collect();
            y = select(&y, &idx, axis, "Slice")?;
        }
    }
    Ok(y)
}

/// The `Constant` operator's value.
fn constant(node: &Node) -> R<Tensor> {
    let dev = &Device::Cpu;
    match node.attributes.first().map(|(n, a)| (n.as_str(), a)) {
        Some(("value", Attribute::Tensor(t))) => tensor(t),
        Some(("value_float", Attribute::Float(v))) => Tensor::new(*v, dev).map_err(e),
        Some(("value_floats", Attribute::Floats(v))) => Tensor::new(v.as_slice(), dev).map_err(e),
        Some(("value_int", Attribute::Int(v))) => Tensor::new(*v as f64, dev).map_err(e),
        Some(("value_ints", Attribute::Ints(v))) => {
            let v: Vec<f64> = v.iter().map(|x| *x as f64).collect();
            Tensor::new(v.as_slice(), dev).map_err(e)
        }
        Some((name, _)) => Err(format!("Constant attribute {name} is not supported")),
        None => Err("Constant has no value attribute".into()),
    }
}

/// Runs one node (`None` for omitted optional inputs). `types` are the ONNX element types of
/// the node's inputs and outputs; results are converted to the holder of their type.
pub fn run(node: &Node, inputs: &[Option<&Tensor>], types: &NodeTypes) -> R<Vec<Tensor>> {
    let arg = |i: usize| -> R<&Tensor> {
        inputs
            .get(i)
            .copied()
            .flatten()
            .ok_or_else(|| format!("input {i} is missing"))
    };
    let opt = |i: usize| inputs.get(i).copied().flatten();
    let one = |t: Tensor| vec![t];
    let reduce = |kind: Reduce| -> R<Tensor> {
        ops_reduce::reduce(node, arg(0)?, inputs, kind, is_integer(types.output(0)))
    };
    let outs = match node.op_type.as_str() {
        "Conv" => one(ops_conv::conv(node, arg(0)?, arg(1)?, opt(2))?),
        "Relu" => one(arg(0)?.relu().map_err(e)?),
        "Add" => one(arg(0)?.broadcast_add(arg(1)?).map_err(e)?),
        "Mul" => one(arg(0)?.broadcast_mul(arg(1)?).map_err(e)?),
        "GlobalAveragePool" => one(ops_pool::global_pool("GlobalAveragePool", arg(0)?, false)?),
        "Flatten" => {
            let x = arg(0)?;
            let axis = node.attr_int("axis", 1);
            let r = x.rank() as i64;
            let axis = if axis < 0 { axis + r } else { axis };
            if axis < 0 || axis > r {
                return Err(format!("Flatten axis {axis} is out of range for rank {r}"));
            }
            let (outer, inner) = x.dims().split_at(axis as usize);
            one(x
                .reshape((
                    outer.iter().product::<usize>(),
                    inner.iter().product::<usize>(),
                ))
                .map_err(e)?)
        }
        "Gemm" => one(gemm(node, arg(0)?, arg(1)?, opt(2))?),
        "MatMul" => one(arg(0)?.broadcast_matmul(arg(1)?).map_err(e)?),
        "Identity" => one(arg(0)?.clone()),
        "Constant" => one(constant(node)?),
        "Cast" => one(qops::cast(node, arg(0)?, types.input(0))?),
        "Clip" => one(clip(node, arg(0)?, opt(1), opt(2))?),
        "Reshape" => one(reshape(node, arg(0)?, arg(1)?)?),
        "Slice" => one(slice(node, arg(0)?, inputs)?),
        "QuantizeLinear" => one(qops::quantize_linear(
            node,
            arg(0)?,
            arg(1)?,
            opt(2),
            types.output(0),
        )?),
        "DequantizeLinear" => one(qops::dequantize_linear(node, arg(0)?, arg(1)?, opt(2))?),
        "DynamicQuantizeLinear" => {
            let (y, s, z) = qops::dynamic_quantize_linear(arg(0)?)?;
            vec![y, s, z]
        }
        "ConvInteger" => one(qops::conv_integer(node, arg(0)?, arg(1)?, opt(2), opt(3))?),
        "MatMulInteger" => one(qops::matmul_integer(arg(0)?, arg(1)?, opt(2), opt(3))?),
        "QLinearConv" => one(qops::qlinear_conv(
            node,
            arg(0)?,
            arg(1)?,
            arg(2)?,
            arg(3)?,
            arg(4)?,
            arg(5)?,
            arg(6)?,
            arg(7)?,
            opt(8),
            types.output(0),
        )?),
        "BatchNormalization" => one(ops_norm::batch_norm(node, inputs)?),
        "Sigmoid" => one(act::sigmoid(arg(0)?)?),
        "HardSigmoid" => one(act::hard_sigmoid(node, arg(0)?)?),
        "HardSwish" => one(act::hard_swish(arg(0)?)?),
        "Tanh" => one(arg(0)?.tanh().map_err(e)?),
        "LeakyRelu" => one(act::leaky_relu(node, arg(0)?)?),
        "Elu" => one(act::elu(node, arg(0)?)?),
        "Erf" => one(arg(0)?.erf().map_err(e)?),
        "Exp" => one(arg(0)?.exp().map_err(e)?),
        "Log" => one(arg(0)?.log().map_err(e)?),
        "Sqrt" => one(arg(0)?.sqrt().map_err(e)?),
        "Neg" => one(arg(0)?.neg().map_err(e)?),
        "Abs" => one(arg(0)?.abs().map_err(e)?),
        // ONNX Round: halves to even, as QuantizeLinear rounds.
        "Round" => one(crate::tensor_util::round_half_even(arg(0)?)?),
        "Reciprocal" => one(arg(0)?.recip().map_err(e)?),
        "Softmax" => one(act::softmax(node, arg(0)?)?),
        "Dropout" => one(act::dropout(node, arg(0)?, opt(2))?),
        "Sub" => one(ops_math::sub(arg(0)?, arg(1)?)?),
        "Div" => one(ops_math::div(
            arg(0)?,
            arg(1)?,
            is_integer(types.output(0)),
        )?),
        "Pow" => one(ops_math::pow(arg(0)?, arg(1)?)?),
        "Max" => one(ops_math::extremum("Max", inputs, true)?),
        "Min" => one(ops_math::extremum("Min", inputs, false)?),
        "MaxPool" => one(ops_pool::pool(node, arg(0)?, true)?),
        "AveragePool" => one(ops_pool::pool(node, arg(0)?, false)?),
        "GlobalMaxPool" => one(ops_pool::global_pool("GlobalMaxPool", arg(0)?, true)?),
        "ReduceMean" => one(reduce(Reduce::Mean)?),
        "ReduceMax" => one(reduce(Reduce::Max)?),
        "ReduceMin" => one(reduce(Reduce::Min)?),
        "ReduceSum" => one(reduce(Reduce::Sum)?),
        "Concat" => one(ops_index::concat(node, inputs)?),
        "Split" => ops_index::split(node, arg(0)?, inputs)?,
        "Gather" => one(ops_index::gather(node, arg(0)?, arg(1)?)?),
        "Tile" => one(ops_index::tile(arg(0)?, arg(1)?)?),
        "Transpose" => one(ops_shape::transpose(node, arg(0)?)?),
        "Squeeze" => one(ops_shape::squeeze(node, arg(0)?, inputs)?),
        "Unsqueeze" => one(ops_shape::unsqueeze(node, arg(0)?, inputs)?),
        "Shape" => one(ops_shape::shape(node, arg(0)?)?),
        "Expand" => one(ops_shape::expand(arg(0)?, arg(1)?)?),
        "Pad" => one(ops_pad::pad(node, arg(0)?, inputs)?),
        "Resize" => one(ops_resize::resize(node, inputs)?),
        "Upsample" => one(ops_resize::resize(node, inputs)?),
        "ConvTranspose" => one(ops_conv_transpose::conv_transpose(
            node,
            arg(0)?,
            arg(1)?,
            opt(2),
        )?),
        other => {
            return Err(format!(
                "operator {other} is not implemented by the candle backend"
            ))
        }
    };
    outs.into_iter()
        .enumerate()
        .map(|(i, t)| {
            let t = types::hold(t, types.output(i))?;
            match t.dtype() {
                DType::F32 | DType::F64 => Ok(t),
                other => Err(format!("{} produced {other:?}", node.op_type)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor_util::tests::{flat, t};
    use qbench_onnx::{DType as D, TensorData};

    fn types(inputs: &[Option<D>], outputs: &[Option<D>]) -> NodeTypes {
        NodeTypes {
            inputs: inputs.to_vec(),
            outputs: outputs.to_vec(),
        }
    }

    #[test]
    fn f16_and_int_initializers_load_exactly() {
        // 1.0 = 0x3c00, -2.0 = 0xc000, 2^-24 = 0x0001 (smallest subnormal), 65504 = 0x7bff,
        // 0.333251953125 = 0x3555.
        let bits: [u16; 5] = [0x3c00, 0xc000, 0x0001, 0x7bff, 0x3555];
        let f16 = TensorData {
            name: "h".into(),
            dtype: D::F16,
            dims: vec![5],
            raw: bits.iter().flat_map(|b| b.to_le_bytes()).collect(),
        };
        let x = tensor(&f16).unwrap();
        assert_eq!(x.dtype(), DType::F32);
        assert_eq!(
            flat(&x),
            vec![1.0, -2.0, 2f32.powi(-24), 65504.0, 0.333_251_95]
        );
        // int32 above 2^24 is held exactly in f64; int16 limits in f32.
        let big = tensor(&TensorData::from_i32(
            "b",
            vec![2],
            &[16_777_217, -2_000_000_001],
        ))
        .unwrap();
        assert_eq!(big.dtype(), DType::F64);
        assert_eq!(
            big.to_vec1::<f64>().unwrap(),
            vec![16_777_217.0, -2_000_000_001.0]
        );
        let i16s = tensor(&TensorData::from_i16("s", vec![2], &[-32768, 32767])).unwrap();
        assert_eq!(flat(&i16s), vec![-32768.0, 32767.0]);
        let u16s = tensor(&TensorData::from_u16("u", vec![1], &[65535])).unwrap();
        assert_eq!(flat(&u16s), vec![65535.0]);
        // A payload that does not match the dims is an error, not a panic.
        let bad = TensorData {
            raw: vec![0; 3],
            ..f16
        };
        assert!(tensor(&bad).unwrap_err().contains("tensor h"));
    }

    #[test]
    fn clip_with_missing_min_or_max() {
        let x = t(&[-300.0, -5.0, 0.0, 7.0, 300.0], &[5]);
        let node = Node::new("c", "Clip", &["x", "lo", "hi"], &["y"]);
        let f32s = types(&[Some(D::F32)], &[Some(D::F32)]);
        let run1 = |node: &Node, lo: Option<&Tensor>, hi: Option<&Tensor>| {
            flat(&run(node, &[Some(&x), lo, hi], &f32s).unwrap()[0])
        };
        let (lo, hi) = (t(&[-128.0], &[]), t(&[127.0], &[]));
        assert_eq!(
            run1(&node, Some(&lo), Some(&hi)),
            vec![-128.0, -5.0, 0.0, 7.0, 127.0]
        );
        // min only (max input name empty -> None)
        assert_eq!(
            run1(&node, Some(&lo), None),
            vec![-128.0, -5.0, 0.0, 7.0, 300.0]
        );
        // max only (min input name empty)
        assert_eq!(
            run1(&node, None, Some(&t(&[0.0], &[]))),
            vec![-300.0, -5.0, 0.0, 0.0, 0.0]
        );
        // neither: identity
        assert_eq!(run1(&node, None, None), flat(&x));
        // opset 6 attributes
        let old = Node::new("c", "Clip", &["x"], &["y"])
            .with_attr("min", Attribute::Float(0.0))
            .with_attr("max", Attribute::Float(6.0));
        assert_eq!(run1(&old, None, None), vec![0.0, 0.0, 0.0, 6.0, 6.0]);
        // uint8-valued tensor between Q and DQ: clip to [0, 255] leaves it unchanged.
        let q = t(&[0.0, 17.0, 255.0], &[3]);
        let u8s = types(&[Some(D::U8)], &[Some(D::U8)]);
        let y = run(
            &node,
            &[Some(&q), Some(&t(&[0.0], &[])), Some(&t(&[255.0], &[]))],
            &u8s,
        )
        .unwrap();
        assert_eq!(flat(&y[0]), vec![0.0, 17.0, 255.0]);
        // a non-scalar bound is an error naming the problem
        let err = run(&node, &[Some(&x), Some(&t(&[0.0, 1.0], &[2])), None], &f32s).unwrap_err();
        assert!(err.contains("Clip min must be a scalar"), "{err}");
    }

    #[test]
    fn reshape_zero_and_minus_one() {
        let x = t(&(0..24).map(|v| v as f32).collect::<Vec<_>>(), &[2, 3, 4]);
        let node = Node::new("r", "Reshape", &["x", "s"], &["y"]);
        let ty = types(&[Some(D::F32), Some(D::I64)], &[Some(D::F32)]);
        let shape = |v: &[f64]| Tensor::new(v, &Device::Cpu).unwrap();
        let y = run(&node, &[Some(&x), Some(&shape(&[0.0, -1.0]))], &ty).unwrap();
        assert_eq!(y[0].dims(), &[2, 12]);
        let y = run(&node, &[Some(&x), Some(&shape(&[-1.0, 0.0, 2.0]))], &ty).unwrap();
        assert_eq!(y[0].dims(), &[4, 3, 2]);
        assert_eq!(flat(&y[0]), flat(&x));
        let err = run(&node, &[Some(&x), Some(&shape(&[5.0, -1.0]))], &ty).unwrap_err();
        assert!(err.contains("-1 cannot be inferred"), "{err}");
        let err = run(&node, &[Some(&x), Some(&shape(&[-1.0, -1.0]))], &ty).unwrap_err();
        assert!(err.contains("more than one -1"), "{err}");
        let err = run(&node, &[Some(&x), Some(&shape(&[1e18, 1e18]))], &ty).unwrap_err();
        assert!(err.contains("overflows"), "{err}");
        let err = run(&node, &[Some(&x), Some(&shape(&[0.0, 0.0, 0.0, 0.0]))], &ty).unwrap_err();
        assert!(err.contains("no such dimension"), "{err}");
    }

    #[test]
    fn slice_with_negative_and_clamped_indices_and_steps() {
        let x = t(&(0..12).map(|v| v as f32).collect::<Vec<_>>(), &[3, 4]);
        let node = Node::new("s", "Slice", &["x", "st", "en", "ax", "sp"], &["y"]);
        let ty = types(&[Some(D::F32)], &[Some(D::F32)]);
        let v = |v: &[f64]| Tensor::new(v, &Device::Cpu).unwrap();
        // axis -1 from 1 to i64::MAX (clamped), axis 0 from -2 to 3
        let (st, en, ax) = (
            v(&[1.0, -2.0]),
            v(&[9.223_372_036_854_776e18, 3.0]),
            v(&[-1.0, 0.0]),
        );
        let y = run(
            &node,
            &[Some(&x), Some(&st), Some(&en), Some(&ax), None],
            &ty,
        )
        .unwrap();
        assert_eq!(y[0].dims(), &[2, 3]);
        assert_eq!(flat(&y[0]), vec![5.0, 6.0, 7.0, 9.0, 10.0, 11.0]);
        // no axes: the first len(starts) axes
        let y = run(&node, &[Some(&x), Some(&v(&[1.0])), Some(&v(&[2.0]))], &ty).unwrap();
        assert_eq!(flat(&y[0]), vec![4.0, 5.0, 6.0, 7.0]);
        let sp = v(&[2.0, 1.0]);
        let y = run(
            &node,
            &[Some(&x), Some(&st), Some(&en), Some(&ax), Some(&sp)],
            &ty,
        )
        .unwrap();
        // Columns 1 and 3 (step 2) of rows 1 and 2.
        assert_eq!(flat(&y[0]), vec![5.0, 7.0, 9.0, 11.0]);
        let with_steps = |st: f64, en: f64, sp: f64| {
            let (st, en, ax, sp) = (v(&[st]), v(&[en]), v(&[1.0]), v(&[sp]));
            let ins = [Some(&x), Some(&st), Some(&en), Some(&ax), Some(&sp)];
            run(&node, &ins, &ty).map(|y| flat(&y[0]))
        };
        // Negative steps walk backwards; ends clamp to -1 (before the first element).
        assert_eq!(
            with_steps(-1.0, -1e18, -1.0).unwrap(),
            vec![3., 2., 1., 0., 7., 6., 5., 4., 11., 10., 9., 8.]
        );
        assert_eq!(
            with_steps(3.0, 0.0, -2.0).unwrap(),
            vec![3., 1., 7., 5., 11., 9.]
        );
        // x[:, ::2] as YOLOv5's Focus layer slices; starts beyond the end are empty.
        assert_eq!(
            with_steps(0.0, 9.2e18, 2.0).unwrap(),
            vec![0., 2., 4., 6., 8., 10.]
        );
        assert!(with_steps(9.0, 10.0, 3.0).unwrap().is_empty());
        let err = with_steps(0.0, 4.0, 0.0).unwrap_err();
        assert!(err.contains("step 0 is invalid"), "{err}");
        let err = run(
            &node,
            &[
                Some(&x),
                Some(&v(&[0.0])),
                Some(&v(&[1.0])),
                Some(&v(&[2.0])),
            ],
            &ty,
        )
        .unwrap_err();
        assert!(err.contains("axis 2 is out of range"), "{err}");
    }

    #[test]
    fn bad_conv_attributes_are_errors_not_panics() {
        let x = t(&[0.0; 16], &[1, 1, 4, 4]);
        let w = t(&[1.0; 4], &[1, 1, 2, 2]);
        let node = Node::new("c", "Conv", &["x", "w"], &["y"])
            .with_attr("strides", Attribute::Ints(vec![1]));
        let ty = types(&[Some(D::F32)], &[Some(D::F32)]);
        let err = run(&node, &[Some(&x), Some(&w)], &ty).unwrap_err();
        assert!(err.contains("strides"), "{err}");
    }
}
