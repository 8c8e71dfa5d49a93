//! `qbench publish`: turns a results file into a page that can be published as is —
//! `results/<scenario>/README.md` with one row per technique and one column group per backend
//! (like llama-bench's Markdown output), the environment block, the techniques' settings, and
//! three SVG charts beside it: accuracy against latency with the Pareto front, speed-up against
//! FP32 per backend, and artifact size per technique.

pub mod svg;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::check::load_run;
use crate::record::{Row, Run, Status};
use crate::report::{bytes, environment, write_atomic};
use svg::{Group, Point};

/// Chart files written next to the page.
pub const CHARTS: [&str; 3] = ["accuracy_vs_latency.svg", "speedup.svg", "size.svg"];

fn backends(run: &Run) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for r in &run.rows {
        if !v.contains(&r.backend) {
            v.push(r.backend.clone());
        }
    }
    v
}

fn techniques(run: &Run) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for r in &run.rows {
        if !v.contains(&r.technique) {
            v.push(r.technique.clone());
        }
    }
    v
}

fn cell<'a>(run: &'a Run, technique: &str, backend: &str) -> Option<&'a Row> {
    run.rows
        .iter()
        .find(|r| r.technique == technique && r.backend == backend)
}

fn p50(r: &Row) -> Option<f64> {
    (r.status == Status::Ok)
        .then(|| r.latency_ms.as_ref().map(|l| l.p50))
        .flatten()
}

/// FP32 p50 / p50 of the cell (above 1 = faster than FP32 on that backend, batch, threads).
fn speedup(run: &Run, r: &Row) -> Option<f64> {
    let base = run
        .rows
        .iter()
        .find(|f| {
            f.technique == "fp32"
                && f.backend == r.backend
                && f.batch == r.batch
                && f.threads == r.threads
        })
        .and_then(p50)?;
    Some(base / p50(r)?)
}

/// The run restricted to its first batch size and thread count: the page's main table and the
/// charts show one cell per technique and backend; a sweep's other cells get their own table.
pub fn primary(run: &Run) -> Run {
    let batch = run.settings.batch.first().copied();
    let threads = run.settings.threads.first().copied();
    let mut main = run.clone();
    main.rows
        .retain(|r| batch.is_none_or(|b| r.batch == b) && threads.is_none_or(|t| r.threads == t));
    main
}

/// One row per cell of a sweep: latency with its interval, throughput and speed-up.
fn sweep_table(run: &Run, s: &mut String) -> Result<()> {
    writeln!(
        s,
        "\n## Every cell of the sweep\n\n| technique | backend | batch | threads | p50 ms [95% CI] | \
         vs fp32 | img/s (batch {}) |\n|---|---|---|---|---|---|---|",
        run.settings.throughput_batch
    )?;
    for r in &run.rows {
        let lat = match (&r.latency_ms, r.status) {
            (Some(l), Status::Ok) => {
                format!("{:.3} [{:.3}, {:.3}]", l.p50, l.p50_ci95[0], l.p50_ci95[1])
            }
            _ => r.status.as_str().to_string(),
        };
        writeln!(
            s,
            "| `{}` | {} | {} | {} | {lat} | {} | {} |",
            r.technique,
            r.backend,
            r.batch,
            r.threads,
            speedup(run, r).map_or("-".into(), |x| format!("{x:.2}x")),
            r.throughput_ips.map_or("-".into(), |v| format!("{v:.0}")),
        )?;
    }
    Ok(())
}

/// Fidelity of each cell's logits against FP32 on the same backend.
fn fidelity_table(run: &Run, bs: &[String], s: &mut String) -> Result<()> {
    writeln!(
        s,
        "\n## Fidelity against FP32 on the same backend\n\nTop-1 agreement with the FP32 \
         model's predictions / mean KL divergence of the softmax outputs (nats) / \
         signal-to-quantization-noise ratio of the logits (dB).\n"
    )?;
    let header: Vec<String> = std::iter::once("technique".to_string())
        .chain(bs.iter().map(|b| format!("{b} agree / KL / SQNR")))
        .collect();
    writeln!(s, "| {} |", header.join(" | "))?;
    writeln!(s, "|{}", header.iter().map(|_| "---|").collect::<String>())?;
    for t in techniques(run).iter().filter(|t| t.as_str() != "fp32") {
        let mut line = vec![format!("`{t}`")];
        for b in bs {
            line.push(match cell(run, t, b) {
                Some(r) if r.status == Status::Ok => format!(
                    "{} / {} / {}",
                    r.agreement_with_fp32
                        .map_or("-".into(), |a| format!("{:.2}%", a * 100.0)),
                    r.kl_vs_fp32.map_or("-".into(), |v| format!("{v:.1e}")),
                    r.sqnr_db_vs_fp32.map_or("-".into(), |v| format!("{v:.1}")),
                ),
                Some(r) => r.status.as_str().into(),
                None => "not run".into(),
            });
        }
        writeln!(s, "| {} |", line.join(" | "))?;
    }
    Ok(())
}

