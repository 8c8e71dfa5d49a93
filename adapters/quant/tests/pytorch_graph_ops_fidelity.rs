//! PyTorch's per-operator decisions, reproduced: on a graph of Conv+ReLU, add/mul of two tensors
//! and by a scalar, pooling, sigmoid/hardsigmoid/tanh/softmax, three `cat`s (one whose first
//! input has fixed parameters, one fed by a float op), hardswish, leaky relu, ConvTranspose,
//! ReLU6, mean, interpolate, exp, flatten, reshape and Linear, qbench's PyTorch recipes quantize
//! the same tensors with the same run-time parameters and the same integer weights as torch
//! 2.15's FX graph mode (`prepare_fx` + `convert_fx`, x86 and qnnpack default qconfig
//! mappings), given the ranges torch's observers settled on. Fixtures come from
//! `scripts/pytorch_reference_graph_ops.py`.

use std::collections::BTreeMap;

use qbench_onnx::{Attribute, Model};
use qbench_quant::recipe::pytorch::torch_qdq;
use qbench_quant::recipe::TorchEngine;
use qbench_quant::Range;
use serde_json::Value;

mod common;
use common::{activations, close, fixture, fixtures, ints, nums};

/// Weight -> (scales, zero points, axis, integer values) of its DequantizeLinear.
type Weights = BTreeMap<String, (Vec<f64>, Vec<i64>, Option<i64>, Vec<i64>)>;

fn weights(m: &Model) -> Weights {
    let g = &m.graph;
    g.nodes
        .iter()
        .filter(|n| n.op_type == "DequantizeLinear" && n.inputs[0].ends_with(".weight_quantized"))
        .map(|n| {
            let s = g.initializer(&n.inputs[1]).unwrap().to_f32().unwrap();
            let z = ints(g.initializer(&n.inputs[2]).unwrap());
            let axis = match n.attr("axis") {
                Some(Attribute::Int(a)) if s.len() > 1 => Some(*a),
                _ => None,
            };
            let v = ints(g.initializer(&n.inputs[0]).unwrap());
            let name = n.inputs[0].trim_end_matches("_quantized").to_string();
            (name, (s.into_iter().map(f64::from).collect(), z, axis, v))
        })
        .collect()
}

fn check(backend: &str, engine: TorchEngine) {
    let model = Model::load(fixtures().join("torch_graph_ops.onnx")).unwrap();
    let fx = fixture(&format!("torch_graph_ops_{backend}.json"));
    let ranges = fx["ranges"].as_object().unwrap();
    let q = torch_qdq(&model, engine, |o| {
        let r = ranges.get(o)?.as_array()?;
        Range::new(r[0].as_f64()? as f32, r[1].as_f64()? as f32).ok()
    })
    .unwrap();

    let got = activations(&q);
    let want: BTreeMap<String, (f64, i64)> = fx["tensors"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let s = v["scale"].as_f64().unwrap();
            (k.clone(), (s, v["zero_point"].as_i64().unwrap()))
        })
        .collect();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{backend}: quantized tensors differ from torch's"
    );
    for (t, (ws, wz)) in &want {
        let (gs, gz) = got[t];
        assert!(close(gs, *ws), "{backend} {t}: scale {gs} vs torch {ws}");
        assert_eq!(gz, *wz, "{backend} {t}: zero point");
    }

    let got = weights(&q);
    let want = fx["weights"].as_object().unwrap();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{backend}: quantized weights"
    );
    for (w, (gs, gz, ga, gv)) in &got {
        let e = &want[w];
        assert_eq!(*ga, e["axis"].as_i64(), "{backend} {w}: axis");
        let ws = nums(&e["scale"]);
        assert_eq!(gs.len(), ws.len(), "{backend} {w}: scales");
        for (a, b) in gs.iter().zip(&ws) {
            assert!(close(*a, *b), "{backend} {w}: scale {a} vs torch {b}");
        }
        let wz: Vec<i64> = nums(&e["zero_point"]).iter().map(|z| *z as i64).collect();
        assert_eq!(*gz, wz, "{backend} {w}: zero points");
        let wv: Vec<i64> = nums(&e["values"]).iter().map(|v| *v as i64).collect();
        assert_eq!(*gv, wv, "{backend} {w}: integer values");
    }

    // Nothing else is stored quantized: Clip bounds, Resize scales and scalars stay float.
    let stored: Vec<&str> = q
        .graph
        .nodes
        .iter()
        .filter(|n| n.op_type == "DequantizeLinear")
        .map(|n| n.inputs[0].as_str())
        .filter(|t| q.graph.initializer(t).is_some())
        .filter(|t| !t.ends_with(".weight_quantized") && !t.ends_with(".bias_quantized"))
        .collect();
    assert!(stored.is_empty(), "{backend}: also quantized {stored:?}");

    // add_scalar adds the scalar rounded to its input's grid.
    let add = q.graph.nodes.iter().find(|n| n.name == "add_1").unwrap();
    let c = q
        .graph
        .initializer(&add.inputs[1])
        .unwrap()
        .to_f32()
        .unwrap()[0];
    let s_in = want_scale(&fx, "mul");
    let steps = f64::from(c) / s_in;
    assert!(
        (steps - steps.round()).abs() < 1e-4,
        "{backend}: {c} is not on the grid of {s_in}"
    );
}

fn want_scale(fx: &Value, t: &str) -> f64 {
    fx["tensors"][t]["scale"].as_f64().unwrap()
}

#[test]
fn x86_matches_pytorch() {
    check("x86", TorchEngine::Fbgemm);
}

#[test]
fn qnnpack_matches_pytorch() {
    check("qnnpack", TorchEngine::Qnnpack);
}
