//! `qbench check` on merged results: each machine of the run is gated against the baseline's
//! rows of the same machine (integer kernels, and so latency ratios, change with the CPU). Against
//! a baseline of one machine, every machine of the run is gated on status, top-1 and size, and on
//! latency ratios only if it is that machine.

use anyhow::Result;

use crate::check::{compare, stability, Stability, Thresholds, Verdict};
use crate::record::Run;

/// The verdict of `run` against `baseline`, machine by machine. Two runs of one machine each are
/// compared as they are (latency ratios are then gated only if their CPUs match); otherwise a
/// machine of the run is compared with the baseline's part of the same machine id, else with the
/// baseline's only machine if it has one (latency then not gated), else reported as not gated.
pub fn compare_machines(baseline: &Run, run: &Run, t: &Thresholds) -> Result<Verdict> {
    if baseline.machine_count() == 1 && run.machine_count() == 1 {
        return compare(baseline, run, t);
    }
    let base = baseline.by_machine();
    let now = run.by_machine();
    let mut all = Verdict {
        compared: 0,
        findings: Vec::new(),
        latency_not_gated: None,
        warnings: Vec::new(),
    };
    let mut not_gated = Vec::new();
    for (id, part) in &now {
        let b = match base.iter().find(|(m, _)| m == id) {
            Some((_, b)) => b,
            // A baseline of one machine still judges status, top-1 and size (compare() leaves
            // latency ratios ungated across CPUs, and says so).
            None if base.len() == 1 => &base[0].1,
            None => {
                all.warnings.push(format!(
                    "machine {id:?} has no baseline of the same machine: its {} cells are not \
                     gated",
                    part.rows.len()
                ));
                continue;
            }
        };
        let v = compare(b, part, t)?;
        all.compared += v.compared;
        all.findings.extend(v.findings.into_iter().map(|mut f| {
            f.cell = format!("[{id}] {}", f.cell);
            f
        }));
        not_gated.extend(v.latency_not_gated.map(|why| format!("{id}: {why}")));
        all.warnings
            .extend(v.warnings.into_iter().map(|w| format!("[{id}] {w}")));
    }
    for (id, part) in &base {
        if base.len() > 1 && !now.iter().any(|(m, _)| m == id) {
            all.warnings.push(format!(
                "the baseline's machine {id:?} ({} cells) is not in the run",
                part.rows.len()
            ));
        }
    }
    all.latency_not_gated = (!not_gated.is_empty()).then(|| not_gated.join("; "));
    Ok(all)
}

/// Run-to-run stability, summed over the machines both runs have (cells of one machine against
/// the same cells of the same machine only).
pub fn stability_machines(baseline: &Run, run: &Run) -> Stability {
    if baseline.machine_count() == 1 && run.machine_count() == 1 {
        return stability(baseline, run);
    }
    let base = baseline.by_machine();
    let now = run.by_machine();
    let mut sum = Stability {
        cells: 0,
        latency_stable: 0,
        accuracy_identical: 0,
    };
    for (id, part) in &now {
        if let Some((_, b)) = base.iter().find(|(m, _)| m == id) {
            let s = stability(b, part);
            sum.cells += s.cells;
            sum.latency_stable += s.latency_stable;
            sum.accuracy_identical += s.accuracy_identical;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machines::MachineRun;

    /// A merged run of two machines, `a` (the fixture's) and `b` (another CPU), with the same
    /// rows, `b`'s int8 row scaled.
    fn merged(b_top1: f64) -> Run {
        let one = crate::report::fixture::run();
        let mut other = one.clone();
        other.machine.cpu = "Other CPU".into();
        other.machine.isa = vec!["avx2".into(), "avx512_vnni".into()];
        let mut run = one.clone();
        run.rows.clear();
        for (m, r) in [(&one, &one), (&other, &other)] {
            let id = m.machine.id();
            run.machines.insert(id.clone(), MachineRun::of(r, vec![]));
            for row in &r.rows {
                let mut row = row.clone();
                row.machine = Some(id.clone());
                if m.machine.cpu == "Other CPU" && row.accuracy.is_some() {
                    row.accuracy = Some(b_top1);
                }
                run.rows.push(row);
            }
        }
        run
    }

    #[test]
    fn each_machine_is_gated_against_its_own_baseline() {
        let baseline = merged(0.9123);
        let same = compare_machines(&baseline, &merged(0.9123), &Thresholds::default()).unwrap();
        assert_eq!(same.regressions(), 0);
        assert_eq!(same.compared, 4);
        assert!(
            same.latency_not_gated.is_none(),
            "{:?}",
            same.latency_not_gated
        );
        let worse = compare_machines(&baseline, &merged(0.80), &Thresholds::default()).unwrap();
        assert_eq!(worse.regressions(), 1);
        assert!(worse.findings[0]
            .cell
            .starts_with("[Other CPU [AVX-512 VNNI] 2 cores]"));
        // A run of one machine against a two-machine baseline: the other is reported.
        let single = crate::report::fixture::run();
        let v = compare_machines(&baseline, &single, &Thresholds::default()).unwrap();
        assert_eq!(v.regressions(), 0);
        assert!(v
            .warnings
            .iter()
            .any(|w| w.contains("Other CPU") && w.contains("not in the run")));
        // Against a baseline of one machine, the other machine is gated on top-1, not latency.
        let v = compare_machines(&single, &merged(0.80), &Thresholds::default()).unwrap();
        assert_eq!((v.compared, v.regressions()), (4, 1));
        assert!(v
            .latency_not_gated
            .as_deref()
            .unwrap()
            .contains("CPU differs"));
        // A machine that matches no machine of a baseline of several is not gated, and said so.
        let mut third = merged(0.9123);
        for r in &mut third.rows {
            r.machine = r.machine.as_ref().map(|m| m.replace("Other", "Third"));
        }
        third.machines = third
            .machines
            .into_iter()
            .map(|(k, mut v)| {
                v.machine.cpu = v.machine.cpu.replace("Other", "Third");
                (k.replace("Other", "Third"), v)
            })
            .collect();
        let v = compare_machines(&baseline, &third, &Thresholds::default()).unwrap();
        assert!(
            v.warnings
                .iter()
                .any(|w| w.contains("Third CPU") && w.contains("no baseline")),
            "{:?}",
            v.warnings
        );
    }
}
