//! A scenario whose model qbench builds (`[model.synthetic]`: ResNet-18 layout, batch-norm
//! statistics from the calibration photos) and whose photos ship inside a pinned package
//! (`[data.package]`, fetched here from a local wheelhouse), evaluated on `image-crops`: built
//! once and cached, quick caps honoured, a wrong checksum refused with the file named.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::text;
use sha2::{Digest, Sha256};

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A small photo-like PNG (gradients and a disc), grey when `gray`.
fn photo(seed: u32, gray: bool) -> Vec<u8> {
    let (w, h) = (48 + seed * 8, 40);
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let d = ((x as i32 - 20).pow(2) + (y as i32 - 18).pow(2)) < 150;
        let r = (x * 5 + seed * 40) as u8;
        let g = if d { 230 } else { (y * 6) as u8 };
        let b = ((x + y) * 3) as u8;
        if gray {
            image::Rgb([r, r, r])
        } else {
            image::Rgb([r, g, b])
        }
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

const WHEEL: &str = "toyphotos-1.0-py3-none-any.whl";

/// Writes the wheel and the scenario; returns (scenarios folder, wheelhouse).
fn setup(dir: &Path, corrupt_sha: bool) -> (PathBuf, PathBuf) {
    let photos: Vec<(String, Vec<u8>)> = (0..4)
        .map(|i| (format!("toyphotos/photos/p{i}.png"), photo(i, i == 3)))
        .collect();
    let house = dir.join("wheelhouse");
    std::fs::create_dir_all(&house).unwrap();
    let mut zip = zip::ZipWriter::new(std::fs::File::create(house.join(WHEEL)).unwrap());
    for (path, bytes) in &photos {
        zip.start_file(path.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
    let archive_sha = sha(&std::fs::read(house.join(WHEEL)).unwrap());
    let files: Vec<String> = photos
        .iter()
        .enumerate()
        .map(|(i, (p, b))| {
            let s = if corrupt_sha && i == 2 {
                "0".repeat(64)
            } else {
                sha(b)
            };
            format!("{{ path = \"{p}\", sha256 = \"{s}\" }}")
        })
        .collect();
    let scenarios = dir.join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    let toml = format!(
        r#"name = "toy"
description = "synthetic ResNet-18 on packaged photos"
[model]
shape = [3, 32, 32]
classes = 10
[model.synthetic]
architecture = "resnet18"
seed = 5
statistics_samples = 8
[data]
source = "test photos"
[data.package]
registry = "pypi"
package = "toyphotos"
version = "1.0"
wheel = "{WHEEL}"
archive_sha256 = "{archive_sha}"
files = [{files}]
[data.eval.source]
kind = "image-crops"
files = ["toyphotos/photos/p0.png", "toyphotos/photos/p1.png"]
count = 12
seed = 1
[data.calibration.source]
kind = "image-crops"
files = ["toyphotos/photos/p2.png", "toyphotos/photos/p3.png"]
count = 12
seed = 2
[preprocess]
crop = 32
mean = [0.485, 0.456, 0.406]
std = [0.229, 0.224, 0.225]
[metric]
kind = "fidelity"
[quick]
eval_samples = 6
calibration_samples = 4
"#,
        files = files.join(", ")
    );
    std::fs::write(scenarios.join("toy.toml"), toml).unwrap();
    (scenarios, house)
}

fn compare(dir: &Path, scenarios: &Path, house: &Path, out: &str) -> Output {
    let ort = qbench_ort::locate_library().expect("ONNX Runtime is available");
    Command::new(env!("CARGO_BIN_EXE_qbench"))
        .args(["--scenarios", scenarios.to_str().unwrap()])
        .args([
            "compare",
            "--scenario",
            "toy",
            "--quick",
            "--backends",
            "ort,candle",
        ])
        .args([
            "--techniques",
            "fp32,ort-static-u8s8",
            "--throughput-batch",
            "4",
        ])
        .args(["--out", dir.join(out).to_str().unwrap()])
        .env("QBENCH_WHEELHOUSE", house)
        .env("QBENCH_CACHE_DIR", dir.join("cache"))
        .env("ORT_DYLIB_PATH", ort)
        .output()
        .expect("qbench runs")
}

#[test]
fn synthetic_model_on_packaged_photos() {
    let dir = tempfile::tempdir().unwrap();
    let (scenarios, house) = setup(dir.path(), false);
    let o = compare(dir.path(), &scenarios, &house, "a");
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("building the resnet18 model"),
        "{}",
        text(&o)
    );
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("a/quick.json")).unwrap()).unwrap();
    assert_eq!(run["settings"]["eval_samples"], 6, "the [quick] cap");
    assert!(run["metric"].as_str().unwrap().starts_with("fidelity"));
    assert!(
        run["data"].as_str().unwrap().contains("image-crops"),
        "{}",
        run["data"]
    );
    let rows = run["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    for r in rows {
        assert_eq!(r["status"], "ok", "{r}");
        assert!(r["accuracy"].is_null(), "no accuracy without labels: {r}");
    }
    let u8s8 = rows
        .iter()
        .find(|r| r["technique"] == "ort-static-u8s8" && r["backend"] == "ort")
        .unwrap();
    let cos = u8s8["cosine_vs_fp32"].as_f64().unwrap();
    // 4 calibration crops of a 32x32 model: close to FP32, never equal.
    assert!(cos > 0.5 && cos < 1.0, "int8 against FP32: cosine {cos}");
    let models: Vec<_> = std::fs::read_dir(dir.path().join("cache/models"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(models.len(), 1, "{models:?}");
    let model = qbench_onnx::Model::load(&models[0]).unwrap();
    let bn = model
        .graph
        .nodes
        .iter()
        .filter(|n| n.op_type == "BatchNormalization");
    assert_eq!(bn.count(), 20, "batch norm unfused, as exported by torch");

    // A second run reuses the cached model.
    let o = compare(dir.path(), &scenarios, &house, "b");
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        !text(&o).contains("building the resnet18 model"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_wrong_checksum_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (scenarios, house) = setup(dir.path(), true);
    let o = compare(dir.path(), &scenarios, &house, "a");
    assert!(!o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("p2.png") && t.contains("toyphotos"), "{t}");
    assert!(!t.contains("panicked"), "{t}");
}
