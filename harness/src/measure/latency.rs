//! The iteration rule for timed runs (after MLPerf LoadGen): warm up, then run until at least
//! `min_iters` iterations **and** `min_seconds` have passed, but stop at `max_seconds`.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// How long and how often to run a timed loop.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct IterationRule {
    pub warmup: usize,
    pub min_iters: usize,
    pub min_seconds: f64,
    pub max_seconds: f64,
}

impl IterationRule {
    /// Default batch-1 latency rule for full runs.
    pub const FULL: IterationRule = IterationRule {
        warmup: 10,
        min_iters: 200,
        min_seconds: 3.0,
        max_seconds: 20.0,
    };
    /// Short rule for `--quick`.
    pub const QUICK: IterationRule = IterationRule {
        warmup: 3,
        min_iters: 30,
        min_seconds: 0.5,
        max_seconds: 4.0,
    };
    /// Rule for throughput at a larger batch.
    pub const THROUGHPUT: IterationRule = IterationRule {
        warmup: 2,
        min_iters: 10,
        min_seconds: 2.0,
        max_seconds: 15.0,
    };
    /// Short throughput rule for `--quick`.
    pub const THROUGHPUT_QUICK: IterationRule = IterationRule {
        warmup: 1,
        min_iters: 3,
        min_seconds: 0.3,
        max_seconds: 3.0,
    };

    /// Runs `step` under this rule and returns each timed iteration's duration in milliseconds.
    /// At least one timed iteration always runs.
    pub fn run<E>(&self, mut step: impl FnMut() -> Result<(), E>) -> Result<Vec<f64>, E> {
        for _ in 0..self.warmup {
            step()?;
        }
        let start = Instant::now();
        let min = Duration::from_secs_f64(self.min_seconds);
        let max = Duration::from_secs_f64(self.max_seconds.max(self.min_seconds));
        let mut samples = Vec::with_capacity(self.min_iters);
        loop {
            let t = Instant::now();
            step()?;
            samples.push(t.elapsed().as_secs_f64() * 1e3);
            let elapsed = start.elapsed();
            let enough = samples.len() >= self.min_iters && elapsed >= min;
            if enough || elapsed >= max {
                return Ok(samples);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_at_least_min_iters_and_warms_up() {
        let rule = IterationRule {
            warmup: 2,
            min_iters: 5,
            min_seconds: 0.0,
            max_seconds: 10.0,
        };
        let mut calls = 0;
        let s = rule
            .run(|| -> Result<(), ()> {
                calls += 1;
                Ok(())
            })
            .unwrap();
        assert_eq!(s.len(), 5);
        assert_eq!(calls, 7);
    }

    #[test]
    fn max_duration_caps_the_iterations() {
        let rule = IterationRule {
            warmup: 0,
            min_iters: 1_000_000,
            min_seconds: 0.0,
            max_seconds: 0.05,
        };
        let s = rule
            .run(|| -> Result<(), ()> {
                std::thread::sleep(Duration::from_millis(5));
                Ok(())
            })
            .unwrap();
        assert!(s.len() < 100 && !s.is_empty());
    }

    #[test]
    fn errors_stop_the_loop() {
        let rule = IterationRule {
            warmup: 1,
            min_iters: 5,
            min_seconds: 0.0,
            max_seconds: 1.0,
        };
        assert_eq!(rule.run(|| Err::<(), _>("boom")), Err("boom"));
    }
}
