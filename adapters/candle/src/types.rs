//! ONNX element types of the graph's values, inferred once at load, and how each type is held
//! in candle.
//!
//! candle has no integer compute, so every value is held as a float tensor chosen so that it is
//! exact: `f32` for float32, float16 (rounded to the f16 grid after every node) and the 8/16-bit
//! integer types (|v| <= 65535 < 2^24); `f64` for int32/int64 (exact up to 2^53), which is what
//! `ConvInteger`/`MatMulInteger` produce.

use std::collections::HashMap;

use candle_core::{DType as CDType, Tensor};
use qbench_onnx::{Attribute, DType, Graph, Node};

/// ONNX element types of one node's inputs and outputs (`None` when unknown or omitted).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeTypes {
    pub inputs: Vec<Option<DType>>,
    pub outputs: Vec<Option<DType>>,
}

impl NodeTypes {
    /// Type of input `i`, if known.
    pub fn input(&self, i: usize) -> Option<DType> {
        self.inputs.get(i).copied().flatten()
    }

    /// Type of output `i`, if known.
    pub fn output(&self, i: usize) -> Option<DType> {
        self.outputs.get(i).copied().flatten()
    }
}

/// The candle dtype a value of ONNX type `ty` is held in.
pub fn holder(ty: DType) -> CDType {
    match ty {
        DType::I32 | DType::I64 => CDType::F64,
        _ => CDType::F32,
    }
}

/// Converts a node result to the holder of its ONNX type; float16 values are rounded to f16
/// (round to nearest even) and held in f32. Unknown types are left as computed.
pub fn hold(t: Tensor, ty: Option<DType>) -> Result<Tensor, String> {
    let e = |err: candle_core::Error| err.to_string();
    match ty {
        None => Ok(t),
        Some(DType::F16) => t
            .to_dtype(CDType::F16)
            .and_then(|t| t.to_dtype(CDType::F32))
            .map_err(e),
        Some(ty) => t.to_dtype(holder(ty)).map_err(e),
    }
}

/// The ONNX type a `Cast` converts to (its `to` attribute).
pub fn cast_target(node: &Node) -> Result<DType, String> {
    match node.attr("to") {
        Some(Attribute::Int(code)) => DType::from_onnx(*code as i32).map_err(|_| {
            format!(
                "Cast to ONNX type {code} is not supported (only FLOAT, FLOAT16, INT8, UINT8, \
                 INT16, UINT16, INT32, INT64)"
            )
        }),
        _ => Err("Cast has no integer attribute `to`".into()),
    }
}

/// Output types of one node from its input types.
fn output_types(node: &Node, inputs: &[Option<DType>]) -> Result<Vec<Option<DType>>, String> {
    let input = |i: usize| inputs.get(i).copied().flatten();
    let n = node.outputs.len();
    let ty = match node.op_type.as_str() {
        "Cast" => Some(cast_target(node)?),
        "QuantizeLinear" => {
            if node.inputs.get(2).is_some_and(|z| !z.is_empty()) {
                Some(input(2).ok_or("the zero point's element type is unknown")?)
            } else {
                match node.attr_int("output_dtype", 0) {
                    0 => Some(DType::U8),
                    code => Some(DType::from_onnx(code as i32).map_err(|err| err.to_string())?),
                }
            }
        }
        "DequantizeLinear" => Some(match input(1) {
            Some(DType::F16) => DType::F16,
            _ => DType::F32,
        }),
        "DynamicQuantizeLinear" => {
            return Ok([Some(DType::U8), Some(DType::F32), Some(DType::U8)][..n.min(3)].to_vec())
        }
        "ConvInteger" | "MatMulInteger" => Some(DType::I32),
        "Shape" => Some(DType::I64),
        "QLinearConv" => Some(input(7).ok_or("QLinearConv's y_zero_point type is unknown")?),
        "Constant" => Some(match node.attr("value") {
            Some(Attribute::Tensor(t)) => t.dtype,
            _ if node.attr("value_int").is_some() || node.attr("value_ints").is_some() => {
                DType::I64
            }
            _ => DType::F32,
        }),
        _ => input(0),
    };
    Ok(vec![ty; n])
}

