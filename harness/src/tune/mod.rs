//! `qbench tune --scenario S --max-drop D --objective latency|size [--backend B]`: an
//! accuracy-aware search for the fastest (or smallest) configuration whose top-1 stays within
//! `D` points of FP32, measured on the backend the model will run on.
//!
//! * Candidates: every recipe as it is, then, for QDQ recipes that miss the bound but would beat
//!   the best passing candidate, the per-layer search of [`fallback`] (layers returned to higher
//!   precision in the order of their sensitivity, then lowered back where the bound still holds).
//! * Every decision uses the tuning split (the calibration split), never the evaluation split:
//!   top-1 from a run of the candidate on the backend, latency from a short measured run.
//! * The winner is written to `<out>/tuned.onnx` and measured with `compare` on the evaluation
//!   split beside every fixed recipe, as the row `tuned`; the report (`<out>/tune.{json,md}`)
//!   lists every candidate, the winner, Intel Neural Compressor's rule (the first candidate that
//!   passes, in the order tried) and the tuning- against evaluation-split top-1.

pub mod decide;
mod fallback;
mod probe;
pub mod report;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use clap::Parser;
use qbench_core::{Artifact, Format, Support};
use qbench_onnx::Model;
use qbench_quant::prepare;
use serde::{Deserialize, Serialize};

pub use decide::{Candidate, Objective};

use crate::artifacts;
use crate::cli::TuneArgs;
use crate::compare::results_dir;
use crate::debug::measure::Context;
use crate::debug::split::Split;
use crate::registry;
use crate::scenario::Scenario;

/// The evaluation of the winner by `compare`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The compare results file.
    pub results: PathBuf,
    pub tuned_top1: Option<f64>,
    pub tuned_drop: Option<f64>,
    pub tuned_p50_ms: Option<f64>,
    pub tuned_p50_ci95: Option<[f64; 2]>,
    /// Fixed recipes that keep the bound on the evaluation split.
    pub passing_fixed: Vec<FixedRow>,
}

/// A fixed recipe's row of the evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FixedRow {
    pub technique: String,
    pub p50_ms: f64,
    pub p50_ci95: [f64; 2],
    /// The artifact's bytes, 4-bit weights counted packed (as the candidates' sizes).
    pub size_bytes: u64,
}

/// Everything `tune` decided and measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TuneReport {
    pub scenario: String,
    pub backend: String,
    pub backend_version: String,
    pub objective: Objective,
    pub max_drop: f64,
    pub tuning_samples: usize,
    pub fp32_tuning_top1: f64,
    pub candidates: Vec<Candidate>,
    /// Indices into `candidates`.
    pub best: Option<usize>,
    pub first_passing: Option<usize>,
    pub seconds: f64,
    pub machine: crate::measure::machine::Machine,
    pub commit: Option<String>,
    pub evaluation: Option<Evaluation>,
    /// Recipes that could not be candidates, with the reason.
    pub skipped: Vec<(String, String)>,
}

/// Runs `qbench tune`.
pub fn run(dir: &Path, args: &TuneArgs) -> Result<()> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| results_dir(dir).join(&args.scenario).join("tune"));
    let report = tune(dir, args, &out)?;
    for p in report::write(&report, &out)? {
        eprintln!("wrote {}", p.display());
    }
    print!("{}", report::terminal(&report));
    if report.best.is_none() {
        bail!(
            "no configuration keeps top-1 within {} points of FP32 on the tuning split",
            args.max_drop
        );
    }
    Ok(())
}

struct Base {
    technique: String,
    artifact: Artifact,
    model: Model,
}

