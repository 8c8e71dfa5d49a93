//! Per-operator activation rules for the frameworks whose converters are not ONNX Runtime's
//! (TFLite, PyTorch): each recipe says, per ONNX operator, what its framework does with it
//! ([`Treatment`]), and [`mark_activations`] walks the graph in order and decides, tensor by
//! tensor, where the parameters come from ([`Source`]). ONNX Runtime's own pass, which differs
//! in its details, is [`super::ort_ops`].

use std::collections::{HashMap, HashSet};

use qbench_onnx::{elem_code, elem_types, Graph, Node};

use super::writer::{ActQuant, WeightLayout, WeightQuant};
use crate::error::{QuantError, Result};
use crate::params::{QuantParams, Range};
use crate::quantize::quantize;
use crate::scheme::QType;

/// What a framework's quantizer does with one operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Treatment {
    /// An integer kernel with its own output parameters (Conv, Linear, Add, Mul, Mean, ...):
    /// every float input and the output are quantized.
    Compute,
    /// Works on quantized values unchanged (pooling, reshapes, transposes, resize, pad): when the
    /// data input (the first non-constant one) is quantized, the output shares its parameters;
    /// otherwise the op stays in float.
    SharesInput,
    /// An integer kernel whose output parameters are fixed by the framework (sigmoid, softmax,
    /// tanh): inputs quantized, output with the fixed parameters of this kind.
    FixedOutput(FixedRange),
    /// TFLite's concatenation: inputs and output share one set of parameters, so every input
    /// takes the output's (the range of them all).
    SharedWithOutput,
    /// No integer kernel: stays in float (its quantized neighbours quantize its inputs/outputs).
    Float,
}

/// The output ranges frameworks fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FixedRange {
    /// `[0, 1]` (sigmoid, hard sigmoid, softmax).
    ZeroToOne,
    /// `[-1, 1]` (tanh).
    MinusOneToOne,
}

/// Where one activation tensor's parameters come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Its own calibrated range.
    Own,
    /// Another tensor's parameters (resolved through chains by [`ActivationMarks::root`]).
    SharedWith(String),
    /// Fixed by the framework.
    Fixed(FixedRange),
}

/// The decisions, in the order they were made.
#[derive(Clone, Debug, Default)]
pub struct ActivationMarks {
    pub order: Vec<String>,
    pub marks: HashMap<String, Source>,
    /// Float initializers read by a quantized operator (quantized as constants by the recipe).
    pub constants: Vec<String>,
}

impl ActivationMarks {
    fn set(&mut self, t: &str, s: Source) {
        if self.marks.insert(t.to_string(), s).is_none() {
            self.order.push(t.to_string());
        }
    }

    /// The tensor whose own or fixed parameters `t` ends up with (`t` itself unless shared);
    /// `None` for a sharing chain that loops or leaves the marked set.
    pub fn root<'a>(&'a self, t: &'a str) -> Option<&'a str> {
        let mut at = t;
        for _ in 0..=self.order.len() {
            match self.marks.get(at)? {
                Source::SharedWith(src) => at = src,
                _ => return Some(at),
            }
        }
        None
    }
}

