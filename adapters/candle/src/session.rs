//! A loaded graph: initializers converted once, constant subgraphs folded at load, the remaining
//! nodes interpreted in topological order.

use std::collections::{HashMap, HashSet};

use candle_core::quantized::QMatMul;
use candle_core::{DType, Device, Tensor};
use qbench_core::{AdapterError, Batch, Output, Session};
use qbench_onnx::{Model, Node};

use crate::types::NodeTypes;
use crate::{ggml, ops, tensor_util, types};

const NAME: &str = "candle";

/// A prepared graph.
pub struct CandleSession {
    /// The nodes left after constant folding, in topological order.
    nodes: Vec<Node>,
    /// ONNX element types of each node's inputs and outputs.
    types: Vec<NodeTypes>,
    /// For each node, its GGML weight when it is a Gemm listed in `qbench.ggml`.
    ggml: Vec<Option<QMatMul>>,
    /// `(node, GGML type)` for the Gemm nodes that run with `QMatMul`.
    ggml_layers: Vec<(String, String)>,
    /// Initializers and folded node outputs that the remaining nodes read.
    constants: HashMap<String, Tensor>,
    /// Outputs of folded nodes kept in `constants`, in node order (shown by `run_visit`).
    folded: Vec<String>,
    input: String,
    output: String,
    /// For each node, the values whose last reader it is (freed after it runs).
    frees: Vec<Vec<String>>,
}

fn node_err(node: &Node, r: String) -> String {
    format!("node {} ({}): {r}", node.name, node.op_type)
}

impl CandleSession {
    /// Converts the model's initializers, checks that every operator is implemented, evaluates
    /// every node whose inputs are all constant once (so a run only executes the compute graph),
    /// and prepares the GGML weights the model's `qbench.ggml` metadata asks for.
    pub fn new(model: Model, input: &str, output: &str) -> Result<Self, String> {
        Self::build(model, input, output, true)
    }

    /// [`CandleSession::new`], optionally without constant folding (to test that folding
    /// changes nothing).
    fn build(mut model: Model, input: &str, output: &str, fold: bool) -> Result<Self, String> {
        model.graph.topo_sort().map_err(|e| e.to_string())?;
        model
            .graph
            .check_inputs_defined()
            .map_err(|e| e.to_string())?;
        crate::support::check_model(&model).map_err(|r| format!("{r}, by the candle backend"))?;
        if model.opset().is_some_and(|v| v < 13) {
            // Softmax changed meaning at opset 13; the kernel needs to know which one it runs.
            for n in model
                .graph
                .nodes
                .iter_mut()
                .filter(|n| n.op_type == "Softmax")
            {
                n.attributes.push((
                    crate::ops_activation::LEGACY_SOFTMAX.into(),
                    qbench_onnx::Attribute::Int(1),
                ));
            }
        }
        let requested = ggml::requested(&model)?;
        for (name, _) in &requested {
            if !model.graph.nodes.iter().any(|n| &n.name == name) {
                return Err(format!(
                    "metadata {} names node {name}, which is not in the graph",
                    ggml::METADATA_KEY
                ));
            }
        }
        let all_types = types::infer(&model.graph)?;
        let mut constants: HashMap<String, Tensor> = model
            .graph
            .initializers
            .iter()
            .filter(|t| t.name != input)
            .map(|t| tensor_util::tensor(t).map(|x| (t.name.clone(), x)))
            .collect::<Result<_, _>>()?;

        // Constant folding: a node whose inputs are all constants (initializers or outputs of
        // folded nodes) runs once here. GGML Gemms are kept: their weight is quantized below.
        let mut nodes = Vec::new();
        let mut node_types = Vec::new();
        let mut folded = Vec::new();
        for (node, ty) in model.graph.nodes.into_iter().zip(all_types) {
            let is_ggml = requested.iter().any(|(n, _)| *n == node.name);
            let foldable = fold
                && !is_ggml
                && node
                    .inputs
                    .iter()
                    .all(|x| x.is_empty() || constants.contains_key(x));
            if !foldable {
                nodes.push(node);
                node_types.push(ty);
                continue;
            }
            let inputs: Vec<Option<&Tensor>> =
                node.inputs.iter().map(|x| constants.get(x)).collect();
            let outs = ops::run(&node, &inputs, &ty)
                .map_err(|r| node_err(&node, format!("constant folding: {r}")))?;
            for (name, t) in node.outputs.iter().zip(outs) {
                if !name.is_empty() {
                    constants.insert(name.clone(), t);
                    folded.push(name.clone());
                }
            }
        }

        // GGML weights, from the folded constants.
        let mut ggml = vec![None; nodes.len()];
        let mut ggml_layers = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            if let Some((_, t)) = requested.iter().find(|(n, _)| *n == node.name) {
                let w = node.inputs.get(1).and_then(|w| constants.get(w));
                ggml[i] = Some(ggml::build(node, w, *t)?);
                ggml_layers.push((node.name.clone(), ggml::dtype_name(*t).to_string()));
            }
        }

