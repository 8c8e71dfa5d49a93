//! ONNX Runtime's per-operator decisions in `quantize_static(quant_format=QDQ)`: which tensors of
//! which operators get a Q/DQ pair, which share their input's parameters, which are weights, which
//! biases become int32, and which Relu/Clip nodes disappear (ORT 1.31 `qdq_quantizer.py`,
//! `registry.py` and `operators/*.py`).
//!
//! * The operators quantized by default are the union of ORT's `QLinearOpsRegistry` and
//!   `QDQRegistry` ([`ORT_QDQ_OPS`]); every other operator stays in float between the pairs.
//! * Operators without a QDQ handler (`Add`, `Mul`, `Concat`, `Sigmoid`, `Softmax`,
//!   `GlobalAveragePool`, `LeakyRelu`, `ArgMax`, ...) quantize every float input and output
//!   (`QDQOperatorBase`); a float initializer among them is stored quantized with the
//!   *activation* type.
//! * `Conv`/`ConvTranspose`/`Gemm`: data input and output, the weight (per channel along axis 0,
//!   1 for `ConvTranspose` and for a `Gemm` without `transB`), the bias as int32. `MatMul`:
//!   initializer inputs are weights (per channel along axis 1), the rest activations.
//! * `Reshape`, `Transpose`, `Squeeze`, `Unsqueeze`, `Flatten`, `Slice`, `AveragePool`, `TopK`,
//!   `Resize` (opset >= 11) and `MaxPool` (opset >= 12): only when their input is already
//!   quantized, and then the output shares the input's parameters (`QDQDirect8BitOp`). `Split`
//!   and `Gather` likewise share; `Pad` shares when it pads with a value the input holds.
//! * `Relu`/`Clip` whose input is quantized: with asymmetric activations the producer writes the
//!   activation's output directly and the node is removed (`QDQRemovableActivation`), when the
//!   input has one reader and is not a graph input or output.
//!
//! Nodes are visited in graph order and a decision can depend on an earlier one ("is the input
//! already quantized?"), exactly as ORT's single pass does.

use std::collections::{HashMap, HashSet};

use qbench_onnx::{elem_types, Attribute, Graph};

use crate::params::Range;

/// The operator types `quantize_static` quantizes when `op_types_to_quantize` is not given.
pub const ORT_QDQ_OPS: &[&str] = &[
    // QLinearOpsRegistry
    "ArgMax",
    "Conv",
    "Gemm",
    "MatMul",
    "Add",
    "Mul",
    "Relu",
    "Clip",
    "LeakyRelu",
    "Sigmoid",
    "MaxPool",
    "GlobalAveragePool",
    "Split",
    "Pad",
    "Reshape",
    "Squeeze",
    "Unsqueeze",
    "Flatten",
    "Resize",
    "AveragePool",
    "Concat",
    "Softmax",
    "Where",
    // CommonOpsRegistry
    "Gather",
    "Transpose",
    "EmbedLayerNormalization",
    // QDQRegistry only
    "ConvTranspose",
    "Slice",
    "GatherElements",
    "InstanceNormalization",
    "LayerNormalization",
    "BatchNormalization",
    "TopK",
    "CumSum",
];

/// How a marked tensor is quantized.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mark {
    /// Its own parameters: from its calibrated range (a node's tensor) or from its values (a
    /// float initializer, with the activation type).
    Activation,
    /// A weight initializer (the weight type), per channel along `axis` when set.
    Weight { axis: Option<usize> },
    /// The parameters of another tensor (a node's input), resolved when writing.
    SharedWith(String),
}

/// A bias that becomes int32 with scale `s_input * s_weight`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BiasSite {
    pub node: String,
    pub bias: String,
    pub input: String,
    pub weight: String,
}

/// Everything ORT's pass decided, in the order it decided it.
#[derive(Clone, Debug, Default)]
pub struct Marking {
    /// Marked tensors, first-marked order.
    pub order: Vec<String>,
    pub marks: HashMap<String, Mark>,
    pub biases: Vec<BiasSite>,
    /// Relu/Clip nodes removed (their producer now writes their output).
    pub removed: Vec<String>,
}

