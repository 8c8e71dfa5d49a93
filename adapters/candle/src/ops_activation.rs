//! Activations with attributes (Sigmoid, HardSigmoid, HardSwish, LeakyRelu, Elu), Softmax and
//! inference-mode Dropout. The attribute-free unary functions (Tanh, Erf, Exp, Log, Sqrt, Neg,
//! Abs, Reciprocal) map to candle's unary ops directly in `ops::run`; their tests are here.

use candle_core::Tensor;
use qbench_onnx::Node;

use crate::tensor_util::{e, resolve_axis, unsupported, R};

/// Sigmoid: `1 / (1 + exp(-x))` (0 for very negative x, where `exp(-x)` overflows to inf).
pub(crate) fn sigmoid(x: &Tensor) -> R<Tensor> {
    x.neg()
        .and_then(|t| t.exp())
        .and_then(|t| t + 1.0)
        .and_then(|t| t.recip())
        .map_err(e)
}

/// `max(0, min(1, alpha * x + beta))`.
fn hard_sigmoid_with(x: &Tensor, alpha: f32, beta: f32) -> R<Tensor> {
    x.affine(alpha as f64, beta as f64)
        .and_then(|t| t.maximum(0.0))
        .and_then(|t| t.minimum(1.0))
        .map_err(e)
}

/// HardSigmoid: `max(0, min(1, alpha * x + beta))`, alpha 0.2 and beta 0.5 by default.
pub(crate) fn hard_sigmoid(node: &Node, x: &Tensor) -> R<Tensor> {
    hard_sigmoid_with(
        x,
        node.attr_float("alpha", 0.2),
        node.attr_float("beta", 0.5),
    )
}

/// HardSwish: `x * HardSigmoid(x)` with alpha = 1/6 (as float32) and beta = 0.5, the
/// operator's function body in the specification; `x * max(0, min(1, x/6 + 0.5))` up to the
/// rounding of 1/6.
pub(crate) fn hard_swish(x: &Tensor) -> R<Tensor> {
    let g = hard_sigmoid_with(x, 1.0 / 6.0, 0.5)?;
    (x * g).map_err(e)
}

/// LeakyRelu: `x` for `x >= 0`, else `alpha * x` (alpha 0.01 by default).
pub(crate) fn leaky_relu(node: &Node, x: &Tensor) -> R<Tensor> {
    let alpha = node.attr_float("alpha", 0.01) as f64;
    let neg = x.affine(alpha, 0.0).map_err(e)?;
    x.ge(0.0).and_then(|m| m.where_cond(x, &neg)).map_err(e)
}

/// Elu: `x` for `x >= 0`, else `alpha * (exp(x) - 1)` (alpha 1.0 by default).
pub(crate) fn elu(node: &Node, x: &Tensor) -> R<Tensor> {
    x.elu(node.attr_float("alpha", 1.0) as f64).map_err(e)
}

/// Internal attribute the session sets on Softmax nodes of models below opset 13.
pub(crate) const LEGACY_SOFTMAX: &str = "qbench.legacy_softmax";

/// Softmax along `axis` (default -1, opset 13 semantics): `exp(x - max) / sum(exp(x - max))`.
/// Below opset 13 (the session marks such nodes with [`LEGACY_SOFTMAX`]) the input is coerced to
/// 2-D at `axis` (default 1), normalized over the second dimension and reshaped back.
pub(crate) fn softmax(node: &Node, x: &Tensor) -> R<Tensor> {
    if node.attr_int(LEGACY_SOFTMAX, 0) == 1 {
        let r = x.rank() as i64;
        let axis = node.attr_int("axis", 1);
        let axis = if axis < 0 { axis + r } else { axis };
        if axis < 0 || axis > r {
            return Err(format!("Softmax axis {axis} is out of range for rank {r}"));
        }
        let dims = x.dims().to_vec();
        let (outer, inner) = dims.split_at(axis as usize);
        let flat = x
            .reshape((
                outer.iter().product::<usize>(),
                inner.iter().product::<usize>(),
            ))
            .map_err(e)?;
        return softmax_axis(&flat, 1).and_then(|y| y.reshape(dims).map_err(e));
    }
    let axis = resolve_axis(node.attr_int("axis", -1), x.rank(), "Softmax axis")?;
    softmax_axis(x, axis)
}

