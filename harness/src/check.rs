//! `qbench check`: the regression gate. Compares a run with a committed baseline, cell by cell
//! (technique x backend x batch x threads), and decides:
//!
//! * a cell that was `ok` and is now `failed`, `unsupported` or missing: regression;
//! * top-1 dropped by more than the larger of `--max-accuracy-drop` (points) and the noise. On
//!   the same evaluation images (same scenario and sample count) a change is not sampling noise:
//!   the threshold alone applies. On different image sets, the noise is the 95% half-width of
//!   the difference of two independent proportions;
//! * the artifact grew by more than `--max-size-growth` percent;
//! * the latency **ratio to FP32 on the same backend in the same run** (which cancels the
//!   machine's speed) got worse by more than `--max-latency-ratio-growth` percent (quick runs:
//!   `max_quick_latency_ratio_growth`), beyond the backend's common shift: every ratio of a
//!   backend shares one FP32 measurement, so when all of them move together it is the FP32 cell
//!   that moved, and a cell is flagged only if it also grew that much more than the median
//!   growth of its backend's ratios. When the two
//!   runs' CPUs differ (model or ISA flags), ratios are shown but not gated: integer kernels
//!   change with the ISA (e.g. VNNI), so a ratio from another CPU is no baseline.
//!
//! Exit codes (see `main.rs`): 0 no regression, 1 regressions, 2 unusable input.

pub use crate::thresholds::Thresholds;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use tabled::builder::Builder;
use tabled::settings::Style;

use crate::record::{Row, Run, Status};
use crate::registry::FP32;

/// How well two runs of the same cells agree (on a shared, noisy machine absolute times drift between runs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stability {
    /// Cells measured in both runs.
    pub cells: usize,
    /// Cells whose p50 in the run lies in the baseline's 95% median interval or within 5%.
    pub latency_stable: usize,
    /// Cells with identical top-1.
    pub accuracy_identical: usize,
}

/// Compares the measured cells of two runs.
pub fn stability(baseline: &Run, run: &Run) -> Stability {
    let now: HashMap<String, &Row> = run.rows.iter().map(|r| (key(r), r)).collect();
    let mut s = Stability {
        cells: 0,
        latency_stable: 0,
        accuracy_identical: 0,
    };
    for b in baseline.rows.iter().filter(|r| r.status == Status::Ok) {
        let Some(r) = now.get(&key(b)).filter(|r| r.status == Status::Ok) else {
            continue;
        };
        let (Some(bl), Some(rl)) = (&b.latency_ms, &r.latency_ms) else {
            continue;
        };
        s.cells += 1;
        let [lo, hi] = bl.p50_ci95;
        let within_ci = lo <= rl.p50 && rl.p50 <= hi;
        let within_5 = (rl.p50 / bl.p50 - 1.0).abs() <= 0.05;
        if within_ci || within_5 {
            s.latency_stable += 1;
        }
        if b.accuracy == r.accuracy {
            s.accuracy_identical += 1;
        }
    }
    s
}

/// One finding.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub cell: String,
    pub what: &'static str,
    pub baseline: String,
    pub run: String,
    pub regression: bool,
    /// For a latency finding: the cell, so that `--confirm` can measure it again.
    pub latency_cell: Option<CellRef>,
}

/// A cell of a run, by what `compare` takes to measure it again.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CellRef {
    pub technique: String,
    pub backend: String,
    pub batch: usize,
    pub threads: usize,
}

impl CellRef {
    fn of(r: &Row) -> Self {
        Self {
            technique: r.technique.clone(),
            backend: r.backend.clone(),
            batch: r.batch,
            threads: r.threads,
        }
    }
}

/// The gate's verdict.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub compared: usize,
    pub findings: Vec<Finding>,
    /// Why latency was not gated, if it was not.
    pub latency_not_gated: Option<String>,
    /// What the gate could not judge (a cell it skipped, defaults it fell back to); `--strict`
    /// fails on any.
    pub warnings: Vec<String>,
}

impl Verdict {
    pub fn regressions(&self) -> usize {
        self.findings.iter().filter(|f| f.regression).count()
    }
}

