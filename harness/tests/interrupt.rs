//! A run stopped by a signal says so: SIGTERM to `qbench compare` lets the running cell finish,
//! writes the partial results with `complete: false` and the reason, and exits with 130; `check`
//! then refuses the file, quoting the reason; `compare --resume` finishes it, keeping the cells
//! measured before the stop, and refuses another plan.
#![cfg(unix)]

mod common;

use std::time::{Duration, Instant};

use common::{qbench, scenarios, text};

#[test]
fn sigterm_leaves_a_partial_file_that_says_why() {
    let out = tempfile::tempdir().unwrap();
    let sc = scenarios();
    let args = [
        "--scenarios",
        sc.to_str().unwrap(),
        "compare",
        "--quick",
        "--rounds",
        "2",
        "--techniques",
        "fp32,ort-static-minmax,ort-static-entropy",
        "--backends",
        "ort,tract,candle",
        "--out",
        out.path().to_str().unwrap(),
    ];
    let mut parent = std::process::Command::new(env!("CARGO_BIN_EXE_qbench"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let partial = out.path().join("quick.partial.json");
    let start = Instant::now();
    // Wait for the first finished cell.
    loop {
        let rows = std::fs::read(&partial)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .map_or(0, |v| v["rows"].as_array().map_or(0, Vec::len));
        if rows >= 1 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "no cell finished"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &parent.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = parent.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut parent.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("stopped by a signal"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&partial).unwrap()).unwrap();
    assert_eq!(v["complete"], false);
    assert!(
        v["stopped"]
            .as_str()
            .unwrap()
            .contains("stopped by a signal"),
        "{v}"
    );
    let rows = v["rows"].as_array().unwrap().len();
    assert!((1..9).contains(&rows), "{rows} rows");
    // The complete files were never written.
    assert!(!out.path().join("quick.json").exists());
    // `check` refuses it with the reason.
    let o = qbench(&[
        "check",
        "--baseline",
        partial.to_str().unwrap(),
        "--run",
        partial.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("it was stopped by a signal"),
        "{}",
        text(&o)
    );

    // Another plan (one technique fewer) cannot continue it, and leaves it as it was.
    let mut other = args.to_vec();
    other[7] = "fp32,ort-static-minmax";
    other.push("--resume");
    let o = qbench(&other);
    assert_ne!(o.status.code(), Some(0));
    assert!(text(&o).contains("a run of another plan"), "{}", text(&o));
    assert!(partial.exists());

    // The same plan continues it: the kept cells are not measured again.
    let mut same = args.to_vec();
    same.push("--resume");
    let o = qbench(&same);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains(&format!("{rows} finished cell(s) kept")), "{t}");
    let done: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("quick.json")).unwrap()).unwrap();
    assert_eq!(done["complete"], true);
    assert_eq!(
        done["started_at"], v["started_at"],
        "the run began before the stop"
    );
    let done_rows = done["rows"].as_array().unwrap();
    assert_eq!(done_rows.len(), 9);
    for (kept, now) in v["rows"].as_array().unwrap().iter().zip(done_rows) {
        // Same first-pass measurement (accuracy, throughput, size), and both latency rounds.
        for field in [
            "technique",
            "backend",
            "accuracy",
            "throughput_ips",
            "size_bytes",
        ] {
            assert_eq!(kept[field], now[field], "{field}");
        }
        if now["status"] == "ok" {
            assert_eq!(now["latency_ms"]["rounds"], 2, "{now}");
            assert_eq!(
                kept["latency_ms"]["round_p50"][0], now["latency_ms"]["round_p50"][0],
                "{now}"
            );
        }
    }
    // Agreement with FP32 is filled for every measured quantized cell, kept or new.
    assert!(done_rows
        .iter()
        .filter(|r| r["status"] == "ok" && r["technique"] != "fp32")
        .all(|r| r["agreement_with_fp32"].is_number()));
    assert!(!partial.exists());
    assert!(!out.path().join("quick.partial.journal.jsonl").exists());
}
