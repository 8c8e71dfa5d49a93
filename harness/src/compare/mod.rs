//! `qbench compare`: plan the cells, run each in a child process, collect rows, write reports.

mod agreement;
mod journal;
mod options;
mod output;
mod resume;
mod rounds;
mod rows;
mod sharding;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Result};
use qbench_core::Support;

use crate::cell::CellOutcome;
use crate::cli::CompareArgs;
use crate::measure::build_info::Build;
use crate::measure::machine::{git_commit, Machine};
use crate::measure::stats::LatencyStats;
use crate::out_lock::OutLock;
use crate::plan::{CellPart, CellSpec};
use crate::progress::Progress;
use crate::record::{Row, RowKey, Run, Status};
use crate::registry;
use crate::report;
use crate::runner::Runner;

use agreement::{cell_id, fill_with_references, CellId};
use journal::{Entry, Journal};
pub use options::results_dir;
use options::{metric_name, options};
use rounds::{further_rounds, Pending};
use rows::{measured_row, summary};

fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("qbench {}", args.join(" "))
}

/// Where the FP32 cell of `backend` at `threads` stores its logits.
fn logits_path(out: &Path, backend: &str, threads: usize) -> PathBuf {
    out.join("artifacts")
        .join("logits")
        .join(format!("fp32-{backend}-t{threads}.logits"))
}