fn softmax_axis(x: &Tensor, axis: usize) -> R<Tensor> {
    let m = x.max_keepdim(axis).map_err(e)?;
    let ex = x.broadcast_sub(&m).and_then(|t| t.exp()).map_err(e)?;
    let s = ex.sum_keepdim(axis).map_err(e)?;
    ex.broadcast_div(&s).map_err(e)
}

/// Static check of a Dropout node: only the inference form (no mask output) runs.
pub(crate) fn check_dropout(node: &Node) -> R<()> {
    if node.outputs.get(1).is_some_and(|o| !o.is_empty()) {
        return Err("Dropout with mask output".into());
    }
    Ok(())
}

/// Dropout in inference: the identity. A `training_mode` input that is true is refused.
pub(crate) fn dropout(node: &Node, x: &Tensor, training: Option<&Tensor>) -> R<Tensor> {
    check_dropout(node).map_err(unsupported)?;
    if let Some(t) = training {
        if crate::tensor_util::scalar(t, "Dropout training_mode")? != 0.0 {
            return Err(unsupported("Dropout with training_mode true"));
        }
    }
    Ok(x.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::run;
    use crate::tensor_util::tests::{flat, t};
    use crate::types::NodeTypes;
    use qbench_onnx::{Attribute, DType as D};

    /// Runs a one-input node through `ops::run` (the dispatch) on float32 values.
    fn run1(node: &Node, x: &Tensor) -> Vec<f32> {
        let ty = NodeTypes {
            inputs: vec![Some(D::F32)],
            outputs: vec![Some(D::F32)],
        };
        flat(&run(node, &[Some(x)], &ty).unwrap()[0])
    }

    fn op(name: &str) -> Node {
        Node::new("a", name, &["x"], &["y"])
    }

    fn close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= 1e-6 * y.abs().max(1.0), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn sigmoid_tanh_and_hard_variants() {
        let x = t(&[-100.0, -1.0, 0.0, 1.0, 100.0], &[5]);
        let s = run1(&op("Sigmoid"), &x);
        let e1 = 1.0 / (1.0 + (-1f32).exp());
        close(&s, &[0.0, 1.0 - e1, 0.5, e1, 1.0]);
        let th = run1(&op("Tanh"), &x);
        close(&th, &[-1.0, -(1f32.tanh()), 0.0, 1f32.tanh(), 1.0]);
        // HardSigmoid defaults alpha 0.2, beta 0.5: 0.2x + 0.5 clipped to [0, 1].
        let x = t(&[-3.0, -2.5, 0.0, 1.0, 2.5, 3.0], &[6]);
        close(
            &run1(&op("HardSigmoid"), &x),
            &[0.0, 0.0, 0.5, 0.7, 1.0, 1.0],
        );
        let hs = op("HardSigmoid")
            .with_attr("alpha", Attribute::Float(0.5))
            .with_attr("beta", Attribute::Float(0.25));
        close(&run1(&hs, &x), &[0.0, 0.0, 0.25, 0.75, 1.0, 1.0]);
        // HardSwish: x * clip(x/6 + 0.5, 0, 1): 0 below -3, x above 3.
        let x = t(&[-4.0, -3.0, -1.5, 0.0, 1.5, 3.0, 4.0], &[7]);
        close(
            &run1(&op("HardSwish"), &x),
            &[0.0, 0.0, -0.375, 0.0, 1.125, 3.0, 4.0],
        );
    }

    #[test]
    fn leaky_relu_and_elu_defaults_and_alpha() {
        let x = t(&[-2.0, -0.5, 0.0, 3.0], &[4]);
        close(&run1(&op("LeakyRelu"), &x), &[-0.02, -0.005, 0.0, 3.0]);
        let lr = op("LeakyRelu").with_attr("alpha", Attribute::Float(2.0));
        assert_eq!(run1(&lr, &x), vec![-4.0, -1.0, 0.0, 3.0]);
        let em1 = (-2f32).exp() - 1.0;
        close(
            &run1(&op("Elu"), &x),
            &[em1, (-0.5f32).exp() - 1.0, 0.0, 3.0],
        );
        let el = op("Elu").with_attr("alpha", Attribute::Float(0.5));
        close(
            &run1(&el, &x),
            &[0.5 * em1, 0.5 * ((-0.5f32).exp() - 1.0), 0.0, 3.0],
        );
    }

    #[test]
    fn plain_unary_functions() {
        let x = t(&[0.25, 1.0, 4.0], &[3]);
        assert_eq!(run1(&op("Sqrt"), &x), vec![0.5, 1.0, 2.0]);
        assert_eq!(run1(&op("Reciprocal"), &x), vec![4.0, 1.0, 0.25]);
        assert_eq!(run1(&op("Neg"), &x), vec![-0.25, -1.0, -4.0]);
        close(&run1(&op("Log"), &x), &[-(4f32.ln()), 0.0, 4f32.ln()]);
        close(
            &run1(&op("Exp"), &x),
            &[0.25f32.exp(), 1f32.exp(), 4f32.exp()],
        );
        let x = t(&[-1.5, 0.0, 2.0], &[3]);
        assert_eq!(run1(&op("Abs"), &x), vec![1.5, 0.0, 2.0]);
        // erf(0) = 0, erf(-x) = -erf(x), erf(0.5) = 0.5204998778, erf(2) = 0.9953222650.
        let x = t(&[-0.5, 0.0, 0.5, 2.0], &[4]);
        close(
            &run1(&op("Erf"), &x),
            &[-0.520_499_9, 0.0, 0.520_499_9, 0.995_322_3],
        );
    }

    #[test]
    fn softmax_default_and_negative_axis() {
        let x = t(&[1.0, 2.0, 3.0, 1.0, 1.0, 1.0], &[2, 3]);
        let (a, b, c) = (1f32.exp(), 2f32.exp(), 3f32.exp());
        let s = a + b + c;
        let third = 1.0 / 3.0;
        // Default axis -1: each row sums to one.
        close(
            &run1(&op("Softmax"), &x),
            &[a / s, b / s, c / s, third, third, third],
        );
        // axis 0: each column; large values do not overflow (the max is subtracted).
        let x = t(&[1000.0, 0.0, 1000.0, 0.0], &[2, 2]);
        let sm = op("Softmax").with_attr("axis", Attribute::Int(0));
        close(&run1(&sm, &x), &[0.5, 0.5, 0.5, 0.5]);
        let sm = op("Softmax").with_attr("axis", Attribute::Int(-2));
        close(&run1(&sm, &x), &[0.5, 0.5, 0.5, 0.5]);
        let sm = op("Softmax").with_attr("axis", Attribute::Int(2));
        let ty = NodeTypes::default();
        let err = run(&sm, &[Some(&x)], &ty).unwrap_err();
        assert!(err.contains("Softmax axis 2 is out of range"), "{err}");
        // Before opset 13: coerced to 2-D at axis 1, so a [1, 2, 2] input is one row of 4.
        let x3 = Tensor::from_vec(
            vec![0f32, 1.0, 2.0, 3.0],
            (1, 2, 2),
            &candle_core::Device::Cpu,
        )
        .unwrap();
        let legacy = op("Softmax").with_attr(LEGACY_SOFTMAX, Attribute::Int(1));
        let y = run1(&legacy, &x3);
        let z: f32 = (0..4).map(|i| (i as f32).exp()).sum();
        for (i, v) in y.iter().enumerate() {
            assert!((v - (i as f32).exp() / z).abs() < 1e-6, "{y:?}");
        }
    }

    #[test]
    fn dropout_is_identity_in_inference() {
        let x = t(&[1.0, -2.0], &[2]);
        assert_eq!(run1(&op("Dropout"), &x), vec![1.0, -2.0]);
        let with_mask = Node::new("d", "Dropout", &["x"], &["y", "mask"]);
        let err = run(&with_mask, &[Some(&x)], &NodeTypes::default()).unwrap_err();
        assert_eq!(err, "unsupported: Dropout with mask output");
    }
}
