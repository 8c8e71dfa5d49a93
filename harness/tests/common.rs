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

/// Runs `artifact` on `backend` over `images` 28x28 images in batches of `batch` (2 threads) and
/// returns the concatenated outputs.
pub fn outputs(
    backend: &str,
    artifact: &qbench_core::Artifact,
    data: &[f32],
    images: usize,
    batch: usize,
) -> Vec<f32> {
    let b = qbench::registry::backend(backend).unwrap();
    b.check().unwrap_or_else(|e| panic!("{backend}: {e}"));
    let opts = qbench_core::LoadOptions { threads: 2, batch };
    let mut s = b
        .load(artifact, &opts)
        .unwrap_or_else(|e| panic!("{backend} cannot load {}: {e}", artifact.technique));
    let image = data.len() / images;
    let mut out = Vec::new();
    for chunk in data.chunks(batch * image) {
        let dims = [batch, 1, 28, 28];
        out.extend(
            s.run(&qbench_core::Batch {
                data: chunk,
                dims: &dims,
            })
            .unwrap()
            .data,
        );
    }
    out
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

/// `qbench compare --scenario resnet` on the shipped scenarios, with `extra` arguments.
pub fn compare_resnet(extra: &[&str]) -> Output {
    let dir = scenarios();
    let mut args = vec![
        "--scenarios",
        dir.to_str().unwrap(),
        "compare",
        "--scenario",
        "resnet",
    ];
    args.extend_from_slice(extra);
    qbench(&args)
}