/// Runs `qbench compare`: every selected cell (technique x backend x batch x threads) in its own
/// process, then the further latency rounds, then the reports.
pub fn run(dir: &Path, args: &CompareArgs) -> Result<()> {
    if let Some(w) = crate::measure::build_info::warning() {
        eprintln!("{w}");
    }
    let opts = options(dir, args)?;
    let _lock = OutLock::acquire(&opts.out)?;
    crate::interrupt::install();
    let s = &opts.settings;
    let mut runner = Runner::current(Duration::from_secs(s.cell_timeout_s))?;
    let mut run = new_run(&opts);
    if let Some(label) = args.machine_label.as_ref().filter(|l| !l.trim().is_empty()) {
        run.machine.label = Some(label.clone());
    }
    let backends: Vec<_> = opts
        .backends
        .iter()
        .filter_map(|n| registry::backend(n))
        .collect();
    let available = check_backends(&backends, &mut run);
    // Children load ONNX Runtime from where the parent found it, instead of each probing the
    // Python installation and the cache again (a Python start-up per cell).
    if available.get("ort").is_some_and(|s| s.is_ok())
        && std::env::var_os("ORT_DYLIB_PATH").is_none()
    {
        if let Ok(rt) = qbench_ort::runtime() {
            runner.env.push(("ORT_DYLIB_PATH".into(), rt.path.clone()));
        }
    }
    let plan = resume::plan_hash(&opts, &run)?;
    run.plan = Some(plan.clone());
    let sharding = sharding::setup(&opts, args, &plan)?;
    let base = if s.quick { "quick" } else { "compare" };
    let stem = match &sharding {
        Some(sh) => sh.shard.stem(base),
        None => base.to_string(),
    };
    let stem = stem.as_str();
    run.shard = sharding.as_ref().map(|sh| sh.info.clone());
    // Cells are saved as they finish into `<stem>.partial.json` (`complete: false`); the
    // complete files replace the previous run's only at the end, so an interrupted run never
    // leaves a truncated `<stem>.json` next to an older `.md`/`.csv`.
    let partial = format!("{stem}.partial");
    // Row index of each cell kept from a stopped run, and the rounds its journal holds.
    let (done, mut journal_rounds) =
        resume::start(args.resume, &opts.out, &partial, &plan, &mut run)?;
    let mut journal = Journal::open(journal::path(&opts.out, &partial), !done.is_empty())?;
    // A shard quantizes only the techniques of the cells it measures.
    let selected = match &sharding {
        Some(sh) => Some(sh.techniques()),
        None => opts.techniques.clone(),
    };
    let selected = selected.as_deref();
    let mut prepared = if selected.is_some_and(|s| s.is_empty()) {
        Vec::new()
    } else {
        crate::artifacts::prepare(&opts.scenario, selected, &opts.out, &mut run.calibration)?
    };
    prepared.extend(crate::qat_rows::prepare(&opts.scenario, selected));
    prepared.extend(crate::artifacts::imported(&opts.imported, selected));
    let hashes = artifact_hashes(&prepared)?;
    let combos = s.batch.len() * s.threads.len();
    let total = match &sharding {
        Some(sh) => sh.owned() * s.rounds + (sh.measured() - sh.owned()),
        None => prepared.len() * backends.len() * combos * s.rounds,
    };
    let bar = Progress::new(total as u64);
    // FP32 cells measured as references for this shard's rows (rows of another shard).
    let mut references: Vec<crate::record::Row> = Vec::new();
    let position = |r: &crate::record::Row| {
        sharding
            .as_ref()
            .map_or(0, |sh| sh.position(&cell_id(&r.technique, r)))
    };
    let mut predictions: HashMap<CellId, Vec<u32>> = HashMap::new();
    // FP32 logits written in this run, per (backend, threads), in the order written.
    let mut fp32_logits: Vec<((String, usize), PathBuf)> = Vec::new();
    let mut pending: Vec<Pending> = Vec::new();
    let labels = &opts.labels;
    let round_rule = s.latency_rule.per_round(s.rounds);
    // A cell's specification: the first pass (`Full`, with its logits paths) or a later round.
    let spec_of = |key: RowKey, artifact: &qbench_core::Artifact, part, save, reference| CellSpec {
        scenario: opts.scenario.clone(),
        key,
        artifact: artifact.clone(),
        eval_samples: s.eval_samples,
        latency_rule: round_rule,
        throughput_rule: s.throughput_rule,
        part,
        save_logits: save,
        reference_logits: reference,
    };
    // Every cell: technique x backend x batch x threads, FP32 first.
    let cells = prepared.iter().flat_map(|p| {
        backends.iter().flat_map(move |b| {
            s.batch.iter().flat_map(move |&batch| {
                s.threads.iter().map(move |&threads| (p, b, batch, threads))
            })
        })
    });
    for (p, b, batch, threads) in cells {
        if crate::interrupt::requested() {
            return Err(stopped(&mut run, &opts.out, &partial, &bar));
        }
        let id: CellId = (p.technique.clone(), b.name().into(), batch, threads);
        let role = match &sharding {
            None => sharding::Role::Own,
            Some(sh) => match sh.role(&id) {
                Some(role) => role,
                None => continue,
            },
        };
        let key = RowKey {
            technique: p.technique.clone(),
            framework: p.framework.clone(),
            backend: b.name().into(),
            format: p
                .artifact
                .as_ref()
                .map(|a| a.format.name())
                .unwrap_or("-")
                .into(),
            threads,
            batch,
            throughput_batch: s.throughput_batch,
        };
        bar.set_message(format!(
            "{} on {} (batch {batch}, {threads} threads)",
            p.technique,
            b.name()
        ));
        let is_fp32 = p.technique == registry::FP32;
        let logits_of = |backend: &str| {
            fp32_logits
                .iter()
                .find(|((bk, t), _)| bk == backend && *t == threads)
                .map(|(_, path)| path.clone())
        };
        let (save_logits, reference_logits) = if is_fp32 {
            let other = fp32_logits
                .iter()
                .find(|((bk, t), _)| bk != b.name() && *t == threads)
                .map(|(_, path)| path.clone());
            let own = logits_of(b.name())
                .is_none()
                .then(|| logits_path(&opts.out, b.name(), threads));
            (own, other)
        } else {
            (None, logits_of(b.name()))
        };
        if role == sharding::Role::Reference {
            let measured = match (&available[b.name()], &p.artifact) {
                (Ok(()), Ok(artifact)) => first_pass(
                    &runner,
                    &spec_of(
                        key.clone(),
                        artifact,
                        CellPart::Full,
                        save_logits.clone(),
                        reference_logits,
                    ),
                ),
                (Err(e), _) => Err((Status::Unsupported, e.clone())),
                (_, Err(e)) => Err((e.status, e.reason.clone())),
            };
            let row = match measured {
                Ok(m) => {
                    if let Some(path) = save_logits {
                        fp32_logits.push(((b.name().into(), threads), path));
                    }
                    predictions.insert(id.clone(), m.predictions.clone());
                    measured_row(key, &m)
                }
                Err((status, reason)) => Row::not_run(key, status, reason),
            };
            bar.inc(1);
            bar.println(format!(
                "{:<30} {:<7} b{:<3} t{:<2} reference: {}",
                row.technique,
                row.backend,
                row.batch,
                row.threads,
                summary(&row)
            ));
            references.push(row);
            continue;
        }
        if let Some(&i) = done.get(&id) {
            // Kept from the stopped run: its predictions, samples and FP32 logits are reused.
            let rounds = journal_rounds.remove(&id).unwrap_or_default();
            match (&p.artifact, rounds.first()) {
                (Ok(artifact), Some(first)) if run.rows[i].status == Status::Ok => {
                    if let Some(path) = save_logits.filter(|p| p.exists()) {
                        fp32_logits.push(((b.name().into(), threads), path));
                    }
                    predictions.insert(id, first.predictions.clone());
                    bar.inc(rounds.len() as u64);
                    // The journal may hold a round the partial file's row had not been given.
                    let samples: Vec<Vec<f64>> = rounds.iter().map(|e| e.samples.clone()).collect();
                    let load_ms: Vec<f64> = rounds.iter().map(|e| e.load_ms).collect();
                    run.rows[i].latency_ms = LatencyStats::from_rounds(&samples);
                    run.rows[i].load_ms = rounds::median(&load_ms);
                    pending.push(Pending {
                        row: i,
                        spec: spec_of(key, artifact, CellPart::Latency, None, None),
                        samples,
                        load_ms,
                    });
                }
                _ => bar.inc(s.rounds as u64),
            }
            continue;
        }
        let mut row = match (&available[b.name()], &p.artifact) {
            (_, Err(e)) => Row::not_run(key, e.status, e.reason.clone()),
            (Err(e), _) => Row::not_run(key, Status::Unsupported, e.clone()),
            (Ok(()), Ok(artifact)) => match b.supports(artifact) {
                Support::Unsupported(reason) => Row::not_run(key, Status::Unsupported, reason),
                Support::Yes => {
                    let spec = spec_of(
                        key.clone(),
                        artifact,
                        CellPart::Full,
                        save_logits.clone(),
                        reference_logits,
                    );
                    match first_pass(&runner, &spec) {
                        Ok(m) => {
                            if let Some(path) = save_logits {
                                fp32_logits.push(((b.name().into(), threads), path));
                            }
                            let mut row = measured_row(key, &m);
                            journal.record(&Entry {
                                technique: p.technique.clone(),
                                backend: b.name().into(),
                                batch,
                                threads,
                                round: 1,
                                samples: m.latency_samples.clone(),
                                load_ms: m.load_ms,
                                predictions: m.predictions.clone(),
                            })?;
                            predictions.insert(cell_id(&p.technique, &row), m.predictions);
                            let notes: Vec<String> = p
                                .notes
                                .iter()
                                .cloned()
                                .chain(b.notes(artifact))
                                .filter(|n| !n.is_empty())
                                .collect();
                            row.notes = (!notes.is_empty()).then(|| notes.join("; "));
                            pending.push(Pending {
                                row: run.rows.len(),
                                spec,
                                samples: vec![m.latency_samples],
                                load_ms: vec![m.load_ms],
                            });
                            row
                        }
                        Err((status, reason)) => Row::not_run(key, status, reason),
                    }
                }
            },
        };
        row.quantize_ms = p.quantize_ms;
        row.training_s = p.training_s;
        if let Some(t) = p.timing {
            row.calibration_ms = Some(t.calibration_ms);
            row.calibration_images = Some(t.calibration_images);
            row.scoring_ms = Some(t.scoring_ms);
        }
        if row.status == Status::Ok {
            row.packed_bytes = p.packed_bytes;
            row.artifact_sha256 = hashes.get(&p.technique).cloned();
        }
        // A cell that failed while a signal stopped the run was killed by it (Ctrl-C reaches
        // the whole process group): not a result.
        if crate::interrupt::requested() && row.status != Status::Ok {
            return Err(stopped(&mut run, &opts.out, &partial, &bar));
        }
        let line = format!(
            "{:<30} {:<7} b{:<3} t{:<2} {}",
            row.technique,
            row.backend,
            row.batch,
            row.threads,
            summary(&row)
        );
        run.rows.push(row);
        fill_with_references(
            &mut run.rows,
            &references,
            position,
            &predictions,
            labels,
            opts.scenario.metric.agreement,
        );
        report::write_report(&report::Json, &run, &opts.out, &partial)?;
        bar.inc(if run.rows.last().is_some_and(|r| r.status == Status::Ok) {
            1
        } else {
            s.rounds as u64
        });
        bar.println(line);
    }
    further_rounds(
        &runner,
        &mut run,
        &mut pending,
        &mut journal,
        &bar,
        &opts.out,
        &partial,
    )?;
    fill_with_references(
        &mut run.rows,
        &references,
        position,
        &predictions,
        labels,
        opts.scenario.metric.agreement,
    );
    bar.finish_and_clear();
    output::finish(&mut run, &opts.out, stem, &partial, args)?;
    journal.remove();
    for w in crate::fp32_sanity::fp32_warnings(&run.rows, opts.scenario.model.classes) {
        eprintln!("warning: {w}");
    }
    if sharding.as_ref().is_some_and(|sh| sh.owned() == 0) {
        eprintln!("note: this shard has no cells (the plan has fewer cells than shards)");
    } else if run.rows.iter().all(|r| r.status != Status::Ok) {
        bail!("no cell could be measured");
    }
    Ok(())
}

