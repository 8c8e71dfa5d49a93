//! Folds an inference-mode `BatchNormalization` that follows a `Conv` into the convolution's
//! weight and bias ([`crate::bn_fold::fold_batch_norm`], PyTorch's `fuse_conv_bn_weights`
//! arithmetic), as ONNX Runtime's `ConvBNFusion` does before quantization. The convolution
//! then writes the batch norm's output name. A batch norm whose input has other readers, is a
//! graph output, or whose parameters are not constants is left alone (backends run it).

use std::collections::HashSet;

use qbench_onnx::{Graph, TensorData};

use crate::bn_fold::{fold_batch_norm, BatchNorm};
use crate::error::{QuantError, Result};

fn floats(g: &Graph, name: &str) -> Option<Vec<f32>> {
    g.initializer(name).and_then(|t| t.to_f32().ok())
}

/// Folds every foldable Conv -> BatchNormalization pair; returns how many were folded.
pub fn fold_batch_norms(g: &mut Graph) -> Result<usize> {
    let outputs: HashSet<String> = g.outputs.iter().map(|o| o.name.clone()).collect();
    let mut folded = 0;
    loop {
        let consumers = g.consumers();
        let producers = g.producers();
        let hit = g.nodes.iter().enumerate().find_map(|(i, bn)| {
            if bn.op_type != "BatchNormalization" || !bn.domain.is_empty() || bn.inputs.len() < 5 {
                return None;
            }
            if bn.attr_int("training_mode", 0) != 0
                || bn.outputs.iter().skip(1).any(|o| !o.is_empty())
            {
                return None;
            }
            let x = bn.inputs[0].as_str();
            let p = *producers.get(x)?;
            let conv = &g.nodes[p];
            let single = consumers.get(x).is_some_and(|c| c.len() == 1);
            (conv.op_type == "Conv"
                && conv.domain.is_empty()
                && single
                && !outputs.contains(x)
                && conv
                    .inputs
                    .get(1)
                    .is_some_and(|w| g.initializer(w).is_some())
                && bn.inputs[1..5].iter().all(|t| g.initializer(t).is_some()))
            .then_some((p, i))
        });
        let Some((p, i)) = hit else { return Ok(folded) };
        let bn = g.nodes[i].clone();
        let conv = g.nodes[p].clone();
        let err = |what: &str| {
            QuantError::Shape(format!(
                "folding BatchNormalization {} into Conv {}: {what}",
                bn.name, conv.name
            ))
        };
        let w = g
            .initializer(&conv.inputs[1])
            .cloned()
            .ok_or_else(|| err("the weight is not a constant"))?;
        let wv = w.to_f32().map_err(|e| err(&e.to_string()))?;
        let dims: Vec<usize> = w.dims.iter().map(|d| *d as usize).collect();
        let bias = match conv.inputs.get(2).filter(|b| !b.is_empty()) {
            Some(b) => Some(floats(g, b).ok_or_else(|| err("the bias is not a constant float"))?),
            None => None,
        };
        let param =
            |k: usize| floats(g, &bn.inputs[k]).ok_or_else(|| err("a parameter is not float"));
        let (gamma, beta, mean, var) = (param(1)?, param(2)?, param(3)?, param(4)?);
        let out = *dims
            .first()
            .ok_or_else(|| err("the weight has no dimensions"))?;
        if [&gamma, &beta, &mean, &var].iter().any(|v| v.len() != out) {
            return Err(err(&format!(
                "parameters of {} channels for {out} output channels",
                gamma.len()
            )));
        }
        let f = fold_batch_norm(
            &wv,
            &dims,
            bias.as_deref(),
            &BatchNorm {
                gamma: &gamma,
                beta: &beta,
                mean: &mean,
                var: &var,
                eps: bn.attr_float("epsilon", 1e-5),
            },
        )
        .map_err(|e| err(&e.to_string()))?;
        let w_name = g.fresh_name(&format!("{}_bn_folded", conv.inputs[1]));
        g.add_initializer(TensorData::from_f32(
            w_name.clone(),
            w.dims.clone(),
            &f.weight,
        ));
        let b_name = g.fresh_name(&format!("{}_bias_bn_folded", conv.name));
        g.add_initializer(TensorData::from_f32(
            b_name.clone(),
            vec![out as i64],
            &f.bias,
        ));
        let c = &mut g.nodes[p];
        c.inputs.truncate(2);
        c.inputs[1] = w_name;
        c.inputs.push(b_name);
        c.outputs[0] = bn.outputs[0].clone();
        g.nodes.remove(i);
        folded += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qbench_onnx::{Attribute, Node};

    #[test]
    fn conv_bn_folds_into_one_conv() {
        let mut g = Graph::default();
        // 2 output channels, 1 input channel, 1x1 kernel.
        g.add_initializer(TensorData::from_f32("w", vec![2, 1, 1, 1], &[1.0, 2.0]));
        g.add_initializer(TensorData::from_f32("gamma", vec![2], &[2.0, 1.0]));
        g.add_initializer(TensorData::from_f32("beta", vec![2], &[0.5, 0.0]));
        g.add_initializer(TensorData::from_f32("mean", vec![2], &[1.0, 0.0]));
        g.add_initializer(TensorData::from_f32("var", vec![2], &[3.0, 0.0]));
        g.nodes.push(Node::new("conv", "Conv", &["x", "w"], &["c"]));
        g.nodes.push(
            Node::new(
                "bn",
                "BatchNormalization",
                &["c", "gamma", "beta", "mean", "var"],
                &["y"],
            )
            .with_attr("epsilon", Attribute::Float(1.0)),
        );
        assert_eq!(fold_batch_norms(&mut g).unwrap(), 1);
        assert_eq!(g.nodes.len(), 1);
        let conv = &g.nodes[0];
        assert_eq!(conv.outputs, vec!["y".to_string()]);
        // r = 1/sqrt(var + eps): 1/2 and 1; w' = w·gamma·r = (1, 2); b' = (0 - mean)·r·gamma + beta.
        let w = g.initializer(&conv.inputs[1]).unwrap().to_f32().unwrap();
        let b = g.initializer(&conv.inputs[2]).unwrap().to_f32().unwrap();
        assert_eq!(w, vec![1.0, 2.0]);
        assert_eq!(b, vec![-0.5, 0.0]);
    }

    #[test]
    fn a_shared_conv_output_is_left_alone() {
        let mut g = Graph::default();
        g.add_initializer(TensorData::from_f32("w", vec![1, 1, 1, 1], &[1.0]));
        for p in ["gamma", "beta", "mean", "var"] {
            g.add_initializer(TensorData::from_f32(p, vec![1], &[1.0]));
        }
        g.nodes.push(Node::new("conv", "Conv", &["x", "w"], &["c"]));
        g.nodes.push(Node::new(
            "bn",
            "BatchNormalization",
            &["c", "gamma", "beta", "mean", "var"],
            &["y"],
        ));
        g.nodes.push(Node::new("r", "Relu", &["c"], &["z"]));
        assert_eq!(fold_batch_norms(&mut g).unwrap(), 0);
        assert_eq!(g.nodes.len(), 3);
    }
}
