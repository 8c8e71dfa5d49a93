//! A compiled tract plan and its reusable run state.

use qbench_core::{AdapterError, Batch, Output, Session, TappedSession};
use tract_onnx::prelude::*;

use crate::error;

/// A model compiled by tract for one fixed input shape.
pub struct TractSession {
    state: TypedSimpleState,
    dims: Vec<usize>,
    threads: usize,
}

impl TractSession {
    pub(crate) fn new(
        plan: Arc<TypedRunnableModel>,
        dims: Vec<usize>,
        threads: usize,
    ) -> Result<Self, AdapterError> {
        let state = plan
            .spawn()
            .map_err(|e| error::run("cannot create the run state", &e))?;
        Ok(TractSession {
            state,
            dims,
            threads,
        })
    }

    /// The input shape (batch first) the session was compiled for.
    pub fn input_dims(&self) -> &[usize] {
        &self.dims
    }

    /// Intra-op threads the session computes with.
    pub fn threads(&self) -> usize {
        self.threads
    }
}

impl TractSession {
    /// Runs one batch and returns every output of the plan, in order.
    fn run_outputs(&mut self, batch: &Batch) -> Result<Vec<Output>, AdapterError> {
        if batch.dims != self.dims.as_slice() {
            return Err(error::run_msg(format!(
                "input shape {:?} differs from the compiled shape {:?}",
                batch.dims, self.dims
            )));
        }
        let input = Tensor::from_shape(batch.dims, batch.data)
            .map_err(|e| error::run("cannot build the input tensor", &e))?;
        let outputs = self
            .state
            .run(tvec!(input.into_tvalue()))
            .map_err(|e| error::run("inference", &e))?;
        outputs
            .into_iter()
            .map(|output| {
                let output = output
                    .cast_to::<f32>()
                    .map_err(|e| error::run("cannot read the output", &e))?;
                let view = output
                    .to_plain_array_view::<f32>()
                    .map_err(|e| error::run("cannot read the output", &e))?;
                Ok(Output {
                    data: view.iter().copied().collect(),
                    dims: output.shape().to_vec(),
                })
            })
            .collect()
    }
}

impl TappedSession for TractSession {
    fn run_tapped(&mut self, batch: &Batch) -> Result<Vec<Output>, AdapterError> {
        self.run_outputs(batch)
    }
}

impl Session for TractSession {
    fn run(&mut self, batch: &Batch) -> Result<Output, AdapterError> {
        self.run_outputs(batch)?
            .into_iter()
            .next()
            .ok_or_else(|| error::run_msg("the model produced no output".into()))
    }
}
