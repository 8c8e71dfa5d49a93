//! `qbench publish`: turns a results file into a page that can be published as is —
//! `results/<scenario>/README.md` with one row per technique and one column group per backend
//! (like llama-bench's Markdown output), the environment block, the techniques' settings, and
//! three SVG charts beside it: accuracy against latency with the Pareto front, speed-up against
//! FP32 per backend, and artifact size per technique.

mod machines;
pub mod svg;
mod training_cost;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::check::load_run;
use crate::record::{Row, Run, Status};
use crate::registry::FP32;
use crate::report::{bytes, environment, top1_change, write_atomic};
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
    Some(p50(run.fp32_of(r)?)? / p50(r)?)
}

/// Cell throughput / FP32 throughput on the same backend, batch and threads.
fn throughput_ratio(run: &Run, r: &Row) -> Option<f64> {
    let base = run.fp32_of(r)?;
    (r.status == Status::Ok).then_some(())?;
    Some(r.throughput_ips? / base.throughput_ips?)
}

/// Whether the run measured accuracy on labelled data (else fidelity against FP32 only).
fn labelled(run: &Run) -> bool {
    run.metric.as_deref().is_none_or(|m| m == "top1")
}

/// `v [lo, hi]` with `digits` decimals, or `-`.
fn with_ci(v: Option<f64>, ci: Option<[f64; 2]>, scale: f64, digits: usize) -> String {
    match (v, ci) {
        (Some(v), Some([lo, hi])) => format!(
            "{:.d$} [{:.d$}, {:.d$}]",
            v * scale,
            lo * scale,
            hi * scale,
            d = digits
        ),
        (Some(v), None) => format!("{:.d$}", v * scale, d = digits),
        _ => "-".into(),
    }
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

/// Fidelity of each cell's outputs against FP32 on the same backend.
fn fidelity_table(run: &Run, bs: &[String], s: &mut String) -> Result<()> {
    let n = run.settings.eval_samples;
    writeln!(
        s,
        "\n## Fidelity against FP32 on the same backend\n\nOn the same {n} evaluation samples: \
         top-1 agreement with the FP32 model's predictions (Wilson 95% interval) / mean cosine \
         similarity of each sample's outputs (95% interval) / signal-to-quantization-noise ratio \
         of the outputs (dB) / mean KL divergence of the softmax outputs (nats, classifiers with \
         labels).\n"
    )?;
    let header: Vec<String> = std::iter::once("technique".to_string())
        .chain(bs.iter().map(|b| format!("{b} agree / cos / SQNR / KL")))
        .collect();
    writeln!(s, "| {} |", header.join(" | "))?;
    writeln!(s, "|{}", header.iter().map(|_| "---|").collect::<String>())?;
    let mut others: Vec<String> = Vec::new();
    for t in techniques(run).iter().filter(|t| t.as_str() != FP32) {
        let mut line = vec![format!("`{t}`")];
        for b in bs {
            line.push(match cell(run, t, b) {
                Some(r) if r.status == Status::Ok => {
                    let extra = crate::report::other_metrics(r);
                    if !extra.is_empty() {
                        others.push(format!("| `{t}` | {b} | {extra} |"));
                    }
                    let cos = r.metrics.get("cosine");
                    format!(
                        "{} / {} / {} / {}",
                        with_ci(r.agreement_with_fp32, r.agreement_ci95, 100.0, 1),
                        with_ci(cos.map(|c| c.value), cos.and_then(|c| c.ci95), 1.0, 4),
                        r.sqnr_db_vs_fp32.map_or("-".into(), |v| format!("{v:.1}")),
                        r.kl_vs_fp32.map_or("-".into(), |v| format!("{v:.1e}")),
                    )
                }
                Some(r) => r.status.as_str().into(),
                None => "not run".into(),
            });
        }
        writeln!(s, "| {} |", line.join(" | "))?;
    }
    if !others.is_empty() {
        writeln!(
            s,
            "\nThe scenario's other metrics (95% interval where the metric has one):\n\n| \
             technique | backend | metrics |\n|---|---|---|"
        )?;
        for o in others {
            writeln!(s, "{o}")?;
        }
    }
    Ok(())
}

/// What the quality column shows, for the page's introduction.
fn quality_sentence(run: &Run) -> String {
    let n = run.settings.eval_samples;
    if labelled(run) {
        format!(
            "top-1 is on {n} evaluation images, with the change against FP32 on the same backend \
             (`*`: significant at 5% by an exact McNemar test on the same images)."
        )
    } else {
        format!(
            "the data has no labels, so **no accuracy is shown**: each quantized cell is compared \
             with FP32's outputs on the same {n} samples and backend (mean cosine similarity \
             here; agreement, SQNR and the scenario's other metrics below)."
        )
    }
}

/// The page: one column group per backend, or, for merged results of several machines, per
/// machine and backend, with the machines described at the end.
pub fn page(full: &Run, source: &str) -> Result<String> {
    if full.machine_count() == 1 {
        return one_machine_page(full, source, true);
    }
    let names = machines::short_names(full);
    let parts = names.len();
    let columns = machines::by_machine_columns(full, &names);
    let mut s = one_machine_page(&columns, source, false)?;
    let intro = format!(
        "Merged results of {parts} machines (`qbench merge`): every column group is one machine \
         and backend, described under [Machines](#machines).\n\n"
    );
    let mut speedups = String::new();
    machines::speedup_table(&names, &mut speedups)?;
    if let Some(at) = s.find("\n\n") {
        s.insert_str(at + 2, &format!("{intro}{speedups}"));
    }
    machines::legend(full, &names, &mut s)?;
    Ok(s)
}

/// The page of one machine's rows (`environment`: end with its environment block).
fn one_machine_page(full: &Run, source: &str, with_environment: bool) -> Result<String> {
    let main = primary(full);
    let run = &main;
    let bs = backends(run);
    let mut s = String::new();
    writeln!(s, "# qbench results: `{}`\n", run.scenario)?;
    writeln!(
        s,
        "Generated by `qbench publish` from `{source}`: a {} run (`{}`). Latency is the p50 at \
         batch {} ({} threads) with its speed-up against FP32 on the same backend; throughput is \
         in samples per second at batch {}, against FP32's on the same backend; {} Each p50 is \
         over {} latency round(s) per cell; its 95% interval, which covers the spread between \
         rounds, is in the JSON and CSV.\n",
        if run.settings.quick {
            "QUICK (not for publication)"
        } else {
            "full"
        },
        run.command,
        run.settings.batch.first().copied().unwrap_or(1),
        run.settings.threads.first().copied().unwrap_or(1),
        run.settings.throughput_batch,
        quality_sentence(run),
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
        header.push(format!("{b} samples/s (vs fp32)"));
        header.push(format!(
            "{b} {}",
            if labelled(run) { "top-1 %" } else { "cosine" }
        ));
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
                        (Some(l), Some(x)) if t != FP32 => format!("{l:.3} ({x:.2}x)"),
                        (Some(l), _) => format!("{l:.3}"),
                        _ => "-".into(),
                    };
                    let tput = match (r.throughput_ips, throughput_ratio(run, r)) {
                        (Some(v), Some(x)) if t != FP32 => format!("{v:.1} ({x:.2}x)"),
                        (Some(v), _) => format!("{v:.1}"),
                        _ => "-".into(),
                    };
                    let acc = match (r.accuracy, r.accuracy_delta_vs_fp32) {
                        _ if !labelled(run) => {
                            r.cosine_vs_fp32.map_or("-".into(), |c| format!("{c:.4}"))
                        }
                        (Some(a), Some(d)) => {
                            format!("{:.2} ({})", a * 100.0, top1_change(d, r.mcnemar_p, 2))
                        }
                        (Some(a), None) => format!("{:.2}", a * 100.0),
                        _ => "-".into(),
                    };
                    line.push(lat);
                    line.push(tput);
                    line.push(acc);
                }
                Some(r) => {
                    line.push(r.status.as_str().into());
                    line.push("-".into());
                    line.push("-".into());
                }
                None => {
                    line.push("not run".into());
                    line.push("-".into());
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
    training_cost::section(run, &bs, &mut s)?;
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
    if with_environment {
        let mut env = Vec::new();
        environment(run, &mut env)?;
        s.push_str(&String::from_utf8_lossy(&env));
    }
    Ok(s)
}

/// The three charts of the run's first batch size and thread count, as (file name, SVG text).
pub fn charts(full: &Run) -> Vec<(&'static str, String)> {
    if full.machine_count() > 1 {
        // One series per machine and backend.
        return charts(&machines::by_machine_columns(
            full,
            &machines::short_names(full),
        ));
    }
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
                y: if labelled(run) {
                    r.accuracy? * 100.0
                } else {
                    r.cosine_vs_fp32?
                },
                series: bs.iter().position(|b| *b == r.backend)?,
                label: format!("{} ({})", r.technique, r.backend),
            })
        })
        .collect();
    let front = svg::pareto_front(&points);
    let (what, axis) = if labelled(run) {
        ("top-1 against latency", "top-1 accuracy (%)")
    } else {
        (
            "fidelity against latency",
            "mean cosine similarity with FP32's outputs",
        )
    };
    let scatter = svg::scatter(
        &title(what),
        &format!("p50 latency at batch {batch} (ms, log scale)"),
        axis,
        &bs,
        &points,
        &front,
    );
    let speed: Vec<Group> = ts
        .iter()
        .filter(|t| t.as_str() != FP32)
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
        assert!(s.contains("| technique | format | size | ort p50 ms (vs fp32) | ort samples/s (vs fp32) | ort top-1 % | tract p50 ms (vs fp32) | tract samples/s (vs fp32) | tract top-1 % |"), "{s}");
        assert!(s.contains("| `fp32` | fp32 | 302.7 KiB | 2.000 | "), "{s}");
        assert!(s.contains(" | 91.23 | failed | - | - |"), "{s}");
        assert!(s.contains("`fp32` on tract: failed: tract cannot load x.onnx: truncated"));
        assert!(s.contains("Test CPU"));
        let c = charts(&run);
        assert_eq!(c.len(), 3);
        assert!(c.iter().all(|(_, svg)| svg.starts_with("<svg")));
    }

    #[test]
    fn a_fidelity_run_shows_no_accuracy_and_its_other_metrics() {
        let mut run = crate::report::fixture::run();
        run.metric = Some("fidelity (no labelled data)".into());
        let mut q = run.rows[0].clone();
        q.technique = "int8".into();
        q.accuracy = None;
        q.accuracy_ci95 = None;
        q.throughput_ips = Some(2469.0);
        q.latency_ms = crate::measure::stats::LatencyStats::from_samples(&[0.5, 1.0, 1.5]);
        q.cosine_vs_fp32 = Some(0.99);
        q.agreement_ci95 = Some([0.8, 0.9]);
        q.agreement_with_fp32 = Some(0.85);
        q.metrics.insert(
            "cosine".into(),
            crate::metrics::Score {
                value: 0.99,
                ci95: Some([0.985, 0.995]),
            },
        );
        q.metrics.insert(
            "mask-iou".into(),
            crate::metrics::Score {
                value: 0.91,
                ci95: None,
            },
        );
        run.rows.push(q);
        let s = page(&run, "compare.json").unwrap();
        assert!(s.contains("no accuracy is shown"), "{s}");
        assert!(s.contains("| ort cosine |"), "{s}");
        // Latency 2x and throughput 2x FP32's; cosine in the quality column.
        assert!(
            s.contains("| 1.000 (2.00x) | 2469.0 (2.00x) | 0.9900 |"),
            "{s}"
        );
        assert!(
            s.contains("85.0 [80.0, 90.0] / 0.9900 [0.9850, 0.9950]"),
            "{s}"
        );
        assert!(s.contains("| `int8` | ort | mask-iou 0.9100 |"), "{s}");
        assert!(!s.contains("top-1 %"), "{s}");
        let (_, scatter) = &charts(&run)[0];
        assert!(scatter.contains("cosine"));
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
