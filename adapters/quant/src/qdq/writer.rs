//! The framework-neutral QDQ writer: every recipe decides *which* tensors get *which* parameters
//! (its framework's rules); this module only writes them into the graph.
//!
//! * An activation in [`QdqPlan::activations`] gets `QuantizeLinear -> [Clip] -> DequantizeLinear`
//!   at its producer; readers read the DequantizeLinear output; a graph output keeps its name. The
//!   `Clip` (on the integer tensor) appears only when the parameters' integer range is narrower
//!   than the container type (e.g. PyTorch's `reduce_range` quint8 `[0, 127]`, 4-bit activations).
//! * A weight in [`QdqPlan::weights`] (keyed by the Conv/Gemm node) is stored as integers and
//!   dequantized by a DequantizeLinear: per tensor, per channel (`axis`), or in blocks along the
//!   reduction dimension (stored `[O·nb, block]` with a per-row DequantizeLinear, then
//!   Reshape/Slice back to the weight's shape: standard operators that every backend folds into
//!   a constant).
//! * The bias of a node whose input activation and weight are quantized is int32 with scale
//!   `s_in · s_w` and zero point 0 ([`BiasMode::Int32`]), or stays float.
//!
//! Zero points are always explicit (tract reads a missing one as uint8). 16-bit types raise the
//! model to opset 21 (ONNX IR 10), where QuantizeLinear/DequantizeLinear accept them.

use std::collections::{HashMap, HashSet};

use qbench_onnx::{Attribute, Graph, Model, Node, TensorData};

use crate::bias::{quantize_bias_i32, quantize_bias_i32_tflite};
use crate::error::{QuantError, Result};
use crate::params::QuantParams;
use crate::scheme::QType;

/// Operators whose activation inputs and outputs ONNX Runtime, TFLite and PyTorch quantize.
pub const QUANTIZED_OPS: &[&str] = &[
    "Conv",
    "Gemm",
    "MatMul",
    "Add",
    "GlobalAveragePool",
    "Flatten",
];

/// How one activation tensor is quantized.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ActQuant {
    pub params: QuantParams,
    /// Container type of the QuantizeLinear output (int8, uint8, int16, ...).
    pub qtype: QType,
}

/// Where a weight's scales apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightLayout {
    PerTensor,
    /// One scale per index of `axis` (output channels).
    PerChannel {
        axis: usize,
    },
    /// One scale per `size` consecutive elements of each output channel's flattened row
    /// (`[O, K]`, the last block zero-padded); `q` is laid out `[O, nb·size]`, scales `[O·nb]`.
    Block {
        size: usize,
    },
}

/// A quantized weight: integers, their parameters and layout.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightQuant {
    pub q: Vec<i32>,
    pub scales: Vec<f32>,
    pub zero_points: Vec<i32>,
    /// Container type (values must lie in its range).
    pub qtype: QType,
    pub layout: WeightLayout,
}

/// What happens to Conv/Gemm biases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BiasMode {
    /// int32, scale `s_in · s_w`, zero point 0 (when input and weight are quantized), rounded
    /// as ONNX Runtime does (ties to even).
    Int32,
    /// The same, rounded as TFLite's converter does (reciprocal scale, ties away from zero).
    Int32Tflite,
    /// Left in float.
    Float,
}

/// Everything a recipe decided.
#[derive(Clone, Debug)]
pub struct QdqPlan {
    /// Activation tensor name (after [`remove_relus`], if the recipe calls it) -> parameters.
    pub activations: HashMap<String, ActQuant>,
    /// Conv/Gemm node name -> its quantized weight (input 1).
    pub weights: HashMap<String, WeightQuant>,
    /// Other float initializers stored quantized (per tensor or per channel), by name: every
    /// reader reads their DequantizeLinear output (ONNX Runtime's constant operands of Mul/Add,
    /// MatMul weights).
    pub constants: HashMap<String, WeightQuant>,
    pub bias: BiasMode,
}

