//! The textbook pair of 4-bit uniform weight quantizers, on int8 kernels (W4A8):
//!
//! * `uniform-midtread-4bit`: levels `k·Δ`, `k ∈ [-8, 7]` (a level at 0);
//! * `uniform-midrise-4bit`: levels `(k + ½)·Δ`, `k ∈ [-8, 7]` (no zero level), stored exactly as
//!   odd integers `m ∈ [-15, 15]` with scale `Δ/2` ([`crate::midrise`]).
//!
//! Both use the same step per output channel, `Δ = 2·absmax / 2^4` (full scale `±absmax`), so
//! the rows differ only by the quantizer. Activations are ONNX Runtime's int8 asymmetric
//! MinMax (as `ort-static-minmax-per-channel`), bias int32.

use std::collections::HashMap;

use qbench_core::Format;
use qbench_onnx::Model;

use super::packed::{packed_model_bytes, Packing};
use super::weights::per_channel;
use super::{ActivationSource, Quantized, Technique};
use crate::convention::onnxruntime;
use crate::error::Result;
use crate::midrise::{mid_rise_params, mid_rise_quantize, mid_tread_params, mid_tread_quantize};
use crate::params::{QuantParams, Range};
use crate::qdq::writer::{activations_of, remove_relus, weight_sites, QUANTIZED_OPS};
use crate::qdq::{write_qdq, ActQuant, BiasMode, QdqPlan};
use crate::scheme::QType;

/// Bits of the uniform recipes.
pub const UNIFORM_BITS: u32 = 4;

/// Mid-tread or mid-rise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tread {
    MidTread,
    MidRise,
}

/// `uniform-midtread-4bit` / `uniform-midrise-4bit`.
#[derive(Clone, Debug)]
pub struct Uniform4 {
    pub name: &'static str,
    pub kind: Tread,
}

/// `Δ = 2·absmax / 2^bits`; an all-zero channel gets Δ = 1.
fn step(r: Range) -> f32 {
    let s = 2.0 * r.abs_max() / (1u32 << UNIFORM_BITS) as f32;
    if s > 0.0 {
        s
    } else {
        1.0
    }
}

impl Technique for Uniform4 {
    fn format(&self) -> Format {
        Format::Qdq
    }

    fn name(&self) -> &'static str {
        self.name
    }

    fn framework(&self) -> &'static str {
        "textbook"
    }

    fn apply(&self, model: &Model, calib: &mut dyn ActivationSource) -> Result<Quantized> {
        let ranges = calib.global_minmax()?;
        let mut m = model.clone();
        remove_relus(&mut m.graph);
        let mut activations = HashMap::new();
        for t in activations_of(&m.graph, QUANTIZED_OPS) {
            let r = ranges.get(&t).copied().ok_or_else(|| {
                crate::QuantError::InvalidArgument(format!(
                    "activation {t} has no calibrated range"
                ))
            })?;
            let params = onnxruntime::params(r, QType::INT8, false, false)
                .map_err(|e| e.context(t.clone()))?;
            activations.insert(
                t,
                ActQuant {
                    params,
                    qtype: QType::INT8,
                },
            );
        }
        let kind = self.kind;
        let rule = move |r: Range| match kind {
            Tread::MidTread => mid_tread_params(UNIFORM_BITS, step(r)),
            Tread::MidRise => mid_rise_params(UNIFORM_BITS, step(r)),
        };
        let round = move |x: &[f32], p: &QuantParams| match kind {
            Tread::MidTread => mid_tread_quantize(x, UNIFORM_BITS, p.scale),
            Tread::MidRise => mid_rise_quantize(x, UNIFORM_BITS, 2.0 * p.scale),
        };
        let mut weights = HashMap::new();
        let mut packing = HashMap::new();
        for site in weight_sites(&m.graph)? {
            let w = per_channel(&site, QType::INT8, &rule, &round)?;
            packing.insert(
                site.name.clone(),
                Packing {
                    bits: UNIFORM_BITS,
                    overhead: 4 * w.scales.len(),
                },
            );
            weights.insert(site.node.clone(), w);
        }
        let packed = packed_model_bytes(model, &packing)?;
        let plan = QdqPlan {
            activations,
            weights,
            constants: HashMap::new(),
            bias: BiasMode::Int32,
        };
        Ok(Quantized {
            model: write_qdq(&m, &plan)?,
            format: Format::Qdq,
            notes: vec![format!(
                "4-bit {} weights per-channel, step 2*absmax/16{}; s8 asym act (ORT MinMax)",
                match kind {
                    Tread::MidTread => "mid-tread [-8,7]",
                    Tread::MidRise => "mid-rise (odd ints in [-15,15], scale step/2)",
                },
                ""
            )],
            packed_bytes: Some(packed),
        })
    }
}
