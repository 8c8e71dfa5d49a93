//! Rewriting a recipe's QDQ model so that the selected nodes get their overridden precision.

use std::collections::{HashMap, HashSet};

use qbench_onnx::{Attribute, DType, Graph, Model, Node, TensorData};

use super::{Override, Precision, METADATA_KEY};
use crate::convention::onnxruntime;
use crate::debug::{weight_matching, WeightMatch};
use crate::error::{QuantError, Result};
use crate::granularity::{params_per_channel, quantize_per_channel};
use crate::params::Range;
use crate::quantize::{quantize, Rounding};
use crate::scheme::QType;

/// A node's effective overrides.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Settings {
    width: Option<Precision>,
    per_channel: Option<bool>,
}

impl Settings {
    fn describe(&self) -> String {
        let mut v = Vec::new();
        if let Some(w) = self.width {
            v.push(w.name());
        }
        match self.per_channel {
            Some(true) => v.push("per-channel"),
            Some(false) => v.push("per-tensor"),
            None => {}
        }
        v.join(" ")
    }
}

/// Nodes a Q/DQ model adds around the computation (never selected).
fn is_plumbing(g: &Graph, producers: &HashMap<&str, usize>, n: &Node) -> bool {
    match n.op_type.as_str() {
        "QuantizeLinear" | "DequantizeLinear" => true,
        // A Clip on integers (restricted range) or a weight layout's Reshape/Slice.
        "Clip" | "Reshape" | "Slice" => n.inputs.first().is_some_and(|i| {
            producers.get(i.as_str()).is_some_and(|&p| {
                let p = &g.nodes[p];
                p.op_type == "QuantizeLinear"
                    || (p.op_type == "DequantizeLinear" && g.initializer(&p.inputs[0]).is_some())
                    || (matches!(p.op_type.as_str(), "Reshape" | "Slice")
                        && is_plumbing(g, producers, p))
            })
        }),
        _ => false,
    }
}

/// The float tensor behind an activation input `DequantizeLinear(<Clip>(QuantizeLinear(x)))`:
/// `(x, dq node index)`.
fn activation_source(
    g: &Graph,
    producers: &HashMap<&str, usize>,
    input: &str,
) -> Option<(String, usize)> {
    let &dq = producers.get(input)?;
    let dqn = &g.nodes[dq];
    if dqn.op_type != "DequantizeLinear" {
        return None;
    }
    let &p = producers.get(dqn.inputs[0].as_str())?;
    let q = match g.nodes[p].op_type.as_str() {
        "QuantizeLinear" => &g.nodes[p],
        "Clip" => {
            let &qi = producers.get(g.nodes[p].inputs[0].as_str())?;
            (g.nodes[qi].op_type == "QuantizeLinear").then_some(&g.nodes[qi])?
        }
        _ => return None,
    };
    let x = &q.inputs[0];
    (g.initializer(x).is_none()).then(|| (x.clone(), dq))
}

fn scalar_f32(g: &Graph, name: Option<&String>) -> Result<Option<f32>> {
    match name.filter(|n| !n.is_empty()) {
        None => Ok(None),
        Some(n) => {
            let t = g
                .initializer(n)
                .ok_or_else(|| QuantError::Shape(format!("{n} is not a constant")))?;
            Ok(crate::debug::tensor_f32(t)?.first().copied())
        }
    }
}

/// The real range a Q/DQ pair covers: `[(qmin - z)·s, (qmax - z)·s]`.
fn pair_range(g: &Graph, producers: &HashMap<&str, usize>, dq: usize) -> Result<Range> {
    let dqn = &g.nodes[dq];
    let s = scalar_f32(g, dqn.inputs.get(1))?
        .ok_or_else(|| QuantError::Shape(format!("{}: no scale", dqn.name)))?;
    let z = scalar_f32(g, dqn.inputs.get(2))?.unwrap_or(0.0);
    let zp_type = dqn
        .inputs
        .get(2)
        .and_then(|n| g.initializer(n))
        .map_or(DType::U8, |t| t.dtype);
    let (mut lo, mut hi) = match zp_type {
        DType::I8 => (-128.0, 127.0),
        DType::I16 => (-32768.0, 32767.0),
        DType::U16 => (0.0, 65535.0),
        _ => (0.0, 255.0),
    };
    if let Some(&c) = producers.get(dqn.inputs[0].as_str()) {
        let c = &g.nodes[c];
        if c.op_type == "Clip" {
            lo = scalar_f32(g, c.inputs.get(1))?.unwrap_or(lo).max(lo);
            hi = scalar_f32(g, c.inputs.get(2))?.unwrap_or(hi).min(hi);
        }
    }
    Range::new((lo - z) * s, (hi - z) * s)
}

