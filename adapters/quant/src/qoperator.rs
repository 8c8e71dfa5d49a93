//! QOperator-lite: rewrites qbench's QDQ layout (see [`crate::qdq`]) into standard-ONNX integer
//! operators that ONNX Runtime 1.31 and tract 0.23.9 both run with integer kernels, keeping
//! everything else (Add, GlobalAveragePool, Flatten, ...) in float between the existing
//! `DequantizeLinear` / `QuantizeLinear` nodes. Only the default ONNX domain is used; the opset
//! is the input model's (>= 13).
//!
//! Patterns rewritten:
//!
//! * `DequantizeLinear(x_q) -> Conv(DequantizeLinear(w_q), [DequantizeLinear(b_i32)]) -> y ->
//!   QuantizeLinear(y)` becomes one
//!   `QLinearConv(x_q, x_scale, x_zp, w_q, w_scale, w_zp, y_scale, y_zp, [b_i32])` writing the
//!   QuantizeLinear's output (so a `Clip` between that QuantizeLinear and its DequantizeLinear,
//!   and every reader downstream, are kept as they are). `y` must have that QuantizeLinear as its
//!   only reader. The int32 bias is used as is: its zero point must be 0 and its scale
//!   `x_scale * w_scale` (per channel where the weight is per channel), as QLinearConv defines it.
//! * `DequantizeLinear(x_q) -> Gemm(A, DequantizeLinear(w_q), [C])` (transA = 0, alpha = 1,
//!   beta = 1, transB 0 or 1) becomes
//!   `MatMulInteger(x_q, W_q as [K, N], x_zp, w_zp) -> Cast(float) -> Mul(x_scale * w_scale) ->
//!   Add(C)`, writing the Gemm's float output, so the QuantizeLinear after it (if any) stays.
//!   Per-column weight scales (the output axis: 0 with transB = 1, 1 with transB = 0) become a
//!   `[N]` scale vector, exact; the float bias `C` is the Gemm's own (the bias DequantizeLinear
//!   is kept), so the result equals the QDQ model's up to float summation order.
//!   QLinearMatMul is not used: it has no bias input, so the bias would need a second,
//!   uncalibrated requantization.
//!
//! Anything else is left as QDQ, in particular: activations that are not 8-bit or not per
//! tensor, a Conv/Gemm whose input or weight is not dequantized, a Conv whose output is not
//! quantized by exactly one QuantizeLinear (or is a graph output), a Conv bias that is not read
//! through a DequantizeLinear (a float bias), Gemm with transA, alpha or beta != 1, and per-row (K axis) Gemm
//! weight scales. Input Q/DQ nodes that still have other readers (e.g. a residual Add) are kept.
//!
//! Errors ([`QuantError`], naming the node) are raised where the pattern matches but its data
//! is inconsistent or cannot be expressed by the target operator: a weight (or a scale / zero
//! point) that is not a constant, scales that are not finite and positive, scale or zero-point
//! lengths that do not fit the weight, per-channel Conv weight zero points that differ
//! (ONNX Runtime's QLinearConv takes a single value), int8 activations with uint8 weights
//! (neither ONNX Runtime's QLinearConv nor its MatMulInteger has that kernel), different
//! input/output activation types on a Conv (QLinearConv's T1 = T3), and a dequantized Conv bias
//! that is not int32, or whose zero point is not 0 or scale not `x_scale * w_scale`.
//!
//! What the runtimes take (checked against their sources):
//!
//! * tract 0.23.9 parses QLinearConv into its quantized `Conv` (per-output-channel weight scale
//!   and zero point, u8 or i8 activations — u8 is offset to i8 —, int32 bias cast to the
//!   accumulator) and MatMulInteger into a quantized EinSum (per-column B zero point), both
//!   lowered to integer matrix-multiplication kernels.
//! * ONNX Runtime 1.31's QLinearConv has a u8 kernel (u8 or i8 weights) and an i8 kernel (i8
//!   weights only); x / y scale and zero point are per tensor, the weight zero point must be one
//!   value. MatMulInteger has (u8, u8 | i8) and (i8, i8) kernels, scalar A zero point, per-column
//!   B zero point.
//!
//! Integer kernels are not always the faster ones: on an AVX2 CPU without VNNI, tract 0.23.9's
//! int8 kernel (`avx2_mmm_i32_8x8`) ran this rewrite of the resnet scenario about 20 times
//! slower than the QDQ model's f32 kernels, and ONNX Runtime's int8-activation QLinearConv was
//! slower than its own handling of the int8 QDQ model (uint8: the same speed).

use std::collections::{HashMap, HashSet};

use qbench_onnx::{Attribute, DType, Graph, Model, Node, TensorData};

use crate::error::{QuantError, Result};

/// Relative tolerance when checking that a Conv bias scale is `x_scale * w_scale`.
const BIAS_SCALE_RTOL: f32 = 1e-5;

/// Rewrites a QDQ model (qbench's QDQ writers' layout) into QOperator-lite; see the module
/// documentation for the exact patterns, what is left as QDQ and what is an error.
pub fn qoperator_lite(model: &Model) -> Result<Model> {
    let opset = model.opset().unwrap_or(0);
    if opset < 13 {
        return Err(QuantError::Unsupported {
            framework: "QOperator-lite",
            what: format!("models below opset 13 (this one imports opset {opset})"),
        });
    }
    let mut m = model.clone();
    let g = &mut m.graph;
    let mut names = Names::of(g);
    let mut rewrites = Vec::new();
    {
        let ctx = Ctx::new(g);
        for idx in 0..g.nodes.len() {
            let n = &g.nodes[idx];
            if !n.domain.is_empty() && n.domain != "ai.onnx" {
                continue;
            }
            let found = match n.op_type.as_str() {
                "Conv" => ctx.conv(idx, &mut names),
                "Gemm" => ctx.gemm(idx, &mut names),
                _ => Ok(None),
            };
            let found =
                found.map_err(|e| e.context(format!("QOperator-lite: node {}", label(n))))?;
            rewrites.extend(found);
        }
    }
    apply(g, rewrites)?;
    Ok(m)
}

/// One matched pattern: nodes to remove, nodes and constants to add, and the DequantizeLinear
/// outputs it read (removed afterwards if nothing else reads them).
struct Rewrite {
    remove: Vec<usize>,
    nodes: Vec<Node>,
    initializers: Vec<TensorData>,
    read_dq: Vec<String>,
}

