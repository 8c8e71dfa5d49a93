//! The wide terminal table (`compare --wide`): every column of the human tables.

use std::io::Write;

use anyhow::Result;
use tabled::{builder::Builder, settings::Style};

use super::cells::{cells, HEADERS};
use super::Reporter;
use crate::record::Run;

/// Plain-text table for the terminal.
pub struct Terminal;

impl Reporter for Terminal {
    fn name(&self) -> &'static str {
        "txt"
    }

    fn render(&self, run: &Run, out: &mut dyn Write) -> Result<()> {
        let mut b = Builder::default();
        b.push_record(HEADERS.iter().copied());
        for r in &run.rows {
            b.push_record(cells(r));
        }
        let mut table = b.build();
        table.with(Style::sharp());
        writeln!(out, "{table}")?;
        footer(run, out)
    }
}

/// The lines under a terminal table: settings, the metric when it is not top-1, the build when
/// it is not optimized.
pub(super) fn footer(run: &Run, out: &mut dyn Write) -> Result<()> {
    writeln!(
        out,
        "{}: {} threads, latency at batch {}, throughput and accuracy at batch {}, {} evaluation images",
        run.scenario,
        crate::record::list(&run.settings.threads),
        crate::record::list(&run.settings.batch),
        run.settings.throughput_batch,
        run.settings.eval_samples,
    )?;
    if run.settings.quick {
        writeln!(out, "QUICK run: not for publication")?;
    }
    if let Some(line) = super::metric_line(run) {
        writeln!(out, "{line}")?;
    }
    if let Some(line) = super::build_line(run) {
        writeln!(out, "{line}")?;
    }
    Ok(())
}