struct Rewriter<'a> {
    fp32: &'a Model,
    g: Graph,
    /// Nodes to insert before node i (by its position).
    before: HashMap<usize, Vec<Node>>,
}

impl Rewriter<'_> {
    fn constant(&mut self, base: &str, t: impl FnOnce(String) -> TensorData) -> String {
        let name = self.g.fresh_name(base);
        self.g.add_initializer(t(name.clone()));
        name
    }

    fn node(&mut self, at: usize, op: &str, inputs: &[&str], base: &str) -> String {
        let out = self.g.fresh_name(base);
        let name = self.g.fresh_name(&format!("{base}_node"));
        // Reserve both names before the node is in the graph.
        self.g
            .add_initializer(TensorData::from_f32(out.clone(), vec![0], &[]));
        self.g
            .add_initializer(TensorData::from_f32(name.clone(), vec![0], &[]));
        self.before
            .entry(at)
            .or_default()
            .push(Node::new(name, op, inputs, &[&out]));
        out
    }

    /// `x` as the FP32 model has it: a ReLU or Clip the recipe folded into the Q/DQ pair after
    /// `x`'s producer is put back.
    fn float_activation(&mut self, at: usize, x: &str, dq_out: &str) -> Result<String> {
        let fp_name = [x, dq_out].into_iter().find(|t| {
            self.fp32
                .graph
                .nodes
                .iter()
                .any(|n| n.outputs.iter().any(|o| o == t))
        });
        let Some(fp_name) = fp_name else {
            return Ok(x.to_string());
        };
        let fp_node = self
            .fp32
            .graph
            .nodes
            .iter()
            .find(|n| n.outputs.iter().any(|o| o == fp_name))
            .expect("found above")
            .clone();
        let q_op = self
            .g
            .nodes
            .iter()
            .find(|n| n.outputs.iter().any(|o| o == x))
            .map(|n| n.op_type.clone());
        if q_op.as_deref() == Some(fp_node.op_type.as_str()) || q_op.is_none() {
            return Ok(x.to_string());
        }
        match fp_node.op_type.as_str() {
            "Relu" => Ok(self.node(at, "Relu", &[x], &format!("{fp_name}_float"))),
            "Clip" => {
                let mut inputs = vec![x.to_string()];
                for b in fp_node.inputs.iter().skip(1) {
                    if b.is_empty() {
                        inputs.push(String::new());
                        continue;
                    }
                    let t =
                        self.fp32
                            .graph
                            .initializer(b)
                            .ok_or_else(|| QuantError::Unsupported {
                                framework: "qbench overrides",
                                what: format!(
                                    "restoring Clip {} with computed bounds",
                                    fp_node.name
                                ),
                            })?;
                    let t = t.clone();
                    inputs.push(
                        self.constant(&format!("{b}_float"), |n| TensorData { name: n, ..t }),
                    );
                }
                let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
                let out = self.node(at, "Clip", &refs, &format!("{fp_name}_float"));
                if let Some(n) = self.before.get_mut(&at).and_then(|v| v.last_mut()) {
                    n.attributes = fp_node.attributes.clone();
                }
                Ok(out)
            }
            other => Err(QuantError::Unsupported {
                framework: "qbench overrides",
                what: format!(
                    "{x}: the recipe folded a {other} into its Q/DQ pair, which qbench cannot \
                     put back for a float node"
                ),
            }),
        }
    }

    /// `QuantizeLinear -> DequantizeLinear` at 16 bits in float operators.
    fn fake_quant16(&mut self, at: usize, x: &str, range: Range) -> Result<String> {
        let p = onnxruntime::params(range, QType::INT16, false, false)
            .map_err(|e| e.context(x.to_string()))?;
        let scalar = |v: f32| move |n: String| TensorData::from_f32(n, vec![], &[v]);
        let s = self.constant(&format!("{x}_int16_scale"), scalar(p.scale));
        let z = self.constant(
            &format!("{x}_int16_zero_point"),
            scalar(p.zero_point as f32),
        );
        let lo = self.constant(&format!("{x}_int16_min"), scalar(p.qmin as f32));
        let hi = self.constant(&format!("{x}_int16_max"), scalar(p.qmax as f32));
        let base = format!("{x}_int16");
        let d = self.node(at, "Div", &[x, &s], &format!("{base}_div"));
        let r = self.node(at, "Round", &[&d], &format!("{base}_round"));
        let a = self.node(at, "Add", &[&r, &z], &format!("{base}_add"));
        let c = self.node(at, "Clip", &[&a, &lo, &hi], &format!("{base}_clip"));
        let u = self.node(at, "Sub", &[&c, &z], &format!("{base}_sub"));
        Ok(self.node(at, "Mul", &[&u, &s], &format!("{base}_dequantized")))
    }

    /// The FP32 weight requantized symmetrically at `bits`; the tensor the node now reads.
    fn weight(
        &mut self,
        (at, node): (usize, &Node),
        w: &WeightMatch,
        bits: u32,
        per_channel: bool,
    ) -> Result<String> {
        let qtype = QType::new(bits, true)?;
        let rule = |r: Range| onnxruntime::params(r, qtype, true, false);
        // The output channels: axis 1 for a Gemm without transB and for ConvTranspose.
        let out_axis = usize::from(
            (node.op_type == "Gemm" && node.attr_int("transB", 0) == 0)
                || node.op_type == "ConvTranspose",
        );
        let axis = w
            .axis
            .unwrap_or(out_axis)
            .min(w.dims.len().saturating_sub(1));
        let (q, scales) = if per_channel && w.dims.len() > 1 {
            let p = params_per_channel(&w.name, &w.float, &w.dims, axis, rule)?;
            let q = quantize_per_channel(&w.name, &w.float, &w.dims, axis, &p, Rounding::HalfEven)?;
            (q, p.iter().map(|p| p.scale).collect::<Vec<f32>>())
        } else {
            let p = rule(Range::of(&w.name, &w.float)?).map_err(|e| e.context(w.name.clone()))?;
            (quantize(&w.float, &p)?, vec![p.scale])
        };
        let dims: Vec<i64> = w.dims.iter().map(|d| *d as i64).collect();
        let base = format!("{}_{}", w.name, if bits > 8 { "int16" } else { "int" });
        if bits > 8 {
            // Cast + Mul: what DequantizeLinear computes, for runtimes without 16-bit QDQ.
            let v: Vec<i16> = q.iter().map(|v| *v as i16).collect();
            let qi = self.constant(&base, |n| TensorData::from_i16(n, dims.clone(), &v));
            let mut sdims = vec![1i64; dims.len()];
            if scales.len() > 1 {
                sdims[axis] = scales.len() as i64;
            } else {
                sdims.clear();
            }
            let s = self.constant(&format!("{base}_scale"), |n| {
                TensorData::from_f32(n, sdims, &scales)
            });
            let c = self.node(at, "Cast", &[&qi], &format!("{base}_cast"));
            if let Some(n) = self.before.get_mut(&at).and_then(|v| v.last_mut()) {
                n.attributes.push(("to".into(), Attribute::Int(1)));
            }
            return Ok(self.node(at, "Mul", &[&c, &s], &format!("{base}_dequantized")));
        }
        let v: Vec<i8> = q.iter().map(|v| *v as i8).collect();
        let qi = self.constant(&base, |n| TensorData::from_i8(n, dims.clone(), &v));
        let sdims = if scales.len() > 1 {
            vec![scales.len() as i64]
        } else {
            vec![]
        };
        let zeros = vec![0i8; scales.len()];
        let s = self.constant(&format!("{base}_scale"), |n| {
            TensorData::from_f32(n, sdims.clone(), &scales)
        });
        let z = self.constant(&format!("{base}_zero_point"), |n| {
            TensorData::from_i8(n, sdims, &zeros)
        });
        let out = self.node(
            at,
            "DequantizeLinear",
            &[&qi, &s, &z],
            &format!("{base}_dequantized"),
        );
        if scales.len() > 1 {
            if let Some(n) = self.before.get_mut(&at).and_then(|v| v.last_mut()) {
                n.attributes
                    .push(("axis".into(), Attribute::Int(axis as i64)));
            }
        }
        Ok(out)
    }
}

