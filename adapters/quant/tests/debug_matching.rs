//! Weight and activation matching on small graphs whose errors are known by hand.

use std::collections::HashMap;

use qbench_onnx::{Attribute, DType, Graph, Model, Node, TensorData, ValueInfo};
use qbench_quant::debug::{activation_matching, weight_matching, ErrorStats};
use qbench_quant::qdq::{ort_qdq, OrtQdqConfig};
use qbench_quant::{fake_quant, QuantParams, Range};

fn value(name: &str, dims: &[i64]) -> ValueInfo {
    ValueInfo {
        name: name.into(),
        dtype: DType::F32,
        shape: dims.iter().map(|d| qbench_onnx::Dim::Fixed(*d)).collect(),
    }
}

/// y = Gemm(x, W, b) with transB, W = [[1.0, -0.52], [0.6, 0.05]].
fn fp32() -> Model {
    let g = Graph {
        name: "g".into(),
        nodes: vec![Node::new("fc", "Gemm", &["x", "W", "b"], &["y"])
            .with_attr("transB", Attribute::Int(1))],
        initializers: vec![
            TensorData::from_f32("W", vec![2, 2], &[1.0, -0.52, 0.6, 0.05]),
            TensorData::from_f32("b", vec![2], &[0.1, -0.1]),
        ],
        inputs: vec![value("x", &[1, 2])],
        outputs: vec![value("y", &[1, 2])],
        value_info: vec![],
    };
    Model::new(g, 13)
}

/// The same with x quantized (int8, scale 0.5, Clip to [-8, 7]), W per channel (scales 0.1 and
/// 0.2: integers [[10, -5], [3, 0]]) and y quantized behind its own name.
fn quantized() -> Model {
    let mut m = fp32();
    let g = &mut m.graph;
    g.nodes = vec![
        Node::new("x_q", "QuantizeLinear", &["x", "x_s", "x_z"], &["x_qo"]),
        Node::new("x_clip", "Clip", &["x_qo", "x_lo", "x_hi"], &["x_c"]),
        Node::new(
            "x_dq",
            "DequantizeLinear",
            &["x_c", "x_s", "x_z"],
            &["x_dqo"],
        ),
        Node::new(
            "W_dq",
            "DequantizeLinear",
            &["W_quantized", "W_s", "W_z"],
            &["W_dqo"],
        )
        .with_attr("axis", Attribute::Int(0)),
        Node::new("fc", "Gemm", &["x_dqo", "W_dqo", "b"], &["y_in"])
            .with_attr("transB", Attribute::Int(1)),
        Node::new("y_q", "QuantizeLinear", &["y_in", "y_s", "y_z"], &["y_qo"]),
        Node::new("y_dq", "DequantizeLinear", &["y_qo", "y_s", "y_z"], &["y"]),
    ];
    g.initializers = vec![
        TensorData::from_f32("b", vec![2], &[0.1, -0.1]),
        TensorData::from_i8("W_quantized", vec![2, 2], &[10, -5, 3, 0]),
        TensorData::from_f32("W_s", vec![2], &[0.1, 0.2]),
        TensorData::from_i8("W_z", vec![2], &[0, 0]),
        TensorData::from_f32("x_s", vec![], &[0.5]),
        TensorData::from_i8("x_z", vec![], &[0]),
        TensorData::from_i8("x_lo", vec![], &[-8]),
        TensorData::from_i8("x_hi", vec![], &[7]),
        TensorData::from_f32("y_s", vec![], &[0.25]),
        TensorData::from_u8("y_z", vec![], &[10]),
    ];
    m
}

fn sqnr(signal: f64, noise: f64) -> f64 {
    10.0 * (signal / noise).log10()
}

