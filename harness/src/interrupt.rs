//! A run stopped by a signal says so: on SIGINT, SIGTERM or SIGHUP `qbench compare` finishes
//! nothing new, writes its partial results file with `complete: false` and the reason, and exits
//! with 130. A second signal exits at once.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

/// Exit status of a run stopped by a signal (the shell's 128 + SIGINT).
pub const EXIT_CODE: u8 = 130;

/// The error a stopped run returns (the binary maps it to [`EXIT_CODE`]).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Interrupted(pub String);

/// Installs the handler (once per process; later calls do nothing).
pub fn install() {
    // An error means a handler is already installed: this process's own, from an earlier run.
    let _ = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            std::process::exit(i32::from(EXIT_CODE));
        }
        eprintln!("\nqbench: stopping after the cell that is running (a second signal stops now)");
    });
}

/// Whether a signal asked the run to stop.
pub fn requested() -> bool {
    STOP.load(Ordering::SeqCst)
}
