//! Our ONNX Runtime static recipes against ONNX Runtime 1.31.1's own `quantize_static` on the
//! same model and calibration split (fixtures from `scripts/ort_reference_qparams.py`): the same
//! tensors are quantized, with the same types, axes, scales and zero points.

mod common;

use std::collections::BTreeMap;

use qbench::calibration::CandleCalibration;
use qbench::scenario::Scenario;
use qbench_onnx::{Attribute, Model};
use qbench_quant::recipe::{OrtCalibration, OrtDynamic, OrtStatic, Technique};
use serde_json::Value;

/// (op, quantized tensor) -> (scales, zero points, zero-point type, axis)
type Qdq = BTreeMap<(String, String), (Vec<f32>, Vec<i64>, String, Option<i64>)>;

fn ours(m: &Model) -> Qdq {
    let g = &m.graph;
    g.nodes
        .iter()
        .filter(|n| n.op_type == "QuantizeLinear" || n.op_type == "DequantizeLinear")
        .map(|n| {
            let s = g.initializer(&n.inputs[1]).unwrap().to_f32().unwrap();
            let zt = g.initializer(&n.inputs[2]).unwrap();
            let (z, ty): (Vec<i64>, &str) = match zt.dtype {
                qbench_onnx::DType::I8 => (
                    zt.to_i8().unwrap().into_iter().map(i64::from).collect(),
                    "int8",
                ),
                qbench_onnx::DType::I32 => (
                    zt.to_i32().unwrap().into_iter().map(i64::from).collect(),
                    "int32",
                ),
                other => panic!("unexpected zero point type {other:?}"),
            };
            let axis = match n.attr("axis") {
                Some(Attribute::Int(a)) => Some(*a),
                _ => None,
            };
            (
                (n.op_type.clone(), n.inputs[0].clone()),
                (s, z, ty.to_string(), axis),
            )
        })
        .collect()
}

fn reference(fx: &Value) -> Qdq {
    fx["qdq"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = e["scale"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            let z = e["zero_point"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .collect();
            let key = (
                e["op"].as_str().unwrap().to_string(),
                e["input"].as_str().unwrap().to_string(),
            );
            (
                key,
                (
                    s,
                    z,
                    e["zero_point_type"].as_str().unwrap().to_string(),
                    e["axis"].as_i64(),
                ),
            )
        })
        .collect()
}

/// The resnet model quantized by `technique`, calibrated on the scenario's calibration split.
fn quantized(technique: &dyn Technique) -> Model {
    let sc = Scenario::load_resolved(&common::scenarios(), "resnet").unwrap();
    let fp32 = sc.fp32_artifact().unwrap();
    let model = Model::load(&fp32.path).unwrap();
    let mut calib = CandleCalibration::new(&fp32, sc.calib_data().unwrap()).unwrap();
    technique.apply(&model, &mut calib).unwrap().model
}

/// A fixture written by ONNX Runtime's own tool.
fn fixture(name: &str) -> Value {
    let path = common::scenarios()
        .join("../adapters/quant/tests/fixtures")
        .join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Our graph has the same operators as ORT's, counted with multiplicity.
fn assert_same_operators(m: &Model, fx: &Value) {
    let mut theirs: Vec<String> = fx["op_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap().to_string())
        .collect();
    let mut mine: Vec<String> = m.graph.nodes.iter().map(|n| n.op_type.clone()).collect();
    theirs.sort();
    mine.sort();
    assert_eq!(
        mine, theirs,
        "operator multiset differs from ONNX Runtime's"
    );
}

// Activation ranges come from our FP32 run (candle) and ORT's (its CPU kernels): float sums in
// another order can move a min/max by an ulp or so, hence a tolerance on activation scales and
// one step on zero points.
const RTOL: f32 = 1e-5;

fn check(technique: OrtStatic, fixture_name: &str) {
    let m = quantized(&technique);
    let fx = fixture(fixture_name);
    let (want, got) = (reference(&fx), ours(&m));
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "quantized tensors differ"
    );
    assert_same_operators(&m, &fx);
    for (k, (ws, wz, wt, wa)) in &want {
        let (gs, gz, gt, ga) = &got[k];
        assert_eq!((gt, ga), (wt, wa), "{k:?}: type/axis");
        assert_eq!(gs.len(), ws.len(), "{k:?}");
        for (a, b) in gs.iter().zip(ws) {
            assert!(
                (a - b).abs() <= RTOL * b.abs(),
                "{k:?}: scale {a} vs ORT {b}"
            );
        }
        assert!(
            gz.iter().zip(wz).all(|(a, b)| (a - b).abs() <= 1),
            "{k:?}: zero point {gz:?} vs ORT {wz:?}"
        );
    }
}

fn ort_static(name: &'static str, calibration: OrtCalibration, per_channel: bool) -> OrtStatic {
    OrtStatic {
        per_channel,
        ..OrtStatic::defaults(name, calibration)
    }
}

#[test]
fn ort_static_minmax_matches_onnxruntime() {
    check(
        ort_static("ort-static-minmax", OrtCalibration::MinMax, false),
        "ort_ort-static-minmax.json",
    );
}

#[test]
fn ort_static_minmax_per_channel_matches_onnxruntime() {
    check(
        ort_static(
            "ort-static-minmax-per-channel",
            OrtCalibration::MinMax,
            true,
        ),
        "ort_ort-static-minmax-per-channel.json",
    );
}

#[test]
fn ort_static_percentile_matches_onnxruntime() {
    check(
        ort_static("ort-static-percentile", OrtCalibration::Percentile, false),
        "ort_ort-static-percentile.json",
    );
}

#[test]
fn ort_static_entropy_matches_onnxruntime() {
    check(
        ort_static("ort-static-entropy", OrtCalibration::Entropy, false),
        "ort_ort-static-entropy.json",
    );
}

#[test]
fn ort_dynamic_has_onnxruntime_structure() {
    let m = quantized(&OrtDynamic);
    let fx = fixture("ort_ort-dynamic.json");
    assert_same_operators(&m, &fx);
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let theirs = sorted(
        fx["qdq"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["input"].as_str().unwrap().to_string())
            .collect(),
    );
    let mine = sorted(
        m.graph
            .nodes
            .iter()
            .filter(|n| n.op_type == "DynamicQuantizeLinear")
            .map(|n| n.inputs[0].clone())
            .collect(),
    );
    assert_eq!(mine, theirs, "tensors quantized at run time");
    let fc = m.graph.initializer("fc.weight_quantized").unwrap();
    assert_eq!(
        (fc.dtype, fc.dims.clone()),
        (qbench_onnx::DType::I8, vec![64, 10]),
        "MatMulInteger takes W^T"
    );
}
