//! BatchNormalization in inference mode over `[N, C, ...]` (rank >= 2, channel axis 1):
//! `y = (x - mean) / sqrt(var + epsilon) * scale + B`, epsilon 1e-5 by default. Computed as
//! ONNX Runtime does, per channel `a = scale / sqrt(var + epsilon)`, `b = B - mean * a`, then
//! `y = x * a + b` (the same formula; roundings may differ by an ulp). Training mode
//! (`training_mode = 1` or the running-statistics outputs) and the opset-6 `spatial = 0` form
//! are rejected.

use candle_core::Tensor;
use qbench_onnx::Node;

use crate::tensor_util::{e, promote, unsupported, R};

/// Static check of a BatchNormalization node.
pub(crate) fn check(node: &Node) -> R<()> {
    if node.attr_int("training_mode", 0) != 0 {
        return Err("BatchNormalization with training_mode 1".into());
    }
    if node.attr_int("spatial", 1) == 0 {
        return Err("BatchNormalization with spatial 0".into());
    }
    if node.outputs.iter().skip(1).any(|o| !o.is_empty()) {
        return Err("BatchNormalization with training outputs (running mean/var)".into());
    }
    Ok(())
}

/// BatchNormalization with inputs X, scale, B, input_mean, input_var (each `[C]`).
pub(crate) fn batch_norm(node: &Node, inputs: &[Option<&Tensor>]) -> R<Tensor> {
    check(node).map_err(unsupported)?;
    let get = |i: usize| {
        inputs
            .get(i)
            .copied()
            .flatten()
            .ok_or_else(|| format!("BatchNormalization input {i} is missing"))
    };
    let x = get(0)?;
    if x.rank() < 2 {
        return Err(format!(
            "BatchNormalization needs an input [N, C, ...], got {:?}",
            x.dims()
        ));
    }
    let c = x.dims()[1];
    let params = (1..5)
        .map(|i| {
            let p = get(i)?;
            if p.elem_count() != c || p.rank() != 1 {
                return Err(format!(
                    "BatchNormalization parameter {i} has shape {:?}, expected [{c}]",
                    p.dims()
                ));
            }
            p.to_dtype(x.dtype()).map_err(e)
        })
        .collect::<R<Vec<_>>>()?;
    let (scale, bias, mean, var) = (&params[0], &params[1], &params[2], &params[3]);
    let eps = node.attr_float("epsilon", 1e-5) as f64;
    let a = (var + eps)
        .and_then(|v| v.sqrt())
        .and_then(|s| scale.div(&s))
        .map_err(e)?;
    let b = mean.mul(&a).and_then(|m| bias.sub(&m)).map_err(e)?;
    let mut shape = vec![1usize; x.rank()];
    shape[1] = c;
    let v = promote(&[x, &a.reshape(shape.clone()).map_err(e)?])?;
    let bb = b.reshape(shape).map_err(e)?;
    v[0].broadcast_mul(&v[1])
        .and_then(|y| y.broadcast_add(&bb.to_dtype(y.dtype())?))
        .map_err(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor_util::tests::{flat, t};
    use qbench_onnx::Attribute;

    fn bn() -> Node {
        Node::new(
            "bn",
            "BatchNormalization",
            &["x", "s", "b", "m", "v"],
            &["y"],
        )
    }

    #[test]
    fn normalizes_each_channel() {
        // Channel 0: scale 2, B 1, mean 3, var 4 -> (x - 3) / 2 * 2 + 1 = x - 2.
        // Channel 1: scale 1, B 0, mean 0, var 0.25 -> 2x.
        let p = |a: f32, b: f32| t(&[a, b], &[2]);
        let (s, b, m, v) = (p(2., 1.), p(1., 0.), p(3., 0.), p(4., 0.25));
        let x = t(&[1., 2., 3., 4., 5., 6., 7., 8.], &[1, 2, 2, 2]);
        let n = bn().with_attr("epsilon", Attribute::Float(0.0));
        let ins = |x: &Tensor| {
            batch_norm(&n, &[Some(x), Some(&s), Some(&b), Some(&m), Some(&v)]).unwrap()
        };
        assert_eq!(flat(&ins(&x)), vec![-1., 0., 1., 2., 10., 12., 14., 16.]);
        // Rank 2 ([N, C]) and rank 5 work the same way.
        assert_eq!(flat(&ins(&t(&[5., 5.], &[1, 2]))), vec![3., 10.]);
        let y = ins(&t(&[5., 5.], &[1, 2, 1, 1, 1]));
        assert_eq!(
            (y.dims(), flat(&y)),
            (&[1usize, 2, 1, 1, 1][..], vec![3., 10.])
        );
        // Default epsilon 1e-5: var 1, scale 1 -> x / sqrt(1 + 1e-5).
        let one = t(&[1.0], &[1]);
        let zero = t(&[0.0], &[1]);
        let y = batch_norm(
            &bn(),
            &[
                Some(&t(&[2.0], &[1, 1])),
                Some(&one),
                Some(&zero),
                Some(&zero),
                Some(&one),
            ],
        )
        .unwrap();
        let want = 2.0 / (1.0f64 + 1e-5).sqrt();
        assert!((flat(&y)[0] as f64 - want).abs() < 1e-6, "{:?}", flat(&y));
    }

    #[test]
    fn training_forms_and_bad_shapes_are_errors() {
        let p = t(&[1.0, 1.0], &[2]);
        let x = t(&[0.0; 4], &[1, 2, 2]);
        let ins = [Some(&x), Some(&p), Some(&p), Some(&p), Some(&p)];
        let n = bn().with_attr("training_mode", Attribute::Int(1));
        assert_eq!(
            batch_norm(&n, &ins).unwrap_err(),
            "unsupported: BatchNormalization with training_mode 1"
        );
        let mut n = bn();
        n.outputs.push("running_mean".into());
        assert!(batch_norm(&n, &ins)
            .unwrap_err()
            .contains("training outputs"));
        let n = bn().with_attr("spatial", Attribute::Int(0));
        assert!(batch_norm(&n, &ins).unwrap_err().contains("spatial 0"));
        let three = t(&[1.0; 3], &[3]);
        let err = batch_norm(
            &bn(),
            &[Some(&x), Some(&three), Some(&p), Some(&p), Some(&p)],
        );
        assert!(err.unwrap_err().contains("expected [2]"));
    }
}
