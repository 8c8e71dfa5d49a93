//! A session that returns every graph output, for calibration: the caller exposes intermediate
//! tensors as extra graph outputs (what ONNX Runtime's `calibrate.py` `augment_graph` does) and
//! reads them all after each batch. Unlike `calibrate.py` (`ORT_DISABLE_ALL`), the session is
//! optimized: ONNX Runtime never fuses away a node whose output is a graph output, so every
//! exposed tensor is still computed, by kernels (NCHWc convolutions) that ran the `resnet`
//! calibration pass 1.4-2x faster; values differ from the unoptimized run by float rounding.

use std::path::Path;

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session as OrtInner;
use ort::value::TensorRef;
use qbench_core::{AdapterError, Batch};

use crate::runtime::runtime;
use crate::BACKEND;

/// A batch's float outputs as `(name, values)`, in output order.
pub type Outputs<'a> = [(&'a str, &'a [f32])];

/// What a sink returns: `Err(reason)` stops the run.
pub type SinkResult = Result<(), String>;

/// A model loaded to return all its float outputs by name.
pub struct TapSession {
    inner: OrtInner,
    input: String,
    outputs: Vec<String>,
}

impl std::fmt::Debug for TapSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TapSession")
            .field("input", &self.input)
            .field("outputs", &self.outputs.len())
            .finish_non_exhaustive()
    }
}

impl TapSession {
    /// Loads `path` (unoptimized, `threads` intra-op threads) to be fed through `input`.
    pub fn load(path: &Path, input: &str, threads: usize) -> Result<Self, AdapterError> {
        let rt = runtime()?;
        let load_err = |what: &str, e: &dyn std::fmt::Display| AdapterError::Load {
            backend: BACKEND,
            path: path.to_path_buf(),
            reason: format!("{what}: {e}"),
        };
        let config = |e: ort::Error<_>| load_err("cannot configure the session", &e);
        let mut builder = OrtInner::builder(&rt.env)
            .map_err(|e| load_err("cannot create a session builder", &e))?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(config)?
            .with_intra_threads(threads.max(1))
            .map_err(config)?
            .with_intra_op_spinning(false)
            .map_err(config)?;
        let inner = builder
            .commit_from_file(path)
            .map_err(|e| load_err("ONNX Runtime rejected the model", &e))?;
        if !inner.inputs().iter().any(|i| i.name() == input) {
            return Err(load_err("no such input", &input));
        }
        let outputs = inner
            .outputs()
            .iter()
            .map(|o| o.name().to_string())
            .collect();
        Ok(TapSession {
            inner,
            input: input.to_string(),
            outputs,
        })
    }

    /// Runs one batch and hands every float32 output to `sink` as `(name, values)`; outputs of
    /// other element types are skipped.
    pub fn run(
        &mut self,
        batch: &Batch,
        sink: &mut dyn FnMut(&str, &[f32]) -> SinkResult,
    ) -> Result<(), AdapterError> {
        self.run_all(batch, &mut |tensors| {
            tensors
                .iter()
                .try_for_each(|&(name, values)| sink(name, values))
        })
    }

    /// Runs one batch and hands all its float32 outputs to `sink` at once, in output order.
    pub fn run_all(
        &mut self,
        batch: &Batch,
        sink: &mut dyn FnMut(&Outputs) -> SinkResult,
    ) -> Result<(), AdapterError> {
        let run_err = |reason: String| AdapterError::Run {
            backend: BACKEND,
            reason,
        };
        let tensor = TensorRef::from_array_view((batch.dims.to_vec(), batch.data))
            .map_err(|e| run_err(format!("cannot create the input tensor: {e}")))?;
        let outputs = self
            .inner
            .run(ort::inputs![self.input.as_str() => tensor])
            .map_err(|e| run_err(e.to_string()))?;
        let tensors: Vec<(&str, &[f32])> = self
            .outputs
            .iter()
            .filter_map(|name| {
                let (_, data) = outputs.get(name)?.try_extract_tensor::<f32>().ok()?;
                Some((name.as_str(), data))
            })
            .collect();
        sink(&tensors).map_err(run_err)
    }
}
