//! The child-process protocol shared by `compare`'s cells and `calibration-profile`'s probes:
//! start a qbench process, read its stdout and stderr while it runs, kill it past a time limit,
//! and take its result from the last stdout line that parses as JSON (anything it logs before
//! that is ignored).

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;

/// How a child process ended.
#[derive(Debug)]
pub enum Ended {
    /// It exited (or was killed by a signal) on its own.
    Exited {
        status: ExitStatus,
        stdout: String,
        stderr: String,
    },
    /// It ran past the time limit and was killed.
    TimedOut(Duration),
}

/// Runs `cmd` (stdin closed, stdout and stderr captured) until it ends or `timeout` passes.
pub fn run(cmd: &mut Command, timeout: Duration) -> Result<Ended> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    let out = read_all(child.stdout.take().context("no stdout")?);
    let err = read_all(child.stderr.take().context("no stderr")?);
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(Ended::TimedOut(timeout));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(Ended::Exited {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

/// The child's result: the last stdout line that starts with `{` and parses as `T`.
pub fn result<T: DeserializeOwned>(stdout: &str) -> Option<T> {
    let line = stdout.lines().rev().find(|l| l.starts_with('{'))?;
    serde_json::from_str(line).ok()
}

fn read_all(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = r.read_to_string(&mut s);
        s
    })
}

/// The last `lines` non-empty lines of `s`, joined with ` | `.
pub fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    v[v.len().saturating_sub(lines)..].join(" | ")
}

/// How a process ended, in words (the signal by name for the common crashes).
#[cfg(unix)]
pub fn describe_exit(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status.signal() {
        Some(sig) => format!(
            "killed by signal {sig}{}",
            if sig == 6 {
                " (abort)"
            } else if sig == 11 {
                " (segmentation fault)"
            } else {
                ""
            }
        ),
        None => format!("exited with {status}"),
    }
}

/// How a process ended, in words.
#[cfg(not(unix))]
pub fn describe_exit(status: ExitStatus) -> String {
    format!("exited with {status}")
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    }

    #[test]
    fn the_last_json_line_is_the_result_and_logs_before_it_are_ignored() {
        let Ended::Exited { stdout, status, .. } = run(
            &mut sh("echo log; echo '{\"a\": 1}'; echo '{\"a\": 2}'"),
            Duration::from_secs(10),
        )
        .unwrap() else {
            panic!("timed out")
        };
        assert!(status.success());
        let v: serde_json::Value = result(&stdout).unwrap();
        assert_eq!(v["a"], 2);
        assert!(result::<serde_json::Value>("no json here").is_none());
    }

    #[test]
    fn a_hang_is_killed_at_the_limit() {
        let start = Instant::now();
        let e = run(&mut sh("sleep 30"), Duration::from_millis(200)).unwrap();
        assert!(matches!(e, Ended::TimedOut(_)), "{e:?}");
        assert!(start.elapsed() < Duration::from_secs(10));
    }
}