/// Walks `g` in order and marks activations by `treat` (data inputs only for the weighted
/// operators: their weight and bias are the recipe's). A float initializer read by a `Compute`
/// operator is listed in `constants` unless it is a weight or bias.
pub fn mark_activations(g: &Graph, treat: impl Fn(&Node) -> Treatment) -> ActivationMarks {
    let types = elem_types(g);
    let inits: HashSet<&str> = g.initializers.iter().map(|t| t.name.as_str()).collect();
    let is_float = |t: &str| !t.is_empty() && types.get(t) == Some(&elem_code::FLOAT);
    let mut mk = ActivationMarks::default();
    for n in &g.nodes {
        let weighted = matches!(n.op_type.as_str(), "Conv" | "ConvTranspose" | "Gemm");
        let data: &[String] = if weighted {
            &n.inputs[..1.min(n.inputs.len())]
        } else {
            &n.inputs
        };
        let mark_inputs = |mk: &mut ActivationMarks| {
            for t in data.iter().filter(|t| is_float(t)) {
                if inits.contains(t.as_str()) {
                    if !mk.constants.contains(t) {
                        mk.constants.push(t.clone());
                    }
                } else if !mk.marks.contains_key(t) {
                    mk.set(t, Source::Own);
                }
            }
        };
        // The data input: the first that is not a constant (a scalar may come first).
        let in0 = n
            .inputs
            .iter()
            .find(|t| !t.is_empty() && !inits.contains(t.as_str()))
            .map(String::as_str)
            .unwrap_or("");
        match treat(n) {
            Treatment::Float => {}
            Treatment::Compute => {
                mark_inputs(&mut mk);
                for o in n.outputs.iter().filter(|o| is_float(o)) {
                    mk.set(o, Source::Own);
                }
            }
            Treatment::FixedOutput(r) => {
                mark_inputs(&mut mk);
                for o in n.outputs.iter().filter(|o| is_float(o)) {
                    mk.set(o, Source::Fixed(r));
                }
            }
            Treatment::SharesInput => {
                if mk.marks.contains_key(in0) {
                    for o in n.outputs.iter().filter(|o| is_float(o)) {
                        mk.set(o, Source::SharedWith(in0.to_string()));
                    }
                }
            }
            Treatment::SharedWithOutput => {
                let Some(out) = n.outputs.first().filter(|o| is_float(o)) else {
                    continue;
                };
                mk.set(out, Source::Own);
                for t in data
                    .iter()
                    .filter(|t| is_float(t) && !inits.contains(t.as_str()) && *t != out)
                {
                    // An input with fixed parameters keeps them (the kernel requantizes it).
                    if matches!(mk.marks.get(t.as_str()), Some(Source::Fixed(_))) {
                        continue;
                    }
                    // The output's parameters travel back through the "same scale" operators
                    // that produced the input, to the tensor whose range they shared.
                    let root = mk.root(t).map(str::to_string);
                    mk.set(t, Source::SharedWith(out.clone()));
                    if let Some(r) = root.filter(|r| r != t && r != out) {
                        if mk.marks.get(r.as_str()) == Some(&Source::Own) {
                            mk.set(&r, Source::SharedWith(out.clone()));
                        }
                    }
                }
            }
        }
    }
    mk
}

/// The parameters of every marked tensor, in `qtype`: `own(t)` for a tensor with its own range,
/// `fixed(kind)` for a fixed one, and a shared tensor gets its root's.
pub fn resolve_params(
    mk: &ActivationMarks,
    qtype: QType,
    mut own: impl FnMut(&str) -> Result<QuantParams>,
    fixed: impl Fn(FixedRange) -> Result<QuantParams>,
) -> Result<HashMap<String, ActQuant>> {
    let mut roots: HashMap<String, QuantParams> = HashMap::new();
    let mut out = HashMap::new();
    for t in &mk.order {
        let root = mk.root(t).ok_or_else(|| {
            QuantError::InvalidArgument(format!("{t}: its parameter sharing does not end"))
        })?;
        let params = match roots.get(root) {
            Some(p) => *p,
            None => {
                let p = match &mk.marks[root] {
                    Source::Fixed(kind) => fixed(*kind)?,
                    _ => own(root)?,
                };
                roots.insert(root.to_string(), p);
                p
            }
        };
        out.insert(t.clone(), ActQuant { params, qtype });
    }
    Ok(out)
}

