//! Graph-level tests: a small graph in the style of exported CNNs (MobileNetV3 block, SE,
//! upsampling, a YOLO-style dynamic reshape through Shape/Gather/Unsqueeze/Concat) passes
//! `check_model` and runs end to end in a `CandleSession`, with int64 shape values flowing
//! between operators and the batch size taken from the input at run time.

use qbench_core::{Batch, Session};
use qbench_onnx::{Attribute, DType, Dim, Graph, Model, Node, TensorData, ValueInfo};

use crate::{check_model, CandleSession};

fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
            ((s >> 8) % 2001) as f32 / 1000.0 - 1.0
        })
        .collect()
}

fn f32s(name: &str, dims: &[i64], seed: u32) -> TensorData {
    let n: i64 = dims.iter().product();
    TensorData::from_f32(name, dims.to_vec(), &values(n as usize, seed))
}

fn ints(v: &[i64]) -> Attribute {
    Attribute::Ints(v.to_vec())
}

fn cnn() -> Model {
    let nodes = vec![
        Node::new("conv1", "Conv", &["x", "w1", "b1"], &["c1"])
            .with_attr("pads", ints(&[1, 1, 1, 1]))
            .with_attr("strides", ints(&[2, 2])),
        Node::new(
            "bn",
            "BatchNormalization",
            &["c1", "s", "b", "m", "v"],
            &["n1"],
        ),
        Node::new("hs", "HardSwish", &["n1"], &["a1"]),
        Node::new("dw", "Conv", &["a1", "wd"], &["d1"])
            .with_attr("group", Attribute::Int(4))
            .with_attr("pads", ints(&[1, 1, 1, 1])),
        Node::new("se_pool", "ReduceMean", &["d1"], &["se0"]).with_attr("axes", ints(&[2, 3])),
        Node::new("se_gate", "HardSigmoid", &["se0"], &["se1"]),
        Node::new("se_mul", "Mul", &["d1", "se1"], &["d2"]),
        Node::new("up", "Resize", &["d2", "", "scales"], &["u1"]),
        Node::new("pool", "MaxPool", &["u1"], &["p1"])
            .with_attr("kernel_shape", ints(&[2, 2]))
            .with_attr("strides", ints(&[2, 2])),
        Node::new("cat", "Concat", &["p1", "d2"], &["k1"]).with_attr("axis", Attribute::Int(1)),
        // YOLO-style head: reshape to [N, 8, -1] with N read from the tensor's shape.
        Node::new("shape", "Shape", &["k1"], &["sh"]),
        Node::new("batch", "Gather", &["sh", "zero"], &["n"]),
        Node::new("batch1", "Unsqueeze", &["n", "axes0"], &["n1d"]),
        Node::new("newshape", "Concat", &["n1d", "tail"], &["ns"])
            .with_attr("axis", Attribute::Int(0)),
        Node::new("reshape", "Reshape", &["k1", "ns"], &["r1"]),
        Node::new("tr", "Transpose", &["r1"], &["t1"]).with_attr("perm", ints(&[0, 2, 1])),
        Node::new("sig", "Sigmoid", &["t1"], &["g1"]),
        Node::new("sum", "ReduceSum", &["g1", "axes1"], &["h1"])
            .with_attr("keepdims", Attribute::Int(0)),
        // Classifier head.
        Node::new("gap", "GlobalAveragePool", &["k1"], &["q1"]),
        Node::new("flat", "Flatten", &["q1"], &["f1"]),
        Node::new("feat", "Concat", &["f1", "h1"], &["f2"]).with_attr("axis", Attribute::Int(-1)),
        Node::new("fc", "Gemm", &["f2", "wf", "bf"], &["z"]).with_attr("transB", Attribute::Int(1)),
        Node::new("sm", "Softmax", &["z"], &["y"]),
    ];
    let mut bn_var = values(4, 9);
    bn_var.iter_mut().for_each(|v| *v = v.abs() + 0.5);
    let graph = Graph {
        name: "cnn".into(),
        nodes,
        initializers: vec![
            f32s("w1", &[4, 2, 3, 3], 1),
            f32s("b1", &[4], 2),
            f32s("s", &[4], 3),
            f32s("b", &[4], 4),
            f32s("m", &[4], 5),
            TensorData::from_f32("v", vec![4], &bn_var),
            f32s("wd", &[4, 1, 3, 3], 6),
            TensorData::from_f32("scales", vec![4], &[1.0, 1.0, 2.0, 2.0]),
            TensorData::from_i64("zero", vec![], &[0]),
            TensorData::from_i64("axes0", vec![1], &[0]),
            TensorData::from_i64("tail", vec![2], &[8, -1]),
            TensorData::from_i64("axes1", vec![1], &[1]),
            f32s("wf", &[3, 16], 7),
            f32s("bf", &[3], 8),
        ],
        inputs: vec![ValueInfo {
            name: "x".into(),
            dtype: DType::F32,
            shape: vec![
                Dim::Param("N".into()),
                Dim::Fixed(2),
                Dim::Fixed(4),
                Dim::Fixed(4),
            ],
        }],
        outputs: vec![ValueInfo {
            name: "y".into(),
            dtype: DType::F32,
            shape: vec![Dim::Param("N".into()), Dim::Fixed(3)],
        }],
        value_info: vec![],
    };
    Model::new(graph, 13)
}

