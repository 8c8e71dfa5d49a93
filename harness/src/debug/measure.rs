//! The measurements behind `qbench debug`: one pass of four sessions (FP32 and quantized, each
//! plain and with its tensors exposed) over the split, then one run per quantized tensor for
//! the sensitivity.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context as _, Result};
use qbench_core::{Backend, Format};
use qbench_onnx::{Model, TensorData};
use qbench_quant::debug::{ActivationPair, ErrorStats, WeightMatch};
use qbench_quant::fake_quant;
use qbench_quant::qdq::{write_qdq, ActQuant, BiasMode, QdqPlan};
use serde::{Deserialize, Serialize};

use super::runner::{Plain, Tapped};
use super::split::{real, Split};
use super::{Entry, Kind};
use crate::progress::Progress;

/// What every measurement needs.
pub struct Context<'a> {
    pub backend: &'a dyn Backend,
    pub split: &'a Split,
    /// The FP32 model as the quantizer saw it (pre-processed).
    pub fp32: &'a Model,
    pub quantized: &'a Model,
    pub format: Format,
    pub output: &'a str,
    pub work: &'a Path,
}

/// The model output, FP32 against quantized, on the debugged samples.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    pub fp32_top1: Option<f64>,
    /// The artifact as deployed (the runtime's own kernels).
    pub quantized_top1: Option<f64>,
    pub output_sqnr_db: Option<f64>,
    pub output_cosine: f64,
    /// With every intermediate tensor exposed (unfused arithmetic).
    pub exposed_output_sqnr_db: Option<f64>,
    /// The FP32 model's outputs per batch (real rows), for the sensitivity runs.
    #[serde(skip)]
    pub fp32_outputs: Vec<Vec<f32>>,
}

fn percent(hits: Option<usize>, n: usize) -> Option<f64> {
    hits.map(|h| 100.0 * h as f64 / n as f64)
}

fn add_hits(total: &mut Option<usize>, h: Option<usize>) {
    *total = match (*total, h) {
        (Some(t), Some(h)) => Some(t + h),
        _ => None,
    };
}

fn weight_kind(w: &WeightMatch) -> Kind {
    if w.input == 2 && matches!(w.op_type.as_str(), "Conv" | "Gemm" | "ConvTranspose") {
        Kind::Bias
    } else {
        Kind::Weight
    }
}

fn dtype_name(d: qbench_onnx::DType) -> &'static str {
    use qbench_onnx::DType::*;
    match d {
        F32 => "float32",
        F16 => "float16",
        U8 => "uint8",
        I8 => "int8",
        U16 => "uint16",
        I16 => "int16",
        I32 => "int32",
        I64 => "int64",
    }
}

/// Entries for the weights, from their values alone.
fn weight_entries(ctx: &Context, weights: &[WeightMatch]) -> Result<Vec<Entry>> {
    let depth: HashMap<&str, usize> = ctx
        .fp32
        .graph
        .nodes
        .iter()
        .enumerate()
        .map(|(k, n)| (n.name.as_str(), k + 1))
        .collect();
    weights
        .iter()
        .map(|w| {
            let s = w.stats()?;
            let worst = w
                .per_channel()?
                .iter()
                .enumerate()
                .min_by(|a, b| {
                    let v = |s: &ErrorStats| s.sqnr_db().unwrap_or(f64::INFINITY);
                    v(a.1).total_cmp(&v(b.1))
                })
                .map(|(c, s)| (c, s.sqnr_db()));
            Ok(Entry {
                kind: weight_kind(w),
                tensor: w.name.clone(),
                node: w.node.clone(),
                op_type: w.op_type.clone(),
                depth: depth.get(w.node.as_str()).copied().unwrap_or(0),
                quantization: format!(
                    "{} [{}, {}] {}",
                    dtype_name(w.stored),
                    w.stored_range.0,
                    w.stored_range.1,
                    match w.axis {
                        Some(a) => format!("per-channel (axis {a})"),
                        None => "per-tensor".into(),
                    }
                ),
                sqnr_db: s.sqnr_db(),
                alone_sqnr_db: s.sqnr_db(),
                cosine: s.cosine(),
                max_abs_error: s.max_abs,
                worst_channel: worst.map(|w| w.0),
                worst_channel_sqnr_db: worst.and_then(|w| w.1),
                output_sqnr_db: None,
                top1_change: None,
            })
        })
        .collect()
}