/// The search and, unless `--no-evaluate`, the evaluation.
pub fn tune(dir: &Path, args: &TuneArgs, out: &Path) -> Result<TuneReport> {
    let start = Instant::now();
    if !(args.max_drop >= 0.0 && args.max_drop.is_finite()) {
        bail!(
            "--max-drop must be a number of points of at least 0, got {}",
            args.max_drop
        );
    }
    let scenario = Scenario::load_resolved(dir, &args.scenario)?;
    if scenario.metric.kind != crate::scenario::MetricKind::Top1 {
        bail!(
            "scenario {} has no labels (metric: fidelity against FP32): tune bounds the top-1 \
             drop, which needs a labelled calibration split",
            scenario.name
        );
    }
    if !scenario.overrides.is_empty() {
        bail!(
            "scenario {} sets overrides: tune chooses per-layer precision itself; remove them \
             to tune",
            scenario.name
        );
    }
    let backend = registry::available_backend(&args.backend)?;
    let names: Vec<String> = registry::techniques()
        .iter()
        .map(|t| t.name().to_string())
        .filter(|n| args.techniques.is_empty() || args.techniques.contains(n))
        .collect();
    if let Some(bad) = args.techniques.iter().find(|t| !names.contains(t)) {
        bail!("unknown technique '{bad}' (see the README's recipe table)");
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let work = tempfile::tempdir().context("cannot create a temporary folder")?;
    let mut calibration = None;
    let prepared = artifacts::prepare(&scenario, Some(&names), work.path(), &mut calibration)?;
    let fp32_artifact = scenario.fp32_artifact()?;
    let fp32 = prepare::pre_process(&Model::load(&fp32_artifact.path)?)
        .with_context(|| format!("pre-processing {}", fp32_artifact.path.display()))?
        .model;
    let split = Split::new(&scenario, &fp32_artifact.input, args.samples)?;
    let b = backend.as_ref();
    let output = fp32_artifact.output.clone();
    let target = probe::Target {
        backend: b,
        split: &split,
        output: &output,
    };
    let fp32_top1 = target.top1(&fp32, &work.path().join("fp32.onnx"), Format::Fp32)?;
    let mut candidates = Vec::new();
    let mut skipped = Vec::new();
    let mut bases = Vec::new();
    for p in prepared {
        let artifact = match p.artifact {
            Ok(a) => a,
            Err(n) => {
                skipped.push((p.technique, n.reason));
                continue;
            }
        };
        if let Support::Unsupported(why) = b.supports(&artifact) {
            skipped.push((p.technique, why));
            continue;
        }
        let model = Model::load(&artifact.path)?;
        let path = work.path().join(format!("{}.probe.onnx", p.technique));
        match target.probe(&model, &path, artifact.format) {
            Ok(r) => candidates.push(Candidate {
                name: p.technique.clone(),
                technique: p.technique.clone(),
                overrides: Vec::new(),
                tuning_top1: r.top1,
                tuning_drop: r.top1 - fp32_top1,
                latency_ms: r.latency_ms,
                size_bytes: r.size_bytes,
                step: "recipe".into(),
            }),
            Err(e) => {
                skipped.push((p.technique.clone(), format!("{e:#}")));
                continue;
            }
        }
        bases.push(Base {
            technique: p.technique,
            artifact,
            model,
        });
        if let Some(c) = candidates.last() {
            eprintln!(
                "tune: {}: tuning top-1 {:.2}% ({:+.2}), p50 {:.3} ms, {:.1} KiB",
                c.name,
                c.tuning_top1,
                c.tuning_drop,
                c.latency_ms,
                c.size_bytes as f64 / 1024.0
            );
        }
    }
    // The per-layer search, on recipes that miss the bound but beat the best passing one.
    let objective = |c: &Candidate| match args.objective {
        Objective::Latency => c.latency_ms,
        Objective::Size => c.size_bytes as f64,
    };
    for base in bases
        .iter()
        .filter(|b| fallback::searchable(b.artifact.format))
    {
        let best = decide::best_passing(&candidates, args.max_drop, args.objective)
            .map(|i| objective(&candidates[i]));
        let Some(own) = candidates
            .iter()
            .find(|c| c.technique == base.technique && c.overrides.is_empty())
        else {
            continue;
        };
        if own.passes(args.max_drop) || best.is_some_and(|b| objective(own) >= b) {
            continue;
        }
        eprintln!("tune: per-layer search on {}", base.technique);
        let search = fallback::Search {
            ctx: Context {
                backend: b,
                split: &split,
                fp32: &fp32,
                quantized: &base.model,
                format: base.artifact.format,
                output: &output,
                work: work.path(),
            },
            target: &target,
            fp32_top1,
            max_drop: args.max_drop,
            max_fallbacks: args.max_fallbacks,
        };
        match fallback::search(&search, &base.technique) {
            Ok(c) => {
                for x in &c {
                    eprintln!(
                        "tune: {}: tuning top-1 {:.2}% ({:+.2})",
                        x.name, x.tuning_top1, x.tuning_drop
                    );
                }
                candidates.extend(c)
            }
            Err(e) => skipped.push((
                format!("{} per-layer search", base.technique),
                format!("{e:#}"),
            )),
        }
    }
    if args.objective == Objective::Latency {
        // Each contender's model is built and written once, then timed in every round.
        let write = |c: &Candidate, path: &Path| -> Result<Format> {
            let base = bases
                .iter()
                .find(|x| x.technique == c.technique)
                .context("a candidate without its recipe")?;
            fallback::candidate_model(&fp32, &base.model, &c.overrides)?.save(path)?;
            Ok(base.artifact.format)
        };
        let measure = |path: &Path, format: Format| target.latency_ms(path, format);
        remeasure(&mut candidates, args.max_drop, work.path(), write, measure)?;
    }
    let best = decide::best_passing(&candidates, args.max_drop, args.objective);
    let first_passing = decide::first_passing(&candidates, args.max_drop);
    let mut report = TuneReport {
        scenario: scenario.name.clone(),
        backend: b.name().into(),
        backend_version: b.version(),
        objective: args.objective,
        max_drop: args.max_drop,
        tuning_samples: split.samples,
        fp32_tuning_top1: fp32_top1,
        candidates,
        best,
        first_passing,
        seconds: 0.0,
        machine: crate::measure::machine::Machine::detect(),
        commit: crate::measure::machine::git_commit(),
        evaluation: None,
        skipped,
    };
    if let Some(i) = best {
        let c = &report.candidates[i];
        let base = bases.iter().find(|x| x.technique == c.technique);
        let tuned = out.join("tuned.onnx");
        let base = base.context("the winner without its recipe")?;
        let model = fallback::candidate_model(&fp32, &base.model, &c.overrides)?;
        let tmp = out.join("tuned.onnx.tmp");
        model.save(&tmp)?;
        std::fs::rename(&tmp, &tuned)
            .with_context(|| format!("cannot write {}", tuned.display()))?;
        report.seconds = start.elapsed().as_secs_f64();
        if !args.no_evaluate {
            report.evaluation = Some(evaluate(dir, args, &names, &tuned, out, args.max_drop)?);
        }
    }
    report.seconds = start.elapsed().as_secs_f64();
    Ok(report)
}

/// Rounds of the interleaved re-measurement of the closest candidates.
const REMEASURE_ROUNDS: usize = 8;
/// How many of the fastest passing candidates are re-measured.
const CONTENDERS: usize = 4;

/// Short latency runs are noisy on a shared machine: the fastest passing candidates are
/// measured again in `REMEASURE_ROUNDS` interleaved rounds (alternating order), and each keeps
/// the median of its first measurement and those rounds.
fn remeasure(
    candidates: &mut [Candidate],
    max_drop: f64,
    work: &Path,
    write: impl Fn(&Candidate, &Path) -> Result<Format>,
    measure: impl Fn(&Path, Format) -> Result<f64>,
) -> Result<()> {
    let mut order: Vec<usize> = (0..candidates.len())
        .filter(|&i| candidates[i].passes(max_drop))
        .collect();
    order.sort_by(|&a, &b| {
        candidates[a]
            .latency_ms
            .total_cmp(&candidates[b].latency_ms)
    });
    order.truncate(CONTENDERS);
    if order.len() < 2 {
        return Ok(());
    }
    let mut samples: Vec<Vec<f64>> = order
        .iter()
        .map(|&i| vec![candidates[i].latency_ms])
        .collect();
    let files: Vec<(std::path::PathBuf, Format)> = order
        .iter()
        .enumerate()
        .map(|(k, &i)| {
            let path = work.join(format!("remeasure-{k}.onnx"));
            let format = write(&candidates[i], &path)?;
            Ok((path, format))
        })
        .collect::<Result<_>>()?;
    for round in 0..REMEASURE_ROUNDS {
        let mut seq: Vec<usize> = (0..order.len()).collect();
        if round % 2 == 1 {
            seq.reverse();
        }
        for k in seq {
            let (path, format) = &files[k];
            samples[k].push(measure(path, *format)?);
        }
    }
    for (k, &i) in order.iter().enumerate() {
        let mut v = samples[k].clone();
        v.sort_by(f64::total_cmp);
        candidates[i].latency_ms = v[v.len() / 2];
        candidates[i].step.push_str(&format!(
            "; p50 = median of {} interleaved short runs",
            v.len()
        ));
    }
    Ok(())
}

/// `compare` on the evaluation split: FP32, every fixed recipe and the tuned artifact, on the
/// chosen backend.
fn evaluate(
    dir: &Path,
    args: &TuneArgs,
    names: &[String],
    tuned: &Path,
    out: &Path,
    max_drop: f64,
) -> Result<Evaluation> {
    let results = out.join("evaluation");
    let mut techniques = vec![registry::FP32.to_string()];
    techniques.extend(names.iter().cloned());
    techniques.push("tuned".into());
    let mut argv: Vec<String> = vec![
        "qbench".into(),
        "--scenarios".into(),
        dir.display().to_string(),
        "compare".into(),
        "--scenario".into(),
        args.scenario.clone(),
        // The whole evaluation, even inside a Slurm array or an Indexed Job.
        "--shard".into(),
        "1/1".into(),
        "--backends".into(),
        args.backend.clone(),
        "--techniques".into(),
        techniques.join(","),
        "--artifact".into(),
        format!("tuned={}", tuned.display()),
        "--out".into(),
        results.display().to_string(),
    ];
    if args.quick {
        argv.push("--quick".into());
    }
    let cli = crate::cli::Cli::try_parse_from(&argv)?;
    let crate::cli::Command::Compare(compare) = cli.command else {
        unreachable!("built as a compare command")
    };
    crate::compare::run(dir, &compare).context("evaluating the tuned configuration")?;
    let file = results.join(if args.quick {
        "quick.json"
    } else {
        "compare.json"
    });
    let run: crate::record::Run = serde_json::from_slice(
        &std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?,
    )
    .with_context(|| format!("cannot parse {}", file.display()))?;
    let ok = |r: &&crate::record::Row| r.status == crate::record::Status::Ok;
    let tuned_row = run.rows.iter().filter(ok).find(|r| r.technique == "tuned");
    let points = |r: &crate::record::Row| r.accuracy_delta_vs_fp32.map(|d| d * 100.0);
    Ok(Evaluation {
        results: file.clone(),
        tuned_top1: tuned_row.and_then(|r| r.accuracy.map(|a| a * 100.0)),
        tuned_drop: tuned_row.and_then(points),
        tuned_p50_ms: tuned_row.and_then(|r| r.latency_ms.as_ref().map(|l| l.p50)),
        tuned_p50_ci95: tuned_row.and_then(|r| r.latency_ms.as_ref().map(|l| l.p50_ci95)),
        passing_fixed: run
            .rows
            .iter()
            .filter(ok)
            .filter(|r| r.technique != "tuned" && r.technique != registry::FP32)
            .filter(|r| points(r).is_some_and(|d| d >= -max_drop))
            .filter_map(|r| {
                let l = r.latency_ms.as_ref()?;
                let file = results
                    .join("artifacts")
                    .join(format!("{}.onnx", r.technique));
                let size = Model::load(&file)
                    .ok()
                    .map(|m| probe::packed_bytes(&m, r.size_bytes.unwrap_or(0)))
                    .or(r.size_bytes)?;
                Some(FixedRow {
                    technique: r.technique.clone(),
                    p50_ms: l.p50,
                    p50_ci95: l.p50_ci95,
                    size_bytes: size,
                })
            })
            .collect(),
    })
}