#[test]
fn weights_are_dequantized_per_channel_and_matched_to_their_original() {
    let w = weight_matching(&fp32(), &quantized()).unwrap();
    assert_eq!(w.len(), 1, "{w:?}");
    let w = &w[0];
    assert_eq!((w.node.as_str(), w.input, w.name.as_str()), ("fc", 1, "W"));
    assert_eq!(w.axis, Some(0));
    assert_eq!(w.dequantized, [1.0, -0.5, 0.6, 0.0]);
    let ch = w.per_channel().unwrap();
    // Channel 0: noise 0.02^2, channel 1: 0.05^2.
    let want0 = sqnr(1.0 + 0.52 * 0.52, 0.02 * 0.02);
    let want1 = sqnr(0.36 + 0.0025, 0.0025);
    assert!((ch[0].sqnr_db().unwrap() - want0).abs() < 1e-4, "{ch:?}");
    assert!((ch[1].sqnr_db().unwrap() - want1).abs() < 1e-4, "{ch:?}");
    let all = w.stats().unwrap();
    let want = sqnr(1.0 + 0.2704 + 0.36 + 0.0025, 0.0004 + 0.0025);
    assert!((all.sqnr_db().unwrap() - want).abs() < 1e-4);
    assert!((all.max_abs - 0.05).abs() < 1e-6);
}

#[test]
fn a_renamed_node_is_matched_by_the_quantized_initializers_name() {
    let mut q = quantized();
    q.graph.nodes[4].name = "renamed".into();
    let w = weight_matching(&fp32(), &q).unwrap();
    assert_eq!(w.len(), 1);
    assert_eq!((w[0].node.as_str(), w[0].name.as_str()), ("renamed", "W"));
    // Without either clue there is no original to compare with.
    q.graph.initializers[1].name = "W_ints".into();
    q.graph.nodes[3].inputs[0] = "W_ints".into();
    assert!(weight_matching(&fp32(), &q).unwrap().is_empty());
}

#[test]
fn activations_are_paired_through_the_clip_and_behind_a_kept_output_name() {
    let a = activation_matching(&fp32(), &quantized()).unwrap();
    let got: Vec<(&str, &str, &str, usize)> = a
        .iter()
        .map(|p| {
            (
                p.tensor.as_str(),
                p.dequantized.as_str(),
                p.producer.as_str(),
                p.depth,
            )
        })
        .collect();
    assert_eq!(
        got,
        [("x", "x_dqo", "input", 0), ("y", "y", "Gemm", 1)],
        "{a:?}"
    );
    assert_eq!(a[0].params, QuantParams::new(0.5, 0, -8, 7).unwrap());
    assert_eq!(a[1].params, QuantParams::new(0.25, 10, 0, 255).unwrap());
    assert_eq!(a[0].qtype, qbench_quant::QType::INT8);
    // Quantizing the FP32 tensor alone with the pair's parameters: x = 3.3 clips to 7 * 0.5.
    let x = [0.2f32, -1.0, 3.3];
    let alone = fake_quant(&x, &a[0].params).unwrap();
    assert_eq!(alone, [0.0, -1.0, 3.5]);
    let mut s = ErrorStats::default();
    s.add(&x, &alone).unwrap();
    assert!((s.sqnr_db().unwrap() - sqnr(0.04 + 1.0 + 10.89, 0.04 + 0.04)).abs() < 1e-4);
}

#[test]
fn the_quantizers_own_qdq_output_matches_every_weight_and_activation() {
    let m = fp32();
    let ranges: HashMap<String, Range> = [("x", (-2.0, 3.0)), ("y", (-1.5, 2.5))]
        .into_iter()
        .map(|(n, (a, b))| (n.to_string(), Range::new(a, b).unwrap()))
        .collect();
    for per_channel in [false, true] {
        let cfg = OrtQdqConfig {
            per_channel,
            ..OrtQdqConfig::default()
        };
        let q = ort_qdq(&m, &ranges, &cfg).unwrap();
        let w = weight_matching(&m, &q).unwrap();
        let names: Vec<(&str, usize)> = w.iter().map(|w| (w.name.as_str(), w.input)).collect();
        assert_eq!(names, [("W", 1), ("b", 2)], "per_channel {per_channel}");
        assert_eq!(w[0].axis.is_some(), per_channel);
        // Symmetric int8: the largest weight of each channel (or of the tensor) is exact.
        assert_eq!(w[0].dequantized[0], 1.0);
        let a = activation_matching(&m, &q).unwrap();
        let tensors: Vec<&str> = a.iter().map(|p| p.tensor.as_str()).collect();
        assert_eq!(tensors, ["x", "y"]);
    }
}