/// One pass over the split: activation errors (accumulated and alone) and the output's.
pub fn measure(
    ctx: &Context,
    weights: &[WeightMatch],
    acts: &[ActivationPair],
) -> Result<(Measured, Vec<Entry>)> {
    let mut entries = weight_entries(ctx, weights)?;
    let split = ctx.split;
    let input = &split.input;
    let mut fp_names: Vec<String> = acts.iter().map(|a| a.tensor.clone()).collect();
    fp_names.push(ctx.output.to_string());
    let mut q_names: Vec<String> = acts.iter().map(|a| a.dequantized.clone()).collect();
    q_names.push(ctx.output.to_string());
    let b = ctx.backend;
    let path = |n: &str| ctx.work.join(n);
    let mut fp_tap = Tapped::load(
        b,
        ctx.fp32,
        &fp_names,
        &path("fp32-tapped.onnx"),
        Format::Fp32,
        input,
        ctx.output,
        split.batch,
    )?;
    let mut q_tap = Tapped::load(
        b,
        ctx.quantized,
        &q_names,
        &path("quantized-tapped.onnx"),
        ctx.format,
        input,
        ctx.output,
        split.batch,
    )?;
    let mut fp_plain = Plain::load(
        b,
        ctx.fp32,
        &path("fp32.onnx"),
        Format::Fp32,
        input,
        ctx.output,
        split.batch,
    )?;
    let mut q_plain = Plain::load(
        b,
        ctx.quantized,
        &path("quantized.onnx"),
        ctx.format,
        input,
        ctx.output,
        split.batch,
    )?;
    let mut acc = vec![ErrorStats::default(); acts.len()];
    let mut alone = vec![ErrorStats::default(); acts.len()];
    let (mut out, mut exposed) = (ErrorStats::default(), ErrorStats::default());
    let (mut fp_hits, mut q_hits) = (Some(0), Some(0));
    let mut fp32_outputs = Vec::new();
    let progress = Progress::new(split.len() as u64);
    progress.set_message(format!("debug: FP32 and quantized on {}", b.name()));
    for k in 0..split.len() {
        let batch = split.get(k)?;
        let fp = fp_tap.run(&batch)?;
        let q = q_tap.run(&batch)?;
        for (i, a) in acts.iter().enumerate() {
            let x = real(&batch, &fp[i]);
            let what = |e: qbench_quant::QuantError| {
                anyhow::Error::from(e).context(format!("comparing {}", a.tensor))
            };
            acc[i].add(x, real(&batch, &q[i])).map_err(what)?;
            alone[i]
                .add(x, &fake_quant(x, &a.params).map_err(what)?)
                .map_err(what)?;
        }
        let last = acts.len();
        exposed.add(real(&batch, &fp[last]), real(&batch, &q[last]))?;
        let fpo = fp_plain.run(&batch)?;
        let qo = q_plain.run(&batch)?;
        out.add(real(&batch, &fpo), real(&batch, &qo))
            .context("comparing the model outputs")?;
        add_hits(&mut fp_hits, split.hits(&batch, &fpo));
        add_hits(&mut q_hits, split.hits(&batch, &qo));
        fp32_outputs.push(real(&batch, &fpo).to_vec());
        progress.inc(1);
    }
    progress.finish_and_clear();
    for (i, a) in acts.iter().enumerate() {
        entries.push(Entry {
            kind: Kind::Activation,
            tensor: a.tensor.clone(),
            node: a.producer.clone(),
            op_type: a.producer.clone(),
            depth: a.depth,
            quantization: format!(
                "{} [{}, {}] scale {:.3e} zero point {}",
                a.qtype.name(),
                a.params.qmin,
                a.params.qmax,
                a.params.scale,
                a.params.zero_point
            ),
            sqnr_db: acc[i].sqnr_db(),
            alone_sqnr_db: alone[i].sqnr_db(),
            cosine: acc[i].cosine(),
            max_abs_error: acc[i].max_abs,
            worst_channel: None,
            worst_channel_sqnr_db: None,
            output_sqnr_db: None,
            top1_change: None,
        });
    }
    let n = split.samples;
    Ok((
        Measured {
            fp32_top1: percent(fp_hits, n),
            quantized_top1: percent(q_hits, n),
            output_sqnr_db: out.sqnr_db(),
            output_cosine: out.cosine(),
            exposed_output_sqnr_db: exposed.sqnr_db(),
            fp32_outputs,
        },
        entries,
    ))
}

