//! Fake-quant numerics of a QDQ Conv (int8, explicit zero points, per-axis weights):
//! tract must round half to even and saturate like ONNX.

mod common;

use common::{artifact, conv2d, save, value};
use qbench_core::{Backend, Batch, Format, LoadOptions};
use qbench_onnx::{Attribute, Graph, Model, Node, TensorData};
use qbench_tract::TractBackend;

const X_SCALE: f32 = 0.5;
const X_ZP: i8 = 3;
const Y_SCALE: f32 = 0.5;
const Y_ZP: i8 = -2;
const W_SCALES: [f32; 2] = [0.25, 0.5];
const W_Q: [i8; 18] = [
    1, -2, 3, 0, 4, -1, 2, 1, -3, //
    -1, 1, 0, 2, -2, 1, 1, 3, -1,
];
const BIAS: [f32; 2] = [0.5, -0.25];

/// x -> Q/DQ -> Conv(DQ(w per-axis), bias) -> Q/DQ -> y, all int8 with explicit zero points.
fn model() -> Model {
    let graph = Graph {
        name: "qdq".into(),
        nodes: vec![
            Node::new("xq", "QuantizeLinear", &["x", "xs", "xz"], &["x_q"]),
            Node::new("xdq", "DequantizeLinear", &["x_q", "xs", "xz"], &["x_dq"]),
            Node::new("wdq", "DequantizeLinear", &["w_q", "ws", "wz"], &["w_dq"])
                .with_attr("axis", Attribute::Int(0)),
            Node::new("conv", "Conv", &["x_dq", "w_dq", "b"], &["c"])
                .with_attr("kernel_shape", Attribute::Ints(vec![3, 3]))
                .with_attr("pads", Attribute::Ints(vec![1, 1, 1, 1])),
            Node::new("yq", "QuantizeLinear", &["c", "ys", "yz"], &["y_q"]),
            Node::new("ydq", "DequantizeLinear", &["y_q", "ys", "yz"], &["y"]),
        ],
        initializers: vec![
            TensorData::from_f32("xs", vec![], &[X_SCALE]),
            TensorData::from_i8("xz", vec![], &[X_ZP]),
            TensorData::from_i8("w_q", vec![2, 1, 3, 3], &W_Q),
            TensorData::from_f32("ws", vec![2], &W_SCALES),
            TensorData::from_i8("wz", vec![2], &[0, 0]),
            TensorData::from_f32("b", vec![2], &BIAS),
            TensorData::from_f32("ys", vec![], &[Y_SCALE]),
            TensorData::from_i8("yz", vec![], &[Y_ZP]),
        ],
        inputs: vec![value("x", &[1, 4, 4])],
        outputs: vec![value("y", &[2, 4, 4])],
        value_info: vec![],
    };
    Model::new(graph, 13)
}

/// ONNX QuantizeLinear then DequantizeLinear (int8), with the given rounding.
fn fake_quant(v: f32, scale: f32, zp: i8, round: fn(f32) -> f32) -> f32 {
    let q = (round(v / scale) + zp as f32).clamp(-128.0, 127.0);
    (q - zp as f32) * scale
}

fn reference(x: &[f32], n: usize, round: fn(f32) -> f32) -> Vec<f32> {
    let xd: Vec<f32> = x
        .iter()
        .map(|v| fake_quant(*v, X_SCALE, X_ZP, round))
        .collect();
    let wd: Vec<f32> = W_Q
        .iter()
        .enumerate()
        .map(|(i, q)| *q as f32 * W_SCALES[i / 9])
        .collect();
    let conv = conv2d(&xd, [n, 1, 4, 4], &wd, &BIAS, 2, 3, 1);
    conv.iter()
        .map(|v| fake_quant(*v, Y_SCALE, Y_ZP, round))
        .collect()
}

/// Inputs with many exact ties (x / 0.5 = k + 0.5) and a few saturating values.
fn input(n: usize) -> Vec<f32> {
    const TIES: [f32; 10] = [0.25, 0.75, -0.25, 1.25, -1.75, 2.25, -0.75, 3.75, 0.5, -2.0];
    let mut x: Vec<f32> = (0..n * 16)
        .map(|i| TIES[(i * 7 + i / 16) % TIES.len()])
        .collect();
    x[5] = 100.0; // saturates at 127
    x[10] = -100.0; // saturates at -128
    x
}

#[test]
fn qdq_conv_rounds_half_to_even_and_saturates() {
    let dir = tempfile::tempdir().unwrap();
    let path = save(&model(), dir.path(), "qdq.onnx");
    let art = artifact(&path, Format::Qdq, 1, 4, 4);
    for batch in [1, 4] {
        let mut session = TractBackend
            .load(&art, &LoadOptions { threads: 1, batch })
            .unwrap();
        let x = input(batch);
        let out = session
            .run(&Batch {
                data: &x,
                dims: &[batch, 1, 4, 4],
            })
            .unwrap();
        assert_eq!(out.dims, vec![batch, 2, 4, 4]);

        let want = reference(&x, batch, f32::round_ties_even);
        // All values are exact in f32, so results must match bit for bit.
        assert_eq!(out.data, want, "batch {batch}");

        // The test discriminates: rounding half away from zero gives other results.
        let away = reference(&x, batch, f32::round);
        assert_ne!(away, want, "inputs exercise no ties");
    }
}

#[test]
fn output_ties_are_exercised() {
    // Sanity check of the test itself: some conv outputs land exactly between two steps.
    let x = input(1);
    let xd: Vec<f32> = x
        .iter()
        .map(|v| fake_quant(*v, X_SCALE, X_ZP, f32::round_ties_even))
        .collect();
    let wd: Vec<f32> = W_Q
        .iter()
        .enumerate()
        .map(|(i, q)| *q as f32 * W_SCALES[i / 9])
        .collect();
    let conv = conv2d(&xd, [1, 1, 4, 4], &wd, &BIAS, 2, 3, 1);
    let ties = conv
        .iter()
        .filter(|v| (*v / Y_SCALE).fract().abs() == 0.5)
        .count();
    assert!(ties > 0, "no output ties");
}
