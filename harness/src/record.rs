//! The one flat result row and the run document: the contract between measuring and reporting.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::measure::machine::Machine;
use crate::measure::stats::LatencyStats;

/// How a cell ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Unsupported,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Unsupported => "unsupported",
            Status::Failed => "failed",
        }
    }
}

/// One cell: technique x backend x batch x threads. Measured fields are `None` unless `ok`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub technique: String,
    pub framework: String,
    pub backend: String,
    pub format: String,
    pub threads: usize,
    pub batch: usize,
    pub throughput_batch: usize,
    pub status: Status,
    pub reason: Option<String>,
    pub size_bytes: Option<u64>,
    /// Weights at their true bit width, when the artifact stores them in wider containers.
    #[serde(default)]
    pub packed_bytes: Option<u64>,
    pub load_ms: Option<f64>,
    pub quantize_ms: Option<f64>,
    /// Part of `quantize_ms` spent streaming the calibration split (FP32 forward + observers).
    #[serde(default)]
    pub calibration_ms: Option<f64>,
    /// Images streamed during calibration (passes x split size).
    #[serde(default)]
    pub calibration_images: Option<u64>,
    /// Part of `quantize_ms` spent scoring candidate models (accuracy searches).
    #[serde(default)]
    pub scoring_ms: Option<f64>,
    /// Seconds of quantization-aware fine-tuning that made the artifact (QAT rows; trained once
    /// by `qbench train --qat`, not during the run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_s: Option<f64>,
    pub latency_ms: Option<LatencyStats>,
    pub throughput_ips: Option<f64>,
    pub peak_rss_bytes: Option<u64>,
    /// Top-1 on the labelled evaluation split (`None` without labels: never a guessed value).
    pub accuracy: Option<f64>,
    pub accuracy_ci95: Option<[f64; 2]>,
    /// Top-5 on the same images (classifiers with at least 5 classes).
    #[serde(default)]
    pub top5: Option<f64>,
    /// Top-1 minus the FP32 artifact's top-1 on the same backend (fraction, not points).
    #[serde(default)]
    pub accuracy_delta_vs_fp32: Option<f64>,
    /// 95% interval of that change, paired on the same images.
    #[serde(default)]
    pub accuracy_delta_ci95: Option<[f64; 2]>,
    /// Exact McNemar p-value of the change (discordant images only).
    #[serde(default)]
    pub mcnemar_p: Option<f64>,
    pub eval_samples: Option<usize>,
    /// Top-1 agreement with the FP32 model's predictions (the FP32 reference is the FP32
    /// artifact on the same backend; FP32 rows are compared with the first backend's FP32).
    pub agreement_with_fp32: Option<f64>,
    /// Wilson 95% interval of that agreement.
    #[serde(default)]
    pub agreement_ci95: Option<[f64; 2]>,
    pub agreement_reference: Option<String>,
    /// Mean KL divergence (nats) of this cell's softmax from the same FP32 reference's.
    #[serde(default)]
    pub kl_vs_fp32: Option<f64>,
    /// Signal-to-quantization-noise ratio (dB) of this cell's logits against the reference's.
    #[serde(default)]
    pub sqnr_db_vs_fp32: Option<f64>,
    /// Mean over samples of the cosine similarity of this cell's output with the reference's.
    #[serde(default)]
    pub cosine_vs_fp32: Option<f64>,
    /// Largest absolute difference of any output value from the reference's.
    #[serde(default)]
    pub max_abs_err_vs_fp32: Option<f64>,
    /// Every metric the cell computed, by name, with its 95% interval where it has one (the
    /// columns above repeat the built-in ones).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, crate::metrics::Score>,
    /// How the technique and backend ran this cell (settings, caveats).
    pub notes: Option<String>,
    /// SHA-256 of the artifact file the cell ran (measured cells), so that shards and machines
    /// can be shown to have run the same model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_sha256: Option<String>,
    /// The machine that measured the row, in merged results (a key of [`Run::machines`]);
    /// absent in a single run, whose machine is [`Run::machine`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
}

/// A cell by what identifies it within one machine's run: technique, backend, batch, threads.
pub type CellId = (String, String, usize, usize);

impl Row {
    /// Technique, backend, batch and threads of the cell.
    pub fn cell_id(&self) -> CellId {
        (
            self.technique.clone(),
            self.backend.clone(),
            self.batch,
            self.threads,
        )
    }

    /// The cell this row measures.
    pub fn key(&self) -> RowKey {
        RowKey {
            technique: self.technique.clone(),
            framework: self.framework.clone(),
            backend: self.backend.clone(),
            format: self.format.clone(),
            threads: self.threads,
            batch: self.batch,
            throughput_batch: self.throughput_batch,
        }
    }

    /// Marks a row whose further latency round failed: its latency, now incomplete, is
    /// dropped; what its first pass measured (size, throughput, accuracy, fidelity) is kept.
    pub fn fail_latency(&mut self, reason: String) {
        self.status = Status::Failed;
        self.reason = Some(reason);
        self.latency_ms = None;
        self.load_ms = None;
    }

