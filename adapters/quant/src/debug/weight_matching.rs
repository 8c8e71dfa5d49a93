//! Weight matching: each weight a QDQ model stores quantized, dequantized, beside its FP32
//! original (ONNX Runtime's `create_weight_matching`).

use std::collections::HashSet;

use qbench_onnx::{DType, Graph, Model, Node, TensorData};

use super::ErrorStats;
use crate::error::{QuantError, Result};
use crate::ggml::f16_bits_to_f32;

/// One quantized weight and its FP32 original.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightMatch {
    /// The node reading the weight (its name, and its position in the quantized graph: names
    /// may be empty), its operator and the input it reads it on (1: weight, 2: bias, others:
    /// constant operands).
    pub node: String,
    pub position: usize,
    pub op_type: String,
    pub input: usize,
    /// The FP32 initializer's name and dimensions.
    pub name: String,
    pub dims: Vec<usize>,
    /// The axis the scales run along (per channel, or per row of blocks), if not per tensor.
    pub axis: Option<usize>,
    pub float: Vec<f32>,
    pub dequantized: Vec<f32>,
    /// Element type of the stored integers and the smallest and largest integer stored (a
    /// 4-bit weight in an int8 container shows as `[-8, 7]`).
    pub stored: DType,
    pub stored_range: (i64, i64),
}

impl WeightMatch {
    /// Error of the whole tensor.
    pub fn stats(&self) -> Result<ErrorStats> {
        let mut s = ErrorStats::default();
        s.add(&self.float, &self.dequantized)
            .map_err(|e| e.context(self.name.clone()))?;
        Ok(s)
    }

    /// Error of each index along [`WeightMatch::axis`] (empty when per tensor).
    pub fn per_channel(&self) -> Result<Vec<ErrorStats>> {
        let Some(axis) = self.axis else {
            return Ok(Vec::new());
        };
        let c = self.dims[axis];
        let inner: usize = self.dims[axis + 1..].iter().product();
        let mut out = vec![ErrorStats::default(); c];
        for (i, (x, y)) in self.float.iter().zip(&self.dequantized).enumerate() {
            out[(i / inner.max(1)) % c]
                .add(&[*x], &[*y])
                .map_err(|e| e.context(format!("{} element {i}", self.name)))?;
        }
        Ok(out)
    }
}

/// Any numeric initializer as `f32` (integers exactly up to 2^24, float16 converted).
pub fn tensor_f32(t: &TensorData) -> Result<Vec<f32>> {
    let shape = |e: qbench_onnx::IrError| QuantError::Shape(e.to_string());
    Ok(match t.dtype {
        DType::F32 => t.to_f32().map_err(shape)?,
        DType::F16 => t
            .raw
            .chunks_exact(2)
            .map(|c| f16_bits_to_f32(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        DType::I8 => t
            .to_i8()
            .map_err(shape)?
            .into_iter()
            .map(f32::from)
            .collect(),
        DType::U8 => t
            .to_u8()
            .map_err(shape)?
            .into_iter()
            .map(f32::from)
            .collect(),
        DType::I16 => t
            .to_i16()
            .map_err(shape)?
            .into_iter()
            .map(f32::from)
            .collect(),
        DType::U16 => t
            .to_u16()
            .map_err(shape)?
            .into_iter()
            .map(f32::from)
            .collect(),
        DType::I32 => t
            .to_i32()
            .map_err(shape)?
            .into_iter()
            .map(|v| v as f32)
            .collect(),
        DType::I64 => t
            .to_i64()
            .map_err(shape)?
            .into_iter()
            .map(|v| v as f32)
            .collect(),
    })
}

/// `DequantizeLinear` of a constant: `(q - z)·s`, per tensor or along the node's `axis`.
fn dequantize_constant(g: &Graph, dq: &Node) -> Result<Dequantized> {
    let init = |i: usize| -> Result<&TensorData> {
        dq.inputs
            .get(i)
            .and_then(|n| g.initializer(n))
            .ok_or_else(|| QuantError::Shape(format!("{}: input {i} is not a constant", dq.name)))
    };
    let q_t = init(0)?;
    let q = tensor_f32(q_t)?;
    let s = tensor_f32(init(1)?)?;
    let z = match dq.inputs.get(2).filter(|n| !n.is_empty()) {
        Some(_) => tensor_f32(init(2)?)?,
        None => vec![0.0; s.len()],
    };
    let dims: Vec<usize> = q_t.dims.iter().map(|d| *d as usize).collect();
    if s.is_empty() || z.len() != s.len() {
        return Err(QuantError::Shape(format!(
            "{}: {} scales and {} zero points",
            dq.name,
            s.len(),
            z.len()
        )));
    }
    let stored = (
        q_t.dtype,
        q.iter().fold((i64::MAX, i64::MIN), |(lo, hi), v| {
            (lo.min(*v as i64), hi.max(*v as i64))
        }),
    );
    if s.len() == 1 {
        return Ok((q.iter().map(|v| (v - z[0]) * s[0]).collect(), None, stored));
    }
    let rank = dims.len() as i64;
    let a = dq.attr_int("axis", 1);
    let axis = if a < 0 { a + rank } else { a };
    if !(0..rank).contains(&axis) || dims[axis as usize] != s.len() {
        return Err(QuantError::Shape(format!(
            "{}: {} scales along axis {a} of dimensions {dims:?}",
            dq.name,
            s.len()
        )));
    }
    let axis = axis as usize;
    let inner: usize = dims[axis + 1..].iter().product();
    let values = q
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let c = (i / inner.max(1)) % s.len();
            (v - z[c]) * s[c]
        })
        .collect();
    Ok((values, Some(axis), stored))
}