/// The page.
pub fn page(full: &Run, source: &str) -> Result<String> {
    let main = primary(full);
    let run = &main;
    let bs = backends(run);
    let mut s = String::new();
    writeln!(s, "# qbench results: `{}`\n", run.scenario)?;
    writeln!(
        s,
        "Generated by `qbench publish` from `{source}`: a {} run (`{}`). Latency is the p50 at \
         batch {} ({} threads) with its speed-up against FP32 on the same backend; top-1 is on {} \
         evaluation images, with the change against FP32 on the same backend (`*`: significant at \
         5% by an exact McNemar test on the same images). Each p50 is over {} latency round(s) per \
         cell; its 95% interval, which covers the spread between rounds, is in the JSON and CSV.\n",
        if run.settings.quick {
            "QUICK (not for publication)"
        } else {
            "full"
        },
        run.command,
        run.settings.batch.first().copied().unwrap_or(1),
        run.settings.threads.first().copied().unwrap_or(1),
        run.settings.eval_samples,
        run.settings.rounds
    )?;
    for c in CHARTS {
        writeln!(
            s,
            "![{}]({c})\n",
            c.trim_end_matches(".svg").replace('_', " ")
        )?;
    }
    let mut header = vec!["technique".to_string(), "format".into(), "size".into()];
    for b in &bs {
        header.push(format!("{b} p50 ms (vs fp32)"));
        header.push(format!("{b} top-1 %"));
    }
    writeln!(s, "| {} |", header.join(" | "))?;
    writeln!(s, "|{}", header.iter().map(|_| "---|").collect::<String>())?;
    for t in techniques(run) {
        let any = run.rows.iter().find(|r| r.technique == t).expect("listed");
        let size = run
            .rows
            .iter()
            .filter(|r| r.technique == t)
            .find_map(|r| r.size_bytes.map(|b| (b, r.packed_bytes)));
        let mut line = vec![
            format!("`{t}`"),
            any.format.clone(),
            match size {
                Some((b, Some(p))) => format!("{} (packed {})", bytes(b), bytes(p)),
                Some((b, None)) => bytes(b),
                None => "-".into(),
            },
        ];
        for b in &bs {
            match cell(run, &t, b) {
                Some(r) if r.status == Status::Ok => {
                    let lat = match (p50(r), speedup(run, r)) {
                        (Some(l), Some(x)) if t != "fp32" => format!("{l:.3} ({x:.2}x)"),
                        (Some(l), _) => format!("{l:.3}"),
                        _ => "-".into(),
                    };
                    let acc = match (r.accuracy, r.accuracy_delta_vs_fp32, r.mcnemar_p) {
                        (Some(a), Some(d), p) => format!(
                            "{:.2} ({:+.2}{})",
                            a * 100.0,
                            d * 100.0,
                            if p.is_some_and(|p| p < 0.05) { "*" } else { "" }
                        ),
                        (Some(a), None, _) => format!("{:.2}", a * 100.0),
                        _ => "-".into(),
                    };
                    line.push(lat);
                    line.push(acc);
                }
                Some(r) => {
                    line.push(r.status.as_str().into());
                    line.push("-".into());
                }
                None => {
                    line.push("not run".into());
                    line.push("-".into());
                }
            }
        }
        writeln!(s, "| {} |", line.join(" | "))?;
    }
    fidelity_table(run, &bs, &mut s)?;
    if full.rows.len() > run.rows.len() {
        sweep_table(full, &mut s)?;
    }
    // Why cells did not run, and the settings behind each technique.
    let mut reasons: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut notes: BTreeMap<String, String> = BTreeMap::new();
    for r in &run.rows {
        if r.status != Status::Ok {
            reasons
                .entry(format!("`{}` on {}", r.technique, r.backend))
                .or_default()
                .push(format!(
                    "{}: {}",
                    r.status.as_str(),
                    r.reason.as_deref().unwrap_or("")
                ));
        } else if let Some(n) = &r.notes {
            notes
                .entry(r.technique.clone())
                .or_insert_with(|| n.clone());
        }
    }
    if !reasons.is_empty() {
        writeln!(s, "\n## Cells that did not run\n")?;
        for (k, v) in reasons {
            writeln!(s, "- {k}: {}", v.join("; "))?;
        }
    }
    if !notes.is_empty() {
        writeln!(s, "\n## Settings per technique\n")?;
        for (k, v) in notes {
            writeln!(s, "- `{k}`: {}", v.replace('|', "\\|"))?;
        }
    }
    let mut env = Vec::new();
    environment(run, &mut env)?;
    s.push_str(&String::from_utf8_lossy(&env));
    Ok(s)
}

