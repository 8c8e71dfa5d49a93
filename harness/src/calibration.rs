//! The calibration source: the scenario's FP32 model run by the candle backend over the
//! calibration split (never evaluation data), showing every tensor to the quantizer's observers.

use anyhow::{bail, Context, Result};
use qbench_candle::CandleSession;
use qbench_core::{Artifact, Batch};
use qbench_data::{read_batch, Dataset};
use qbench_quant::recipe::ActivationSource;
use qbench_quant::QuantError;

/// Images per calibration batch.
pub const CALIBRATION_BATCH: usize = 50;

/// Streams the calibration split through the FP32 model.
pub struct CandleCalibration {
    session: CandleSession,
    data: Box<dyn Dataset>,
    input: qbench_core::InputSpec,
    output: String,
    batch: usize,
    fixed: bool,
}

impl CandleCalibration {
    /// Prepares the FP32 artifact; an empty calibration split is an error.
    pub fn new(fp32: &Artifact, data: Box<dyn Dataset>) -> Result<Self> {
        if data.is_empty() {
            bail!(
                "the calibration split ({}) is empty: static quantization needs calibration samples",
                data.describe()
            );
        }
        Ok(CandleCalibration {
            session: qbench_candle::load_session(fp32)?,
            data,
            batch: CALIBRATION_BATCH,
            fixed: false,
            input: fp32.input.clone(),
            output: fp32.output.clone(),
        })
    }
}

/// The split in batches of `batch` samples: (first sample, values, dims). With `fixed`, every
/// batch has exactly `batch` samples (the last one zero-padded), for models whose batch
/// dimension is fixed; otherwise the last batch is shorter.
pub fn batches<'a>(
    data: &'a dyn Dataset,
    input: &'a qbench_core::InputSpec,
    batch: usize,
    fixed: bool,
) -> impl Iterator<Item = Result<(usize, Vec<f32>, Vec<usize>)>> + 'a {
    (0..data.len()).step_by(batch.max(1)).map(move |start| {
        let n = if fixed {
            batch
        } else {
            batch.min(data.len() - start)
        };
        Ok((start, read_batch(data, start, n)?, input.dims(n)))
    })
}

/// The part of a tensor computed from the `real` samples of a batch of `rows` (zero-padded
/// samples of a fixed-batch model are not calibration data); tensors without the batch as
/// their leading dimension are kept whole.
pub fn real_part(v: &[f32], rows: usize, real: usize) -> &[f32] {
    if real < rows && v.len().is_multiple_of(rows) {
        &v[..v.len() / rows * real]
    } else {
        v
    }
}

impl CandleCalibration {
    /// Runs the model at exactly `batch` samples per batch (a model with a fixed batch
    /// dimension); padded samples are not shown to the observers.
    pub fn with_fixed_batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self.fixed = true;
        self
    }
}

impl CandleCalibration {
    /// Images in the calibration split.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when the split has no images (never after [`CandleCalibration::new`]).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Top-1 of `model` on the calibration split, run by candle (exact fake-quant numerics).
    fn score(&self, model: &qbench_onnx::Model) -> Result<f64> {
        let mut session = CandleSession::new(model.clone(), &self.input.name, &self.output)
            .map_err(|e| anyhow::anyhow!("candle cannot run the candidate model: {e}"))?;
        let labels = qbench_data::labels(self.data.as_ref()).with_context(|| {
            format!(
                "the calibration split ({}) has no labels to score on",
                self.data.describe()
            )
        })?;
        let mut correct = 0usize;
        for b in batches(self.data.as_ref(), &self.input, self.batch, self.fixed) {
            let (start, x, dims) = b?;
            let real = dims[0].min(self.data.len() - start);
            let batch = Batch {
                data: &x,
                dims: &dims,
            };
            let out = qbench_core::Session::run(&mut session, &batch)?;
            correct += out
                .argmax_rows()
                .iter()
                .take(real)
                .zip(&labels[start..start + real])
                .filter(|(p, l)| **p == **l as usize)
                .count();
        }
        Ok(correct as f64 / self.data.len() as f64)
    }
}

impl ActivationSource for CandleCalibration {
    fn accuracy(&mut self, model: &qbench_onnx::Model) -> qbench_quant::Result<f64> {
        self.score(model).map_err(|e| {
            QuantError::InvalidArgument(format!("scoring on the calibration split: {e:#}"))
        })
    }

    fn visit(
        &mut self,
        sink: &mut dyn FnMut(&str, &[f32]) -> qbench_quant::Result<()>,
    ) -> qbench_quant::Result<()> {
        let len = self.data.len();
        for b in batches(self.data.as_ref(), &self.input, self.batch, self.fixed) {
            let (start, x, dims) = b.map_err(|e| {
                QuantError::InvalidArgument(format!("reading the calibration split: {e:#}"))
            })?;
            let (rows, real) = (dims[0], dims[0].min(len - start));
            let batch = Batch {
                data: &x,
                dims: &dims,
            };
            let mut failure = None;
            let mut forward = |name: &str, v: &[f32]| {
                sink(name, real_part(v, rows, real)).map_err(|e| {
                    let msg = e.to_string();
                    failure = Some(e);
                    msg
                })
            };
            if let Err(e) = self.session.run_visit(&batch, &mut forward) {
                return Err(failure.unwrap_or_else(|| {
                    QuantError::InvalidArgument(format!("calibration run failed: {e}"))
                }));
            }
        }
        Ok(())
    }
}
