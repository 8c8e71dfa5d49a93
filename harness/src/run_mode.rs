//! How much work a `compare` run does per cell: a scenario's `[quick]` and `[full]` tables.
//!
//! A 224x224 model costs tract and candle a tenth to a half of a second per image, so the
//! defaults sized for the 28x28 `resnet` (1,000 or 10,000 evaluation images, ten latency rounds
//! of at least 200 runs, throughput at batch 64 with ten timed batches) would take hours. A
//! scenario sizes its own runs; the command line overrides the scenario, which overrides the
//! built-in defaults, and the results file records what was used.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use crate::measure::latency::IterationRule;

/// Evaluation images of a `--quick` run unless the scenario says otherwise.
pub const QUICK_EVAL_SAMPLES: usize = 1000;
/// Latency rounds per cell of a full run. On a shared 2-core VM the machine's speed shifts by
/// a third for tens of seconds at a time; ten rounds spread over the run put every cell
/// through the same mix of fast and slow periods.
pub const FULL_ROUNDS: usize = 10;
/// Latency rounds per cell of a `--quick` run.
pub const QUICK_ROUNDS: usize = 2;
/// Batch of the accuracy and throughput pass unless the scenario or `--throughput-batch` says.
pub const THROUGHPUT_BATCH: usize = 64;

/// One mode's sizing in a scenario file; every key is optional.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModeSpec {
    /// Evaluation samples (the first ones of the evaluation split).
    pub eval_samples: Option<usize>,
    /// Calibration samples (the first ones of the calibration split).
    pub calibration_samples: Option<usize>,
    /// Latency rounds per cell, each in a fresh process.
    pub rounds: Option<usize>,
    /// Batch of the accuracy and throughput pass.
    pub throughput_batch: Option<usize>,
    /// The batch-1 latency rule of a whole cell (all rounds together).
    pub latency: Option<RuleSpec>,
    /// The throughput rule (the accuracy pass's batches count towards it).
    pub throughput: Option<RuleSpec>,
}

/// Overrides of an [`IterationRule`].
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub warmup: Option<usize>,
    pub min_iters: Option<usize>,
    pub min_seconds: Option<f64>,
    pub max_seconds: Option<f64>,
}

impl RuleSpec {
    /// `base` with these overrides applied.
    pub fn over(&self, base: IterationRule) -> IterationRule {
        IterationRule {
            warmup: self.warmup.unwrap_or(base.warmup),
            min_iters: self.min_iters.unwrap_or(base.min_iters),
            min_seconds: self.min_seconds.unwrap_or(base.min_seconds),
            max_seconds: self.max_seconds.unwrap_or(base.max_seconds),
        }
    }
}

impl ModeSpec {
    /// Refuses zero counts and rules that cannot run; `table` names the TOML table.
    pub fn validate(&self, table: &str) -> Result<()> {
        let counts = [
            ("eval_samples", self.eval_samples),
            ("calibration_samples", self.calibration_samples),
            ("rounds", self.rounds),
            ("throughput_batch", self.throughput_batch),
        ];
        if let Some((key, _)) = counts.iter().find(|(_, v)| *v == Some(0)) {
            bail!("[{table}] {key} must be at least 1");
        }
        for (name, rule) in [("latency", &self.latency), ("throughput", &self.throughput)] {
            if let Some(r) = rule {
                let t = format!("[{table}.{name}]");
                check_rule(&r.over(IterationRule::QUICK), RuleKeys::Table(&t))?;
            }
        }
        Ok(())
    }

    /// This mode's settings over the built-in defaults of the mode (`quick` or full).
    pub fn resolve(&self, quick: bool) -> Resolved {
        let (latency, throughput) = if quick {
            (IterationRule::QUICK, IterationRule::THROUGHPUT_QUICK)
        } else {
            (IterationRule::FULL, IterationRule::THROUGHPUT)
        };
        Resolved {
            eval_samples: self.eval_samples.or(quick.then_some(QUICK_EVAL_SAMPLES)),
            calibration_samples: self.calibration_samples,
            rounds: self
                .rounds
                .unwrap_or(if quick { QUICK_ROUNDS } else { FULL_ROUNDS }),
            throughput_batch: self.throughput_batch.unwrap_or(THROUGHPUT_BATCH),
            latency: self.latency.unwrap_or_default().over(latency),
            throughput: self.throughput.unwrap_or_default().over(throughput),
        }
    }
}