        // Keep only the constants the remaining nodes read (a GGML Gemm reads its QMatMul
        // instead of the float weight) and the requested output.
        let mut read: HashSet<&str> = HashSet::new();
        for (node, g) in nodes.iter().zip(&ggml) {
            for (j, x) in node.inputs.iter().enumerate() {
                if !(g.is_some() && j == 1) {
                    read.insert(x);
                }
            }
        }
        read.insert(output);
        constants.retain(|k, _| read.contains(k.as_str()));
        folded.retain(|k| constants.contains_key(k));

        let mut last_use: HashMap<&str, usize> = HashMap::new();
        for (i, n) in nodes.iter().enumerate() {
            for x in n.inputs.iter().filter(|x| !x.is_empty()) {
                last_use.insert(x.as_str(), i);
            }
        }
        let mut frees = vec![Vec::new(); nodes.len()];
        for (name, i) in last_use {
            if name != output && !constants.contains_key(name) {
                frees[i].push(name.to_string());
            }
        }
        Ok(CandleSession {
            nodes,
            types: node_types,
            ggml,
            ggml_layers,
            constants,
            folded,
            input: input.into(),
            output: output.into(),
            frees,
        })
    }

    /// The Gemm nodes that run with GGML weights (`QMatMul`), as `(node name, "Q4_0" | "Q8_0")`.
    pub fn ggml_layers(&self) -> &[(String, String)] {
        &self.ggml_layers
    }

    /// Number of nodes executed per run (after constant folding).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }
}

/// Receives every tensor of a run: `(name, values)`.
pub type Sink<'a> = &'a mut dyn FnMut(&str, &[f32]) -> Result<(), String>;

fn to_f32(t: &Tensor) -> candle_core::Result<Vec<f32>> {
    t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()
}

impl CandleSession {
    /// Runs a batch and shows the input, the folded constants the graph reads and every node
    /// output to `sink` as float32 values (used to calibrate quantizers on the FP32 model).
    pub fn run_visit(&mut self, batch: &Batch, sink: Sink) -> Result<(), AdapterError> {
        self.execute(batch, Some(sink)).map(|_| ())
    }