/// The constants [`mark_activations`] listed, quantized per tensor in `qtype` with `rule` on
/// their values' range (ties to even).
pub fn quantize_constants(
    g: &Graph,
    mk: &ActivationMarks,
    qtype: QType,
    rule: impl Fn(Range) -> Result<QuantParams>,
) -> Result<HashMap<String, WeightQuant>> {
    mk.constants
        .iter()
        .map(|name| {
            let t = g.initializer(name).ok_or_else(|| {
                QuantError::InvalidArgument(format!("{name} is not an initializer"))
            })?;
            let v = t.to_f32().map_err(|e| QuantError::Shape(e.to_string()))?;
            let p = rule(Range::of(name, &v)?).map_err(|e| e.context(name.clone()))?;
            Ok((
                name.clone(),
                WeightQuant {
                    q: quantize(&v, &p)?,
                    scales: vec![p.scale],
                    zero_points: vec![p.zero_point],
                    qtype,
                    layout: WeightLayout::PerTensor,
                },
            ))
        })
        .collect()
}

/// Removes activation nodes (`Relu`, and `Clip` to `[0, x]` when `clip_too`) that follow a
/// single-reader producer of one of `fusers`: the producer writes the activation's output, whose
/// calibrated range (starting at 0) makes the Q/DQ pair do the clamping — the "fused activation"
/// of TFLite kernels and PyTorch's conv/linear/add + relu fusion. Returns how many were removed.
pub fn fuse_activations(g: &mut Graph, fusers: &[&str], clip_too: bool) -> usize {
    fuse_activations_if(g, |_, p| fusers.contains(&p.op_type.as_str()), clip_too)
}

/// [`fuse_activations`] with the producers that may take the activation chosen by
/// `fuses(graph, producer)`.
pub fn fuse_activations_if(
    g: &mut Graph,
    fuses: impl Fn(&Graph, &Node) -> bool,
    clip_too: bool,
) -> usize {
    let outputs: HashSet<String> = g.outputs.iter().map(|o| o.name.clone()).collect();
    let mut removed = 0;
    loop {
        let consumers = g.consumers();
        let producers = g.producers();
        let hit = g.nodes.iter().position(|n| {
            let (Some(x), 1) = (n.inputs.first(), n.outputs.len()) else {
                return false;
            };
            let fusable = n.op_type == "Relu" || (clip_too && clips_from_zero(g, n));
            fusable
                && n.domain.is_empty()
                && producers
                    .get(x.as_str())
                    .is_some_and(|p| fuses(g, &g.nodes[*p]))
                && consumers.get(x.as_str()).is_some_and(|c| c.len() == 1)
                && !outputs.contains(x)
        });
        let Some(i) = hit else { return removed };
        let act = g.nodes.remove(i);
        let p = g.producers()[act.inputs[0].as_str()];
        if let Some(slot) = g.nodes[p].outputs.iter_mut().find(|o| **o == act.inputs[0]) {
            *slot = act.outputs[0].clone();
        }
        removed += 1;
    }
}

