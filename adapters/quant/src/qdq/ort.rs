//! ONNX Runtime's QDQ layout, as `quantize_static(quant_format=QDQ)` writes it for the operators
//! of convolutional classifiers (ORT 1.31 `qdq_quantizer.py` and `operators/*.py`):
//!
//! * Relu nodes whose input has a single reader are removed and their producer writes the Relu's
//!   output directly (`QDQRemovableActivation` with asymmetric activations): the activation's
//!   range, calibrated on the Relu output, starts at 0, so the Q/DQ pair does the clamping.
//! * Every activation tensor read or written by Conv, Gemm, MatMul, Add, GlobalAveragePool or
//!   Flatten gets one `QuantizeLinear -> DequantizeLinear` pair at its producer; a graph output
//!   keeps its name on the DequantizeLinear output.
//! * Weights are stored quantized (`<w>_quantized`) and dequantized by a DequantizeLinear; the
//!   bias of Conv/Gemm is int32 with scale `s_in * s_w` and zero point 0.
//!
//! Zero points are always explicit (tract reads a missing one as uint8).

use std::collections::HashMap;

use qbench_onnx::Model;

use super::writer::{
    activations_of, remove_relus, weight_sites, write_qdq, ActQuant, BiasMode, QdqPlan,
    WeightLayout, WeightQuant, QUANTIZED_OPS,
};
use crate::convention::onnxruntime;
use crate::error::{QuantError, Result};
use crate::granularity::{params_per_channel, quantize_per_channel};
use crate::params::Range;
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
    if !cfg.activation_symmetric {
        remove_relus(&mut m.graph);
    }
    let (aqmin, aqmax) = onnxruntime::qrange(cfg.activation, false, cfg.activation_symmetric);
    let mut activations = HashMap::new();
    for t in activations_of(&m.graph, QUANTIZED_OPS) {
        let r = ranges.get(&t).ok_or_else(|| {
            QuantError::InvalidArgument(format!("activation {t} has no calibrated range"))
        })?;
        let params = onnxruntime::compute_scale_zp(
            r.min,
            r.max,
            aqmin,
            aqmax,
            cfg.activation_symmetric,
            None,
        )
        .map_err(|e| e.context(t.clone()))?;
        activations.insert(
            t,
            ActQuant {
                params,
                qtype: cfg.activation,
            },
        );
    }
    let mut weights = HashMap::new();
    for site in weight_sites(&m.graph)? {
        let rule =
            |r: Range| onnxruntime::params(r, cfg.weight, cfg.weight_symmetric, cfg.reduce_range);
        let (params, q, layout) = if cfg.per_channel {
            let p = params_per_channel(&site.name, &site.values, &site.dims, site.out_axis, rule)?;
            let q = quantize_per_channel(
                &site.name,
                &site.values,
                &site.dims,
                site.out_axis,
                &p,
                Rounding::HalfEven,
            )?;
            (
                p,
                q,
                WeightLayout::PerChannel {
                    axis: site.out_axis,
                },
            )
        } else {
            let p = rule(Range::of(&site.name, &site.values)?)
                .map_err(|e| e.context(site.name.clone()))?;
            let q = quantize(&site.values, &p)?;
            (vec![p], q, WeightLayout::PerTensor)
        };
        weights.insert(
            site.node.clone(),
            WeightQuant {
                q,
                scales: params.iter().map(|p| p.scale).collect(),
                zero_points: params.iter().map(|p| p.zero_point).collect(),
                qtype: cfg.weight,
                layout,
            },
        );
    }
    let plan = QdqPlan {
        activations,
        weights,
        bias: BiasMode::Int32,
    };
    write_qdq(&m, &plan)
}