/// A constant Conv/Gemm weight, as recipes see it.
#[derive(Clone, Debug)]
pub struct WeightSite {
    pub node: String,
    pub op_type: String,
    pub name: String,
    pub values: Vec<f32>,
    pub dims: Vec<usize>,
    /// Axis of the output channels (0, or 1 for a Gemm without transB and for ConvTranspose).
    pub out_axis: usize,
}

impl WeightSite {
    /// Output channels.
    pub fn channels(&self) -> usize {
        self.dims[self.out_axis]
    }

    /// Length of the reduction (elements per output channel).
    pub fn reduction(&self) -> usize {
        self.values.len() / self.channels().max(1)
    }
}

/// The constant weights of every Conv, Gemm and ConvTranspose (one group: with more, the
/// output channels span two weight axes), in graph order.
pub fn weight_sites(g: &Graph) -> Result<Vec<WeightSite>> {
    g.nodes
        .iter()
        .filter(|n| {
            n.op_type == "Conv"
                || n.op_type == "Gemm"
                || (n.op_type == "ConvTranspose" && n.attr_int("group", 1) == 1)
        })
        .map(|n| {
            let w = n
                .inputs
                .get(1)
                .and_then(|w| g.initializer(w))
                .ok_or_else(|| {
                    QuantError::Shape(format!("{}: weight is not a constant", n.name))
                })?;
            let values = w.to_f32().map_err(|e| QuantError::Shape(e.to_string()))?;
            let dims: Vec<usize> = w.dims.iter().map(|d| *d as usize).collect();
            // ConvTranspose weights are (in, out, kH, kW).
            let out_axis = usize::from(
                (n.op_type == "Gemm" && n.attr_int("transB", 0) == 0)
                    || n.op_type == "ConvTranspose",
            );
            if dims.len() < 2 {
                return Err(QuantError::Shape(format!(
                    "{}: weight {} has rank {}",
                    n.name,
                    w.name,
                    dims.len()
                )));
            }
            Ok(WeightSite {
                node: n.name.clone(),
                op_type: n.op_type.clone(),
                name: w.name.clone(),
                values,
                dims,
                out_axis,
            })
        })
        .collect()
}

/// Removes Relus that follow a single-reader quantized producer, renaming the producer's
/// output (ONNX Runtime's `QDQRemovableActivation`; TFLite and PyTorch fuse them the same way):
/// the asymmetric activation range, calibrated on the Relu output, starts at 0, so the Q/DQ pair
/// does the clamping.
pub fn remove_relus(g: &mut Graph) {
    let outputs: HashSet<String> = g.outputs.iter().map(|o| o.name.clone()).collect();
    loop {
        let consumers = g.consumers();
        let producers = g.producers();
        let hit = g.nodes.iter().position(|n| {
            n.op_type == "Relu"
                && n.domain.is_empty()
                && producers.get(n.inputs[0].as_str()).is_some_and(|p| {
                    QUANTIZED_OPS.contains(&g.nodes[*p].op_type.as_str())
                        && g.nodes[*p].op_type != "Flatten"
                })
                && consumers
                    .get(n.inputs[0].as_str())
                    .is_some_and(|c| c.len() == 1)
                && !outputs.contains(&n.inputs[0])
        });
        let Some(i) = hit else { return };
        let relu = g.nodes.remove(i);
        let p = g.producers()[relu.inputs[0].as_str()];
        if let Some(slot) = g.nodes[p]
            .outputs
            .iter_mut()
            .find(|o| **o == relu.inputs[0])
        {
            *slot = relu.outputs[0].clone();
        }
    }
}

/// Activation tensors read or written by `ops` (Conv/Gemm: data input only), first-seen order.
pub fn activations_of(g: &Graph, ops: &[&str]) -> Vec<String> {
    let inits: HashSet<&str> = g.initializers.iter().map(|t| t.name.as_str()).collect();
    let mut acts: Vec<String> = Vec::new();
    for n in g.nodes.iter().filter(|n| ops.contains(&n.op_type.as_str())) {
        let data_inputs = match n.op_type.as_str() {
            "Conv" | "Gemm" => &n.inputs[..1.min(n.inputs.len())],
            _ => &n.inputs[..],
        };
        for t in data_inputs.iter().chain(n.outputs.iter()) {
            if !t.is_empty() && !inits.contains(t.as_str()) && !acts.contains(t) {
                acts.push(t.clone());
            }
        }
    }
    acts
}

