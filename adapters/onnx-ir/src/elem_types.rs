//! Element types of a graph's values, inferred from the inputs, the initializers and each
//! operator's type rule (ONNX operator specification). Codes are ONNX `TensorProto.DataType`
//! numbers, so types the IR does not store (bool, double) are still known. Values whose type
//! cannot be told (control flow, other domains, unknown inputs) are absent.

use std::collections::HashMap;

use crate::{Attribute, Graph, Node};

/// ONNX `TensorProto.DataType` codes used below.
pub mod code {
    pub const FLOAT: i32 = 1;
    pub const UINT8: i32 = 2;
    pub const INT64: i32 = 7;
    pub const BOOL: i32 = 9;
}

fn outputs_of(node: &Node, inputs: &[Option<i32>]) -> Vec<Option<i32>> {
    let input = |i: usize| inputs.get(i).copied().flatten();
    let n = node.outputs.len();
    let all = |t: Option<i32>| vec![t; n];
    if !node.domain.is_empty() && node.domain != "ai.onnx" {
        return all(None);
    }
    match node.op_type.as_str() {
        "Shape" | "Size" | "ArgMax" | "ArgMin" | "NonZero" | "NonMaxSuppression" => {
            all(Some(code::INT64))
        }
        "Equal" | "Less" | "Greater" | "LessOrEqual" | "GreaterOrEqual" | "Not" | "And" | "Or"
        | "Xor" | "IsNaN" | "IsInf" => all(Some(code::BOOL)),
        "Cast" => all(match node.attr("to") {
            Some(Attribute::Int(c)) => Some(*c as i32),
            _ => None,
        }),
        "CastLike" => all(input(1)),
        "Constant" => all(match node.attributes.first() {
            Some((_, Attribute::Tensor(t))) => Some(t.dtype.onnx_code()),
            Some((_, Attribute::Float(_) | Attribute::Floats(_))) => Some(code::FLOAT),
            Some((_, Attribute::Int(_) | Attribute::Ints(_))) => Some(code::INT64),
            _ => None,
        }),
        "ConstantOfShape" => all(match node.attr("value") {
            Some(Attribute::Tensor(t)) => Some(t.dtype.onnx_code()),
            _ => Some(code::FLOAT),
        }),
        "QuantizeLinear" => all(match node.inputs.get(2).filter(|z| !z.is_empty()) {
            Some(_) => input(2),
            None => match node.attr("output_dtype") {
                Some(Attribute::Int(c)) if *c != 0 => Some(*c as i32),
                _ => Some(code::UINT8),
            },
        }),
        "DequantizeLinear" => all(Some(code::FLOAT)),
        "DynamicQuantizeLinear" => [Some(code::UINT8), Some(code::FLOAT), Some(code::UINT8)]
            .into_iter()
            .take(n)
            .collect(),
        "TopK" => [input(0), Some(code::INT64)].into_iter().take(n).collect(),
        "Where" => all(input(1)),
        "LayerNormalization" => [input(0), Some(code::FLOAT), Some(code::FLOAT)]
            .into_iter()
            .take(n)
            .collect(),
        "If" | "Loop" | "Scan" | "SequenceConstruct" | "SplitToSequence" => all(None),
        _ => all(input(0)),
    }
}

/// The element type of every value the graph defines (inputs, initializers, node outputs), as
/// far as it can be told. The graph must be topologically sorted.
pub fn elem_types(graph: &Graph) -> HashMap<String, i32> {
    let mut known: HashMap<String, i32> = HashMap::new();
    for t in &graph.initializers {
        known.insert(t.name.clone(), t.dtype.onnx_code());
    }
    for v in &graph.inputs {
        known.entry(v.name.clone()).or_insert(v.dtype.onnx_code());
    }
    for node in &graph.nodes {
        let inputs: Vec<Option<i32>> = node.inputs.iter().map(|x| known.get(x).copied()).collect();
        for (name, ty) in node.outputs.iter().zip(outputs_of(node, &inputs)) {
            if let (false, Some(ty)) = (name.is_empty(), ty) {
                known.insert(name.clone(), ty);
            }
        }
    }
    known
}

/// Names of the float32 values that nodes compute (and the graph inputs), in graph order:
/// what a calibrator observes.
pub fn float_values(graph: &Graph) -> Vec<String> {
    let types = elem_types(graph);
    let is_float = |n: &str| types.get(n) == Some(&code::FLOAT);
    graph
        .inputs
        .iter()
        .filter(|v| graph.initializer(&v.name).is_none())
        .map(|v| v.name.clone())
        .chain(graph.nodes.iter().flat_map(|n| n.outputs.iter().cloned()))
        .filter(|n| !n.is_empty() && is_float(n))
        .fold(Vec::new(), |mut v, n| {
            if !v.contains(&n) {
                v.push(n);
            }
            v
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DType, TensorData, ValueInfo};

    #[test]
    fn shapes_and_comparisons_are_not_float() {
        let g = Graph {
            inputs: vec![ValueInfo {
                name: "x".into(),
                dtype: DType::F32,
                shape: vec![],
            }],
            initializers: vec![TensorData::from_i64("idx", vec![], &[0])],
            nodes: vec![
                Node::new("s", "Shape", &["x"], &["s"]),
                Node::new("g", "Gather", &["s", "idx"], &["n"]),
                Node::new("r", "Relu", &["x"], &["y"]),
                Node::new("e", "Equal", &["y", "x"], &["m"]),
                Node::new("w", "Where", &["m", "y", "x"], &["z"]),
                Node::new("c", "Cast", &["n"], &["nf"]).with_attr("to", Attribute::Int(1)),
            ],
            ..Graph::default()
        };
        let t = elem_types(&g);
        assert_eq!(t["s"], code::INT64);
        assert_eq!(t["n"], code::INT64);
        assert_eq!(t["m"], code::BOOL);
        assert_eq!(float_values(&g), vec!["x", "y", "z", "nf"]);
    }
}
