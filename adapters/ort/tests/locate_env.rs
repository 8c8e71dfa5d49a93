//! `ORT_DYLIB_PATH` and the cache directory steer where the library is found. Environment
//! variables are process-global and ONNX Runtime loads once per process, so this file is its own
//! test binary with a single test that runs its steps in order.

use std::env;
use std::fs;

use qbench_core::{AdapterError, Backend};
use qbench_ort::{locate, Origin, OrtBackend};

#[test]
fn env_var_then_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such-libonnxruntime.so");
    env::set_var("ORT_DYLIB_PATH", &missing);

    // A missing ORT_DYLIB_PATH is reported by name, with no fallback and no panic.
    let backend = OrtBackend::new();
    match backend.check() {
        Err(AdapterError::Unavailable { backend, reason }) => {
            assert_eq!(backend, "ort");
            assert!(reason.contains("ORT_DYLIB_PATH"), "{reason}");
            assert!(reason.contains(&*missing.to_string_lossy()), "{reason}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(backend.version(), "1.31.1 (expected)");
    let err = locate().err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains(&*missing.to_string_lossy()), "{err}");

    // An existing file named by ORT_DYLIB_PATH is taken as is.
    let file = dir.path().join("libonnxruntime.so");
    fs::write(&file, b"not really").expect("write");
    env::set_var("ORT_DYLIB_PATH", &file);
    let found = locate().expect("locate via ORT_DYLIB_PATH");
    assert_eq!(
        (found.path, found.origin),
        (
            fs::canonicalize(&file).expect("canonicalize"),
            Origin::EnvVar
        )
    );

    // Without it, the library in the cache directory is found (unless Python provides one
    // first), verified against its pinned SHA-256: the real one qbench provisioned, copied.
    env::remove_var("ORT_DYLIB_PATH");
    let Some(real) = qbench_ort::cache_dir().and_then(|c| qbench_ort::cached_library(&c)) else {
        return;
    };
    if !real.is_file() {
        return; // this machine's ONNX Runtime comes from elsewhere (Python)
    }
    let cache = dir.path().join("cache");
    let cached = qbench_ort::cached_library(&cache).expect("a pin for this architecture");
    fs::create_dir_all(cached.parent().expect("parent")).expect("mkdir");
    fs::copy(&real, &cached).expect("copy");
    env::set_var("QBENCH_CACHE_DIR", &cache);
    let found = locate().expect("locate via cache");
    match found.origin {
        Origin::Cache => assert_eq!(found.path, cached),
        Origin::Python => assert!(found.path.to_string_lossy().contains("libonnxruntime.so.")),
        other => panic!("unexpected origin {other:?}"),
    }
    assert!(!found.notes.is_empty());
}
