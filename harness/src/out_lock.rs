//! One run per results folder: `compare` holds `<out>/.qbench.lock` (its process id) while it
//! writes there, and a second run into the same folder is refused instead of silently
//! overwriting the first one's files. A lock left by a process that no longer exists (a killed
//! run) is taken over.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The held lock; released (the file removed) when dropped.
#[derive(Debug)]
pub struct OutLock {
    path: PathBuf,
}

/// Whether process `pid` still exists (Linux: `/proc/<pid>`; elsewhere assumed, so a stale lock
/// there is removed by hand, as the message says).
fn alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

impl OutLock {
    /// Takes the lock of `dir` (created if needed), or says who holds it.
    pub fn acquire(dir: &Path) -> Result<OutLock> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join(".qbench.lock");
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    writeln!(f, "{}", std::process::id())
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    return Ok(OutLock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = std::fs::read_to_string(&path)
                        .ok()
                        .and_then(|s| s.trim().parse::<u32>().ok());
                    match holder {
                        Some(pid) if alive(pid) => bail!(
                            "another qbench run (process {pid}) is writing its results to {}: \
                             wait for it to finish, or give this run another --out (if no run is \
                             going, delete {})",
                            dir.display(),
                            path.display()
                        ),
                        // Left by a run that was killed: take it over.
                        _ => {
                            let _ = std::fs::remove_file(&path);
                        }
                    }
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot create {}", path.display()))
                }
            }
        }
        bail!("cannot take the lock {}", path.display())
    }
}

impl Drop for OutLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_run_is_refused_and_a_dead_holder_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("results");
        let first = OutLock::acquire(&out).unwrap();
        let err = OutLock::acquire(&out).unwrap_err().to_string();
        assert!(
            err.contains("another qbench run") && err.contains("results"),
            "{err}"
        );
        drop(first);
        assert!(!out.join(".qbench.lock").exists());
        // A lock whose process is gone (pid far above any live one) is stale.
        std::fs::write(out.join(".qbench.lock"), "4194304999\n").unwrap();
        let taken = OutLock::acquire(&out).unwrap();
        let pid: u32 = std::fs::read_to_string(out.join(".qbench.lock"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(pid, std::process::id());
        drop(taken);
    }
}
