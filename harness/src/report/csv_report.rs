//! CSV: one flat line per row with every field and the run's provenance.

use std::io::Write;

use anyhow::Result;
use serde::Serialize;

use super::Reporter;
use crate::record::Run;

/// Flat CSV for spreadsheets and scripts.
pub struct Csv;

#[derive(Serialize)]
struct Line<'a> {
    scenario: &'a str,
    git_commit: &'a str,
    cpu: &'a str,
    build: String,
    quick: bool,
    technique: &'a str,
    framework: &'a str,
    backend: &'a str,
    backend_version: &'a str,
    format: &'a str,
    threads: usize,
    batch: usize,
    throughput_batch: usize,
    status: &'a str,
    reason: &'a str,
    size_bytes: Option<u64>,
    packed_bytes: Option<u64>,
    load_ms: Option<f64>,
    quantize_ms: Option<f64>,
    calibration_ms: Option<f64>,
    calibration_images: Option<u64>,
    scoring_ms: Option<f64>,
    latency_p50_ms: Option<f64>,
    latency_p90_ms: Option<f64>,
    latency_p99_ms: Option<f64>,
    latency_mean_ms: Option<f64>,
    latency_std_ms: Option<f64>,
    latency_cv: Option<f64>,
    latency_p50_ci95_low_ms: Option<f64>,
    latency_p50_ci95_high_ms: Option<f64>,
    latency_n: Option<usize>,
    latency_rounds: Option<usize>,
    throughput_ips: Option<f64>,
    peak_rss_bytes: Option<u64>,
    accuracy: Option<f64>,
    accuracy_ci95_low: Option<f64>,
    accuracy_ci95_high: Option<f64>,
    accuracy_delta_vs_fp32: Option<f64>,
    accuracy_delta_ci95_low: Option<f64>,
    accuracy_delta_ci95_high: Option<f64>,
    mcnemar_p: Option<f64>,
    eval_samples: Option<usize>,
    agreement_with_fp32: Option<f64>,
    agreement_ci95_low: Option<f64>,
    agreement_ci95_high: Option<f64>,
    kl_vs_fp32: Option<f64>,
    sqnr_db_vs_fp32: Option<f64>,
    top5: Option<f64>,
    cosine_vs_fp32: Option<f64>,
    cosine_ci95_low: Option<f64>,
    cosine_ci95_high: Option<f64>,
    max_abs_err_vs_fp32: Option<f64>,
    /// The metrics without a column of their own, `name=value [lo, hi]`, `;`-separated.
    metrics: String,
    metric: &'a str,
    /// The machine's id (merged results of several machines: one row per cell and machine).
    machine: String,
    isa_class: &'a str,
}

impl Reporter for Csv {
    fn name(&self) -> &'static str {
        "csv"
    }

    fn render(&self, run: &Run, out: &mut dyn Write) -> Result<()> {
        let mut w = csv::Writer::from_writer(out);
        for r in &run.rows {
            let l = r.latency_ms.as_ref();
            let cosine_ci = r.metrics.get("cosine").and_then(|s| s.ci95);
            let machine = run.machine_of(r);
            w.serialize(Line {
                scenario: &run.scenario,
                git_commit: run.git_commit_of(r).unwrap_or(""),
                cpu: &machine.cpu,
                build: run.build.as_ref().map(|b| b.describe()).unwrap_or_default(),
                quick: run.settings.quick,
                technique: &r.technique,
                framework: &r.framework,
                backend: &r.backend,
                backend_version: run
                    .backends_of(r)
                    .get(&r.backend)
                    .map(String::as_str)
                    .unwrap_or(""),
                format: &r.format,
                threads: r.threads,
                batch: r.batch,
                throughput_batch: r.throughput_batch,
                status: r.status.as_str(),
                reason: r.reason.as_deref().unwrap_or(""),
                size_bytes: r.size_bytes,
                packed_bytes: r.packed_bytes,
                load_ms: r.load_ms,
                quantize_ms: r.quantize_ms,
                calibration_ms: r.calibration_ms,
                calibration_images: r.calibration_images,
                scoring_ms: r.scoring_ms,
                latency_p50_ms: l.map(|l| l.p50),
                latency_p90_ms: l.map(|l| l.p90),
                latency_p99_ms: l.map(|l| l.p99),
                latency_mean_ms: l.map(|l| l.mean),
                latency_std_ms: l.map(|l| l.std),
                latency_cv: l.map(|l| l.cv),
                latency_p50_ci95_low_ms: l.map(|l| l.p50_ci95[0]),
                latency_p50_ci95_high_ms: l.map(|l| l.p50_ci95[1]),
                latency_n: l.map(|l| l.n),
                latency_rounds: l.map(|l| l.rounds),
                throughput_ips: r.throughput_ips,
                peak_rss_bytes: r.peak_rss_bytes,
                accuracy: r.accuracy,
                accuracy_ci95_low: r.accuracy_ci95.map(|c| c[0]),
                accuracy_ci95_high: r.accuracy_ci95.map(|c| c[1]),
                accuracy_delta_vs_fp32: r.accuracy_delta_vs_fp32,
                accuracy_delta_ci95_low: r.accuracy_delta_ci95.map(|c| c[0]),
                accuracy_delta_ci95_high: r.accuracy_delta_ci95.map(|c| c[1]),
                mcnemar_p: r.mcnemar_p,
                eval_samples: r.eval_samples,
                agreement_with_fp32: r.agreement_with_fp32,
                agreement_ci95_low: r.agreement_ci95.map(|c| c[0]),
                agreement_ci95_high: r.agreement_ci95.map(|c| c[1]),
                kl_vs_fp32: r.kl_vs_fp32,
                sqnr_db_vs_fp32: r.sqnr_db_vs_fp32,
                top5: r.top5,
                cosine_vs_fp32: r.cosine_vs_fp32,
                cosine_ci95_low: cosine_ci.map(|c| c[0]),
                cosine_ci95_high: cosine_ci.map(|c| c[1]),
                metrics: crate::report::other_metrics(r),
                max_abs_err_vs_fp32: r.max_abs_err_vs_fp32,
                metric: run.metric.as_deref().unwrap_or("top1"),
                machine: machine.id(),
                isa_class: machine.isa_class(),
            })?;
        }
        w.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_rows() {
        let mut buf = Vec::new();
        Csv.render(&crate::report::fixture::run(), &mut buf)
            .unwrap();
        let s = String::from_utf8(buf).unwrap();
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("scenario,git_commit,cpu,build,quick,technique"));
        assert!(lines[1].contains(",ort,1.31.1,fp32,2,1,64,ok,,310000,,12.5,"));
        assert!(lines[0].contains(",size_bytes,packed_bytes,load_ms,"));
        assert!(lines[0].contains(",accuracy_delta_vs_fp32,"));
        assert!(lines[2].contains("failed"));
        assert!(
            lines[0].ends_with(",metric,machine,isa_class"),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].ends_with(",top1,Test CPU [AVX2] 2 cores,AVX2"),
            "{}",
            lines[1]
        );
    }
}