    fn execute(&mut self, batch: &Batch, mut sink: Option<Sink>) -> Result<Output, AdapterError> {
        let err = |reason: String| AdapterError::Run {
            backend: NAME,
            reason,
        };
        let x = Tensor::from_slice(batch.data, batch.dims, &Device::Cpu)
            .map_err(|e| err(e.to_string()))?;
        let mut values: HashMap<String, Tensor> = HashMap::new();
        if let Some(sink) = sink.as_mut() {
            sink(&self.input, batch.data).map_err(err)?;
            for name in &self.folded {
                let v = to_f32(&self.constants[name]).map_err(|e| err(e.to_string()))?;
                sink(name, &v).map_err(err)?;
            }
        }
        values.insert(self.input.clone(), x);
        for (((node, frees), types), ggml) in self
            .nodes
            .iter()
            .zip(&self.frees)
            .zip(&self.types)
            .zip(&self.ggml)
        {
            let inputs: Vec<Option<&Tensor>> = node
                .inputs
                .iter()
                .map(|n| {
                    if n.is_empty() {
                        None
                    } else {
                        values.get(n).or_else(|| self.constants.get(n))
                    }
                })
                .collect();
            let outs = match ggml {
                Some(w) => match inputs.first().copied().flatten() {
                    Some(a) => ggml::gemm(w, a, inputs.get(2).copied().flatten()).map(|y| vec![y]),
                    None => Err("input 0 is missing".into()),
                },
                None => ops::run(node, &inputs, types),
            }
            .map_err(|r| err(node_err(node, r)))?;
            for (name, t) in node.outputs.iter().zip(outs) {
                if let Some(sink) = sink.as_mut() {
                    let v = to_f32(&t).map_err(|e| err(e.to_string()))?;
                    sink(name, &v).map_err(err)?;
                }
                values.insert(name.clone(), t);
            }
            for f in frees {
                values.remove(f);
            }
        }
        let y = values
            .remove(&self.output)
            .or_else(|| self.constants.get(&self.output).cloned())
            .ok_or_else(|| err(format!("output {} was not produced", self.output)))?;
        let dims = y.dims().to_vec();
        let data = to_f32(&y).map_err(|e| err(e.to_string()))?;
        Ok(Output { data, dims })
    }
}

impl Session for CandleSession {
    fn run(&mut self, batch: &Batch) -> Result<Output, AdapterError> {
        self.execute(batch, None)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use qbench_onnx::{Attribute, DType as D, Dim, Graph, TensorData, ValueInfo};

    pub fn value(name: &str, dims: &[i64]) -> ValueInfo {
        let mut shape = vec![Dim::Param("N".into())];
        shape.extend(dims.iter().map(|d| Dim::Fixed(*d)));
        ValueInfo {
            name: name.into(),
            dtype: D::F32,
            shape,
        }
    }

    pub fn f16(name: &str, dims: Vec<i64>, bits: &[u16]) -> TensorData {
        TensorData {
            name: name.into(),
            dtype: D::F16,
            dims,
            raw: bits.iter().flat_map(|b| b.to_le_bytes()).collect(),
        }
    }

    fn lcg(seed: &mut u32) -> f32 {
        *seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        (*seed >> 8) as f32 / (1u32 << 24) as f32
    }

    fn input(n: usize, len: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n * len).map(|_| lcg(&mut s) * 4.0 - 2.0).collect()
    }

    fn run(s: &mut CandleSession, data: &[f32], dims: [usize; 4]) -> Output {
        s.run(&Batch { data, dims: &dims }).unwrap()
    }

