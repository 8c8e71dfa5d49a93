//! ReduceMean, ReduceMax, ReduceMin, ReduceSum. Axes come from the `axes` attribute (before
//! opset 18, ReduceSum before 13) or the optional input 1; without axes every axis is reduced
//! unless `noop_with_empty_axes = 1` (then the input passes through). `keepdims` defaults to 1.
//! The mean divides the sum by the count (integer types truncate toward zero).

use candle_core::{Device, Tensor};
use qbench_onnx::Node;

use crate::tensor_util::{e, ints_arg, resolve_axes, R};

/// Which reduction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Reduce {
    Mean,
    Max,
    Min,
    Sum,
}

/// Applies the reduction `kind` (see the module documentation); `integer` when the output is
/// an integer type.
pub(crate) fn reduce(
    node: &Node,
    x: &Tensor,
    inputs: &[Option<&Tensor>],
    kind: Reduce,
    integer: bool,
) -> R<Tensor> {
    let keep = node.attr_int("keepdims", 1) != 0;
    let axes = ints_arg(node, inputs, 1, "axes")?.unwrap_or_default();
    let axes = if axes.is_empty() {
        if node.attr_int("noop_with_empty_axes", 0) != 0 {
            return Ok(x.clone());
        }
        (0..x.rank()).collect()
    } else {
        resolve_axes(&axes, x.rank(), &format!("{} axis", node.op_type))?
    };
    if axes.is_empty() {
        return Ok(x.clone()); // a scalar: nothing to reduce
    }
    if axes.iter().any(|a| x.dims()[*a] == 0) && matches!(kind, Reduce::Max | Reduce::Min) {
        return Err(format!(
            "{} over an empty axis of {:?}",
            node.op_type,
            x.dims()
        ));
    }
    let y = match kind {
        Reduce::Sum => x.sum_keepdim(axes.clone()).map_err(e)?,
        Reduce::Mean => {
            let n: usize = axes.iter().map(|a| x.dims()[*a]).product();
            let count = Tensor::new(n as f64, &Device::Cpu)
                .and_then(|c| c.to_dtype(x.dtype()))
                .map_err(e)?;
            let m = x
                .sum_keepdim(axes.clone())
                .and_then(|s| s.broadcast_div(&count))
                .map_err(e)?;
            if integer {
                let (down, up) = (m.floor().map_err(e)?, m.ceil().map_err(e)?);
                m.ge(0.0)
                    .and_then(|g| g.where_cond(&down, &up))
                    .map_err(e)?
            } else {
                m
            }
        }
        Reduce::Max | Reduce::Min => {
            let mut y = x.clone();
            for &a in &axes {
                y = if kind == Reduce::Max {
                    y.max_keepdim(a)
                } else {
                    y.min_keepdim(a)
                }
                .map_err(e)?;
            }
            y
        }
    };
    if keep {
        return Ok(y);
    }
    let out: Vec<usize> = (0..x.rank())
        .filter(|a| !axes.contains(a))
        .map(|a| x.dims()[a])
        .collect();
    y.reshape(out).map_err(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor_util::i64_tensor;
    use crate::tensor_util::tests::{flat, t};
    use qbench_onnx::Attribute;

    fn node(op: &str) -> Node {
        Node::new("r", op, &["x", "axes"], &["y"])
    }

    #[test]
    fn axes_attribute_input_and_keepdims() {
        // x[n][c][h][w] with [1, 2, 2, 2]: channel 0 = 1..4, channel 1 = 5..8.
        let x = t(&[1., 2., 3., 4., 5., 6., 7., 8.], &[1, 2, 2, 2]);
        // opset 13 style (attribute): mean over [2, 3], keepdims default 1 (as MobileNetV3 SE).
        let n = node("ReduceMean").with_attr("axes", Attribute::Ints(vec![2, 3]));
        let y = reduce(&n, &x, &[Some(&x)], Reduce::Mean, false).unwrap();
        assert_eq!(y.dims(), &[1, 2, 1, 1]);
        assert_eq!(flat(&y), vec![2.5, 6.5]);
        // opset 18 style (input, negative axes), keepdims 0.
        let axes = i64_tensor(&[-1, -2]).unwrap();
        let n = node("ReduceSum").with_attr("keepdims", Attribute::Int(0));
        let y = reduce(&n, &x, &[Some(&x), Some(&axes)], Reduce::Sum, false).unwrap();
        assert_eq!(y.dims(), &[1, 2]);
        assert_eq!(flat(&y), vec![10.0, 26.0]);
        let n = node("ReduceMax").with_attr("axes", Attribute::Ints(vec![1]));
        let y = reduce(&n, &x, &[Some(&x)], Reduce::Max, false).unwrap();
        assert_eq!(y.dims(), &[1, 1, 2, 2]);
        assert_eq!(flat(&y), vec![5., 6., 7., 8.]);
        let y = reduce(&node("ReduceMin"), &x, &[Some(&x)], Reduce::Min, false).unwrap();
        assert_eq!((y.dims(), flat(&y)), (&[1usize, 1, 1, 1][..], vec![1.0]));
    }

    #[test]
    fn empty_axes_reduce_all_or_nothing() {
        let x = t(&[1., -2., 3., 4.], &[2, 2]);
        let empty = i64_tensor(&[]).unwrap();
        // Empty axes input: reduce everything (default), or pass through with noop.
        let y = reduce(
            &node("ReduceSum"),
            &x,
            &[Some(&x), Some(&empty)],
            Reduce::Sum,
            false,
        );
        assert_eq!(flat(&y.unwrap()), vec![6.0]);
        let n = node("ReduceSum").with_attr("noop_with_empty_axes", Attribute::Int(1));
        let y = reduce(&n, &x, &[Some(&x), Some(&empty)], Reduce::Sum, false).unwrap();
        assert_eq!(flat(&y), flat(&x));
        let n = node("ReduceMax").with_attr("keepdims", Attribute::Int(0));
        let y = reduce(&n, &x, &[Some(&x)], Reduce::Max, false).unwrap();
        assert_eq!((y.rank(), flat(&y)), (0, vec![4.0]));
        // Integer mean truncates: (1 - 2) / 2 = -0.5 -> 0, (3 + 4) / 2 = 3.5 -> 3.
        let n = node("ReduceMean").with_attr("axes", Attribute::Ints(vec![1]));
        let y = reduce(&n, &x, &[Some(&x)], Reduce::Mean, true).unwrap();
        assert_eq!(flat(&y), vec![0.0, 3.0]);
        let n = node("ReduceMean").with_attr("axes", Attribute::Ints(vec![2]));
        let err = reduce(&n, &x, &[Some(&x)], Reduce::Mean, false).unwrap_err();
        assert!(err.contains("ReduceMean axis 2 is out of range"), "{err}");
    }
}
