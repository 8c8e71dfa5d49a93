//! Shape manipulation: Shape, Squeeze, Unsqueeze, Transpose, Expand. Axes come from the
//! attribute (older opsets) or the input (Squeeze/Unsqueeze from opset 13); shapes are int64
//! values held in f64.

use candle_core::Tensor;
use qbench_onnx::Node;

use crate::tensor_util::{e, i64_tensor, int_values, ints_arg, resolve_axes, R};

/// Shape: the input's dimensions `[start, end)` (opset 15 attributes; negative values count
/// from the end, both are clamped to `[0, rank]`).
pub(crate) fn shape(node: &Node, x: &Tensor) -> R<Tensor> {
    let r = x.rank() as i64;
    let clampi = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
    let start = clampi(node.attr_int("start", 0));
    let end = clampi(node.attr_int("end", r));
    let dims: Vec<i64> = x.dims()[start..end.max(start)]
        .iter()
        .map(|d| *d as i64)
        .collect();
    i64_tensor(&dims)
}

/// Squeeze: removes the given axes (attribute before opset 13, input from 13), which must have
/// size 1; without axes, every axis of size 1.
pub(crate) fn squeeze(node: &Node, x: &Tensor, inputs: &[Option<&Tensor>]) -> R<Tensor> {
    let dims = x.dims();
    let drop: Vec<usize> = match ints_arg(node, inputs, 1, "axes")? {
        Some(axes) => {
            let axes = resolve_axes(&axes, x.rank(), "Squeeze axis")?;
            if let Some(a) = axes.iter().find(|a| dims[**a] != 1) {
                return Err(format!(
                    "Squeeze axis {a} has size {} (must be 1), input {dims:?}",
                    dims[*a]
                ));
            }
            axes
        }
        None => (0..dims.len()).filter(|a| dims[*a] == 1).collect(),
    };
    let out: Vec<usize> = (0..dims.len())
        .filter(|a| !drop.contains(a))
        .map(|a| dims[a])
        .collect();
    x.reshape(out).map_err(e)
}

/// Unsqueeze: inserts axes of size 1 at the given positions of the output (attribute before
/// opset 13, input from 13; negative positions count from the end of the output).
pub(crate) fn unsqueeze(node: &Node, x: &Tensor, inputs: &[Option<&Tensor>]) -> R<Tensor> {
    let axes = ints_arg(node, inputs, 1, "axes")?.ok_or("Unsqueeze has no axes")?;
    let rank = x.rank() + axes.len();
    let axes = resolve_axes(&axes, rank, "Unsqueeze axis")?;
    let mut src = x.dims().iter();
    let out: Vec<usize> = (0..rank)
        .map(|a| {
            if axes.contains(&a) {
                1
            } else {
                src.next().copied().unwrap_or(1)
            }
        })
        .collect();
    x.reshape(out).map_err(e)
}

/// Transpose: permutes the axes by `perm` (default: reversed), materialized contiguously.
pub(crate) fn transpose(node: &Node, x: &Tensor) -> R<Tensor> {
    let r = x.rank();
    let perm: Vec<usize> = match node.attr_ints("perm") {
        None => (0..r).rev().collect(),
        Some(p) => {
            let mut sorted: Vec<i64> = p.to_vec();
            sorted.sort_unstable();
            if sorted != (0..r as i64).collect::<Vec<_>>() {
                return Err(format!(
                    "Transpose perm {p:?} is not a permutation of 0..{r}"
                ));
            }
            p.iter().map(|a| *a as usize).collect()
        }
    };
    x.permute(perm).and_then(|t| t.contiguous()).map_err(e)
}

