//! The [`Backend`] implementation.

use qbench_core::{
    AdapterError, Artifact, Backend, Format, LoadOptions, Session, Support, TappedSession,
};

use crate::error;
use crate::session::TractSession;
use crate::{model, threads};

/// Version of `tract-onnx` this crate was built against (from the workspace `Cargo.lock`).
pub const TRACT_VERSION: &str = qbench_core::TRACT_ONNX_VERSION;

/// The tract runtime: pure Rust, always available.
#[derive(Clone, Copy, Debug, Default)]
pub struct TractBackend;

impl TractBackend {
    /// Like [`Backend::load`], returning the concrete session.
    pub fn load_session(
        &self,
        artifact: &Artifact,
        opts: &LoadOptions,
    ) -> Result<TractSession, AdapterError> {
        self.compile(artifact, opts, std::slice::from_ref(&artifact.output))
    }

    /// Compiles `artifact` for `opts` with `outputs` as the plan's outputs.
    fn compile(
        &self,
        artifact: &Artifact,
        opts: &LoadOptions,
        outputs: &[String],
    ) -> Result<TractSession, AdapterError> {
        if let Support::Unsupported(reason) = self.supports(artifact) {
            return Err(AdapterError::Unsupported {
                backend: error::BACKEND,
                reason,
            });
        }
        if opts.batch == 0 {
            return Err(error::load_msg(
                &artifact.path,
                "batch size must be at least 1".into(),
            ));
        }
        let dims = artifact.input.dims(opts.batch);
        let threads = threads::effective_threads(opts.threads);
        let executor =
            threads::executor(threads).map_err(|reason| error::load_msg(&artifact.path, reason))?;
        let plan = model::compile(artifact, &dims, executor, outputs)?;
        TractSession::new(plan, dims, threads)
    }
}

impl Backend for TractBackend {
    fn name(&self) -> &'static str {
        error::BACKEND
    }

    fn version(&self) -> String {
        TRACT_VERSION.to_string()
    }

    fn check(&self) -> Result<(), AdapterError> {
        Ok(())
    }

    fn supports(&self, artifact: &Artifact) -> Support {
        match artifact.format {
            Format::Fp32
            | Format::Qdq
            | Format::QOperator
            | Format::Dynamic
            | Format::Fp16
            | Format::WeightOnly => Support::Yes,
            Format::Qdq16 => Support::Unsupported(
                "tract's QuantizeLinear implements only 8-bit (u8/i8) outputs, not int16".into(),
            ),
            Format::OrtContrib => Support::Unsupported(
                "tract does not implement ONNX Runtime contrib operators (com.microsoft domain)"
                    .into(),
            ),
        }
    }

    fn notes(&self, artifact: &Artifact) -> Option<String> {
        match artifact.format {
            Format::Qdq => Some("tract: QDQ Conv/Gemm run in f32 (no int8 kernels)".into()),
            Format::QOperator => {
                Some("tract: QLinearConv/MatMulInteger on its int8 matmul kernels".into())
            }
            _ => None,
        }
    }

    fn load(
        &self,
        artifact: &Artifact,
        opts: &LoadOptions,
    ) -> Result<Box<dyn Session>, AdapterError> {
        Ok(Box::new(self.load_session(artifact, opts)?))
    }

    fn load_tapped(
        &self,
        artifact: &Artifact,
        tensors: &[String],
        opts: &LoadOptions,
    ) -> Result<Box<dyn TappedSession>, AdapterError> {
        Ok(Box::new(self.compile(artifact, opts, tensors)?))
    }
}