/// The three charts of the run's first batch size and thread count, as (file name, SVG text).
pub fn charts(full: &Run) -> Vec<(&'static str, String)> {
    let main = primary(full);
    let run = &main;
    let batch = run.settings.batch.first().copied().unwrap_or(1);
    let bs = backends(run);
    let ts = techniques(run);
    let title = |what: &str| format!("{} — {what} ({})", run.scenario, run.machine.cpu);
    let points: Vec<Point> = run
        .rows
        .iter()
        .filter_map(|r| {
            Some(Point {
                x: p50(r)?,
                y: r.accuracy? * 100.0,
                series: bs.iter().position(|b| *b == r.backend)?,
                label: format!("{} ({})", r.technique, r.backend),
            })
        })
        .collect();
    let front = svg::pareto_front(&points);
    let scatter = svg::scatter(
        &title("top-1 against latency"),
        &format!("p50 latency at batch {batch} (ms, log scale)"),
        "top-1 accuracy (%)",
        &bs,
        &points,
        &front,
    );
    let speed: Vec<Group> = ts
        .iter()
        .filter(|t| t.as_str() != "fp32")
        .map(|t| Group {
            label: t.clone(),
            values: bs
                .iter()
                .map(|b| cell(run, t, b).and_then(|r| speedup(run, r)))
                .collect(),
        })
        .collect();
    let speedup_svg = svg::bars(
        &title("speed-up against FP32 on the same backend"),
        "FP32 p50 / technique p50 (x; right of the dashed line = faster than FP32)",
        &bs,
        &speed,
        Some(1.0),
        &|v| format!("{v:.2}x"),
        Some("not measured"),
    );
    let sizes: Vec<Group> = ts
        .iter()
        .map(|t| {
            let r = run.rows.iter().filter(|r| &r.technique == t);
            let size = r.clone().find_map(|r| r.size_bytes);
            let packed = r.clone().find_map(|r| r.packed_bytes);
            Group {
                label: t.clone(),
                values: vec![
                    size.map(|b| b as f64 / 1024.0),
                    packed.map(|b| b as f64 / 1024.0),
                ],
            }
        })
        .collect();
    let size_svg = svg::bars(
        &title("artifact size"),
        "KiB",
        &[
            "artifact on disk".to_string(),
            "packed at true bit width".to_string(),
        ],
        &sizes,
        None,
        &|v| format!("{v:.0} KiB"),
        None,
    );
    vec![
        (CHARTS[0], scatter),
        (CHARTS[1], speedup_svg),
        (CHARTS[2], size_svg),
    ]
}

/// The `publish` command: reads `from` (default `<out>/compare.json`), writes the page and charts
/// into `out` (default `results/<scenario>`), each atomically.
pub fn run(
    scenario: &str,
    from: Option<&Path>,
    out: &Path,
    allow_unoptimized: bool,
) -> Result<Vec<PathBuf>> {
    let source = from
        .map(Path::to_path_buf)
        .unwrap_or_else(|| out.join("compare.json"));
    let run = load_run(&source)?;
    if let Some(why) = crate::measure::build_info::unoptimized(&run, &source) {
        if !allow_unoptimized {
            bail!("{why}");
        }
    }
    if run.scenario != scenario {
        bail!(
            "{} holds scenario {:?}, not {scenario:?}",
            source.display(),
            run.scenario
        );
    }
    if run.rows.is_empty() {
        bail!("{} has no rows to publish", source.display());
    }
    let mut written = Vec::new();
    for (name, text) in charts(&run) {
        let p = out.join(name);
        write_atomic(&p, text.as_bytes())?;
        written.push(p);
    }
    let shown = source
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| source.display().to_string());
    let p = out.join("README.md");
    write_atomic(&p, page(&run, &shown)?.as_bytes())?;
    written.push(p);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_has_backend_columns_and_reasons() {
        let run = crate::report::fixture::run();
        let s = page(&run, "compare.json").unwrap();
        assert!(s.contains("| technique | format | size | ort p50 ms (vs fp32) | ort top-1 % | tract p50 ms (vs fp32) | tract top-1 % |"), "{s}");
        assert!(
            s.contains("| `fp32` | fp32 | 302.7 KiB | 2.000 | 91.23 | failed | - |"),
            "{s}"
        );
        assert!(s.contains("`fp32` on tract: failed: tract cannot load x.onnx: truncated"));
        assert!(s.contains("Test CPU"));
        let c = charts(&run);
        assert_eq!(c.len(), 3);
        assert!(c.iter().all(|(_, svg)| svg.starts_with("<svg")));
    }

    #[test]
    fn wrong_scenario_or_missing_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(run("resnet", None, dir.path(), false).is_err());
        let p = dir.path().join("compare.json");
        let mut buf = Vec::new();
        crate::report::Reporter::render(
            &crate::report::Json,
            &crate::report::fixture::run(),
            &mut buf,
        )
        .unwrap();
        std::fs::write(&p, &buf).unwrap();
        assert!(run("other", None, dir.path(), false).is_err());
        let written = run("resnet", None, dir.path(), false).unwrap();
        assert_eq!(written.len(), 4);
        assert!(dir.path().join("README.md").exists());
    }
}
