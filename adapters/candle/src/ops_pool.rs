//! Pooling: MaxPool and AveragePool over 2-D windows with candle's `max_pool2d_with_stride` /
//! `avg_pool2d_with_stride`, and the global poolings.
//!
//! Pads (explicit or `auto_pad`) and the extra end positions `ceil_mode` needs are added to the
//! input first: `-inf` for MaxPool, zeros for AveragePool, whose average is then rescaled by
//! `k / count` where fewer than `k = kH·kW` positions count (`count_include_pad = 0` counts
//! only input positions; `1` also counts the explicit pads, never the `ceil_mode` extension,
//! as ONNX Runtime). candle averages as `sum · (1/k)`, which can differ from `sum / k` by one
//! unit in the last place. Rejected: dilations other than 1, MaxPool's `Indices` output,
//! windows other than 2-D.

use candle_core::{Device, Tensor};
use qbench_onnx::Node;

use crate::spatial::{out_len, pad_axis, Window};
use crate::tensor_util::{e, unsupported, R};

/// Static checks of a MaxPool or AveragePool node's attributes.
pub(crate) fn check(node: &Node) -> R<()> {
    let op = &node.op_type;
    let win = Window::parse(node)?;
    let Some(k) = win.kernel else {
        return Err(format!("{op} without kernel_shape"));
    };
    if win.dilations != [1, 1] {
        return Err(format!("{op} with dilations {:?}", win.dilations));
    }
    if op == "MaxPool" && node.outputs.get(1).is_some_and(|o| !o.is_empty()) {
        return Err("MaxPool with Indices output".into());
    }
    for i in 0..2 {
        if win.pads[i] >= k[i] || win.pads[i + 2] >= k[i] {
            return Err(format!(
                "{op} with pads {:?} not smaller than kernel_shape {k:?}",
                win.pads
            ));
        }
    }
    Ok(())
}

/// MaxPool (`max`) or AveragePool over `[N, C, H, W]`.
pub(crate) fn pool(node: &Node, x: &Tensor, max: bool) -> R<Tensor> {
    let op = &node.op_type;
    check(node).map_err(unsupported)?;
    let win = Window::parse(node)?;
    let k = win.kernel.ok_or("no kernel_shape")?;
    if x.rank() != 4 {
        return Err(unsupported(format!(
            "{op} with {}-D input (only 2-D windows over [N, C, H, W]), input {:?}",
            x.rank().saturating_sub(2),
            x.dims()
        )));
    }
    let ceil = node.attr_int("ceil_mode", 0) != 0;
    let include_pad = node.attr_int("count_include_pad", 0) != 0;
    let (h, w) = (x.dims()[2], x.dims()[3]);
    let pads = win.pads_for([h, w], k);
    // Per axis: (begin pad, end pad, ceil_mode extension, length the windows span).
    let mut geo = [(0usize, 0usize, 0usize, 0usize); 2];
    for (i, len) in [h, w].into_iter().enumerate() {
        let (b, en) = (pads[i], pads[i + 2]);
        let out = out_len(op, len, (b, en), k[i], win.strides[i], ceil)?;
        let needed = (out - 1) * win.strides[i] + k[i];
        geo[i] = (b, en, needed.saturating_sub(len + b + en), needed);
    }
    // Pads, extends and trims each axis to exactly the span of the windows.
    let frame = |t: &Tensor, pad_value: f64, extra_value: f64| -> R<Tensor> {
        let mut t = t.clone();
        for (i, &(b, en, extra, needed)) in geo.iter().enumerate() {
            t = pad_axis(&t, i + 2, b, en, pad_value)?;
            t = pad_axis(&t, i + 2, 0, extra, extra_value)?;
            t = t.narrow(i + 2, 0, needed).map_err(e)?;
        }
        Ok(t)
    };
    let (kk, ss) = ((k[0], k[1]), (win.strides[0], win.strides[1]));
    if max {
        let t = frame(x, f64::NEG_INFINITY, f64::NEG_INFINITY)?;
        return t.max_pool2d_with_stride(kk, ss).map_err(e);
    }
    let avg = frame(x, 0.0, 0.0)?
        .avg_pool2d_with_stride(kk, ss)
        .map_err(e)?;
    let padded = pads.iter().any(|p| *p > 0);
    let extended = geo.iter().any(|g| g.2 > 0);
    if !extended && (include_pad || !padded) {
        return Ok(avg); // every window counts k positions
    }
    // Count the positions that count per window: pool a mask of ones.
    let ones = Tensor::ones((1, 1, h, w), x.dtype(), &Device::Cpu).map_err(e)?;
    let pad_count = if include_pad { 1.0 } else { 0.0 };
    let size = (k[0] * k[1]) as f64;
    let count = (frame(&ones, pad_count, 0.0)?
        .avg_pool2d_with_stride(kk, ss)
        .map_err(e)?
        * size)
        .and_then(|c| c.round())
        .map_err(e)?;
    let rescale = count.recip().and_then(|r| r * size).map_err(e)?;
    avg.broadcast_mul(&rescale).map_err(e)
}

