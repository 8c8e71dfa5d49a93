//! Raising a model of opset 11 or 12 to opset 13, where that does not change what it computes.
//!
//! Per-axis `DequantizeLinear` (per-channel and blocked weights) and qbench's QOperator-lite
//! form need opset 13. ONNX Runtime's QDQ quantizer refuses per-channel weights below 13 ("Per-
//! Channel support with QDQ format requires onnx opset version 13 or above") and leaves the
//! conversion to the user (`onnx.version_converter.convert_version(model, 13)`); qbench does
//! that conversion itself when it is exact, so that exported models of opset 11/12 (PaddleOCR's,
//! many `torch.onnx.export`s) get every recipe.
//!
//! Between opsets 11 and 13, most operators only gained types (bfloat16, more integer types);
//! these change meaning or signature (ONNX's `Changelog.md`):
//! - `Squeeze`, `Unsqueeze` (13): the `axes` attribute became an input: converted here;
//! - `Softmax`, `LogSoftmax`, `Hardmax` (13): below 13 the input is coerced to 2-D at `axis`
//!   (default 1), from 13 the operation runs along `axis` (default -1). The two agree when `axis`
//!   is the last axis: kept (with the axis written out) when the rank is known from the graph's
//!   declared shapes and `axis` is the last one, refused otherwise;
//! - `Split` (13: `split` became an input), `ReduceSum` (13: `axes` became an input), `Dropout`
//!   (12: `ratio` became an input; qbench removes Dropout nodes before this pass): refused;
//! - any operator not known to be unchanged: refused.
//!
//! A refusal leaves the model at its opset; the recipes that need 13 then fail with their own
//! reason, and the pass reports which node prevented the raise.

use std::collections::HashMap;

use qbench_onnx::{Attribute, Graph, Model, Node, TensorData};

/// Operators whose opset-13 definition computes the same as their opset-11/12 one for the same
/// attributes and inputs (changes limited to added types).
const UNCHANGED: &[&str] = &[
    "Abs",
    "Acos",
    "Add",
    "And",
    "ArgMax",
    "ArgMin",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Ceil",
    "Clip",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "Conv",
    "ConvTranspose",
    "Cos",
    "DepthToSpace",
    "Div",
    "Elu",
    "Equal",
    "Erf",
    "Exp",
    "Expand",
    "Flatten",
    "Floor",
    "Gather",
    "GatherElements",
    "GatherND",
    "Gemm",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Greater",
    "HardSigmoid",
    "Identity",
    "InstanceNormalization",
    "LeakyRelu",
    "Less",
    "Log",
    "LRN",
    "MatMul",
    "Max",
    "MaxPool",
    "Mean",
    "Min",
    "Mul",
    "Neg",
    "NonZero",
    "Not",
    "Or",
    "Pad",
    "Pow",
    "PRelu",
    "Range",
    "Reciprocal",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceProd",
    "Relu",
    "Reshape",
    "Resize",
    "Selu",
    "Shape",
    "Sigmoid",
    "Sign",
    "Sin",
    "Size",
    "Slice",
    "Softplus",
    "Softsign",
    "SpaceToDepth",
    "Sqrt",
    "Sub",
    "Sum",
    "Tanh",
    "Tile",
    "TopK",
    "Transpose",
    "Upsample",
    "Where",
    "Xor",
    "QuantizeLinear",
    "DequantizeLinear",
];

/// Raises the default-domain opset of `m` from 11 or 12 to 13 when no operator changes meaning,
/// converting `Squeeze`/`Unsqueeze` axes to inputs. Returns `Ok(note)` describing what happened
/// (`None`: nothing to do, the model is not of opset 11/12) or `Err(reason)` naming the node that
/// prevents it (the model is left unchanged).
pub fn raise_to_13(m: &mut Model) -> Result<Option<String>, String> {
    let opset = match m.opset() {
        Some(v @ (11 | 12)) => v,
        _ => return Ok(None),
    };
    let ranks = declared_ranks(&m.graph);
    // Identity nodes: input -> output.
    let identity_of: HashMap<&str, &str> = m
        .graph
        .nodes
        .iter()
        .filter(|n| n.op_type == "Identity" && default_domain(n))
        .filter_map(|n| Some((n.inputs.first()?.as_str(), n.outputs.first()?.as_str())))
        .collect();
    for n in m.graph.nodes.iter().filter(|n| default_domain(n)) {
        let op = n.op_type.as_str();
        match op {
            "Squeeze" | "Unsqueeze" => {}
            "Softmax" | "LogSoftmax" | "Hardmax" => {
                let rank = n
                    .inputs
                    .first()
                    .and_then(|i| ranks.get(i.as_str()))
                    .or_else(|| n.outputs.first().and_then(|o| ranks.get(o.as_str())))
                    .or_else(|| {
                        // The output handed on unchanged (an Identity in front of the graph
                        // output, as exporters write it) has the same rank.
                        let mut t = n.outputs.first()?.as_str();
                        while let Some(next) = identity_of.get(t) {
                            if let Some(r) = ranks.get(next) {
                                return Some(r);
                            }
                            t = next;
                        }
                        None
                    });
                let axis = n.attr_int("axis", 1);
                let last = axis == -1 || rank.is_some_and(|&r| axis == r as i64 - 1);
                if !last {
                    return Err(format!(
                        "{op} node {:?} has axis {axis} on an input of {} rank: its meaning \
                         changed at opset 13 unless the axis is the last one",
                        n.name,
                        rank.map_or("unknown".to_string(), |r| r.to_string())
                    ));
                }
            }
            _ if UNCHANGED.contains(&op) => {}
            _ => {
                return Err(format!(
                    "{op} node {:?} is not known to mean the same at opset 13",
                    n.name
                ))
            }
        }
    }
    let g = &mut m.graph;
    let mut converted = 0;
    let mut new_inits = Vec::new();
    for n in g.nodes.iter_mut().filter(|n| default_domain(n)) {
        match n.op_type.as_str() {
            "Squeeze" | "Unsqueeze" => {
                if let Some(axes) = n.attr_ints("axes").map(<[i64]>::to_vec) {
                    let name = format!("{}_axes_opset13", n.outputs[0]);
                    new_inits.push(TensorData::from_i64(
                        name.clone(),
                        vec![axes.len() as i64],
                        &axes,
                    ));
                    n.attributes.retain(|(k, _)| k != "axes");
                    n.inputs.truncate(1);
                    n.inputs.push(name);
                    converted += 1;
                }
            }
            "Softmax" | "LogSoftmax" | "Hardmax" => {
                // Write the axis out: the default changed from 1 to -1.
                let axis = n.attr_int("axis", 1);
                n.attributes.retain(|(k, _)| k != "axis");
                n.attributes.push(("axis".into(), Attribute::Int(axis)));
            }
            _ => {}
        }
    }
    g.initializers.extend(new_inits);
    for (d, v) in m.opset_imports.iter_mut() {
        if d.is_empty() || d == "ai.onnx" {
            *v = 13;
        }
    }
    m.ir_version = m.ir_version.max(7);
    Ok(Some(format!(
        "opset {opset} raised to 13 (no operator of this graph changes meaning{})",
        if converted > 0 {
            format!("; {converted} Squeeze/Unsqueeze axes made inputs")
        } else {
            String::new()
        }
    )))
}

