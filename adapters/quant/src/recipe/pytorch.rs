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
//! Which operators are quantized, and how, follows PyTorch's backend configuration
//! ([`torch_treatment`]): Relu is fused into the producing conv/linear/add/mul, pooling and
//! reshaping ops share their input's parameters, sigmoid/softmax/tanh have fixed ones.

use qbench_core::Format;
use qbench_onnx::{Graph, Model, Node, TensorData};

use super::weights::{per_channel, per_tensor, round_half_even};
use super::{calibrate, ActivationSource, Quantized, Technique};
use crate::convention::pytorch::{self, TorchQConfig};
use crate::dynamic::{dynamic_rewrite, DynamicWeight};
use crate::error::{QuantError, Result};
use crate::observer::l2::TorchHistogramObserver;
use crate::params::{QuantParams, Range};
use crate::qdq::op_rules::{
    fuse_activations, mark_activations, quantize_constants, resolve_params, FixedRange, Treatment,
};
use crate::qdq::writer::weight_sites;
use crate::qdq::{write_qdq, BiasMode, QdqPlan};
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

/// Ops PyTorch fuses a following ReLU into (conv/linear/add/mul/batch-norm + relu patterns of
/// `torch.ao.quantization.backend_config`); ReLU6/hardtanh are not fused, they share qparams.
const TORCH_RELU_FUSERS: &[&str] = &["Conv", "Gemm", "Add", "Mul", "BatchNormalization"];

/// What PyTorch's x86/qnnpack backend configuration does with each ONNX operator
/// (`torch/ao/quantization/backend_config/_common_operator_config_utils.py`): conv, linear,
/// matmul, add/mul of two tensors and the "default ops" (hardswish, leaky relu, norms) observe
/// their own output; add/mul with a scalar run `add_scalar`/`mul_scalar`, whose output
/// parameters are the input's shifted or scaled by the scalar (qbench calibrates that range);
/// the share-qparams ops (pooling, adaptive average pool, relu, clamp, interpolate, flatten,
/// reshape, transpose, squeeze, mean, ...) share their input's; `cat` shares one observer between its inputs and
/// output; sigmoid, hardsigmoid and softmax have the fixed qparams `(1/256, 0)` and tanh
/// `(2/256, 128)`; anything else (div, pad, exp, ...) stays in float.
fn torch_treatment(g: &Graph, n: &Node) -> Treatment {
    let scalar_operand = n
        .inputs
        .iter()
        .any(|t| g.initializer(t).is_some_and(|c| c.len() == 1));
    match n.op_type.as_str() {
        "Add" | "Mul" if scalar_operand => Treatment::ScalarArithmetic,
        "Conv"
        | "ConvTranspose"
        | "Gemm"
        | "MatMul"
        | "Add"
        | "Mul"
        | "HardSwish"
        | "LeakyRelu"
        | "Elu"
        | "PRelu"
        | "InstanceNormalization"
        | "LayerNormalization"
        | "BatchNormalization" => Treatment::Compute,
        "MaxPool" | "AveragePool" | "GlobalAveragePool" | "Relu" | "Clip" | "Identity"
        | "Resize" | "Flatten" | "ReduceMean" | "Reshape" | "Transpose" | "Squeeze"
        | "Unsqueeze" | "Slice" | "Tile" | "DepthToSpace" | "SpaceToDepth" => {
            Treatment::SharesInput
        }
        "Concat" => Treatment::SharedWithOutput,
        "Sigmoid" | "HardSigmoid" | "Softmax" => Treatment::FixedOutput(FixedRange::ZeroToOne),
        "Tanh" => Treatment::FixedOutput(FixedRange::MinusOneToOne),
        _ => Treatment::Float,
    }
}

/// PyTorch's fixed qparams (quint8 over `[0, 255]`, `reduce_range` does not apply).
fn torch_fixed_output(kind: FixedRange) -> Result<QuantParams> {
    match kind {
        FixedRange::ZeroToOne => QuantParams::new(1.0 / 256.0, 0, 0, 255),
        FixedRange::MinusOneToOne => QuantParams::new(2.0 / 256.0, 128, 0, 255),
    }
}

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
        fuse_activations(&mut m.graph, TORCH_RELU_FUSERS, false);
        let marks = mark_activations(&m.graph, |n| torch_treatment(&m.graph, n));
        let act_cfg = TorchQConfig::quint8_affine(fbgemm);
        let activations = resolve_params(
            &marks,
            QType::UINT8,
            |t| {
                let r = ranges.get(t).copied().ok_or_else(|| {
                    QuantError::InvalidArgument(format!("activation {t} has no calibrated range"))
                })?;
                pytorch::params(r, &act_cfg).map_err(|e| e.context(t.to_string()))
            },
            torch_fixed_output,
        )?;
        let constants = quantize_constants(&m.graph, &marks, QType::UINT8, |r| {
            pytorch::params(r, &act_cfg)
        })?;
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
            constants,
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
