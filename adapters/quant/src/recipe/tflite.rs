//! TensorFlow Lite converter recipes (`tf.lite.TFLiteConverter` with `Optimize.DEFAULT`), with
//! TFLite's parameter rules ([`crate::convention::tflite`]):
//!
//! * `tflite-dynamic-range`: int8 weights of tensors with at least 1,024 elements (per channel
//!   for convolutions, per tensor for fully connected layers), activations quantized at run time.
//! * `tflite-full-int8`: a representative dataset (min/max), int8 asymmetric activations, int8
//!   symmetric narrow-range weights per output channel (conv, transposed conv, fully connected:
//!   TensorFlow 2.21's defaults), int32 bias
//!   `s_in · s_w`, float model input and output.
//! * `tflite-int16x8`: the same with int16 symmetric activations.
//! * `tflite-float16`: every float constant stored as float16, computed in float32.

use std::collections::HashMap;

use qbench_core::Format;
use qbench_onnx::{Attribute, DType, Model, Node, TensorData};

use super::weights::{per_channel, per_tensor};
use super::{ActivationSource, Quantized, Technique};
use crate::convention::tflite;
use crate::dynamic::{dynamic_rewrite, DynamicWeight};
use crate::error::{QuantError, Result};
use crate::ggml::f32_to_f16_bits;
use crate::params::{QuantParams, Range};
use crate::qdq::op_rules::{
    clips_from_zero, fuse_activations_if, mark_activations, quantize_constants, resolve_params,
    FixedRange, Treatment,
};
use crate::qdq::writer::{weight_sites, WeightSite};
use crate::qdq::{write_qdq, BiasMode, QdqPlan, WeightQuant};
use crate::qoperator::qoperator_lite;
use crate::scheme::QType;

/// TFLite's weight rule: symmetric narrow int8, per output channel or per tensor. Full-integer
/// models take every weight per channel (convolutions, transposed convolutions and, TensorFlow
/// 2.21's default `_experimental_disable_per_channel_quantization_for_dense_layers = False`,
/// fully connected layers); dynamic-range ones only convolutions.
fn tflite_weight(site: &WeightSite, per_channel_weights: bool) -> Result<WeightQuant> {
    let rule = |r: Range| tflite::weight_params(r, 8);
    let round = |x: &[f32], p: &QuantParams| tflite::quantize_weights(x, p);
    if per_channel_weights {
        per_channel(site, QType::INT8, &rule, &round)
    } else {
        per_tensor(site, QType::INT8, &rule, &round)
    }
}

/// Ops with a fused activation function in TFLite (Relu/Relu6 folded into them).
const TFLITE_FUSERS: &[&str] = &[
    "Conv",
    "ConvTranspose",
    "Gemm",
    "Add",
    "Sub",
    "Mul",
    "Concat",
    "AveragePool",
    "MaxPool",
];

/// What the TFLite converter does with each ONNX operator in a full-integer model, after the
/// TFLite 8-bit quantization specification (tensorflow.org/lite/performance/quantization_spec)
/// and TensorFlow 2.21's converter: ops whose inputs and outputs "must all have same
/// scale/zero_point" share their input's parameters (CONCATENATION: all inputs take the
/// output's); LOGISTIC and SOFTMAX outputs are fixed to `(1/256, -128)` and TANH to `(1/128, 0)`
/// (int16: `1/32768`, 0); EXP has int8 and int16 kernels; HARD_SWISH has no int16 kernel, so in
/// 16x8 mode it stays in float; ops without an integer kernel (DIV, ...) stay in float. In int8
/// mode a concatenation's parameters travel back through the same-scale operators that feed it
/// (see `mark_activations`); in 16x8 mode it keeps its own and requantizes its inputs.
fn tflite_treatment(n: &Node, activation: QType) -> Treatment {
    match n.op_type.as_str() {
        "HardSwish" if activation.bits() > 8 => Treatment::Float,
        // 16x8: a concatenation has its own range and requantizes every input into it.
        "Concat" if activation.bits() > 8 => Treatment::Compute,
        "Conv" | "ConvTranspose" | "Gemm" | "MatMul" | "Add" | "Sub" | "Mul"
        | "GlobalAveragePool" | "ReduceMean" | "HardSwish" | "HardSigmoid" | "LeakyRelu"
        | "PRelu" | "Relu" | "Clip" | "BatchNormalization" | "Exp" => Treatment::Compute,
        "MaxPool" | "AveragePool" | "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze"
        | "Transpose" | "Slice" | "Split" | "Gather" | "Pad" | "Resize" | "DepthToSpace"
        | "SpaceToDepth" | "Identity" => Treatment::SharesInput,
        "Concat" => Treatment::SharedWithOutput,
        "Sigmoid" | "Softmax" => Treatment::FixedOutput(FixedRange::ZeroToOne),
        "Tanh" => Treatment::FixedOutput(FixedRange::MinusOneToOne),
        _ => Treatment::Float,
    }
}

