//! Human-readable cells shared by the terminal and Markdown tables.

use crate::record::{Row, Status};

/// Column headers of the human tables.
pub const HEADERS: &[&str] = &[
    "technique",
    "backend",
    "batch",
    "threads",
    "format",
    "status",
    "size",
    "load ms",
    "p50 ms [95% CI]",
    "p90 ms",
    "p99 ms",
    "mean±std ms",
    "n",
    "img/s",
    "peak RSS",
    "top-1 % [95% CI]",
    "top-5 %",
    "Δ top-1",
    "agree fp32",
    "KL fp32",
    "SQNR dB",
    "cos fp32",
    "max |err|",
    "metrics",
    "note",
];

fn opt<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
    v.map(f).unwrap_or_else(|| "-".into())
}

/// Bytes as KiB/MiB.
pub fn bytes(b: u64) -> String {
    if b >= 1 << 20 {
        format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.1} KiB", b as f64 / 1024.0)
    }
}

/// The display cells of a row, in [`HEADERS`] order.
pub fn cells(r: &Row) -> Vec<String> {
    let lat = r.latency_ms.as_ref();
    vec![
        r.technique.clone(),
        r.backend.clone(),
        r.batch.to_string(),
        r.threads.to_string(),
        r.format.clone(),
        r.status.as_str().to_string(),
        match (r.size_bytes, r.packed_bytes) {
            (Some(s), Some(p)) => format!("{} (packed {})", bytes(s), bytes(p)),
            (s, _) => opt(s, bytes),
        },
        opt(r.load_ms, |v| format!("{v:.1}")),
        opt(lat, |l| {
            format!("{:.3} [{:.3}, {:.3}]", l.p50, l.p50_ci95[0], l.p50_ci95[1])
        }),
        opt(lat.map(|l| l.p90), |v| format!("{v:.3}")),
        opt(lat.map(|l| l.p99), |v| format!("{v:.3}")),
        opt(lat, |l| format!("{:.3}±{:.3}", l.mean, l.std)),
        opt(lat.map(|l| l.n), |v| v.to_string()),
        opt(r.throughput_ips, |v| format!("{v:.0}")),
        opt(r.peak_rss_bytes, bytes),
        match (r.accuracy, r.accuracy_ci95) {
            (Some(a), Some([lo, hi])) => {
                format!("{:.2} [{:.2}, {:.2}]", a * 100.0, lo * 100.0, hi * 100.0)
            }
            (Some(a), None) => format!("{:.2}", a * 100.0),
            _ => "-".into(),
        },
        opt(r.top5, |v| format!("{:.2}", v * 100.0)),
        opt(r.accuracy_delta_vs_fp32, |d| top1_change(d, r.mcnemar_p, 2)),
        opt(r.agreement_with_fp32, |v| format!("{:.2}%", v * 100.0)),
        opt(r.kl_vs_fp32, |v| format!("{v:.2e}")),
        opt(r.sqnr_db_vs_fp32, |v| format!("{v:.1}")),
        opt(r.cosine_vs_fp32, |v| format!("{v:.5}")),
        opt(r.max_abs_err_vs_fp32, |v| format!("{v:.3e}")),
        other_metrics(r),
        match r.status {
            Status::Ok => r.notes.clone().unwrap_or_default(),
            _ => r.reason.clone().unwrap_or_default(),
        },
    ]
}

/// A change of top-1 in points with `decimals` decimals, starred when McNemar's test finds it
/// significant at 5%.
pub fn top1_change(delta: f64, mcnemar_p: Option<f64>, decimals: usize) -> String {
    let star = if mcnemar_p.is_some_and(|p| p < 0.05) {
        "*"
    } else {
        ""
    };
    format!("{:+.*}{star}", decimals, delta * 100.0)
}

/// The metrics without a column of their own (`crate::metrics::OWN_COLUMNS`), as
/// `name value [lo, hi]`, `; `-separated.
pub fn other_metrics(r: &Row) -> String {
    r.metrics
        .iter()
        .filter(|(n, _)| !crate::metrics::OWN_COLUMNS.contains(&n.as_str()))
        .map(|(n, s)| match s.ci95 {
            Some([lo, hi]) => format!("{n} {:.4} [{lo:.4}, {hi:.4}]", s.value),
            None => format!("{n} {:.4}", s.value),
        })
        .collect::<Vec<_>>()
        .join("; ")
}