fn apply(g: &mut Graph, rewrites: Vec<Rewrite>) -> Result<()> {
    if rewrites.is_empty() {
        return Ok(());
    }
    let remove: HashSet<usize> = rewrites.iter().flat_map(|r| r.remove.clone()).collect();
    let mut dq_candidates: HashSet<String> = HashSet::new();
    let mut freed: HashSet<String> = HashSet::new();
    for (i, n) in g.nodes.iter().enumerate() {
        if remove.contains(&i) {
            freed.extend(n.inputs.iter().cloned());
        }
    }
    let old = std::mem::take(&mut g.nodes);
    g.nodes = old
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !remove.contains(i))
        .map(|(_, n)| n)
        .collect();
    for r in rewrites {
        g.nodes.extend(r.nodes);
        for t in r.initializers {
            g.add_initializer(t);
        }
        dq_candidates.extend(r.read_dq);
    }
    // DequantizeLinear nodes the rewritten operators read and nothing reads any more.
    let graph_outputs: HashSet<String> = g.outputs.iter().map(|o| o.name.clone()).collect();
    loop {
        let consumers = g.consumers();
        let dead = g.nodes.iter().position(|n| {
            n.op_type == "DequantizeLinear"
                && n.outputs.len() == 1
                && dq_candidates.contains(&n.outputs[0])
                && !consumers.contains_key(n.outputs[0].as_str())
                && !graph_outputs.contains(&n.outputs[0])
        });
        let Some(i) = dead else { break };
        let n = g.nodes.remove(i);
        freed.extend(n.inputs);
    }
    // Constants only the removed nodes read.
    let used: HashSet<&str> = g
        .nodes
        .iter()
        .flat_map(|n| n.inputs.iter().map(String::as_str))
        .chain(g.outputs.iter().map(|o| o.name.as_str()))
        .collect();
    let unused: HashSet<String> = freed
        .into_iter()
        .filter(|t| !used.contains(t.as_str()))
        .collect();
    g.initializers.retain(|t| !unused.contains(&t.name));
    let present: HashSet<String> = g
        .nodes
        .iter()
        .flat_map(|n| n.outputs.iter().cloned())
        .collect();
    g.value_info.retain(|v| present.contains(&v.name));
    g.topo_sort()
        .map_err(|e| QuantError::Shape(e.to_string()))?;
    g.check_inputs_defined()
        .map_err(|e| QuantError::Shape(e.to_string()))?;
    Ok(())
}

/// A node's name for messages (its first output if it has no name).
fn label(n: &Node) -> String {
    if n.name.is_empty() {
        format!(
            "{} -> {}",
            n.op_type,
            n.outputs.first().map(String::as_str).unwrap_or("?")
        )
    } else {
        n.name.clone()
    }
}

/// Every name in use, to derive fresh ones.
struct Names(HashSet<String>);

impl Names {
    fn of(g: &Graph) -> Self {
        let mut s: HashSet<String> = g.initializers.iter().map(|t| t.name.clone()).collect();
        s.extend(g.inputs.iter().map(|v| v.name.clone()));
        s.extend(g.outputs.iter().map(|v| v.name.clone()));
        s.extend(g.value_info.iter().map(|v| v.name.clone()));
        for n in &g.nodes {
            s.insert(n.name.clone());
            s.extend(n.inputs.iter().cloned());
            s.extend(n.outputs.iter().cloned());
        }
        Names(s)
    }

    fn fresh(&mut self, base: &str) -> String {
        let name = if self.0.contains(base) {
            (1..)
                .map(|i| format!("{base}_{i}"))
                .find(|n| !self.0.contains(n))
                .expect("unbounded")
        } else {
            base.to_string()
        };
        self.0.insert(name.clone());
        name
    }
}

/// A per-tensor 8-bit activation quantization (the integer tensor and its parameters).
struct Act {
    /// The integer tensor (DequantizeLinear input or QuantizeLinear output).
    data: String,
    scale: TensorData,
    zp: TensorData,
    dtype: DType,
    scale_value: f32,
}

/// A constant quantized weight read through a DequantizeLinear.
struct Weight {
    q: TensorData,
    scale: TensorData,
    scales: Vec<f32>,
    /// Zero-point initializer, if the DequantizeLinear has one.
    zp: Option<TensorData>,
    /// The axis of the scales when there is more than one.
    axis: Option<usize>,
}

impl Weight {
    /// The scale input: the weight's own (per channel), or a scalar (per tensor).
    fn scale_name(&self, names: &mut Names, inits: &mut Vec<TensorData>) -> String {
        if self.scales.len() == 1 {
            scalar(&self.scale, names, inits)
        } else {
            self.scale.name.clone()
        }
    }

    /// The zero-point input, made explicit (0 of the weight's type) if the DequantizeLinear
    /// has none; a scalar when per tensor.
    fn zp_name(&self, names: &mut Names, inits: &mut Vec<TensorData>) -> String {
        match &self.zp {
            Some(z) if self.scales.len() == 1 => scalar(z, names, inits),
            Some(z) => z.name.clone(),
            None => {
                let name = names.fresh(&format!("{}_zero_point", self.q.name));
                inits.push(zero_scalar(&name, self.q.dtype));
                name
            }
        }
    }

    fn zero_points(&self) -> Result<Vec<i32>> {
        match &self.zp {
            None => Ok(vec![0; self.scales.len()]),
            Some(z) => ints(z),
        }
    }
}

fn ints(t: &TensorData) -> Result<Vec<i32>> {
    let err = |e: qbench_onnx::IrError| QuantError::InvalidParams(e.to_string());
    Ok(match t.dtype {
        DType::I8 => t.to_i8().map_err(err)?.into_iter().map(i32::from).collect(),
        DType::U8 => t.to_u8().map_err(err)?.into_iter().map(i32::from).collect(),
        DType::I16 => t
            .to_i16()
            .map_err(err)?
            .into_iter()
            .map(i32::from)
            .collect(),
        DType::U16 => t
            .to_u16()
            .map_err(err)?
            .into_iter()
            .map(i32::from)
            .collect(),
        DType::I32 => t.to_i32().map_err(err)?,
        other => {
            return Err(QuantError::InvalidParams(format!(
                "{}: zero point of type {other:?} (expected an integer type)",
                t.name
            )))
        }
    })
}

fn is_8bit(d: DType) -> bool {
    matches!(d, DType::I8 | DType::U8)
}

/// Scales must be finite and positive.
fn check_scales(what: &str, scales: &[f32]) -> Result<()> {
    match scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        None => Ok(()),
        Some(s) => Err(QuantError::InvalidParams(format!(
            "{what}: scale {s} (scales must be finite and positive)"
        ))),
    }
}

/// The graph's lookups, shared by the matchers.
struct Ctx<'g> {
    g: &'g Graph,
    producers: HashMap<&'g str, usize>,
    consumers: HashMap<&'g str, Vec<usize>>,
    outputs: HashSet<&'g str>,
}

impl<'g> Ctx<'g> {
    fn new(g: &'g Graph) -> Self {
        Ctx {
            g,
            producers: g.producers(),
            consumers: g.consumers(),
            outputs: g.outputs.iter().map(|o| o.name.as_str()).collect(),
        }
    }