/// TFLite's fixed output parameters.
fn tflite_fixed_output(kind: FixedRange, qtype: QType) -> Result<QuantParams> {
    let (lo, hi) = qtype.full_range();
    match (kind, qtype.bits()) {
        (_, 16) => QuantParams::new(1.0 / 32768.0, 0, lo, hi),
        (FixedRange::ZeroToOne, _) => QuantParams::new(1.0 / 256.0, -128, lo, hi),
        (FixedRange::MinusOneToOne, _) => QuantParams::new(1.0 / 128.0, 0, lo, hi),
    }
}

/// The TFLite converter's full-integer model in QDQ form (`activation`: int8, or int16 for the
/// 16x8 mode), given each tensor's calibrated min/max.
pub fn tflite_qdq(
    model: &Model,
    activation: QType,
    ranges: &HashMap<String, Range>,
) -> Result<Model> {
    let mut m = model.clone();
    let mut ranges = ranges.clone();
    // TFLite fuses Relu/Relu6 into the producing op (fused activation function): one tensor
    // with the post-activation range, clamped to [zero point, qmax]. With asymmetric int8
    // and a range that starts at zero (calibrated min/max of a ReLU's output) the zero point
    // is qmin, so the activation can go; with symmetric int16 (zero point 0) it stays and only
    // its output is quantized. A range below zero (QAT's moving averages, which TF-MOT starts
    // at -6) puts the zero point inside the range: the activation stays, and the producer's
    // output takes the fused tensor's range, so quantize -> activation -> quantize gives the
    // fused kernel's clamped values.
    let symmetric = activation.bits() > 8;
    if !symmetric {
        let below_zero = |g: &qbench_onnx::Graph, p: &Node| {
            let consumers = g.consumers();
            p.outputs.first().is_some_and(|x| {
                consumers.get(x.as_str()).is_some_and(|c| {
                    c.iter().any(|&i| {
                        let n = &g.nodes[i];
                        (n.op_type == "Relu" || clips_from_zero(g, n))
                            && n.outputs
                                .first()
                                .and_then(|o| ranges.get(o))
                                .is_some_and(|r| r.min < 0.0)
                    })
                })
            })
        };
        fuse_activations_if(
            &mut m.graph,
            |g, p| TFLITE_FUSERS.contains(&p.op_type.as_str()) && !below_zero(g, p),
            true,
        );
        for n in &m.graph.nodes {
            if n.op_type == "Relu" || clips_from_zero(&m.graph, n) {
                if let Some(r) = n.outputs.first().and_then(|o| ranges.get(o)).copied() {
                    if r.min < 0.0 {
                        ranges.insert(n.inputs[0].clone(), r);
                    }
                }
            }
        }
    }
    let consumers = m.graph.consumers();
    let producers = m.graph.producers();
    // In 16x8 mode the activations stay and only their outputs are quantized.
    let fused_inputs: Vec<String> = m
        .graph
        .nodes
        .iter()
        .filter(|n| symmetric && (n.op_type == "Relu" || clips_from_zero(&m.graph, n)))
        .map(|n| n.inputs[0].clone())
        .filter(|t| consumers.get(t.as_str()).is_some_and(|c| c.len() == 1))
        .filter(|t| {
            producers
                .get(t.as_str())
                .is_some_and(|p| TFLITE_FUSERS.contains(&m.graph.nodes[*p].op_type.as_str()))
        })
        .collect();
    let mut marks = mark_activations(&m.graph, |n| tflite_treatment(n, activation));
    for t in &fused_inputs {
        marks.marks.remove(t);
        marks.order.retain(|x| x != t);
    }
    let qtype = activation;
    let activations = resolve_params(
        &marks,
        qtype,
        |t| {
            let r = ranges.get(t).copied().ok_or_else(|| {
                QuantError::InvalidArgument(format!("activation {t} has no calibrated range"))
            })?;
            let mut params =
                tflite::activation_params(r, qtype).map_err(|e| e.context(t.to_string()))?;
            // The int16 scale comes from the narrow range [-32767, 32767], but TFLite's
            // int16 kernels clamp to the full [-32768, 32767]: no extra clipping.
            if qtype.bits() == 16 {
                params.qmin = qtype.full_range().0;
            }
            Ok(params)
        },
        |kind| tflite_fixed_output(kind, qtype),
    )?;
    let constants = quantize_constants(&m.graph, &marks, qtype, |r| {
        tflite::activation_params(r, qtype)
    })?;
    let weights = weight_sites(&m.graph)?
        .iter()
        .map(|s| Ok((s.node.clone(), tflite_weight(s, true)?)))
        .collect::<Result<_>>()?;
    let plan = QdqPlan {
        activations,
        weights,
        constants,
        bias: BiasMode::Int32Tflite,
    };
    write_qdq(&m, &plan)
}

