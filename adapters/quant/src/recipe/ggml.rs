//! Blockwise weight-only quantization with GGML's block types (llama.cpp `ggml-quants.c`
//! reference code): blocks of 32 consecutive weights of each output channel's row, one float16
//! scale per block.
//!
//! * `weight-only-q4_0`: `d = max / -8` (`max` the value of largest magnitude), code
//!   `min(15, trunc(x/d + 8.5))`, value `(code - 8)·d`.
//! * `weight-only-q8_0`: `d = absmax / 127`, `q = round(x/d)` (ties away from zero).
//!
//! Every Conv and Gemm weight is quantized; a row whose length is not a multiple of 32 gets a
//! zero-padded last block (GGML itself would refuse such a row). Activations stay float. The
//! artifact stores the integers in int8 with per-block DequantizeLinear (see
//! [`crate::qdq::writer`]), so ONNX Runtime and tract fold the exact GGML values into float
//! weights; the `qbench.ggml` metadata entry names the Gemm layers candle runs natively with
//! `QMatMul` on the same blocks.

use std::collections::HashMap;

use qbench_core::Format;
use qbench_onnx::Model;

use super::packed::{packed_model_bytes, Packing};
use super::weights::per_block;
use super::{ActivationSource, Quantized, Technique};
use crate::error::Result;
use crate::ggml::{f16_bits_to_f32, quantize_q4_0, quantize_q8_0, QK};
use crate::qdq::writer::weight_sites;
use crate::qdq::{write_qdq, BiasMode, QdqPlan};
use crate::scheme::QType;

/// The GGML block type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GgmlType {
    Q4_0,
    Q8_0,
}

impl GgmlType {
    /// Name used by GGML and in the `qbench.ggml` metadata.
    pub fn name(self) -> &'static str {
        match self {
            GgmlType::Q4_0 => "q4_0",
            GgmlType::Q8_0 => "q8_0",
        }
    }

    fn bits(self) -> u32 {
        match self {
            GgmlType::Q4_0 => 4,
            GgmlType::Q8_0 => 8,
        }
    }

    /// One block: (scale, zero point 0, integers), with a positive scale.
    fn block(self, chunk: &[f32]) -> Result<(f32, i32, Vec<i32>)> {
        let mut padded = chunk.to_vec();
        padded.resize(QK, 0.0);
        let (d, mut q): (f32, Vec<i32>) = match self {
            GgmlType::Q4_0 => {
                let b = &quantize_q4_0(&padded)?[0];
                let codes = (0..QK).map(|j| b.code(j) as i32 - 8).collect();
                (f16_bits_to_f32(b.d), codes)
            }
            GgmlType::Q8_0 => {
                let b = &quantize_q8_0(&padded)?[0];
                (
                    f16_bits_to_f32(b.d),
                    b.qs.iter().map(|v| *v as i32).collect(),
                )
            }
        };
        q.truncate(chunk.len());
        // DequantizeLinear needs a positive scale: flip the sign into the integers (Q4_0's d is
        // negative when the largest magnitude is positive). An all-zero block has d = 0.
        Ok(if d < 0.0 {
            (-d, 0, q.into_iter().map(|v| -v).collect())
        } else if d == 0.0 {
            (1.0, 0, q)
        } else {
            (d, 0, q)
        })
    }
}

/// `weight-only-q4_0` / `weight-only-q8_0`.
#[derive(Clone, Debug)]
pub struct GgmlWeightOnly {
    pub name: &'static str,
    pub kind: GgmlType,
}

impl Technique for GgmlWeightOnly {
    fn format(&self) -> Format {
        Format::WeightOnly
    }

    fn name(&self) -> &'static str {
        self.name
    }

    fn framework(&self) -> &'static str {
        "ggml"
    }

    fn apply(&self, model: &Model, _calib: &mut dyn ActivationSource) -> Result<Quantized> {
        let mut weights = HashMap::new();
        let mut packing = HashMap::new();
        let mut native = Vec::new();
        for site in weight_sites(&model.graph)? {
            if site.out_axis != 0 {
                continue;
            }
            let kind = self.kind;
            let w = per_block(&site, QK, QType::INT8, &|c| kind.block(c))?;
            packing.insert(
                site.name.clone(),
                Packing {
                    bits: kind.bits(),
                    overhead: 2 * w.scales.len(),
                },
            );
            if site.op_type == "Gemm" && site.reduction() % QK == 0 {
                native.push(format!("\"{}\": \"{}\"", site.node, kind.name()));
            }
            weights.insert(site.node.clone(), w);
        }
        let packed = packed_model_bytes(model, &packing)?;
        let plan = QdqPlan {
            activations: HashMap::new(),
            weights,
            constants: HashMap::new(),
            bias: BiasMode::Float,
        };
        let mut m = write_qdq(model, &plan)?;
        if !native.is_empty() {
            m.metadata
                .push(("qbench.ggml".into(), format!("{{{}}}", native.join(", "))));
        }
        Ok(Quantized {
            model: m,
            format: Format::WeightOnly,
            notes: vec![format!(
                "GGML {} blocks of 32 (f16 scale) on every conv/fc weight, rows zero-padded; float activations",
                self.kind.name().to_uppercase()
            )],
            packed_bytes: Some(packed),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q4_0_blocks_have_positive_scales_and_exact_values() {
        let x: Vec<f32> = (0..20).map(|i| (i as f32 - 7.0) * 0.1).collect();
        let (s, z, q) = GgmlType::Q4_0.block(&x).unwrap();
        assert!(s > 0.0);
        assert_eq!(z, 0);
        assert_eq!(q.len(), 20);
        // Largest magnitude is +1.2 (positive): d = -0.15, so +1.2 is code 0 -> -8 -> flipped 8.
        assert_eq!(q[19], 8);
        assert!(q.iter().all(|v| (-7..=8).contains(v)));
        let (s8, _, q8) = GgmlType::Q8_0.block(&x).unwrap();
        assert_eq!(q8[19], 127);
        // d is stored as float16 (11 significant bits).
        assert!((s8 - 1.2 / 127.0).abs() < 1e-3 * s8);
        let (s0, _, q0) = GgmlType::Q4_0.block(&[0.0; 32]).unwrap();
        assert_eq!((s0, q0.iter().all(|v| *v == 0)), (1.0, true));
    }
}
