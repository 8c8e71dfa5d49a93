//! The options of a compare run: the scenario (or a bare model), the backends and techniques,
//! the sweep, the latency rules of the mode, validated before anything runs.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::cli::CompareArgs;
use crate::imported::ImportedSpec;
use crate::measure::latency::IterationRule;
use crate::record::Settings;
use crate::registry;
use crate::run_mode::{check_rule, RuleKeys, RuleSpec};
use crate::scenario::Scenario;

/// Validated options of a compare run.
pub(super) struct Options {
    pub scenario: Scenario,
    pub techniques: Option<Vec<String>>,
    /// Imported models (the scenario's, then the command line's), checked against FP32.
    pub imported: Vec<(ImportedSpec, qbench_core::Artifact)>,
    pub backends: Vec<String>,
    pub settings: Settings,
    pub out: PathBuf,
    /// Labels of the evaluated samples (empty without labels).
    pub labels: Vec<u32>,
    /// The evaluation data, as the results record it.
    pub data: String,
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

pub(super) fn options(dir: &Path, args: &CompareArgs) -> Result<Options> {
    // `from_model` resolves the model's input itself (its synthetic data take that shape).
    let mut scenario = match &args.model {
        Some(model) => {
            crate::model_scenario::from_model(model, args.eval_samples, &args.input_shape)?
        }
        None => {
            let mut s = Scenario::load(dir, &args.scenario)?;
            crate::model_io::resolve(&mut s, &args.input_shape)?;
            s
        }
    };
    scenario
        .overrides
        .extend(args.overrides.iter().map(ToString::to_string));
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
    let largest: Vec<usize> = batch.iter().copied().chain([throughput_batch]).collect();
    crate::memory_bound::check(&scenario, &largest, args.allow_large_batch)?;
    let rounds = args.rounds.unwrap_or(mode.rounds);
    if rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    let latency_rule = latency_rule(args, mode.latency)?;
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
    let imported = imported_artifacts(&scenario, &args.artifact)?;
    let mut names = registry::technique_names();
    names.extend(crate::qat_rows::names(&scenario));
    names.extend(imported.iter().map(|(spec, _)| spec.name.as_str()));
    if let Some(t) = args
        .techniques
        .iter()
        .find(|t| !names.contains(&t.as_str()))
    {
        bail!("unknown technique '{t}' (known: {})", names.join(", "));
    }
    Ok(Options {
        imported,
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

/// Thread counts above this many per core are refused without `--allow-oversubscription`.
const MAX_THREADS_PER_CORE: usize = 4;

/// The results folder: `results/` next to the scenarios folder.
pub fn results_dir(scenarios: &Path) -> PathBuf {
    let root = scenarios.parent().filter(|p| !p.as_os_str().is_empty());
    root.map_or_else(|| PathBuf::from("results"), |r| r.join("results"))
}

/// What the run's evaluation measures, as the results file states it.
pub(super) fn metric_name(s: &Scenario) -> String {
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

/// The scenario's `[[artifacts]]` (paths relative to it) and `--artifact`s (as given), each
/// checked against the FP32 model; names must be new.
fn imported_artifacts(
    scenario: &Scenario,
    cli: &[ImportedSpec],
) -> Result<Vec<(ImportedSpec, qbench_core::Artifact)>> {
    let specs = scenario
        .artifacts
        .iter()
        .map(|s| (s, scenario.resolve(&s.path)))
        .chain(cli.iter().map(|s| (s, s.path.clone())));
    let mut known = registry::technique_names();
    known.extend(crate::qat_rows::names(scenario));
    let mut out: Vec<(ImportedSpec, qbench_core::Artifact)> = Vec::new();
    let mut fp32 = None;
    for (spec, path) in specs {
        if known.contains(&spec.name.as_str()) || out.iter().any(|(s, _)| s.name == spec.name) {
            bail!(
                "imported model {:?}: that name is already a row of the run; give it another",
                spec.name
            );
        }
        if fp32.is_none() {
            let artifact = scenario.fp32_artifact()?;
            let model = qbench_onnx::Model::load(&artifact.path).with_context(|| {
                format!("cannot read the FP32 model {}", artifact.path.display())
            })?;
            fp32 = Some((artifact, model));
        }
        let (artifact, model) = fp32.as_ref().expect("set above");
        out.push((
            spec.clone(),
            crate::imported::artifact(spec, &path, artifact, model)?,
        ));
    }
    Ok(out)
}
