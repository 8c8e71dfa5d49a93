//! PyTorch eager/FX post-training quantization recipes (`torch.ao.quantization`), with PyTorch's
//! parameter rules ([`crate::convention::pytorch`]):
//!
//! * `pytorch-fbgemm` (`get_default_qconfig("x86")`/`"fbgemm"`): activations quint8 with
//!   `reduce_range` (`[0, 127]`) from a `HistogramObserver` (2048 bins, L2-error range search);
//!   weights qint8 `per_channel_symmetric` (scale `absmax / 127.5` over `[-128, 127]`).
//! * `pytorch-qnnpack` (`get_default_qconfig("qnnpack")`): quint8 `[0, 255]` with the same
//!   observer; weights qint8 `per_tensor_symmetric`.
//! * `pytorch-dynamic` (`quantize_dynamic` with `default_dynamic_qconfig`): only Linear (Gemm)
//!   layers, weights qint8 per tensor symmetric, activations quint8 at run time.
//!
//! As in PyTorch, Relu is fused into the producing convolution or add, and
//! AdaptiveAvgPool/Flatten outputs share their input's parameters.

use std::collections::HashMap;

use qbench_core::Format;
use qbench_onnx::{Model, Node, TensorData};

use super::weights::{per_channel, per_tensor, round_half_even};
use super::{calibrate, ActivationSource, Quantized, Technique};
use crate::convention::pytorch::{self, TorchQConfig};
use crate::dynamic::{dynamic_rewrite, DynamicWeight};
use crate::error::{QuantError, Result};
use crate::observer::l2::TorchHistogramObserver;
use crate::params::Range;
use crate::qdq::writer::{activations_of, remove_relus, weight_sites, QUANTIZED_OPS};
use crate::qdq::{write_qdq, ActQuant, BiasMode, QdqPlan};
use crate::qoperator::qoperator_lite;
use crate::scheme::QType;

/// PyTorch's two static quantization backends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TorchEngine {
    /// x86 / fbgemm: `reduce_range` activations, per-channel weights.
    Fbgemm,
    /// qnnpack: full-range activations, per-tensor weights.
    Qnnpack,
}

/// `pytorch-fbgemm` / `pytorch-qnnpack`.
#[derive(Clone, Debug)]
pub struct PytorchStatic {
    pub name: &'static str,
    pub engine: TorchEngine,
}

/// Operators whose output shares its input's parameters in PyTorch.
const SHARES_INPUT_QPARAMS: &[&str] = &["GlobalAveragePool", "Flatten"];

impl Technique for PytorchStatic {
    fn name(&self) -> &'static str {
        self.name
    }

    fn framework(&self) -> &'static str {
        "pytorch"
    }

    fn apply(&self, model: &Model, calib: &mut dyn ActivationSource) -> Result<Quantized> {
        let fbgemm = self.engine == TorchEngine::Fbgemm;
        let ranges = calibrate(calib, || {
            Box::new(TorchHistogramObserver::for_qtype(QType::UINT8))
        })?;
        let mut m = model.clone();
        remove_relus(&mut m.graph);
        let shared: HashMap<String, String> = m
            .graph
            .nodes
            .iter()
            .filter(|n| SHARES_INPUT_QPARAMS.contains(&n.op_type.as_str()))
            .map(|n| (n.outputs[0].clone(), n.inputs[0].clone()))
            .collect();
        let act_cfg = TorchQConfig::quint8_affine(fbgemm);
        let mut activations = HashMap::new();
        for t in activations_of(&m.graph, QUANTIZED_OPS) {
            let mut src = t.clone();
            while let Some(s) = shared.get(&src) {
                src = s.clone();
            }
            let r = ranges.get(&src).copied().ok_or_else(|| {
                QuantError::InvalidArgument(format!("activation {src} has no calibrated range"))
            })?;
            let params = pytorch::params(r, &act_cfg).map_err(|e| e.context(t.clone()))?;
            activations.insert(
                t,
                ActQuant {
                    params,
                    qtype: QType::UINT8,
                },
            );
        }
        let w_cfg = TorchQConfig::qint8_symmetric();
        let rule = |r: Range| pytorch::params(r, &w_cfg);
        let weights = weight_sites(&m.graph)?
            .iter()
            .map(|s| {
                let w = if fbgemm {
                    per_channel(s, QType::INT8, &rule, &round_half_even)?
                } else {
                    per_tensor(s, QType::INT8, &rule, &round_half_even)?
                };
                Ok((s.node.clone(), w))
            })
            .collect::<Result<_>>()?;
        let plan = QdqPlan {
            activations,
            weights,
            bias: BiasMode::Int32,
        };
        // PyTorch runs quantized kernels (quantized::conv2d, linear) between layers: written in
        // QOperator-lite form.
        Ok(Quantized {
            model: qoperator_lite(&write_qdq(&m, &plan)?)?,
            format: Format::QOperator,
            notes: vec![format!(
                "u8 act {} (HistogramObserver L2), s8 sym {} weights (absmax/127.5); bias int32 (PyTorch adds it in float)",
                if fbgemm { "[0,127] reduce_range" } else { "[0,255]" },
                if fbgemm { "per-channel" } else { "per-tensor" },
            )],
            packed_bytes: None,
        })
    }
}

/// `pytorch-dynamic`.
#[derive(Clone, Copy, Debug, Default)]
pub struct PytorchDynamic;

impl Technique for PytorchDynamic {
    fn name(&self) -> &'static str {
        "pytorch-dynamic"
    }

    fn framework(&self) -> &'static str {
        "pytorch"
    }

    fn apply(&self, model: &Model, _calib: &mut dyn ActivationSource) -> Result<Quantized> {
        let cfg = TorchQConfig::qint8_symmetric();
        let rule = |n: &Node, w: &TensorData, wv: &[f32]| -> Result<Option<DynamicWeight>> {
            if n.op_type != "Gemm" {
                return Ok(None);
            }
            let p = pytorch::params(Range::of(&w.name, wv)?, &cfg)
                .map_err(|e| e.context(w.name.clone()))?;
            Ok(Some(DynamicWeight {
                q: round_half_even(wv, &p)?,
                scales: vec![p.scale],
            }))
        };
        Ok(Quantized {
            model: dynamic_rewrite(model, &rule)?,
            format: Format::Dynamic,
            notes: vec![
                "Linear only: s8 sym per-tensor weights (absmax/127.5), act u8 [0,255] at run time (fbgemm: [0,127])".into(),
            ],
            packed_bytes: None,
        })
    }
}