impl Marking {
    /// ORT's `is_tensor_quantized`.
    fn is_quantized(&self, t: &str) -> bool {
        self.marks.contains_key(t) || self.biases.iter().any(|b| b.bias == t)
    }

    fn set(&mut self, t: &str, mark: Mark) {
        if self.marks.insert(t.to_string(), mark).is_none() {
            self.order.push(t.to_string());
        }
    }

    fn forget(&mut self, t: &str) {
        self.marks.remove(t);
        self.order.retain(|x| x != t);
    }
}

/// What the pass needs besides the graph.
#[derive(Clone, Copy, Debug)]
pub struct MarkSettings {
    pub activation_symmetric: bool,
    pub per_channel: bool,
    /// The model's default-domain opset (Resize needs 11, MaxPool 12).
    pub opset: i64,
}

/// ORT's `adjust_tensor_ranges`, run on the graph before marking: the input of a Relu/Clip with a
/// single reader takes the activation's output range, and a Softmax output is `[0, 1]`.
pub fn adjust_ranges(g: &Graph, ranges: &mut HashMap<String, Range>) {
    let consumers = g.consumers();
    for n in g
        .nodes
        .iter()
        .filter(|n| quantized_op(&n.op_type, &n.domain))
    {
        match n.op_type.as_str() {
            "Clip" | "Relu" => {
                let (Some(x), Some(y)) = (n.inputs.first(), n.outputs.first()) else {
                    continue;
                };
                if consumers.get(x.as_str()).map_or(0, Vec::len) != 1 || !ranges.contains_key(x) {
                    continue;
                }
                if let Some(r) = ranges.get(y).copied() {
                    ranges.insert(x.clone(), r);
                }
            }
            "Softmax" => {
                if let Some(y) = n.outputs.first() {
                    ranges.insert(y.clone(), Range { min: 0.0, max: 1.0 });
                }
            }
            _ => {}
        }
    }
}

fn quantized_op(op: &str, domain: &str) -> bool {
    (domain.is_empty() || domain == "ai.onnx") && ORT_QDQ_OPS.contains(&op)
}

