//! ConvTranspose: 2-D transposed convolution with candle's `conv_transpose2d`, plus groups (one
//! call per group), per-axis strides (the input is dilated with zeros and run with stride 1),
//! per-axis dilations (the kernel is dilated with zeros), explicit pads (cropped from the full
//! output) and `output_padding` (zeros appended at the end, then the bias).
//!
//! `output_shape` and `auto_pad` SAME_UPPER/SAME_LOWER are rejected: the specification and
//! ONNX Runtime disagree on where the odd padding goes.

use candle_core::Tensor;
use qbench_onnx::{Attribute, Node};

use crate::spatial::{dilate, AutoPad, Window};
use crate::tensor_util::{e, unsupported, R};

/// `output_padding` (two non-negative values, default zeros).
fn output_padding(node: &Node) -> R<[usize; 2]> {
    match node.attr_ints("output_padding") {
        None => Ok([0, 0]),
        Some(v) if v.len() == 2 && v.iter().all(|x| *x >= 0) => Ok([v[0] as usize, v[1] as usize]),
        Some(v) => Err(format!(
            "ConvTranspose with output_padding {v:?} (a 2-D window needs 2 non-negative values)"
        )),
    }
}

/// Static checks of a ConvTranspose node's attributes.
pub(crate) fn check(node: &Node) -> R<()> {
    let win = Window::parse(node)?;
    if matches!(win.auto_pad, AutoPad::SameUpper | AutoPad::SameLower) {
        let p = match node.attr("auto_pad") {
            Some(Attribute::String(p)) => p.as_str(),
            _ => "SAME",
        };
        return Err(format!("ConvTranspose with auto_pad {p}"));
    }
    if node.attr("output_shape").is_some() {
        return Err("ConvTranspose with output_shape".into());
    }
    output_padding(node)?;
    let group = node.attr_int("group", 1);
    if group < 1 {
        return Err(format!("ConvTranspose with group {group}"));
    }
    Ok(())
}

/// The unpadded transposed convolution of one group: length `(in - 1) * s + (k - 1) * d + 1`
/// per axis.
fn full(x: &Tensor, w: &Tensor, [sh, sw]: [usize; 2], [dh, dw]: [usize; 2]) -> R<Tensor> {
    let (w, dil) = if dh == dw {
        (w.clone(), dh)
    } else {
        (dilate(&dilate(w, 2, dh)?, 3, dw)?, 1)
    };
    let (x, stride) = if sh == sw {
        (x.clone(), sh)
    } else {
        (dilate(&dilate(x, 2, sh)?, 3, sw)?, 1)
    };
    x.conv_transpose2d(&w, 0, 0, stride, dil).map_err(e)
}

