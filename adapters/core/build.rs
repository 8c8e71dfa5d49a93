//! Records the resolved versions of the runtime crates the backends link (from the workspace
//! `Cargo.lock`) as `QBENCH_TRACT_ONNX_VERSION` and `QBENCH_CANDLE_CORE_VERSION`: neither crate
//! exports a version constant of its own, and a results file must say what ran.

use std::{env, fs, path::PathBuf};

fn main() {
    let lock = env::var_os("CARGO_MANIFEST_DIR")
        .map(|dir| PathBuf::from(dir).join("../../Cargo.lock"))
        .unwrap_or_else(|| PathBuf::from("Cargo.lock"));
    println!("cargo:rerun-if-changed={}", lock.display());
    let text = fs::read_to_string(&lock).unwrap_or_default();
    for (krate, var) in [
        ("tract-onnx", "QBENCH_TRACT_ONNX_VERSION"),
        ("candle-core", "QBENCH_CANDLE_CORE_VERSION"),
    ] {
        let version = locked_version(&text, krate).unwrap_or_else(|| "unknown".to_string());
        println!("cargo:rustc-env={var}={version}");
    }
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
