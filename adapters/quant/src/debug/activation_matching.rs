//! Activation matching: which tensor of the FP32 model each quantized activation of a QDQ model
//! stands for, and with which parameters (ONNX Runtime's `create_activation_matching` pairs
//! them by the names its quantizer writes; qbench follows the graph instead, so any QDQ model
//! matches).

use std::collections::HashMap;

use qbench_onnx::{DType, Model};

use super::weight_matching::tensor_f32;
use crate::error::{QuantError, Result};
use crate::params::QuantParams;
use crate::scheme::QType;

/// One quantized activation.
#[derive(Clone, Debug, PartialEq)]
pub struct ActivationPair {
    /// The FP32 model's tensor.
    pub tensor: String,
    /// The quantized model's `DequantizeLinear` output (what the next nodes read).
    pub dequantized: String,
    /// The operator that produces the tensor in the FP32 model (`input` for the graph input).
    pub producer: String,
    /// Position of that producer in the FP32 graph's order (the graph input is 0).
    pub depth: usize,
    /// The pair's parameters (integer range narrowed by a Clip on the integers, if any).
    pub params: QuantParams,
    /// The integer container (int8, uint8, int16, uint16).
    pub qtype: QType,
}

/// Every `QuantizeLinear -> [Clip] -> DequantizeLinear` of `quantized` on a computed tensor
/// (per tensor), paired with the tensor of `fp32` it quantizes: the `QuantizeLinear`'s input,
/// or, when a graph output kept its name on the `DequantizeLinear` side, that output. Pairs
/// without an FP32 counterpart are left out; ordered by depth.
pub fn activation_matching(fp32: &Model, quantized: &Model) -> Result<Vec<ActivationPair>> {
    let g = &quantized.graph;
    let producers = g.producers();
    // FP32 tensors and their producers' positions.
    let mut depth: HashMap<&str, (usize, &str)> = HashMap::new();
    for i in &fp32.graph.inputs {
        depth.insert(i.name.as_str(), (0, "input"));
    }
    for (k, n) in fp32.graph.nodes.iter().enumerate() {
        for o in &n.outputs {
            depth.insert(o.as_str(), (k + 1, n.op_type.as_str()));
        }
    }
    let mut out = Vec::new();
    for dq in g.nodes.iter().filter(|n| n.op_type == "DequantizeLinear") {
        let Some(&p) = producers.get(dq.inputs[0].as_str()) else {
            continue;
        };
        let (clip, q) = match g.nodes[p].op_type.as_str() {
            "QuantizeLinear" => (None, &g.nodes[p]),
            "Clip" => match producers.get(g.nodes[p].inputs[0].as_str()) {
                Some(&qi) if g.nodes[qi].op_type == "QuantizeLinear" => {
                    (Some(&g.nodes[p]), &g.nodes[qi])
                }
                _ => continue,
            },
            _ => continue,
        };
        let x = &q.inputs[0];
        if g.initializer(x).is_some() {
            continue;
        }
        let Some((tensor, &(d, producer))) = [x, &dq.outputs[0]]
            .into_iter()
            .find_map(|t| depth.get_key_value(t.as_str()))
        else {
            continue;
        };
        let constant = |name: Option<&String>| -> Result<Option<(Vec<f32>, DType)>> {
            match name.filter(|n| !n.is_empty()) {
                None => Ok(None),
                Some(n) => {
                    let t = g.initializer(n).ok_or_else(|| {
                        QuantError::Shape(format!("{}: {n} is not a constant", q.name))
                    })?;
                    Ok(Some((tensor_f32(t)?, t.dtype)))
                }
            }
        };
        let Some((scale, _)) = constant(q.inputs.get(1))? else {
            continue;
        };
        if scale.len() != 1 {
            continue; // per-axis activations are not compared here
        }
        let (zp, dtype) = constant(q.inputs.get(2))?.unwrap_or((vec![0.0], DType::U8));
        let qtype = match dtype {
            DType::I8 => QType::INT8,
            DType::U8 => QType::UINT8,
            DType::I16 => QType::INT16,
            DType::U16 => QType::UINT16,
            other => {
                return Err(QuantError::Shape(format!(
                    "{}: zero point of type {other:?}",
                    q.name
                )))
            }
        };
        let (mut qmin, mut qmax) = qtype.full_range();
        if let Some(c) = clip {
            if let Some((v, _)) = constant(c.inputs.get(1))? {
                qmin = qmin.max(v[0] as i32);
            }
            if let Some((v, _)) = constant(c.inputs.get(2))? {
                qmax = qmax.min(v[0] as i32);
            }
        }
        let params = QuantParams::new(scale[0], zp[0] as i32, qmin, qmax)
            .map_err(|e| e.context(tensor.to_string()))?;
        out.push(ActivationPair {
            tensor: tensor.to_string(),
            dequantized: dq.outputs[0].clone(),
            producer: producer.to_string(),
            depth: d,
            params,
            qtype,
        });
    }
    out.sort_by_key(|p| p.depth);
    Ok(out)
}
