//! Our ONNX Runtime weight parameters equal those of ONNX Runtime's own tool (1.31.1), read from
//! fixtures made by `scripts/ort_reference_qparams.py` for the `resnet` scenario's model:
//! int8 symmetric weights, per tensor and per output channel, bit for bit.

use std::path::PathBuf;

use qbench_onnx::Model;
use qbench_quant::convention::onnxruntime;
use qbench_quant::granularity::params_per_channel;
use qbench_quant::{QType, Range};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(name: &str) -> Value {
    let p = root().join("adapters/quant/tests/fixtures").join(name);
    serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap()
}

/// Scales ORT recorded for the DequantizeLinear of each quantized weight initializer.
/// (The JSON holds float32 values printed as doubles; parsing may be off by one f64 ulp, so the
/// values are compared after rounding back to f32, where they must be identical.)
fn reference_scales(fx: &Value, weight: &str) -> Vec<f32> {
    let want = format!("{weight}_quantized");
    let entry = fx["qdq"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["input"] == want.as_str());
    let entry = entry.unwrap_or_else(|| panic!("no DequantizeLinear for {want}"));
    assert_eq!(entry["zero_point_type"], "int8");
    assert!(entry["zero_point"]
        .as_array()
        .unwrap()
        .iter()
        .all(|z| z == 0));
    entry["scale"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_f64().unwrap() as f32)
        .collect()
}

fn weights() -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let m = Model::load(root().join("scenarios/resnet/resnet.onnx")).unwrap();
    m.graph
        .nodes
        .iter()
        .filter(|n| n.op_type == "Conv" || n.op_type == "Gemm")
        .map(|n| {
            let t = m.graph.initializer(&n.inputs[1]).unwrap();
            (
                t.name.clone(),
                t.dims.iter().map(|d| *d as usize).collect(),
                t.to_f32().unwrap(),
            )
        })
        .collect()
}

#[test]
fn per_tensor_weight_scales_match_onnxruntime() {
    let fx = fixture("ort_ort-static-minmax.json");
    assert_eq!(fx["onnxruntime"], "1.31.1");
    let ws = weights();
    assert_eq!(ws.len(), 11);
    for (name, _, w) in ws {
        let ours =
            onnxruntime::params(Range::of(&name, &w).unwrap(), QType::INT8, true, false).unwrap();
        assert_eq!((ours.zero_point, ours.qmin, ours.qmax), (0, -127, 127));
        assert_eq!(vec![ours.scale], reference_scales(&fx, &name), "{name}");
    }
}

#[test]
fn per_channel_weight_scales_match_onnxruntime() {
    let fx = fixture("ort_ort-static-minmax-per-channel.json");
    for (name, dims, w) in weights() {
        let want = reference_scales(&fx, &name);
        // ORT quantizes Conv weights per output channel (axis 0); Gemm with transB=1 too.
        let ours = params_per_channel(&name, &w, &dims, 0, |r| {
            onnxruntime::params(r, QType::INT8, true, false)
        })
        .unwrap();
        let ours: Vec<f32> = ours.iter().map(|p| p.scale).collect();
        if want.len() == 1 {
            // ORT keeps Gemm weights per tensor in this configuration.
            let pt = onnxruntime::params(Range::of(&name, &w).unwrap(), QType::INT8, true, false)
                .unwrap();
            assert_eq!(vec![pt.scale], want, "{name}");
        } else {
            assert_eq!(ours, want, "{name}");
        }
    }
}
