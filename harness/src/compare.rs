//! `qbench compare`: plan the cells, run each in a child process, collect rows, write reports.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use qbench_core::Support;

use crate::cell::CellOutcome;
use crate::cli::{CompareArgs, OutputFormat};
use crate::measure::accuracy::{agreement, paired, wilson95};
use crate::measure::build_info::Build;
use crate::measure::latency::IterationRule;
use crate::measure::machine::{git_commit, Machine};
use crate::measure::stats::LatencyStats;
use crate::out_lock::OutLock;
use crate::plan::CellPart;
use crate::plan::CellSpec;
use crate::progress::Progress;
use crate::record::{Row, RowKey, Run, Settings, Status};
use crate::registry;
use crate::report::{self, Reporter};
use crate::run_mode::{check_rule, RuleKeys, RuleSpec};
use crate::runner::Runner;
use crate::scenario::Scenario;

/// Validated options of a compare run.
struct Options {
    scenario: Scenario,
    techniques: Option<Vec<String>>,
    backends: Vec<String>,
    settings: Settings,
    out: PathBuf,
    /// Labels of the evaluated samples (empty without labels).
    labels: Vec<u32>,
    /// The evaluation data, as the results record it.
    data: String,
}

/// Distinct values in the order given.
fn distinct(values: &[usize]) -> Vec<usize> {
    let mut out = Vec::new();
    for v in values {
        if !out.contains(v) {
            out.push(*v);
        }
    }
    out
}

/// The LoadGen rule of a whole cell: the mode's rule (the scenario's, else the default) with
/// the command line's overrides.
fn latency_rule(args: &CompareArgs, base: IterationRule) -> Result<IterationRule> {
    let rule = RuleSpec {
        warmup: args.warmup,
        min_iters: args.min_iters,
        min_seconds: args.min_seconds,
        max_seconds: args.max_seconds,
    }
    .over(base);
    check_rule(&rule, RuleKeys::Flags)?;
    Ok(rule)
}

fn options(dir: &Path, args: &CompareArgs) -> Result<Options> {
    // `from_model` resolves the model's input itself (its synthetic data take that shape).
    let scenario = match &args.model {
        Some(model) => {
            crate::model_scenario::from_model(model, args.eval_samples, &args.input_shape)?
        }
        None => {
            let mut s = Scenario::load(dir, &args.scenario)?;
            crate::model_io::resolve(&mut s, &args.input_shape)?;
            s
        }
    };
    let known = registry::backend_names();
    // The registry is the one list of backends: no flag means all of them.
    let backends: Vec<String> = if args.backends.is_empty() {
        known.iter().map(ToString::to_string).collect()
    } else {
        args.backends.clone()
    };
    for b in &backends {
        if !known.contains(&b.as_str()) {
            bail!("unknown backend '{b}' (known: {})", known.join(", "));
        }
    }
    let mode_spec = if args.quick {
        scenario.quick.clone()
    } else {
        scenario.full.clone()
    };
    let mode = mode_spec.unwrap_or_default().resolve(args.quick);
    let threads = distinct(&args.threads);
    let mut batch = distinct(&args.batch);
    let mut throughput_batch = args.throughput_batch.unwrap_or(mode.throughput_batch);
    if let Some(fixed) = scenario.model.fixed_batch {
        // A model exported with a fixed batch runs at that batch only.
        if batch == [1] && fixed != 1 {
            batch = vec![fixed];
        }
        if batch != [fixed] {
            bail!(
                "the model's input '{}' has a fixed batch dimension of {fixed}: --batch must be \
                 {fixed}",
                scenario.model.input.as_deref().unwrap_or("?")
            );
        }
        if throughput_batch != fixed {
            eprintln!(
                "note: the model's batch dimension is fixed to {fixed}: throughput and accuracy \
                 run at batch {fixed}"
            );
            throughput_batch = fixed;
        }
    }
    if threads.is_empty() || threads.contains(&0) {
        bail!("--threads takes thread counts of at least 1, e.g. --threads 1,2");
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if let Some(t) = threads
        .iter()
        .find(|&&t| t > MAX_THREADS_PER_CORE * cores)
        .filter(|_| !args.allow_oversubscription)
    {
        bail!(
            "--threads {t} on a machine with {cores} cores: more than {MAX_THREADS_PER_CORE}              threads per core measures the scheduler, not the runtime (a very large count can              exhaust the machine's processes); add --allow-oversubscription if you mean it"
        );
    }
    if batch.is_empty() || batch.contains(&0) {
        bail!("--batch takes batch sizes of at least 1, e.g. --batch 1,8,64");
    }
    if throughput_batch == 0 {
        bail!("--throughput-batch must be at least 1");
    }
    let rounds = args.rounds.unwrap_or(mode.rounds);
    if rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    let latency_rule = latency_rule(args, mode.latency)?;
    let mut scenario = scenario;
    if let Some(n) = mode.calibration_samples {
        // The children read the calibration split from the scenario they are handed.
        let split = crate::scenario::cap_split(scenario.data.calibration.split.as_ref(), n);
        scenario.data.calibration.split = Some(split);
    }
    let eval = scenario.eval_data()?;
    let eval_samples = mode.eval_samples.unwrap_or(usize::MAX).min(eval.len());
    let data = data_description(&scenario, eval.as_ref());
    // Labels of the evaluated samples, for the paired comparison with FP32.
    let labels = if scenario.has_labels() {
        qbench_data::labels(&qbench_data::Subset::first(eval.into(), eval_samples)?)
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let results = results_dir(dir);
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| results.join(&scenario.name));
    if out.exists() && !out.is_dir() {
        bail!(
            "--out {}: this is a file; the results go in a folder (give a folder's path)",
            out.display()
        );
    }
    let names = registry::technique_names();
    if let Some(t) = args
        .techniques
        .iter()
        .find(|t| !names.contains(&t.as_str()))
    {
        bail!("unknown technique '{t}' (known: {})", names.join(", "));
    }
    Ok(Options {
        labels,
        data,
        techniques: (!args.techniques.is_empty()).then(|| args.techniques.clone()),
        backends,
        settings: Settings {
            threads,
            batch,
            throughput_batch,
            quick: args.quick,
            eval_samples,
            rounds,
            latency_rule,
            throughput_rule: mode.throughput,
            cell_timeout_s: args.cell_timeout,
        },
        scenario,
        out,
    })
}

fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("qbench {}", args.join(" "))
}