    /// Weight-only and QDQ-int16 forms: int8 weight with an f16 per-row scale (Cast), per-axis
    /// DequantizeLinear, Reshape, Slice, a Constant f16 bias (Cast), then an int16 Q -> Clip
    /// (no max) -> DQ on the activation.
    fn weight_only_model() -> Model {
        let mut seed = 3;
        let codes: Vec<i8> = (0..16 * 64)
            .map(|_| (lcg(&mut seed) * 255.0) as i32 as i8)
            .collect();
        let scale_bits: Vec<u16> = (0..16).map(|i| 0x2000 + 37 * i).collect();
        let bias = TensorData {
            name: "bias_value".into(),
            ..f16(
                "",
                vec![10],
                &[0x3c00, 0xbc00, 0x3800, 0, 0x3555, 1, 2, 3, 0x4000, 0xc000],
            )
        };
        let graph = Graph {
            name: "weight_only".into(),
            nodes: vec![
                Node::new("flat", "Flatten", &["x"], &["xf"]),
                Node::new("cast_s", "Cast", &["s16"], &["s"]).with_attr("to", Attribute::Int(1)),
                Node::new("dq_w", "DequantizeLinear", &["wq", "s", "wz"], &["wf"])
                    .with_attr("axis", Attribute::Int(0)),
                Node::new("reshape_w", "Reshape", &["wf", "shape"], &["wr"]),
                Node::new(
                    "slice_w",
                    "Slice",
                    &["wr", "starts", "ends", "axes"],
                    &["ws"],
                ),
                Node::new("bias_c", "Constant", &[], &["b16"])
                    .with_attr("value", Attribute::Tensor(bias)),
                Node::new("cast_b", "Cast", &["b16"], &["b"]).with_attr("to", Attribute::Int(1)),
                Node::new("fc", "Gemm", &["xf", "ws", "b"], &["g"])
                    .with_attr("transB", Attribute::Int(1)),
                Node::new("q_a", "QuantizeLinear", &["g", "sa", "za"], &["ga_q"]),
                Node::new("clip_a", "Clip", &["ga_q", "lo", ""], &["ga_c"]),
                Node::new("dq_a", "DequantizeLinear", &["ga_c", "sa", "za"], &["ga"]),
                Node::new("relu", "Relu", &["ga"], &["y"]),
            ],
            initializers: vec![
                TensorData::from_i8("wq", vec![16, 64], &codes),
                f16("s16", vec![16], &scale_bits),
                TensorData::from_i8("wz", vec![16], &[0; 16]),
                TensorData::from_i64("shape", vec![2], &[-1, 0]),
                TensorData::from_i64("starts", vec![1], &[0]),
                TensorData::from_i64("ends", vec![1], &[10]),
                TensorData::from_i64("axes", vec![1], &[0]),
                TensorData::from_f32("sa", vec![], &[0.0002]),
                TensorData::from_i16("za", vec![], &[-5]),
                TensorData::from_i16("lo", vec![], &[-1000]),
            ],
            inputs: vec![value("x", &[1, 4, 16])],
            outputs: vec![value("y", &[10])],
            value_info: vec![],
        };
        Model::new(graph, 21)
    }

    #[test]
    fn constant_folding_leaves_an_equivalent_graph() {
        let model = weight_only_model();
        let mut folded = CandleSession::new(model.clone(), "x", "y").unwrap();
        let mut plain = CandleSession::build(model, "x", "y", false).unwrap();
        assert_eq!(plain.node_count(), 12);
        // Left: Flatten, Gemm, Q, Clip, DQ, Relu.
        assert_eq!(folded.node_count(), 6);
        let ops: Vec<&str> = folded.nodes.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(
            ops,
            [
                "Flatten",
                "Gemm",
                "QuantizeLinear",
                "Clip",
                "DequantizeLinear",
                "Relu"
            ]
        );
        // Only what the compute graph reads stays: the sliced weight, the bias, the Q/DQ and
        // Clip parameters (not wq, s16, wf, ...).
        let mut kept: Vec<&str> = folded.constants.keys().map(String::as_str).collect();
        kept.sort();
        assert_eq!(kept, ["b", "lo", "sa", "ws", "za"]);
        // (Constant has no inputs, so the stable topological sort puts it first.)
        assert_eq!(folded.folded, ["b", "ws"]);
        // Frees never name constants, and every intermediate is freed exactly once.
        let mut freed: Vec<&str> = folded.frees.iter().flatten().map(String::as_str).collect();
        freed.sort();
        assert_eq!(freed, ["g", "ga", "ga_c", "ga_q", "x", "xf"]);
        let x = input(3, 64, 11);
        let a = run(&mut folded, &x, [3, 1, 4, 16]);
        let b = run(&mut plain, &x, [3, 1, 4, 16]);
        assert_eq!(a.dims, vec![3, 10]);
        assert_eq!(a, b);
        assert!(a.data.iter().any(|v| *v > 0.0));
        // Runs are repeatable (nothing freed that a later run needs).
        assert_eq!(run(&mut folded, &x, [3, 1, 4, 16]), a);
        // run_visit shows the input, the folded constants the graph reads, every node output.
        let (mut seen, mut ga, mut ga_q) = (Vec::new(), Vec::new(), Vec::new());
        folded
            .run_visit(
                &Batch {
                    data: &x,
                    dims: &[3, 1, 4, 16],
                },
                &mut |name: &str, v: &[f32]| {
                    seen.push(name.to_string());
                    match name {
                        "ga" => ga = v.to_vec(),
                        "ga_q" => ga_q = v.to_vec(),
                        _ => {}
                    }
                    Ok(())
                },
            )
            .unwrap();
        // The int16 activation saturates at 32767 and reaches below -1000, where the Clip with
        // only a min input bounds it: DQ gives (-1000 - (-5)) * 0.0002.
        assert!(ga_q.contains(&32767.0), "{ga_q:?}");
        assert!(ga_q.iter().any(|v| *v < -1000.0), "{ga_q:?}");
        let floor = -995.0f32 * 0.0002;
        assert_eq!(ga.iter().fold(f32::INFINITY, |m, v| m.min(*v)), floor);
        assert!(ga.iter().any(|v| *v > 1.0), "{ga:?}");
        assert_eq!(seen, ["x", "b", "ws", "xf", "g", "ga_q", "ga_c", "ga", "y"]);
    }

