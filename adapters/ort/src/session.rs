//! A prepared ONNX Runtime session that runs NCHW float32 batches.

use std::path::Path;

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session as OrtInner;
use ort::value::TensorRef;
use qbench_core::{AdapterError, Artifact, Batch, LoadOptions, Output, Session};

use crate::runtime::Runtime;
use crate::BACKEND;

/// An artifact loaded into ONNX Runtime with qbench's measurement settings.
pub struct OrtSession {
    inner: OrtInner,
    input: String,
    output: String,
}

impl std::fmt::Debug for OrtSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrtSession")
            .field("input", &self.input)
            .field("output", &self.output)
            .finish_non_exhaustive()
    }
}

impl OrtSession {
    /// Loads the artifact: all graph optimizations (so QDQ pairs fuse into int8 kernels),
    /// `opts.threads` intra-op threads without spinning, sequential execution, one inter-op thread.
    pub fn load(
        rt: &Runtime,
        artifact: &Artifact,
        opts: &LoadOptions,
    ) -> Result<Self, AdapterError> {
        let path = artifact.path.as_path();
        let load_err = |what: &str, e: &dyn std::fmt::Display| AdapterError::Load {
            backend: BACKEND,
            path: path.to_path_buf(),
            reason: format!("{what}: {e}"),
        };
        if !path.is_file() {
            return Err(load_err("cannot read model", &"no such file"));
        }
        let config = |e: ort::Error<_>| load_err("cannot configure the session", &e);
        let mut builder = OrtInner::builder(&rt.env)
            .map_err(|e| load_err("cannot create a session builder", &e))?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(config)?
            .with_intra_threads(opts.threads)
            .map_err(config)?
            .with_inter_threads(1)
            .map_err(config)?
            .with_parallel_execution(false)
            .map_err(config)?
            .with_intra_op_spinning(false)
            .map_err(config)?
            .with_inter_op_spinning(false)
            .map_err(config)?;
        let inner = builder
            .commit_from_file(path)
            .map_err(|e| load_err("ONNX Runtime rejected the model", &e))?;
        check_names(&inner, artifact, path)?;
        Ok(OrtSession {
            inner,
            input: artifact.input.name.clone(),
            output: artifact.output.clone(),
        })
    }
}

/// Fails early (as a load error) if the artifact's input or output name is not in the model.
fn check_names(inner: &OrtInner, artifact: &Artifact, path: &Path) -> Result<(), AdapterError> {
    let inputs: Vec<&str> = inner.inputs().iter().map(|o| o.name()).collect();
    let outputs: Vec<&str> = inner.outputs().iter().map(|o| o.name()).collect();
    let missing = if !inputs.contains(&artifact.input.name.as_str()) {
        Some(format!(
            "model has no input {:?} (inputs: {inputs:?})",
            artifact.input.name
        ))
    } else if !outputs.contains(&artifact.output.as_str()) {
        Some(format!(
            "model has no output {:?} (outputs: {outputs:?})",
            artifact.output
        ))
    } else {
        None
    };
    match missing {
        Some(reason) => Err(AdapterError::Load {
            backend: BACKEND,
            path: path.to_path_buf(),
            reason,
        }),
        None => Ok(()),
    }
}

impl Session for OrtSession {
    fn run(&mut self, batch: &Batch) -> Result<Output, AdapterError> {
        let run_err = |reason: String| AdapterError::Run {
            backend: BACKEND,
            reason,
        };
        let expected: usize = batch.dims.iter().product();
        if batch.data.len() != expected {
            return Err(run_err(format!(
                "batch has {} values but dims {:?} need {expected}",
                batch.data.len(),
                batch.dims
            )));
        }
        let tensor = TensorRef::from_array_view((batch.dims, batch.data))
            .map_err(|e| run_err(format!("cannot create the input tensor: {e}")))?;
        let outputs = self
            .inner
            .run(ort::inputs![self.input.as_str() => tensor])
            .map_err(|e| run_err(e.to_string()))?;
        let value = outputs
            .get(&self.output)
            .ok_or_else(|| run_err(format!("no output named {:?}", self.output)))?;
        let (shape, data) = value.try_extract_tensor::<f32>().map_err(|e| {
            run_err(format!(
                "output {:?} is not a float32 tensor: {e}",
                self.output
            ))
        })?;
        let dims = shape
            .iter()
            .map(|&d| usize::try_from(d).unwrap_or(0))
            .collect();
        Ok(Output {
            data: data.to_vec(),
            dims,
        })
    }
}
