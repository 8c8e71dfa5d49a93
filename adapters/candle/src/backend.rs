//! The candle backend.

use qbench_core::{AdapterError, Artifact, Backend, LoadOptions, Session, Support};
use qbench_onnx::Model;

use crate::session::CandleSession;

const NAME: &str = "candle";

/// Runs artifacts by interpreting the ONNX IR with candle's CPU tensors.
#[derive(Debug, Default)]
pub struct CandleBackend;

fn load_model(artifact: &Artifact) -> Result<Model, AdapterError> {
    Model::load(&artifact.path).map_err(|e| AdapterError::Load {
        backend: NAME,
        path: artifact.path.clone(),
        reason: e.to_string(),
    })
}

/// Loads an artifact as a concrete [`CandleSession`] (which can also expose every tensor).
pub fn load_session(artifact: &Artifact) -> Result<CandleSession, AdapterError> {
    let model = load_model(artifact)?;
    CandleSession::new(model, &artifact.input.name, &artifact.output).map_err(|reason| {
        AdapterError::Load {
            backend: NAME,
            path: artifact.path.clone(),
            reason,
        }
    })
}

impl Backend for CandleBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> String {
        "0.11.1".into()
    }

    fn check(&self) -> Result<(), AdapterError> {
        Ok(())
    }

    fn supports(&self, artifact: &Artifact) -> Support {
        let Ok(model) = load_model(artifact) else {
            return Support::Yes; // let load() report the real error as a failure
        };
        match model
            .graph
            .nodes
            .iter()
            .find(|n| !n.domain.is_empty() || !crate::SUPPORTED_OPS.contains(&n.op_type.as_str()))
        {
            Some(n) => {
                Support::Unsupported(format!("candle backend has no {} operator", n.op_type))
            }
            None => Support::Yes,
        }
    }

    fn load(
        &self,
        artifact: &Artifact,
        _opts: &LoadOptions,
    ) -> Result<Box<dyn Session>, AdapterError> {
        let model = load_model(artifact)?;
        let session = CandleSession::new(model, &artifact.input.name, &artifact.output).map_err(
            |reason| AdapterError::Load {
                backend: NAME,
                path: artifact.path.clone(),
                reason,
            },
        )?;
        Ok(Box::new(session))
    }
}
