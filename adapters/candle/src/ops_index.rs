//! Joining, splitting and indexing: Concat, Split, Gather, Tile.

use candle_core::Tensor;
use qbench_onnx::{Attribute, Node};

use crate::tensor_util::{e, int_values, ints_arg, promote, resolve_axis, select, R};

/// Concat along the required `axis` (negative counts from the end). Inputs with nothing along
/// the axis are skipped; mixed holders are promoted.
pub(crate) fn concat(node: &Node, inputs: &[Option<&Tensor>]) -> R<Tensor> {
    let Some(Attribute::Int(axis)) = node.attr("axis") else {
        return Err("Concat has no integer attribute axis".into());
    };
    let xs: Vec<&Tensor> = inputs
        .iter()
        .map(|x| x.ok_or_else(|| "Concat has a missing input".to_string()))
        .collect::<R<_>>()?;
    let first = xs.first().ok_or("Concat needs at least one input")?;
    let axis = resolve_axis(*axis, first.rank(), "Concat axis")?;
    let xs = promote(&xs)?;
    if let Some(x) = xs.iter().find(|x| x.rank() != first.rank()) {
        return Err(format!(
            "Concat inputs differ in rank: {:?} and {:?}",
            first.dims(),
            x.dims()
        ));
    }
    let kept: Vec<&Tensor> = xs.iter().filter(|x| x.dims()[axis] > 0).collect();
    if kept.is_empty() {
        return Ok(xs[0].clone());
    }
    Tensor::cat(&kept, axis).map_err(e)
}

/// Split along `axis` (default 0) into the node's outputs: sizes from the `split` attribute
/// (before opset 13) or input (from 13); otherwise `num_outputs` (opset 18) parts of
/// `ceil(dim / num_outputs)` (the last smaller); otherwise equal parts, one per output.
pub(crate) fn split(node: &Node, x: &Tensor, inputs: &[Option<&Tensor>]) -> R<Vec<Tensor>> {
    let axis = resolve_axis(node.attr_int("axis", 0), x.rank(), "Split axis")?;
    let dim = x.dims()[axis];
    let n = node.outputs.len();
    let sizes: Vec<usize> = match ints_arg(node, inputs, 1, "split")? {
        Some(s) => {
            if s.iter().any(|v| *v < 0) || s.iter().sum::<i64>() != dim as i64 {
                return Err(format!(
                    "Split sizes {s:?} do not add up to dimension {dim} of {:?}",
                    x.dims()
                ));
            }
            s.iter().map(|v| *v as usize).collect()
        }
        None => match node.attr("num_outputs") {
            Some(Attribute::Int(k)) if *k >= 1 => {
                let chunk = dim.div_ceil(*k as usize);
                (0..*k as usize)
                    .map(|i| chunk.min(dim.saturating_sub(i * chunk)))
                    .collect()
            }
            Some(other) => return Err(format!("Split num_outputs {other:?} is invalid")),
            None if n > 0 && dim.is_multiple_of(n) => vec![dim / n; n],
            None => {
                return Err(format!(
                    "Split cannot divide dimension {dim} into {n} equal parts"
                ))
            }
        },
    };
    if sizes.len() != n {
        return Err(format!(
            "Split makes {} parts but the node has {n} outputs",
            sizes.len()
        ));
    }
    let mut start = 0;
    sizes
        .iter()
        .map(|&len| {
            let part = x.narrow(axis, start, len).map_err(e);
            start += len;
            part
        })
        .collect()
}

/// Gather along `axis` (default 0): output shape `data[:axis] + indices + data[axis+1:]`;
/// negative indices count from the end, out-of-range ones are errors.
pub(crate) fn gather(node: &Node, data: &Tensor, indices: &Tensor) -> R<Tensor> {
    let axis = resolve_axis(node.attr_int("axis", 0), data.rank(), "Gather axis")?;
    let dim = data.dims()[axis] as i64;
    let idx: Vec<usize> = int_values(indices)?
        .into_iter()
        .map(|i| {
            let j = if i < 0 { i + dim } else { i };
            if (0..dim).contains(&j) {
                Ok(j as usize)
            } else {
                Err(format!(
                    "Gather index {i} is out of range for axis {axis} of {:?}",
                    data.dims()
                ))
            }
        })
        .collect::<R<_>>()?;
    let mut out = data.dims()[..axis].to_vec();
    out.extend_from_slice(indices.dims());
    out.extend_from_slice(&data.dims()[axis + 1..]);
    select(data, &idx, axis, "Gather")?.reshape(out).map_err(e)
}

