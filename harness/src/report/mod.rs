//! Reporters render a [`Run`] into bytes; they never measure. One file per format.

pub(crate) mod cells;
mod compact;
mod csv_report;
mod json_report;
mod markdown;
mod terminal;

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

pub use cells::{bytes, other_metrics, top1_change};
pub use compact::Compact;
pub use csv_report::Csv;
pub use json_report::Json;
pub use markdown::{environment, Markdown};
pub use terminal::Terminal;

use crate::record::Run;

/// A results format.
pub trait Reporter {
    /// Format name (`md`, `csv`, `json`, ...), also the file extension.
    fn name(&self) -> &'static str;
    /// Renders the run.
    fn render(&self, run: &Run, out: &mut dyn Write) -> Result<()>;
}

/// Writes bytes to `path` through a temporary file and a rename, so a crash never leaves a
/// half-written results file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Renders with a reporter into `<dir>/<stem>.<name>`.
pub fn write_report(
    reporter: &dyn Reporter,
    run: &Run,
    dir: &Path,
    stem: &str,
) -> Result<std::path::PathBuf> {
    let mut buf = Vec::new();
    reporter.render(run, &mut buf)?;
    let path = dir.join(format!("{stem}.{}", reporter.name()));
    write_atomic(&path, &buf)?;
    Ok(path)
}

/// Writes the run's results files, `<stem>.json`, `.csv` and `.md` in `dir`, each atomically;
/// returns their paths.
pub fn write_results(run: &Run, dir: &Path, stem: &str) -> Result<Vec<std::path::PathBuf>> {
    [&Json as &dyn Reporter, &Csv, &Markdown]
        .into_iter()
        .map(|r| write_report(r, run, dir, stem))
        .collect()
}

/// `results: a.json, a.csv, a.md`: where a command wrote its results.
pub fn results_line(paths: &[std::path::PathBuf]) -> String {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    format!("results: {}", names.join(", "))
}

/// What the evaluation measured, when it is not top-1 on labelled data: said next to every
/// table, so an empty accuracy column is never mistaken for a failure.
pub fn metric_line(run: &Run) -> Option<String> {
    let m = run.metric.as_deref()?;
    if m == "top1" {
        return None;
    }
    Some(format!(
        "Metric: {m}; evaluation data: {}. Top-1 is not shown: no labels were measured.",
        run.data.as_deref().unwrap_or("unknown")
    ))
}

/// Said under every terminal table from an unoptimized build: its latencies are distorted.
pub fn build_line(run: &Run) -> Option<String> {
    let b = run.build.as_ref().filter(|b| !b.optimized())?;
    Some(format!(
        "Build: {} is NOT optimized: tract and candle latencies are many times too slow \
         (ONNX Runtime's are not), so backends cannot be compared; not for publication.",
        b.describe()
    ))
}

#[cfg(test)]
pub(crate) mod fixture {
    use crate::measure::latency::IterationRule;
    use crate::measure::machine::Machine;
    use crate::measure::stats::LatencyStats;
    use crate::record::{Row, RowKey, Run, Settings, Status};

    /// A small run with one ok row and one unsupported row.
    pub fn run() -> Run {
        let key = |b: &str| RowKey {
            technique: "fp32".into(),
            framework: "-".into(),
            backend: b.into(),
            format: "fp32".into(),
            threads: 2,
            batch: 1,
            throughput_batch: 64,
        };
        let mut ok = Row::not_run(key("ort"), Status::Ok, String::new());
        ok.reason = None;
        ok.size_bytes = Some(310_000);
        ok.load_ms = Some(12.5);
        ok.latency_ms = LatencyStats::from_samples(&[1.0, 2.0, 3.0]);
        ok.throughput_ips = Some(1234.5);
        ok.peak_rss_bytes = Some(50 << 20);
        ok.accuracy = Some(0.9123);
        ok.accuracy_ci95 = Some([0.9066, 0.9177]);
        ok.eval_samples = Some(10000);
        ok.agreement_with_fp32 = Some(1.0);
        let na = Row::not_run(
            key("tract"),
            Status::Failed,
            "tract cannot load x.onnx: truncated".into(),
        );
        Run {
            complete: true,
            stopped: None,
            plan: None,
            shard: None,
            machines: Default::default(),
            scenario: "resnet".into(),
            metric: Some("top1".into()),
            data: None,
            calibration: None,
            qbench_version: "0.1.0".into(),
            git_commit: Some("abc".into()),
            started_at: "2026-11-27T00:00:00Z".into(),
            command: "qbench compare".into(),
            machine: Machine {
                cpu: "Test CPU".into(),
                cores: 2,
                isa: vec!["avx2".into()],
                os: "Linux".into(),
                governor: None,
                memory_bytes: None,
                label: None,
            },
            build: Some(crate::measure::build_info::Build {
                profile: "release".into(),
                opt_level: "3".into(),
                debug_assertions: false,
            }),
            backends: [("ort".to_string(), "1.31.1".to_string())]
                .into_iter()
                .collect(),
            settings: Settings {
                threads: vec![2],
                batch: vec![1],
                throughput_batch: 64,
                quick: false,
                eval_samples: 10000,
                rounds: 6,
                latency_rule: IterationRule::FULL,
                throughput_rule: IterationRule::THROUGHPUT,
                cell_timeout_s: 600,
            },
            rows: vec![ok, na],
        }
    }
}
