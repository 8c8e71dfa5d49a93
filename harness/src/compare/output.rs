//! The end of a compare run: the complete results files replace the previous run's, then the
//! table (or the results as Markdown, CSV or JSON) goes to stdout.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

use crate::cli::{CompareArgs, OutputFormat};
use crate::record::Run;
use crate::report::{self, Reporter};

/// Marks `run` complete, writes its JSON, CSV and Markdown files as `<stem>.*` in `out`, removes
/// the partial file, and prints the results in the format asked for.
pub(super) fn finish(
    run: &mut Run,
    out: &Path,
    stem: &str,
    partial: &str,
    args: &CompareArgs,
) -> Result<()> {
    // The files first: a reader that closes stdout early (`| head`) must not cost the results.
    run.complete = true;
    let written = report::write_results(run, out, stem)?;
    let _ = std::fs::remove_file(out.join(format!("{partial}.json")));
    let results_line = report::results_line(&written);
    let mut stdout = std::io::stdout().lock();
    let printed = match args.format {
        OutputFormat::Table => if args.wide {
            &report::Terminal as &dyn Reporter
        } else {
            &report::Compact
        }
        .render(run, &mut stdout)
        .and_then(|()| writeln!(stdout, "{results_line}").map_err(Into::into)),
        OutputFormat::Md => report::Markdown.render(run, &mut stdout),
        OutputFormat::Csv => report::Csv.render(run, &mut stdout),
        OutputFormat::Json => report::Json.render(run, &mut stdout),
    };
    if args.format != OutputFormat::Table {
        eprintln!("{results_line}");
    }
    ignore_closed_pipe(printed)
}

/// A reader that stopped reading stdout (`qbench compare | head`) is not an error: the results
/// files are written by then. Any other failure to print is.
fn ignore_closed_pipe(r: Result<()>) -> Result<()> {
    match r {
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            Ok(())
        }
        other => other.context("cannot print the results to stdout"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_stdout_is_not_an_error_but_other_print_failures_are() {
        let pipe = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "closed");
        assert!(ignore_closed_pipe(Err(anyhow::Error::from(pipe).context("printing"))).is_ok());
        let full = std::io::Error::new(std::io::ErrorKind::StorageFull, "disk full");
        let err = ignore_closed_pipe(Err(full.into())).unwrap_err();
        assert!(
            format!("{err:#}").contains("cannot print the results"),
            "{err:#}"
        );
        assert!(ignore_closed_pipe(Ok(())).is_ok());
    }
}
