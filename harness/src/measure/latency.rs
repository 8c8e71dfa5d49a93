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
        min_iters: 20,
        min_seconds: 0.25,
        max_seconds: 2.0,
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
        min_seconds: 0.1,
        max_seconds: 2.0,
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

impl IterationRule {
    /// The share of this rule for one of `rounds` rounds: the same warm-up (every round runs
    /// in a fresh process), and the iterations and durations divided among the rounds.
    pub fn per_round(&self, rounds: usize) -> IterationRule {
        let r = rounds.max(1);
        IterationRule {
            warmup: self.warmup,
            min_iters: self.min_iters.div_ceil(r),
            min_seconds: self.min_seconds / r as f64,
            max_seconds: self.max_seconds / r as f64,
        }
    }

    /// Continues a series of timed iterations already run (e.g. the accuracy pass, in
    /// milliseconds) until the rule is satisfied, counting their time: no warm-up, at least
    /// `min_iters` samples and `min_seconds` of timed work in total, stopping at `max_seconds`.
    pub fn top_up<E>(
        &self,
        mut samples: Vec<f64>,
        mut step: impl FnMut() -> Result<(), E>,
    ) -> Result<Vec<f64>, E> {
        let min = self.min_seconds * 1e3;
        let max = self.max_seconds.max(self.min_seconds) * 1e3;
        let mut total: f64 = samples.iter().sum();
        while !(samples.len() >= self.min_iters && total >= min) && total < max {
            let t = Instant::now();
            step()?;
            let ms = t.elapsed().as_secs_f64() * 1e3;
            samples.push(ms);
            total += ms;
        }
        Ok(samples)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_up_counts_earlier_samples() {
        let rule = IterationRule {
            warmup: 5,
            min_iters: 4,
            min_seconds: 0.0,
            max_seconds: 10.0,
        };
        let calls = std::cell::Cell::new(0);
        let step = || -> Result<(), ()> {
            calls.set(calls.get() + 1);
            Ok(())
        };
        // Three samples already: one more call, no warm-up.
        assert_eq!(rule.top_up(vec![1.0, 1.0, 1.0], step).unwrap().len(), 4);
        // Enough already: no call.
        assert_eq!(rule.top_up(vec![1.0; 6], step).unwrap().len(), 6);
        assert_eq!(calls.get(), 1);
        // Past the cap already: no call either.
        let capped = IterationRule {
            min_iters: 100,
            max_seconds: 0.001,
            ..rule
        };
        assert_eq!(capped.top_up(vec![5.0], step).unwrap().len(), 1);
        assert_eq!(calls.get(), 1);
    }

    #[test]
    fn per_round_divides_the_work() {
        let r = IterationRule::FULL.per_round(6);
        assert_eq!((r.warmup, r.min_iters), (10, 34));
        assert!((r.min_seconds - 0.5).abs() < 1e-12 && (r.max_seconds - 20.0 / 6.0).abs() < 1e-12);
        assert_eq!(IterationRule::FULL.per_round(0), IterationRule::FULL);
    }

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
