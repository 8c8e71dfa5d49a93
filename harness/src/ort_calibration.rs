//! Calibration through ONNX Runtime, as ONNX Runtime's own tool does it
//! (`onnxruntime/python/tools/quantization/calibrate.py`: `augment_graph` exposes every
//! tensor to calibrate as an extra graph output, the session runs unoptimized, and each batch's
//! outputs are streamed to the observers). Much faster than interpreting the graph with candle;
//! candle remains the fallback when ONNX Runtime is unavailable or rejects the model, and it
//! scores candidate models (exact fake-quant numerics) for accuracy searches.

use std::path::Path;

use anyhow::{Context, Result};
use qbench_core::{Artifact, Batch};
use qbench_data::Dataset;
use qbench_onnx::{DType, Model, ValueInfo};
use qbench_ort::TapSession;
use qbench_quant::recipe::{ActivationSource, Tensors};
use qbench_quant::QuantError;

use crate::calibration::{batches, real_part, CandleCalibration, CALIBRATION_BATCH};
use crate::scenario::Scenario;

/// Threads of the calibration session (the machine's cores, as ONNX Runtime's tool uses).
fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Streams the calibration split through the FP32 model on ONNX Runtime.
pub struct OrtCalibration {
    session: TapSession,
    data: Box<dyn Dataset>,
    input: qbench_core::InputSpec,
    batch: usize,
    fixed: bool,
    /// For [`ActivationSource::accuracy`]: the artifact and scenario to score with candle.
    artifact: Artifact,
    scenario: Scenario,
    scorer: Option<CandleCalibration>,
}

/// Writes `model` with every float tensor as an extra graph output to `path`.
pub fn augment(model: &Model, path: &Path) -> Result<usize> {
    let mut m = model.clone();
    let names = qbench_onnx::float_values(&m.graph);
    for name in &names {
        if m.graph.inputs.iter().any(|i| &i.name == name) {
            continue;
        }
        m.graph.add_output(ValueInfo {
            name: name.clone(),
            dtype: DType::F32,
            shape: vec![],
        });
    }
    m.graph.value_info.clear();
    m.save(path)?;
    Ok(names.len())
}

impl OrtCalibration {
    /// Prepares the augmented model of `model` (the artifact's graph) in `dir`.
    pub fn new(
        artifact: &Artifact,
        model: &Model,
        scenario: &Scenario,
        dir: &Path,
    ) -> Result<Self> {
        let data = scenario.calib_data()?;
        let path = dir.join("fp32-calibration.onnx");
        augment(model, &path)?;
        let session = TapSession::load(&path, &artifact.input.name, threads())
            .with_context(|| format!("ONNX Runtime cannot run {}", path.display()))?;
        let (batch, fixed) = match scenario.model.fixed_batch {
            Some(b) => (b, true),
            None => (CALIBRATION_BATCH, false),
        };
        Ok(OrtCalibration {
            session,
            data,
            input: artifact.input.clone(),
            batch,
            fixed,
            artifact: artifact.clone(),
            scenario: scenario.clone(),
            scorer: None,
        })
    }

    /// Samples in the calibration split.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when the split is empty (never after [`OrtCalibration::new`]).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

impl ActivationSource for OrtCalibration {
    fn accuracy(&mut self, model: &Model) -> qbench_quant::Result<f64> {
        if self.scorer.is_none() {
            let scorer = self
                .scenario
                .calib_data()
                .and_then(|d| CandleCalibration::new(&self.artifact, d))
                .map(|c| match self.scenario.model.fixed_batch {
                    Some(b) => c.with_fixed_batch(b),
                    None => c,
                })
                .map_err(|e| {
                    QuantError::InvalidArgument(format!("scoring on the calibration split: {e:#}"))
                })?;
            self.scorer = Some(scorer);
        }
        self.scorer.as_mut().expect("set above").accuracy(model)
    }

    fn visit(
        &mut self,
        sink: &mut dyn FnMut(&str, &[f32]) -> qbench_quant::Result<()>,
    ) -> qbench_quant::Result<()> {
        self.visit_batches(&mut |tensors| {
            tensors
                .iter()
                .try_for_each(|&(name, values)| sink(name, values))
        })
    }

    /// The graph input and every exposed tensor of a batch together (after the run).
    fn visit_batches(
        &mut self,
        sink: &mut dyn FnMut(&Tensors) -> qbench_quant::Result<()>,
    ) -> qbench_quant::Result<()> {
        let len = self.data.len();
        let input = self.input.name.as_str();
        for b in batches(self.data.as_ref(), &self.input, self.batch, self.fixed) {
            let (start, x, dims) = b.map_err(|e| {
                QuantError::InvalidArgument(format!("reading the calibration split: {e:#}"))
            })?;
            let (rows, real) = (dims[0], dims[0].min(len - start));
            let mut failure = None;
            let mut forward = |outputs: &[(&str, &[f32])]| {
                let tensors: Vec<(&str, &[f32])> = std::iter::once((input, x.as_slice()))
                    .chain(outputs.iter().copied())
                    .map(|(name, v)| (name, real_part(v, rows, real)))
                    .collect();
                sink(&tensors).map_err(|e| {
                    let msg = e.to_string();
                    failure = Some(e);
                    msg
                })
            };
            let batch = Batch {
                data: &x,
                dims: &dims,
            };
            if let Err(e) = self.session.run_all(&batch, &mut forward) {
                return Err(failure.unwrap_or_else(|| {
                    QuantError::InvalidArgument(format!("calibration run failed: {e}"))
                }));
            }
        }
        Ok(())
    }
}