/// Reads a results JSON file; any problem is an error naming the file, and so is a run that did
/// not finish (its cells are a part of the plan: gating or publishing it would mislead).
pub fn load_run(path: &Path) -> Result<Run> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let run: Run = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a qbench results file", path.display()))?;
    if !run.complete {
        let why = match &run.stopped {
            Some(reason) => format!("it was {reason}"),
            None => "it was interrupted or is still going".into(),
        };
        bail!(
            "{} is an incomplete run ({} cells written, `complete: false`): {why}; run `qbench \
             compare` to the end",
            path.display(),
            run.rows.len()
        );
    }
    Ok(run)
}

pub(crate) fn key(r: &Row) -> String {
    format!(
        "{} / {} (batch {}, {} threads)",
        r.technique, r.backend, r.batch, r.threads
    )
}

/// p50 latency of a cell divided by the FP32 cell's on the same backend in the same run.
pub(crate) fn latency_ratios(run: &Run) -> HashMap<String, f64> {
    run.rows
        .iter()
        .filter_map(|r| {
            let base = run.fp32_of(r)?.latency_ms.as_ref()?.p50;
            let p50 = r.latency_ms.as_ref()?.p50;
            (base > 0.0).then(|| (key(r), p50 / base))
        })
        .collect()
}

/// 95% half-width of the difference of two independent proportions.
fn noise(p1: f64, n1: usize, p2: f64, n2: usize) -> f64 {
    let v = |p: f64, n: usize| {
        if n == 0 {
            0.0
        } else {
            p * (1.0 - p) / n as f64
        }
    };
    1.959_963_984_540_054 * (v(p1, n1) + v(p2, n2)).sqrt()
}

