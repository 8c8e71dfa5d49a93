//! Fetching ONNX Runtime once into the user cache, through `qbench-provision`: the exact
//! `onnxruntime==1.31.1` wheel for this machine's architecture from the Python package index,
//! pinned by its SHA-256, and the shared library inside it, pinned by its own. The cached library
//! is verified on every use (a stamp of its hash, size and modification time spares re-hashing
//! it), so a truncated or altered copy is extracted again rather than loaded.

use std::path::{Path, PathBuf};

use qbench_provision::{dest_path, provide, PackageFile, ProvisionError};

use crate::{LIB_FILE, ORT_VERSION};

/// The CPython 3.12 manylinux wheels of `onnxruntime==1.31.1` (the library inside does not depend
/// on the Python version): (architecture, wheel, wheel SHA-256, library SHA-256), as PyPI serves
/// them.
const WHEELS: &[(&str, &str, &str, &str)] = &[
    (
        "x86_64",
        "onnxruntime-1.31.1-cp312-cp312-manylinux_2_28_x86_64.whl",
        "1f3dea47f2f0e5117c2404cea7d21fd253ae7836a3bf167a501cdfbb2600d536",
        "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3",
    ),
    (
        "aarch64",
        "onnxruntime-1.31.1-cp312-cp312-manylinux_2_28_aarch64.whl",
        "0b9a492176886992e0e875f06bc0367e333f5fff11711a2d642e18b02f3009cc",
        "8aa3b76b28c778a2b1dd660d34161adb1d508c9ccd04ff9dc80e26eca5df8467",
    ),
];

/// The pinned library for `arch` (`std::env::consts::ARCH`), if qbench has a pin for it.
pub(crate) fn pin_for(arch: &str) -> Option<PackageFile> {
    WHEELS
        .iter()
        .find(|(a, ..)| *a == arch)
        .map(|(_, wheel, archive, lib)| PackageFile {
            registry: "pypi".into(),
            package: "onnxruntime".into(),
            version: ORT_VERSION.into(),
            archive_sha256: (*archive).into(),
            wheel: Some((*wheel).into()),
            path: format!("onnxruntime/capi/{LIB_FILE}"),
            sha256: (*lib).into(),
        })
}

/// Where the provisioned library lives in `cache_dir` (whether or not it is there yet).
pub fn cached_library(cache_dir: &Path) -> Option<PathBuf> {
    pin_for(std::env::consts::ARCH).map(|p| dest_path(&p, cache_dir))
}

/// The library in `cache_dir`, verified against its pin, downloaded and extracted first if it is
/// missing or does not match (safe against concurrent callers).
pub fn provision(cache_dir: &Path) -> Result<PathBuf, String> {
    let arch = std::env::consts::ARCH;
    let pin = pin_for(arch).ok_or_else(|| {
        format!("qbench has no pinned onnxruntime {ORT_VERSION} wheel for {arch}")
    })?;
    provide(&pin, cache_dir).map_err(|e: ProvisionError| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pin_names_the_library_of_this_version() {
        let pin = pin_for("x86_64").unwrap();
        assert!(pin
            .wheel
            .as_deref()
            .unwrap()
            .starts_with("onnxruntime-1.31.1-"));
        assert!(pin.path.ends_with(LIB_FILE));
        assert!(pin_for("sparc").is_none());
        let cached = cached_library(Path::new("/c")).unwrap();
        assert!(
            cached.starts_with("/c/packages/onnxruntime-1.31.1"),
            "{}",
            cached.display()
        );
    }
}
