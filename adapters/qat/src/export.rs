//! The fine-tuned network as the framework's converter would write it: batch norm folded with
//! the running statistics, then quantized by the quantizer's recipe for that framework with the
//! ranges the QAT observers settled on (no calibration pass).

use std::collections::{BTreeMap, HashMap};

use qbench_core::Format;
use qbench_onnx::Model;
use qbench_quant::params::Range;
use qbench_quant::qoperator::qoperator_lite;
use qbench_quant::recipe::pytorch::torch_qdq;
use qbench_quant::recipe::{
    ActivationSource, Quantized, Technique, TfliteFullInteger, TorchEngine, Tread, Uniform4,
};
use qbench_quant::scheme::QType;
use qbench_quant::QuantError;

use crate::recipe::QatRecipe;

/// A calibration source that already knows every range (the QAT observers').
struct KnownRanges(HashMap<String, Range>);

impl ActivationSource for KnownRanges {
    fn visit(
        &mut self,
        _sink: &mut dyn FnMut(&str, &[f32]) -> qbench_quant::Result<()>,
    ) -> qbench_quant::Result<()> {
        Err(QuantError::Unsupported {
            framework: "QAT export",
            what: "streaming activations (the ranges come from training)".into(),
        })
    }

    fn global_minmax(&mut self) -> qbench_quant::Result<HashMap<String, Range>> {
        Ok(self.0.clone())
    }
}

/// The quantized model of `recipe` for the folded FP32 graph `folded`, with the activation
/// `ranges` by tensor name: PyTorch's `convert` (x86: quint8 `reduce_range` activations, qint8
/// per-channel weights, integer operators), TFLite's converter (int8, integer operators), or the
/// 4-bit mid-tread W4A8 QDQ model.
pub fn export(
    recipe: QatRecipe,
    folded: &Model,
    ranges: &BTreeMap<String, (f32, f32)>,
) -> qbench_quant::Result<Quantized> {
    let ranges: HashMap<String, Range> = ranges
        .iter()
        .map(|(n, &(lo, hi))| {
            Ok((
                n.clone(),
                Range::new(lo, hi).map_err(|e| e.context(n.clone()))?,
            ))
        })
        .collect::<qbench_quant::Result<_>>()?;
    let mut known = KnownRanges(ranges.clone());
    match recipe {
        QatRecipe::PytorchQat => {
            let qdq = torch_qdq(folded, TorchEngine::Fbgemm, |name| {
                ranges.get(name).copied()
            })?;
            Ok(Quantized {
                model: qoperator_lite(&qdq)?,
                format: Format::QOperator,
                notes: vec!["QAT (x86 qconfig): u8 act [0,127] from moving-average ranges, s8 sym weights per-channel, BN folded at convert".into()],
                packed_bytes: None,
            })
        }
        QatRecipe::TfliteQat => {
            let t = TfliteFullInteger {
                name: "tflite-qat",
                activation: QType::INT8,
            };
            let mut q = t.apply(folded, &mut known)?;
            q.notes = vec!["QAT (TF-MOT default 8-bit): s8 asym act from EMA ranges, s8 sym narrow weights per-channel, BN folded by the converter".into()];
            Ok(q)
        }
        QatRecipe::Qat4bit => {
            let t = Uniform4 {
                name: "qat-4bit",
                kind: Tread::MidTread,
            };
            let mut q = t.apply(folded, &mut known)?;
            q.notes.insert(0, "QAT".into());
            Ok(q)
        }
    }
}
