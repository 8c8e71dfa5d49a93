//! Caffe / Ristretto dynamic fixed point (`ristretto quantize --trimming_mode=dynamic_fixed_point`,
//! `quantization.cpp` and `base_ristretto_layer.cpp`):
//!
//! * per layer, power-of-two scales: parameters `il = ceil(log2(max|w|)) + 1`, layer inputs and
//!   outputs `il = ceil(log2(max|x|))`, `fl = bits - il` ([`DynamicFixedPoint`]);
//! * weights of Convolution and InnerProduct (Gemm) layers are trimmed to the layer's parameter
//!   format (round to nearest, ties away from zero), InnerProduct biases with the weights' `fl`
//!   (Ristretto's `QuantizeWeights_cpu`); a convolution bias in our BN-folded graphs is the batch
//!   norm shift, which Caffe keeps in float BatchNorm/Scale layers, so it stays float;
//! * the inputs and outputs of those layers are trimmed to the activation format; ReLU runs in
//!   place in Caffe, so a layer's output range is measured after its ReLU (trimming commutes with
//!   ReLU at zero point 0);
//! * `caffe-dfp-search` reproduces Ristretto's search: with everything else in float, try conv
//!   weights at 16, 8, 4, 2 bits, then fully connected weights, then activations, stopping at the
//!   first width whose calibration accuracy falls more than the margin (Ristretto's default
//!   `--error_margin=2`, in points) below FP32; each part takes the smallest width that stayed
//!   within it, and the combination is scored once more.

use std::collections::HashMap;

use qbench_core::Format;
use qbench_onnx::{Model, TensorData};

use super::packed::{packed_model_bytes, Packing};
use super::{ActivationSource, Quantized, Technique};
use crate::error::{QuantError, Result};
use crate::fixed_point::{DynamicFixedPoint, FixedPointRole};
use crate::qdq::writer::{container, weight_sites};
use crate::qdq::{write_qdq, ActQuant, BiasMode, QdqPlan, WeightLayout, WeightQuant};
use crate::scheme::QType;

/// Bit widths per network part (None: that part stays float).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct DfpWidths {
    pub conv_weights: Option<u32>,
    pub fc_weights: Option<u32>,
    pub activations: Option<u32>,
}

impl DfpWidths {
    fn show(w: Option<u32>) -> String {
        w.map_or("float".into(), |b| format!("{b}b"))
    }

    /// e.g. `conv 8b / fc 4b / act 8b`.
    pub fn label(&self) -> String {
        format!(
            "conv {} / fc {} / act {}",
            Self::show(self.conv_weights),
            Self::show(self.fc_weights),
            Self::show(self.activations)
        )
    }
}

/// Per tensor max |x| over the calibration split.
pub fn max_abs(calib: &mut dyn ActivationSource) -> Result<HashMap<String, f32>> {
    Ok(calib
        .global_minmax()?
        .into_iter()
        .map(|(k, r)| (k, r.abs_max()))
        .collect())
}

/// The tensors Ristretto trims: inputs and outputs of Conv/Gemm, an output read only by a Relu
/// replaced by the Relu's output (Caffe's in-place ReLU).
fn ristretto_activations(m: &Model) -> Vec<String> {
    let g = &m.graph;
    let consumers = g.consumers();
    let mut acts: Vec<String> = Vec::new();
    for n in g
        .nodes
        .iter()
        .filter(|n| n.op_type == "Conv" || n.op_type == "Gemm")
    {
        let mut out = n.outputs[0].clone();
        if let Some([c]) = consumers.get(out.as_str()).map(Vec::as_slice) {
            if g.nodes[*c].op_type == "Relu" {
                out = g.nodes[*c].outputs[0].clone();
            }
        }
        for t in [n.inputs[0].clone(), out] {
            if !acts.contains(&t) {
                acts.push(t);
            }
        }
    }
    acts
}

/// Writes the Ristretto model for `widths`; returns it with its format.
/// A Ristretto model, its format and, for sub-8-bit weights, the packed size (one byte of
/// fractional length per layer).
pub struct Ristretto {
    pub model: Model,
    pub format: Format,
    pub packed_bytes: Option<u64>,
}

