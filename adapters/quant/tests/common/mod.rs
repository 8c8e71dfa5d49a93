//! Helpers shared by the fidelity tests that compare qbench's QDQ artifacts with a framework's
//! recorded decisions (fixtures in `tests/fixtures`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use qbench_onnx::{DType, Model, TensorData};
use serde_json::Value;

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn fixture(name: &str) -> Value {
    let p = fixtures().join(name);
    serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap()
}

/// An integer initializer's values.
pub fn ints(t: &TensorData) -> Vec<i64> {
    match t.dtype {
        DType::I8 => t.to_i8().unwrap().into_iter().map(i64::from).collect(),
        DType::U8 => t.to_u8().unwrap().into_iter().map(i64::from).collect(),
        DType::I16 => t.to_i16().unwrap().into_iter().map(i64::from).collect(),
        other => panic!("unexpected integer type {other:?}"),
    }
}

/// Activation tensor -> (scale, zero point) of its QuantizeLinear (a graph output keeps its
/// name on the DequantizeLinear, so its QuantizeLinear reads `<name>_QuantizeLinear_Input`).
pub fn activations(m: &Model) -> BTreeMap<String, (f64, i64)> {
    let g = &m.graph;
    g.nodes
        .iter()
        .filter(|n| n.op_type == "QuantizeLinear" && g.initializer(&n.inputs[0]).is_none())
        .map(|n| {
            let s = g.initializer(&n.inputs[1]).unwrap().to_f32().unwrap()[0];
            let z = ints(g.initializer(&n.inputs[2]).unwrap())[0];
            let t = n.inputs[0].trim_end_matches("_QuantizeLinear_Input");
            (t.to_string(), (f64::from(s), z))
        })
        .collect()
}

/// A JSON array of numbers.
pub fn nums(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// Equal to one f32 rounding: the frameworks keep scales in double, ONNX in float.
pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 2.0 * f64::from(f32::EPSILON) * b.abs()
}
