//! tract 0.23.9 folds `DequantizeLinear -> Softmax -> QuantizeLinear` into a per-element lookup
//! table (it takes Softmax for an element-wise op), so every probability comes out 1.0. Such a
//! model is refused with the reason; the same Softmax without the Q/DQ pair around it runs and is
//! right.

mod common;

use common::{artifact, save, value};
use qbench_core::{AdapterError, Backend, Batch, Format, LoadOptions};
use qbench_onnx::{Attribute, Graph, Model, Node, TensorData};
use qbench_tract::TractBackend;

const IN_SCALE: f32 = 0.05;

/// x -> Q/DQ (int8) -> Softmax(last axis) -> Q/DQ (int8, `scale`, `zp`) -> y.
fn model(scale: f32, zp: i8) -> Model {
    let graph = Graph {
        name: "softmax".into(),
        nodes: vec![
            Node::new("xq", "QuantizeLinear", &["x", "xs", "xz"], &["x_q"]),
            Node::new("xdq", "DequantizeLinear", &["x_q", "xs", "xz"], &["x_dq"]),
            Node::new("sm", "Softmax", &["x_dq"], &["p"]).with_attr("axis", Attribute::Int(-1)),
            Node::new("pq", "QuantizeLinear", &["p", "ps", "pz"], &["p_q"]),
            Node::new("pdq", "DequantizeLinear", &["p_q", "ps", "pz"], &["y"]),
        ],
        initializers: vec![
            TensorData::from_f32("xs", vec![], &[IN_SCALE]),
            TensorData::from_i8("xz", vec![], &[0]),
            TensorData::from_f32("ps", vec![], &[scale]),
            TensorData::from_i8("pz", vec![], &[zp]),
        ],
        inputs: vec![value("x", &[1, 1, 4])],
        outputs: vec![value("y", &[1, 1, 4])],
        value_info: vec![],
    };
    Model::new(graph, 13)
}

fn load(m: &Model) -> Result<Box<dyn qbench_core::Session>, AdapterError> {
    let dir = tempfile::tempdir().unwrap();
    let path = save(m, dir.path(), "softmax.onnx");
    TractBackend.load(
        &artifact(&path, Format::Qdq, 1, 1, 4),
        &LoadOptions {
            threads: 1,
            batch: 1,
        },
    )
}

#[test]
fn quantized_softmax_is_refused_with_the_reason() {
    for (scale, zp) in [(1.0 / 255.0, -128), (1.0 / 127.0, 0)] {
        let err = load(&model(scale, zp)).err().expect("must be refused");
        let msg = err.to_string();
        assert!(matches!(err, AdapterError::Unsupported { .. }), "{msg}");
        assert!(
            msg.contains("lookup table") && msg.contains("node sm"),
            "{msg}"
        );
    }
}

#[test]
fn float_softmax_runs_and_is_right() {
    let graph = Graph {
        name: "softmax".into(),
        nodes: vec![
            Node::new("sm", "Softmax", &["x"], &["y"]).with_attr("axis", Attribute::Int(-1))
        ],
        initializers: vec![],
        inputs: vec![value("x", &[1, 1, 4])],
        outputs: vec![value("y", &[1, 1, 4])],
        value_info: vec![],
    };
    let mut s = load(&Model::new(graph, 13)).unwrap();
    let x = [0.5f32, -0.25, 1.0, 0.0];
    let out = s
        .run(&Batch {
            data: &x,
            dims: &[1, 1, 1, 4],
        })
        .unwrap();
    let e: Vec<f32> = x.iter().map(|v| v.exp()).collect();
    let sum: f32 = e.iter().sum();
    for (got, want) in out.data.iter().zip(e.iter().map(|v| v / sum)) {
        assert!((got - want).abs() <= 1e-6, "{got} vs {want}");
    }
}
