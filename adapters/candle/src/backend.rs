//! The candle backend.

use qbench_core::{
    AdapterError, Artifact, Backend, Batch, LoadOptions, Output, Session, Support, TappedSession,
    TensorPicker,
};
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
        qbench_core::CANDLE_CORE_VERSION.into()
    }

    fn check(&self) -> Result<(), AdapterError> {
        Ok(())
    }

    fn supports(&self, artifact: &Artifact) -> Support {
        let Ok(model) = load_model(artifact) else {
            return Support::Yes; // let load() report the real error as a failure
        };
        match crate::support::check_model(&model) {
            Ok(()) => Support::Yes,
            Err(reason) => Support::Unsupported(format!("candle: {reason}")),
        }
    }

    fn notes(&self, artifact: &Artifact) -> Option<String> {
        let model = load_model(artifact).ok()?;
        // A malformed `qbench.ggml` is reported by load(); no note then.
        let layers: Vec<(String, String)> = crate::ggml::requested(&model)
            .ok()?
            .into_iter()
            .map(|(node, t)| (node, crate::ggml::dtype_name(t).to_string()))
            .collect();
        crate::ggml::note(&layers)
    }

    /// candle sizes its rayon pool and the barrier pool of its quantized matmuls from these,
    /// once per process (`candle_core::utils`, 0.11.1).
    fn process_env(&self, threads: usize) -> Vec<(&'static str, String)> {
        vec![
            ("RAYON_NUM_THREADS", threads.to_string()),
            ("CANDLE_NUM_THREADS", threads.to_string()),
        ]
    }

    fn load(
        &self,
        artifact: &Artifact,
        opts: &LoadOptions,
    ) -> Result<Box<dyn Session>, AdapterError> {
        let model = load_model(artifact)?;
        let session = CandleSession::new(model, &artifact.input.name, &artifact.output).map_err(
            |reason| AdapterError::Load {
                backend: NAME,
                path: artifact.path.clone(),
                reason,
            },
        )?;
        Ok(Box::new(
            crate::threaded::Threaded::new(session, opts.threads).map_err(|reason| {
                AdapterError::Load {
                    backend: NAME,
                    path: artifact.path.clone(),
                    reason,
                }
            })?,
        ))
    }

    fn load_tapped(
        &self,
        artifact: &Artifact,
        tensors: &[String],
        _opts: &LoadOptions,
    ) -> Result<Box<dyn TappedSession>, AdapterError> {
        Ok(Box::new(Tapped {
            session: load_session(artifact)?,
            tensors: tensors.to_vec(),
        }))
    }
}

/// A candle session keeping the requested tensors of each run (every node output is computed
/// anyway; the graph outputs are only where they are read).
struct Tapped {
    session: CandleSession,
    tensors: Vec<String>,
}

impl TappedSession for Tapped {
    fn run_tapped(&mut self, batch: &Batch) -> Result<Vec<Output>, AdapterError> {
        let mut picker = TensorPicker::new(&self.tensors);
        self.session.run_visit(batch, &mut |name, values| {
            picker.offer(name, values);
            Ok(())
        })?;
        picker.finish(NAME, "is not computed by the model")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::tests::ggml_model;
    use qbench_core::{Format, InputSpec};
    use qbench_onnx::Node;

    fn artifact(model: &Model, dir: &std::path::Path, k: usize) -> Artifact {
        let path = dir.join("m.onnx");
        model.save(&path).unwrap();
        Artifact {
            technique: "test".into(),
            format: Format::Qdq,
            path,
            input: InputSpec::image("x", 1, 1, k),
            output: "y".into(),
        }
    }

    #[test]
    fn notes_name_the_ggml_layers() {
        let dir = tempfile::tempdir().unwrap();
        let art = artifact(
            &ggml_model("q4_0", 64, Some(r#"{"fc": "q4_0"}"#)),
            dir.path(),
            64,
        );
        assert_eq!(
            CandleBackend.notes(&art).as_deref(),
            Some(
                "candle: Gemm fc runs GGML Q4_0 QMatMul (activations quantized to Q8_0 on the fly)"
            )
        );
        assert_eq!(CandleBackend.supports(&art), Support::Yes);
        // The saved artifact (f16 scales, blocked DQ, metadata) loads and runs.
        let session = load_session(&art).unwrap();
        assert_eq!(session.ggml_layers(), [("fc".into(), "Q4_0".into())]);
        let art = artifact(&ggml_model("q4_0", 64, None), dir.path(), 64);
        assert_eq!(CandleBackend.notes(&art), None);
    }

    #[test]
    fn unknown_operators_are_unsupported_before_running() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = ggml_model("q8_0", 64, None);
        m.graph
            .nodes
            .push(Node::new("sm", "GridSample", &["y"], &["z"]));
        let art = artifact(&m, dir.path(), 64);
        assert_eq!(
            CandleBackend.supports(&art),
            Support::Unsupported(
                "candle: operator GridSample is not implemented (node \"sm\")".into()
            )
        );
        let mut m = ggml_model("q8_0", 64, None);
        let mut n = Node::new("mm", "MatMulNBits", &["y"], &["z"]);
        n.domain = "com.microsoft".into();
        m.graph.nodes.push(n);
        let art = artifact(&m, dir.path(), 64);
        assert_eq!(
            CandleBackend.supports(&art),
            Support::Unsupported(
                "candle: operator com.microsoft.MatMulNBits is not implemented (node \"mm\")"
                    .into()
            )
        );
    }
}
