//! `ORT_DYLIB_PATH` naming a real library whose file name carries no version: the backend loads
//! it and reports the version the library itself gives. Own test binary (process-global state).

use qbench_core::{AdapterError, Backend};
use qbench_ort::{locate_library, runtime, Origin, OrtBackend};

#[test]
fn loads_from_ort_dylib_path_and_reports_its_version() -> Result<(), AdapterError> {
    std::env::remove_var("ORT_DYLIB_PATH");
    let real = locate_library()?;
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = dir.path().join("libonnxruntime.so");
    if std::fs::hard_link(&real, &plain).is_err() {
        std::fs::copy(&real, &plain).expect("copy library");
    }
    std::env::set_var("ORT_DYLIB_PATH", &plain);

    let backend = OrtBackend::new();
    backend.check()?;
    let rt = runtime()?;
    assert_eq!(rt.origin, Origin::EnvVar);
    assert_eq!(
        rt.path.file_name().and_then(|n| n.to_str()),
        Some("libonnxruntime.so")
    );
    // Neither the file name nor the build info (`git-branch=HEAD` in PyPI builds) says 1.31.x.
    assert!(
        backend.version().starts_with("1.31."),
        "{}",
        backend.version()
    );
    Ok(())
}
