//! Pad in modes `constant`, `reflect` and `edge` (`wrap`, opset 19, is rejected). Pads come
//! from the input (opset 11+) or the `pads` attribute (opset 2); negative pads crop. The
//! constant is the optional input 2 (or the opset-2 `value` attribute), default 0; opset 18's
//! `axes` input limits the axes the pads refer to.

use candle_core::Tensor;
use qbench_onnx::{Attribute, Node};

use crate::spatial::pad_axis;
use crate::tensor_util::{e, ints_arg, resolve_axes, scalar, select, unsupported, R};

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Constant,
    Reflect,
    Edge,
}

fn mode(node: &Node) -> R<Mode> {
    match node.attr("mode") {
        None => Ok(Mode::Constant),
        Some(Attribute::String(m)) => match m.as_str() {
            "constant" => Ok(Mode::Constant),
            "reflect" => Ok(Mode::Reflect),
            "edge" => Ok(Mode::Edge),
            other => Err(format!("Pad with mode {other}")),
        },
        Some(other) => Err(format!("Pad with mode {other:?}")),
    }
}

/// Static check of a Pad node's attributes.
pub(crate) fn check(node: &Node) -> R<()> {
    mode(node).map(|_| ())
}

/// Source index of output position `j` along an axis of length `n` padded by `before`, for the
/// `reflect` (mirror without repeating the edge) and `edge` modes.
fn source(mode: Mode, j: i64, before: i64, n: i64) -> usize {
    let i = j - before;
    let i = match mode {
        Mode::Edge | Mode::Constant => i.clamp(0, n - 1),
        Mode::Reflect if n == 1 => 0,
        Mode::Reflect => {
            let period = 2 * (n - 1);
            let m = i.rem_euclid(period);
            if m >= n {
                period - m
            } else {
                m
            }
        }
    };
    i as usize
}