/// Tile: repeats the input `repeats[i]` times along each axis.
pub(crate) fn tile(x: &Tensor, repeats: &Tensor) -> R<Tensor> {
    let r = int_values(repeats)?;
    if r.len() != x.rank() || r.iter().any(|v| *v < 0) {
        return Err(format!(
            "Tile repeats {r:?} must be {} non-negative values for input {:?}",
            x.rank(),
            x.dims()
        ));
    }
    let r: Vec<usize> = r.iter().map(|v| *v as usize).collect();
    x.repeat(r).map_err(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor_util::i64_tensor;
    use crate::tensor_util::tests::{flat, t};

    fn ramp(dims: &[usize]) -> Tensor {
        let n: usize = dims.iter().product();
        t(&(0..n).map(|v| v as f32).collect::<Vec<_>>(), dims)
    }

    #[test]
    fn concat_negative_axis_and_empty_inputs() {
        let a = ramp(&[2, 2]);
        let b = t(&[9.0, 8.0], &[2, 1]);
        let n = Node::new("c", "Concat", &["a", "b"], &["y"]).with_attr("axis", Attribute::Int(-1));
        let y = concat(&n, &[Some(&a), Some(&b)]).unwrap();
        assert_eq!(y.dims(), &[2, 3]);
        assert_eq!(flat(&y), vec![0.0, 1.0, 9.0, 2.0, 3.0, 8.0]);
        // Shapes built from Shape (f64) and an int64 initializer, plus an empty piece.
        let s = i64_tensor(&[1, 3]).unwrap();
        let empty = i64_tensor(&[]).unwrap();
        let n =
            Node::new("c", "Concat", &["a", "b", "c"], &["y"]).with_attr("axis", Attribute::Int(0));
        let y = concat(&n, &[Some(&s), Some(&empty), Some(&t(&[-1.0], &[1]))]).unwrap();
        assert_eq!(flat(&y), vec![1.0, 3.0, -1.0]);
        let no_axis = Node::new("c", "Concat", &["a"], &["y"]);
        assert!(concat(&no_axis, &[Some(&a)]).unwrap_err().contains("axis"));
    }

    #[test]
    fn split_by_sizes_num_outputs_and_equal_parts() {
        let x = ramp(&[2, 5]);
        // opset 13: sizes as input, axis -1.
        let n = Node::new("s", "Split", &["x", "sp"], &["a", "b"])
            .with_attr("axis", Attribute::Int(-1));
        let sp = i64_tensor(&[2, 3]).unwrap();
        let parts = split(&n, &x, &[Some(&x), Some(&sp)]).unwrap();
        assert_eq!(flat(&parts[0]), vec![0.0, 1.0, 5.0, 6.0]);
        assert_eq!(flat(&parts[1]), vec![2.0, 3.0, 4.0, 7.0, 8.0, 9.0]);
        // opset 11: split attribute.
        let n = Node::new("s", "Split", &["x"], &["a", "b"])
            .with_attr("axis", Attribute::Int(1))
            .with_attr("split", Attribute::Ints(vec![4, 1]));
        let parts = split(&n, &x, &[Some(&x)]).unwrap();
        assert_eq!(parts[1].dims(), &[2, 1]);
        // opset 18: num_outputs 3 on 5 -> 2, 2, 1.
        let n = Node::new("s", "Split", &["x"], &["a", "b", "c"])
            .with_attr("axis", Attribute::Int(1))
            .with_attr("num_outputs", Attribute::Int(3));
        let parts = split(&n, &x, &[Some(&x)]).unwrap();
        let widths: Vec<usize> = parts.iter().map(|p| p.dims()[1]).collect();
        assert_eq!(widths, vec![2, 2, 1]);
        // No sizes: equal parts along the default axis 0.
        let n = Node::new("s", "Split", &["x"], &["a", "b"]);
        let parts = split(&n, &x, &[Some(&x)]).unwrap();
        assert_eq!(flat(&parts[1]), vec![5.0, 6.0, 7.0, 8.0, 9.0]);
        let n = Node::new("s", "Split", &["x"], &["a", "b"]).with_attr("axis", Attribute::Int(1));
        assert!(split(&n, &x, &[Some(&x)])
            .unwrap_err()
            .contains("equal parts"));
        let bad = i64_tensor(&[2, 2]).unwrap();
        let n =
            Node::new("s", "Split", &["x", "sp"], &["a", "b"]).with_attr("axis", Attribute::Int(1));
        assert!(split(&n, &x, &[Some(&x), Some(&bad)])
            .unwrap_err()
            .contains("add up"));
    }

    #[test]
    fn gather_any_axis_negative_and_scalar_indices() {
        let x = ramp(&[3, 4]);
        let n = Node::new("g", "Gather", &["x", "i"], &["y"]);
        // axis 0, indices [[2, -3]] -> [1, 2, 4].
        let idx = Tensor::new(&[[2f64, -3.0]], &candle_core::Device::Cpu).unwrap();
        let y = gather(&n, &x, &idx).unwrap();
        assert_eq!(y.dims(), &[1, 2, 4]);
        assert_eq!(flat(&y), vec![8., 9., 10., 11., 0., 1., 2., 3.]);
        // axis -1 with a scalar index removes the axis.
        let n = n.with_attr("axis", Attribute::Int(-1));
        let y = gather(&n, &x, &t(&[-1.0], &[])).unwrap();
        assert_eq!(y.dims(), &[3]);
        assert_eq!(flat(&y), vec![3.0, 7.0, 11.0]);
        let err = gather(&n, &x, &t(&[4.0], &[1])).unwrap_err();
        assert!(err.contains("index 4 is out of range"), "{err}");
    }

    #[test]
    fn tile_repeats_each_axis() {
        let x = t(&[1.0, 2.0], &[1, 2]);
        let y = tile(&x, &i64_tensor(&[2, 2]).unwrap()).unwrap();
        assert_eq!(y.dims(), &[2, 4]);
        assert_eq!(flat(&y), vec![1., 2., 1., 2., 1., 2., 1., 2.]);
        assert!(tile(&x, &i64_tensor(&[2]).unwrap()).is_err());
    }
}
