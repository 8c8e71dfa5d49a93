//! A cell process does not outlive its parent: SIGKILL `qbench compare` while a cell runs, and
//! the cell stops within a second instead of measuring on, orphaned.
#![cfg(target_os = "linux")]

mod common;

use std::time::{Duration, Instant};

/// Pids of the processes whose parent is `parent` and whose command line has `word`.
fn children(parent: u32, word: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let after = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
        let ppid: u32 = after
            .split(' ')
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if ppid == parent && String::from_utf8_lossy(&cmd).split('\0').any(|a| a == word) {
            out.push(pid);
        }
    }
    out
}

/// Still running: present and not a zombie (an exited child nobody has reaped yet).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let after = &s[s.rfind(')').map_or(0, |i| i + 2)..];
            !after.starts_with('Z') && !after.starts_with('X')
        })
        .unwrap_or(false)
}

#[test]
fn a_cell_stops_when_its_parent_is_killed() {
    let out = tempfile::tempdir().unwrap();
    // A full (not quick) FP32 cell on candle: the whole evaluation set, many seconds.
    let mut parent = std::process::Command::new(env!("CARGO_BIN_EXE_qbench"))
        .args(["--scenarios", common::scenarios().to_str().unwrap()])
        .args([
            "compare",
            "--techniques",
            "fp32",
            "--backends",
            "candle",
            "--rounds",
            "1",
        ])
        .args(["--out", out.path().to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let cell = loop {
        if let Some(pid) = children(parent.id(), "cell").first() {
            break *pid;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no cell process appeared"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // Let it get into its measurement, then kill the parent without warning.
    std::thread::sleep(Duration::from_millis(500));
    assert!(alive(cell), "the cell ended before the parent was killed");
    parent.kill().unwrap();
    parent.wait().unwrap();
    let killed = Instant::now();
    while alive(cell) {
        assert!(
            killed.elapsed() < Duration::from_secs(5),
            "cell {cell} still runs 5 s after its parent was killed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
