//! The before-running support check: [`check_model`] walks every node and reports the first
//! one this backend cannot run, from the operator, its domain and its attributes alone (no
//! data). The attribute checks are the ones the kernels run (`ops_*::check`), so a model that
//! passes is not rejected later for an attribute; shapes and input values are still checked when
//! the nodes run.

use qbench_onnx::{Attribute, Model, Node};

use crate::ops::SUPPORTED_OPS;
use crate::tensor_util::R;
use crate::{
    ops_activation, ops_conv, ops_conv_transpose, ops_norm, ops_pad, ops_pool, ops_resize, types,
};

/// Returns `Ok(())` when every node of the model is an operator this backend implements with
/// attributes it supports; otherwise a message naming the first offending node, its operator
/// and the limiting attribute, e.g. `unsupported: Resize with mode cubic (node "up1")` or
/// `operator com.microsoft.QLinearAdd is not implemented (node "q")`.
pub fn check_model(model: &Model) -> Result<(), String> {
    let opset = model.opset();
    for node in &model.graph.nodes {
        let default_domain = node.domain.is_empty() || node.domain == "ai.onnx";
        if !default_domain {
            return Err(format!(
                "operator {}.{} is not implemented (node \"{}\")",
                node.domain, node.op_type, node.name
            ));
        }
        if !SUPPORTED_OPS.contains(&node.op_type.as_str()) {
            return Err(format!(
                "operator {} is not implemented (node \"{}\")",
                node.op_type, node.name
            ));
        }
        check_node(model, opset, node)
            .map_err(|what| format!("unsupported: {what} (node \"{}\")", node.name))?;
    }
    Ok(())
}

/// A constant weight's kernel rank must be 2-D.
fn check_weight(model: &Model, node: &Node, input: usize) -> R<()> {
    let Some(w) = node
        .inputs
        .get(input)
        .and_then(|w| model.graph.initializer(w))
    else {
        return Ok(()); // computed at load or run time: checked when the node runs
    };
    if w.dims.len() != 4 {
        return Err(format!(
            "{} with {}-D kernel",
            node.op_type,
            w.dims.len().saturating_sub(2)
        ));
    }
    Ok(())
}