/// A mode's settings with every default filled in (before the command line's overrides).
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    /// At most this many evaluation samples (`None`: all).
    pub eval_samples: Option<usize>,
    /// At most this many calibration samples (`None`: all).
    pub calibration_samples: Option<usize>,
    pub rounds: usize,
    pub throughput_batch: usize,
    pub latency: IterationRule,
    pub throughput: IterationRule,
}

/// How [`check_rule`] names the keys of a rule: a scenario table's or the command line's.
pub enum RuleKeys<'a> {
    /// `[table.latency] min_iters` and so on.
    Table(&'a str),
    /// `--min-iters` and so on.
    Flags,
}

/// Refuses a rule that cannot run, naming the offending keys.
pub fn check_rule(rule: &IterationRule, keys: RuleKeys) -> Result<()> {
    let [iters, min, max] = match keys {
        RuleKeys::Table(t) => [
            format!("{t} min_iters"),
            format!("{t} min_seconds"),
            format!("{t} max_seconds"),
        ],
        RuleKeys::Flags => [
            "--min-iters".to_string(),
            "--min-seconds".into(),
            "--max-seconds".into(),
        ],
    };
    if rule.min_iters == 0 {
        bail!("{iters} must be at least 1");
    }
    if !(rule.min_seconds.is_finite() && rule.min_seconds >= 0.0) {
        bail!("{min} must be a non-negative number of seconds");
    }
    if !(rule.max_seconds.is_finite() && rule.max_seconds > 0.0) {
        bail!("{max} must be a positive number of seconds");
    }
    if rule.max_seconds < rule.min_seconds {
        bail!(
            "{max} ({}) is below {min} ({})",
            rule.max_seconds,
            rule.min_seconds
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_table_gives_the_built_in_defaults() {
        let full = ModeSpec::default().resolve(false);
        assert_eq!(full.eval_samples, None);
        assert_eq!(full.rounds, FULL_ROUNDS);
        assert_eq!(full.throughput_batch, THROUGHPUT_BATCH);
        assert_eq!(full.latency, IterationRule::FULL);
        assert_eq!(full.throughput, IterationRule::THROUGHPUT);
        let quick = ModeSpec::default().resolve(true);
        assert_eq!(quick.eval_samples, Some(QUICK_EVAL_SAMPLES));
        assert_eq!(quick.rounds, QUICK_ROUNDS);
        assert_eq!(quick.latency, IterationRule::QUICK);
        assert_eq!(quick.throughput, IterationRule::THROUGHPUT_QUICK);
    }

    #[test]
    fn keys_override_one_field_each() {
        let spec: ModeSpec = toml::from_str(
            "eval_samples = 128\nrounds = 3\nthroughput_batch = 8\n\
             [latency]\nmax_seconds = 4.0\n[throughput]\nwarmup = 0",
        )
        .unwrap();
        let r = spec.resolve(false);
        assert_eq!(
            (r.eval_samples, r.rounds, r.throughput_batch),
            (Some(128), 3, 8)
        );
        assert_eq!(
            r.latency,
            IterationRule {
                max_seconds: 4.0,
                ..IterationRule::FULL
            }
        );
        assert_eq!(r.throughput.warmup, 0);
        assert_eq!(r.throughput.min_iters, IterationRule::THROUGHPUT.min_iters);
    }

    #[test]
    fn bad_tables_are_refused_with_their_key() {
        let zero: ModeSpec = toml::from_str("rounds = 0").unwrap();
        let e = zero.validate("full").unwrap_err().to_string();
        assert!(e.contains("[full] rounds"), "{e}");
        let rule: ModeSpec =
            toml::from_str("[latency]\nmin_seconds = 5.0\nmax_seconds = 1.0").unwrap();
        let e = rule.validate("quick").unwrap_err().to_string();
        assert!(
            e.contains("[quick.latency] max_seconds (1) is below [quick.latency] min_seconds (5)"),
            "{e}"
        );
        assert!(toml::from_str::<ModeSpec>("evals = 3").is_err());
    }
}
