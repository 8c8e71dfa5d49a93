//! The default terminal table: one line per cell in at most 120 columns (technique, backend,
//! format, size, p50 with its interval and its ratio to FP32, throughput, top-1 and its change to
//! one decimal, or cosine against FP32 for unlabelled runs). Reasons for cells that did not run
//! follow the table, one line each. Every column stays in the files (top-1 with two decimals);
//! `compare --wide` prints them all.

use std::io::Write;

use anyhow::Result;
use tabled::builder::Builder;
use tabled::settings::object::Columns;
use tabled::settings::{Modify, Padding, Style};

use super::cells::{bytes, top1_change};
use super::terminal::footer;
use super::Reporter;
use crate::record::{Row, Run, Status};

/// The compact terminal table.
pub struct Compact;

/// `p50 [lo, hi] ratio`: compact enough for one column.
fn latency(run: &Run, r: &Row) -> String {
    if r.status != Status::Ok {
        return r.status.as_str().to_string();
    }
    let Some(l) = r.latency_ms.as_ref() else {
        return "-".into();
    };
    let digits = if l.p50 >= 10.0 { 1 } else { 3 };
    let ratio = run
        .fp32_of(r)
        .filter(|f| !std::ptr::eq(*f, r))
        .and_then(|f| f.latency_ms.as_ref())
        .map(|f| format!(" {:.2}x", f.p50 / l.p50))
        .unwrap_or_default();
    format!(
        "{:.d$} [{:.d$},{:.d$}]{ratio}",
        l.p50,
        l.p50_ci95[0],
        l.p50_ci95[1],
        d = digits
    )
}

/// Top-1 and its change (a star: McNemar significant at 5%), or cosine for fidelity runs.
fn quality(labelled: bool, r: &Row) -> String {
    if labelled {
        match (r.accuracy, r.accuracy_delta_vs_fp32) {
            (Some(a), Some(d)) => format!("{:.1} {}", a * 100.0, top1_change(d, r.mcnemar_p, 1)),
            (Some(a), None) => format!("{:.1}", a * 100.0),
            _ => "-".into(),
        }
    } else {
        r.cosine_vs_fp32.map_or("-".into(), |c| format!("{c:.4}"))
    }
}

impl Reporter for Compact {
    fn name(&self) -> &'static str {
        "txt"
    }

    fn render(&self, run: &Run, out: &mut dyn Write) -> Result<()> {
        let labelled = run.metric.as_deref().is_none_or(|m| m == "top1");
        let sweep = run.settings.batch.len() > 1 || run.settings.threads.len() > 1;
        let mut b = Builder::default();
        let mut header = vec!["technique", "backend"];
        if sweep {
            header.push("b/t");
        }
        header.extend([
            "format",
            "size",
            "p50 ms [95% CI] vs fp32",
            "img/s",
            if labelled { "top-1 % Δ" } else { "cos fp32" },
        ]);
        b.push_record(header);
        let mut reasons = Vec::new();
        for r in &run.rows {
            let mut line = vec![r.technique.clone(), r.backend.clone()];
            if sweep {
                line.push(format!("{}/{}", r.batch, r.threads));
            }
            line.extend([
                r.format.clone(),
                r.size_bytes.map_or("-".into(), bytes),
                latency(run, r),
                r.throughput_ips.map_or("-".into(), |v| format!("{v:.0}")),
                quality(labelled, r),
            ]);
            b.push_record(line);
            if r.status != Status::Ok {
                reasons.push(format!(
                    "{} on {}: {}: {}",
                    r.technique,
                    r.backend,
                    r.status.as_str(),
                    r.reason.as_deref().unwrap_or("no reason recorded")
                ));
            }
        }
        let mut table = b.build();
        // Two spaces between columns and none around the table.
        table
            .with(Style::empty())
            .with(Padding::new(0, 2, 0, 0))
            .with(Modify::new(Columns::last()).with(Padding::zero()));
        writeln!(out, "{table}")?;
        for reason in reasons {
            writeln!(out, "  {reason}")?;
        }
        footer(run, out)?;
        writeln!(
            out,
            "(every column, notes included, is in the results files; `--wide` prints them here)"
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;

    /// Widest line the compact table must fit.
    const WIDTH: usize = 120;

    #[test]
    fn one_line_per_cell_within_120_columns_with_reasons_below() {
        let mut run = fixture::run();
        // The longest technique name qbench has, on a quantized row next to FP32.
        let mut long = run.rows[0].clone();
        long.technique = "ort-static-u8s8-reduce-range-per-channel".into();
        long.format = "weight-only".into();
        long.accuracy_delta_vs_fp32 = Some(-0.0123);
        long.mcnemar_p = Some(0.01);
        long.size_bytes = Some(123_456_789);
        run.rows.push(long);
        let mut buf = Vec::new();
        Compact.render(&run, &mut buf).unwrap();
        let text = String::from_utf8(buf).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        // Header, three rows, the failed row's reason.
        assert!(
            lines[1].contains("fp32") && lines[1].contains("ort"),
            "{text}"
        );
        assert!(
            lines[3].contains("reduce-range") && lines[3].contains("-1.2*"),
            "{text}"
        );
        assert!(lines[3].contains("1.00x"), "{text}");
        assert!(lines[2].contains("failed"), "{text}");
        assert!(
            text.contains("fp32 on tract: failed: tract cannot load x.onnx"),
            "{text}"
        );
        for l in &lines[..4] {
            assert!(
                l.chars().count() <= WIDTH,
                "{} columns: {l}",
                l.chars().count()
            );
        }
    }
}