fn default_domain(n: &Node) -> bool {
    n.domain.is_empty() || n.domain == "ai.onnx"
}

/// Ranks of the tensors whose shapes the graph declares (inputs, outputs, value_info).
fn declared_ranks(g: &Graph) -> HashMap<&str, usize> {
    g.inputs
        .iter()
        .chain(&g.outputs)
        .chain(&g.value_info)
        .filter(|v| !v.shape.is_empty())
        .map(|v| (v.name.as_str(), v.shape.len()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use qbench_onnx::{DType, Dim, ValueInfo};

    fn model(opset: i64, nodes: Vec<Node>, outputs: Vec<ValueInfo>) -> Model {
        let g = Graph {
            nodes,
            outputs,
            ..Graph::default()
        };
        Model::new(g, opset)
    }

    fn out(name: &str, rank: usize) -> ValueInfo {
        ValueInfo {
            name: name.into(),
            dtype: DType::F32,
            shape: vec![Dim::Param("n".into()); rank],
        }
    }

    #[test]
    fn raises_a_plain_graph_and_converts_squeeze_axes() {
        let nodes = vec![
            Node::new("c", "Conv", &["x", "w"], &["y"]),
            Node::new("s", "Squeeze", &["y"], &["z"])
                .with_attr("axes", Attribute::Ints(vec![2, 3])),
            Node::new("sm", "Softmax", &["z"], &["p"]).with_attr("axis", Attribute::Int(1)),
        ];
        let mut m = model(11, nodes, vec![out("p", 2)]);
        let note = raise_to_13(&mut m).unwrap().unwrap();
        assert!(
            note.contains("opset 11 raised to 13") && note.contains("1 Squeeze"),
            "{note}"
        );
        assert_eq!(m.opset(), Some(13));
        let s = &m.graph.nodes[1];
        assert!(s.attr("axes").is_none());
        assert_eq!(s.inputs, ["y", "z_axes_opset13"]);
        let axes = m
            .graph
            .initializers
            .iter()
            .find(|t| t.name == "z_axes_opset13")
            .unwrap();
        assert_eq!(axes.to_i64().unwrap(), vec![2, 3]);
        assert_eq!(m.graph.nodes[2].attr_int("axis", -1), 1);
    }

    #[test]
    fn refuses_what_would_change_meaning_and_leaves_the_model() {
        // Softmax over axis 1 of a rank-4 tensor: 2-D coercion below 13, one axis from 13.
        let nodes = vec![Node::new("sm", "Softmax", &["x"], &["p"])];
        let mut m = model(12, nodes, vec![out("p", 4)]);
        let before = m.clone();
        let e = raise_to_13(&mut m).unwrap_err();
        assert!(
            e.contains("Softmax node \"sm\" has axis 1") && e.contains("rank"),
            "{e}"
        );
        assert_eq!(m, before);
        // The rank is known through an Identity in front of the graph output.
        let nodes = vec![
            Node::new("sm", "Softmax", &["x"], &["p"]).with_attr("axis", Attribute::Int(1)),
            Node::new("id", "Identity", &["p"], &["out"]),
        ];
        let mut m = model(11, nodes, vec![out("out", 2)]);
        assert!(raise_to_13(&mut m).unwrap().is_some());
        // Unknown rank: refused too.
        let mut m = model(12, vec![Node::new("sm", "Softmax", &["x"], &["p"])], vec![]);
        assert!(raise_to_13(&mut m).unwrap_err().contains("unknown rank"));
        // Split's attribute became an input.
        let nodes = vec![Node::new("sp", "Split", &["x"], &["a", "b"])];
        let mut m = model(11, nodes, vec![]);
        assert!(raise_to_13(&mut m)
            .unwrap_err()
            .contains("Split node \"sp\""));
        // Other opsets: nothing to do.
        let mut m = model(13, vec![Node::new("sp", "Split", &["x"], &["a"])], vec![]);
        assert_eq!(raise_to_13(&mut m), Ok(None));
        let mut m = model(10, vec![], vec![]);
        assert_eq!(raise_to_13(&mut m), Ok(None));
    }
}
