//! [`OrtBackend`]: the `ort` entry in qbench's backend registry.

use qbench_core::{
    AdapterError, Artifact, Backend, Batch, Format, LoadOptions, Output, Session, Support,
    TappedSession, TensorPicker,
};

use crate::runtime::runtime;
use crate::session::OrtSession;
use crate::tap::TapSession;
use crate::{BACKEND, ORT_VERSION};

/// ONNX Runtime 1.31 through `ort`, loaded dynamically (see [`crate::locate`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct OrtBackend;

impl OrtBackend {
    /// A backend handle; nothing is loaded until [`Backend::check`] or [`Backend::load`].
    pub fn new() -> Self {
        OrtBackend
    }
}

impl Backend for OrtBackend {
    fn name(&self) -> &'static str {
        BACKEND
    }

    /// The loaded library's version (loading it first, like [`Backend::check`]), or
    /// `"1.31.1 (expected)"` if it cannot be loaded.
    fn version(&self) -> String {
        match runtime() {
            Ok(rt) => rt.version.clone(),
            Err(_) => format!("{ORT_VERSION} (expected)"),
        }
    }

    /// Locates (and if needed downloads) the library and loads it once per process.
    fn check(&self) -> Result<(), AdapterError> {
        runtime().map(|_| ())
    }

    /// ONNX Runtime runs every artifact format qbench produces, contrib operators included.
    fn supports(&self, artifact: &Artifact) -> Support {
        match artifact.format {
            Format::Fp32
            | Format::Qdq
            | Format::QOperator
            | Format::Dynamic
            | Format::OrtContrib
            | Format::Fp16
            | Format::Qdq16
            | Format::WeightOnly => Support::Yes,
        }
    }

    fn load(
        &self,
        artifact: &Artifact,
        opts: &LoadOptions,
    ) -> Result<Box<dyn Session>, AdapterError> {
        let rt = runtime()?;
        Ok(Box::new(OrtSession::load(rt, artifact, opts)?))
    }

    fn load_tapped(
        &self,
        artifact: &Artifact,
        tensors: &[String],
        opts: &LoadOptions,
    ) -> Result<Box<dyn TappedSession>, AdapterError> {
        let session = TapSession::load(&artifact.path, &artifact.input.name, opts.threads)?;
        Ok(Box::new(Tapped {
            session,
            tensors: tensors.to_vec(),
        }))
    }
}

/// [`TapSession`] returning the requested outputs in the requested order.
struct Tapped {
    session: TapSession,
    tensors: Vec<String>,
}

impl TappedSession for Tapped {
    fn run_tapped(&mut self, batch: &Batch) -> Result<Vec<Output>, AdapterError> {
        let mut picker = TensorPicker::new(&self.tensors);
        self.session.run_all(batch, &mut |outputs| {
            for (name, values) in outputs {
                picker.offer(name, values);
            }
            Ok(())
        })?;
        picker.finish(BACKEND, "is not a float32 output of the model")
    }
}
