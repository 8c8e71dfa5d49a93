//! The child side of a cell: load the artifact on one backend, measure, print one JSON line.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use qbench_core::{Batch, LoadOptions, Output, Session};
use serde::{Deserialize, Serialize};

use qbench_data::{read_batch, Dataset, Subset};

use crate::measure::logits::Logits;
use crate::metrics::{score_all, Inputs, Score};
use crate::plan::{CellPart, CellSpec};
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
    /// The backend refused the artifact when loading it (an operator or pattern it cannot run
    /// correctly), with its reason.
    Unsupported {
        reason: String,
    },
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
    pub eval_samples: usize,
    pub peak_rss_bytes: Option<u64>,
    /// The index of the largest output value of every evaluated sample (the top-1 class of a
    /// classifier).
    pub predictions: Vec<u32>,
    /// The timed latency samples (ms) of this round, for pooling with later rounds.
    #[serde(default)]
    pub latency_samples: Vec<f64>,
    /// The scenario's metrics that applied (against the labels and the reference outputs).
    #[serde(default)]
    pub metrics: BTreeMap<String, Score>,
}

/// Runs one batch and checks the output: `n` samples of `per_sample` finite values each
/// (`per_sample` is learnt from the first batch when `None`).
fn run_checked(
    session: &mut dyn Session,
    data: &[f32],
    dims: &[usize],
    per_sample: Option<usize>,
) -> Result<Output> {
    let out = session.run(&Batch { data, dims })?;
    let rows = dims[0];
    if out.dims.first() != Some(&rows) && rows > 1 {
        bail!(
            "output has shape {:?}: its first dimension is not the batch of {rows}",
            out.dims
        );
    }
    if out.data.is_empty() || out.data.len() % rows != 0 {
        bail!("output has shape {:?} for a batch of {rows}", out.dims);
    }
    if let Some(k) = per_sample {
        if out.data.len() != rows * k {
            bail!(
                "output has shape {:?}, expected {rows} samples of {k} values",
                out.dims
            );
        }
    }
    if out.data.iter().any(|v| !v.is_finite()) {
        bail!("output contains NaN or infinity");
    }
    Ok(out)
}

/// Values per sample the scenario expects of the output, when it says (a classifier's classes).
fn expected_per_sample(scenario: &Scenario) -> Option<usize> {
    scenario.model.classes
}

/// Loads the artifact at the latency batch and runs one latency round under the spec's rule;
/// returns the round and the (warm) session.
fn latency_round(
    backend: &dyn qbench_core::Backend,
    spec: &CellSpec,
    eval: &dyn Dataset,
) -> Result<(LatencyRound, Box<dyn Session>)> {
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
    let one = read_batch(eval, 0, spec.key.batch)?;
    let dims = art.input.dims(spec.key.batch);
    let k = expected_per_sample(&spec.scenario);
    let samples = spec
        .latency_rule
        .run(|| run_checked(single.as_mut(), &one, &dims, k).map(|_| ()))?;
    Ok((LatencyRound { load_ms, samples }, single))
}

