//! `qbench compare`: plan the cells, run each in a child process, collect rows, write reports.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressStyle};
use qbench_core::Support;

use crate::cell::CellOutcome;
use crate::cli::{CompareArgs, OutputFormat};
use crate::measure::accuracy::{agreement, paired};
use crate::measure::latency::IterationRule;
use crate::measure::machine::{git_commit, Machine};
use crate::plan::CellSpec;
use crate::record::{Row, RowKey, Run, Settings, Status};
use crate::registry;
use crate::report::{self, Reporter};
use crate::runner::Runner;
use crate::scenario::Scenario;

/// Evaluation images used by `--quick`.
pub const QUICK_EVAL_SAMPLES: usize = 1000;

/// Validated options of a compare run.
struct Options {
    scenario: Scenario,
    techniques: Option<Vec<String>>,
    backends: Vec<String>,
    settings: Settings,
    out: PathBuf,
}

fn options(dir: &Path, args: &CompareArgs) -> Result<Options> {
    let scenario = Scenario::load(dir, &args.scenario)?;
    let known = registry::backend_names();
    for b in &args.backends {
        if !known.contains(&b.as_str()) {
            bail!("unknown backend '{b}' (known: {})", known.join(", "));
        }
    }
    if args.threads == 0 || args.throughput_batch == 0 {
        bail!("--threads and --throughput-batch must be at least 1");
    }
    let model = scenario.resolve(&scenario.model.path);
    if !model.is_file() {
        bail!(
            "model {} not found: run `qbench train --scenario {}` first",
            model.display(),
            scenario.name
        );
    }
    let eval = scenario.eval_set()?;
    let eval_samples = if args.quick {
        QUICK_EVAL_SAMPLES.min(eval.len())
    } else {
        eval.len()
    };
    let results = results_dir(dir);
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| results.join(&scenario.name));
    let names = registry::technique_names();
    if let Some(t) = args
        .techniques
        .iter()
        .find(|t| !names.contains(&t.as_str()))
    {
        bail!("unknown technique '{t}' (known: {})", names.join(", "));
    }
    Ok(Options {
        techniques: (!args.techniques.is_empty()).then(|| args.techniques.clone()),
        backends: args.backends.clone(),
        settings: Settings {
            threads: args.threads,
            batch: 1,
            throughput_batch: args.throughput_batch,
            quick: args.quick,
            eval_samples,
            latency_rule: if args.quick {
                IterationRule::QUICK
            } else {
                IterationRule::FULL
            },
            throughput_rule: if args.quick {
                IterationRule::THROUGHPUT_QUICK
            } else {
                IterationRule::THROUGHPUT
            },
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

/// Runs `qbench compare`.
/// The results folder: `results/` next to the scenarios folder.
pub fn results_dir(scenarios: &Path) -> PathBuf {
    let root = scenarios.parent().filter(|p| !p.as_os_str().is_empty());
    root.map_or_else(|| PathBuf::from("results"), |r| r.join("results"))
}

pub fn run(dir: &Path, args: &CompareArgs) -> Result<()> {
    let opts = options(dir, args)?;
    let runner = Runner::current(Duration::from_secs(opts.settings.cell_timeout_s))?;
    let mut run = Run {
        scenario: opts.scenario.name.clone(),
        qbench_version: env!("CARGO_PKG_VERSION").into(),
        git_commit: git_commit(),
        started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        command: command_line(),
        machine: Machine::detect(),
        backends: BTreeMap::new(),
        settings: opts.settings.clone(),
        rows: Vec::new(),
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
    let prepared =
        crate::artifacts::prepare(&opts.scenario, opts.techniques.as_deref(), &opts.out)?;
    let total = (prepared.len() * backends.len()) as u64;
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] [{bar:25}] {pos}/{len} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let stem = if opts.settings.quick {
        "quick"
    } else {
        "compare"
    };
    let mut predictions: HashMap<(String, String), Vec<u8>> = HashMap::new();
    // Labels of the evaluated images, for the paired comparison with FP32.
    let labels = opts
        .scenario
        .eval_set()?
        .take(opts.settings.eval_samples)
        .labels;
    for p in &prepared {
        for b in &backends {
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
                threads: opts.settings.threads,
                batch: opts.settings.batch,
                throughput_batch: opts.settings.throughput_batch,
            };
            bar.set_message(format!("{} on {}", p.technique, b.name()));
            let mut row = match (&available[b.name()], &p.artifact) {
                (_, Err(e)) => Row::not_run(key, Status::Failed, e.clone()),
                (Err(e), _) => Row::not_run(key, Status::Unsupported, e.clone()),
                (Ok(()), Ok(artifact)) => match b.supports(artifact) {
                    Support::Unsupported(reason) => Row::not_run(key, Status::Unsupported, reason),
                    Support::Yes => {
                        let spec = CellSpec {
                            scenarios_dir: dir.to_path_buf(),
                            scenario: opts.scenario.name.clone(),
                            key: key.clone(),
                            artifact: artifact.clone(),
                            eval_samples: opts.settings.eval_samples,
                            latency_rule: opts.settings.latency_rule,
                            throughput_rule: opts.settings.throughput_rule,
                        };
                        match runner.run(&spec) {
                            CellOutcome::Failed { reason } => {
                                Row::not_run(key, Status::Failed, reason)
                            }
                            CellOutcome::Ok(m) => {
                                predictions.insert(
                                    (p.technique.clone(), b.name().to_string()),
                                    m.predictions.clone(),
                                );
                                let mut row = measured_row(key, m);
                                let notes: Vec<String> = p
                                    .notes
                                    .iter()
                                    .cloned()
                                    .chain(b.notes(artifact))
                                    .filter(|n| !n.is_empty())
                                    .collect();
                                row.notes = (!notes.is_empty()).then(|| notes.join("; "));
                                row
                            }
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
            bar.println(format!(
                "{:<30} {:<8} {}",
                row.technique,
                row.backend,
                summary(&row)
            ));
            run.rows.push(row);
            fill_agreement(&mut run.rows, &predictions, &labels);
            report::write_report(&report::Json, &run, &opts.out, stem)?;
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    let mut stdout = std::io::stdout();
    match args.format {
        OutputFormat::Table => report::Terminal.render(&run, &mut stdout)?,
        OutputFormat::Md => report::Markdown.render(&run, &mut stdout)?,
        OutputFormat::Csv => report::Csv.render(&run, &mut stdout)?,
        OutputFormat::Json => report::Json.render(&run, &mut stdout)?,
    }
    let mut written = Vec::new();
    for r in [
        &report::Json as &dyn Reporter,
        &report::Csv,
        &report::Markdown,
    ] {
        written.push(report::write_report(r, &run, &opts.out, stem)?);
    }
    let results_line = format!(
        "results: {}",
        written
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if args.format == OutputFormat::Table {
        println!("{results_line}");
    } else {
        eprintln!("{results_line}");
    }
    if run.rows.iter().all(|r| r.status != Status::Ok) {
        bail!("no cell could be measured");
    }
    Ok(())
}

fn summary(r: &Row) -> String {
    match (r.status, &r.latency_ms, r.accuracy) {
        (Status::Ok, Some(l), Some(a)) => {
            format!("ok: p50 {:.3} ms, top-1 {:.2}%", l.p50, a * 100.0)
        }
        _ => format!(
            "{}: {}",
            r.status.as_str(),
            r.reason.as_deref().unwrap_or("")
        ),
    }
}

fn measured_row(key: RowKey, m: crate::cell::Measured) -> Row {
    let mut row = Row::not_run(key, Status::Ok, String::new());
    row.reason = None;
    row.size_bytes = Some(m.size_bytes);
    row.load_ms = Some(m.load_ms);
    row.latency_ms = Some(m.latency_ms);
    row.throughput_ips = Some(m.throughput_ips);
    row.peak_rss_bytes = m.peak_rss_bytes;
    row.accuracy = Some(m.accuracy);
    row.accuracy_ci95 = Some(m.accuracy_ci95);
    row.eval_samples = Some(m.eval_samples);
    row
}

/// Agreement of each row's predictions with its FP32 reference: the FP32 artifact on the same
/// backend, or, for FP32 rows, the first backend whose FP32 cell succeeded.
fn fill_agreement(
    rows: &mut [Row],
    predictions: &HashMap<(String, String), Vec<u8>>,
    labels: &[u8],
) {
    let first_fp32 = rows
        .iter()
        .find(|r| {
            r.technique == "fp32"
                && predictions.contains_key(&("fp32".to_string(), r.backend.clone()))
        })
        .map(|r| r.backend.clone());
    for r in rows.iter_mut().filter(|r| r.status == Status::Ok) {
        let reference = if r.technique == "fp32" {
            first_fp32.clone()
        } else {
            Some(r.backend.clone())
        };
        let Some(reference) = reference else { continue };
        let mine = predictions.get(&(r.technique.clone(), r.backend.clone()));
        let theirs = predictions.get(&("fp32".to_string(), reference.clone()));
        if let (Some(a), Some(b)) = (mine, theirs) {
            r.agreement_with_fp32 = agreement(a, b);
            r.agreement_reference = Some(format!("fp32 on {reference}"));
        }
    }
    // Accuracy change against the FP32 artifact on the same backend.
    let fp32_acc: HashMap<String, f64> = rows
        .iter()
        .filter(|r| r.technique == "fp32")
        .filter_map(|r| Some((r.backend.clone(), r.accuracy?)))
        .collect();
    for r in rows.iter_mut().filter(|r| r.technique != "fp32") {
        r.accuracy_delta_vs_fp32 = match (r.accuracy, fp32_acc.get(&r.backend)) {
            (Some(a), Some(f)) => Some(a - f),
            _ => None,
        };
        // Paired on the same images: interval of the difference and McNemar's exact test.
        let mine = predictions.get(&(r.technique.clone(), r.backend.clone()));
        let fp32 = predictions.get(&("fp32".to_string(), r.backend.clone()));
        if let (Some(q), Some(f)) = (mine, fp32) {
            if let Some(p) = paired(f, q, labels) {
                r.accuracy_delta_ci95 = Some(p.ci95);
                r.mcnemar_p = Some(p.p_value);
            }
        }
    }
}
