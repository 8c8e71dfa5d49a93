//! `Constant` nodes become initializers (ONNX Runtime's constant folding does the same), so a
//! recipe finds a convolution's weight whether the exporter wrote it as an initializer or as a
//! `Constant` node.

use qbench_onnx::{Attribute, Graph, TensorData};

use crate::error::{QuantError, Result};

fn value(name: &str, attr: &str, a: &Attribute) -> Result<Option<TensorData>> {
    Ok(Some(match (attr, a) {
        ("value", Attribute::Tensor(t)) => TensorData {
            name: name.to_string(),
            ..t.clone()
        },
        ("value_float", Attribute::Float(v)) => TensorData::from_f32(name, vec![], &[*v]),
        ("value_floats", Attribute::Floats(v)) => {
            TensorData::from_f32(name, vec![v.len() as i64], v)
        }
        ("value_int", Attribute::Int(v)) => TensorData::from_i64(name, vec![], &[*v]),
        ("value_ints", Attribute::Ints(v)) => TensorData::from_i64(name, vec![v.len() as i64], v),
        // Sparse tensors and strings: left as nodes for the runtimes.
        _ => return Ok(None),
    }))
}

/// Replaces every default-domain `Constant` node holding a dense tensor by an initializer of
/// the same name; returns how many were replaced.
pub fn constants_to_initializers(g: &mut Graph) -> Result<usize> {
    let mut moved = 0;
    let mut keep = Vec::with_capacity(g.nodes.len());
    for node in std::mem::take(&mut g.nodes) {
        let is_const = node.op_type == "Constant" && node.domain.is_empty();
        let t = match (is_const, node.outputs.first(), node.attributes.first()) {
            (true, Some(out), Some((attr, a))) => value(out, attr, a)?,
            _ => None,
        };
        match t {
            Some(t) => {
                t.validate()
                    .map_err(|e| QuantError::Shape(format!("Constant node {}: {e}", node.name)))?;
                g.add_initializer(t);
                moved += 1;
            }
            None => keep.push(node),
        }
    }
    g.nodes = keep;
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use qbench_onnx::Node;

    #[test]
    fn constants_become_initializers() {
        let mut g = Graph::default();
        g.nodes
            .push(Node::new("c", "Constant", &[], &["w"]).with_attr(
                "value",
                Attribute::Tensor(TensorData::from_f32("ignored", vec![2], &[1.0, 2.0])),
            ));
        g.nodes.push(
            Node::new("s", "Constant", &[], &["k"])
                .with_attr("value_ints", Attribute::Ints(vec![1, -1])),
        );
        g.nodes.push(Node::new("add", "Add", &["x", "w"], &["y"]));
        assert_eq!(constants_to_initializers(&mut g).unwrap(), 2);
        assert_eq!(g.nodes.len(), 1);
        assert_eq!(
            g.initializer("w").unwrap().to_f32().unwrap(),
            vec![1.0, 2.0]
        );
        assert_eq!(g.initializer("k").unwrap().to_i64().unwrap(), vec![1, -1]);
    }
}