/// Integer tensor of a container type (8-bit or 16-bit, signed or not).
fn int_tensor(name: String, qtype: QType, v: &[i32], dims: Vec<i64>) -> Result<TensorData> {
    let (lo, hi) = container(qtype).full_range();
    if let Some(bad) = v.iter().find(|x| **x < lo || **x > hi) {
        return Err(QuantError::InvalidParams(format!(
            "{name}: value {bad} does not fit {}",
            container(qtype)
        )));
    }
    Ok(match (container(qtype).bits(), qtype.is_signed()) {
        (8, true) => {
            TensorData::from_i8(name, dims, &v.iter().map(|z| *z as i8).collect::<Vec<_>>())
        }
        (8, false) => {
            TensorData::from_u8(name, dims, &v.iter().map(|z| *z as u8).collect::<Vec<_>>())
        }
        (_, true) => {
            TensorData::from_i16(name, dims, &v.iter().map(|z| *z as i16).collect::<Vec<_>>())
        }
        (_, false) => {
            TensorData::from_u16(name, dims, &v.iter().map(|z| *z as u16).collect::<Vec<_>>())
        }
    })
}

/// The ONNX type that holds a `qtype`: 8 bits up to 8, 16 bits above.
pub fn container(qtype: QType) -> QType {
    match (qtype.bits() <= 8, qtype.is_signed()) {
        (true, true) => QType::INT8,
        (true, false) => QType::UINT8,
        (false, true) => QType::INT16,
        (false, false) => QType::UINT16,
    }
}

fn dq_node(
    name: &str,
    input: &str,
    scale: &str,
    zp: &str,
    output: &str,
    axis: Option<i64>,
) -> Node {
    let n = Node::new(
        format!("{name}_DequantizeLinear"),
        "DequantizeLinear",
        &[input, scale, zp],
        &[output],
    );
    match axis {
        Some(a) => n.with_attr("axis", Attribute::Int(a)),
        None => n,
    }
}

