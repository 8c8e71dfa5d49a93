//! Conv: 2-D convolution with candle's `conv2d`, including grouped and depthwise convolutions,
//! asymmetric or automatic (`auto_pad`) pads, and per-axis strides and dilations, which candle
//! takes as one value: different dilations dilate the kernel with zeros, different strides run
//! the convolution with their greatest common divisor and keep every k-th output.

use candle_core::Tensor;
use qbench_onnx::Node;

use crate::spatial::{dilate, out_len, subsample, Window};
use crate::tensor_util::{e, unsupported, R};

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Static checks of a Conv-like node's attributes (Conv, ConvInteger, QLinearConv): errors
/// describe the operator and the limiting attribute.
pub(crate) fn check(node: &Node) -> R<()> {
    Window::parse(node)?;
    let group = node.attr_int("group", 1);
    if group < 1 {
        return Err(format!("{} with group {group}", node.op_type));
    }
    Ok(())
}

/// 2-D convolution with ONNX attributes: `x` is `[N, C, H, W]`, `w` is `[M, C / group, kH, kW]`,
/// the optional bias `[M]`. Also used by ConvInteger and QLinearConv on exact integer values.
pub(crate) fn conv(node: &Node, x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> R<Tensor> {
    let op = &node.op_type;
    check(node).map_err(unsupported)?;
    let win = Window::parse(node)?;
    let group = node.attr_int("group", 1) as usize;
    if w.rank() != 4 || x.rank() != 4 {
        return Err(unsupported(format!(
            "{op} with {}-D kernel (only 2-D convolutions; input {:?}, weight {:?})",
            w.rank().saturating_sub(2),
            x.dims(),
            w.dims()
        )));
    }
    let (_, c, h, wd) = x.dims4().map_err(e)?;
    let (m, cg, kh, kw) = w.dims4().map_err(e)?;
    if win.kernel.is_some_and(|k| k != [kh, kw]) {
        return Err(format!(
            "{op}: kernel_shape {:?} does not match the weight {:?}",
            win.kernel,
            w.dims()
        ));
    }
    if c != cg * group || m % group != 0 {
        return Err(format!(
            "{op}: input {:?} and weight {:?} do not fit group {group}",
            x.dims(),
            w.dims()
        ));
    }
    let pads = win.pads_for([h, wd], [kh, kw]);
    let [sh, sw] = win.strides;
    let [dh, dw] = win.dilations;
    for (i, (len, k, d, s)) in [(h, kh, dh, sh), (wd, kw, dw, sw)].into_iter().enumerate() {
        out_len(op, len, (pads[i], pads[i + 2]), (k - 1) * d + 1, s, false)?;
    }
    // Per-axis dilations: dilate the kernel with zeros and convolve with dilation 1.
    let (w, dil) = if dh == dw {
        (w.clone(), dh)
    } else {
        (dilate(&dilate(w, 2, dh)?, 3, dw)?, 1)
    };
    let (x, pad) = if pads.iter().all(|p| *p == pads[0]) {
        (x.clone(), pads[0])
    } else {
        let x = x
            .pad_with_zeros(2, pads[0], pads[2])
            .and_then(|x| x.pad_with_zeros(3, pads[1], pads[3]))
            .map_err(e)?;
        (x, 0)
    };
    // Per-axis strides: convolve with their gcd, keep every (s / gcd)-th output per axis.
    let g = gcd(sh, sw);
    let y = x.conv2d(&w, pad, g, dil, group).map_err(e)?;
    let y = subsample(&subsample(&y, 2, sh / g)?, 3, sw / g)?;
    match b {
        Some(b) => y
            .broadcast_add(&b.reshape((1, (), 1, 1)).map_err(e)?)
            .map_err(e),
        None => Ok(y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor_util::tests::{flat, t};
    use qbench_onnx::Attribute;

    fn ramp(dims: &[usize]) -> Tensor {
        let n: usize = dims.iter().product();
        t(&(0..n).map(|v| v as f32).collect::<Vec<_>>(), dims)
    }

    fn node() -> Node {
        Node::new("c", "Conv", &["x", "w"], &["y"])
    }

    #[test]
    fn depthwise_conv_keeps_channels_apart() {
        // Channel 0 = 0..8, channel 1 = 9..17 (3x3 each); group = 2, one 2x2 filter each.
        let x = ramp(&[1, 2, 3, 3]);
        let w = t(&[1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, -1.0], &[2, 1, 2, 2]);
        let n = node().with_attr("group", Attribute::Int(2));
        let y = conv(&n, &x, &w, Some(&t(&[0.5, 0.0], &[2]))).unwrap();
        assert_eq!(y.dims(), &[1, 2, 2, 2]);
        // ch0: 2x2 sums of [[0,1,2],[3,4,5],[6,7,8]] + 0.5; ch1: x[i][j] - x[i+1][j+1] = -4.
        assert_eq!(
            flat(&y),
            vec![8.5, 12.5, 20.5, 24.5, -4.0, -4.0, -4.0, -4.0]
        );
    }

    #[test]
    fn grouped_conv_sums_within_each_group() {
        // 4 input channels (values c * 10 + pixel), 2 groups, 1x1 weights: output 0 reads
        // channels 0, 1 (weights 1, 2), output 1 reads channels 2, 3 (weights 3, -1).
        let v: Vec<f32> = (0..4)
            .flat_map(|c| (0..2).map(move |p| (c * 10 + p) as f32))
            .collect();
        let x = t(&v, &[1, 4, 1, 2]);
        let w = t(&[1.0, 2.0, 3.0, -1.0], &[2, 2, 1, 1]);
        let n = node().with_attr("group", Attribute::Int(2));
        let y = conv(&n, &x, &w, None).unwrap();
        // out0 = x0 + 2 x1 = [20, 23]; out1 = 3 x2 - x3 = [60 - 30, 63 - 31] = [30, 32].
        assert_eq!(flat(&y), vec![20.0, 23.0, 30.0, 32.0]);
        let bad = node().with_attr("group", Attribute::Int(3));
        let err = conv(&bad, &x, &w, None).unwrap_err();
        assert!(err.contains("group 3"), "{err}");
    }

    #[test]
    fn asymmetric_strides_and_dilations() {
        // x[r][c] = 3r + c, 4x3; 2x2 kernel of ones.
        let x = ramp(&[1, 1, 4, 3]);
        let ones = t(&[1.0; 4], &[1, 1, 2, 2]);
        let n = node().with_attr("strides", Attribute::Ints(vec![2, 1]));
        let y = conv(&n, &x, &ones, None).unwrap();
        // Windows start at rows 0, 2 and columns 0, 1: sums 8, 12, 32, 36.
        assert_eq!(y.dims(), &[1, 1, 2, 2]);
        assert_eq!(flat(&y), vec![8.0, 12.0, 32.0, 36.0]);
        // strides [1, 2] on a 1x1 kernel keep columns 0 and 2.
        let n = node().with_attr("strides", Attribute::Ints(vec![1, 2]));
        let y = conv(&n, &x, &t(&[1.0], &[1, 1, 1, 1]), None).unwrap();
        assert_eq!(y.dims(), &[1, 1, 4, 2]);
        assert_eq!(flat(&y), vec![0.0, 2.0, 3.0, 5.0, 6.0, 8.0, 9.0, 11.0]);
        // strides [2, 4] (gcd 2) on a 1x5 input: rows 0, 2 of 3, column 0 of 5.
        let n = node().with_attr("strides", Attribute::Ints(vec![2, 4]));
        let y = conv(&n, &ramp(&[1, 1, 3, 5]), &t(&[1.0], &[1, 1, 1, 1]), None).unwrap();
        assert_eq!(y.dims(), &[1, 1, 2, 2]);
        assert_eq!(flat(&y), vec![0.0, 4.0, 10.0, 14.0]);
        // dilations [2, 1]: y[i][j] = x[i][j] + x[i][j+1] + x[i+2][j] + x[i+2][j+1] = 12i+4j+14.
        let n = node().with_attr("dilations", Attribute::Ints(vec![2, 1]));
        let y = conv(&n, &x, &ones, None).unwrap();
        assert_eq!(y.dims(), &[1, 1, 2, 2]);
        assert_eq!(flat(&y), vec![14.0, 18.0, 26.0, 30.0]);
    }

    #[test]
    fn asymmetric_and_auto_pads() {
        let x = t(&[1.0; 16], &[1, 1, 4, 4]);
        let w = t(&[1.0; 9], &[1, 1, 3, 3]);
        let strided = |pad: &str| {
            node()
                .with_attr("strides", Attribute::Ints(vec![2, 2]))
                .with_attr("auto_pad", Attribute::String(pad.into()))
        };
        // out = ceil(4 / 2) = 2, total pad 1: SAME_UPPER pads the end, SAME_LOWER the start.
        let y = conv(&strided("SAME_UPPER"), &x, &w, None).unwrap();
        assert_eq!(flat(&y), vec![9.0, 6.0, 6.0, 4.0]);
        let y = conv(&strided("SAME_LOWER"), &x, &w, None).unwrap();
        assert_eq!(flat(&y), vec![4.0, 6.0, 6.0, 9.0]);
        let y = conv(&strided("VALID"), &x, &w, None).unwrap();
        assert_eq!(flat(&y), vec![9.0]);
        // Explicit asymmetric pads [top 1, left 0, bottom 0, right 2], stride 1: 3 x 4 output.
        let n = node().with_attr("pads", Attribute::Ints(vec![1, 0, 0, 2]));
        let y = conv(&n, &x, &w, None).unwrap();
        assert_eq!(y.dims(), &[1, 1, 3, 4]);
        assert_eq!(
            flat(&y),
            vec![6.0, 6.0, 4.0, 2.0, 9.0, 9.0, 6.0, 3.0, 9.0, 9.0, 6.0, 3.0]
        );
        // A kernel larger than the padded input is an error, not a panic.
        let err = conv(&node(), &t(&[1.0; 4], &[1, 1, 2, 2]), &w, None).unwrap_err();
        assert!(err.contains("larger than the padded input"), "{err}");
        // A 1-D convolution is unsupported.
        let err = conv(
            &node(),
            &t(&[1.0; 4], &[1, 1, 4]),
            &t(&[1.0; 2], &[1, 1, 2]),
            None,
        )
        .unwrap_err();
        assert!(err.contains("unsupported: Conv with 1-D kernel"), "{err}");
    }
}
