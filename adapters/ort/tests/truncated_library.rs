//! A truncated copy of ONNX Runtime's library (an interrupted download, a full disk) used to kill
//! the process with SIGBUS when loaded; now it is reported as unavailable, naming the file.
//! Own test binary: ONNX Runtime is loaded (or fails to) once per process.

use qbench_core::{AdapterError, Backend};
use qbench_ort::OrtBackend;

#[test]
fn truncated_library_is_unavailable_not_a_crash() {
    let real =
        qbench_ort::locate_library().expect("ONNX Runtime's library (provisioned by qbench)");
    let bytes = std::fs::read(&real).expect("read the library");
    let dir = tempfile::tempdir().expect("tempdir");
    let lib = dir.path().join("libonnxruntime.so.1.31.1");
    std::fs::write(&lib, &bytes[..bytes.len() / 2]).expect("write");
    std::env::set_var("ORT_DYLIB_PATH", &lib);
    let err = OrtBackend::new().check().err();
    assert!(
        matches!(&err, Some(AdapterError::Unavailable { reason, .. })
            if reason.contains("truncated") && reason.contains(&*lib.to_string_lossy())),
        "{err:?}"
    );
}