    /// The default-domain node producing `t`, if its op type is `op`.
    fn producer(&self, t: &str, op: &str) -> Option<&'g Node> {
        let n = &self.g.nodes[*self.producers.get(t)?];
        (n.op_type == op && (n.domain.is_empty() || n.domain == "ai.onnx")).then_some(n)
    }

    /// A constant that a matched pattern needs.
    fn constant(&self, name: &str, role: &str) -> Result<&'g TensorData> {
        self.g.initializer(name).ok_or_else(|| {
            QuantError::InvalidArgument(format!("{role} {name} is not a constant (an initializer)"))
        })
    }

    /// Per-tensor 8-bit parameters of a Q or DQ node, `None` for other activation schemes.
    fn act_params(&self, n: &Node, data: &str) -> Result<Option<Act>> {
        if n.inputs.len() != 3 || n.inputs[2].is_empty() || n.attr_int("block_size", 0) != 0 {
            return Ok(None);
        }
        if n.op_type == "QuantizeLinear" && n.attr("output_dtype").is_some() {
            return Ok(None);
        }
        let scale = self.constant(&n.inputs[1], "activation scale")?;
        let zp = self.constant(&n.inputs[2], "activation zero point")?;
        if scale.len() != 1 || zp.len() != 1 || !is_8bit(zp.dtype) {
            return Ok(None);
        }
        let s = scale
            .to_f32()
            .map_err(|e| QuantError::InvalidParams(e.to_string()))?[0];
        check_scales(&scale.name, &[s])?;
        Ok(Some(Act {
            data: data.to_string(),
            scale: scale.clone(),
            zp: zp.clone(),
            dtype: zp.dtype,
            scale_value: s,
        }))
    }

    /// The DequantizeLinear producing the float input `t`, structurally.
    fn dq_of(&self, t: &str) -> Option<&'g Node> {
        self.producer(t, "DequantizeLinear")
            .filter(|n| !n.inputs.is_empty() && n.attr_int("block_size", 0) == 0)
    }

    /// The weight behind a DequantizeLinear node.
    fn weight(&self, dq: &Node) -> Result<Weight> {
        let q = self.constant(&dq.inputs[0], "weight")?.clone();
        if !is_8bit(q.dtype) {
            return Err(QuantError::Unsupported {
                framework: "QLinearConv/MatMulInteger",
                what: format!("{:?} weights ({}); only int8 and uint8", q.dtype, q.name),
            });
        }
        let scale = self.constant(
            dq.inputs
                .get(1)
                .ok_or_else(|| QuantError::InvalidParams("weight has no scale".into()))?,
            "weight scale",
        )?;
        let scales = scale
            .to_f32()
            .map_err(|e| QuantError::InvalidParams(e.to_string()))?;
        check_scales(&scale.name, &scales)?;
        let zp = match dq.inputs.get(2).filter(|z| !z.is_empty()) {
            None => None,
            Some(z) => Some(self.constant(z, "weight zero point")?.clone()),
        };
        if let Some(z) = &zp {
            if z.dtype != q.dtype {
                return Err(QuantError::InvalidParams(format!(
                    "weight {} is {:?} but its zero point {} is {:?}",
                    q.name, q.dtype, z.name, z.dtype
                )));
            }
            if z.len() != scales.len() {
                return Err(QuantError::Shape(format!(
                    "weight {}: {} scales but {} zero points",
                    q.name,
                    scales.len(),
                    z.len()
                )));
            }
        }
        let axis = if scales.len() == 1 {
            None
        } else {
            let rank = q.dims.len() as i64;
            let a = dq.attr_int("axis", 1);
            let a = if a < 0 { a + rank } else { a };
            if !(0..rank).contains(&a) || q.dims[a as usize] != scales.len() as i64 {
                return Err(QuantError::Shape(format!(
                    "weight {} {:?}: {} scales along axis {} do not fit",
                    q.name,
                    q.dims,
                    scales.len(),
                    dq.attr_int("axis", 1)
                )));
            }
            Some(a as usize)
        };
        Ok(Weight {
            q,
            scale: scale.clone(),
            scales,
            zp,
            axis,
        })
    }

    /// `DQ(x) -> Conv(DQ(w), [DQ(b)]) -> y -> Q(y)` into one QLinearConv.
    fn conv(&self, idx: usize, names: &mut Names) -> Result<Option<Rewrite>> {
        let n = &self.g.nodes[idx];
        // Structure.
        if n.inputs.len() < 2 || n.outputs.len() != 1 {
            return Ok(None);
        }
        let Some(dq_x) = self.dq_of(&n.inputs[0]) else {
            return Ok(None);
        };
        let Some(dq_w) = self.dq_of(&n.inputs[1]) else {
            return Ok(None);
        };
        let bias = n.inputs.get(2).filter(|b| !b.is_empty());
        let dq_b = match bias {
            None => None,
            Some(b) => match self.dq_of(b) {
                Some(dq) => Some(dq),
                None => return Ok(None),
            },
        };
        let y = &n.outputs[0];
        if self.outputs.contains(y.as_str()) {
            return Ok(None);
        }
        let readers = self.consumers.get(y.as_str()).map(Vec::as_slice);
        let Some(&[qi]) = readers else {
            return Ok(None);
        };
        let q_y = &self.g.nodes[qi];
        if q_y.op_type != "QuantizeLinear"
            || !(q_y.domain.is_empty() || q_y.domain == "ai.onnx")
            || q_y.inputs[0] != *y
            || q_y.outputs.len() != 1
        {
            return Ok(None);
        }
        // Activation parameters (per tensor, 8-bit), else left as QDQ.
        let Some(x) = self.act_params(dq_x, &dq_x.inputs[0])? else {
            return Ok(None);
        };
        let Some(yq) = self.act_params(q_y, &q_y.outputs[0])? else {
            return Ok(None);
        };
        // From here on, the pattern matches: what the target cannot express is an error.
        let w = self.weight(dq_w)?;
        let m = *w.q.dims.first().unwrap_or(&0) as usize;
        if w.q.dims.len() < 3 || m == 0 {
            return Err(QuantError::Shape(format!(
                "weight {} has dims {:?}; a Conv weight is [M, C/group, k...]",
                w.q.name, w.q.dims
            )));
        }
        if w.axis.is_some_and(|a| a != 0) {
            return Err(QuantError::Unsupported {
                framework: "QLinearConv",
                what: format!(
                    "weight scales along axis {} of {} (only per tensor or per output channel)",
                    w.axis.unwrap_or(0),
                    w.q.name
                ),
            });
        }
        if x.dtype != yq.dtype {
            return Err(QuantError::Unsupported {
                framework: "QLinearConv",
                what: format!(
                    "{:?} input {} with {:?} output {} (x and y must have one type)",
                    x.dtype, x.data, yq.dtype, yq.data
                ),
            });
        }
        check_weight_type(&x, &w)?;
        let zps = w.zero_points()?;
        if zps.iter().any(|z| *z != zps[0]) {
            return Err(QuantError::Unsupported {
                framework: "ONNX Runtime QLinearConv",
                what: format!(
                    "per-channel weight zero points that differ ({}: {:?}); it takes one value",
                    w.q.name,
                    &zps[..zps.len().min(8)]
                ),
            });
        }
        let mut initializers = Vec::new();
        let w_zp = w.zp_name(names, &mut initializers);
        let mut read_dq = vec![n.inputs[0].clone(), n.inputs[1].clone()];
        let mut inputs = vec![
            x.data.clone(),
            scalar(&x.scale, names, &mut initializers),
            scalar(&x.zp, names, &mut initializers),
            w.q.name.clone(),
            w.scale_name(names, &mut initializers),
            w_zp,
            scalar(&yq.scale, names, &mut initializers),
            scalar(&yq.zp, names, &mut initializers),
        ];
        if let Some(dq) = dq_b {
            inputs.push(self.conv_bias(dq, &x, &w, m)?);
            read_dq.push(n.inputs[2].clone());
        }
        let mut node = Node::new(n.name.clone(), "QLinearConv", &[], &[&yq.data]);
        node.inputs = inputs;
        node.attributes = n.attributes.clone();
        Ok(Some(Rewrite {
            remove: vec![idx, qi],
            nodes: vec![node],
            initializers,
            read_dq,
        }))
    }

    /// The int32 bias of a QLinearConv: zero point 0, scale `x_scale * w_scale`.
    fn conv_bias(&self, dq: &Node, x: &Act, w: &Weight, m: usize) -> Result<String> {
        let b = self.constant(&dq.inputs[0], "bias")?;
        if b.dtype != DType::I32 {
            return Err(QuantError::Unsupported {
                framework: "QLinearConv",
                what: format!("a {:?} bias ({}); it takes int32", b.dtype, b.name),
            });
        }
        if b.dims.len() != 1 || b.len() != m {
            return Err(QuantError::Shape(format!(
                "bias {} has dims {:?}; expected [{m}]",
                b.name, b.dims
            )));
        }
        let scale = self.constant(
            dq.inputs
                .get(1)
                .ok_or_else(|| QuantError::InvalidParams("bias has no scale".into()))?,
            "bias scale",
        )?;
        let bs = scale
            .to_f32()
            .map_err(|e| QuantError::InvalidParams(e.to_string()))?;
        if bs.len() != 1 && bs.len() != m {
            return Err(QuantError::Shape(format!(
                "bias {}: {} scales for {m} channels",
                b.name,
                bs.len()
            )));
        }
        if let Some(z) = dq.inputs.get(2).filter(|z| !z.is_empty()) {
            let z = self.constant(z, "bias zero point")?;
            if ints(z)?.iter().any(|v| *v != 0) {
                return Err(QuantError::InvalidParams(format!(
                    "bias {}: zero point {} is not 0 (QLinearConv's bias has zero point 0)",
                    b.name, z.name
                )));
            }
        }
        for c in 0..m {
            let want = x.scale_value * w.scales[if w.scales.len() == 1 { 0 } else { c }];
            let got = bs[if bs.len() == 1 { 0 } else { c }];
            if (got - want).abs() > BIAS_SCALE_RTOL * want.abs() {
                return Err(QuantError::InvalidParams(format!(
                    "bias {}: scale {got} at channel {c} is not x_scale * w_scale = {want} \
                     (QLinearConv's bias scale)",
                    b.name
                )));
            }
        }
        Ok(b.name.clone())
    }

    /// `DQ(x) -> Gemm(DQ(w), C)` into MatMulInteger -> Cast -> Mul -> Add.
    fn gemm(&self, idx: usize, names: &mut Names) -> Result<Option<Rewrite>> {
        let n = &self.g.nodes[idx];
        if n.inputs.len() < 2
            || n.outputs.len() != 1
            || n.attr_int("transA", 0) != 0
            || n.attr_float("alpha", 1.0) != 1.0
            || n.attr_float("beta", 1.0) != 1.0
        {
            return Ok(None);
        }
        let trans_b = n.attr_int("transB", 0) != 0;
        let Some(dq_x) = self.dq_of(&n.inputs[0]) else {
            return Ok(None);
        };
        let Some(dq_w) = self.dq_of(&n.inputs[1]) else {
            return Ok(None);
        };
        let Some(x) = self.act_params(dq_x, &dq_x.inputs[0])? else {
            return Ok(None);
        };
        let w = self.weight(dq_w)?;
        if w.q.dims.len() != 2 {
            return Err(QuantError::Shape(format!(
                "Gemm weight {} has dims {:?}; expected a matrix",
                w.q.name, w.q.dims
            )));
        }
        let n_axis = if trans_b { 0 } else { 1 };
        match w.axis {
            // Per-row (K) scales cannot be taken out of the integer sum: leave as QDQ.
            Some(a) if a != n_axis => return Ok(None),
            _ => {}
        }
        check_weight_type(&x, &w)?;
        let (rows, cols) = (w.q.dims[0] as usize, w.q.dims[1] as usize);
        let (k, n_out) = if trans_b { (cols, rows) } else { (rows, cols) };
        let base = if n.name.is_empty() {
            n.outputs[0].clone()
        } else {
            n.name.clone()
        };
        let mut initializers = Vec::new();
        // B as [K, N].
        let b_name = if trans_b {
            let name = names.fresh(&format!("{}_transposed", w.q.name));
            let raw: Vec<u8> = (0..k * n_out)
                .map(|i| w.q.raw[(i % n_out) * k + i / n_out])
                .collect();
            initializers.push(TensorData {
                name: name.clone(),
                dtype: w.q.dtype,
                dims: vec![k as i64, n_out as i64],
                raw,
            });
            name
        } else {
            w.q.name.clone()
        };
        let w_zp = w.zp_name(names, &mut initializers);
        // x_scale * w_scale, per tensor or per column.
        let scale_name = names.fresh(&format!("{base}_x_w_scale"));
        let products: Vec<f32> = w.scales.iter().map(|s| x.scale_value * s).collect();
        let dims = if products.len() == 1 {
            vec![]
        } else {
            vec![products.len() as i64]
        };
        initializers.push(TensorData::from_f32(scale_name.clone(), dims, &products));
        let x_zp = scalar(&x.zp, names, &mut initializers);
        let y = n.outputs[0].clone();
        let acc = names.fresh(&format!("{y}_MatMulInteger_Output"));
        let acc_f = names.fresh(&format!("{y}_MatMulInteger_Output_float"));
        let bias = n.inputs.get(2).filter(|b| !b.is_empty()).cloned();
        let scaled = if bias.is_some() {
            names.fresh(&format!("{y}_MatMulInteger_Output_scaled"))
        } else {
            y.clone()
        };
        let mut nodes = vec![
            Node::new(
                names.fresh(&format!("{base}_MatMulInteger")),
                "MatMulInteger",
                &[&x.data, &b_name, &x_zp, &w_zp],
                &[&acc],
            ),
            Node::new(
                names.fresh(&format!("{base}_Cast")),
                "Cast",
                &[&acc],
                &[&acc_f],
            )
            .with_attr("to", Attribute::Int(DType::F32.onnx_code() as i64)),
            Node::new(
                names.fresh(&format!("{base}_Mul")),
                "Mul",
                &[&acc_f, &scale_name],
                &[&scaled],
            ),
        ];
        if let Some(c) = &bias {
            nodes.push(Node::new(
                names.fresh(&format!("{base}_Add")),
                "Add",
                &[&scaled, c],
                &[&y],
            ));
        }
        Ok(Some(Rewrite {
            remove: vec![idx],
            nodes,
            initializers,
            read_dq: vec![n.inputs[0].clone(), n.inputs[1].clone()],
        }))
    }
}