fn check_node(model: &Model, _opset: Option<i64>, node: &Node) -> R<()> {
    match node.op_type.as_str() {
        "Conv" | "ConvInteger" => {
            ops_conv::check(node)?;
            check_weight(model, node, 1)
        }
        "QLinearConv" => {
            ops_conv::check(node)?;
            check_weight(model, node, 3)
        }
        "ConvTranspose" => {
            ops_conv_transpose::check(node)?;
            check_weight(model, node, 1)
        }
        "MaxPool" | "AveragePool" => ops_pool::check(node),
        "BatchNormalization" => ops_norm::check(node),
        "Resize" | "Upsample" => ops_resize::check(node),
        "Pad" => ops_pad::check(node),
        "Dropout" => ops_activation::check_dropout(node),
        // Below opset 13 the session marks Softmax for the kernel's 2-D coercion.
        "Softmax" => Ok(()),
        "Cast" => types::cast_target(node)
            .map(|_| ())
            .map_err(|_| match node.attr("to") {
                Some(Attribute::Int(code)) => format!("Cast with to {code}"),
                _ => "Cast without an integer attribute to".into(),
            }),
        "Constant" => match node.attributes.first().map(|(n, _)| n.as_str()) {
            Some("value" | "value_float" | "value_floats" | "value_int" | "value_ints") => Ok(()),
            Some(other) => Err(format!("Constant with attribute {other}")),
            None => Err("Constant without a value".into()),
        },
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qbench_onnx::{Graph, TensorData};

    fn model(nodes: Vec<Node>, opset: i64) -> Model {
        Model::new(
            Graph {
                name: "m".into(),
                nodes,
                ..Graph::default()
            },
            opset,
        )
    }

    fn check(node: Node) -> Result<(), String> {
        check_model(&model(vec![node], 17))
    }

    fn s(v: &str) -> Attribute {
        Attribute::String(v.into())
    }

    #[test]
    fn messages_name_the_node_operator_and_attribute() {
        let up = Node::new("up1", "Resize", &["x", "", "sc"], &["y"]).with_attr("mode", s("cubic"));
        assert_eq!(
            check(up).unwrap_err(),
            "unsupported: Resize with mode cubic (node \"up1\")"
        );
        let p = Node::new("p", "MaxPool", &["x"], &["y"])
            .with_attr("kernel_shape", Attribute::Ints(vec![2, 2, 2]));
        assert_eq!(
            check(p).unwrap_err(),
            "unsupported: MaxPool with 3-D kernel (node \"p\")"
        );
        let g = Node::new("g", "GridSample", &["x", "grid"], &["y"]);
        assert_eq!(
            check(g).unwrap_err(),
            "operator GridSample is not implemented (node \"g\")"
        );
        let mut q = Node::new("q", "QLinearAdd", &["a"], &["y"]);
        q.domain = "com.microsoft".into();
        assert_eq!(
            check(q).unwrap_err(),
            "operator com.microsoft.QLinearAdd is not implemented (node \"q\")"
        );
        // The explicit default domain name is the default domain.
        let mut r = Node::new("r", "Relu", &["x"], &["y"]);
        r.domain = "ai.onnx".into();
        assert!(check(r).is_ok());
    }

    #[test]
    fn attribute_limits_mirror_the_kernels() {
        let err = |n: Node| check(n).unwrap_err();
        let k2 = |op: &str| {
            Node::new("n", op, &["x"], &["y"])
                .with_attr("kernel_shape", Attribute::Ints(vec![2, 2]))
        };
        assert!(
            err(k2("MaxPool").with_attr("dilations", Attribute::Ints(vec![2, 2])))
                .contains("MaxPool with dilations [2, 2]")
        );
        assert!(err(Node::new("n", "AveragePool", &["x"], &["y"])).contains("without kernel_shape"));
        let mut mp = k2("MaxPool");
        mp.outputs.push("idx".into());
        assert!(err(mp).contains("MaxPool with Indices output"));
        let tc = Node::new("n", "Resize", &["x", "r", "s"], &["y"])
            .with_attr("coordinate_transformation_mode", s("tf_crop_and_resize"));
        assert!(err(tc).contains("coordinate_transformation_mode tf_crop_and_resize"));
        assert!(
            err(Node::new("n", "Pad", &["x", "p"], &["y"]).with_attr("mode", s("wrap")))
                .contains("Pad with mode wrap")
        );
        assert!(err(Node::new("n", "ConvTranspose", &["x", "w"], &["y"])
            .with_attr("output_shape", Attribute::Ints(vec![4, 4])))
        .contains("ConvTranspose with output_shape"));
        assert!(
            err(Node::new("n", "Conv", &["x", "w"], &["y"]).with_attr("auto_pad", s("SAME")))
                .contains("Conv with auto_pad SAME")
        );
        assert!(err(Node::new(
            "n",
            "BatchNormalization",
            &["x", "s", "b", "m", "v"],
            &["y"]
        )
        .with_attr("training_mode", Attribute::Int(1)))
        .contains("training_mode 1"));
        assert!(
            err(Node::new("n", "Cast", &["x"], &["y"]).with_attr("to", Attribute::Int(11)))
                .contains("Cast with to 11")
        );
        // Supported forms pass: SAME_UPPER conv, strides [2, 1], grouped; ceil-mode pooling.
        let conv = Node::new("n", "Conv", &["x", "w"], &["y"])
            .with_attr("auto_pad", s("SAME_UPPER"))
            .with_attr("strides", Attribute::Ints(vec![2, 1]))
            .with_attr("group", Attribute::Int(8));
        assert!(check(conv).is_ok());
        assert!(check(k2("AveragePool").with_attr("ceil_mode", Attribute::Int(1))).is_ok());
    }

    #[test]
    fn constant_weight_rank_and_legacy_softmax() {
        // A Conv1d weight [M, C, k] is rejected before running.
        let mut m = model(vec![Node::new("c1", "Conv", &["x", "w"], &["y"])], 13);
        m.graph
            .initializers
            .push(TensorData::from_f32("w", vec![1, 1, 3], &[1.0; 3]));
        assert_eq!(
            check_model(&m).unwrap_err(),
            "unsupported: Conv with 1-D kernel (node \"c1\")"
        );
        // Softmax at any opset and axis: the kernel implements both semantics.
        let sm = |axis: Option<i64>| {
            let n = Node::new("sm", "Softmax", &["x"], &["y"]);
            match axis {
                Some(a) => n.with_attr("axis", Attribute::Int(a)),
                None => n,
            }
        };
        assert!(check_model(&model(vec![sm(None)], 11)).is_ok());
        assert!(check_model(&model(vec![sm(Some(1))], 12)).is_ok());
        let with_rank =
            |node: Node, _rank: Option<usize>, opset: i64| check_model(&model(vec![node], opset));
        // From opset 13 any axis is fine.
        assert!(with_rank(sm(Some(1)), Some(4), 13).is_ok());
    }

    #[test]
    fn every_supported_operator_passes_with_default_attributes() {
        for op in SUPPORTED_OPS {
            let node = match *op {
                // These need an attribute to be valid at all.
                "MaxPool" | "AveragePool" => Node::new("n", op, &["x"], &["y"])
                    .with_attr("kernel_shape", Attribute::Ints(vec![3, 3])),
                "Constant" => {
                    Node::new("n", op, &[], &["y"]).with_attr("value_float", Attribute::Float(1.0))
                }
                "Cast" => Node::new("n", op, &["x"], &["y"]).with_attr("to", Attribute::Int(1)),
                _ => Node::new("n", op, &["x", "a", "b", "c", "d"], &["y"]),
            };
            assert_eq!(check(node), Ok(()), "{op}");
        }
    }
}
