//! Latency rounds 2..R of the measured cells, interleaved across cells.

use std::path::Path;

use anyhow::Result;

use crate::cell::CellOutcome;
use crate::measure::stats::LatencyStats;
use crate::plan::{CellPart, CellSpec};
use crate::progress::Progress;
use crate::record::{Run, Status};
use crate::report;
use crate::runner::Runner;

use super::journal::{Entry, Journal};
use super::rows::summary;
use super::stopped;

/// A measured cell waiting for its further latency rounds.
pub(super) struct Pending {
    pub row: usize,
    pub spec: CellSpec,
    pub samples: Vec<Vec<f64>>,
    pub load_ms: Vec<f64>,
}

/// Rounds 2..R: one more latency round of every measured cell per pass, each in a fresh
/// process, alternating the order of the cells, so that a slow drift of a shared machine
/// reaches every cell alike instead of whichever cells ran during it.
pub(super) fn further_rounds(
    runner: &Runner,
    run: &mut Run,
    pending: &mut [Pending],
    journal: &mut Journal,
    bar: &Progress,
    out: &Path,
    stem: &str,
) -> Result<()> {
    for round in 2..=run.settings.rounds {
        bar.println(format!(
            "latency round {round}/{} of the cells measured",
            run.settings.rounds
        ));
        let order: Vec<usize> = if round % 2 == 0 {
            (0..pending.len()).rev().collect()
        } else {
            (0..pending.len()).collect()
        };
        for i in order {
            if crate::interrupt::requested() {
                return Err(stopped(run, out, stem, bar));
            }
            let cell = &mut pending[i];
            let row = &mut run.rows[cell.row];
            // Rounds a resumed run kept from the stopped one are not measured again (the
            // progress bar counted them when the cell was restored).
            if cell.samples.len() >= round {
                continue;
            }
            if row.status != Status::Ok {
                bar.inc(1);
                continue;
            }
            bar.set_message(format!(
                "latency round {round}/{}: {} on {}",
                run.settings.rounds, row.technique, row.backend
            ));
            let spec = CellSpec {
                part: CellPart::Latency,
                save_logits: None,
                reference_logits: None,
                ..cell.spec.clone()
            };
            match runner.run(&spec) {
                CellOutcome::Latency(r) => {
                    journal.record(&Entry {
                        technique: row.technique.clone(),
                        backend: row.backend.clone(),
                        batch: row.batch,
                        threads: row.threads,
                        round,
                        samples: r.samples.clone(),
                        load_ms: r.load_ms,
                        predictions: Vec::new(),
                    })?;
                    cell.samples.push(r.samples);
                    cell.load_ms.push(r.load_ms);
                    row.latency_ms = LatencyStats::from_rounds(&cell.samples);
                    row.load_ms = median(&cell.load_ms);
                }
                // Killed by the signal that stops the run (it reaches the process group): not
                // a result, and the round is measured again by `--resume`.
                CellOutcome::Failed { .. } if crate::interrupt::requested() => {
                    return Err(stopped(run, out, stem, bar));
                }
                CellOutcome::Failed { reason } | CellOutcome::Unsupported { reason } => {
                    row.fail_latency(format!("latency round {round}: {reason}"));
                    bar.println(format!(
                        "{:<30} {:<7} {}",
                        row.technique,
                        row.backend,
                        summary(row)
                    ));
                }
                CellOutcome::Ok(_) => row.fail_latency(format!(
                    "latency round {round}: the process measured everything"
                )),
            }
            bar.inc(1);
        }
        report::write_report(&report::Json, run, out, stem)?;
    }
    Ok(())
}

pub(super) fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    (!v.is_empty()).then(|| crate::measure::stats::quantile(&v, 0.5))
}
