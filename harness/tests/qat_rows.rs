//! The QAT rows of the resnet scenario: `compare` measures what `qbench train --qat` wrote next
//! to the FP32 model, says how to make a missing one, and refuses an artifact fine-tuned from
//! another FP32 model or changed after training, never measuring it silently.

mod common;

use std::path::Path;

use common::{qbench, scenario_copy, scenarios, text};

/// A scenario whose FP32 model (and QAT files, when `with_qat`) are copies in its own folder.
fn scenario(with_qat: bool) -> tempfile::TempDir {
    let dir = scenario_copy(|t| t);
    let toml = dir.path().join("resnet.toml");
    let src = scenarios().canonicalize().unwrap().join("resnet");
    let models = dir.path().join("models");
    std::fs::create_dir(&models).unwrap();
    std::fs::copy(src.join("resnet.onnx"), models.join("resnet.onnx")).unwrap();
    if with_qat {
        for f in ["resnet.pytorch-qat.onnx", "resnet.pytorch-qat.train.json"] {
            std::fs::copy(src.join(f), models.join(f)).unwrap();
        }
    }
    let text = std::fs::read_to_string(&toml).unwrap().replace(
        &format!("path = \"{}/resnet.onnx\"", src.display()),
        &format!("path = \"{}/resnet.onnx\"", models.display()),
    );
    assert!(
        text.contains(&models.display().to_string()),
        "model path not replaced"
    );
    std::fs::write(&toml, text).unwrap();
    dir
}

/// The pytorch-qat row on tract after a quick compare.
fn row(dir: &Path) -> serde_json::Value {
    let out = dir.join("out");
    let o = qbench(&[
        "--scenarios",
        dir.to_str().unwrap(),
        "compare",
        "--scenario",
        "resnet",
        "--quick",
        "--rounds",
        "1",
        "--backends",
        "tract",
        "--techniques",
        "fp32,pytorch-qat",
        "--format",
        "json",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("quick.json")).unwrap()).unwrap();
    run["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["technique"] == "pytorch-qat")
        .cloned()
        .expect("a pytorch-qat row")
}

#[test]
fn a_missing_qat_model_says_how_to_make_it_and_the_run_goes_on() {
    let dir = scenario(false);
    let r = row(dir.path());
    assert_eq!(r["status"], "unsupported", "{r}");
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains("run `qbench train --scenario resnet --qat pytorch-qat`"),
        "{reason}"
    );
}

#[test]
fn a_trained_qat_model_is_measured_with_its_training_time() {
    let dir = scenario(true);
    let r = row(dir.path());
    assert_eq!(r["status"], "ok", "{r}");
    assert_eq!(r["framework"], "pytorch");
    assert!(r["training_s"].as_f64().unwrap() > 0.0, "{r}");
    assert!(r["accuracy"].as_f64().unwrap() > 0.8, "{r}");
}

#[test]
fn a_qat_model_of_another_fp32_model_or_changed_after_training_is_refused() {
    let dir = scenario(true);
    let models = dir.path().join("models");
    // The FP32 model changes (as after `qbench train` again): the QAT model is stale.
    let fp32 = models.join("resnet.onnx");
    let mut m = qbench_onnx::Model::load(&fp32).unwrap();
    m.graph.name.push_str("_retrained");
    m.save(&fp32).unwrap();
    let r = row(dir.path());
    assert_eq!(r["status"], "unsupported", "{r}");
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains("stale: fine-tuned from another FP32 model"),
        "{reason}"
    );
    // The QAT artifact itself differs from the one its log describes.
    let dir = scenario(true);
    let qat = dir.path().join("models/resnet.pytorch-qat.onnx");
    let mut m = qbench_onnx::Model::load(&qat).unwrap();
    m.graph.name.push_str("_edited");
    m.save(&qat).unwrap();
    let r = row(dir.path());
    assert_eq!(r["status"], "unsupported", "{r}");
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("is not the file its training log describes"),
        "{r}"
    );
}