/// Measures the cell described by `spec`.
pub fn measure(spec: &CellSpec) -> Result<CellOutcome> {
    let scenario = &spec.scenario;
    let backend = crate::registry::backend(&spec.key.backend)
        .with_context(|| format!("unknown backend {}", spec.key.backend))?;
    backend.check()?;
    let eval = Subset::first(scenario.eval_data()?.into(), spec.eval_samples)?;
    if eval.is_empty() {
        bail!("the evaluation set is empty");
    }
    let art = &spec.artifact;
    let size_bytes = std::fs::metadata(&art.path)
        .with_context(|| format!("cannot stat {}", art.path.display()))?
        .len();
    let (round, single) = latency_round(backend.as_ref(), spec, &eval)?;
    if spec.part == CellPart::Latency {
        return Ok(CellOutcome::Latency(round));
    }
    if round.samples.is_empty() {
        bail!("the latency round produced no sample");
    }

    // Accuracy pass at the throughput batch. Its first batches are the throughput rule's
    // warm-up (a 224x224 batch of 64 takes seconds on tract and candle: a separate warm-up batch
    // would double the pass), its other batches the first timed throughput samples, topped up
    // on the first batch until the rule is met. At the latency batch the latency round's warm
    // session is reused, and needs no further warm-up.
    let tb = spec.key.throughput_batch;
    let threads = spec.key.threads;
    let (mut multi, mut warmup_left) = if tb == spec.key.batch {
        (single, 0)
    } else {
        drop(single);
        let multi = backend.load(art, &LoadOptions { threads, batch: tb })?;
        (multi, spec.throughput_rule.warmup)
    };
    let big = read_batch(&eval, 0, tb)?;
    let bdims = art.input.dims(tb);
    let mut per_sample = expected_per_sample(scenario);
    let n = eval.len();
    let labels = if scenario.has_labels() {
        Some(qbench_data::labels(&eval).context("the evaluation split lost its labels")?)
    } else {
        None
    };
    let mut predictions = Vec::with_capacity(n);
    let mut outputs = Vec::new();
    let mut tsamples = Vec::with_capacity(n.div_ceil(tb));
    for start in (0..n).step_by(tb) {
        let data = read_batch(&eval, start, tb)?;
        let t = Instant::now();
        let out = run_checked(multi.as_mut(), &data, &bdims, per_sample)?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        if warmup_left > 0 {
            warmup_left -= 1;
        } else {
            tsamples.push(ms);
        }
        let k = out.data.len() / tb;
        per_sample = Some(k);
        let real = tb.min(n - start);
        for row in out.data.chunks(k).take(real) {
            predictions.push(crate::metrics::top1::argmax(row) as u32);
        }
        outputs.extend_from_slice(&out.data[..real * k]);
    }
    for _ in 0..warmup_left {
        run_checked(multi.as_mut(), &big, &bdims, per_sample)?;
    }
    let tsamples = spec.throughput_rule.top_up(tsamples, || {
        run_checked(multi.as_mut(), &big, &bdims, per_sample).map(|_| ())
    })?;
    let throughput_ips = tb as f64 * tsamples.len() as f64 / (tsamples.iter().sum::<f64>() / 1e3);
    let k = per_sample.unwrap_or(0);
    let logits = Logits {
        rows: n,
        classes: k,
        data: outputs,
    };
    if let Some(path) = &spec.save_logits {
        logits.save(path)?;
    }
    let reference = match &spec.reference_logits {
        Some(path) => Some(Logits::load(path)?),
        None => None,
    };
    let metrics = score_all(
        &scenario.metrics()?,
        &Inputs {
            outputs: &logits,
            reference: reference.as_ref(),
            labels: labels.as_deref(),
        },
    )?;
    Ok(CellOutcome::Ok(Measured {
        size_bytes,
        load_ms: round.load_ms,
        throughput_ips,
        eval_samples: n,
        peak_rss_bytes: crate::measure::memory::peak_rss_bytes(),
        predictions,
        latency_samples: round.samples,
        metrics,
    }))
}

/// Entry point of the hidden `qbench cell` subcommand: prints the outcome as one JSON line.
pub fn main(spec_json: &str) -> Result<()> {
    crate::orphan_watch::exit_when_orphaned();
    let spec: CellSpec = serde_json::from_str(spec_json).context("invalid cell specification")?;
    let outcome = match measure(&spec) {
        Ok(o) => o,
        Err(e) => {
            let refused = e.chain().any(|c| {
                matches!(
                    c.downcast_ref::<qbench_core::AdapterError>(),
                    Some(qbench_core::AdapterError::Unsupported { .. })
                )
            });
            let reason = format!("{e:#}");
            if refused {
                CellOutcome::Unsupported { reason }
            } else {
                CellOutcome::Failed { reason }
            }
        }
    };
    println!("{}", serde_json::to_string(&outcome)?);
    Ok(())
}
