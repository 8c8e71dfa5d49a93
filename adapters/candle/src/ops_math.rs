//! Elementwise arithmetic with multidirectional broadcasting: Sub, Div, Pow and the variadic
//! Max/Min. Operands are brought to a common holder first (f64 if either is an int32/int64
//! value). Integer Div truncates toward zero, as ONNX Runtime's integer division.

use candle_core::{DType, Device, Tensor};

use crate::tensor_util::{e, promote, R};

/// Sub: `a - b`.
pub(crate) fn sub(a: &Tensor, b: &Tensor) -> R<Tensor> {
    let v = promote(&[a, b])?;
    v[0].broadcast_sub(&v[1]).map_err(e)
}

/// Div: `a / b`, truncated toward zero when the result is an integer type (`integer`).
pub(crate) fn div(a: &Tensor, b: &Tensor, integer: bool) -> R<Tensor> {
    let v = promote(&[a, b])?;
    let q = v[0].broadcast_div(&v[1]).map_err(e)?;
    if !integer {
        return Ok(q);
    }
    let (down, up) = (q.floor().map_err(e)?, q.ceil().map_err(e)?);
    q.ge(0.0).and_then(|m| m.where_cond(&down, &up)).map_err(e)
}

/// Pow: `a ^ b` elementwise (`powf`, so negative bases with integral exponents work), in the
/// base's precision. A one-element exponent that does not raise the rank uses candle's `powf`.
pub(crate) fn pow(a: &Tensor, b: &Tensor) -> R<Tensor> {
    if b.elem_count() == 1 && b.rank() <= a.rank() {
        let exp = crate::tensor_util::scalar(b, "Pow exponent")?;
        return a.powf(exp).map_err(e);
    }
    let shape = a
        .shape()
        .broadcast_shape_binary_op(b.shape(), "Pow")
        .map_err(e)?;
    let flat = |t: &Tensor| -> R<Vec<f64>> {
        t.broadcast_as(shape.clone())
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_dtype(DType::F64))
            .and_then(|t| t.to_vec1::<f64>())
            .map_err(e)
    };
    let (x, y) = (flat(a)?, flat(b)?);
    let dev = &Device::Cpu;
    match a.dtype() {
        DType::F64 => {
            let v: Vec<f64> = x.iter().zip(&y).map(|(x, y)| x.powf(*y)).collect();
            Tensor::from_vec(v, shape, dev).map_err(e)
        }
        _ => {
            let v: Vec<f32> = x
                .iter()
                .zip(&y)
                .map(|(x, y)| (*x as f32).powf(*y as f32))
                .collect();
            Tensor::from_vec(v, shape, dev).map_err(e)
        }
    }
}

/// Max (`max == true`) or Min of one or more inputs, with broadcasting.
pub(crate) fn extremum(op: &str, inputs: &[Option<&Tensor>], max: bool) -> R<Tensor> {
    let xs: Vec<&Tensor> = inputs
        .iter()
        .map(|x| x.ok_or_else(|| format!("{op} has a missing input")))
        .collect::<R<_>>()?;
    if xs.is_empty() {
        return Err(format!("{op} needs at least one input"));
    }
    let xs = promote(&xs)?;
    let mut y = xs[0].clone();
    for x in &xs[1..] {
        y = if max {
            y.broadcast_maximum(x)
        } else {
            y.broadcast_minimum(x)
        }
        .map_err(e)?;
    }
    Ok(y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::run;
    use crate::tensor_util::tests::{flat, t};
    use crate::types::NodeTypes;
    use qbench_onnx::{DType as D, Node};

    fn f64s(v: &[f64]) -> Tensor {
        Tensor::new(v, &Device::Cpu).unwrap()
    }

    fn run_op(op: &str, xs: &[&Tensor], ty: Option<D>) -> R<Tensor> {
        let names: Vec<String> = (0..xs.len()).map(|i| format!("x{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let node = Node::new("m", op, &names, &["y"]);
        let types = NodeTypes {
            inputs: vec![ty; xs.len()],
            outputs: vec![ty],
        };
        let inputs: Vec<Option<&Tensor>> = xs.iter().map(|x| Some(*x)).collect();
        run(&node, &inputs, &types).map(|mut v| v.remove(0))
    }

    #[test]
    fn sub_and_div_broadcast() {
        let a = t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
        let b = t(&[1.0, 2.0, 4.0], &[3]);
        let y = run_op("Sub", &[&a, &b], Some(D::F32)).unwrap();
        assert_eq!(flat(&y), vec![0.0, 0.0, -1.0, 3.0, 3.0, 2.0]);
        let y = run_op("Div", &[&a, &b], Some(D::F32)).unwrap();
        assert_eq!(flat(&y), vec![1.0, 1.0, 0.75, 4.0, 2.5, 1.5]);
        // int64 division truncates toward zero: 7/2 = 3, -7/2 = -3, 7/-2 = -3.
        let y = run_op(
            "Div",
            &[&f64s(&[7.0, -7.0, 7.0]), &f64s(&[2.0, 2.0, -2.0])],
            Some(D::I64),
        )
        .unwrap();
        assert_eq!(y.dtype(), DType::F64);
        assert_eq!(flat(&y), vec![3.0, -3.0, -3.0]);
        // Mixed holders (f32 and f64) are promoted instead of failing.
        let y = sub(&t(&[1.5], &[1]), &f64s(&[0.5])).unwrap();
        assert_eq!(flat(&y), vec![1.0]);
    }

    #[test]
    fn pow_scalar_and_elementwise() {
        let a = t(&[-2.0, 0.5, 3.0], &[3]);
        let y = run_op("Pow", &[&a, &t(&[2.0], &[])], Some(D::F32)).unwrap();
        assert_eq!(flat(&y), vec![4.0, 0.25, 9.0]);
        // Integral exponent on a negative base; int64 exponent (f64 holder) on a float base.
        let y = pow(&a, &f64s(&[3.0])).unwrap();
        assert_eq!(flat(&y), vec![-8.0, 0.125, 27.0]);
        let y = pow(&a, &t(&[1.0, -1.0, 2.0], &[3])).unwrap();
        assert_eq!(flat(&y), vec![-2.0, 2.0, 9.0]);
        // The exponent's shape can raise the rank: [3] ^ [2, 1] -> [2, 3].
        let y = pow(&a, &t(&[1.0, 2.0], &[2, 1])).unwrap();
        assert_eq!(y.dims(), &[2, 3]);
        assert_eq!(flat(&y), vec![-2.0, 0.5, 3.0, 4.0, 0.25, 9.0]);
        let err = pow(&a, &t(&[1.0, 2.0], &[2])).unwrap_err();
        assert!(err.contains("Pow"), "{err}");
    }

    #[test]
    fn variadic_max_and_min() {
        let a = t(&[1.0, 5.0, -1.0], &[3]);
        let b = t(&[2.0], &[1]);
        let c = t(&[0.0, 0.0, 0.0, 9.0, 9.0, 9.0], &[2, 3]);
        let y = run_op("Max", &[&a, &b, &c], Some(D::F32)).unwrap();
        assert_eq!(y.dims(), &[2, 3]);
        assert_eq!(flat(&y), vec![2.0, 5.0, 2.0, 9.0, 9.0, 9.0]);
        let y = run_op("Min", &[&a, &b], Some(D::F32)).unwrap();
        assert_eq!(flat(&y), vec![1.0, 2.0, -1.0]);
        let y = run_op("Max", &[&a], Some(D::F32)).unwrap();
        assert_eq!(flat(&y), flat(&a));
        assert!(extremum("Max", &[], true).is_err());
    }
}
