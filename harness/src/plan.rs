//! Planning: scenario x technique x backend -> the list of cells to run.

use std::path::PathBuf;

use qbench_core::Artifact;
use serde::{Deserialize, Serialize};

use crate::measure::latency::IterationRule;
use crate::record::RowKey;
use crate::scenario::Scenario;

/// What a child measures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CellPart {
    /// Everything: load, a latency round, the accuracy pass, throughput, fidelity, peak memory.
    #[default]
    Full,
    /// Load and one more latency round only.
    Latency,
}

/// Everything a child process needs to measure one cell.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CellSpec {
    /// The scenario exactly as the parent resolved it (model input/output filled in), so the
    /// child measures what the parent planned, never a file re-read by name.
    pub scenario: Scenario,
    pub key: RowKey,
    pub artifact: Artifact,
    /// Evaluate on the first N images of the evaluation split.
    pub eval_samples: usize,
    /// The rule of this cell's latency round (the run's rule divided among the rounds).
    pub latency_rule: IterationRule,
    pub throughput_rule: IterationRule,
    /// Everything, or one more latency round only.
    #[serde(default)]
    pub part: CellPart,
    /// Where to store this cell's logits (FP32 cells, for the others' fidelity).
    #[serde(default)]
    pub save_logits: Option<PathBuf>,
    /// The FP32 logits to compare this cell's logits with.
    #[serde(default)]
    pub reference_logits: Option<PathBuf>,
}
