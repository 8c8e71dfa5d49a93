//! The child side of a cell: load the artifact on one backend, measure, print one JSON line.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use qbench_core::{Batch, LoadOptions, Output, Session};
use serde::{Deserialize, Serialize};

use crate::measure::accuracy::{top1, wilson95};
use crate::measure::fidelity::{fidelity, Fidelity, Logits};
use crate::plan::CellSpec;
use crate::scenario::Scenario;

/// What a child reports to the parent.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum CellOutcome {
    Ok(Measured),
    /// A further latency round (see [`CellPart::Latency`]).
    Latency(LatencyRound),
    Failed {
        reason: String,
    },
}

/// What a child measures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CellPart {
    /// Everything: load, a latency round, the accuracy pass, throughput, fidelity, peak memory.
    #[default]
    Full,
    /// Load and one more latency round only.
    Latency,
}

/// One further latency round of a cell, measured in a fresh process.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LatencyRound {
    pub load_ms: f64,
    pub samples: Vec<f64>,
}

/// The measurements of one cell.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Measured {
    pub size_bytes: u64,
    pub load_ms: f64,
    pub throughput_ips: f64,
    pub accuracy: f64,
    pub accuracy_ci95: [f64; 2],
    pub eval_samples: usize,
    pub peak_rss_bytes: Option<u64>,
    /// Top-1 class of every evaluation image.
    pub predictions: Vec<u8>,
    /// The timed latency samples (ms) of this round, for pooling with later rounds.
    #[serde(default)]
    pub latency_samples: Vec<f64>,
    /// Logit fidelity against the reference logits, when the spec names them.
    #[serde(default)]
    pub fidelity: Option<Fidelity>,
}

fn batch_of(data: &[f32], n: usize, spec: &qbench_core::InputSpec) -> [usize; 4] {
    debug_assert_eq!(data.len(), n * spec.channels * spec.height * spec.width);
    [n, spec.channels, spec.height, spec.width]
}

/// Runs one batch and checks the output's shape and values; returns the logits.
fn run_checked(
    session: &mut dyn Session,
    data: &[f32],
    dims: [usize; 4],
    classes: usize,
) -> Result<Output> {
    let out = session.run(&Batch { data, dims })?;
    let rows = dims[0];
    if out.data.len() != rows * classes {
        bail!(
            "output has shape {:?}, expected [{rows}, {classes}]",
            out.dims
        );
    }
    if out.data.iter().any(|v| !v.is_finite()) {
        bail!("output contains NaN or infinity");
    }
    Ok(out)
}

/// Loads the artifact at the latency batch and runs one latency round under the spec's rule.
fn latency_round(
    backend: &dyn qbench_core::Backend,
    spec: &CellSpec,
    eval: &qbench_data::LabelledImages,
    norm: qbench_data::Normalization,
    classes: usize,
) -> Result<LatencyRound> {
    let art = &spec.artifact;
    let t = Instant::now();
    let mut single = backend.load(
        art,
        &LoadOptions {
            threads: spec.key.threads,
            batch: spec.key.batch,
        },
    )?;
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    let one = eval.batch(0, spec.key.batch, norm);
    let dims = batch_of(&one, spec.key.batch, &art.input);
    let samples = spec
        .latency_rule
        .run(|| run_checked(single.as_mut(), &one, dims, classes).map(|_| ()))?;
    Ok(LatencyRound { load_ms, samples })
}

/// Measures the cell described by `spec`.
pub fn measure(spec: &CellSpec) -> Result<CellOutcome> {
    let scenario = Scenario::load(&spec.scenarios_dir, &spec.scenario)?;
    let backend = crate::registry::backend(&spec.key.backend)
        .with_context(|| format!("unknown backend {}", spec.key.backend))?;
    backend.check()?;
    let eval = scenario.eval_set()?.take(spec.eval_samples);
    if eval.is_empty() {
        bail!("the evaluation set is empty");
    }
    let norm = scenario.normalization();
    let classes = scenario.model.classes;
    let art = &spec.artifact;
    let size_bytes = std::fs::metadata(&art.path)
        .with_context(|| format!("cannot stat {}", art.path.display()))?
        .len();
    let round = latency_round(backend.as_ref(), spec, &eval, norm, classes)?;
    if spec.part == CellPart::Latency {
        return Ok(CellOutcome::Latency(round));
    }
    if round.samples.is_empty() {
        bail!("the latency round produced no sample");
    }

    // Accuracy pass at the throughput batch; its timed batches are the first throughput
    // samples, topped up on the first batch until the throughput rule is met.
    let tb = spec.key.throughput_batch;
    let threads = spec.key.threads;
    let mut multi = backend.load(art, &LoadOptions { threads, batch: tb })?;
    let big = eval.batch(0, tb, norm);
    let bdims = batch_of(&big, tb, &art.input);
    for _ in 0..spec.throughput_rule.warmup {
        run_checked(multi.as_mut(), &big, bdims, classes)?;
    }
    let mut predictions = Vec::with_capacity(eval.len());
    let mut logits = Vec::with_capacity(eval.len() * classes);
    let mut tsamples = Vec::with_capacity(eval.len().div_ceil(tb));
    for start in (0..eval.len()).step_by(tb) {
        let data = eval.batch(start, tb, norm);
        let t = Instant::now();
        let out = run_checked(multi.as_mut(), &data, bdims, classes)?;
        tsamples.push(t.elapsed().as_secs_f64() * 1e3);
        let real = tb.min(eval.len() - start);
        predictions.extend(out.argmax_rows()[..real].iter().map(|c| *c as u8));
        logits.extend_from_slice(&out.data[..real * classes]);
    }
    let tsamples = spec.throughput_rule.top_up(tsamples, || {
        run_checked(multi.as_mut(), &big, bdims, classes).map(|_| ())
    })?;
    let throughput_ips = tb as f64 * tsamples.len() as f64 / (tsamples.iter().sum::<f64>() / 1e3);
    let (k, accuracy) = top1(&predictions, &eval.labels);
    let (lo, hi) = wilson95(k, eval.len());
    let logits = Logits {
        rows: eval.len(),
        classes,
        data: logits,
    };
    if let Some(path) = &spec.save_logits {
        logits.save(path)?;
    }
    let fidelity = match &spec.reference_logits {
        Some(path) => Some(fidelity(&Logits::load(path)?, &logits)?),
        None => None,
    };
    Ok(CellOutcome::Ok(Measured {
        size_bytes,
        load_ms: round.load_ms,
        throughput_ips,
        accuracy,
        accuracy_ci95: [lo, hi],
        eval_samples: eval.len(),
        peak_rss_bytes: crate::measure::memory::peak_rss_bytes(),
        predictions,
        latency_samples: round.samples,
        fidelity,
    }))
}

/// Entry point of the hidden `qbench cell` subcommand: prints the outcome as one JSON line.
pub fn main(spec_json: &str) -> Result<()> {
    let spec: CellSpec = serde_json::from_str(spec_json).context("invalid cell specification")?;
    let outcome = match measure(&spec) {
        Ok(o) => o,
        Err(e) => CellOutcome::Failed {
            reason: format!("{e:#}"),
        },
    };
    println!("{}", serde_json::to_string(&outcome)?);
    Ok(())
}
