//! Graph pre-processing before quantization, as ONNX Runtime's `quant_pre_process` prepares a
//! model (`onnxruntime/python/tools/quantization/shape_inference.py`: symbolic shape inference,
//! then an ONNX Runtime optimization pass that folds constants, batch norms and removes no-op
//! nodes). Real exported models carry unfused `BatchNormalization`, `Constant` nodes and
//! `Identity`/`Dropout` nodes; the recipes expect weights as initializers and batch norm folded
//! into the convolution (which is what per-channel weight quantization is computed on).
//!
//! Each pass is its own file and keeps the graph's tensor names where it can: a folded batch
//! norm's convolution writes the batch norm's output name, a removed `Identity` hands its output
//! name to the readers' input, so calibration ranges keyed by name stay meaningful.

mod batch_norm;
mod constants;
mod identity;
mod opset;

pub use batch_norm::fold_batch_norms;
pub use constants::constants_to_initializers;
pub use identity::remove_identities;
pub use opset::raise_to_13;

use qbench_onnx::{Graph, Model};

use crate::error::Result;

/// The pre-processed model and what the passes did (for the row's notes).
#[derive(Clone, Debug)]
pub struct Prepared {
    pub model: Model,
    pub notes: Vec<String>,
}

/// Gives every node without a name, or with a name an earlier node has, a fresh one
/// (`<op_type>_<position>`): recipes key weights and overrides by node name, so two unnamed
/// convolutions would otherwise share one entry. Returns how many were named.
fn name_nodes(g: &mut Graph) -> usize {
    let mut seen = std::collections::HashSet::new();
    let mut renamed = 0;
    for i in 0..g.nodes.len() {
        let name = g.nodes[i].name.clone();
        if !name.is_empty() && seen.insert(name) {
            continue;
        }
        let fresh = g.fresh_name(&format!("{}_{i}", g.nodes[i].op_type));
        g.nodes[i].name = fresh.clone();
        seen.insert(fresh);
        renamed += 1;
    }
    renamed
}

/// Runs every pass: constants into initializers, no-op removal, node names, batch-norm folding,
/// and the raise of an opset-11/12 model to 13 where it is exact (per-channel weights need 13).
pub fn pre_process(model: &Model) -> Result<Prepared> {
    let mut m = model.clone();
    let mut notes = Vec::new();
    let n = constants_to_initializers(&mut m.graph)?;
    if n > 0 {
        notes.push(format!("{n} Constant node(s) made initializers"));
    }
    let n = remove_identities(&mut m.graph);
    if n > 0 {
        notes.push(format!("{n} Identity/Dropout node(s) removed"));
    }
    let n = name_nodes(&mut m.graph);
    if n > 0 {
        notes.push(format!("{n} unnamed or twice-named node(s) named"));
    }
    let n = fold_batch_norms(&mut m.graph)?;
    if n > 0 {
        notes.push(format!("{n} BatchNormalization node(s) folded into Conv"));
    }
    m.graph.prune_initializers();
    match raise_to_13(&mut m) {
        Ok(Some(note)) => notes.push(note),
        Ok(None) => {}
        Err(why) => notes.push(format!("opset not raised to 13: {why}")),
    }
    Ok(Prepared { model: m, notes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use qbench_onnx::Node;

    #[test]
    fn unnamed_and_twice_named_nodes_get_their_own_names() {
        let mut g = Graph {
            nodes: vec![
                Node::new("", "Conv", &["x"], &["a"]),
                Node::new("", "Conv", &["a"], &["b"]),
                Node::new("relu", "Relu", &["b"], &["c"]),
                Node::new("relu", "Relu", &["c"], &["d"]),
            ],
            ..Graph::default()
        };
        assert_eq!(name_nodes(&mut g), 3);
        let names: Vec<&str> = g.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["Conv_0", "Conv_1", "relu", "Relu_3"]);
        assert_eq!(name_nodes(&mut g), 0);
    }
}
