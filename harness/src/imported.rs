//! Already-quantized models from other tools: a model PyTorch exported after QAT, a TF-MOT model
//! converted with tf2onnx, the output of ONNX Runtime's `quantize_static`. Named on the command
//! line (`compare --artifact NAME=path.onnx`) or in a scenario (`[[artifacts]]`), each becomes a
//! row measured on every backend like qbench's own techniques: its format is read from the
//! graph (which decides the backends that can run it), and it must take the FP32 model's inputs
//! and give its metric output, or the run is refused before anything is measured.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use qbench_core::{Artifact, Format};
use qbench_onnx::{DType, Dim, Graph, Model, ValueInfo};
use serde::{Deserialize, Serialize};

/// One imported model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportedSpec {
    /// The row's technique name.
    pub name: String,
    /// The ONNX file (relative to the scenario file in a scenario; as given on the command line).
    pub path: PathBuf,
    /// The tool that made it, for the framework column [default: `imported`].
    #[serde(default)]
    pub framework: Option<String>,
}

impl FromStr for ImportedSpec {
    type Err = String;

    /// `NAME=PATH`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once('=') {
            Some((name, path)) if !name.trim().is_empty() && !path.trim().is_empty() => {
                Ok(ImportedSpec {
                    name: name.trim().to_string(),
                    path: PathBuf::from(path.trim()),
                    framework: None,
                })
            }
            _ => Err(format!("expected NAME=PATH.onnx, got {s:?}")),
        }
    }
}

/// Operators of ONNX's integer (QOperator) form.
const QOPERATOR_OPS: &[&str] = &[
    "QLinearConv",
    "QLinearMatMul",
    "ConvInteger",
    "MatMulInteger",
];

/// How the model represents its arithmetic, read from its operators: ONNX Runtime contrib
/// operators (domain `com.microsoft`), dynamic quantization (`DynamicQuantizeLinear`), integer
/// operators (QOperator), QuantizeLinear/DequantizeLinear pairs (16-bit when a QuantizeLinear's
/// zero point is 16-bit), DequantizeLinear on weights alone (weight-only), float16
/// initializers, else FP32.
pub fn detect_format(m: &Model) -> Format {
    let g = &m.graph;
    let ops: HashSet<&str> = g.nodes.iter().map(|n| n.op_type.as_str()).collect();
    if g.nodes
        .iter()
        .any(|n| !n.domain.is_empty() && n.domain != "ai.onnx")
    {
        return Format::OrtContrib;
    }
    if ops.contains("DynamicQuantizeLinear") {
        return Format::Dynamic;
    }
    if QOPERATOR_OPS.iter().any(|o| ops.contains(o)) {
        return Format::QOperator;
    }
    if ops.contains("QuantizeLinear") {
        let sixteen = g
            .nodes
            .iter()
            .filter(|n| n.op_type == "QuantizeLinear")
            .filter_map(|n| g.initializer(n.inputs.get(2)?))
            .any(|z| matches!(z.dtype, DType::I16 | DType::U16));
        return if sixteen { Format::Qdq16 } else { Format::Qdq };
    }
    if ops.contains("DequantizeLinear") {
        return Format::WeightOnly;
    }
    if g.initializers.iter().any(|t| t.dtype == DType::F16) {
        return Format::Fp16;
    }
    Format::Fp32
}

/// Whether two dimensions can be the same (a symbolic or unknown one matches any).
fn compatible(a: &[Dim], b: &[Dim]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| match (x, y) {
            (Dim::Fixed(x), Dim::Fixed(y)) => x == y,
            _ => true,
        })
}

fn show(v: &ValueInfo) -> String {
    let dims: Vec<String> = v
        .shape
        .iter()
        .map(|d| match d {
            Dim::Fixed(n) => n.to_string(),
            Dim::Param(p) => p.clone(),
            Dim::Unknown => "?".into(),
        })
        .collect();
    format!("{} {:?}[{}]", v.name, v.dtype, dims.join(", "))
}

/// The graph inputs that are fed (not initializers listed as inputs, as older exporters do).
fn fed(g: &Graph) -> Vec<&ValueInfo> {
    g.inputs
        .iter()
        .filter(|v| g.initializer(&v.name).is_none())
        .collect()
}

/// Refuses `m` (loaded from `path`) unless it takes the FP32 model's inputs (same names, types
/// and fixed dimensions, no others) and gives `output` as the FP32 model does.
pub fn check_matches(fp32: &Model, m: &Model, output: &str, path: &Path) -> Result<()> {
    let (theirs, ours) = (fed(&m.graph), fed(&fp32.graph));
    for want in &ours {
        match theirs.iter().find(|v| v.name == want.name) {
            None => {
                bail!(
                "{}: the model has no input {:?} (its inputs: {}); an imported model must take \
                 the FP32 model's inputs",
                path.display(),
                want.name,
                theirs.iter().map(|v| show(v)).collect::<Vec<_>>().join("; ")
            )
            }
            Some(got) if got.dtype != want.dtype || !compatible(&got.shape, &want.shape) => bail!(
                "{}: input {} does not fit the FP32 model's {}",
                path.display(),
                show(got),
                show(want)
            ),
            Some(_) => {}
        }
    }
    if let Some(extra) = theirs
        .iter()
        .find(|v| !ours.iter().any(|w| w.name == v.name))
    {
        bail!(
            "{}: input {} is not an input of the FP32 model, which qbench feeds alone",
            path.display(),
            show(extra)
        );
    }
    let want = fp32.graph.outputs.iter().find(|v| v.name == output);
    let got = m.graph.outputs.iter().find(|v| v.name == output);
    match (want, got) {
        (_, None) => bail!(
            "{}: the model has no output {output:?} (its outputs: {}); an imported model must \
             give the output the metric reads",
            path.display(),
            m.graph
                .outputs
                .iter()
                .map(show)
                .collect::<Vec<_>>()
                .join("; ")
        ),
        (Some(w), Some(g)) if g.dtype != w.dtype || !compatible(&g.shape, &w.shape) => bail!(
            "{}: output {} does not fit the FP32 model's {}",
            path.display(),
            show(g),
            show(w)
        ),
        _ => Ok(()),
    }
}

/// The artifact of an imported model, checked against the FP32 artifact and its loaded model
/// `base` (see [`check_matches`]); `path` is already resolved.
pub fn artifact(
    spec: &ImportedSpec,
    path: &Path,
    fp32: &Artifact,
    base: &Model,
) -> Result<Artifact> {
    let m = Model::load(path).with_context(|| {
        format!(
            "imported model {:?}: cannot read {}",
            spec.name,
            path.display()
        )
    })?;
    check_matches(base, &m, &fp32.output, path)
        .with_context(|| format!("imported model {:?}", spec.name))?;
    Ok(Artifact {
        technique: spec.name.clone(),
        format: detect_format(&m),
        path: path.to_path_buf(),
        ..fp32.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_equals_path() {
        let s: ImportedSpec = "torch-qat=models/qat.onnx".parse().unwrap();
        assert_eq!(
            (s.name.as_str(), s.path.as_path()),
            ("torch-qat", Path::new("models/qat.onnx"))
        );
        for bad in ["noequals.onnx", "=a.onnx", "name="] {
            assert!(bad.parse::<ImportedSpec>().is_err(), "{bad}");
        }
    }
}
