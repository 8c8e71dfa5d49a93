//! End-to-end: build a tiny ONNX model with the IR crate and run it on ONNX Runtime.
//!
//! Needs the ONNX Runtime library (located or downloaded once by `qbench_ort::locate`).

use std::path::{Path, PathBuf};

use qbench_core::{
    AdapterError, Artifact, Backend, Batch, Format, InputSpec, LoadOptions, Support,
};
use qbench_onnx::{Attribute, DType, Dim, Graph, Model, Node, TensorData, ValueInfo};
use qbench_ort::OrtBackend;

const W: [f32; 2] = [2.0, -1.0];
const B: [f32; 2] = [0.5, 0.25];

/// x[N,1,2,2] -> Conv 1x1 (2 output channels) -> Relu -> Flatten -> y[N,8].
fn tiny_model(path: &Path) {
    let value = |name: &str, shape: Vec<Dim>| ValueInfo {
        name: name.into(),
        dtype: DType::F32,
        shape,
    };
    let n = || Dim::Param("N".into());
    let graph = Graph {
        name: "tiny".into(),
        nodes: vec![
            Node::new("conv", "Conv", &["x", "w", "b"], &["c"])
                .with_attr("kernel_shape", Attribute::Ints(vec![1, 1])),
            Node::new("relu", "Relu", &["c"], &["r"]),
            Node::new("flat", "Flatten", &["r"], &["y"]).with_attr("axis", Attribute::Int(1)),
        ],
        initializers: vec![
            TensorData::from_f32("w", vec![2, 1, 1, 1], &W),
            TensorData::from_f32("b", vec![2], &B),
        ],
        inputs: vec![value(
            "x",
            vec![n(), Dim::Fixed(1), Dim::Fixed(2), Dim::Fixed(2)],
        )],
        outputs: vec![value("y", vec![n(), Dim::Fixed(8)])],
        value_info: Vec::new(),
    };
    Model::new(graph, 13).save(path).expect("save tiny model");
}

/// The model computed by hand: per image, channel-major relu(w[c] * x + b[c]).
fn expected(x: &[f32]) -> Vec<f32> {
    x.chunks(4)
        .flat_map(|img| {
            (0..2).flat_map(move |c| img.iter().map(move |v| (W[c] * v + B[c]).max(0.0)))
        })
        .collect()
}

fn artifact(path: PathBuf) -> Artifact {
    Artifact {
        technique: "fp32".into(),
        format: Format::Fp32,
        path,
        input: InputSpec::image("x", 1, 2, 2),
        output: "y".into(),
    }
}

fn assert_close(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= 1e-6, "{got:?} vs {want:?}");
    }
}

#[test]
fn runs_a_tiny_model_at_batch_1_and_3() -> Result<(), AdapterError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tiny.onnx");
    tiny_model(&path);
    let backend = OrtBackend::new();
    backend.check()?;
    let rt = qbench_ort::runtime()?;
    eprintln!(
        "ONNX Runtime {} from {} ({}); notes: {:?}",
        backend.version(),
        rt.path.display(),
        rt.origin,
        rt.notes
    );
    assert!(
        backend.version().starts_with("1.31."),
        "version {}",
        backend.version()
    );

    for threads in [1, 2] {
        for batch in [1usize, 3] {
            let opts = LoadOptions { threads, batch };
            let mut session = backend.load(&artifact(path.clone()), &opts)?;
            let x: Vec<f32> = (0..batch * 4).map(|i| i as f32 * 0.5 - 2.0).collect();
            let out = session.run(&Batch {
                data: &x,
                dims: &[batch, 1, 2, 2],
            })?;
            assert_eq!(out.dims, vec![batch, 8]);
            assert_close(&out.data, &expected(&x));
            // A second run on the same session gives the same answer.
            let again = session.run(&Batch {
                data: &x,
                dims: &[batch, 1, 2, 2],
            })?;
            assert_eq!(again, out);
        }
    }
    Ok(())
}

#[test]
fn reports_name_and_supports_every_format() {
    let backend = OrtBackend::new();
    assert_eq!(backend.name(), "ort");
    for format in [
        Format::Fp32,
        Format::Qdq,
        Format::QOperator,
        Format::Dynamic,
        Format::OrtContrib,
        Format::Fp16,
    ] {
        let a = Artifact {
            format,
            ..artifact(PathBuf::from("m.onnx"))
        };
        assert_eq!(backend.supports(&a), Support::Yes, "{format:?}");
    }
}

#[test]
fn truncated_model_is_a_load_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("tiny.onnx");
    tiny_model(&good);
    let bytes = std::fs::read(&good).expect("read model");
    let bad = dir.path().join("truncated.onnx");
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).expect("write truncated");

    let opts = LoadOptions {
        threads: 1,
        batch: 1,
    };
    match OrtBackend::new().load(&artifact(bad.clone()), &opts) {
        Err(AdapterError::Load { path, reason, .. }) => {
            eprintln!("truncated model: {reason}");
            assert_eq!(path, bad);
            assert!(!reason.is_empty());
        }
        Err(other) => panic!("expected a load error, got {other}"),
        Ok(_) => panic!("a truncated model loaded"),
    }
}

#[test]
fn missing_model_and_wrong_names_are_load_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = LoadOptions {
        threads: 1,
        batch: 1,
    };
    let backend = OrtBackend::new();
    let missing = dir.path().join("nope.onnx");
    let err = backend.load(&artifact(missing.clone()), &opts).err();
    assert!(
        matches!(&err, Some(AdapterError::Load { path, .. }) if *path == missing),
        "{err:?}"
    );

    let path = dir.path().join("tiny.onnx");
    tiny_model(&path);
    let wrong_output = Artifact {
        output: "logits".into(),
        ..artifact(path.clone())
    };
    let err = backend.load(&wrong_output, &opts).err();
    assert!(
        matches!(&err, Some(AdapterError::Load { reason, .. }) if reason.contains("logits")),
        "{err:?}"
    );
    let mut wrong_input = artifact(path);
    wrong_input.input.name = "image".into();
    let err = backend.load(&wrong_input, &opts).err();
    assert!(
        matches!(&err, Some(AdapterError::Load { reason, .. }) if reason.contains("image")),
        "{err:?}"
    );
}

#[test]
fn bad_batches_are_run_errors() -> Result<(), AdapterError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tiny.onnx");
    tiny_model(&path);
    let mut session = OrtBackend::new().load(
        &artifact(path),
        &LoadOptions {
            threads: 1,
            batch: 1,
        },
    )?;
    let x = [0.0f32; 4];
    let short = session.run(&Batch {
        data: &x[..3],
        dims: &[1, 1, 2, 2],
    });
    assert!(matches!(short, Err(AdapterError::Run { .. })), "{short:?}");
    // Two channels where the model has one: ONNX Runtime rejects it.
    let x = [0.0f32; 8];
    let wrong = session.run(&Batch {
        data: &x,
        dims: &[1, 2, 2, 2],
    });
    assert!(matches!(wrong, Err(AdapterError::Run { .. })), "{wrong:?}");
    Ok(())
}
