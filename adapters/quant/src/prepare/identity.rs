//! `Identity` and inference-mode `Dropout` nodes are removed: their readers read the input
//! directly (ONNX Runtime's `EliminateIdentity` / `EliminateDropout`). A node whose output is a
//! graph output is kept, so the model's output names never change.

use std::collections::HashSet;

use qbench_onnx::Graph;

/// Removes no-op nodes; returns how many.
pub fn remove_identities(g: &mut Graph) -> usize {
    let outputs: HashSet<String> = g.outputs.iter().map(|o| o.name.clone()).collect();
    let mut removed = 0;
    loop {
        let hit = g.nodes.iter().position(|n| {
            let no_op = match n.op_type.as_str() {
                "Identity" => true,
                // Dropout's mask output must be unused; in inference it passes its input on.
                "Dropout" => {
                    n.outputs.iter().skip(1).all(|o| o.is_empty()) || {
                        let mask = &n.outputs[1];
                        !g.nodes.iter().any(|m| m.inputs.contains(mask)) && !outputs.contains(mask)
                    }
                }
                _ => false,
            };
            n.domain.is_empty()
                && no_op
                && !n.inputs.is_empty()
                && !n.inputs[0].is_empty()
                && !outputs.contains(&n.outputs[0])
        });
        let Some(i) = hit else { return removed };
        let node = g.nodes.remove(i);
        let (from, to) = (&node.outputs[0], &node.inputs[0]);
        for n in g.nodes.iter_mut() {
            for x in n.inputs.iter_mut().filter(|x| *x == from) {
                *x = to.clone();
            }
        }
        removed += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qbench_onnx::{DType, Node, ValueInfo};

    #[test]
    fn identities_and_dropouts_go_graph_outputs_stay() {
        let mut g = Graph::default();
        g.nodes.push(Node::new("i", "Identity", &["x"], &["a"]));
        g.nodes
            .push(Node::new("d", "Dropout", &["a"], &["b", "mask"]));
        g.nodes.push(Node::new("r", "Relu", &["b"], &["c"]));
        g.nodes.push(Node::new("o", "Identity", &["c"], &["y"]));
        g.outputs.push(ValueInfo {
            name: "y".into(),
            dtype: DType::F32,
            shape: vec![],
        });
        assert_eq!(remove_identities(&mut g), 2);
        assert_eq!(g.nodes.len(), 2);
        assert_eq!(g.nodes[0].inputs, vec!["x".to_string()]);
        assert_eq!(g.nodes[1].op_type, "Identity");
    }
}
