//! Already-quantized models from another tool (ONNX Runtime 1.31.1's `quantize_static` and
//! `quantize_dynamic` on the resnet model, `scripts/ort_tool_artifacts.py`, listed in the resnet
//! scenario's `[[artifacts]]`): their format is read
//! from the graph, they run as rows of their own on every backend that can run them, and a model
//! that does not take the FP32 model's input or give its output is refused before anything runs.

mod common;

use std::path::{Path, PathBuf};

use common::{compare_resnet, scenarios, text};
use qbench_core::Format;
use qbench_onnx::Model;

fn fixture(name: &str) -> PathBuf {
    scenarios().join("resnet/imported").join(name)
}

#[test]
fn the_format_is_read_from_the_graph() {
    for (file, format) in [
        ("ort_tool_qdq.onnx", Format::Qdq),
        // QLinearAdd, QGemm and QLinearGlobalAveragePool are contrib operators: ONNX Runtime only.
        ("ort_tool_qoperator.onnx", Format::OrtContrib),
        ("ort_tool_dynamic.onnx", Format::Dynamic),
    ] {
        let m = Model::load(fixture(file)).unwrap();
        assert_eq!(qbench::imported::detect_format(&m), format, "{file}");
    }
    let fp32 = scenarios().join("resnet/resnet.onnx");
    let m = Model::load(&fp32).unwrap();
    assert_eq!(qbench::imported::detect_format(&m), Format::Fp32);
}

fn compare(out: &Path, extra: &[&str]) -> std::process::Output {
    let o = out.to_str().unwrap();
    let mut args = vec!["--quick", "--rounds", "1", "--format", "json", "--out", o];
    args.extend_from_slice(extra);
    compare_resnet(&args)
}

#[test]
fn imported_models_are_rows_on_every_backend_that_can_run_them() {
    let out = tempfile::tempdir().unwrap();
    // The scenario's two static models, and the QDQ one again from the command line.
    let again = format!("again-qdq={}", fixture("ort_tool_qdq.onnx").display());
    let o = compare(
        out.path(),
        &[
            "--techniques",
            "fp32,ort-tool-u8s8-per-channel,ort-tool-qoperator,again-qdq",
            "--artifact",
            &again,
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("quick.json")).unwrap()).unwrap();
    let rows = run["rows"].as_array().unwrap();
    let row = |t: &str, b: &str| {
        rows.iter()
            .find(|r| r["technique"] == t && r["backend"] == b)
            .unwrap_or_else(|| panic!("no row {t} / {b}"))
    };
    for backend in ["ort", "tract", "candle"] {
        let fp32 = row("fp32", backend)["accuracy"].as_f64().unwrap();
        let r = row("ort-tool-u8s8-per-channel", backend);
        assert_eq!(r["status"], "ok", "{r}");
        assert_eq!(
            (r["framework"].as_str(), r["format"].as_str()),
            (Some("onnxruntime-tool"), Some("qdq"))
        );
        let again = row("again-qdq", backend);
        assert_eq!(again["framework"], "imported");
        assert_eq!(
            again["accuracy"], r["accuracy"],
            "the same file measures the same"
        );
        // int8 per-channel on a model that keeps 92-93%: within 2 points of FP32, measured.
        let a = r["accuracy"].as_f64().unwrap();
        assert!((a - fp32).abs() < 0.02, "{backend}: {a} vs fp32 {fp32}");
        assert!(r["agreement_with_fp32"].as_f64().unwrap() > 0.95, "{r}");
        assert!(
            r["notes"].as_str().unwrap().contains("imported from"),
            "{r}"
        );
        assert!(r["size_bytes"].as_u64().unwrap() > 50_000);
        // QOperator: measured where the backend runs it, else unsupported with the reason.
        let q = row("ort-tool-qoperator", backend);
        assert_ne!(q["status"], "failed", "{q}");
        if q["status"] == "unsupported" {
            assert!(!q["reason"].as_str().unwrap().is_empty());
        }
    }
    assert_eq!(row("ort-tool-qoperator", "ort")["status"], "ok");
}

#[test]
fn a_model_that_does_not_fit_the_fp32_model_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut renamed = Model::load(fixture("ort_tool_qdq.onnx")).unwrap();
    let old = renamed.graph.inputs[0].name.clone();
    renamed.graph.inputs[0].name = "image".into();
    for n in &mut renamed.graph.nodes {
        for i in &mut n.inputs {
            if *i == old {
                *i = "image".into();
            }
        }
    }
    let renamed_path = dir.path().join("renamed.onnx");
    renamed.save(&renamed_path).unwrap();
    // A valid model whose only output is an intermediate value, not the logits.
    let mut no_logits = Model::load(fixture("ort_tool_qdq.onnx")).unwrap();
    no_logits.graph.outputs[0].name = no_logits.graph.nodes[0].outputs[0].clone();
    let no_logits_path = dir.path().join("no_logits.onnx");
    no_logits.save(&no_logits_path).unwrap();
    let truncated = dir.path().join("truncated.onnx");
    let bytes = std::fs::read(fixture("ort_tool_qdq.onnx")).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    for (path, message) in [
        (&renamed_path, "the model has no input \"input\""),
        (&no_logits_path, "the model has no output \"logits\""),
        (&truncated, "truncated.onnx"),
    ] {
        let out = dir.path().join("out");
        let spec = format!("other={}", path.display());
        let o = compare(&out, &["--techniques", "fp32", "--artifact", &spec]);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(1), "{t}");
        assert!(
            t.contains(message) && t.contains(path.to_str().unwrap()),
            "{t}"
        );
        assert!(!out.join("quick.partial.json").exists(), "nothing ran");
    }
    // A name that is already a row.
    let spec = format!("fp32={}", fixture("ort_tool_qdq.onnx").display());
    let o = compare(&dir.path().join("out"), &["--artifact", &spec]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("already a row"), "{}", text(&o));
}
