//! ONNX Runtime's dynamic format, as `quantize_dynamic` writes it (ORT 1.31 `onnx_quantizer.py`,
//! `operators/conv.py` and `operators/matmul.py`, QOperator mode): each activation read by a
//! Conv or a Gemm is quantized at run time by one `DynamicQuantizeLinear` (uint8, per tensor,
//! range forced to include 0); weights are int8 symmetric per tensor; then
//! `ConvInteger`/`MatMulInteger` -> `Cast` to float -> `Mul` by `s_x * s_w` -> `Add` of the float
//! bias (reshaped to `[1, C, 1, 1]` for Conv). Everything else stays in float.

use std::collections::HashMap;

use qbench_onnx::{Attribute, Model, Node, TensorData};

use crate::convention::onnxruntime;
use crate::error::{QuantError, Result};
use crate::params::Range;
use crate::quantize::quantize;
use crate::scheme::QType;

fn weight(m: &Model, node: &Node) -> Result<(TensorData, Vec<f32>)> {
    let w = m
        .graph
        .initializer(&node.inputs[1])
        .ok_or_else(|| QuantError::Shape(format!("{}: weight is not a constant", node.name)))?
        .clone();
    let v = w.to_f32().map_err(|e| QuantError::Shape(e.to_string()))?;
    Ok((w, v))
}

/// A weight quantized for the dynamic format: symmetric int8 integers (zero point 0, as
/// ConvInteger takes only a per-tensor weight zero point) with one scale, or one per output
/// channel (axis 0 of the weight as stored in the FP32 model).
#[derive(Clone, Debug, PartialEq)]
pub struct DynamicWeight {
    pub q: Vec<i32>,
    pub scales: Vec<f32>,
}

/// Decides, per Conv/Gemm node, whether and how its weight is quantized (None: stays float).
pub type DynamicWeightRule<'a> =
    &'a dyn Fn(&Node, &TensorData, &[f32]) -> Result<Option<DynamicWeight>>;

/// ONNX Runtime's `quantize_dynamic` weight rule: every Conv and Gemm, int8 symmetric per tensor.
pub fn ort_weight(_n: &Node, w: &TensorData, wv: &[f32]) -> Result<Option<DynamicWeight>> {
    let p = onnxruntime::params(Range::of(&w.name, wv)?, QType::INT8, true, false)
        .map_err(|e| e.context(w.name.clone()))?;
    Ok(Some(DynamicWeight {
        q: quantize(wv, &p)?,
        scales: vec![p.scale],
    }))
}

/// Rewrites Conv and Gemm into ONNX Runtime's dynamic integer form.
pub fn ort_dynamic(model: &Model) -> Result<Model> {
    dynamic_rewrite(model, &ort_weight)
}