/// Compares `run` with `baseline`.
pub fn compare(baseline: &Run, run: &Run, t: &Thresholds) -> Result<Verdict> {
    if baseline.rows.is_empty() {
        bail!("the baseline has no rows: there is nothing to gate against");
    }
    if !baseline.rows.iter().any(|r| r.status == Status::Ok) {
        bail!("the baseline has no measured (ok) cell: there is nothing to gate against");
    }
    if baseline.scenario != run.scenario {
        bail!(
            "the baseline is for scenario {:?} but the run is for {:?}",
            baseline.scenario,
            run.scenario
        );
    }
    if baseline.settings.quick != run.settings.quick {
        bail!(
            "the baseline is a {} run but the run is a {} run",
            if baseline.settings.quick {
                "--quick"
            } else {
                "full"
            },
            if run.settings.quick {
                "--quick"
            } else {
                "full"
            }
        );
    }
    let same_cpu =
        baseline.machine.cpu == run.machine.cpu && baseline.machine.isa == run.machine.isa;
    let latency_not_gated = (!same_cpu).then(|| {
        format!(
            "CPU differs ({} [{}] vs {} [{}])",
            baseline.machine.cpu,
            baseline.machine.isa.join(" "),
            run.machine.cpu,
            run.machine.isa.join(" ")
        )
    });
    let now: HashMap<String, &Row> = run.rows.iter().map(|r| (key(r), r)).collect();
    let (base_ratio, run_ratio) = (latency_ratios(baseline), latency_ratios(run));
    let latency_limit = t.latency_limit(run.settings.quick);
    // Growth of every latency ratio, per backend: the shift they share comes through FP32.
    let mut growths: HashMap<&str, Vec<(String, f64)>> = HashMap::new();
    for b in baseline.rows.iter().filter(|r| r.technique != FP32) {
        let k = key(b);
        if let (Some(bq), Some(rq)) = (base_ratio.get(&k), run_ratio.get(&k)) {
            growths
                .entry(b.backend.as_str())
                .or_default()
                .push((k, rq / bq));
        }
    }
    // The median growth of the *other* cells of the backend (1 when there are none).
    let common = |backend: &str, cell: &str| -> f64 {
        let mut g: Vec<f64> = growths
            .get(backend)
            .map(|v| {
                v.iter()
                    .filter(|(k, _)| k != cell)
                    .map(|(_, g)| *g)
                    .collect()
            })
            .unwrap_or_default();
        if g.is_empty() {
            return 1.0;
        }
        g.sort_by(|x, y| x.total_cmp(y));
        g[g.len() / 2]
    };
    let mut findings = Vec::new();
    let mut warnings = Vec::new();
    let mut compared = 0;
    for (which, r) in [("baseline", baseline), ("run", run)] {
        for f in r
            .rows
            .iter()
            .filter(|f| f.technique == FP32 && f.status == Status::Ok)
        {
            if !f.latency_ms.as_ref().is_some_and(|l| l.p50 > 0.0) {
                warnings.push(format!(
                    "{}: the {which}'s FP32 cell has no positive p50, so no latency ratio of its backend is gated",
                    key(f)
                ));
            }
        }
    }
    for b in &baseline.rows {
        let k = key(b);
        let Some(r) = now.get(&k) else {
            if b.status == Status::Ok {
                findings.push(Finding {
                    cell: k,
                    what: "status",
                    baseline: "ok".into(),
                    run: "missing".into(),
                    regression: true,
                    latency_cell: None,
                });
            }
            continue;
        };
        compared += 1;
        if b.status != r.status {
            findings.push(Finding {
                cell: k.clone(),
                what: "status",
                baseline: b.status.as_str().into(),
                run: format!(
                    "{}{}",
                    r.status.as_str(),
                    r.reason
                        .as_deref()
                        .map(|s| format!(": {s}"))
                        .unwrap_or_default()
                ),
                regression: b.status == Status::Ok,
                latency_cell: None,
            });
        }
        if b.status != Status::Ok || r.status != Status::Ok {
            continue;
        }
        match (b.accuracy, r.accuracy) {
            (Some(_), None) => warnings.push(format!(
                "{k}: the baseline has a top-1 but the run has none, so top-1 is not gated"
            )),
            (None, Some(_)) => warnings.push(format!(
                "{k}: the run has a top-1 but the baseline has none, so top-1 is not gated"
            )),
            _ => {}
        }
        if let (Some(ba), Some(ra)) = (b.accuracy, r.accuracy) {
            let same_images = b.eval_samples == r.eval_samples;
            let sampling = if same_images {
                0.0
            } else {
                noise(
                    ba,
                    b.eval_samples.unwrap_or(0),
                    ra,
                    r.eval_samples.unwrap_or(0),
                )
            };
            let allowed = (t.max_accuracy_drop / 100.0).max(sampling);
            if ba - ra > 1e-12 {
                findings.push(Finding {
                    cell: k.clone(),
                    what: "top-1",
                    baseline: format!("{:.2}%", ba * 100.0),
                    run: format!("{:.2}% (allowed drop {:.2})", ra * 100.0, allowed * 100.0),
                    regression: ba - ra > allowed,
                    latency_cell: None,
                });
            }
        }
        if let (Some(bs), Some(rs)) = (b.size_bytes, r.size_bytes) {
            let growth = (rs as f64 / bs.max(1) as f64 - 1.0) * 100.0;
            if growth > 0.0 {
                findings.push(Finding {
                    cell: k.clone(),
                    what: "size",
                    baseline: format!("{bs} B"),
                    run: format!("{rs} B ({growth:+.1}%)"),
                    regression: growth > t.max_size_growth,
                    latency_cell: None,
                });
            }
        }
        if b.technique != FP32 {
            if let (Some(bq), Some(rq)) = (base_ratio.get(&k), run_ratio.get(&k)) {
                let growth = (rq / bq - 1.0) * 100.0;
                let shift = common(b.backend.as_str(), &k);
                let beyond = (rq / bq / shift - 1.0) * 100.0;
                if growth > latency_limit / 2.0 {
                    findings.push(Finding {
                        cell: k.clone(),
                        what: "latency / fp32",
                        baseline: format!("{bq:.2}x"),
                        run: format!(
                            "{rq:.2}x ({growth:+.0}%; {beyond:+.0}% beyond the backend's median shift)"
                        ),
                        regression: same_cpu && growth > latency_limit && beyond > latency_limit,
                        latency_cell: Some(CellRef::of(b)),
                    });
                }
            }
        }
    }
    Ok(Verdict {
        compared,
        findings,
        latency_not_gated,
        warnings,
    })
}

/// The default run to check: the results file beside the baseline for the same mode.
pub fn default_run_path(baseline: &Path, quick: bool) -> PathBuf {
    baseline.parent().unwrap_or(Path::new(".")).join(if quick {
        "quick.json"
    } else {
        "compare.json"
    })
}

