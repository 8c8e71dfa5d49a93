//! The provisioned library is checked against its pinned SHA-256 on every use: a truncated copy
//! in the cache (an interrupted extraction, a full disk) is never handed to the loader, which
//! would die of SIGBUS on it. Own test binary: it sets environment variables.

#[test]
fn a_truncated_cached_library_is_not_used() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cache = tmp.path().join("cache");
    let Some(lib) = qbench_ort::cached_library(&cache) else {
        return; // no pinned wheel for this architecture
    };
    std::fs::create_dir_all(lib.parent().unwrap()).unwrap();
    std::fs::write(&lib, b"\x7fELF\x02\x01\x01 truncated").unwrap();
    // A wheelhouse whose wheel bears the pinned name but not its content: provisioning must go
    // through the archive check (no download), and fail there.
    let house = tmp.path().join("house");
    std::fs::create_dir_all(&house).unwrap();
    let wheel = format!(
        "onnxruntime-1.31.1-cp312-cp312-manylinux_2_28_{}.whl",
        std::env::consts::ARCH
    );
    std::fs::write(house.join(wheel), b"not a wheel").unwrap();
    std::env::set_var("QBENCH_WHEELHOUSE", &house);
    let err = qbench_ort::provision(&cache).expect_err("the truncated library was accepted");
    assert!(
        err.to_lowercase().contains("sha-256") || err.contains("sha256"),
        "{err}"
    );
}