    #[test]
    fn a_graph_that_is_all_constant_still_produces_its_output() {
        let graph = Graph {
            name: "c".into(),
            nodes: vec![
                Node::new("k", "Constant", &[], &["k"])
                    .with_attr("value_floats", Attribute::Floats(vec![1.5, -2.0])),
                Node::new("cast", "Cast", &["k"], &["y"]).with_attr("to", Attribute::Int(10)),
            ],
            inputs: vec![value("x", &[1, 1, 1])],
            outputs: vec![value("y", &[2])],
            ..Graph::default()
        };
        let mut s = CandleSession::new(Model::new(graph, 13), "x", "y").unwrap();
        assert_eq!(s.node_count(), 0);
        let out = run(&mut s, &[0.0], [1, 1, 1, 1]);
        assert_eq!(out.data, vec![1.5, -2.0]);
    }

    /// x [N, 1, 2, 2] with 3 channels -> DynamicQuantizeLinear -> ConvInteger (3x3, pads 1,
    /// int8 weight, zero point 3) -> Cast -> Mul(x_scale * w_scale) -> Add(bias reshaped to
    /// [1, C, 1, 1]), as ONNX Runtime's quantize_dynamic writes it. Checked against integer
    /// arithmetic by hand.
    #[test]
    fn dynamic_conv_integer_graph_matches_integer_arithmetic() {
        let (c, m, h, w) = (3usize, 2usize, 3usize, 3usize);
        let mut seed = 5;
        let wq: Vec<i8> = (0..m * c * 9)
            .map(|_| (lcg(&mut seed) * 255.0 - 127.0) as i8)
            .collect();
        let graph = Graph {
            name: "dyn".into(),
            nodes: vec![
                Node::new("dql", "DynamicQuantizeLinear", &["x"], &["xq", "xs", "xz"]),
                Node::new("scales", "Mul", &["xs", "ws"], &["sxw"]),
                Node::new("ci", "ConvInteger", &["xq", "wq", "xz", "wz"], &["acc"])
                    .with_attr("pads", Attribute::Ints(vec![1, 1, 1, 1]))
                    .with_attr("kernel_shape", Attribute::Ints(vec![3, 3])),
                Node::new("cast", "Cast", &["acc"], &["accf"]).with_attr("to", Attribute::Int(1)),
                Node::new("mul", "Mul", &["accf", "sxw"], &["scaled"]),
                Node::new("bias_reshape", "Reshape", &["bias", "bshape"], &["b4"]),
                Node::new("add", "Add", &["scaled", "b4"], &["y"]),
            ],
            initializers: vec![
                TensorData::from_i8("wq", vec![m as i64, c as i64, 3, 3], &wq),
                TensorData::from_f32("ws", vec![], &[0.0123]),
                TensorData::from_i8("wz", vec![], &[3]),
                TensorData::from_f32("bias", vec![m as i64], &[0.25, -0.5]),
                TensorData::from_i64("bshape", vec![4], &[1, -1, 1, 1]),
            ],
            inputs: vec![value("x", &[c as i64, h as i64, w as i64])],
            outputs: vec![value("y", &[m as i64, h as i64, w as i64])],
            value_info: vec![],
        };
        let mut s = CandleSession::new(Model::new(graph, 13), "x", "y").unwrap();
        // The bias Reshape is folded.
        assert_eq!(s.node_count(), 6);
        let n = 2;
        let x = input(n, c * h * w, 9);
        let out = run(&mut s, &x, [n, c, h, w]);
        // Reference: ONNX formulas, integer conv in i64.
        let (lo, hi) = x
            .iter()
            .fold((0f32, 0f32), |(a, b), v| (a.min(*v), b.max(*v)));
        let xs = (hi - lo) / 255.0;
        let xz = (0.0 - lo / xs).clamp(0.0, 255.0).round_ties_even();
        let xq: Vec<i64> = x
            .iter()
            .map(|v| ((v / xs).round_ties_even() + xz).clamp(0.0, 255.0) as i64)
            .collect();
        let scale = xs * 0.0123f32;
        let mut want = Vec::new();
        for b in 0..n {
            for o in 0..m {
                for i in 0..h as i64 {
                    for j in 0..w as i64 {
                        let mut acc = 0i64;
                        for ch in 0..c {
                            for di in 0..3i64 {
                                for dj in 0..3i64 {
                                    let (y, x_) = (i + di - 1, j + dj - 1);
                                    if y < 0 || x_ < 0 || y >= h as i64 || x_ >= w as i64 {
                                        continue;
                                    }
                                    let xv = xq[((b * c + ch) * h + y as usize) * w + x_ as usize];
                                    let wv = wq[(o * c + ch) * 9 + (di * 3 + dj) as usize];
                                    acc += (xv - xz as i64) * (wv as i64 - 3);
                                }
                            }
                        }
                        want.push(acc as f32 * scale + [0.25f32, -0.5][o]);
                    }
                }
            }
        }
        assert_eq!(out.dims, vec![n, m, h, w]);
        assert_eq!(out.data, want);
    }

