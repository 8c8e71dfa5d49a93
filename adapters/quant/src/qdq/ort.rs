//! ONNX Runtime's QDQ layout, as `quantize_static(quant_format=QDQ)` writes it (ORT 1.31
//! `qdq_quantizer.py`): which tensors are quantized is decided per operator by
//! [`super::ort_ops`]; this module computes the parameters and hands them to the writer.
//!
//! * Activations: `compute_scale_zp` on the calibrated range (after ORT's `adjust_tensor_ranges`:
//!   a Relu/Clip input takes the output's range, a Softmax output is `[0, 1]`). A tensor that
//!   shares its input's parameters (Reshape, MaxPool, Resize, ...) gets exactly those.
//! * Float initializers read as activations (the constant of a `Mul`, the bias `Add` after a
//!   `MatMul`) are stored quantized with the activation type, per tensor, from their values.
//! * Weights are stored quantized and dequantized by a DequantizeLinear; the bias of
//!   Conv/ConvTranspose/Gemm is int32 with scale `s_in * s_w` and zero point 0. When that scale
//!   is too small for the bias to fit int32, the weight's scale is raised first, as ORT's
//!   `_adjust_weight_scale_for_int32_bias` does.
//!
//! Zero points are always explicit (tract reads a missing one as uint8).

use std::collections::HashMap;

use qbench_onnx::Model;

use super::ort_ops::{adjust_ranges, mark, Mark, MarkSettings};
use super::writer::{write_qdq, ActQuant, BiasMode, QdqPlan, WeightLayout, WeightQuant};
use crate::convention::onnxruntime;
use crate::error::{QuantError, Result};
use crate::granularity::{params_per_channel, quantize_per_channel};
use crate::params::{QuantParams, Range};
use crate::quantize::{quantize, Rounding};
use crate::scheme::QType;

/// Settings of the rewrite.
#[derive(Clone, Debug)]
pub struct OrtQdqConfig {
    /// Activation type (ORT default: int8) and symmetry (default: asymmetric).
    pub activation: QType,
    pub activation_symmetric: bool,
    /// Weight type (ORT default: int8, symmetric).
    pub weight: QType,
    /// Symmetric weights (ORT: true for signed weight types, false for uint8).
    pub weight_symmetric: bool,
    /// Per output channel weights (Conv axis 0; Gemm axis 0 with transB, else 1).
    pub per_channel: bool,
    /// ORT's `reduce_range`: narrows the weights (int8 [-64, 64]).
    pub reduce_range: bool,
}

impl Default for OrtQdqConfig {
    fn default() -> Self {
        OrtQdqConfig {
            activation: QType::INT8,
            activation_symmetric: false,
            weight: QType::INT8,
            weight_symmetric: true,
            per_channel: false,
            reduce_range: false,
        }
    }
}

