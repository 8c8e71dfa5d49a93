//! The samples `qbench debug` runs: the first N of the calibration split (never evaluation
//! data), in fixed-size batches (the last one zero-padded, its padding never compared).

use anyhow::{bail, Result};
use qbench_core::InputSpec;
use qbench_data::Dataset;

use crate::calibration::CALIBRATION_BATCH;
use crate::scenario::Scenario;

/// One batch: its first sample's index, real samples, values and dimensions (batch first).
pub struct SplitBatch {
    pub start: usize,
    pub real: usize,
    pub data: Vec<f32>,
    pub dims: Vec<usize>,
}

/// The calibration samples and how they are batched.
pub struct Split {
    data: Box<dyn Dataset>,
    pub input: InputSpec,
    pub batch: usize,
    /// The model's fixed batch size, if it has one (it then runs at that batch only).
    pub fixed_batch: Option<usize>,
    pub samples: usize,
    /// What the calibration source is, for reports.
    pub describe: String,
    /// Labels of the samples, when the split has them and the metric is top-1.
    pub labels: Option<Vec<u32>>,
}

impl Split {
    /// The first `samples` (default: all) calibration samples of `scenario`, fed as `input`.
    pub fn new(scenario: &Scenario, input: &InputSpec, samples: Option<usize>) -> Result<Self> {
        let data = scenario.calib_data()?;
        if data.is_empty() {
            bail!(
                "the calibration split ({}) is empty: debugging runs the models on it",
                data.describe()
            );
        }
        let samples = samples.unwrap_or(data.len()).min(data.len());
        if samples == 0 {
            bail!("--samples must be at least 1");
        }
        let labels = match scenario.metric.kind {
            crate::scenario::MetricKind::Top1 => {
                qbench_data::labels(data.as_ref()).map(|l| l[..samples].to_vec())
            }
            crate::scenario::MetricKind::Fidelity => None,
        };
        Ok(Split {
            describe: data.describe(),
            fixed_batch: scenario.model.fixed_batch,
            batch: scenario
                .model
                .fixed_batch
                .unwrap_or(CALIBRATION_BATCH.min(samples)),
            data,
            input: input.clone(),
            samples,
            labels,
        })
    }

    /// Number of batches.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.samples.div_ceil(self.batch)
    }

    /// Reads batch `k`.
    pub fn get(&self, k: usize) -> Result<SplitBatch> {
        let start = k * self.batch;
        let real = self.batch.min(self.samples - start);
        let data = qbench_data::read_batch(self.data.as_ref(), start, self.batch)?;
        Ok(SplitBatch {
            start,
            real,
            data,
            dims: self.input.dims(self.batch),
        })
    }

    /// Correct top-1 predictions among a batch's real rows, if the split is labelled.
    pub fn hits(&self, b: &SplitBatch, output: &[f32]) -> Option<usize> {
        let labels = self.labels.as_ref()?;
        let cols = output.len() / b.dims[0];
        if cols == 0 {
            return None;
        }
        Some(
            output
                .chunks(cols)
                .take(b.real)
                .zip(&labels[b.start..b.start + b.real])
                .filter(|(row, label)| argmax(row) == **label as usize)
                .count(),
        )
    }
}

fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold(
            (0, f32::NEG_INFINITY),
            |b, (i, v)| if *v > b.1 { (i, *v) } else { b },
        )
        .0
}

/// The part of a tensor computed from a batch's real samples.
pub fn real<'a>(b: &SplitBatch, v: &'a [f32]) -> &'a [f32] {
    crate::calibration::real_part(v, b.dims[0], b.real)
}
