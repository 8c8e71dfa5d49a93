//! The backend extension point.

use crate::{AdapterError, Artifact};

/// Whether a backend can run an artifact, decided before running it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Support {
    Yes,
    /// The backend cannot run this artifact; the reason is shown in the table.
    Unsupported(String),
}

/// Options fixed when a session is prepared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    /// Intra-op threads.
    pub threads: usize,
    /// Batch size the session will be run with (backends with static shapes compile for it).
    pub batch: usize,
}

/// A float32 input batch, row-major, with its full dimensions (batch first).
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    pub data: &'a [f32],
    pub dims: &'a [usize],
}

/// Float32 output of a run, row-major (`batch x classes` for classifiers).
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    pub data: Vec<f32>,
    pub dims: Vec<usize>,
}

impl Output {
    /// Index of the largest value in each row (top-1 class per image).
    pub fn argmax_rows(&self) -> Vec<usize> {
        let cols = *self.dims.last().unwrap_or(&1);
        self.data
            .chunks(cols.max(1))
            .map(|r| {
                r.iter()
                    .enumerate()
                    .fold(
                        (0, f32::NEG_INFINITY),
                        |b, (i, v)| if *v > b.1 { (i, *v) } else { b },
                    )
                    .0
            })
            .collect()
    }
}

/// A runtime that can prepare and run artifacts.
pub trait Backend: Send + Sync {
    /// Short name used on the command line and in tables (`ort`, `tract`, `candle`).
    fn name(&self) -> &'static str;
    /// Version of the underlying runtime.
    fn version(&self) -> String;
    /// Whether the runtime is usable on this machine (e.g. its shared library is present).
    fn check(&self) -> Result<(), AdapterError>;
    /// Whether this backend can run the artifact.
    fn supports(&self, artifact: &Artifact) -> Support;
    /// Caveats worth showing next to a measured cell (e.g. "runs QDQ convolutions in float").
    fn notes(&self, _artifact: &Artifact) -> Option<String> {
        None
    }
    /// Environment variables a process must start with to run this backend at `threads`
    /// threads, for runtimes that size a process-wide thread pool once, at first use (the
    /// harness starts each cell's process with them).
    fn process_env(&self, _threads: usize) -> Vec<(&'static str, String)> {
        Vec::new()
    }
    /// Prepares (loads, optimizes, compiles) the artifact for repeated runs.
    fn load(
        &self,
        artifact: &Artifact,
        opts: &LoadOptions,
    ) -> Result<Box<dyn Session>, AdapterError>;
    /// Prepares the artifact to return the named tensors of each run (debugging), which the
    /// caller has made graph outputs of the artifact's model. A runtime never fuses away a node
    /// whose output it must return, so the values are those of the unfused graph (for a QDQ
    /// model: float arithmetic on dequantized values, as ONNX Runtime's `qdq_loss_debug` reads
    /// them).
    fn load_tapped(
        &self,
        _artifact: &Artifact,
        _tensors: &[String],
        _opts: &LoadOptions,
    ) -> Result<Box<dyn TappedSession>, AdapterError> {
        Err(AdapterError::Unsupported {
            backend: self.name(),
            reason: "reading intermediate tensors".into(),
        })
    }
}

/// A prepared model that returns several of its tensors per run.
pub trait TappedSession {
    /// Runs one batch and returns the tapped tensors, in the order they were asked for.
    fn run_tapped(&mut self, batch: &Batch) -> Result<Vec<Output>, AdapterError>;
}

/// Keeps the requested tensors, in the requested order, from a run that shows its tensors by
/// name (for [`TappedSession`] implementations).
pub struct TensorPicker<'a> {
    wanted: &'a [String],
    found: Vec<Option<Output>>,
}

impl<'a> TensorPicker<'a> {
    /// Picks `wanted`.
    pub fn new(wanted: &'a [String]) -> Self {
        TensorPicker {
            wanted,
            found: vec![None; wanted.len()],
        }
    }

    /// Offers one tensor of the run (kept, flattened, if it is wanted).
    pub fn offer(&mut self, name: &str, values: &[f32]) {
        if let Some(i) = self.wanted.iter().position(|t| t == name) {
            self.found[i] = Some(Output {
                data: values.to_vec(),
                dims: vec![values.len()],
            });
        }
    }

    /// The wanted tensors; one the run did not show is an error saying `why` after its name.
    pub fn finish(self, backend: &'static str, why: &str) -> Result<Vec<Output>, AdapterError> {
        self.found
            .into_iter()
            .zip(self.wanted)
            .map(|(o, name)| {
                o.ok_or_else(|| AdapterError::Run {
                    backend,
                    reason: format!("{name} {why}"),
                })
            })
            .collect()
    }
}

/// A prepared model.
pub trait Session {
    /// Runs one batch.
    fn run(&mut self, batch: &Batch) -> Result<Output, AdapterError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_picker_keeps_the_wanted_tensors_in_order_and_names_a_missing_one() {
        let wanted = vec!["b".to_string(), "a".to_string()];
        let mut p = TensorPicker::new(&wanted);
        p.offer("a", &[1.0]);
        p.offer("c", &[9.0]);
        p.offer("b", &[2.0, 3.0]);
        let got = p.finish("test", "is missing").unwrap();
        assert_eq!(got[0].data, [2.0, 3.0]);
        assert_eq!(got[1].data, [1.0]);
        let mut p = TensorPicker::new(&wanted);
        p.offer("a", &[1.0]);
        let e = p.finish("test", "is missing").unwrap_err().to_string();
        assert!(e.contains("b is missing"), "{e}");
    }

    #[test]
    fn argmax_per_row() {
        let o = Output {
            data: vec![0.1, 0.9, 0.0, 2.0, -1.0, 1.0],
            dims: vec![2, 3],
        };
        assert_eq!(o.argmax_rows(), vec![1, 0]);
    }
}
