//! Turning an ONNX artifact into a compiled tract plan with a fixed input shape.

use std::path::Path;

use qbench_core::{AdapterError, Artifact};
use tract_linalg::multithread::Executor;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::ops::unimpl::UnimplementedOp;

use crate::error;

/// Loads `artifact`, fixes its input to `dims` (f32), keeps only the named outputs (in that
/// order), optimizes it and compiles it to run on `executor`.
pub(crate) fn compile(
    artifact: &Artifact,
    dims: &[usize],
    executor: Executor,
    outputs: &[String],
) -> Result<Arc<TypedRunnableModel>, AdapterError> {
    let path = artifact.path.as_path();
    // Intermediate `value_info` is only a hint, and exporters write it with their own symbols
    // (ONNX Runtime's quantization tool declares `N x 16 x 28 x 28` beside an input qbench fixes
    // to batch 1, which tract cannot unify): tract infers every shape from the fixed input.
    let mut model = tract_onnx::onnx()
        .with_ignore_value_info(true)
        .model_for_path(path)
        .map_err(|e| error::load(path, "cannot read the ONNX model", &e))?;

    let input = input_index(&model, path, &artifact.input.name)?;
    model
        .set_input_fact(input, f32::fact(dims).into())
        .map_err(|e| error::load(path, "cannot set the input shape", &e))?;
    let outlets = outputs
        .iter()
        .map(|o| output_outlet(&model, path, o))
        .collect::<Result<Vec<_>, _>>()?;
    model
        .select_output_outlets(&outlets)
        .map_err(|e| error::load(path, "cannot select the output", &e))?;

    let unimplemented = unimplemented_ops(&model);
    let not_implemented = |e: TractError| {
        if unimplemented.is_empty() {
            error::load(path, "cannot optimize the model", &e)
        } else {
            AdapterError::Unsupported {
                backend: error::BACKEND,
                reason: format!(
                    "{}: operator(s) not implemented by tract: {} ({e:#})",
                    path.display(),
                    unimplemented.join(", ")
                ),
            }
        }
    };
    let typed = model.into_typed().map_err(not_implemented)?;
    if let Some(reason) = softmax_between_qdq(&typed) {
        return Err(AdapterError::Unsupported {
            backend: error::BACKEND,
            reason: format!("{}: {reason}", path.display()),
        });
    }
    let typed = typed.into_optimized().map_err(not_implemented)?;
    typed
        .into_runnable_with_options(&RunOptions {
            executor: Some(executor),
            ..Default::default()
        })
        .map_err(|e| error::load(path, "cannot compile the model", &e))
}

/// Index of the model input called `name`; the model must have no other input.
fn input_index(model: &InferenceModel, path: &Path, name: &str) -> Result<usize, AdapterError> {
    let names: Vec<&str> = model
        .inputs
        .iter()
        .map(|outlet| model.node(outlet.node).name.as_str())
        .collect();
    match names.iter().position(|n| *n == name) {
        Some(ix) if names.len() == 1 => Ok(ix),
        Some(_) => Err(error::load_msg(
            path,
            format!(
                "the model has {} inputs {names:?}; qbench feeds only {name:?}",
                names.len()
            ),
        )),
        None => Err(error::load_msg(
            path,
            format!("the model has no input named {name:?} (inputs: {names:?})"),
        )),
    }
}

/// The outlet of the model output called `name`.
fn output_outlet(
    model: &InferenceModel,
    path: &Path,
    name: &str,
) -> Result<OutletId, AdapterError> {
    model
        .find_outlet_label(name)
        .or_else(|| {
            model
                .node_by_name(name)
                .ok()
                .map(|node| OutletId::new(node.id, 0))
        })
        .ok_or_else(|| {
            let labels: Vec<&str> = model
                .outputs
                .iter()
                .filter_map(|o| model.outlet_label(*o))
                .collect();
            error::load_msg(
                path,
                format!("the model has no output named {name:?} (outputs: {labels:?})"),
            )
        })
}

/// `op_type (node name)` for every node tract parsed as an unimplemented operator.
fn unimplemented_ops(model: &InferenceModel) -> Vec<String> {
    model
        .nodes()
        .iter()
        .filter(|node| node.op_is::<UnimplementedOp>())
        .map(|node| {
            let op = node.op.name();
            let op_type = op
                .strip_prefix("Unimplemented(")
                .and_then(|s| s.strip_suffix(')'))
                .unwrap_or(&op)
                .to_string();
            format!("{op_type} (node {:?})", node.name)
        })
        .collect()
}

/// tract's decluttering folds `DequantizeLinear -> op -> QuantizeLinear` into a 256-entry lookup
/// table whenever the op maps its input axes one to one onto its output axes
/// (`DequantizeLinear::declutter`, tract-core 0.23.9), which is only right for element-wise ops.
/// Softmax passes that test, and becomes a per-element table that computes the softmax of each
/// value alone (1.0 everywhere). Such a model is refused, naming the node, rather than measured
/// wrong.
fn softmax_between_qdq(model: &TypedModel) -> Option<String> {
    use tract_onnx::tract_core::ops::nn::Softmax;
    let is = |id: usize, name: &str| model.node(id).op.name().starts_with(name);
    model.nodes().iter().find_map(|n| {
        n.op_as::<Softmax>()?;
        let from_dq = n
            .inputs
            .first()
            .is_some_and(|i| is(i.node, "DequantizeLinear"));
        let succ = model.single_succ(n.id).ok().flatten()?;
        (from_dq && is(succ.id, "QuantizeLinear")).then(|| {
            format!(
                "tract {} folds DequantizeLinear -> Softmax -> QuantizeLinear (node {}) into a \
                 per-element lookup table, which is wrong for Softmax (every output would be \
                 1.0)",
                crate::backend::TRACT_VERSION,
                n.name
            )
        })
    })
}

/// Bytes of every intermediate tensor one sample of `artifact` produces (its input fixed to
/// `[1, shape...]`, constants excluded), from tract's shape inference: what a runtime would
/// hold per sample if it freed nothing, so `batch` times it bounds a batch's activations from
/// above. `None` when tract cannot type the model (an operator it lacks, a dynamic shape).
pub fn activation_bytes_per_sample(artifact: &Artifact) -> Option<u64> {
    let path = artifact.path.as_path();
    let mut model = tract_onnx::onnx()
        .with_ignore_value_info(true)
        .model_for_path(path)
        .ok()?;
    let input = input_index(&model, path, &artifact.input.name).ok()?;
    let dims: Vec<usize> = std::iter::once(1)
        .chain(artifact.input.shape.iter().copied())
        .collect();
    model.set_input_fact(input, f32::fact(dims).into()).ok()?;
    let typed = model.into_typed().ok()?;
    let mut total = 0u64;
    for node in typed.nodes() {
        for out in &node.outputs {
            let fact = &out.fact;
            if fact.konst.is_some() {
                continue;
            }
            let volume: usize = fact.shape.as_concrete()?.iter().product();
            total += (volume * fact.datum_type.size_of()) as u64;
        }
    }
    Some(total)
}
