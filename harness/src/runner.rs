//! Runs each cell in its own child process (`qbench cell <spec>`), so that peak memory is per
//! cell and a crash, abort or hang of one backend marks only that cell as failed.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::cell::CellOutcome;
use crate::child::{self, Ended};
use crate::plan::CellSpec;

/// How to start a cell.
#[derive(Clone, Debug)]
pub struct Runner {
    /// The qbench executable (normally the current one).
    pub exe: PathBuf,
    pub timeout: Duration,
    /// Environment variables set for every child (e.g. where ONNX Runtime is, found once).
    pub env: Vec<(String, PathBuf)>,
}

/// The environment the backend of `spec` asks its cell processes to start with.
fn process_env(spec: &CellSpec) -> Vec<(&'static str, String)> {
    crate::registry::backend(&spec.key.backend)
        .map(|b| b.process_env(spec.key.threads))
        .unwrap_or_default()
}

impl Runner {
    /// A runner that re-invokes the current executable.
    pub fn current(timeout: Duration) -> Result<Runner> {
        Ok(Runner {
            exe: std::env::current_exe().context("cannot locate the qbench executable")?,
            timeout,
            env: Vec::new(),
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
        let mut cmd = Command::new(&self.exe);
        cmd.arg("cell")
            .arg(&json)
            .envs(process_env(spec))
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        let (status, stdout, stderr) = match child::run(&mut cmd, self.timeout)? {
            Ended::TimedOut(t) => {
                return Ok(CellOutcome::Failed {
                    reason: format!("timed out after {:.1} s", t.as_secs_f64()),
                })
            }
            Ended::Exited {
                status,
                stdout,
                stderr,
            } => (status, stdout, stderr),
        };
        if let Some(outcome) = child::result::<CellOutcome>(&stdout) {
            return Ok(outcome);
        }
        let detail = child::tail(&stderr, 3);
        Ok(CellOutcome::Failed {
            reason: format!(
                "{}{}",
                child::describe_exit(status),
                if detail.is_empty() {
                    String::new()
                } else {
                    format!(": {detail}")
                }
            ),
        })
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::measure::latency::IterationRule;
    use crate::record::RowKey;
    use std::time::Instant;

    fn spec() -> CellSpec {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        CellSpec {
            scenario: crate::scenario::Scenario::load(&dir, "resnet").unwrap(),
            key: RowKey {
                technique: "fp32".into(),
                framework: "-".into(),
                backend: "mock".into(),
                format: "fp32".into(),
                threads: 1,
                batch: 1,
                throughput_batch: 8,
            },
            artifact: qbench_core::Artifact {
                technique: "fp32".into(),
                format: qbench_core::Format::Fp32,
                path: "m.onnx".into(),
                input: qbench_core::InputSpec::image("x", 1, 2, 2),
                output: "y".into(),
            },
            eval_samples: 1,
            latency_rule: IterationRule::QUICK,
            throughput_rule: IterationRule::THROUGHPUT_QUICK,
            part: Default::default(),
            save_logits: None,
            reference_logits: None,
        }
    }

    /// A stand-in for the qbench executable: a shell script with the given body.
    fn fake_exe(dir: &tempfile::TempDir, body: &str) -> Runner {
        let exe = dir.path().join("fake-qbench");
        std::fs::write(&exe, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        Runner {
            exe,
            timeout: Duration::from_secs(2),
            env: Vec::new(),
        }
    }

    fn failure(o: CellOutcome) -> String {
        match o {
            CellOutcome::Failed { reason } => reason,
            _ => panic!("expected a failure"),
        }
    }

    #[test]
    fn a_crash_is_a_failed_cell_with_the_signal() {
        let dir = tempfile::tempdir().unwrap();
        let r = fake_exe(&dir, "echo 'about to crash' >&2\nkill -SEGV $$");
        let reason = failure(r.run(&spec()));
        assert!(
            reason.contains("signal 11") && reason.contains("about to crash"),
            "{reason}"
        );
    }

    #[test]
    fn a_hang_is_killed_and_reported_as_timed_out() {
        let dir = tempfile::tempdir().unwrap();
        let r = Runner {
            timeout: Duration::from_millis(300),
            ..fake_exe(&dir, "sleep 30")
        };
        let t = Instant::now();
        assert_eq!(failure(r.run(&spec())), "timed out after 0.3 s");
        assert!(t.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn an_error_exit_keeps_the_message() {
        let dir = tempfile::tempdir().unwrap();
        let r = fake_exe(&dir, "echo 'error: backend exploded' >&2\nexit 3");
        let reason = failure(r.run(&spec()));
        assert!(
            reason.contains("exit status: 3") && reason.contains("backend exploded"),
            "{reason}"
        );
    }

    #[test]
    fn the_runner_environment_reaches_the_child() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = fake_exe(
            &dir,
            "echo \"{\\\"status\\\":\\\"failed\\\",\\\"reason\\\":\\\"lib=$ORT_DYLIB_PATH\\\"}\"",
        );
        r.env
            .push(("ORT_DYLIB_PATH".into(), "/opt/ort/libonnxruntime.so".into()));
        assert_eq!(failure(r.run(&spec())), "lib=/opt/ort/libonnxruntime.so");
    }

    #[test]
    fn a_candle_cell_starts_with_the_thread_count_candle_declares() {
        let dir = tempfile::tempdir().unwrap();
        let r = fake_exe(
            &dir,
            "echo \"{\\\"status\\\":\\\"failed\\\",\\\"reason\\\":\\\"r=$RAYON_NUM_THREADS c=$CANDLE_NUM_THREADS\\\"}\"",
        );
        let mut candle = spec();
        candle.key.backend = "candle".into();
        candle.key.threads = 3;
        assert_eq!(failure(r.run(&candle)), "r=3 c=3");
        let mut tract = candle.clone();
        tract.key.backend = "tract".into();
        // tract sizes its pool per session: nothing is set for it.
        if std::env::var_os("RAYON_NUM_THREADS").is_none() {
            assert_eq!(failure(r.run(&tract)), "r= c=");
        }
    }

    #[test]
    fn the_child_outcome_line_is_parsed() {
        let dir = tempfile::tempdir().unwrap();
        let r = fake_exe(
            &dir,
            "echo 'log line'\necho '{\"status\":\"failed\",\"reason\":\"no such operator\"}'",
        );
        assert_eq!(failure(r.run(&spec())), "no such operator");
    }
}
