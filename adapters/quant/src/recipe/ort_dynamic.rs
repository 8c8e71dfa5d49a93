//! ONNX Runtime `quantize_dynamic` (defaults: int8 symmetric per-tensor weights, uint8
//! activations quantized at run time per tensor, Conv and Gemm/MatMul).

use qbench_core::Format;
use qbench_onnx::Model;

use super::{ActivationSource, Quantized, Technique};
use crate::dynamic::ort_dynamic;
use crate::error::Result;

/// The `ort-dynamic` recipe (needs no calibration).
#[derive(Clone, Copy, Debug, Default)]
pub struct OrtDynamic;

impl Technique for OrtDynamic {
    fn format(&self) -> Format {
        Format::Dynamic
    }

    fn name(&self) -> &'static str {
        "ort-dynamic"
    }

    fn framework(&self) -> &'static str {
        "onnxruntime"
    }

    fn apply(&self, model: &Model, _calib: &mut dyn ActivationSource) -> Result<Quantized> {
        Ok(Quantized {
            model: ort_dynamic(model)?,
            format: Format::Dynamic,
            notes: vec!["u8 act quantized at run time, s8 sym per-tensor weights".into()],
            packed_bytes: None,
        })
    }
}
