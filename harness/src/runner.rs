//! Runs each cell in its own child process (`qbench cell <spec>`), so that peak memory is per
//! cell and a crash, abort or hang of one backend marks only that cell as failed.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::cell::CellOutcome;
use crate::plan::CellSpec;

/// How to start a cell.
#[derive(Clone, Debug)]
pub struct Runner {
    /// The qbench executable (normally the current one).
    pub exe: PathBuf,
    pub timeout: Duration,
}

fn read_all(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = r.read_to_string(&mut s);
        s
    })
}

fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    v[v.len().saturating_sub(lines)..].join(" | ")
}

#[cfg(unix)]
fn describe_exit(status: std::process::ExitStatus) -> String {
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

#[cfg(not(unix))]
fn describe_exit(status: std::process::ExitStatus) -> String {
    format!("exited with {status}")
}

impl Runner {
    /// A runner that re-invokes the current executable.
    pub fn current(timeout: Duration) -> Result<Runner> {
        Ok(Runner {
            exe: std::env::current_exe().context("cannot locate the qbench executable")?,
            timeout,
        })
    }

    /// Runs one cell to completion (or until the time limit) and returns its outcome.
    pub fn run(&self, spec: &CellSpec) -> CellOutcome {
        match self.try_run(spec) {
            Ok(o) => o,
            Err(e) => CellOutcome::Failed {
                reason: format!("{e:#}"),
            },
        }
    }

    fn try_run(&self, spec: &CellSpec) -> Result<CellOutcome> {
        let json = serde_json::to_string(spec)?;
        let mut child = Command::new(&self.exe)
            .arg("cell")
            .arg(&json)
            .env("RAYON_NUM_THREADS", spec.key.threads.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", self.exe.display()))?;
        let out = read_all(child.stdout.take().context("no stdout")?);
        let err = read_all(child.stderr.take().context("no stderr")?);
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if start.elapsed() > self.timeout {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(CellOutcome::Failed {
                    reason: format!("timed out after {} s", self.timeout.as_secs()),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        if let Some(line) = stdout.lines().rev().find(|l| l.starts_with('{')) {
            if let Ok(outcome) = serde_json::from_str::<CellOutcome>(line) {
                return Ok(outcome);
            }
        }
        let detail = tail(&stderr, 3);
        Ok(CellOutcome::Failed {
            reason: format!(
                "{}{}",
                describe_exit(status),
                if detail.is_empty() {
                    String::new()
                } else {
                    format!(": {detail}")
                }
            ),
        })
    }
}