/// Dequantized values, the scales' axis, the stored type and integer range.
type Dequantized = (Vec<f32>, Option<usize>, (DType, (i64, i64)));

/// Every weight of `quantized` stored as integers behind a `DequantizeLinear` (directly, or
/// through the `Reshape`/`Slice` of a block layout), dequantized, with its FP32 original from
/// `fp32`: the initializer named like the quantized one without its `_quantized` suffix (ONNX
/// Runtime's naming), else the one the node of the same name reads on the same input. Weights
/// without an FP32 original are left out; in graph order.
pub fn weight_matching(fp32: &Model, quantized: &Model) -> Result<Vec<WeightMatch>> {
    let g = &quantized.graph;
    let producers = g.producers();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (position, node) in g.nodes.iter().enumerate() {
        if matches!(
            node.op_type.as_str(),
            "DequantizeLinear" | "QuantizeLinear" | "Reshape" | "Slice"
        ) {
            continue;
        }
        for (i, input) in node.inputs.iter().enumerate() {
            // Walk back through a block layout's Reshape/Slice to the DequantizeLinear.
            let mut at = input.as_str();
            let mut blocked = false;
            let dq = loop {
                let Some(&p) = producers.get(at) else {
                    break None;
                };
                let p = &g.nodes[p];
                match p.op_type.as_str() {
                    "DequantizeLinear" => break Some(p),
                    "Reshape" | "Slice" => {
                        blocked = true;
                        at = &p.inputs[0];
                    }
                    _ => break None,
                }
            };
            let Some(dq) = dq else { continue };
            if g.initializer(&dq.inputs[0]).is_none() || !seen.insert((position, i)) {
                continue;
            }
            // ONNX Runtime's naming first (`<weight>_quantized`), then the node of the same
            // (non-empty) name and operator.
            let original = dq.inputs[0]
                .strip_suffix("_quantized")
                .and_then(|n| fp32.graph.initializer(n))
                .or_else(|| {
                    fp32.graph
                        .nodes
                        .iter()
                        .find(|n| {
                            !node.name.is_empty()
                                && n.name == node.name
                                && n.op_type == node.op_type
                        })
                        .and_then(|n| n.inputs.get(i))
                        .and_then(|n| fp32.graph.initializer(n))
                });
            let Some(original) = original else { continue };
            let float = tensor_f32(original)?;
            let dims: Vec<usize> = original.dims.iter().map(|d| *d as usize).collect();
            let (mut deq, mut axis, (stored, stored_range)) = dequantize_constant(g, dq)?;
            if blocked {
                // Rows of blocks `[O, nb·size]` (zero-padded) back to `[O, K]`.
                let o = dims.first().copied().unwrap_or(1).max(1);
                let (row, k) = (deq.len() / o, float.len() / o);
                if row * o != deq.len() || k > row {
                    return Err(QuantError::Shape(format!(
                        "{}: {} blocked values do not cover {} weights of {} rows",
                        dq.name,
                        deq.len(),
                        float.len(),
                        o
                    )));
                }
                deq = deq.chunks(row).flat_map(|r| r[..k].to_vec()).collect();
                axis = Some(0);
            }
            if deq.len() != float.len() {
                return Err(QuantError::Shape(format!(
                    "{}: {} dequantized values for {} weights of {}",
                    dq.name,
                    deq.len(),
                    float.len(),
                    original.name
                )));
            }
            out.push(WeightMatch {
                node: node.name.clone(),
                position,
                op_type: node.op_type.clone(),
                input: i,
                name: original.name.clone(),
                dims,
                axis,
                float,
                dequantized: deq,
                stored,
                stored_range,
            });
        }
    }
    Ok(out)
}