/// Writes `plan` into a copy of `model` (which must already have the shape the plan was made on,
/// e.g. after [`remove_relus`]).
pub fn write_qdq(model: &Model, plan: &QdqPlan) -> Result<Model> {
    let mut m = model.clone();
    let opset = m.opset().unwrap_or(0);
    if opset < 10 {
        return Err(QuantError::Unsupported {
            framework: "qbench QDQ",
            what: format!(
                "models below opset 10 (QuantizeLinear needs 10; this one imports {opset})"
            ),
        });
    }
    if opset < 13
        && plan
            .weights
            .values()
            .chain(plan.constants.values())
            .any(|w| !matches!(w.layout, WeightLayout::PerTensor))
    {
        // ONNX Runtime's QDQ quantizer raises the same: per-axis DequantizeLinear is opset 13.
        return Err(QuantError::Unsupported {
            framework: "qbench QDQ",
            what: format!(
                "per-channel or blocked weights in a model of opset {opset}: per-axis \
                 DequantizeLinear needs opset 13 (ONNX Runtime: \"Per-Channel support with QDQ \
                 format requires onnx opset version 13 or above\")"
            ),
        });
    }
    let wide = plan.activations.values().any(|a| a.qtype.bits() > 8)
        || plan
            .weights
            .values()
            .chain(plan.constants.values())
            .any(|w| w.qtype.bits() > 8);
    if wide {
        raise_to_21_check(&m)?;
    }
    let g = &mut m.graph;
    let graph_outputs: HashSet<String> = g.outputs.iter().map(|o| o.name.clone()).collect();
    let produced: HashSet<String> = g
        .nodes
        .iter()
        .flat_map(|n| n.outputs.iter().cloned())
        .chain(g.inputs.iter().map(|i| i.name.clone()))
        .collect();
    // Activations in graph order, so the written model does not depend on hash order.
    let mut acts: Vec<&String> = plan.activations.keys().collect();
    let order: HashMap<String, usize> = activations_of(
        g,
        &g.nodes
            .iter()
            .map(|n| n.op_type.as_str())
            .collect::<Vec<_>>(),
    )
    .into_iter()
    .enumerate()
    .map(|(i, t)| (t, i))
    .collect();
    acts.sort_by_key(|t| (order.get(*t).copied().unwrap_or(usize::MAX), (*t).clone()));
    let mut new_nodes: Vec<Node> = Vec::new();
    let mut rename: HashMap<String, String> = HashMap::new();
    for t in acts {
        if !produced.contains(t) {
            return Err(QuantError::InvalidArgument(format!(
                "activation {t} is not a tensor of the graph"
            )));
        }
        let a = &plan.activations[t];
        let ct = container(a.qtype);
        let (scale, zp) = (format!("{t}_scale"), format!("{t}_zero_point"));
        g.add_initializer(TensorData::from_f32(
            scale.clone(),
            vec![],
            &[a.params.scale],
        ));
        g.add_initializer(int_tensor(
            zp.clone(),
            a.qtype,
            &[a.params.zero_point],
            vec![],
        )?);
        let q_out = format!("{t}_QuantizeLinear_Output");
        let (src, dq_out) = if graph_outputs.contains(t) {
            let src = format!("{t}_QuantizeLinear_Input");
            for n in g.nodes.iter_mut() {
                n.outputs
                    .iter_mut()
                    .filter(|o| *o == t)
                    .for_each(|o| *o = src.clone());
            }
            (src, t.clone())
        } else {
            let dq_out = format!("{t}_DequantizeLinear_Output");
            rename.insert(t.clone(), dq_out.clone());
            (t.clone(), dq_out)
        };
        new_nodes.push(Node::new(
            format!("{t}_QuantizeLinear"),
            "QuantizeLinear",
            &[&src, &scale, &zp],
            &[&q_out],
        ));
        let (lo, hi) = ct.full_range();
        let dq_in = if a.params.qmin > lo || a.params.qmax < hi {
            let (cmin, cmax, c_out) = (
                format!("{t}_clip_min"),
                format!("{t}_clip_max"),
                format!("{t}_Clip_Output"),
            );
            g.add_initializer(int_tensor(cmin.clone(), a.qtype, &[a.params.qmin], vec![])?);
            g.add_initializer(int_tensor(cmax.clone(), a.qtype, &[a.params.qmax], vec![])?);
            new_nodes.push(Node::new(
                format!("{t}_Clip"),
                "Clip",
                &[&q_out, &cmin, &cmax],
                &[&c_out],
            ));
            c_out
        } else {
            q_out
        };
        new_nodes.push(dq_node(t, &dq_in, &scale, &zp, &dq_out, None));
    }
    for n in g.nodes.iter_mut() {
        for i in n.inputs.iter_mut() {
            if let Some(r) = rename.get(i) {
                *i = r.clone();
            }
        }
    }
    let mut weight_nodes = Vec::new();
    for idx in 0..g.nodes.len() {
        let n = g.nodes[idx].clone();
        let Some(wq) = plan.weights.get(&n.name) else {
            continue;
        };
        let w = n
            .inputs
            .get(1)
            .and_then(|w| g.initializer(w))
            .ok_or_else(|| QuantError::Shape(format!("{}: weight is not a constant", n.name)))?
            .clone();
        let written = write_weight(g, Some(&n), &w, wq, &mut weight_nodes)?;
        g.nodes[idx].inputs[1] = written;
        // int32 bias when the input is quantized and the weight has one scale per channel or
        // per tensor.
        let x_name = n.inputs[0]
            .trim_end_matches("_DequantizeLinear_Output")
            .to_string();
        let s_in = plan.activations.get(&x_name).map(|a| a.params.scale);
        let per_channel = matches!(wq.layout, WeightLayout::PerChannel { .. });
        let bias = n.inputs.get(2).filter(|b| !b.is_empty()).cloned();
        if let (BiasMode::Int32 | BiasMode::Int32Tflite, Some(s_in), Some(bname), false) = (
            plan.bias,
            s_in,
            bias,
            matches!(wq.layout, WeightLayout::Block { .. }),
        ) {
            // A bias computed at run time stays float (ONNX Runtime warns and does the same).
            let Some(b) = g.initializer(&bname).cloned() else {
                continue;
            };
            let bv = b.to_f32().map_err(|e| QuantError::Shape(e.to_string()))?;
            let bq = if plan.bias == BiasMode::Int32Tflite {
                quantize_bias_i32_tflite(&bv, s_in, &wq.scales)
            } else {
                quantize_bias_i32(&bv, s_in, &wq.scales)
            }
            .map_err(|e| e.context(bname.clone()))?;
            let bscales: Vec<f32> = wq.scales.iter().map(|s| s_in * s).collect();
            let pdims = if per_channel {
                vec![bscales.len() as i64]
            } else {
                vec![]
            };
            let (bqn, bs, bz, bout) = (
                format!("{bname}_quantized"),
                format!("{bname}_quantized_scale"),
                format!("{bname}_quantized_zero_point"),
                format!("{bname}_DequantizeLinear_Output"),
            );
            g.add_initializer(TensorData::from_i32(bqn.clone(), b.dims.clone(), &bq));
            g.add_initializer(TensorData::from_f32(bs.clone(), pdims.clone(), &bscales));
            g.add_initializer(TensorData::from_i32(
                bz.clone(),
                pdims,
                &vec![0; bscales.len()],
            ));
            weight_nodes.push(dq_node(
                &bname,
                &bqn,
                &bs,
                &bz,
                &bout,
                per_channel.then_some(0),
            ));
            g.nodes[idx].inputs[2] = bout;
        }
    }
    let mut names: Vec<&String> = plan.constants.keys().collect();
    names.sort();
    for name in names {
        let w = g
            .initializer(name)
            .ok_or_else(|| {
                QuantError::InvalidArgument(format!("constant {name} is not an initializer"))
            })?
            .clone();
        let out = write_weight(g, None, &w, &plan.constants[name], &mut weight_nodes)?;
        for n in g.nodes.iter_mut() {
            for i in n.inputs.iter_mut().filter(|i| *i == name) {
                *i = out.clone();
            }
        }
    }
    g.nodes.extend(weight_nodes);
    g.nodes.extend(new_nodes);
    g.prune_initializers();
    g.value_info.clear();
    g.topo_sort()
        .map_err(|e| QuantError::Shape(e.to_string()))?;
    g.check_inputs_defined()
        .map_err(|e| QuantError::Shape(e.to_string()))?;
    if wide {
        for (d, v) in m.opset_imports.iter_mut() {
            if d.is_empty() || d == "ai.onnx" {
                *v = (*v).max(21);
            }
        }
        m.ir_version = m.ir_version.max(10);
    }
    Ok(m)
}

