//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// The scenarios folder under test: `$QBENCH_SCENARIOS`, else the repository's.
pub fn scenarios() -> PathBuf {
    std::env::var_os("QBENCH_SCENARIOS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("scenarios")
        })
}

/// Runs the qbench binary with arguments.
pub fn qbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qbench"))
        .args(args)
        .output()
        .expect("qbench runs")
}

/// stdout + stderr as text.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A copy of the resnet scenario file in a temporary folder, with every relative path made
/// absolute, and `edit` applied to its text.
pub fn scenario_copy(edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = scenarios();
    let text = std::fs::read_to_string(src.join("resnet.toml")).unwrap();
    let abs = src.canonicalize().unwrap().join("resnet");
    let text = text.replace("\"resnet/", &format!("\"{}/", abs.display()));
    std::fs::write(dir.path().join("resnet.toml"), edit(text)).unwrap();
    dir
}