/// The `check` command: loads both files, resolves thresholds (defaults, then the scenario's
/// `[check]` table, then the command line), prints the verdict; `Ok(false)` on regressions.
pub fn run(dir: &Path, args: &crate::cli::CheckArgs) -> Result<bool> {
    let baseline = load_run(&args.baseline)?;
    let run_path = args
        .run
        .clone()
        .unwrap_or_else(|| default_run_path(&args.baseline, baseline.settings.quick));
    let run = load_run(&run_path)?;
    if !args.allow_unoptimized {
        for (r, p) in [
            (&baseline, args.baseline.as_path()),
            (&run, run_path.as_path()),
        ] {
            if let Some(why) = crate::measure::build_info::unoptimized(r, p) {
                bail!("{why}");
            }
        }
    }
    let mut scenario_warning = None;
    let mut t = match crate::scenario::Scenario::load(dir, &baseline.scenario) {
        Ok(s) => s.check.unwrap_or_default(),
        Err(e) => {
            scenario_warning = Some(format!(
                "the scenario {:?} cannot be loaded ({e:#}), so its [check] thresholds are not used: defaults apply",
                baseline.scenario
            ));
            Thresholds::default()
        }
    };
    if let Some(v) = args.max_accuracy_drop {
        t.max_accuracy_drop = v;
    }
    if let Some(v) = args.max_size_growth {
        t.max_size_growth = v;
    }
    if let Some(v) = args.max_latency_ratio_growth {
        t.max_latency_ratio_growth = v;
        t.max_quick_latency_ratio_growth = v;
    }
    let mut verdict =
        crate::check_machines::compare_machines(&baseline, &run, &t).with_context(|| {
            format!(
                "checking {} against {}",
                run_path.display(),
                args.baseline.display()
            )
        })?;
    verdict.warnings.extend(scenario_warning);
    if args.confirm && run.machines.len() > 1 {
        verdict.warnings.push(
            "--confirm measures flagged cells again on this machine: not done for results of \
             several machines"
                .into(),
        );
    } else if args.confirm {
        let limit = t.latency_limit(run.settings.quick);
        if let Err(e) = crate::check_confirm::confirm(dir, &baseline, &run, &mut verdict, limit) {
            verdict.warnings.push(format!(
                "the flagged latency cells could not be measured again, so they stay regressions: {e:#}"
            ));
        }
    }
    let st = crate::check_machines::stability_machines(&baseline, &run);
    println!(
        "checking {} against baseline {} (scenario {}, {}; thresholds: top-1 drop {} pts, size +{}%, latency/fp32 +{}%)",
        run_path.display(),
        args.baseline.display(),
        baseline.scenario,
        if baseline.settings.quick { "quick" } else { "full" },
        t.max_accuracy_drop,
        t.max_size_growth,
        t.latency_limit(baseline.settings.quick)
    );
    if st.cells > 0 {
        println!(
            "stability: p50 within the baseline's 95% median interval or 5%: {}/{} cells ({:.0}%); identical top-1: {}/{}",
            st.latency_stable,
            st.cells,
            100.0 * st.latency_stable as f64 / st.cells as f64,
            st.accuracy_identical,
            st.cells
        );
    }
    let passed = report(&verdict, &mut std::io::stdout())?;
    if args.strict && !verdict.warnings.is_empty() {
        bail!(
            "--strict: {} warning(s) above: the gate could not judge everything",
            verdict.warnings.len()
        );
    }
    Ok(passed)
}

