//! ONNX Runtime's QDQ layout, as `quantize_static(quant_format=QDQ)` writes it for the operators
//! of convolutional classifiers (ORT 1.31 `qdq_quantizer.py` and `operators/*.py`):
//!
//! * Relu nodes whose input has a single reader are removed and their producer writes the Relu's
//!   output directly (`QDQRemovableActivation` with asymmetric activations): the activation's
//!   range, calibrated on the Relu output, starts at 0, so the Q/DQ pair does the clamping.
//! * Every activation tensor read or written by Conv, Gemm, MatMul, Add, GlobalAveragePool or
//!   Flatten gets one `QuantizeLinear -> DequantizeLinear` pair at its producer; a graph output
//!   keeps its name on the DequantizeLinear output.
//! * Weights are stored quantized (`<w>_quantized`) and dequantized by a DequantizeLinear; the
//!   bias of Conv/Gemm is int32 with scale `s_in * s_w` and zero point 0.
//!
//! Zero points are always explicit (tract reads a missing one as uint8).

use std::collections::{HashMap, HashSet};

use qbench_onnx::{Attribute, Graph, Model, Node, TensorData};

use crate::bias::quantize_bias_i32;
use crate::convention::onnxruntime;
use crate::error::{QuantError, Result};
use crate::granularity::{params_per_channel, quantize_per_channel};
use crate::params::{QuantParams, Range};
use crate::quantize::{quantize, Rounding};
use crate::scheme::QType;

/// Operators whose activation inputs and outputs are quantized.
const QUANTIZED_OPS: &[&str] = &[
    "Conv",
    "Gemm",
    "MatMul",
    "Add",
    "GlobalAveragePool",
    "Flatten",
];

/// Settings of the rewrite.
#[derive(Clone, Debug)]
pub struct OrtQdqConfig {
    /// Activation type (ORT default: int8) and symmetry (default: asymmetric).
    pub activation: QType,
    pub activation_symmetric: bool,
    /// Weight type (ORT default: int8, symmetric).
    pub weight: QType,
    /// Per output channel weights (Conv axis 0; Gemm axis 0 with transB, else 1).
    pub per_channel: bool,
    /// ORT's `reduce_range`: narrows the weights (int8 [-64, 64]).
    pub reduce_range: bool,
}

impl Default for OrtQdqConfig {
    fn default() -> Self {
        OrtQdqConfig {
            activation: QType::INT8,
            activation_symmetric: false,
            weight: QType::INT8,
            per_channel: false,
            reduce_range: false,
        }
    }
}

fn zp_tensor(name: String, qtype: QType, zps: &[i32], dims: Vec<i64>) -> Result<TensorData> {
    Ok(match (qtype.bits(), qtype.is_signed()) {
        (b, true) if b <= 8 => TensorData::from_i8(
            name,
            dims,
            &zps.iter().map(|z| *z as i8).collect::<Vec<_>>(),
        ),
        (b, false) if b <= 8 => TensorData::from_u8(
            name,
            dims,
            &zps.iter().map(|z| *z as u8).collect::<Vec<_>>(),
        ),
        (_, true) => TensorData::from_i16(
            name,
            dims,
            &zps.iter().map(|z| *z as i16).collect::<Vec<_>>(),
        ),
        (_, false) => TensorData::from_u16(
            name,
            dims,
            &zps.iter().map(|z| *z as u16).collect::<Vec<_>>(),
        ),
    })
}

fn q_tensor(name: String, qtype: QType, q: &[i32], dims: Vec<i64>) -> Result<TensorData> {
    zp_tensor(name, qtype, q, dims)
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

/// Removes Relus that follow a single-reader producer, renaming the producer's output.
fn remove_relus(g: &mut Graph) {
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
        let slot = g.nodes[p]
            .outputs
            .iter_mut()
            .find(|o| **o == relu.inputs[0])
            .expect("producer");
        *slot = relu.outputs[0].clone();
    }
}