/// A cell's first pass: its measurement, or the status and reason of its row.
fn first_pass(
    runner: &Runner,
    spec: &CellSpec,
) -> std::result::Result<crate::cell::Measured, (Status, String)> {
    match runner.run(spec) {
        CellOutcome::Ok(m) => Ok(m),
        CellOutcome::Failed { reason } => Err((Status::Failed, reason)),
        CellOutcome::Unsupported { reason } => Err((Status::Unsupported, reason)),
        CellOutcome::Latency(_) => Err((
            Status::Failed,
            "the cell process measured latency only".into(),
        )),
    }
}

/// SHA-256 of each technique's artifact file, by technique.
fn artifact_hashes(prepared: &[crate::artifacts::Prepared]) -> Result<HashMap<String, String>> {
    prepared
        .iter()
        .filter_map(|p| p.artifact.as_ref().ok().map(|a| (p, a)))
        .map(|(p, a)| Ok((p.technique.clone(), crate::qat_rows::sha256_file(&a.path)?)))
        .collect()
}

/// The record of a run before any cell: what, when, where, with which build and settings.
fn new_run(opts: &options::Options) -> Run {
    Run {
        complete: false,
        scenario: opts.scenario.name.clone(),
        metric: Some(metric_name(&opts.scenario)),
        data: Some(opts.data.clone()),
        calibration: None,
        qbench_version: env!("CARGO_PKG_VERSION").into(),
        git_commit: git_commit(),
        started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        command: command_line(),
        machine: Machine::detect(),
        build: Some(Build::current()),
        backends: BTreeMap::new(),
        settings: opts.settings.clone(),
        rows: Vec::new(),
        stopped: None,
        plan: None,
        shard: None,
        machines: BTreeMap::new(),
    }
}

