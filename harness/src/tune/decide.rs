//! The tuner's decision rules, on candidates measured on the tuning split only (the evaluation
//! split is not among their fields: a rule cannot read it).

use serde::{Deserialize, Serialize};

/// What the tuner minimizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    /// Median latency at batch 1 on the chosen backend (short measured runs).
    Latency,
    /// Bytes of the artifact, sub-byte weights counted packed at 4 bits.
    Size,
}

/// One configuration the tuner tried, with its measurements on the tuning split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// e.g. `uniform-midtread-4bit` or `uniform-midtread-4bit + stem=int8`.
    pub name: String,
    pub technique: String,
    /// Per-node overrides on top of the technique.
    pub overrides: Vec<String>,
    /// Top-1 on the tuning split (percent) and its change against FP32 there (points).
    pub tuning_top1: f64,
    pub tuning_drop: f64,
    /// Median batch-1 latency (ms) of a short run on the chosen backend.
    pub latency_ms: f64,
    pub size_bytes: u64,
    /// Why it was tried (fixed recipe, fallback step, ...).
    pub step: String,
}

impl Candidate {
    /// Whether it keeps top-1 within `max_drop` points of FP32 on the tuning split.
    pub fn passes(&self, max_drop: f64) -> bool {
        self.tuning_drop >= -max_drop
    }

    fn objective(&self, o: Objective) -> f64 {
        match o {
            Objective::Latency => self.latency_ms,
            Objective::Size => self.size_bytes as f64,
        }
    }
}

/// qbench's rule: the passing candidate with the best objective (ties: the smaller, then the
/// more accurate, then the earlier).
pub fn best_passing(cands: &[Candidate], max_drop: f64, objective: Objective) -> Option<usize> {
    (0..cands.len())
        .filter(|&i| cands[i].passes(max_drop))
        .min_by(|&a, &b| {
            let (x, y) = (&cands[a], &cands[b]);
            x.objective(objective)
                .total_cmp(&y.objective(objective))
                .then(x.size_bytes.cmp(&y.size_bytes))
                .then(y.tuning_top1.total_cmp(&x.tuning_top1))
                .then(a.cmp(&b))
        })
}

/// Intel Neural Compressor's rule: the first candidate, in the order tried, that passes.
pub fn first_passing(cands: &[Candidate], max_drop: f64) -> Option<usize> {
    cands.iter().position(|c| c.passes(max_drop))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str, drop: f64, ms: f64, bytes: u64) -> Candidate {
        Candidate {
            name: name.into(),
            technique: name.into(),
            overrides: vec![],
            tuning_top1: 90.0 + drop,
            tuning_drop: drop,
            latency_ms: ms,
            size_bytes: bytes,
            step: "test".into(),
        }
    }

    #[test]
    fn the_fastest_passing_candidate_wins_not_the_first() {
        let cands = [
            c("slow-pass", -0.1, 3.0, 100),
            c("fast-fail", -0.9, 0.5, 50),
            c("fast-pass", -0.3, 1.0, 300),
            c("faster-fail", -0.31, 0.9, 40),
        ];
        assert_eq!(best_passing(&cands, 0.3, Objective::Latency), Some(2));
        assert_eq!(first_passing(&cands, 0.3), Some(0));
        assert_eq!(best_passing(&cands, 0.3, Objective::Size), Some(0));
        // A looser bound lets the faster ones in.
        assert_eq!(best_passing(&cands, 1.0, Objective::Latency), Some(1));
        // Nothing passes: no answer rather than the least bad.
        assert_eq!(best_passing(&cands, 0.05, Objective::Latency), None);
        assert_eq!(first_passing(&cands, 0.05), None);
    }

    #[test]
    fn ties_go_to_the_smaller_then_the_more_accurate() {
        let cands = [
            c("a", -0.2, 1.0, 200),
            c("b", -0.1, 1.0, 200),
            c("c", 0.0, 1.0, 100),
        ];
        assert_eq!(best_passing(&cands, 0.3, Objective::Latency), Some(2));
        assert_eq!(best_passing(&cands[..2], 0.3, Objective::Latency), Some(1));
    }
}