/// Prints the verdict; returns whether the gate passes.
pub fn report(v: &Verdict, out: &mut dyn std::io::Write) -> Result<bool> {
    if !v.findings.is_empty() {
        let mut b = Builder::default();
        b.push_record(["cell", "what", "baseline", "run", "verdict"]);
        for f in &v.findings {
            b.push_record([
                f.cell.clone(),
                f.what.to_string(),
                f.baseline.clone(),
                f.run.clone(),
                if f.regression { "REGRESSION" } else { "ok" }.to_string(),
            ]);
        }
        writeln!(out, "{}", b.build().with(Style::markdown()))?;
    }
    if let Some(why) = &v.latency_not_gated {
        writeln!(out, "latency ratios not gated: {why}")?;
    }
    for w in &v.warnings {
        writeln!(out, "warning: {w}")?;
    }
    let n = v.regressions();
    if n == 0 {
        writeln!(out, "no regressions ({} cells compared)", v.compared)?;
    } else {
        writeln!(out, "{n} regression(s) in {} cells compared", v.compared)?;
    }
    Ok(n == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::stats::LatencyStats;

    /// The report fixture plus an int8 row on ort at 2x the FP32 latency.
    fn baseline() -> Run {
        let mut run = crate::report::fixture::run();
        let mut q = run.rows[0].clone();
        q.technique = "int8".into();
        q.latency_ms = LatencyStats::from_samples(&[3.0, 4.0, 5.0]);
        q.size_bytes = Some(100_000);
        q.accuracy = Some(0.91);
        run.rows.push(q);
        run
    }

    fn verdict(b: &Run, r: &Run) -> Verdict {
        compare(b, r, &Thresholds::default()).unwrap()
    }

    #[test]
    fn a_run_passes_against_itself() {
        let b = baseline();
        let v = verdict(&b, &b);
        assert_eq!((v.compared, v.regressions()), (3, 0));
        let mut out = Vec::new();
        assert!(report(&v, &mut out).unwrap());
        assert!(String::from_utf8(out)
            .unwrap()
            .contains("no regressions (3 cells compared)"));
    }

    #[test]
    fn what_the_gate_cannot_judge_is_said() {
        let b = baseline();
        assert!(verdict(&b, &b).warnings.is_empty());
        // An empty baseline, or one without a measured cell, is an error, not a pass.
        let mut empty = b.clone();
        empty.rows.clear();
        let err = compare(&empty, &b, &Thresholds::default()).unwrap_err();
        assert!(err.to_string().contains("no rows"), "{err}");
        let mut failed = b.clone();
        failed.rows.retain(|r| r.status != Status::Ok);
        assert!(compare(&failed, &b, &Thresholds::default()).is_err());
        // A run without the top-1 the baseline has, and an FP32 cell with a p50 of 0.
        let mut r = b.clone();
        r.rows[2].accuracy = None;
        r.rows[0].latency_ms = LatencyStats::from_samples(&[0.0, 0.0, 0.0]);
        let v = verdict(&b, &r);
        assert_eq!(v.regressions(), 0);
        assert_eq!(v.warnings.len(), 2, "{:?}", v.warnings);
        assert!(v.warnings.iter().any(|w| w.contains("top-1 is not gated")));
        assert!(v.warnings.iter().any(|w| w.contains("no positive p50")));
        let mut out = Vec::new();
        report(&v, &mut out).unwrap();
        assert!(String::from_utf8(out).unwrap().contains("warning: "));
    }

    #[test]
    fn degraded_runs_fail() {
        let b = baseline();
        // Accuracy: -1 point on the same 10,000 images is beyond 0.5 points.
        let mut r = b.clone();
        r.rows[2].accuracy = Some(0.90);
        assert_eq!(verdict(&b, &r).regressions(), 1);
        // On a different image set of 500, 1 point is within the sampling noise (~3.8 points).
        r.rows[2].eval_samples = Some(500);
        assert_eq!(verdict(&b, &r).regressions(), 0);
        r.rows[2].eval_samples = Some(10_000);
        // -0.3 points: within the threshold.
        r.rows[2].accuracy = Some(0.907);
        let v = verdict(&b, &r);
        assert_eq!(v.regressions(), 0);
        assert_eq!(v.findings.len(), 1, "reported, not failed");
        // Size +10%.
        let mut r = b.clone();
        r.rows[2].size_bytes = Some(110_000);
        assert_eq!(verdict(&b, &r).regressions(), 1);
        // Latency ratio to FP32 from 2x to 4x; the same slowdown of every cell passes.
        let mut r = b.clone();
        r.rows[2].latency_ms = LatencyStats::from_samples(&[7.0, 8.0, 9.0]);
        assert_eq!(verdict(&b, &r).regressions(), 1);
        let mut r = b.clone();
        r.rows[0].latency_ms = LatencyStats::from_samples(&[2.0, 4.0, 6.0]);
        r.rows[2].latency_ms = LatencyStats::from_samples(&[6.0, 8.0, 10.0]);
        assert_eq!(verdict(&b, &r).regressions(), 0);
        // A shift shared by every cell of the backend (the FP32 cell was measured fast) passes.
        let mut base2 = b.clone();
        let mut q2 = base2.rows[2].clone();
        q2.technique = "int4".into();
        base2.rows.push(q2);
        let mut r = base2.clone();
        r.rows[0].latency_ms = LatencyStats::from_samples(&[0.5, 1.0, 1.5]);
        let v = verdict(&base2, &r);
        assert_eq!(v.regressions(), 0, "{:?}", v.findings);
        // ... while one cell growing alone beyond that fails.
        r.rows[0].latency_ms = LatencyStats::from_samples(&[1.0, 2.0, 3.0]);
        r.rows[3].latency_ms = LatencyStats::from_samples(&[9.0, 10.0, 11.0]);
        assert_eq!(verdict(&base2, &r).regressions(), 1);
        // ... but not gated on another CPU.
        let mut r = b.clone();
        r.rows[2].latency_ms = LatencyStats::from_samples(&[7.0, 8.0, 9.0]);
        r.machine.isa.push("avx512_vnni".into());
        let v = verdict(&b, &r);
        assert_eq!(v.regressions(), 0);
        assert!(v.latency_not_gated.is_some());
        // Status: ok -> failed, and a missing cell.
        let mut r = b.clone();
        r.rows[2].status = Status::Failed;
        r.rows[2].reason = Some("crashed".into());
        assert_eq!(verdict(&b, &r).regressions(), 1);
        let mut r = b.clone();
        r.rows.pop();
        assert_eq!(verdict(&b, &r).regressions(), 1);
        let mut out = Vec::new();
        assert!(!report(&verdict(&b, &r), &mut out).unwrap());
        assert!(String::from_utf8(out).unwrap().contains("REGRESSION"));
    }

    #[test]
    fn stability_counts_cells_within_interval_or_five_percent() {
        let b = baseline();
        let s = stability(&b, &b);
        assert_eq!((s.cells, s.latency_stable, s.accuracy_identical), (2, 2, 2));
        let mut r = b.clone();
        // fp32 p50 2.0, interval [1, 3]: 2.9 is inside; int8 p50 4.0 -> 4.15 is within 5%.
        r.rows[0].latency_ms = LatencyStats::from_samples(&[2.9, 2.9, 2.9]);
        r.rows[2].latency_ms = LatencyStats::from_samples(&[4.15, 4.15, 4.15]);
        assert_eq!(stability(&b, &r).latency_stable, 2);
        r.rows[2].latency_ms = LatencyStats::from_samples(&[6.0, 6.0, 6.0]);
        r.rows[2].accuracy = Some(0.5);
        let s = stability(&b, &r);
        assert_eq!((s.latency_stable, s.accuracy_identical), (1, 1));
    }

    #[test]
    fn unusable_input_is_an_error() {
        let b = baseline();
        let mut r = b.clone();
        r.scenario = "other".into();
        assert!(compare(&b, &r, &Thresholds::default()).is_err());
        let mut r = b.clone();
        r.settings.quick = true;
        assert!(compare(&b, &r, &Thresholds::default()).is_err());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.json");
        std::fs::write(&p, "{\"scenario\": 1").unwrap();
        let err = load_run(&p).unwrap_err().to_string();
        assert!(err.contains("bad.json"), "{err}");
        assert!(load_run(&dir.path().join("missing.json")).is_err());
        // An interrupted run's file is refused; one without the field (older files) is complete.
        let mut partial = b.clone();
        partial.complete = false;
        let p = dir.path().join("quick.partial.json");
        std::fs::write(&p, serde_json::to_vec(&partial).unwrap()).unwrap();
        let err = load_run(&p).unwrap_err().to_string();
        assert!(
            err.contains("incomplete run") && err.contains("3 cells"),
            "{err}"
        );
        let mut old = serde_json::to_value(&b).unwrap();
        old.as_object_mut().unwrap().remove("complete");
        std::fs::write(&p, serde_json::to_vec(&old).unwrap()).unwrap();
        assert!(load_run(&p).unwrap().complete);
    }
}
