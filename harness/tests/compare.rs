//! A short `compare` of every technique on all three backends writes complete rows to JSON, CSV
//! and Markdown; every cell is measured or says why not.

mod common;

use common::{qbench, scenarios, text};

#[test]
fn quick_compare_measures_every_backend() {
    let out = tempfile::tempdir().unwrap();
    let o = qbench(&[
        "--scenarios",
        scenarios().to_str().unwrap(),
        "compare",
        "--scenario",
        "resnet",
        "--quick",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    // Off a terminal, progress is plain lines on stderr: one per cell, counting the steps.
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.lines()
            .any(|l| l.starts_with("[1/") && l.contains("fp32") && l.contains("ort")),
        "{err}"
    );
    assert!(err.contains("latency round 2/2"), "{err}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("quick.json")).unwrap()).unwrap();
    assert_eq!(json["scenario"], "resnet");
    assert_eq!(json["complete"], true);
    assert!(!out.path().join("quick.partial.json").exists());
    assert!(!out.path().join(".qbench.lock").exists());
    assert_eq!(json["settings"]["quick"], true);
    assert!(json["machine"]["cores"].as_u64().unwrap() >= 1);
    let all = json["rows"].as_array().unwrap();
    let rows: Vec<&serde_json::Value> = all.iter().filter(|r| r["technique"] == "fp32").collect();
    let backends: Vec<&str> = rows
        .iter()
        .map(|r| r["backend"].as_str().unwrap())
        .collect();
    assert_eq!(backends, ["ort", "tract", "candle"]);
    let mut accuracies = Vec::new();
    for r in rows.iter().copied() {
        assert_eq!(r["status"], "ok", "{r}");
        assert_eq!(r["technique"], "fp32");
        for field in [
            "size_bytes",
            "load_ms",
            "throughput_ips",
            "peak_rss_bytes",
            "accuracy",
            "agreement_with_fp32",
        ] {
            assert!(r[field].as_f64().unwrap() > 0.0, "{field} in {r}");
        }
        let lat = &r["latency_ms"];
        assert!(lat["n"].as_u64().unwrap() >= 20);
        let (p50, p90, p99) = (
            lat["p50"].as_f64().unwrap(),
            lat["p90"].as_f64().unwrap(),
            lat["p99"].as_f64().unwrap(),
        );
        assert!(0.0 < p50 && p50 <= p90 && p90 <= p99, "{lat}");
        let ci = r["accuracy_ci95"].as_array().unwrap();
        let a = r["accuracy"].as_f64().unwrap();
        assert!(ci[0].as_f64().unwrap() <= a && a <= ci[1].as_f64().unwrap());
        assert!(r["agreement_with_fp32"].as_f64().unwrap() >= 0.99, "{r}");
        accuracies.push(a);
    }
    // Committed model: at least 90% top-1 on the quick subset too, equal across backends.
    assert!(accuracies.iter().all(|a| *a >= 0.88), "{accuracies:?}");
    let spread = accuracies.iter().cloned().fold(f64::MIN, f64::max)
        - accuracies.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread <= 0.002, "{accuracies:?}");
    // The int8 static recipe: measured on every backend, about 4x smaller than FP32 (less the
    // per-tensor parameters of this small model), within a point of FP32 on ort.
    let fp32_size = rows[0]["size_bytes"].as_f64().unwrap();
    let fp32_ort = rows[0]["accuracy"].as_f64().unwrap();
    let q: Vec<&serde_json::Value> = all
        .iter()
        .filter(|r| r["technique"] == "ort-static-minmax")
        .collect();
    assert_eq!(q.len(), 3);
    for r in &q {
        assert_eq!(r["status"], "ok", "{r}");
        assert_eq!(r["format"], "qdq");
        assert!(r["quantize_ms"].as_f64().unwrap() > 0.0);
        assert!(r["size_bytes"].as_f64().unwrap() < fp32_size / 3.0, "{r}");
        assert!(r["agreement_with_fp32"].as_f64().unwrap() >= 0.97, "{r}");
    }
    assert!(
        (q[0]["accuracy"].as_f64().unwrap() - fp32_ort).abs() <= 0.01,
        "{}",
        q[0]
    );
    // Every technique x backend cell ran, or is unsupported with a reason decided before
    // running; nothing failed, and every measured quantized row has its accuracy change.
    // qbench's techniques, its QAT rows and the models the scenario imports (ONNX Runtime's
    // tool output, PyTorch's QAT export).
    let scenario = qbench::scenario::Scenario::load(&common::scenarios(), "resnet").unwrap();
    let imported = scenario.artifacts.len();
    assert!(imported > 0);
    let qat = qbench::qat_rows::names(&scenario).len();
    assert_eq!(qat, 3);
    let techniques = qbench::registry::technique_names();
    assert_eq!(all.len(), (techniques.len() + qat + imported) * 3);
    for r in all {
        match r["status"].as_str().unwrap() {
            "ok" => {
                if r["technique"] != "fp32" {
                    assert!(r["accuracy_delta_vs_fp32"].is_number(), "{r}");
                }
            }
            "unsupported" => assert!(r["reason"].as_str().unwrap().len() > 10, "{r}"),
            _ => panic!("cell failed: {r}"),
        }
    }
    // Sub-8-bit rows report their packed size next to the container size.
    for r in all
        .iter()
        .filter(|r| r["technique"] == "uniform-midrise-4bit")
    {
        assert!(r["packed_bytes"].as_f64().unwrap() < r["size_bytes"].as_f64().unwrap() / 2.0);
    }
    // Latency comes from two rounds (each in its own process) and its interval covers both
    // rounds' medians.
    assert_eq!(json["settings"]["rounds"], 2);
    for r in all.iter().filter(|r| r["status"] == "ok") {
        let lat = &r["latency_ms"];
        assert_eq!(lat["rounds"], 2, "{r}");
        let ci = lat["p50_ci95"].as_array().unwrap();
        for m in lat["round_p50"].as_array().unwrap() {
            let m = m.as_f64().unwrap();
            assert!(
                ci[0].as_f64().unwrap() <= m && m <= ci[1].as_f64().unwrap(),
                "{lat}"
            );
        }
    }
    // Fidelity against the FP32 logits: none for the reference itself, near-identical FP32
    // logits on the other backends, finite and plausible for the quantized rows.
    let row = |t: &str, b: &str| {
        all.iter()
            .find(|r| r["technique"] == t && r["backend"] == b)
            .unwrap()
    };
    assert!(row("fp32", "ort")["sqnr_db_vs_fp32"].is_null());
    for b in ["tract", "candle"] {
        assert!(row("fp32", b)["sqnr_db_vs_fp32"].as_f64().unwrap() > 60.0);
    }
    for r in all
        .iter()
        .filter(|r| r["status"] == "ok" && r["technique"] != "fp32")
    {
        let kl = r["kl_vs_fp32"].as_f64().unwrap();
        let sqnr = r["sqnr_db_vs_fp32"].as_f64().unwrap();
        assert!(
            (0.0..1.0).contains(&kl) && (5.0..80.0).contains(&sqnr),
            "{r}"
        );
    }
    // 4-bit weights are noisier than 8-bit ones.
    let sqnr = |t: &str| row(t, "ort")["sqnr_db_vs_fp32"].as_f64().unwrap();
    assert!(sqnr("uniform-midtread-4bit") < sqnr("ort-static-minmax"));
    let csv = std::fs::read_to_string(out.path().join("quick.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + all.len());
    let md = std::fs::read_to_string(out.path().join("quick.md")).unwrap();
    assert!(md.contains("| fp32 | candle |"), "{md}");
    assert!(text(&o).contains("QUICK"));
}

#[test]
fn sweeps_make_one_row_per_combination() {
    let out = tempfile::tempdir().unwrap();
    let o = qbench(&[
        "--scenarios",
        scenarios().to_str().unwrap(),
        "compare",
        "--quick",
        "--techniques",
        "fp32,ort-static-minmax",
        "--backends",
        "ort,candle",
        "--batch",
        "1,3",
        "--threads",
        "1,2",
        "--rounds",
        "1",
        "--min-iters",
        "5",
        "--min-seconds",
        "0",
        "--max-seconds",
        "0.5",
        "--format",
        "csv",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("quick.json")).unwrap()).unwrap();
    assert_eq!(json["settings"]["batch"], serde_json::json!([1, 3]));
    assert_eq!(json["settings"]["threads"], serde_json::json!([1, 2]));
    assert_eq!(json["settings"]["latency_rule"]["min_iters"], 5);
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2 * 2 * 2 * 2);
    let mut seen = std::collections::BTreeSet::new();
    for r in rows {
        assert_eq!(r["status"], "ok", "{r}");
        assert_eq!(r["latency_ms"]["rounds"], 1);
        assert!(r["latency_ms"]["n"].as_u64().unwrap() >= 5);
        seen.insert((
            r["technique"].as_str().unwrap().to_string(),
            r["backend"].as_str().unwrap().to_string(),
            r["batch"].as_u64().unwrap(),
            r["threads"].as_u64().unwrap(),
        ));
        if r["technique"] != "fp32" {
            assert!(r["accuracy_delta_vs_fp32"].is_number(), "{r}");
            assert!(r["sqnr_db_vs_fp32"].is_number(), "{r}");
        }
    }
    assert_eq!(seen.len(), rows.len());
    // Stdout is the CSV: a header and one line per row.
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(stdout.lines().count(), 1 + rows.len(), "{stdout}");
}
