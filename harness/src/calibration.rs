//! The calibration source: the scenario's FP32 model run by the candle backend over the
//! calibration split (never evaluation data), showing every tensor to the quantizer's observers.

use anyhow::{bail, Result};
use qbench_candle::CandleSession;
use qbench_core::{Artifact, Batch};
use qbench_data::{LabelledImages, Normalization};
use qbench_quant::recipe::ActivationSource;
use qbench_quant::QuantError;

/// Images per calibration batch.
pub const CALIBRATION_BATCH: usize = 50;

/// Streams the calibration split through the FP32 model.
pub struct CandleCalibration {
    session: CandleSession,
    data: LabelledImages,
    norm: Normalization,
    input: qbench_core::InputSpec,
    output: String,
}

impl CandleCalibration {
    /// Prepares the FP32 artifact; an empty calibration split is an error.
    pub fn new(fp32: &Artifact, data: LabelledImages, norm: Normalization) -> Result<Self> {
        if data.is_empty() {
            bail!("the calibration split is empty: static quantization needs calibration images");
        }
        Ok(CandleCalibration {
            session: qbench_candle::load_session(fp32)?,
            data,
            norm,
            input: fp32.input.clone(),
            output: fp32.output.clone(),
        })
    }
}

/// The split in batches of [`CALIBRATION_BATCH`]: (first image, pixels, NCHW dims).
fn batches<'a>(
    data: &'a LabelledImages,
    norm: Normalization,
    input: &'a qbench_core::InputSpec,
) -> impl Iterator<Item = (usize, Vec<f32>, [usize; 4])> + 'a {
    (0..data.len())
        .step_by(CALIBRATION_BATCH)
        .map(move |start| {
            let n = CALIBRATION_BATCH.min(data.len() - start);
            let dims = [n, input.channels, input.height, input.width];
            (start, data.batch(start, n, norm), dims)
        })
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
        let mut correct = 0usize;
        for (start, x, dims) in batches(&self.data, self.norm, &self.input) {
            let batch = Batch { data: &x, dims };
            let out = qbench_core::Session::run(&mut session, &batch)?;
            correct += out
                .argmax_rows()
                .iter()
                .zip(&self.data.labels[start..start + dims[0]])
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
        for (_, x, dims) in batches(&self.data, self.norm, &self.input) {
            let batch = Batch { data: &x, dims };
            let mut failure = None;
            let mut forward = |name: &str, v: &[f32]| {
                sink(name, v).map_err(|e| {
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