/// Pad: `pads` holds the begin values for every padded axis, then the end values.
pub(crate) fn pad(node: &Node, x: &Tensor, inputs: &[Option<&Tensor>]) -> R<Tensor> {
    let mode = mode(node).map_err(unsupported)?;
    let pads = ints_arg(node, inputs, 1, "pads")?.ok_or("Pad has no pads")?;
    let axes = match inputs.get(3).copied().flatten() {
        Some(a) => resolve_axes(&crate::tensor_util::int_values(a)?, x.rank(), "Pad axis")?,
        None => (0..x.rank()).collect(),
    };
    if pads.len() != 2 * axes.len() {
        return Err(format!(
            "Pad has {} pads for {} axes of input {:?}",
            pads.len(),
            axes.len(),
            x.dims()
        ));
    }
    let value = match inputs.get(2).copied().flatten() {
        Some(v) => scalar(v, "Pad constant_value")?,
        None => node.attr_float("value", 0.0) as f64,
    };
    let mut y = x.clone();
    for (k, &axis) in axes.iter().enumerate() {
        let (b, en) = (pads[k], pads[k + axes.len()]);
        let n = y.dims()[axis] as i64;
        if n + b + en < 0 {
            return Err(format!(
                "Pad {pads:?} crops more than axis {axis} of {:?} holds",
                x.dims()
            ));
        }
        if b == 0 && en == 0 {
            continue;
        }
        if mode == Mode::Constant {
            // Crop negative pads, then add the positive ones.
            let start = (-b).max(0) as usize;
            let len = (n - (-b).max(0) - (-en).max(0)).max(0) as usize;
            y = y.narrow(axis, start, len).map_err(e)?;
            y = pad_axis(&y, axis, b.max(0) as usize, en.max(0) as usize, value)?;
            continue;
        }
        if n == 0 {
            return Err(format!(
                "Pad cannot extend the empty axis {axis} by its edge"
            ));
        }
        let idx: Vec<usize> = (0..n + b + en).map(|j| source(mode, j, b, n)).collect();
        y = select(&y, &idx, axis, "Pad")?;
    }
    Ok(y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor_util::i64_tensor;
    use crate::tensor_util::tests::{flat, t};

    fn node(mode: Option<&str>) -> Node {
        let n = Node::new("p", "Pad", &["x", "pads", "v", "axes"], &["y"]);
        match mode {
            Some(m) => n.with_attr("mode", Attribute::String(m.into())),
            None => n,
        }
    }

    #[test]
    fn constant_pad_and_crop() {
        let x = t(&[1.0, 2.0, 3.0, 4.0], &[2, 2]);
        // Default mode constant, default value 0: one row on top, one column on the right.
        let pads = i64_tensor(&[1, 0, 0, 1]).unwrap();
        let y = pad(&node(None), &x, &[Some(&x), Some(&pads)]).unwrap();
        assert_eq!(y.dims(), &[3, 3]);
        assert_eq!(flat(&y), vec![0., 0., 0., 1., 2., 0., 3., 4., 0.]);
        // constant_value input; a negative pad crops.
        let pads = i64_tensor(&[0, -1, 1, 0]).unwrap();
        let v = t(&[7.0], &[]);
        let y = pad(&node(None), &x, &[Some(&x), Some(&pads), Some(&v)]).unwrap();
        assert_eq!(y.dims(), &[3, 1]);
        assert_eq!(flat(&y), vec![2.0, 4.0, 7.0]);
        // opset 2: pads and value attributes.
        let n = Node::new("p", "Pad", &["x"], &["y"])
            .with_attr("pads", Attribute::Ints(vec![0, 1, 0, 0]))
            .with_attr("value", Attribute::Float(-1.0));
        let y = pad(&n, &x, &[Some(&x)]).unwrap();
        assert_eq!(flat(&y), vec![-1.0, 1.0, 2.0, -1.0, 3.0, 4.0]);
        // opset 18 axes input (negative): pad only the last axis.
        let pads = i64_tensor(&[2, 0]).unwrap();
        let axes = i64_tensor(&[-1]).unwrap();
        let y = pad(&node(None), &x, &[Some(&x), Some(&pads), None, Some(&axes)]).unwrap();
        assert_eq!(flat(&y), vec![0., 0., 1., 2., 0., 0., 3., 4.]);
    }

    #[test]
    fn reflect_and_edge() {
        let x = t(&[1.0, 2.0, 3.0], &[1, 3]);
        let pads = i64_tensor(&[0, 2, 0, 2]).unwrap();
        let y = pad(&node(Some("reflect")), &x, &[Some(&x), Some(&pads)]).unwrap();
        assert_eq!(flat(&y), vec![3., 2., 1., 2., 3., 2., 1.]);
        let y = pad(&node(Some("edge")), &x, &[Some(&x), Some(&pads)]).unwrap();
        assert_eq!(flat(&y), vec![1., 1., 1., 2., 3., 3., 3.]);
        // Pads larger than the axis keep reflecting (as numpy): [1, 2] by 3 on the left.
        let x2 = t(&[1.0, 2.0], &[2]);
        let p = i64_tensor(&[3, 0]).unwrap();
        let y = pad(&node(Some("reflect")), &x2, &[Some(&x2), Some(&p)]).unwrap();
        assert_eq!(flat(&y), vec![2., 1., 2., 1., 2.]);
    }

    #[test]
    fn rejected_and_bad_pads() {
        let x = t(&[1.0, 2.0], &[2]);
        let p = i64_tensor(&[1, 1]).unwrap();
        let err = pad(&node(Some("wrap")), &x, &[Some(&x), Some(&p)]).unwrap_err();
        assert_eq!(err, "unsupported: Pad with mode wrap");
        let p3 = i64_tensor(&[1, 1, 1]).unwrap();
        let err = pad(&node(None), &x, &[Some(&x), Some(&p3)]).unwrap_err();
        assert!(err.contains("3 pads for 1 axes"), "{err}");
        let crop = i64_tensor(&[-2, -1]).unwrap();
        let err = pad(&node(None), &x, &[Some(&x), Some(&crop)]).unwrap_err();
        assert!(err.contains("crops more"), "{err}");
    }
}
