//! A cell's row from its measurement, and its one-line progress summary.

use crate::measure::stats::LatencyStats;
use crate::record::{Row, RowKey, Status};

/// The progress line's verdict of a row.
pub(super) fn summary(r: &Row) -> String {
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
pub(super) fn measured_row(key: RowKey, m: &crate::cell::Measured) -> Row {
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