    /// Gemm `fc` with a weight stored as int8 GGML codes and per-block f16 scales (blocked
    /// DequantizeLinear, block 32 along K), as the quantizer writes Q4_0/Q8_0 artifacts.
    pub fn ggml_model(kind: &str, k: usize, meta: Option<&str>) -> Model {
        let n = 8usize;
        let mut seed = 21;
        let codes: Vec<i8> = (0..n * k)
            .map(|i| {
                let r = lcg(&mut seed);
                match kind {
                    // -8 at the start of every block: the block's largest magnitude.
                    "q4_0" if i % 32 == 0 => -8,
                    "q4_0" => (r * 16.0) as i32 as i8 - 8,
                    _ if i % 32 == 5 => 127,
                    _ => (r * 255.0) as i32 as i8 - 127,
                }
            })
            .collect();
        let blocks = k.div_ceil(32);
        let scale_bits: Vec<u16> = (0..n * blocks).map(|i| 0x1c00 + 53 * i as u16).collect();
        let graph = Graph {
            name: "ggml".into(),
            nodes: vec![
                Node::new("flat", "Flatten", &["x"], &["xf"]),
                Node::new("cast_s", "Cast", &["s16"], &["s"]).with_attr("to", Attribute::Int(1)),
                Node::new("dq_w", "DequantizeLinear", &["wq", "s"], &["wf"])
                    .with_attr("axis", Attribute::Int(1))
                    .with_attr("block_size", Attribute::Int(32)),
                Node::new("fc", "Gemm", &["xf", "wf", "b"], &["y"])
                    .with_attr("transB", Attribute::Int(1)),
            ],
            initializers: vec![
                TensorData::from_i8("wq", vec![n as i64, k as i64], &codes),
                f16("s16", vec![n as i64, blocks as i64], &scale_bits),
                TensorData::from_f32("b", vec![n as i64], &[0.5; 8]),
            ],
            inputs: vec![value("x", &[1, 1, k as i64])],
            outputs: vec![value("y", &[n as i64])],
            value_info: vec![],
        };
        let mut m = Model::new(graph, 21);
        if let Some(meta) = meta {
            m.metadata
                .push((crate::GGML_METADATA_KEY.into(), meta.into()));
        }
        m
    }

