//! `qbench check` as CI runs it, on the committed quick baseline: a run passes against itself,
//! a degraded copy fails with exit 1, unusable input exits 2.

mod common;

use std::path::PathBuf;

use common::{qbench, text};
use serde_json::Value;

fn baseline() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../results/resnet/baseline.json")
}

fn check(run: &std::path::Path) -> std::process::Output {
    qbench(&[
        "check",
        "--baseline",
        baseline().to_str().unwrap(),
        "--run",
        run.to_str().unwrap(),
    ])
}

fn degraded(edit: impl Fn(&mut Value)) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let mut v: Value = serde_json::from_slice(&std::fs::read(baseline()).unwrap()).unwrap();
    edit(&mut v);
    let p = dir.path().join("run.json");
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    (dir, p)
}

fn row<'a>(v: &'a mut Value, technique: &str, backend: &str) -> &'a mut Value {
    v["rows"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|r| r["technique"] == technique && r["backend"] == backend)
        .unwrap()
}

#[test]
fn the_baseline_passes_against_itself() {
    let o = check(&baseline());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("no regressions"));
}

#[test]
fn degraded_runs_exit_1() {
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<Edit> = vec![
        Box::new(|v| {
            let r = row(v, "ort-static-minmax", "ort");
            let a = r["accuracy"].as_f64().unwrap();
            r["accuracy"] = (a - 0.05).into();
        }),
        Box::new(|v| {
            let r = row(v, "ort-static-minmax", "tract");
            let s = r["size_bytes"].as_u64().unwrap();
            r["size_bytes"] = (s * 2).into();
        }),
        Box::new(|v| {
            let r = row(v, "pytorch-fbgemm", "ort");
            let p = r["latency_ms"]["p50"].as_f64().unwrap();
            r["latency_ms"]["p50"] = (p * 3.0).into();
        }),
        Box::new(|v| {
            let r = row(v, "tflite-float16", "candle");
            r["status"] = "failed".into();
            r["reason"] = "killed by signal 11".into();
        }),
    ];
    for (i, edit) in cases.iter().enumerate() {
        let (_dir, p) = degraded(edit);
        let o = check(&p);
        assert_eq!(o.status.code(), Some(1), "case {i}: {}", text(&o));
        assert!(text(&o).contains("REGRESSION"), "case {i}: {}", text(&o));
    }
}

#[test]
fn unusable_input_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, b"{ not json").unwrap();
    let o = check(&bad);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("bad.json"));
    let o = check(&dir.path().join("missing.json"));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let (_d, other) = degraded(|v| v["scenario"] = "other".into());
    let o = check(&other);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("scenario"), "{}", text(&o));
}

#[test]
fn an_empty_baseline_is_unusable_and_strict_fails_on_warnings() {
    let (_d, empty) = degraded(|v| v["rows"] = Value::Array(vec![]));
    let o = qbench(&[
        "check",
        "--baseline",
        empty.to_str().unwrap(),
        "--run",
        baseline().to_str().unwrap(),
    ]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("no rows"), "{t}");
    // A run whose cell lost its top-1: a warning, and a failure under --strict.
    let (_d2, run) = degraded(|v| row(v, "ort-static-minmax", "ort")["accuracy"] = Value::Null);
    let o = check(&run);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(
        t.contains("warning: ") && t.contains("top-1 is not gated"),
        "{t}"
    );
    let o = qbench(&[
        "check",
        "--baseline",
        baseline().to_str().unwrap(),
        "--run",
        run.to_str().unwrap(),
        "--strict",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn confirm_measures_a_flagged_latency_again_and_clears_a_chance_slowdown() {
    // The run says pytorch-fbgemm on ONNX Runtime took 3x its baseline ratio; measured again,
    // it does not: the gate passes and says why. Without --confirm the same file fails.
    let (_d, p) = degraded(|v| {
        let r = row(v, "pytorch-fbgemm", "ort");
        let p = r["latency_ms"]["p50"].as_f64().unwrap();
        r["latency_ms"]["p50"] = (p * 4.0).into();
    });
    assert_eq!(check(&p).status.code(), Some(1));
    let o = qbench(&[
        "--scenarios",
        common::scenarios().to_str().unwrap(),
        "check",
        "--baseline",
        baseline().to_str().unwrap(),
        "--run",
        p.to_str().unwrap(),
        "--confirm",
    ]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(
        t.contains("measured again") && t.contains("not confirmed"),
        "{t}"
    );
    assert!(
        t.contains("--techniques fp32,pytorch-fbgemm --backends ort"),
        "{t}"
    );
}