/// ConvTranspose: `x` is `[N, C, H, W]`, `w` is `[C, M / group, kH, kW]`, the optional bias
/// `[M]`. Output length per axis: `s * (in - 1) + output_padding + (k - 1) * d + 1 - pads`.
pub(crate) fn conv_transpose(node: &Node, x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> R<Tensor> {
    check(node).map_err(unsupported)?;
    let win = Window::parse(node)?;
    let op_pad = output_padding(node)?;
    let group = node.attr_int("group", 1) as usize;
    if w.rank() != 4 || x.rank() != 4 {
        return Err(unsupported(format!(
            "ConvTranspose with {}-D kernel (only 2-D; input {:?}, weight {:?})",
            w.rank().saturating_sub(2),
            x.dims(),
            w.dims()
        )));
    }
    let (_, c, h, wd) = x.dims4().map_err(e)?;
    let (wc, _, kh, kw) = w.dims4().map_err(e)?;
    if win.kernel.is_some_and(|k| k != [kh, kw]) {
        return Err(format!(
            "ConvTranspose: kernel_shape {:?} does not match the weight {:?}",
            win.kernel,
            w.dims()
        ));
    }
    if wc != c || c % group != 0 {
        return Err(format!(
            "ConvTranspose: input {:?} and weight {:?} do not fit group {group}",
            x.dims(),
            w.dims()
        ));
    }
    let pads = win.pads_for([h, wd], [kh, kw]);
    let cg = c / group;
    let parts = (0..group)
        .map(|g| {
            let xg = x.narrow(1, g * cg, cg).map_err(e)?;
            let wg = w.narrow(0, g * cg, cg).map_err(e)?;
            full(&xg, &wg, win.strides, win.dilations)
        })
        .collect::<R<Vec<_>>>()?;
    let mut y = if parts.len() == 1 {
        parts.into_iter().next().ok_or("ConvTranspose: no group")?
    } else {
        Tensor::cat(&parts, 1).map_err(e)?
    };
    for (i, axis) in [2usize, 3].into_iter().enumerate() {
        let full_len = y.dims()[axis] + op_pad[i];
        let (pb, pe) = (pads[i], pads[i + 2]);
        if full_len < pb + pe + 1 {
            return Err(format!(
                "ConvTranspose: pads {pads:?} leave no output from length {full_len}"
            ));
        }
        y = y
            .pad_with_zeros(axis, 0, op_pad[i])
            .and_then(|y| y.narrow(axis, pb, full_len - pb - pe))
            .map_err(e)?;
    }
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

    fn node() -> Node {
        Node::new("ct", "ConvTranspose", &["x", "w"], &["y"])
    }

    #[test]
    fn stride_pads_and_output_padding() {
        let x = t(&[1.0, 2.0, 3.0, 4.0], &[1, 1, 2, 2]);
        let ones = t(&[1.0; 4], &[1, 1, 2, 2]);
        let s2 = node().with_attr("strides", Attribute::Ints(vec![2, 2]));
        // Each input spreads over its own 2x2 block.
        let y = conv_transpose(&s2, &x, &ones, None).unwrap();
        assert_eq!(y.dims(), &[1, 1, 4, 4]);
        assert_eq!(
            flat(&y),
            vec![1., 1., 2., 2., 1., 1., 2., 2., 3., 3., 4., 4., 3., 3., 4., 4.]
        );
        // pads crop one from every side.
        let p = s2
            .clone()
            .with_attr("pads", Attribute::Ints(vec![1, 1, 1, 1]));
        let y = conv_transpose(&p, &x, &ones, None).unwrap();
        assert_eq!(flat(&y), vec![1.0, 2.0, 3.0, 4.0]);
        // output_padding [1, 0] appends a row, which holds only the bias.
        let op = s2.with_attr("output_padding", Attribute::Ints(vec![1, 0]));
        let y = conv_transpose(&op, &x, &ones, Some(&t(&[0.5], &[1]))).unwrap();
        assert_eq!(y.dims(), &[1, 1, 5, 4]);
        assert_eq!(&flat(&y)[12..], &[3.5, 3.5, 4.5, 4.5, 0.5, 0.5, 0.5, 0.5]);
    }

    #[test]
    fn kernel_is_not_flipped_and_strides_differ_per_axis() {
        // A single input scatters the kernel as is.
        let k = t(&[1.0, 2.0, 3.0, 4.0], &[1, 1, 2, 2]);
        let y = conv_transpose(&node(), &t(&[1.0], &[1, 1, 1, 1]), &k, None).unwrap();
        assert_eq!(flat(&y), vec![1.0, 2.0, 3.0, 4.0]);
        // strides [1, 2] with a 1x2 kernel [1, 10].
        let x = t(&[1.0, 2.0, 3.0, 4.0], &[1, 1, 2, 2]);
        let n = node().with_attr("strides", Attribute::Ints(vec![1, 2]));
        let y = conv_transpose(&n, &x, &t(&[1.0, 10.0], &[1, 1, 1, 2]), None).unwrap();
        assert_eq!(y.dims(), &[1, 1, 2, 4]);
        assert_eq!(flat(&y), vec![1., 10., 2., 20., 3., 30., 4., 40.]);
        // Overlapping windows add: x = [1, 2] with kernel [1, 2], stride 1 -> [1, 4, 4].
        let y = conv_transpose(
            &node(),
            &t(&[1.0, 2.0], &[1, 1, 1, 2]),
            &t(&[1.0, 2.0], &[1, 1, 1, 2]),
            None,
        )
        .unwrap();
        assert_eq!(flat(&y), vec![1.0, 4.0, 4.0]);
    }

    #[test]
    fn dilations_and_groups() {
        let k = t(&[1.0, 2.0, 3.0, 4.0], &[1, 1, 2, 2]);
        let one = t(&[1.0], &[1, 1, 1, 1]);
        let n = node().with_attr("dilations", Attribute::Ints(vec![2, 2]));
        let y = conv_transpose(&n, &one, &k, None).unwrap();
        assert_eq!(flat(&y), vec![1., 0., 2., 0., 0., 0., 3., 0., 4.]);
        let n = node().with_attr("dilations", Attribute::Ints(vec![2, 1]));
        let y = conv_transpose(&n, &one, &k, None).unwrap();
        assert_eq!(y.dims(), &[1, 1, 3, 2]);
        assert_eq!(flat(&y), vec![1., 2., 0., 0., 3., 4.]);
        // group 2, two outputs per group: x = [1, 2], w = [[1, 2], [3, 4]] -> [1, 2, 6, 8].
        let n = node().with_attr("group", Attribute::Int(2));
        let y = conv_transpose(
            &n,
            &t(&[1.0, 2.0], &[1, 2, 1, 1]),
            &t(&[1.0, 2.0, 3.0, 4.0], &[2, 2, 1, 1]),
            None,
        )
        .unwrap();
        assert_eq!(y.dims(), &[1, 4, 1, 1]);
        assert_eq!(flat(&y), vec![1.0, 2.0, 6.0, 8.0]);
    }

    #[test]
    fn rejected_attributes() {
        let x = t(&[1.0], &[1, 1, 1, 1]);
        let err = |n: Node| conv_transpose(&n, &x, &x, None).unwrap_err();
        let e1 = err(node().with_attr("output_shape", Attribute::Ints(vec![2, 2])));
        assert_eq!(e1, "unsupported: ConvTranspose with output_shape");
        let e2 = err(node().with_attr("auto_pad", Attribute::String("SAME_UPPER".into())));
        assert_eq!(e2, "unsupported: ConvTranspose with auto_pad SAME_UPPER");
        let e3 = err(node().with_attr("pads", Attribute::Ints(vec![1, 1, 1, 1])));
        assert!(e3.contains("leave no output"), "{e3}");
        let e4 = err(node().with_attr("output_padding", Attribute::Ints(vec![1])));
        assert!(e4.contains("output_padding [1]"), "{e4}");
    }
}
