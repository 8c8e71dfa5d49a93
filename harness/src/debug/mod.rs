//! `qbench debug --scenario S --technique T [--backend B]`: where a technique loses accuracy,
//! the two halves of ONNX Runtime's quantization debugging (`qdq_loss_debug`), done natively:
//!
//! * every quantized weight against its FP32 original (per tensor and per channel);
//! * every quantized activation against the FP32 model's tensor, both models run on the same
//!   calibration batches on backend B with their intermediate tensors exposed: the error
//!   accumulated at that point, beside the error that tensor's quantization alone introduces
//!   (the FP32 tensor quantized with the same parameters);
//! * sensitivity: the model output's error, and the top-1 change, when only that one weight or
//!   activation is quantized and everything else stays FP32.
//!
//! Writes `<out>/<technique>.<backend>.{json,md,svg}` and prints a table ranked by sensitivity.

pub(crate) mod measure;
pub mod report;
pub(crate) mod runner;
pub(crate) mod split;

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use qbench_onnx::Model;
use qbench_quant::debug::{activation_matching, weight_matching};
use qbench_quant::prepare;
use serde::{Deserialize, Serialize};

use crate::artifacts;
use crate::cli::{DebugArgs, DebugFormat};
use crate::compare::results_dir;
use crate::registry;
use crate::scenario::Scenario;

pub use measure::Measured;

/// What one table row is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Weight,
    Bias,
    Activation,
}

/// Error figures of one quantized tensor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub kind: Kind,
    /// The FP32 model's tensor.
    pub tensor: String,
    /// Weights: the node reading them; activations: the producing operator.
    pub node: String,
    pub op_type: String,
    /// Position of the node in the FP32 graph (the input is 0): the chart's depth axis.
    pub depth: usize,
    /// e.g. `int8 per-channel (axis 0)`, `uint8 [0, 255]`.
    pub quantization: String,
    /// SQNR in dB at this point of the quantized model (activations: accumulated through the
    /// network; weights: the weight's own); `None`: no error at all.
    pub sqnr_db: Option<f64>,
    /// Activations: SQNR of the FP32 tensor quantized alone with the same parameters.
    pub alone_sqnr_db: Option<f64>,
    pub cosine: f64,
    pub max_abs_error: f64,
    /// Per-channel weights: the worst channel and its SQNR.
    pub worst_channel: Option<usize>,
    pub worst_channel_sqnr_db: Option<f64>,
    /// Sensitivity: SQNR of the model output when only this tensor is quantized.
    pub output_sqnr_db: Option<f64>,
    /// Sensitivity: top-1 change in points when only this tensor is quantized.
    pub top1_change: Option<f64>,
}

/// The whole report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DebugReport {
    pub scenario: String,
    pub technique: String,
    pub framework: String,
    pub backend: String,
    pub backend_version: String,
    /// The calibration samples the models ran on.
    pub samples: usize,
    /// Where it ran (integer kernels, and so the verdicts, change with the ISA).
    pub machine: crate::measure::machine::Machine,
    pub qbench_version: String,
    pub commit: Option<String>,
    /// The technique's notes (its settings).
    pub settings: Option<String>,
    pub output: Measured,
    /// Ranked: most damaging first.
    pub entries: Vec<Entry>,
    pub notes: Vec<String>,
}

/// Runs `qbench debug`.
pub fn run(dir: &Path, args: &DebugArgs) -> Result<()> {
    let report = build(dir, args)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| results_dir(dir).join(&report.scenario).join("debug"));
    for p in report::write(&report, &out)? {
        eprintln!("wrote {}", p.display());
    }
    let text = match args.format {
        DebugFormat::Table => report::terminal(&report, args.top),
        DebugFormat::Md => report::markdown(&report, args.top),
        DebugFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
    };
    print!("{text}");
    Ok(())
}

/// Quantizes, matches and measures; writes nothing but the artifact.
pub fn build(dir: &Path, args: &DebugArgs) -> Result<DebugReport> {
    let mut scenario = Scenario::load_resolved(dir, &args.scenario)?;
    scenario
        .overrides
        .extend(args.overrides.iter().map(ToString::to_string));
    let backend = registry::available_backend(&args.backend)?;
    let technique = registry::techniques()
        .into_iter()
        .find(|t| t.name() == args.technique)
        .ok_or_else(|| {
            let names: Vec<&str> = registry::techniques().iter().map(|t| t.name()).collect();
            anyhow!(
                "unknown technique '{}' (known: {})",
                args.technique,
                names.join(", ")
            )
        })?;
    let work = tempfile::tempdir().context("cannot create a temporary folder")?;
    let mut calibration = None;
    let selected = [args.technique.clone()];
    let prepared = artifacts::prepare(&scenario, Some(&selected), work.path(), &mut calibration)?
        .into_iter()
        .find(|p| p.technique == args.technique)
        .ok_or_else(|| anyhow!("{} produced no artifact", args.technique))?;
    let artifact = prepared
        .artifact
        .map_err(|n| anyhow!("{}: {}", args.technique, n.reason))?;
    let fp32_artifact = scenario.fp32_artifact()?;
    let fp32 = prepare::pre_process(&Model::load(&fp32_artifact.path)?)
        .with_context(|| format!("pre-processing {}", fp32_artifact.path.display()))?
        .model;
    let quantized = Model::load(&artifact.path)?;
    let weights = weight_matching(&fp32, &quantized)
        .with_context(|| format!("matching the weights of {}", artifact.path.display()))?;
    let activations = activation_matching(&fp32, &quantized)
        .with_context(|| format!("matching the activations of {}", artifact.path.display()))?;
    if weights.is_empty() && activations.is_empty() {
        bail!(
            "{}'s artifact ({:?}) has no QuantizeLinear/DequantizeLinear pair to compare: \
             qbench debug reads QDQ models (static, weight-only and fixed-point recipes), not \
             QOperator, dynamic or float16 ones",
            args.technique,
            artifact.format
        );
    }
    let split = split::Split::new(&scenario, &artifact.input, args.samples)?;
    let ctx = measure::Context {
        backend: backend.as_ref(),
        split: &split,
        fp32: &fp32,
        quantized: &quantized,
        format: artifact.format,
        output: &artifact.output,
        work: work.path(),
    };
    let (output, mut entries) = measure::measure(&ctx, &weights, &activations)?;
    let mut notes = Vec::new();
    if !args.no_sensitivity {
        measure::sensitivity(
            &ctx,
            &output,
            &weights,
            &activations,
            &mut entries,
            &mut notes,
        )?;
    }
    report::rank(&mut entries);
    notes.insert(
        0,
        format!(
            "{} samples of the calibration split ({}), batches of {}; calibrated on {}",
            split.samples,
            split.describe,
            split.batch,
            calibration.unwrap_or_else(|| "-".into())
        ),
    );
    notes.push(
        "tensors are read with every intermediate exposed, which keeps the runtime from fusing \
         Q/DQ pairs into integer kernels (as in ONNX Runtime's qdq_loss_debug); the output line \
         `runtime kernels` is the artifact as deployed"
            .into(),
    );
    Ok(DebugReport {
        scenario: scenario.name.clone(),
        technique: args.technique.clone(),
        framework: technique.framework().into(),
        backend: backend.name().into(),
        backend_version: backend.version(),
        samples: split.samples,
        machine: crate::measure::machine::Machine::detect(),
        qbench_version: env!("CARGO_PKG_VERSION").into(),
        commit: crate::measure::machine::git_commit(),
        settings: prepared.notes,
        output,
        entries,
        notes,
    })
}