/// A `Clip` whose lower bound is a constant 0 (ReLU6 and the like).
pub fn clips_from_zero(g: &Graph, n: &Node) -> bool {
    if n.op_type != "Clip" {
        return false;
    }
    let min = match n.inputs.get(1).filter(|m| !m.is_empty()) {
        Some(m) => g
            .initializer(m)
            .and_then(|t| t.to_f32().ok())
            .and_then(|v| v.first().copied()),
        None => n.attr("min").map(|_| n.attr_float("min", f32::MIN)),
    };
    min == Some(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use qbench_onnx::{DType, Dim, TensorData, ValueInfo};

    fn vi(name: &str) -> ValueInfo {
        ValueInfo {
            name: name.into(),
            dtype: DType::F32,
            shape: vec![Dim::Fixed(1), Dim::Fixed(2)],
        }
    }

    /// x -> Conv -> Relu -> MaxPool -> Concat(., x) -> Sigmoid -> Div(., c) -> Mul(., k)
    fn graph() -> Graph {
        let mut g = Graph::default();
        g.inputs.push(vi("x"));
        g.outputs.push(vi("y"));
        g.add_initializer(TensorData::from_f32("w", vec![2, 2, 1, 1], &[1.0; 4]));
        g.add_initializer(TensorData::from_f32("c", vec![], &[6.0]));
        g.add_initializer(TensorData::from_f32("k", vec![1, 2], &[0.5, 2.0]));
        g.nodes = vec![
            Node::new("conv", "Conv", &["x", "w"], &["a"]),
            Node::new("relu", "Relu", &["a"], &["r"]),
            Node::new("pool", "MaxPool", &["r"], &["p"]),
            Node::new("cat", "Concat", &["p", "x"], &["cat"]),
            Node::new("sig", "Sigmoid", &["cat"], &["s"]),
            Node::new("div", "Div", &["s", "c"], &["d"]),
            Node::new("mul", "Mul", &["d", "k"], &["y"]),
        ];
        g
    }

    fn treat(n: &Node) -> Treatment {
        match n.op_type.as_str() {
            "Conv" | "Mul" => Treatment::Compute,
            "MaxPool" | "Relu" => Treatment::SharesInput,
            "Concat" => Treatment::SharedWithOutput,
            "Sigmoid" => Treatment::FixedOutput(FixedRange::ZeroToOne),
            _ => Treatment::Float,
        }
    }

    #[test]
    fn decisions_follow_the_table_in_graph_order() {
        let mut g = graph();
        assert_eq!(fuse_activations(&mut g, &["Conv"], false), 1);
        let mk = mark_activations(&g, treat);
        let m = |t: &str| mk.marks.get(t).cloned();
        // The conv writes the relu output; the concatenation's parameters travel back to it
        // through the max pool that shares them.
        assert_eq!(m("r"), Some(Source::SharedWith("cat".into())));
        assert!(!mk.marks.contains_key("a"), "the relu input is gone");
        assert_eq!(m("p"), Some(Source::SharedWith("cat".into())));
        assert_eq!(m("x"), Some(Source::SharedWith("cat".into())));
        assert_eq!(m("cat"), Some(Source::Own));
        assert_eq!(m("s"), Some(Source::Fixed(FixedRange::ZeroToOne)));
        // Div stays float; Mul quantizes its input and output, and its constant.
        assert_eq!(m("d"), Some(Source::Own));
        assert_eq!(m("y"), Some(Source::Own));
        assert_eq!(mk.constants, ["k"]);
        assert_eq!(mk.root("p"), Some("cat"));
        assert_eq!(mk.root("y"), Some("y"));
    }

    #[test]
    fn shares_input_only_when_the_input_is_quantized() {
        let mut g = graph();
        // Nothing before the MaxPool is quantized: it stays float, and so does its output.
        g.nodes.retain(|n| n.op_type != "Conv");
        g.nodes[0].inputs[0] = "x".into();
        let mk = mark_activations(&g, |n| match n.op_type.as_str() {
            "MaxPool" | "Relu" => Treatment::SharesInput,
            _ => Treatment::Float,
        });
        assert!(mk.marks.is_empty(), "{:?}", mk.marks);
    }

    #[test]
    fn relu6_clip_fuses_only_when_asked_and_from_zero() {
        let mut g = graph();
        g.add_initializer(TensorData::from_f32("zero", vec![], &[0.0]));
        g.add_initializer(TensorData::from_f32("six", vec![], &[6.0]));
        g.add_initializer(TensorData::from_f32("minus", vec![], &[-1.0]));
        g.nodes[1] = Node::new("clip", "Clip", &["a", "zero", "six"], &["r"]);
        assert_eq!(fuse_activations(&mut g.clone(), &["Conv"], false), 0);
        assert_eq!(fuse_activations(&mut g.clone(), &["Conv"], true), 1);
        g.nodes[1].inputs[1] = "minus".into();
        assert_eq!(fuse_activations(&mut g, &["Conv"], true), 0);
    }
}