/// Runs ORT's marking pass over `g` (already pre-processed, ranges adjusted), removing the
/// Relu/Clip nodes ORT removes. `ranges` says which tensors ORT would have calibrated.
pub fn mark(g: &mut Graph, ranges: &HashMap<String, Range>, s: &MarkSettings) -> Marking {
    let types = elem_types(g);
    let inits: HashSet<String> = g.initializers.iter().map(|t| t.name.clone()).collect();
    // Float initializers and their rank.
    let float_inits: HashMap<String, usize> = g
        .initializers
        .iter()
        .filter(|t| t.dtype == qbench_onnx::DType::F32)
        .map(|t| (t.name.clone(), t.dims.len()))
        .collect();
    let float_init = |t: &str| float_inits.contains_key(t);
    // ORT's `_is_tensor_quantizable`: a float initializer, or a value of float type.
    let quantizable: HashSet<String> = types
        .iter()
        .filter(|(_, ty)| **ty == qbench_onnx::elem_code::FLOAT)
        .map(|(t, _)| t.clone())
        .collect();
    let graph_io: HashSet<String> = g
        .inputs
        .iter()
        .chain(g.outputs.iter())
        .map(|v| v.name.clone())
        .collect();
    // Readers per tensor: removals are deferred and renames touch outputs only, so this holds
    // for the whole pass.
    let readers: HashMap<String, usize> = g
        .consumers()
        .into_iter()
        .map(|(t, c)| (t.to_string(), c.len()))
        .collect();
    let mut mk = Marking::default();
    let mut removed_idx = Vec::new();
    let rank = |t: &str| float_inits.get(t).copied();
    // Plain marks never replace an existing one (`elif tensor_name not in tensors_to_quantize`).
    let act = |mk: &mut Marking, t: &str| {
        if !t.is_empty() && quantizable.contains(t) && !mk.marks.contains_key(t) {
            mk.set(t, Mark::Activation);
        }
    };
    // Sharing replaces (`quantize_output_same_as_input` overwrites).
    let share = |mk: &mut Marking, out: &str, input: &str| {
        if !out.is_empty() && quantizable.contains(out) && !inits.contains(out) {
            mk.set(out, Mark::SharedWith(input.to_string()));
        }
    };
    // `quantize_weight_tensor` keeps an existing mark; the per-channel form replaces it.
    let weight = |mk: &mut Marking, t: &str, default_axis: usize| {
        if !float_init(t) {
            return;
        }
        let axis = (s.per_channel)
            .then_some(default_axis)
            .filter(|a| rank(t).is_some_and(|r| *a < r));
        if axis.is_some() || !mk.marks.contains_key(t) {
            mk.set(t, Mark::Weight { axis });
        }
    };
    for idx in 0..g.nodes.len() {
        let n = g.nodes[idx].clone();
        if !quantized_op(&n.op_type, &n.domain) {
            continue;
        }
        let in0 = n.inputs.first().cloned().unwrap_or_default();
        let in1 = n.inputs.get(1).cloned().unwrap_or_default();
        let out0 = n.outputs.first().cloned().unwrap_or_default();
        let bias = |mk: &mut Marking, b: usize| {
            if let Some(bias) = n.inputs.get(b).filter(|b| float_init(b)) {
                mk.biases.push(BiasSite {
                    node: n.name.clone(),
                    bias: bias.clone(),
                    input: in0.clone(),
                    weight: in1.clone(),
                });
            }
        };
        let direct_8bit = |mk: &mut Marking| {
            if mk.is_quantized(&in0) {
                share(mk, &out0, &in0);
            }
        };
        match n.op_type.as_str() {
            "Conv" | "ConvTranspose" => {
                act(&mut mk, &in0);
                act(&mut mk, &out0);
                weight(&mut mk, &in1, usize::from(n.op_type == "ConvTranspose"));
                if n.inputs.len() == 3 {
                    bias(&mut mk, 2);
                }
            }
            "Gemm" => {
                act(&mut mk, &in0);
                act(&mut mk, &out0);
                weight(&mut mk, &in1, usize::from(n.attr_int("transB", 0) == 0));
                if n.inputs.len() == 3 {
                    bias(&mut mk, 2);
                }
            }
            "MatMul" => {
                for t in n.inputs.iter().chain(n.outputs.iter()) {
                    if inits.contains(t) {
                        weight(&mut mk, t, 1);
                    } else {
                        act(&mut mk, t);
                    }
                }
            }
            "Relu" | "Clip" => {
                if !mk.is_quantized(&in0) {
                    continue;
                }
                let replace = !s.activation_symmetric
                    && ranges.contains_key(&out0)
                    && ranges.contains_key(&in0)
                    && readers.get(&in0).copied().unwrap_or(0) == 1
                    && !graph_io.contains(&in0);
                if replace {
                    for node in g.nodes.iter_mut() {
                        for o in node.outputs.iter_mut().filter(|o| **o == in0) {
                            *o = out0.clone();
                        }
                    }
                    mk.forget(&in0);
                    mk.removed.push(n.name.clone());
                    removed_idx.push(idx);
                } else {
                    act(&mut mk, &in0);
                }
                act(&mut mk, &out0);
            }
            "Reshape" | "Transpose" | "Squeeze" | "Unsqueeze" | "Flatten" | "AveragePool"
            | "Slice" | "TopK" => direct_8bit(&mut mk),
            "Resize" if s.opset >= 11 => direct_8bit(&mut mk),
            "MaxPool" if s.opset >= 12 => direct_8bit(&mut mk),
            "Resize" | "MaxPool" => {}
            "Pad" => {
                for t in &n.inputs {
                    act(&mut mk, t);
                }
                if pads_with_input_values(g, &n, s.opset) {
                    share(&mut mk, &out0, &in0);
                } else {
                    act(&mut mk, &out0);
                }
            }
            "Split" => {
                if !mk.is_quantized(&in0) {
                    act(&mut mk, &in0);
                }
                for o in &n.outputs {
                    share(&mut mk, o, &in0);
                }
            }
            "Gather" | "GatherElements" => {
                if float_init(&in0) {
                    act(&mut mk, &in0);
                    share(&mut mk, &out0, &in0);
                } else if mk.is_quantized(&in0) {
                    share(&mut mk, &out0, &in0);
                }
            }
            "Where" => {
                let (a, b) = (
                    n.inputs.get(1).cloned().unwrap_or_default(),
                    n.inputs.get(2).cloned().unwrap_or_default(),
                );
                if mk.is_quantized(&a) && mk.is_quantized(&b) {
                    for o in &n.outputs {
                        act(&mut mk, o);
                    }
                }
            }
            "InstanceNormalization" | "LayerNormalization" | "BatchNormalization" => {
                act(&mut mk, &in0);
                let scale = n.inputs.get(1).cloned().unwrap_or_default();
                if inits.contains(&scale) {
                    weight(&mut mk, &scale, 1);
                } else {
                    act(&mut mk, &scale);
                }
                if n.inputs.get(2).is_some_and(|b| !b.is_empty()) {
                    bias(&mut mk, 2);
                }
                for o in &n.outputs {
                    act(&mut mk, o);
                }
            }
            _ => {
                for t in n.inputs.iter().chain(n.outputs.iter()) {
                    act(&mut mk, t);
                }
            }
        }
    }
    for idx in removed_idx.into_iter().rev() {
        g.nodes.remove(idx);
    }
    mk
}