/// Whether each backend can run here; records its version (or why not) in `run`.
fn check_backends<'a>(
    backends: &'a [Box<dyn qbench_core::Backend>],
    run: &mut Run,
) -> HashMap<&'a str, std::result::Result<(), String>> {
    let mut available = HashMap::new();
    for b in backends {
        let state = b.check().map_err(|e| e.to_string());
        run.backends.insert(
            b.name().to_string(),
            match &state {
                Ok(()) => b.version(),
                Err(e) => format!("unavailable: {e}"),
            },
        );
        available.insert(b.name(), state);
    }
    available
}

/// Writes the partial results with the reason a signal stopped the run, and returns the error
/// that ends it (exit status 130).
pub(super) fn stopped(run: &mut Run, out: &Path, partial: &str, bar: &Progress) -> anyhow::Error {
    bar.finish_and_clear();
    let why = format!(
        "stopped by a signal (SIGINT, SIGTERM or SIGHUP) after {} cell(s)",
        run.rows.len()
    );
    run.stopped = Some(why.clone());
    match report::write_report(&report::Json, run, out, partial) {
        Ok(path) => crate::interrupt::Interrupted(format!(
            "{why}; the finished cells are in {} (`complete: false`)",
            path.display()
        ))
        .into(),
        Err(e) => e.context(why),
    }
}
