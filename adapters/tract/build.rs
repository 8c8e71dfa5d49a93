//! Records the resolved tract-onnx version (from the workspace `Cargo.lock`) as
//! `QBENCH_TRACT_ONNX_VERSION`, since tract exports no version constant of its own.

use std::{env, fs, path::PathBuf};

fn main() {
    let lock = env::var_os("CARGO_MANIFEST_DIR")
        .map(|dir| PathBuf::from(dir).join("../../Cargo.lock"))
        .unwrap_or_else(|| PathBuf::from("Cargo.lock"));
    println!("cargo:rerun-if-changed={}", lock.display());
    let version = fs::read_to_string(&lock)
        .ok()
        .and_then(|text| locked_version(&text, "tract-onnx"))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=QBENCH_TRACT_ONNX_VERSION={version}");
}

/// The `version` of the `[[package]]` entry named `name` in a Cargo.lock.
fn locked_version(lock: &str, name: &str) -> Option<String> {
    let wanted = format!("name = \"{name}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == wanted {
            let next = lines.next()?.trim();
            return next
                .strip_prefix("version = \"")
                .and_then(|v| v.strip_suffix('"'))
                .map(str::to_string);
        }
    }
    None
}
