//! `qbench train` end to end on a small slice: trains, folds batch norm, exports an ONNX model
//! that the backends load, and writes its weights and training log.

mod common;

use common::{qbench, scenarios, text};

#[test]
fn trains_and_exports_a_runnable_model() {
    // The committed calibration slice stands in for the training files.
    let data = tempfile::tempdir().unwrap();
    let src = scenarios().join("resnet/data");
    std::fs::copy(
        src.join("calib-images-idx3-ubyte.gz"),
        data.path().join("train-images-idx3-ubyte.gz"),
    )
    .unwrap();
    std::fs::copy(
        src.join("calib-labels-idx1-ubyte.gz"),
        data.path().join("train-labels-idx1-ubyte.gz"),
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let model = out.path().join("m.onnx");
    let o = qbench(&[
        "--scenarios",
        scenarios().to_str().unwrap(),
        "train",
        "--data",
        data.path().to_str().unwrap(),
        "--epochs",
        "1",
        "--limit",
        "256",
        "--output",
        model.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("epoch  1:"), "{}", text(&o));
    let m = qbench_onnx::Model::load(&model).unwrap();
    assert_eq!(m.opset(), Some(13));
    let ops: Vec<&str> = m.graph.nodes.iter().map(|n| n.op_type.as_str()).collect();
    assert!(
        !ops.contains(&"BatchNormalization"),
        "batch norm must be folded: {ops:?}"
    );
    // stem + 3 blocks x (2 convs + a 1x1 projection shortcut)
    assert_eq!(ops.iter().filter(|o| **o == "Conv").count(), 10, "{ops:?}");
    assert!(out.path().join("m.safetensors").is_file());
    let log: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("m.train.json")).unwrap()).unwrap();
    assert_eq!(log["epochs"], 1);
}