/// ORT's `QDQPad._should_quantize_output_same_as_input`: reflect/edge/wrap padding, or constant
/// padding with a constant 0.
fn pads_with_input_values(g: &Graph, n: &qbench_onnx::Node, opset: i64) -> bool {
    let mode = match n.attr("mode") {
        Some(Attribute::String(m)) => m.as_str(),
        _ => "constant",
    };
    match mode {
        "reflect" | "edge" | "wrap" => true,
        "constant" => {
            if opset < 11 {
                return n.attr_float("value", 0.0) == 0.0;
            }
            match n.inputs.get(2).filter(|v| !v.is_empty()) {
                None => true,
                Some(v) => g
                    .initializer(v)
                    .filter(|t| t.dtype == qbench_onnx::DType::F32)
                    .and_then(|t| t.to_f32().ok())
                    .is_some_and(|v| v.len() == 1 && v[0] == 0.0),
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qbench_onnx::{DType, Dim, Node, TensorData, ValueInfo};

    fn vi(name: &str) -> ValueInfo {
        ValueInfo {
            name: name.into(),
            dtype: DType::F32,
            shape: vec![Dim::Fixed(1), Dim::Fixed(2), Dim::Fixed(4), Dim::Fixed(4)],
        }
    }

    /// x -> Conv -> Relu -> MaxPool -> Pad(value) -> HardSigmoid -> y
    fn graph(pad_value: f32) -> Graph {
        let mut g = Graph::default();
        g.inputs.push(vi("x"));
        g.outputs.push(vi("y"));
        g.add_initializer(TensorData::from_f32("w", vec![2, 2, 1, 1], &[1.0; 4]));
        g.add_initializer(TensorData::from_i64(
            "pads",
            vec![8],
            &[0, 0, 1, 1, 0, 0, 1, 1],
        ));
        g.add_initializer(TensorData::from_f32("v", vec![], &[pad_value]));
        g.nodes = vec![
            Node::new("conv", "Conv", &["x", "w"], &["c"]),
            Node::new("relu", "Relu", &["c"], &["r"]),
            Node::new("pool", "MaxPool", &["r"], &["p"]),
            Node::new("pad", "Pad", &["p", "pads", "v"], &["q"]),
            Node::new("hs", "HardSigmoid", &["q"], &["y"]),
        ];
        g
    }

    fn ranges(g: &Graph) -> HashMap<String, Range> {
        ["x", "c", "r", "p", "q", "y"]
            .iter()
            .filter(|t| g.nodes.iter().any(|n| n.outputs.contains(&t.to_string())) || **t == "x")
            .map(|t| {
                (
                    t.to_string(),
                    Range {
                        min: -1.0,
                        max: 1.0,
                    },
                )
            })
            .collect()
    }

    fn settings(opset: i64, symmetric: bool) -> MarkSettings {
        MarkSettings {
            activation_symmetric: symmetric,
            per_channel: false,
            opset,
        }
    }

    #[test]
    fn relu_goes_maxpool_and_zero_pad_share_hardsigmoid_stays_float() {
        let mut g = graph(0.0);
        let r = ranges(&g);
        let mk = mark(&mut g, &r, &settings(13, false));
        assert_eq!(mk.removed, ["relu"]);
        assert_eq!(g.nodes[0].outputs, ["r"], "the conv writes the relu output");
        assert_eq!(mk.marks["r"], Mark::Activation);
        assert_eq!(mk.marks["p"], Mark::SharedWith("r".into()));
        assert_eq!(mk.marks["q"], Mark::SharedWith("p".into()));
        // The pad value is a float constant input of a quantized Pad.
        assert_eq!(mk.marks["v"], Mark::Activation);
        assert_eq!(mk.marks["w"], Mark::Weight { axis: None });
        assert!(!mk.marks.contains_key("y"), "HardSigmoid is not quantized");
    }

    #[test]
    fn opset_symmetry_and_pad_value_change_the_decisions() {
        // MaxPool needs opset 12: below it, it stays float and its output does not share the
        // Relu's parameters; the Pad that reads it quantizes it with its own.
        let mut g = graph(0.0);
        let r = ranges(&g);
        let mk = mark(&mut g, &r, &settings(11, false));
        assert_eq!(mk.marks["p"], Mark::Activation);
        let mk13 = mark(&mut graph(0.0), &r, &settings(13, false));
        assert_eq!(mk13.marks["p"], Mark::SharedWith("r".into()));
        // Symmetric activations keep the Relu and quantize its input and output.
        let mut g = graph(0.0);
        let mk = mark(&mut g, &r, &settings(13, true));
        assert!(mk.removed.is_empty());
        assert_eq!(mk.marks["c"], Mark::Activation);
        assert_eq!(mk.marks["r"], Mark::Activation);
        // Padding with a value the input may not hold: the output gets its own parameters.
        let mut g = graph(0.5);
        let mk = mark(&mut g, &r, &settings(13, false));
        assert_eq!(mk.marks["q"], Mark::Activation);
    }

    #[test]
    fn relu_input_takes_the_relu_range_and_softmax_is_zero_to_one() {
        let mut g = graph(0.0);
        g.nodes.push(Node::new("sm", "Softmax", &["y"], &["z"]));
        let mut r = ranges(&g);
        r.insert("r".into(), Range { min: 0.0, max: 3.0 });
        r.insert("z".into(), Range { min: 0.2, max: 0.7 });
        adjust_ranges(&g, &mut r);
        assert_eq!(r["c"], Range { min: 0.0, max: 3.0 });
        assert_eq!(r["z"], Range { min: 0.0, max: 1.0 });
    }

    #[test]
    fn malformed_nodes_are_skipped_not_a_panic() {
        let mut g = graph(0.0);
        g.nodes.push(Node::new("bad", "Conv", &["y"], &["z"]));
        g.nodes.push(Node::new("bad2", "Relu", &[], &[]));
        let r = ranges(&g);
        let mk = mark(&mut g, &r, &settings(13, false));
        assert_eq!(mk.marks["z"], Mark::Activation);
        assert!(!mk.marks.contains_key(""));
    }
}