/// The recipe's width of a stored weight: 16 for int16, 4 when its integers fit [-8, 7]
/// (sub-byte values in an int8 container), else 8.
fn stored_bits(w: &WeightMatch) -> u32 {
    match w.stored {
        DType::I16 | DType::U16 => 16,
        _ if w.stored_range.0 >= -8 && w.stored_range.1 <= 7 => 4,
        _ => 8,
    }
}

/// Applies `overrides` to `quantized` (a recipe's QDQ model of `fp32`, the pre-processed FP32
/// model the recipe quantized); returns the model and one `node: precision` line per changed
/// node. An override that selects no quantized node is an error (a typo would otherwise pass
/// silently).
pub fn apply_overrides(
    fp32: &Model,
    quantized: &Model,
    overrides: &[Override],
) -> Result<(Model, Vec<String>)> {
    if overrides.is_empty() {
        return Ok((quantized.clone(), Vec::new()));
    }
    let g = &quantized.graph;
    let producers = g.producers();
    let weights: HashMap<(usize, usize), WeightMatch> = weight_matching(fp32, quantized)?
        .into_iter()
        .map(|w| ((w.position, w.input), w))
        .collect();
    // Nodes with something quantized to change.
    let candidates: Vec<usize> = (0..g.nodes.len())
        .filter(|&i| {
            let n = &g.nodes[i];
            !is_plumbing(g, &producers, n)
                && n.inputs.iter().enumerate().any(|(k, x)| {
                    weights.contains_key(&(i, k)) || activation_source(g, &producers, x).is_some()
                })
        })
        .collect();
    let mut settings: HashMap<usize, Settings> = HashMap::new();
    for o in overrides {
        let hits: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&i| o.selector.matches(&g.nodes[i]))
            .collect();
        if hits.is_empty() {
            let mut names: Vec<&str> = candidates
                .iter()
                .map(|&i| g.nodes[i].name.as_str())
                .collect();
            names.truncate(12);
            return Err(QuantError::InvalidArgument(format!(
                "override '{o}' selects no quantized node of the model (quantized nodes: {}{})",
                names.join(", "),
                if candidates.len() > names.len() {
                    ", ..."
                } else {
                    ""
                }
            )));
        }
        for i in hits {
            let s = settings.entry(i).or_default();
            match o.precision {
                Precision::PerChannel => s.per_channel = Some(true),
                Precision::PerTensor => s.per_channel = Some(false),
                w => s.width = Some(w),
            }
        }
    }
    let mut rw = Rewriter {
        fp32,
        g: g.clone(),
        before: HashMap::new(),
    };
    let mut applied = Vec::new();
    let mut order: Vec<(&usize, &Settings)> = settings.iter().collect();
    order.sort_by_key(|(i, _)| **i);
    for (&i, s) in order {
        let node = g.nodes[i].clone();
        let mut inputs = node.inputs.clone();
        let weight_changes = s.width.is_some() || s.per_channel.is_some();
        let mut bias_float = false;
        for (k, x) in node.inputs.iter().enumerate() {
            if let Some(w) = weights.get(&(i, k)) {
                let is_bias =
                    k == 2 && matches!(node.op_type.as_str(), "Conv" | "Gemm" | "ConvTranspose");
                if is_bias {
                    continue;
                }
                let per_channel = s.per_channel.unwrap_or(w.axis.is_some());
                inputs[k] = match s.width {
                    Some(Precision::Float) => {
                        bias_float = true;
                        rw.constant(&w.name, |n| {
                            TensorData::from_f32(
                                n,
                                w.dims.iter().map(|d| *d as i64).collect(),
                                &w.float,
                            )
                        })
                    }
                    Some(Precision::Int16) => rw.weight((i, &node), w, 16, per_channel)?,
                    Some(Precision::Int8) => rw.weight((i, &node), w, 8, per_channel)?,
                    Some(Precision::Int4) => rw.weight((i, &node), w, 4, per_channel)?,
                    _ => rw.weight((i, &node), w, stored_bits(w), per_channel)?,
                };
                bias_float |= weight_changes;
            } else if let Some((src, dq)) = activation_source(g, &producers, x) {
                match s.width {
                    Some(Precision::Float) => {
                        inputs[k] = rw.float_activation(i, &src, x)?;
                    }
                    Some(Precision::Int16) => {
                        let range = pair_range(g, &producers, dq)?;
                        let f = rw.float_activation(i, &src, x)?;
                        inputs[k] = rw.fake_quant16(i, &f, range)?;
                    }
                    _ => {}
                }
            }
        }
        if bias_float {
            if let Some(w) = weights.get(&(i, 2)) {
                inputs[2] = rw.constant(&w.name, |n| {
                    TensorData::from_f32(n, w.dims.iter().map(|d| *d as i64).collect(), &w.float)
                });
            }
        }
        rw.g.nodes[i].inputs = inputs;
        applied.push(format!("{}: {}", node.name, s.describe()));
    }
    // Insert the new nodes before their readers, drop the name reservations, then the dead Q/DQ.
    let Rewriter { mut g, before, .. } = rw;
    let reserved: HashSet<String> = before
        .values()
        .flatten()
        .flat_map(|n| std::iter::once(n.name.clone()).chain(n.outputs.iter().cloned()))
        .collect();
    g.initializers.retain(|t| !reserved.contains(&t.name));
    let mut before = before;
    let mut nodes = Vec::with_capacity(g.nodes.len());
    // Where each original node lands once the new ones are in.
    let mut moved = Vec::with_capacity(g.nodes.len());
    for (i, n) in std::mem::take(&mut g.nodes).into_iter().enumerate() {
        if let Some(v) = before.remove(&i) {
            nodes.extend(v);
        }
        moved.push(nodes.len());
        nodes.push(n);
    }
    g.nodes = nodes;
    let mut float_nodes: Vec<usize> = settings
        .iter()
        .filter(|(_, s)| s.width == Some(Precision::Float))
        .map(|(&i, _)| moved[i])
        .collect();
    // Last first: removing a pair after a node never moves the nodes before it.
    float_nodes.sort_unstable_by(|a, b| b.cmp(a));
    unquantize_outputs(&mut g, fp32, &float_nodes);
    remove_dead(&mut g);
    g.prune_initializers();
    let mut m = quantized.clone();
    m.graph = g;
    m.metadata.retain(|(k, _)| k != METADATA_KEY);
    m.metadata.push((
        METADATA_KEY.into(),
        overrides
            .iter()
            .map(|o| o.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    ));
    if m.opset().unwrap_or(0) < 11 && settings.values().any(|s| s.width == Some(Precision::Int16)) {
        return Err(QuantError::Unsupported {
            framework: "qbench overrides",
            what: "int16 overrides write Round and Clip with bound inputs, which need opset 11"
                .into(),
        });
    }
    Ok((m, applied))
}