/// The results folder: `results/` next to the scenarios folder.
pub fn results_dir(scenarios: &Path) -> PathBuf {
    let root = scenarios.parent().filter(|p| !p.as_os_str().is_empty());
    root.map_or_else(|| PathBuf::from("results"), |r| r.join("results"))
}

/// A measured cell waiting for its further latency rounds.
struct Pending {
    row: usize,
    spec: CellSpec,
    samples: Vec<Vec<f64>>,
    load_ms: Vec<f64>,
}

/// Where the FP32 cell of `backend` at `threads` stores its logits.
fn logits_path(out: &Path, backend: &str, threads: usize) -> PathBuf {
    out.join("artifacts")
        .join("logits")
        .join(format!("fp32-{backend}-t{threads}.logits"))
}

/// Identifies a cell's predictions: technique, backend, batch, threads.
type CellId = (String, String, usize, usize);

fn cell_id(technique: &str, r: &Row) -> CellId {
    (technique.to_string(), r.backend.clone(), r.batch, r.threads)
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
    let mut run = Run {
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
        settings: s.clone(),
        rows: Vec::new(),
        stopped: None,
    };
    let backends: Vec<_> = opts
        .backends
        .iter()
        .filter_map(|n| registry::backend(n))
        .collect();
    let mut available = HashMap::new();
    for b in &backends {
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
    // Children load ONNX Runtime from where the parent found it, instead of each probing the
    // Python installation and the cache again (a Python start-up per cell).
    if available.get("ort").is_some_and(|s| s.is_ok())
        && std::env::var_os("ORT_DYLIB_PATH").is_none()
    {
        if let Ok(rt) = qbench_ort::runtime() {
            runner.env.push(("ORT_DYLIB_PATH".into(), rt.path.clone()));
        }
    }
    let prepared = crate::artifacts::prepare(
        &opts.scenario,
        opts.techniques.as_deref(),
        &opts.out,
        &mut run.calibration,
    )?;
    let combos = s.batch.len() * s.threads.len();
    let total = (prepared.len() * backends.len() * combos * s.rounds) as u64;
    let bar = Progress::new(total);
    let stem = if s.quick { "quick" } else { "compare" };
    // Cells are saved as they finish into `<stem>.partial.json` (`complete: false`); the
    // complete files replace the previous run's only at the end, so an interrupted run never
    // leaves a truncated `<stem>.json` next to an older `.md`/`.csv`.
    let partial = format!("{stem}.partial");
    let mut predictions: HashMap<CellId, Vec<u32>> = HashMap::new();
    // FP32 logits written in this run, per (backend, threads), in the order written.
    let mut fp32_logits: Vec<((String, usize), PathBuf)> = Vec::new();
    let mut pending: Vec<Pending> = Vec::new();
    let labels = &opts.labels;
    let round_rule = s.latency_rule.per_round(s.rounds);
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
        let mut row = match (&available[b.name()], &p.artifact) {
            (_, Err(e)) => Row::not_run(key, Status::Failed, e.clone()),
            (Err(e), _) => Row::not_run(key, Status::Unsupported, e.clone()),
            (Ok(()), Ok(artifact)) => match b.supports(artifact) {
                Support::Unsupported(reason) => Row::not_run(key, Status::Unsupported, reason),
                Support::Yes => {
                    let spec = CellSpec {
                        scenario: opts.scenario.clone(),
                        key: key.clone(),
                        artifact: artifact.clone(),
                        eval_samples: s.eval_samples,
                        latency_rule: round_rule,
                        throughput_rule: s.throughput_rule,
                        part: CellPart::Full,
                        save_logits: save_logits.clone(),
                        reference_logits,
                    };
                    match runner.run(&spec) {
                        CellOutcome::Ok(m) => {
                            if let Some(path) = save_logits {
                                fp32_logits.push(((b.name().into(), threads), path));
                            }
                            let mut row = measured_row(key, &m);
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
                        CellOutcome::Failed { reason } => Row::not_run(key, Status::Failed, reason),
                        CellOutcome::Unsupported { reason } => {
                            Row::not_run(key, Status::Unsupported, reason)
                        }
                        CellOutcome::Latency(_) => Row::not_run(
                            key,
                            Status::Failed,
                            "the cell process measured latency only".into(),
                        ),
                    }
                }
            },
        };
        row.quantize_ms = p.quantize_ms;
        if let Some(t) = p.timing {
            row.calibration_ms = Some(t.calibration_ms);
            row.calibration_images = Some(t.calibration_images);
            row.scoring_ms = Some(t.scoring_ms);
        }
        if row.status == Status::Ok {
            row.packed_bytes = p.packed_bytes;
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
        fill_agreement(
            &mut run.rows,
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
    further_rounds(&runner, &mut run, &mut pending, &bar, &opts.out, &partial)?;
    fill_agreement(
        &mut run.rows,
        &predictions,
        labels,
        opts.scenario.metric.agreement,
    );
    bar.finish_and_clear();
    // The files first: a reader that closes stdout early (`| head`) must not cost the results.
    run.complete = true;
    let mut written = Vec::new();
    for r in [
        &report::Json as &dyn Reporter,
        &report::Csv,
        &report::Markdown,
    ] {
        written.push(report::write_report(r, &run, &opts.out, stem)?);
    }
    let _ = std::fs::remove_file(opts.out.join(format!("{partial}.json")));
    let results_line = format!(
        "results: {}",
        written
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut stdout = std::io::stdout().lock();
    let printed = match args.format {
        OutputFormat::Table => if args.wide {
            &report::Terminal as &dyn Reporter
        } else {
            &report::Compact
        }
        .render(&run, &mut stdout)
        .and_then(|()| writeln!(stdout, "{results_line}").map_err(Into::into)),
        OutputFormat::Md => report::Markdown.render(&run, &mut stdout),
        OutputFormat::Csv => report::Csv.render(&run, &mut stdout),
        OutputFormat::Json => report::Json.render(&run, &mut stdout),
    };
    if args.format != OutputFormat::Table {
        eprintln!("{results_line}");
    }
    ignore_closed_pipe(printed)?;
    for w in crate::fp32_sanity::fp32_warnings(&run.rows, opts.scenario.model.classes) {
        eprintln!("warning: {w}");
    }
    if run.rows.iter().all(|r| r.status != Status::Ok) {
        bail!("no cell could be measured");
    }
    Ok(())
}

/// Writes the partial results with the reason a signal stopped the run, and returns the error
/// that ends it (exit status 130).
fn stopped(run: &mut Run, out: &Path, partial: &str, bar: &Progress) -> anyhow::Error {
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

/// Thread counts above this many per core are refused without `--allow-oversubscription`.
const MAX_THREADS_PER_CORE: usize = 4;

/// A reader that stopped reading stdout (`qbench compare | head`) is not an error: the results
/// files are written by then. Any other failure to print is.
fn ignore_closed_pipe(r: Result<()>) -> Result<()> {
    match r {
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            Ok(())
        }
        other => other.context("cannot print the results to stdout"),
    }
}

/// Rounds 2..R: one more latency round of every measured cell per pass, each in a fresh
/// process, alternating the order of the cells, so that a slow drift of a shared machine
/// reaches every cell alike instead of whichever cells ran during it.
fn further_rounds(
    runner: &Runner,
    run: &mut Run,
    pending: &mut [Pending],
    bar: &Progress,
    out: &Path,
    stem: &str,
) -> Result<()> {
    for round in 2..=run.settings.rounds {
        bar.println(format!(
            "latency round {round}/{} of the cells measured",
            run.settings.rounds
        ));
        let order: Vec<usize> = if round % 2 == 0 {
            (0..pending.len()).rev().collect()
        } else {
            (0..pending.len()).collect()
        };
        for i in order {
            if crate::interrupt::requested() {
                return Err(stopped(run, out, stem, bar));
            }
            let cell = &mut pending[i];
            let row = &mut run.rows[cell.row];
            if row.status != Status::Ok {
                bar.inc(1);
                continue;
            }
            bar.set_message(format!(
                "latency round {round}/{}: {} on {}",
                run.settings.rounds, row.technique, row.backend
            ));
            let spec = CellSpec {
                part: CellPart::Latency,
                save_logits: None,
                reference_logits: None,
                ..cell.spec.clone()
            };
            match runner.run(&spec) {
                CellOutcome::Latency(r) => {
                    cell.samples.push(r.samples);
                    cell.load_ms.push(r.load_ms);
                    row.latency_ms = LatencyStats::from_rounds(&cell.samples);
                    row.load_ms = median(&cell.load_ms);
                }
                CellOutcome::Failed { reason } | CellOutcome::Unsupported { reason } => {
                    row.fail(format!("latency round {round}: {reason}"));
                    bar.println(format!(
                        "{:<30} {:<7} {}",
                        row.technique,
                        row.backend,
                        summary(row)
                    ));
                }
                CellOutcome::Ok(_) => row.fail(format!(
                    "latency round {round}: the process measured everything"
                )),
            }
            bar.inc(1);
        }
        report::write_report(&report::Json, run, out, stem)?;
    }
    Ok(())
}

fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    (!v.is_empty()).then(|| crate::measure::stats::quantile(&v, 0.5))
}

/// What the run's evaluation measures, as the results file states it.
fn metric_name(s: &Scenario) -> String {
    match s.metric.kind {
        crate::scenario::MetricKind::Top1 => "top1".into(),
        crate::scenario::MetricKind::Fidelity => {
            "fidelity (no labelled data: outputs compared with FP32 only, no accuracy)".into()
        }
    }
}

/// The evaluation data as the results file states it.
fn data_description(s: &Scenario, eval: &dyn qbench_data::Dataset) -> String {
    let what = match &s.data.eval.source {
        qbench_data::SourceConfig::Synthetic { .. } => "seeded synthetic inputs".to_string(),
        _ => eval.describe(),
    };
    if s.data.source.is_empty() {
        what
    } else {
        format!("{} ({what})", s.data.source)
    }
}

fn summary(r: &Row) -> String {
    match (r.status, &r.latency_ms, r.accuracy) {
        (Status::Ok, Some(l), Some(a)) => {
            format!("ok: p50 {:.3} ms, top-1 {:.2}%", l.p50, a * 100.0)
        }
        (Status::Ok, Some(l), None) => match r.sqnr_db_vs_fp32 {
            Some(q) => format!("ok: p50 {:.3} ms, SQNR {q:.1} dB vs fp32", l.p50),
            None => format!("ok: p50 {:.3} ms", l.p50),
        },
        _ => format!(
            "{}: {}",
            r.status.as_str(),
            r.reason.as_deref().unwrap_or("")
        ),
    }
}

/// A measured row; KL divergence of the softmax is reported for classifier logits only.
fn measured_row(key: RowKey, m: &crate::cell::Measured) -> Row {
    let mut row = Row::not_run(key, Status::Ok, String::new());
    row.reason = None;
    row.size_bytes = Some(m.size_bytes);
    row.load_ms = Some(m.load_ms);
    row.latency_ms = LatencyStats::from_rounds(std::slice::from_ref(&m.latency_samples));
    row.throughput_ips = Some(m.throughput_ips);
    row.peak_rss_bytes = m.peak_rss_bytes;
    row.eval_samples = Some(m.eval_samples);
    // The metrics with columns of their own; every metric stays in `metrics`.
    let get = |name: &str| m.metrics.get(name);
    row.accuracy = get("top1").map(|s| s.value);
    row.accuracy_ci95 = get("top1").and_then(|s| s.ci95);
    row.top5 = get("top5").map(|s| s.value);
    row.kl_vs_fp32 = get("kl").map(|s| s.value);
    row.sqnr_db_vs_fp32 = get("sqnr").map(|s| s.value);
    row.cosine_vs_fp32 = get("cosine").map(|s| s.value);
    row.max_abs_err_vs_fp32 = get("max-abs-err").map(|s| s.value);
    row.metrics = m.metrics.clone();
    row
}

/// Agreement of each row's predictions with its FP32 reference: the FP32 artifact on the same
/// backend at the same batch and threads, or, for FP32 rows, the first backend whose FP32
/// cell succeeded.
fn fill_agreement(
    rows: &mut [Row],
    predictions: &HashMap<CellId, Vec<u32>>,
    labels: &[u32],
    agreement_applies: bool,
) {
    let first_fp32 = |r: &Row| {
        rows.iter()
            .find(|f| {
                f.technique == registry::FP32
                    && f.batch == r.batch
                    && f.threads == r.threads
                    && predictions.contains_key(&cell_id(registry::FP32, f))
            })
            .map(|f| f.backend.clone())
    };
    let references: Vec<Option<String>> = rows
        .iter()
        .map(|r| {
            if r.technique == registry::FP32 {
                first_fp32(r)
            } else {
                Some(r.backend.clone())
            }
        })
        .collect();
    for (r, reference) in rows.iter_mut().zip(references) {
        if r.status != Status::Ok {
            continue;
        }
        let Some(reference) = reference else { continue };
        let mine = predictions.get(&cell_id(&r.technique, r));
        let theirs = predictions.get(&(
            registry::FP32.to_string(),
            reference.clone(),
            r.batch,
            r.threads,
        ));
        if let (Some(a), Some(b), true) = (mine, theirs, agreement_applies) {
            r.agreement_with_fp32 = agreement(a, b);
            r.agreement_ci95 = r.agreement_with_fp32.map(|p| {
                let n = a.len().min(b.len());
                let (lo, hi) = wilson95((p * n as f64).round() as usize, n);
                [lo, hi]
            });
            r.agreement_reference = Some(format!("fp32 on {reference}"));
        }
    }
    // Accuracy change against the FP32 artifact on the same backend, batch and threads.
    let fp32_acc: HashMap<(String, usize, usize), f64> = rows
        .iter()
        .filter(|r| r.technique == registry::FP32)
        .filter_map(|r| Some(((r.backend.clone(), r.batch, r.threads), r.accuracy?)))
        .collect();
    for r in rows.iter_mut().filter(|r| r.technique != registry::FP32) {
        r.accuracy_delta_vs_fp32 = match (
            r.accuracy,
            fp32_acc.get(&(r.backend.clone(), r.batch, r.threads)),
        ) {
            (Some(a), Some(f)) => Some(a - f),
            _ => None,
        };
        // Paired on the same images: interval of the difference and McNemar's exact test.
        let mine = predictions.get(&cell_id(&r.technique, r));
        let fp32 = predictions.get(&cell_id(registry::FP32, r));
        if let (Some(q), Some(f)) = (mine, fp32) {
            if let Some(p) = paired(f, q, labels) {
                r.accuracy_delta_ci95 = Some(p.ci95);
                r.mcnemar_p = Some(p.p_value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_stdout_is_not_an_error_but_other_print_failures_are() {
        let pipe = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "closed");
        assert!(ignore_closed_pipe(Err(anyhow::Error::from(pipe).context("printing"))).is_ok());
        let full = std::io::Error::new(std::io::ErrorKind::StorageFull, "disk full");
        let err = ignore_closed_pipe(Err(full.into())).unwrap_err();
        assert!(
            format!("{err:#}").contains("cannot print the results"),
            "{err:#}"
        );
        assert!(ignore_closed_pipe(Ok(())).is_ok());
    }
}