#[test]
fn a_small_exported_style_cnn_passes_the_check_and_runs() {
    let model = cnn();
    check_model(&model).unwrap();
    let mut s = CandleSession::new(model, "x", "y").unwrap();
    let x = values(2 * 32, 11);
    let out = s
        .run(&Batch {
            data: &x,
            dims: &[2, 2, 4, 4],
        })
        .unwrap();
    assert_eq!(out.dims, vec![2, 3]);
    for row in out.data.chunks(3) {
        assert!(row.iter().all(|p| p.is_finite() && *p > 0.0), "{row:?}");
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5, "{row:?}");
    }
    // The batch size flows through Shape -> Gather -> Reshape: one image alone gives the same
    // probabilities as in the batch of two.
    let one = s
        .run(&Batch {
            data: &x[..32],
            dims: &[1, 2, 4, 4],
        })
        .unwrap();
    assert_eq!(one.dims, vec![1, 3]);
    for (a, b) in one.data.iter().zip(&out.data[..3]) {
        assert!(
            (a - b).abs() < 1e-6,
            "{:?} vs {:?}",
            one.data,
            &out.data[..3]
        );
    }
}

#[test]
fn the_check_rejects_before_loading_what_the_kernels_reject() {
    let mut model = cnn();
    model.graph.nodes[7] = Node::new("up", "Resize", &["d2", "", "scales"], &["u1"])
        .with_attr("mode", Attribute::String("cubic".into()));
    assert_eq!(
        check_model(&model).unwrap_err(),
        "unsupported: Resize with mode cubic (node \"up\")"
    );
    // Loading runs the same check, so a session never starts on a graph it cannot finish.
    let node = model.graph.nodes[7].clone();
    let Err(err) = CandleSession::new(model, "x", "y") else {
        panic!("a cubic Resize must not load");
    };
    assert!(err.contains("unsupported: Resize with mode cubic"), "{err}");
    // And the kernel refuses the node on its own.
    let x = candle_core::Tensor::from_vec(values(32, 3), (1, 2, 4, 4), &candle_core::Device::Cpu)
        .unwrap();
    let scales =
        candle_core::Tensor::new(&[1f32, 1.0, 2.0, 2.0], &candle_core::Device::Cpu).unwrap();
    let err = crate::ops::run(
        &node,
        &[Some(&x), None, Some(&scales)],
        &crate::types::NodeTypes::default(),
    )
    .unwrap_err();
    assert!(err.contains("unsupported: Resize with mode cubic"), "{err}");
}
