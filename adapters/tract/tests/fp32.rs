//! A tiny float CNN on tract at batch 1 and 4, against a plain-Rust reference.

mod common;

use common::{artifact, assert_close, conv2d, save, value, values};
use qbench_core::{AdapterError, Backend, Batch, Format, LoadOptions};
use qbench_onnx::{Attribute, Graph, Model, Node, TensorData};
use qbench_tract::TractBackend;

const W: [f32; 18] = [
    0.1, -0.2, 0.3, 0.4, 0.5, -0.6, 0.7, -0.8, 0.9, //
    -0.5, 0.25, 0.125, 0.3, -0.1, 0.2, 0.6, 0.05, -0.4,
];
const B: [f32; 2] = [0.1, -0.3];
const FC: [f32; 6] = [1.0, -2.0, 0.5, 0.5, -1.5, 3.0];
const FC_B: [f32; 3] = [0.01, 0.02, -0.03];

/// x[N,1,4,4] -> Conv 3x3 pad 1 -> Relu -> GlobalAveragePool -> Flatten -> Gemm(transB) -> y[N,3]
fn model() -> Model {
    let graph = Graph {
        name: "tiny".into(),
        nodes: vec![
            Node::new("conv", "Conv", &["x", "w", "b"], &["c"])
                .with_attr("kernel_shape", Attribute::Ints(vec![3, 3]))
                .with_attr("pads", Attribute::Ints(vec![1, 1, 1, 1])),
            Node::new("relu", "Relu", &["c"], &["r"]),
            Node::new("gap", "GlobalAveragePool", &["r"], &["g"]),
            Node::new("flat", "Flatten", &["g"], &["f"]).with_attr("axis", Attribute::Int(1)),
            Node::new("fc", "Gemm", &["f", "fc_w", "fc_b"], &["y"])
                .with_attr("transB", Attribute::Int(1)),
        ],
        initializers: vec![
            TensorData::from_f32("w", vec![2, 1, 3, 3], &W),
            TensorData::from_f32("b", vec![2], &B),
            TensorData::from_f32("fc_w", vec![3, 2], &FC),
            TensorData::from_f32("fc_b", vec![3], &FC_B),
        ],
        inputs: vec![value("x", &[1, 4, 4])],
        outputs: vec![value("y", &[3])],
        value_info: vec![],
    };
    Model::new(graph, 13)
}

/// The same network computed in plain Rust.
fn reference(x: &[f32], n: usize) -> Vec<f32> {
    let conv = conv2d(x, [n, 1, 4, 4], &W, &B, 2, 3, 1);
    let mut out = Vec::new();
    for b in 0..n {
        let pooled: Vec<f32> = (0..2)
            .map(|c| {
                conv[(b * 2 + c) * 16..][..16]
                    .iter()
                    .map(|v| v.max(0.0))
                    .sum::<f32>()
                    / 16.0
            })
            .collect();
        for o in 0..3 {
            out.push(FC_B[o] + pooled[0] * FC[o * 2] + pooled[1] * FC[o * 2 + 1]);
        }
    }
    out
}

#[test]
fn tiny_cnn_matches_reference_at_batch_1_and_4() {
    let dir = tempfile::tempdir().unwrap();
    let path = save(&model(), dir.path(), "tiny.onnx");
    let art = artifact(&path, Format::Fp32, 1, 4, 4);
    for (batch, threads) in [(1, 1), (4, 1), (4, 2)] {
        let mut session = TractBackend
            .load(&art, &LoadOptions { threads, batch })
            .unwrap();
        let x = values(batch * 16, batch as u64);
        let out = session
            .run(&Batch {
                data: &x,
                dims: &[batch, 1, 4, 4],
            })
            .unwrap();
        assert_eq!(out.dims, vec![batch, 3]);
        assert_close(&out.data, &reference(&x, batch), 1e-5);
        // A second run on the same session reuses its state.
        let out2 = session
            .run(&Batch {
                data: &x,
                dims: &[batch, 1, 4, 4],
            })
            .unwrap();
        assert_eq!(out, out2);
    }
}

#[test]
fn wrong_batch_shape_is_a_run_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = save(&model(), dir.path(), "tiny.onnx");
    let art = artifact(&path, Format::Fp32, 1, 4, 4);
    let mut session = TractBackend
        .load(
            &art,
            &LoadOptions {
                threads: 1,
                batch: 1,
            },
        )
        .unwrap();
    let x = values(32, 7);
    let err = session
        .run(&Batch {
            data: &x,
            dims: &[2, 1, 4, 4],
        })
        .err()
        .unwrap();
    assert!(matches!(err, AdapterError::Run { .. }), "{err}");
    // Right dims, wrong amount of data.
    let err = session
        .run(&Batch {
            data: &x[..10],
            dims: &[1, 1, 4, 4],
        })
        .err()
        .unwrap();
    assert!(matches!(err, AdapterError::Run { .. }), "{err}");
}

#[test]
fn name_and_version() {
    assert_eq!(TractBackend.name(), "tract");
    let version = TractBackend.version();
    assert!(version.starts_with("0."), "{version}");
    assert!(TractBackend.check().is_ok());
}