/// Infers the element type of every node input and output, in node order (the graph must be
/// topologically sorted). Initializers and declared graph inputs seed the types.
pub fn infer(graph: &Graph) -> Result<Vec<NodeTypes>, String> {
    let mut known: HashMap<&str, DType> = HashMap::new();
    for t in &graph.initializers {
        known.insert(&t.name, t.dtype);
    }
    for v in &graph.inputs {
        known.insert(&v.name, v.dtype);
    }
    let mut out = Vec::with_capacity(graph.nodes.len());
    for node in &graph.nodes {
        let inputs: Vec<Option<DType>> = node
            .inputs
            .iter()
            .map(|x| known.get(x.as_str()).copied())
            .collect();
        let outputs = output_types(node, &inputs)
            .map_err(|r| format!("node {} ({}): {r}", node.name, node.op_type))?;
        for (name, ty) in node.outputs.iter().zip(&outputs) {
            if let Some(ty) = ty {
                known.insert(name, *ty);
            }
        }
        out.push(NodeTypes { inputs, outputs });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use qbench_onnx::{TensorData, ValueInfo};

    #[test]
    fn types_flow_through_quantized_ops() {
        let graph = Graph {
            nodes: vec![
                Node::new("dq", "DynamicQuantizeLinear", &["x"], &["xq", "xs", "xz"]),
                Node::new("mm", "MatMulInteger", &["xq", "w", "xz", "wz"], &["acc"]),
                Node::new("c", "Cast", &["acc"], &["accf"]).with_attr("to", Attribute::Int(1)),
                Node::new("q", "QuantizeLinear", &["accf", "s", "z16"], &["q"]),
                Node::new("r", "Reshape", &["q", "shape"], &["qr"]),
            ],
            initializers: vec![
                TensorData::from_i8("w", vec![1], &[1]),
                TensorData::from_i8("wz", vec![], &[0]),
                TensorData::from_f32("s", vec![], &[1.0]),
                TensorData::from_i16("z16", vec![], &[0]),
                TensorData::from_i64("shape", vec![1], &[-1]),
            ],
            inputs: vec![ValueInfo {
                name: "x".into(),
                dtype: DType::F32,
                shape: vec![],
            }],
            ..Graph::default()
        };
        let t = infer(&graph).unwrap();
        assert_eq!(
            t[0].outputs,
            vec![Some(DType::U8), Some(DType::F32), Some(DType::U8)]
        );
        assert_eq!(t[1].outputs, vec![Some(DType::I32)]);
        assert_eq!(t[2].outputs, vec![Some(DType::F32)]);
        assert_eq!(t[3].outputs, vec![Some(DType::I16)]);
        assert_eq!(t[4].inputs, vec![Some(DType::I16), Some(DType::I64)]);
        assert_eq!(t[4].outputs, vec![Some(DType::I16)]);
        // An unsupported Cast target is reported with the node.
        let bad = Graph {
            nodes: vec![Node::new("c", "Cast", &["x"], &["y"]).with_attr("to", Attribute::Int(11))],
            ..Graph::default()
        };
        let err = infer(&bad).unwrap_err();
        assert!(err.contains("node c (Cast)") && err.contains("11"), "{err}");
    }

    #[test]
    fn shape_outputs_int64_which_flows_on() {
        let graph = Graph {
            nodes: vec![
                Node::new("s", "Shape", &["x"], &["sh"]),
                Node::new("g", "Gather", &["sh", "i"], &["n"]),
            ],
            initializers: vec![TensorData::from_i64("i", vec![], &[0])],
            inputs: vec![ValueInfo {
                name: "x".into(),
                dtype: DType::F16,
                shape: vec![],
            }],
            ..Graph::default()
        };
        let t = infer(&graph).unwrap();
        assert_eq!(t[0].outputs, vec![Some(DType::I64)]);
        assert_eq!(t[1].outputs, vec![Some(DType::I64)]);
    }
}
