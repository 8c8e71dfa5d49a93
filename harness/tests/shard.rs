//! Sharded runs: three shards of a quick comparison, run one after another and merged, are the
//! unsharded run cell for cell (same artifacts, same top-1 and fidelity); a file of another plan,
//! a missing shard and a shard given twice are refused; a second machine (simulated by editing
//! the machine block of a copy) becomes a column group of its own on the published page.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{compare_resnet, qbench, scenarios, text};
use serde_json::Value;

const TECHNIQUES: &str = "fp32,ort-static-minmax,tflite-full-int8,pytorch-dynamic";

fn compare(out: &Path, extra: &[&str]) -> PathBuf {
    let out_s = out.to_str().unwrap();
    let mut args = vec![
        "--quick", "--rounds", "1", "--format", "json", "--out", out_s,
    ];
    args.extend_from_slice(extra);
    let o = compare_resnet(&args);
    assert!(o.status.success(), "{}", text(&o));
    let name = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            n.starts_with("quick") && n.ends_with(".json") && !n.contains("partial")
        })
        .expect("a results file");
    name
}

fn merge(files: &[&Path], out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args: Vec<String> = vec!["merge".into()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    args.extend(["--out".into(), out.display().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    qbench(&refs)
}

fn read(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The fields of every row that do not depend on timing, by cell.
fn cells(run: &Value) -> BTreeMap<String, Value> {
    let keep = [
        "technique",
        "backend",
        "batch",
        "threads",
        "format",
        "status",
        "size_bytes",
        "artifact_sha256",
        "accuracy",
        "accuracy_delta_vs_fp32",
        "agreement_with_fp32",
        "sqnr_db_vs_fp32",
        "kl_vs_fp32",
        "mcnemar_p",
    ];
    run["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let k = format!(
                "{} {} b{} t{}",
                r["technique"], r["backend"], r["batch"], r["threads"]
            );
            let v: serde_json::Map<String, Value> = keep
                .iter()
                .map(|f| (f.to_string(), r[*f].clone()))
                .collect();
            (k, Value::Object(v))
        })
        .collect()
}

#[test]
fn shards_merge_into_the_unsharded_run_and_bad_sets_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let whole = compare(&t.join("whole"), &["--techniques", TECHNIQUES]);
    let shards: Vec<PathBuf> = (1..=3)
        .map(|k| {
            compare(
                &t.join(format!("s{k}")),
                &["--techniques", TECHNIQUES, "--shard", &format!("{k}/3")],
            )
        })
        .collect();
    for (k, s) in shards.iter().enumerate() {
        assert!(
            s.ends_with(format!("quick.shard-{}-of-3.json", k + 1)),
            "{s:?}"
        );
        let info = &read(s)["shard"];
        assert_eq!(info["index"], k + 1);
        assert_eq!(info["plan"], read(&whole)["plan"], "a shard names its plan");
    }
    let s: Vec<&Path> = shards.iter().map(PathBuf::as_path).collect();
    let o = merge(&s, &t.join("merged"), &[]);
    assert!(o.status.success(), "{}", text(&o));
    let merged = read(&t.join("merged/quick.json"));
    let expected = read(&whole);
    assert_eq!(cells(&merged), cells(&expected));
    let hashed = merged["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["artifact_sha256"].is_string())
        .count();
    assert!(hashed >= 10, "measured rows carry their artifact's hash");
    // Each shard quantized only what its cells need, and the rows' order is the plan's.
    let order = |v: &Value| -> Vec<String> { cells(v).keys().cloned().collect() };
    assert_eq!(order(&merged), order(&expected));

    // A file of another plan is refused, naming it.
    let other = compare(
        &t.join("other"),
        &["--techniques", "fp32,ort-dynamic", "--shard", "1/3"],
    );
    let o = merge(&[s[0], s[1], s[2], &other], &t.join("bad"), &[]);
    assert!(!o.status.success());
    let e = text(&o);
    assert!(e.contains("shards of different plans"), "{e}");
    assert!(e.contains(&other.display().to_string()), "{e}");
    assert!(!t.join("bad/quick.json").exists(), "nothing written");

    // A missing shard is reported; with --allow-missing its cells are failed rows.
    let o = merge(&[s[0], s[2]], &t.join("two"), &[]);
    assert!(!o.status.success());
    assert!(text(&o).contains("shard(s) 2/3"), "{}", text(&o));
    let o = merge(&[s[0], s[2]], &t.join("two"), &["--allow-missing"]);
    assert!(o.status.success(), "{}", text(&o));
    let partial = read(&t.join("two/quick.json"));
    let failed: Vec<&Value> = partial["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["reason"]
                .as_str()
                .is_some_and(|x| x.contains("shard 2/3"))
        })
        .collect();
    let in_shard_2 = read(s[1])["rows"].as_array().unwrap().len();
    assert_eq!(failed.len(), in_shard_2);
    assert_eq!(cells(&partial).len(), cells(&expected).len());

    // A shard given twice is refused.
    let o = merge(&[s[0], s[1], s[1], s[2]], &t.join("dup"), &[]);
    assert!(!o.status.success());
    assert!(text(&o).contains("given twice"), "{}", text(&o));

    // A second machine: a copy of the run with its machine block edited (simulated: this test
    // has one machine) merges beside it, one column group per machine on the page.
    let mut copy = expected.clone();
    copy["machine"]["cpu"] = "Simulated CPU without VNNI".into();
    copy["machine"]["isa"] = serde_json::json!(["avx", "avx2", "fma"]);
    let copy_path = t.join("second-machine.json");
    std::fs::write(&copy_path, serde_json::to_vec(&copy).unwrap()).unwrap();
    let merged_path = t.join("merged/quick.json");
    let o = merge(&[&merged_path, &copy_path], &t.join("machines"), &[]);
    assert!(o.status.success(), "{}", text(&o));
    let both = read(&t.join("machines/quick.json"));
    assert_eq!(both["machines"].as_object().unwrap().len(), 2);
    let rows = both["rows"].as_array().unwrap();
    assert_eq!(
        rows.len(),
        2 * cells(&expected).len(),
        "two rows per cell, never averaged"
    );
    assert!(rows.iter().all(|r| r["machine"].is_string()));
    let dir = scenarios();
    let o = qbench(&[
        "--scenarios",
        dir.to_str().unwrap(),
        "publish",
        "--scenario",
        "resnet",
        "--from",
        t.join("machines/quick.json").to_str().unwrap(),
        "--out",
        t.join("machines").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let page = std::fs::read_to_string(t.join("machines/README.md")).unwrap();
    let header = page
        .lines()
        .find(|l| l.starts_with("| technique | format | size"))
        .expect("the main table");
    // One group of columns per machine (named by ISA class, `#k` when two share one).
    let groups = header.matches(" · ort p50 ms").count();
    assert_eq!(groups, 2, "{header}");
    assert!(
        header.contains("AVX2"),
        "the simulated machine's group: {header}"
    );
    assert!(page.contains("## Machines") && page.contains("Simulated CPU without VNNI"));
    // The gate takes each machine against the baseline of the same machine.
    let o = qbench(&[
        "--scenarios",
        dir.to_str().unwrap(),
        "check",
        "--baseline",
        t.join("machines/quick.json").to_str().unwrap(),
        "--run",
        t.join("machines/quick.json").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
}

/// The shard index comes from the engines' variables; `--shard 1/1` is the whole run whatever
/// they say.
#[test]
fn the_engines_variables_choose_the_shard() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = scenarios();
    let run = |out: &str, env: &[(&str, &str)], extra: &[&str]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_qbench"));
        c.args([
            "--scenarios",
            dir.to_str().unwrap(),
            "compare",
            "--scenario",
            "resnet",
            "--quick",
            "--rounds",
            "1",
            "--techniques",
            "fp32",
            "--backends",
            "ort,tract",
            "--out",
            tmp.path().join(out).to_str().unwrap(),
        ])
        .args(extra);
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let mut names: Vec<String> = std::fs::read_dir(tmp.path().join(out))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .filter(|n| n.ends_with(".json"))
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        run("k8s", &[("JOB_COMPLETION_INDEX", "1")], &["--shards", "2"]),
        ["quick.shard-2-of-2.json"]
    );
    let slurm = [
        ("SLURM_ARRAY_TASK_ID", "3"),
        ("SLURM_ARRAY_TASK_MIN", "3"),
        ("SLURM_ARRAY_TASK_COUNT", "2"),
    ];
    assert_eq!(run("slurm", &slurm, &[]), ["quick.shard-1-of-2.json"]);
    assert_eq!(run("whole", &slurm, &["--shard", "1/1"]), ["quick.json"]);
}
