//! The command line: listing, bad names, missing or corrupt data give clear errors and exit 1.

mod common;

use common::{compare_resnet, qbench, scenario_copy, scenarios, text};

#[test]
fn lists_scenarios() {
    let o = qbench(&["--scenarios", scenarios().to_str().unwrap(), "scenarios"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("resnet"));
}

#[test]
fn help_explains_every_compare_option() {
    let o = qbench(&["compare", "--help"]);
    let t = text(&o);
    for opt in [
        "--scenario",
        "--backends",
        "--threads",
        "--quick",
        "--out",
        "--throughput-batch",
        "--cell-timeout",
        "--batch",
        "--rounds",
        "--warmup",
        "--min-iters",
        "--min-seconds",
        "--max-seconds",
    ] {
        assert!(t.contains(opt), "missing {opt} in {t}");
    }
}

#[test]
fn unknown_scenario_is_a_clear_error() {
    let o = qbench(&[
        "--scenarios",
        scenarios().to_str().unwrap(),
        "compare",
        "--scenario",
        "nope",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let t = text(&o);
    assert!(
        t.contains("unknown scenario 'nope'") && t.contains("resnet"),
        "{t}"
    );
    assert!(!t.contains("panicked"));
}

#[test]
fn unknown_backend_is_a_clear_error() {
    let o = qbench(&[
        "--scenarios",
        scenarios().to_str().unwrap(),
        "compare",
        "--backends",
        "ort,onnx",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("unknown backend 'onnx'"), "{}", text(&o));
}

#[test]
fn missing_model_says_how_to_make_it() {
    let dir = scenario_copy(|t| {
        let start = t.find("path = \"").unwrap();
        let end = start + t[start..].find('\n').unwrap();
        format!("{}path = \"missing.onnx\"{}", &t[..start], &t[end..])
    });
    let o = qbench(&[
        "--scenarios",
        dir.path().to_str().unwrap(),
        "compare",
        "--quick",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let t = text(&o);
    assert!(
        t.contains("missing.onnx") && t.contains("qbench train"),
        "{t}"
    );
}

#[test]
fn truncated_evaluation_data_names_the_file() {
    let dir = scenario_copy(|t| t);
    let original = scenarios().join("resnet/data/t10k-labels-idx1-ubyte.gz");
    let bytes = flate2_decompress(&std::fs::read(original).unwrap());
    let cut = dir.path().join("cut-labels");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    let toml = std::fs::read_to_string(dir.path().join("resnet.toml")).unwrap();
    let at = toml.find("t10k-labels").unwrap();
    let start = toml[..at].rfind('\n').unwrap() + 1;
    let end = at + toml[at..].find('\n').unwrap();
    let toml = format!(
        "{}labels = \"{}\"{}",
        &toml[..start],
        cut.display(),
        &toml[end..]
    );
    std::fs::write(dir.path().join("resnet.toml"), toml).unwrap();
    let o = qbench(&[
        "--scenarios",
        dir.path().to_str().unwrap(),
        "compare",
        "--quick",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let t = text(&o);
    assert!(t.contains("cut-labels") && t.contains("truncated"), "{t}");
}

#[test]
fn missing_training_data_says_how_to_get_it() {
    let empty = tempfile::tempdir().unwrap();
    let o = qbench(&[
        "--scenarios",
        scenarios().to_str().unwrap(),
        "train",
        "--data",
        empty.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let t = text(&o);
    assert!(
        t.contains("train-images-idx3-ubyte.gz") && t.contains("not found"),
        "{t}"
    );
}

fn flate2_decompress(gz: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn bad_sweeps_and_loadgen_rules_are_clear_errors() {
    for (args, message) in [
        (
            &["--threads", "0,2"][..],
            "--threads takes thread counts of at least 1",
        ),
        (
            &["--batch", "1,0"][..],
            "--batch takes batch sizes of at least 1",
        ),
        (&["--rounds", "0"][..], "--rounds must be at least 1"),
        (&["--min-iters", "0"][..], "--min-iters must be at least 1"),
        (
            &["--min-seconds", "5", "--max-seconds", "1"][..],
            "--max-seconds (1) is below --min-seconds (5)",
        ),
        (
            &["--max-seconds", "nan"][..],
            "--max-seconds must be a positive",
        ),
        // Far beyond any machine's memory (the estimate is in the message).
        (
            &["--throughput-batch", "1000000000"][..],
            "this machine has available; use a smaller --batch or --throughput-batch, or add \
             --allow-large-batch",
        ),
    ] {
        let dir = scenarios();
        let mut all = vec!["--scenarios", dir.to_str().unwrap(), "compare"];
        all.extend_from_slice(args);
        let o = qbench(&all);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(message), "{args:?}: {}", text(&o));
        assert!(!text(&o).contains("panicked"));
    }
}

#[test]
fn help_fits_a_normal_terminal() {
    for cmd in [
        &["--help"][..],
        &["compare", "--help"],
        &["init", "--help"],
        &["check", "--help"],
        &["publish", "--help"],
        &["calibration-profile", "--help"],
        &["train", "--help"],
    ] {
        let o = qbench(cmd);
        assert!(o.status.success(), "{cmd:?}");
        let out = String::from_utf8_lossy(&o.stdout);
        let long: Vec<&str> = out.lines().filter(|l| l.chars().count() > 120).collect();
        assert!(
            long.is_empty(),
            "{cmd:?} has lines over 120 columns: {long:?}"
        );
    }
}

#[test]
fn one_broken_scenario_file_is_named_and_does_not_hide_the_others() {
    let dir = scenario_copy(|t| t);
    std::fs::write(
        dir.path().join("broken.toml"),
        "name = \"broken\"\n[model\n",
    )
    .unwrap();
    let o = qbench(&["--scenarios", dir.path().to_str().unwrap(), "scenarios"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("resnet ") && t.contains("broken") && t.contains("cannot be loaded"),
        "{t}"
    );
    // An unknown name still lists every scenario file, the broken one included.
    let o = qbench(&[
        "--scenarios",
        dir.path().to_str().unwrap(),
        "compare",
        "--scenario",
        "nope",
    ]);
    let t = text(&o);
    assert!(t.contains("known scenarios: broken, resnet"), "{t}");
}

/// `qbench calibration-profile --scenario resnet` on the shipped scenarios, with `extra`.
fn calibration_profile(extra: &[&str]) -> std::process::Output {
    let dir = scenarios();
    let mut args = vec![
        "--scenarios",
        dir.to_str().unwrap(),
        "calibration-profile",
        "--scenario",
        "resnet",
    ];
    args.extend_from_slice(extra);
    qbench(&args)
}

#[test]
fn calibration_profile_refuses_an_unknown_technique() {
    let o = calibration_profile(&["--techniques", "bogus"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("unknown technique 'bogus'") && t.contains("ort-static-minmax"),
        "{t}"
    );
}

#[test]
fn calibration_profile_kills_a_measurement_past_its_time_limit() {
    let o = calibration_profile(&["--techniques", "ort-static-minmax", "--timeout", "0"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("fp32-inference: timed out after 0 s"), "{t}");
}

#[test]
fn out_pointing_at_a_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("results.txt");
    std::fs::write(&file, "not a folder").unwrap();
    let o = compare_resnet(&["--out", file.to_str().unwrap()]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("results.txt") && t.contains("is a file"), "{t}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "not a folder");
}

#[test]
fn absurd_thread_counts_are_refused_before_anything_runs() {
    let out = tempfile::tempdir().unwrap();
    let o = compare_resnet(&["--threads", "100000", "--out", out.path().to_str().unwrap()]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("--threads 100000") && t.contains("--allow-oversubscription"),
        "{t}"
    );
    assert!(!out.path().join("compare.json").exists());
}

#[test]
fn a_second_run_into_the_same_folder_is_refused_and_touches_nothing() {
    let out = tempfile::tempdir().unwrap();
    // A run in progress: this test process holds the folder's lock.
    std::fs::write(
        out.path().join(".qbench.lock"),
        format!("{}\n", std::process::id()),
    )
    .unwrap();
    std::fs::write(out.path().join("quick.json"), "previous results").unwrap();
    let o = compare_resnet(&["--quick", "--out", out.path().to_str().unwrap()]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("another qbench run") && t.contains(&std::process::id().to_string()),
        "{t}"
    );
    assert_eq!(
        std::fs::read_to_string(out.path().join("quick.json")).unwrap(),
        "previous results"
    );
    assert!(!out.path().join("quick.partial.json").exists());
}

#[test]
fn an_fp32_baseline_at_chance_level_is_said_in_the_summary() {
    let out = tempfile::tempdir().unwrap();
    // A quick FP32-only run on ONNX Runtime with the scenarios in `dir`.
    let fp32_run = |dir: &std::path::Path| {
        let o = qbench(&[
            "--scenarios",
            dir.to_str().unwrap(),
            "compare",
            "--quick",
            "--rounds",
            "1",
            "--techniques",
            "fp32",
            "--backends",
            "ort",
            "--out",
            out.path().to_str().unwrap(),
        ]);
        let t = text(&o);
        assert!(o.status.success(), "{t}");
        t
    };
    // A preprocessing mistake (inputs a thousand times too large) that still runs: the FP32
    // model then answers one class for everything.
    let dir = scenario_copy(|t| t.replace("std = 0.3530", "std = 0.0003530"));
    let t = fp32_run(dir.path());
    assert!(
        t.contains("warning: FP32 on ort") && t.contains("near chance level for 10 classes"),
        "{t}"
    );
    // The committed scenario's baseline is fine: no warning.
    let t = fp32_run(&scenarios());
    assert!(!t.contains("chance level"), "{t}");
}