/// Operators whose attributes moved to inputs (or changed meaning) between opset 13 and 21:
/// raising the opset of a graph that uses them in the old form would change the model.
const CHANGED_BY_18: &[(&str, &str)] = &[
    ("ReduceMean", "axes"),
    ("ReduceMax", "axes"),
    ("ReduceMin", "axes"),
    ("ReduceProd", "axes"),
    ("ReduceL1", "axes"),
    ("ReduceL2", "axes"),
    ("ReduceLogSum", "axes"),
    ("ReduceLogSumExp", "axes"),
    ("ReduceSumSquare", "axes"),
];

/// 16-bit QuantizeLinear/DequantizeLinear need opset 21: refuses models whose other operators
/// would change meaning if only the opset number were raised.
fn raise_to_21_check(m: &Model) -> Result<()> {
    let opset = m.opset().unwrap_or(0);
    if opset >= 21 {
        return Ok(());
    }
    let refuse = |why: String| {
        Err(QuantError::Unsupported {
            framework: "qbench QDQ",
            what: format!("16-bit QDQ needs opset 21 and this model is opset {opset}: {why}"),
        })
    };
    if opset < 13 {
        return refuse(
            "operators such as Softmax, Squeeze and Unsqueeze changed at opset 13".into(),
        );
    }
    if let Some(n) = m.graph.nodes.iter().find(|n| {
        (n.domain.is_empty() || n.domain == "ai.onnx")
            && CHANGED_BY_18
                .iter()
                .any(|(op, attr)| n.op_type == *op && n.attr(attr).is_some())
            || (n.op_type == "Split" && n.attr("split").is_some())
    }) {
        return refuse(format!(
            "{} node {} uses an attribute that became an input at opset 18",
            n.op_type, n.name
        ));
    }
    Ok(())
}