/// Rewrites an FP32 model into ONNX Runtime's QDQ form, given calibrated activation ranges
/// (keyed by tensor name, from the FP32 model, graph input included).
pub fn ort_qdq(
    model: &Model,
    ranges: &HashMap<String, Range>,
    cfg: &OrtQdqConfig,
) -> Result<Model> {
    let mut m = model.clone();
    if m.opset().unwrap_or(0) < 13 {
        return Err(QuantError::Unsupported {
            framework: "qbench QDQ",
            what: "models below opset 13".into(),
        });
    }
    let g = &mut m.graph;
    if !cfg.activation_symmetric {
        remove_relus(g);
    }
    let inits: HashSet<String> = g.initializers.iter().map(|t| t.name.clone()).collect();
    let is_activation = |t: &str| !t.is_empty() && !inits.contains(t);
    // Activation tensors to quantize, in first-seen order.
    let mut acts: Vec<String> = Vec::new();
    for n in g
        .nodes
        .iter()
        .filter(|n| QUANTIZED_OPS.contains(&n.op_type.as_str()))
    {
        let data_inputs: Vec<&String> = match n.op_type.as_str() {
            "Conv" | "Gemm" => n.inputs.iter().take(1).collect(),
            _ => n.inputs.iter().collect(),
        };
        for t in data_inputs.into_iter().chain(n.outputs.iter()) {
            if is_activation(t) && !acts.contains(t) {
                acts.push(t.clone());
            }
        }
    }
    let (aqmin, aqmax) = onnxruntime::qrange(cfg.activation, false, cfg.activation_symmetric);
    let mut act_params: HashMap<String, QuantParams> = HashMap::new();
    for t in &acts {
        let r = ranges.get(t).ok_or_else(|| {
            QuantError::InvalidArgument(format!("activation {t} has no calibrated range"))
        })?;
        let p = onnxruntime::compute_scale_zp(
            r.min,
            r.max,
            aqmin,
            aqmax,
            cfg.activation_symmetric,
            None,
        )
        .map_err(|e| e.context(t.clone()))?;
        act_params.insert(t.clone(), p);
    }
    let graph_outputs: HashSet<String> = g.outputs.iter().map(|o| o.name.clone()).collect();
    let mut new_nodes: Vec<Node> = Vec::new();
    let mut rename: HashMap<String, String> = HashMap::new();
    for t in &acts {
        let p = act_params[t];
        let (scale, zp) = (format!("{t}_scale"), format!("{t}_zero_point"));
        g.add_initializer(TensorData::from_f32(scale.clone(), vec![], &[p.scale]));
        g.add_initializer(zp_tensor(
            zp.clone(),
            cfg.activation,
            &[p.zero_point],
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
        new_nodes.push(dq_node(t, &q_out, &scale, &zp, &dq_out, None));
    }
    // Readers of a quantized activation read its DequantizeLinear output.
    for n in g.nodes.iter_mut() {
        for i in n.inputs.iter_mut() {
            if let Some(r) = rename.get(i) {
                *i = r.clone();
            }
        }
    }
    // Weights and biases of Conv / Gemm.
    let mut weight_nodes = Vec::new();
    for idx in 0..g.nodes.len() {
        let n = g.nodes[idx].clone();
        if n.op_type != "Conv" && n.op_type != "Gemm" {
            continue;
        }
        let x_name = n.inputs[0]
            .trim_end_matches("_DequantizeLinear_Output")
            .to_string();
        let s_in = act_params
            .get(&x_name)
            .ok_or_else(|| {
                QuantError::InvalidArgument(format!("{}: input {x_name} is not quantized", n.name))
            })?
            .scale;
        let w = g
            .initializer(&n.inputs[1])
            .ok_or_else(|| QuantError::Shape(format!("{}: weight is not a constant", n.name)))?
            .clone();
        let wv = w.to_f32().map_err(|e| QuantError::Shape(e.to_string()))?;
        let dims: Vec<usize> = w.dims.iter().map(|d| *d as usize).collect();
        let rule = |r: Range| onnxruntime::params(r, cfg.weight, true, cfg.reduce_range);
        // Output channels: axis 0 of a Conv weight and of a transposed Gemm weight, else axis 1.
        let per_channel = cfg.per_channel;
        let axis = if n.op_type == "Gemm" && n.attr_int("transB", 0) == 0 {
            1
        } else {
            0
        };
        let params = if per_channel {
            params_per_channel(&w.name, &wv, &dims, axis, rule)?
        } else {
            vec![rule(Range::of(&w.name, &wv)?).map_err(|e| e.context(w.name.clone()))?]
        };
        let q: Vec<i32> = if per_channel {
            quantize_per_channel(&w.name, &wv, &dims, axis, &params, Rounding::HalfEven)?
        } else {
            quantize(&wv, &params[0])?
        };
        let scales: Vec<f32> = params.iter().map(|p| p.scale).collect();
        let zps: Vec<i32> = params.iter().map(|p| p.zero_point).collect();
        let pdims = if per_channel {
            vec![scales.len() as i64]
        } else {
            vec![]
        };
        let (wq, ws, wz, wout) = (
            format!("{}_quantized", w.name),
            format!("{}_scale", w.name),
            format!("{}_zero_point", w.name),
            format!("{}_DequantizeLinear_Output", w.name),
        );
        g.add_initializer(q_tensor(wq.clone(), cfg.weight, &q, w.dims.clone())?);
        g.add_initializer(TensorData::from_f32(ws.clone(), pdims.clone(), &scales));
        g.add_initializer(zp_tensor(wz.clone(), cfg.weight, &zps, pdims.clone())?);
        weight_nodes.push(dq_node(
            &w.name,
            &wq,
            &ws,
            &wz,
            &wout,
            per_channel.then_some(0),
        ));
        g.nodes[idx].inputs[1] = wout;
        if let Some(bname) = n.inputs.get(2).filter(|b| !b.is_empty()) {
            let b = g
                .initializer(bname)
                .ok_or_else(|| QuantError::Shape(format!("{}: bias is not a constant", n.name)))?
                .clone();
            let bv = b.to_f32().map_err(|e| QuantError::Shape(e.to_string()))?;
            let bq = quantize_bias_i32(&bv, s_in, &scales).map_err(|e| e.context(bname.clone()))?;
            let bscales: Vec<f32> = scales.iter().map(|s| s_in * s).collect();
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
                pdims.clone(),
                &vec![0; bscales.len()],
            ));
            weight_nodes.push(dq_node(
                bname,
                &bqn,
                &bs,
                &bz,
                &bout,
                per_channel.then_some(0),
            ));
            g.nodes[idx].inputs[2] = bout;
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
    Ok(m)
}
