//! Per-node precision overrides on a recipe's QDQ model: the rewritten graph is checked node by
//! node (what each overridden node reads, at which width, with the FP32 values where float).

use std::collections::HashMap;

use qbench_onnx::{Attribute, DType, Dim, Graph, Model, Node, TensorData, ValueInfo};
use qbench_quant::overrides::{apply_overrides, Override, METADATA_KEY};
use qbench_quant::qdq::{ort_qdq, OrtQdqConfig};
use qbench_quant::Range;

fn value(name: &str, dims: &[i64]) -> ValueInfo {
    ValueInfo {
        name: name.into(),
        dtype: DType::F32,
        shape: dims.iter().map(|d| Dim::Fixed(*d)).collect(),
    }
}

const W1: [f32; 2] = [0.8, -0.3];
const W2: [f32; 4] = [0.5, -0.25, 0.125, 1.0];

/// x -> Conv c1 -> Relu -> Conv c2 (bias) -> y.
fn fp32() -> Model {
    let g = Graph {
        name: "g".into(),
        nodes: vec![
            Node::new("c1", "Conv", &["x", "W1"], &["c1.out"]),
            Node::new("relu", "Relu", &["c1.out"], &["relu.out"]),
            Node::new("c2", "Conv", &["relu.out", "W2", "B2"], &["y"]),
        ],
        initializers: vec![
            TensorData::from_f32("W1", vec![2, 1, 1, 1], &W1),
            TensorData::from_f32("W2", vec![2, 2, 1, 1], &W2),
            TensorData::from_f32("B2", vec![2], &[0.1, -0.2]),
        ],
        inputs: vec![value("x", &[1, 1, 2, 2])],
        outputs: vec![value("y", &[1, 2, 2, 2])],
        value_info: vec![],
    };
    Model::new(g, 13)
}

fn quantized() -> Model {
    let ranges: HashMap<String, Range> = [
        ("x", (-1.0, 1.0)),
        ("c1.out", (-0.8, 0.8)),
        ("relu.out", (0.0, 0.8)),
        ("y", (-1.0, 1.5)),
    ]
    .into_iter()
    .map(|(n, (a, b))| (n.to_string(), Range::new(a, b).unwrap()))
    .collect();
    let cfg = OrtQdqConfig {
        per_channel: true,
        ..OrtQdqConfig::default()
    };
    ort_qdq(&fp32(), &ranges, &cfg).unwrap()
}

fn apply(spec: &[&str]) -> Model {
    let o: Vec<Override> = spec.iter().map(|s| s.parse().unwrap()).collect();
    apply_overrides(&fp32(), &quantized(), &o).unwrap().0
}

fn node<'a>(m: &'a Model, name: &str) -> &'a Node {
    m.graph.nodes.iter().find(|n| n.name == name).unwrap()
}

fn producer<'a>(m: &'a Model, tensor: &str) -> Option<&'a Node> {
    m.graph
        .nodes
        .iter()
        .find(|n| n.outputs.iter().any(|o| o == tensor))
}

#[test]
fn the_recipe_folds_the_relu_and_quantizes_both_convolutions() {
    let q = quantized();
    assert!(producer(&q, "relu.out").is_some_and(|n| n.op_type == "Conv"));
    for c in ["c1", "c2"] {
        let w = producer(&q, &node(&q, c).inputs[1]).unwrap();
        assert_eq!(w.op_type, "DequantizeLinear");
    }
}

#[test]
fn a_float_node_reads_its_fp32_weights_and_the_relu_is_put_back() {
    let m = apply(&["c2=float"]);
    let c2 = node(&m, "c2");
    let w = m
        .graph
        .initializer(&c2.inputs[1])
        .expect("a float initializer");
    assert_eq!(w.to_f32().unwrap(), W2);
    let b = m.graph.initializer(&c2.inputs[2]).expect("a float bias");
    assert_eq!(b.to_f32().unwrap(), [0.1, -0.2]);
    // Its input is the ReLU of c1's output, not the Q/DQ pair, and not the raw convolution.
    let relu = producer(&m, &c2.inputs[0]).unwrap();
    assert_eq!(relu.op_type, "Relu");
    assert_eq!(producer(&m, &relu.inputs[0]).unwrap().name, "c1");
    // c2's dead weight pair is gone; c1 is untouched.
    assert!(m.graph.initializer("W2_quantized").is_none());
    let c1w = producer(&m, &node(&m, "c1").inputs[1]).unwrap();
    assert_eq!(c1w.op_type, "DequantizeLinear");
    let meta: HashMap<_, _> = m.metadata.iter().cloned().collect();
    assert_eq!(meta[METADATA_KEY], "c2=float");
    // The graph stays in order: every input is defined before it is read.
    m.graph.check_inputs_defined().unwrap();
    let mut seen: Vec<String> = m.graph.inputs.iter().map(|i| i.name.clone()).collect();
    seen.extend(m.graph.initializers.iter().map(|t| t.name.clone()));
    for n in &m.graph.nodes {
        for i in n.inputs.iter().filter(|i| !i.is_empty()) {
            assert!(seen.contains(i), "{} reads {i} before it is made", n.name);
        }
        seen.extend(n.outputs.iter().cloned());
    }
}

