//! TFLite's per-operator decisions, checked against TensorFlow 2.21's converter: on a graph of
//! Conv+ReLU, add/mul of two tensors and by a scalar, pooling, sigmoid, three concatenations,
//! tanh, hard swish, leaky ReLU, transposed conv + ReLU6, mean, nearest resize, exp, reshape, a
//! fully connected layer and softmax, qbench's `tflite-full-int8` and `tflite-int16x8` recipes,
//! given the ranges the converter's calibration stored, quantize the same tensors with the same
//! parameters and the same integer weights as `TFLiteConverter` (`Optimize.DEFAULT` with a
//! representative dataset). The cases this pins down: int8 concatenations whose parameters
//! travel back through an average pool to the convolution feeding it, fixed-parameter inputs of
//! a concatenation that keep theirs, 16x8 concatenations that requantize their inputs instead,
//! hard swish left in float at 16 bits, EXP quantized, ReLU6 fused into the transposed
//! convolution, per-channel weights for fully connected layers. Fixtures come from
//! `scripts/tflite_reference_graph_ops.py`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use qbench_onnx::{Attribute, Model};
use qbench_quant::recipe::tflite::tflite_qdq;
use qbench_quant::{QType, Range};

mod common;
use common::{activations, close, fixture, fixtures, ints, nums};

fn check(mode: &str, activation: QType) {
    let model = Model::load(fixtures().join("tflite_graph_ops.onnx")).unwrap();
    let fx = fixture(&format!("tflite_graph_ops_{mode}.json"));
    let ranges: HashMap<String, Range> = fx["ranges"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let v = nums(v);
            (k.clone(), Range::new(v[0] as f32, v[1] as f32).unwrap())
        })
        .collect();
    let q = tflite_qdq(&model, activation, &ranges).unwrap();

    let got = activations(&q);
    let want: BTreeMap<String, (f64, i64)> = fx["tensors"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !k.contains("->"))
        .map(|(k, v)| {
            let s = v["scale"].as_f64().unwrap();
            (k.clone(), (s, v["zero_point"].as_i64().unwrap()))
        })
        .collect();
    let floats: BTreeSet<String> = fx["float"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let mut differ = Vec::new();
    for (t, (ws, wz)) in &want {
        match got.get(t) {
            Some((gs, gz)) if close(*gs, *ws) && gz == wz => {}
            other => differ.push(format!("{t}: qbench {other:?}, TFLite ({ws}, {wz})")),
        }
    }
    for t in got.keys() {
        if !want.contains_key(t) {
            differ.push(format!("{t}: quantized by qbench only"));
        }
    }
    // Computed in float and never quantized (a float operator's output that a quantized one
    // reads is quantized there, as in TFLite's QUANTIZE op, and is in `want`).
    for t in floats.iter().filter(|t| !want.contains_key(*t)) {
        assert!(!got.contains_key(t), "{mode} {t}: TFLite keeps it in float");
    }
    assert!(
        differ.is_empty(),
        "{mode}: differences:\n{}",
        differ.join("\n")
    );

    // Weights: per output channel for conv, transposed conv and fully connected layers.
    let want = fx["weights"].as_object().unwrap();
    for (w, e) in want {
        let n = q
            .graph
            .nodes
            .iter()
            .find(|n| n.op_type == "DequantizeLinear" && n.inputs[0] == format!("{w}_quantized"))
            .unwrap_or_else(|| panic!("{mode}: {w} is not quantized"));
        let s = q.graph.initializer(&n.inputs[1]).unwrap().to_f32().unwrap();
        let axis = match n.attr("axis") {
            Some(Attribute::Int(a)) if s.len() > 1 => Some(*a),
            _ => None,
        };
        assert_eq!(axis, e["axis"].as_i64(), "{mode} {w}: axis");
        let ws = nums(&e["scale"]);
        assert_eq!(s.len(), ws.len(), "{mode} {w}: scales");
        for (a, b) in s.iter().zip(&ws) {
            assert!(
                close(f64::from(*a), *b),
                "{mode} {w}: scale {a} vs TFLite {b}"
            );
        }
        let v = ints(q.graph.initializer(&n.inputs[0]).unwrap());
        let wv: Vec<i64> = nums(&e["values"]).iter().map(|x| *x as i64).collect();
        assert_eq!(v, wv, "{mode} {w}: integer values");
    }
}

#[test]
fn int8_matches_the_tflite_converter() {
    check("int8", QType::INT8);
}

#[test]
fn int16x8_matches_the_tflite_converter() {
    check("16x8", QType::INT16);
}
