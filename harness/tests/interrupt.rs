//! A run stopped by a signal says so: SIGTERM to `qbench compare` lets the running cell finish,
//! writes the partial results with `complete: false` and the reason, and exits with 130; `check`
//! then refuses the file, quoting the reason.
#![cfg(unix)]

mod common;

use std::time::{Duration, Instant};

use common::{qbench, scenarios, text};

#[test]
fn sigterm_leaves_a_partial_file_that_says_why() {
    let out = tempfile::tempdir().unwrap();
    let mut parent = std::process::Command::new(env!("CARGO_BIN_EXE_qbench"))
        .args(["--scenarios", scenarios().to_str().unwrap()])
        .args(["compare", "--quick", "--rounds", "1"])
        .args(["--techniques", "fp32,ort-static-minmax,ort-static-entropy"])
        .args(["--backends", "ort,tract,candle"])
        .args(["--out", out.path().to_str().unwrap()])
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
}
