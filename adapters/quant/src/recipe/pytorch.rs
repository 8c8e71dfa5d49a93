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
//! Which operators are quantized, and how, follows FX graph mode's `prepare_fx`/`convert_fx`
//! ([`crate::qdq::torch_ops`]): Relu is fused into the producing conv/linear/add/mul, pooling
//! and reshaping ops share their input's observer and parameters, add/mul by a scalar derive
//! theirs in the kernel, `cat` shares one observer between its inputs and output,
//! sigmoid/softmax/tanh have fixed parameters.

use std::collections::HashMap;

use qbench_core::Format;
use qbench_onnx::{Graph, Model, Node, TensorData};

use super::weights::{per_channel, per_tensor};
use super::{observe_grouped, ActivationSource, Quantized, Technique};
use crate::convention::pytorch::{self, TorchQConfig};
use crate::dynamic::{dynamic_rewrite, DynamicWeight};
use crate::error::{QuantError, Result};
use crate::observer::l2::TorchHistogramObserver;
use crate::observer::Observer;
use crate::params::{QuantParams, Range};
use crate::qdq::op_rules::{fuse_activations_if, FixedRange};
use crate::qdq::torch_ops::{
    effective_add_scalar, torch_marks, torch_op, torch_params, Runtime, ScalarOp, TorchMarks,
    TorchOp,
};
use crate::qdq::writer::weight_sites;
use crate::qdq::{write_qdq, ActQuant, BiasMode, QdqPlan, WeightLayout, WeightQuant};
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
/// Add/mul by a scalar are left alone: their kernels derive the output parameters from the
/// input's, which a Q/DQ pair cannot clamp at zero.
const TORCH_RELU_FUSERS: &[&str] = &["Conv", "Gemm", "Add", "Mul", "BatchNormalization"];

fn torch_fuses(g: &Graph, producer: &Node) -> bool {
    TORCH_RELU_FUSERS.contains(&producer.op_type.as_str())
        && !matches!(torch_op(g, producer), TorchOp::Scalar(_))
}

/// PyTorch's fixed qparams (quint8 over `[0, 255]`, `reduce_range` does not apply).
fn torch_fixed_output(kind: FixedRange) -> Result<QuantParams> {
    match kind {
        FixedRange::ZeroToOne => QuantParams::new(1.0 / 256.0, 0, 0, 255),
        FixedRange::MinusOneToOne => QuantParams::new(2.0 / 256.0, 128, 0, 255),
    }
}

/// The graph PyTorch quantizes: `model` with ReLUs fused, and its decisions.
fn prepared(model: &Model) -> (Model, TorchMarks) {
    let mut m = model.clone();
    fuse_activations_if(&mut m.graph, torch_fuses, false);
    let marks = torch_marks(&m.graph);
    (m, marks)
}

/// PyTorch's quantized model in QDQ form, given each observer's settled range (`range_of`, by
/// the observer's name in [`TorchMarks::observer`]; a HistogramObserver's L2 search result).
/// Activations quint8 (`[0, 127]` under fbgemm's `reduce_range`); weights qint8 symmetric, per
/// channel for Conv/Linear under fbgemm, per tensor otherwise and for ConvTranspose (PyTorch's
/// default qconfig mapping gives transposed convolutions a per-tensor weight observer); an
/// `add_scalar` adds the scalar rounded to its input's grid, as the kernel does.
pub fn torch_qdq(
    model: &Model,
    engine: TorchEngine,
    range_of: impl Fn(&str) -> Option<Range>,
) -> Result<Model> {
    let (m, marks) = prepared(model);
    qdq_of_prepared(m, &marks, engine, range_of)
}