    /// A row for a cell that did not produce measurements.
    pub fn not_run(base: RowKey, status: Status, reason: String) -> Row {
        Row {
            technique: base.technique,
            framework: base.framework,
            backend: base.backend,
            format: base.format,
            threads: base.threads,
            batch: base.batch,
            throughput_batch: base.throughput_batch,
            status,
            reason: Some(reason),
            size_bytes: None,
            packed_bytes: None,
            load_ms: None,
            quantize_ms: None,
            calibration_ms: None,
            calibration_images: None,
            scoring_ms: None,
            training_s: None,
            latency_ms: None,
            throughput_ips: None,
            peak_rss_bytes: None,
            accuracy: None,
            accuracy_ci95: None,
            top5: None,
            accuracy_delta_vs_fp32: None,
            accuracy_delta_ci95: None,
            mcnemar_p: None,
            eval_samples: None,
            agreement_ci95: None,
            agreement_with_fp32: None,
            agreement_reference: None,
            kl_vs_fp32: None,
            sqnr_db_vs_fp32: None,
            cosine_vs_fp32: None,
            max_abs_err_vs_fp32: None,
            metrics: BTreeMap::new(),
            notes: None,
            artifact_sha256: None,
            machine: None,
        }
    }
}

/// What identifies a cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowKey {
    pub technique: String,
    pub framework: String,
    pub backend: String,
    pub format: String,
    pub threads: usize,
    pub batch: usize,
    pub throughput_batch: usize,
}

/// Run-wide settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Intra-op thread counts swept (one value in most runs).
    #[serde(deserialize_with = "one_or_many")]
    pub threads: Vec<usize>,
    /// Latency batch sizes swept.
    #[serde(deserialize_with = "one_or_many")]
    pub batch: Vec<usize>,
    pub throughput_batch: usize,
    pub quick: bool,
    pub eval_samples: usize,
    /// Latency rounds per cell, each in a fresh process, interleaved across cells.
    #[serde(default = "crate::measure::stats::one_round")]
    pub rounds: usize,
    /// The latency rule of a whole cell (divided among its rounds).
    pub latency_rule: crate::measure::latency::IterationRule,
    pub throughput_rule: crate::measure::latency::IterationRule,
    pub cell_timeout_s: u64,
}

/// The results document of one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub scenario: String,
    /// What the evaluation measures: `top1` (labelled data) or `fidelity` (against FP32 only).
    #[serde(default)]
    pub metric: Option<String>,
    /// The evaluation data (source and split), as the scenario describes it.
    #[serde(default)]
    pub data: Option<String>,
    /// The runtime that streamed the calibration split through the FP32 model (and why not
    /// ONNX Runtime, when it could not).
    #[serde(default)]
    pub calibration: Option<String>,
    pub qbench_version: String,
    pub git_commit: Option<String>,
    pub started_at: String,
    pub command: String,
    pub machine: Machine,
    /// How the qbench binary was compiled (absent in files written before it was recorded).
    #[serde(default)]
    pub build: Option<crate::measure::build_info::Build>,
    /// Backend name -> runtime version (or why it is unavailable).
    pub backends: std::collections::BTreeMap<String, String>,
    pub settings: Settings,
    pub rows: Vec<Row>,
    /// False while the run is going on, and in the file an interrupted run leaves behind
    /// (`<stem>.partial.json`); files written before this field existed were complete.
    #[serde(default = "complete_by_default")]
    pub complete: bool,
    /// Why an incomplete run stopped (a signal), when it was stopped rather than killed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// SHA-256 of what the run measures (scenario, settings, techniques, backends, qbench
    /// build): `compare --resume` continues a stopped run only under the same plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// Which shard of the plan this file holds (`compare --shard K/N`), and every shard's cells.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::shard::ShardInfo>,
    /// Merged results of several machines (`qbench merge`): each machine's record, by the id its
    /// rows carry in `machine`. Empty for a run of one machine.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub machines: BTreeMap<String, crate::machines::MachineRun>,
}

fn complete_by_default() -> bool {
    true
}

impl Run {
    /// The FP32 row measured like `r` (same backend, batch and threads), if it ran.
    pub fn fp32_of(&self, r: &Row) -> Option<&Row> {
        self.rows.iter().find(|f| {
            f.technique == crate::registry::FP32
                && f.backend == r.backend
                && f.batch == r.batch
                && f.threads == r.threads
                && f.status == Status::Ok
        })
    }
}

/// Reads a number or a list of numbers (results written before sweeps stored one value).
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<usize>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(usize),
        Many(Vec<usize>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(v) => vec![v],
        OneOrMany::Many(v) => v,
    })
}

/// Comma-separated list of numbers, for tables.
pub fn list(values: &[usize]) -> String {
    values
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_latency_round_keeps_the_measured_accuracy() {
        let mut r = crate::report::fixture::run().rows[0].clone();
        assert!(r.accuracy.is_some() && r.latency_ms.is_some());
        let (accuracy, size) = (r.accuracy, r.size_bytes);
        r.fail_latency("latency round 2: killed by signal 9".into());
        assert_eq!(r.status, Status::Failed);
        assert_eq!((r.accuracy, r.size_bytes), (accuracy, size));
        assert!(r.latency_ms.is_none());
        assert!(r.reason.unwrap().contains("latency round 2"));
    }
}