/// Expand: broadcasts the input to `shape` with multidirectional broadcasting (a 1 in `shape`
/// keeps the input's dimension; `shape` may have fewer axes than the input).
pub(crate) fn expand(x: &Tensor, shape: &Tensor) -> R<Tensor> {
    let spec = int_values(shape)?;
    if let Some(d) = spec.iter().find(|d| **d < 0) {
        return Err(format!(
            "Expand shape {spec:?} has a negative dimension {d}"
        ));
    }
    let rank = x.rank().max(spec.len());
    let pad = |v: Vec<usize>| -> Vec<usize> {
        let mut p = vec![1; rank - v.len()];
        p.extend(v);
        p
    };
    let a = pad(x.dims().to_vec());
    let b = pad(spec.iter().map(|d| *d as usize).collect());
    let out = a
        .iter()
        .zip(&b)
        .map(|(&p, &q)| match (p, q) {
            _ if p == q || q == 1 => Ok(p),
            (1, q) => Ok(q),
            _ => Err(format!(
                "Expand cannot broadcast input {:?} to shape {spec:?}",
                x.dims()
            )),
        })
        .collect::<R<Vec<usize>>>()?;
    x.reshape(a)
        .and_then(|t| t.broadcast_as(out))
        .and_then(|t| t.contiguous())
        .map_err(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor_util::tests::{flat, t};
    use qbench_onnx::Attribute;

    fn node(op: &str) -> Node {
        Node::new("s", op, &["x", "axes"], &["y"])
    }

    fn ramp(dims: &[usize]) -> Tensor {
        let n: usize = dims.iter().product();
        t(&(0..n).map(|v| v as f32).collect::<Vec<_>>(), dims)
    }

    #[test]
    fn shape_with_start_and_end() {
        let x = ramp(&[2, 3, 4, 5]);
        let n = Node::new("s", "Shape", &["x"], &["y"]);
        let y = shape(&n, &x).unwrap();
        assert_eq!(y.dtype(), candle_core::DType::F64);
        assert_eq!(flat(&y), vec![2.0, 3.0, 4.0, 5.0]);
        let n = n.with_attr("start", Attribute::Int(1));
        assert_eq!(flat(&shape(&n, &x).unwrap()), vec![3.0, 4.0, 5.0]);
        let n = n.with_attr("end", Attribute::Int(-1));
        assert_eq!(flat(&shape(&n, &x).unwrap()), vec![3.0, 4.0]);
        // Out-of-range values clamp; start after end is empty.
        let n = Node::new("s", "Shape", &["x"], &["y"])
            .with_attr("start", Attribute::Int(-10))
            .with_attr("end", Attribute::Int(10));
        assert_eq!(flat(&shape(&n, &x).unwrap()).len(), 4);
        let n = Node::new("s", "Shape", &["x"], &["y"])
            .with_attr("start", Attribute::Int(3))
            .with_attr("end", Attribute::Int(1));
        assert_eq!(shape(&n, &x).unwrap().dims(), &[0]);
    }

    #[test]
    fn squeeze_and_unsqueeze_by_attribute_or_input() {
        let x = ramp(&[1, 3, 1, 2]);
        let axes = i64_tensor(&[-2]).unwrap();
        // opset 13: axes input.
        let y = squeeze(&node("Squeeze"), &x, &[Some(&x), Some(&axes)]).unwrap();
        assert_eq!(y.dims(), &[1, 3, 2]);
        // opset 11: axes attribute.
        let n = node("Squeeze").with_attr("axes", Attribute::Ints(vec![0, 2]));
        assert_eq!(squeeze(&n, &x, &[Some(&x)]).unwrap().dims(), &[3, 2]);
        // No axes: all ones.
        assert_eq!(
            squeeze(&node("Squeeze"), &x, &[Some(&x)]).unwrap().dims(),
            &[3, 2]
        );
        let n = node("Squeeze").with_attr("axes", Attribute::Ints(vec![1]));
        let err = squeeze(&n, &x, &[Some(&x)]).unwrap_err();
        assert!(err.contains("axis 1 has size 3"), "{err}");
        // Unsqueeze [3, 2] at 0 and -1 (output rank 4): [1, 3, 2, 1].
        let x = ramp(&[3, 2]);
        let axes = i64_tensor(&[0, -1]).unwrap();
        let y = unsqueeze(&node("Unsqueeze"), &x, &[Some(&x), Some(&axes)]).unwrap();
        assert_eq!(y.dims(), &[1, 3, 2, 1]);
        assert_eq!(flat(&y), flat(&x));
        let n = node("Unsqueeze").with_attr("axes", Attribute::Ints(vec![1, 3]));
        assert_eq!(
            unsqueeze(&n, &x, &[Some(&x)]).unwrap().dims(),
            &[3, 1, 2, 1]
        );
        // A scalar becomes [1].
        let s = t(&[7.0], &[]);
        let n = node("Unsqueeze").with_attr("axes", Attribute::Ints(vec![0]));
        assert_eq!(unsqueeze(&n, &s, &[Some(&s)]).unwrap().dims(), &[1]);
        let n = node("Unsqueeze").with_attr("axes", Attribute::Ints(vec![1, 1]));
        assert!(unsqueeze(&n, &x, &[Some(&x)])
            .unwrap_err()
            .contains("repeated"));
        let err = unsqueeze(&node("Unsqueeze"), &x, &[Some(&x)]).unwrap_err();
        assert!(err.contains("no axes"), "{err}");
    }

    #[test]
    fn transpose_default_reverses() {
        let x = ramp(&[2, 3]);
        let n = Node::new("t", "Transpose", &["x"], &["y"]);
        let y = transpose(&n, &x).unwrap();
        assert_eq!(y.dims(), &[3, 2]);
        assert_eq!(flat(&y), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        let x = ramp(&[1, 2, 2, 3]);
        let n = n.with_attr("perm", Attribute::Ints(vec![0, 2, 3, 1]));
        let y = transpose(&n, &x).unwrap();
        assert_eq!(y.dims(), &[1, 2, 3, 2]);
        // NCHW -> NHWC: channel values (c * 6 + p) interleave.
        assert_eq!(
            flat(&y),
            vec![0., 6., 1., 7., 2., 8., 3., 9., 4., 10., 5., 11.]
        );
        let bad = Node::new("t", "Transpose", &["x"], &["y"])
            .with_attr("perm", Attribute::Ints(vec![0, 0, 1, 2]));
        assert!(transpose(&bad, &x)
            .unwrap_err()
            .contains("not a permutation"));
    }

    #[test]
    fn expand_broadcasts_both_ways() {
        let x = t(&[1.0, 2.0, 3.0], &[3, 1]);
        let y = expand(&x, &i64_tensor(&[2, 1, 2]).unwrap()).unwrap();
        assert_eq!(y.dims(), &[2, 3, 2]);
        assert_eq!(
            flat(&y),
            vec![1., 1., 2., 2., 3., 3., 1., 1., 2., 2., 3., 3.]
        );
        // A shape with fewer axes, or 1 where the input is larger, keeps the input.
        let y = expand(&x, &i64_tensor(&[1]).unwrap()).unwrap();
        assert_eq!(y.dims(), &[3, 1]);
        let err = expand(&x, &i64_tensor(&[2, 2]).unwrap()).unwrap_err();
        assert!(err.contains("cannot broadcast"), "{err}");
    }
}
