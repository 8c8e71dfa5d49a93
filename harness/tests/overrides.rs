//! Per-node overrides through `compare`: the artifact's graph keeps the chosen layers in float
//! and at 16 bits, records the overrides, and runs on all three backends.

mod common;

use common::{qbench, scenario_copy, scenarios, text};
use qbench_onnx::{DType, Model, Node};

fn producer<'a>(m: &'a Model, tensor: &str) -> &'a Node {
    m.graph
        .nodes
        .iter()
        .find(|n| n.outputs.iter().any(|o| o == tensor))
        .unwrap_or_else(|| panic!("nothing makes {tensor}"))
}

fn node<'a>(m: &'a Model, name: &str) -> &'a Node {
    m.graph.nodes.iter().find(|n| n.name == name).unwrap()
}

#[test]
fn float_and_int16_layers_run_on_every_backend() {
    let out = tempfile::tempdir().unwrap();
    let dir = scenarios();
    let o = qbench(&[
        "--scenarios",
        dir.to_str().unwrap(),
        "compare",
        "--scenario",
        "resnet",
        "--quick",
        "--techniques",
        "fp32,uniform-midtread-4bit",
        "--override",
        "stem=float",
        "--override",
        "block2.*=int16",
        "--rounds",
        "1",
        "--format",
        "json",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let m = Model::load(out.path().join("artifacts/uniform-midtread-4bit.onnx")).unwrap();
    // The stem reads its FP32 weight and the float input.
    let stem = node(&m, "stem");
    let w = m
        .graph
        .initializer(&stem.inputs[1])
        .expect("float stem weight");
    assert_eq!(w.dtype, DType::F32);
    assert_eq!(stem.inputs[0], "input");
    // Every block2 convolution reads an int16 weight through Cast/Mul and a 16-bit input.
    for c in ["block2.conv1", "block2.conv2", "block2.shortcut"] {
        let n = node(&m, c);
        let cast = producer(&m, &producer(&m, &n.inputs[1]).inputs[0]);
        assert_eq!(cast.op_type, "Cast", "{c}");
        assert_eq!(
            m.graph.initializer(&cast.inputs[0]).unwrap().dtype,
            DType::I16
        );
        let clip = producer(
            &m,
            &producer(&m, &producer(&m, &n.inputs[0]).inputs[0]).inputs[0],
        );
        assert_eq!(clip.op_type, "Clip", "{c}");
    }
    // Other layers keep the recipe's 4-bit weights.
    let dq = producer(&m, &node(&m, "block1.conv1").inputs[1]);
    assert_eq!(dq.op_type, "DequantizeLinear");
    let meta: std::collections::HashMap<_, _> = m.metadata.iter().cloned().collect();
    assert_eq!(meta["qbench.overrides"], "stem=float, block2.*=int16");
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows: Vec<&serde_json::Value> = r["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["technique"] == "uniform-midtread-4bit")
        .collect();
    assert_eq!(rows.len(), 3);
    let mut top1 = Vec::new();
    for row in rows {
        assert_eq!(row["status"], "ok", "{row}");
        let notes = row["notes"].as_str().unwrap();
        assert!(
            notes.contains("overrides: stem: float; block2.conv1: int16"),
            "{notes}"
        );
        top1.push(row["accuracy"].as_f64().unwrap());
    }
    // The three runtimes compute the same arithmetic (a few images may flip).
    let spread = top1.iter().cloned().fold(f64::MIN, f64::max)
        - top1.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread <= 0.005, "{top1:?}");
}

#[test]
fn scenario_overrides_apply_and_bad_ones_are_refused() {
    let add = |line: &'static str| {
        move |t: String| t.replacen("\n[model]", &format!("\n{line}\n\n[model]"), 1)
    };
    let dir = scenario_copy(add("overrides = [\"op:Gemm=float\"]"));
    let out = dir.path().join("out");
    let o = qbench(&[
        "--scenarios",
        dir.path().to_str().unwrap(),
        "compare",
        "--scenario",
        "resnet",
        "--quick",
        "--techniques",
        "ort-static-minmax,ort-dynamic",
        "--backends",
        "ort",
        "--rounds",
        "1",
        "--format",
        "json",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let row = |t: &str| {
        r["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["technique"] == t)
            .unwrap()
            .clone()
    };
    assert!(row("ort-static-minmax")["notes"]
        .as_str()
        .unwrap()
        .contains("overrides: fc: float"));
    // A format that cannot take overrides is unsupported with the reason, not measured.
    let dynamic = row("ort-dynamic");
    assert_eq!(dynamic["status"], "unsupported");
    assert!(dynamic["reason"]
        .as_str()
        .unwrap()
        .contains("per-node overrides apply to QDQ artifacts"));
    // Bad overrides: in the scenario file, and on the command line.
    let bad = scenario_copy(add("overrides = [\"stem=int3\"]"));
    let o = qbench(&[
        "--scenarios",
        bad.path().to_str().unwrap(),
        "compare",
        "--scenario",
        "resnet",
        "--quick",
    ]);
    assert!(!o.status.success());
    let t = text(&o);
    assert!(
        t.contains("unknown precision 'int3'") && t.contains("resnet.toml"),
        "{t}"
    );
    let o = qbench(&["compare", "--quick", "--override", "stem"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("no '='"), "{}", text(&o));
    // A selector that matches nothing fails the technique with the nodes it could have named.
    let o = qbench(&[
        "--scenarios",
        dir.path().to_str().unwrap(),
        "compare",
        "--scenario",
        "resnet",
        "--quick",
        "--techniques",
        "ort-static-minmax",
        "--backends",
        "ort",
        "--override",
        "stemm=float",
        "--format",
        "json",
        "--out",
        out.to_str().unwrap(),
    ]);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let reason = r["rows"][0]["reason"].as_str().unwrap().to_string();
    assert!(
        reason.contains("'stemm=float' selects no quantized node") && reason.contains("stem"),
        "{reason}"
    );
}
