//! The FP32 model gives the same answers on ort, tract and candle over the whole evaluation set,
//! and an IR load/save round trip changes nothing that ort or tract can see.

mod common;

use qbench::scenario::Scenario;
use qbench_core::Artifact;

const BATCH: usize = 100;

fn outputs(backend: &str, artifact: &Artifact, data: &[f32], n: usize) -> Vec<f32> {
    common::outputs(backend, artifact, data, n, BATCH)
}

fn argmax(logits: &[f32]) -> Vec<usize> {
    logits
        .chunks(10)
        .map(|r| (0..10).max_by(|a, b| r[*a].total_cmp(&r[*b])).unwrap())
        .collect()
}

#[test]
fn backends_agree_on_the_full_evaluation_set() {
    let sc = Scenario::load_resolved(&common::scenarios(), "resnet").unwrap();
    let eval = sc.eval_data().unwrap();
    let n = eval.len() / BATCH * BATCH;
    let data = qbench_data::read_batch(eval.as_ref(), 0, n).unwrap();
    let art = sc.fp32_artifact().unwrap();
    let preds: Vec<(String, Vec<usize>)> = ["ort", "tract", "candle"]
        .iter()
        .map(|b| (b.to_string(), argmax(&outputs(b, &art, &data, n))))
        .collect();
    for (name, p) in &preds {
        let agree = p.iter().zip(&preds[0].1).filter(|(a, b)| a == b).count() as f64 / n as f64;
        assert!(
            agree >= 0.999,
            "{name} agrees with {} on only {:.4}",
            preds[0].0,
            agree
        );
        let labels = qbench_data::labels(eval.as_ref()).unwrap();
        let acc = p
            .iter()
            .zip(&labels)
            .filter(|(a, l)| **a == **l as usize)
            .count() as f64
            / n as f64;
        assert!(acc >= 0.90, "{name}: top-1 {acc}");
    }
}

#[test]
fn ir_round_trip_gives_identical_outputs_on_ort_and_tract() {
    let sc = Scenario::load_resolved(&common::scenarios(), "resnet").unwrap();
    let eval = sc.eval_data().unwrap();
    let art = sc.fp32_artifact().unwrap();
    let model = qbench_onnx::Model::load(&art.path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let copy = Artifact {
        path: dir.path().join("copy.onnx"),
        ..art.clone()
    };
    model.save(&copy.path).unwrap();
    assert_eq!(qbench_onnx::Model::load(&copy.path).unwrap(), model);
    let data = qbench_data::read_batch(eval.as_ref(), 0, BATCH).unwrap();
    for backend in ["ort", "tract"] {
        let a = outputs(backend, &art, &data, BATCH);
        let b = outputs(backend, &copy, &data, BATCH);
        assert_eq!(a, b, "{backend}: outputs differ after the round trip");
    }
}
