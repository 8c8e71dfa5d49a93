//! `qbench check --confirm`: a latency regression must happen twice.
//!
//! On a shared machine one short measurement can be slow by chance: a neighbour's burst during
//! the FP32 cell or during the cell itself moves a latency ratio by 2x or more (measured on
//! the resnet quick run: candle's FP32 p50 was 0.67 ms in one run and 1.12 ms in another, on
//! the same code and machine, which moved every candle ratio with it). Every latency ratio the
//! gate flags is therefore measured again, in a fresh `qbench compare` of just those cells and
//! their backends' FP32 cells with twice the latency runs, and stays a regression only if the
//! new ratio also grew past the limit. A real slowdown reproduces; a chance one does not.
//! Status, accuracy and size findings are deterministic and never re-measured.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::check::{latency_ratios, load_run, Verdict};
use crate::record::Run;
use crate::registry::FP32;

/// Measures the flagged latency cells of `verdict` again and clears those that do not
/// reproduce. Returns the number of cells measured again (0 when nothing was flagged).
pub fn confirm(
    scenarios: &Path,
    baseline: &Run,
    run: &Run,
    verdict: &mut Verdict,
    limit: f64,
) -> Result<usize> {
    let cells: Vec<_> = verdict
        .findings
        .iter()
        .filter(|f| f.regression)
        .filter_map(|f| f.latency_cell.clone())
        .collect();
    if cells.is_empty() {
        return Ok(0);
    }
    let dir = tempfile::tempdir().context("cannot create a folder for the re-measurement")?;
    let list = |f: &dyn Fn(&crate::check::CellRef) -> String| {
        cells
            .iter()
            .map(f)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
            .join(",")
    };
    let techniques = format!("{FP32},{}", list(&|c| c.technique.clone()));
    let s = &run.settings;
    let rule = &s.latency_rule;
    let mut args = vec![
        "--scenarios".to_string(),
        scenarios.display().to_string(),
        "compare".into(),
        "--scenario".into(),
        run.scenario.clone(),
        // The whole re-measurement, even inside a Slurm array or an Indexed Job.
        "--shard".into(),
        "1/1".into(),
        "--techniques".into(),
        techniques,
        "--backends".into(),
        list(&|c| c.backend.clone()),
        "--threads".into(),
        list(&|c| c.threads.to_string()),
        "--batch".into(),
        list(&|c| c.batch.to_string()),
        "--rounds".into(),
        (2 * s.rounds.max(1)).to_string(),
        "--min-iters".into(),
        (2 * rule.min_iters).to_string(),
        "--min-seconds".into(),
        (2.0 * rule.min_seconds).to_string(),
        "--max-seconds".into(),
        (2.0 * rule.max_seconds).to_string(),
        "--cell-timeout".into(),
        s.cell_timeout_s.to_string(),
        "--allow-oversubscription".into(),
        "--format".into(),
        "json".into(),
        "--out".into(),
        dir.path().display().to_string(),
    ];
    if s.quick {
        args.push("--quick".into());
    }
    eprintln!(
        "measuring {} flagged latency cell(s) again: {}",
        cells.len(),
        args.join(" ")
    );
    let exe = std::env::current_exe().context("cannot find the qbench executable")?;
    let status = Command::new(exe)
        .args(&args)
        .stdout(Stdio::null())
        .status()
        .context("cannot start the re-measurement")?;
    if !status.success() {
        bail!("the re-measurement (qbench compare) exited with {status}");
    }
    let stem = if s.quick { "quick" } else { "compare" };
    let again = load_run(&dir.path().join(format!("{stem}.json")))?;
    apply(verdict, baseline, &again, limit);
    Ok(cells.len())
}

/// Keeps a flagged latency finding a regression only if `again` (the re-measurement) also
/// puts its ratio more than `limit` percent above the baseline's; says what was measured.
pub fn apply(verdict: &mut Verdict, baseline: &Run, again: &Run, limit: f64) {
    let (base, now) = (latency_ratios(baseline), latency_ratios(again));
    for f in verdict.findings.iter_mut().filter(|f| f.regression) {
        if f.latency_cell.is_none() {
            continue;
        }
        let (Some(b), Some(n)) = (base.get(&f.cell), now.get(&f.cell)) else {
            f.run
                .push_str("; measured again: no ratio (the cell or its FP32 cell did not run)");
            continue;
        };
        let growth = (n / b - 1.0) * 100.0;
        let confirmed = growth > limit;
        f.run.push_str(&format!(
            "; measured again: {n:.2}x ({growth:+.0}%), {}",
            if confirmed {
                "confirmed"
            } else {
                "not confirmed"
            }
        ));
        f.regression = confirmed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{compare, Thresholds};
    use crate::measure::stats::LatencyStats;

    /// FP32 at 1 ms and an int8 cell at `int8_ms` on ort.
    fn run(int8_ms: f64) -> Run {
        let mut run = crate::report::fixture::run();
        run.rows.truncate(1);
        run.rows[0].latency_ms = LatencyStats::from_samples(&[1.0, 1.0, 1.0]);
        let mut q = run.rows[0].clone();
        q.technique = "int8".into();
        q.latency_ms = LatencyStats::from_samples(&[int8_ms, int8_ms, int8_ms]);
        run.rows.push(q);
        run
    }

    fn flagged() -> (Run, Verdict) {
        let baseline = run(1.0);
        let v = compare(&baseline, &run(3.0), &Thresholds::default()).unwrap();
        assert_eq!(v.regressions(), 1, "{v:?}");
        (baseline, v)
    }

    #[test]
    fn a_regression_that_reproduces_stays() {
        let (baseline, mut v) = flagged();
        apply(&mut v, &baseline, &run(2.6), 50.0);
        assert_eq!(v.regressions(), 1);
        assert!(
            v.findings[0].run.contains("2.60x (+160%), confirmed"),
            "{v:?}"
        );
    }

    #[test]
    fn a_chance_slowdown_is_cleared_and_said() {
        let (baseline, mut v) = flagged();
        apply(&mut v, &baseline, &run(1.1), 50.0);
        assert_eq!(v.regressions(), 0);
        assert!(v.findings[0].run.contains("not confirmed"), "{v:?}");
    }

    #[test]
    fn a_cell_missing_from_the_re_measurement_stays_a_regression() {
        let (baseline, mut v) = flagged();
        let mut again = run(1.0);
        again.rows.truncate(1);
        apply(&mut v, &baseline, &again, 50.0);
        assert_eq!(v.regressions(), 1);
        assert!(v.findings[0].run.contains("no ratio"), "{v:?}");
    }

    #[test]
    fn other_findings_are_never_measured_again() {
        let baseline = run(1.0);
        let mut worse = run(1.0);
        worse.rows[1].size_bytes = worse.rows[1].size_bytes.map(|s| s * 2);
        let mut v = compare(&baseline, &worse, &Thresholds::default()).unwrap();
        let before = v.regressions();
        assert_eq!(before, 1, "{v:?}");
        apply(&mut v, &baseline, &run(1.0), 50.0);
        assert_eq!(v.regressions(), before);
    }
}
