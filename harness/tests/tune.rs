//! `qbench tune`: the search decides on the tuning split alone (the evaluation split can be
//! unreadable), returns a configuration within the bound, and refuses bad arguments.

mod common;

use common::{qbench, scenario_copy, text};

#[test]
fn tune_decides_without_the_evaluation_split() {
    // The evaluation images are garbage: any read of them would fail the command.
    let dir = scenario_copy(|t| t);
    let garbage = dir.path().join("garbage.gz");
    std::fs::write(&garbage, b"not an IDX file").unwrap();
    let toml = dir.path().join("resnet.toml");
    let text0 = std::fs::read_to_string(&toml).unwrap();
    let eval = text0
        .lines()
        .find(|l| l.contains("t10k-images-idx3-ubyte.gz"))
        .unwrap()
        .to_string();
    std::fs::write(
        &toml,
        text0.replace(&eval, &format!("images = \"{}\"", garbage.display())),
    )
    .unwrap();
    let out = dir.path().join("tune");
    let o = qbench(&[
        "--scenarios",
        dir.path().to_str().unwrap(),
        "tune",
        "--scenario",
        "resnet",
        "--max-drop",
        "1.0",
        "--objective",
        "size",
        "--techniques",
        "ort-static-minmax,uniform-midtread-4bit",
        "--samples",
        "300",
        "--max-fallbacks",
        "4",
        "--no-evaluate",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("tune.json")).unwrap()).unwrap();
    assert_eq!(r["tuning_samples"], 300);
    assert!(r["evaluation"].is_null());
    let cands = r["candidates"].as_array().unwrap();
    let names: Vec<&str> = cands.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names[..2], ["ort-static-minmax", "uniform-midtread-4bit"]);
    // 4-bit misses a 1-point bound and is smaller than int8: the per-layer search runs on it.
    assert!(
        cands[1]["tuning_drop"].as_f64().unwrap() < -1.0,
        "{}",
        cands[1]
    );
    assert!(
        names.len() > 2 && names[2].starts_with("uniform-midtread-4bit + "),
        "{names:?}"
    );
    let best = r["best"].as_u64().unwrap() as usize;
    let b = &cands[best];
    assert!(b["tuning_drop"].as_f64().unwrap() >= -1.0, "{b}");
    // The smallest passing candidate.
    for c in cands
        .iter()
        .filter(|c| c["tuning_drop"].as_f64().unwrap() >= -1.0)
    {
        assert!(
            c["size_bytes"].as_u64() >= b["size_bytes"].as_u64(),
            "{c} vs {b}"
        );
    }
    let tuned = qbench_onnx::Model::load(out.join("tuned.onnx")).unwrap();
    let overrides = tuned
        .metadata
        .iter()
        .find(|(k, _)| k == "qbench.overrides")
        .map(|(_, v)| v.clone());
    let want = b["overrides"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect::<Vec<_>>()
        .join(", ");
    assert_eq!(overrides.unwrap_or_default(), want);
    assert!(out.join("tune.md").is_file());
}

#[test]
fn bad_tune_arguments_are_refused() {
    for (args, want) in [
        (vec!["--max-drop=-1"], "--max-drop must be"),
        (
            vec!["--max-drop", "0.5", "--techniques", "nope"],
            "unknown technique 'nope'",
        ),
        (
            vec!["--max-drop", "0.5", "--backend", "nope"],
            "unknown backend 'nope'",
        ),
    ] {
        let mut a = vec!["tune", "--scenario", "resnet", "--no-evaluate"];
        a.extend(args);
        let o = qbench(&a);
        assert!(!o.status.success());
        assert!(text(&o).contains(want), "{}", text(&o));
    }
}
