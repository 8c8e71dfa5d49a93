//! A file that is not ONNX Runtime must give an error from `check()`, not a panic later.
//! Own test binary: ONNX Runtime is loaded (or fails to) once per process.

use qbench_core::{AdapterError, Artifact, Backend, Format, InputSpec, LoadOptions};
use qbench_ort::OrtBackend;

#[test]
fn bogus_library_is_unavailable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lib = dir.path().join("libonnxruntime.so.1.31.1");
    std::fs::write(&lib, b"this is not an ELF file").expect("write");
    std::env::set_var("ORT_DYLIB_PATH", &lib);

    let backend = OrtBackend::new();
    let err = backend.check().err();
    assert!(
        matches!(&err, Some(AdapterError::Unavailable { reason, .. }) if reason.contains(&*lib.to_string_lossy())),
        "{err:?}"
    );
    // Later calls see the same cached error; loading a model does not touch `ort`.
    let artifact = Artifact {
        technique: "fp32".into(),
        format: Format::Fp32,
        path: dir.path().join("m.onnx"),
        input: InputSpec::image("x", 1, 2, 2),
        output: "y".into(),
    };
    let err = backend
        .load(
            &artifact,
            &LoadOptions {
                threads: 1,
                batch: 1,
            },
        )
        .err();
    assert!(
        matches!(err, Some(AdapterError::Unavailable { .. })),
        "{err:?}"
    );
    assert_eq!(backend.version(), "1.31.1 (expected)");
}