/// GlobalAveragePool (`max == false`) or GlobalMaxPool over all spatial axes (rank >= 3),
/// keeping them as size 1. The average divides the sum by the count.
pub(crate) fn global_pool(op: &str, x: &Tensor, max: bool) -> R<Tensor> {
    if x.rank() < 3 {
        return Err(format!(
            "{op} needs an input [N, C, spatial...], got {:?}",
            x.dims()
        ));
    }
    let axes: Vec<usize> = (2..x.rank()).collect();
    if max {
        let mut y = x.clone();
        for &a in &axes {
            y = y.max_keepdim(a).map_err(e)?;
        }
        return Ok(y);
    }
    let n: usize = x.dims()[2..].iter().product();
    let count = Tensor::new(n as f64, &Device::Cpu)
        .and_then(|c| c.to_dtype(x.dtype()))
        .map_err(e)?;
    x.sum_keepdim(axes)
        .and_then(|s| s.broadcast_div(&count))
        .map_err(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor_util::tests::{flat, t};
    use qbench_onnx::Attribute;

    fn ramp(dims: &[usize], f: impl Fn(f32) -> f32) -> Tensor {
        let n: usize = dims.iter().product();
        t(&(0..n).map(|v| f(v as f32)).collect::<Vec<_>>(), dims)
    }

    fn pool_node(op: &str, k: &[i64]) -> Node {
        Node::new("p", op, &["x"], &["y"]).with_attr("kernel_shape", Attribute::Ints(k.to_vec()))
    }

    fn ints(v: &[i64]) -> Attribute {
        Attribute::Ints(v.to_vec())
    }

    #[test]
    fn max_pool_strides_pads_and_ceil_mode() {
        let x = ramp(&[1, 1, 4, 4], |v| v);
        let n = pool_node("MaxPool", &[2, 2]).with_attr("strides", ints(&[2, 2]));
        assert_eq!(flat(&pool(&n, &x, true).unwrap()), vec![5., 7., 13., 15.]);
        // Default strides are 1.
        let y = pool(&pool_node("MaxPool", &[3, 3]), &x, true).unwrap();
        assert_eq!(flat(&y), vec![10., 11., 14., 15.]);
        // Pads are -inf, not 0: all values negative, x = -1 .. -16.
        let neg = ramp(&[1, 1, 4, 4], |v| -v - 1.0);
        let n = pool_node("MaxPool", &[3, 3])
            .with_attr("strides", ints(&[2, 2]))
            .with_attr("pads", ints(&[1, 1, 1, 1]));
        assert_eq!(
            flat(&pool(&n, &neg, true).unwrap()),
            vec![-1., -2., -5., -6.]
        );
        // 5x5, kernel 2, stride 2: floor 2x2, ceil 3x3 (last windows are partial).
        let x = ramp(&[1, 1, 5, 5], |v| v);
        let n = pool_node("MaxPool", &[2, 2]).with_attr("strides", ints(&[2, 2]));
        assert_eq!(flat(&pool(&n, &x, true).unwrap()), vec![6., 8., 16., 18.]);
        let n = n.with_attr("ceil_mode", Attribute::Int(1));
        let y = pool(&n, &x, true).unwrap();
        assert_eq!(y.dims(), &[1, 1, 3, 3]);
        assert_eq!(flat(&y), vec![6., 8., 9., 16., 18., 19., 21., 23., 24.]);
        // SAME_UPPER, stride 2 on 5 -> 3 outputs, one pad at the end of each axis.
        let n = pool_node("MaxPool", &[2, 2])
            .with_attr("strides", ints(&[2, 2]))
            .with_attr("auto_pad", Attribute::String("SAME_UPPER".into()));
        assert_eq!(flat(&pool(&n, &x, true).unwrap()), flat(&y));
    }

    #[test]
    fn average_pool_count_include_pad_and_ceil_mode() {
        let x = t(&[1.0, 2.0, 3.0, 4.0], &[1, 1, 2, 2]);
        let n = pool_node("AveragePool", &[2, 2]).with_attr("pads", ints(&[1, 1, 1, 1]));
        // Default count_include_pad = 0: average over the input positions only.
        let y = pool(&n, &x, false).unwrap();
        assert_eq!(y.dims(), &[1, 1, 3, 3]);
        assert_eq!(flat(&y), vec![1., 1.5, 2., 2., 2.5, 3., 3., 3.5, 4.]);
        let n = n.with_attr("count_include_pad", Attribute::Int(1));
        let y = pool(&n, &x, false).unwrap();
        assert_eq!(
            flat(&y),
            vec![0.25, 0.75, 0.5, 1., 2.5, 1.5, 0.75, 1.75, 1.]
        );
        // [1, 2, 3, 4], kernel 2, stride 2, one pad at the start, ceil_mode: windows [pad, 1],
        // [2, 3], [4, extension]. The extension never counts; the pad counts with
        // count_include_pad = 1.
        let x = t(&[1.0, 2.0, 3.0, 4.0], &[1, 1, 1, 4]);
        let n = pool_node("AveragePool", &[1, 2])
            .with_attr("strides", ints(&[1, 2]))
            .with_attr("pads", ints(&[0, 1, 0, 0]))
            .with_attr("ceil_mode", Attribute::Int(1));
        assert_eq!(flat(&pool(&n, &x, false).unwrap()), vec![1.0, 2.5, 4.0]);
        let n = n.with_attr("count_include_pad", Attribute::Int(1));
        assert_eq!(flat(&pool(&n, &x, false).unwrap()), vec![0.5, 2.5, 4.0]);
    }

    #[test]
    fn global_pools() {
        let x = t(&[1.0, 5.0, 2.0, 4.0, -1.0, -3.0, -2.0, -6.0], &[1, 2, 2, 2]);
        let y = global_pool("GlobalMaxPool", &x, true).unwrap();
        assert_eq!(y.dims(), &[1, 2, 1, 1]);
        assert_eq!(flat(&y), vec![5.0, -1.0]);
        let y = global_pool("GlobalAveragePool", &x, false).unwrap();
        assert_eq!(flat(&y), vec![3.0, -3.0]);
        // Rank 3 (1-D spatial) works too; rank 2 does not.
        let y = global_pool("GlobalMaxPool", &t(&[1.0, 3.0, 2.0], &[1, 1, 3]), true).unwrap();
        assert_eq!((y.dims(), flat(&y)), (&[1usize, 1, 1][..], vec![3.0]));
        assert!(global_pool("GlobalMaxPool", &t(&[1.0], &[1, 1]), true).is_err());
    }

    #[test]
    fn rejected_pool_attributes() {
        let x = t(&[0.0; 16], &[1, 1, 4, 4]);
        let err = |n: Node| pool(&n, &x, n.op_type == "MaxPool").unwrap_err();
        let n = pool_node("MaxPool", &[2, 2]).with_attr("dilations", ints(&[2, 2]));
        assert_eq!(err(n), "unsupported: MaxPool with dilations [2, 2]");
        assert_eq!(
            err(pool_node("MaxPool", &[2, 2, 2])),
            "unsupported: MaxPool with 3-D kernel"
        );
        let mut n = pool_node("MaxPool", &[2, 2]);
        n.outputs.push("idx".into());
        assert_eq!(err(n), "unsupported: MaxPool with Indices output");
        let n = Node::new("p", "AveragePool", &["x"], &["y"]);
        assert_eq!(err(n), "unsupported: AveragePool without kernel_shape");
        let n = pool_node("AveragePool", &[2, 2]).with_attr("pads", ints(&[2, 0, 0, 0]));
        assert!(err(n).contains("not smaller than kernel_shape"));
        let err = pool(&pool_node("MaxPool", &[5, 5]), &x, true).unwrap_err();
        assert!(err.contains("larger than the padded input"), "{err}");
    }
}
