//! PyTorch's per-operator decisions in FX graph mode post-training quantization (`prepare_fx` with
//! `get_default_qconfig_mapping("x86" | "qnnpack")`, then `convert_fx`), on an ONNX graph:
//! which tensors are quantized, which observer each one's values feed, and which parameters each
//! carries at run time (`torch/ao/quantization/fx/prepare.py`,
//! `backend_config/_common_operator_config_utils.py`, `qconfig_mapping.py`, and the quantized
//! CPU kernels in `aten/src/ATen/native/quantized/cpu/BinaryOps.cpp`). Checked against torch
//! 2.15 by `adapters/quant/tests/pytorch_graph_ops_fidelity.rs`.
//!
//! * Every quantized operator quantizes its float data inputs: an input whose producer is not
//!   quantized (a float op, the graph input) gets an observer of its own.
//! * Conv, ConvTranspose, Linear, matmul, add/mul of two tensors, hardswish, leaky relu, ELU,
//!   PReLU and the norms observe their output ([`TorchOp::Observed`]).
//! * The share-qparams ops (pooling, adaptive/global average pool, mean, ReLU not fused, clamp
//!   and ReLU6, interpolate, flatten, reshape, transpose, squeeze, ...) reuse their input's
//!   observer, and at run time the output keeps the input's parameters ([`TorchOp::Shared`]).
//! * Add or multiply by a scalar also reuse the input's observer, but the kernels
//!   (`quantized::add_scalar`, `mul_scalar`) compute the output parameters from the input's and
//!   the scalar ([`scalar_output_params`]); add rounds the scalar to the input's grid.
//! * `cat` makes every input's observer and its output's the first input's (so a conv feeding
//!   it as a later input takes that observer's parameters), and requantizes inputs whose
//!   parameters differ.
//! * Sigmoid, hardsigmoid and softmax have the fixed parameters `(1/256, 0)`, tanh `(2/256, 128)`.
//! * Anything else stays in float.
//!
//! An observer sees every tensor that uses it, so a shared observer's range covers the input
//! and output of a max pool, or all the inputs of a cat: [`TorchMarks::observer`] says which
//! observer each tensor's values feed, and calibration keeps one histogram per observer.

use std::collections::{HashMap, HashSet};

use qbench_onnx::{elem_code, elem_types, Graph, Node};

use super::op_rules::FixedRange;
use crate::error::{QuantError, Result};
use crate::params::QuantParams;

/// What PyTorch's x86/qnnpack backend configuration does with an ONNX operator.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TorchOp {
    /// A quantized kernel whose output has an observer of its own.
    Observed,
    /// Reuses its input's observer; the output keeps the input's parameters.
    Shared,
    /// `add_scalar` / `mul_scalar`: reuses its input's observer; the kernel derives the output
    /// parameters.
    Scalar(ScalarOp),
    /// `cat`: inputs and output share the first input's observer.
    Cat,
    /// Fixed output parameters.
    Fixed(FixedRange),
    /// No quantized kernel.
    Float,
}

/// The scalar of an `add_scalar` / `mul_scalar`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ScalarOp {
    Add(f32),
    Mul(f32),
}

/// How a quantized tensor gets its run-time parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum Runtime {
    /// From the observer it feeds ([`TorchMarks::observer`]): the output of an observed kernel,
    /// of a `cat`, or a float tensor quantized for a quantized reader.
    Observed,
    /// The same as another tensor's (a share-qparams op's input).
    SameAs(String),
    /// Derived by `add_scalar` / `mul_scalar` from its input's.
    Derived { from: String, op: ScalarOp },
    /// Fixed by the operator.
    Fixed(FixedRange),
}

/// The decisions for one graph.
#[derive(Clone, Debug, Default)]
pub struct TorchMarks {
    /// Quantized tensors, in the order they were decided.
    pub order: Vec<String>,
    pub runtime: HashMap<String, Runtime>,
    /// The observer each quantized tensor's values feed, named by the tensor that created it.
    pub observer: HashMap<String, String>,
    /// Observers with fixed parameters.
    pub fixed: HashMap<String, FixedRange>,
    /// Float initializers (not weights or biases, not scalars) read by quantized operators.
    pub constants: Vec<String>,
}

impl TorchMarks {
    fn quantize(&mut self, t: &str, rt: Runtime, observer: String) {
        if !self.runtime.contains_key(t) {
            self.order.push(t.to_string());
        }
        self.runtime.insert(t.to_string(), rt);
        self.observer.insert(t.to_string(), observer);
    }

    /// The observers to calibrate (fixed ones need none): each with the tensors that feed it.
    pub fn observer_inputs(&self) -> HashMap<String, String> {
        self.observer
            .iter()
            .filter(|(_, o)| !self.fixed.contains_key(*o))
            .map(|(t, o)| (t.clone(), o.clone()))
            .collect()
    }
}

