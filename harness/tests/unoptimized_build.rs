//! A results file from an unoptimized build has distorted latencies (tract and candle many times
//! slower, ONNX Runtime not): `check` and `publish` refuse it unless told `--allow-unoptimized`.

mod common;

use std::path::{Path, PathBuf};

use common::{qbench, text};
use serde_json::{json, Value};

fn baseline() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../results/resnet/baseline.json")
}

/// The committed baseline with its build replaced.
fn with_build(dir: &Path, name: &str, build: Value) -> PathBuf {
    let mut v: Value = serde_json::from_slice(&std::fs::read(baseline()).unwrap()).unwrap();
    v["build"] = build;
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    p
}

fn dev_o0() -> Value {
    json!({"profile": "dev", "opt_level": "0", "debug_assertions": true})
}

#[test]
fn check_refuses_an_unoptimized_run_or_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let bad = with_build(dir.path(), "dev.json", dev_o0());
    let good = with_build(
        dir.path(),
        "release.json",
        json!({"profile": "release", "opt_level": "3", "debug_assertions": false}),
    );
    let s = |p: &Path| p.to_str().unwrap().to_string();
    for (b, r) in [(&good, &bad), (&bad, &good)] {
        let o = qbench(&["check", "--baseline", &s(b), "--run", &s(r)]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let t = text(&o);
        assert!(
            t.contains("dev.json") && t.contains("unoptimized build"),
            "{t}"
        );
        assert!(t.contains("--allow-unoptimized"), "{t}");
    }
    let o = qbench(&[
        "check",
        "--baseline",
        &s(&good),
        "--run",
        &s(&bad),
        "--allow-unoptimized",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // An optimized file passes without the flag.
    let o = qbench(&["check", "--baseline", &s(&good), "--run", &s(&good)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn publish_refuses_an_unoptimized_run() {
    let dir = tempfile::tempdir().unwrap();
    let bad = with_build(dir.path(), "dev.json", dev_o0());
    let out = dir.path().join("page");
    std::fs::create_dir_all(&out).unwrap();
    let args = |extra: &[&str]| {
        let mut a = vec![
            "publish",
            "--scenario",
            "resnet",
            "--from",
            bad.to_str().unwrap(),
        ];
        a.extend(["--out", out.to_str().unwrap()]);
        a.extend(extra);
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let run = |a: Vec<String>| qbench(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let o = run(args(&[]));
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("unoptimized build"), "{}", text(&o));
    assert!(
        !out.join("README.md").exists(),
        "nothing is written when refused"
    );
    let o = run(args(&["--allow-unoptimized"]));
    assert!(o.status.success(), "{}", text(&o));
    let page = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(page.contains("NOT optimized"), "the page says so");
}