/// `tflite-full-int8` (`activation = QType::INT8`) and `tflite-int16x8` (`QType::INT16`).
#[derive(Clone, Debug)]
pub struct TfliteFullInteger {
    pub name: &'static str,
    pub activation: QType,
}

impl Technique for TfliteFullInteger {
    fn format(&self) -> Format {
        if self.activation == QType::INT16 {
            Format::Qdq16
        } else {
            Format::QOperator
        }
    }

    fn name(&self) -> &'static str {
        self.name
    }

    fn framework(&self) -> &'static str {
        "tflite"
    }

    fn apply(&self, model: &Model, calib: &mut dyn ActivationSource) -> Result<Quantized> {
        let ranges = calib.global_minmax()?;
        let sixteen = self.activation.bits() > 8;
        let qdq = tflite_qdq(model, self.activation, &ranges)?;
        // TFLite runs integer kernels between layers: int8 models are written in QOperator-lite
        // form (QLinearConv / MatMulInteger); 16-bit stays QDQ (no standard int16 conv).
        let (model, format) = if sixteen {
            (qdq, Format::Qdq16)
        } else {
            (qoperator_lite(&qdq)?, Format::QOperator)
        };
        Ok(Quantized {
            model,
            format,
            notes: vec![if sixteen {
                "s16 sym act (scale absmax/32767), s8 sym narrow weights per-channel (conv, transposed conv, fc), min/max; bias int32 (TFLite: int64)".into()
            } else {
                "s8 asym act, s8 sym narrow weights per-channel (conv, transposed conv, fc), min/max, bias int32".into()
            }],
            packed_bytes: None,
        })
    }
}

/// `tflite-dynamic-range`.
#[derive(Clone, Copy, Debug, Default)]
pub struct TfliteDynamicRange;

/// TFLite leaves constant tensors below this many elements in float.
pub const TFLITE_MIN_ELEMENTS: usize = 1024;

impl Technique for TfliteDynamicRange {
    fn format(&self) -> Format {
        Format::Dynamic
    }

    fn name(&self) -> &'static str {
        "tflite-dynamic-range"
    }

    fn framework(&self) -> &'static str {
        "tflite"
    }

    fn apply(&self, model: &Model, _calib: &mut dyn ActivationSource) -> Result<Quantized> {
        let sites: HashMap<String, WeightSite> = weight_sites(&model.graph)?
            .into_iter()
            .map(|s| (s.node.clone(), s))
            .collect();
        let rule = |n: &Node, _w: &TensorData, wv: &[f32]| -> Result<Option<DynamicWeight>> {
            if wv.len() < TFLITE_MIN_ELEMENTS {
                return Ok(None);
            }
            let site = &sites[&n.name];
            if site.out_axis != 0 {
                return Ok(None);
            }
            let wq = tflite_weight(site, site.op_type == "Conv")?;
            Ok(Some(DynamicWeight {
                q: wq.q,
                scales: wq.scales,
            }))
        };
        let out = dynamic_rewrite(model, &rule)?;
        let kept = sites
            .values()
            .filter(|s| s.values.len() < TFLITE_MIN_ELEMENTS)
            .count();
        Ok(Quantized {
            model: out,
            format: Format::Dynamic,
            notes: vec![format!(
                "s8 sym narrow weights (>= {TFLITE_MIN_ELEMENTS} elements; {kept} smaller layers stay float), act u8 per tensor at run time (TFLite: s8 per row)"
            )],
            packed_bytes: None,
        })
    }
}

/// `tflite-float16`.
#[derive(Clone, Copy, Debug, Default)]
pub struct TfliteFloat16;