/// PyTorch's backend configuration for `n` (x86 and qnnpack agree on these operators).
pub fn torch_op(g: &Graph, n: &Node) -> TorchOp {
    match n.op_type.as_str() {
        "Add" | "Mul" => match scalar_operand(g, n) {
            Some(c) if n.op_type == "Add" => TorchOp::Scalar(ScalarOp::Add(c)),
            Some(c) => TorchOp::Scalar(ScalarOp::Mul(c)),
            None => TorchOp::Observed,
        },
        "Conv"
        | "ConvTranspose"
        | "Gemm"
        | "MatMul"
        | "HardSwish"
        | "LeakyRelu"
        | "Elu"
        | "PRelu"
        | "InstanceNormalization"
        | "LayerNormalization"
        | "BatchNormalization" => TorchOp::Observed,
        "MaxPool" | "AveragePool" | "GlobalAveragePool" | "Relu" | "Clip" | "Identity"
        | "Resize" | "Flatten" | "ReduceMean" | "Reshape" | "Transpose" | "Squeeze"
        | "Unsqueeze" | "Slice" | "Tile" | "DepthToSpace" | "SpaceToDepth" => TorchOp::Shared,
        "Concat" => TorchOp::Cat,
        "Sigmoid" | "HardSigmoid" | "Softmax" => TorchOp::Fixed(FixedRange::ZeroToOne),
        "Tanh" => TorchOp::Fixed(FixedRange::MinusOneToOne),
        _ => TorchOp::Float,
    }
}

/// The value of a one-element initializer operand of a two-input Add/Mul (`x + 1.5`).
fn scalar_operand(g: &Graph, n: &Node) -> Option<f32> {
    if n.inputs.len() != 2 {
        return None;
    }
    n.inputs.iter().find_map(|t| {
        let c = g.initializer(t)?;
        let v = c.to_f32().ok()?;
        (v.len() == 1).then(|| v[0])
    })
}

/// Walks `g` in order as `prepare_fx` does and decides every tensor (weights and biases of
/// Conv/ConvTranspose/Gemm are the recipe's).
pub fn torch_marks(g: &Graph) -> TorchMarks {
    let types = elem_types(g);
    let inits: HashSet<&str> = g.initializers.iter().map(|t| t.name.as_str()).collect();
    let is_float = |t: &str| !t.is_empty() && types.get(t) == Some(&elem_code::FLOAT);
    let mut mk = TorchMarks::default();
    for n in &g.nodes {
        let op = torch_op(g, n);
        if op == TorchOp::Float {
            continue;
        }
        let weighted = matches!(n.op_type.as_str(), "Conv" | "ConvTranspose" | "Gemm");
        let data: Vec<&str> = n
            .inputs
            .iter()
            .take(if weighted { 1 } else { n.inputs.len() })
            .map(String::as_str)
            .filter(|t| is_float(t))
            .collect();
        // Inputs are observed where nothing quantized them yet. A constant operand of an
        // observed kernel or a cat is quantized too (the recipe's); the constant parameters of
        // the other operators (Resize scales, Clip bounds, a scalar) stay float.
        let mut first_input: Option<&str> = None;
        for &t in &data {
            if inits.contains(t) {
                let operand = matches!(op, TorchOp::Observed | TorchOp::Cat);
                if operand && !mk.constants.iter().any(|c| c == t) {
                    mk.constants.push(t.to_string());
                }
                continue;
            }
            if !mk.runtime.contains_key(t) {
                mk.quantize(t, Runtime::Observed, t.to_string());
            }
            first_input.get_or_insert(t);
        }
        let Some(out) = n.outputs.first().filter(|o| is_float(o)) else {
            continue;
        };
        match op {
            TorchOp::Observed => mk.quantize(out, Runtime::Observed, out.clone()),
            TorchOp::Fixed(kind) => {
                mk.fixed.insert(out.clone(), kind);
                mk.quantize(out, Runtime::Fixed(kind), out.clone());
            }
            TorchOp::Shared | TorchOp::Scalar(_) => {
                let Some(x) = first_input else { continue };
                let obs = mk.observer[x].clone();
                let rt = match op {
                    TorchOp::Scalar(s) => Runtime::Derived {
                        from: x.to_string(),
                        op: s,
                    },
                    _ => Runtime::SameAs(x.to_string()),
                };
                mk.quantize(out, rt, obs);
            }
            TorchOp::Cat => {
                let Some(x) = first_input else { continue };
                let obs = mk.observer[x].clone();
                for &t in data.iter().filter(|t| !inits.contains(**t)) {
                    mk.observer.insert(t.to_string(), obs.clone());
                }
                mk.quantize(out, Runtime::Observed, obs);
            }
            TorchOp::Float => {}
        }
    }
    mk
}

