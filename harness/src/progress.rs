//! Progress of a run: an indicatif bar when stderr is a terminal, plain lines otherwise (CI logs,
//! `nohup`, pipes), as cargo prints `Compiling ...` lines when it is not on a terminal. indicatif
//! hides its bar *and* its `println` lines off a terminal, which left a full run silent for
//! minutes.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Cells done out of the run's total, shown one way or the other.
pub struct Progress {
    bar: Option<ProgressBar>,
    pos: AtomicU64,
    len: u64,
}

impl Progress {
    /// A bar on a terminal, plain lines otherwise.
    pub fn new(len: u64) -> Self {
        Self::with_terminal(len, std::io::stderr().is_terminal())
    }

    /// Chooses the form explicitly (tests).
    pub fn with_terminal(len: u64, terminal: bool) -> Self {
        let bar = terminal.then(|| {
            let bar = ProgressBar::new(len);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] [{bar:25}] {pos}/{len} {msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            bar,
            pos: AtomicU64::new(0),
            len,
        }
    }

    /// What is running now (the bar's message; not printed off a terminal).
    pub fn set_message(&self, msg: String) {
        if let Some(bar) = &self.bar {
            bar.set_message(msg);
        }
    }

    /// A line that stays: above the bar, or `[done/total] line` on stderr.
    pub fn println(&self, line: String) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{}", self.plain(&line)),
        }
    }

    /// `n` more steps done.
    pub fn inc(&self, n: u64) {
        self.pos.fetch_add(n, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    /// Removes the bar (nothing to do for plain lines).
    pub fn finish_and_clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// The plain form of a line.
    fn plain(&self, line: &str) -> String {
        format!("[{}/{}] {line}", self.pos.load(Ordering::Relaxed), self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_count_the_steps_done() {
        let p = Progress::with_terminal(4, false);
        assert_eq!(p.plain("fp32 ort ok"), "[0/4] fp32 ort ok");
        p.inc(1);
        p.inc(2);
        assert_eq!(p.plain("x"), "[3/4] x");
        p.set_message("ignored off a terminal".into());
        p.finish_and_clear();
    }
}
