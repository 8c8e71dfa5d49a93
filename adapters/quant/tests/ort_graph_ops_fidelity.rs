//! ONNX Runtime's per-operator QDQ decisions, reproduced: on a graph of the operators exported
//! CNNs carry (Relu and Clip removal, MaxPool/Transpose/Resize/Reshape/Pad sharing their input's
//! parameters, Mul/Concat/Sigmoid/Softmax quantized, constant operands stored quantized with the
//! activation type, ConvTranspose and MatMul weights, an int32 bias that forces a larger weight
//! scale), our rewrite quantizes the same tensors with the same numbers as ONNX Runtime 1.31.1's
//! `quantize_static`, given the ranges its calibrator computed. Fixtures come from
//! `scripts/ort_reference_graph_ops.py`.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use qbench_onnx::{Attribute, DType, Model, TensorData};
use qbench_quant::qdq::{ort_qdq, OrtQdqConfig};
use qbench_quant::{QType, Range};
use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn fixture(setting: &str) -> Value {
    let p = fixtures().join(format!("ort_graph_ops_{setting}.json"));
    serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap()
}

/// (op, input) -> (scales, zero points, axis, quantized values of an initializer input)
type Qdq = BTreeMap<(String, String), (Vec<f32>, Vec<i64>, Option<i64>, Option<Vec<i64>>)>;

fn ints(t: &TensorData) -> Vec<i64> {
    match t.dtype {
        DType::I8 => t.to_i8().unwrap().into_iter().map(i64::from).collect(),
        DType::U8 => t.to_u8().unwrap().into_iter().map(i64::from).collect(),
        DType::I32 => t.to_i32().unwrap().into_iter().map(i64::from).collect(),
        other => panic!("unexpected integer type {other:?}"),
    }
}

fn ours(m: &Model) -> Qdq {
    let g = &m.graph;
    g.nodes
        .iter()
        .filter(|n| n.op_type == "QuantizeLinear" || n.op_type == "DequantizeLinear")
        .map(|n| {
            let s = g.initializer(&n.inputs[1]).unwrap().to_f32().unwrap();
            let z = ints(g.initializer(&n.inputs[2]).unwrap());
            let axis = match n.attr("axis") {
                Some(Attribute::Int(a)) => Some(*a),
                _ => None,
            };
            let values = g.initializer(&n.inputs[0]).map(ints);
            (
                (n.op_type.clone(), n.inputs[0].clone()),
                (s, z, axis, values),
            )
        })
        .collect()
}

fn reference(fx: &Value) -> Qdq {
    let nums = |v: &Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    fx["qdq"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let key = (
                e["op"].as_str().unwrap().to_string(),
                e["input"].as_str().unwrap().to_string(),
            );
            let s = nums(&e["scale"]).into_iter().map(|x| x as f32).collect();
            let z = nums(&e["zero_point"])
                .into_iter()
                .map(|x| x as i64)
                .collect();
            let values = e
                .get("values")
                .map(|v| nums(v).into_iter().map(|x| x as i64).collect());
            (key, (s, z, e["axis"].as_i64(), values))
        })
        .collect()
}

fn ranges(fx: &Value) -> HashMap<String, Range> {
    fx["ranges"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let v = v.as_array().unwrap();
            let (lo, hi) = (v[0].as_f64().unwrap() as f32, v[1].as_f64().unwrap() as f32);
            (k.clone(), Range::new(lo, hi).unwrap())
        })
        .collect()
}

fn check(setting: &str, cfg: OrtQdqConfig) {
    let model = Model::load(fixtures().join("graph_ops.onnx")).unwrap();
    let fx = fixture(setting);
    let q = ort_qdq(&model, &ranges(&fx), &cfg).unwrap();
    let mut theirs: Vec<String> = fx["op_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap().to_string())
        .collect();
    let mut mine: Vec<String> = q.graph.nodes.iter().map(|n| n.op_type.clone()).collect();
    theirs.sort();
    mine.sort();
    assert_eq!(
        mine, theirs,
        "{setting}: operators differ from ONNX Runtime's"
    );
    let (want, got) = (reference(&fx), ours(&q));
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{setting}: quantized tensors differ"
    );
    for (k, (ws, wz, wa, wv)) in &want {
        let (gs, gz, ga, gv) = &got[k];
        assert_eq!(ga, wa, "{setting} {k:?}: axis");
        // Same ranges in, same arithmetic: scales agree to an f32 ulp or two.
        assert_eq!(gs.len(), ws.len(), "{setting} {k:?}");
        for (a, b) in gs.iter().zip(ws) {
            assert!(
                (a - b).abs() <= 2.0 * f32::EPSILON * b.abs(),
                "{setting} {k:?}: scale {a} vs ORT {b}"
            );
        }
        assert_eq!(gz, wz, "{setting} {k:?}: zero points");
        assert_eq!(gv, wv, "{setting} {k:?}: quantized values");
    }
    // Relu and Clip are gone (their producers write the clamped tensor).
    assert!(!q
        .graph
        .nodes
        .iter()
        .any(|n| n.op_type == "Relu" || n.op_type == "Clip"));
}

#[test]
fn s8s8_per_tensor_matches_onnxruntime() {
    check("s8s8", OrtQdqConfig::default());
}

#[test]
fn s8s8_per_channel_matches_onnxruntime() {
    check(
        "s8s8-per-channel",
        OrtQdqConfig {
            per_channel: true,
            ..OrtQdqConfig::default()
        },
    );
}

#[test]
fn u8s8_per_channel_matches_onnxruntime() {
    check(
        "u8s8-per-channel",
        OrtQdqConfig {
            activation: QType::UINT8,
            per_channel: true,
            ..OrtQdqConfig::default()
        },
    );
}

#[test]
fn u8u8_matches_onnxruntime() {
    check(
        "u8u8",
        OrtQdqConfig {
            activation: QType::UINT8,
            weight: QType::UINT8,
            weight_symmetric: false,
            ..OrtQdqConfig::default()
        },
    );
}

#[test]
fn reduce_range_matches_onnxruntime() {
    check(
        "s8s8-reduce-range",
        OrtQdqConfig {
            reduce_range: true,
            ..OrtQdqConfig::default()
        },
    );
}