#[test]
fn an_int16_node_gets_16_bit_inputs_and_weights_in_standard_operators() {
    let m = apply(&["c2=int16"]);
    let c2 = node(&m, "c2");
    // Activation: ... -> Clip to the int16 range -> Sub -> Mul.
    let mul = producer(&m, &c2.inputs[0]).unwrap();
    assert_eq!(mul.op_type, "Mul");
    let sub = producer(&m, &mul.inputs[0]).unwrap();
    let clip = producer(&m, &sub.inputs[0]).unwrap();
    assert_eq!(clip.op_type, "Clip");
    let lo = m
        .graph
        .initializer(&clip.inputs[1])
        .unwrap()
        .to_f32()
        .unwrap();
    let hi = m
        .graph
        .initializer(&clip.inputs[2])
        .unwrap()
        .to_f32()
        .unwrap();
    assert_eq!((lo[0], hi[0]), (-32768.0, 32767.0));
    let ops: Vec<&str> = {
        let add = producer(&m, &clip.inputs[0]).unwrap();
        let round = producer(&m, &add.inputs[0]).unwrap();
        let div = producer(&m, &round.inputs[0]).unwrap();
        let relu = producer(&m, &div.inputs[0]).unwrap();
        vec![&add.op_type, &round.op_type, &div.op_type, &relu.op_type]
            .into_iter()
            .map(String::as_str)
            .collect()
    };
    assert_eq!(ops, ["Add", "Round", "Div", "Relu"]);
    // Weight: int16 integers, cast and scaled per output channel.
    let wmul = producer(&m, &c2.inputs[1]).unwrap();
    let cast = producer(&m, &wmul.inputs[0]).unwrap();
    assert_eq!(cast.op_type, "Cast");
    assert_eq!(cast.attr_int("to", 0), 1);
    let q = m.graph.initializer(&cast.inputs[0]).unwrap();
    assert_eq!(q.dtype, DType::I16);
    let s = m.graph.initializer(&wmul.inputs[1]).unwrap();
    assert_eq!(s.dims, [2, 1, 1, 1]);
    let (q, s) = (q.to_i16().unwrap(), s.to_f32().unwrap());
    // Symmetric narrow range: each channel's largest weight is +-32767.
    assert_eq!((q[0], q[3]), (32767, 32767));
    for (i, w) in W2.iter().enumerate() {
        let back = q[i] as f32 * s[i / 2];
        assert!((back - w).abs() <= s[i / 2] / 2.0, "{i}: {back} vs {w}");
    }
}

#[test]
fn int4_and_granularity_overrides_requantize_only_the_weight() {
    let m = apply(&["op:Conv=int4", "c1=per-tensor"]);
    for (c, per_channel) in [("c1", false), ("c2", true)] {
        let n = node(&m, c);
        let dq = producer(&m, &n.inputs[1]).unwrap();
        assert_eq!(dq.op_type, "DequantizeLinear");
        let q = m.graph.initializer(&dq.inputs[0]).unwrap().to_i8().unwrap();
        assert!(q.iter().all(|v| (-7..=7).contains(v)), "{c}: {q:?}");
        assert!(q.iter().any(|v| v.abs() == 7), "{c}: {q:?}");
        let s = m.graph.initializer(&dq.inputs[1]).unwrap();
        assert_eq!(s.len() > 1, per_channel, "{c}");
        assert_eq!(dq.attr("axis").is_some(), per_channel);
        // The activation input is still the recipe's int8 pair.
        assert_eq!(
            producer(&m, &n.inputs[0]).unwrap().op_type,
            "DequantizeLinear"
        );
    }
}

#[test]
fn every_node_in_float_leaves_no_quantization_at_all() {
    let m = apply(&["op:Conv=float"]);
    assert!(
        m.graph
            .nodes
            .iter()
            .all(|n| !n.op_type.ends_with("QuantizeLinear")),
        "{:?}",
        m.graph.nodes.iter().map(|n| &n.op_type).collect::<Vec<_>>()
    );
    let ops: Vec<&str> = m.graph.nodes.iter().map(|n| n.op_type.as_str()).collect();
    // The graph output's pair went with it: c2 writes y itself.
    assert_eq!(ops, ["Conv", "Relu", "Conv"]);
    assert_eq!(node(&m, "c2").outputs, ["y"]);
}

#[test]
fn an_override_that_selects_nothing_is_an_error_naming_the_nodes() {
    let o: Vec<Override> = vec!["c3=float".parse().unwrap()];
    let e = apply_overrides(&fp32(), &quantized(), &o)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("'c3=float' selects no quantized node") && e.contains("c1, c2"),
        "{e}"
    );
    let _ = Attribute::Int(0);
}
