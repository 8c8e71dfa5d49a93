//! `qbench compare --model` on a model qbench has never seen, shaped like a real export: weights
//! in `Constant` nodes, an unfused BatchNormalization, an Identity, HardSigmoid (HardSwish as
//! PaddlePaddle exports it), a depthwise convolution, a Resize, a dynamic batch and dynamic
//! spatial dimensions, Softmax at the end. No labels: the run reports fidelity against FP32.

mod common;

use common::{qbench, text};
use qbench_onnx::{Attribute, DType, Dim, Graph, Model, Node, TensorData, ValueInfo};

fn lcg(seed: &mut u64) -> f32 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((*seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
}

fn values(n: usize, scale: f32, seed: &mut u64) -> Vec<f32> {
    (0..n).map(|_| lcg(seed) * scale).collect()
}

fn constant(name: &str, dims: Vec<i64>, v: &[f32]) -> Node {
    Node::new(format!("{name}_const"), "Constant", &[], &[name]).with_attr(
        "value",
        Attribute::Tensor(TensorData::from_f32(name, dims, v)),
    )
}

/// The test model: x [N, 3, H, W] -> probabilities [N, 4].
fn third_party_style() -> Model {
    let mut s = 7u64;
    let mut g = Graph {
        name: "exported".into(),
        ..Graph::default()
    };
    g.inputs.push(ValueInfo {
        name: "x".into(),
        dtype: DType::F32,
        shape: vec![
            Dim::Param("batch".into()),
            Dim::Fixed(3),
            Dim::Param("height".into()),
            Dim::Param("width".into()),
        ],
    });
    g.outputs.push(ValueInfo {
        name: "probs".into(),
        dtype: DType::F32,
        shape: vec![Dim::Param("batch".into()), Dim::Fixed(4)],
    });
    g.nodes
        .push(constant("w1", vec![8, 3, 3, 3], &values(216, 0.8, &mut s)));
    g.nodes.push(
        Node::new("conv1", "Conv", &["x", "w1"], &["c1"])
            .with_attr("pads", Attribute::Ints(vec![1, 1, 1, 1])),
    );
    let pos: Vec<f32> = values(8, 0.5, &mut s).iter().map(|v| v + 1.0).collect();
    g.add_initializer(TensorData::from_f32("bn_gamma", vec![8], &pos));
    g.add_initializer(TensorData::from_f32(
        "bn_beta",
        vec![8],
        &values(8, 0.4, &mut s),
    ));
    g.add_initializer(TensorData::from_f32(
        "bn_mean",
        vec![8],
        &values(8, 0.2, &mut s),
    ));
    g.add_initializer(TensorData::from_f32("bn_var", vec![8], &pos));
    g.nodes.push(Node::new(
        "bn1",
        "BatchNormalization",
        &["c1", "bn_gamma", "bn_beta", "bn_mean", "bn_var"],
        &["b1"],
    ));
    g.nodes.push(
        Node::new("hsig", "HardSigmoid", &["b1"], &["h1"])
            .with_attr("alpha", Attribute::Float(1.0 / 6.0))
            .with_attr("beta", Attribute::Float(0.5)),
    );
    g.nodes
        .push(Node::new("hswish", "Mul", &["b1", "h1"], &["hs1"]));
    g.nodes
        .push(Node::new("id", "Identity", &["hs1"], &["id1"]));
    g.add_initializer(TensorData::from_f32(
        "w2",
        vec![8, 1, 3, 3],
        &values(72, 1.0, &mut s),
    ));
    g.nodes.push(
        Node::new("dw", "Conv", &["id1", "w2"], &["c2"])
            .with_attr("group", Attribute::Int(8))
            .with_attr("strides", Attribute::Ints(vec![2, 2]))
            .with_attr("pads", Attribute::Ints(vec![1, 1, 1, 1])),
    );
    g.nodes.push(Node::new("relu2", "Relu", &["c2"], &["r2"]));
    g.add_initializer(TensorData::from_f32(
        "scales",
        vec![4],
        &[1.0, 1.0, 2.0, 2.0],
    ));
    g.nodes.push(
        Node::new("up", "Resize", &["r2", "", "scales"], &["u"])
            .with_attr("mode", Attribute::String("nearest".into())),
    );
    g.nodes.push(Node::new("add", "Add", &["u", "hs1"], &["a"]));
    g.nodes
        .push(Node::new("gap", "GlobalAveragePool", &["a"], &["p"]));
    g.nodes.push(Node::new("flat", "Flatten", &["p"], &["f"]));
    g.add_initializer(TensorData::from_f32(
        "wfc",
        vec![4, 8],
        &values(32, 1.0, &mut s),
    ));
    g.add_initializer(TensorData::from_f32(
        "bfc",
        vec![4],
        &values(4, 0.1, &mut s),
    ));
    g.nodes.push(
        Node::new("fc", "Gemm", &["f", "wfc", "bfc"], &["logits"])
            .with_attr("transB", Attribute::Int(1)),
    );
    g.nodes.push(
        Node::new("softmax", "Softmax", &["logits"], &["probs"])
            .with_attr("axis", Attribute::Int(-1)),
    );
    Model::new(g, 13)
}

#[test]
fn compare_any_onnx_model_reports_fidelity_only() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("exported.onnx");
    third_party_style().save(&model).unwrap();
    let out = dir.path().join("out");

    // An open spatial dimension is an error that names it and says how to fix it.
    let o = qbench(&["compare", "--model", model.to_str().unwrap(), "--quick"]);
    assert!(!o.status.success());
    let t = text(&o);
    assert!(
        t.contains("dimension 2 ('height')") && t.contains("--input-shape x=1,3,N,N"),
        "{t}"
    );
    assert!(!t.contains("panicked"), "{t}");

    let o = qbench(&[
        "compare",
        "--model",
        model.to_str().unwrap(),
        "--input-shape",
        "x=1,3,16,16",
        "--quick",
        "--rounds",
        "1",
        "--eval-samples",
        "64",
        "--throughput-batch",
        "16",
        "--techniques",
        "fp32,ort-static-minmax,ort-static-u8s8-per-channel,tflite-float16,pytorch-fbgemm",
        "--out",
        out.to_str().unwrap(),
    ]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(!t.contains("panicked"), "{t}");
    eprintln!("{t}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("quick.json")).unwrap()).unwrap();
    assert_eq!(json["scenario"], "exported");
    assert!(
        json["metric"].as_str().unwrap().starts_with("fidelity"),
        "{}",
        json["metric"]
    );
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 15);
    for r in rows {
        // Never an accuracy that was not measured.
        assert!(r["accuracy"].is_null(), "{r}");
        assert!(r["top5"].is_null(), "{r}");
        match r["status"].as_str().unwrap() {
            "ok" => {}
            _ => assert!(!r["reason"].as_str().unwrap_or("").is_empty(), "{r}"),
        }
    }
    // FP32 runs everywhere: the three runtimes agree on the output.
    for r in rows.iter().filter(|r| r["technique"] == "fp32") {
        assert_eq!(r["status"], "ok", "{r}");
        if r["backend"] != "ort" {
            assert!(r["cosine_vs_fp32"].as_f64().unwrap() > 0.9999, "{r}");
        }
    }
    // The quantized rows on ONNX Runtime: measured and close to FP32, but not identical.
    for tech in [
        "ort-static-minmax",
        "ort-static-u8s8-per-channel",
        "tflite-float16",
    ] {
        let r = rows
            .iter()
            .find(|r| r["technique"] == tech && r["backend"] == "ort")
            .unwrap();
        assert_eq!(r["status"], "ok", "{r}");
        let cos = r["cosine_vs_fp32"].as_f64().unwrap();
        assert!(cos > 0.95 && cos <= 1.0 + 1e-9, "{r}");
        assert!(r["sqnr_db_vs_fp32"].as_f64().unwrap() > 10.0, "{r}");
        assert!(r["max_abs_err_vs_fp32"].as_f64().unwrap() > 0.0, "{r}");
        let notes = r["notes"].as_str().unwrap_or("");
        if tech != "tflite-float16" {
            assert!(
                notes.contains("BatchNormalization node(s) folded"),
                "{notes}"
            );
        }
    }
    // The table says what was measured.
    let md = std::fs::read_to_string(out.join("quick.md")).unwrap();
    assert!(md.contains("fidelity"), "{md}");
}

#[test]
fn an_opset_12_export_gets_per_channel_recipes_after_an_exact_raise_to_13() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("old.onnx");
    let mut m = third_party_style();
    m.opset_imports = vec![(String::new(), 12)];
    // Resize-11 (the version of opsets 11 and 12) requires its roi input, even empty.
    m.graph
        .add_initializer(TensorData::from_f32("roi", vec![0], &[]));
    let up = m.graph.nodes.iter_mut().find(|n| n.name == "up").unwrap();
    up.inputs[1] = "roi".into();
    m.save(&model).unwrap();
    let out = dir.path().join("out");
    let o = qbench(&[
        "compare",
        "--model",
        model.to_str().unwrap(),
        "--input-shape",
        "x=1,3,16,16",
        "--quick",
        "--rounds",
        "1",
        "--eval-samples",
        "16",
        "--throughput-batch",
        "8",
        "--backends",
        "ort,tract",
        "--techniques",
        "fp32,ort-static-u8s8-per-channel,pytorch-qnnpack",
        "--out",
        out.to_str().unwrap(),
    ]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("quick.json")).unwrap()).unwrap();
    for r in json["rows"].as_array().unwrap() {
        // ONNX Runtime and PyTorch quantize the final Softmax; tract would fold its Q/DQ pair
        // into a per-element table, so those cells are refused (decided when loading), not run.
        if r["technique"] != "fp32" && r["backend"] == "tract" {
            assert_eq!(r["status"], "unsupported", "{r}");
            let reason = r["reason"].as_str().unwrap();
            assert!(
                reason.contains("Softmax") && reason.contains("lookup table"),
                "{r}"
            );
            continue;
        }
        assert_eq!(r["status"], "ok", "{r}");
        if r["technique"] != "fp32" {
            let notes = r["notes"].as_str().unwrap_or("");
            assert!(notes.contains("opset 12 raised to 13"), "{notes}");
            assert!(r["cosine_vs_fp32"].as_f64().unwrap() > 0.95, "{r}");
        }
    }
}
