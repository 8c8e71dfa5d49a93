//! Loading a model on the debugged backend: plainly (the runtime's own kernels) or with some of
//! its tensors exposed as graph outputs.

use std::path::Path;

use anyhow::{Context, Result};
use qbench_core::{
    Artifact, Backend, Batch, Format, InputSpec, LoadOptions, Session, TappedSession,
};
use qbench_onnx::{DType, Model, ValueInfo};

use super::split::SplitBatch;

/// Threads of the debugging sessions (the machine's cores; nothing is timed).
fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn artifact(path: &Path, format: Format, input: &InputSpec, output: &str) -> Artifact {
    Artifact {
        technique: "debug".into(),
        format,
        path: path.to_path_buf(),
        input: input.clone(),
        output: output.into(),
    }
}

/// A model run with the runtime's own kernels, returning its declared output.
pub struct Plain(Box<dyn Session>);

impl Plain {
    /// Writes `model` to `path` and loads it on `backend` for `batch` samples per run.
    pub fn load(
        backend: &dyn Backend,
        model: &Model,
        path: &Path,
        format: Format,
        input: &InputSpec,
        output: &str,
        batch: usize,
    ) -> Result<Self> {
        model.save(path)?;
        Self::open(backend, path, format, input, output, batch)
    }

    /// Loads the model already written at `path` on `backend` for `batch` samples per run.
    pub fn open(
        backend: &dyn Backend,
        path: &Path,
        format: Format,
        input: &InputSpec,
        output: &str,
        batch: usize,
    ) -> Result<Self> {
        let art = artifact(path, format, input, output);
        let opts = LoadOptions {
            threads: threads(),
            batch,
        };
        let s = backend
            .load(&art, &opts)
            .with_context(|| format!("{} cannot run {}", backend.name(), path.display()))?;
        Ok(Plain(s))
    }

    /// Runs one batch.
    pub fn run(&mut self, b: &SplitBatch) -> Result<Vec<f32>> {
        Ok(self
            .0
            .run(&Batch {
                data: &b.data,
                dims: &b.dims,
            })?
            .data)
    }
}

/// A model run with the named tensors exposed (the graph input is answered with the batch).
pub struct Tapped {
    session: Box<dyn TappedSession>,
    /// For each requested tensor: its index among the session's outputs, or None for the input.
    slots: Vec<Option<usize>>,
}

impl Tapped {
    /// Writes `model` with `tensors` as extra graph outputs to `path` and loads it.
    #[allow(clippy::too_many_arguments)]
    pub fn load(
        backend: &dyn Backend,
        model: &Model,
        tensors: &[String],
        path: &Path,
        format: Format,
        input: &InputSpec,
        output: &str,
        batch: usize,
    ) -> Result<Self> {
        let mut m = model.clone();
        let mut exposed: Vec<String> = Vec::new();
        let mut slots = Vec::new();
        for t in tensors {
            if *t == input.name {
                slots.push(None);
                continue;
            }
            let k = match exposed.iter().position(|e| e == t) {
                Some(k) => k,
                None => {
                    if !m.graph.outputs.iter().any(|o| &o.name == t) {
                        m.graph.add_output(ValueInfo {
                            name: t.clone(),
                            dtype: DType::F32,
                            shape: vec![],
                        });
                    }
                    exposed.push(t.clone());
                    exposed.len() - 1
                }
            };
            slots.push(Some(k));
        }
        // Exporters' intermediate shapes may use their own symbols (see tract's loader).
        m.graph.value_info.clear();
        m.save(path)?;
        let art = artifact(path, format, input, output);
        let opts = LoadOptions {
            threads: threads(),
            batch,
        };
        let session = backend
            .load_tapped(&art, &exposed, &opts)
            .with_context(|| {
                format!(
                    "{} cannot run {} with its tensors exposed",
                    backend.name(),
                    path.display()
                )
            })?;
        Ok(Tapped { session, slots })
    }

    /// Runs one batch; the requested tensors in the requested order.
    pub fn run(&mut self, b: &SplitBatch) -> Result<Vec<Vec<f32>>> {
        let outs = self.session.run_tapped(&Batch {
            data: &b.data,
            dims: &b.dims,
        })?;
        Ok(self
            .slots
            .iter()
            .map(|s| match s {
                None => b.data.clone(),
                Some(k) => outs[*k].data.clone(),
            })
            .collect())
    }
}