    #[test]
    fn ggml_gemm_runs_qmatmul_close_to_float() {
        for (kind, name) in [("q4_0", "Q4_0"), ("q8_0", "Q8_0")] {
            let k = 96;
            let meta = format!("{{\"fc\": \"{kind}\"}}");
            let mut q = CandleSession::new(ggml_model(kind, k, Some(&meta)), "x", "y").unwrap();
            let mut f = CandleSession::new(ggml_model(kind, k, None), "x", "y").unwrap();
            assert_eq!(q.ggml_layers(), [("fc".to_string(), name.to_string())]);
            assert!(f.ggml_layers().is_empty());
            assert_eq!(q.node_count(), 2);
            // The float weight is not kept: the QMatMul holds the quantized copy.
            assert!(!q.constants.contains_key("wf") && f.constants.contains_key("wf"));
            let x = input(4, k, 17);
            let a = run(&mut q, &x, [4, 1, 1, k]);
            let b = run(&mut f, &x, [4, 1, 1, k]);
            assert_eq!(a.dims, b.dims);
            // Only the activations' Q8_0 rounding differs (|dx| <= 0.0045 max|x| per block,
            // see ggml::tests for the exact bound); 1% of the output scale is ample here.
            let scale = b.data.iter().fold(0f32, |m, v| m.max(v.abs()));
            for (u, v) in a.data.iter().zip(&b.data) {
                assert!((u - v).abs() <= 0.01 * scale, "{kind}: {u} vs {v}");
            }
        }
    }

    #[test]
    fn bad_ggml_metadata_is_a_load_error_naming_the_node() {
        let err = |m: Model| CandleSession::new(m, "x", "y").err().unwrap();
        // K = 48 is not a multiple of 32 (blocked DQ with a partial last block).
        let e = err(ggml_model("q8_0", 48, Some(r#"{"fc": "q8_0"}"#)));
        assert!(e.contains("node fc") && e.contains("K = 48"), "{e}");
        let e = err(ggml_model("q8_0", 64, Some(r#"{"fc2": "q8_0"}"#)));
        assert!(e.contains("fc2") && e.contains("not in the graph"), "{e}");
        let e = err(ggml_model("q8_0", 64, Some(r#"{"flat": "q4_0"}"#)));
        assert!(e.contains("node flat") && e.contains("not a Gemm"), "{e}");
        let e = err(ggml_model("q8_0", 64, Some(r#"{"fc": "q5_1"}"#)));
        assert!(e.contains("fc") && e.contains("q5_1"), "{e}");
        let e = err(ggml_model("q8_0", 64, Some(r#"["fc"]"#)));
        assert!(e.contains("qbench.ggml"), "{e}");
        // A weight computed at run time is not constant.
        let mut m = ggml_model("q8_0", 64, Some(r#"{"fc": "q8_0"}"#));
        m.graph.nodes[3].inputs[1] = "xf".into();
        let e = err(m);
        assert!(e.contains("node fc") && e.contains("not a constant"), "{e}");
    }

    #[test]
    fn unsupported_operators_are_rejected_at_load() {
        let mut m = ggml_model("q8_0", 64, None);
        m.graph
            .nodes
            .push(Node::new("sm", "GridSample", &["y"], &["z"]));
        let e = CandleSession::new(m, "x", "z").err().unwrap();
        assert!(e.contains("GridSample") && e.contains("node \"sm\""), "{e}");
    }
}