/// A float node whose output reaches a graph output only through the recipe's Q/DQ pair writes
/// the graph output itself (the pair existed for the output, which is now float's to give).
fn unquantize_outputs(g: &mut Graph, fp32: &Model, float_nodes: &[usize]) {
    let outputs: HashSet<String> = g.outputs.iter().map(|o| o.name.clone()).collect();
    for &ni in float_nodes {
        for k in 0..g.nodes[ni].outputs.len() {
            let o = g.nodes[ni].outputs[k].clone();
            let readers: Vec<usize> = (0..g.nodes.len())
                .filter(|&r| g.nodes[r].inputs.contains(&o))
                .collect();
            let [q] = readers[..] else { continue };
            if g.nodes[q].op_type != "QuantizeLinear" {
                continue;
            }
            // Q -> [Clip] -> DQ whose output is a graph output.
            let mut chain = vec![q];
            let mut at = g.nodes[q].outputs[0].clone();
            let dq = loop {
                let next: Vec<usize> = (0..g.nodes.len())
                    .filter(|&r| g.nodes[r].inputs.first() == Some(&at))
                    .collect();
                let [n] = next[..] else { break None };
                chain.push(n);
                match g.nodes[n].op_type.as_str() {
                    "Clip" => at = g.nodes[n].outputs[0].clone(),
                    "DequantizeLinear" => break Some(n),
                    _ => break None,
                }
            };
            let Some(dq) = dq else { continue };
            let t = g.nodes[dq].outputs[0].clone();
            let same_op = fp32
                .graph
                .nodes
                .iter()
                .find(|n| n.outputs.contains(&t))
                .is_some_and(|n| n.op_type == g.nodes[ni].op_type);
            if !outputs.contains(&t) || !same_op {
                continue;
            }
            g.nodes[ni].outputs[k] = t;
            chain.sort_unstable();
            for c in chain.into_iter().rev() {
                g.nodes.remove(c);
            }
        }
    }
}

/// Removes nodes none of whose outputs is read or a graph output, until none is left.
fn remove_dead(g: &mut Graph) {
    loop {
        let read: HashSet<String> = g
            .nodes
            .iter()
            .flat_map(|n| n.inputs.iter().cloned())
            .chain(g.outputs.iter().map(|o| o.name.clone()))
            .collect();
        let before = g.nodes.len();
        g.nodes
            .retain(|n| n.outputs.iter().any(|o| read.contains(o)));
        if g.nodes.len() == before {
            return;
        }
    }
}
