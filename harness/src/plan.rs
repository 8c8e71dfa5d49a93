//! Planning: scenario x technique x backend -> the list of cells to run.

use std::path::PathBuf;

use qbench_core::Artifact;
use serde::{Deserialize, Serialize};

use crate::measure::latency::IterationRule;
use crate::record::RowKey;

/// Everything a child process needs to measure one cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellSpec {
    pub scenarios_dir: PathBuf,
    pub scenario: String,
    pub key: RowKey,
    pub artifact: Artifact,
    /// Evaluate on the first N images of the evaluation split.
    pub eval_samples: usize,
    pub latency_rule: IterationRule,
    pub throughput_rule: IterationRule,
}