/// Rewrites an FP32 model into ONNX Runtime's QDQ form, given calibrated activation ranges
/// (keyed by tensor name, from the FP32 model, graph input included).
pub fn ort_qdq(
    model: &Model,
    ranges: &HashMap<String, Range>,
    cfg: &OrtQdqConfig,
) -> Result<Model> {
    let mut m = model.clone();
    let mut ranges = ranges.clone();
    adjust_ranges(&m.graph, &mut ranges);
    let settings = MarkSettings {
        activation_symmetric: cfg.activation_symmetric,
        per_channel: cfg.per_channel,
        opset: m.opset().unwrap_or(0),
    };
    let marking = mark(&mut m.graph, &ranges, &settings);
    let g = &m.graph;
    let (aqmin, aqmax) = onnxruntime::qrange(cfg.activation, false, cfg.activation_symmetric);
    let from_range = |t: &str| -> Result<QuantParams> {
        let r = ranges.get(t).ok_or_else(|| {
            QuantError::InvalidArgument(format!("activation {t} has no calibrated range"))
        })?;
        onnxruntime::compute_scale_zp(r.min, r.max, aqmin, aqmax, cfg.activation_symmetric, None)
            .map_err(|e| e.context(t.to_string()))
    };
    let values = |t: &str| -> Result<(Vec<f32>, Vec<usize>)> {
        let w = g
            .initializer(t)
            .ok_or_else(|| QuantError::Shape(format!("{t} is not an initializer")))?;
        let v = w.to_f32().map_err(|e| QuantError::Shape(e.to_string()))?;
        Ok((v, w.dims.iter().map(|d| *d as usize).collect()))
    };
    // Own parameters of activations and activation-typed constants; weights' parameters.
    let mut params: HashMap<String, QuantParams> = HashMap::new();
    let mut constants: HashMap<String, WeightQuant> = HashMap::new();
    // Weight name -> (parameters, axis, values, dims): the values are read once.
    type WeightEntry = (Vec<QuantParams>, Option<usize>, Vec<f32>, Vec<usize>);
    let mut weight_params: HashMap<String, WeightEntry> = HashMap::new();
    for t in &marking.order {
        match &marking.marks[t] {
            Mark::Activation if g.initializer(t).is_some() => {
                let (v, _) = values(t)?;
                let p = onnxruntime::params(
                    Range::of(t, &v)?,
                    cfg.activation,
                    cfg.activation_symmetric,
                    cfg.reduce_range,
                )
                .map_err(|e| e.context(t.clone()))?;
                constants.insert(
                    t.clone(),
                    WeightQuant {
                        q: quantize(&v, &p)?,
                        scales: vec![p.scale],
                        zero_points: vec![p.zero_point],
                        qtype: cfg.activation,
                        layout: WeightLayout::PerTensor,
                    },
                );
                params.insert(t.clone(), p);
            }
            Mark::Activation => {
                params.insert(t.clone(), from_range(t)?);
            }
            Mark::Weight { axis } => {
                let (v, dims) = values(t)?;
                // Per-channel weights are always symmetric in ORT.
                let sym = cfg.weight_symmetric || axis.is_some();
                let rule = |r: Range| onnxruntime::params(r, cfg.weight, sym, cfg.reduce_range);
                let p = match axis {
                    Some(a) => params_per_channel(t, &v, &dims, *a, rule)?,
                    None => vec![rule(Range::of(t, &v)?).map_err(|e| e.context(t.clone()))?],
                };
                weight_params.insert(t.clone(), (p, *axis, v, dims));
            }
            Mark::SharedWith(_) => {}
        }
    }
    // Shared parameters, resolved along chains (a Reshape of a MaxPool of a Conv output).
    let mut activations: HashMap<String, ActQuant> = HashMap::new();
    for t in &marking.order {
        let mut at = t;
        let mut hops = 0;
        while let Some(Mark::SharedWith(src)) = marking.marks.get(at) {
            at = src;
            hops += 1;
            if hops > marking.order.len() {
                return Err(QuantError::InvalidArgument(format!(
                    "{t}: circular parameter sharing"
                )));
            }
        }
        if g.initializer(t).is_some() {
            continue;
        }
        if matches!(marking.marks.get(t), Some(Mark::Weight { .. })) {
            continue;
        }
        let p = params.get(at).copied().ok_or_else(|| {
            QuantError::InvalidArgument(format!(
                "{t} shares the parameters of {at}, which is not quantized"
            ))
        })?;
        activations.insert(
            t.clone(),
            ActQuant {
                params: p,
                qtype: cfg.activation,
            },
        );
    }
    // ORT raises a weight's scale where the int32 bias would not fit (input scale from the
    // input's own range, as ORT reads it before writing the pairs).
    for b in &marking.biases {
        let Some((wp, ..)) = weight_params.get_mut(&b.weight) else {
            continue;
        };
        if !matches!(cfg.weight, QType::INT8 | QType::INT16) || wp.iter().any(|p| p.zero_point != 0)
        {
            continue;
        }
        if !marking.marks.contains_key(&b.input) || !ranges.contains_key(&b.input) {
            continue;
        }
        let s_in = from_range(&b.input)?.scale;
        let (bias, _) = values(&b.bias)?;
        adjust_weight_scales_for_int32_bias(s_in, wp, &bias)?;
    }
    // Quantize the weights; a weight read as input 1 by one Conv/ConvTranspose/Gemm/normalization
    // node goes with that node (whose bias the writer makes int32), any other as a constant.
    let consumers = g.consumers();
    let mut weights = HashMap::new();
    let mut names: Vec<&String> = weight_params.keys().collect();
    names.sort();
    for t in names {
        let (p, axis, v, dims) = &weight_params[t];
        let (q, layout) = match axis {
            Some(a) => (
                quantize_per_channel(t, v, dims, *a, p, Rounding::HalfEven)?,
                WeightLayout::PerChannel { axis: *a },
            ),
            None => (quantize(v, &p[0])?, WeightLayout::PerTensor),
        };
        let wq = WeightQuant {
            q,
            scales: p.iter().map(|p| p.scale).collect(),
            zero_points: p.iter().map(|p| p.zero_point).collect(),
            qtype: cfg.weight,
            layout,
        };
        let readers = consumers.get(t.as_str()).map(Vec::as_slice).unwrap_or(&[]);
        match readers {
            [i] if g.nodes[*i].inputs.get(1) == Some(t)
                && marking.biases.iter().any(|b| b.node == g.nodes[*i].name)
                && !g.nodes[*i].name.is_empty() =>
            {
                weights.insert(g.nodes[*i].name.clone(), wq);
            }
            _ => {
                constants.insert(t.clone(), wq);
            }
        }
    }
    let plan = QdqPlan {
        activations,
        weights,
        constants,
        bias: BiasMode::Int32,
    };
    write_qdq(&m, &plan)
}

/// ORT's `_adjust_weight_scale_for_int32_bias`: where `s_in * s_w` is below the smallest scale
/// that keeps the bias inside int32, `s_w` grows by the ratio (computed in f64, stored as f32).
fn adjust_weight_scales_for_int32_bias(
    s_in: f32,
    weight: &mut [QuantParams],
    bias: &[f32],
) -> Result<()> {
    let qrange = i32::MAX as f64 - (i32::MIN as f64 + 1.0);
    let eps = 1.0001f64;
    let raise = |p: &mut QuantParams, absmax: f64| -> Result<()> {
        let smallest = eps * (2.0 * absmax) / qrange;
        let candidate = s_in as f64 * p.scale as f64;
        if candidate < smallest && candidate > 0.0 {
            let scale = (p.scale as f64 * (smallest / candidate)) as f32;
            *p = QuantParams::new(scale, p.zero_point, p.qmin, p.qmax)?;
        }
        Ok(())
    };
    if weight.len() == 1 {
        let (lo, hi) = bias
            .iter()
            .fold((0f32, 0f32), |(lo, hi), b| (lo.min(*b), hi.max(*b)));
        let absmax = (lo.abs().max(hi.abs())) as f64;
        raise(&mut weight[0], absmax)
    } else {
        if bias.len() != weight.len() {
            return Err(QuantError::Shape(format!(
                "{} bias values for {} weight channels",
                bias.len(),
                weight.len()
            )));
        }
        for (p, b) in weight.iter_mut().zip(bias) {
            raise(p, b.abs() as f64)?;
        }
        Ok(())
    }
}
