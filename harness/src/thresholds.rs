//! Thresholds of the regression gate (`qbench check`), also read from a scenario's `[check]` table.

use serde::{Deserialize, Serialize};

/// Thresholds of the gate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Allowed top-1 drop in points (the noise is allowed too, whichever is larger).
    pub max_accuracy_drop: f64,
    /// Allowed artifact growth in percent.
    pub max_size_growth: f64,
    /// Allowed growth of the latency ratio to FP32 (same backend, same run) in percent.
    pub max_latency_ratio_growth: f64,
    /// The same for `--quick` runs, whose short latency runs are noisier.
    pub max_quick_latency_ratio_growth: f64,
}

impl Thresholds {
    /// The allowed latency-ratio growth for a run of this mode.
    pub fn latency_limit(&self, quick: bool) -> f64 {
        if quick {
            self.max_quick_latency_ratio_growth
        } else {
            self.max_latency_ratio_growth
        }
    }
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            max_accuracy_drop: 0.5,
            max_size_growth: 5.0,
            max_latency_ratio_growth: 50.0,
            max_quick_latency_ratio_growth: 100.0,
        }
    }
}