/// [`torch_qdq`] on a graph [`prepared`] already fused and marked.
fn qdq_of_prepared(
    mut m: Model,
    marks: &TorchMarks,
    engine: TorchEngine,
    range_of: impl Fn(&str) -> Option<Range>,
) -> Result<Model> {
    let fbgemm = engine == TorchEngine::Fbgemm;
    let act_cfg = TorchQConfig::quint8_affine(fbgemm);
    let params = torch_params(
        marks,
        |o| {
            let r = range_of(o).ok_or_else(|| {
                QuantError::InvalidArgument(format!("activation {o} has no calibrated range"))
            })?;
            pytorch::params(r, &act_cfg).map_err(|e| e.context(o.to_string()))
        },
        torch_fixed_output,
    )?;
    round_add_scalars(&mut m.graph, marks, &params);
    let activations = params
        .into_iter()
        .map(|(t, params)| {
            let q = ActQuant {
                params,
                qtype: QType::UINT8,
            };
            (t, q)
        })
        .collect();
    // A constant operand (get_attr) is observed like an activation.
    let constants = marks
        .constants
        .iter()
        .map(|name| {
            let t = m.graph.initializer(name).ok_or_else(|| {
                QuantError::InvalidArgument(format!("{name} is not an initializer"))
            })?;
            let v = t.to_f32().map_err(|e| QuantError::Shape(e.to_string()))?;
            let mut o = TorchHistogramObserver::for_qtype(QType::UINT8);
            o.observe(&v).map_err(|e| e.context(name.clone()))?;
            let p = o
                .range()
                .and_then(|r| pytorch::params(r, &act_cfg))
                .map_err(|e| e.context(name.clone()))?;
            let w = WeightQuant {
                q: pytorch::quantize_val(&v, &p)?,
                scales: vec![p.scale],
                zero_points: vec![p.zero_point],
                qtype: QType::UINT8,
                layout: WeightLayout::PerTensor,
            };
            Ok((name.clone(), w))
        })
        .collect::<Result<_>>()?;
    let w_cfg = TorchQConfig::qint8_symmetric();
    let rule = |r: Range| pytorch::params(r, &w_cfg);
    let weights = weight_sites(&m.graph)?
        .iter()
        .map(|s| {
            let w = if fbgemm && s.op_type != "ConvTranspose" {
                per_channel(s, QType::INT8, &rule, &pytorch::quantize_val)?
            } else {
                per_tensor(s, QType::INT8, &rule, &pytorch::quantize_val)?
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
    write_qdq(&m, &plan)
}

/// Gives each `add_scalar` the scalar its kernel adds (`round(c / s) * s`), as a constant of its
/// own.
fn round_add_scalars(g: &mut Graph, marks: &TorchMarks, params: &HashMap<String, QuantParams>) {
    for i in 0..g.nodes.len() {
        let n = &g.nodes[i];
        let Some(out) = n.outputs.first() else {
            continue;
        };
        let Some(Runtime::Derived {
            from,
            op: ScalarOp::Add(c),
        }) = marks.runtime.get(out)
        else {
            continue;
        };
        let Some(slot) = n.inputs.iter().position(|t| t != from) else {
            continue;
        };
        let name = format!("{}_scalar_on_grid", n.name);
        let c = effective_add_scalar(params[from], *c);
        g.add_initializer(TensorData::from_f32(name.clone(), vec![], &[c]));
        g.nodes[i].inputs[slot] = name;
    }
}

impl Technique for PytorchStatic {
    fn format(&self) -> Format {
        Format::QOperator
    }

    fn name(&self) -> &'static str {
        self.name
    }

    fn framework(&self) -> &'static str {
        "pytorch"
    }

    fn apply(&self, model: &Model, calib: &mut dyn ActivationSource) -> Result<Quantized> {
        let fbgemm = self.engine == TorchEngine::Fbgemm;
        // One HistogramObserver per PyTorch observer, fed every tensor that shares it.
        let (m, marks) = prepared(model);
        let observers = observe_grouped(calib, &marks.observer_inputs(), |_| {
            Ok(TorchHistogramObserver::for_qtype(QType::UINT8))
        })?;
        let ranges: HashMap<String, Range> = observers
            .into_iter()
            .map(|(o, obs)| Ok((o.clone(), obs.range().map_err(|e| e.context(o))?)))
            .collect::<Result<_>>()?;
        let qdq = qdq_of_prepared(m, &marks, self.engine, |o| ranges.get(o).copied())?;
        // PyTorch runs quantized kernels (quantized::conv2d, linear) between layers: written in
        // QOperator-lite form.
        Ok(Quantized {
            model: qoperator_lite(&qdq)?,
            format: Format::QOperator,
            notes: vec![format!(
                "u8 act {} (HistogramObserver L2, shared as PyTorch shares observers), s8 sym {} weights (absmax/127.5); bias int32 (PyTorch adds it in float)",
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
    fn format(&self) -> Format {
        Format::Dynamic
    }

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
                q: pytorch::quantize_val(wv, &p)?,
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