/// ONNX Runtime has no int8-activation x uint8-weight kernel (QLinearConv, MatMulInteger).
fn check_weight_type(x: &Act, w: &Weight) -> Result<()> {
    if x.dtype == DType::I8 && w.q.dtype == DType::U8 {
        return Err(QuantError::Unsupported {
            framework: "ONNX Runtime QLinearConv/MatMulInteger",
            what: format!(
                "int8 activations ({}) with uint8 weights ({})",
                x.data, w.q.name
            ),
        });
    }
    Ok(())
}

/// `t` as a rank-0 tensor: its own name if it is one, else a fresh scalar copy of the
/// one-element tensor (tract links a rank-1 quantization parameter to a channel axis).
fn scalar(t: &TensorData, names: &mut Names, inits: &mut Vec<TensorData>) -> String {
    if t.dims.is_empty() {
        return t.name.clone();
    }
    let name = names.fresh(&format!("{}_scalar", t.name));
    inits.push(TensorData {
        name: name.clone(),
        dims: vec![],
        ..t.clone()
    });
    name
}

fn zero_scalar(name: &str, dtype: DType) -> TensorData {
    match dtype {
        DType::U8 => TensorData::from_u8(name, vec![], &[0]),
        _ => TensorData::from_i8(name, vec![], &[0]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qbench_onnx::{Dim, ValueInfo};

    fn vi(name: &str, dims: &[i64]) -> ValueInfo {
        ValueInfo {
            name: name.into(),
            dtype: DType::F32,
            shape: dims.iter().map(|d| Dim::Fixed(*d)).collect(),
        }
    }

    fn zp(name: &str, dtype: DType, v: &[i32], dims: Vec<i64>) -> TensorData {
        match dtype {
            DType::U8 => {
                TensorData::from_u8(name, dims, &v.iter().map(|z| *z as u8).collect::<Vec<_>>())
            }
            _ => TensorData::from_i8(name, dims, &v.iter().map(|z| *z as i8).collect::<Vec<_>>()),
        }
    }

    /// Adds `t -> Q -> [Clip] -> DQ` with per-tensor parameters; returns the DQ output.
    fn qdq(g: &mut Graph, t: &str, scale: f32, dtype: DType, z: i32, clip: bool) -> String {
        let (s, zn) = (format!("{t}_scale"), format!("{t}_zero_point"));
        g.add_initializer(TensorData::from_f32(s.clone(), vec![], &[scale]));
        g.add_initializer(zp(&zn, dtype, &[z], vec![]));
        let q = format!("{t}_q");
        g.add_node(Node::new(
            format!("{t}_QuantizeLinear"),
            "QuantizeLinear",
            &[t, &s, &zn],
            &[&q],
        ));
        let dq_in = if clip {
            let (lo, hi, c) = (format!("{t}_lo"), format!("{t}_hi"), format!("{t}_clipped"));
            g.add_initializer(zp(&lo, dtype, &[z], vec![]));
            g.add_initializer(zp(&hi, dtype, &[z + 100], vec![]));
            g.add_node(Node::new(
                format!("{t}_Clip"),
                "Clip",
                &[&q, &lo, &hi],
                &[&c],
            ));
            c
        } else {
            q
        };
        let out = format!("{t}_dq");
        g.add_node(Node::new(
            format!("{t}_DequantizeLinear"),
            "DequantizeLinear",
            &[&dq_in, &s, &zn],
            &[&out],
        ));
        out
    }

    /// A quantized weight `name` read through a DequantizeLinear (per channel along `axis`
    /// when `scales` has several values); returns the DQ output.
    fn weight(
        g: &mut Graph,
        name: &str,
        dims: Vec<i64>,
        q: &[i8],
        scales: &[f32],
        zps: &[i32],
        axis: Option<i64>,
    ) -> String {
        let (qn, s, z, out) = (
            format!("{name}_quantized"),
            format!("{name}_scale"),
            format!("{name}_zero_point"),
            format!("{name}_dq"),
        );
        let pd = if scales.len() > 1 {
            vec![scales.len() as i64]
        } else {
            vec![]
        };
        g.add_initializer(TensorData::from_i8(qn.clone(), dims, q));
        g.add_initializer(TensorData::from_f32(s.clone(), pd.clone(), scales));
        g.add_initializer(zp(&z, DType::I8, zps, pd));
        let n = Node::new(
            format!("{name}_DequantizeLinear"),
            "DequantizeLinear",
            &[&qn, &s, &z],
            &[&out],
        );
        g.add_node(match axis {
            Some(a) => n.with_attr("axis", Attribute::Int(a)),
            None => n,
        });
        out
    }

    /// An int32 bias through a DequantizeLinear with scales `s_x * s_w`.
    fn bias(g: &mut Graph, name: &str, q: &[i32], scales: &[f32]) -> String {
        let (qn, s, z, out) = (
            format!("{name}_quantized"),
            format!("{name}_quantized_scale"),
            format!("{name}_quantized_zero_point"),
            format!("{name}_dq"),
        );
        let pd = if scales.len() > 1 {
            vec![scales.len() as i64]
        } else {
            vec![]
        };
        g.add_initializer(TensorData::from_i32(qn.clone(), vec![q.len() as i64], q));
        g.add_initializer(TensorData::from_f32(s.clone(), pd.clone(), scales));
        g.add_initializer(TensorData::from_i32(z.clone(), pd, &vec![0; scales.len()]));
        let n = Node::new(
            format!("{name}_DequantizeLinear"),
            "DequantizeLinear",
            &[&qn, &s, &z],
            &[&out],
        );
        g.add_node(if scales.len() > 1 {
            n.with_attr("axis", Attribute::Int(0))
        } else {
            n
        });
        out
    }

    struct ConvOpts {
        act: DType,
        per_channel: bool,
        clip: bool,
        with_bias: bool,
    }

    impl Default for ConvOpts {
        fn default() -> Self {
            ConvOpts {
                act: DType::I8,
                per_channel: false,
                clip: false,
                with_bias: true,
            }
        }
    }

    const SX: f32 = 0.02;

    /// input [1,1,4,4] -> Q/DQ -> Conv (2 channels, 3x3, pad 1) -> y -> Q/DQ -> "out".
    fn conv_model(o: &ConvOpts) -> Model {
        let mut g = Graph {
            name: "t".into(),
            inputs: vec![vi("input", &[1, 1, 4, 4])],
            outputs: vec![vi("out", &[1, 2, 4, 4])],
            ..Graph::default()
        };
        let z = if o.act == DType::U8 { 128 } else { -3 };
        let x = qdq(&mut g, "input", SX, o.act, z, false);
        let q: Vec<i8> = (0..18).map(|i| (i as i8) * 7 - 60).collect();
        let sw: Vec<f32> = if o.per_channel {
            vec![0.01, 0.03]
        } else {
            vec![0.01]
        };
        let w = weight(
            &mut g,
            "conv.weight",
            vec![2, 1, 3, 3],
            &q,
            &sw,
            &vec![0; sw.len()],
            o.per_channel.then_some(0),
        );
        let mut inputs = vec![x, w];
        if o.with_bias {
            let bs: Vec<f32> = sw.iter().map(|s| SX * s).collect();
            inputs.push(bias(&mut g, "conv.bias", &[100, -200], &bs));
        }
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        g.add_node(
            Node::new("conv", "Conv", &refs, &["y"])
                .with_attr("pads", Attribute::Ints(vec![1, 1, 1, 1]))
                .with_attr("kernel_shape", Attribute::Ints(vec![3, 3])),
        );
        let dq = qdq(&mut g, "y", 0.05, o.act, z, o.clip);
        g.add_node(Node::new("out_identity", "Identity", &[&dq], &["out"]));
        g.topo_sort().unwrap();
        Model::new(g, 13)
    }

    fn ops(m: &Model) -> Vec<&str> {
        m.graph.nodes.iter().map(|n| n.op_type.as_str()).collect()
    }

    fn count(m: &Model, op: &str) -> usize {
        m.graph.nodes.iter().filter(|n| n.op_type == op).count()
    }

    fn node<'m>(m: &'m Model, op: &str) -> &'m Node {
        m.graph.nodes.iter().find(|n| n.op_type == op).unwrap()
    }

    fn root_and_text(e: &QuantError) -> (&QuantError, String) {
        (e.root(), e.to_string())
    }

    #[test]
    fn conv_becomes_one_qlinearconv() {
        let m = qoperator_lite(&conv_model(&ConvOpts::default())).unwrap();
        assert_eq!(
            ops(&m),
            vec![
                "QuantizeLinear",
                "QLinearConv",
                "DequantizeLinear",
                "Identity"
            ],
            "{:#?}",
            m.graph.nodes
        );
        let c = node(&m, "QLinearConv");
        assert_eq!(c.name, "conv");
        assert_eq!(
            c.inputs,
            vec![
                "input_q",
                "input_scale",
                "input_zero_point",
                "conv.weight_quantized",
                "conv.weight_scale",
                "conv.weight_zero_point",
                "y_scale",
                "y_zero_point",
                "conv.bias_quantized",
            ]
        );
        assert_eq!(c.outputs, vec!["y_q"]);
        assert_eq!(c.attr_ints("pads"), Some(&[1, 1, 1, 1][..]));
        assert!(c.domain.is_empty());
        // The weight / bias DequantizeLinear and their float-only parameters are gone.
        let g = &m.graph;
        assert!(g.initializer("conv.bias_quantized_scale").is_none());
        assert!(g.initializer("conv.bias_quantized_zero_point").is_none());
        assert_eq!(
            g.initializer("conv.weight_quantized").unwrap().dtype,
            DType::I8
        );
        assert_eq!(m.opset(), Some(13));
        g.check_inputs_defined().unwrap();
        // The downstream DequantizeLinear reads the QLinearConv output.
        assert_eq!(node(&m, "DequantizeLinear").inputs[0], "y_q");
    }

    #[test]
    fn per_channel_uint8_and_no_bias() {
        let m = qoperator_lite(&conv_model(&ConvOpts {
            act: DType::U8,
            per_channel: true,
            with_bias: false,
            ..ConvOpts::default()
        }))
        .unwrap();
        assert_eq!(count(&m, "Conv"), 0);
        let c = node(&m, "QLinearConv");
        assert_eq!(c.inputs.len(), 8);
        assert_eq!(
            m.graph.initializer(&c.inputs[4]).unwrap().to_f32().unwrap(),
            vec![0.01, 0.03]
        );
        assert_eq!(m.graph.initializer(&c.inputs[2]).unwrap().dtype, DType::U8);
        assert_eq!(m.graph.initializer(&c.inputs[7]).unwrap().dtype, DType::U8);
    }

    #[test]
    fn one_element_parameters_are_passed_as_scalars() {
        let mut m = conv_model(&ConvOpts::default());
        m.graph
            .add_initializer(TensorData::from_f32("input_scale", vec![1], &[SX]));
        m.graph
            .add_initializer(TensorData::from_i8("conv.weight_zero_point", vec![1], &[0]));
        let m = qoperator_lite(&m).unwrap();
        let c = node(&m, "QLinearConv");
        assert_eq!(c.inputs[1], "input_scale_scalar");
        assert_eq!(c.inputs[5], "conv.weight_zero_point_scalar");
        for i in [1, 2, 4, 5, 6, 7] {
            assert!(m.graph.initializer(&c.inputs[i]).unwrap().dims.is_empty());
        }
        // The input QuantizeLinear still reads the original.
        assert_eq!(node(&m, "QuantizeLinear").inputs[1], "input_scale");
    }

    #[test]
    fn clip_between_quantize_and_dequantize_is_kept() {
        let m = qoperator_lite(&conv_model(&ConvOpts {
            clip: true,
            ..ConvOpts::default()
        }))
        .unwrap();
        assert_eq!(count(&m, "Conv"), 0);
        let clip = node(&m, "Clip");
        assert_eq!(clip.inputs[0], node(&m, "QLinearConv").outputs[0]);
        assert_eq!(node(&m, "DequantizeLinear").inputs[0], clip.outputs[0]);
        assert!(m.graph.initializer("y_lo").is_some() && m.graph.initializer("y_hi").is_some());
    }

    #[test]
    fn shared_input_dequantize_is_kept_for_its_other_reader() {
        let mut m = conv_model(&ConvOpts::default());
        // A residual-style float reader of the conv input's DequantizeLinear.
        m.graph
            .add_node(Node::new("side", "Relu", &["input_dq"], &["side_out"]));
        m.graph.outputs.push(vi("side_out", &[1, 1, 4, 4]));
        let m = qoperator_lite(&m).unwrap();
        assert_eq!(count(&m, "QLinearConv"), 1);
        assert_eq!(count(&m, "DequantizeLinear"), 2);
        let dq = m
            .graph
            .nodes
            .iter()
            .find(|n| n.outputs[0] == "input_dq")
            .expect("input DequantizeLinear kept");
        assert_eq!(dq.inputs[0], "input_q");
        assert!(m.graph.nodes.iter().any(|n| n.name == "side"));
    }

    /// x [2, K=3] -> Q/DQ -> Gemm(W, b) -> "logits" -> Q/DQ (graph output keeps its name).
    fn gemm_model(trans_b: bool, per_channel: bool, act: DType) -> Model {
        let mut g = Graph {
            name: "t".into(),
            inputs: vec![vi("x", &[2, 3])],
            outputs: vec![vi("logits", &[2, 2])],
            ..Graph::default()
        };
        let z = if act == DType::U8 { 128 } else { 5 };
        let x = qdq(&mut g, "x", SX, act, z, false);
        // W as [N=2, K=3] (transB) or [K=3, N=2].
        let wt: [[i8; 3]; 2] = [[1, -2, 3], [-4, 5, -6]];
        let (dims, q): (Vec<i64>, Vec<i8>) = if trans_b {
            (vec![2, 3], wt.iter().flatten().copied().collect())
        } else {
            (
                vec![3, 2],
                (0..3).flat_map(|k| (0..2).map(move |n| wt[n][k])).collect(),
            )
        };
        let sw: Vec<f32> = if per_channel {
            vec![0.5, 0.25]
        } else {
            vec![0.5]
        };
        let axis = per_channel.then_some(if trans_b { 0 } else { 1 });
        let w = weight(&mut g, "fc.weight", dims, &q, &sw, &vec![0; sw.len()], axis);
        let bs: Vec<f32> = sw.iter().map(|s| SX * s).collect();
        let b = bias(&mut g, "fc.bias", &[10, -10], &bs);
        g.add_node(
            Node::new(
                "fc",
                "Gemm",
                &[&x, &w, &b],
                &["logits_QuantizeLinear_Input"],
            )
            .with_attr("transB", Attribute::Int(trans_b as i64)),
        );
        let (s, zn) = ("logits_scale", "logits_zero_point");
        g.add_initializer(TensorData::from_f32(s, vec![], &[0.1]));
        g.add_initializer(zp(zn, act, &[z], vec![]));
        g.add_node(Node::new(
            "logits_QuantizeLinear",
            "QuantizeLinear",
            &["logits_QuantizeLinear_Input", s, zn],
            &["logits_q"],
        ));
        g.add_node(Node::new(
            "logits_DequantizeLinear",
            "DequantizeLinear",
            &["logits_q", s, zn],
            &["logits"],
        ));
        g.topo_sort().unwrap();
        Model::new(g, 13)
    }

    fn check_gemm(trans_b: bool, per_channel: bool, act: DType) {
        let m = qoperator_lite(&gemm_model(trans_b, per_channel, act)).unwrap();
        assert_eq!(count(&m, "Gemm"), 0);
        for op in ["MatMulInteger", "Cast", "Mul", "Add"] {
            assert_eq!(count(&m, op), 1, "{op} in {:?}", ops(&m));
        }
        let g = &m.graph;
        let mmi = node(&m, "MatMulInteger");
        assert_eq!(mmi.inputs[0], "x_q");
        assert_eq!(mmi.inputs[2], "x_zero_point");
        let b = g.initializer(&mmi.inputs[1]).unwrap();
        assert_eq!(b.dims, vec![3, 2], "B is [K, N]");
        assert_eq!(b.to_i8().unwrap(), vec![1, -4, -2, 5, 3, -6]);
        let add = node(&m, "Add");
        assert_eq!(add.outputs, vec!["logits_QuantizeLinear_Input"]);
        assert_eq!(add.inputs[1], "fc.bias_dq", "the Gemm's float bias");
        let mul = node(&m, "Mul");
        let s = g.initializer(&mul.inputs[1]).unwrap();
        if per_channel {
            assert_eq!(s.dims, vec![2]);
            assert_eq!(s.to_f32().unwrap(), vec![SX * 0.5, SX * 0.25]);
        } else {
            assert_eq!(s.to_f32().unwrap(), vec![SX * 0.5]);
        }
        assert_eq!(
            node(&m, "Cast").attr("to"),
            Some(&Attribute::Int(1)),
            "Cast to float"
        );
        // The QuantizeLinear after the Gemm and the graph output's DequantizeLinear stay.
        assert_eq!(count(&m, "QuantizeLinear"), 2);
        assert!(g.nodes.iter().any(|n| n.outputs == vec!["logits"]));
        assert!(
            g.nodes.iter().all(|n| n.outputs[0] != "fc.weight_dq"),
            "weight DQ removed"
        );
        g.check_inputs_defined().unwrap();
    }

    #[test]
    fn gemm_becomes_matmulinteger_cast_mul_add() {
        check_gemm(true, false, DType::I8);
        check_gemm(false, false, DType::I8);
        check_gemm(true, true, DType::I8);
        check_gemm(false, true, DType::U8);
    }

    #[test]
    fn gemm_with_per_row_weight_scales_is_left_as_qdq() {
        // transB = 0: W is [K, N]; scales along axis 0 are per K row.
        let mut m = gemm_model(false, false, DType::I8);
        let g = &mut m.graph;
        g.add_initializer(TensorData::from_f32(
            "fc.weight_scale",
            vec![3],
            &[0.5, 0.5, 0.25],
        ));
        g.add_initializer(TensorData::from_i8(
            "fc.weight_zero_point",
            vec![3],
            &[0; 3],
        ));
        let dq = g
            .nodes
            .iter_mut()
            .find(|n| n.name == "fc.weight_DequantizeLinear")
            .unwrap();
        dq.attributes = vec![("axis".into(), Attribute::Int(0))];
        let out = qoperator_lite(&m).unwrap();
        assert_eq!(out, m);
    }

    #[test]
    fn unmatched_nodes_are_left_untouched() {
        // Float weight (no DequantizeLinear): stays a Conv.
        let mut m = conv_model(&ConvOpts::default());
        let fw = TensorData::from_f32("float_w", vec![2, 1, 3, 3], &[0.1; 18]);
        m.graph.add_initializer(fw);
        m.graph
            .nodes
            .iter_mut()
            .find(|n| n.op_type == "Conv")
            .unwrap()
            .inputs[1] = "float_w".into();
        assert_eq!(qoperator_lite(&m).unwrap(), m);

        // Conv output not quantized (read by a float op as well): stays.
        let mut m = conv_model(&ConvOpts::default());
        m.graph
            .add_node(Node::new("tap", "Relu", &["y"], &["tap_out"]));
        m.graph.outputs.push(vi("tap_out", &[1, 2, 4, 4]));
        assert_eq!(qoperator_lite(&m).unwrap(), m);

        // Float bias on a Conv: stays.
        let mut m = conv_model(&ConvOpts::default());
        m.graph
            .add_initializer(TensorData::from_f32("float_b", vec![2], &[0.1, 0.2]));
        m.graph
            .nodes
            .iter_mut()
            .find(|n| n.op_type == "Conv")
            .unwrap()
            .inputs[2] = "float_b".into();
        assert_eq!(qoperator_lite(&m).unwrap(), m);

        // int16 activations: stays.
        let mut m = conv_model(&ConvOpts::default());
        for t in ["input_zero_point", "y_zero_point"] {
            m.graph
                .add_initializer(TensorData::from_i16(t, vec![], &[0]));
        }
        assert_eq!(qoperator_lite(&m).unwrap(), m);

        // Gemm with transA or alpha: stays.
        for attr in [
            ("transA", Attribute::Int(1)),
            ("alpha", Attribute::Float(2.0)),
        ] {
            let mut m = gemm_model(true, false, DType::I8);
            let n = m
                .graph
                .nodes
                .iter_mut()
                .find(|n| n.op_type == "Gemm")
                .unwrap();
            n.attributes.push((attr.0.into(), attr.1));
            assert_eq!(qoperator_lite(&m).unwrap(), m);
        }

        // Float ops between Q/DQ and contrib-domain nodes are left alone around a rewrite.
        let mut m = conv_model(&ConvOpts::default());
        m.graph.add_node(Node::new(
            "pool",
            "GlobalAveragePool",
            &["input_dq"],
            &["pooled"],
        ));
        let mut contrib = Node::new("c", "QLinearAdd", &["input_q"], &["c_out"]);
        contrib.domain = "com.microsoft".into();
        m.graph.add_node(contrib.clone());
        m.graph.outputs.push(vi("pooled", &[1, 1, 1, 1]));
        m.graph.outputs.push(vi("c_out", &[1, 1, 4, 4]));
        let out = qoperator_lite(&m).unwrap();
        assert_eq!(count(&out, "QLinearConv"), 1);
        let pool = out.graph.nodes.iter().find(|n| n.name == "pool").unwrap();
        assert_eq!(
            pool,
            m.graph.nodes.iter().find(|n| n.name == "pool").unwrap()
        );
        assert!(out.graph.nodes.contains(&contrib));
    }

    #[test]
    fn weight_that_is_not_a_constant_is_an_error_naming_the_node() {
        let mut m = conv_model(&ConvOpts::default());
        m.graph.inputs.push(ValueInfo {
            name: "w_in".into(),
            dtype: DType::I8,
            shape: vec![Dim::Fixed(2), Dim::Fixed(1), Dim::Fixed(3), Dim::Fixed(3)],
        });
        m.graph
            .nodes
            .iter_mut()
            .find(|n| n.name == "conv.weight_DequantizeLinear")
            .unwrap()
            .inputs[0] = "w_in".into();
        let e = qoperator_lite(&m).unwrap_err();
        let (root, text) = root_and_text(&e);
        assert!(matches!(root, QuantError::InvalidArgument(_)), "{e:?}");
        assert!(
            text.contains("node conv") && text.contains("w_in") && text.contains("constant"),
            "{text}"
        );
    }

    #[test]
    fn differing_per_channel_weight_zero_points_are_an_error() {
        let mut m = conv_model(&ConvOpts {
            per_channel: true,
            ..ConvOpts::default()
        });
        m.graph.add_initializer(TensorData::from_i8(
            "conv.weight_zero_point",
            vec![2],
            &[0, 3],
        ));
        let e = qoperator_lite(&m).unwrap_err();
        assert!(matches!(e.root(), QuantError::Unsupported { .. }), "{e:?}");
        let text = e.to_string();
        assert!(
            text.contains("node conv") && text.contains("zero point"),
            "{text}"
        );

        // One non-zero value for every channel is fine.
        m.graph.add_initializer(TensorData::from_i8(
            "conv.weight_zero_point",
            vec![2],
            &[3, 3],
        ));
        // ... but then the bias scale still matches; the rewrite goes through.
        assert_eq!(count(&qoperator_lite(&m).unwrap(), "QLinearConv"), 1);
    }

    #[test]
    fn int8_activations_with_uint8_weights_are_an_error() {
        let mut m = gemm_model(true, false, DType::I8);
        m.graph.add_initializer(TensorData::from_u8(
            "fc.weight_quantized",
            vec![2, 3],
            &[1, 2, 3, 4, 5, 6],
        ));
        m.graph
            .add_initializer(TensorData::from_u8("fc.weight_zero_point", vec![], &[0]));
        let e = qoperator_lite(&m).unwrap_err();
        assert!(matches!(e.root(), QuantError::Unsupported { .. }), "{e:?}");
        assert!(e.to_string().contains("node fc"), "{e}");
    }

    #[test]
    fn inconsistent_conv_bias_is_an_error() {
        let mut m = conv_model(&ConvOpts::default());
        m.graph.add_initializer(TensorData::from_f32(
            "conv.bias_quantized_scale",
            vec![],
            &[SX * 0.01 * 2.0],
        ));
        let e = qoperator_lite(&m).unwrap_err();
        assert!(matches!(e.root(), QuantError::InvalidParams(_)), "{e:?}");
        assert!(e.to_string().contains("node conv"), "{e}");

        let mut m = conv_model(&ConvOpts::default());
        m.graph.add_initializer(TensorData::from_i32(
            "conv.bias_quantized_zero_point",
            vec![],
            &[1],
        ));
        let e = qoperator_lite(&m).unwrap_err();
        assert!(e.to_string().contains("zero point"), "{e}");
    }

    #[test]
    fn non_positive_or_misshaped_weight_scales_are_errors() {
        let mut m = conv_model(&ConvOpts::default());
        m.graph
            .add_initializer(TensorData::from_f32("conv.weight_scale", vec![], &[0.0]));
        let e = qoperator_lite(&m).unwrap_err();
        assert!(matches!(e.root(), QuantError::InvalidParams(_)), "{e:?}");

        let mut m = conv_model(&ConvOpts::default());
        m.graph.add_initializer(TensorData::from_f32(
            "conv.weight_scale",
            vec![3],
            &[0.1; 3],
        ));
        m.graph.add_initializer(TensorData::from_i8(
            "conv.weight_zero_point",
            vec![3],
            &[0; 3],
        ));
        let e = qoperator_lite(&m).unwrap_err();
        assert!(matches!(e.root(), QuantError::Shape(_)), "{e:?}");
    }

    #[test]
    fn models_below_opset_13_are_rejected() {
        let mut m = conv_model(&ConvOpts::default());
        m.opset_imports = vec![(String::new(), 11)];
        assert!(matches!(
            qoperator_lite(&m).unwrap_err(),
            QuantError::Unsupported { .. }
        ));
    }

    #[test]
    fn a_model_without_patterns_is_returned_unchanged() {
        let mut g = Graph {
            inputs: vec![vi("x", &[1, 4])],
            outputs: vec![vi("y", &[1, 4])],
            ..Graph::default()
        };
        g.add_node(Node::new("r", "Relu", &["x"], &["y"]));
        let m = Model::new(g, 13);
        assert_eq!(qoperator_lite(&m).unwrap(), m);
    }
}
