//! `qbench tune`'s outputs: the candidates table (terminal, Markdown) and the JSON report.

use std::path::{Path, PathBuf};

use anyhow::Result;
use tabled::{builder::Builder, settings::Style};

use super::{Objective, TuneReport};
use crate::report::write_atomic;

const HEADER: [&str; 8] = [
    "#",
    "candidate",
    "step",
    "tuning top-1 %",
    "change (points)",
    "p50 ms (short run)",
    "size KiB",
    "",
];

fn rows(r: &TuneReport) -> Vec<Vec<String>> {
    r.candidates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut mark = Vec::new();
            if Some(i) == r.best {
                mark.push("best");
            }
            if Some(i) == r.first_passing {
                mark.push("first passing (INC)");
            }
            if !c.passes(r.max_drop) {
                mark.push("misses the bound");
            }
            vec![
                (i + 1).to_string(),
                c.name.clone(),
                c.step.clone(),
                format!("{:.2}", c.tuning_top1),
                format!("{:+.2}", c.tuning_drop),
                format!("{:.3}", c.latency_ms),
                format!("{:.1}", c.size_bytes as f64 / 1024.0),
                mark.join(", "),
            ]
        })
        .collect()
}

fn summary(r: &TuneReport) -> Vec<String> {
    let name = |i: Option<usize>| i.map_or_else(|| "none".into(), |i| r.candidates[i].name.clone());
    let mut s = vec![
        format!(
            "{} on {} {}: {} within {} points of FP32 ({:.2}% on {} tuning samples, the calibration split); {} candidates in {:.0} s; {}, {} cores ({})",
            r.scenario,
            r.backend,
            r.backend_version,
            match r.objective {
                Objective::Latency => "fastest",
                Objective::Size => "smallest",
            },
            r.max_drop,
            r.fp32_tuning_top1,
            r.tuning_samples,
            r.candidates.len(),
            r.seconds,
            r.machine.cpu,
            r.machine.cores,
            r.machine.isa.join(", ")
        ),
        format!("best: {}", name(r.best)),
        format!("first passing, INC's rule: {}", name(r.first_passing)),
    ];
    if let Some(e) = &r.evaluation {
        let pct = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{v:.2}"));
        s.push(format!(
            "evaluation split (row `tuned` of {}): top-1 {}% ({} points against FP32; tuning split {}), p50 {} ms",
            e.results.display(),
            pct(e.tuned_top1),
            e.tuned_drop.map_or_else(|| "-".into(), |d| format!("{d:+.2}")),
            r.best
                .map(|i| format!("{:+.2}", r.candidates[i].tuning_drop))
                .unwrap_or_default(),
            e.tuned_p50_ms.map_or_else(|| "-".into(), |v| format!("{v:.3}")),
        ));
        let mut fixed = e.passing_fixed.clone();
        match r.objective {
            Objective::Latency => {
                fixed.sort_by(|a, b| a.p50_ms.total_cmp(&b.p50_ms));
                s.push(format!(
                    "fixed recipes within the bound on the evaluation split, p50 ms [95% CI]: {}",
                    list(fixed.iter().map(|f| {
                        format!(
                            "{} {:.3} [{:.3},{:.3}]",
                            f.technique, f.p50_ms, f.p50_ci95[0], f.p50_ci95[1]
                        )
                    }))
                ));
                if let (Some(p), Some(ci)) = (e.tuned_p50_ms, e.tuned_p50_ci95) {
                    let faster = fixed.iter().filter(|f| f.p50_ms < p).map(|f| {
                        format!(
                            "{} ({:.3} ms, {})",
                            f.technique,
                            f.p50_ms,
                            if f.p50_ci95[1] < ci[0] {
                                "faster beyond both 95% intervals"
                            } else {
                                "intervals overlap: not distinguishable"
                            }
                        )
                    });
                    s.push(format!(
                        "tuned p50 {p:.3} ms [{:.3},{:.3}]; fixed recipes within the bound with a \
                         lower p50: {}",
                        ci[0],
                        ci[1],
                        list(faster)
                    ));
                }
            }
            Objective::Size => {
                fixed.sort_by_key(|f| f.size_bytes);
                s.push(format!(
                    "fixed recipes within the bound on the evaluation split, KiB (4-bit weights \
                     counted packed): {}",
                    list(fixed.iter().map(|f| {
                        format!("{} {:.1}", f.technique, f.size_bytes as f64 / 1024.0)
                    }))
                ));
                if let Some(b) = r.best {
                    let size = r.candidates[b].size_bytes;
                    let smaller = fixed.iter().filter(|f| f.size_bytes < size).map(|f| {
                        format!("{} ({:.1} KiB)", f.technique, f.size_bytes as f64 / 1024.0)
                    });
                    s.push(format!(
                        "tuned {:.1} KiB packed; fixed recipes within the bound that are smaller: {}",
                        size as f64 / 1024.0,
                        list(smaller)
                    ));
                }
            }
        }
    }
    s
}

fn list(items: impl Iterator<Item = String>) -> String {
    let v: Vec<String> = items.collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// The terminal report.
pub fn terminal(r: &TuneReport) -> String {
    let mut b = Builder::default();
    b.push_record(HEADER);
    for row in rows(r) {
        b.push_record(row);
    }
    let mut t = b.build();
    t.with(Style::sharp());
    let mut s = summary(r).join("\n");
    s.push('\n');
    s.push_str(&t.to_string());
    s.push('\n');
    for (what, why) in &r.skipped {
        s.push_str(&format!("skipped {what}: {why}\n"));
    }
    s
}

/// The Markdown page.
pub fn markdown(r: &TuneReport) -> String {
    let mut s = format!("# `qbench tune`: {} on {}\n\n", r.scenario, r.backend);
    for line in summary(r) {
        s.push_str(&format!("{line}  \n"));
    }
    s.push_str(
        "\nEvery candidate was measured on the tuning split (the calibration split) on this \
         backend: top-1 from a run of the whole split, p50 from at least 300 timed batch-1 runs and \
         0.3 s after 20 warm-up runs; the four fastest passing candidates are measured again in \
         eight interleaved rounds and keep the median. The evaluation split was read only by the final `compare`.\n\n",
    );
    s.push_str(&format!("| {} |\n", HEADER.join(" | ")));
    s.push_str(&format!("|{}\n", "---|".repeat(HEADER.len())));
    for row in rows(r) {
        s.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    if !r.skipped.is_empty() {
        s.push('\n');
        for (what, why) in &r.skipped {
            s.push_str(&format!("- skipped {what}: {why}\n"));
        }
    }
    s
}

/// Writes `tune.json` and `tune.md` in `dir` (atomically).
pub fn write(r: &TuneReport, dir: &Path) -> Result<Vec<PathBuf>> {
    let json = dir.join("tune.json");
    write_atomic(&json, (serde_json::to_string_pretty(r)? + "\n").as_bytes())?;
    let md = dir.join("tune.md");
    write_atomic(&md, markdown(r).as_bytes())?;
    Ok(vec![json, md])
}