/// The run-time parameters of every quantized tensor: `observed(o)` for observer `o`'s
/// (calibrated) parameters, `fixed(kind)` for fixed ones, and the kernels' rules for the rest.
pub fn torch_params(
    mk: &TorchMarks,
    mut observed: impl FnMut(&str) -> Result<QuantParams>,
    fixed: impl Fn(FixedRange) -> Result<QuantParams>,
) -> Result<HashMap<String, QuantParams>> {
    let mut by_observer: HashMap<&str, QuantParams> = HashMap::new();
    let mut out: HashMap<String, QuantParams> = HashMap::new();
    for t in &mk.order {
        let known = |s: &str, out: &HashMap<String, QuantParams>| {
            out.get(s).copied().ok_or_else(|| {
                QuantError::InvalidArgument(format!("{t}: {s} has no parameters yet"))
            })
        };
        let p = match &mk.runtime[t] {
            Runtime::Fixed(kind) => fixed(*kind)?,
            Runtime::SameAs(s) => known(s, &out)?,
            Runtime::Derived { from, op } => scalar_output_params(known(from, &out)?, *op)?,
            Runtime::Observed => {
                let o = mk.observer[t].as_str();
                match by_observer.get(o) {
                    Some(p) => *p,
                    None => {
                        let p = match mk.fixed.get(o) {
                            Some(kind) => fixed(*kind)?,
                            None => observed(o)?,
                        };
                        by_observer.insert(o, p);
                        p
                    }
                }
            }
        };
        out.insert(t.clone(), p);
    }
    Ok(out)
}

/// The output parameters PyTorch's `add_scalar` / `mul_scalar` kernels compute from the
/// input's (`qadd_scalar` / `qmul_scalar` in ATen's quantized CPU `BinaryOps.cpp`), over the
/// container's full range (`reduce_range` does not apply to them). With `c_q = round(c / s)`:
/// add keeps the scale and moves the zero point to `z - c_q` when it stays in range, otherwise
/// pins the zero point to the range's end and widens the scale to fit; mul by `c > 0` scales the
/// scale by `c`, by `c < 0` also mirrors the zero point, and by 0 gives `(1, 0)`.
pub fn scalar_output_params(input: QuantParams, op: ScalarOp) -> Result<QuantParams> {
    // The container's full range: quint8 [0, 255] for PyTorch's activations.
    let (qmin, qmax) = if input.qmin < 0 {
        (-128, 127)
    } else {
        (0, 255)
    };
    let s = f64::from(input.scale);
    let z = i64::from(input.zero_point);
    let (lo, hi) = (i64::from(qmin), i64::from(qmax));
    let (scale, zp) = match op {
        ScalarOp::Add(c) => {
            let c_q = (f64::from(c) / s).round_ties_even() as i64;
            let shifted = z - c_q;
            if shifted < lo {
                ((hi - shifted) as f64 / (hi - lo) as f64 * s, lo)
            } else if shifted > hi {
                ((shifted - lo) as f64 / (hi - lo) as f64 * s, hi)
            } else {
                (s, shifted)
            }
        }
        ScalarOp::Mul(0.0) => (1.0, 0),
        ScalarOp::Mul(c) if c > 0.0 => (s * f64::from(c), z),
        ScalarOp::Mul(c) => (s * f64::from(c).abs(), hi - (z - lo)),
    };
    QuantParams::new(scale as f32, zp as i32, qmin, qmax)
}

/// The scalar `add_scalar` really adds: `round(c / s) * s` for input scale `s`.
pub fn effective_add_scalar(input: QuantParams, c: f32) -> f32 {
    let s = f64::from(input.scale);
    ((f64::from(c) / s).round_ties_even() * s) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(scale: f32, zero_point: i32) -> QuantParams {
        QuantParams::new(scale, zero_point, 0, 127).unwrap()
    }

    /// Values torch 2.15's `torch.ops.quantized.add/mul(qx, c)` printed for quint8 inputs.
    #[test]
    fn scalar_kernels_match_torch() {
        let cases = [
            (p(0.02415, 28), ScalarOp::Add(1.5), 0.02737, 0),
            (p(0.02415, 28), ScalarOp::Add(-1.5), 0.02415, 90),
            (p(0.01, 200), ScalarOp::Add(-1.5), 0.013_725_49, 255),
            (p(0.003, 10), ScalarOp::Add(0.2), 0.003_670_588, 0),
            (p(0.02415, 28), ScalarOp::Mul(0.25), 0.006_037_5, 28),
            (p(0.02415, 28), ScalarOp::Mul(-0.25), 0.006_037_5, 227),
            (p(0.01, 200), ScalarOp::Mul(-0.25), 0.0025, 55),
            (p(0.02415, 28), ScalarOp::Mul(0.0), 1.0, 0),
        ];
        for (input, op, scale, zp) in cases {
            let q = scalar_output_params(input, op).unwrap();
            assert!(
                (q.scale - scale).abs() <= 1e-6 * scale,
                "{op:?}: {}",
                q.scale
            );
            assert_eq!((q.zero_point, q.qmin, q.qmax), (zp, 0, 255), "{op:?}");
        }
        assert_eq!(effective_add_scalar(p(0.25, 0), 1.1), 1.0);
    }
}