/// The FP32 model with only entry `e` quantized, and its format; `None` for biases (int32,
/// never the cause).
fn only(
    ctx: &Context,
    e: &Entry,
    weights: &[WeightMatch],
    acts: &[ActivationPair],
) -> Result<Option<(Model, Format)>> {
    match e.kind {
        Kind::Bias => Ok(None),
        Kind::Weight => {
            let w = weights
                .iter()
                .find(|w| w.name == e.tensor && w.node == e.node)
                .context("weight entry without its match")?;
            let mut m = ctx.fp32.clone();
            let t = m
                .graph
                .initializer_mut(&w.name)
                .with_context(|| format!("{} is not an initializer of the FP32 model", w.name))?;
            *t = TensorData::from_f32(w.name.clone(), t.dims.clone(), &w.dequantized);
            Ok(Some((m, Format::Fp32)))
        }
        Kind::Activation => {
            let a = acts
                .iter()
                .find(|a| a.tensor == e.tensor)
                .context("activation entry without its match")?;
            let plan = QdqPlan {
                activations: [(
                    a.tensor.clone(),
                    ActQuant {
                        params: a.params,
                        qtype: a.qtype,
                    },
                )]
                .into_iter()
                .collect(),
                weights: HashMap::new(),
                constants: HashMap::new(),
                bias: BiasMode::Float,
            };
            let format = if a.qtype.bits() > 8 {
                Format::Qdq16
            } else {
                Format::Qdq
            };
            Ok(Some((write_qdq(ctx.fp32, &plan)?, format)))
        }
    }
}

/// For each entry: the output's SQNR and the top-1 change when only it is quantized. A model the
/// backend cannot run leaves the entry's figures empty, with a note.
pub fn sensitivity(
    ctx: &Context,
    measured: &Measured,
    weights: &[WeightMatch],
    acts: &[ActivationPair],
    entries: &mut [Entry],
    notes: &mut Vec<String>,
) -> Result<()> {
    let split = ctx.split;
    let progress = Progress::new(entries.len() as u64);
    for (k, e) in entries.iter_mut().enumerate() {
        progress.set_message(format!("sensitivity: only {} quantized", e.tensor));
        let Some((model, format)) = only(ctx, e, weights, acts)? else {
            progress.inc(1);
            continue;
        };
        let path = ctx.work.join(format!("only-{k}.onnx"));
        let mut session = match Plain::load(
            ctx.backend,
            &model,
            &path,
            format,
            &split.input,
            ctx.output,
            split.batch,
        ) {
            Ok(s) => s,
            Err(err) => {
                notes.push(format!("{}: no sensitivity: {err:#}", e.tensor));
                progress.inc(1);
                continue;
            }
        };
        let mut stats = ErrorStats::default();
        let mut hits = Some(0);
        for (b, reference) in measured.fp32_outputs.iter().enumerate() {
            let batch = split.get(b)?;
            let y = session.run(&batch)?;
            stats.add(reference, real(&batch, &y))?;
            add_hits(&mut hits, split.hits(&batch, &y));
        }
        e.output_sqnr_db = stats.sqnr_db();
        e.top1_change = match (percent(hits, split.samples), measured.fp32_top1) {
            (Some(q), Some(f)) => Some(q - f),
            _ => None,
        };
        progress.inc(1);
    }
    progress.finish_and_clear();
    Ok(())
}