/// Stores one weight; returns the name of the float tensor the node now reads.
fn write_weight(
    g: &mut Graph,
    n: Option<&Node>,
    w: &TensorData,
    wq: &WeightQuant,
    nodes: &mut Vec<Node>,
) -> Result<String> {
    let (qn, sn, zn, out) = (
        format!("{}_quantized", w.name),
        format!("{}_scale", w.name),
        format!("{}_zero_point", w.name),
        format!("{}_DequantizeLinear_Output", w.name),
    );
    if wq.scales.len() != wq.zero_points.len() || wq.scales.is_empty() {
        return Err(QuantError::InvalidParams(format!(
            "{}: {} scales and {} zero points",
            w.name,
            wq.scales.len(),
            wq.zero_points.len()
        )));
    }
    let elements: usize = w.dims.iter().product::<i64>() as usize;
    match wq.layout {
        WeightLayout::PerTensor | WeightLayout::PerChannel { .. } => {
            if wq.q.len() != elements {
                return Err(QuantError::Shape(format!(
                    "{}: {} quantized values for {elements} elements",
                    w.name,
                    wq.q.len()
                )));
            }
            let (pdims, axis) = match wq.layout {
                WeightLayout::PerChannel { axis } => {
                    (vec![wq.scales.len() as i64], Some(axis as i64))
                }
                _ => (vec![], None),
            };
            g.add_initializer(int_tensor(qn.clone(), wq.qtype, &wq.q, w.dims.clone())?);
            g.add_initializer(TensorData::from_f32(sn.clone(), pdims.clone(), &wq.scales));
            g.add_initializer(int_tensor(zn.clone(), wq.qtype, &wq.zero_points, pdims)?);
            nodes.push(dq_node(&w.name, &qn, &sn, &zn, &out, axis));
        }
        WeightLayout::Block { size } => {
            let Some(n) = n else {
                return Err(QuantError::Unsupported {
                    framework: "qbench QDQ",
                    what: format!("{}: blockwise layout of a constant operand", w.name),
                });
            };
            if n.op_type == "Gemm" && n.attr_int("transB", 0) == 0 {
                return Err(QuantError::Unsupported {
                    framework: "qbench QDQ",
                    what: format!("{}: blockwise weights of a Gemm without transB", n.name),
                });
            }
            let o = w.dims[0] as usize;
            let k = elements / o.max(1);
            let nb = k.div_ceil(size);
            if wq.q.len() != o * nb * size || wq.scales.len() != o * nb {
                return Err(QuantError::Shape(format!(
                    "{}: blockwise layout needs {} values and {} scales, got {} and {}",
                    w.name,
                    o * nb * size,
                    o * nb,
                    wq.q.len(),
                    wq.scales.len()
                )));
            }
            let pdims = vec![(o * nb) as i64];
            g.add_initializer(int_tensor(
                qn.clone(),
                wq.qtype,
                &wq.q,
                vec![(o * nb) as i64, size as i64],
            )?);
            g.add_initializer(TensorData::from_f32(sn.clone(), pdims.clone(), &wq.scales));
            g.add_initializer(int_tensor(zn.clone(), wq.qtype, &wq.zero_points, pdims)?);
            let blocks = format!("{}_blocks", w.name);
            nodes.push(dq_node(&w.name, &qn, &sn, &zn, &blocks, Some(0)));
            let rows_shape = format!("{}_rows_shape", w.name);
            let rows = format!("{}_rows", w.name);
            g.add_initializer(TensorData::from_i64(
                rows_shape.clone(),
                vec![2],
                &[o as i64, (nb * size) as i64],
            ));
            nodes.push(Node::new(
                format!("{}_Reshape_rows", w.name),
                "Reshape",
                &[&blocks, &rows_shape],
                &[&rows],
            ));
            let mut cur = rows;
            if nb * size != k {
                let (st, en, ax, sl) = (
                    format!("{}_slice_starts", w.name),
                    format!("{}_slice_ends", w.name),
                    format!("{}_slice_axes", w.name),
                    format!("{}_unpadded", w.name),
                );
                g.add_initializer(TensorData::from_i64(st.clone(), vec![1], &[0]));
                g.add_initializer(TensorData::from_i64(en.clone(), vec![1], &[k as i64]));
                g.add_initializer(TensorData::from_i64(ax.clone(), vec![1], &[1]));
                nodes.push(Node::new(
                    format!("{}_Slice", w.name),
                    "Slice",
                    &[&cur, &st, &en, &ax],
                    &[&sl],
                ));
                cur = sl;
            }
            let shape = format!("{}_shape", w.name);
            g.add_initializer(TensorData::from_i64(
                shape.clone(),
                vec![w.dims.len() as i64],
                &w.dims,
            ));
            nodes.push(Node::new(
                format!("{}_Reshape", w.name),
                "Reshape",
                &[&cur, &shape],
                &[&out],
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use qbench_onnx::{Dim, ValueInfo};

    fn conv_model() -> Model {
        let mut g = Graph::default();
        let vi = |name: &str, c: i64| ValueInfo {
            name: name.into(),
            dtype: qbench_onnx::DType::F32,
            shape: vec![Dim::Fixed(1), Dim::Fixed(c), Dim::Fixed(1), Dim::Fixed(1)],
        };
        g.inputs.push(vi("x", 2));
        g.outputs.push(vi("y", 3));
        g.add_initializer(TensorData::from_f32(
            "w",
            vec![3, 2, 1, 1],
            &[0.5, -1.0, 0.25, 0.75, -0.5, 1.0],
        ));
        g.add_initializer(TensorData::from_f32("b", vec![3], &[0.1, 0.2, -0.3]));
        g.nodes
            .push(Node::new("conv", "Conv", &["x", "w", "b"], &["c"]));
        g.nodes.push(Node::new("relu", "Relu", &["c"], &["y"]));
        Model::new(g, 13)
    }

    fn act(scale: f32, zp: i32, qmin: i32, qmax: i32, qtype: QType) -> ActQuant {
        ActQuant {
            params: QuantParams::new(scale, zp, qmin, qmax).unwrap(),
            qtype,
        }
    }

    fn ops(m: &Model) -> Vec<&str> {
        m.graph.nodes.iter().map(|n| n.op_type.as_str()).collect()
    }

    #[test]
    fn relu_is_removed_and_output_keeps_its_name() {
        let mut m = conv_model();
        remove_relus(&mut m.graph);
        assert_eq!(ops(&m), ["Conv"]);
        assert_eq!(m.graph.nodes[0].outputs, ["y"]);
        assert_eq!(activations_of(&m.graph, QUANTIZED_OPS), ["x", "y"]);
    }

    #[test]
    fn narrow_activation_range_gets_a_clip_and_bias_is_int32() {
        let mut m = conv_model();
        remove_relus(&mut m.graph);
        let mut plan = QdqPlan {
            activations: HashMap::new(),
            weights: HashMap::new(),
            constants: HashMap::new(),
            bias: BiasMode::Int32,
        };
        plan.activations
            .insert("x".into(), act(0.1, 0, 0, 127, QType::UINT8));
        plan.activations
            .insert("y".into(), act(0.2, 3, 0, 255, QType::UINT8));
        plan.weights.insert(
            "conv".into(),
            WeightQuant {
                q: vec![64, -127, 32, 95, -64, 127],
                scales: vec![1.0 / 127.0],
                zero_points: vec![0],
                qtype: QType::INT8,
                layout: WeightLayout::PerTensor,
            },
        );
        let q = write_qdq(&m, &plan).unwrap();
        let o = ops(&q);
        assert_eq!(o.iter().filter(|t| **t == "Clip").count(), 1, "{o:?}");
        assert_eq!(o.iter().filter(|t| **t == "QuantizeLinear").count(), 2);
        assert_eq!(o.iter().filter(|t| **t == "DequantizeLinear").count(), 4);
        let bias = q.graph.initializer("b_quantized").unwrap();
        // 0.1 / (0.1 * (1/127)) = 127 (ties and f32 rounding aside).
        assert_eq!(bias.to_i32().unwrap()[0], 127);
        assert_eq!(q.graph.outputs[0].name, "y");
        assert_eq!(q.opset(), Some(13));
    }

    #[test]
    fn blockwise_weights_are_reshaped_and_sliced_back() {
        let m = conv_model();
        let mut plan = QdqPlan {
            activations: HashMap::new(),
            weights: HashMap::new(),
            constants: HashMap::new(),
            bias: BiasMode::Int32,
        };
        // 3 channels x K=2, block 4: [3*1, 4] with padding.
        plan.weights.insert(
            "conv".into(),
            WeightQuant {
                q: vec![1, -2, 0, 0, 1, 3, 0, 0, -2, 4, 0, 0],
                scales: vec![0.5, 0.25, 0.25],
                zero_points: vec![0, 0, 0],
                qtype: QType::INT4,
                layout: WeightLayout::Block { size: 4 },
            },
        );
        let q = write_qdq(&m, &plan).unwrap();
        assert_eq!(
            ops(&q),
            [
                "DequantizeLinear",
                "Reshape",
                "Slice",
                "Reshape",
                "Conv",
                "Relu"
            ]
        );
        // No activation is quantized: the bias stays float.
        assert!(q.graph.initializer("b").is_some());
        let bad = WeightQuant {
            q: vec![0; 5],
            ..plan.weights["conv"].clone()
        };
        plan.weights.insert("conv".into(), bad);
        assert!(write_qdq(&m, &plan).is_err());
    }

    #[test]
    fn sixteen_bit_activations_raise_the_opset() {
        let mut m = conv_model();
        remove_relus(&mut m.graph);
        let mut plan = QdqPlan {
            activations: HashMap::new(),
            weights: HashMap::new(),
            constants: HashMap::new(),
            bias: BiasMode::Float,
        };
        plan.activations
            .insert("x".into(), act(0.001, 0, -32767, 32767, QType::INT16));
        let q = write_qdq(&m, &plan).unwrap();
        assert_eq!(q.opset(), Some(21));
        assert!(q.ir_version >= 10);
        assert_eq!(
            q.graph.initializer("x_zero_point").unwrap().dtype,
            qbench_onnx::DType::I16
        );
        // [-32767, 32767] is narrower than int16: a Clip restricts it.
        assert!(ops(&q).contains(&"Clip"));
    }

    #[test]
    fn unknown_activation_and_out_of_range_weights_are_errors() {
        let m = conv_model();
        let mut plan = QdqPlan {
            activations: HashMap::new(),
            weights: HashMap::new(),
            constants: HashMap::new(),
            bias: BiasMode::Int32,
        };
        plan.activations
            .insert("nope".into(), act(0.1, 0, -128, 127, QType::INT8));
        assert!(write_qdq(&m, &plan).is_err());
        plan.activations.clear();
        plan.weights.insert(
            "conv".into(),
            WeightQuant {
                q: vec![300, 0, 0, 0, 0, 0],
                scales: vec![1.0],
                zero_points: vec![0],
                qtype: QType::INT8,
                layout: WeightLayout::PerTensor,
            },
        );
        let err = write_qdq(&m, &plan).unwrap_err().to_string();
        assert!(err.contains("w_quantized"), "{err}");
    }
}