pub fn ristretto_model(
    model: &Model,
    max_abs: &HashMap<String, f32>,
    widths: DfpWidths,
) -> Result<Ristretto> {
    let mut m = model.clone();
    let mut activations = HashMap::new();
    if let Some(bits) = widths.activations {
        for t in ristretto_activations(&m) {
            let mx = *max_abs.get(&t).ok_or_else(|| {
                QuantError::InvalidArgument(format!("activation {t} has no calibrated range"))
            })?;
            let fp = DynamicFixedPoint::from_max_abs(mx, bits, FixedPointRole::Activations)
                .map_err(|e| e.context(t.clone()))?;
            activations.insert(
                t,
                ActQuant {
                    params: fp.params()?,
                    qtype: QType::new(bits, true)?,
                },
            );
        }
    }
    let mut weights = HashMap::new();
    let mut packing = HashMap::new();
    for site in weight_sites(&m.graph)? {
        let bits = if site.op_type == "Conv" || site.op_type == "ConvTranspose" {
            widths.conv_weights
        } else {
            widths.fc_weights
        };
        let Some(bits) = bits else { continue };
        let fp = DynamicFixedPoint::from_tensor(&site.values, bits, FixedPointRole::Parameters)
            .map_err(|e| e.context(site.name.clone()))?;
        packing.insert(site.name.clone(), Packing { bits, overhead: 1 });
        weights.insert(
            site.node.clone(),
            WeightQuant {
                q: fp.quantize(&site.values)?,
                scales: vec![fp.scale()],
                zero_points: vec![0],
                qtype: container(QType::new(bits, true)?),
                layout: WeightLayout::PerTensor,
            },
        );
        // An InnerProduct bias is trimmed with the weights' format (Ristretto) and stays float.
        // A convolution bias here is a folded batch norm shift: in Caffe that lives in the
        // BatchNorm/Scale layers, which Ristretto leaves in float, so it stays untouched.
        if site.op_type == "Conv" {
            continue;
        }
        let node = m.graph.nodes.iter().find(|n| n.name == site.node).cloned();
        if let Some(b) = node
            .and_then(|n| n.inputs.get(2).cloned())
            .filter(|b| !b.is_empty())
        {
            let t = m.graph.initializer_mut(&b).ok_or_else(|| {
                QuantError::Shape(format!("{}: bias is not a constant", site.node))
            })?;
            let v = t.to_f32().map_err(|e| QuantError::Shape(e.to_string()))?;
            let trimmed = fp.trim(&v).map_err(|e| e.context(b.clone()))?;
            *t = TensorData::from_f32(t.name.clone(), t.dims.clone(), &trimmed);
        }
    }
    let sixteen = [widths.conv_weights, widths.fc_weights, widths.activations]
        .iter()
        .any(|w| w.is_some_and(|b| b > 8));
    let format = if sixteen {
        Format::Qdq16
    } else if activations.is_empty() {
        Format::WeightOnly
    } else {
        Format::Qdq
    };
    let plan = QdqPlan {
        activations,
        weights,
        constants: HashMap::new(),
        bias: BiasMode::Float,
    };
    // Sub-8-bit weights sit in int8 containers: report their packed size too.
    let packed_bytes = if packing.values().any(|p| p.bits < 8) {
        Some(packed_model_bytes(model, &packing)?)
    } else {
        None
    };
    Ok(Ristretto {
        model: write_qdq(&m, &plan)?,
        format,
        packed_bytes,
    })
}

/// `caffe-dfp8` (weights and activations at 8 bits) and `caffe-weight-only` (weights only).
#[derive(Clone, Debug)]
pub struct CaffeDfp {
    pub name: &'static str,
    pub widths: DfpWidths,
}

impl Technique for CaffeDfp {
    fn format(&self) -> Format {
        if self.widths.activations.is_some() {
            Format::Qdq
        } else {
            Format::WeightOnly
        }
    }

    fn name(&self) -> &'static str {
        self.name
    }

    fn framework(&self) -> &'static str {
        "caffe-ristretto"
    }

    fn apply(&self, model: &Model, calib: &mut dyn ActivationSource) -> Result<Quantized> {
        let ranges = if self.widths.activations.is_some() {
            max_abs(calib)?
        } else {
            HashMap::new()
        };
        let r = ristretto_model(model, &ranges, self.widths)?;
        Ok(Quantized {
            model: r.model,
            format: r.format,
            notes: vec![format!(
                "dynamic fixed point per layer (2^-fl scales), {}; ties away",
                self.widths.label()
            )],
            packed_bytes: r.packed_bytes,
        })
    }
}

/// `caffe-dfp-search`.
#[derive(Clone, Debug)]
pub struct CaffeDfpSearch {
    /// Allowed top-1 drop on the calibration split, in points (Ristretto default: 2).
    pub margin_points: f64,
}

/// Widths tried per part, in Ristretto's order.
pub const SEARCH_WIDTHS: [u32; 4] = [16, 8, 4, 2];

impl Technique for CaffeDfpSearch {
    fn format(&self) -> Format {
        Format::Qdq
    }

    fn name(&self) -> &'static str {
        "caffe-dfp-search"
    }

    /// The FP32 baseline, each part at each width until one fails, and the combination.
    fn scored_models(&self) -> usize {
        1 + 3 * SEARCH_WIDTHS.len() + 1
    }

    fn framework(&self) -> &'static str {
        "caffe-ristretto"
    }

    fn apply(&self, model: &Model, calib: &mut dyn ActivationSource) -> Result<Quantized> {
        let ranges = max_abs(calib)?;
        let baseline = calib.accuracy(model)?;
        let margin = self.margin_points / 100.0;
        let mut chosen = DfpWidths::default();
        let mut trail = Vec::new();
        type Part = fn(&mut DfpWidths) -> &mut Option<u32>;
        let parts: [(&str, Part); 3] = [
            ("conv", |w| &mut w.conv_weights),
            ("fc", |w| &mut w.fc_weights),
            ("act", |w| &mut w.activations),
        ];
        for (label, part) in parts {
            let mut pick = 16;
            for bits in SEARCH_WIDTHS {
                let mut w = DfpWidths::default();
                *part(&mut w) = Some(bits);
                let acc = calib.accuracy(&ristretto_model(model, &ranges, w)?.model)?;
                trail.push(format!("{label}{bits}:{:.1}", acc * 100.0));
                if acc + margin < baseline {
                    break;
                }
                pick = bits;
            }
            *part(&mut chosen) = Some(pick);
        }
        let r = ristretto_model(model, &ranges, chosen)?;
        let combined = calib.accuracy(&r.model)?;
        Ok(Quantized {
            model: r.model,
            format: r.format,
            notes: vec![
                format!("chosen {}", chosen.label()),
                format!(
                    "calib top-1 fp32 {:.1}% -> {:.1}%, margin {} pts; tried {}",
                    baseline * 100.0,
                    combined * 100.0,
                    self.margin_points,
                    trail.join(" ")
                ),
            ],
            packed_bytes: r.packed_bytes,
        })
    }
}