/// Rewrites the Conv/Gemm nodes `rule` selects into the dynamic integer form.
pub fn dynamic_rewrite(model: &Model, rule: DynamicWeightRule) -> Result<Model> {
    let mut m = model.clone();
    let mut out_nodes: Vec<Node> = Vec::new();
    let mut quantized_inputs: HashMap<String, (String, String, String)> = HashMap::new();
    let nodes = std::mem::take(&mut m.graph.nodes);
    for n in nodes {
        let gemm = n.op_type == "Gemm";
        if !(n.op_type == "Conv" || gemm) || !n.domain.is_empty() {
            out_nodes.push(n);
            continue;
        }
        if gemm
            && (n.attr_int("transA", 0) != 0
                || n.attr_float("alpha", 1.0) != 1.0
                || n.attr_float("beta", 1.0) != 1.0)
        {
            out_nodes.push(n);
            continue;
        }
        let (w, wv) = weight(&m, &n)?;
        let Some(dw) = rule(&n, &w, &wv)? else {
            out_nodes.push(n);
            continue;
        };
        let channels = w.dims[0] as usize;
        if dw.q.len() != wv.len() || !(dw.scales.len() == 1 || dw.scales.len() == channels) {
            return Err(QuantError::Shape(format!(
                "{}: {} integers and {} scales for weight {:?}",
                n.name,
                dw.q.len(),
                dw.scales.len(),
                w.dims
            )));
        }
        let x = n.inputs[0].clone();
        let (xq, xs, xz) = quantized_inputs
            .entry(x.clone())
            .or_insert_with(|| {
                let names = (
                    format!("{x}_quantized"),
                    format!("{x}_scale"),
                    format!("{x}_zero_point"),
                );
                out_nodes.push(Node::new(
                    format!("{x}_QuantizeLinear"),
                    "DynamicQuantizeLinear",
                    &[&x],
                    &[&names.0, &names.1, &names.2],
                ));
                names
            })
            .clone();
        let (q, dims) = if gemm && n.attr_int("transB", 0) == 1 {
            // MatMulInteger needs B as [K, N]: store W^T.
            let (rows, cols) = (w.dims[0] as usize, w.dims[1] as usize);
            let t: Vec<i32> = (0..cols * rows)
                .map(|i| dw.q[(i % rows) * cols + i / rows])
                .collect();
            (t, vec![cols as i64, rows as i64])
        } else {
            (dw.q.clone(), w.dims.clone())
        };
        if let Some(bad) = q.iter().find(|v| !(-128..=127).contains(*v)) {
            return Err(QuantError::InvalidParams(format!(
                "{}: {bad} is not int8",
                w.name
            )));
        }
        let (wq, ws, wz) = (
            format!("{}_quantized", w.name),
            format!("{}_scale", w.name),
            format!("{}_zero_point", w.name),
        );
        m.graph.add_initializer(TensorData::from_i8(
            wq.clone(),
            dims,
            &q.iter().map(|v| *v as i8).collect::<Vec<_>>(),
        ));
        // Per-channel scales broadcast over the output: [1, C, 1, 1] for Conv, [N] for Gemm.
        let sdims = match (dw.scales.len() > 1, gemm) {
            (false, _) => vec![],
            (true, true) => vec![channels as i64],
            (true, false) => {
                let mut d = vec![1i64; w.dims.len()];
                d[1] = channels as i64;
                d
            }
        };
        m.graph
            .add_initializer(TensorData::from_f32(ws.clone(), sdims, &dw.scales));
        m.graph
            .add_initializer(TensorData::from_i8(wz.clone(), vec![], &[0]));
        let out = n.outputs[0].clone();
        let base = n.name.clone();
        let scales = format!("{base}_quant_scales_mul:0");
        out_nodes.push(Node::new(
            format!("{base}_scales_mul"),
            "Mul",
            &[&xs, &ws],
            &[&scales],
        ));
        let (int_out, cast_out, scaled) = (
            format!("{out}_output_quantized"),
            format!("{out}_output_quantized_cast_output"),
            format!("{out}quant_scaled_output"),
        );
        let mut int_node = Node::new(
            format!("{base}_quant"),
            if gemm { "MatMulInteger" } else { "ConvInteger" },
            &[&xq, &wq, &xz, &wz],
            &[&int_out],
        );
        if !gemm {
            int_node.attributes = n.attributes.clone();
        }
        out_nodes.push(int_node);
        out_nodes.push(
            Node::new(format!("{base}_cast"), "Cast", &[&int_out], &[&cast_out])
                .with_attr("to", Attribute::Int(1)),
        );
        let bias = n.inputs.get(2).filter(|b| !b.is_empty()).cloned();
        match bias {
            None => out_nodes.push(Node::new(
                format!("{base}_scale_mul"),
                "Mul",
                &[&cast_out, &scales],
                &[&out],
            )),
            Some(b) => {
                out_nodes.push(Node::new(
                    format!("{base}_scale_mul"),
                    "Mul",
                    &[&cast_out, &scales],
                    &[&scaled],
                ));
                let b_in = if gemm {
                    b
                } else {
                    let (shape, reshaped) = (
                        format!("{out}_bias_reshape_shape"),
                        format!("{out}_bias_reshape_output"),
                    );
                    m.graph.add_initializer(TensorData::from_i64(
                        shape.clone(),
                        vec![4],
                        &[1, -1, 1, 1],
                    ));
                    out_nodes.push(Node::new(
                        format!("{base}_bias_reshape"),
                        "Reshape",
                        &[&b, &shape],
                        &[&reshaped],
                    ));
                    reshaped
                };
                out_nodes.push(Node::new(
                    format!("{base}_bias_add"),
                    "Add",
                    &[&scaled, &b_in],
                    &[&out],
                ));
            }
        }
    }
    m.graph.nodes = out_nodes;
    m.graph.prune_initializers();
    m.graph.value_info.clear();
    m.graph
        .topo_sort()
        .map_err(|e| QuantError::Shape(e.to_string()))?;
    m.graph
        .check_inputs_defined()
        .map_err(|e| QuantError::Shape(e.to_string()))?;
    Ok(m)
}
