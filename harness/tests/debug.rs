//! `qbench debug` on the resnet scenario: every quantized weight and activation is matched and
//! ranked, the files are written, and what cannot be debugged is refused with the reason.

mod common;

use common::{qbench, scenarios, text};

fn debug(
    technique: &str,
    backend: &str,
    extra: &[&str],
) -> (std::process::Output, tempfile::TempDir) {
    let out = tempfile::tempdir().unwrap();
    let dir = scenarios();
    let mut args = vec![
        "--scenarios",
        dir.to_str().unwrap(),
        "debug",
        "--scenario",
        "resnet",
        "--technique",
        technique,
        "--backend",
        backend,
        "--samples",
        "120",
        "--format",
        "json",
        "--out",
        out.path().to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    (qbench(&args), out)
}

#[test]
fn four_bit_weights_are_matched_ranked_and_charted() {
    let (o, out) = debug("uniform-midtread-4bit", "ort", &[]);
    assert!(o.status.success(), "{}", text(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let entries = r["entries"].as_array().unwrap();
    let of = |kind: &'static str| entries.iter().filter(move |e| e["kind"] == kind);
    // The resnet's 10 convolutions and its classifier, each at 4 bits in an int8 container.
    let weights: Vec<_> = of("weight").collect();
    assert_eq!(weights.len(), 11, "{weights:?}");
    for w in &weights {
        assert!(
            w["quantization"]
                .as_str()
                .unwrap()
                .starts_with("int8 [-8, 7] per-channel"),
            "{w}"
        );
        let db = w["sqnr_db"].as_f64().unwrap();
        // 4-bit uniform weights: about 6 dB per bit plus the distribution's share.
        assert!((10.0..30.0).contains(&db), "{w}");
    }
    assert_eq!(of("bias").count(), 11);
    // The graph input, every ReLU/Conv output the recipe quantizes, pooling, flatten, logits.
    assert!(of("activation").count() >= 15);
    for a in of("activation") {
        let (here, alone) = (a["sqnr_db"].as_f64(), a["alone_sqnr_db"].as_f64());
        // Quantizing a tensor alone never hurts more than everything before it plus itself,
        // except for the graph input, where the two are the same thing.
        if a["tensor"] != "input" {
            assert!(alone.unwrap() > here.unwrap(), "{a}");
        }
    }
    // Ranked by the output's SQNR with only that tensor quantized, worst first.
    let ranked: Vec<f64> = entries
        .iter()
        .filter_map(|e| e["output_sqnr_db"].as_f64())
        .collect();
    assert!(ranked.len() >= 26);
    assert!(ranked.windows(2).all(|w| w[0] <= w[1]), "{ranked:?}");
    assert_eq!(entries[0]["kind"], "weight");
    let out_db = r["output"]["output_sqnr_db"].as_f64().unwrap();
    assert!(
        out_db < ranked[0],
        "all quantized {out_db} vs the worst alone {}",
        ranked[0]
    );
    assert!(r["output"]["fp32_top1"].as_f64().unwrap() > 80.0);
    for ext in ["json", "md", "svg"] {
        let p = out.path().join(format!("uniform-midtread-4bit.ort.{ext}"));
        let s = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        match ext {
            "svg" => assert!(s.contains("<polyline") && s.ends_with("</svg>\n")),
            "md" => assert!(s.contains("| 1 | weight |"), "{s}"),
            _ => assert!(s.contains("\"entries\"")),
        }
    }
}

#[test]
fn every_backend_reads_the_same_weights_and_close_activations() {
    let mut reports = Vec::new();
    for b in ["tract", "candle"] {
        let (o, _out) = debug("ort-static-minmax", b, &["--no-sensitivity"]);
        assert!(o.status.success(), "{b}: {}", text(&o));
        let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(r["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["output_sqnr_db"].is_null()));
        reports.push(r);
    }
    let find = |r: &serde_json::Value, t: &str| {
        r["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["tensor"] == t)
            .cloned()
            .unwrap()
    };
    // Weights do not depend on the runtime; accumulated activation errors nearly do not.
    assert_eq!(
        find(&reports[0], "stem.weight"),
        find(&reports[1], "stem.weight")
    );
    let (a, b) = (
        find(&reports[0], "block2.relu2.out")["sqnr_db"]
            .as_f64()
            .unwrap(),
        find(&reports[1], "block2.relu2.out")["sqnr_db"]
            .as_f64()
            .unwrap(),
    );
    assert!((a - b).abs() < 1.0, "tract {a} dB, candle {b} dB");
}

#[test]
fn what_cannot_be_debugged_is_refused_with_the_reason() {
    let (o, _out) = debug("ort-dynamic", "ort", &[]);
    assert!(!o.status.success());
    let t = text(&o);
    assert!(t.contains("no QuantizeLinear/DequantizeLinear pair"), "{t}");
    assert!(!t.contains("panicked"), "{t}");
    let (o, _out) = debug("no-such-recipe", "ort", &[]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("unknown technique 'no-such-recipe'"),
        "{}",
        text(&o)
    );
    let (o, _out) = debug("ort-static-minmax", "nope", &[]);
    assert!(text(&o).contains("unknown backend 'nope'"), "{}", text(&o));
}
