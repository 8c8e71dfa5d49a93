//! `compare --resume`: a stopped run continues where it stopped.
//!
//! A run writes its finished cells to `<stem>.partial.json` and each latency round to the
//! journal (see [`super::journal`]). Resuming keeps every finished row whose first round is in
//! the journal, with its predictions and latency samples, measures only the cells and rounds
//! that are missing, and writes the complete files as an uninterrupted run would. The partial
//! file records the run's plan (a SHA-256 of the scenario, the settings, the techniques, the
//! backends, the qbench build and the model file's bytes); a different plan is refused, since
//! its cells would not be comparable.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use super::agreement::CellId;
use super::journal::{self, Entry};
use super::options::Options;
use crate::record::{Row, Run, Status};

/// The plan of a run, as a hex SHA-256.
pub(super) fn plan_hash(opts: &Options, run: &Run) -> Result<String> {
    let mut h = Sha256::new();
    let what = serde_json::json!({
        "scenario": opts.scenario,
        "settings": opts.settings,
        "techniques": opts.techniques,
        "backends": opts.backends,
        "imported": opts.imported.iter().map(|(s, a)| (&s.name, &a.path)).collect::<Vec<_>>(),
        "qbench": run.qbench_version,
        "git_commit": run.git_commit,
        "build": run.build,
    });
    h.update(serde_json::to_vec(&what)?);
    // The model's bytes, and those of the QAT artifacts measured as rows (absent ones count as
    // empty: training one between a stop and `--resume` changes the plan).
    let model = opts.scenario.resolve(&opts.scenario.model.path);
    let qat = qbench_qat::QatRecipe::ALL
        .iter()
        .filter(|_| crate::qat_rows::has_qat(&opts.scenario))
        .map(|r| crate::qat_rows::files(&opts.scenario, *r).onnx);
    for file in std::iter::once(model).chain(qat) {
        if file.is_file() {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            h.update(&bytes);
        }
        h.update(b"\0");
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// What a stopped run left: its rows, and the journal's rounds of each measured cell (rounds
/// 1..k in order).
pub(super) struct Restored {
    pub run: Run,
    pub rounds: HashMap<CellId, Vec<Entry>>,
}

/// Reads the stopped run in `out` (`None` when there is none to resume), refusing another plan.
pub(super) fn restore(out: &Path, partial: &str, plan: &str) -> Result<Option<Restored>> {
    let path = out.join(format!("{partial}.json"));
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut run: Run = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a qbench results file", path.display()))?;
    if run.plan.as_deref() != Some(plan) {
        bail!(
            "{} is a run of another plan (the scenario, settings, techniques, backends, qbench \
             build or model differ), so its cells cannot be continued: run without --resume to \
             start over",
            path.display()
        );
    }
    let mut rounds: HashMap<CellId, Vec<Entry>> = HashMap::new();
    for e in journal::read(&journal::path(out, partial))? {
        let cell = rounds.entry(e.cell()).or_default();
        // Only the next round counts: a repeated or out-of-order line is not a sample set.
        if e.round == cell.len() + 1 {
            cell.push(e);
        }
    }
    // A measured row whose first round did not reach the journal is measured again.
    run.rows
        .retain(|r| r.status != Status::Ok || rounds.contains_key(&r.cell_id()));
    let kept: std::collections::HashSet<CellId> = run.rows.iter().map(Row::cell_id).collect();
    rounds.retain(|c, _| kept.contains(c));
    run.stopped = None;
    Ok(Some(Restored { run, rounds }))
}

/// Cells kept from a stopped run: their row index, and the journal's rounds of each.
pub(super) type Kept = (HashMap<CellId, usize>, HashMap<CellId, Vec<Entry>>);

/// With `resume`, moves the stopped run's rows into `run` (and its start time) and returns what
/// was kept; says so on stderr, or that there was nothing to resume.
pub(super) fn start(
    resume: bool,
    out: &Path,
    partial: &str,
    plan: &str,
    run: &mut Run,
) -> Result<Kept> {
    if !resume {
        return Ok(Default::default());
    }
    let Some(r) = restore(out, partial, plan)? else {
        eprintln!(
            "nothing to resume in {} (no {partial}.json): every cell runs",
            out.display()
        );
        return Ok(Default::default());
    };
    eprintln!(
        "resuming the run stopped in {}: {} finished cell(s) kept",
        out.display(),
        r.run.rows.len()
    );
    run.started_at = r.run.started_at;
    run.rows = r.run.rows;
    let done = run
        .rows
        .iter()
        .enumerate()
        .map(|(i, row)| (row.cell_id(), i))
        .collect();
    Ok((done, r.rounds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report;

    fn entry(technique: &str, round: usize) -> Entry {
        Entry {
            technique: technique.into(),
            backend: "ort".into(),
            batch: 1,
            threads: 2,
            round,
            samples: vec![1.0],
            load_ms: 1.0,
            predictions: vec![],
        }
    }

    /// A stopped run with an FP32 row (journal: rounds 1, 2, a repeated 2 and a 4) and an int8
    /// row whose first round never reached the journal.
    fn stopped_run(dir: &Path, plan: &str) {
        let mut run = report::fixture::run();
        run.rows.truncate(1);
        let mut q = run.rows[0].clone();
        q.technique = "int8".into();
        run.rows.push(q);
        run.plan = Some(plan.into());
        run.complete = false;
        run.stopped = Some("stopped by a signal".into());
        report::write_report(&report::Json, &run, dir, "quick.partial").unwrap();
        let mut j = journal::Journal::open(journal::path(dir, "quick.partial"), false).unwrap();
        for r in [1, 2, 2, 4] {
            j.record(&entry("fp32", r)).unwrap();
        }
    }

    #[test]
    fn rows_with_their_rounds_are_kept_and_the_rest_measured_again() {
        let dir = tempfile::tempdir().unwrap();
        stopped_run(dir.path(), "p1");
        let r = restore(dir.path(), "quick.partial", "p1").unwrap().unwrap();
        let names: Vec<_> = r.run.rows.iter().map(|r| r.technique.as_str()).collect();
        assert_eq!(names, ["fp32"]);
        let cell = ("fp32".to_string(), "ort".to_string(), 1, 2);
        let rounds: Vec<_> = r.rounds[&cell].iter().map(|e| e.round).collect();
        assert_eq!(rounds, [1, 2]);
        assert_eq!(r.run.stopped, None);
    }

    #[test]
    fn another_plan_is_refused_and_nothing_to_resume_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(restore(dir.path(), "quick.partial", "p1")
            .unwrap()
            .is_none());
        stopped_run(dir.path(), "p1");
        let err = format!(
            "{:#}",
            restore(dir.path(), "quick.partial", "p2").err().unwrap()
        );
        assert!(
            err.contains("quick.partial.json is a run of another plan"),
            "{err}"
        );
    }
}