/// Every float initializer stored as float16 (round to nearest even) and cast back to float32.
pub fn float16_weights(model: &Model) -> Result<Model> {
    let mut m = model.clone();
    let g = &mut m.graph;
    let mut casts = Vec::new();
    for t in g.initializers.iter_mut().filter(|t| t.dtype == DType::F32) {
        let v = t.to_f32().map_err(|e| QuantError::Shape(e.to_string()))?;
        crate::error::check_finite(&t.name, &v)?;
        let half = format!("{}_fp16", t.name);
        let raw = v
            .iter()
            .flat_map(|x| f32_to_f16_bits(*x).to_le_bytes())
            .collect();
        casts.push(
            Node::new(format!("{}_Cast", t.name), "Cast", &[&half], &[&t.name])
                .with_attr("to", Attribute::Int(1)),
        );
        *t = TensorData {
            name: half,
            dtype: DType::F16,
            dims: t.dims.clone(),
            raw,
        };
    }
    g.nodes.splice(0..0, casts);
    g.value_info.clear();
    g.topo_sort()
        .map_err(|e| QuantError::Shape(e.to_string()))?;
    g.check_inputs_defined()
        .map_err(|e| QuantError::Shape(e.to_string()))?;
    Ok(m)
}

impl Technique for TfliteFloat16 {
    fn format(&self) -> Format {
        Format::Fp16
    }

    fn name(&self) -> &'static str {
        "tflite-float16"
    }

    fn framework(&self) -> &'static str {
        "tflite"
    }

    fn apply(&self, model: &Model, _calib: &mut dyn ActivationSource) -> Result<Quantized> {
        Ok(Quantized {
            model: float16_weights(model)?,
            format: Format::Fp16,
            notes: vec!["fp16 weights and biases, computed in fp32".into()],
            packed_bytes: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qbench_onnx::{Dim, Graph, ValueInfo};

    /// input -> Conv -> Relu -> Conv -> output.
    fn conv_relu_conv() -> Model {
        let mut g = Graph::default();
        g.inputs.push(ValueInfo {
            name: "x".into(),
            dtype: DType::F32,
            shape: vec![Dim::Fixed(1), Dim::Fixed(1), Dim::Fixed(4), Dim::Fixed(4)],
        });
        for (i, w) in [[0.5f32, -0.25, 1.0, 0.75], [1.0, 0.5, -0.5, 0.25]]
            .iter()
            .enumerate()
        {
            g.add_initializer(TensorData::from_f32(format!("w{i}"), vec![1, 1, 2, 2], w));
            g.add_initializer(TensorData::from_f32(format!("b{i}"), vec![1], &[0.1]));
        }
        g.add_node(Node::new("c0", "Conv", &["x", "w0", "b0"], &["c0.out"]));
        g.add_node(Node::new("r", "Relu", &["c0.out"], &["r.out"]));
        g.add_node(Node::new("c1", "Conv", &["r.out", "w1", "b1"], &["y"]));
        g.outputs.push(ValueInfo {
            name: "y".into(),
            dtype: DType::F32,
            shape: vec![],
        });
        Model::new(g, 13)
    }

    fn ranges(relu_min: f32) -> HashMap<String, Range> {
        [("x", -1.0, 1.0), ("r.out", relu_min, 3.0), ("y", -2.0, 2.0)]
            .into_iter()
            .map(|(n, lo, hi)| (n.to_string(), Range::new(lo, hi).unwrap()))
            .collect()
    }

    /// The scale of the QuantizeLinear reading `tensor`.
    fn q_scale(m: &Model, tensor: &str) -> Option<f32> {
        let q = m
            .graph
            .nodes
            .iter()
            .find(|n| n.op_type == "QuantizeLinear" && n.inputs[0] == tensor)?;
        Some(m.graph.initializer(&q.inputs[1])?.to_f32().ok()?[0])
    }

    #[test]
    fn a_relu_is_fused_when_its_range_starts_at_zero_and_kept_with_its_range_when_it_does_not() {
        let fused = tflite_qdq(&conv_relu_conv(), QType::INT8, &ranges(0.0)).unwrap();
        assert!(!fused.graph.nodes.iter().any(|n| n.op_type == "Relu"));
        // A QAT range below zero (TF-MOT starts at -6): the zero point sits inside the range, so
        // the ReLU stays, and the conv's output is quantized over the fused tensor's range.
        let kept = tflite_qdq(&conv_relu_conv(), QType::INT8, &ranges(-2.0)).unwrap();
        assert!(kept.graph.nodes.iter().any(|n| n.op_type == "Relu"));
        let (conv, relu) = (q_scale(&kept, "c0.out"), q_scale(&kept, "r.out"));
        assert!(conv.is_some(), "the conv output is quantized");
        assert_eq!(conv, relu);
        assert_eq!(relu, Some(5.0 / 255.0));
    }
}
