//! Load-time failures: corrupt files, unsupported formats, unimplemented operators, bad names.

mod common;

use common::{artifact, save, value};
use qbench_core::{AdapterError, Backend, Format, LoadOptions, Support};
use qbench_onnx::{Graph, Model, Node, TensorData};
use qbench_tract::TractBackend;

const OPTS: LoadOptions = LoadOptions {
    threads: 1,
    batch: 1,
};

/// x[N,1,4,4] -> Mul by a constant -> y
fn mul_model() -> Model {
    let graph = Graph {
        name: "mul".into(),
        nodes: vec![Node::new("mul", "Mul", &["x", "k"], &["y"])],
        initializers: vec![TensorData::from_f32("k", vec![1], &[2.0])],
        inputs: vec![value("x", &[1, 4, 4])],
        outputs: vec![value("y", &[1, 4, 4])],
        value_info: vec![],
    };
    Model::new(graph, 13)
}

#[test]
fn truncated_file_is_a_load_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let good = save(&mul_model(), dir.path(), "good.onnx");
    let bytes = std::fs::read(&good).unwrap();
    let path = dir.path().join("truncated.onnx");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = TractBackend
        .load(&artifact(&path, Format::Fp32, 1, 4, 4), &OPTS)
        .err()
        .unwrap();
    match &err {
        AdapterError::Load {
            path: p, reason, ..
        } => {
            assert_eq!(p, &path);
            assert!(!reason.is_empty());
        }
        other => panic!("expected a load error, got {other:?}"),
    }
    eprintln!("{err}");
    assert!(err.to_string().contains("truncated.onnx"), "{err}");
}

#[test]
fn missing_file_is_a_load_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.onnx");
    let err = TractBackend
        .load(&artifact(&path, Format::Fp32, 1, 4, 4), &OPTS)
        .err()
        .unwrap();
    assert!(matches!(err, AdapterError::Load { .. }), "{err}");
}

#[test]
fn ort_contrib_is_unsupported() {
    let art = artifact(
        std::path::Path::new("whatever.onnx"),
        Format::OrtContrib,
        1,
        4,
        4,
    );
    match TractBackend.supports(&art) {
        Support::Unsupported(reason) => assert!(reason.contains("com.microsoft"), "{reason}"),
        Support::Yes => panic!("tract claims to run ORT contrib operators"),
    }
    let err = TractBackend.load(&art, &OPTS).err().unwrap();
    assert!(matches!(err, AdapterError::Unsupported { .. }), "{err}");
    for format in [
        Format::Fp32,
        Format::Qdq,
        Format::QOperator,
        Format::Dynamic,
        Format::Fp16,
    ] {
        let art = artifact(std::path::Path::new("m.onnx"), format, 1, 4, 4);
        assert_eq!(TractBackend.supports(&art), Support::Yes, "{format:?}");
    }
}

#[test]
fn unimplemented_operator_is_named() {
    let mut model = mul_model();
    let mut node = Node::new("contrib_add", "QLinearAdd", &["x", "k"], &["z"]);
    node.domain = "com.microsoft".into();
    model.graph.nodes = vec![node, Node::new("mul", "Mul", &["z", "k"], &["y"])];
    model.import_domain("com.microsoft", 1);
    let dir = tempfile::tempdir().unwrap();
    let path = save(&model, dir.path(), "contrib.onnx");
    // Declared as Fp32 so that `supports` lets it through to the loader.
    let err = TractBackend
        .load(&artifact(&path, Format::Fp32, 1, 4, 4), &OPTS)
        .err()
        .unwrap();
    assert!(matches!(err, AdapterError::Unsupported { .. }), "{err}");
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(
        msg.contains("QLinearAdd") && msg.contains("contrib_add"),
        "{msg}"
    );
}

#[test]
fn unknown_input_or_output_name_is_a_load_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = save(&mul_model(), dir.path(), "mul.onnx");
    let mut art = artifact(&path, Format::Fp32, 1, 4, 4);
    art.input.name = "images".into();
    let err = TractBackend.load(&art, &OPTS).err().unwrap();
    assert!(
        matches!(err, AdapterError::Load { .. }) && err.to_string().contains("images"),
        "{err}"
    );

    let mut art = artifact(&path, Format::Fp32, 1, 4, 4);
    art.output = "logits".into();
    let err = TractBackend.load(&art, &OPTS).err().unwrap();
    assert!(
        matches!(err, AdapterError::Load { .. }) && err.to_string().contains("logits"),
        "{err}"
    );
}

#[test]
fn wrong_input_geometry_is_a_load_error() {
    // Reshaping to a fixed 16-element shape cannot compile for a 3x3 input.
    let mut model = mul_model();
    model
        .graph
        .nodes
        .push(Node::new("reshape", "Reshape", &["y", "shape"], &["out"]));
    model
        .graph
        .add_initializer(TensorData::from_i64("shape", vec![2], &[1, 16]));
    model.graph.outputs = vec![value("out", &[16])];
    let dir = tempfile::tempdir().unwrap();
    let path = save(&model, dir.path(), "reshape.onnx");
    let mut art = artifact(&path, Format::Fp32, 1, 3, 3);
    art.output = "out".into();
    let err = TractBackend.load(&art, &OPTS).err().unwrap();
    eprintln!("{err}");
    assert!(matches!(err, AdapterError::Load { .. }), "{err}");
}

#[test]
fn zero_batch_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = save(&mul_model(), dir.path(), "mul.onnx");
    let err = TractBackend
        .load(
            &artifact(&path, Format::Fp32, 1, 4, 4),
            &LoadOptions {
                threads: 1,
                batch: 0,
            },
        )
        .err()
        .unwrap();
    assert!(matches!(err, AdapterError::Load { .. }), "{err}");
}
